"""Lineage queries over the graph mirror, hydrated from Postgres.

Upstream and downstream follow data flow only (DESIGN.md: PRODUCES flows job -> table,
USES/DEPENDS_ON flow source -> consumer, CONTAINS/RELATED_TO are structure). A query starts at an
asset (``asset_id`` or ``qualified_name``) or at a column (``field_id``). Every cap the server
applies is reported in the response (``depth_capped``, ``limit_capped``, ``truncated``).

Traversals, graph views and paths answer with JSON built once from the graph's arrays and
Postgres's rows (tags and metadata pass through as the JSON text Postgres returns) and encoded by
orjson: a closure can hold tens of thousands of nodes, and validating each through pydantic
models, then serialising them again, cost far more than the traversal itself. The models below
document those responses (``response_model``); a test checks the bodies match them.

``GET /api/v1/lineage?nodeId=&depth=`` answers in Marquez's lineage format (see
:func:`marquez_lineage`), so tools built for Marquez can read Headwater.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from headwater.api.deps import PageLimit, ReadSession, Session, State
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import hydrate, marquez
from headwater.catalog.assets import AssetType, resolve_qualified_name
from headwater.catalog.db import Conn
from headwater.catalog.errors import HeadwaterError, NotFound, Unprocessable
from headwater.catalog.hydrate import AssetSummary, FieldSummary
from headwater.catalog.relationships import RelationshipType
from headwater.graph.engine import DEFAULT_NODE_CAP, GraphEngine
from headwater.graph.model import (
    FLOW_DIRECTIONS,
    Edge,
    Flow,
    GraphView,
    Labels,
    NodeKind,
    NodeRef,
    Traversal,
    UnknownNode,
    ViewNode,
)

router = APIRouter(prefix="/lineage", tags=["lineage"], route_class=StrictJSONRoute)


class GraphUnavailable(HeadwaterError):
    status_code = 503
    title = "Lineage graph unavailable"


async def graph_engine(state: State) -> GraphEngine:
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


# --- JSON bodies ----------------------------------------------------------------------------------
#
# Nodes and edges are written as JSON bytes straight from the graph's result arrays and the
# hydrated documents: bytes are not tracked by the garbage collector, whereas a dict per node kept
# alive until the response is encoded made a closure set off several full collections of the
# heap. Their keys and order are those of the models above.

Json = dict[str, Any]

# Row codes of a Traversal's arrays (documented on Traversal).
_NODE_KINDS: Final[tuple[NodeKind, NodeKind]] = ("asset", "field")
# By edge code: the edge kind and the node kinds at its stored source and target.
_EDGE_KINDS: Final[tuple[tuple[bytes, bytes, bytes], ...]] = (
    (b"relationship", b"asset", b"asset"),
    (b"field_lineage", b"field", b"field"),
    (b"contains", b"asset", b"field"),
)
# A NodeOut; the last slot takes further keys (a ViewNodeOut's).
_NODE: Final = b'{"kind":"%b","id":%d,"distance":%d,"asset":%b,"field":%b,"via":%b%b}'
# An EdgeOut; ``type`` comes JSON-encoded.
_EDGE: Final = (
    b'{"kind":"%b","id":%d,"source":{"kind":"%b","id":%d},"target":{"kind":"%b","id":%d},"type":%b}'
)
_VIEW_KEYS: Final = b',"side":"%b","hidden_upstream":%d,"hidden_downstream":%d'


@functools.lru_cache(maxsize=1024)
def _string(value: str) -> bytes:
    """A JSON string; edge types are few, so each is encoded once."""
    return orjson.dumps(value)


def _json(body: Json) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _array(items: Sequence[bytes]) -> orjson.Fragment:
    return orjson.Fragment(b"[" + b",".join(items) + b"]")


def _key(node: NodeRef) -> Json:
    return {"kind": node.kind, "id": node.id}


def _edge(edge: Edge) -> bytes:
    return _EDGE % (
        edge.kind.encode(),
        edge.id,
        edge.source.kind.encode(),
        edge.source.id,
        edge.target.kind.encode(),
        edge.target.id,
        _string(edge.type),
    )


def _edges(edges: Sequence[Edge]) -> orjson.Fragment:
    return _array([_edge(e) for e in edges])


class _Shown:
    """Postgres's view of a set of graph nodes, under the request's tenant, as JSON documents."""

    def __init__(self, assets: dict[int, bytes], fields: hydrate.FieldDocuments) -> None:
        self.assets = assets
        self.fields = fields

    @classmethod
    async def load(cls, conn: Conn, asset_ids: Iterable[int], field_ids: Iterable[int]) -> _Shown:
        fields = await hydrate.field_documents(conn, set(field_ids))
        assets = await hydrate.asset_documents(conn, {*asset_ids, *fields.asset_of.values()})
        return cls(assets, fields)

    @classmethod
    async def of_refs(cls, conn: Conn, nodes: Iterable[NodeRef]) -> _Shown:
        refs = list(nodes)
        return await cls.load(
            conn,
            (n.id for n in refs if n.kind == "asset"),
            (n.id for n in refs if n.kind == "field"),
        )

    def node(
        self, kind: NodeKind, node_id: int, distance: int, via: bytes = b"null", more: bytes = b""
    ) -> bytes | None:
        """The node's :class:`NodeOut` (plus ``more`` keys), or None when Postgres no longer
        shows it (a lagging mirror)."""
        if kind == "asset":
            asset = self.assets.get(node_id)
            if asset is None:
                return None
            return _NODE % (b"asset", node_id, distance, asset, b"null", via, more)
        found = self.fields.json.get(node_id)
        asset = self.assets.get(self.fields.asset_of.get(node_id, 0))
        if found is None or asset is None:
            return None
        return _NODE % (b"field", node_id, distance, asset, found, via, more)

    def start(self, node: NodeRef) -> orjson.Fragment:
        """The node a query starts from, or 404: the graph answered from ids alone."""
        shown = self.node(node.kind, node.id, 0)
        if shown is None:
            raise NotFound(f"{node.kind} {node.id} does not exist")
        return orjson.Fragment(shown)

    def reached(self, result: Traversal) -> list[bytes]:
        """The shown nodes of a traversal, each with the edge it was reached by, read straight
        from the result's arrays rather than through a Reached, an Edge and three NodeRefs per
        row."""
        nodes: list[bytes] = []
        types = result.via_type
        if isinstance(types, Labels):  # codes into a few names: encode each name once
            names = [_string(name) for name in types.names]
            type_json = [names[code] for code in types.codes.tolist()]
        else:
            type_json = [_string(t) for t in types]
        rows = zip(
            result.kind.tolist(),
            result.id.tolist(),
            result.distance.tolist(),
            result.via_kind.tolist(),
            result.via_id.tolist(),
            result.via_source.tolist(),
            result.via_target.tolist(),
            type_json,
            strict=True,
        )
        for kind, node_id, distance, via_kind, via_id, source, target, via_type in rows:
            via = b"null"
            if via_kind >= 0:  # -1: a start, reached by no edge
                edge_kind, source_kind, target_kind = _EDGE_KINDS[via_kind]
                via = _EDGE % (
                    edge_kind,
                    via_id,
                    source_kind,
                    source,
                    target_kind,
                    target,
                    via_type,
                )
            node = self.node(_NODE_KINDS[kind], node_id, distance, via)
            if node is not None:
                nodes.append(node)
        return nodes


# --- parameters -----------------------------------------------------------------------------------


async def _node(
    conn: Conn, asset_id: int | None, qualified_name: str | None, field_id: int | None
) -> NodeRef:
    """The node named, not yet checked against Postgres (unless named by qualified name):
    the hydration of the answer checks it, which saves a query."""
    given = [v for v in (asset_id, qualified_name, field_id) if v is not None]
    if len(given) != 1:
        raise Unprocessable(
            "name the node with exactly one of asset_id, qualified_name or field_id",
            errors=[{"loc": ["query"], "msg": "exactly one of asset_id, qualified_name, field_id"}],
        )
    if field_id is not None:
        return NodeRef.field(field_id)
    if qualified_name is not None:
        return NodeRef.asset(await resolve_qualified_name(conn, qualified_name))
    assert asset_id is not None
    return NodeRef.asset(asset_id)


async def _start(
    conn: Conn, asset_id: int | None, qualified_name: str | None, field_id: int | None
) -> NodeRef:
    """The node named, or 404."""
    node = await _node(conn, asset_id, qualified_name, field_id)
    if node.kind == "field":
        await hydrate.live_field(conn, node.id)
    elif asset_id is not None and not await hydrate.assets_by_id(conn, [asset_id]):
        raise NotFound(f"asset {asset_id} does not exist")
    return node


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


def _cap(value: int, cap: int) -> tuple[int, bool]:
    return (cap, True) if value > cap else (value, False)


Count = Annotated[int, Query(ge=1, description="capped by the server (the answer says so)")]
NodeQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
QualifiedName = Annotated[str | None, Query(min_length=1, max_length=2000)]
Depth = Annotated[str, Query(max_length=10, description="hops, or 'all'")]


@dataclass
class NodeParams:
    """The node a query starts from: exactly one of these."""

    asset_id: int | None
    qualified_name: str | None
    field_id: int | None

    async def resolve(self, conn: Conn) -> NodeRef:
        return await _node(conn, self.asset_id, self.qualified_name, self.field_id)


@dataclass
class TraversalParams:
    depth: str
    relationship_type: list[RelationshipType] | None
    asset_type: list[AssetType] | None
    limit: int | None


# Dependencies are coroutines, not the dataclasses themselves: FastAPI runs a plain callable in a
# worker thread, a hop per dependency per request.
async def node_params(
    asset_id: NodeQuery = None, qualified_name: QualifiedName = None, field_id: NodeQuery = None
) -> NodeParams:
    return NodeParams(asset_id, qualified_name, field_id)


async def traversal_params(
    depth: Depth = "1",
    relationship_type: Annotated[list[RelationshipType] | None, Query()] = None,
    asset_type: Annotated[list[AssetType] | None, Query()] = None,
    limit: PageLimit = None,
) -> TraversalParams:
    return TraversalParams(depth, relationship_type, asset_type, limit)


Node = Annotated[NodeParams, Depends(node_params)]
Traversing = Annotated[TraversalParams, Depends(traversal_params)]


def _values(items: list[RelationshipType] | list[AssetType] | None) -> list[str] | None:
    return None if items is None else [item.value for item in items]


# --- endpoints ------------------------------------------------------------------------------------


async def _traverse(
    direction: Literal["upstream", "downstream"],
    session: Session,
    graph: GraphEngine,
    node: NodeParams,
    params: TraversalParams,
) -> Response:
    settings = session.settings
    start = await node.resolve(session.conn)
    hops, depth_capped = _depth(params.depth, settings.max_lineage_depth)
    size, limit_capped = _cap(
        settings.default_lineage_limit if params.limit is None else params.limit,
        settings.max_lineage_nodes,
    )
    try:
        result: Traversal | None = await graph.traverse(
            session.actor.tenant_id,
            start,
            direction,
            max_depth=hops,
            relationship_types=_values(params.relationship_type),
            asset_types=_values(params.asset_type),
            limit=size,
        )
    except UnknownNode:
        result = None  # not in the mirror: unknown, or not synced yet (then it stands alone)
    asset_ids: list[int] = [] if result is None else result.ids("asset").tolist()
    field_ids: list[int] = [] if result is None else result.ids("field").tolist()
    (asset_ids if start.kind == "asset" else field_ids).append(start.id)
    shown = await _Shown.load(session.conn, asset_ids, field_ids)
    start_out = shown.start(start)
    nodes = [] if result is None else shown.reached(result)
    return _json(
        {
            "start": start_out,
            "direction": direction,
            "depth": hops,
            "depth_capped": depth_capped,
            "limit": size,
            "limit_capped": limit_capped,
            "truncated": result is not None and result.truncated,
            "nodes": _array(nodes),
        }
    )


@router.get("/upstream", response_model=TraversalOut)
async def upstream(session: ReadSession, graph: Graph, node: Node, params: Traversing) -> Response:
    """Where an asset's or column's data comes from, nearest first, each node with its distance
    and the edge it was reached by."""
    return await _traverse("upstream", session, graph, node, params)


@router.get("/downstream", response_model=TraversalOut)
async def downstream(
    session: ReadSession, graph: Graph, node: Node, params: Traversing
) -> Response:
    """Where an asset's or column's data goes, nearest first."""
    return await _traverse("downstream", session, graph, node, params)


@router.get("/graph", response_model=GraphViewOut)
async def graph_view(
    session: ReadSession,
    graph: Graph,
    node: Node,
    upstream_depth: Depth = "1",
    downstream_depth: Depth = "1",
    node_cap: Count = DEFAULT_NODE_CAP,
    include_fields: bool = False,
    relationship_type: Annotated[list[RelationshipType] | None, Query()] = None,
) -> Response:
    """The neighbourhood of a node for drawing: nodes up to the given depths each way, the edges
    among them, and per node the count of neighbours the cap or the depth left out."""
    settings = session.settings
    center = await node.resolve(session.conn)
    up, up_capped = _depth(upstream_depth, settings.max_lineage_depth, "upstream_depth")
    down, down_capped = _depth(downstream_depth, settings.max_lineage_depth, "downstream_depth")
    cap, cap_capped = _cap(node_cap, settings.max_view_nodes)
    try:
        view = await graph.graph_view(
            session.actor.tenant_id,
            center,
            upstream_depth=up,
            downstream_depth=down,
            node_cap=cap,
            include_fields=include_fields,
            relationship_types=_values(relationship_type),
        )
    except UnknownNode:
        # Not in the mirror: unknown (404 below), or not synced yet: it stands alone.
        view = GraphView(center, (ViewNode(center, 0, "center", 0, 0),), (), False)
    shown = await _Shown.of_refs(session.conn, (v.node for v in view.nodes))
    shown.start(center)
    nodes: list[bytes] = []
    kept: set[NodeRef] = set()
    for v in view.nodes:
        more = _VIEW_KEYS % (v.side.encode(), v.hidden_upstream, v.hidden_downstream)
        out = shown.node(v.node.kind, v.node.id, v.distance, more=more)
        if out is not None:
            nodes.append(out)
            kept.add(v.node)
    edges = [e for e in view.edges if e.source in kept and e.target in kept]
    return _json(
        {
            "center": _key(center),
            "upstream_depth": up,
            "downstream_depth": down,
            "depth_capped": up_capped or down_capped,
            "node_cap": cap,
            "node_cap_capped": cap_capped,
            "truncated": view.truncated,
            "nodes": _array(nodes),
            "edges": _edges(edges),
        }
    )


@router.get("/paths", response_model=PathsOut)
async def paths(
    session: ReadSession,
    graph: Graph,
    from_asset_id: NodeQuery = None,
    from_qualified_name: QualifiedName = None,
    from_field_id: NodeQuery = None,
    to_asset_id: NodeQuery = None,
    to_qualified_name: QualifiedName = None,
    to_field_id: NodeQuery = None,
    max_depth: Count = 6,
    max_paths: Count = 100,
    relationship_type: Annotated[list[RelationshipType] | None, Query()] = None,
) -> Response:
    """How data gets from one asset (or column) down to another: the shortest path and every
    simple path up to ``max_depth`` hops, at most ``max_paths`` of them."""
    settings = session.settings
    source = await _start(session.conn, from_asset_id, from_qualified_name, from_field_id)
    target = await _start(session.conn, to_asset_id, to_qualified_name, to_field_id)
    if source.kind != target.kind:
        raise Unprocessable("paths join two assets or two columns, not an asset and a column")
    depth, depth_capped = _cap(max_depth, settings.max_path_depth)
    count, count_capped = _cap(max_paths, settings.max_paths)
    tenant = session.actor.tenant_id
    types = _values(relationship_type)
    shortest = await graph.shortest_path(tenant, source, target, relationship_types=types)
    found = await graph.all_paths(
        tenant, source, target, max_depth=depth, max_paths=count, relationship_types=types
    )
    refs = {source, target} | {n for p in found.paths for e in p for n in (e.source, e.target)}
    refs |= {n for e in shortest or [] for n in (e.source, e.target)}
    ordered = sorted(refs)
    shown = await _Shown.of_refs(session.conn, ordered)
    nodes: list[bytes] = []
    kept: set[NodeRef] = set()
    for ref in ordered:
        out = shown.node(ref.kind, ref.id, 0)
        if out is not None:
            nodes.append(out)
            kept.add(ref)

    def visible(edges: Sequence[Edge]) -> bool:
        return all(n in kept for e in edges for n in (e.source, e.target))

    return _json(
        {
            "source": _key(source),
            "target": _key(target),
            "shortest": _edges(shortest) if shortest is not None and visible(shortest) else None,
            "paths": [_edges(p) for p in found.paths if visible(p)],
            "max_depth": depth,
            "max_paths": count,
            "capped": depth_capped or count_capped,
            "truncated": found.truncated,
            "nodes": _array(nodes),
        }
    )


# --- Marquez-compatible lineage -------------------------------------------------------------------


class MarquezId(BaseModel):
    namespace: str
    name: str


class MarquezEdge(BaseModel):
    """Data flows from ``origin`` to ``destination`` (node ids)."""

    origin: str
    destination: str


class MarquezField(BaseModel):
    name: str
    type: str | None
    tags: list[str]
    description: str | None


class MarquezDataset(BaseModel):
    id: MarquezId
    type: Literal["DB_TABLE", "STREAM"]
    name: str
    physicalName: str
    createdAt: datetime
    updatedAt: datetime
    namespace: str
    sourceName: str
    fields: list[MarquezField]
    tags: list[str]
    lastModifiedAt: datetime | None
    description: str | None
    lastLifecycleState: str | None
    facets: dict[str, Any]


class MarquezRun(BaseModel):
    """The job's last OpenLineage run (``metadata.openlineage.last_run``); times as received."""

    id: str
    createdAt: str | None
    updatedAt: str | None
    nominalStartTime: str | None
    nominalEndTime: str | None
    state: Literal["NEW", "RUNNING", "COMPLETED", "ABORTED", "FAILED"]
    startedAt: str | None
    endedAt: str | None
    durationMs: int | None
    args: dict[str, Any]
    facets: dict[str, Any]


