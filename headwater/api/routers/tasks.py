"""Background tasks: list, get, cancel. Tasks are enqueued by the server (ingestion), not here.

Reads need the viewer role; cancelling needs the editor role. Cancelling a task that already
finished answers 409 naming its status.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from headwater.api.deps import PageLimit, ReadSession, WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import tasks
from headwater.catalog.paging import Page
from headwater.catalog.tasks import Task, TaskStatus

router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=StrictJSONRoute)


@router.get("")
async def list_tasks(
    session: ReadSession,
    status: TaskStatus | None = None,
    type: Annotated[str | None, Query(pattern=tasks.TASK_TYPE.pattern)] = None,
    limit: PageLimit = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[Task]:
    """Newest first."""
    return await tasks.list_tasks(
        session.conn,
        status=status,
        type=type,
        limit=limit,
        cursor=cursor,
        default_limit=session.settings.default_page_size,
        max_limit=session.settings.max_page_size,
    )


@router.get("/{task_id}")
async def get_task(task_id: int, session: ReadSession) -> Task:
    return await tasks.get_task(session.conn, task_id)


@router.post("/{task_id}/cancel")
async def cancel_task(task_id: int, session: WriteSession) -> Task:
    return await tasks.cancel_task(session.conn, session.actor, task_id)
