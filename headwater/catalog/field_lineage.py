"""Field lineage: column -> column edges, data flowing from the source field to the target field.

Like relationships, a (source, target) pair keeps one row: deleting sets ``deleted_at`` and
creating it again revives the same id one version later. An edge is hidden from every read while
either field's asset is soft-deleted, and goes away with a field that a schema replace removes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from headwater.catalog import db
from headwater.catalog.assets import Description
from headwater.catalog.base import EntityId, Outcome, StrictModel
from headwater.catalog.changes import Change, jsonb, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, Unprocessable, VersionConflict
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q

__all__ = [
    "FieldLineage",
    "FieldLineageCreate",
    "FieldLineageState",
    "LineageDirection",
    "Transformation",
    "create_field_lineage",
    "delete_field_lineage",
    "get_field_lineage",
    "lineage_state",
    "list_field_lineage",
]


class Transformation(StrEnum):
    """How the target column is derived from the source column."""

    IDENTITY = "IDENTITY"
    TRANSFORMATION = "TRANSFORMATION"
    AGGREGATION = "AGGREGATION"
    JOIN = "JOIN"
    GROUP_BY = "GROUP_BY"
    FILTER = "FILTER"
    SORT = "SORT"
    WINDOW = "WINDOW"
    CONDITIONAL = "CONDITIONAL"
    UNKNOWN = "UNKNOWN"


class LineageDirection(StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


class FieldLineageCreate(StrictModel):
    source_field_id: EntityId
    target_field_id: EntityId
    transformation: Transformation = Transformation.UNKNOWN
    description: Description = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("target_field_id")
    @classmethod
    def _not_a_self_loop(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("source_field_id") == value:
            raise ValueError("a field cannot be its own lineage source")
        return value


class FieldLineageState(BaseModel):
    """What the audit rows and the outbox events carry."""

    id: int
    source_field_id: int
    target_field_id: int
    transformation: Transformation
    description: str
    metadata: dict[str, Any]
    version: int
    deleted_at: datetime | None


class FieldLineage(FieldLineageState):
    source_asset_id: int
    target_asset_id: int
    created_by: int | None
    created_at: datetime
    updated_at: datetime


def lineage_state(edge: FieldLineageState) -> dict[str, Any]:
    return edge.model_dump(mode="json", include=set(FieldLineageState.model_fields))


async def _live_field(conn: Conn, end: str, field_id: int) -> int:
    """The asset id of a field whose asset is live; 404 naming the end otherwise."""
    row = await db.fetch_one(conn, Q["get_live_field"], {"id": field_id})
    if row is None:
        raise NotFound(f"{end} field {field_id} does not exist", end=end)
    return int(row["asset_id"])


async def create_field_lineage(
    conn: Conn, actor: Actor, data: FieldLineageCreate, *, upsert: bool = False
) -> FieldLineage:
    return (await write_field_lineage(conn, actor, data, upsert=upsert))[0]


async def write_field_lineage(
    conn: Conn, actor: Actor, data: FieldLineageCreate, *, upsert: bool = False
) -> tuple[FieldLineage, Outcome]:
    """Create the edge, or revive it when it was soft-deleted (same id, version + 1).

    A live edge between the same fields is a 409 naming its id, unless ``upsert``: then its
    transformation, description and metadata are replaced (a new version only if they differ).
    """
    assets = {
        "source_asset_id": await _live_field(conn, "source", data.source_field_id),
        "target_asset_id": await _live_field(conn, "target", data.target_field_id),
    }
    content = {
        "transformation": data.transformation.value,
        "description": data.description,
        "metadata": jsonb(data.metadata),
    }
    edge = {"source_field_id": data.source_field_id, "target_field_id": data.target_field_id}
    row = await db.fetch_one(
        conn, Q["insert_field_lineage"], {**edge, **content, "actor": actor.user_id}
    )
    if row is not None:
        created = FieldLineage.model_validate({**row, **assets})
        await record(
            conn,
            actor,
            Change(
                "field_lineage.create",
                "field_lineage",
                created.id,
                None,
                lineage_state(created),
                created.version,
                "field_lineage.upserted",
            ),
        )
        return created, Outcome.CREATED

    # The edge exists; lock it (a concurrent creator has committed by the time this returns).
    existing_row = await db.fetch_one(conn, Q["get_field_lineage_by_edge_for_update"], edge)
    if existing_row is None:
        raise Conflict("a concurrent write changed this field lineage edge: retry")
    existing = FieldLineage.model_validate({**existing_row, **assets})
    if existing.deleted_at is None:
        if not upsert:
            raise Conflict(
                f"field lineage {existing.id} already links field {data.source_field_id} "
                f"to field {data.target_field_id}",
                existing_id=existing.id,
            )
        same = (existing.transformation, existing.description, existing.metadata) == (
            data.transformation,
            data.description,
            data.metadata,
        )
        if same:
            return existing, Outcome.UNCHANGED
    updated = await db.fetch_one(conn, Q["set_field_lineage_live"], {"id": existing.id, **content})
    assert updated is not None  # the row is locked by this transaction
    after = FieldLineage.model_validate({**updated, **assets})
    action = "field_lineage.update" if existing.deleted_at is None else "field_lineage.create"
    await record(
        conn,
        actor,
        Change(
            action,
            "field_lineage",
            after.id,
            lineage_state(existing),
            lineage_state(after),
            after.version,
            "field_lineage.upserted",
        ),
    )
    return after, Outcome.UPDATED if existing.deleted_at is None else Outcome.CREATED


async def get_field_lineage(conn: Conn, lineage_id: int) -> FieldLineage:
    row = await db.fetch_one(conn, Q["get_field_lineage"], {"id": lineage_id})
    if row is None:
        raise NotFound(f"field lineage {lineage_id} does not exist")
    return FieldLineage.model_validate(row)


async def delete_field_lineage(
    conn: Conn, actor: Actor, lineage_id: int, version: int
) -> FieldLineage:
    row = await db.fetch_one(conn, Q["get_field_lineage_for_update"], {"id": lineage_id})
    if row is None:
        raise NotFound(f"field lineage {lineage_id} does not exist")
    before = FieldLineage.model_validate(row)
    if before.version != version:
        raise VersionConflict("field lineage", lineage_id, version, before.version)
    deleted = await db.fetch_one(conn, Q["soft_delete_field_lineage"], {"id": lineage_id})
    assert deleted is not None  # the row is locked by this transaction
    after = FieldLineage.model_validate(
        {
            **deleted,
            "source_asset_id": before.source_asset_id,
            "target_asset_id": before.target_asset_id,
        }
    )
    await record(
        conn,
        actor,
        Change(
            "field_lineage.delete",
            "field_lineage",
            after.id,
            lineage_state(before),
            lineage_state(after),
            after.version,
            "field_lineage.deleted",
        ),
    )
    return after


async def list_field_lineage(
    conn: Conn,
    *,
    field_id: int | None = None,
    asset_id: int | None = None,
    direction: LineageDirection | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    default_limit: int = 50,
    max_limit: int = 500,
) -> Page[FieldLineage]:
    """Live, visible edges; ``direction`` is relative to ``field_id`` / ``asset_id`` (default
    both): upstream edges flow into them, downstream edges flow out of them."""
    if direction is not None and field_id is None and asset_id is None:
        raise Unprocessable(
            "direction needs field_id or asset_id: it says which of their edges to list",
            errors=[{"loc": ["query", "direction"], "msg": "requires field_id or asset_id"}],
        )
    size, capped = clamp_limit(limit, default_limit, max_limit)
    way = direction or LineageDirection.BOTH
    rows = await db.fetch_all(
        conn,
        Q["list_field_lineage"],
        {
            "field_id": field_id,
            "asset_id": asset_id,
            "upstream": way != LineageDirection.DOWNSTREAM,
            "downstream": way != LineageDirection.UPSTREAM,
            "after_id": decode_cursor(cursor),
            "limit": size + 1,
        },
    )
    return page_of([FieldLineage.model_validate(r) for r in rows], size, capped, lambda e: e.id)
