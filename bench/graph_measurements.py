"""Graph measurements: cold start, closure, filtered traversal, paths and column impact.

The memory engine is measured twice: in this process (the engine the cold start loaded, called
directly) and through the API server (HTTP on localhost, which adds routing, authentication,
hydration of every returned node from Postgres and JSON). Baselines run in this process over the
same main-tenant graph: Postgres recursive CTEs over the catalog tables, networkx, scipy's CSR
BFS and igraph. Every engine's answer size is compared with the memory engine's, so a faster
wrong answer cannot pass unnoticed.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Final
from uuid import UUID

import networkx as nx
import numpy as np
import psycopg
from scipy.sparse.csgraph import breadth_first_order

from bench.context import RunContext
from bench.machine import rss_mb
from bench.results_model import Measurement, Row, Target, latency_row
from bench.sql import Q
from headwater.catalog.db import Database
from headwater.graph import _store, impact
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import ClosureStep, NodeRef
from headwater.sync.graph_loader import load_snapshot

__all__ = [
    "measure_baseline_builds",
    "measure_closure",
    "measure_cold_start",
    "measure_column_impact",
    "measure_paths",
    "measure_traversal",
]

BUCKETS: Final = ((0, 10, "0-10"), (11, 1_000, "11-1k"), (1_001, 100_000, "1k-100k"))
FLOW_TYPES: Final = ("PRODUCES", "USES", "DEPENDS_ON")


def _bucket(size: int) -> str:
    for low, high, label in BUCKETS:
        if low <= size <= high:
            return label
    return ">100k"


# --- cold start --------------------------------------------------------------------------------


def engine_bytes(engine: MemoryGraphEngine) -> int:
    """Bytes held by the engine's numpy arrays (each buffer counted once, views included)."""
    seen: set[int] = set()
    total = 0

    def visit(value: Any) -> None:
        nonlocal total
        if isinstance(value, np.ndarray):
            base = value
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        elif type(value).__module__ == _store.__name__:
            for item in vars(value).values():
                visit(item)

    for graph in engine._tenants.values():
        visit(graph)
    return total


def _compaction_rows(engine: MemoryGraphEngine, tenant_id: UUID) -> list[Row]:
    """A full compaction of the main tenant, step by step: only begin and finish hold the
    tenant's lock (queries wait for them); the build runs beside the queries."""
    graph = engine._graph(tenant_id)
    size = graph.base_size()
    with graph.lock:
        began = time.perf_counter()
        job = graph.begin_compaction()
        begin = time.perf_counter() - began
    began = time.perf_counter()
    built = job.build()
    build = time.perf_counter() - began
    with graph.lock:
        began = time.perf_counter()
        graph.finish_compaction(built)
        finish = time.perf_counter() - began
    return [
        Row(f"compaction of the main tenant: {label}", n=size, p50_ms=seconds * 1000,
            extra={"holds_the_lock": holds})
        for label, seconds, holds in (
            ("begin", begin, True), ("build", build, False), ("finish", finish, True)
        )
    ]  # fmt: skip


