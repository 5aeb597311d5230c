"""OpenLineage ingestion: ``POST /api/v1/lineage`` as Marquez serves it, plus a batch form.

The single-event endpoint takes exactly what the official OpenLineage clients send to Marquez
(the Python client's HTTP transport posts to ``{url}/api/v1/lineage`` with ``Content-Type:
application/json``, ``Authorization: Bearer <api key>`` and, with compression on,
``Content-Encoding: gzip``) and answers 201. ``POST /api/v1/lineage/batch`` takes a JSON array of
events, or NDJSON (one event per line), and applies them in order in one transaction: all or
nothing. Either answers with what changed and the warnings of tolerated deviations; an event
that cannot be mapped gets 422 naming its path, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status

from headwater.api.deps import State, WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog.errors import BadRequest, Unprocessable
from headwater.ingest.apply import ingest_openlineage
from headwater.ingest.batch import IngestSummary
from headwater.ingest.payload import decode_body, load_documents, loads

router = APIRouter(prefix="/lineage", tags=["lineage ingestion"], route_class=StrictJSONRoute)

# Defined among the document's components: see headwater.ingest.openlineage.openapi_schemas.
_EVENT_SCHEMA = {"$ref": "#/components/schemas/OpenLineageEvent"}


async def _body(request: Request, state: State) -> bytes:
    """The decoded body, read before the transaction opens (a slow upload holds no connection)."""
    raw = await request.body()
    return decode_body(raw, request.headers.get("content-encoding"), state.settings.max_body_bytes)


Body = Annotated[bytes, Depends(_body)]


def _openapi(description: str, schema: dict[str, Any], *, ndjson: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if ndjson:
        content["application/x-ndjson"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_openapi("One OpenLineage RunEvent, DatasetEvent or JobEvent", _EVENT_SCHEMA),
)
async def post_lineage_event(body: Body, session: WriteSession) -> IngestSummary:
    """Record one OpenLineage event (Marquez-compatible)."""
    event = loads(body)
    if not isinstance(event, dict):
        raise BadRequest(
            f"body must be one OpenLineage event (a JSON object), not a {type(event).__name__}: "
            "send several to /api/v1/lineage/batch"
        )
    return await ingest_openlineage(session.conn, session.actor, [event], indexed=False)


@router.post(
    "/batch",
    openapi_extra=_openapi(
        "A JSON array of OpenLineage events, or NDJSON (application/x-ndjson), applied in order",
        {"type": "array", "items": _EVENT_SCHEMA},
        ndjson=True,
    ),
)
async def post_lineage_batch(body: Body, session: WriteSession) -> IngestSummary:
    """Record many OpenLineage events in one all-or-nothing transaction."""
    events = load_documents(body)
    limit = session.settings.max_bulk_items
    if len(events) > limit:
        raise Unprocessable(
            f"batch holds {len(events)} events, over the limit of {limit}: split it into "
            "several requests",
            errors=[{"loc": ["body"], "msg": f"more than {limit} events"}],
        )
    return await ingest_openlineage(session.conn, session.actor, events)
