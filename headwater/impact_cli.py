"""``headwater impact``: the impact of a schema change as a CI gate.

Three ways to say what changes::

    headwater impact --asset QN [--drop-column C] [--rename-column OLD=NEW]
                     [--change-type COL=OLD:NEW] [--drop-asset | --rename-asset NEW_QN]
    headwater impact --asset QN --schema new_columns.json [--rename OLD=NEW] [--detect-renames]
    headwater impact --dbt-manifest target/manifest.json [--dbt-catalog target/catalog.json]
                     [--namespace NS]

It asks a running server (``HEADWATER_URL``, default ``http://127.0.0.1:8000``, with
``HEADWATER_API_KEY``; a viewer key is enough), or with ``--direct`` works on the configured
store itself (the embedded one when ``DATABASE_URL`` is unset): it loads the lineage graph from
Postgres (which needs the worker role, ``HEADWATER_WORKER_DATABASE_URL``, derived when
embedded), so it suits small catalogs and machines without a server. The report prints as a
table (default), JSON, or Markdown for a pull-request comment.

Exit codes: 0 nothing at or above ``--fail-on`` (default ``breaking``), 1 something is, 2 an
error (bad input, unknown asset or column, server unreachable or refusing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from headwater.settings import Settings

__all__ = ["add_impact_parser", "cmd_impact"]

EXIT_OK, EXIT_GATE, EXIT_ERROR = 0, 1, 2
DEFAULT_URL = "http://127.0.0.1:8000"
_ORDER = {"safe": 0, "warning": 1, "breaking": 2}
_MD_ICON = {"breaking": ":x:", "warning": ":warning:", "safe": ":white_check_mark:"}


class UsageError(Exception):
    """Bad arguments or input files: exit 2 with the message."""


def add_impact_parser(sub: Any) -> None:
    """Register ``impact`` on the ``headwater`` subcommands."""
    p = sub.add_parser(
        "impact",
        help="what breaks downstream if a schema changes (exit 1 when something breaks)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(run=cmd_impact)
    what = p.add_argument_group("the asset and its changes")
    what.add_argument("--asset", metavar="QN", help="the asset's qualified name")
    what.add_argument("--asset-id", type=int, metavar="ID", help="or its id")
    what.add_argument("--drop-column", action="append", default=[], metavar="COL")
    what.add_argument("--rename-column", action="append", default=[], metavar="OLD=NEW")
    what.add_argument(
        "--change-type",
        action="append",
        default=[],
        metavar="COL=OLD:NEW",
        help="COL=NEW takes the old type from the catalog",
    )
    what.add_argument("--drop-asset", action="store_true")
    what.add_argument("--rename-asset", metavar="NEW_QN")
    diff = p.add_argument_group("or a new schema")
    diff.add_argument(
        "--schema",
        metavar="FILE",
        help='the new columns: [{"name": ..., "data_type": ...}, ...] (or {"columns": [...]}); '
        "- reads standard input",
    )
    diff.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    diff.add_argument(
        "--detect-renames",
        action="store_true",
        help="take a dropped and an added column at the same position and type as a rename",
    )
    dbt = p.add_argument_group("or a new dbt manifest")
    dbt.add_argument("--dbt-manifest", metavar="FILE")
    dbt.add_argument("--dbt-catalog", metavar="FILE", help="target/catalog.json")
    dbt.add_argument(
        "--namespace", help="as given to `headwater ingest dbt` (default: the adapter type)"
    )
    out = p.add_argument_group("output and gate")
    out.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    out.add_argument("--fail-on", choices=["breaking", "warning"], default="breaking")
    out.add_argument("--max-items", type=int, default=50, help="rows per report (table, markdown)")
    out.add_argument("--max-depth", type=int)
    out.add_argument("--limit", type=int, help="nodes the traversal may reach")
    conn = p.add_argument_group("where")
    conn.add_argument("--url", help=f"default: HEADWATER_URL, else {DEFAULT_URL}")
    conn.add_argument("--api-key", help="default: HEADWATER_API_KEY")
    conn.add_argument("--timeout", type=float, default=120.0)
    conn.add_argument("--direct", action="store_true", help="use the store, not a server")
    conn.add_argument("--tenant", default="default", help="tenant slug for --direct")


# --- the request ----------------------------------------------------------------------------------


def _pair(raw: str, flag: str) -> tuple[str, str]:
    left, sep, right = raw.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise UsageError(f"{flag} takes NAME=VALUE, not {raw!r}")
    return left.strip(), right.strip()


def _split_types(raw: str) -> tuple[str | None, str]:
    """``OLD:NEW`` at the first colon outside brackets (``struct<a:int>`` keeps its own)."""
    depth = 0
    for i, ch in enumerate(raw):
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        elif ch == ":" and depth == 0:
            old, new = raw[:i].strip(), raw[i + 1 :].strip()
            if not new:
                raise UsageError(f"--change-type needs a new type: {raw!r}")
            return old or None, new
    return None, raw.strip()


def _read_json(path: str) -> Any:
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise UsageError(f"{path} is not JSON: {e}") from e


def _schema_columns(document: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(document, dict):
        document = document.get("columns", document.get("fields"))
    if not isinstance(document, list):
        raise UsageError(f'{path}: expected a list of columns, or {{"columns": [...]}}')
    columns = []
    for i, column in enumerate(document):
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise UsageError(f"{path}: column {i} has no name")
        data_type = column.get("data_type", column.get("type")) or ""
        columns.append({"name": column["name"], "data_type": str(data_type)})
    return columns


@dataclass(frozen=True)
class Call:
    path: str  # under /api/v1
    body: dict[str, Any]


def build_call(args: argparse.Namespace) -> Call:
    """The endpoint and body the arguments ask for; UsageError when they do not add up."""
    caps = {
        k: v for k, v in (("max_depth", args.max_depth), ("limit", args.limit)) if v is not None
    }
    column_flags = (
        args.drop_column
        or args.rename_column
        or args.change_type
        or args.drop_asset
        or args.rename_asset
    )
    if args.dbt_manifest:
        if args.asset or args.asset_id or column_flags or args.schema:
            raise UsageError("--dbt-manifest takes no --asset, column changes or --schema")
        from headwater.ingest.dbt_diff import prune_manifest

        manifest = _read_json(args.dbt_manifest)
        if not isinstance(manifest, dict):
            raise UsageError(f"{args.dbt_manifest} is not a dbt manifest (a JSON object)")
        body: dict[str, Any] = {
            "manifest": prune_manifest(manifest),
            "detect_renames": args.detect_renames,
            **caps,
        }
        if args.dbt_catalog:
            body["catalog"] = _read_json(args.dbt_catalog)
        if args.namespace:
            body["namespace"] = args.namespace
        return Call("/impact/dbt", body)
    if (args.asset is None) == (args.asset_id is None):
        raise UsageError("name the asset: --asset QN or --asset-id ID (or give --dbt-manifest)")
    target: dict[str, Any] = (
        {"qualified_name": args.asset} if args.asset is not None else {"asset_id": args.asset_id}
    )
    if args.schema:
        if column_flags:
            raise UsageError("--schema computes the changes: give no column changes with it")
        renames = dict(_pair(r, "--rename") for r in args.rename)
        return Call(
            "/impact/schema-diff",
            {
                **target,
                "columns": _schema_columns(_read_json(args.schema), args.schema),
                "renames": renames,
                "detect_renames": args.detect_renames,
                **caps,
            },
        )
    if args.rename or args.detect_renames:
        raise UsageError("--rename and --detect-renames go with --schema")
    changes: list[dict[str, Any]] = [{"kind": "drop_column", "column": c} for c in args.drop_column]
    for raw in args.rename_column:
        old, new = _pair(raw, "--rename-column")
        changes.append({"kind": "rename_column", "column": old, "new_name": new})
    for raw in args.change_type:
        column, types = _pair(raw, "--change-type")
        old_type, new_type = _split_types(types)
        change = {"kind": "change_type", "column": column, "new_type": new_type}
        if old_type is not None:
            change["old_type"] = old_type
        changes.append(change)
    if args.drop_asset:
        changes.append({"kind": "drop_asset"})
    if args.rename_asset:
        changes.append({"kind": "rename_asset", "new_qualified_name": args.rename_asset})
    if not changes:
        raise UsageError("say what changes: --drop-column, --rename-column, --change-type, ...")
    return Call("/impact", {**target, "changes": changes, **caps})


# --- running it -----------------------------------------------------------------------------------


class Failed(Exception):
    """The server (or the store) refused or could not be reached: exit 2."""


def _problem(status: int, payload: Any) -> str:
    if isinstance(payload, dict):
        detail = str(payload.get("detail") or payload.get("title") or "")
        return f"{status} {payload.get('title', '')}: {detail}".strip()
    return f"{status}: {payload}"


def call_server(settings: Settings, args: argparse.Namespace, call: Call) -> dict[str, Any]:
    import httpx

    url = (args.url or settings.url or DEFAULT_URL).rstrip("/")
    key = args.api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    if not key:
        raise UsageError("set HEADWATER_API_KEY (or --api-key): any role can run an impact")
    try:
        with httpx.Client(base_url=url, timeout=args.timeout) as http:
            response = http.post(
                f"/api/v1{call.path}",
                json=call.body,
                headers={"Authorization": f"Bearer {key}"},
            )
    except httpx.HTTPError as e:
        raise Failed(f"cannot reach Headwater at {url}: {e}") from e
    try:
        payload = response.json()
    except ValueError:
        payload = response.text[:500]
    if response.status_code != 200:
        raise Failed(_problem(response.status_code, payload))
    if not isinstance(payload, dict):
        raise Failed(f"unexpected answer from {url}: {str(payload)[:200]}")
    return payload


def call_store(settings: Settings, args: argparse.Namespace, call: Call) -> dict[str, Any]:
    """The same analysis in this process, on a graph loaded from the store."""
    from headwater.runtime import databases

    with databases(settings) as dbs:
        if dbs.worker_dsn is None:
            raise UsageError(
                "--direct loads the lineage graph with the worker role: set "
                "HEADWATER_WORKER_DATABASE_URL"
            )
        return asyncio.run(_in_store(settings, dbs.app_dsn, dbs.worker_dsn, args.tenant, call))


async def _in_store(
    settings: Settings, app_dsn: str, worker_dsn: str, slug: str, call: Call
) -> dict[str, Any]:
    from pydantic import BaseModel, ValidationError

    from headwater.catalog import admin
    from headwater.catalog import impact_report as reports
    from headwater.catalog.db import Database, set_tenant
    from headwater.graph.memory import MemoryGraphEngine
    from headwater.ingest import dbt_diff
    from headwater.sync.graph_loader import load_snapshot

    caps = reports.ImpactCaps(
        settings.max_impact_depth,
        settings.max_impact_nodes,
        settings.max_impact_models,
        settings.max_impact_items,
    )
    engine = MemoryGraphEngine()
    worker = Database(worker_dsn, max_size=2)
    store = Database(app_dsn, max_size=1)
    await worker.open()
    await store.open()
    try:
        async with store.transaction() as conn:
            tenant = next((t for t in await admin.list_tenants(conn) if t.slug == slug), None)
        if tenant is None:
            raise Failed(f"no tenant with slug {slug!r}: see `headwater admin tenant list`")
        loaded, position = await load_snapshot(worker)
        if tenant.id in loaded.tenants:
            await engine.load(tenant.id, loaded.tenants[tenant.id], position=str(position))
        async with store.transaction() as conn:
            await set_tenant(conn, tenant.id)
            report: BaseModel
            try:
                if call.path == "/impact/dbt":
                    request = dbt_diff.DbtImpactRequest.model_validate(call.body)
                    report = await dbt_diff.dbt_impact(conn, engine, tenant.id, request, caps)
                elif call.path == "/impact/schema-diff":
                    diff = reports.SchemaDiffRequest.model_validate(call.body)
                    report = await reports.schema_diff_impact(conn, engine, tenant.id, diff, caps)
                else:
                    changes = reports.ImpactRequest.model_validate(call.body)
                    report = await reports.impact_of_changes(conn, engine, tenant.id, changes, caps)
            except ValidationError as e:
                raise UsageError(
                    "; ".join(
                        f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
                    )
                ) from e
        dumped: dict[str, Any] = report.model_dump(mode="json", by_alias=True)
        return dumped
    finally:
        await store.close()
        await worker.close()


# --- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One impact report with a heading (the dbt mode has one per model)."""

    title: str
    report: dict[str, Any]
    diff: dict[str, Any] | None = None


