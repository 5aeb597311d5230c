"""Schema fields: the ordered columns of an asset, replaced as a whole or patched one at a time.

A field keeps its id while its name stays, so the field lineage attached to it survives a schema
replace; a field that disappears from the schema is deleted together with its lineage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from headwater.catalog import db
from headwater.catalog.assets import Asset, Description, get_asset, lock_asset
from headwater.catalog.base import StrictModel, Trim, TrimNonBlank
from headwater.catalog.changes import Change, jsonb, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, Unprocessable, VersionConflict
from headwater.catalog.field_lineage import FieldLineageState, lineage_state
from headwater.catalog.queries import Q

__all__ = [
    "MAX_FIELDS",
    "AssetFields",
    "FieldSpec",
    "FieldUpdate",
    "FieldsReplace",
    "SchemaField",
    "check_unique_names",
    "list_fields",
    "replace_fields",
    "update_field",
]

# Wide tables exist (a few thousand columns); beyond this the request is refused, not truncated.
MAX_FIELDS = 10_000

FieldName = Annotated[str, StringConstraints(min_length=1, max_length=1000), TrimNonBlank]
DataType = Annotated[str, StringConstraints(max_length=1000), Trim]


class FieldSpec(StrictModel):
    """One column as a client declares it; its position in the list is its ordinal."""

    name: FieldName
    data_type: DataType = ""
    nullable: bool = Field(default=True, strict=True)
    description: Description = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class FieldsReplace(StrictModel):
    """The asset's whole schema; ``version`` is the asset's current version."""

    version: int = Field(ge=1, strict=True)
    fields: list[FieldSpec] = Field(max_length=MAX_FIELDS)


class FieldUpdate(StrictModel):
    """Fields left out keep their value; ``version`` is the field's current version."""

    version: int = Field(ge=1, strict=True)
    name: FieldName | None = None
    data_type: DataType | None = None
    nullable: bool | None = Field(default=None, strict=True)
    description: Description | None = None
    metadata: dict[str, Any] | None = None


class SchemaField(BaseModel):
    id: int
    asset_id: int
    name: str
    data_type: str
    nullable: bool
    description: str
    metadata: dict[str, Any]
    ordinal: int
    version: int
    created_at: datetime
    updated_at: datetime


class AssetFields(BaseModel):
    """An asset's schema, with the asset version a replace must name."""

    asset_id: int
    asset_version: int
    fields: list[SchemaField]


# What the audit rows and the outbox events carry (the contract's keys, plus the metadata so an
# audit row shows every change).
_STATE_KEYS = {
    "id", "asset_id", "name", "data_type", "nullable", "description", "metadata", "ordinal",
    "version",
}  # fmt: skip
# What a client can set; two fields with equal content need no write.
_CONTENT_KEYS = ("name", "data_type", "nullable", "description", "metadata", "ordinal")


def _state(field: SchemaField) -> dict[str, Any]:
    return field.model_dump(mode="json", include=_STATE_KEYS)


def _content(field: SchemaField) -> dict[str, Any]:
    return {key: getattr(field, key) for key in _CONTENT_KEYS}


def _asset_state(asset: Asset) -> dict[str, Any]:
    return asset.model_dump(mode="json")


def check_unique_names(fields: Sequence[FieldSpec], loc: Sequence[str | int]) -> None:
    """422 naming every repeated name's path (``loc`` is the path of the list)."""
    first: dict[str, int] = {}
    errors = []
    for index, spec in enumerate(fields):
        if spec.name in first:
            errors.append(
                {
                    "loc": [*loc, index, "name"],
                    "msg": f"duplicate field name {spec.name!r} (also at index {first[spec.name]})",
                    "type": "value_error",
                }
            )
        else:
            first[spec.name] = index
    if errors:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
        raise Unprocessable(f"field names must be unique within an asset: {where}", errors=errors)


async def list_fields(conn: Conn, asset_id: int) -> AssetFields:
    asset = await get_asset(conn, asset_id)
    rows = await db.fetch_all(conn, Q["list_schema_fields"], {"asset_id": asset_id})
    return AssetFields(
        asset_id=asset_id,
        asset_version=asset.version,
        fields=[SchemaField.model_validate(r) for r in rows],
    )


