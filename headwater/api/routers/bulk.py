"""``POST /api/v1/bulk``: upsert many entities in one all-or-nothing transaction."""

from __future__ import annotations

from fastapi import APIRouter

from headwater.api.deps import WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog.bulk import BulkRequest, BulkResult, apply_bulk

router = APIRouter(tags=["bulk"], route_class=StrictJSONRoute)


@router.post("/bulk")
async def bulk_upsert(body: BulkRequest, session: WriteSession) -> BulkResult:
    """Assets by qualified name, full column lists, relationships and field lineage by name.

    Any invalid item answers 422 naming its path and nothing is written.
    """
    return await apply_bulk(session.conn, session.actor, body, session.settings.max_bulk_items)