class MarquezJob(BaseModel):
    id: MarquezId
    type: Literal["BATCH", "STREAM", "SERVICE"]
    name: str
    simpleName: str
    parentJobName: str | None
    parentJobUuid: str | None
    createdAt: datetime
    updatedAt: datetime
    namespace: str
    inputs: list[MarquezId]
    outputs: list[MarquezId]
    location: str | None
    description: str | None
    latestRun: MarquezRun | None


class MarquezInputField(BaseModel):
    namespace: str
    dataset: str
    datasetVersion: str | None
    field: str
    transformationDescription: str | None
    transformationType: str | None


class MarquezColumn(BaseModel):
    namespace: str
    dataset: str
    field: str
    fieldType: str | None
    transformationDescription: str | None
    transformationType: str | None
    inputFields: list[MarquezInputField]


class MarquezNode(BaseModel):
    id: str
    type: Literal["DATASET", "JOB", "DATASET_FIELD"]
    data: MarquezDataset | MarquezJob | MarquezColumn
    inEdges: list[MarquezEdge]
    outEdges: list[MarquezEdge]


class MarquezLineage(BaseModel):
    """Marquez's ``LineageGraph``: the nodes, sorted by id, each with its in and out edges."""

    graph: list[MarquezNode]


FLOW_TYPES: list[str] = [t for t, f in FLOW_DIRECTIONS.items() if f is not Flow.NONE]
_RUN_STATES: dict[str, Literal["NEW", "RUNNING", "COMPLETED", "ABORTED", "FAILED"]] = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "ABORT": "ABORTED",
    "FAIL": "FAILED",
}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _openlineage(asset: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = asset["metadata"].get("openlineage")
    return meta if isinstance(meta, Mapping) else {}


def _run(last: object) -> MarquezRun | None:
    if not isinstance(last, Mapping) or not isinstance(last.get("run_id"), str):
        return None
    started, ended = _text(last.get("started_at")), _text(last.get("ended_at"))
    duration = None
    if started is not None and ended is not None:
        try:
            delta = datetime.fromisoformat(ended) - datetime.fromisoformat(started)
            duration = int(delta.total_seconds() * 1000)
        except (TypeError, ValueError):
            duration = None
    return MarquezRun(
        id=last["run_id"],
        createdAt=started or _text(last.get("latest_event_time")),
        updatedAt=_text(last.get("latest_event_time")),
        nominalStartTime=_text(last.get("nominal_start_time")),
        nominalEndTime=_text(last.get("nominal_end_time")),
        state=_RUN_STATES.get(str(last.get("state")), "NEW"),
        startedAt=started,
        endedAt=ended,
        durationMs=duration,
        args={},
        facets={},
    )


def _dataset(asset: Mapping[str, Any], namespace: str, name: str) -> MarquezDataset:
    source = _openlineage(asset).get("data_source")
    source_name = _text(source.get("name")) if isinstance(source, Mapping) else None
    return MarquezDataset(
        id=MarquezId(namespace=namespace, name=name),
        type="STREAM" if asset["type"] == "topic" else "DB_TABLE",
        name=name,
        physicalName=name,
        createdAt=asset["created_at"],
        updatedAt=asset["updated_at"],
        namespace=namespace,
        sourceName=source_name or namespace,
        fields=[
            MarquezField(
                name=f["name"],
                type=_text(f.get("type")),
                tags=[],
                description=_text(f.get("description")),
            )
            for f in asset["fields"]
        ],
        tags=list(asset["tags"]),
        lastModifiedAt=None,
        description=_text(asset["description"]),
        lastLifecycleState=None,
        facets={},
    )


def _job(
    asset: Mapping[str, Any],
    namespace: str,
    name: str,
    inputs: list[MarquezId],
    outputs: list[MarquezId],
) -> MarquezJob:
    meta = _openlineage(asset)
    parent = meta.get("parent")
    parent_name = _text(parent.get("name")) if isinstance(parent, Mapping) else None
    simple = name
    if parent_name and name.startswith(parent_name + "."):
        simple = name[len(parent_name) + 1 :]
    job_type = meta.get("job_type")
    processing = job_type.get("processingType") if isinstance(job_type, Mapping) else None
    location = meta.get("source_code_location")
    return MarquezJob(
        id=MarquezId(namespace=namespace, name=name),
        type="STREAM" if processing == "STREAMING" else "BATCH",
        name=name,
        simpleName=simple,
        parentJobName=parent_name,
        parentJobUuid=None,
        createdAt=asset["created_at"],
        updatedAt=asset["updated_at"],
        namespace=namespace,
        inputs=inputs,
        outputs=outputs,
        location=_text(location.get("url")) if isinstance(location, Mapping) else None,
        description=_text(asset["description"]),
        latestRun=_run(meta.get("last_run")),
    )


@dataclass
class _MarquezNodes:
    """The hydrated nodes of a view under their Marquez ids, and the flows among them."""

    assets: dict[int, dict[str, Any]]
    fields: dict[int, dict[str, Any]]
    names: dict[int, tuple[str, str]]
    ids: dict[NodeRef, str]
    refs: dict[str, NodeRef]
    flows: dict[tuple[str, str], Edge]
    into: dict[str, list[MarquezEdge]]
    out_of: dict[str, list[MarquezEdge]]

    @classmethod
    async def load(
        cls, conn: Conn, refs: Sequence[NodeRef], edges: Sequence[Edge]
    ) -> _MarquezNodes:
        fields = await marquez.fields_for_lineage(conn, {r.id for r in refs if r.kind == "field"})
        assets = await marquez.assets_for_lineage(
            conn,
            {r.id for r in refs if r.kind == "asset"} | {f["asset_id"] for f in fields.values()},
        )
        names = {
            asset_id: marquez.asset_name(a["qualified_name"], a["metadata"])
            for asset_id, a in assets.items()
        }
        ids: dict[NodeRef, str] = {}
        taken: set[str] = set()
        for ref in refs:
            if ref.kind == "asset" and ref.id in assets:
                a = assets[ref.id]
                node_id = marquez.asset_node_id(a["type"], a["qualified_name"], a["metadata"])
            elif ref.kind == "field" and ref.id in fields and fields[ref.id]["asset_id"] in assets:
                namespace, dataset = names[fields[ref.id]["asset_id"]]
                node_id = marquez.field_node_id(namespace, dataset, fields[ref.id]["name"])
            else:
                continue  # Postgres no longer shows it: left out, with its edges
            # Two assets can map to one Marquez id (``default/x`` and ``x``): the nearer stays.
            if node_id not in taken:
                taken.add(node_id)
                ids[ref] = node_id
        flows: dict[tuple[str, str], Edge] = {}
        for edge in edges:
            ends = edge.flow()
            if ends is not None and ends[0] in ids and ends[1] in ids:
                flows.setdefault((ids[ends[0]], ids[ends[1]]), edge)
        into: dict[str, list[MarquezEdge]] = {}
        out_of: dict[str, list[MarquezEdge]] = {}
        for origin, destination in sorted(flows):
            shown = MarquezEdge(origin=origin, destination=destination)
            out_of.setdefault(origin, []).append(shown)
            into.setdefault(destination, []).append(shown)
        refs_by_id = {node_id: ref for ref, node_id in ids.items()}
        return cls(assets, fields, names, ids, refs_by_id, flows, into, out_of)

    def _dataset_ids(self, node_ids: list[str]) -> list[MarquezId]:
        found = [self.refs[n] for n in node_ids]
        return [
            MarquezId(namespace=self.names[r.id][0], name=self.names[r.id][1])
            for r in found
            if r.kind == "asset" and marquez.asset_node_type(self.assets[r.id]["type"]) == "DATASET"
        ]

    def asset_node(self, node_id: str, asset_id: int) -> MarquezNode:
        asset = self.assets[asset_id]
        namespace, name = self.names[asset_id]
        ins, outs = self.into.get(node_id, []), self.out_of.get(node_id, [])
        node_type = marquez.asset_node_type(asset["type"])
        data: MarquezDataset | MarquezJob
        if node_type == "JOB":
            inputs = self._dataset_ids([e.origin for e in ins])
            outputs = self._dataset_ids([e.destination for e in outs])
            data = _job(asset, namespace, name, inputs, outputs)
        else:
            data = _dataset(asset, namespace, name)
        return MarquezNode(id=node_id, type=node_type, data=data, inEdges=ins, outEdges=outs)

    def column_node(
        self, node_id: str, field_id: int, lineage: Mapping[int, Mapping[str, Any]]
    ) -> MarquezNode:
        field = self.fields[field_id]
        namespace, dataset = self.names[field["asset_id"]]
        ins, outs = self.into.get(node_id, []), self.out_of.get(node_id, [])
        inputs: list[MarquezInputField] = []
        for e in ins:
            source = self.fields[self.refs[e.origin].id]
            edge = self.flows[(e.origin, node_id)]
            source_namespace, source_dataset = self.names[source["asset_id"]]
            inputs.append(
                MarquezInputField(
                    namespace=source_namespace,
                    dataset=source_dataset,
                    datasetVersion=None,
                    field=source["name"],
                    transformationDescription=_text(lineage.get(edge.id, {}).get("description")),
                    transformationType=edge.type,
                )
            )
        only = inputs[0] if len(inputs) == 1 else None
        data = MarquezColumn(
            namespace=namespace,
            dataset=dataset,
            field=field["name"],
            fieldType=_text(field["data_type"]),
            transformationDescription=only.transformationDescription if only else None,
            transformationType=only.transformationType if only else None,
            inputFields=inputs,
        )
        return MarquezNode(id=node_id, type="DATASET_FIELD", data=data, inEdges=ins, outEdges=outs)


async def _marquez_graph(
    conn: Conn, refs: Sequence[NodeRef], edges: Sequence[Edge]
) -> MarquezLineage:
    """Hydrate the view's nodes from Postgres and lay them out as Marquez does."""
    nodes = await _MarquezNodes.load(conn, refs, edges)
    lineage = await marquez.field_lineage_for_lineage(
        conn, [e.id for e in nodes.flows.values() if e.kind == "field_lineage"]
    )
    graph = [
        nodes.column_node(node_id, ref.id, lineage)
        if ref.kind == "field"
        else nodes.asset_node(node_id, ref.id)
        for node_id, ref in sorted(nodes.refs.items())
    ]
    return MarquezLineage(graph=graph)


@router.get("", response_model=MarquezLineage)
async def marquez_lineage(
    session: ReadSession,
    graph: Graph,
    response: Response,
    node_id: Annotated[
        str,
        Query(
            alias="nodeId",
            min_length=1,
            max_length=marquez.MAX_NODE_ID,
            description="dataset:<namespace>:<name>, job:<namespace>:<name> or "
            "datasetField:<namespace>:<dataset>:<field>",
            examples=["dataset:food_delivery:public.delivery_7_days"],
        ),
    ],
    depth: Annotated[int, Query(ge=0, le=1_000_000, description="job levels, as in Marquez")] = 20,
) -> MarquezLineage:
    """The lineage graph around a node, in Marquez's format (``GET /api/v1/lineage`` of Marquez):
    ``{"graph": [{"id", "type", "data", "inEdges", "outEdges"}, ...]}``, nodes sorted by id,
    edges pointing the way data flows.

    Nodes are assets, named by their OpenLineage namespace and name (other assets: see
    :mod:`headwater.catalog.marquez`); jobs and pipelines are ``JOB`` nodes, other assets
    ``DATASET`` nodes. Unlike Marquez, which also pulls in jobs that merely share a dataset,
    Headwater walks the flow upstream and downstream of the node: ``depth`` counts job levels
    as Marquez does, each two flow edges (job -> dataset -> job), so ``2 * depth + 1`` edges
    each way (the datasets of the last jobs included). A ``datasetField`` node gives the column
    graph (``DATASET_FIELD`` nodes over field lineage), ``depth`` edges each way.

    The body keeps Marquez's shape exactly, so the caps are reported in headers:
    ``Headwater-Depth`` (edges walked each way), ``Headwater-Depth-Capped`` (the server's
    depth cap lowered it) and ``Headwater-Truncated`` (the node cap dropped nodes).
    """
    settings = session.settings
    kind, entity_id = await marquez.resolve(session.conn, marquez.parse_node_id(node_id))
    center = NodeRef(kind, entity_id)
    wanted = depth if kind == "field" else 2 * depth + 1
    hops, depth_capped = (
        min(wanted, settings.max_lineage_depth),
        wanted > settings.max_lineage_depth,
    )
    try:
        view = await graph.graph_view(
            session.actor.tenant_id,
            center,
            upstream_depth=hops,
            downstream_depth=hops,
            node_cap=settings.max_view_nodes,
            relationship_types=FLOW_TYPES,
        )
        refs, edges, truncated = [v.node for v in view.nodes], list(view.edges), view.truncated
    except UnknownNode:
        # Postgres has the node but the mirror has not caught up with it yet: it stands alone.
        refs, edges, truncated = [center], [], False
    response.headers["Headwater-Depth"] = str(hops)
    response.headers["Headwater-Depth-Capped"] = str(depth_capped).lower()
    response.headers["Headwater-Truncated"] = str(truncated).lower()
    return await _marquez_graph(session.conn, refs, edges)
