"""Lineage queries over the graph mirror, hydrated from Postgres.

Upstream and downstream follow data flow only (DESIGN.md: PRODUCES flows job -> table,
USES/DEPENDS_ON flow source -> consumer, CONTAINS/RELATED_TO are structure). A query starts at an
asset (``asset_id`` or ``qualified_name``) or at a column (``field_id``). Every cap the server
applies is reported in the response (``depth_capped``, ``limit_capped``, ``truncated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from headwater.api.deps import ReadSession, Session, State
from headwater.catalog import hydrate
from headwater.catalog.assets import AssetType, resolve_qualified_name
from headwater.catalog.db import Conn
from headwater.catalog.errors import HeadwaterError, NotFound, Unprocessable
from headwater.catalog.hydrate import AssetSummary, FieldSummary
from headwater.catalog.relationships import RelationshipType
from headwater.graph.engine import DEFAULT_NODE_CAP, GraphEngine
from headwater.graph.model import Edge, NodeRef

router = APIRouter(prefix="/lineage", tags=["lineage"])


class GraphUnavailable(HeadwaterError):
    status_code = 503
    title = "Lineage graph unavailable"


def graph_engine(state: State) -> GraphEngine:
    if state.graph is None:
        raise GraphUnavailable("this server has no lineage graph configured")
    return state.graph


Graph = Annotated[GraphEngine, Depends(graph_engine)]


class NodeKey(BaseModel):
    kind: Literal["asset", "field"]
    id: int


class EdgeOut(BaseModel):
    kind: Literal["relationship", "field_lineage", "contains"]
    id: int
    source: NodeKey
    target: NodeKey
    type: str

    @classmethod
    def of(cls, edge: Edge) -> EdgeOut:
        return cls(
            kind=edge.kind,
            id=edge.id,
            source=NodeKey(kind=edge.source.kind, id=edge.source.id),
            target=NodeKey(kind=edge.target.kind, id=edge.target.id),
            type=edge.type,
        )


class NodeOut(BaseModel):
    kind: Literal["asset", "field"]
    id: int
    distance: int
    asset: AssetSummary
    field: FieldSummary | None = None
    via: EdgeOut | None = None


class TraversalOut(BaseModel):
    start: NodeOut
    direction: Literal["upstream", "downstream"]
    depth: int | None  # None: unbounded ("all")
    depth_capped: bool
    limit: int
    limit_capped: bool
    truncated: bool
    nodes: list[NodeOut]


class ViewNodeOut(NodeOut):
    side: Literal["center", "upstream", "downstream"]
    hidden_upstream: int
    hidden_downstream: int


class GraphViewOut(BaseModel):
    center: NodeKey
    upstream_depth: int | None
    downstream_depth: int | None
    depth_capped: bool
    node_cap: int
    node_cap_capped: bool
    truncated: bool
    nodes: list[ViewNodeOut]
    edges: list[EdgeOut]


class PathsOut(BaseModel):
    source: NodeKey
    target: NodeKey
    shortest: list[EdgeOut] | None
    paths: list[list[EdgeOut]]
    max_depth: int
    max_paths: int
    capped: bool
    truncated: bool
    nodes: list[NodeOut]


class _Hydrated:
    """Postgres's view of a set of graph nodes, under the request's tenant."""

    def __init__(self, assets: dict[int, AssetSummary], fields: dict[int, FieldSummary]) -> None:
        self.assets = assets
        self.fields = fields

    @classmethod
    async def load(cls, conn: Conn, nodes: list[NodeRef]) -> _Hydrated:
        fields = await hydrate.fields_by_id(conn, {n.id for n in nodes if n.kind == "field"})
        asset_ids = {n.id for n in nodes if n.kind == "asset"} | {
            f.asset_id for f in fields.values()
        }
        return cls(await hydrate.assets_by_id(conn, asset_ids), fields)

    def node(self, ref: NodeRef, distance: int, via: Edge | None) -> NodeOut | None:
        """The node as shown, or None when Postgres no longer shows it (a lagging mirror)."""
        if ref.kind == "asset":
            asset = self.assets.get(ref.id)
            if asset is None:
                return None
            return NodeOut(
                kind="asset",
                id=ref.id,
                distance=distance,
                asset=asset,
                via=None if via is None else EdgeOut.of(via),
            )
        found = self.fields.get(ref.id)
        if found is None or found.asset_id not in self.assets:
            return None
        return NodeOut(
            kind="field",
            id=ref.id,
            distance=distance,
            asset=self.assets[found.asset_id],
            field=found,
            via=None if via is None else EdgeOut.of(via),
        )


async def _start(
    conn: Conn, asset_id: int | None, qualified_name: str | None, field_id: int | None
) -> NodeRef:
    given = [v for v in (asset_id, qualified_name, field_id) if v is not None]
    if len(given) != 1:
        raise Unprocessable(
            "name the node with exactly one of asset_id, qualified_name or field_id",
            errors=[{"loc": ["query"], "msg": "exactly one of asset_id, qualified_name, field_id"}],
        )
    if field_id is not None:
        await hydrate.live_field(conn, field_id)
        return NodeRef.field(field_id)
    if qualified_name is not None:
        return NodeRef.asset(await resolve_qualified_name(conn, qualified_name))
    assert asset_id is not None
    if not await hydrate.assets_by_id(conn, [asset_id]):
        raise NotFound(f"asset {asset_id} does not exist")
    return NodeRef.asset(asset_id)


def _depth(raw: str, cap: int, name: str = "depth") -> tuple[int | None, bool]:
    """``all`` (unbounded) or a positive hop count, lowered to the server's cap."""
    if raw == "all":
        return None, False
    if not raw.isdigit() or int(raw) < 0:
        raise Unprocessable(
            f"{name} must be a non-negative integer or 'all', not {raw!r}",
            errors=[{"loc": ["query", name], "msg": "integer >= 0 or 'all'"}],
        )
    value = int(raw)
    return (cap, True) if value > cap else (value, False)


