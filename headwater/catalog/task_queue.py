"""The task queue as runners see it: finding work across tenants, and the inputs tasks work on.

Finding work (``due_tasks``, ``stalled_tasks``, ``seconds_until_next_task``) runs as the worker
role, which reads only the bookkeeping columns of ``background_tasks`` (id, tenant, type, status,
priority, run_after, updated_at) of every tenant: a runner learns which task to claim and under
which tenant, never a payload or a result. Everything else here runs as the application role in
a transaction bound to the task's tenant (row-level security), like ``catalog.tasks``.

Inputs: a task's file (an upload) is kept in ``background_task_inputs``, apart from the task's
payload, as it was sent (gzip bodies stay compressed) until the task finishes; a trigger drops it
then. ``checkpoint`` records how far a task that commits in several transactions got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from headwater.catalog import db
from headwater.catalog.changes import jsonb
from headwater.catalog.db import Conn
from headwater.catalog.errors import NotFound
from headwater.catalog.queries import Q

__all__ = [
    "QueuedTask",
    "TaskInput",
    "due_tasks",
    "get_task_input",
    "save_checkpoint",
    "seconds_until_next_task",
    "stalled_tasks",
    "store_task_input",
]

ContentEncoding = Literal["identity", "gzip"]


@dataclass(frozen=True)
class QueuedTask:
    id: int
    tenant_id: UUID


@dataclass(frozen=True)
class TaskInput:
    task_id: int
    content: bytes
    content_encoding: ContentEncoding
    content_type: str
    decoded_bytes: int
    sha256: str
    checkpoint: dict[str, Any] | None


# Worker role ----------------------------------------------------------------------------------


async def due_tasks(conn: Conn, types: Sequence[str], limit: int) -> list[QueuedTask]:
    """PENDING tasks of ``types`` whose ``run_after`` has come, in claim order, every tenant."""
    rows = await db.fetch_all(conn, Q["list_due_tasks"], {"types": list(types), "limit": limit})
    return [QueuedTask(r["id"], r["tenant_id"]) for r in rows]


async def stalled_tasks(
    conn: Conn, types: Sequence[str], stale_after: timedelta, limit: int
) -> list[QueuedTask]:
    """RUNNING tasks of ``types`` not updated (no progress report) for ``stale_after``."""
    rows = await db.fetch_all(
        conn,
        Q["list_stalled_tasks"],
        {"types": list(types), "stale_seconds": stale_after.total_seconds(), "limit": limit},
    )
    return [QueuedTask(r["id"], r["tenant_id"]) for r in rows]


async def seconds_until_next_task(conn: Conn, types: Sequence[str]) -> float | None:
    """Seconds until the earliest PENDING task of ``types`` is due (<= 0: now); None: none."""
    row = await db.fetch_one(conn, Q["seconds_until_next_task"], {"types": list(types)})
    return None if row is None or row["seconds"] is None else float(row["seconds"])


# Application role, bound to the task's tenant ---------------------------------------------------


async def store_task_input(
    conn: Conn,
    task_id: int,
    content: bytes,
    *,
    content_encoding: ContentEncoding,
    content_type: str,
    decoded_bytes: int,
    sha256: str,
) -> None:
    await conn.execute(
        Q["insert_task_input"],
        {
            "task_id": task_id,
            "content": content,
            "content_encoding": content_encoding,
            "content_type": content_type[:200],
            "decoded_bytes": decoded_bytes,
            "sha256": sha256,
        },
    )


async def get_task_input(conn: Conn, task_id: int) -> TaskInput:
    row = await db.fetch_one(conn, Q["get_task_input"], {"task_id": task_id})
    if row is None:
        raise NotFound(f"task {task_id} has no input (it finished, or was queued without one)")
    return TaskInput(
        task_id=row["task_id"],
        content=bytes(row["content"]),
        content_encoding=row["content_encoding"],
        content_type=row["content_type"],
        decoded_bytes=row["decoded_bytes"],
        sha256=row["sha256"],
        checkpoint=row["checkpoint"],
    )


async def save_checkpoint(conn: Conn, task_id: int, checkpoint: dict[str, Any]) -> None:
    """Record progress that must survive a retry, in the transaction whose writes it describes."""
    row = await db.fetch_one(
        conn, Q["set_task_checkpoint"], {"task_id": task_id, "checkpoint": jsonb(checkpoint)}
    )
    if row is None:
        raise NotFound(f"task {task_id} has no input to record a checkpoint on")
