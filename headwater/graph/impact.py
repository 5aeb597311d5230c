"""Impact analysis on the lineage graph: what a proposed schema change reaches, and how surely.

Pure: one :meth:`~headwater.graph.engine.GraphEngine.closure` (over column lineage, column ->
table and table-level flow) finds every node a change can reach. A closure reports one tree edge
per node; the rules also need, for the reached region only, its flow relationships, which of its
assets have column lineage, and which assets the changed columns' lineage feeds. One call to an
:class:`EvidenceSource` supplies those (Postgres in the API, :class:`GraphDataEvidence` over a
snapshot in tests and benchmarks), and :func:`assess` applies the rules below. Nothing else is
read, and nothing per column.

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

Caps: ``max_depth`` bounds the distance of reported items; ``limit`` bounds how many nodes the
traversal may reach (``truncated`` when it cut the walk). Items at the edge of a cut are judged
on what lies inside it.

Example (``await`` in an async context)::

    result = await analyze(engine, tenant, ImpactQuery(7, {42: "breaking"}), evidence)
    [(a.asset_id, a.status, a.severity) for a in result.assets]
    # [(9, 'affected', 'breaking'), (12, 'possibly_affected', 'warning')]
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol
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
)

__all__ = [
    "IMPACT_STEPS",
    "SEVERITIES",
    "AffectedAsset",
    "AffectedColumn",
    "Basis",
    "Evidence",
    "EvidenceSource",
    "FlowEdges",
    "GraphDataEvidence",
    "ImpactGraph",
    "ImpactQuery",
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

IMPACT_STEPS: Final[frozenset[ClosureStep]] = frozenset(
    {"field_lineage", "field_to_asset", "relationships"}
)


def worst(*severities: Severity) -> Severity:
    """The most severe of ``severities`` (safe when none)."""
    return max(severities, key=SEVERITIES.index, default="safe")


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


I64 = NDArray[np.int64]


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


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AffectedColumn:
    """A column downstream of a changed column (rule 1); ``path`` runs from a seed."""

    field_id: int
    asset_id: int
    distance: int
    severity: Severity
    direct: bool
    path: tuple[Edge, ...]


@dataclass(frozen=True, slots=True)
class AffectedAsset:
    """An asset the change reaches. ``path`` runs from a seed column (through column lineage)
    or from the changed asset; ``via`` is the upstream asset of the path's last table-level hop
    (for ``table_lineage``: the asset it has no column lineage from). ``dependents``: how many
    other reported assets are explained through this one."""

    asset_id: int
    status: Status
    basis: Basis
    severity: Severity
    distance: int
    direct: bool
    path: tuple[Edge, ...]
    columns: tuple[AffectedColumn, ...]
    via: int | None
    carried: tuple[int, ...]  # seeds a column-less process moves straight to its outputs
    dependents: int


@dataclass(frozen=True)
class ImpactGraph:
    """The outcome: affected assets (each with its affected columns), nearest first."""

    asset_id: int
    assets: tuple[AffectedAsset, ...]
    severity: Severity
    truncated: bool
    reached: int  # nodes the traversal reached (assets and columns, starts included)

    def columns(self) -> list[AffectedColumn]:
        return [c for a in self.assets for c in a.columns]


# --- the analysis ---------------------------------------------------------------------------------


async def analyze(
    engine: GraphEngine, tenant_id: UUID, query: ImpactQuery, source: EvidenceSource
) -> ImpactGraph:
    """Run one closure from the changed columns (and the asset, for an asset-level change), fetch
    the evidence of the reached region in one call, and apply the rules."""
    if not query.seeds and query.asset_change is None:
        return ImpactGraph(query.asset_id, (), "safe", False, 0)
    starts = [NodeRef.field(f) for f in sorted(query.seeds)]
    if query.asset_change is not None:
        starts.append(NodeRef.asset(query.asset_id))
    # A closure distance also counts the one column -> table hop a path may contain, which a
    # reported distance does not: one more level finds every item within max_depth.
    depth = None if query.max_depth is None else query.max_depth + 1
    limit = None if query.limit is None else query.limit + len(starts)
    traversal = await engine.closure(
        tenant_id, starts, "downstream", steps=IMPACT_STEPS, max_depth=depth, limit=limit
    )
    region = np.union1d(traversal.ids("asset"), [query.asset_id]).tolist()
    tainted = np.union1d(traversal.ids("field"), list(query.seeds)).astype(np.int64).tolist()
    evidence = await source.evidence(region, tainted, sorted(query.seeds))
    return assess(query, traversal, evidence)


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
            at = int(self.t.parent[at]) if self.t.edge(at) is not None else -1
        known = self.paths.get(at, ()) if at >= 0 else ()
        for r in reversed(chain):
            edge = self.t.edge(r)
            known = (*known, edge) if edge is not None else known
            self.paths[r] = known
        return self.paths[row]


class _FlowIndex:
    """The flow relationships of a region as sorted arrays: out-edges, inputs and outputs of an
    asset by binary search, memoised for the few assets the rules visit."""

    def __init__(self, flows: FlowEdges) -> None:
        self.edges = flows
        if isinstance(flows.type, Labels):  # codes into names: no per-row Python
            names = [flow_of(n) for n in flows.type.names] or [Flow.NONE]
            codes = flows.type.codes
            forward = np.array([k is Flow.FORWARD for k in names])[codes]
            flowing = np.array([k is not Flow.NONE for k in names])[codes]
        else:
            kinds = {t: flow_of(t) for t in set(flows.type)}
            kind = [kinds[t] for t in flows.type]
            forward = np.fromiter((k is Flow.FORWARD for k in kind), bool, len(kind))
            flowing = np.fromiter((k is not Flow.NONE for k in kind), bool, len(kind))
        up = np.where(forward, flows.source, flows.target)
        down = np.where(forward, flows.target, flows.source)
        rows = np.flatnonzero(flowing & (up != down))
        by_up = rows[np.lexsort((flows.id[rows], up[rows]))]
        self.out_key, self.out_down, self.out_row = up[by_up], down[by_up], by_up
        by_down = rows[np.argsort(down[rows], kind="stable")]
        self.in_key, self.in_up = down[by_down], up[by_down]
        self._out: dict[int, list[tuple[int, int]]] = {}
        self._outputs: dict[int, set[int]] = {}
        self._in: dict[int, set[int]] = {}

    def out(self, asset: int) -> list[tuple[int, int]]:
        """(row in ``edges``, downstream asset) of each flow out of ``asset``, by edge id."""
        found = self._out.get(asset)
        if found is None:
            lo, hi = np.searchsorted(self.out_key, [asset, asset + 1])
            found = list(
                zip(self.out_row[lo:hi].tolist(), self.out_down[lo:hi].tolist(), strict=True)
            )
            self._out[asset] = found
        return found

    def outputs(self, asset: int) -> set[int]:
        found = self._outputs.get(asset)
        if found is None:
            found = {down for _, down in self.out(asset)}
            self._outputs[asset] = found
        return found

    def inputs(self, asset: int) -> set[int]:
        found = self._in.get(asset)
        if found is None:
            lo, hi = np.searchsorted(self.in_key, [asset, asset + 1])
            found = set(self.in_up[lo:hi].tolist())
            self._in[asset] = found
        return found


def assess(query: ImpactQuery, traversal: Traversal, evidence: Evidence) -> ImpactGraph:
    """Apply the module's rules to a closure from the query's starts and its region's evidence."""
    return _Assessment(query, traversal, evidence).run()


