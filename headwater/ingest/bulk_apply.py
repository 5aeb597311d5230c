"""Set-based application of a run of ingestion units: a few statements per kind, not per item.

A run is consecutive units without renames or drops (those change what a name means, so the
sequential applier takes them one at a time, as barriers). It applies in three steps inside a
savepoint of the caller's transaction:

1. Read: which raw inputs are kept already (one query), then every live asset the run names, by
   qualified name or alias, locked in id order, with its tags and fields (one query).
2. Plan, in Python, unit by unit in input order, as the sequential applier would (the decisions
   themselves are shared, in ``rules``): name resolution, type checks, metadata merges, field
   lists, tags, the relationships and column lineage each unit writes, every count and warning.
   The relationships and field lineage already stored among pre-existing rows are then read (one
   query each) and the run's edge writes settled against them, in order.
3. Write the final state of every changed row, one statement per kind and operation (``INSERT
   ... SELECT FROM jsonb_to_recordset(...)``, ``UPDATE ... FROM``), then the audit rows and outbox
   events of all changes in two statements.

Versions move as the sequential applier moves them (one step per change), so the rows end as
its would. Intermediate states inside a run are not audited separately: each changed entity gets
one audit row and one outbox event, from its state before the run to its state after it; each
unit's raw input keeps its own audit row.

A concurrent writer can slip in between the reads and the writes (it created a name this run
creates, or changed a field or an edge this run read). The write notices (an insert that does
nothing on conflict returns fewer rows, an update that checks the version read matches fewer),
the savepoint rolls back and the run is planned again from fresh reads. So does a deadlock
with a concurrent run that creates or locks the same rows in another order. A run planned again
takes the tenant's ingestion lock exclusively (every run holds it shared), so colliding runs
take turns instead of invalidating each other until one gives up. It waits for that at most
``_SERIALIZE_WAIT``, since new runs queue behind its request: behind a long transaction holding
the lock shared (a background task's chunk of thousands of events) it plans again without it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, cast, get_args

import psycopg
from prometheus_client import Counter

from headwater.catalog import db
from headwater.catalog.assets import Asset
from headwater.catalog.changes import Change, record_all
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, Unprocessable
from headwater.catalog.field_lineage import FieldLineageCreate, FieldLineageState, lineage_state
from headwater.catalog.fields import FieldSpec, check_unique_names, delete_field_rows
from headwater.catalog.queries import Q
from headwater.catalog.relationships import Relationship
from headwater.catalog.tags import Tag, TagByName
from headwater.ingest.batch import (
    AssetSpec,
    ColumnEdgeSpec,
    EdgeSpec,
    IngestSummary,
    IngestUnit,
    ItemCounts,
    Loc,
)
from headwater.ingest.rules import (
    FieldLike,
    created_asset,
    desired_fields,
    field_content,
    loc_text,
    merged_asset,
    tally_fields,
)
from headwater.jsoncodec import dumps, loads

__all__ = ["REPLANNED", "apply_run"]

log = logging.getLogger("headwater.ingest")

# Keys of rows this run creates: above every real id, in creation order, so "the oldest asset
# with this alias" compares them as it will compare the ids they get.
_NEW: Final = 1 << 62
# A run whose plans concurrent writers keep invalidating is given up on (a 409: retry). After
# its first attempt a run takes the tenant's ingestion lock exclusively, which new runs wait
# for, so only writers outside ingestion can invalidate it again.
_ATTEMPTS: Final = 5
# The advisory lock namespace (first key) of the ingestion lock; the second key is the tenant's.
_RETRY_LOCK: Final = 0x68775F72
# How long a retrying run waits for the ingestion lock exclusively before it retries without
# it; new runs of the tenant queue behind the request meanwhile (a Postgres interval).
_SERIALIZE_WAIT: Final = "5s"
# Plans that concurrent writers invalidated, by what the write found: how often emitters' runs
# collide (each such run waits for the others and does its reads and planning again).
_Found = Literal[
    "name_taken", "field_changed", "tag_deleted", "edge_changed", "edge_taken", "deadlock"
]
_FOUND: Final = get_args(_Found)
REPLANNED: Final = Counter(
    "headwater_ingest_runs_replanned",
    "Set-based ingestion runs planned again because a concurrent writer changed, created or "
    f"locked rows they read, by what the write found ({', '.join(_FOUND)}); a run planned "
    "again twice counts twice.",
    ["found"],
)
for _found in _FOUND:  # every series exists from the start, at zero
    REPLANNED.labels(_found)
_COUNTED: Final = ("assets", "fields", "relationships", "field_lineage", "tags")
# The keys of a relationship's audit and outbox state (as ``relationships`` writes it).
_RELATIONSHIP_STATE: Final = {
    "id",
    "source_id",
    "target_id",
    "type",
    "metadata",
    "version",
    "deleted_at",
}


class _Stale(Exception):
    """A row changed between this plan's reads and its writes: plan the run again. The
    argument says what was found (``REPLANNED``'s label)."""

    def __init__(self, found: _Found) -> None:
        super().__init__(found)
        self.found = found


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float)