def sections(call: Call, payload: dict[str, Any]) -> tuple[str, list[Section], list[str]]:
    """(overall severity, the reports, extra lines) of any of the three answers."""
    if call.path == "/impact/dbt":
        extra = []
        if payload["new"]:
            extra.append(f"new (nothing depends on them yet): {', '.join(payload['new'])}")
        extra.append(f"unchanged models: {payload['unchanged']}")
        if payload["models_capped"]:
            extra.append("more changed models than the server analyses per request: not all shown")
        extra += [f"warning: {w}" for w in payload["warnings"][:20]]
        found = [
            Section(
                f"{m['status']} {m['unique_id']} ({m['qualified_name']})", m["impact"], m["diff"]
            )
            for m in payload["models"]
        ]
        return payload["severity"], found, extra
    if call.path == "/impact/schema-diff":
        report = payload["impact"]
        title = report["asset"]["qualified_name"]
        return report["severity"], [Section(title, report, payload["diff"])], []
    return payload["severity"], [Section(payload["asset"]["qualified_name"], payload)], []


def _change_text(change: dict[str, Any]) -> str:
    kind = change["kind"]
    if kind == "drop_column":
        return f"drop column {change['column']}"
    if kind == "rename_column":
        return f"rename column {change['column']} -> {change['new_name']}"
    if kind == "change_type":
        return f"retype {change['column']} {change['old_type'] or '?'} -> {change['new_type']}"
    if kind == "rename_asset":
        return f"rename asset -> {change['new_qualified_name']}"
    return "drop asset"


