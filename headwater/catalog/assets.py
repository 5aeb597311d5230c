"""Assets: the catalog's nodes (tables, views, jobs, dashboards...), versioned and soft-deleted."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from headwater.catalog import db
from headwater.catalog.base import Outcome, StrictModel, TrimNonBlank
from headwater.catalog.changes import Change, jsonb, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, VersionConflict
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q


class AssetType(StrEnum):
    TABLE = "table"
    VIEW = "view"
    DATASET = "dataset"
    FILE = "file"
    TOPIC = "topic"
    JOB = "job"
    PIPELINE = "pipeline"
    DASHBOARD = "dashboard"
    CHART = "chart"
    REPORT = "report"
    NOTEBOOK = "notebook"
    APPLICATION = "application"
    ML_MODEL = "ml_model"
    METRIC = "metric"
    SEMANTIC_MODEL = "semantic_model"


Name = Annotated[str, StringConstraints(min_length=1, max_length=1000), TrimNonBlank]
QualifiedName = Annotated[str, StringConstraints(min_length=1, max_length=2000), TrimNonBlank]
Description = Annotated[str, StringConstraints(max_length=100_000)]
Owner = Annotated[str, StringConstraints(min_length=1, max_length=320), TrimNonBlank]


class AssetCreate(StrictModel):
    type: AssetType
    name: Name
    qualified_name: QualifiedName
    description: Description = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    owners: list[Owner] = Field(default_factory=list, max_length=100)


class AssetUpdate(StrictModel):
    """Fields left out keep their value; ``version`` must be the asset's current version."""

    version: int = Field(ge=1, strict=True)
    name: Name | None = None
    qualified_name: QualifiedName | None = None
    description: Description | None = None
    metadata: dict[str, Any] | None = None
    owners: list[Owner] | None = Field(default=None, max_length=100)


class TagRef(BaseModel):
    id: int
    name: str
    category: str | None


class Asset(BaseModel):
    id: int
    type: str
    name: str
    qualified_name: str
    description: str
    metadata: dict[str, Any]
    owners: list[str]
    tags: list[TagRef]
    version: int
    created_by: int | None
    updated_by: int | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


def _state(asset: Asset) -> dict[str, Any]:
    return asset.model_dump(mode="json")


async def get_asset(conn: Conn, asset_id: int, *, include_deleted: bool = False) -> Asset:
    row = await db.fetch_one(
        conn, Q["get_asset"], {"id": asset_id, "include_deleted": include_deleted}
    )
    if row is None:
        raise NotFound(f"asset {asset_id} does not exist")
    return Asset.model_validate(row)


async def resolve_qualified_name(conn: Conn, qualified_name: str) -> int:
    row = await db.fetch_one(
        conn, Q["get_asset_id_by_qualified_name"], {"qualified_name": qualified_name}
    )
    if row is None:
        raise NotFound(f"no asset has qualified_name {qualified_name!r}")
    return int(row["id"])


async def lock_asset(conn: Conn, asset_id: int, expected_version: int | None) -> Asset:
    """Lock the row, then check the version: concurrent writers queue here and all but one lose."""
    row = await db.fetch_one(conn, Q["get_asset_for_update"], {"id": asset_id})
    if row is None:
        raise NotFound(f"asset {asset_id} does not exist")
    asset = Asset.model_validate(row)
    if expected_version is not None and asset.version != expected_version:
        raise VersionConflict("asset", asset_id, expected_version, asset.version)
    return asset


async def _ensure_name_free(conn: Conn, qualified_name: str, own_id: int | None) -> None:
    row = await db.fetch_one(
        conn, Q["get_asset_id_by_qualified_name"], {"qualified_name": qualified_name}
    )
    if row is not None and row["id"] != own_id:
        raise Conflict(
            f"asset {row['id']} already has qualified_name {qualified_name!r}",
            existing_id=row["id"],
        )


async def create_asset(conn: Conn, actor: Actor, data: AssetCreate) -> Asset:
    await _ensure_name_free(conn, data.qualified_name, None)
    row = await db.fetch_one(
        conn,
        Q["insert_asset"],
        {
            "type": data.type.value,
            "name": data.name,
            "qualified_name": data.qualified_name,
            "description": data.description,
            "metadata": jsonb(data.metadata),
            "owners": data.owners,
            "actor": actor.user_id,
        },
    )
    assert row is not None
    created = await get_asset(conn, int(row["id"]))
    await record(
        conn,
        actor,
        Change("asset.create", "asset", created.id, None, _state(created), 1, "asset.upserted"),
    )
    return created


