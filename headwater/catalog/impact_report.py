"""Impact reports: proposed changes checked against the catalog, the graph's answer hydrated from
Postgres (types, owners, tags), explained, ranked and summed up. Also the schema diff (a new
column list, or a new dbt manifest, compared with what the catalog holds).

The rules that decide what is affected and how badly live in :mod:`headwater.graph.impact`; this
module adds what only the catalog knows:

* **Change severities** (for a direct consumer): dropping or renaming a column, dropping or
  renaming the asset: breaking. A type change: by :mod:`headwater.catalog.type_changes`
  (narrowing and incompatible: breaking; widening, a time-zone or JSON/text change, or a type
  the table does not know: warning; the same type: safe, and then nothing is propagated). The
  old type defaults to the catalog's; a different one given by the caller is used and noted.
* **Ranking**, most critical first: severity (breaking, warning), then status (affected before
  possibly affected), then exposures (dashboard, chart, report, notebook, application, ML
  model), then PII (a tag whose name or category is ``PII``, or a name starting ``pii``), then
  the number of reported assets explained through the item, then distance, then name.
* **Caps**: depth and node limit default to the server's caps, listed items to
  ``DEFAULT_ITEMS``; each is lowered to the server's cap when a request asks for more, and the
  response says so (``depth_capped``, ``limit_capped``, ``max_items_capped``), and whether the
  limit cut the traversal (``truncated``). Every reported asset is ranked and counted in the
  summary; ``items`` lists the first ``max_items`` of them with paths and columns
  (``items_omitted``: the rest), and the summary names as many exposures and jobs, most
  critical first. A change can reach tens of thousands of assets: explaining paths are built,
  hydrated and serialised for the listed ones only.
* **Schema diff**: columns match by name (exactly, then ignoring case). Columns only in the
  catalog are dropped, columns only in the new list are added (safe), a type change is assessed
  when both types are known. Renames are only what the caller declares (``renames``: old ->
  new), unless ``detect_renames`` is set: then a dropped and an added column at the same
  position with the same known type are taken as a rename.
* **dbt**: the manifest is mapped as ``headwater ingest dbt`` maps it (same qualified names, same
  ``--namespace`` rule), without its compiled SQL. Each model, seed or snapshot found in the
  catalog is diffed: with a ``catalog.json`` entry or an enforced contract the manifest's
  columns are the whole schema; otherwise only the declared columns are compared (no drops are
  inferred, since dbt does not require documenting every column). A node found by its
  ``unique_id`` under another qualified name is a renamed asset; a node of the same packages
  that the catalog holds but the manifest no longer has is a dropped asset.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Annotated, Any, Literal, LiteralString, NamedTuple
from uuid import UUID

import numpy as np
import orjson
from psycopg.rows import tuple_row
from pydantic import AliasChoices, BaseModel, Field, model_validator

from headwater.catalog import db, hydrate
from headwater.catalog.assets import QualifiedName, TagRef, resolve_qualified_name
from headwater.catalog.base import EntityId, StrictModel
from headwater.catalog.db import Conn
from headwater.catalog.errors import HeadwaterError, NotFound, Unprocessable
from headwater.catalog.fields import (
    MAX_FIELDS,
    DataType,
    FieldName,
    FieldSpec,
    check_unique_names,
)
from headwater.catalog.hydrate import AssetSummary, FieldSummary
from headwater.catalog.queries import Q
from headwater.catalog.type_changes import assess_type_change, normalise_type
from headwater.graph.engine import GraphEngine
from headwater.graph.impact import (
    AffectedAsset,
    AffectedColumn,
    Basis,
    Evidence,
    EvidenceSource,
    FlowEdges,
    ImpactGraph,
    ImpactQuery,
    Severity,
    Status,
    analyze,
    worst,
)
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import FLOW_DIRECTIONS, Edge, Flow, NodeRef, UnknownNode

__all__ = [
    "SEVERITY_ORDER",
    "CatalogColumn",
    "ImpactCaps",
    "ImpactReport",
    "ImpactRequest",
    "PostgresEvidence",
    "ProposedChange",
    "SchemaDiff",
    "SchemaDiffReport",
    "SchemaDiffRequest",
    "catalog_columns",
    "diff_columns",
    "impact_of_changes",
    "plan_changes",
    "run_impact",
    "schema_diff_impact",
    "target_asset",
]

MAX_CHANGES = 1_000
EXPOSURE_TYPES = frozenset({"dashboard", "chart", "report", "notebook", "application", "ml_model"})
JOB_TYPES = frozenset({"job", "pipeline"})
SEVERITY_ORDER: dict[Severity, int] = {"breaking": 0, "warning": 1, "safe": 2}


class GraphBehind(HeadwaterError):
    """The catalog holds the asset but the graph mirror has not caught up with it yet."""

    status_code = 503
    title = "Lineage graph catching up"


# Items a report lists when the request does not say (the summary counts every one), and the
# server's cap when its settings do not say.
DEFAULT_ITEMS = 100
DEFAULT_MAX_ITEMS = 1_000


@dataclass(frozen=True)
class ImpactCaps:
    max_depth: int
    max_nodes: int
    max_models: int
    max_items: int = DEFAULT_MAX_ITEMS


# --- requests -------------------------------------------------------------------------------------


class DropColumn(StrictModel):
    kind: Literal["drop_column"]
    column: FieldName


class RenameColumn(StrictModel):
    kind: Literal["rename_column"]
    column: FieldName = Field(validation_alias=AliasChoices("column", "old"))
    new_name: FieldName = Field(validation_alias=AliasChoices("new_name", "new"))


class ChangeType(StrictModel):
    kind: Literal["change_type"]
    column: FieldName
    old_type: DataType | None = None  # default: the catalog's type
    new_type: Annotated[DataType, Field(min_length=1)]


class DropAsset(StrictModel):
    kind: Literal["drop_asset"]


class RenameAsset(StrictModel):
    kind: Literal["rename_asset"]
    new_qualified_name: QualifiedName


ProposedChange = Annotated[
    DropColumn | RenameColumn | ChangeType | DropAsset | RenameAsset, Field(discriminator="kind")
]


class _Target(StrictModel):
    """The asset a request is about: exactly one of ``asset_id`` and ``qualified_name``."""

    asset_id: EntityId | None = None
    qualified_name: QualifiedName | None = None
    max_depth: int | None = Field(
        default=None, ge=0, strict=True, description="hops; default: the cap"
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description="nodes the traversal may reach; default: the cap",
    )
    max_items: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description=f"items listed, most critical first; default: {DEFAULT_ITEMS} (or the cap)",
    )

    @model_validator(mode="after")
    def _one_target(self) -> _Target:
        if (self.asset_id is None) == (self.qualified_name is None):
            raise ValueError("name the asset with exactly one of asset_id and qualified_name")
        return self


class ImpactRequest(_Target):
    changes: list[ProposedChange] = Field(min_length=1, max_length=MAX_CHANGES)


class SchemaDiffRequest(_Target):
    columns: list[FieldSpec] = Field(max_length=MAX_FIELDS)
    renames: dict[FieldName, FieldName] = Field(default_factory=dict)
    detect_renames: bool = Field(default=False, strict=True)


# --- responses ------------------------------------------------------------------------------------


class PathNode(BaseModel):
    kind: Literal["asset", "field"]
    id: int
    name: str  # the asset's name, or asset.column
    qualified_name: str  # the asset's


class PathStep(BaseModel):
    """One hop of an explaining path, in the direction data flows (a ``contains`` hop goes from
    a column to its table). ``type``: the relationship type, the column lineage's
    transformation, or CONTAINS."""

    kind: Literal["relationship", "field_lineage", "contains"]
    id: int
    type: str
    from_: PathNode = Field(serialization_alias="from")
    to: PathNode


class ImpactColumn(BaseModel):
    id: int
    name: str
    data_type: str
    severity: Severity
    distance: int
    direct: bool
    reason: str
    path: list[PathStep]


class ImpactItem(BaseModel):
    rank: int
    id: int
    type: str
    name: str
    qualified_name: str
    owners: list[str]
    tags: list[TagRef]
    pii: bool
    category: Literal["exposure", "job", "data"]
    status: Status
    severity: Severity
    distance: int
    direct: bool
    basis: Basis
    reason: str
    dependents: int
    path: list[PathStep]
    columns: list[ImpactColumn]


class ChangeOut(BaseModel):
    kind: str
    column: str | None = None
    new_name: str | None = None
    old_type: str | None = None
    new_type: str | None = None
    new_qualified_name: str | None = None
    severity: Severity  # for a direct consumer
    assessment: str
    explains: int  # reported assets whose explaining path starts at this change


class SeverityCounts(BaseModel):
    breaking: int = 0
    warning: int = 0
    safe: int = 0


class NamedAsset(BaseModel):
    id: int
    type: str
    name: str
    qualified_name: str
    owners: list[str]
    status: Status
    severity: Severity


class ImpactSummary(BaseModel):
    assets: int
    columns: int
    possibly_affected: int
    by_severity: SeverityCounts
    by_asset_type: dict[str, SeverityCounts]
    exposures: list[NamedAsset]
    jobs: list[NamedAsset]
    owners: list[str]  # to notify: every owner of a reported asset, most critical first
    pii_assets: int


class ImpactReport(BaseModel):
    asset: AssetSummary
    changes: list[ChangeOut]
    severity: Severity
    summary: ImpactSummary
    items: list[ImpactItem]
    max_depth: int
    depth_capped: bool
    limit: int
    limit_capped: bool
    truncated: bool
    max_items: int
    max_items_capped: bool
    items_omitted: int  # reported assets beyond max_items: counted in the summary, not listed
    notes: list[str]


class TypeChangeOut(BaseModel):
    column: str
    old_type: str
    new_type: str
    verdict: str
    severity: Severity


class RenameOut(BaseModel):
    old: str
    new: str
    detected: bool


class SchemaDiff(BaseModel):
    compared: Literal["full", "declared"]
    dropped: list[str]
    added: list[str]
    type_changed: list[TypeChangeOut]
    renamed: list[RenameOut]
    unchanged: int


class SchemaDiffReport(BaseModel):
    diff: SchemaDiff
    impact: ImpactReport


# --- evidence from Postgres -----------------------------------------------------------------------

_FLOW_TYPES = sorted(t for t, f in FLOW_DIRECTIONS.items() if f is not Flow.NONE)


def _id_array(ids: Iterable[int]) -> str:
    """Ids as one Postgres array literal (for a ``::bigint[]`` parameter): psycopg adapts a list
    element by element, a few microseconds each, and a region holds thousands."""
    return "{" + ",".join(map(str, ids)) + "}"


async def _fetch_sized(
    conn: Conn, query: LiteralString, params: Mapping[str, object]
) -> list[dict[str, Any]]:
    """The rows of a statement whose best plan depends on how many ids it is given, planned on
    every call. Prepared (psycopg prepares a statement from its fifth run), it would soon run a
    generic plan that expects ten ids and, given thousands, compares every row with each."""
    cur = await conn.execute(query, params, prepare=False)
    return await cur.fetchall()


class PostgresEvidence:
    """:class:`~headwater.graph.impact.EvidenceSource` reading the reached region's edges from
    the authority, a handful of set-based statements whatever the region's size."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def evidence(
        self, assets: Sequence[int], tainted_fields: Sequence[int], seeds: Sequence[int]
    ) -> Evidence:
        ids, tainted = _id_array(assets), _id_array(tainted_fields)
        rows = await _fetch_sized(self.conn, Q["impact_flows"], {"ids": ids, "types": _FLOW_TYPES})
        flows = FlowEdges(
            np.fromiter((r["id"] for r in rows), np.int64, len(rows)),
            np.fromiter((r["source_id"] for r in rows), np.int64, len(rows)),
            np.fromiter((r["target_id"] for r in rows), np.int64, len(rows)),
            [str(r["type"]) for r in rows],
        )
        region = await _fetch_sized(self.conn, Q["impact_region_assets"], {"ids": ids})
        carrying = await _fetch_sized(
            self.conn, Q["impact_carrying_pairs"], {"ids": ids, "tainted": tainted}
        )
        owners = await db.fetch_all(self.conn, Q["impact_field_assets"], {"ids": tainted})
        direct = [
            Edge(
                "field_lineage",
                int(r["id"]),
                NodeRef.field(int(r["source_field_id"])),
                NodeRef.field(int(r["target_field_id"])),
                str(r["transformation"]),
            )
            for r in await db.fetch_all(
                self.conn, Q["impact_direct_lineage"], {"seeds": list(seeds)}
            )
        ]
        field_assets = {int(r["id"]): int(r["asset_id"]) for r in owners}
        return Evidence(
            flows=flows,
            lineage_targets=[int(r["asset_id"]) for r in region if r["described"]],
            carrying_pairs={
                (field_assets[r["source_field_id"]], int(r["target_asset"]))
                for r in carrying
                if r["source_field_id"] in field_assets
            },
            with_columns=[int(r["asset_id"]) for r in region if r["has_columns"]],
            field_assets=field_assets,
            direct=direct,
        )