def _path_text(steps: Sequence[dict[str, Any]]) -> str:
    if not steps:
        return ""
    text = str(steps[0]["from"]["name"])
    for step in steps:
        if step["kind"] == "contains":
            text += f" (in {step['to']['name']})"
        else:
            text += f" -{step['type']}-> {step['to']['name']}"
    return text


def _diff_lines(diff: dict[str, Any]) -> Iterator[str]:
    if diff["dropped"]:
        yield f"dropped: {', '.join(diff['dropped'])}"
    for r in diff["renamed"]:
        yield f"renamed: {r['old']} -> {r['new']}" + (" (detected)" if r["detected"] else "")
    for t in diff["type_changed"]:
        yield f"retyped: {t['column']} {t['old_type']} -> {t['new_type']} ({t['verdict']})"
    if diff["added"]:
        yield f"added (safe): {', '.join(diff['added'])}"
    if diff["compared"] == "declared":
        yield "only declared columns compared (no catalog.json entry, contract not enforced)"


def _summary_lines(report: dict[str, Any]) -> Iterator[str]:
    s = report["summary"]
    counts = s["by_severity"]
    yield (
        f"affected: {s['assets']} asset(s) ({counts['breaking']} breaking, "
        f"{counts['warning']} warning; {s['possibly_affected']} possibly affected), "
        f"{s['columns']} column(s)"
    )
    for label, key in (("exposures", "exposures"), ("jobs", "jobs")):
        if s[key]:
            names = [
                f"{e['name']} ({e['qualified_name']}, {e['severity']}"
                + (", possibly" if e["status"] == "possibly_affected" else "")
                + ")"
                for e in s[key]
            ]
            yield f"{label}: {'; '.join(names)}"
    if s["owners"]:
        yield f"owners to notify: {', '.join(s['owners'])}"


