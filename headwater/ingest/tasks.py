"""Bulk ingestion as background tasks: uploads, the task types, and the runner that runs them.

Uploads (``POST /api/v1/ingest/tasks``). ``prepare_upload`` checks a file outside any
transaction (a gzip body may inflate to ``max_input_bytes``, HEADWATER_MAX_TASK_INPUT_BYTES), then
``enqueue_upload`` queues its task: the file goes to ``background_task_inputs`` as it was sent (a
gzip body stays compressed), the task's payload says what it is (type, size, SHA-256, file name,
options). Nothing is parsed at upload: the task reports what is wrong with a file.

Task types
    ``openlineage.ndjson``: OpenLineage events, one per line (NDJSON), or a JSON array of events,
    or one event. Every event is read and mapped before anything is written: an event that
    cannot be read or mapped fails the task at once (no retry: the same file fails the same way)
    naming its line (NDJSON) or index (array) and the path of the problem, and nothing is
    written. The events are then applied in order, as ``POST /api/v1/lineage/batch`` would.
    Up to ``events_per_transaction`` events (HEADWATER_TASK_EVENTS_PER_TRANSACTION, by default
    the batch endpoint's 10,000) are written in one transaction: all or nothing. A larger file
    is committed in chunks of that many events, because one transaction open for many minutes
    would hold back every mirror of every tenant (the outbox tailer cannot pass an open
    transaction) and hold its row locks as long. OpenLineage events are facts applied one after
    another, so the events of the chunks committed so far are a consistent state. Each chunk's
    transaction records the task's checkpoint (the events done and the summary so far), so a
    retry after a transient failure resumes after the last committed chunk; a large task that
    is cancelled, or fails for good, keeps the chunks it committed.
    ``dbt.manifest``: a dbt ``manifest.json``, or ``{"manifest": {...}, "catalog": {...}}`` to
    bring ``catalog.json`` along (the CLI sends that); ``namespace`` in the payload. A manifest is
    one snapshot of a project, so it is always applied in one transaction.

The result of a task is its ``IngestSummary`` (assets, fields, relationships, field lineage and
tags created / updated / unchanged, warnings) plus ``transactions``, the commits it took.

Runner. ``TaskRunner`` serves every tenant. It finds due tasks through the worker role (which
reads only the queue's bookkeeping columns), then claims one with ``catalog.tasks.claim_task`` in
a transaction of the application role bound to the task's tenant (``FOR UPDATE SKIP LOCKED``, so
concurrent runners never take the same task), and does all of the task's work in transactions
bound to that tenant: row-level security confines every write of a task to its tenant whatever
the input says. While a task runs:

- progress (0-100) goes to the task row in separate short transactions, at most every
  ``progress_interval`` and at least every ``heartbeat_interval`` (a heartbeat), so
  ``GET /api/v1/tasks/{id}`` sees it while the work's own transaction is still open;
- a report that finds the task no longer RUNNING (cancelled) or no longer this runner's stops
  the work at its next progress point; the open transaction rolls back;
- the last transaction of a task marks it SUCCEEDED with its result before committing, so the
  writes and the outcome commit together (a cancel that comes in between waits, then gets 409);
- a failure is retried with exponential backoff (``retry_base`` doubling, up to the task's
  ``max_retries``) when it may be transient (database and connection errors, write conflicts,
  anything unexpected); bad input fails the task at once; the error is kept on the task;
- a task whose runner stopped reporting for ``stale_after`` (a crash) is failed as an attempt
  by any runner, and so retried; a runner that shuts down puts its task back in the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import socket
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from headwater.aio import raise_if_cancelled, stop_task
from headwater.catalog import task_queue, tasks
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn, Database
from headwater.catalog.errors import (
    BadRequest,
    Conflict,
    HeadwaterError,
    PayloadTooLarge,
    Unprocessable,
)
from headwater.catalog.tasks import Task, TaskStatus
from headwater.ingest import dbt, openlineage
from headwater.ingest.apply import apply_units
from headwater.ingest.batch import IngestSummary, IngestUnit, Loc
from headwater.ingest.payload import loads
from headwater.settings import Settings

__all__ = [
    "DBT_MANIFEST",
    "HANDLERS",
    "OPENLINEAGE_NDJSON",
    "RunnerConfig",
    "TaskContext",
    "TaskHandler",
    "TaskRunner",
    "TaskStopped",
    "Upload",
    "enqueue_upload",
    "inflate",
    "prepare_upload",
]

log = logging.getLogger(__name__)

OPENLINEAGE_NDJSON = "openlineage.ndjson"
DBT_MANIFEST = "dbt.manifest"
CHANNEL = "headwater_tasks"
_LISTEN = sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL))

# Inflate and map in pieces of this size, so progress moves and memory stays flat.
_INFLATE_PIECE = 1 << 20
_MAP_CHUNK = 500
# A dbt unit is applied in parts of this many assets / edges, with progress between them.
_DBT_PART = 200
_MAX_ERRORS = 50
_MAX_ERROR_TEXT = 4000


@dataclass(frozen=True)
class RunnerConfig:
    concurrency: int = 1
    poll_interval: float = 2.0
    progress_interval: float = 0.5
    heartbeat_interval: float = 10.0
    stale_after: float = 300.0
    retry_base: float = 10.0
    max_input_bytes: int = 256 * 1024 * 1024
    events_per_transaction: int = 10_000

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.events_per_transaction < 1 or self.max_input_bytes < 1:
            raise ValueError("concurrency, events_per_transaction and max_input_bytes must be >= 1")
        if self.stale_after <= 2 * self.heartbeat_interval:
            raise ValueError(
                "stale_after must exceed two heartbeat intervals, or live tasks look stalled"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerConfig:
        return cls(
            concurrency=settings.task_concurrency,
            poll_interval=settings.task_poll_interval,
            progress_interval=settings.task_progress_interval,
            heartbeat_interval=settings.task_heartbeat_interval,
            stale_after=settings.task_stale_after,
            retry_base=settings.task_retry_base,
            max_input_bytes=settings.max_task_input_bytes,
            events_per_transaction=settings.task_events_per_transaction,
        )


# Uploads ----------------------------------------------------------------------------------------


def inflate(content: bytes, limit: int) -> Iterator[bytes]:
    """The pieces of a gzip stream (several members allowed), never more than ``limit`` bytes in
    all: 413 past it, 400 for data that is not gzip or is cut short."""
    remaining, total = content, 0
    while remaining:
        inflater = zlib.decompressobj(wbits=31)
        data = remaining
        try:
            while not inflater.eof:
                if data:
                    out = inflater.decompress(data, _INFLATE_PIECE)
                    data = inflater.unconsumed_tail
                else:
                    out = inflater.flush()
                    if not out and not inflater.eof:
                        raise BadRequest("the gzip data is truncated")
                total += len(out)
                if total > limit:
                    raise PayloadTooLarge(
                        f"the file inflates to more than the limit of {limit} bytes: split it "
                        "into several tasks",
                        limit_bytes=limit,
                    )
                if out:
                    yield out
        except zlib.error as e:
            raise BadRequest(f"the body is not valid gzip data: {e}") from None
        remaining = inflater.unused_data


def _measure_gzip(content: bytes, limit: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for piece in inflate(content, limit):
        size += len(piece)
        digest.update(piece)
    return size, digest.hexdigest()


@dataclass(frozen=True)
class Upload:
    """An uploaded file checked for its task (type, options, encoding, size), not yet queued."""

    task_type: str
    content: bytes
    encoding: task_queue.ContentEncoding
    size: int
    sha256: str
    content_type: str
    namespace: str | None = None


async def prepare_upload(
    task_type: str,
    body: bytes,
    *,
    content_encoding: str | None,
    content_type: str,
    max_input_bytes: int,
    namespace: str | None = None,
) -> Upload:
    """Check an upload without the database (a gzip body is inflated once, in a thread, to
    measure and hash it): 422 for a wrong type or option, 400 for an unreadable or empty body,
    413 past ``max_input_bytes``. Nothing is parsed: the task reports what is wrong inside."""
    if task_type not in HANDLERS:
        raise Unprocessable(
            f"task type {task_type!r} cannot be uploaded: use one of {sorted(HANDLERS)}",
            errors=[{"loc": ["query", "type"], "msg": "unknown task type"}],
        )
    if namespace is not None and task_type != DBT_MANIFEST:
        raise Unprocessable(
            "namespace applies to dbt manifests only: OpenLineage events name their own",
            errors=[{"loc": ["query", "namespace"], "msg": "only for dbt.manifest"}],
        )
    encoding = (content_encoding or "identity").strip().lower()
    stored: task_queue.ContentEncoding
    if encoding in ("gzip", "x-gzip"):
        size, digest = await asyncio.to_thread(_measure_gzip, body, max_input_bytes)
        stored = "gzip"
    elif encoding == "identity":
        if len(body) > max_input_bytes:
            raise PayloadTooLarge(
                f"the file is over the limit of {max_input_bytes} bytes",
                limit_bytes=max_input_bytes,
            )
        size, digest, stored = len(body), hashlib.sha256(body).hexdigest(), "identity"
    else:
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported: send gzip or none")
    if size == 0:
        raise BadRequest("the file is empty")
    return Upload(task_type, body, stored, size, digest, content_type[:200], namespace)


async def enqueue_upload(
    conn: Conn,
    actor: Actor,
    upload: Upload,
    *,
    filename: str | None = None,
    max_retries: int = 3,
    priority: int = 0,
) -> Task:
    """Queue a task for a prepared upload, in the caller's transaction (bound to its tenant)."""
    described: dict[str, Any] = {
        "bytes": upload.size,
        "sha256": upload.sha256,
        "content_type": upload.content_type,
        "encoding": upload.encoding,
    }
    if filename:
        described["filename"] = filename
    payload: dict[str, Any] = {"input": described}
    if upload.namespace is not None:
        payload["namespace"] = upload.namespace
    task = await tasks.enqueue_task(
        conn, actor, upload.task_type, payload, priority=priority, max_retries=max_retries
    )
    await task_queue.store_task_input(
        conn,
        task.id,
        upload.content,
        content_encoding=upload.encoding,
        content_type=upload.content_type,
        decoded_bytes=upload.size,
        sha256=upload.sha256,
    )
    return task


