"""Relationships: typed, directed edges between assets, soft-deleted and revived in place.

A (source, target, type) triple keeps one row for ever: deleting sets ``deleted_at`` and creating
it again revives the same id one version later, so the mirrors can order deliveries by version.
An edge whose source or target asset is soft-deleted is hidden from every read, not changed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from headwater.catalog import db
from headwater.catalog.assets import QualifiedName
from headwater.catalog.base import EntityId, Outcome, StrictModel
from headwater.catalog.changes import Change, jsonb, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, Unprocessable, VersionConflict
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q

__all__ = [
    "Relationship",
    "RelationshipCreate",
    "RelationshipDirection",
    "RelationshipType",
    "RelationshipUpdate",
    "create_relationship",
    "delete_relationship",
    "get_relationship",
    "list_relationships",
    "update_relationship",
    "write_relationship",
]


class RelationshipType(StrEnum):
    """Lineage types say which way data flows; structural types carry no flow.

    PRODUCES (job -> table): data flows source -> target. USES and DEPENDS_ON
    (consumer -> source): data flows target -> source. CONTAINS and RELATED_TO: structure.
    """

    PRODUCES = "PRODUCES"
    USES = "USES"
    DEPENDS_ON = "DEPENDS_ON"
    CONTAINS = "CONTAINS"
    RELATED_TO = "RELATED_TO"


class RelationshipDirection(StrEnum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"
    BOTH = "both"


class RelationshipCreate(StrictModel):
    """Each end is named by exactly one of its id or its qualified name."""

    source_id: EntityId | None = None
    source_qualified_name: QualifiedName | None = Field(default=None, validate_default=True)
    target_id: EntityId | None = None
    target_qualified_name: QualifiedName | None = Field(default=None, validate_default=True)
    type: RelationshipType
    metadata: dict[str, Any] = Field(default_factory=dict)

    # Declared after the id fields, so ``info.data`` already holds the end's id when this runs.
    @field_validator("source_qualified_name", "target_qualified_name")
    @classmethod
    def _exactly_one_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        end = "source" if info.field_name == "source_qualified_name" else "target"
        if f"{end}_id" not in info.data:
            return value  # the id was invalid and is reported on its own
        if (info.data[f"{end}_id"] is None) == (value is None):
            raise ValueError(f"give exactly one of {end}_id or {end}_qualified_name")
        if end == "target" and "source_id" in info.data:
            same_id = value is None and info.data["target_id"] == info.data["source_id"]
            same_name = value is not None and value == info.data.get("source_qualified_name")
            if same_id or same_name:
                raise ValueError("a relationship cannot link an asset to itself")
        return value


class RelationshipUpdate(StrictModel):
    version: int = Field(ge=1, strict=True)
    metadata: dict[str, Any] | None = None


class Relationship(BaseModel):
    id: int
    source_id: int
    target_id: int
    type: RelationshipType
    metadata: dict[str, Any]
    version: int
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


# The audit before/after and the outbox payload (the contract the sync worker consumes).
_STATE_KEYS = {"id", "source_id", "target_id", "type", "metadata", "version", "deleted_at"}


def _state(relationship: Relationship) -> dict[str, Any]:
    return relationship.model_dump(mode="json", include=_STATE_KEYS)


async def _live_end(conn: Conn, end: str, asset_id: int | None, qualified_name: str | None) -> int:
    if asset_id is not None:
        row = await db.fetch_one(conn, Q["get_live_asset_id"], {"id": asset_id})
        if row is None:
            raise NotFound(f"{end} asset {asset_id} does not exist", end=end)
        return asset_id
    row = await db.fetch_one(
        conn, Q["get_asset_id_by_qualified_name"], {"qualified_name": qualified_name}
    )
    if row is None:
        raise NotFound(f"{end} asset {qualified_name!r} does not exist", end=end)
    return int(row["id"])


async def create_relationship(
    conn: Conn, actor: Actor, data: RelationshipCreate, *, upsert: bool = False
) -> Relationship:
    return (await write_relationship(conn, actor, data, upsert=upsert))[0]


async def write_relationship(
    conn: Conn, actor: Actor, data: RelationshipCreate, *, upsert: bool = False
) -> tuple[Relationship, Outcome]:
    """Create the edge, or revive it when it was soft-deleted (same id, version + 1).

    A live edge with the same (source, target, type) is a 409 naming its id, unless ``upsert``:
    then its metadata is replaced (a new version only when the metadata differs).
    """
    source_id = await _live_end(conn, "source", data.source_id, data.source_qualified_name)
    target_id = await _live_end(conn, "target", data.target_id, data.target_qualified_name)
    if source_id == target_id:
        raise Unprocessable(f"a relationship cannot link asset {source_id} to itself")
    edge = {"source_id": source_id, "target_id": target_id, "type": data.type.value}
    row = await db.fetch_one(
        conn,
        Q["insert_relationship"],
        {**edge, "metadata": jsonb(data.metadata), "actor": actor.user_id},
    )
    if row is not None:
        created = Relationship.model_validate(row)
        await record(
            conn,
            actor,
            Change(
                "relationship.create",
                "relationship",
                created.id,
                None,
                _state(created),
                created.version,
                "relationship.upserted",
            ),
        )
        return created, Outcome.CREATED

    # The edge exists; lock it (a concurrent creator has committed by the time this returns).
    existing_row = await db.fetch_one(conn, Q["get_relationship_by_edge_for_update"], edge)
    if existing_row is None:
        raise Conflict("a concurrent write changed this relationship: retry")
    existing = Relationship.model_validate(existing_row)
    if existing.deleted_at is None:
        if not upsert:
            raise Conflict(
                f"relationship {existing.id} already links asset {source_id} to asset "
                f"{target_id} as {data.type.value}",
                existing_id=existing.id,
            )
        if existing.metadata == data.metadata:
            return existing, Outcome.UNCHANGED
    revived = await _set_live(conn, actor, existing, data.metadata)
    return revived, Outcome.UPDATED if existing.deleted_at is None else Outcome.CREATED


async def _set_live(
    conn: Conn, actor: Actor, before: Relationship, metadata: dict[str, Any]
) -> Relationship:
    row = await db.fetch_one(
        conn, Q["set_relationship_live"], {"id": before.id, "metadata": jsonb(metadata)}
    )
    after = Relationship.model_validate(row)
    action = "relationship.update" if before.deleted_at is None else "relationship.create"
    await record(
        conn,
        actor,
        Change(
            action,
            "relationship",
            after.id,
            _state(before),
            _state(after),
            after.version,
            "relationship.upserted",
        ),
    )
    return after


async def get_relationship(conn: Conn, relationship_id: int) -> Relationship:
    row = await db.fetch_one(conn, Q["get_relationship"], {"id": relationship_id})
    if row is None:
        raise NotFound(f"relationship {relationship_id} does not exist")
    return Relationship.model_validate(row)


async def _lock(conn: Conn, relationship_id: int, version: int) -> Relationship:
    row = await db.fetch_one(conn, Q["get_relationship_for_update"], {"id": relationship_id})
    if row is None:
        raise NotFound(f"relationship {relationship_id} does not exist")
    current = Relationship.model_validate(row)
    if current.version != version:
        raise VersionConflict("relationship", relationship_id, version, current.version)
    return current


async def update_relationship(
    conn: Conn, actor: Actor, relationship_id: int, data: RelationshipUpdate
) -> Relationship:
    """Replace the metadata; an update that changes nothing writes nothing."""
    before = await _lock(conn, relationship_id, data.version)
    if data.metadata is None or data.metadata == before.metadata:
        return before
    return await _set_live(conn, actor, before, data.metadata)


async def delete_relationship(
    conn: Conn, actor: Actor, relationship_id: int, version: int
) -> Relationship:
    before = await _lock(conn, relationship_id, version)
    row = await db.fetch_one(conn, Q["soft_delete_relationship"], {"id": relationship_id})
    after = Relationship.model_validate(row)
    await record(
        conn,
        actor,
        Change(
            "relationship.delete",
            "relationship",
            after.id,
            _state(before),
            _state(after),
            after.version,
            "relationship.deleted",
        ),
    )
    return after


async def list_relationships(
    conn: Conn,
    *,
    asset_id: int | None = None,
    direction: RelationshipDirection | None = None,
    type: RelationshipType | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    default_limit: int = 50,
    max_limit: int = 500,
) -> Page[Relationship]:
    """Live edges with both ends live; ``direction`` is relative to ``asset_id`` (default both)."""
    if direction is not None and asset_id is None:
        raise Unprocessable(
            "direction needs asset_id: it says which edges of that asset to list",
            errors=[{"loc": ["query", "direction"], "msg": "requires asset_id"}],
        )
    size, capped = clamp_limit(limit, default_limit, max_limit)
    way = direction or RelationshipDirection.BOTH
    rows = await db.fetch_all(
        conn,
        Q["list_relationships"],
        {
            "asset_id": asset_id,
            "outgoing": way != RelationshipDirection.INCOMING,
            "incoming": way != RelationshipDirection.OUTGOING,
            "type": None if type is None else type.value,
            "after_id": decode_cursor(cursor),
            "limit": size + 1,
        },
    )
    return page_of([Relationship.model_validate(r) for r in rows], size, capped, lambda r: r.id)