def _cap(value: int, cap: int, name: str) -> tuple[int, bool]:
    if value < 1:
        raise Unprocessable(
            f"{name} must be at least 1", errors=[{"loc": ["query", name], "msg": ">= 1"}]
        )
    return (cap, True) if value > cap else (value, False)


NodeQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
Depth = Annotated[str, Query(max_length=10, description="hops, or 'all'")]


@dataclass
class NodeParams:
    """The node a query starts from: exactly one of these."""

    asset_id: NodeQuery = None
    qualified_name: Annotated[str | None, Query(min_length=1, max_length=2000)] = None
    field_id: NodeQuery = None

    async def resolve(self, conn: Conn) -> NodeRef:
        return await _start(conn, self.asset_id, self.qualified_name, self.field_id)


@dataclass
class TraversalParams:
    depth: Depth = "1"
    relationship_type: Annotated[list[RelationshipType] | None, Query()] = None
    asset_type: Annotated[list[AssetType] | None, Query()] = None
    limit: int | None = None


async def _traverse(
    direction: Literal["upstream", "downstream"],
    session: Session,
    graph: GraphEngine,
    node: NodeParams,
    params: TraversalParams,
) -> TraversalOut:
    settings = session.settings
    start = await node.resolve(session.conn)
    hops, depth_capped = _depth(params.depth, settings.max_lineage_depth)
    size, limit_capped = _cap(
        settings.default_lineage_limit if params.limit is None else params.limit,
        settings.max_lineage_nodes,
        "limit",
    )
    result = await graph.traverse(
        session.actor.tenant_id,
        start,
        direction,
        max_depth=hops,
        relationship_types=_values(params.relationship_type),
        asset_types=_values(params.asset_type),
        limit=size,
    )
    reached = list(result)
    hydrated = await _Hydrated.load(session.conn, [start, *(r.node for r in reached)])
    start_out = hydrated.node(start, 0, None)
    if start_out is None:
        raise NotFound(f"{start} does not exist")
    nodes = [n for r in reached if (n := hydrated.node(r.node, r.distance, r.via)) is not None]
    return TraversalOut(
        start=start_out,
        direction=direction,
        depth=hops,
        depth_capped=depth_capped,
        limit=size,
        limit_capped=limit_capped,
        truncated=result.truncated,
        nodes=nodes,
    )


def _values(items: list[RelationshipType] | list[AssetType] | None) -> list[str] | None:
    return None if items is None else [item.value for item in items]


Node = Annotated[NodeParams, Depends()]
Traversing = Annotated[TraversalParams, Depends()]


@router.get("/upstream")
async def upstream(
    session: ReadSession, graph: Graph, node: Node, params: Traversing
) -> TraversalOut:
    """Where an asset's or column's data comes from, nearest first, each node with its distance
    and the edge it was reached by."""
    return await _traverse("upstream", session, graph, node, params)


@router.get("/downstream")
async def downstream(
    session: ReadSession, graph: Graph, node: Node, params: Traversing
) -> TraversalOut:
    """Where an asset's or column's data goes, nearest first."""
    return await _traverse("downstream", session, graph, node, params)


