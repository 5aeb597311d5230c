"""Hydration of graph answers from Postgres, the authority: the mirrors may lag, never lead."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel

from headwater.catalog import db
from headwater.catalog.assets import TagRef
from headwater.catalog.db import Conn
from headwater.catalog.errors import NotFound
from headwater.catalog.queries import Q


class AssetSummary(BaseModel):
    id: int
    type: str
    name: str
    qualified_name: str
    description: str
    owners: list[str]
    tags: list[TagRef]
    metadata: dict[str, Any]


class FieldSummary(BaseModel):
    id: int
    name: str
    data_type: str
    description: str
    asset_id: int


async def assets_by_id(conn: Conn, ids: Collection[int]) -> dict[int, AssetSummary]:
    """The live assets among ``ids`` visible to this transaction's tenant."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["hydrate_assets"], {"ids": list(ids)})
    return {int(r["id"]): AssetSummary.model_validate(r) for r in rows}


async def fields_by_id(conn: Conn, ids: Collection[int]) -> dict[int, FieldSummary]:
    """The fields among ``ids`` whose asset is live and visible to this transaction's tenant."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["hydrate_fields"], {"ids": list(ids)})
    return {int(r["id"]): FieldSummary.model_validate(r) for r in rows}


async def live_field(conn: Conn, field_id: int) -> int:
    """The asset id of a live field, or 404."""
    row = await db.fetch_one(conn, Q["get_live_field"], {"id": field_id})
    if row is None:
        raise NotFound(f"field {field_id} does not exist")
    return int(row["asset_id"])