def _unlisted(report: dict[str, Any], max_items: int) -> int:
    """Affected assets a rendering leaves out: past ``max_items`` here, and those the server
    counted in the summary without listing them."""
    return max(len(report["items"]) - max_items, 0) + int(report.get("items_omitted", 0))


# Control characters (C0, DEL, C1), line and paragraph separators and the bidirectional
# overrides: in a name they could move a terminal's cursor, recolour a CI log, break a line or a
# table row, or reorder the text around them.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _printable(value: Any) -> Any:
    """``value`` with every string's unprintable characters written as escapes (``\\x1b``)."""
    if isinstance(value, str):
        return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), value)
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    return value


def _shown(found: list[Section], extra: list[str]) -> tuple[list[Section], list[str]]:
    sections = [
        Section(_printable(s.title), _printable(s.report), _printable(s.diff)) for s in found
    ]
    return sections, _printable(extra)


def render_table(severity: str, found: list[Section], extra: list[str], max_items: int) -> str:
    found, extra = _shown(found, extra)
    lines = [f"Headwater impact: {severity.upper()}"]
    for section in found:
        report = section.report
        lines += ["", f"== {section.title}: {report['severity'].upper()}"]
        if section.diff is not None:
            lines += [f"   {line}" for line in _diff_lines(section.diff)]
        for change in report["changes"]:
            lines.append(
                f"   {_change_text(change)}: {change['severity']} ({change['assessment']})"
            )
        lines += [f"   {line}" for line in _summary_lines(report)]
        items = report["items"]
        if items:
            header = ("#", "SEVERITY", "STATUS", "TYPE", "ASSET", "DIST", "OWNERS")
            rows = [
                (
                    str(i["rank"]),
                    i["severity"],
                    "affected" if i["status"] == "affected" else "possibly",
                    i["type"],
                    i["qualified_name"] + (" [PII]" if i["pii"] else ""),
                    str(i["distance"]),
                    ", ".join(i["owners"]) or "-",
                )
                for i in items[:max_items]
            ]
            widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
            lines.append("")
            lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
            for row, item in zip(rows, items, strict=False):
                lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
                lines.append(f"      why:  {item['reason']}")
                lines.append(f"      path: {_path_text(item['path'])}")
            if more := _unlisted(report, max_items):
                lines.append(f"... and {more} more (--max-items, --format json)")
        lines += [f"   note: {n}" for n in report["notes"]]
    if not found:
        lines.append("no changes to analyse")
    lines += [""] * bool(extra) + extra
    return "\n".join(lines)