# What a handler sees ----------------------------------------------------------------------------


class TaskStopped(Exception):
    """The task was cancelled, or another runner holds it now: write nothing more."""


@dataclass
class TaskContext:
    """One run of one task: its tenant-bound transactions, its input, its progress."""

    task: Task
    tenant_id: UUID
    worker_id: str
    database: Database
    config: RunnerConfig
    # Writes are attributed to the user who queued the task.
    actor: Actor
    fraction: float = 0.0
    reported: int = 0
    stop_requested: bool = False
    completed: Task | None = None
    # Called with the percentage at every progress point (e.g. metrics); may stop the task.
    listeners: list[Callable[[int], Awaitable[None]]] = field(default_factory=list)

    @property
    def percent(self) -> int:
        # 100 is for a finished task only.
        return min(99, int(self.fraction * 100))

    async def progress(self, fraction: float) -> None:
        """A progress point: records how far the task got (0..1, never backwards; written by the
        runner's reporter) and stops the task (TaskStopped) if a report found it cancelled."""
        if self.stop_requested:
            raise TaskStopped(f"task {self.task.id} was cancelled or taken over")
        self.fraction = min(max(fraction, self.fraction), 1.0)
        for listener in self.listeners:
            await listener(self.percent)
        if self.stop_requested:
            raise TaskStopped(f"task {self.task.id} was cancelled or taken over")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        async with self.database.transaction(self.tenant_id) as conn:
            yield conn

    async def read_input(self) -> tuple[bytes, task_queue.TaskInput]:
        """The uploaded file, inflated (within ``max_input_bytes``), and its stored row."""
        async with self.transaction() as conn:
            stored = await task_queue.get_task_input(conn, self.task.id)
        if stored.content_encoding == "gzip":
            data = await asyncio.to_thread(
                lambda: b"".join(inflate(stored.content, self.config.max_input_bytes))
            )
        else:
            data = stored.content
        return data, stored

    async def hold(self, conn: Conn) -> None:
        """Before an intermediate commit: lock the task row in ``conn`` and make sure the task is
        still running and this runner's (TaskStopped otherwise, and ``conn`` rolls back)."""
        if self.stop_requested or not await tasks.report_progress(
            conn, self.task.id, self.percent, worker_id=self.worker_id
        ):
            self.stop_requested = True
            raise TaskStopped(f"task {self.task.id} was cancelled or taken over")

    async def complete(self, conn: Conn, result: Any) -> Task:
        """Mark the task SUCCEEDED in ``conn``, the transaction of its last writes, so both
        commit together; TaskStopped (rolling them back) if it was cancelled meanwhile."""
        if self.stop_requested:
            raise TaskStopped(f"task {self.task.id} was cancelled or taken over")
        done = await tasks.complete_task(conn, self.task.id, result, worker_id=self.worker_id)
        if done.status != TaskStatus.SUCCEEDED:
            self.stop_requested = True
            raise TaskStopped(f"task {self.task.id} is {done.status.value}")
        self.completed = done
        return done

    @property
    def label(self) -> str:
        described = self.task.payload.get("input")
        name = described.get("filename") if isinstance(described, dict) else None
        return name if isinstance(name, str) and name else f"task {self.task.id} input"


