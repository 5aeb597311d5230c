"""Sync lag: from a write's commit to the moment a lineage query over the memory engine sees it.

A writer commits new DEPENDS_ON relationships on one connection pool, open-loop at a fixed rate,
each transaction one set-based statement writing the rows, audit rows and outbox events the
catalog writes (bench/sql/sync.sql): 5 events per transaction at 1,000/s, 25 at 5,000/s (200
commits/s either way, as a busy ingestion commits). One event per transaction through
``relationships.create_relationship`` tops out near 300 commits/s here with the worker sharing
the two cores, so it could not offer 1,000/s. A :class:`~headwater.sync.worker.SyncWorker` in
this process feeds the engine the cold start loaded, exactly as ``serve`` runs it (LISTEN
wake-ups, default batch size and polling); a probe around its graph sink notes when each
relationship has been applied, which is when the next query sees it. Lag = applied - committed.
After each run a sample of the new edges is checked with a real traversal.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from bench.context import RunContext
from bench.generator import TenantLineage
from bench.loader import AGENT
from bench.results_model import Measurement, Target, latency_row
from bench.sql import Q
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.relationships import RelationshipType
from headwater.graph.model import NodeRef
from headwater.settings import Settings
from headwater.sync.events import Batch, Position
from headwater.sync.graph_sink import GraphSink
from headwater.sync.worker import SyncWorker, WorkerConfig

__all__ = ["measure_sync_lag"]

RATES: Final = (1_000, 5_000)
# Events per writer transaction at each rate: 200 commits/s at both.
EVENTS_PER_TRANSACTION: Final = {1_000: 5, 5_000: 25}
POOL_SIZE: Final = 16
DRAIN_TIMEOUT_S: Final = 120.0


class _Probe:
    """The graph sink, noting when each relationship event has been applied to the engine."""

    def __init__(self, inner: GraphSink) -> None:
        self.inner = inner
        self.name = inner.name
        self.applied: dict[int, float] = {}
        self.event = asyncio.Event()

    async def apply(self, batch: Batch) -> None:
        await self.inner.apply(batch)
        now = time.perf_counter()
        for event in batch.events:
            if event.entity_type == "relationship":
                self.applied.setdefault(event.entity_id, now)
        self.event.set()


@dataclass
class _Run:
    rate: int
    per_tx: int
    committed: dict[int, float] = field(default_factory=dict)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    first_send: float = 0.0
    last_commit: float = 0.0


def _new_pairs(
    lineage: TenantLineage, count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """(consumer, source) positions with no relationship yet: dashboards, reports and ML models
    starting to depend on marts and semantic models."""
    consumers = np.concatenate(
        [np.array(lineage.layer_range(x)) for x in ("dashboard", "report", "ml_model")]
    )
    sources = np.concatenate([np.array(lineage.layer_range(x)) for x in ("mart", "model")])
    n = lineage.n_assets
    existing = set((lineage.rel_source.astype(np.int64) * n + lineage.rel_target).tolist())
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    while len(pairs) < count:
        a = rng.choice(consumers, 2 * count)
        b = rng.choice(sources, 2 * count)
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            key = x * n + y
            if key not in existing and key not in seen:
                seen.add(key)
                pairs.append((x, y))
                if len(pairs) == count:
                    break
        if len(seen) > len(consumers) * len(sources) // 2:
            raise RuntimeError("too few unused (consumer, source) pairs for the sync writer")
    return pairs


async def _write(
    database: Database, actor: Actor, ids: NDArray[np.int64], run: _Run, duration: float
) -> None:
    transactions = max(int(run.rate * duration / run.per_tx), 1)
    interval = run.per_tx / run.rate
    gate = asyncio.Semaphore(POOL_SIZE)
    tenant: UUID = actor.tenant_id

    async def one(i: int) -> None:
        async with gate:
            pairs = run.pairs[i * run.per_tx : (i + 1) * run.per_tx]
            async with database.transaction(tenant) as conn:
                cur = await conn.execute(
                    Q["write_relationships_by_id"],
                    {
                        "sources": [int(ids[consumer]) for consumer, _ in pairs],
                        "targets": [int(ids[source]) for _, source in pairs],
                        "type": RelationshipType.DEPENDS_ON.value,
                        "actor": actor.user_id,
                        "agent": AGENT,
                    },
                )
                created = [int(row["entity_id"]) for row in await cur.fetchall()]
            now = time.perf_counter()
            for rel_id in created:
                run.committed[rel_id] = now
            run.last_commit = max(run.last_commit, now)

    tasks: list[asyncio.Task[None]] = []
    run.first_send = start = time.perf_counter()
    sent = 0
    while sent < transactions:
        due = min(int((time.perf_counter() - start) / interval) + 1, transactions)
        while sent < due:
            tasks.append(asyncio.create_task(one(sent)))
            sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
    await asyncio.gather(*tasks)


async def _drained(probe: _Probe, wanted: set[int], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not wanted.issubset(probe.applied.keys()):
        probe.event.clear()
        left = deadline - time.perf_counter()
        if left <= 0:
            return False
        try:
            await asyncio.wait_for(probe.event.wait(), min(left, 0.5))
        except TimeoutError:
            pass
    return True


async def measure_sync_lag(ctx: RunContext) -> Measurement:
    scale = ctx.scale
    m = Measurement(
        "sync_lag",
        "Sync lag, commit -> visible to lineage queries on the memory engine",
        "in-process: writer on one pool (app role), each transaction one set-based statement "
        "writing rows + audit rows + outbox events (bench/sql/sync.sql), 5 events per "
        "transaction at 1,000/s and 25 at 5,000/s; SyncWorker + GraphSink as serve runs them "
        "(LISTEN, default batch 500); lag measured when the sink's apply returns",
    )
    engine = ctx.graph_engine()
    main = ctx.main
    lineage = main.lineage
    defaults = Settings()
    config = WorkerConfig(
        batch_size=defaults.worker_batch_size,
        poll_interval=defaults.worker_poll_interval,
        backoff_initial=defaults.worker_backoff_initial,
        backoff_max=defaults.worker_backoff_max,
    )
    worker_db = Database(ctx.worker_dsn, min_size=1, max_size=3)
    writer_db = Database(ctx.app_dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
    await worker_db.open()
    await writer_db.open()
    probe = _Probe(GraphSink(engine))
    worker = SyncWorker(worker_db, config, listen_dsn=ctx.worker_dsn)
    assert ctx.engine_position is not None
    worker.add_local_sink(probe, Position.parse(ctx.engine_position))
    task = asyncio.create_task(worker.run(), name="bench-sync")
    counts = {rate: int(rate * scale.sync_seconds) for rate in RATES}
    all_pairs = _new_pairs(lineage, sum(counts.values()) + 1, ctx.rng)
    try:
        # Catch up with everything written since the cold start, then measure.
        marker = _Run(1, 1, pairs=all_pairs[:1])
        await _write(writer_db, main.access.actor, main.asset_ids, marker, 0.0)
        if not await _drained(probe, set(marker.committed), DRAIN_TIMEOUT_S):
            raise RuntimeError("the sync worker did not catch up with the outbox")
        used = 1
        for rate in RATES:
            run = _Run(rate, EVENTS_PER_TRANSACTION[rate])
            run.pairs = all_pairs[used : used + counts[rate]]
            used += counts[rate]
            await _write(writer_db, main.access.actor, main.asset_ids, run, scale.sync_seconds)
            drained = await _drained(probe, set(run.committed), DRAIN_TIMEOUT_S)
            _report(m, run, probe, drained, scale.sync_seconds)
            await _check_visible(ctx, run, m)
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # the worker only ends by cancellation
            pass
        await writer_db.close()
        await worker_db.close()
    return m


def _report(m: Measurement, run: _Run, probe: _Probe, drained: bool, duration: float) -> None:
    ids = sorted(run.committed, key=lambda i: run.committed[i])
    lags = [max(0.0, probe.applied[i] - run.committed[i]) for i in ids if i in probe.applied]
    span = max(run.last_commit - run.first_send, 1e-9)
    achieved = len(ids) / span
    third = max(len(lags) // 3, 1)
    first_p50 = float(np.median(lags[:third])) if lags else float("nan")
    last_p50 = float(np.median(lags[-third:])) if lags else float("nan")
    applied = [probe.applied[i] for i in ids if i in probe.applied]
    drain = max(0.0, max(applied) - run.last_commit) if applied else float("nan")
    growing = last_p50 > 2 * first_p50 + 0.010
    row = latency_row(
        f"{run.rate:,} events/s offered",
        lags,
        events=len(ids),
        events_per_transaction=run.per_tx,
        offered_per_s=run.rate,
        achieved_per_s=round(achieved, 1),
        first_third_p50_ms=round(first_p50 * 1000, 2),
        last_third_p50_ms=round(last_p50 * 1000, 2),
        drain_after_last_commit_ms=round(drain * 1000, 1),
        all_applied=drained,
        lag_grows=growing,
    )
    row.throughput, row.unit = achieved, "events/s achieved"
    m.rows.append(row)
    sustained = achieved >= 0.9 * run.rate
    if not sustained:
        m.notes.append(
            f"at {run.rate:,}/s offered, the writer ({run.per_tx} events per transaction over "
            f"one pool, in this process) achieved {achieved:,.0f} events/s over {duration:g} s: "
            "the write cost on this machine, not the sync worker, is the limit there"
        )
    if run.rate == 1_000:
        for target in (
            Target.check("sync lag p50 at 1,000 events/s", "p50 <= 20 ms", row.p50_ms,
                         lambda v: v <= 20.0, "{:.1f} ms"),
            Target.check("sync lag p99 at 1,000 events/s", "p99 <= 100 ms", row.p99_ms,
                         lambda v: v <= 100.0, "{:.1f} ms"),
        ):  # fmt: skip
            if not sustained:
                target.verdict = "MISS"
                target.note = f"rate not sustained ({achieved:,.0f}/s achieved)"
            if not drained:
                target.verdict = "MISS"
                target.note = f"not every event was applied within {DRAIN_TIMEOUT_S:g} s"
            m.targets.append(target)
    else:
        target = Target(
            f"sync lag at {run.rate:,} events/s",
            "lag does not grow",
            f"first-third p50 {first_p50 * 1000:.1f} ms, last-third p50 "
            f"{last_p50 * 1000:.1f} ms, drained {drain * 1000:.0f} ms after the last commit",
            "PASS" if drained and not growing and sustained else "MISS",
        )
        if not sustained:
            target.note = f"rate not sustained ({achieved:,.0f}/s achieved)"
        m.targets.append(target)


async def _check_visible(ctx: RunContext, run: _Run, m: Measurement) -> None:
    engine = ctx.graph_engine()
    main = ctx.main
    tenant = main.access.tenant_id
    sample = run.pairs[:: max(len(run.pairs) // 20, 1)][:20]
    seen = 0
    for consumer, source in sample:
        reached = await engine.traverse(
            tenant, NodeRef.asset(int(main.asset_ids[source])), "downstream", max_depth=1
        )
        seen += int(main.asset_ids[consumer]) in set(reached.ids("asset").tolist())
    m.rows[-1].extra["visible_in_traversal"] = f"{seen}/{len(sample)}"
    if seen != len(sample):
        m.notes.append(f"{len(sample) - seen} written edges were not visible in a traversal")