async def measure_cold_start(ctx: RunContext) -> Measurement:
    """graph_loader (one snapshot shared by two connections) + engine.load, as ``serve`` starts."""
    m = Measurement(
        "cold_start",
        "Cold start of the memory engine from Postgres",
        "in-process: headwater.sync.graph_loader.load_snapshot (2 connections sharing one "
        "snapshot) + MemoryGraphEngine.load, every tenant",
    )
    database = Database(ctx.worker_dsn, min_size=1, max_size=2)
    await database.open()
    try:
        before = rss_mb()
        started = time.perf_counter()
        loaded, position = await load_snapshot(database)
        read = time.perf_counter() - started
        engine = MemoryGraphEngine()
        for tenant_id, data in loaded.tenants.items():
            await engine.load(tenant_id, data, position=str(position))
        total = time.perf_counter() - started
    finally:
        await database.close()
    n_rel = sum(len(d.relationships) for d in loaded.tenants.values())
    n_lin = sum(len(d.field_lineage) for d in loaded.tenants.values())
    n_assets = sum(len(d.assets) for d in loaded.tenants.values())
    n_fields = sum(len(d.fields) for d in loaded.tenants.values())
    del loaded
    ctx.engine, ctx.engine_position = engine, str(position)
    held = engine_bytes(engine)
    edges = n_rel + n_lin
    m.rows = [
        Row("read from Postgres (block ranges, one shared snapshot)", n=edges, p50_ms=read * 1000,
            throughput=edges / read, unit="edges/s"),
        Row("build engine (load)", n=edges, p50_ms=(total - read) * 1000,
            throughput=edges / (total - read), unit="edges/s"),
        Row("total", n=edges, p50_ms=total * 1000, throughput=edges / total, unit="edges/s",
            memory_mb=held / 2**20,
            extra={"bytes_per_edge": held / edges, "bytes_per_node": held / (n_assets + n_fields),
                   "rss_delta_mb": rss_mb() - before, "relationships": n_rel,
                   "field_lineage": n_lin, "assets": n_assets, "fields": n_fields,
                   "tenants": len(engine._tenants)}),
    ]  # fmt: skip
    m.notes.append(
        f"engine arrays: {held / 2**20:.0f} MiB = {held / edges:.1f} bytes per edge "
        f"(relationships + field lineage), {held / (n_assets + n_fields):.1f} bytes per node"
    )
    m.rows += _compaction_rows(engine, ctx.main.access.tenant_id)
    rate = edges / total
    m.targets.append(
        Target.check(
            "cold start",
            "<= 10 s for 5M edges (>= 500k edges/s)",
            rate,
            lambda v: v >= 500_000,
            "{:,.0f} edges/s",
        )
    )
    m.targets[-1].note = (
        f"{total:.2f} s for {edges:,} edges (relationships + column lineage); stated for 5M "
        "edges at the large scale, checked here as a rate"
    )
    return m


def measure_baseline_builds(ctx: RunContext) -> Measurement:
    m = Measurement(
        "baselines",
        "Baseline graphs built for the comparisons (main tenant's flow edges)",
        "in-process: scipy CSR, igraph, networkx DiGraph from the generator's flow edges",
    )
    flow = ctx.flow
    _ = flow.csr, flow.igraph, flow.networkx
    for name, cost in flow.costs.items():
        m.rows.append(
            Row(name, n=len(flow.up), p50_ms=cost.seconds * 1000, memory_mb=cost.memory_mb,
                extra={"nodes": flow.n})
        )  # fmt: skip
    return m


# --- closure -----------------------------------------------------------------------------------


def _sum(times: dict[int, float], keys: list[int]) -> float:
    return sum(times[k] for k in keys)


