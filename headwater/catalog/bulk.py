"""Bulk upsert: assets, schema fields, relationships and field lineage in one transaction.

Everything is addressed by natural keys (qualified names, field names), so a producer can send
what it knows without first looking up ids. Items apply in dependency order (assets, fields,
relationships, field lineage); the first bad item aborts the whole transaction and the error
names its path, e.g. ``body.relationships.3``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from headwater.catalog import db
from headwater.catalog.assets import (
    AssetCreate,
    Description,
    QualifiedName,
    lock_asset,
    resolve_qualified_name,
    upsert_asset,
)
from headwater.catalog.base import Outcome, StrictModel
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import HeadwaterError, Unprocessable
from headwater.catalog.field_lineage import FieldLineageCreate, Transformation, write_field_lineage
from headwater.catalog.fields import FieldSpec, replace_fields
from headwater.catalog.queries import Q
from headwater.catalog.relationships import RelationshipCreate, RelationshipType, write_relationship

FieldName = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class BulkFields(StrictModel):
    """The complete, ordered column list of one asset (replaces what the catalog holds)."""

    asset_qualified_name: QualifiedName
    fields: list[FieldSpec] = Field(max_length=10_000)


class BulkRelationship(StrictModel):
    source_qualified_name: QualifiedName
    target_qualified_name: QualifiedName
    type: RelationshipType
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_a_self_link(self) -> BulkRelationship:
        if self.source_qualified_name == self.target_qualified_name:
            raise ValueError("a relationship cannot link an asset to itself")
        return self


class FieldAddress(StrictModel):
    asset_qualified_name: QualifiedName
    field: FieldName


class BulkFieldLineage(StrictModel):
    source: FieldAddress
    target: FieldAddress
    transformation: Transformation = Transformation.UNKNOWN
    description: Description = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_a_self_loop(self) -> BulkFieldLineage:
        if self.source == self.target:
            raise ValueError("a field cannot be its own lineage source")
        return self


class BulkRequest(StrictModel):
    assets: list[AssetCreate] = Field(default_factory=list)
    fields: list[BulkFields] = Field(default_factory=list)
    relationships: list[BulkRelationship] = Field(default_factory=list)
    field_lineage: list[BulkFieldLineage] = Field(default_factory=list)

    def item_count(self) -> int:
        return (
            len(self.assets)
            + sum(1 + len(f.fields) for f in self.fields)
            + len(self.relationships)
            + len(self.field_lineage)
        )


class Counts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class BulkResult(BaseModel):
    assets: Counts
    fields: Counts
    relationships: Counts
    field_lineage: Counts


def _counts(outcomes: Sequence[Outcome]) -> Counts:
    tally = Counter(outcomes)
    return Counts(
        created=tally[Outcome.CREATED],
        updated=tally[Outcome.UPDATED],
        unchanged=tally[Outcome.UNCHANGED],
    )


@contextmanager
def _item(kind: str, index: int) -> Iterator[None]:
    """Report a failing item by its path; within a bulk, a missing reference is bad input."""
    try:
        yield
    except Unprocessable as e:
        errors = e.extra.get("errors") or [{"loc": ["body", kind, index], "msg": e.message}]
        raise Unprocessable(f"{kind}[{index}]: {e.message}", errors=errors) from e
    except HeadwaterError as e:
        raise Unprocessable(
            f"{kind}[{index}]: {e.message}",
            errors=[{"loc": ["body", kind, index], "msg": e.message}],
        ) from e


async def _field_id(conn: Conn, address: FieldAddress) -> int:
    row = await db.fetch_one(
        conn,
        Q["get_live_field_id_by_name"],
        {"qualified_name": address.asset_qualified_name, "name": address.field},
    )
    if row is None:
        raise Unprocessable(
            f"asset {address.asset_qualified_name!r} has no field {address.field!r}"
        )
    return int(row["id"])


async def apply_bulk(conn: Conn, actor: Actor, request: BulkRequest, max_items: int) -> BulkResult:
    """Apply every item or none: call inside one transaction and let any error roll it back."""
    if (count := request.item_count()) > max_items:
        raise Unprocessable(
            f"bulk holds {count} items (fields count one each), over the limit of {max_items}: "
            "split it into several requests",
            errors=[{"loc": ["body"], "msg": f"more than {max_items} items"}],
        )
    assets = []
    for i, asset in enumerate(request.assets):
        with _item("assets", i):
            assets.append((await upsert_asset(conn, actor, asset))[1])

    fields = []
    for i, item in enumerate(request.fields):
        with _item("fields", i):
            asset_id = await resolve_qualified_name(conn, item.asset_qualified_name)
            current = await lock_asset(conn, asset_id, None)
            result = await replace_fields(
                conn, actor, asset_id, current.version, item.fields, loc=("body", "fields", i)
            )
            changed = result.asset_version != current.version
            fields.append(Outcome.UPDATED if changed else Outcome.UNCHANGED)

    relationships = []
    for i, rel in enumerate(request.relationships):
        with _item("relationships", i):
            data = RelationshipCreate(
                source_qualified_name=rel.source_qualified_name,
                target_qualified_name=rel.target_qualified_name,
                type=rel.type,
                metadata=rel.metadata,
            )
            relationships.append((await write_relationship(conn, actor, data, upsert=True))[1])

    lineage = []
    for i, edge in enumerate(request.field_lineage):
        with _item("field_lineage", i):
            data_fl = FieldLineageCreate(
                source_field_id=await _field_id(conn, edge.source),
                target_field_id=await _field_id(conn, edge.target),
                transformation=edge.transformation,
                description=edge.description,
                metadata=edge.metadata,
            )
            lineage.append((await write_field_lineage(conn, actor, data_fl, upsert=True))[1])

    return BulkResult(
        assets=_counts(assets),
        fields=_counts(fields),
        relationships=_counts(relationships),
        field_lineage=_counts(lineage),
    )
