"""Background tasks: a Postgres-backed queue (ingestion and other long work enqueue here).

Lifecycle::

    PENDING --claim--> RUNNING --complete--> SUCCEEDED
       ^                  |  \\--fail, retries left--> PENDING (run_after = now + backoff)
       |                  |   \\-fail, none left-----> FAILED
       +--(cancel)--------+--cancel--> CANCELLED

Every state change writes an audit row (entity type ``task``); progress reports do not, they
are not state changes. Tasks emit no outbox events: no mirror holds them. ``locked_by`` is set
exactly while a task is RUNNING. Audit states leave out ``payload`` and ``result`` except where
they are set (enqueue and complete), so a large payload is not copied into every audit row.

Runner side: every function works in the caller's transaction, and the rows are tenant-scoped
by row-level security. ``claim_next_task`` takes the tenant and binds the transaction to it; the
others (``claim_task``, ``report_progress``, ``complete_task``, ``fail_task``, ``release_task``,
``abandon_stalled_task``) need the caller's transaction bound to the task's tenant already
(``Database.transaction(tenant_id)``). A runner that serves every tenant finds candidates through
the worker role (``task_queue.due_tasks``, which reads only the queue's bookkeeping columns) and
claims each with ``claim_task`` under its tenant; see ``headwater.ingest.tasks``. Passing
``worker_id`` to the runner-side functions makes them act only while that runner still holds the
task (a task requeued as stalled and claimed elsewhere is no longer its to finish).
A single-tenant loop::

    async with database.transaction() as conn:
        task = await claim_next_task(conn, tenant_id, "worker-1")
    if task is not None:
        ...  # run it, calling report_progress in short transactions of tenant_id
        async with database.transaction(tenant_id) as conn:
            await complete_task(conn, task.id, {"rows": 10})
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from psycopg import pq
from pydantic import BaseModel

from headwater.catalog import db
from headwater.catalog.changes import Change, jsonb, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, Unprocessable
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q

TASK_TYPE = re.compile(r"^[a-z][a-z_.]{0,63}$")
MAX_RETRIES_LIMIT = 100

# Retry n (1-based) waits RETRY_BASE * 2**(n-1), at most RETRY_CAP.
RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(hours=1)


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})


class Task(BaseModel):
    id: int
    type: str
    status: TaskStatus
    priority: int
    payload: dict[str, Any]
    result: Any
    error: str | None
    progress: int
    retries: int
    max_retries: int
    run_after: datetime
    locked_by: str | None
    created_by: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def retry_delay(retry: int, base: timedelta = RETRY_BASE) -> timedelta:
    """The wait before retry number ``retry`` (1 for the first): exponential, capped."""
    # The exponent is bounded so a large retry count cannot overflow timedelta.
    return min(base * (1 << min(max(retry - 1, 0), 20)), RETRY_CAP)


def _state(task: Task, *, with_payload: bool = False, with_result: bool = False) -> dict[str, Any]:
    exclude = set()
    if not with_payload:
        exclude.add("payload")
    if not with_result:
        exclude.add("result")
    return task.model_dump(mode="json", exclude=exclude)


def _task(row: dict[str, Any] | None) -> Task:
    return Task.model_validate(row)


def _runner(row: dict[str, Any]) -> Actor:
    """The actor of a runner-side change: no user, the task's tenant; locked_by names the worker."""
    return Actor(tenant_id=row["tenant_id"], user_id=None)


async def enqueue_task(
    conn: Conn,
    actor: Actor,
    type: str,
    payload: dict[str, Any],
    priority: int = 0,
    max_retries: int = 3,
) -> Task:
    """Queue a task of ``type`` (``^[a-z][a-z_.]{0,63}$``, e.g. ``ingest.dbt``) for a runner."""
    if not TASK_TYPE.fullmatch(type):
        raise Unprocessable(
            f"task type {type!r} must match {TASK_TYPE.pattern}",
            errors=[{"loc": ["type"], "msg": f"must match {TASK_TYPE.pattern}"}],
        )
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise Unprocessable(
            f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}",
            errors=[{"loc": ["max_retries"], "msg": f"must be in 0..{MAX_RETRIES_LIMIT}"}],
        )
    row = await db.fetch_one(
        conn,
        Q["insert_task"],
        {
            "type": type,
            "priority": priority,
            "payload": jsonb(payload),
            "max_retries": max_retries,
            "actor": actor.user_id,
        },
    )
    task = _task(row)
    await record(
        conn,
        actor,
        Change("task.enqueue", "task", task.id, None, _state(task, with_payload=True), 1),
    )
    return task