async def measure_closure(ctx: RunContext) -> Measurement:
    scale = ctx.scale
    m = Measurement(
        "closure",
        f"Downstream closure (unbounded) from {scale.closure_starts} start assets, by closure size",
        "memory in-process: engine.traverse(depth=None); memory via HTTP: GET "
        "/api/v1/lineage/downstream?depth=all (every node hydrated from Postgres, JSON); "
        "Postgres: recursive CTE as the app role; networkx descendants; scipy "
        "breadth_first_order; igraph subcomponent",
    )
    engine = ctx.graph_engine()
    main = ctx.main
    tenant = main.access.tenant_id
    ids = main.asset_ids
    per = max(scale.closure_starts // 10, 1)
    starts = ctx.pick_assets(
        {"source": 3 * per, "staging": 2 * per, "view": 2 * per, "mart": per,
         "transform_job": per, "model": scale.closure_starts - 9 * per}
    ).tolist()  # fmt: skip
    starts = list(dict.fromkeys(starts))
    flow = ctx.flow
    csr, graph, digraph = flow.csr, flow.igraph, flow.networkx

    sizes: dict[int, int] = {}
    mem: dict[int, float] = {}
    await engine.traverse(tenant, NodeRef.asset(int(ids[starts[0]])), "downstream", max_depth=None)
    for s in starts:
        began = time.perf_counter()
        result = await engine.traverse(
            tenant, NodeRef.asset(int(ids[s])), "downstream", max_depth=None
        )
        mem[s] = time.perf_counter() - began
        sizes[s] = len(result)
    bucket = {s: _bucket(sizes[s]) for s in starts}

    cte = psycopg.connect(ctx.app_dsn, autocommit=True)
    cte.execute(Q["set_session_tenant"], {"tenant_id": str(tenant)})
    client = ctx.http()
    viewer = main.access.headers("viewer")

    def over_http(s: int) -> int:
        response = client.get(
            "/api/v1/lineage/downstream",
            params={"asset_id": int(ids[s]), "depth": "all", "limit": main.lineage.n_assets},
            headers=viewer,
        )
        response.raise_for_status()
        return len(response.json()["nodes"])

    def sql(statement: str) -> Callable[[int], int]:
        def run(s: int) -> int:
            row = cte.execute(Q[statement], {"start": int(ids[s])}).fetchone()
            assert row is not None
            return int(row[0])

        return run

    baselines: dict[str, Callable[[int], int]] = {
        "memory via HTTP": over_http,
        "postgres CTE (lateral)": sql("closure_cte_lateral"),
        "postgres CTE (join)": sql("closure_cte_join"),
        "networkx": lambda s: len(nx.descendants(digraph, s)),
        "scipy CSR BFS": lambda s: (
            len(breadth_first_order(csr, s, directed=True, return_predecessors=False)) - 1
        ),
        "igraph subcomponent": lambda s: len(graph.subcomponent(s, mode="out")) - 1,
    }
    times: dict[str, dict[int, float]] = {"memory in-process": mem}
    wrong: dict[str, int] = defaultdict(int)
    order = sorted(starts, key=lambda s: sizes[s])  # small first: a budget cuts the big ones
    try:
        for name, run in baselines.items():
            run(order[0])  # warm-up (connections, caches, lazy imports)
            spent: dict[str, float] = defaultdict(float)
            measured: dict[int, float] = {}
            for s in order:
                if spent[bucket[s]] > scale.closure_budget_s:
                    continue
                began = time.perf_counter()
                found = run(s)
                elapsed = time.perf_counter() - began
                measured[s] = elapsed
                spent[bucket[s]] += elapsed
                if found != sizes[s]:
                    wrong[name] += 1
            times[name] = measured
    finally:
        client.close()
        cte.close()

    labels = [label for _, _, label in BUCKETS] + [">100k"]
    for label in [*labels, "all"]:
        members = [s for s in starts if label in ("all", bucket[s])]
        if not members:
            continue
        mean_size = float(np.mean([sizes[s] for s in members]))
        for name, measured in times.items():
            keys = [s for s in members if s in measured]
            if not keys:
                continue
            row = latency_row(name, [measured[s] for s in keys], group=label,
                              mean_closure=round(mean_size, 1))  # fmt: skip
            if name in ("memory in-process", "memory via HTTP"):
                for other, other_times in times.items():
                    if other in ("memory in-process", name):
                        continue
                    common = [s for s in keys if s in other_times]
                    if common and _sum(measured, common) > 0:
                        row.ratios[other] = _sum(other_times, common) / _sum(measured, common)
            if name != "memory in-process" and len(keys) < len(members):
                row.extra["budget_cut"] = f"{len(keys)} of {len(members)} starts"
            m.rows.append(row)
        for subject in ("memory in-process", "memory via HTTP"):
            if label != "all" and subject == "memory via HTTP":
                continue
            _closure_targets(m, subject, label)
    for name, count in wrong.items():
        m.notes.append(f"{name}: {count} answers differed in size from the memory engine's")
    if not wrong:
        m.notes.append("every engine's closure sizes matched the memory engine's")
    m.notes.append(
        "ratios = baseline time / this row's time over the same starts (> 1: faster than the "
        "baseline); 'budget_cut': the baseline ran out of its time budget for that size group"
    )
    return m


def _closure_targets(m: Measurement, subject: str, group: str) -> None:
    rows = [r for r in m.rows if r.label == subject and r.extra.get("group") == group]
    if not rows:
        return
    ratios = rows[0].ratios
    ctes = [ratios[k] for k in ("postgres CTE (lateral)", "postgres CTE (join)") if k in ratios]
    raw = [ratios[k] for k in ("scipy CSR BFS", "igraph subcomponent") if k in ratios]
    where = f"{subject}, closure size {group}"
    m.targets += [
        Target.check(f"closure vs recursive CTE [{where}]", ">= 100x the fastest CTE",
                     min(ctes) if ctes else None, lambda v: v >= 100, "{:.3g}x"),
        Target.check(f"closure vs networkx [{where}]", ">= 20x networkx",
                     ratios.get("networkx"), lambda v: v >= 20, "{:.3g}x"),
        Target.check(f"closure vs raw C BFS [{where}]", "within 2x of the fastest raw C BFS",
                     min(raw) if raw else None, lambda v: v >= 0.5,
                     "{:.3g}x (time ratio raw/engine)"),
    ]  # fmt: skip


# --- depth-3 filtered traversal ----------------------------------------------------------------


async def measure_traversal(ctx: RunContext) -> Measurement:
    scale = ctx.scale
    m = Measurement(
        "traversal",
        "Depth-3 filtered downstream traversal (flow types, asset types table/view/dashboard)",
        "HTTP: GET /api/v1/lineage/downstream?depth=3&relationship_type=..&asset_type=.. "
        "(default limit 1,000, nodes hydrated); in-process: engine.traverse with the same filters",
    )
    engine = ctx.graph_engine()
    main = ctx.main
    tenant = main.access.tenant_id
    starts = ctx.pick_assets({"source": 50, "staging": 50, "view": 50, "mart": 50}).tolist()
    asset_types = ["table", "view", "dashboard"]
    params: list[tuple[str, str | int]] = [("depth", 3)]
    params += [("relationship_type", t) for t in FLOW_TYPES]
    params += [("asset_type", t) for t in asset_types]
    inproc: list[float] = []
    reported: list[int] = []
    for i in range(scale.traversal_requests):
        node = NodeRef.asset(int(main.asset_ids[starts[i % len(starts)]]))
        began = time.perf_counter()
        result = await engine.traverse(tenant, node, "downstream", max_depth=3,
                                       relationship_types=FLOW_TYPES, asset_types=asset_types,
                                       limit=1000)  # fmt: skip
        inproc.append(time.perf_counter() - began)
        reported.append(len(result))
    http: list[float] = []
    with ctx.http() as client:
        headers = main.access.headers("viewer")
        for i in range(scale.traversal_requests + 20):
            asset_id = int(main.asset_ids[starts[i % len(starts)]])
            began = time.perf_counter()
            response = client.get(
                "/api/v1/lineage/downstream",
                params=[("asset_id", asset_id), *params],
                headers=headers,
            )
            elapsed = time.perf_counter() - began
            response.raise_for_status()
            if i >= 20:  # the first requests warm the connection and the server's caches
                http.append(elapsed)
    mean_nodes = float(np.mean(reported))
    m.rows = [
        latency_row("memory via HTTP", http, mean_nodes=round(mean_nodes, 1)),
        latency_row("memory in-process", inproc, mean_nodes=round(mean_nodes, 1)),
    ]
    m.targets.append(
        Target.check(
            "depth-3 filtered traversal over HTTP",
            "p99 <= 5 ms",
            m.rows[0].p99_ms,
            lambda v: v <= 5.0,
            "p99 {:.2f} ms",
        )
    )
    return m


# --- paths -------------------------------------------------------------------------------------


async def _path_pairs(ctx: RunContext, count: int) -> list[tuple[int, int]]:
    """(source, target) positions with the target 2..6 hops downstream (the farthest found)."""
    engine = ctx.graph_engine()
    main = ctx.main
    tenant = main.access.tenant_id
    position = {int(a): i for i, a in enumerate(main.asset_ids.tolist())}
    candidates = ctx.pick_assets({"source": 4 * count, "staging": 4 * count, "view": 2 * count})
    pairs: list[tuple[int, int]] = []
    for s in candidates.tolist():
        if len(pairs) >= count:
            break
        reached = await engine.traverse(
            tenant, NodeRef.asset(int(main.asset_ids[s])), "downstream", max_depth=6
        )
        if len(reached) == 0 or int(reached.distance.max()) < 2:
            continue
        far = reached.id[reached.distance == reached.distance.max()]
        pairs.append((s, position[int(ctx.rng.choice(far))]))
    return pairs


async def measure_paths(ctx: RunContext) -> Measurement:
    m = Measurement(
        "paths",
        "Shortest path and bounded all-paths (<= 6 hops, <= 1,000 paths)",
        "in-process: engine.shortest_path / engine.all_paths vs networkx shortest_path / "
        "all_simple_paths(cutoff=6, first 1,000); HTTP: GET /api/v1/lineage/paths (both, "
        "hydrated)",
    )
    engine = ctx.graph_engine()
    main = ctx.main
    tenant = main.access.tenant_id
    ids = main.asset_ids
    pairs = await _path_pairs(ctx, ctx.scale.path_pairs)
    if not pairs:
        raise RuntimeError("no start asset reaches anything 2..6 hops downstream")
    digraph = ctx.flow.networkx
    reverse = digraph.reverse(copy=False)
    timings: dict[str, list[float]] = defaultdict(list)
    disagree: dict[str, int] = defaultdict(int)
    truncated = 0
    for s, t in pairs:
        source, target = NodeRef.asset(int(ids[s])), NodeRef.asset(int(ids[t]))
        began = time.perf_counter()
        shortest = await engine.shortest_path(tenant, source, target)
        timings["memory shortest_path"].append(time.perf_counter() - began)
        began = time.perf_counter()
        nx_shortest = nx.shortest_path(digraph, s, t)
        timings["networkx shortest_path"].append(time.perf_counter() - began)
        if shortest is None or len(shortest) != len(nx_shortest) - 1:
            disagree["shortest_path"] += 1

        began = time.perf_counter()
        paths = await engine.all_paths(tenant, source, target, max_depth=6, max_paths=1000)
        timings["memory all_paths"].append(time.perf_counter() - began)
        began = time.perf_counter()
        # A stronger networkx than the plain call: the search is limited to the nodes that can
        # still reach the target within the hops left, as the engine's own search is.
        near = nx.single_source_shortest_path_length(reverse, t, cutoff=6)
        sub = digraph.subgraph(near)
        nx_paths = list(itertools.islice(nx.all_simple_paths(sub, s, t, cutoff=6), 1000))
        timings["networkx all_simple_paths"].append(time.perf_counter() - began)
        truncated += paths.truncated
        if len(paths.paths) != len(nx_paths):
            disagree["all_paths"] += 1

    with ctx.http() as client:
        headers = main.access.headers("viewer")
        for i, (s, t) in enumerate([pairs[0], *pairs]):
            began = time.perf_counter()
            response = client.get(
                "/api/v1/lineage/paths",
                params={"from_asset_id": int(ids[s]), "to_asset_id": int(ids[t]),
                        "max_depth": 6, "max_paths": 1000},
                headers=headers,
            )  # fmt: skip
            elapsed = time.perf_counter() - began
            response.raise_for_status()
            if i:
                timings["memory via HTTP (/lineage/paths)"].append(elapsed)

    def row(name: str, baseline: str | None) -> Row:
        r = latency_row(name, timings[name])
        if baseline is not None:
            r.ratios[baseline] = sum(timings[baseline]) / sum(timings[name])
        return r

    m.rows = [
        row("memory shortest_path", "networkx shortest_path"),
        row("networkx shortest_path", None),
        row("memory all_paths", "networkx all_simple_paths"),
        row("networkx all_simple_paths", None),
        row("memory via HTTP (/lineage/paths)", None),
    ]
    m.notes.append(
        f"{len(pairs)} pairs; {truncated} all-paths answers hit the 1,000-path cap; "
        f"disagreements with networkx: {dict(disagree) or 'none'}"
    )
    sp_row = m.rows[0]
    m.targets += [
        Target.check("shortest path latency (in-process)", "p95 <= 5 ms", sp_row.p95_ms,
                     lambda v: v <= 5.0, "p95 {:.3f} ms"),
        Target.check("shortest path vs networkx", ">= 10x networkx",
                     sp_row.ratios.get("networkx shortest_path"), lambda v: v >= 10, "{:.3g}x"),
    ]  # fmt: skip
    return m


# --- column-level impact -----------------------------------------------------------------------


async def measure_column_impact(ctx: RunContext) -> Measurement:
    m = Measurement(
        "column_impact",
        "Column-level impact of dropping a column",
        "in-process: headwater.graph.impact.analyze (a closure over column lineage, then waves "
        "over table-level flow from the tainted assets, then the rules, with evidence from the "
        "engine's own tables) and its closures alone; HTTP: POST /api/v1/impact with a "
        "drop_column change (same evidence; report ranked and hydrated from Postgres)",
    )
    engine = ctx.graph_engine()
    main = ctx.main
    tenant = main.access.tenant_id
    lineage = main.lineage
    offsets = lineage.field_offsets()
    per_asset = np.bincount(lineage.field_asset, minlength=lineage.n_assets)
    count = ctx.scale.impact_starts
    # Shuffled, so that a time budget cutting the list keeps an unbiased sample.
    assets = ctx.rng.permutation(
        ctx.pick_assets({"source": count // 2, "staging": count - count // 2})
    )
    picks = np.floor(ctx.rng.random(len(assets)) * per_asset[assets]).astype(np.int64)
    columns = (offsets[assets] + picks).tolist()
    owners = assets.tolist()

    # The closures alone: over column lineage (what analyze always walks), and over column
    # lineage and table-level flow together (the whole downstream region, which analyze walked
    # before it expanded table-level flow in waves from the tainted assets only).
    closures: dict[str, tuple[list[float], list[int], list[int]]] = {}
    whole: tuple[ClosureStep, ...] = ("field_lineage", "field_to_asset", "relationships")
    for label, steps in (("columns", tuple(impact.COLUMN_STEPS)), ("whole", whole)):
        seconds, reached_fields, reached_assets = [], [], []
        for f in columns:
            start = NodeRef.field(int(main.field_ids[f]))
            began = time.perf_counter()
            result = await engine.closure(tenant, [start], "downstream", steps=steps)
            seconds.append(time.perf_counter() - began)
            reached_fields.append(int((result.kind == 1).sum()) - 1)
            reached_assets.append(int((result.kind == 0).sum()))
        closures[label] = (seconds, reached_fields, reached_assets)

    def closure_row(label: str, key: str) -> Row:
        seconds, fields, reached = closures[key]
        return latency_row(
            label,
            seconds,
            mean_columns=round(float(np.mean(fields)), 1),
            mean_assets=round(float(np.mean(reached)), 1),
            max_assets=int(np.max(reached)),
        )

    # The evidence source the API uses on the memory engine: the engine's own tables.
    evidence = engine.impact_evidence(tenant)
    budget = ctx.scale.closure_budget_s
    seconds = []
    affected: list[int] = []
    reached: list[int] = []
    for f, a in zip(columns, owners, strict=True):
        if sum(seconds) > budget:
            break
        query = impact.ImpactQuery(int(main.asset_ids[a]), {int(main.field_ids[f]): "breaking"})
        began = time.perf_counter()
        outcome = await impact.analyze(engine, tenant, query, evidence)
        seconds.append(time.perf_counter() - began)
        affected.append(len(outcome.assets))
        reached.append(outcome.reached)
    analyze_row = latency_row(
        "impact.analyze (in-process)",
        seconds,
        mean_affected_assets=round(float(np.mean(affected)), 1),
        max_affected_assets=int(np.max(affected)),
        mean_reached=round(float(np.mean(reached)), 1),
    )
    m.rows += [
        analyze_row,
        closure_row("column closure alone (engine.closure, in-process)", "columns"),
        closure_row(
            "whole downstream closure, columns and tables (engine.closure, in-process)", "whole"
        ),
    ]

    http: list[float] = []
    items: list[int] = []
    reported: list[int] = []
    sizes: list[int] = []
    truncated = 0
    with ctx.http() as client:
        headers = main.access.headers("viewer")
        for i, (f, a) in enumerate([(columns[0], owners[0]), *zip(columns, owners, strict=True)]):
            if sum(http) > budget:
                break
            body = {
                "asset_id": int(main.asset_ids[a]),
                "changes": [{"kind": "drop_column", "column": lineage.field_name(f)}],
            }
            began = time.perf_counter()
            response = client.post("/api/v1/impact", json=body, headers=headers)
            elapsed = time.perf_counter() - began
            response.raise_for_status()
            if i:  # the first request warms the server up
                report = response.json()
                http.append(elapsed)
                items.append(len(report["items"]))
                reported.append(report["summary"]["assets"])
                sizes.append(len(response.content))
                truncated += bool(report["truncated"])
    for row_seconds, label in ((seconds, "impact.analyze"), (http, "POST /api/v1/impact")):
        if 0 < len(row_seconds) < len(columns):
            m.notes.append(
                f"{label}: the {budget:g} s budget allowed {len(row_seconds)} of "
                f"{len(columns)} columns (in the order picked, so an unbiased sample)"
            )
    if http:
        m.rows.insert(
            0,
            latency_row("POST /api/v1/impact (HTTP)", http,
                        mean_items=round(float(np.mean(items)), 1),
                        mean_affected_assets=round(float(np.mean(reported)), 1),
                        mean_kib=round(float(np.mean(sizes)) / 1024, 1),
                        truncated=truncated),
        )  # fmt: skip
        m.targets.append(
            Target.check("column-level impact over HTTP", "p95 <= 100 ms", m.rows[0].p95_ms,
                         lambda v: v <= 100.0, "p95 {:.2f} ms")
        )  # fmt: skip
    m.targets.append(
        Target.check("column-level impact in-process (impact.analyze)", "p95 <= 100 ms",
                     analyze_row.p95_ms, lambda v: v <= 100.0, "p95 {:.2f} ms")
    )  # fmt: skip
    return m
