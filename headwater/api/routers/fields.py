"""Schema fields of an asset (read, replace all, patch one) and field lineage between them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from headwater.api.deps import PageLimit, ReadSession, WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import field_lineage, fields
from headwater.catalog.field_lineage import FieldLineage, FieldLineageCreate, LineageDirection
from headwater.catalog.fields import AssetFields, FieldsReplace, FieldUpdate, SchemaField
from headwater.catalog.paging import Page

router = APIRouter(
    prefix="/assets/{asset_id}/fields", tags=["schema fields"], route_class=StrictJSONRoute
)
lineage_router = APIRouter(
    prefix="/field-lineage", tags=["field lineage"], route_class=StrictJSONRoute
)

_MAX_ID = 2**63 - 1


@router.get("")
async def list_fields(asset_id: int, session: ReadSession) -> AssetFields:
    """The asset's fields by ordinal, with the asset version a replace must send."""
    return await fields.list_fields(session.conn, asset_id)


@router.put("")
async def replace_fields(asset_id: int, body: FieldsReplace, session: WriteSession) -> AssetFields:
    """Replace the whole schema: list order is the ordinal; a field keeps its id (and lineage)
    while its name stays; fields left out are deleted with their lineage."""
    return await fields.replace_fields(
        session.conn, session.actor, asset_id, body.version, body.fields
    )


@router.patch("/{field_id}")
async def update_field(
    asset_id: int, field_id: int, body: FieldUpdate, session: WriteSession
) -> SchemaField:
    return await fields.update_field(session.conn, session.actor, asset_id, field_id, body)


@lineage_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "A live edge between the same fields exists"}},
)
async def create_field_lineage(body: FieldLineageCreate, session: WriteSession) -> FieldLineage:
    """Create a column -> column edge; re-creating a deleted one revives it, one version on."""
    return await field_lineage.create_field_lineage(session.conn, session.actor, body)


@lineage_router.get("")
async def list_field_lineage(
    session: ReadSession,
    field_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    asset_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    direction: Annotated[
        LineageDirection | None,
        Query(description="Relative to field_id / asset_id: upstream edges flow into them"),
    ] = None,
    limit: PageLimit = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[FieldLineage]:
    return await field_lineage.list_field_lineage(
        session.conn,
        field_id=field_id,
        asset_id=asset_id,
        direction=direction,
        limit=limit,
        cursor=cursor,
        default_limit=session.settings.default_page_size,
        max_limit=session.settings.max_page_size,
    )


@lineage_router.get("/{lineage_id}")
async def get_field_lineage(lineage_id: int, session: ReadSession) -> FieldLineage:
    return await field_lineage.get_field_lineage(session.conn, lineage_id)


@lineage_router.delete("/{lineage_id}")
async def delete_field_lineage(
    lineage_id: int, session: WriteSession, version: Annotated[int, Query(ge=1)]
) -> FieldLineage:
    return await field_lineage.delete_field_lineage(
        session.conn, session.actor, lineage_id, version
    )