TaskHandler = Callable[[TaskContext], Awaitable[Any]]
"""Runs a task: either completes it itself (``ctx.complete`` in its last transaction) or returns
a result the runner records. Raises to fail the attempt."""


async def _apply(
    conn: Conn,
    ctx: TaskContext,
    units: Sequence[IngestUnit],
    summary: IngestSummary,
    span: tuple[float, float],
) -> None:
    """Apply ``units`` in ``conn`` with a progress point before each, moving the task's progress
    across ``span``; a cancelled task stops at the next point."""
    start, end = span
    total = max(len(units), 1)

    async def point(index: int) -> None:
        await ctx.progress(start + (end - start) * index / total)

    await apply_units(conn, ctx.actor, units, summary, before_each=point)
    await ctx.progress(end)


def _result(summary: IngestSummary, transactions: int) -> dict[str, Any]:
    return {**summary.model_dump(mode="json"), "transactions": transactions}


# openlineage.ndjson -----------------------------------------------------------------------------


@dataclass
class _Events:
    """The events of a file: parsed (an array, one document) or lines parsed on demand."""

    what: str
    parsed: list[Any] | None = None
    lines: list[tuple[int, bytes]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.parsed) if self.parsed is not None else len(self.lines)

    def read(self, index: int) -> tuple[Loc, Any]:
        """Where event ``index`` is, and the event; BadRequest for a line that is not JSON."""
        if self.parsed is not None:
            return (self.what, index), self.parsed[index]
        number, line = self.lines[index]
        where = f"{self.what} line {number}"
        return (where,), loads(line, what=where)


