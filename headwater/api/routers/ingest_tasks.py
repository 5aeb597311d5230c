"""``POST /api/v1/ingest/tasks``: upload a large file to be ingested as a background task.

The body is the file itself: an NDJSON of OpenLineage events (``type=openlineage.ndjson``) or a
dbt ``manifest.json`` (``type=dbt.manifest``; to bring ``catalog.json`` along, send
``{"manifest": ..., "catalog": ...}``). Send it with ``Content-Encoding: gzip`` to upload more
than ``HEADWATER_MAX_BODY_BYTES``: the limit applies to the body as sent, and a gzip body may
inflate up to ``HEADWATER_MAX_TASK_INPUT_BYTES``. The answer is 202 with the queued task (and its
URL in ``Location``); ``GET /api/v1/tasks/{id}`` then reports its progress, its result (what
changed) or its error, and ``POST /api/v1/tasks/{id}/cancel`` stops it. Needs the editor role.
See ``headwater.ingest.tasks`` for how each type is applied and retried.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from headwater.api.deps import State, actor_for
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog.context import Actor, Role
from headwater.catalog.tasks import MAX_RETRIES_LIMIT, Task
from headwater.ingest.tasks import (
    DBT_MANIFEST,
    OPENLINEAGE_NDJSON,
    enqueue_upload,
    prepare_upload,
)

router = APIRouter(prefix="/ingest", tags=["ingestion tasks"], route_class=StrictJSONRoute)


class UploadType(StrEnum):
    OPENLINEAGE_NDJSON = OPENLINEAGE_NDJSON
    DBT_MANIFEST = DBT_MANIFEST


async def _raw_body(request: Request) -> bytes:
    """The body as sent, read before any transaction opens (a slow upload holds no connection)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
# Authenticated in a short transaction of its own: the body is checked (a gzip one inflated)
# before the transaction that queues the task opens, so no transaction waits on that work.
Editor = Annotated[Actor, Depends(actor_for(Role.EDITOR))]

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file: NDJSON or a JSON array of OpenLineage events, or a dbt "
        "manifest.json (or {manifest, catalog}); optionally Content-Encoding: gzip",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/x-ndjson", "application/json", "application/octet-stream")
        },
    }
}


@router.post("/tasks", status_code=status.HTTP_202_ACCEPTED, openapi_extra=_BODY)
async def upload_ingest_task(
    request: Request,
    response: Response,
    body: RawBody,
    actor: Editor,
    state: State,
    type: Annotated[UploadType, Query(description="what the file is")],
    namespace: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=1000,
            description="dbt only: the warehouse's OpenLineage namespace (default: the "
            "manifest's adapter type)",
        ),
    ] = None,
    filename: Annotated[
        str | None, Query(min_length=1, max_length=200, description="named in errors")
    ] = None,
    max_retries: Annotated[int, Query(ge=0, le=MAX_RETRIES_LIMIT)] = 3,
    priority: Annotated[int, Query(ge=-1000, le=1000)] = 0,
) -> Task:
    """Queue a file for ingestion as a background task; 202 with the task."""
    upload = await prepare_upload(
        type.value,
        body,
        content_encoding=request.headers.get("content-encoding"),
        content_type=request.headers.get("content-type", ""),
        max_input_bytes=state.settings.max_task_input_bytes,
        namespace=namespace,
    )
    async with state.database.transaction(actor.tenant_id) as conn:
        task = await enqueue_upload(
            conn, actor, upload, filename=filename, max_retries=max_retries, priority=priority
        )
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return task