def _stored(value: dict[str, Any], plain: bool | None = None) -> dict[str, Any]:
    """``value`` as jsonb gives it back, so later comparisons see what the catalog would hold;
    ``plain``: known to be JSON types only already."""
    if plain or (plain is None and _plain(value)):
        return value
    stored: dict[str, Any] = loads(dumps(value))
    return stored


def _plain_merge(spec: AssetSpec) -> bool:
    """Whether an asset's metadata merged with ``spec`` is JSON types only: what the catalog
    holds is, the run and alias values the merge adds are strings, so only ``spec``'s own
    metadata can bring in anything else (checking it is cheaper than the merged whole)."""
    return _plain(spec.metadata) and _plain(spec.identity)


def _alias_names(metadata: dict[str, Any]) -> frozenset[str]:
    """The names ``metadata -> 'aliases' ? name`` matches: array strings, object keys, a string."""
    value = metadata.get("aliases")
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    if isinstance(value, dict):
        return frozenset(value)
    if isinstance(value, str):
        return frozenset({value})
    return frozenset()


async def _rows(
    conn: Conn, query: str, rows: list[dict[str, Any]], **params: Any
) -> list[dict[str, Any]]:
    """Run a bulk statement over ``rows``, sent as one JSON document (``%(rows)s``)."""
    return await db.fetch_all(conn, Q[query], {"rows": dumps(rows), **params})


class _FieldView(NamedTuple):
    """A stored field as ``list_fields`` + ``FieldSpec`` read it (name and type stripped)."""

    name: str
    data_type: str
    nullable: bool
    description: str
    metadata: dict[str, Any]


# A field's stored content: name, data_type, nullable, description, metadata, ordinal.
_Content = tuple[str, str, bool, str, dict[str, Any], int]


@dataclass(eq=False)
class _Field:
    key: int
    asset: int
    view: FieldLike
    content: _Content
    version: int
    # The content and version read before the run; None for a field this run creates.
    read: tuple[_Content, int] | None

    @property
    def read_version(self) -> int | None:
        return None if self.read is None else self.read[1]

    def state(self, field_id: int) -> dict[str, Any]:
        return _field_state(field_id, self.asset, self.content, self.version)

    def read_state(self) -> dict[str, Any]:
        assert self.read is not None
        return _field_state(self.key, self.asset, *self.read)


def _field_state(field_id: int, asset_id: int, content: _Content, version: int) -> dict[str, Any]:
    name, data_type, nullable, description, metadata, ordinal = content
    return {
        "id": field_id,
        "asset_id": asset_id,
        "name": name,
        "data_type": data_type,
        "nullable": nullable,
        "description": description,
        "metadata": metadata,
        "ordinal": ordinal,
        "version": version,
    }


@dataclass(eq=False)
class _Asset:
    key: int
    type: str
    name: str
    qualified_name: str
    description: str
    metadata: dict[str, Any]
    owners: list[str]
    version: int
    tags: set[str]
    fields: list[_Field]
    # As read before the run; None for an asset this run creates.
    row: dict[str, Any] | None
    by_field: dict[str, _Field] = field(default_factory=dict)
    content_changed: bool = False
    fields_changed: bool = False

    def index_fields(self) -> None:
        self.by_field = {f.content[0]: f for f in self.fields}


@dataclass(eq=False)
class _Edge:
    """A relationship or field lineage edge as the run leaves it."""

    content: tuple[Any, ...]
    version: int
    live: bool
    # As read before the run; None for an edge this run creates.
    row: dict[str, Any] | None
    written: bool = False
    # Whether ``content`` is known to be what the catalog would give back (see ``_stored``):
    # checked when a later write of the run compares with it, not on every write.
    stored: bool = True


class _EdgeWrite(NamedTuple):
    key: tuple[Any, ...]
    content: tuple[Any, ...]


@dataclass(frozen=True)
class _EdgeKind:
    """What sets the edge tables a run writes apart, so that one writer serves them all."""

    # The audit entity type, and the prefix of its actions and outbox event type.
    entity: str
    # The named statements that insert new edges and update (or revive) stored ones.
    insert: str
    update: str
    # The columns of an edge's key, in ``_EdgeWrite.key`` order: the first two hold its ends
    # (keys of the run's rows until they are created), any others values as they are.
    key: tuple[str, ...]
    # The columns of an edge's content, in ``_Edge.content`` order.
    content: tuple[str, ...]
    # A stored row's audit and outbox state, as the sequential applier's write records it.
    state: Callable[[dict[str, Any]], dict[str, Any]]

    def keyed(self, key: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self.key, key, strict=True))

    def columns(self, edge: _Edge) -> dict[str, Any]:
        return dict(zip(self.content, edge.content, strict=True))


