"""The sync worker: one loop per sink tails the outbox and applies batches.

Each sink has its own task, checkpoint, backoff and metrics, so a failing sink retries while the
others keep up. Two kinds of sink:

* shared (``add_sink``): the mirror lives outside this process (Neo4j, Elasticsearch, Milvus, a
  Postgres table). Its checkpoint is a row in ``sync_checkpoints``, and every batch runs under the
  sink's lease, a transaction-scoped advisory lock: exactly one worker applies a given sink at a
  time, reads the checkpoint only after taking the lease, and advances it in the same
  transaction. Other workers find the lease taken and poll; the lock dies with its holder's
  transaction, so a crashed worker's sink is picked up at the next wake-up.
* local (``add_local_sink``): the mirror lives in this process (the memory graph), so every
  process keeps its own copy. It starts from the position its load covered and keeps that
  position in memory; no lease.

A batch runs in one transaction: take the lease, read the checkpoint and the next events, apply
them (inside a savepoint), record dead letters, advance the checkpoint, commit. A sink whose
state lives outside Postgres is therefore applied before its checkpoint moves: delivery is at
least once, and such sinks must be idempotent and version-guarded.

Wake-ups come from LISTEN on ``headwater_outbox`` (the outbox trigger NOTIFYs on every insert),
with a polling fallback.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from headwater.aio import raise_if_cancelled, stop_task
from headwater.catalog.db import Conn, Database, check_role
from headwater.sync import dead_letters, tailer
from headwater.sync.events import (
    Batch,
    Bootstrapping,
    Gathering,
    OutboxEvent,
    PermanentSinkError,
    Position,
    Sink,
)
from headwater.sync.metrics import SyncMetrics, default_metrics

log = logging.getLogger(__name__)

CHANNEL = "headwater_outbox"
# While a batch runs, its lag is measured every metrics_interval, but at most ten times a second
# (tests set the interval to 0: measure after every cycle).
_LAG_DURING_BATCH_FLOOR = 0.1
_LISTEN = sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL))


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = 500
    # Fallback when no notification arrives (NOTIFY lost, LISTEN impossible behind a pooler).
    poll_interval: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    # Lag gauges are refreshed at most this often per sink (each refresh is one indexed query).
    metrics_interval: float = 2.0
    # While an old open transaction holds committed events back, re-check this soon, doubling
    # up to poll_interval.
    barrier_poll: float = 0.05

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.poll_interval <= 0 or self.backoff_initial <= 0 or self.barrier_poll <= 0:
            raise ValueError("intervals must be positive")


class Outcome(enum.Enum):
    APPLIED_FULL = "applied a full batch"
    APPLIED = "applied a partial batch"
    IDLE = "nothing to apply"
    WAITING = "events wait behind an open transaction"
    BUSY = "another worker holds the lease"


class _SharedCheckpoint:
    def __init__(self, sink: str) -> None:
        self.sink = sink

    async def claim(self, conn: Conn) -> Position | None:
        if not await tailer.try_lease(conn, self.sink):
            return None
        # Read after the lease is held: the previous holder's last commit is visible by now.
        return await tailer.get_checkpoint(conn, self.sink)

    async def advance(self, conn: Conn, position: Position) -> None:
        await tailer.advance_checkpoint(conn, self.sink, position)

    def committed(self, position: Position) -> None:
        pass

    async def current(self, conn: Conn) -> Position:
        return await tailer.get_checkpoint(conn, self.sink)


class _LocalCheckpoint:
    def __init__(self, start: Position) -> None:
        self.position = start

    async def claim(self, conn: Conn) -> Position | None:
        return self.position

    async def advance(self, conn: Conn, position: Position) -> None:
        pass

    def committed(self, position: Position) -> None:
        # Only once the batch's transaction (dead letters included) has committed.
        self.position = position

    async def current(self, conn: Conn) -> Position:
        return self.position


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Exponential backoff with a little jitter, so workers do not retry in lockstep."""
    # The exponent is bounded: a sink down for days must not overflow the float.
    base: float = min(maximum, initial * 2 ** min(failures - 1, 62))
    return base * random.uniform(0.8, 1.0)