class _Assessment:
    def __init__(self, query: ImpactQuery, traversal: Traversal, evidence: Evidence) -> None:
        self.q = query
        self.a = query.asset_id
        self.t = traversal
        self.ev = evidence
        self.described = set(evidence.lineage_targets)
        self.carried_to: dict[int, set[int]] = defaultdict(set)  # asset -> carrying inputs
        for up, down in evidence.carrying_pairs:
            self.carried_to[down].add(up)
        self._carriers: dict[int, set[int]] = {}
        self._opaque: dict[int, bool] = {}
        self.flows = _FlowIndex(evidence.flows)
        self.out = self.flows.out
        self.inputs = self.flows.inputs
        self.outputs = self.flows.outputs
        self.whole = query.asset_change is not None
        self.possibly: set[int] = set()  # rule 3: every column suspect
        self.colless: dict[int, Status] = {}  # rule 4: column-less nodes and their status

    # column level (rules 1, 2)

    def columns(self) -> None:
        self.col_dist: dict[int, int] = {}
        self.col_row: dict[int, int] = {}
        rows = np.flatnonzero((self.t.kind == 1) & (self.t.distance > 0))
        owners = self.ev.field_assets
        for row, fid, d in zip(
            rows.tolist(), self.t.id[rows].tolist(), self.t.distance[rows].tolist(), strict=True
        ):
            if fid in owners:  # else gone from the authority: not reported
                self.col_dist[fid] = d
                self.col_row[fid] = row
        self.direct_sev: dict[int, Severity] = {}
        for edge in self.ev.direct:
            seed, target = edge.source.id, edge.target.id
            if target in self.col_dist and seed in self.q.seeds:
                self.direct_sev[target] = worst(
                    self.direct_sev.get(target, "safe"), self.q.seeds[seed]
                )
        self.by_asset: dict[int, list[int]] = defaultdict(list)
        for fid in self.col_dist:
            self.by_asset[self.ev.field_assets[fid]].append(fid)

    def has_columns(self, asset: int) -> bool:
        return asset in self.ev.with_columns or asset in self.by_asset

    def tainted(self, asset: int) -> bool:
        return (
            asset == self.a
            or asset in self.by_asset
            or asset in self.possibly
            or asset in self.colless
        )

    # table level (rules 3, 4)

    def suspects(self, up: int, down: int) -> bool:
        """Does the hop up -> down (down has columns, up tainted) make down possibly affected?"""
        if self.whole or up in self.possibly:
            return True
        if not self.has_columns(up):  # through a column-less node, from one of its inputs
            if down not in self.described:
                return any(self.tainted(x) for x in self.inputs(up))
            return any(x in self.possibly for x in self.inputs(up))
        return down not in self.described

    def carriers(self, node: int) -> set[int]:
        """The inputs of a column-less node whose tainted columns reach one of its outputs."""
        found = self._carriers.get(node)
        if found is None:
            found = set()
            for o in self.outputs(node):
                found |= self.carried_to.get(o, set())
            found &= self.inputs(node)
            self._carriers[node] = found
        return found

    def opaque(self, node: int) -> bool:
        """Does a column-less node have no outputs, or one without column lineage?"""
        found = self._opaque.get(node)
        if found is None:
            outs = self.outputs(node)
            found = not outs or any(o not in self.described for o in outs)
            self._opaque[node] = found
        return found

    def passes(self, node: int, x: int) -> bool:
        """Does tainted input ``x`` reach the column-less ``node`` (rule 4)?"""
        return self.whole or x in self.possibly or x in self.carriers(node) or self.opaque(node)

    def colless_status(self, node: int) -> Status | None:
        if self.whole or self.carriers(node):
            return "affected"
        if any(self.tainted(x) and self.passes(node, x) for x in self.inputs(node)):
            return "possibly_affected"
        return None

    def spread(self) -> None:
        """The least fixpoint of rules 3 and 4, by a worklist: a node is processed whenever it
        becomes tainted or changes state, and re-judges the nodes downstream of it."""
        if self.whole:
            self.possibly.add(self.a)
        queue = deque([self.a, *sorted(self.by_asset)])
        # (input, column-less node, the input's state) already passed on: each input's state
        # changes at most a few times, so this bounds the work even around cycles
        told: set[tuple[int, int, tuple[bool, Status | None, bool]]] = set()
        while queue:
            up = queue.popleft()
            state = (up in self.possibly, self.colless.get(up), self.tainted(up))
            for _, down in self.out(up):
                if down == self.a:
                    continue
                if not self.has_columns(down):
                    status = self.colless_status(down)
                    if status is None:
                        continue
                    changed = self.colless.get(down) != status
                    self.colless[down] = status
                    # a new input state can change what passes through, even at equal status
                    if changed or (up, down, state) not in told:
                        told.add((up, down, state))
                        queue.append(down)
                elif down not in self.possibly and self.suspects(up, down):
                    self.possibly.add(down)
                    queue.append(down)

    def justified(self, up: int, down: int) -> bool:
        """Does the hop up -> down explain down's state (with the final sets)?"""
        if self.whole:
            return True
        if not self.has_columns(down):
            return down in self.colless and self.passes(down, up)
        return down in self.possibly and self.suspects(up, down)

    # distances and paths

    def distances(self) -> None:
        inf = 1 << 30
        self.dist: dict[int, int] = {self.a: 0}
        self.via: dict[int, tuple[Edge, int] | int] = {}  # (hop, upstream) or a column id
        for asset, fids in self.by_asset.items():
            best = min(fids, key=lambda f: (self.col_dist[f], f))
            if asset != self.a and self.col_dist[best] < self.dist.get(asset, inf):
                self.dist[asset] = self.col_dist[best]
                self.via[asset] = best
        heap = [(d, n) for n, d in self.dist.items()]
        heapq.heapify(heap)
        while heap:
            d, up = heapq.heappop(heap)
            if d > self.dist[up]:
                continue
            for row, down in self.out(up):
                if down == self.a or d + 1 >= self.dist.get(down, inf):
                    continue
                if self.justified(up, down):
                    self.dist[down] = d + 1
                    self.via[down] = (self.flows.edges.edge(row), up)
                    heapq.heappush(heap, (d + 1, down))

    def asset_path(self, asset: int, memo: dict[int, tuple[Edge, ...]]) -> tuple[Edge, ...]:
        chain: list[int] = []
        at: int | None = asset
        while at is not None and at not in memo:
            chain.append(at)
            step = self.via.get(at)
            at = step[1] if isinstance(step, tuple) else None
        for node in reversed(chain):
            step = self.via.get(node)
            if step is None:
                memo[node] = ()
            elif isinstance(step, tuple):
                memo[node] = (*memo[step[1]], step[0])
            else:
                contains = Edge(
                    "contains", step, NodeRef.asset(node), NodeRef.field(step), CONTAINS
                )
                memo[node] = (*self.tree.path(self.col_row[step]), contains)
        return memo[asset]

    def run(self) -> ImpactGraph:
        self.columns()
        self.spread()
        self.distances()
        self.tree = _Tree(self.t)
        cap = self.q.max_depth
        items: list[dict[str, Any]] = []
        memo: dict[int, tuple[Edge, ...]] = {}
        reported = set(self.by_asset) | self.possibly | set(self.colless)
        reported.discard(self.a)
        if self.a in self.by_asset:  # derived columns of the changed asset itself
            reported.add(self.a)
        for asset in sorted(reported):
            columns = tuple(
                AffectedColumn(
                    fid,
                    asset,
                    self.col_dist[fid],
                    self.direct_sev.get(fid, "warning"),
                    fid in self.direct_sev,
                    self.tree.path(self.col_row[fid]),
                )
                for fid in sorted(self.by_asset.get(asset, ()), key=self.col_dist.__getitem__)
                if cap is None or self.col_dist[fid] <= cap
            )
            if asset == self.a:
                if not columns:
                    continue
                distance = min(c.distance for c in columns)
                path = columns[0].path
            else:
                distance = self.dist.get(asset, -1)
                if distance < 0 or (cap is not None and distance > cap):
                    continue
                path = self.asset_path(asset, memo)
            items.append(self.item(asset, distance, path, columns))
        dependents = self.dependents(items)
        assets = tuple(
            AffectedAsset(**item, dependents=dependents.get(item["asset_id"], 0))
            for item in sorted(items, key=lambda i: (i["distance"], i["asset_id"]))
        )
        return ImpactGraph(
            self.a,
            assets,
            worst(*(a.severity for a in assets)),
            self.t.truncated,
            len(self.t),
        )

    def item(
        self, asset: int, distance: int, path: tuple[Edge, ...], columns: tuple[AffectedColumn, ...]
    ) -> dict[str, Any]:
        step = self.via.get(asset)
        via = step[1] if isinstance(step, tuple) else None
        direct_hop = via == self.a
        change = self.q.asset_change
        status: Status = "affected"
        severity: Severity
        basis: Basis
        direct = any(c.direct for c in columns)
        carried: list[int] = []
        if change is not None:
            basis = "asset_change"
            direct = direct or self.a in self.inputs(asset)
            severity = change if direct else "warning"
        elif columns:
            basis = "column_lineage"
            severity = worst(*(c.severity for c in columns))
            if asset in self.possibly:
                severity = worst(severity, "warning")
        elif self.colless.get(asset) == "affected":
            basis = "carries_column"
            carried = self.carried_seeds(asset)
            direct = bool(carried)
            severity = worst(*(self.q.seeds[s] for s in carried)) if carried else "warning"
        else:
            basis = "table_lineage"
            status = "possibly_affected"
            severity = "warning"
            direct = direct_hop
        return {
            "asset_id": asset,
            "status": status,
            "basis": basis,
            "severity": severity,
            "distance": distance,
            "direct": direct,
            "path": path,
            "columns": columns,
            "via": via,
            "carried": tuple(carried),
        }

    def carried_seeds(self, node: int) -> list[int]:
        """Seeds a column-less node moves from the changed asset straight to one of its outputs."""
        if self.a not in self.inputs(node):
            return []
        outs = self.outputs(node)
        return sorted(
            {
                e.source.id
                for e in self.ev.direct
                if e.source.id in self.q.seeds and self.ev.field_assets.get(e.target.id) in outs
            }
        )

    def dependents(self, items: list[dict[str, Any]]) -> dict[int, int]:
        """For each asset, how many reported assets have it on their explaining path."""
        counts: dict[int, int] = defaultdict(int)
        for item in items:
            on_path: set[int] = set()
            for edge in item["path"]:
                for node in (edge.source, edge.target):
                    owner = node.id if node.kind == "asset" else self.ev.field_assets.get(node.id)
                    if owner is not None:
                        on_path.add(owner)
            on_path.discard(item["asset_id"])
            on_path.discard(self.a)
            for owner in on_path:
                counts[owner] += 1
        return counts


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
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        first = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        rows: I64 = self.order[first + np.arange(total)]
        return rows


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
        self.with_columns: I64 = np.unique(self.field_asset)
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
        self.lin_type = [ln.transformation_names[c] for c in ln.transformation[keep].tolist()]
        self.lin_src_asset = self._assets(self.lin_src)
        self.lin_dst_asset = self._assets(self.lin_dst)
        self.lineage_targets: I64 = np.unique(self.lin_dst_asset)
        self.lin_by_src = _Grouped(self.lin_src)

    def _assets(self, fields: I64) -> I64:
        at = np.searchsorted(self.field_ids, fields)
        owners: I64 = self.field_asset[at] if len(fields) else np.zeros(0, np.int64)
        return owners

    async def evidence(
        self, assets: Sequence[int], tainted_fields: Sequence[int], seeds: Sequence[int]
    ) -> Evidence:
        region = np.unique(np.asarray(assets, np.int64))
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
        at = np.searchsorted(self.field_ids, wanted)
        found = at < len(self.field_ids)
        found[found] = self.field_ids[at[found]] == wanted[found]
        field_assets = dict(
            zip(wanted[found].tolist(), self.field_asset[at[found]].tolist(), strict=True)
        )
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
            lineage_targets=set(region[np.isin(region, self.lineage_targets)].tolist()),
            carrying_pairs=carrying,
            with_columns=set(region[np.isin(region, self.with_columns)].tolist()),
            field_assets=field_assets,
            direct=direct,
        )