def _relationship_state(row: dict[str, Any]) -> dict[str, Any]:
    return Relationship.model_validate(row).model_dump(mode="json", include=_RELATIONSHIP_STATE)


def _field_lineage_state(row: dict[str, Any]) -> dict[str, Any]:
    return lineage_state(FieldLineageState.model_validate(row))


_RELATIONSHIPS: Final = _EdgeKind(
    entity="relationship",
    insert="ingest_insert_relationships",
    update="ingest_update_relationships",
    key=("source_id", "target_id", "type"),
    content=("metadata",),
    state=_relationship_state,
)
_FIELD_LINEAGE: Final = _EdgeKind(
    entity="field_lineage",
    insert="ingest_insert_field_lineage",
    update="ingest_update_field_lineage",
    key=("source_field_id", "target_field_id"),
    content=("transformation", "description", "metadata"),
    state=_field_lineage_state,
)


@dataclass(frozen=True)
class _FieldsRemoved:
    keys: frozenset[int]


@dataclass
class _Tally:
    """The counts and warnings of one planning attempt, added to the summary once it lands."""

    duplicates: int = 0
    counts: dict[str, ItemCounts] = field(
        default_factory=lambda: {kind: ItemCounts() for kind in _COUNTED}
    )
    warnings: list[tuple[Loc, str]] = field(default_factory=list)

    def warn(self, loc: Loc, msg: str) -> None:
        self.warnings.append((loc, msg))

    def add_to(self, summary: IngestSummary) -> None:
        summary.duplicates += self.duplicates
        for kind, counts in self.counts.items():
            total = getattr(summary, kind)
            for outcome in ("created", "updated", "unchanged", "deleted"):
                setattr(total, outcome, getattr(total, outcome) + getattr(counts, outcome))
        for loc, msg in self.warnings:
            summary.warn(loc, msg)


