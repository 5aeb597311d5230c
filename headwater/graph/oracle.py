"""The reference engine: the same :class:`~headwater.graph.engine.GraphEngine` answered by plain
networkx over the latest entity states, written for obviousness, not speed.

Tests build it from the same mutations as the engine under test and compare answers. Each query
builds its networkx graph from scratch out of the visible entities (visibility rules in
:mod:`headwater.graph.model`), so there is no incremental state to get wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import networkx as nx

from headwater.graph.engine import (
    AllPathsQuery,
    ClosureQuery,
    GraphEngine,
    PathQuery,
    TraverseQuery,
    ViewQuery,
)
from headwater.graph.model import (
    ApplyResult,
    AssetState,
    ClosureStep,
    Direction,
    Edge,
    FieldLineageState,
    FieldState,
    GraphData,
    GraphStats,
    GraphView,
    Mutation,
    NodeRef,
    Paths,
    Reached,
    RelationshipState,
    Traversal,
    UnknownNode,
    ViewNode,
    ViewSide,
    edge_order,
)

__all__ = ["OracleGraphEngine", "OracleState"]


def _rel_edge(s: RelationshipState) -> Edge:
    return Edge.relationship(s.id, s.source_id, s.target_id, s.type)


def _lineage_edge(s: FieldLineageState) -> Edge:
    return Edge.field_lineage(s.id, s.source_field_id, s.target_field_id, s.transformation)


@dataclass
class OracleState:
    """The latest state of every entity of one tenant, and the graphs derived from it."""

    assets: dict[int, AssetState] = field(default_factory=dict)
    fields: dict[int, FieldState] = field(default_factory=dict)
    rels: dict[int, RelationshipState] = field(default_factory=dict)
    lineage: dict[int, FieldLineageState] = field(default_factory=dict)
    position: str | None = None

    def put(self, m: Mutation) -> bool:
        table: dict[int, Mutation]
        if isinstance(m, AssetState):
            table = self.assets  # type: ignore[assignment]
        elif isinstance(m, FieldState):
            table = self.fields  # type: ignore[assignment]
        elif isinstance(m, RelationshipState):
            table = self.rels  # type: ignore[assignment]
        else:
            table = self.lineage  # type: ignore[assignment]
        held = table.get(m.id)
        if held is not None and m.version <= held.version:
            return False
        table[m.id] = m
        return True

    # --- visibility -------------------------------------------------------------------------------

    def visible_assets(self) -> set[int]:
        return {a.id for a in self.assets.values() if not a.deleted}

    def visible_fields(self) -> dict[int, FieldState]:
        assets = self.visible_assets()
        return {f.id: f for f in self.fields.values() if not f.deleted and f.asset_id in assets}

    def visible_rels(self, types: Collection[str] | None = None) -> list[RelationshipState]:
        assets = self.visible_assets()
        return [
            r
            for r in self.rels.values()
            if not r.deleted
            and r.source_id in assets
            and r.target_id in assets
            and (types is None or r.type in types)
        ]

    def visible_lineage(self) -> list[FieldLineageState]:
        fields = self.visible_fields()
        return [
            e
            for e in self.lineage.values()
            if not e.deleted and e.source_field_id in fields and e.target_field_id in fields
        ]

    def is_visible(self, node: NodeRef) -> bool:
        if node.kind == "asset":
            return node.id in self.visible_assets()
        return node.id in self.visible_fields()

    # --- graphs -----------------------------------------------------------------------------------

    def flow_graph(self, kind: str, types: Collection[str] | None = None) -> nx.MultiDiGraph:
        """Visible nodes of one kind and the flow edges among them, upstream -> downstream,
        keyed by edge id, each carrying its :class:`Edge` as ``edge``."""
        g = nx.MultiDiGraph()
        if kind == "asset":
            g.add_nodes_from(NodeRef.asset(a) for a in self.visible_assets())
            for r in self.visible_rels(types):
                edge = _rel_edge(r)
                ends = edge.flow()
                if ends is not None:
                    g.add_edge(ends[0], ends[1], key=r.id, edge=edge)
        else:
            g.add_nodes_from(NodeRef.field(f) for f in self.visible_fields())
            for e in self.visible_lineage():
                g.add_edge(
                    NodeRef.field(e.source_field_id),
                    NodeRef.field(e.target_field_id),
                    key=e.id,
                    edge=_lineage_edge(e),
                )
        return g

    def closure_graph(
        self,
        steps: Collection[ClosureStep],
        types: Collection[str] | None,
        direction: Direction = "downstream",
    ) -> nx.MultiDiGraph:
        """Assets and fields together, with the hops ``steps`` allows, oriented for a walk in
        ``direction``: flow edges turn around upstream, containment hops do not (a field leads
        to its asset, an asset to its fields, whichever way the walk goes)."""
        g = nx.MultiDiGraph()
        g.add_nodes_from(NodeRef.asset(a) for a in self.visible_assets())
        g.add_nodes_from(NodeRef.field(f) for f in self.visible_fields())
        if "relationships" in steps:
            flow = _oriented(self.flow_graph("asset", types), direction)
            g.add_edges_from(flow.edges(keys=True, data=True))
        if "field_lineage" in steps:
            flow = _oriented(self.flow_graph("field"), direction)
            g.add_edges_from(flow.edges(keys=True, data=True))
        for f in self.visible_fields().values():
            edge = Edge.contains(f.asset_id, f.id)
            if "field_to_asset" in steps:
                g.add_edge(edge.target, edge.source, key=("lift", f.id), edge=edge)
            if "asset_to_fields" in steps:
                g.add_edge(edge.source, edge.target, key=("expand", f.id), edge=edge)
        return g


def _oriented(g: nx.MultiDiGraph, direction: Direction) -> nx.MultiDiGraph:
    return g if direction == "downstream" else g.reverse(copy=False)


def _bfs_rows(
    g: nx.MultiDiGraph, starts: Iterable[NodeRef], max_depth: int | None
) -> list[Reached]:
    """Every node within ``max_depth`` of the starts, with a tree edge from a node one hop
    nearer (the lowest edge id among candidates)."""
    dist = nx.multi_source_dijkstra_path_length(g, set(starts), cutoff=max_depth)
    rows = []
    for node, d in dist.items():
        via = None
        if d > 0:
            candidates = [
                data["edge"] for u, _, data in g.in_edges(node, data=True) if dist.get(u) == d - 1
            ]
            via = min(candidates, key=edge_order)
        rows.append(Reached(node, int(d), via))
    return rows


class OracleGraphEngine(GraphEngine):
    """networkx reference implementation of :class:`~headwater.graph.engine.GraphEngine`."""

    name = "oracle"

    def __init__(self) -> None:
        self.tenants: dict[UUID, OracleState] = {}

    def state(self, tenant_id: UUID) -> OracleState:
        return self.tenants.get(tenant_id) or OracleState()

    async def apply(
        self, tenant_id: UUID, mutations: Sequence[Mutation], *, position: str | None = None
    ) -> ApplyResult:
        state = self.tenants.setdefault(tenant_id, OracleState())
        applied = sum(1 for m in mutations if state.put(m))
        if position is not None:
            state.position = position
        return ApplyResult(applied, len(mutations) - applied)

    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        state = OracleState(position=position)
        for m in data.states():
            state.put(m)
        self.tenants[tenant_id] = state

    async def drop(self, tenant_id: UUID) -> None:
        self.tenants.pop(tenant_id, None)

    async def close(self) -> None:
        self.tenants.clear()

    async def position(self, tenant_id: UUID) -> str | None:
        return self.state(tenant_id).position

    async def stats(self, tenant_id: UUID) -> GraphStats:
        s = self.state(tenant_id)
        return GraphStats(
            len(s.visible_assets()),
            len(s.visible_fields()),
            len(s.visible_rels()),
            len(s.visible_lineage()),
        )

    async def snapshot(self, tenant_id: UUID) -> GraphData:
        s = self.state(tenant_id)
        states: list[Mutation] = [
            *s.assets.values(),
            *s.fields.values(),
            *s.rels.values(),
            *s.lineage.values(),
        ]
        return GraphData.from_states(states)

    def _require(self, s: OracleState, nodes: Iterable[NodeRef]) -> None:
        unknown = [n for n in nodes if not s.is_visible(n)]
        if unknown:
            raise UnknownNode(unknown)

    async def _traverse(self, tenant_id: UUID, q: TraverseQuery) -> Traversal:
        s = self.state(tenant_id)
        self._require(s, [q.start])
        g = _oriented(s.flow_graph(q.start.kind, q.relationship_types), q.direction)
        rows = [r for r in _bfs_rows(g, [q.start], q.max_depth) if r.distance > 0]
        if q.asset_types is not None:
            fields = s.visible_fields()
            wanted = q.asset_types

            def asset_of(node: NodeRef) -> int:
                return node.id if node.kind == "asset" else fields[node.id].asset_id

            rows = [r for r in rows if s.assets[asset_of(r.node)].type in wanted]
        return Traversal.from_rows((q.start,), q.direction, rows, limit=q.limit)

    async def _closure(self, tenant_id: UUID, q: ClosureQuery) -> Traversal:
        s = self.state(tenant_id)
        self._require(s, q.starts)
        g = s.closure_graph(q.steps, q.relationship_types, q.direction)
        rows = _bfs_rows(g, q.starts, q.max_depth) if q.starts else []
        return Traversal.from_rows(q.starts, q.direction, rows, limit=q.limit)

    async def _graph_view(self, tenant_id: UUID, q: ViewQuery) -> GraphView:
        s = self.state(tenant_id)
        center = q.center
        self._require(s, [center])
        g = nx.DiGraph(s.flow_graph(center.kind, q.relationship_types))
        up = nx.single_source_shortest_path_length(g.reverse(), center, cutoff=q.upstream_depth)
        down = nx.single_source_shortest_path_length(g, center, cutoff=q.downstream_depth)
        placed: dict[NodeRef, tuple[int, ViewSide]] = {}
        for node in set(up) | set(down):
            if node == center:
                continue
            du, dd = up.get(node), down.get(node)
            if dd is not None and (du is None or dd <= du):
                placed[node] = (dd, "downstream")
            else:
                assert du is not None
                placed[node] = (du, "upstream")
        ranked = sorted(placed, key=lambda n: (placed[n][0], n.id))
        truncated = len(ranked) > q.node_cap - 1
        shown = [center, *ranked[: q.node_cap - 1]]
        placed[center] = (0, "center")
        in_view = set(shown)

        def hidden(graph: nx.DiGraph, node: NodeRef, view: set[NodeRef]) -> tuple[int, int]:
            return (
                len(set(graph.predecessors(node)) - view),
                len(set(graph.successors(node)) - view),
            )

        nodes = [ViewNode(n, placed[n][0], placed[n][1], *hidden(g, n, in_view)) for n in shown]
        edges: list[Edge] = []
        ids = {n.id for n in shown}
        field_ids = ids  # the fields whose lineage among them is shown
        if center.kind == "asset":
            edges += [
                _rel_edge(r)
                for r in s.visible_rels(q.relationship_types)
                if r.source_id in ids and r.target_id in ids
            ]
            fields = []
            if q.include_fields:
                fields = [f for f in s.visible_fields().values() if f.asset_id in ids]
                field_view = {NodeRef.field(f.id) for f in fields}
                fg = nx.DiGraph(s.flow_graph("field"))
                for f in fields:
                    at = placed[NodeRef.asset(f.asset_id)]
                    ref = NodeRef.field(f.id)
                    nodes.append(ViewNode(ref, at[0], at[1], *hidden(fg, ref, field_view)))
                    edges.append(Edge.contains(f.asset_id, f.id))
            field_ids = {f.id for f in fields}
        edges += [
            _lineage_edge(e)
            for e in s.visible_lineage()
            if e.source_field_id in field_ids and e.target_field_id in field_ids
        ]
        return GraphView.of(center, nodes, edges, truncated)

    async def _shortest_path(self, tenant_id: UUID, q: PathQuery) -> list[Edge] | None:
        s = self.state(tenant_id)
        self._require(s, [q.source, q.target])
        g = s.flow_graph(q.source.kind, q.relationship_types)
        try:
            nodes = nx.shortest_path(g, q.source, q.target)
        except nx.NetworkXNoPath:
            return None
        if q.max_depth is not None and len(nodes) - 1 > q.max_depth:
            return None
        return [
            min((d["edge"] for d in g.get_edge_data(u, v).values()), key=lambda e: e.id)
            for u, v in itertools.pairwise(nodes)
        ]

    async def _all_paths(self, tenant_id: UUID, q: AllPathsQuery) -> Paths:
        s = self.state(tenant_id)
        self._require(s, [q.source, q.target])
        if q.source == q.target:
            return Paths(q.source, q.target, ((),), False)
        g = s.flow_graph(q.source.kind, q.relationship_types)
        found = [
            tuple(g.edges[u, v, k]["edge"] for u, v, k in path)
            for path in nx.all_simple_edge_paths(g, q.source, q.target, cutoff=q.max_depth)
        ]
        found.sort(key=lambda p: (len(p), [e.id for e in p]))
        return Paths(q.source, q.target, tuple(found[: q.max_paths]), len(found) > q.max_paths)
