"""The worker loop: checkpoints, leases, backoff, dead letters, wake-ups and metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from headwater.aio import stop_task
from headwater.catalog.db import Database
from headwater.sync import dead_letters, tailer
from headwater.sync.events import START, Position
from headwater.sync.metrics import SyncMetrics
from headwater.sync.worker import Outcome, SyncWorker, WorkerConfig, backoff_delay
from tests.conftest import TenantKeys, TestDatabase
from tests.sync.conftest import (
    eventually,
    outbox_positions,
    running,
    write_assets,
)
from tests.sync.sinks import ConcurrencyProbe, GatheringSink, HeldSink, MemorySink, TableSink

FAST = WorkerConfig(
    batch_size=50, poll_interval=0.05, backoff_initial=0.05, backoff_max=1.0, metrics_interval=0
)


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{i}" for i in range(count)]


async def checkpoint(db: Database, sink: str) -> Position:
    async with db.transaction() as conn:
        return await tailer.get_checkpoint(conn, sink)


def last_position(test_db: TestDatabase) -> Position:
    with psycopg.connect(test_db.admin_dsn) as conn:
        row = conn.execute(
            "SELECT txid::text, id FROM outbox ORDER BY txid DESC, id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return Position(int(row[0]), row[1])


async def test_checkpoint_survives_a_restart(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    await write_assets(database, tenant, names("before", 5))
    first = MemorySink("durable")
    worker = SyncWorker(worker_db, FAST, SyncMetrics(CollectorRegistry()))
    worker.add_sink(first)
    last = last_position(test_db)

    async def checkpointed() -> bool:
        return await checkpoint(worker_db, "durable") == last

    async with running(worker):
        await eventually(lambda: len(first.events) == 5)
        # The sink has the events before the batch's checkpoint commits: a stop in between
        # would (rightly) deliver them again, which is not what this test is about.
        await eventually(checkpointed)
    assert await checkpointed()

    await write_assets(database, tenant, names("after", 3))
    second = MemorySink("durable")
    restarted = SyncWorker(worker_db, FAST, SyncMetrics(CollectorRegistry()))
    restarted.add_sink(second)
    async with running(restarted):
        await eventually(lambda: len(second.events) == 3)
        await asyncio.sleep(0.1)  # a few more polls: nothing is delivered again

    assert [e.payload["name"] for e in second.events] == names("after", 3)
    assert first.event_ids + second.event_ids == outbox_positions(test_db)


async def test_two_workers_share_a_sink_without_double_applying_or_reordering(
    database: Database, test_db: TestDatabase, tenant: TenantKeys, sink_log: str
) -> None:
    probe = ConcurrencyProbe()
    config = WorkerConfig(batch_size=8, poll_interval=0.02, metrics_interval=60)
    pools = [Database(test_db.worker_dsn, max_size=3) for _ in range(2)]
    for pool in pools:
        await pool.open()
    workers = [SyncWorker(pool, config, SyncMetrics(CollectorRegistry())) for pool in pools]
    for label, worker in zip("AB", workers, strict=True):
        worker.add_sink(TableSink("table", label, probe))
    tasks = [asyncio.create_task(w.run()) for w in workers]

    def applied_rows() -> list[tuple[int, str]]:
        with psycopg.connect(test_db.admin_dsn) as conn:
            return conn.execute("SELECT event_id, worker FROM sink_log ORDER BY seq").fetchall()

    try:
        # Four writers at once, while both workers compete for the sink.
        await asyncio.gather(
            *(write_assets(database, tenant, names(f"w{n}", 40)) for n in range(4))
        )
        await eventually(lambda: len(applied_rows()) >= 100)
        # The worker that applied last dies mid-stream; the other takes over.
        victim = "AB".index(applied_rows()[-1][1])
        await stop_task(tasks[victim])
        await write_assets(database, tenant, names("after_death", 20))
        expected = outbox_positions(test_db)
        await eventually(lambda: len(applied_rows()) >= len(expected))
        await asyncio.sleep(0.1)
    finally:
        for task in tasks:
            await stop_task(task)
        for pool in pools:
            await pool.close()

    rows = applied_rows()
    assert [event_id for event_id, _ in rows] == expected  # once each, in outbox order
    assert probe.most == 1, "two workers were inside the same sink at once"
    survivor = "AB"[1 - victim]
    assert rows[-1][1] == survivor


async def test_a_failing_sink_backs_off_while_another_keeps_up(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    flaky = MemorySink("flaky", failing=True)
    steady = MemorySink("steady")
    metrics = SyncMetrics(CollectorRegistry())
    worker = SyncWorker(worker_db, FAST, metrics, listen_dsn=test_db.worker_dsn)
    worker.add_sink(flaky)
    worker.add_sink(steady)
    await write_assets(database, tenant, names("a", 10))
    async with running(worker):
        await eventually(lambda: len(steady.events) == 10 and len(flaky.attempts) >= 5)
        await write_assets(database, tenant, names("b", 5))
        await eventually(lambda: len(steady.events) == 15)
        assert flaky.events == []
        assert await checkpoint(worker_db, "flaky") == START

        # Each retry waits about twice as long as the one before (0.05, 0.1, 0.2, 0.4 s).
        gaps = [b - a for a, b in itertools.pairwise(flaky.attempts)][:4]
        assert gaps == sorted(gaps)
        assert gaps[3] > 3 * gaps[0]
        assert gaps[0] < 0.2

        flaky.failing = False
        await eventually(lambda: len(flaky.events) == 15)

    assert flaky.event_ids == steady.event_ids == outbox_positions(test_db)
    failures = metrics.failed.labels(sink="flaky")._value.get()
    assert failures >= 5
    assert metrics.failed.labels(sink="steady")._value.get() == 0


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    delays = [backoff_delay(n, 0.5, 8.0) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        assert 0.8 * min(8.0, 0.5 * 2 ** (n - 1)) <= delay <= min(8.0, 0.5 * 2 ** (n - 1))
    assert 0.8 * 8.0 <= backoff_delay(100_000, 0.5, 8.0) <= 8.0


@pytest.mark.parametrize("name_culprit", [True, False], ids=["named", "unnamed"])
async def test_a_permanently_rejected_event_is_dead_lettered_and_the_checkpoint_moves_on(
    database: Database,
    worker_db: Database,
    test_db: TestDatabase,
    tenant: TenantKeys,
    name_culprit: bool,
) -> None:
    picky = MemorySink("picky", reject_names={"poison"}, name_culprit=name_culprit)
    metrics = SyncMetrics(CollectorRegistry())
    worker = SyncWorker(worker_db, FAST, metrics)
    runner = worker.add_sink(picky)
    await worker.prepare()
    await write_assets(database, tenant, ["ok_1", "ok_2", "poison", "ok_3", "ok_4"])

    assert await runner.cycle() is Outcome.APPLIED
    assert await runner.cycle() is Outcome.IDLE

    everything = outbox_positions(test_db)
    poison_id = everything[2]
    assert picky.event_ids == [i for i in everything if i != poison_id]
    assert await checkpoint(worker_db, "picky") == last_position(test_db)
    async with worker_db.transaction() as conn:
        [letter] = await dead_letters.list_dead_letters(conn, sink="picky")
    assert (letter.event_id, letter.status, letter.attempts) == (poison_id, "DEAD", 1)
    assert letter.payload["name"] == "poison"
    assert "not allowed" in letter.error
    assert metrics.dead_lettered.labels(sink="picky")._value.get() == 1
    assert metrics.applied.labels(sink="picky")._value.get() == 4

    # Retrying while the sink still refuses keeps it dead, one attempt more.
    async with worker_db.transaction() as conn:
        assert await dead_letters.request_retry(conn, sink="picky") == [letter.id]
    assert await runner.cycle() is Outcome.IDLE
    async with worker_db.transaction() as conn:
        [letter] = await dead_letters.list_dead_letters(conn, sink="picky")
    assert (letter.status, letter.attempts) == ("DEAD", 2)

    # Once the sink accepts it, a retry delivers it and resolves the dead letter.
    picky.reject_names.clear()
    async with worker_db.transaction() as conn:
        await dead_letters.request_retry(conn, ids=[letter.id])
    await runner.cycle()
    assert picky.event_ids[-1] == poison_id
    async with worker_db.transaction() as conn:
        [letter] = await dead_letters.list_dead_letters(conn, sink="picky")
        assert await dead_letters.discard(conn, [letter.id]) == []  # already resolved
    assert letter.status == "RESOLVED"
    assert letter.resolved_at is not None


async def test_dead_letters_can_be_discarded(
    database: Database, worker_db: Database, tenant: TenantKeys
) -> None:
    picky = MemorySink("picky", reject_names={"poison"})
    worker = SyncWorker(worker_db, FAST, SyncMetrics(CollectorRegistry()))
    runner = worker.add_sink(picky)
    await worker.prepare()
    await write_assets(database, tenant, ["poison"])
    await runner.cycle()
    async with worker_db.transaction() as conn:
        [letter] = await dead_letters.list_dead_letters(conn, status="DEAD")
        assert await dead_letters.discard(conn, [letter.id]) == [letter.id]
        assert await dead_letters.request_retry(conn, sink="picky") == []
        [letter] = await dead_letters.list_dead_letters(conn)
    assert letter.status == "DISCARDED"


async def test_notify_wakes_the_worker_well_before_the_poll_interval(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    sink = MemorySink("prompt")
    config = WorkerConfig(poll_interval=30, metrics_interval=60)
    worker = SyncWorker(worker_db, config, SyncMetrics(CollectorRegistry()),
                        listen_dsn=test_db.worker_dsn)  # fmt: skip
    worker.add_sink(sink)
    async with running(worker):
        await parked(test_db)
        await write_assets(database, tenant, ["wake_up"])
        took = await eventually(lambda: len(sink.events) == 1, timeout=5)
    assert took < 1.0


async def parked(test_db: TestDatabase) -> None:
    """Wait until a worker listens, and then for its runners to park on their poll."""

    def listening() -> bool:
        with psycopg.connect(test_db.admin_dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            ).fetchone()
        return row == (1,)

    await eventually(listening)
    await asyncio.sleep(0.1)


async def test_a_gathering_sink_takes_events_written_one_after_another_in_one_batch(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    sink = GatheringSink("gathering", gather_seconds=2.0)
    config = WorkerConfig(poll_interval=30, metrics_interval=60)
    worker = SyncWorker(worker_db, config, SyncMetrics(CollectorRegistry()),
                        listen_dsn=test_db.worker_dsn)  # fmt: skip
    worker.add_sink(sink)
    async with running(worker):
        await parked(test_db)
        # Three transactions, three notifications: the first wakes the runner, which then waits
        # for the others before it reads.
        for name in names("gathered", 3):
            await write_assets(database, tenant, [name])
        await eventually(lambda: len(sink.events) == 3, timeout=10)
    assert len(sink.attempts) == 1


async def test_metrics_expose_per_sink_figures(
    database: Database, worker_db: Database, tenant: TenantKeys
) -> None:
    registry = CollectorRegistry()
    stuck = MemorySink("stuck", failing=True)
    keeping_up = MemorySink("keeping_up")
    worker = SyncWorker(worker_db, FAST, SyncMetrics(registry))
    worker.add_sink(stuck)
    worker.add_sink(keeping_up)
    await write_assets(database, tenant, names("m", 6))
    await asyncio.sleep(0.2)  # the oldest unapplied event is now at least this old

    def sample(name: str, sink: str) -> float:
        value = registry.get_sample_value(name, {"sink": sink})
        assert value is not None, f"{name}{{sink={sink!r}}} is not exposed"
        return value

    async with running(worker):
        await eventually(
            lambda: (
                len(keeping_up.events) == 6
                and sample("headwater_sync_batch_failures_total", "stuck") >= 2
                and sample("headwater_sync_events_behind", "keeping_up") == 0
            )
        )
        assert sample("headwater_sync_events_behind", "stuck") == 6
        assert sample("headwater_sync_seconds_behind", "stuck") >= 0.2
        assert sample("headwater_sync_seconds_behind", "keeping_up") == 0
        assert sample("headwater_sync_events_applied_total", "keeping_up") == 6
        assert sample("headwater_sync_events_applied_total", "stuck") == 0
        assert sample("headwater_sync_batch_seconds_count", "keeping_up") >= 1
        assert sample("headwater_sync_events_dead_lettered_total", "stuck") == 0

    text = generate_latest(registry).decode()
    assert 'headwater_sync_events_behind{sink="stuck"} 6.0' in text
    assert 'headwater_sync_batch_failures_total{sink="keeping_up"} 0.0' in text


async def test_the_lag_gauge_reads_zero_once_a_sink_has_caught_up(
    database: Database, worker_db: Database, tenant: TenantKeys
) -> None:
    registry = CollectorRegistry()
    sink = MemorySink("recovering", failing=True)
    # Lag is measured at most once a minute here: only catching up can clear the gauge in time.
    worker = SyncWorker(
        worker_db, dataclasses.replace(FAST, metrics_interval=60), SyncMetrics(registry)
    )
    worker.add_sink(sink)
    await write_assets(database, tenant, names("lag", 4))

    def sample(name: str) -> float | None:
        return registry.get_sample_value(name, {"sink": "recovering"})

    async with running(worker):
        await eventually(lambda: sample("headwater_sync_events_behind") == 4)
        sink.failing = False
        await eventually(lambda: len(sink.events) == 4)
        await eventually(lambda: sample("headwater_sync_events_behind") == 0)
        assert sample("headwater_sync_seconds_behind") == 0


async def test_the_lag_gauge_moves_while_a_long_batch_runs(
    database: Database, worker_db: Database, tenant: TenantKeys
) -> None:
    """Events committed while a batch is still being applied show as behind before it ends,
    and so do the batch's own; measured only between cycles, the gauge stayed where it was."""
    registry = CollectorRegistry()
    sink = HeldSink("long")
    worker = SyncWorker(
        worker_db, dataclasses.replace(FAST, metrics_interval=0.05), SyncMetrics(registry)
    )
    worker.add_sink(sink)

    def behind() -> float | None:
        return registry.get_sample_value("headwater_sync_events_behind", {"sink": "long"})

    await write_assets(database, tenant, names("first", 3))  # the first batch takes all three
    async with running(worker):
        await eventually(lambda: sink.holding == 3)
        await eventually(lambda: behind() == 3)
        await write_assets(database, tenant, names("meanwhile", 4))
        await eventually(lambda: behind() == 7)
        assert sink.holding == 3  # the first batch is still running
        sink.release.set()
        await eventually(lambda: len(sink.events) == 7)
        await eventually(lambda: behind() == 0)