async def apply_run(
    conn: Conn,
    actor: Actor,
    run: Sequence[tuple[int, IngestUnit]],
    summary: IngestSummary,
    before_each: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """Apply ``run`` (``(index, unit)`` pairs, no renames or drops) set-based;
    ``before_each(index)`` runs before each unit is planned."""
    if not run:
        return
    points = before_each
    await _join_ingestion(conn)
    for attempt in range(_ATTEMPTS):
        plan = _Plan(actor)
        try:
            async with conn.transaction():
                if points is not None:
                    await points(run[0][0])
                await _fresh(plan.read(conn, [unit for _, unit in run]))
                for position, (index, unit) in enumerate(run):
                    if points is not None and position:
                        await points(index)
                    plan.unit(position, unit)
                points = None  # once planned, a retry passes no progress point again
                await _fresh(plan.settle_edges(conn))
                await _fresh(plan.write(conn))
        except _Stale as stale:
            # The savepoint is rolled back, and with it this plan's locks.
            REPLANNED.labels(stale.found).inc()
            log.info(
                "ingestion run planned again: a concurrent writer got there first",
                extra={"found": stale.found, "attempt": attempt + 1, "units": len(run)},
            )
            if attempt == 0:
                await _serialize_retries(conn)
            continue
        plan.tally.add_to(summary)
        return
    raise Conflict("concurrent writes kept changing what this ingestion read: retry")


async def _join_ingestion(conn: Conn) -> None:
    """Take the tenant's ingestion lock in shared mode, to the end of the transaction: any
    number of runs hold it at once, and while a retrying run waits for it or holds it
    exclusively, new runs wait."""
    await conn.execute(Q["ingest_join"], {"namespace": _RETRY_LOCK})


async def _serialize_retries(conn: Conn) -> None:
    """Take the tenant's ingestion lock exclusively, to the end of the transaction (once the
    runs under way have committed). Two retrying runs that both hold it shared deadlock on the
    upgrade: Postgres aborts one's request, and that one retries unserialised (in a savepoint,
    so its transaction goes on). So does a run that waited ``_SERIALIZE_WAIT`` in vain: a long
    transaction holds the lock shared, and new runs are queued behind the request."""
    try:
        async with conn.transaction():
            (held,) = await db.fetch_all(
                conn,
                Q["ingest_serialize_retries"],
                {"namespace": _RETRY_LOCK, "wait": _SERIALIZE_WAIT},
            )
            await conn.execute(
                Q["ingest_restore_lock_timeout"], {"lock_timeout": held["lock_timeout"]}
            )
    except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
        pass


async def _fresh(step: Awaitable[None]) -> None:
    """Run a step of the plan's reads or writes; a deadlock with a concurrent run that locks the
    same rows in another order makes the plan stale (a progress point's errors are not ours)."""
    try:
        await step
    except psycopg.errors.DeadlockDetected as e:
        raise _Stale("deadlock") from e


class _Plan:
    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.tally = _Tally()
        self.raw: list[Change] = []
        self.skipped: set[int] = set()
        self.assets: dict[int, _Asset] = {}
        self.created: list[_Asset] = []
        # Live qualified name -> asset key (plus the names units created assets under).
        self.by_name: dict[str, int] = {}
        self.by_alias: dict[str, set[int]] = {}
        self.aliases_of: dict[int, frozenset[str]] = {}
        self.next_key = _NEW
        self.relationship_writes: list[_EdgeWrite] = []
        # Column lineage writes and field removals, in the order they happen.
        self.lineage_steps: list[_EdgeWrite | _FieldsRemoved] = []
        self.removed: list[_Field] = []
        self.attachments: list[tuple[int, TagByName, int]] = []
        self.relationships: dict[tuple[Any, ...], _Edge] = {}
        self.lineage: dict[tuple[Any, ...], _Edge] = {}

    def _key(self) -> int:
        self.next_key += 1
        return self.next_key

    # Reading ---------------------------------------------------------------------------------

    async def read(self, conn: Conn, units: list[IngestUnit]) -> None:
        audited = [u.audit for u in units if u.audit is not None]
        known: set[tuple[str, str]] = set()
        if audited:
            rows = await db.fetch_all(
                conn,
                Q["ingest_known_raw_inputs"],
                {
                    "entity_types": [a.entity_type for a in audited],
                    "entity_ids": [a.entity_id for a in audited],
                },
                prepare=False,  # as below: a generic plan would scan the tenant's audit log
            )
            known = {(r["entity_type"], r["entity_id"]) for r in rows}
        names: set[str] = set()
        for position, unit in enumerate(units):
            if (audit := unit.audit) is not None:
                if (audit.entity_type, audit.entity_id) in known:
                    if audit.once:
                        self.tally.duplicates += 1
                        self.skipped.add(position)
                        continue
                else:
                    known.add((audit.entity_type, audit.entity_id))
                    self.raw.append(
                        Change(
                            audit.action,
                            audit.entity_type,
                            audit.entity_id,
                            None,
                            audit.after,
                            after_text=audit.after_text,
                        )
                    )
            names.update(unit.assets)
            names.update(n for e in unit.edges for n in (e.source, e.target))
            names.update(n for e in unit.column_edges for n in (e.source, e.target))
        if names:
            # Planned for each run: a generic plan, made while the tables were small, expects a
            # few names and a small tenant, and probes nothing.
            rows = await db.fetch_all(
                conn, Q["ingest_lock_named_assets"], {"names": sorted(names)}, prepare=False
            )
            for row in rows:
                self._load(row)

    def _load(self, row: dict[str, Any]) -> None:
        key = int(row["id"])
        fields = []
        # Arrays in the statement's order (ingest_lock_named_assets).
        for stored in row["fields"]:
            field_id, name, data_type, nullable, description, metadata, ordinal, version = stored
            content: _Content = (name, data_type, nullable, description, metadata, ordinal)
            # Read as list_fields + FieldSpec read a stored field: name and type stripped.
            view = _FieldView(name.strip(), data_type.strip(), nullable, description, metadata)
            fields.append(_Field(field_id, key, view, content, version, (content, version)))
        asset = _Asset(
            key=key,
            type=row["type"],
            name=row["name"],
            qualified_name=row["qualified_name"],
            description=row["description"],
            metadata=row["metadata"],
            owners=list(row["owners"]),
            version=row["version"],
            tags={t["name"].lower() for t in row["tags"]},
            fields=fields,
            row=row,
        )
        asset.index_fields()
        self.assets[key] = asset
        self.by_name[asset.qualified_name] = key
        self._index_aliases(asset)

    def _index_aliases(self, asset: _Asset) -> None:
        names = _alias_names(asset.metadata)
        before = self.aliases_of.get(asset.key, frozenset())
        for name in before - names:
            self.by_alias[name].discard(asset.key)
        for name in names - before:
            self.by_alias.setdefault(name, set()).add(asset.key)
        self.aliases_of[asset.key] = names

    def resolve(self, qualified_name: str) -> tuple[int, bool] | None:
        """The live asset a name means (by qualified name, else the oldest with that alias), and
        whether it was found by its own name."""
        key = self.by_name.get(qualified_name)
        if key is not None:
            return key, True
        holders = self.by_alias.get(qualified_name)
        if holders:
            return min(holders), False
        return None

    # Planning: the sequential applier's steps, on the rows read ------------------------------

    def unit(self, position: int, unit: IngestUnit) -> None:
        if position in self.skipped:
            return
        ids = {name: self.asset(spec) for name, spec in unit.assets.items()}
        for name, spec in unit.assets.items():
            if spec.fields is not None or spec.ensure_fields:
                self.fields(self.assets[ids[name]], spec)
        for name, spec in unit.assets.items():
            if spec.tags:
                self.tags(self.assets[ids[name]], spec.tags)
        for edge in unit.edges:
            self.edge(edge, ids, unit.loc)
        for column_edge in unit.column_edges:
            self.column_edge(column_edge, ids, unit.loc)

    def asset(self, spec: AssetSpec) -> int:
        counts = self.tally.counts["assets"]
        found = self.resolve(spec.qualified_name)
        if found is None:
            data = created_asset(spec, self.tally.warn)
            asset = _Asset(
                key=self._key(),
                type=data.type.value,
                name=data.name,
                qualified_name=data.qualified_name,
                description=data.description,
                metadata=_stored(data.metadata, _plain_merge(spec)),
                owners=list(data.owners),
                version=1,
                tags=set(),
                fields=[],
                row=None,
                content_changed=True,
            )
            self.assets[asset.key] = asset
            self.created.append(asset)
            self.by_name[asset.qualified_name] = self.by_name[spec.qualified_name] = asset.key
            self._index_aliases(asset)
            counts.created += 1
            return asset.key
        key, exact = found
        asset = self.assets[key]
        wanted = merged_asset(asset, spec, exact, self.tally.warn)
        before = (asset.name, asset.description, asset.metadata, asset.owners)
        if (wanted.name, wanted.description, wanted.metadata, wanted.owners) == before:
            counts.unchanged += 1
            return key
        asset.name, asset.description = wanted.name, wanted.description
        asset.metadata = _stored(wanted.metadata, _plain_merge(spec))
        asset.owners = list(wanted.owners)
        asset.version += 1
        asset.content_changed = True
        self._index_aliases(asset)
        counts.updated += 1
        return key

    def fields(self, asset: _Asset, spec: AssetSpec) -> None:
        existing = [f.view for f in asset.fields]
        wanted = desired_fields(existing, spec)
        if tally_fields(existing, wanted, self.tally.counts["fields"]):
            self._replace_fields(asset, wanted, (*spec.loc, "fields"))

    def _replace_fields(self, asset: _Asset, wanted: Sequence[FieldLike], loc: Loc) -> None:
        """``replace_fields``: a matched name keeps its row (a new version if its content
        differs), a new name gets a row, a missing one goes with its lineage; any change moves
        the asset's version."""
        check_unique_names(cast(Sequence[FieldSpec], wanted), loc)  # it reads names only
        fields: list[_Field] = []
        changed = False
        for ordinal, spec in enumerate(wanted):
            content: _Content = (*field_content(spec), ordinal)
            old = asset.by_field.get(spec.name)
            if old is not None and old.content == content:
                fields.append(old)
                continue
            metadata = _stored(spec.metadata)
            view = _FieldView(spec.name, spec.data_type, spec.nullable, spec.description, metadata)
            content = (*view, ordinal)
            if old is None:
                fields.append(_Field(self._key(), asset.key, view, content, 1, None))
            else:
                old.view, old.content, old.version = view, content, old.version + 1
                fields.append(old)
            changed = True
        kept = {spec.name for spec in wanted}
        removed = [f for f in asset.fields if f.content[0] not in kept]
        if not changed and not removed:
            return
        if removed:
            self.lineage_steps.append(_FieldsRemoved(frozenset(f.key for f in removed)))
            self.removed += [f for f in removed if f.read_version is not None]
        asset.fields = fields
        asset.index_fields()
        asset.version += 1
        asset.fields_changed = True

    def tags(self, asset: _Asset, tags: list[TagByName]) -> None:
        counts = self.tally.counts["tags"]
        for tag in tags:
            if tag.name.lower() in asset.tags:
                counts.unchanged += 1
                continue
            self.attachments.append((asset.key, tag, asset.version))
            asset.tags.add(tag.name.lower())
            counts.created += 1

    def _id(self, qualified_name: str, ids: dict[str, int], loc: Loc) -> int:
        if (key := ids.get(qualified_name)) is not None:
            return key
        found = self.resolve(qualified_name)
        if found is None:
            raise Unprocessable(
                f"{loc_text(loc)}: no asset has qualified_name {qualified_name!r}",
                errors=[{"loc": list(loc), "msg": f"unknown asset {qualified_name!r}"}],
            )
        return found[0]

    def edge(self, edge: EdgeSpec, ids: dict[str, int], loc: Loc) -> None:
        source = self._id(edge.source, ids, loc)
        target = self._id(edge.target, ids, loc)
        if source == target:
            self.tally.warn(
                loc, f"{edge.source!r} and {edge.target!r} are one asset (an alias): no {edge.type}"
            )
            return
        self.relationship_writes.append(
            _EdgeWrite((source, target, edge.type.value), (edge.metadata,))
        )

    def column_edge(self, edge: ColumnEdgeSpec, ids: dict[str, int], loc: Loc) -> None:
        source_asset = self.assets[self._id(edge.source, ids, loc)]
        target_asset = self.assets[self._id(edge.target, ids, loc)]
        source = source_asset.by_field.get(edge.source_field)
        target = target_asset.by_field.get(edge.target_field)
        if source is None or target is None:
            missing = edge.source_field if source is None else edge.target_field
            self.tally.warn(loc, f"field {missing!r} does not exist: column lineage skipped")
            return
        if source is target:
            return
        # The catalog's input model: it checks what the catalog takes (description length).
        data = FieldLineageCreate(
            source_field_id=source.key,
            target_field_id=target.key,
            transformation=edge.transformation,
            description=edge.description,
            metadata=edge.metadata,
        )
        self.lineage_steps.append(
            _EdgeWrite(
                (source.key, target.key),
                (data.transformation.value, data.description, data.metadata),
            )
        )

    # Edges against what is stored ------------------------------------------------------------

    async def settle_edges(self, conn: Conn) -> None:
        """Read the stored rows of the edges the run writes, then play the writes in order."""
        stored = [w.key for w in self.relationship_writes if max(w.key[:2]) < _NEW]
        if stored:
            rows = await db.fetch_all(
                conn,
                Q["ingest_relationships_by_edge"],
                {
                    "source_ids": [k[0] for k in stored],
                    "target_ids": [k[1] for k in stored],
                    "types": [k[2] for k in stored],
                },
            )
            for row in rows:
                key = (row["source_id"], row["target_id"], row["type"])
                live = row["deleted_at"] is None
                self.relationships[key] = _Edge((row["metadata"],), row["version"], live, row)
        counts = self.tally.counts["relationships"]
        for write in self.relationship_writes:
            _settle(self.relationships, write, counts)

        pairs = [
            w.key for w in self.lineage_steps if isinstance(w, _EdgeWrite) and max(w.key) < _NEW
        ]
        if pairs:
            rows = await db.fetch_all(
                conn,
                Q["ingest_field_lineage_by_edge"],
                {"source_ids": [k[0] for k in pairs], "target_ids": [k[1] for k in pairs]},
            )
            for row in rows:
                pair = (row["source_field_id"], row["target_field_id"])
                content = (row["transformation"], row["description"], row["metadata"])
                self.lineage[pair] = _Edge(content, row["version"], row["deleted_at"] is None, row)
        counts = self.tally.counts["field_lineage"]
        for step in self.lineage_steps:
            if isinstance(step, _EdgeWrite):
                _settle(self.lineage, step, counts)
            else:
                # The edges of removed fields go with them (their stored rows by cascade).
                gone = [k for k in self.lineage if k[0] in step.keys or k[1] in step.keys]
                for key in gone:
                    del self.lineage[key]

    # Writing ---------------------------------------------------------------------------------

    async def write(self, conn: Conn) -> None:
        ids: dict[int, int] = {}  # the keys of created rows -> their ids
        updated = await self._write_assets(conn, ids)
        children = await self._write_fields(conn, ids)
        children += await self._write_tags(conn, ids)
        children += await self._write_edges(conn, ids, _RELATIONSHIPS, self.relationships)
        children += await self._write_edges(conn, ids, _FIELD_LINEAGE, self.lineage)
        # Asset states are read once the tags are attached (a state lists them), and recorded
        # before the rows that hang off the assets, as the sequential applier records them.
        assets = await self._asset_changes(conn, ids, updated)
        await record_all(conn, self.actor, [*self.raw, *assets, *children])

    async def _write_assets(self, conn: Conn, ids: dict[int, int]) -> list[_Asset]:
        actor = self.actor.user_id
        if self.created:
            rows = await _rows(
                conn,
                "ingest_insert_assets",
                [
                    {
                        "ord": n,
                        "type": a.type,
                        "name": a.name,
                        "qualified_name": a.qualified_name,
                        "description": a.description,
                        "metadata": a.metadata,
                        "owners": a.owners,
                        "version": a.version,
                    }
                    for n, a in enumerate(self.created)
                ],
                actor=actor,
            )
            if len(rows) < len(self.created):
                raise _Stale("name_taken")  # a concurrent writer created one of these names first
            got = {r["qualified_name"]: int(r["id"]) for r in rows}
            ids.update((a.key, got[a.qualified_name]) for a in self.created)
        updated = [
            a
            for a in self.assets.values()
            if a.row is not None and (a.content_changed or a.fields_changed)
        ]
        if updated:
            await _rows(
                conn,
                "ingest_update_assets",
                [
                    {
                        "id": a.key,
                        "name": a.name,
                        "description": a.description,
                        "metadata": a.metadata,
                        "owners": a.owners,
                        "version": a.version,
                    }
                    for a in updated
                ],
                actor=actor,
            )
        return updated

    async def _asset_changes(
        self, conn: Conn, ids: dict[int, int], updated: list[_Asset]
    ) -> list[Change]:
        touched = [*updated, *self.created]
        if not touched:
            return []
        rows = await db.fetch_all(
            conn, Q["ingest_assets_by_id"], {"ids": [ids.get(a.key, a.key) for a in touched]}
        )
        after = {int(r["id"]): Asset.model_validate(r).model_dump(mode="json") for r in rows}
        changes = []
        for asset in updated:
            assert asset.row is not None
            before = Asset.model_validate(asset.row).model_dump(mode="json")
            action = "asset.update" if asset.content_changed else "asset.replace_fields"
            changes.append(
                Change(
                    action,
                    "asset",
                    asset.key,
                    before,
                    after[asset.key],
                    asset.version,
                    "asset.upserted",
                )
            )
        for asset in self.created:
            state = after[ids[asset.key]]
            changes.append(
                Change(
                    "asset.create",
                    "asset",
                    ids[asset.key],
                    None,
                    state,
                    asset.version,
                    "asset.upserted",
                )
            )
        return changes

    async def _write_fields(self, conn: Conn, ids: dict[int, int]) -> list[Change]:
        changes: list[Change] = []
        if self.removed:
            removed = [f.key for f in self.removed]
            locked = await db.fetch_all(conn, Q["ingest_lock_fields"], {"ids": removed})
            if {int(r["id"]): int(r["version"]) for r in locked} != {
                f.key: f.read_version for f in self.removed
            }:
                raise _Stale("field_changed")  # a concurrent writer changed or removed one
            changes += await delete_field_rows(conn, removed)
            for gone in self.removed:
                state = gone.read_state()
                changes.append(
                    Change(
                        "schema_field.delete",
                        "schema_field",
                        gone.key,
                        state,
                        None,
                        gone.version + 1,
                        "schema_field.deleted",
                        payload={**state, "version": gone.version + 1},
                    )
                )

        final = [f for a in self.assets.values() for f in a.fields]
        updates = [f for f in final if f.read_version not in (None, f.version)]
        if updates:
            rows = await _rows(
                conn,
                "ingest_update_fields",
                [
                    {
                        "id": f.key,
                        "read_version": f.read_version,
                        "data_type": f.content[1],
                        "nullable": f.content[2],
                        "description": f.content[3],
                        "metadata": f.content[4],
                        "ordinal": f.content[5],
                        "version": f.version,
                    }
                    for f in updates
                ],
            )
            if len(rows) < len(updates):
                raise _Stale("field_changed")  # a concurrent writer changed one of these
            changes += [
                Change(
                    "schema_field.update",
                    "schema_field",
                    f.key,
                    f.read_state(),
                    f.state(f.key),
                    f.version,
                    "schema_field.upserted",
                )
                for f in updates
            ]
        inserts = [f for f in final if f.read_version is None]
        if inserts:
            rows = await _rows(
                conn,
                "ingest_insert_fields",
                [
                    {
                        "ord": n,
                        "asset_id": ids.get(f.asset, f.asset),
                        "name": f.content[0],
                        "data_type": f.content[1],
                        "nullable": f.content[2],
                        "description": f.content[3],
                        "metadata": f.content[4],
                        "ordinal": f.content[5],
                        "version": f.version,
                    }
                    for n, f in enumerate(inserts)
                ],
            )
            got = {(int(r["asset_id"]), r["name"]): int(r["id"]) for r in rows}
            for f in inserts:
                f.asset = ids.get(f.asset, f.asset)
                ids[f.key] = got[(f.asset, f.content[0])]
                state = f.state(ids[f.key])
                changes.append(
                    Change(
                        "schema_field.create",
                        "schema_field",
                        ids[f.key],
                        None,
                        state,
                        f.version,
                        "schema_field.upserted",
                    )
                )
        return changes

    async def _write_tags(self, conn: Conn, ids: dict[int, int]) -> list[Change]:
        if not self.attachments:
            return []
        wanted: dict[str, TagByName] = {}
        for _, tag, _ in self.attachments:
            wanted.setdefault(tag.name.lower(), tag)
        rows = await _rows(
            conn,
            "ingest_insert_tags",
            [
                {"ord": n, "name": t.name, "category": t.category}
                for n, t in enumerate(wanted.values())
            ],
        )
        changes = [
            Change("tag.create", "tag", tag.id, None, tag.model_dump(mode="json"), tag.version)
            for tag in (Tag.model_validate(r) for r in rows)
        ]
        found = await db.fetch_all(conn, Q["ingest_tags_by_name"], {"names": list(wanted)})
        tags = {r["name"].lower(): r for r in found}
        if len(tags) < len(wanted):
            raise _Stale("tag_deleted")
        rows = await _rows(
            conn,
            "ingest_attach_tags",
            [
                {"ord": n, "asset_id": ids.get(key, key), "tag_id": tags[tag.name.lower()]["id"]}
                for n, (key, tag, _) in enumerate(self.attachments)
            ],
            actor=self.actor.user_id,
        )
        attached = {(int(r["asset_id"]), int(r["tag_id"])) for r in rows}
        for key, tag, version in self.attachments:
            stored, asset_id = tags[tag.name.lower()], ids.get(key, key)
            if (asset_id, int(stored["id"])) not in attached:
                continue  # attached meanwhile: nothing changed, nothing to announce
            attachment = {
                "asset_id": asset_id,
                "tag_id": stored["id"],
                "tag_name": stored["name"],
                "category": stored["category"],
            }
            changes.append(
                Change(
                    "asset_tag.attach",
                    "asset_tag",
                    asset_id,
                    None,
                    attachment,
                    version,
                    "asset_tag.attached",
                )
            )
        return changes

    async def _write_edges(
        self,
        conn: Conn,
        ids: dict[int, int],
        kind: _EdgeKind,
        edges: dict[tuple[Any, ...], _Edge],
    ) -> list[Change]:
        """Write the ``edges`` of ``kind`` the run wrote: update or revive the stored ones, insert
        the new ones, and return their changes as the sequential applier's writes record them."""
        written = [(k, e) for k, e in edges.items() if e.written]
        updates = [(e.row, e) for _, e in written if e.row is not None]
        changes: list[Change] = []
        if updates:
            rows = await _rows(
                conn,
                kind.update,
                [
                    {
                        "id": row["id"],
                        "read_version": row["version"],
                        **kind.columns(e),
                        "version": e.version,
                    }
                    for row, e in updates
                ],
            )
            if len(rows) < len(updates):
                raise _Stale("edge_changed")  # a concurrent writer changed one of these
            for row, e in updates:
                state = kind.state(row)
                # Reviving a soft-deleted edge is recorded as its creation.
                verb = "update" if state["deleted_at"] is None else "create"
                after = {**state, **kind.columns(e), "version": e.version, "deleted_at": None}
                changes.append(
                    Change(
                        f"{kind.entity}.{verb}",
                        kind.entity,
                        state["id"],
                        state,
                        after,
                        e.version,
                        f"{kind.entity}.upserted",
                    )
                )
        # Keyed by the ids of their ends: those this run created have theirs now.
        inserts = [
            ((ids.get(k[0], k[0]), ids.get(k[1], k[1]), *k[2:]), e)
            for k, e in written
            if e.row is None
        ]
        if inserts:
            rows = await _rows(
                conn,
                kind.insert,
                [
                    {"ord": n, **kind.keyed(key), **kind.columns(e), "version": e.version}
                    for n, (key, e) in enumerate(inserts)
                ],
                actor=self.actor.user_id,
            )
            if len(rows) < len(inserts):
                raise _Stale("edge_taken")  # a concurrent writer created one of these
            got = {tuple(r[c] for c in kind.key): int(r["id"]) for r in rows}
            for key, e in inserts:
                state = {
                    "id": got[key],
                    **kind.keyed(key),
                    **kind.columns(e),
                    "version": e.version,
                    "deleted_at": None,
                }
                changes.append(
                    Change(
                        f"{kind.entity}.create",
                        kind.entity,
                        state["id"],
                        None,
                        state,
                        e.version,
                        f"{kind.entity}.upserted",
                    )
                )
        return changes


def _settle(edges: dict[tuple[Any, ...], _Edge], write: _EdgeWrite, counts: ItemCounts) -> None:
    """``write_relationship`` / ``write_field_lineage`` with ``upsert`` on ``edges``: create,
    revive (one version later), update when the content differs, else unchanged."""
    edge = edges.get(write.key)
    if edge is not None and edge.live:
        if not edge.stored:
            edge.content = tuple(_stored(c) if isinstance(c, dict) else c for c in edge.content)
            edge.stored = True
        if edge.content == write.content:
            counts.unchanged += 1
            return
    if edge is None:
        edges[write.key] = _Edge(write.content, 1, True, None, written=True, stored=False)
        counts.created += 1
        return
    if edge.live:
        counts.updated += 1
    else:
        counts.created += 1
    edge.content, edge.version, edge.live = write.content, edge.version + 1, True
    edge.written, edge.stored = True, False