async def get_task(conn: Conn, task_id: int) -> Task:
    row = await db.fetch_one(conn, Q["get_task"], {"id": task_id})
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    return _task(row)


async def _lock(conn: Conn, task_id: int) -> dict[str, Any]:
    row = await db.fetch_one(conn, Q["get_task_for_update"], {"id": task_id})
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    return row


async def list_tasks(
    conn: Conn,
    *,
    status: TaskStatus | None = None,
    type: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    default_limit: int = 50,
    max_limit: int = 500,
) -> Page[Task]:
    """Newest first; the cursor walks to older tasks."""
    size, capped = clamp_limit(limit, default_limit, max_limit)
    rows = await db.fetch_all(
        conn,
        Q["list_tasks"],
        {
            "status": None if status is None else status.value,
            "type": type,
            "after_id": decode_cursor(cursor),
            "limit": size + 1,
        },
    )
    return page_of([_task(r) for r in rows], size, capped, lambda t: t.id)


async def cancel_task(conn: Conn, actor: Actor, task_id: int) -> Task:
    """PENDING or RUNNING -> CANCELLED. A running task's runner learns it from its next
    ``report_progress`` (False) or when it tries to finish the task."""
    before = _task(await _lock(conn, task_id))
    if before.status not in ACTIVE_STATUSES:
        raise Conflict(
            f"task {task_id} is already {before.status.value}: only PENDING or RUNNING tasks "
            "can be cancelled",
            task_status=before.status.value,
        )
    after = await _finish(conn, before, TaskStatus.CANCELLED, result=None, error=None)
    await record(
        conn,
        actor,
        Change("task.cancel", "task", task_id, _state(before), _state(after), after.version),
    )
    return after


async def _finish(
    conn: Conn, before: Task, status: TaskStatus, *, result: Any, error: str | None
) -> Task:
    return _task(
        await db.fetch_one(
            conn,
            Q["finish_task"],
            {
                "id": before.id,
                "status": status.value,
                "result": None if result is None else jsonb(result),
                "error": error,
            },
        )
    )


# Runner side --------------------------------------------------------------------------------


async def claim_next_task(conn: Conn, tenant_id: UUID, worker_id: str) -> Task | None:
    """Take the tenant's next due task (highest priority, then oldest ``run_after``) and mark it
    RUNNING for ``worker_id``. Concurrent claimers never get the same task: each skips rows the
    others have locked. Must run inside a transaction, which this binds to ``tenant_id``."""
    if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
        raise RuntimeError("claim_next_task must run inside a transaction")
    if not worker_id:
        raise ValueError("worker_id must not be empty")
    await db.set_tenant(conn, tenant_id)
    row = await db.fetch_one(conn, Q["next_pending_task"])
    if row is None:
        return None
    before = _task(row)
    after = _task(
        await db.fetch_one(conn, Q["start_task"], {"id": before.id, "worker_id": worker_id})
    )
    await record(
        conn,
        _runner(row),
        Change("task.claim", "task", after.id, _state(before), _state(after), after.version),
    )
    return after


async def report_progress(
    conn: Conn, task_id: int, progress: int, *, worker_id: str | None = None
) -> bool:
    """Record ``progress`` (0-100) of a running task; False when the task is no longer RUNNING
    (cancelled, say) or no longer held by ``worker_id``, which tells the runner to stop."""
    if not 0 <= progress <= 100:
        raise Unprocessable(
            "progress must be between 0 and 100",
            errors=[{"loc": ["progress"], "msg": "must be in 0..100"}],
        )
    params = {"id": task_id, "progress": progress, "worker_id": worker_id}
    statement = "set_task_progress" if worker_id is None else "set_task_progress_of_worker"
    if await db.fetch_one(conn, Q[statement], params):
        return True
    await get_task(conn, task_id)  # NotFound for a task that does not exist at all
    return False


async def _lock_running(
    conn: Conn, task_id: int, worker_id: str | None = None
) -> tuple[dict[str, Any], Task] | None:
    """The locked running task; None when it was cancelled meanwhile, or is no longer held by
    ``worker_id`` (the runner's result is dropped); Conflict when it is in any other state,
    which is a runner bug."""
    row = await _lock(conn, task_id)
    task = _task(row)
    if task.status == TaskStatus.CANCELLED:
        return None
    if worker_id is not None and (task.locked_by != worker_id or task.status != TaskStatus.RUNNING):
        return None
    if task.status != TaskStatus.RUNNING:
        raise Conflict(
            f"task {task_id} is {task.status.value}, not RUNNING", task_status=task.status.value
        )
    return row, task