async def upsert_asset(conn: Conn, actor: Actor, data: AssetCreate) -> tuple[Asset, Outcome]:
    """Create the asset, or bring the live one with this qualified name to ``data``."""
    row = await db.fetch_one(
        conn, Q["get_asset_id_by_qualified_name"], {"qualified_name": data.qualified_name}
    )
    if row is None:
        return await create_asset(conn, actor, data), Outcome.CREATED
    current = await lock_asset(conn, int(row["id"]), None)
    if current.type != data.type.value:
        raise Conflict(
            f"asset {current.id} ({data.qualified_name!r}) is a {current.type}, not a "
            f"{data.type.value}: an asset's type cannot change",
            existing_id=current.id,
        )
    wanted = data.model_dump(exclude={"type", "qualified_name"})
    if wanted == current.model_dump(include=set(wanted)):
        return current, Outcome.UNCHANGED
    update = AssetUpdate(version=current.version, **wanted)
    return await update_asset(conn, actor, current.id, update), Outcome.UPDATED


async def update_asset(conn: Conn, actor: Actor, asset_id: int, data: AssetUpdate) -> Asset:
    before = await lock_asset(conn, asset_id, data.version)
    if before.deleted_at is not None:
        raise NotFound(f"asset {asset_id} does not exist")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    merged = {**before.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
    if merged["qualified_name"] != before.qualified_name:
        await _ensure_name_free(conn, merged["qualified_name"], asset_id)
    await conn.execute(
        Q["update_asset"],
        {
            "id": asset_id,
            "name": merged["name"],
            "qualified_name": merged["qualified_name"],
            "description": merged["description"],
            "metadata": jsonb(merged["metadata"]),
            "owners": merged["owners"],
            "actor": actor.user_id,
        },
    )
    after = await get_asset(conn, asset_id)
    await record(
        conn,
        actor,
        Change(
            "asset.update",
            "asset",
            asset_id,
            _state(before),
            _state(after),
            after.version,
            "asset.upserted",
        ),
    )
    return after


async def delete_asset(conn: Conn, actor: Actor, asset_id: int, version: int) -> Asset:
    """Soft delete: the asset and its relationships, fields and lineage disappear from reads."""
    before = await lock_asset(conn, asset_id, None)
    if before.deleted_at is not None:
        raise NotFound(f"asset {asset_id} does not exist")
    if before.version != version:
        raise VersionConflict("asset", asset_id, version, before.version)
    return await _set_deleted(conn, actor, before, deleted=True)


async def restore_asset(conn: Conn, actor: Actor, asset_id: int, version: int) -> Asset:
    before = await lock_asset(conn, asset_id, None)
    if before.deleted_at is None:
        raise Conflict(f"asset {asset_id} is not deleted")
    if before.version != version:
        raise VersionConflict("asset", asset_id, version, before.version)
    await _ensure_name_free(conn, before.qualified_name, asset_id)
    return await _set_deleted(conn, actor, before, deleted=False)


async def _set_deleted(conn: Conn, actor: Actor, before: Asset, *, deleted: bool) -> Asset:
    await conn.execute(
        Q["set_asset_deleted"], {"id": before.id, "deleted": deleted, "actor": actor.user_id}
    )
    after = await get_asset(conn, before.id, include_deleted=True)
    action, event = ("delete", "deleted") if deleted else ("restore", "restored")
    await record(
        conn,
        actor,
        Change(
            f"asset.{action}",
            "asset",
            before.id,
            _state(before),
            _state(after),
            after.version,
            f"asset.{event}",
        ),
    )
    return after


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_assets(
    conn: Conn,
    *,
    type: AssetType | None = None,
    tag: str | None = None,
    owner: str | None = None,
    name_prefix: str | None = None,
    include_deleted: bool = False,
    limit: int | None = None,
    cursor: str | None = None,
    default_limit: int = 50,
    max_limit: int = 500,
) -> Page[Asset]:
    size, capped = clamp_limit(limit, default_limit, max_limit)
    rows = await db.fetch_all(
        conn,
        Q["list_assets"],
        {
            "type": None if type is None else type.value,
            "tag": tag,
            "owner": owner,
            "name_prefix": None if name_prefix is None else _like_prefix(name_prefix),
            "include_deleted": include_deleted,
            "after_id": decode_cursor(cursor),
            "limit": size + 1,
        },
    )
    return page_of([Asset.model_validate(r) for r in rows], size, capped, lambda a: a.id)