# --- planning the changes -------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogColumn:
    id: int
    name: str
    data_type: str


@dataclass
class Planned:
    change: DropColumn | RenameColumn | ChangeType | DropAsset | RenameAsset
    severity: Severity
    assessment: str
    field: CatalogColumn | None = None
    old_type: str | None = None


def _unknown_column(name: str, columns: Mapping[str, CatalogColumn], asset: AssetSummary) -> str:
    close = difflib.get_close_matches(name, list(columns), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"{asset.qualified_name} has no column {name!r}{hint}"


def plan_changes(
    asset: AssetSummary, columns: Sequence[CatalogColumn], changes: Sequence[ProposedChange]
) -> tuple[list[Planned], list[str]]:
    """Each change checked against the catalog (422 listing every problem), with its severity
    for a direct consumer; and notes on what was assumed."""
    by_name = {c.name: c for c in columns}
    errors: list[dict[str, Any]] = []
    notes: list[str] = []
    planned: list[Planned] = []
    touched: dict[str, int] = {}
    asset_level = 0

    def fail(index: int, key: str, msg: str) -> None:
        errors.append({"loc": ["body", "changes", index, key], "msg": msg})

    for index, change in enumerate(changes):
        if isinstance(change, DropAsset | RenameAsset):
            asset_level += 1
            if asset_level > 1:
                fail(index, "kind", "at most one drop_asset or rename_asset per request")
                continue
            if (
                isinstance(change, RenameAsset)
                and change.new_qualified_name == asset.qualified_name
            ):
                fail(index, "new_qualified_name", "the new qualified name is the current one")
                continue
            what = "dropping" if isinstance(change, DropAsset) else "renaming"
            planned.append(
                Planned(change, "breaking", f"{what} the asset breaks every direct consumer")
            )
            continue
        column = by_name.get(change.column)
        if column is None:
            fail(index, "column", _unknown_column(change.column, by_name, asset))
            continue
        if change.column in touched:
            fail(
                index,
                "column",
                f"column {change.column!r} is already changed by change {touched[change.column]}",
            )
            continue
        touched[change.column] = index
        if isinstance(change, DropColumn):
            planned.append(
                Planned(change, "breaking", "dropping a column breaks its readers", column)
            )
        elif isinstance(change, RenameColumn):
            if change.new_name == change.column:
                fail(index, "new_name", "the new name is the current one")
            elif change.new_name in by_name:
                fail(
                    index,
                    "new_name",
                    f"{asset.qualified_name} already has a column {change.new_name!r}",
                )
            else:
                planned.append(
                    Planned(change, "breaking", "readers still use the old name", column)
                )
        else:
            old = change.old_type if change.old_type is not None else column.data_type
            if (
                change.old_type is not None
                and column.data_type
                and normalise_type(change.old_type) != normalise_type(column.data_type)
            ):
                notes.append(
                    f"change {index}: the catalog types {column.name!r} as "
                    f"{column.data_type!r}, not {change.old_type!r}; assessed from "
                    f"{change.old_type!r}"
                )
            if not old:
                unknown = "unknown: the column's current type is not known"
                planned.append(Planned(change, "warning", unknown, column, ""))
            else:
                verdict = assess_type_change(old, change.new_type)
                planned.append(Planned(change, verdict.severity, verdict.reason, column, old))
    if errors:
        where = "; ".join(e["msg"] for e in errors[:5])
        raise Unprocessable(f"the proposed changes do not fit the catalog: {where}", errors=errors)
    return planned, notes


# --- running and explaining -----------------------------------------------------------------------


class _Facts(NamedTuple):
    """What ranking, the summary and path names need of an asset: a row of
    ``impact_asset_facts``, as read. A report may rank thousands of assets and list a hundred:
    tags stay JSON text (None when there are none) until a tagged asset's PII is decided or a
    listed item shows them."""

    id: int
    type: str
    name: str
    qualified_name: str
    owners: list[str]
    tags: str | None

    @classmethod
    def of(cls, asset: AssetSummary) -> _Facts:
        tags = orjson.dumps([t.model_dump() for t in asset.tags]).decode() if asset.tags else None
        return cls(asset.id, asset.type, asset.name, asset.qualified_name, asset.owners, tags)

    def tag_refs(self) -> list[TagRef]:
        return [TagRef.model_validate(t) for t in _tag_rows(self.tags)]


def _tag_rows(tags: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(tags) if tags is not None else []
    return rows


async def _asset_facts(conn: Conn, ids: Collection[int]) -> dict[int, _Facts]:
    """The live assets among ``ids``, without the description and metadata a full hydration
    validates: a report may rank tens of thousands. Rows as tuples, and planned per call (see
    :func:`_fetch_sized`)."""
    if not ids:
        return {}
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(Q["impact_asset_facts"], {"ids": _id_array(ids)}, prepare=False)
        rows = await cur.fetchall()
    return {r[0]: _Facts._make(r) for r in rows}


def _is_pii(tags: str | None) -> bool:
    """Whether some tag (``_Facts.tags``) is named ``PII`` (in any case, or a name starting so)
    or of that category."""
    if tags is None:  # most assets: nothing to decode
        return False
    for tag in _tag_rows(tags):
        name, category = tag["name"].lower(), (tag["category"] or "").lower()
        if "pii" in (name, category) or name.startswith("pii"):
            return True
    return False


def _category(asset_type: str) -> Literal["exposure", "job", "data"]:
    if asset_type in EXPOSURE_TYPES:
        return "exposure"
    return "job" if asset_type in JOB_TYPES else "data"


class _Names:
    """Display names of the nodes on paths, from the hydrated rows. Paths share most of their
    hops (every path from one seed starts alike), so each node and hop is built once."""

    def __init__(self, assets: Mapping[int, _Facts], fields: Mapping[int, FieldSummary]):
        self.assets = assets
        self.fields = fields
        self._nodes: dict[NodeRef, PathNode] = {}
        self._steps: dict[Edge, PathStep] = {}

    def node(self, ref: NodeRef) -> PathNode:
        found = self._nodes.get(ref)
        if found is None:
            found = self._nodes[ref] = self._node(ref)
        return found

    def _node(self, ref: NodeRef) -> PathNode:
        if ref.kind == "asset":
            asset = self.assets.get(ref.id)
            if asset is None:
                return PathNode(kind="asset", id=ref.id, name=str(ref), qualified_name="")
            return PathNode(
                kind="asset", id=ref.id, name=asset.name, qualified_name=asset.qualified_name
            )
        field = self.fields.get(ref.id)
        owner = self.assets.get(field.asset_id) if field is not None else None
        if field is None or owner is None:
            return PathNode(kind="field", id=ref.id, name=str(ref), qualified_name="")
        return PathNode(
            kind="field",
            id=ref.id,
            name=f"{owner.name}.{field.name}",
            qualified_name=owner.qualified_name,
        )

    def path(self, edges: Sequence[Edge]) -> list[PathStep]:
        return [self._step(e) for e in edges]

    def _step(self, e: Edge) -> PathStep:
        found = self._steps.get(e)
        if found is not None:
            return found
        if e.kind == "contains":
            ends = (e.target, e.source)  # column -> its table
        else:
            flow = e.flow()
            ends = flow if flow is not None else (e.source, e.target)
        found = self._steps[e] = PathStep(
            kind=e.kind, id=e.id, type=e.type, from_=self.node(ends[0]), to=self.node(ends[1])
        )
        return found


def _describe(planned: Planned) -> str:
    change = planned.change
    if isinstance(change, DropColumn):
        return "dropped"
    if isinstance(change, RenameColumn):
        return f"renamed to {change.new_name!r}"
    if isinstance(change, ChangeType):
        return f"retyped {planned.old_type or '?'} -> {change.new_type} ({planned.assessment})"
    if isinstance(change, DropAsset):
        return "dropped"
    return f"renamed to {change.new_qualified_name!r}"


async def run_impact(
    conn: Conn,
    graph: GraphEngine,
    tenant_id: UUID,
    asset: AssetSummary,
    columns: Sequence[CatalogColumn],
    planned: Sequence[Planned],
    notes: list[str],
    caps: ImpactCaps,
    max_depth: int | None,
    limit: int | None,
    max_items: int | None = None,
) -> ImpactReport:
    depth = caps.max_depth if max_depth is None else min(max_depth, caps.max_depth)
    nodes = caps.max_nodes if limit is None else min(limit, caps.max_nodes)
    listed = min(DEFAULT_ITEMS if max_items is None else max_items, caps.max_items)
    asset_change = next((p for p in planned if isinstance(p.change, DropAsset | RenameAsset)), None)
    seeds: dict[int, Severity] = {}
    by_seed: dict[int, Planned] = {}
    if asset_change is not None:
        seeds = dict.fromkeys((c.id for c in columns), asset_change.severity)
    for p in planned:
        if p.field is not None:
            by_seed[p.field.id] = p
            if asset_change is None and p.severity != "safe":
                seeds[p.field.id] = p.severity
    query = ImpactQuery(
        asset.id,
        seeds,
        None if asset_change is None else asset_change.severity,
        max_depth=depth,
        limit=nodes,
    )
    await db.fetch_one(conn, Q["impact_without_jit"])
    # The memory engine holds the region's edges in-process, read under the lock its traversals
    # take; other engines (Neo4j) are asked nothing more: the catalog's statements supply them.
    evidence: EvidenceSource = (
        graph.impact_evidence(tenant_id)
        if isinstance(graph, MemoryGraphEngine)
        else PostgresEvidence(conn)
    )
    try:
        result = await analyze(graph, tenant_id, query, evidence)
    except UnknownNode as e:
        raise GraphBehind(
            f"the lineage graph has not caught up with {asset.qualified_name} yet "
            f"({', '.join(map(str, e.nodes))}); retry in a moment"
        ) from e
    report = await _explain(conn, asset, result, planned, by_seed, asset_change, notes, listed)
    report.max_depth, report.limit, report.max_items = depth, nodes, listed
    report.depth_capped = max_depth is not None and max_depth > caps.max_depth
    report.limit_capped = limit is not None and limit > caps.max_nodes
    report.max_items_capped = max_items is not None and max_items > caps.max_items
    return report


class _Ranked(NamedTuple):
    """A reported asset with what its rank depends on."""

    item: AffectedAsset
    facts: _Facts
    category: Literal["exposure", "job", "data"]
    pii: bool

    def key(self) -> tuple[int, bool, bool, bool, int, int, str]:
        i = self.item
        return (
            SEVERITY_ORDER[i.severity],
            i.status != "affected",
            self.category != "exposure",
            not self.pii,
            -i.dependents,
            i.distance,
            self.facts.qualified_name,
        )


async def _explain(
    conn: Conn,
    asset: AssetSummary,
    result: ImpactGraph,
    planned: Sequence[Planned],
    by_seed: Mapping[int, Planned],
    asset_change: Planned | None,
    notes: list[str],
    listed: int,
) -> ImpactReport:
    facts = await _asset_facts(conn, [item.asset_id for item in result.assets])
    ranked: list[_Ranked] = []
    for item in result.assets:
        found = facts.get(item.asset_id)
        if found is not None:  # else gone from the catalog since the graph saw it
            ranked.append(_Ranked(item, found, _category(found.type), _is_pii(found.tags)))
    ranked.sort(key=_Ranked.key)
    shown = ranked[:listed]
    # Paths are built, and their nodes hydrated, for the listed items only.
    field_ids: set[int] = set(by_seed)
    asset_ids: set[int] = set()
    for entry in shown:
        for edge in (*entry.item.path, *(e for c in entry.item.columns for e in c.path)):
            for node in (edge.source, edge.target):
                (asset_ids if node.kind == "asset" else field_ids).add(node.id)
    fields = await hydrate.fields_by_id(conn, field_ids)
    facts[asset.id] = _Facts.of(asset)
    missing = (asset_ids | {f.asset_id for f in fields.values()}) - facts.keys()
    facts.update(await _asset_facts(conn, missing))
    names = _Names(facts, fields)

    def origin(first: Edge | None) -> Planned | None:
        if asset_change is not None:
            return asset_change
        if first is None or first.kind != "field_lineage":
            return None
        return by_seed.get(first.source.id)

    def column_reason(c: AffectedColumn) -> str:
        first = c.path[0] if c.path else None
        cause = origin(first)
        source = names.node(first.source).name if first is not None else "?"
        what = _describe(cause) if cause is not None else "changed"
        if c.direct:
            return f"reads {source} ({first.type if first else '?'}), which is {what}"
        return f"{c.distance} column hops from {source}, which is {what}"

    items: list[ImpactItem] = []
    for rank, entry in enumerate(shown, 1):
        item, found = entry.item, entry.facts
        columns = [
            ImpactColumn(
                id=c.field_id,
                name=fields[c.field_id].name,
                data_type=fields[c.field_id].data_type,
                severity=c.severity,
                distance=c.distance,
                direct=c.direct,
                reason=column_reason(c),
                path=names.path(c.path),
            )
            for c in item.columns
            if c.field_id in fields
        ]
        cause = asset_change
        if cause is None and item.origin is not None:
            cause = by_seed.get(item.origin)
        items.append(
            ImpactItem(
                rank=rank,
                id=found.id,
                type=found.type,
                name=found.name,
                qualified_name=found.qualified_name,
                owners=found.owners,
                tags=found.tag_refs(),
                pii=entry.pii,
                category=entry.category,
                status=item.status,
                severity=item.severity,
                distance=item.distance,
                direct=item.direct,
                basis=item.basis,
                reason=_asset_reason(item, asset, names, cause, columns, by_seed),
                dependents=item.dependents,
                path=names.path(item.path),
                columns=columns,
            )
        )
    left_out = len(result.assets) - len(ranked)
    if left_out:
        notes.append(
            f"{left_out} asset(s) the lineage graph reached are no longer in the catalog "
            "(the graph is catching up): left out"
        )
    if result.truncated:
        notes.append(
            f"the traversal stopped after {result.reached} nodes: items beyond are not "
            "reported; raise limit (up to the server's cap) for the rest"
        )
    omitted = len(ranked) - len(shown)
    if omitted:
        notes.append(
            f"items lists the {len(shown)} most critical of {len(ranked)} affected assets "
            "(max_items); the summary counts them all"
        )
    origins = Counter(item.origin for item in result.assets)
    return ImpactReport(
        asset=asset,
        changes=[_change_out(p, result, asset_change, origins) for p in planned],
        severity=worst(*(entry.item.severity for entry in ranked)),
        summary=_summary(ranked, listed),
        items=items,
        max_depth=0,
        depth_capped=False,
        limit=0,
        limit_capped=False,
        truncated=result.truncated,
        max_items=listed,
        max_items_capped=False,
        items_omitted=omitted,
        notes=notes,
    )


def _asset_reason(
    item: AffectedAsset,
    asset: AssetSummary,
    names: _Names,
    cause: Planned | None,
    columns: Sequence[ImpactColumn],
    by_seed: Mapping[int, Planned],
) -> str:
    what = _describe(cause) if cause is not None else "changed"
    if item.basis == "asset_change":
        if item.direct:
            return f"reads {asset.name} directly, which is {what}"
        return f"downstream of {asset.name}, which is {what}"
    if item.basis == "column_lineage" and columns:
        first = min(columns, key=lambda c: (SEVERITY_ORDER[c.severity], c.distance, c.name))
        more = f" (and {len(columns) - 1} more column(s))" if len(columns) > 1 else ""
        return f"column {first.name} {first.reason}{more}"
    if item.basis == "carries_column":
        if item.carried:
            moved = ", ".join(
                f"{names.node(NodeRef.field(s)).name} ({_describe(by_seed[s])})"
                if s in by_seed
                else names.node(NodeRef.field(s)).name
                for s in item.carried
            )
            return f"reads {asset.name} and moves {moved} to its outputs"
        return "moves an affected column to its outputs (column lineage across it)"
    via = names.node(NodeRef.asset(item.via)).name if item.via is not None else asset.name
    return f"possibly affected: no column-level lineage from {via}"


def _change_out(
    p: Planned,
    result: ImpactGraph,
    asset_change: Planned | None,
    origins: Mapping[int | None, int],
) -> ChangeOut:
    change = p.change
    if asset_change is not None:
        explains = len(result.assets) if p is asset_change else 0
    else:
        assert p.field is not None
        explains = origins.get(p.field.id, 0)
    return ChangeOut(
        kind=change.kind,
        column=getattr(change, "column", None),
        new_name=getattr(change, "new_name", None),
        old_type=p.old_type,
        new_type=getattr(change, "new_type", None),
        new_qualified_name=getattr(change, "new_qualified_name", None),
        severity=p.severity,
        assessment=p.assessment,
        explains=explains,
    )


def _counts(severities: Counter[Severity]) -> SeverityCounts:
    return SeverityCounts(
        breaking=severities["breaking"], warning=severities["warning"], safe=severities["safe"]
    )


def _summary(ranked: Sequence[_Ranked], listed: int) -> ImpactSummary:
    by_severity = Counter(entry.item.severity for entry in ranked)
    by_type: dict[str, Counter[Severity]] = defaultdict(Counter)
    for entry in ranked:
        by_type[entry.facts.type][entry.item.severity] += 1
    # in rank order, each once
    owners = dict.fromkeys(owner for entry in ranked for owner in entry.facts.owners)

    def named(category: str) -> list[NamedAsset]:
        chosen = islice((entry for entry in ranked if entry.category == category), listed)
        return [
            NamedAsset(
                id=e.facts.id,
                type=e.facts.type,
                name=e.facts.name,
                qualified_name=e.facts.qualified_name,
                owners=e.facts.owners,
                status=e.item.status,
                severity=e.item.severity,
            )
            for e in chosen
        ]

    return ImpactSummary(
        assets=len(ranked),
        columns=sum(e.item.column_count for e in ranked),
        possibly_affected=sum(1 for e in ranked if e.item.status == "possibly_affected"),
        by_severity=_counts(by_severity),
        by_asset_type={t: _counts(counts) for t, counts in sorted(by_type.items())},
        exposures=named("exposure"),
        jobs=named("job"),
        owners=list(owners),
        pii_assets=sum(1 for e in ranked if e.pii),
    )


# --- entry points ---------------------------------------------------------------------------------


async def target_asset(
    conn: Conn, asset_id: int | None, qualified_name: str | None
) -> AssetSummary:
    if qualified_name is not None:
        asset_id = await resolve_qualified_name(conn, qualified_name)
    assert asset_id is not None
    found = await hydrate.assets_by_id(conn, [asset_id])
    if asset_id not in found:
        raise NotFound(f"asset {asset_id} does not exist")
    return found[asset_id]


async def catalog_columns(conn: Conn, asset_ids: Collection[int]) -> dict[int, list[CatalogColumn]]:
    rows = await db.fetch_all(conn, Q["impact_fields_of_assets"], {"ids": list(asset_ids)})
    found: dict[int, list[CatalogColumn]] = defaultdict(list)
    for r in rows:
        found[int(r["asset_id"])].append(CatalogColumn(int(r["id"]), r["name"], r["data_type"]))
    return found


async def impact_of_changes(
    conn: Conn, graph: GraphEngine, tenant_id: UUID, request: ImpactRequest, caps: ImpactCaps
) -> ImpactReport:
    """``POST /impact``: the proposed changes to one asset, checked and analysed."""
    asset = await target_asset(conn, request.asset_id, request.qualified_name)
    columns = (await catalog_columns(conn, [asset.id]))[asset.id]
    planned, notes = plan_changes(asset, columns, request.changes)
    return await run_impact(
        conn, graph, tenant_id, asset, columns, planned, notes, caps,
        request.max_depth, request.limit, request.max_items,
    )  # fmt: skip


# --- schema diff ----------------------------------------------------------------------------------


def diff_columns(
    current: Sequence[CatalogColumn],
    proposed: Sequence[FieldSpec],
    *,
    renames: Mapping[str, str],
    detect_renames: bool,
    full: bool,
    loc: Sequence[str | int] = ("body",),
) -> tuple[SchemaDiff, list[ProposedChange]]:
    """The changes that turn ``current`` into ``proposed`` (see the module docstring)."""
    remaining = {c.name: c for c in current}
    matched: list[tuple[CatalogColumn, FieldSpec]] = []
    unmatched: list[FieldSpec] = []
    for spec in proposed:
        column = remaining.pop(spec.name, None)
        if column is None:
            unmatched.append(spec)
        else:
            matched.append((column, spec))
    still: list[FieldSpec] = []
    for spec in unmatched:
        same = [n for n in remaining if n.lower() == spec.name.lower()]
        if len(same) == 1:
            matched.append((remaining.pop(same[0]), spec))
        else:
            still.append(spec)
    added = {s.name: s for s in still}
    renamed: list[tuple[CatalogColumn, FieldSpec, bool]] = []
    errors: list[dict[str, Any]] = []
    for old, new in renames.items():
        if old not in remaining or new not in added:
            errors.append(
                {
                    "loc": [*loc, "renames", old],
                    "msg": f"a rename {old!r} -> {new!r} needs {old!r} to be a current column "
                    f"missing from the new list and {new!r} a new column",
                }
            )
            continue
        renamed.append((remaining.pop(old), added.pop(new), False))
    if errors:
        raise Unprocessable(f"renames do not fit the schemas: {errors[0]['msg']}", errors=errors)
    if detect_renames and full:
        position = {c.name: i for i, c in enumerate(current)}
        at = {s.name: i for i, s in enumerate(proposed)}
        for name, column in list(remaining.items()):
            for new_name, spec in list(added.items()):
                if (
                    position[name] == at[new_name]
                    and column.data_type
                    and normalise_type(column.data_type) == normalise_type(spec.data_type)
                ):
                    renamed.append((remaining.pop(name), added.pop(new_name), True))
                    break
    changes: list[ProposedChange] = []
    dropped = sorted(remaining) if full else []
    for name in dropped:
        changes.append(DropColumn(kind="drop_column", column=name))
    for column, spec, _ in renamed:
        changes.append(
            RenameColumn.model_validate(
                {"kind": "rename_column", "column": column.name, "new_name": spec.name}
            )
        )
    type_changed = []
    unchanged = 0
    for column, spec in matched:
        if column.data_type and spec.data_type:
            verdict = assess_type_change(column.data_type, spec.data_type)
            if verdict.verdict != "same":
                type_changed.append(
                    TypeChangeOut(
                        column=column.name,
                        old_type=column.data_type,
                        new_type=spec.data_type,
                        verdict=verdict.verdict,
                        severity=verdict.severity,
                    )
                )
                changes.append(
                    ChangeType(
                        kind="change_type",
                        column=column.name,
                        old_type=column.data_type,
                        new_type=spec.data_type,
                    )
                )
                continue
        unchanged += 1
    diff = SchemaDiff(
        compared="full" if full else "declared",
        dropped=dropped,
        added=sorted(added),
        type_changed=type_changed,
        renamed=[RenameOut(old=c.name, new=s.name, detected=d) for c, s, d in renamed],
        unchanged=unchanged,
    )
    return diff, changes


async def schema_diff_impact(
    conn: Conn, graph: GraphEngine, tenant_id: UUID, request: SchemaDiffRequest, caps: ImpactCaps
) -> SchemaDiffReport:
    """``POST /impact/schema-diff``: a new column list for an asset, diffed and analysed."""
    asset = await target_asset(conn, request.asset_id, request.qualified_name)
    columns = (await catalog_columns(conn, [asset.id]))[asset.id]
    check_unique_names(request.columns, ("body", "columns"))
    diff, changes = diff_columns(
        columns,
        request.columns,
        renames=request.renames,
        detect_renames=request.detect_renames,
        full=True,
    )
    planned, notes = plan_changes(asset, columns, changes)
    impact = await run_impact(
        conn, graph, tenant_id, asset, columns, planned, notes, caps,
        request.max_depth, request.limit, request.max_items,
    )  # fmt: skip
    return SchemaDiffReport(diff=diff, impact=impact)
