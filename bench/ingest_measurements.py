"""OpenLineage ingestion of ~8 KB RunEvents carrying schema and columnLineage facets.

Five ways in, each over its own set of events (so none is a replay of another's), every event
the first run of its job:

* ``POST /api/v1/lineage/batch`` over HTTP, 100 events per request (one transaction each);
* the same from ``CLIENTS`` clients at once (emitters are many; their batches read the same
  datasets, so their runs collide and take turns where they overlap);
* ``POST /api/v1/lineage`` over HTTP, one event per request (what the OpenLineage clients do);
* in this process, ``ingest_openlineage`` with 100 events per transaction (the batch path
  without HTTP);
* in this process, the naive writer: ``ingest_openlineage`` with one transaction per event;
* in this process, the item-at-a-time writer: the sequential reference applier
  (``apply_sequentially``: one catalog call per asset, field list, relationship and column edge,
  as the REST API makes them), one transaction per event, over fewer events (it is slow). Not a
  target's baseline: it shows what set-based writing gains apart from batching transactions.

Then the steady state a scheduler produces day after day: the jobs of the batch endpoint's, the
two clients' and the naive writer's events run again (a new run id, a day later, the same
datasets, schemas and column lineage), sent the same three ways. What such an event changes is
its job's last run; the rest is compared and found unchanged.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
from prometheus_client import REGISTRY, Metric
from prometheus_client.parser import text_string_to_metric_families

from bench.context import RunContext
from bench.generator import COLUMN_TYPES, COLUMN_VOCAB, DOMAINS, ENTITIES, METRICS
from bench.loader import TenantAccess
from bench.machine import cpu_seconds
from bench.results_model import Measurement, Row, Target, latency_row
from headwater.catalog.db import Database
from headwater.ingest.apply import apply_sequentially, ingest_openlineage
from headwater.ingest.batch import IngestSummary
from headwater.ingest.openlineage import map_events

__all__ = ["measure_ingestion", "openlineage_events"]

BATCH: Final = 100
ITEMS: Final = "item-at-a-time writer (one catalog call per item, one transaction per event)"
CLIENTS: Final = 2
RERUN: Final = "the same jobs run again"
# Sized so that an event is about 8 KB of JSON.
INPUT_COLUMNS: Final = 8
OUTPUT_COLUMNS: Final = 9
PRODUCER: Final = "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/spark"
_SPEC: Final = "https://openlineage.io/spec"
_NAMESPACE: Final = "postgres://warehouse.example.com:5432"
_SUBTYPES: Final = ("IDENTITY", "TRANSFORMATION", "AGGREGATION", "JOIN", "FILTER")


def _facet(name: str, version: str, **content: Any) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"{_SPEC}/facets/{version}/{name}.json#/$defs/{name}",
        **content,
    }


def _columns(rng: np.random.Generator, count: int) -> list[str]:
    picked = rng.choice(len(COLUMN_VOCAB), count, replace=False)
    return [COLUMN_VOCAB[int(i)] for i in picked]


def _schema(columns: list[str], domain: str) -> dict[str, Any]:
    return _facet(
        "SchemaDatasetFacet",
        "1-1-1",
        fields=[
            {
                "name": c,
                "type": COLUMN_TYPES[COLUMN_VOCAB.index(c)],
                "description": f"{c.replace('_', ' ').capitalize()}, from {domain}.",
            }
            for c in columns
        ],
    )


def openlineage_events(label: str, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` COMPLETE RunEvents of distinct jobs, each reading three datasets from a shared
    pool (so later events find them and merge) and writing one new dataset with a schema and
    column lineage for every output column; about 8 KB each."""
    rng = np.random.default_rng(seed)
    pool_size = max(count // 2, 4)
    pool: list[tuple[str, list[str], str]] = []
    for k in range(pool_size):
        domain = DOMAINS[k % len(DOMAINS)]
        entity = ENTITIES[int(rng.integers(len(ENTITIES)))][1]
        pool.append((f"{label}.{domain}.{entity}_{k}", _columns(rng, INPUT_COLUMNS), domain))
    started = datetime(2024, 5, 1, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    for i in range(count):
        domain = DOMAINS[i % len(DOMAINS)]
        metric = METRICS[int(rng.integers(len(METRICS)))]
        picks = rng.choice(pool_size, 3, replace=False)
        inputs = [pool[int(p)] for p in picks]
        output_name = f"{label}.{domain}.{metric}_summary_{i}"
        output_columns = _columns(rng, OUTPUT_COLUMNS)
        lineage: dict[str, Any] = {}
        for column in output_columns:
            sources = []
            for _ in range(1 + int(rng.integers(2))):
                name, columns, _ = inputs[int(rng.integers(3))]
                sources.append(
                    {
                        "namespace": _NAMESPACE,
                        "name": name,
                        "field": columns[int(rng.integers(len(columns)))],
                        "transformations": [
                            {
                                "type": "DIRECT",
                                "subtype": _SUBTYPES[int(rng.integers(len(_SUBTYPES)))],
                            }
                        ],
                    }
                )
            lineage[column] = {"inputFields": sources}
        query = (
            f"INSERT INTO {output_name} SELECT "
            + ", ".join(f"agg_{c}" for c in output_columns)
            + " FROM "
            + " JOIN ".join(name for name, _, _ in inputs)
            + f" WHERE event_date = '{(started + timedelta(days=i % 365)).date()}'"
        )
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": (started + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "run": {"runId": str(uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | i))},
                "job": {
                    "namespace": f"bench_{label}",
                    "name": f"{domain}.build_{metric}_summary_{i}",
                    "facets": {
                        "sql": _facet("SQLJobFacet", "1-0-1", query=query),
                        "jobType": _facet(
                            "JobTypeJobFacet",
                            "2-0-3",
                            processingType="BATCH",
                            integration="SPARK",
                            jobType="QUERY",
                        ),
                    },
                },
                "inputs": [
                    {
                        "namespace": _NAMESPACE,
                        "name": name,
                        "facets": {"schema": _schema(columns, dom)},
                    }
                    for name, columns, dom in inputs
                ],
                "outputs": [
                    {
                        "namespace": _NAMESPACE,
                        "name": output_name,
                        "facets": {
                            "schema": _schema(output_columns, domain),
                            "columnLineage": _facet(
                                "ColumnLineageDatasetFacet", "1-2-0", fields=lineage
                            ),
                        },
                    }
                ],
                "producer": PRODUCER,
                "schemaURL": f"{_SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent",
            }
        )
    return events


