"""Tags: CRUD, and attaching them to assets (by id, or by name with create-if-missing).

Reads need the viewer role, writes the editor role. Attach and detach need a live asset.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from headwater.api.deps import PageLimit, ReadSession, WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import tags
from headwater.catalog.assets import TagRef
from headwater.catalog.paging import Page
from headwater.catalog.tags import DeletedTag, Tag, TagByName, TagCreate, TagUpdate

router = APIRouter(tags=["tags"], route_class=StrictJSONRoute)


@router.post("/tags", status_code=status.HTTP_201_CREATED)
async def create_tag(body: TagCreate, session: WriteSession) -> Tag:
    """Create a tag; 409 when a tag of the same name (ignoring case) exists."""
    return await tags.create_tag(session.conn, session.actor, body)


@router.get("/tags")
async def list_tags(
    session: ReadSession,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: PageLimit = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[Tag]:
    return await tags.list_tags(
        session.conn,
        category=category,
        limit=limit,
        cursor=cursor,
        default_limit=session.settings.default_page_size,
        max_limit=session.settings.max_page_size,
    )


@router.get("/tags/{tag_id}")
async def get_tag(tag_id: int, session: ReadSession) -> Tag:
    return await tags.get_tag(session.conn, tag_id)


@router.patch("/tags/{tag_id}")
async def update_tag(tag_id: int, body: TagUpdate, session: WriteSession) -> Tag:
    return await tags.update_tag(session.conn, session.actor, tag_id, body)


@router.delete("/tags/{tag_id}")
async def delete_tag(
    tag_id: int, session: WriteSession, version: Annotated[int, Query(ge=1)]
) -> DeletedTag:
    """Delete the tag for good, detaching it from every asset it is on."""
    return await tags.delete_tag(session.conn, session.actor, tag_id, version)


@router.get("/assets/{asset_id}/tags")
async def list_asset_tags(asset_id: int, session: ReadSession) -> list[TagRef]:
    return await tags.asset_tags(session.conn, asset_id)


@router.post("/assets/{asset_id}/tags")
async def attach_tag_by_name(asset_id: int, body: TagByName, session: WriteSession) -> list[TagRef]:
    """Attach the named tag, creating it (with ``category``) if no tag has that name."""
    return await tags.attach_tag_by_name(session.conn, session.actor, asset_id, body)


@router.put("/assets/{asset_id}/tags/{tag_id}")
async def attach_tag(asset_id: int, tag_id: int, session: WriteSession) -> list[TagRef]:
    """Idempotent: returns the asset's tags whether or not the tag was already attached."""
    return await tags.attach_tag(session.conn, session.actor, asset_id, tag_id)


@router.delete("/assets/{asset_id}/tags/{tag_id}")
async def detach_tag(asset_id: int, tag_id: int, session: WriteSession) -> list[TagRef]:
    """Returns the asset's remaining tags; 404 when the tag is not attached."""
    return await tags.detach_tag(session.conn, session.actor, asset_id, tag_id)
