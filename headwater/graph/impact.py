"""Impact analysis on the lineage graph: what a proposed schema change reaches, and how surely.

Pure rules over engine traversals, with work proportional to what the change reaches rather than
to everything downstream of it at table level:

* One :meth:`~headwater.graph.engine.GraphEngine.closure` over column lineage (and from each
  reached column to its table) finds the affected columns and the assets holding them.
* Table-level flow only decides where column lineage is missing (rules 3 and 4), so assets are
  expanded in *waves*: a closure over flow relationships from the tainted assets, two hops deep
  (their consumers, and the outputs of the column-less ones, which rule 4 looks at), then the
  rules. The flow out of an asset a wave has not expanded is unknown and not used (a
  column-less one is opaque until then); a tainted asset not expanded yet starts the next wave,
  unbounded when every consumer of it is suspect, and the rules run again over the larger
  region. A change that column lineage describes all the way down takes one wave over the
  neighbourhood of its columns' tables, however large their table-level downstream is.

A closure reports one tree edge per node; the rules also need, for the region the waves reached,
its flow relationships, which of its assets have column lineage, and which assets the changed
columns' lineage feeds. One call to an :class:`EvidenceSource` per wave supplies those
(the memory engine's own tables, ``MemoryGraphEngine.impact_evidence``; the catalog in Postgres
for other engines; :class:`GraphDataEvidence` over a snapshot in tests and benchmarks), and
:func:`assess` applies the rules below, as array passes over the region. Nothing is read per
column or per asset.

Rules
-----
A request changes columns of one asset A (the *seeds*, each carrying the severity its change has
for a direct consumer) or A as a whole (drop / rename). Changes that are safe in themselves (a
type change to the same type) are not seeds: nothing downstream needs to know.

1. **Column lineage.** Every column reachable from a seed over column lineage is *affected*; its
   distance is the number of column-lineage hops. A column fed directly by a seed takes that
   change's severity (the worst when several seeds feed it); a column further down is a
   *warning*: its input breaks or changes, so its data goes stale or changes until fixed.
2. An asset containing an affected column is *affected*, with the worst severity of its columns.
3. **Table-level lineage where column lineage is missing.** An asset *has column lineage* when
   some column lineage ends in one of its columns. Producers record it per output, for all of
   an output's columns or none (dbt and SQL lineage from the output's query, OpenLineage's
   columnLineage facet per output dataset), so an asset that has it is judged by rule 1 alone:
   column lineage says whether it reads a changed column. A flow hop U -> D from a *tainted* U
   (A itself, an affected or a possibly affected asset) to a D with columns but no column
   lineage makes D *possibly affected: no column-level lineage* (a warning): D reads U, but
   nobody recorded which columns. Every column of a possibly affected asset is suspect, so
   every flow hop out of it, with or without column lineage, makes its target possibly
   affected too.
4. **Assets without columns** (jobs, pipelines; dashboards and other exposures that declare none)
   sit between tables, ``U -> job -> O``, or at the end of the flow. Such a node is *affected*
   when column lineage runs from an affected or changed column of one of its inputs to one of its
   outputs: it carries the column, and is a direct consumer (with the change's severity) when
   the column is a seed. It is *possibly affected* when a tainted input X reaches it and what
   passes through cannot be checked: X is possibly affected, the node has no outputs (a
   dashboard), or some output has no column lineage. An output O of such a node is possibly
   affected when the node has a possibly affected input or O has no column lineage (and some
   input is tainted); otherwise O is judged by rule 1.
5. **Dropping or renaming A itself**: everything downstream of A (flow relationships, and column
   lineage from any of A's columns) is affected; direct consumers (one hop from A or from one of
   its columns) take the change's severity, the rest are warnings.

A relationship is followed only along its declared flow (``PRODUCES``, ``USES``, ``DEPENDS_ON``;
see :mod:`headwater.graph.model`). Distances are hops along the explaining path: column lineage
and relationships count one each, and an asset affected through a column is at that column's
distance. Every item carries one shortest explaining path. The overall severity is the worst
item's, so a change that nothing consumes is safe.

Caps: ``max_depth`` bounds the distance of reported items (the column closure looks one hop
further, and no wave starts from an asset beyond it); ``limit`` bounds how many nodes (columns
and assets, the changed ones aside) the traversals may reach, ``truncated`` when it cut them.
Items at the edge of a cut are judged on what lies inside it. Explaining paths and an item's
columns are built when read, so a caller that lists the first hundred of a hundred thousand items
pays for a hundred.

Example (``await`` in an async context)::

    result = await analyze(engine, tenant, ImpactQuery(7, {42: "breaking"}), evidence)
    [(a.asset_id, a.status, a.severity) for a in result.assets]
    # [(9, 'affected', 'breaking'), (12, 'possibly_affected', 'warning')]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from headwater.graph.engine import GraphEngine
from headwater.graph.model import (
    CONTAINS,
    ClosureStep,
    Edge,
    Flow,
    GraphData,
    Labels,
    NodeRef,
    Traversal,
    flow_of,
    sorted_unique,
)

__all__ = [
    "COLUMN_STEPS",
    "SEVERITIES",
    "TABLE_STEPS",
    "AffectedAsset",
    "AffectedColumn",
    "Basis",
    "Evidence",
    "EvidenceSource",
    "FlowEdges",
    "GraphDataEvidence",
    "ImpactGraph",
    "ImpactQuery",
    "Reach",
    "Severity",
    "Status",
    "analyze",
    "assess",
    "worst",
]

Severity = Literal["safe", "warning", "breaking"]
SEVERITIES: Final[tuple[Severity, ...]] = ("safe", "warning", "breaking")
Status = Literal["affected", "possibly_affected"]
Basis = Literal["column_lineage", "carries_column", "table_lineage", "asset_change"]
"""Why an asset is reported: it holds affected columns; it is a column-less process moving an
affected column; table-level lineage reaches it without column lineage; its upstream asset is
dropped or renamed."""
_BASES: Final[tuple[Basis, ...]] = (
    "column_lineage",
    "carries_column",
    "table_lineage",
    "asset_change",
)

COLUMN_STEPS: Final[frozenset[ClosureStep]] = frozenset({"field_lineage", "field_to_asset"})
"""The column closure: column lineage, and from each reached column to its table."""
TABLE_STEPS: Final[frozenset[ClosureStep]] = frozenset({"relationships"})
"""A wave: flow relationships between assets."""
# The consumers of a tainted asset, and the outputs of those without columns (rule 4).
FIRST_WAVE_DEPTH: Final = 2


def worst(*severities: Severity) -> Severity:
    """The most severe of ``severities`` (safe when none)."""
    return max(severities, key=SEVERITIES.index, default="safe")


I64 = NDArray[np.int64]
Int8s = NDArray[np.int8]
Bools = NDArray[np.bool_]
_FAR: Final = np.iinfo(np.int64).max  # the distance of a node no explaining path reaches


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImpactQuery:
    """What changes: columns of ``asset_id`` (``seeds``: field id -> the severity of its change for
    a direct consumer), or the asset itself (``asset_change``: the severity of dropping or
    renaming it; then ``seeds`` should hold every column of the asset)."""

    asset_id: int
    seeds: Mapping[int, Severity] = field(default_factory=dict)
    asset_change: Severity | None = None
    max_depth: int | None = None
    limit: int | None = None


@dataclass(frozen=True, eq=False)
class FlowEdges:
    """Relationships as parallel arrays, in stored orientation: a region holds tens of thousands
    of them, of which the rules look at the few leaving tainted assets."""

    id: I64
    source: I64
    target: I64
    type: Sequence[str]

    @classmethod
    def of(cls, edges: Iterable[Edge]) -> FlowEdges:
        rows = [e for e in edges if e.kind == "relationship"]
        return cls(
            np.array([e.id for e in rows], np.int64),
            np.array([e.source.id for e in rows], np.int64),
            np.array([e.target.id for e in rows], np.int64),
            [e.type for e in rows],
        )

    def __len__(self) -> int:
        return len(self.id)

    def edge(self, row: int) -> Edge:
        return Edge(
            "relationship",
            int(self.id[row]),
            NodeRef.asset(int(self.source[row])),
            NodeRef.asset(int(self.target[row])),
            self.type[row],
        )

    def flowing(self) -> tuple[I64, I64, I64]:
        """(upstream asset, downstream asset, row) of each row that carries flow between two
        distinct assets, in row order."""
        if isinstance(self.type, Labels):  # codes into names: no per-row Python
            names = [flow_of(n) for n in self.type.names] or [Flow.NONE]
            codes = self.type.codes
            forward = np.array([k is Flow.FORWARD for k in names])[codes]
            flows = np.array([k is not Flow.NONE for k in names])[codes]
        else:
            kinds = {t: flow_of(t) for t in set(self.type)}
            kind = [kinds[t] for t in self.type]
            forward = np.fromiter((k is Flow.FORWARD for k in kind), bool, len(kind))
            flows = np.fromiter((k is not Flow.NONE for k in kind), bool, len(kind))
        up = np.where(forward, self.source, self.target)
        down = np.where(forward, self.target, self.source)
        rows = np.flatnonzero(flows & (up != down))
        return up[rows], down[rows], rows


def _no_flows() -> FlowEdges:
    empty = np.zeros(0, np.int64)
    return FlowEdges(empty, empty, empty, ())


@dataclass(frozen=True)
class Evidence:
    """The edges among a reached region that the rules need and a closure does not report.

    ``flows``: relationships with a declared flow between two region assets (stored orientation).
    ``lineage_targets``: the region assets in which some column lineage ends (from anywhere).
    ``carrying_pairs``: (upstream asset, downstream asset) pairs of the region joined by a
    column-lineage edge that starts at a tainted column (a seed or a column the closure
    reached). ``with_columns``: the region assets that have at least one column.
    ``field_assets``: the asset of each tainted column. ``direct``: the column-lineage edges
    that start at a seed.
    """

    flows: FlowEdges = field(default_factory=_no_flows)
    lineage_targets: Collection[int] = frozenset()
    carrying_pairs: Collection[tuple[int, int]] = frozenset()
    with_columns: Collection[int] = frozenset()
    field_assets: Mapping[int, int] = field(default_factory=dict)
    direct: Sequence[Edge] = ()


class EvidenceSource(Protocol):
    """Where :func:`analyze` gets the :class:`Evidence` of a reached region, in one call."""

    async def evidence(
        self, assets: Sequence[int], tainted_fields: Sequence[int], seeds: Sequence[int]
    ) -> Evidence: ...


@dataclass(frozen=True)
class Reach:
    """What the traversals found: ``columns``, the closure from the changed columns over
    column lineage (with each reached column's table); ``assets``, the region of assets the
    waves reached (the changed asset included); ``expanded``, those of them whose every flow
    consumer is in the region too (the others' flow out is not known, so it is not used);
    ``reached``, how many nodes the traversals reached in all; ``truncated``, whether the node
    limit cut them."""

    columns: Traversal
    assets: I64
    expanded: I64
    reached: int
    truncated: bool


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AffectedColumn:
    """A column downstream of a changed column (rule 1); ``path`` runs from a seed."""

    field_id: int
    asset_id: int
    distance: int
    severity: Severity
    direct: bool
    _paths: _Paths = field(repr=False, compare=False)
    _row: int = field(repr=False, compare=False)

    @property
    def path(self) -> tuple[Edge, ...]:
        return self._paths.column(self._row)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, eight times the cost
# of building one, and a report builds thousands.
@dataclass(slots=True)
class AffectedAsset:
    """An asset the change reaches. ``path`` runs from a seed column (through column lineage)
    or from the changed asset; ``via`` is the upstream asset of the path's last table-level hop
    (for ``table_lineage``: the asset it has no column lineage from). ``dependents``: how many
    other reported assets are explained through this one. ``origin``: the column the path
    starts from (a changed column, unless a limit cut the walk), None when it starts at the
    changed asset. ``columns``: its affected columns, nearest first, built when read (a report
    lists a few of thousands of items); ``column_count`` counts them without building them."""

    asset_id: int
    status: Status
    basis: Basis
    severity: Severity
    distance: int
    direct: bool
    column_count: int
    via: int | None
    carried: tuple[int, ...]  # seeds a column-less process moves straight to its outputs
    dependents: int
    origin: int | None
    _paths: _Paths = field(repr=False, compare=False)
    _node: int = field(repr=False, compare=False)
    _first_column: int = field(repr=False, compare=False)

    @property
    def path(self) -> tuple[Edge, ...]:
        return self._paths.asset(self._node)

    @property
    def columns(self) -> tuple[AffectedColumn, ...]:
        return self._paths.columns(self._first_column, self.column_count, self.asset_id)


@dataclass(frozen=True)
class ImpactGraph:
    """The outcome: affected assets (each with its affected columns), nearest first."""

    asset_id: int
    assets: tuple[AffectedAsset, ...]
    severity: Severity
    truncated: bool
    reached: int  # nodes the traversals reached (assets and columns, starts included)

    def columns(self) -> list[AffectedColumn]:
        return [c for a in self.assets for c in a.columns]


# --- the analysis ---------------------------------------------------------------------------------

_NO_COLUMNS: Final = Traversal.from_rows((), "downstream", (), False)


async def analyze(
    engine: GraphEngine, tenant_id: UUID, query: ImpactQuery, source: EvidenceSource
) -> ImpactGraph:
    """Run the column closure and the waves (see the module doc), fetch the evidence of the
    reached region once per wave, and apply the rules."""
    if not query.seeds and query.asset_change is None:
        return ImpactGraph(query.asset_id, (), "safe", False, 0)
    seeds = sorted(query.seeds)
    cap = query.max_depth
    # Every node counts against the limit but the changed columns and the changed asset.
    allowed = None if query.limit is None else query.limit + len(seeds) + 1
    columns = _NO_COLUMNS
    if seeds:
        # Columns one hop beyond the cap still tell what a process carries (rule 4); one more
        # hop reaches their tables.
        columns = await engine.closure(
            tenant_id,
            [NodeRef.field(f) for f in seeds],
            "downstream",
            steps=COLUMN_STEPS,
            max_depth=None if cap is None else cap + 2,
            limit=allowed,
        )
    seed_ids = np.asarray(seeds, np.int64)
    tainted = sorted_unique(np.concatenate([columns.id[_column_rows(columns, cap)], seed_ids]))
    fields = int(np.count_nonzero(columns.kind == 1))
    truncated = columns.truncated
    region = sorted_unique(np.append(columns.ids("asset"), query.asset_id))
    expanded = np.zeros(0, np.int64)
    pending = region
    # Dropping the asset taints everything downstream of it: no wave would stop short.
    depth: int | None = FIRST_WAVE_DEPTH if query.asset_change is None else None
    while True:
        if len(pending) and not truncated:
            budget = None if allowed is None else allowed - fields - len(region) + len(pending)
            wave = await engine.closure(
                tenant_id,
                [NodeRef.asset(a) for a in pending.tolist()],
                "downstream",
                steps=TABLE_STEPS,
                max_depth=depth,
                limit=None if budget is None else max(budget, len(pending)),
            )
            truncated = wave.truncated
            found = wave.ids("asset")
            hops = wave.distance[wave.kind == 0]
            region = sorted_unique(np.concatenate([region, found]))
            # A node's consumers are one hop further: all in the wave unless it stopped there
            # (the depth, or the limit cutting the last level short).
            last = depth if not truncated else int(hops.max(initial=0)) - 1
            done = found if last is None else found[hops < last]
            expanded = sorted_unique(np.concatenate([expanded, done]))
        reach = Reach(columns, region, expanded, fields + len(region), truncated)
        evidence = await source.evidence(region.tolist(), tainted.tolist(), seeds)
        rules = _Rules(query, reach, evidence)
        if truncated:
            break
        pending = rules.unexpanded()
        if not len(pending):
            break
        depth = None if rules.spreads(pending) else FIRST_WAVE_DEPTH
    return rules.result()


def assess(query: ImpactQuery, reach: Reach, evidence: Evidence) -> ImpactGraph:
    """Apply the module's rules to what the traversals reached and its region's evidence."""
    return _Rules(query, reach, evidence).result()


def _column_rows(columns: Traversal, cap: int | None) -> I64:
    """The rows of the affected columns: reached, and at most one hop beyond the cap."""
    keep = (columns.kind == 1) & (columns.distance > 0)
    if cap is not None:
        keep &= columns.distance <= cap + 1
    rows: I64 = np.flatnonzero(keep)
    return rows


def _ranges(starts: I64, counts: I64) -> I64:
    """``starts[i] .. starts[i] + counts[i]`` for every i, concatenated in order."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(counts) - counts
    ranges: I64 = np.repeat(starts - offsets, counts) + np.arange(total)
    return ranges


def _locate(sorted_ids: I64, values: I64) -> tuple[I64, Bools]:
    """Where each of ``values`` sits in ``sorted_ids``, and whether it is there: O(k log n) for
    k values, where np.isin would sort all n ids again on every call."""
    at = np.searchsorted(sorted_ids, values)
    found = at < len(sorted_ids)
    found[found] = sorted_ids[at[found]] == values[found]
    return at, found


def _ids(values: Collection[int]) -> I64:
    """Ids as an array, whichever collection an evidence source returned them in."""
    if isinstance(values, np.ndarray):
        return values.astype(np.int64, copy=False)
    return np.fromiter(values, np.int64, len(values))


class _Rules:
    """The rules over one region, as arrays indexed by position in ``ids`` (the region's asset
    ids, sorted). State only grows (tainted, possibly affected, a column-less node's status),
    so :meth:`_spread` reaches the least fixpoint by passing on only what changed."""

    def __init__(self, query: ImpactQuery, reach: Reach, evidence: Evidence) -> None:
        self.q = query
        self.reach = reach
        self.t = reach.columns
        self.ev = evidence
        self.whole = query.asset_change is not None
        self._columns()
        self.ids: I64 = sorted_unique(np.concatenate([reach.assets, self.col_owner_id]))
        self.n = n = len(self.ids)
        self.ai = int(np.searchsorted(self.ids, query.asset_id))
        self.col_owner: I64 = np.searchsorted(self.ids, self.col_owner_id)
        self._flows()
        self.hascol = np.isin(self.ids, _ids(evidence.with_columns))
        self.hascol[self.col_owner] = True
        self.described = np.isin(self.ids, _ids(evidence.lineage_targets))
        outputs = np.diff(self.ptr)
        blind = np.bincount(self.up, weights=~self.described[self.down], minlength=n)
        self.opaque: Bools = (outputs == 0) | (blind > 0)
        self._carriers()
        self._spread()
        self._distances()

    # column level (rules 1, 2)

    def _columns(self) -> None:
        known = self.ev.field_assets
        fids = np.fromiter(known.keys(), np.int64, len(known))
        owners = np.fromiter(known.values(), np.int64, len(known))
        order = np.argsort(fids)
        self.known_ids, self.known_owner = fids[order], owners[order]
        rows = _column_rows(self.t, self.q.max_depth)
        at, found = self._known(self.t.id[rows])
        self.col_row: I64 = rows[found]  # rows gone from the authority are not reported
        self.col_fid: I64 = self.t.id[self.col_row]
        self.col_dist: I64 = self.t.distance[self.col_row].astype(np.int64)
        self.col_owner_id: I64 = self.known_owner[at[found]]
        self.direct_sev: dict[int, Severity] = {}
        affected = set(self.col_fid.tolist())
        for edge in self.ev.direct:
            seed, target = edge.source.id, edge.target.id
            if target in affected and seed in self.q.seeds:
                self.direct_sev[target] = worst(
                    self.direct_sev.get(target, "safe"), self.q.seeds[seed]
                )
        direct = sorted(self.direct_sev)
        self.direct_ids: I64 = np.array(direct, np.int64)
        self.direct_level: Int8s = np.array(
            [SEVERITIES.index(self.direct_sev[f]) for f in direct], np.int8
        )

    def _known(self, fields: I64) -> tuple[I64, Bools]:
        return _locate(self.known_ids, fields)

    def _direct(self, fields: I64) -> tuple[Int8s, Bools]:
        """Per affected column: its severity (index into ``SEVERITIES``: a warning unless a seed
        feeds it, rule 1), and whether a seed feeds it."""
        at, fed = _locate(self.direct_ids, fields)
        level = np.full(len(fields), SEVERITIES.index("warning"), np.int8)
        level[fed] = self.direct_level[at[fed]]
        return level, fed

    # table level (rules 3, 4)

    def _flows(self) -> None:
        flows = self.ev.flows
        up, down, rows = flows.flowing()
        iu, idn = np.searchsorted(self.ids, up), np.searchsorted(self.ids, down)
        inside = (iu < self.n) & (idn < self.n)
        inside[inside] = (self.ids[iu[inside]] == up[inside]) & (
            self.ids[idn[inside]] == down[inside]
        )
        # The flow out of an asset whose consumers the waves have not all fetched is unknown:
        # the rules take it as opaque (rule 4) and the next wave fetches it.
        inside &= np.isin(up, self.reach.expanded)
        iu, idn, rows = iu[inside], idn[inside], rows[inside]
        order = np.lexsort((flows.id[rows], iu))  # out-edges of a node by edge id
        self.up: I64 = iu[order]
        self.down: I64 = idn[order]
        self.row: I64 = rows[order]
        self.ptr: I64 = np.searchsorted(self.up, np.arange(self.n + 1))

    def _out(self, nodes: I64) -> I64:
        """The edges out of ``nodes``, node by node, each node's by edge id."""
        return _ranges(self.ptr[nodes], self.ptr[nodes + 1] - self.ptr[nodes])

    def _carriers(self) -> None:
        """Which input X of a column-less node J is a carrier: column lineage from a tainted
        column of X ends in an output of J (``carrier_edge``: per edge X -> J)."""
        n = self.n
        pairs = list(self.ev.carrying_pairs)
        ins = np.fromiter((p[0] for p in pairs), np.int64, len(pairs))
        outs = np.fromiter((p[1] for p in pairs), np.int64, len(pairs))
        ix, io = np.searchsorted(self.ids, ins), np.searchsorted(self.ids, outs)
        inside = (ix < n) & (io < n)
        inside[inside] = (self.ids[ix[inside]] == ins[inside]) & (
            self.ids[io[inside]] == outs[inside]
        )
        ix, io = ix[inside], io[inside]
        by_output = np.argsort(io, kind="stable")
        ix, io = ix[by_output], io[by_output]
        # For each hop J -> O out of a column-less J: the inputs X with a carrying pair (X, O).
        hops = np.flatnonzero(~self.hascol[self.up])
        lo = np.searchsorted(io, self.down[hops], "left")
        hi = np.searchsorted(io, self.down[hops], "right")
        candidates = ix[_ranges(lo, hi - lo)] * n + np.repeat(self.up[hops], hi - lo)
        edges = self.up * n + self.down
        # Node pairs span n * n values, beyond np.isin's lookup table: it would sort both sides.
        carriers = sorted_unique(candidates[_locate(np.sort(edges), candidates)[1]])
        self.carrier_edge: Bools = _locate(carriers, edges)[1]
        self.carries = np.zeros(n, bool)
        self.carries[carriers % n] = True

    def _spread(self) -> None:
        """The least fixpoint of rules 3 and 4. A tainted node U *emits* to its consumers:
        strongly (every consumer with columns is suspect) when U is possibly affected, or a
        column-less node with a possibly affected input, or the asset itself is dropped;
        weakly (only consumers without column lineage) otherwise, when U has columns or a
        tainted input. A column-less node with a tainted input is affected when it carries a
        column (or the asset is dropped), else possibly affected when it is opaque or has a
        possibly affected input."""
        n, a, up, down = self.n, self.ai, self.up, self.down
        whole = self.whole
        possibly = np.zeros(n, bool)
        possibly[a] = whole
        status = np.zeros(n, np.int8)  # a column-less node's: 0 none, 1 possibly, 2 affected
        tainted = np.zeros(n, bool)
        tainted[a] = True
        tainted[self.col_owner] = True
        fed = np.zeros(n, bool)  # has a tainted input
        suspect_input = np.zeros(n, bool)  # has a possibly affected input
        emits = np.zeros(n, np.int8)  # 0 nothing, 1 weakly, 2 strongly
        judged = ~self.hascol
        judged[a] = False  # the changed asset is never judged: hops into it are not followed
        carrying = np.where(whole | self.carries, 2, 0).astype(np.int8)
        changed = np.flatnonzero(tainted)
        while len(changed):
            hops = self._out(changed)
            kids = down[hops]
            newly_fed = kids[~fed[kids]]
            fed[kids] = True
            suspected = kids[possibly[up[hops]]]
            newly_suspected = suspected[~suspect_input[suspected]]
            suspect_input[suspected] = True
            flagged = sorted_unique(np.concatenate([newly_fed, newly_suspected]))
            nodes = flagged[judged[flagged]]
            judgement = np.maximum(carrying[nodes], self.opaque[nodes] | suspect_input[nodes])
            raised = judgement > status[nodes]
            status[nodes[raised]] = judgement[raised]
            newly_tainted = nodes[raised & ~tainted[nodes]]
            tainted[newly_tainted] = True
            candidates = sorted_unique(np.concatenate([changed, flagged]))
            candidates = candidates[tainted[candidates]]
            strong = whole | possibly[candidates]
            strong |= ~self.hascol[candidates] & suspect_input[candidates]
            weak = self.hascol[candidates] | fed[candidates]
            level = np.where(strong, 2, np.where(weak, 1, 0)).astype(np.int8)
            louder = level > emits[candidates]
            loud = candidates[louder]
            emits[loud] = level[louder]
            hops = self._out(loud)
            kids = down[hops]
            hit = (kids != a) & self.hascol[kids] & ~possibly[kids]
            hit &= (emits[up[hops]] == 2) | ~self.described[kids]
            newly_possibly = sorted_unique(kids[hit])
            possibly[newly_possibly] = True
            tainted[newly_possibly] = True
            changed = sorted_unique(np.concatenate([newly_tainted, newly_possibly]))
        self.possibly, self.status, self.tainted, self.emits = possibly, status, tainted, emits

    def _justified(self) -> Bools:
        """Which hops U -> D explain D's state (with the final state)."""
        up, down = self.up, self.down
        into_judged = ~self.hascol[down]
        passes = self.possibly[up] | self.carrier_edge | self.opaque[down]
        suspects = (self.emits[up] == 2) | ((self.emits[up] == 1) & ~self.described[down])
        ok = np.where(into_judged, (self.status[down] > 0) & passes, self.possibly[down] & suspects)
        ok |= self.whole
        ok &= self.tainted[up] & (down != self.ai)
        return ok

    # distances and paths

    def _distances(self) -> None:
        """Shortest explaining distances, level by level from the changed asset (0) and from
        each asset with affected columns (its nearest column's distance). Ties go to a column,
        then to the upstream asset of lowest id, then to the lowest edge id."""
        n = self.n
        dist = np.full(n, _FAR, np.int64)
        via_col = np.full(n, -1, np.int64)  # index into the col_* arrays
        via_hop = np.full(n, -1, np.int64)  # index into up/down/row
        dist[self.ai] = 0
        if len(self.col_fid):
            order = np.lexsort((self.col_fid, self.col_dist, self.col_owner))
            owners = self.col_owner[order]
            first = order[np.r_[True, owners[1:] != owners[:-1]]]
            first = first[self.col_owner[first] != self.ai]
            dist[self.col_owner[first]] = self.col_dist[first]
            via_col[self.col_owner[first]] = first
        hops = np.flatnonzero(self._justified())
        ptr = np.searchsorted(self.up[hops], np.arange(n + 1))
        level, top = 0, int(dist[dist < _FAR].max())
        while level <= top:
            front = np.flatnonzero(dist == level)
            chosen = hops[_ranges(ptr[front], ptr[front + 1] - ptr[front])]
            kids = self.down[chosen]
            better = dist[kids] > level + 1
            kids, chosen = kids[better], chosen[better]
            if len(kids):
                kids, first = np.unique(kids, return_index=True)
                dist[kids] = level + 1
                via_hop[kids] = chosen[first]
                via_col[kids] = -1
                top = max(top, level + 1)
            level += 1
        self.dist, self.via_col, self.via_hop = dist, via_col, via_hop

    # waves

    def unexpanded(self) -> I64:
        """Tainted assets within the depth cap whose consumers no wave has fetched yet (the
        engine's region only: an owner only the authority knows yet is left as it is)."""
        todo = self.tainted & ~np.isin(self.ids, self.reach.expanded)
        todo &= np.isin(self.ids, self.reach.assets)
        if self.q.max_depth is not None:
            todo &= self.dist <= self.q.max_depth
        nodes: I64 = self.ids[todo]
        return nodes

    def spreads(self, assets: I64) -> bool:
        """Does one of ``assets`` make every consumer with columns suspect (then the next wave
        need not stop at two hops)?"""
        return bool((self.emits[np.searchsorted(self.ids, assets)] == 2).any())

    # the result

    def result(self) -> ImpactGraph:
        cap, a, n = self.q.max_depth, self.ai, self.n
        rows = np.flatnonzero(
            np.ones(len(self.col_fid), bool) if cap is None else self.col_dist <= cap
        )
        rows = rows[np.lexsort((self.col_fid[rows], self.col_dist[rows], self.col_owner[rows]))]
        bounds = np.searchsorted(self.col_owner[rows], np.arange(n + 1))
        held = np.zeros(n, bool)
        held[self.col_owner] = True
        reported = held | self.possibly | (self.status > 0)
        reported[a] = held[a]
        within = self.dist <= (_FAR - 1 if cap is None else cap)
        within[a] = bool(bounds[a + 1] > bounds[a])  # the asset's own derived columns
        nodes = np.flatnonzero(reported & within)
        distance = self.dist[nodes]
        if within[a]:  # the changed asset's own item is at its nearest column's distance
            distance[nodes == a] = self.col_dist[rows[bounds[a]]]
        order = np.lexsort((nodes, distance))  # by (distance, id): nodes index sorted ids
        nodes, distance = nodes[order], distance[order]
        paths = _Paths(self, rows, int(self.col_row[rows[bounds[a]]]) if within[a] else -1)
        dependents, origins = self._chains(nodes, paths.first_of_a)
        basis, severity, direct = self._verdicts(nodes, rows, bounds)
        hop = self.via_hop[nodes]
        via = np.full(len(nodes), -1, np.int64)
        via[hop >= 0] = self.ids[self.up[hop[hop >= 0]]]
        items: list[AffectedAsset] = []
        for node, asset, at, upstream, kind, level, first, through, origin, start, end in zip(
            nodes.tolist(),
            self.ids[nodes].tolist(),
            distance.tolist(),
            via.tolist(),
            basis.tolist(),
            severity.tolist(),
            direct.tolist(),
            dependents[nodes].tolist(),
            origins.tolist(),
            bounds[nodes].tolist(),
            bounds[nodes + 1].tolist(),
            strict=True,
        ):
            carried: tuple[int, ...] = ()
            if _BASES[kind] == "carries_column" and first:
                carried = self._carried_seeds(node)
                first = bool(carried)
                level = max(SEVERITIES.index(self.q.seeds[s]) for s in carried) if carried else 1
            items.append(
                AffectedAsset(
                    asset,
                    "possibly_affected" if _BASES[kind] == "table_lineage" else "affected",
                    _BASES[kind],
                    SEVERITIES[level],
                    at,
                    first,
                    end - start,
                    None if upstream < 0 else upstream,
                    carried,
                    through,
                    None if origin < 0 else origin,
                    paths,
                    node,
                    start,
                )
            )
        return ImpactGraph(
            self.q.asset_id,
            tuple(items),
            worst(*(i.severity for i in items)),
            self.reach.truncated,
            self.reach.reached,
        )

    def _verdicts(self, nodes: I64, rows: I64, bounds: I64) -> tuple[Int8s, Int8s, Bools]:
        """Per reported node: its basis (index into ``_BASES``), severity (index into
        ``SEVERITIES``) and whether it is a direct consumer. A column-less carrier fed by the
        changed asset is marked direct here; the seeds it carries settle both (see result)."""
        n, a = self.n, self.ai
        owners = self.col_owner[rows]
        level, fed_by_seed = self._direct(self.col_fid[rows])
        worst_column = np.zeros(n, np.int8)
        np.maximum.at(worst_column, owners, level)
        direct_column = np.zeros(n, bool)
        direct_column[owners[fed_by_seed]] = True
        fed_by_a = np.zeros(n, bool)
        fed_by_a[self.down[self.ptr[a] : self.ptr[a + 1]]] = True
        shown = (bounds[1:] > bounds[:-1])[nodes]
        hop = self.via_hop[nodes]
        from_a = np.zeros(len(nodes), bool)
        from_a[hop >= 0] = self.up[hop[hop >= 0]] == a
        warning = SEVERITIES.index("warning")
        if self.q.asset_change is not None:
            direct = direct_column[nodes] | fed_by_a[nodes]
            change = SEVERITIES.index(self.q.asset_change)
            severity = np.where(direct, change, warning).astype(np.int8)
            return np.full(len(nodes), _BASES.index("asset_change"), np.int8), severity, direct
        carries = self.status[nodes] == 2
        basis = np.select(
            [shown, carries],
            [_BASES.index("column_lineage"), _BASES.index("carries_column")],
            _BASES.index("table_lineage"),
        ).astype(np.int8)
        # An affected column is at least a warning, so being possibly affected too adds nothing.
        severity = np.where(shown, worst_column[nodes], warning).astype(np.int8)
        direct = np.select([shown, carries], [direct_column[nodes], fed_by_a[nodes]], from_a)
        return basis, severity, direct.astype(bool)

    def _carried_seeds(self, node: int) -> tuple[int, ...]:
        """Seeds a column-less node moves from the changed asset straight to one of its outputs."""
        outputs = set(self.ids[self.down[self.ptr[node] : self.ptr[node + 1]]].tolist())
        owner = self.ev.field_assets
        return tuple(
            sorted(
                {
                    e.source.id
                    for e in self.ev.direct
                    if e.source.id in self.q.seeds and owner.get(e.target.id) in outputs
                }
            )
        )

    def _chains(self, nodes: I64, first_of_a: int) -> tuple[I64, I64]:
        """The explaining paths of ``nodes``, walked up all at once over their nodes (columns by
        closure row, then assets): per region asset, how many of them pass through it; per item,
        the column its path starts from (-1: the changed asset)."""
        rows, n = len(self.t), self.n
        parent = np.full(rows + n, -1, np.int64)
        owner = np.full(rows + n, -1, np.int64)
        columns = np.flatnonzero((self.t.kind == 1) & (self.t.via_kind >= 0))
        parent[columns] = self.t.parent[columns]
        fields = np.flatnonzero(self.t.kind == 1)
        at, found = self._known(self.t.id[fields])
        owned = self.known_owner[at[found]]
        place = np.searchsorted(self.ids, owned)
        inside = place < n
        inside[inside] = self.ids[place[inside]] == owned[inside]
        owner[fields[found][inside]] = place[inside]
        assets = np.arange(n)
        by_hop, by_col = self.via_hop >= 0, self.via_col >= 0
        parent[rows + assets[by_hop]] = rows + self.up[self.via_hop[by_hop]]
        parent[rows + assets[by_col]] = self.col_row[self.via_col[by_col]]
        owner[rows + assets] = assets
        at_node = parent[rows + nodes]
        if first_of_a >= 0:  # the changed asset's own item is explained by its nearest column
            at_node[nodes == self.ai] = first_of_a
        item = np.arange(len(nodes))
        top = np.full(len(nodes), -1, np.int64)
        seen: list[I64] = []
        while len(at_node):
            keep = at_node >= 0
            at_node, item = at_node[keep], item[keep]
            top[item] = at_node
            on_path = owner[at_node]
            mine = on_path >= 0
            seen.append(nodes[item[mine]] * n + on_path[mine])
            at_node = parent[at_node]
        pairs = sorted_unique(np.concatenate(seen)) if seen else np.zeros(0, np.int64)
        explained, through = pairs // n, pairs % n
        counted = (through != explained) & (through != self.ai)
        counts: I64 = np.bincount(through[counted], minlength=n)
        # A path that starts in the column walk starts at its top column's via edge (a seed
        # has none): the column it leaves from.
        origin = np.full(len(nodes), -1, np.int64)
        in_columns = (top >= 0) & (top < rows)
        tops = top[in_columns]
        origin[in_columns] = np.where(
            self.t.via_kind[tops] >= 0, self.t.via_source[tops], self.t.id[tops]
        )
        return counts, origin


class _Tree:
    """Column paths out of the closure's BFS tree, memoised by row."""

    def __init__(self, traversal: Traversal) -> None:
        self.t = traversal
        self.paths: dict[int, tuple[Edge, ...]] = {}

    def path(self, row: int) -> tuple[Edge, ...]:
        chain: list[int] = []
        at = row
        while at >= 0 and at not in self.paths:
            chain.append(at)
            at = int(self.t.parent[at]) if self.t.via_kind[at] >= 0 else -1  # no edge: a start
        known = self.paths.get(at, ()) if at >= 0 else ()
        for r in reversed(chain):
            edge = self.t.edge(r)
            known = (*known, edge) if edge is not None else known
            self.paths[r] = known
        return self.paths[row]


class _Paths:
    """Explaining paths and the items' columns, built when read and memoised: a report lists a
    few of many items."""

    def __init__(self, rules: _Rules, rows: I64, first_of_a: int) -> None:
        self.r = rules
        self.tree = _Tree(rules.t)
        self.rows = rows  # the reported columns (into the rules' col_* arrays), item by item
        self.first_of_a = first_of_a  # closure row of the changed asset's nearest own column
        self.memo: dict[int, tuple[Edge, ...]] = {}
        self.built: dict[int, tuple[AffectedColumn, ...]] = {}

    def column(self, row: int) -> tuple[Edge, ...]:
        return self.tree.path(row)

    def columns(self, first: int, count: int, asset: int) -> tuple[AffectedColumn, ...]:
        """The ``count`` columns of an item from ``first`` on, by distance then id."""
        if not count:
            return ()
        found = self.built.get(first)
        if found is None:
            r, rows = self.r, self.rows[first : first + count]
            found = self.built[first] = tuple(
                AffectedColumn(
                    fid,
                    asset,
                    distance,
                    r.direct_sev.get(fid, "warning"),
                    fid in r.direct_sev,
                    self,
                    row,
                )
                for fid, distance, row in zip(
                    r.col_fid[rows].tolist(),
                    r.col_dist[rows].tolist(),
                    r.col_row[rows].tolist(),
                    strict=True,
                )
            )
        return found

    def asset(self, node: int) -> tuple[Edge, ...]:
        r = self.r
        if node == r.ai:
            return self.tree.path(self.first_of_a) if self.first_of_a >= 0 else ()
        chain: list[int] = []
        at = node
        while at >= 0 and at not in self.memo:
            chain.append(at)
            hop = int(r.via_hop[at])
            at = int(r.up[hop]) if hop >= 0 else -1
        for x in reversed(chain):
            hop, col = int(r.via_hop[x]), int(r.via_col[x])
            if hop >= 0:
                self.memo[x] = (*self.memo[int(r.up[hop])], r.ev.flows.edge(int(r.row[hop])))
            elif col >= 0:
                fid = int(r.col_fid[col])
                contains = Edge(
                    "contains", fid, NodeRef.asset(int(r.ids[x])), NodeRef.field(fid), CONTAINS
                )
                self.memo[x] = (*self.tree.path(int(r.col_row[col])), contains)
            else:
                self.memo[x] = ()
        return self.memo[node]


# --- evidence from a snapshot ---------------------------------------------------------------------


class _Grouped:
    """The rows of a key column grouped by key: ``rows(keys)`` costs O(k log n), not O(n)."""

    def __init__(self, keys: I64) -> None:
        self.order = np.argsort(keys, kind="stable")
        self.sorted = keys[self.order]

    def rows(self, wanted: Sequence[int] | I64) -> I64:
        keys = np.asarray(wanted, np.int64)
        lo = np.searchsorted(self.sorted, keys, "left")
        hi = np.searchsorted(self.sorted, keys, "right")
        rows: I64 = self.order[_ranges(lo, hi - lo)]
        return rows


def _among(values: I64, sorted_ids: I64) -> Bools:
    """Which of ``values`` are in ``sorted_ids``."""
    return _locate(sorted_ids, values)[1]


class GraphDataEvidence:
    """:class:`EvidenceSource` over a :class:`GraphData` snapshot (one tenant's graph, with the
    visibility rules of :mod:`headwater.graph.model`): indexes are built once, so each call costs
    about the size of its region."""

    def __init__(self, data: GraphData) -> None:
        a, f, r, ln = data.assets, data.fields, data.relationships, data.field_lineage
        live = np.sort(a.id[~a.deleted])
        visible = ~f.deleted & np.isin(f.asset_id, live)
        order = np.argsort(f.id[visible])
        self.field_ids: I64 = f.id[visible][order]
        self.field_asset: I64 = f.asset_id[visible][order]
        self.with_columns: I64 = sorted_unique(self.field_asset)
        flows = np.array([flow_of(n) is not Flow.NONE for n in r.type_names] or [False], bool)
        keep = ~r.deleted & np.isin(r.source_id, live) & np.isin(r.target_id, live)
        keep &= flows[r.type] if len(r) else keep
        self.rel_id, self.rel_src, self.rel_dst = r.id[keep], r.source_id[keep], r.target_id[keep]
        self.rel_type, self.rel_type_names = r.type[keep], r.type_names
        self.rel_by_src = _Grouped(self.rel_src)
        keep = ~ln.deleted & np.isin(ln.source_field_id, self.field_ids)
        keep &= np.isin(ln.target_field_id, self.field_ids)
        self.lin_id = ln.id[keep]
        self.lin_src, self.lin_dst = ln.source_field_id[keep], ln.target_field_id[keep]
        # Codes, not names: a list of twenty million strings would be a container the garbage
        # collector walks on every full collection.
        self.lin_type = Labels(ln.transformation[keep], ln.transformation_names)
        self.lin_src_asset = self._assets(self.lin_src)
        self.lin_dst_asset = self._assets(self.lin_dst)
        self.lineage_targets: I64 = sorted_unique(self.lin_dst_asset)
        self.lin_by_src = _Grouped(self.lin_src)

    def _assets(self, fields: I64) -> I64:
        at = np.searchsorted(self.field_ids, fields)
        owners: I64 = self.field_asset[at] if len(fields) else np.zeros(0, np.int64)
        return owners

    async def evidence(
        self, assets: Sequence[int], tainted_fields: Sequence[int], seeds: Sequence[int]
    ) -> Evidence:
        region = sorted_unique(np.asarray(assets, np.int64))
        rows = self.rel_by_src.rows(region)
        rows = np.sort(rows[np.isin(self.rel_dst[rows], region)])
        flows = FlowEdges(
            self.rel_id[rows],
            self.rel_src[rows],
            self.rel_dst[rows],
            Labels(self.rel_type[rows], self.rel_type_names),
        )
        hot = self.lin_by_src.rows(tainted_fields)
        hot = hot[np.isin(self.lin_dst_asset[hot], region)]
        carrying = set(
            zip(self.lin_src_asset[hot].tolist(), self.lin_dst_asset[hot].tolist(), strict=True)
        )
        wanted = np.asarray(tainted_fields, np.int64)
        wanted = wanted[_among(wanted, self.field_ids)]
        owners = self.field_asset[np.searchsorted(self.field_ids, wanted)]
        field_assets = dict(zip(wanted.tolist(), owners.tolist(), strict=True))
        rows = np.sort(self.lin_by_src.rows(seeds))
        direct = [
            Edge(
                "field_lineage",
                int(self.lin_id[i]),
                NodeRef.field(int(self.lin_src[i])),
                NodeRef.field(int(self.lin_dst[i])),
                self.lin_type[i],
            )
            for i in rows.tolist()
        ]
        return Evidence(
            flows=flows,
            lineage_targets=region[_among(region, self.lineage_targets)],
            carrying_pairs=carrying,
            with_columns=region[_among(region, self.with_columns)],
            field_assets=field_assets,
            direct=direct,
        )
