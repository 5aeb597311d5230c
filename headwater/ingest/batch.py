"""What an ingestion wants the catalog to hold, in natural keys: the output of the pure mappers.

A mapper (``openlineage``, ``dbt``) turns an external document into one :class:`IngestUnit` per
event or manifest, without touching the database; ``apply`` then writes the units in order inside
one transaction (runs of units set-based, see ``bulk_apply``). Everything here merges rather
than replaces, so a source that knows less (an OpenLineage COMPLETE event without facets) never
erases what a richer one wrote:

- ``description`` / ``owners``: ``None`` keeps the catalog's value; owners are added, never removed.
- ``metadata``: one namespace per source (``{"openlineage": {...}}``, ``{"dbt": {...}}``), merged
  one level down; ``aliases`` are added to ``metadata["aliases"]``.
- ``fields``: ``replace`` makes the list the asset's whole schema, ``merge`` updates the named
  fields and appends new ones; ``ensure_fields`` are appended only when missing (the inferred
  columns that column lineage needs).
- ``type``: an existing data asset (table, view, dataset, file, topic) keeps its type, since
  sources disagree on it (a dbt view is an OpenLineage dataset); any other mismatch is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from headwater.catalog.assets import AssetType
from headwater.catalog.field_lineage import Transformation
from headwater.catalog.fields import FieldSpec
from headwater.catalog.relationships import RelationshipType
from headwater.catalog.tags import TagByName

__all__ = [
    "DATA_ASSET_TYPES",
    "AssetSpec",
    "AuditSpec",
    "ColumnEdgeSpec",
    "EdgeSpec",
    "FieldsMode",
    "FieldsUpdate",
    "IngestSummary",
    "IngestUnit",
    "IngestWarning",
    "ItemCounts",
    "RenameSpec",
    "RunUpdate",
    "merge_metadata",
    "merge_run",
]

Loc = tuple[str | int, ...]

# Types that name the same kind of thing (stored data) from different points of view.
DATA_ASSET_TYPES = frozenset(
    {AssetType.TABLE, AssetType.VIEW, AssetType.DATASET, AssetType.FILE, AssetType.TOPIC}
)

# Caps that keep one response bounded; the summary says when one applied.
MAX_WARNINGS = 200


class FieldsMode(StrEnum):
    REPLACE = "replace"
    MERGE = "merge"


@dataclass
class FieldsUpdate:
    mode: FieldsMode
    fields: list[FieldSpec]

    def combine(self, other: FieldsUpdate) -> FieldsUpdate:
        """Two updates of one asset in one unit: a full list wins, partial ones add up."""
        if other.mode == FieldsMode.REPLACE:
            return other
        if self.mode == FieldsMode.REPLACE:
            return self
        by_name = {f.name: f for f in self.fields}
        by_name.update((f.name, f) for f in other.fields)
        return FieldsUpdate(FieldsMode.MERGE, list(by_name.values()))


@dataclass(frozen=True)
class RunUpdate:
    """One OpenLineage run transition, merged into a job's ``metadata.openlineage.last_run``."""

    run_id: str
    event_type: str
    event_time: datetime
    nominal_start_time: str | None = None
    nominal_end_time: str | None = None
    error_message: str | None = None
    parent_run_id: str | None = None


@dataclass
class AssetSpec:
    qualified_name: str
    type: AssetType
    # Used when the asset is created; an existing asset keeps its (possibly edited) name.
    name: str
    # True when the source only guessed the type (e.g. an OpenLineage dataset without a
    # datasetType facet): a mismatch with the catalog is then not worth a warning.
    type_guessed: bool = False
    description: str | None = None
    owners: list[str] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Metadata about the name itself (e.g. the OpenLineage namespace and name): written only when
    # the asset is found by this qualified name, not when the name is an alias of another asset.
    identity: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    tags: list[TagByName] = field(default_factory=list)
    fields: FieldsUpdate | None = None
    # Columns other items need (column lineage ends): appended when missing, never changed.
    ensure_fields: list[FieldSpec] = field(default_factory=list)
    run: RunUpdate | None = None
    loc: Loc = ()

    def add_ensured(self, fields: list[FieldSpec]) -> None:
        known = {f.name for f in self.ensure_fields}
        self.ensure_fields += [f for f in fields if f.name not in known]

    def absorb(self, other: AssetSpec) -> None:
        """Fold a second mention of the same asset in one unit into this one (later wins)."""
        if other.type != self.type:
            if not (self.type in DATA_ASSET_TYPES and other.type in DATA_ASSET_TYPES):
                raise ValueError(
                    f"{self.qualified_name!r} is named both as a {self.type} and as a {other.type}"
                )
            if self.type_guessed and not other.type_guessed:
                self.type, self.type_guessed = other.type, False
        if other.description is not None:
            self.description = other.description
        self.owners += [o for o in other.owners if o not in self.owners]
        self.metadata = merge_metadata(self.metadata, other.metadata)
        self.identity = merge_metadata(self.identity, other.identity)
        self.aliases += [a for a in other.aliases if a not in self.aliases]
        names = {t.name.lower() for t in self.tags}
        self.tags += [t for t in other.tags if t.name.lower() not in names]
        if other.fields is not None:
            self.fields = other.fields if self.fields is None else self.fields.combine(other.fields)
        self.add_ensured(other.ensure_fields)
        if other.run is not None:
            self.run = other.run