async def test_stopping_the_worker_during_a_long_batch_leaves_the_batch_unapplied(
    database: Database, worker_db: Database, tenant: TenantKeys
) -> None:
    """The batch runs in a task of its own (its lag measured meanwhile): stopping the worker
    cancels it too, promptly, and its transaction rolls back with the checkpoint."""
    sink = HeldSink("stopped")
    worker = SyncWorker(worker_db, FAST, SyncMetrics(CollectorRegistry()))
    worker.add_sink(sink)
    await write_assets(database, tenant, names("stop", 2))
    async with asyncio.timeout(10):
        async with running(worker):
            await eventually(lambda: sink.holding == 2)
    assert sink.events == []
    assert await checkpoint(worker_db, "stopped") == START


async def test_a_local_sink_starts_where_its_snapshot_load_ended(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    await write_assets(database, tenant, names("loaded", 3))
    async with tailer.consistent_snapshot(worker_db) as (conn, position):
        cur = await conn.execute("SELECT count(*) AS n FROM assets")
        assert await cur.fetchone() == {"n": 3}
    await write_assets(database, tenant, names("streamed", 2))

    local = MemorySink("memory")
    worker = SyncWorker(worker_db, FAST, SyncMetrics(CollectorRegistry()))
    runner = worker.add_local_sink(local, position)
    await worker.prepare()
    assert await runner.cycle() is Outcome.APPLIED
    assert await runner.cycle() is Outcome.IDLE

    assert [e.payload["name"] for e in local.events] == names("streamed", 2)
    with psycopg.connect(test_db.admin_dsn) as pg:
        row = pg.execute("SELECT count(*) FROM sync_checkpoints WHERE sink = 'memory'").fetchone()
    assert row == (0,), "a process-local sink keeps its position in memory only"