async def replace_fields(
    conn: Conn,
    actor: Actor,
    asset_id: int,
    version: int,
    fields: Sequence[FieldSpec],
    *,
    loc: Sequence[str | int] = ("body", "fields"),
) -> AssetFields:
    """Make ``fields`` the asset's schema, in that order, in a few set-based statements.

    Fields matched by name keep their id (and lineage) and get a new version only if something
    about them changed; new names are inserted; missing names are deleted with their lineage.
    A replace that changes anything bumps the asset's version; one that changes nothing writes
    nothing. ``loc`` is where ``fields`` sits in the request, for the paths of 422 errors.
    """
    check_unique_names(fields, loc)
    asset = await lock_asset(conn, asset_id, None)
    if asset.deleted_at is not None:
        raise NotFound(f"asset {asset_id} does not exist")
    if asset.version != version:
        raise VersionConflict("asset", asset_id, version, asset.version)

    current = [
        SchemaField.model_validate(r)
        for r in await db.fetch_all(conn, Q["lock_schema_fields"], {"asset_id": asset_id})
    ]
    by_name = {f.name: f for f in current}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for ordinal, spec in enumerate(fields):
        wanted = {**spec.model_dump(), "ordinal": ordinal}
        old = by_name.get(spec.name)
        if old is None:
            inserts.append(wanted)
        elif _content(old) != wanted:
            updates.append({**wanted, "id": old.id})
    kept = {spec.name for spec in fields}
    removed = [f for f in current if f.name not in kept]
    if not (inserts or updates or removed):
        return AssetFields(asset_id=asset_id, asset_version=asset.version, fields=current)

    changes: list[Change] = []
    if removed:
        changes += await _delete_fields(conn, removed)
    if updates:
        before = {f.id: f for f in current}
        rows = await db.fetch_all(conn, Q["update_schema_fields"], {"rows": jsonb(updates)})
        for row in sorted(rows, key=lambda r: int(r["ordinal"])):
            after = SchemaField.model_validate(row)
            changes.append(
                Change(
                    "schema_field.update",
                    "schema_field",
                    after.id,
                    _state(before[after.id]),
                    _state(after),
                    after.version,
                    "schema_field.upserted",
                )
            )
    if inserts:
        rows = await db.fetch_all(
            conn, Q["insert_schema_fields"], {"asset_id": asset_id, "rows": jsonb(inserts)}
        )
        for row in sorted(rows, key=lambda r: int(r["ordinal"])):
            created = SchemaField.model_validate(row)
            changes.append(
                Change(
                    "schema_field.create",
                    "schema_field",
                    created.id,
                    None,
                    _state(created),
                    created.version,
                    "schema_field.upserted",
                )
            )

    # The schema is part of the asset: its version moves, so a client holding the old one
    # cannot overwrite this schema unseen.
    await conn.execute(Q["bump_asset_version"], {"id": asset_id, "actor": actor.user_id})
    asset_after = await get_asset(conn, asset_id)
    changes.append(
        Change(
            "asset.replace_fields",
            "asset",
            asset_id,
            _asset_state(asset),
            _asset_state(asset_after),
            asset_after.version,
            "asset.upserted",
        )
    )
    await record(conn, actor, *changes)
    rows = await db.fetch_all(conn, Q["list_schema_fields"], {"asset_id": asset_id})
    return AssetFields(
        asset_id=asset_id,
        asset_version=asset_after.version,
        fields=[SchemaField.model_validate(r) for r in rows],
    )


async def delete_field_rows(conn: Conn, ids: list[int]) -> list[Change]:
    """Hard-delete the fields ``ids`` and the live lineage through them; the lineage changes to
    record, each event carrying a tombstone one version past the edge's last."""
    edges = await db.fetch_all(conn, Q["lock_live_lineage_of_fields"], {"ids": ids})
    await conn.execute(Q["delete_schema_fields"], {"ids": ids})
    changes: list[Change] = []
    for row in edges:
        edge = FieldLineageState.model_validate(row)
        tombstone = edge.model_copy(
            update={"version": edge.version + 1, "deleted_at": row["removed_at"]}
        )
        changes.append(
            Change(
                "field_lineage.delete",
                "field_lineage",
                edge.id,
                lineage_state(edge),
                None,
                tombstone.version,
                "field_lineage.deleted",
                payload=lineage_state(tombstone),
            )
        )
    return changes


async def _delete_fields(conn: Conn, removed: list[SchemaField]) -> list[Change]:
    """Delete fields and their lineage; the changes to record, lineage edges first.

    Both are hard deletes, so their events carry a tombstone one version past the last one.
    """
    changes = await delete_field_rows(conn, [f.id for f in removed])
    for field in removed:
        state = _state(field)
        changes.append(
            Change(
                "schema_field.delete",
                "schema_field",
                field.id,
                state,
                None,
                field.version + 1,
                "schema_field.deleted",
                payload={**state, "version": field.version + 1},
            )
        )
    return changes


async def update_field(
    conn: Conn, actor: Actor, asset_id: int, field_id: int, data: FieldUpdate
) -> SchemaField:
    """Patch one field; renaming onto a name the asset already has is a 409."""
    row = await db.fetch_one(
        conn, Q["get_schema_field_for_update"], {"id": field_id, "asset_id": asset_id}
    )
    if row is None:
        raise NotFound(f"field {field_id} of asset {asset_id} does not exist")
    before = SchemaField.model_validate(row)
    if before.version != data.version:
        raise VersionConflict("field", field_id, data.version, before.version)
    given = data.model_dump(exclude_unset=True, exclude={"version"})
    merged = {**_content(before), **{k: v for k, v in given.items() if v is not None}}
    if merged == _content(before):
        return before
    if merged["name"] != before.name:
        taken = await db.fetch_one(
            conn, Q["get_schema_field_id_by_name"], {"asset_id": asset_id, "name": merged["name"]}
        )
        if taken is not None:
            raise Conflict(
                f"asset {asset_id} already has a field named {merged['name']!r}",
                existing_id=taken["id"],
            )
    updated = await db.fetch_one(
        conn, Q["update_schema_fields"], {"rows": jsonb([{**merged, "id": field_id}])}
    )
    after = SchemaField.model_validate(updated)
    await record(
        conn,
        actor,
        Change(
            "schema_field.update",
            "schema_field",
            field_id,
            _state(before),
            _state(after),
            after.version,
            "schema_field.upserted",
        ),
    )
    return after
