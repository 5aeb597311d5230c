"""Relationships between assets: create (or revive), read, list by asset, update, soft delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from headwater.api.deps import PageLimit, ReadSession, WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import relationships
from headwater.catalog.paging import Page
from headwater.catalog.relationships import (
    Relationship,
    RelationshipCreate,
    RelationshipDirection,
    RelationshipType,
    RelationshipUpdate,
)

router = APIRouter(prefix="/relationships", tags=["relationships"], route_class=StrictJSONRoute)

_MAX_ID = 2**63 - 1


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "A live relationship with the same ends and type exists"}},
)
async def create_relationship(body: RelationshipCreate, session: WriteSession) -> Relationship:
    """Create an edge; re-creating a deleted one revives it with the same id, one version on."""
    return await relationships.create_relationship(session.conn, session.actor, body)


@router.get("")
async def list_relationships(
    session: ReadSession,
    asset_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    direction: Annotated[
        RelationshipDirection | None,
        Query(description="Relative to asset_id: outgoing (it is the source), incoming, both"),
    ] = None,
    type: RelationshipType | None = None,
    limit: PageLimit = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[Relationship]:
    return await relationships.list_relationships(
        session.conn,
        asset_id=asset_id,
        direction=direction,
        type=type,
        limit=limit,
        cursor=cursor,
        default_limit=session.settings.default_page_size,
        max_limit=session.settings.max_page_size,
    )


@router.get("/{relationship_id}")
async def get_relationship(relationship_id: int, session: ReadSession) -> Relationship:
    return await relationships.get_relationship(session.conn, relationship_id)


@router.patch("/{relationship_id}")
async def update_relationship(
    relationship_id: int, body: RelationshipUpdate, session: WriteSession
) -> Relationship:
    return await relationships.update_relationship(
        session.conn, session.actor, relationship_id, body
    )


@router.delete("/{relationship_id}")
async def delete_relationship(
    relationship_id: int, session: WriteSession, version: Annotated[int, Query(ge=1)]
) -> Relationship:
    return await relationships.delete_relationship(
        session.conn, session.actor, relationship_id, version
    )