def rerun(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The same jobs run again a day later: new run ids, everything else as it was."""
    rng = np.random.default_rng(seed)
    again: list[dict[str, Any]] = []
    for event in events:
        moment = datetime.fromisoformat(event["eventTime"]) + timedelta(days=1)
        run_id = uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | len(again))
        again.append(
            {
                **event,
                "eventTime": moment.isoformat().replace("+00:00", "Z"),
                "run": {**event["run"], "runId": str(run_id)},
            }
        )
    return again


def _replanned(ctx: RunContext) -> float:
    """Ingestion runs planned again so far (a concurrent writer got there first), in the API
    server and in this process (the in-process ways)."""
    total = 0.0
    for metrics in (list(REGISTRY.collect()), _served_metrics(ctx)):
        for metric in metrics:
            if metric.name == "headwater_ingest_runs_replanned":
                total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _served_metrics(ctx: RunContext) -> list[Metric]:
    with ctx.http() as http:
        response = http.get("/metrics")
        response.raise_for_status()
    return list(text_string_to_metric_families(response.text))


@dataclass(frozen=True)
class _CpuUse:
    """CPU seconds used so far by the API server, by Postgres (every backend and helper process)
    and by this process (the HTTP client, or for the in-process ways the writer itself)."""

    server: float
    postgres: float
    bench: float

    @classmethod
    def now(cls, ctx: RunContext) -> _CpuUse:
        if ctx.server is None:
            raise RuntimeError("the API server is not running")
        return cls(
            cpu_seconds(ctx.server.pid), cpu_seconds(ctx.postgres_pid, tree=True), cpu_seconds()
        )

    def per_event(self, start: _CpuUse, events: int) -> dict[str, float]:
        """Milliseconds of CPU per event each used from ``start`` to this reading."""
        used = {
            "server": self.server - start.server,
            "postgres": self.postgres - start.postgres,
            "bench": self.bench - start.bench,
        }
        return {k: round(v * 1000 / max(events, 1), 3) for k, v in used.items()}


@dataclass(frozen=True)
class _Way:
    """How a part of ``chunk`` events is sent: ``encode`` runs before the clock starts (an
    emitter's own serialisation is not the server's time), ``send`` is timed."""

    chunk: int
    send: Callable[[Any], Awaitable[None]]
    encode: Callable[[list[dict[str, Any]]], Any] = list


async def _timed_way(
    ctx: RunContext, label: str, events: list[dict[str, Any]], way: _Way, budget: float
) -> Row:
    """Send ``events`` ``way.chunk`` at a time until done or ``budget`` seconds have passed."""
    chunk = way.chunk
    parts = [
        (len(p), way.encode(p))
        for p in (events[lo : lo + chunk] for lo in range(0, len(events), chunk))
    ]
    latencies: list[float] = []
    done = 0
    replanned = _replanned(ctx)
    cpu = _CpuUse.now(ctx)
    started = time.perf_counter()
    for size, part in parts:
        if time.perf_counter() - started > budget:
            break
        began = time.perf_counter()
        await way.send(part)
        latencies.append(time.perf_counter() - began)
        done += size
    per = "event" if chunk == 1 else f"{chunk} events"
    seconds = time.perf_counter() - started
    row = _rate_row(label, done, seconds, latencies, per, _CpuUse.now(ctx).per_event(cpu, done))
    row.extra["runs_planned_again"] = int(_replanned(ctx) - replanned)
    if done < len(events):
        row.extra["budget_cut"] = f"{done} of {len(events)} events"
    return row


def _concurrent_way(
    ctx: RunContext,
    label: str,
    events: list[dict[str, Any]],
    headers: dict[str, str],
    budget: float,
) -> Row:
    """``CLIENTS`` threads, each with its own connection, sending ``BATCH`` events a request
    from one queue of batches until done or ``budget`` seconds have passed."""
    parts = (events[lo : lo + BATCH] for lo in range(0, len(events), BATCH))
    bodies = iter([(len(part), json.dumps(part)) for part in parts])
    lock = threading.Lock()
    latencies: list[float] = []
    sent: list[int] = []  # events per answered request
    failures: list[str] = []
    replanned = _replanned(ctx)
    cpu = _CpuUse.now(ctx)
    started = time.perf_counter()

    def client() -> None:
        with ctx.http() as http:
            while time.perf_counter() - started <= budget:
                with lock:
                    sized = next(bodies, None)
                if sized is None:
                    return
                size, body = sized
                began = time.perf_counter()
                response = http.post("/api/v1/lineage/batch", content=body, headers=headers)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                    return
                with lock:
                    latencies.append(time.perf_counter() - began)
                    sent.append(size)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"concurrent batch ingestion answered {failures[0]}")
    done = sum(sent)
    seconds = time.perf_counter() - started
    used = _CpuUse.now(ctx).per_event(cpu, done)
    row = _rate_row(label, done, seconds, latencies, f"{BATCH} events", used)
    row.extra["runs_planned_again"] = int(_replanned(ctx) - replanned)
    if done < len(events):
        row.extra["budget_cut"] = f"{done} of {len(events)} events"
    return row


def _rate_row(
    label: str,
    events: int,
    seconds: float,
    latencies: list[float],
    per: str,
    cpu: dict[str, float],
) -> Row:
    row = latency_row(label, latencies, latency_per=per)
    row.throughput, row.unit = events / seconds, "events/s"
    row.extra["events"] = events
    row.extra["cpu_ms_per_event"] = cpu
    return row


async def measure_ingestion(ctx: RunContext, access: TenantAccess) -> Measurement:
    count = ctx.scale.ingest_events
    m = Measurement(
        "ingestion",
        "OpenLineage ingestion (~8 KB RunEvents with schema + columnLineage facets)",
        "HTTP: POST /api/v1/lineage/batch (100 events per request) and POST /api/v1/lineage; "
        "in-process: headwater.ingest.apply.ingest_openlineage in one transaction per 100 "
        "events, and the naive writer, one transaction per event; apply_sequentially, one "
        "transaction per event",
    )
    seed = ctx.scale.seed
    http_batch = openlineage_events("httpbatch", count, seed + 1)
    sizes = [len(json.dumps(e)) for e in http_batch]
    m.notes.append(f"mean event size {np.mean(sizes) / 1024:.1f} KiB ({min(sizes)}-{max(sizes)} B)")
    headers = {**access.headers("editor"), "Content-Type": "application/json"}
    budget = ctx.scale.closure_budget_s

    sent: dict[str, list[dict[str, Any]]] = {}
    database = Database(ctx.app_dsn, max_size=2)
    await database.open()
    try:
        with ctx.http() as client:

            async def batch_over_http(body: str) -> None:
                response = client.post("/api/v1/lineage/batch", content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"batch ingestion answered {response.status_code}")

            async def one_over_http(body: str) -> None:
                response = client.post("/api/v1/lineage", content=body, headers=headers)
                if response.status_code != 201:
                    raise RuntimeError(f"event ingestion answered {response.status_code}")

            async def in_process(events: list[dict[str, Any]]) -> None:
                async with database.transaction(access.tenant_id) as conn:
                    await ingest_openlineage(conn, access.actor, events, indexed=len(events) > 1)

            async def item_at_a_time(events: list[dict[str, Any]]) -> None:
                async with database.transaction(access.tenant_id) as conn:
                    units = map_events(events, indexed=False).units
                    summary = IngestSummary(units=len(units))
                    await apply_sequentially(conn, access.actor, units, summary)

            ways: list[tuple[str, list[dict[str, Any]], _Way]] = [
                ("HTTP batch endpoint", http_batch, _Way(BATCH, batch_over_http, json.dumps)),
                ("HTTP one event per request (OpenLineage client style)",
                 openlineage_events("httpsingle", max(count // 4, 10), seed + 2),
                 _Way(1, one_over_http, lambda part: json.dumps(part[0]))),
                ("in-process batch (100 events per transaction)",
                 openlineage_events("inprocbatch", count, seed + 3), _Way(BATCH, in_process)),
                ("naive writer (one transaction per event)",
                 openlineage_events("naive", count, seed + 4), _Way(1, in_process)),
                (ITEMS, openlineage_events("items", max(count // 10, 10), seed + 7),
                 _Way(1, item_at_a_time)),
            ]  # fmt: skip
            for label, events, way in ways:
                row = await _timed_way(ctx, label, events, way, budget)
                m.rows.append(row)
                sent[label] = events[: int(row.extra["events"])]
            for label, _, way in (ways[0], ways[3]):
                again = rerun(sent[label], seed + 6)
                m.rows.append(await _timed_way(ctx, f"{label}, {RERUN}", again, way, budget))
        concurrent = openlineage_events("httpconcurrent", count, seed + 5)
        label = f"HTTP batch endpoint, {CLIENTS} clients at once"
        first = _concurrent_way(ctx, label, concurrent, headers, budget)
        m.rows.insert(1, first)
        # The steady state from several emitters: does concurrency pay where runs change little?
        again = rerun(concurrent[: int(first.extra["events"])], seed + 8)
        m.rows.append(_concurrent_way(ctx, f"{label}, {RERUN}", again, headers, budget))
    finally:
        await database.close()
    if any("budget_cut" in r.extra for r in m.rows):
        m.notes.append(
            f"each way runs for at most {budget:g} s (then its rate is over the events done)"
        )

    by_label = {r.label: r for r in m.rows}
    naive = "naive writer (one transaction per event)"
    naive_rate = by_label[naive].throughput or 0.0
    naive_again = by_label[f"{naive}, {RERUN}"].throughput or 0.0
    items_rate = by_label[ITEMS].throughput or 0.0
    for row in m.rows:
        baseline = naive_again if row.label.endswith(RERUN) else naive_rate
        if baseline and row.throughput:
            row.ratios["naive writer"] = row.throughput / baseline
        if items_rate and row.throughput and not row.label.endswith(RERUN):
            row.ratios["item-at-a-time writer"] = row.throughput / items_rate
    http_rate = by_label["HTTP batch endpoint"].throughput
    http_again = by_label[f"HTTP batch endpoint, {RERUN}"].throughput
    m.notes.append(
        "ratios here are throughput / the naive writer's throughput on the same kind of events "
        f"(first runs, or '{RERUN}')"
    )
    m.notes.append(
        "the item-at-a-time writer is not a target's baseline: the naive writer it is checked "
        "against writes set-based too, one event per transaction; the ratios to it show what "
        "set-based writing gains on its own (first runs only)"
    )
    m.notes.append(
        "the targets are checked on first runs (every event creates its job, output dataset, "
        f"fields and column lineage); '{RERUN}' is the steady state, shown beside them"
    )
    m.notes.append(
        f"the batch target is checked on the one-client row; the {CLIENTS}-client row shows "
        "what the server takes from several emitters at once"
    )
    m.notes.append(
        "runs_planned_again: plans a concurrent writer invalidated (it created a name the run "
        "creates, or changed or locked rows first); each such run waits for it, then reads and "
        "plans again (headwater_ingest_runs_replanned_total: a run planned again twice counts "
        "twice)"
    )
    m.notes.append(
        "cpu_ms_per_event: CPU time per event of the API server process, of Postgres (all its "
        "processes) and of the bench process (the HTTP client; in the in-process ways, the "
        "writer itself), all on the same cores"
    )
    cpu = by_label["HTTP batch endpoint"].extra["cpu_ms_per_event"]
    if (spent := cpu["server"] + cpu["postgres"]) > 0:
        cores = len(os.sched_getaffinity(0))
        m.notes.append(
            f"the batch endpoint's cost: API server {cpu['server']:.2f} + Postgres "
            f"{cpu['postgres']:.2f} = {spent:.2f} ms of CPU per event, so {cores} cores cannot "
            f"ingest more than {cores * 1000 / spent:,.0f} events/s at that cost even kept busy "
            f"all the time (1,000 events/s leaves {cores} ms per event)"
        )
    m.targets += [
        Target.check("OpenLineage batch ingestion", ">= 1,000 events/s", http_rate,
                     lambda v: v >= 1000, "{:,.0f} events/s"),
        Target.check("batch endpoint vs naive writer", ">= 10x the naive writer",
                     (http_rate or 0.0) / naive_rate if naive_rate else None,
                     lambda v: v >= 10, "{:.3g}x"),
        Target.check(f"OpenLineage batch ingestion, {RERUN}", ">= 1,000 events/s", http_again,
                     lambda v: v >= 1000, "{:,.0f} events/s"),
        Target.check(f"batch endpoint vs naive writer, {RERUN}", ">= 10x the naive writer",
                     (http_again or 0.0) / naive_again if naive_again else None,
                     lambda v: v >= 10, "{:.3g}x"),
    ]  # fmt: skip
    return m
