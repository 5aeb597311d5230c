"""Write mapped ingestion units to the catalog, all inside the caller's one transaction.

Runs of consecutive units without renames or drops apply set-based (``bulk_apply``): a few
statements per kind of row for the whole run instead of one catalog call per item. A unit with a
rename or a drop changes what names mean, so it applies on its own through the catalog's own
functions (``upsert_asset``, ``replace_fields``, ``write_relationship``,
``write_field_lineage``, ``attach_tag_by_name``, ``delete_asset``...); that sequential applier
is also the reference the set-based one must agree with (``apply_sequentially``). Both take
their decisions from ``rules`` and leave the same rows, counts and warnings.

Each change gets its audit row and outbox event, and a write that changes nothing records
nothing: an input that says again what the catalog holds reports every item unchanged and adds
no row but its raw audit record. An OpenLineage event identical to one already ingested is not
applied at all (see ``AuditSpec.once``). Units apply in input order; any error aborts the caller's
transaction, so a batch lands whole or not at all.

Names resolve to live assets by qualified name first, then through ``metadata.aliases``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import psycopg

from headwater.catalog import lookups
from headwater.catalog.assets import (
    Asset,
    AssetUpdate,
    create_asset,
    delete_asset,
    lock_asset,
    update_asset,
    upsert_asset,
)
from headwater.catalog.changes import Change, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, Unprocessable
from headwater.catalog.field_lineage import FieldLineageCreate, write_field_lineage
from headwater.catalog.fields import FieldSpec, list_fields, replace_fields
from headwater.catalog.relationships import RelationshipCreate, write_relationship
from headwater.catalog.tags import attach_tag_by_name
from headwater.ingest import dbt, openlineage
from headwater.ingest.batch import (
    AssetSpec,
    AuditSpec,
    ColumnEdgeSpec,
    EdgeSpec,
    IngestSummary,
    IngestUnit,
    Loc,
    RenameSpec,
)
from headwater.ingest.bulk_apply import apply_run
from headwater.ingest.rules import (
    count,
    created_asset,
    desired_fields,
    loc_text,
    merged_asset,
    tally_fields,
)

__all__ = ["apply_sequentially", "apply_units", "ingest_dbt", "ingest_openlineage"]

# Units planned and written together at most: bounds the statements' sizes and a plan's memory
# (a background task applies thousands of events in one transaction).
RUN_LIMIT: Final = 500


async def ingest_openlineage(
    conn: Conn,
    actor: Actor,
    events: Sequence[Any],
    *,
    loc: Loc = ("body",),
    indexed: bool = True,
) -> IngestSummary:
    """Map every event first (422, nothing written, if any cannot be), then apply them in order."""
    mapped = openlineage.map_events(events, loc=loc, indexed=indexed)
    summary = IngestSummary(units=len(mapped.units))
    for where, msg in mapped.warnings:
        summary.warn(where, msg)
    await apply_units(conn, actor, mapped.units, summary)
    return summary


async def ingest_dbt(
    conn: Conn,
    actor: Actor,
    manifest: Any,
    catalog: Any | None = None,
    *,
    namespace: str | None = None,
    digest: str | None = None,
) -> IngestSummary:
    """Map a dbt manifest (and catalog.json) first, then apply it as one unit."""
    mapped = dbt.map_manifest(manifest, catalog, namespace=namespace, digest=digest)
    summary = IngestSummary(units=1)
    for where, msg in mapped.warnings:
        summary.warn(where, msg)
    await apply_units(conn, actor, [mapped.unit], summary)
    return summary


async def apply_units(
    conn: Conn,
    actor: Actor,
    units: Sequence[IngestUnit],
    summary: IngestSummary,
    *,
    before_each: Callable[[int], Awaitable[None]] | None = None,
) -> IngestSummary:
    """Apply ``units`` in order: runs of units without renames or drops set-based, the others
    one at a time; ``before_each(index)`` runs before each unit is applied (a background task's
    progress point, which may stop the work by raising)."""
    run: list[tuple[int, IngestUnit]] = []
    for index, unit in enumerate(units):
        if unit.renames or unit.drops:
            await apply_run(conn, actor, run, summary, before_each)
            run = []
            if before_each is not None:
                await before_each(index)
            await _Applier(conn, actor, summary).apply(unit)
            continue
        run.append((index, unit))
        if len(run) == RUN_LIMIT:
            await apply_run(conn, actor, run, summary, before_each)
            run = []
    await apply_run(conn, actor, run, summary, before_each)
    return summary


async def apply_sequentially(
    conn: Conn, actor: Actor, units: Sequence[IngestUnit], summary: IngestSummary
) -> IngestSummary:
    """Apply ``units`` one item at a time through the catalog's functions: the reference
    semantics that ``apply_units`` keeps (the tests compare the two)."""
    applier = _Applier(conn, actor, summary)
    for unit in units:
        await applier.apply(unit)
    return summary


def _field_spec(field: Any) -> FieldSpec:
    return FieldSpec(
        name=field.name,
        data_type=field.data_type,
        nullable=field.nullable,
        description=field.description,
        metadata=field.metadata,
    )


class _Applier:
    def __init__(self, conn: Conn, actor: Actor, summary: IngestSummary) -> None:
        self.conn = conn
        self.actor = actor
        self.summary = summary
        # qualified name -> (asset id, found by that very name); cleared on renames and drops.
        self.names: dict[str, tuple[int, bool]] = {}
        self.tags_of: dict[int, set[str]] = {}

    async def resolve(self, qualified_name: str) -> tuple[int, bool] | None:
        if (known := self.names.get(qualified_name)) is not None:
            return known
        asset_id = await lookups.asset_id_by_qualified_name(self.conn, qualified_name)
        if asset_id is not None:
            self.names[qualified_name] = (asset_id, True)
            return asset_id, True
        # Not remembered: an older asset may claim the alias later (its symlinks facet).
        alias_of = await lookups.asset_id_by_alias(self.conn, qualified_name)
        return None if alias_of is None else (alias_of, False)

    async def apply(self, unit: IngestUnit) -> None:
        if unit.audit is not None and not await self.keep_raw(unit.audit) and unit.audit.once:
            self.summary.duplicates += 1
            return
        for rename in unit.renames:
            await self.rename(rename, unit.loc)
        specs = await self.not_dropped(unit)
        ids: dict[str, int] = {}
        for name, spec in specs.items():
            ids[name] = await self.asset(spec)
        for name in unit.drops:
            await self.drop(name)
        for name, spec in specs.items():
            if spec.fields is not None or spec.ensure_fields:
                await self.fields(ids[name], spec)
        for name, spec in specs.items():
            if spec.tags:
                await self.tags(ids[name], spec)
        ignored = unit.assets.keys() - specs.keys()
        for edge in unit.edges:
            if ignored.isdisjoint((edge.source, edge.target)):
                await self.edge(edge, ids, unit.loc)
        for column_edge in unit.column_edges:
            if ignored.isdisjoint((column_edge.source, column_edge.target)):
                await self.column_edge(column_edge, ids, unit.loc)

    async def not_dropped(self, unit: IngestUnit) -> dict[str, AssetSpec]:
        """The unit's assets but those naming, through an alias, an asset the unit drops: the
        mapping leaves out a dropped dataset's own name, and its aliases go with it (a warning)."""
        if not unit.drops:
            return unit.assets
        dropped: dict[int, str] = {}
        for name in unit.drops:
            if (asset_id := await lookups.asset_id_by_qualified_name(self.conn, name)) is not None:
                dropped[asset_id] = name
        kept: dict[str, AssetSpec] = {}
        for name, spec in unit.assets.items():
            found = await self.resolve(name)
            if found is not None and found[0] in dropped:
                self.summary.warn(
                    spec.loc,
                    f"{name!r} is an alias of {dropped[found[0]]!r}, which this event drops: "
                    "ignored",
                )
                continue
            kept[name] = spec
        return kept

    async def keep_raw(self, audit: AuditSpec) -> bool:
        """Record the raw input unless it is recorded already; True when it is new."""
        if await lookups.audit_entry_exists(self.conn, audit.entity_type, audit.entity_id):
            return False
        change = Change(audit.action, audit.entity_type, audit.entity_id, None, audit.after)
        await record(self.conn, self.actor, change)
        return True

    async def rename(self, rename: RenameSpec, loc: Loc) -> None:
        old = await lookups.asset_id_by_qualified_name(self.conn, rename.previous)
        if old is None:
            return  # never seen, or renamed already (a replay)
        if await lookups.asset_id_by_qualified_name(self.conn, rename.qualified_name) is not None:
            self.summary.warn(
                loc,
                f"cannot rename {rename.previous!r} to {rename.qualified_name!r}: an asset "
                "already has that name",
            )
            return
        current = await lock_asset(self.conn, old, None)
        if current.deleted_at is not None or current.qualified_name != rename.previous:
            return  # a concurrent writer dropped or renamed it first: as if never seen
        update = AssetUpdate(
            version=current.version, qualified_name=rename.qualified_name, name=rename.name
        )
        await update_asset(self.conn, self.actor, old, update)
        self.names.clear()
        self.summary.renamed += 1
        self.summary.assets.updated += 1

    async def drop(self, qualified_name: str) -> None:
        asset_id = await lookups.asset_id_by_qualified_name(self.conn, qualified_name)
        if asset_id is None:
            return  # never seen, or dropped already
        current = await lock_asset(self.conn, asset_id, None)
        if current.deleted_at is not None or current.qualified_name != qualified_name:
            return  # a concurrent writer dropped or renamed it first
        await delete_asset(self.conn, self.actor, asset_id, current.version)
        self.names.clear()
        self.summary.assets.deleted += 1

    async def asset(self, spec: AssetSpec) -> int:
        found = await self.resolve(spec.qualified_name)
        if found is None:
            try:
                # A savepoint: when a concurrent writer creates the same name first, this
                # ingestion updates that asset instead of failing (emitters rarely retry a 409).
                async with self.conn.transaction():
                    data = created_asset(spec, self.summary.warn)
                    created = await create_asset(self.conn, self.actor, data)
            except (psycopg.errors.UniqueViolation, Conflict):
                found = await self.resolve(spec.qualified_name)
                if found is None:
                    raise
            else:
                self.names[spec.qualified_name] = (created.id, True)
                self._remember_tags(created)
                self.summary.assets.created += 1
                return created.id

        asset_id, exact = found
        current = await lock_asset(self.conn, asset_id, None)
        wanted = merged_asset(current, spec, exact, self.summary.warn)
        asset, outcome = await upsert_asset(self.conn, self.actor, wanted)
        self._remember_tags(asset)
        count(self.summary.assets, outcome)
        return asset.id

    def _remember_tags(self, asset: Asset) -> None:
        self.tags_of[asset.id] = {t.name.lower() for t in asset.tags}

    async def fields(self, asset_id: int, spec: AssetSpec) -> None:
        current = await list_fields(self.conn, asset_id)
        existing = [_field_spec(f) for f in current.fields]
        wanted = desired_fields(existing, spec)
        if tally_fields(existing, wanted, self.summary.fields):
            await replace_fields(
                self.conn,
                self.actor,
                asset_id,
                current.asset_version,
                wanted,
                loc=(*spec.loc, "fields"),
            )

    async def tags(self, asset_id: int, spec: AssetSpec) -> None:
        have = self.tags_of.setdefault(asset_id, set())
        for tag in spec.tags:
            if tag.name.lower() in have:
                self.summary.tags.unchanged += 1
                continue
            await attach_tag_by_name(self.conn, self.actor, asset_id, tag)
            have.add(tag.name.lower())
            self.summary.tags.created += 1

    async def _id(self, qualified_name: str, ids: dict[str, int], loc: Loc) -> int:
        if (asset_id := ids.get(qualified_name)) is not None:
            return asset_id
        found = await self.resolve(qualified_name)
        if found is None:
            raise Unprocessable(
                f"{loc_text(loc)}: no asset has qualified_name {qualified_name!r}",
                errors=[{"loc": list(loc), "msg": f"unknown asset {qualified_name!r}"}],
            )
        return found[0]

    async def edge(self, edge: EdgeSpec, ids: dict[str, int], loc: Loc) -> None:
        source = await self._id(edge.source, ids, loc)
        target = await self._id(edge.target, ids, loc)
        if source == target:
            self.summary.warn(
                loc, f"{edge.source!r} and {edge.target!r} are one asset (an alias): no {edge.type}"
            )
            return
        data = RelationshipCreate(
            source_id=source, target_id=target, type=edge.type, metadata=edge.metadata
        )
        _, outcome = await write_relationship(self.conn, self.actor, data, upsert=True)
        count(self.summary.relationships, outcome)

    async def column_edge(self, edge: ColumnEdgeSpec, ids: dict[str, int], loc: Loc) -> None:
        source_asset = await self._id(edge.source, ids, loc)
        target_asset = await self._id(edge.target, ids, loc)
        source = await lookups.field_id(self.conn, source_asset, edge.source_field)
        target = await lookups.field_id(self.conn, target_asset, edge.target_field)
        if source is None or target is None:
            missing = edge.source_field if source is None else edge.target_field
            self.summary.warn(loc, f"field {missing!r} does not exist: column lineage skipped")
            return
        if source == target:
            return
        data = FieldLineageCreate(
            source_field_id=source,
            target_field_id=target,
            transformation=edge.transformation,
            description=edge.description,
            metadata=edge.metadata,
        )
        _, outcome = await write_field_lineage(self.conn, self.actor, data, upsert=True)
        count(self.summary.field_lineage, outcome)