@router.get("/graph")
async def graph_view(
    session: ReadSession,
    graph: Graph,
    node: Node,
    upstream_depth: Depth = "1",
    downstream_depth: Depth = "1",
    node_cap: int = DEFAULT_NODE_CAP,
    include_fields: bool = False,
    relationship_type: Annotated[list[RelationshipType] | None, Query()] = None,
) -> GraphViewOut:
    """The neighbourhood of a node for drawing: nodes up to the given depths each way, the edges
    among them, and per node the count of neighbours the cap or the depth left out."""
    settings = session.settings
    center = await node.resolve(session.conn)
    up, up_capped = _depth(upstream_depth, settings.max_lineage_depth, "upstream_depth")
    down, down_capped = _depth(downstream_depth, settings.max_lineage_depth, "downstream_depth")
    cap, cap_capped = _cap(node_cap, settings.max_view_nodes, "node_cap")
    view = await graph.graph_view(
        session.actor.tenant_id,
        center,
        upstream_depth=up,
        downstream_depth=down,
        node_cap=cap,
        include_fields=include_fields,
        relationship_types=_values(relationship_type),
    )
    hydrated = await _Hydrated.load(session.conn, [v.node for v in view.nodes])
    nodes: list[ViewNodeOut] = []
    for v in view.nodes:
        shown = hydrated.node(v.node, v.distance, None)
        if shown is not None:
            nodes.append(
                ViewNodeOut(
                    **shown.model_dump(),
                    side=v.side,
                    hidden_upstream=v.hidden_upstream,
                    hidden_downstream=v.hidden_downstream,
                )
            )
    kept = {(n.kind, n.id) for n in nodes}
    edges = [
        EdgeOut.of(e)
        for e in view.edges
        if (e.source.kind, e.source.id) in kept and (e.target.kind, e.target.id) in kept
    ]
    return GraphViewOut(
        center=NodeKey(kind=center.kind, id=center.id),
        upstream_depth=up,
        downstream_depth=down,
        depth_capped=up_capped or down_capped,
        node_cap=cap,
        node_cap_capped=cap_capped,
        truncated=view.truncated,
        nodes=nodes,
        edges=edges,
    )


@router.get("/paths")
async def paths(
    session: ReadSession,
    graph: Graph,
    from_asset_id: NodeQuery = None,
    from_qualified_name: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    from_field_id: NodeQuery = None,
    to_asset_id: NodeQuery = None,
    to_qualified_name: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    to_field_id: NodeQuery = None,
    max_depth: int = 6,
    max_paths: int = 100,
    relationship_type: Annotated[list[RelationshipType] | None, Query()] = None,
) -> PathsOut:
    """How data gets from one asset (or column) down to another: the shortest path and every
    simple path up to ``max_depth`` hops, at most ``max_paths`` of them."""
    settings = session.settings
    source = await _start(session.conn, from_asset_id, from_qualified_name, from_field_id)
    target = await _start(session.conn, to_asset_id, to_qualified_name, to_field_id)
    if source.kind != target.kind:
        raise Unprocessable("paths join two assets or two columns, not an asset and a column")
    depth, depth_capped = _cap(max_depth, settings.max_path_depth, "max_depth")
    count, count_capped = _cap(max_paths, settings.max_paths, "max_paths")
    tenant = session.actor.tenant_id
    types = _values(relationship_type)
    shortest = await graph.shortest_path(tenant, source, target, relationship_types=types)
    found = await graph.all_paths(
        tenant, source, target, max_depth=depth, max_paths=count, relationship_types=types
    )
    refs = {source, target} | {n for p in found.paths for e in p for n in (e.source, e.target)}
    refs |= {n for e in shortest or [] for n in (e.source, e.target)}
    hydrated = await _Hydrated.load(session.conn, sorted(refs))
    nodes = [n for ref in sorted(refs) if (n := hydrated.node(ref, 0, None)) is not None]
    shown = {(n.kind, n.id) for n in nodes}

    def visible(edges: tuple[Edge, ...] | list[Edge]) -> bool:
        return all((n.kind, n.id) in shown for e in edges for n in (e.source, e.target))

    return PathsOut(
        source=NodeKey(kind=source.kind, id=source.id),
        target=NodeKey(kind=target.kind, id=target.id),
        shortest=[EdgeOut.of(e) for e in shortest]
        if shortest is not None and visible(shortest)
        else None,
        paths=[[EdgeOut.of(e) for e in p] for p in found.paths if visible(p)],
        max_depth=depth,
        max_paths=count,
        capped=depth_capped or count_capped,
        truncated=found.truncated,
        nodes=nodes,
    )
