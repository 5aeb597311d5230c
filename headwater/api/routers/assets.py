"""Assets: create, read (by id or qualified name), list, update, soft delete, restore."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from headwater.api.deps import PageLimit, ReadSession, WriteSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import assets
from headwater.catalog.assets import Asset, AssetCreate, AssetType, AssetUpdate
from headwater.catalog.base import VersionRef
from headwater.catalog.paging import Page

router = APIRouter(prefix="/assets", tags=["assets"], route_class=StrictJSONRoute)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_asset(body: AssetCreate, session: WriteSession) -> Asset:
    return await assets.create_asset(session.conn, session.actor, body)


@router.get("")
async def list_assets(
    session: ReadSession,
    type: AssetType | None = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[str | None, Query(max_length=320)] = None,
    name_prefix: Annotated[str | None, Query(max_length=1000)] = None,
    include_deleted: bool = False,
    limit: PageLimit = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[Asset]:
    return await assets.list_assets(
        session.conn,
        type=type,
        tag=tag,
        owner=owner,
        name_prefix=name_prefix,
        include_deleted=include_deleted,
        limit=limit,
        cursor=cursor,
        default_limit=session.settings.default_page_size,
        max_limit=session.settings.max_page_size,
    )


@router.get("/lookup")
async def get_asset_by_qualified_name(
    session: ReadSession, qualified_name: Annotated[str, Query(min_length=1, max_length=2000)]
) -> Asset:
    asset_id = await assets.resolve_qualified_name(session.conn, qualified_name)
    return await assets.get_asset(session.conn, asset_id)


@router.get("/{asset_id}")
async def get_asset(asset_id: int, session: ReadSession, include_deleted: bool = False) -> Asset:
    return await assets.get_asset(session.conn, asset_id, include_deleted=include_deleted)


@router.patch("/{asset_id}")
async def update_asset(asset_id: int, body: AssetUpdate, session: WriteSession) -> Asset:
    return await assets.update_asset(session.conn, session.actor, asset_id, body)


@router.delete("/{asset_id}")
async def delete_asset(
    asset_id: int, session: WriteSession, version: Annotated[int, Query(ge=1)]
) -> Asset:
    return await assets.delete_asset(session.conn, session.actor, asset_id, version)


@router.post("/{asset_id}/restore")
async def restore_asset(asset_id: int, body: VersionRef, session: WriteSession) -> Asset:
    return await assets.restore_asset(session.conn, session.actor, asset_id, body.version)