async def complete_task(
    conn: Conn, task_id: int, result: Any, *, worker_id: str | None = None
) -> Task:
    """RUNNING -> SUCCEEDED with ``result`` (any JSON value) and progress 100. A task cancelled
    while it ran (or, given ``worker_id``, taken over by another runner) is returned unchanged."""
    locked = await _lock_running(conn, task_id, worker_id)
    if locked is None:
        return await get_task(conn, task_id)
    row, before = locked
    after = await _finish(conn, before, TaskStatus.SUCCEEDED, result=result, error=None)
    await record(
        conn,
        _runner(row),
        Change(
            "task.complete",
            "task",
            task_id,
            _state(before),
            _state(after, with_result=True),
            after.version,
        ),
    )
    return after


async def fail_task(
    conn: Conn,
    task_id: int,
    error: str,
    *,
    permanent: bool = False,
    worker_id: str | None = None,
    retry_base: timedelta = RETRY_BASE,
) -> Task:
    """Record a failed attempt. While ``retries < max_retries`` the task goes back to PENDING with
    ``retries + 1`` and ``run_after = now() + retry_delay(retries + 1, retry_base)``; otherwise,
    or at once when the failure is ``permanent`` (bad input: a retry would fail the same way), it
    is FAILED. A task cancelled while it ran (or, given ``worker_id``, taken over by another
    runner) is returned unchanged."""
    locked = await _lock_running(conn, task_id, worker_id)
    if locked is None:
        return await get_task(conn, task_id)
    row, before = locked
    if not permanent and before.retries < before.max_retries:
        delay = retry_delay(before.retries + 1, retry_base)
        after = _task(
            await db.fetch_one(
                conn,
                Q["retry_task"],
                {"id": task_id, "error": error, "delay_seconds": delay.total_seconds()},
            )
        )
        action = "task.retry"
    else:
        after = await _finish(conn, before, TaskStatus.FAILED, result=None, error=error)
        action = "task.fail"
    await record(
        conn,
        _runner(row),
        Change(action, "task", task_id, _state(before), _state(after), after.version),
    )
    return after


async def claim_task(conn: Conn, task_id: int, worker_id: str) -> Task | None:
    """Mark the task RUNNING for ``worker_id`` if it is still PENDING and due, and no other
    runner is claiming it this moment (SKIP LOCKED); None otherwise. The caller's transaction is
    bound to the task's tenant, so a task of another tenant is simply not found."""
    if not worker_id:
        raise ValueError("worker_id must not be empty")
    row = await db.fetch_one(conn, Q["claim_pending_task"], {"id": task_id})
    if row is None:
        return None
    before = _task(row)
    after = _task(
        await db.fetch_one(conn, Q["start_task"], {"id": before.id, "worker_id": worker_id})
    )
    await record(
        conn,
        _runner(row),
        Change("task.claim", "task", after.id, _state(before), _state(after), after.version),
    )
    return after


async def release_task(conn: Conn, task_id: int, worker_id: str) -> Task | None:
    """RUNNING -> PENDING without counting an attempt, for a runner that stops (shutdown) before
    the task finished; None when ``worker_id`` no longer holds it."""
    locked = await _lock_running(conn, task_id, worker_id)
    if locked is None:
        return None
    row, before = locked
    after = _task(await db.fetch_one(conn, Q["release_task"], {"id": task_id}))
    await record(
        conn,
        _runner(row),
        Change("task.release", "task", task_id, _state(before), _state(after), after.version),
    )
    return after


async def abandon_stalled_task(
    conn: Conn, task_id: int, stale_after: timedelta, *, retry_base: timedelta = RETRY_BASE
) -> Task | None:
    """Fail a RUNNING task whose runner has not reported for ``stale_after`` (it crashed): it is
    retried like any failed attempt, or FAILED when none are left. None when it is not stalled
    (any more): it finished, or its runner reported meanwhile."""
    row = await _lock(conn, task_id)
    task = _task(row)
    if task.status != TaskStatus.RUNNING:
        return None
    stalled = await db.fetch_one(
        conn, Q["task_is_stalled"], {"id": task_id, "stale_seconds": stale_after.total_seconds()}
    )
    if stalled is None or not stalled["stalled"]:
        return None
    seconds = round(stale_after.total_seconds())
    return await fail_task(
        conn,
        task_id,
        f"runner {task.locked_by} stopped reporting for more than {seconds}s (it stopped or "
        "crashed): the attempt is abandoned",
        retry_base=retry_base,
    )