@dataclass(frozen=True)
class EdgeSpec:
    source: str
    target: str
    type: RelationshipType
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnEdgeSpec:
    source: str
    source_field: str
    target: str
    target_field: str
    transformation: Transformation = Transformation.UNKNOWN
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RenameSpec:
    previous: str
    qualified_name: str
    name: str


@dataclass(frozen=True)
class AuditSpec:
    """The raw input kept for audit, once: ``entity_id`` is its digest, so a replay adds nothing.

    ``once``: an input whose digest is already recorded is not applied again (an OpenLineage
    event is a fact of its time; re-applying an old one after a newer DROP or RENAME would undo
    them). A dbt manifest is a full snapshot and is always applied.
    """

    action: str
    entity_type: str
    entity_id: str
    after: dict[str, Any]
    once: bool = False
    # ``after`` as JSON text, when the mapper serialised it anyway (to compute ``entity_id``).
    after_text: str | None = None


@dataclass
class IngestUnit:
    """One event (or one manifest): applied in the order renames, assets, drops, fields,
    relationships, field lineage, so later steps can refer to what earlier ones wrote."""

    loc: Loc
    renames: list[RenameSpec] = field(default_factory=list)
    assets: dict[str, AssetSpec] = field(default_factory=dict)
    drops: list[str] = field(default_factory=list)
    edges: list[EdgeSpec] = field(default_factory=list)
    column_edges: list[ColumnEdgeSpec] = field(default_factory=list)
    audit: AuditSpec | None = None

    def add_asset(self, spec: AssetSpec) -> AssetSpec:
        current = self.assets.get(spec.qualified_name)
        if current is None:
            self.assets[spec.qualified_name] = spec
            return spec
        current.absorb(spec)
        return current

    def add_edge(self, edge: EdgeSpec) -> None:
        if edge.source != edge.target and edge not in self.edges:
            self.edges.append(edge)


class IngestWarning(BaseModel):
    """Something accepted but not taken as sent (a tolerated deviation, a skipped item)."""

    loc: list[str | int]
    msg: str


class ItemCounts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class IngestSummary(BaseModel):
    """What an ingestion did; a replay of the same input reports everything unchanged."""

    units: int = Field(description="events (or manifests) received")
    duplicates: int = Field(
        0, description="events identical to one already ingested: recognised, not applied again"
    )
    assets: ItemCounts = Field(default_factory=ItemCounts)
    renamed: int = 0
    fields: ItemCounts = Field(default_factory=ItemCounts)
    relationships: ItemCounts = Field(default_factory=ItemCounts)
    field_lineage: ItemCounts = Field(default_factory=ItemCounts)
    tags: ItemCounts = Field(default_factory=ItemCounts, description="created = attached")
    warnings: list[IngestWarning] = Field(default_factory=list)
    warnings_truncated: int = Field(
        0, description=f"warnings left out after the first {MAX_WARNINGS}"
    )

    def warn(self, loc: Loc, msg: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(IngestWarning(loc=list(loc), msg=msg))
        else:
            self.warnings_truncated += 1


def merge_metadata(current: dict[str, Any], patch: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``patch`` merged into ``current`` one level down: each source owns its namespace's keys."""
    merged = dict(current)
    for namespace, values in patch.items():
        existing = merged.get(namespace)
        merged[namespace] = {**existing, **values} if isinstance(existing, dict) else dict(values)
    return merged


# A run's state moves forward: a replayed START after its COMPLETE must not reopen the run.
_STATE_RANK = {"OTHER": 0, "START": 1, "RUNNING": 2, "COMPLETE": 3, "ABORT": 3, "FAIL": 3}
_TERMINAL = frozenset({"COMPLETE", "ABORT", "FAIL"})


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def merge_run(current: dict[str, Any] | None, run: RunUpdate) -> dict[str, Any]:
    """The job's ``last_run`` after ``run``; idempotent, and independent of arrival order.

    Events of the same run merge (START gives ``started_at``, a terminal event ``ended_at``, the
    latest event the state). An event of another run replaces ``last_run`` only if it is newer
    (ties broken by run id), so a late or replayed event of an older run changes nothing.
    """
    at = run.event_time.isoformat()
    if current is not None and current.get("run_id") != run.run_id:
        latest = _time(current.get("latest_event_time"))
        if latest is not None and (latest, str(current.get("run_id"))) > (
            run.event_time,
            run.run_id,
        ):
            return current
    same_run = current is not None and current.get("run_id") == run.run_id
    merged: dict[str, Any] = dict(current) if same_run and current else {"run_id": run.run_id}

    latest = _time(merged.get("latest_event_time"))
    if latest is None or run.event_time > latest:
        merged["latest_event_time"] = at
    if run.event_type == "START":
        started = _time(merged.get("started_at"))
        if started is None or run.event_time < started:
            merged["started_at"] = at
    if run.event_type in _TERMINAL:
        ended = _time(merged.get("ended_at"))
        if ended is None or run.event_time > ended:
            merged["ended_at"] = at
    rank = _STATE_RANK.get(run.event_type, 0)
    if run.event_type != "OTHER":
        state_time = _time(merged.get("state_time"))
        current_rank = _STATE_RANK.get(str(merged.get("state")), 0)
        if state_time is None or (run.event_time, rank) >= (state_time, current_rank):
            merged["state"] = run.event_type
            merged["state_time"] = at
    for key, value in (
        ("nominal_start_time", run.nominal_start_time),
        ("nominal_end_time", run.nominal_end_time),
        ("error_message", run.error_message),
        ("parent_run_id", run.parent_run_id),
    ):
        if value is not None:
            merged[key] = value
    return merged
