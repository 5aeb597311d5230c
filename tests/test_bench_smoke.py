"""The benchmark (bench/, ``python -m bench``) at its tiny scale: every measurement runs end to end
and produces figures. No timing is asserted: CI machines vary; the figures are for people."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np

from bench.generator import LAYERS, RELATIONSHIP_TYPES, generate_tenant

ROOT = Path(__file__).resolve().parent.parent

MEASUREMENTS = {
    "load", "cold_start", "baselines", "closure", "traversal", "paths", "column_impact",
    "sync_lag", "ingestion", "search",
}  # fmt: skip
CLOSURE_ENGINES = {
    "memory in-process", "memory via HTTP", "postgres CTE (lateral)", "postgres CTE (join)",
    "networkx", "scipy CSR BFS", "igraph subcomponent",
}  # fmt: skip


def _number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_generator_is_seeded_layered_and_acyclic() -> None:
    one = generate_tenant("acme", 600, seed=7)
    again = generate_tenant("acme", 600, seed=7)
    other = generate_tenant("acme", 600, seed=8)
    assert one.qualified_names == again.qualified_names
    assert np.array_equal(one.rel_source, again.rel_source)
    assert np.array_equal(one.lineage_target, again.lineage_target)
    assert not np.array_equal(one.rel_target, other.rel_target)
    assert set(one.layer.tolist()) == set(range(len(LAYERS)))
    assert set(one.rel_type.tolist()) == set(range(len(RELATIONSHIP_TYPES)))
    assert len(set(one.qualified_names)) == one.n_assets
    up, down = one.flow_edges()
    assert len(set(zip(up.tolist(), down.tolist(), strict=True))) == len(up)
    assert nx.is_directed_acyclic_graph(nx.DiGraph(zip(up.tolist(), down.tolist(), strict=True)))
    # Column names are unique within each asset, and column lineage joins existing columns.
    pairs = set(zip(one.field_asset.tolist(), one.field_code.tolist(), strict=True))
    assert len(pairs) == one.n_fields
    assert int(one.lineage_source.max()) < one.n_fields
    assert not np.any(one.lineage_source == one.lineage_target)


def test_tiny_scale_runs_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    args = ["--scale", "tiny", "--out", str(out), "--work-dir", str(tmp_path / "work")]
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["command"] == shlex.join(["python", "-m", "bench", *args])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert report["code"].startswith(head)
    assert f"`{report['command']}`, code {report['code']}." in out.with_suffix(".md").read_text()
    assert {m["key"] for m in report["measurements"]} == MEASUREMENTS
    for m in report["measurements"]:
        assert m["rows"], f"{m['key']} produced no figures"
        for row in m["rows"]:
            assert row["n"] > 0, (m["key"], row["label"])
            assert _number(row["p50_ms"]) or _number(row["throughput"]), (m["key"], row)
    closure = next(m for m in report["measurements"] if m["key"] == "closure")
    engines = {r["label"] for r in closure["rows"] if r["extra"]["group"] == "all"}
    assert engines == CLOSURE_ENGINES
    # Every ingestion way says where its CPU went; the batch endpoint's work shows in the server
    # and in Postgres, the in-process writer's in the bench process.
    ingestion = next(m for m in report["measurements"] if m["key"] == "ingestion")
    cpu = {r["label"]: r["extra"]["cpu_ms_per_event"] for r in ingestion["rows"]}
    assert all(
        set(used) == {"server", "postgres", "bench"}
        and all(_number(v) and v >= 0 for v in used.values())
        for used in cpu.values()
    ), cpu
    assert cpu["HTTP batch endpoint"]["server"] > 0
    assert cpu["HTTP batch endpoint"]["postgres"] > 0
    assert cpu["naive writer (one transaction per event)"]["bench"] > 0
    assert any("ms of CPU per event, so" in note for note in ingestion["notes"])
    assert all(r["extra"]["runs_planned_again"] >= 0 for r in ingestion["rows"])
    # Both batch ways send the same number of events (a short last request counts as short).
    events = {r["label"]: r["extra"]["events"] for r in ingestion["rows"]}
    assert events["HTTP batch endpoint, 2 clients at once"] == events["HTTP batch endpoint"]
    assert "cpu_ms_per_event=(server " in out.with_suffix(".md").read_text()
    assert report["targets"]
    assert all(t["verdict"] in ("PASS", "MISS") and t["measured"] for t in report["targets"])
    machine = report["machine"]
    for fact in ("cores", "cpu", "postgres", "python", "memory_gb"):
        assert machine[fact], fact
    assert out.with_suffix(".md").read_text().startswith("# Headwater benchmark: scale `tiny`")