# What Markdown (GitHub's included) may read as markup in running text: links, emphasis,
# code, raw HTML, entities, strikethrough, table cells. Escaped, each shows as itself.
_MD_ACTIVE = re.compile(r"([\\`*_\[\]<>&|~!])")


def _md(text: str) -> str:
    """Names and reasons (made printable) as plain text in a Markdown line or table cell."""
    return _MD_ACTIVE.sub(r"\\\1", text)


def _code(text: str, *, cell: bool = False) -> str:
    """``text`` (made printable) as one code span, whatever backticks it holds; in a table cell
    its pipes are escaped (GitHub reads that escape before the code span)."""
    if cell:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(severity: str, found: list[Section], extra: list[str], max_items: int) -> str:
    found, extra = _shown(found, extra)
    lines = [f"### {_MD_ICON[severity]} Headwater impact: **{severity}**", ""]
    if not found:
        lines.append("No schema changes found.")
    for section in found:
        report = section.report
        lines += [f"#### {_MD_ICON[report['severity']]} {_code(section.title)}", ""]
        if section.diff is not None:
            lines += [f"- {_md(line)}" for line in _diff_lines(section.diff)]
        lines += [
            f"- **{_md(_change_text(c))}**: {c['severity']} ({_md(c['assessment'])})"
            for c in report["changes"]
        ]
        lines += [f"- {_md(line)}" for line in _summary_lines(report)]
        lines.append("")
        items = report["items"]
        if items:
            lines += [
                "| # | Severity | Asset | Type | Distance | Owners | Why |",
                "|---|---|---|---|---|---|---|",
            ]
            for i in items[:max_items]:
                status = "" if i["status"] == "affected" else " (possibly)"
                pii = " `PII`" if i["pii"] else ""
                name = _code(i["qualified_name"], cell=True)
                lines.append(
                    f"| {i['rank']} | {_MD_ICON[i['severity']]} {i['severity']}{status} "
                    f"| {name}{pii} | {i['type']} | {i['distance']} "
                    f"| {_md(', '.join(i['owners']))} | {_md(i['reason'])} |"
                )
            if more := _unlisted(report, max_items):
                lines.append(f"\n_... and {more} more._")
            lines += ["", "<details><summary>Paths</summary>", ""]
            lines += [
                f"{i['rank']}. {_code(i['qualified_name'])}: {_code(_path_text(i['path']))}"
                for i in items[:max_items]
            ]
            lines += ["", "</details>", ""]
        lines += [f"> {_md(n)}" for n in report["notes"]]
    lines += [f"_{_md(e)}_  " for e in extra]
    return "\n".join(lines).rstrip() + "\n"


def cmd_impact(settings: Settings, args: argparse.Namespace) -> int:
    try:
        call = build_call(args)
        payload = (
            call_store(settings, args, call) if args.direct else call_server(settings, args, call)
        )
    except (UsageError, Failed) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    severity, found, extra = sections(call, payload)
    if args.format == "json":
        print(json.dumps(payload, indent=2))
    elif args.format == "markdown":
        print(render_markdown(severity, found, extra, args.max_items), end="")
    else:
        print(render_table(severity, found, extra, args.max_items))
    return EXIT_GATE if _ORDER[severity] >= _ORDER[args.fail_on] else EXIT_OK