class SinkRunner:
    """Tails the outbox for one sink."""

    def __init__(
        self,
        sink: Sink,
        database: Database,
        config: WorkerConfig,
        metrics: SyncMetrics,
        *,
        start: Position | None = None,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.shared = start is None
        self._checkpoint: _SharedCheckpoint | _LocalCheckpoint = (
            _SharedCheckpoint(self.name) if start is None else _LocalCheckpoint(start)
        )
        self._database = database
        self._config = config
        self._metrics = metrics
        self._lag_measured_at = float("-inf")
        self.wake = asyncio.Event()
        self.failures = 0
        self._gather = sink.gather_seconds if isinstance(sink, Gathering) else 0.0
        metrics.register_sink(self.name)

    async def run(self) -> None:
        """Apply batches until cancelled."""
        barrier_delay = self._config.barrier_poll
        while True:
            raise_if_cancelled()
            self.wake.clear()
            try:
                outcome = await self._cycle_measuring_lag()
            except Exception as e:  # any failure is retried: only PermanentSinkError dead-letters
                self.failures += 1
                delay = backoff_delay(
                    self.failures, self._config.backoff_initial, self._config.backoff_max
                )
                self._metrics.failed.labels(sink=self.name).inc()
                log.warning(
                    "sync batch failed, retrying",
                    extra={
                        "sink": self.name,
                        "attempt": self.failures,
                        "retry_in": round(delay, 3),
                        "error": f"{type(e).__name__}: {e}",
                    },
                )
                await self._refresh_lag_quietly()
                await asyncio.sleep(delay)
                continue
            if self.failures:
                log.info("sync sink recovered", extra={"sink": self.name})
                self.failures = 0
            if outcome is Outcome.IDLE:
                # Caught up: nothing is behind, no query needed. A gauge measured before the last
                # batches would otherwise show their lag until a later cycle measures again.
                self._set_lag(tailer.Lag(0, 0.0))
            else:
                await self._refresh_lag_quietly()
            if outcome is Outcome.APPLIED_FULL:
                continue
            if outcome is Outcome.WAITING:
                await self._wait(barrier_delay)
                barrier_delay = min(barrier_delay * 2, self._config.poll_interval)
                continue
            barrier_delay = self._config.barrier_poll
            await self._wait(self._config.poll_interval)
            if self._gather:
                await asyncio.sleep(self._gather)

    async def _cycle_measuring_lag(self) -> Outcome:
        """``cycle()``, with the lag measured meanwhile as often as between cycles: a long batch
        (a search mirror catching up embeds for seconds) would otherwise leave the gauges as
        old as the batch, and a lag alert as late. The batch's own events count as behind until
        it commits."""
        every = max(self._config.metrics_interval, _LAG_DURING_BATCH_FLOOR)
        cycle = asyncio.ensure_future(self.cycle())
        try:
            while not cycle.done():
                await asyncio.wait({cycle}, timeout=every)
                if not cycle.done():
                    await self._refresh_lag_quietly()
            return cycle.result()
        finally:
            if not cycle.done():  # cancelled meanwhile: the batch's transaction rolls back
                await stop_task(cycle)

    async def _wait(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # arrives just as the wake-up does, and the runner then never stops.
        try:
            async with asyncio.timeout(timeout):
                await self.wake.wait()
        except TimeoutError:
            pass

    async def cycle(self) -> Outcome:
        """One batch in one transaction. Raises whatever a transient failure raised."""
        started = time.perf_counter()
        async with self._database.transaction() as conn:
            position = await self._checkpoint.claim(conn)
            if position is None:
                return Outcome.BUSY
            events = await tailer.read_batch(conn, position, self._config.batch_size)
            if events:
                rejected = await self._apply(conn, events)
                for event, error in rejected:
                    await dead_letters.record(conn, self.name, event, str(error))
                position = events[-1].position
                await self._checkpoint.advance(conn, position)
            else:
                retried = await self._retry_dead_letters(conn) if self.shared else 0
                waiting = await tailer.waiting_behind_barrier(conn, position)
        # Committed: only now do the in-memory position and the counters move.
        if not events:
            self._metrics.applied.labels(sink=self.name).inc(retried)
            return Outcome.WAITING if waiting else Outcome.IDLE
        self._checkpoint.committed(position)
        self._metrics.applied.labels(sink=self.name).inc(len(events) - len(rejected))
        self._metrics.batch_seconds.labels(sink=self.name).observe(time.perf_counter() - started)
        for event, error in rejected:
            self._metrics.dead_lettered.labels(sink=self.name).inc()
            log.error(
                "sink rejected an event permanently; dead-lettered",
                extra={
                    "sink": self.name,
                    "event_id": event.id,
                    "event_type": event.event_type,
                    "error": str(error),
                },
            )
        if len(events) == self._config.batch_size:
            return Outcome.APPLIED_FULL
        return Outcome.APPLIED

    async def _apply_once(self, conn: Conn, events: Sequence[OutboxEvent]) -> None:
        # A savepoint: a rejected attempt's Postgres writes are undone before the next attempt.
        async with conn.transaction():
            await self.sink.apply(Batch(tuple(events), conn))

    async def _apply(
        self, conn: Conn, events: Sequence[OutboxEvent]
    ) -> list[tuple[OutboxEvent, PermanentSinkError]]:
        """Apply ``events``, setting aside the ones the sink rejects permanently."""
        rejected: list[tuple[OutboxEvent, PermanentSinkError]] = []
        pending = list(events)
        while pending:
            try:
                await self._apply_once(conn, pending)
                return rejected
            except PermanentSinkError as e:
                culprit = _culprit(e, pending)
                if culprit is None:
                    # The sink did not say which event: find out one event at a time.
                    for event in pending:
                        try:
                            await self._apply_once(conn, [event])
                        except PermanentSinkError as single:
                            rejected.append((event, single))
                    return rejected
                rejected.append((culprit, e))
                pending.remove(culprit)
        return rejected

    async def _retry_dead_letters(self, conn: Conn) -> int:
        """Apply the sink's dead letters that a person asked to retry; returns how many took."""
        resolved = 0
        for letter in await dead_letters.to_retry(conn, self.name, self._config.batch_size):
            try:
                await self._apply_once(conn, [letter.event()])
            except PermanentSinkError as e:
                await dead_letters.mark_failed_again(conn, letter.id, str(e))
                continue
            await dead_letters.mark_resolved(conn, letter.id)
            resolved += 1
        return resolved

    async def applied_position(self) -> Position:
        """Every event up to this position has been applied and its batch committed."""
        async with self._database.transaction() as conn:
            return await self._checkpoint.current(conn)

    async def refresh_lag(self) -> None:
        async with self._database.transaction() as conn:
            position = await self._checkpoint.current(conn)
            lag = await tailer.measure_lag(conn, position)
        self._set_lag(lag)

    def _set_lag(self, lag: tailer.Lag) -> None:
        self._lag_measured_at = time.monotonic()
        self._metrics.events_behind.labels(sink=self.name).set(lag.events_behind)
        self._metrics.seconds_behind.labels(sink=self.name).set(lag.seconds_behind)

    async def _refresh_lag_quietly(self) -> None:
        now = time.monotonic()
        if now - self._lag_measured_at < self._config.metrics_interval:
            return
        self._lag_measured_at = now  # a failed measurement waits its turn too
        try:
            await self.refresh_lag()
        except (psycopg.Error, OSError) as e:
            log.warning("could not measure sync lag", extra={"sink": self.name, "error": str(e)})


def _culprit(error: PermanentSinkError, pending: list[OutboxEvent]) -> OutboxEvent | None:
    if error.event is not None:
        for event in pending:
            if event.id == error.event.id:
                return event
    return pending[0] if len(pending) == 1 else None


class SyncWorker:
    """Runs one SinkRunner per sink plus the LISTEN connection that wakes them."""

    def __init__(
        self,
        database: Database,
        config: WorkerConfig | None = None,
        metrics: SyncMetrics | None = None,
        *,
        listen_dsn: str | None = None,
    ) -> None:
        """``listen_dsn``: where to LISTEN for wake-ups; None polls only (e.g. behind a pooler
        in transaction mode, where LISTEN does not work)."""
        self._database = database
        self._listen_dsn = listen_dsn
        self._config = config or WorkerConfig()
        self._metrics = metrics or default_metrics()
        self.runners: dict[str, SinkRunner] = {}
        self.id = f"{socket.gethostname()}:{os.getpid()}"

    def add_sink(self, sink: Sink) -> SinkRunner:
        """A sink whose state outlives this process: checkpoint in Postgres, applied under lease."""
        return self._add(SinkRunner(sink, self._database, self._config, self._metrics))

    def add_local_sink(self, sink: Sink, start: Position) -> SinkRunner:
        """A sink held in this process, loaded up to ``start`` (see tailer.consistent_snapshot)."""
        return self._add(SinkRunner(sink, self._database, self._config, self._metrics, start=start))

    def _add(self, runner: SinkRunner) -> SinkRunner:
        if runner.name in self.runners:
            raise ValueError(f"sink {runner.name!r} is added twice")
        self.runners[runner.name] = runner
        return runner

    def wake(self) -> None:
        for runner in self.runners.values():
            runner.wake.set()

    async def prepare(self) -> None:
        """Create the shared sinks' checkpoint rows (a new sink starts at the outbox's start),
        after letting a sink that loads itself from a snapshot do so (``Bootstrapping``)."""
        for runner in self.runners.values():
            if runner.shared and isinstance(runner.sink, Bootstrapping):
                await runner.sink.bootstrap(self._database)
        async with self._database.transaction() as conn:
            for runner in self.runners.values():
                if runner.shared:
                    await tailer.ensure_checkpoint(conn, runner.name)

    async def run(self) -> None:
        """Run every sink until cancelled. The database pool is opened and closed by the caller."""
        if not self.runners:
            raise ValueError("the sync worker has no sinks to run")
        await self.prepare()
        log.info("sync worker started", extra={"worker": self.id, "sinks": list(self.runners)})
        async with asyncio.TaskGroup() as group:
            if self._listen_dsn is not None:
                group.create_task(self._listen(self._listen_dsn), name="sync-listen")
            for runner in self.runners.values():
                group.create_task(runner.run(), name=f"sync-{runner.name}")

    async def _listen(self, dsn: str) -> None:
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with conn:
                    await conn.execute(_LISTEN)
                    failures = 0
                    # Anything committed while not listening is picked up now.
                    self.wake()
                    async for _ in conn.notifies():
                        self.wake()
            except (psycopg.OperationalError, OSError) as e:
                failures += 1
                delay = backoff_delay(
                    failures, self._config.backoff_initial, self._config.backoff_max
                )
                log.warning(
                    "outbox LISTEN connection lost, polling until it is back",
                    extra={"error": str(e), "retry_in": round(delay, 3)},
                )
                await asyncio.sleep(delay)


async def check_worker_role(database: Database) -> None:
    """Refuse a connection that could do more than the worker role, or an outdated schema."""
    await check_role(database, "headwater_worker", "HEADWATER_WORKER_DATABASE_URL")


async def run_worker(
    dsn: str, sinks: Sequence[Sink], config: WorkerConfig, *, metrics: SyncMetrics | None = None
) -> None:
    """The ``headwater worker`` process: connect as the worker role, run ``sinks`` until stopped."""
    # Each sink: its batch's connection and one to measure its lag while the batch runs.
    database = Database(dsn, min_size=1, max_size=2 * len(sinks) + 1)
    await database.open()
    try:
        await check_worker_role(database)
        worker = SyncWorker(database, config, metrics, listen_dsn=dsn)
        for sink in sinks:
            worker.add_sink(sink)
        await worker.run()
    finally:
        await database.close()