def _events(data: bytes, what: str) -> _Events:
    stripped = data.strip()
    if not stripped:
        raise BadRequest(f"{what} is empty")
    if stripped[:1] == b"[":
        value = loads(stripped, what=what)
        assert isinstance(value, list)
        return _Events(what, parsed=value)
    lines = [(n, line) for n, line in enumerate(stripped.split(b"\n"), 1) if line.strip()]
    if len(lines) > 1:
        try:
            loads(lines[0][1], what=what)
        except BadRequest:
            # Not NDJSON: one pretty-printed event (or a typo the whole-file error explains).
            return _Events(what, parsed=[loads(stripped, what=what)])
        return _Events(what, lines=lines)
    return _Events(what, parsed=[loads(stripped, what=what)])


@dataclass
class _Mapped:
    units: list[IngestUnit] = field(default_factory=list)
    warnings: list[tuple[Loc, str]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _map(events: _Events, start: int, end: int, room: int) -> _Mapped:
    """Map events start..end, collecting up to ``room`` errors (CPU work: run in a thread)."""
    mapped = _Mapped()
    for index in range(start, end):
        if len(mapped.errors) >= room:
            break
        try:
            where, event = events.read(index)
        except BadRequest as e:
            mapped.errors.append({"loc": [], "msg": e.message})
            continue
        try:
            one = openlineage.map_events([event], loc=where, indexed=False)
        except Unprocessable as e:
            mapped.errors += e.extra.get("errors") or [{"loc": list(where), "msg": e.message}]
            continue
        mapped.units += one.units
        mapped.warnings += one.warnings
    return mapped


def _unmappable(errors: list[dict[str, Any]]) -> Unprocessable:
    first = errors[0]
    path = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    # A line that is not JSON names itself; a mapping error names the path within the event.
    what = f"not a usable OpenLineage event at {path}: " if path else ""
    return Unprocessable(
        f"{what}{first['msg']}{more}; nothing was written", errors=errors[:_MAX_ERRORS]
    )


async def run_openlineage_ndjson(ctx: TaskContext) -> None:
    data, stored = await ctx.read_input()
    events = await asyncio.to_thread(_events, data, ctx.label)
    del data
    total = len(events)
    chunk = ctx.config.events_per_transaction
    single = total <= chunk
    checkpoint = stored.checkpoint or {}
    resume = int(checkpoint.get("next", 0))
    # Reading and mapping every event first: a bad one fails the task before anything is written.
    check_share = 0.2 if single else 0.15
    kept = _Mapped()
    errors: list[dict[str, Any]] = []
    for start in range(0, total, _MAP_CHUNK):
        end = min(start + _MAP_CHUNK, total)
        mapped = await asyncio.to_thread(_map, events, start, end, _MAX_ERRORS - len(errors))
        errors += mapped.errors
        if len(errors) >= _MAX_ERRORS:
            break
        if single:
            kept.units += mapped.units
            kept.warnings += mapped.warnings
        await ctx.progress(check_share * end / max(total, 1))
    if errors:
        raise _unmappable(errors)

    if single:
        summary = IngestSummary(units=total)
        for where, msg in kept.warnings:
            summary.warn(where, msg)
        async with ctx.transaction() as conn:
            await _apply(conn, ctx, kept.units, summary, (check_share, 1.0))
            await ctx.complete(conn, _result(summary, 1))
        return

    summary = (
        IngestSummary.model_validate(checkpoint["summary"])
        if "summary" in checkpoint
        else IngestSummary(units=total)
    )
    transactions = int(checkpoint.get("transactions", 0))
    apply_share = 1.0 - check_share
    for start in range(resume, total, chunk):
        end = min(start + chunk, total)
        mapped = await asyncio.to_thread(_map, events, start, end, 1)
        if mapped.errors:  # the file was checked above: only a changed input gets here
            raise _unmappable(mapped.errors)
        for where, msg in mapped.warnings:
            summary.warn(where, msg)
        span = (check_share + apply_share * start / total, check_share + apply_share * end / total)
        async with ctx.transaction() as conn:
            await _apply(conn, ctx, mapped.units, summary, span)
            transactions += 1
            if end < total:
                # The task row before the input row: the order a cancel locks them in.
                await ctx.hold(conn)
                state = {
                    "next": end,
                    "transactions": transactions,
                    "summary": summary.model_dump(mode="json"),
                }
                await task_queue.save_checkpoint(conn, ctx.task.id, state)
            else:
                await ctx.complete(conn, _result(summary, transactions))


# dbt.manifest -----------------------------------------------------------------------------------


def _dbt_documents(data: bytes, what: str) -> tuple[Any, Any | None]:
    document = loads(data, what=what)
    if isinstance(document, dict) and "manifest" in document and "nodes" not in document:
        extra = sorted(set(document) - {"manifest", "catalog"})
        if extra:
            raise BadRequest(
                f"{what}: a dbt upload is a manifest, or an object with manifest and catalog "
                f"only, not {extra}"
            )
        return document["manifest"], document.get("catalog")
    return document, None


def _parts(unit: IngestUnit, size: int) -> list[IngestUnit]:
    """One unit as several applied in a row with the same effect: assets (with their fields and
    tags) first, then drops, relationships and column lineage, ``size`` items a part."""
    names = list(unit.assets)
    parts = [
        IngestUnit(loc=unit.loc, assets={n: unit.assets[n] for n in names[i : i + size]})
        for i in range(0, len(names), size)
    ] or [IngestUnit(loc=unit.loc)]
    parts[0].renames = list(unit.renames)
    parts[0].audit = unit.audit
    if unit.drops:
        parts.append(IngestUnit(loc=unit.loc, drops=list(unit.drops)))
    for i in range(0, len(unit.edges), size):
        parts.append(IngestUnit(loc=unit.loc, edges=unit.edges[i : i + size]))
    for i in range(0, len(unit.column_edges), size):
        parts.append(IngestUnit(loc=unit.loc, column_edges=unit.column_edges[i : i + size]))
    return parts


async def run_dbt_manifest(ctx: TaskContext) -> None:
    data, _ = await ctx.read_input()
    manifest, catalog = await asyncio.to_thread(_dbt_documents, data, ctx.label)
    del data
    await ctx.progress(0.1)
    namespace = ctx.task.payload.get("namespace")
    mapped = await asyncio.to_thread(
        dbt.map_manifest,
        manifest,
        catalog,
        namespace=namespace if isinstance(namespace, str) else None,
    )
    await ctx.progress(0.3)
    summary = IngestSummary(units=1)
    for where, msg in mapped.warnings:
        summary.warn(where, msg)
    async with ctx.transaction() as conn:
        await _apply(conn, ctx, _parts(mapped.unit, _DBT_PART), summary, (0.3, 1.0))
        await ctx.complete(conn, _result(summary, 1))


HANDLERS: Mapping[str, TaskHandler] = {
    OPENLINEAGE_NDJSON: run_openlineage_ndjson,
    DBT_MANIFEST: run_dbt_manifest,
}


# The runner -------------------------------------------------------------------------------------


def _failure(error: BaseException) -> tuple[str, bool]:
    """The error to keep on the task, and whether it is permanent (bad input: no retry)."""
    if isinstance(error, HeadwaterError):
        return error.message[:_MAX_ERROR_TEXT], not isinstance(error, Conflict)
    return f"{type(error).__name__}: {error}"[:_MAX_ERROR_TEXT], False


def _backoff(failures: int, initial: float, maximum: float) -> float:
    return float(min(maximum, initial * 2 ** min(failures - 1, 30)) * random.uniform(0.8, 1.0))


class TaskRunner:
    """Claims and runs tasks of every tenant; see the module documentation."""

    def __init__(
        self,
        app_database: Database,
        worker_database: Database,
        config: RunnerConfig | None = None,
        handlers: Mapping[str, TaskHandler] | None = None,
        *,
        listen_dsn: str | None = None,
    ) -> None:
        """``app_database``: the application role, for the tasks' work; ``worker_database``: the
        worker role, to find tasks across tenants; ``listen_dsn``: where to LISTEN for new tasks
        (None: poll only)."""
        self.app_database = app_database
        self.worker_database = worker_database
        self.config = config or RunnerConfig()
        self.handlers = dict(HANDLERS if handlers is None else handlers)
        self.types = sorted(self.handlers)
        self._listen_dsn = listen_dsn
        instance = uuid.uuid4().hex[:6]
        self.worker_ids = [
            f"{socket.gethostname()}:{os.getpid()}:{instance}:{slot}"
            for slot in range(self.config.concurrency)
        ]
        self._wake = [asyncio.Event() for _ in self.worker_ids]
        self._swept_at = float("-inf")

    async def run(self) -> None:
        """Run tasks until cancelled."""
        log.info("task runner started", extra={"workers": self.worker_ids, "types": self.types})
        async with asyncio.TaskGroup() as group:
            if self._listen_dsn is not None:
                group.create_task(self._listen(self._listen_dsn), name="tasks-listen")
            for slot in range(len(self.worker_ids)):
                group.create_task(self._loop(slot), name=f"tasks-{slot}")

    def wake(self) -> None:
        for event in self._wake:
            event.set()

    async def _loop(self, slot: int) -> None:
        failures = 0
        while True:
            raise_if_cancelled()
            self._wake[slot].clear()
            try:
                ran = await self.run_next(slot)
            except Exception as e:  # the queue itself failed (database down): back off, go on
                failures += 1
                delay = _backoff(failures, 0.5, max(self.config.poll_interval, 0.5) * 10)
                log.warning(
                    "task runner cannot reach the queue, retrying",
                    extra={"error": f"{type(e).__name__}: {e}", "retry_in": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            if ran is None:
                await self._idle(slot)

    async def _idle(self, slot: int) -> None:
        timeout = self.config.poll_interval
        try:
            async with self.worker_database.transaction() as conn:
                due_in = await task_queue.seconds_until_next_task(conn, self.types)
        except (psycopg.Error, OSError):
            due_in = None
        if due_in is not None:
            timeout = min(timeout, max(due_in, 0.01))
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # arrives just as the wake-up does, and the runner then never stops.
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake[slot].wait()

    async def run_next(self, slot: int = 0) -> Task | None:
        """Claim the next due task and run it to its outcome; None when no task is due."""
        worker_id = self.worker_ids[slot]
        await self._sweep_stalled()
        async with self.worker_database.transaction() as conn:
            candidates = await task_queue.due_tasks(conn, self.types, 4 * len(self.worker_ids))
        for candidate in candidates:
            async with self.app_database.transaction(candidate.tenant_id) as conn:
                task = await tasks.claim_task(conn, candidate.id, worker_id)
            if task is not None:
                return await self._execute(task, candidate.tenant_id, worker_id)
        return None

    async def _sweep_stalled(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.config.stale_after / 4:
            return
        self._swept_at = now
        stale_after = timedelta(seconds=self.config.stale_after)
        async with self.worker_database.transaction() as conn:
            stalled = await task_queue.stalled_tasks(conn, self.types, stale_after, 100)
        for found in stalled:
            async with self.app_database.transaction(found.tenant_id) as conn:
                task = await tasks.abandon_stalled_task(
                    conn,
                    found.id,
                    stale_after,
                    retry_base=timedelta(seconds=self.config.retry_base),
                )
            if task is not None:
                log.warning(
                    "task abandoned by its runner",
                    extra={"task_id": task.id, "status": task.status.value, "error": task.error},
                )

    async def _execute(self, task: Task, tenant_id: UUID, worker_id: str) -> Task:
        handler = self.handlers[task.type]
        ctx = TaskContext(
            task=task,
            tenant_id=tenant_id,
            worker_id=worker_id,
            database=self.app_database,
            config=self.config,
            actor=Actor(tenant_id=tenant_id, user_id=task.created_by),
        )
        started = time.perf_counter()
        extra: dict[str, Any] = {"task_id": task.id, "type": task.type, "attempt": task.retries + 1}
        log.info("task started", extra=extra)
        reporter = asyncio.create_task(self._report(ctx), name=f"task-{task.id}-progress")
        try:
            try:
                result = await handler(ctx)
                if ctx.completed is None:
                    async with ctx.transaction() as conn:
                        await ctx.complete(conn, result)
            finally:
                await stop_task(reporter)
        except TaskStopped:
            async with ctx.transaction() as conn:
                outcome = await tasks.get_task(conn, task.id)
            log.info("task stopped", extra={**extra, "status": outcome.status.value})
            return outcome
        except asyncio.CancelledError:
            # Shutting down: the work rolled back; hand the task to another runner, unharmed.
            await asyncio.shield(self._release(ctx))
            raise
        except Exception as e:
            message, permanent = _failure(e)
            log.warning(
                "task attempt failed",
                extra={**extra, "error": message, "permanent": permanent},
                exc_info=not isinstance(e, HeadwaterError),
            )
            async with ctx.transaction() as conn:
                return await tasks.fail_task(
                    conn,
                    task.id,
                    message,
                    permanent=permanent,
                    worker_id=worker_id,
                    retry_base=timedelta(seconds=self.config.retry_base),
                )
        assert ctx.completed is not None
        log.info(
            "task succeeded",
            extra={**extra, "seconds": round(time.perf_counter() - started, 3)},
        )
        return ctx.completed

    async def _release(self, ctx: TaskContext) -> None:
        try:
            async with ctx.transaction() as conn:
                await tasks.release_task(conn, ctx.task.id, ctx.worker_id)
        except (psycopg.Error, OSError, HeadwaterError) as e:
            # It stays RUNNING until the stalled-task sweep of some runner retries it.
            log.warning("could not release task", extra={"task_id": ctx.task.id, "error": str(e)})

    async def _report(self, ctx: TaskContext) -> None:
        """Write the task's progress in short transactions of its own (a heartbeat when it does
        not move), and flag the task to stop when it is no longer running for this runner."""
        written_at = time.monotonic()
        while True:
            await asyncio.sleep(self.config.progress_interval)
            percent = ctx.percent
            quiet = time.monotonic() - written_at
            if percent == ctx.reported and quiet < self.config.heartbeat_interval:
                continue
            try:
                async with ctx.transaction() as conn:
                    running = await tasks.report_progress(
                        conn, ctx.task.id, percent, worker_id=ctx.worker_id
                    )
            except (psycopg.Error, OSError) as e:
                log.warning(
                    "cannot report task progress", extra={"task_id": ctx.task.id, "error": str(e)}
                )
                continue
            ctx.reported, written_at = percent, time.monotonic()
            if not running:
                ctx.stop_requested = True
                return

    async def _listen(self, dsn: str) -> None:
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with conn:
                    await conn.execute(_LISTEN)
                    failures = 0
                    self.wake()  # anything queued while not listening
                    async for _ in conn.notifies():
                        self.wake()
            except (psycopg.OperationalError, OSError) as e:
                failures += 1
                delay = _backoff(failures, 0.5, 60.0)
                log.warning(
                    "task LISTEN connection lost, polling until it is back",
                    extra={"error": str(e), "retry_in": round(delay, 3)},
                )
                await asyncio.sleep(delay)
