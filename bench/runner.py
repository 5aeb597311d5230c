"""One run: start Postgres, generate and load the platform, start the API, measure everything,
stop, report. ``python -m bench --help`` for the options."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import psycopg

from bench import graph_measurements as graph
from bench.context import RunContext
from bench.generator import generate_tenant
from bench.ingest_measurements import measure_ingestion
from bench.loader import (
    LoadedTenant,
    create_tenant,
    load_set_based,
    load_via_bulk_api,
)
from bench.machine import machine_facts, postmaster_pid
from bench.report import markdown
from bench.results_model import Measurement, Row, latency_row
from bench.scales import SCALES, Scale
from bench.search_measurements import measure_search
from bench.server import ServerProcess
from bench.sql import Q
from bench.sync_measurements import measure_sync_lag
from headwater.catalog.db import migrate
from headwater.catalog.embedded import EmbeddedPostgres
from headwater.settings import Settings

__all__ = ["main", "run"]

SLUGS: Final = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
MEASUREMENTS: Final = (
    "bulk_api", "closure", "traversal", "paths", "column_impact", "sync_lag", "ingestion",
    "search",
)  # fmt: skip

log = logging.getLogger("bench")


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _step(
    results: list[Measurement], key: str, work: Callable[[], Awaitable[Measurement]]
) -> Measurement | None:
    _say(f"{key} ...")
    # What the bench holds from earlier steps (the generated platform, networkx graphs, the
    # search corpora: gigabytes of objects at the large scale) is moved out of the collector's
    # sight, as `serve` does with its startup heap: otherwise every full collection during a
    # measurement walks all of it and lands, seconds long, on whichever in-process call was
    # running.
    gc.collect()
    gc.freeze()
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        m = await work()
    except Exception as e:  # a failed measurement is reported; the others still run
        m = Measurement(key, key, "failed")
        m.error = f"{type(e).__name__}: {e}"
        m.notes.append(traceback.format_exc(limit=6).replace("\n", " / "))
        _say(f"{key} FAILED: {m.error}")
    m.seconds = time.perf_counter() - started
    m.load_average = round(load_average, 2)
    results.append(m)
    _say(f"{key} done in {m.seconds:.1f} s")
    return m if m.error is None else None


def _load_measurement(tenants: list[LoadedTenant], analyze_s: float) -> Measurement:
    m = Measurement(
        "load",
        "Load throughput",
        "set-based loader (bench/sql/load.sql): COPY into staging tables, then per chunk one "
        "INSERT ... SELECT writing entity rows + audit rows + outbox events, app role under RLS; "
        "and POST /api/v1/bulk over HTTP (the per-item path) on a separate small tenant",
    )
    for kind in ("assets", "fields", "relationships", "field_lineage"):
        rows = sum(t.entities[kind].rows for t in tenants)
        seconds = sum(t.entities[kind].seconds for t in tenants)
        events = sum(t.entities[kind].events for t in tenants)
        m.rows.append(
            Row(f"set-based: {kind}", n=rows, p50_ms=seconds * 1000, throughput=rows / seconds,
                unit="rows/s", extra={"audit_rows_and_outbox_events": events})
        )  # fmt: skip
    rows = sum(r.n for r in m.rows)
    seconds = sum((r.p50_ms or 0) for r in m.rows) / 1000
    m.rows.append(
        Row("set-based: all entities", n=rows, p50_ms=seconds * 1000, throughput=rows / seconds,
            unit="rows/s")
    )  # fmt: skip
    m.rows.append(
        Row(
            "VACUUM ANALYZE of the entity tables and the logs, CHECKPOINT",
            n=1,
            p50_ms=analyze_s * 1000,
        )
    )
    m.notes.append(
        "p50 ms in the set-based rows is the total time of that step; audit rows and outbox "
        "events are written on top of the counted entity rows (one each per change, plus the "
        "asset version bump a schema write records)"
    )
    return m


async def run(
    scale: Scale, *, work_dir: Path, only: set[str], keep: bool, server_timeout: float
) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    results: list[Measurement] = []
    cluster = EmbeddedPostgres(work_dir / "postgres")
    cluster.start()
    server: ServerProcess | None = None
    graph_counts: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    try:
        migrate(cluster.admin_dsn)
        cluster.allow_app_login()
        with psycopg.connect(cluster.admin_dsn) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        facts = machine_facts(None if version is None else str(version[0]))

        _say(f"generating {scale.total_assets:,} assets in {len(scale.tenant_assets)} tenants")
        generation = time.perf_counter()
        lineages = [
            generate_tenant(SLUGS[i], n, scale.seed + i) for i, n in enumerate(scale.tenant_assets)
        ]
        generation_s = time.perf_counter() - generation
        graph_counts = {
            "tenants": len(lineages),
            "seed": scale.seed,
            "main_tenant_assets": lineages[0].n_assets,
            "generation_s": round(generation_s, 2),
            **{
                k: sum(g.counts[k] for g in lineages)
                for k in (
                    "assets",
                    "relationships",
                    "flow_relationships",
                    "fields",
                    "field_lineage",
                )
            },
        }

        _say("loading (set-based)")
        loading = time.perf_counter()
        load_average = os.getloadavg()[0]
        tenants: list[LoadedTenant] = []
        for lineage in lineages:
            access = await create_tenant(cluster.app_dsn, lineage.slug)
            tenants.append(await load_set_based(cluster.app_dsn, access, lineage))
        analyze = time.perf_counter()
        with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
            conn.execute(Q["vacuum_analyze"])
            conn.execute(Q["checkpoint"])
        load = _load_measurement(tenants, time.perf_counter() - analyze)
        load.seconds = time.perf_counter() - loading
        load.load_average = round(load_average, 2)
        results.append(load)

        ctx = RunContext(
            scale=scale,
            work_dir=work_dir,
            admin_dsn=cluster.admin_dsn,
            app_dsn=cluster.app_dsn,
            worker_dsn=cluster.worker_dsn,
            tenants=tenants,
            rng=np.random.default_rng(scale.seed),
            max_bulk_items=Settings().max_bulk_items,
            postgres_pid=postmaster_pid(cluster.pgdata),
            facts=facts,
        )
        if await _step(results, "cold_start", lambda: graph.measure_cold_start(ctx)) is None:
            raise RuntimeError("the memory engine could not be loaded; nothing else can run")

        _say("starting the API server")
        server = ServerProcess(
            cluster.app_dsn, cluster.worker_dsn, work_dir, _free_port(), scale.total_assets + 1
        )
        ready_s = server.start(server_timeout)
        ctx.server = server
        cold = next(m for m in results if m.key == "cold_start")
        cold.rows.append(
            Row("API server: process start to ready (imports, migrations check, graph load)",
                n=1, p50_ms=ready_s * 1000)
        )  # fmt: skip

        if "bulk_api" in only:
            try:
                await _bulk_api(ctx, load, cluster.app_dsn)
            except Exception as e:  # reported with the load figures; the rest still runs
                load.error = f"POST /api/v1/bulk: {type(e).__name__}: {e}"
                _say(f"bulk_api FAILED: {load.error}")

        steps: dict[str, Callable[[], Awaitable[Measurement]]] = {
            "closure": lambda: graph.measure_closure(ctx),
            "traversal": lambda: graph.measure_traversal(ctx),
            "paths": lambda: graph.measure_paths(ctx),
            "column_impact": lambda: graph.measure_column_impact(ctx),
            "sync_lag": lambda: measure_sync_lag(ctx),
            "ingestion": lambda: _ingestion(ctx, cluster.app_dsn),
            "search": lambda: measure_search(ctx),
        }
        if only & {"closure", "paths"}:
            await _step(results, "baselines", _async(lambda: graph.measure_baseline_builds(ctx)))
        for key in MEASUREMENTS:
            if key in only and key in steps:
                await _step(results, key, steps[key])
    finally:
        server_peak = server.peak_rss_mb() if server is not None else None
        if server is not None:
            server.stop()
        cluster.stop()
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)

    report: dict[str, Any] = {
        "scale": scale.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": facts,
        "graph": graph_counts,
        "memory": {
            "bench_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "server_peak_mb": server_peak,
        },
        "measurements": [m.to_json() for m in results],
        "targets": [{"measurement": m.key, **t} for m in results for t in m.to_json()["targets"]],
        "errors": [f"{m.key}: {m.error}" for m in results if m.error],
    }
    return report


async def _bulk_api(ctx: RunContext, load: Measurement, app_dsn: str) -> None:
    """POST /api/v1/bulk on a separate small tenant; its row joins the load measurement."""
    _say("loading a tenant through POST /api/v1/bulk")
    scale, server = ctx.scale, ctx.server
    assert server is not None
    lineage = generate_tenant("bulkapi", scale.api_bulk_assets, scale.seed + 99)
    access = await create_tenant(app_dsn, "bulkapi")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=900) as client:
        bulk = await load_via_bulk_api(client, access, lineage, ctx.max_bulk_items)
    row = latency_row("POST /api/v1/bulk (per-item path)", bulk.latencies_s,
                      requests=bulk.requests, **bulk.entities)  # fmt: skip
    row.n, row.throughput, row.unit = bulk.items, bulk.items / bulk.seconds, "items/s"
    load.rows.append(row)
    load.notes.append(
        "the POST /api/v1/bulk row's percentiles are per request of up to "
        f"{ctx.max_bulk_items:,} items (fields count one each)"
    )


def _async(work: Callable[[], Measurement]) -> Callable[[], Awaitable[Measurement]]:
    async def run() -> Measurement:
        return work()

    return run


async def _ingestion(ctx: RunContext, app_dsn: str) -> Measurement:
    access = await create_tenant(app_dsn, "ingest")
    return await measure_ingestion(ctx, access)


def _code_version() -> str:
    """The commit measured, marked when the working tree differs from it ("unknown" outside git)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "headwater",
                      "bench/*.py", "bench/sql")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} with uncommitted changes" if changed else commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Generate a synthetic lineage platform, load it into an embedded Postgres "
        "and measure every hot path side by side with its baselines.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    parser.add_argument(
        "--out", type=Path, help="JSON report path (markdown written next to it as .md); "
        "default bench/results/<scale>-<UTC time>.json",
    )  # fmt: skip
    parser.add_argument("--work-dir", type=Path, help="where Postgres and the indexes live")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument(
        "--only", help=f"comma-separated subset of: {','.join(MEASUREMENTS)} (load and cold "
        "start always run)",
    )  # fmt: skip
    parser.add_argument("--semantic-assets", type=int, help="embed and index only this many")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    if args.semantic_assets is not None:
        scale = Scale(**{**scale.__dict__, "semantic_assets": args.semantic_assets})
    only = set(MEASUREMENTS) if args.only is None else set(args.only.split(","))
    unknown = only - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurements: {', '.join(sorted(unknown))}")
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix=f"headwater-bench-{scale.name}-"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or Path(__file__).parent / "results" / f"{scale.name}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING)
    timeout = 120.0 + scale.total_assets / 2_000
    # What is run, and on which code (read now: the tree may change during a long run).
    given = sys.argv[1:] if argv is None else argv
    command, code = shlex.join(["python", "-m", "bench", *given]), _code_version()
    report = asyncio.run(
        run(scale, work_dir=work_dir, only=only, keep=args.keep, server_timeout=timeout)
    )
    report["command"], report["code"] = command, code
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = markdown(report)
    out.with_suffix(".md").write_text(text + "\n")
    print(text)
    _say(f"report written to {out} and {out.with_suffix('.md')}")
    return 1 if report["errors"] else 0
