"""The run's report: a markdown document (also what is printed) and the JSON it is made from."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.{digits}f}"


def _ratios(ratios: dict[str, float]) -> str:
    return "; ".join(f"{_num(v)}x vs {k}" for k, v in ratios.items())


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dict):  # named figures, e.g. CPU per event by process
        return "(" + ", ".join(f"{k} {_num(v)}" for k, v in value.items()) + ")"
    return str(value)


def _extra(extra: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in extra.items() if k != "group")


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _section(m: dict[str, Any]) -> list[str]:
    took = f"*Took:* {m['seconds']:.1f} s"
    if m.get("load_average") is not None:
        took += f" (machine load average {m['load_average']:.2f} when it started)"
    lines = [f"### {m['title']}", "", f"*Path:* {m['path']}  ", took, ""]
    if m["error"]:
        lines += [f"**ERROR:** `{_escape(m['error'])}`", ""]
    rows = m["rows"]
    if rows:
        grouped = any("group" in r["extra"] for r in rows)
        header = ["group"] if grouped else []
        header += ["engine / path", "n", "p50 ms", "p95 ms", "p99 ms", "throughput", "memory MiB",
                   "ratio to baselines", "details"]  # fmt: skip
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for r in rows:
            cells = [str(r["extra"].get("group", ""))] if grouped else []
            throughput = f"{_num(r['throughput'])} {r['unit']}" if r["throughput"] else ""
            cells += [
                r["label"], f"{r['n']:,}", _num(r["p50_ms"]), _num(r["p95_ms"]),
                _num(r["p99_ms"]), throughput, _num(r["memory_mb"]), _ratios(r["ratios"]),
                _extra(r["extra"]),
            ]  # fmt: skip
            lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
        lines.append("")
    for note in m["notes"]:
        lines.append(f"- {note}")
    if m["notes"]:
        lines.append("")
    return lines


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    graph = report["graph"]
    lines = [
        f"# Headwater benchmark: scale `{report['scale']}`",
        "",
        f"Run {report['started_at']} ({report['duration_s']:.0f} s), `{report['command']}`, "
        f"code {report['code']}.",
        "",
        f"- **Machine:** {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GiB "
        f"RAM, {machine['os']}, load average at start {machine['load_average_at_start']}",
        f"- **Software:** Python {machine['python']}, PostgreSQL {machine['postgres']} "
        "(embedded, started by the run), "
        + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
        f"- **Graph:** {graph['tenants']} tenants, {graph['assets']:,} assets, "
        f"{graph['relationships']:,} relationships ({graph['flow_relationships']:,} carry flow), "
        f"{graph['fields']:,} columns, {graph['field_lineage']:,} column-level edges; main "
        f"tenant {graph['main_tenant_assets']:,} assets (seed {graph['seed']})",
        f"- **Peak memory:** bench process {report['memory']['bench_peak_mb']:,.0f} MiB, API "
        f"server {_num(report['memory'].get('server_peak_mb'))} MiB",
        "",
        "## Targets (issue 8; stated for the large scale on 2 cores)",
        "",
        "| target | goal | measured | verdict | note |",
        "|---|---|---|---|---|",
    ]
    for t in report["targets"]:
        cells = [t["name"], t["goal"], t["measured"], f"**{t['verdict']}**", t["note"]]
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    lines += ["", "## Measurements", ""]
    for m in report["measurements"]:
        lines += _section(m)
    if report["errors"]:
        lines += ["## Errors", ""] + [f"- `{_escape(e)}`" for e in report["errors"]] + [""]
    return "\n".join(lines)
