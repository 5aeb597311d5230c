"""The Neo4j graph engine: the lineage graph in Neo4j 5 (a server, a cluster or Aura) through the
official async driver, answering exactly like :mod:`headwater.graph.memory`.

**Model.** Every node and every edge carries ``tenant_id`` and every statement filters on it;
all Cypher lives in :mod:`headwater.cypher` (one parameterised statement per file).

* ``(:Asset {tenant_id, id, type, name, qualified_name, version, live})`` and
  ``(:Field {tenant_id, id, asset_id, name, version, live})``, unique on ``(tenant_id, id)``.
  ``live`` means the latest state is known and not deleted. A node an edge (or a field) refers to
  before its own state arrives is a placeholder: version 0, not live.
* ``(:Asset)-[:HAS_FIELD]->(:Field)``: containment, following the field's latest state.
* ``(:Asset)-[:RELATIONSHIP {tenant_id, id, type, version, deleted}]->(:Asset)`` in the catalog's
  stored orientation, and ``(:Field)-[:FIELD_LINEAGE {tenant_id, id, transformation, version,
  deleted}]->(:Field)``, unique on ``(tenant_id, id)``. Flow directions are not stored: queries
  pass the flow types of :data:`~headwater.graph.model.FLOW_DIRECTIONS` as parameters.
* ``(:SyncPosition {tenant_id, position})``: the outbox position the tenant's graph is current to.

**Writes** are batched ``UNWIND $rows ... MERGE`` statements guarded by version (a state is written
only when newer than the held one), so replays and out-of-order deliveries cannot regress the
graph. Deletes are versioned tombstones (``live = false`` / ``deleted = true``) that visibility
rules hide, so a soft-deleted asset hides its edges and fields without touching them and a newer
live state brings them back. The sync worker applies a shared sink under one lease, so one
tenant's writes never race each other.

**Queries** run a breadth-first search in Python over per-hop Cypher statements: one round trip
per BFS level, ``UNWIND`` over the frontier (in chunks), all inside one read transaction. Cypher's
own variable-length and quantified path patterns were not used because

* their depth bound cannot be a parameter (``*1..$depth`` and ``{1,$depth}`` are rejected), and a
  bound spliced into the text would break the "parameters only" rule;
* path patterns enumerate paths, not nodes: on diamonds their work grows with the number of paths,
  while a level-synchronous BFS touches each node and edge once;
* the answers need what a BFS yields directly: hop distances, one tree edge per node, the
  (distance, kind, id) order and exact truncation by the same rules as the memory engine; the flow
  direction of a relationship depends on its type and visibility on both ends' states.

Shortest paths use a bidirectional BFS over the same hops; all simple paths gather, with a
reverse BFS from the target, every edge that can lie on a short enough path, then enumerate the
paths in canonical order in Python.

Driver errors are re-raised as :class:`GraphBackendError` (``from`` the driver's error).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from uuid import UUID

import numpy as np
from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction, AsyncSession
from neo4j.exceptions import DriverError, Neo4jError

from headwater.cypher import STATEMENTS
from headwater.graph.engine import (
    EXPAND,
    LIFT,
    LIN,
    REL,
    STEP_CODES,
    AllPathsQuery,
    ClosureQuery,
    GraphEngine,
    PathQuery,
    TraverseQuery,
    ViewQuery,
    simple_paths,
)
from headwater.graph.model import (
    EDGE_KIND_CODES,
    FLOW_DIRECTIONS,
    KIND_CODES,
    ApplyResult,
    AssetState,
    Edge,
    FieldLineageState,
    FieldState,
    Flow,
    GraphData,
    GraphError,
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
)

__all__ = ["CHUNK_SIZE", "GraphBackendError", "Neo4jGraphEngine"]

CHUNK_SIZE: Final = 10_000
"""Rows per write statement and ids per hop statement: large enough to amortise a round trip,
small enough to keep each query's memory bounded."""

Row = dict[str, Any]
T = TypeVar("T")


class GraphBackendError(GraphError):
    """Neo4j failed or could not be reached; the driver's error is the ``__cause__``. Transient
    failures (a restarting server, a leader switch) clear when retried."""


# --- statements -----------------------------------------------------------------------------------


async def _fetch(tx: AsyncManagedTransaction, name: str, /, **params: Any) -> list[Row]:
    """Run the named statement of :mod:`headwater.cypher` with ``params`` and fetch its rows."""
    result = await tx.run(STATEMENTS[name].text, params)
    return await result.data()


async def _execute(tx: AsyncManagedTransaction, name: str, /, **params: Any) -> None:
    """Run the named statement for its effect."""
    result = await tx.run(STATEMENTS[name].text, params)
    await result.consume()


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for at in range(0, len(items), size):
        yield items[at : at + size]


# --- writes ---------------------------------------------------------------------------------------

# Nodes before the edges and fields that refer to them (placeholders are merged either way; this
# order just creates fewer of them).
_KINDS: Final[tuple[type[Mutation], ...]] = (
    AssetState,
    FieldState,
    RelationshipState,
    FieldLineageState,
)


def _row(state: Mutation) -> Row:
    """The ``row`` map an upsert statement reads for one state: its fields by name."""
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}


async def _upsert(
    tx: AsyncManagedTransaction, tenant_id: str, kind: type[Mutation], rows: Sequence[Row]
) -> list[Row]:
    """Write one kind's states; the rows written, each with the version held before."""
    if kind is AssetState:
        return await _fetch(tx, "upsert_assets", tenant_id=tenant_id, rows=rows)
    if kind is FieldState:
        return await _fetch(tx, "upsert_fields", tenant_id=tenant_id, rows=rows)
    if kind is RelationshipState:
        return await _fetch(tx, "upsert_relationships", tenant_id=tenant_id, rows=rows)
    return await _fetch(tx, "upsert_field_lineage", tenant_id=tenant_id, rows=rows)


StateKey = tuple[type[Mutation], int]


def _newest(
    mutations: Iterable[Mutation],
) -> tuple[dict[StateKey, Mutation], dict[StateKey, list[int]]]:
    """Per entity, the newest state of a batch, and the versions that would each have been applied
    in turn by a one-at-a-time apply (every version above all earlier ones of the batch).

    Writing only the newest state gives the same graph; a version in the list was applied iff it
    is above the version held before the batch, which the upsert statements report.
    """
    newest: dict[StateKey, Mutation] = {}
    rising: dict[StateKey, list[int]] = {}
    for state in mutations:
        key: StateKey = (type(state), state.id)
        held = newest.get(key)
        if held is None or state.version > held.version:
            newest[key] = state
            rising.setdefault(key, []).append(state.version)
    return newest, rising


def _applied(rising: dict[StateKey, list[int]], held: dict[StateKey, int]) -> int:
    """How many states a one-at-a-time apply would have applied, given each written entity's
    version held before the batch (entities not written changed nothing)."""
    return sum(
        1
        for key, versions in rising.items()
        if key in held
        for version in versions
        if version > held[key]
    )


async def _write_states(
    tx: AsyncManagedTransaction,
    tenant_id: str,
    states: Sequence[Mutation],
    position: str | None,
    chunk_size: int,
) -> dict[StateKey, int]:
    """Write states (one per entity) and the position in one transaction; {entity: version held
    before} for the states written."""
    held: dict[StateKey, int] = {}
    for kind in _KINDS:
        rows = [_row(s) for s in states if type(s) is kind]
        for chunk in _chunks(rows, chunk_size):
            for written in await _upsert(tx, tenant_id, kind, chunk):
                held[(kind, int(written["id"]))] = int(written["held_version"])
    if position is not None:
        await _execute(tx, "set_position", tenant_id=tenant_id, position=position)
    return held


async def _write_chunk(
    tx: AsyncManagedTransaction, tenant_id: str, kind: type[Mutation], rows: Sequence[Row]
) -> None:
    await _upsert(tx, tenant_id, kind, rows)


async def _drop_fields(tx: AsyncManagedTransaction, tenant_id: str, batch_size: int) -> int:
    rows = await _fetch(tx, "drop_fields", tenant_id=tenant_id, batch_size=batch_size)
    return int(rows[0]["deleted"])


async def _drop_assets(tx: AsyncManagedTransaction, tenant_id: str, batch_size: int) -> int:
    rows = await _fetch(tx, "drop_assets", tenant_id=tenant_id, batch_size=batch_size)
    return int(rows[0]["deleted"])


def _check_unique(data: GraphData) -> None:
    for what, ids in (
        ("asset", data.assets.id),
        ("field", data.fields.id),
        ("rel", data.relationships.id),
        ("lineage", data.field_lineage.id),
    ):
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"duplicate {what} ids in bulk data")


# --- hops -----------------------------------------------------------------------------------------


# Stored orientation of the relationship types data flows along, walking downstream: outgoing
# edges of the forward types, incoming edges of the backward ones (upstream swaps the two).
_FORWARD_TYPES: Final = tuple(sorted(t for t, f in FLOW_DIRECTIONS.items() if f is Flow.FORWARD))
_BACKWARD_TYPES: Final = tuple(sorted(t for t, f in FLOW_DIRECTIONS.items() if f is Flow.BACKWARD))


def _flow_types(forward: bool, types: Collection[str] | None) -> tuple[list[str], list[str]]:
    """(types to follow out of a node, types to follow into it) for one walking direction."""
    out, into = (_FORWARD_TYPES, _BACKWARD_TYPES) if forward else (_BACKWARD_TYPES, _FORWARD_TYPES)
    if types is None:
        return list(out), list(into)
    return [t for t in out if t in types], [t for t in into if t in types]


@dataclass(frozen=True, slots=True)
class _Hop:
    """One step of a walk: from ``origin`` to ``node`` along ``edge``; ``node_type`` is the type of
    ``node`` if an asset, else of its asset."""

    origin: NodeRef
    node: NodeRef
    edge: Edge
    node_type: str

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Among hops reaching one node in one BFS level, the lowest rank becomes its tree edge.

        Hops out of a field win (as in the memory engine): a column reached through column
        lineage rather than through its table, a table reached through one of its columns rather
        than through table-level flow, so impact paths stay at column precision where they can.
        """
        return (
            1 - KIND_CODES[self.origin.kind],
            EDGE_KIND_CODES[self.edge.kind],
            self.edge.id,
            self.origin.id,
        )


@dataclass(frozen=True, slots=True)
class _Graph:
    """One tenant's graph as seen by one read transaction."""

    tx: AsyncManagedTransaction
    tenant_id: str
    chunk_size: int

    async def resolve(self, nodes: Sequence[NodeRef]) -> dict[NodeRef, str]:
        """{node: asset type (for a field, its asset's)} for ``nodes``, which must be visible."""
        found: dict[NodeRef, str] = {}
        assets = [n.id for n in nodes if n.kind == "asset"]
        for chunk in _chunks(assets, self.chunk_size):
            for r in await _fetch(self.tx, "find_assets", tenant_id=self.tenant_id, ids=chunk):
                found[NodeRef.asset(r["id"])] = r["type"]
        fields = [n.id for n in nodes if n.kind == "field"]
        for chunk in _chunks(fields, self.chunk_size):
            for r in await _fetch(self.tx, "find_fields", tenant_id=self.tenant_id, ids=chunk):
                found[NodeRef.field(r["id"])] = r["type"]
        unknown = [n for n in nodes if n not in found]
        if unknown:
            raise UnknownNode(unknown)
        return {n: found[n] for n in nodes}

    async def expand(
        self, step: int, frontier: Sequence[int], forward: bool, types: Collection[str] | None
    ) -> list[_Hop]:
        """Every visible hop of kind ``step`` out of the frontier (ids of the step's source kind).
        ``types`` restricts relationship hops only."""
        hops: list[_Hop] = []
        if step == REL:
            out_types, in_types = _flow_types(forward, types)
            if not out_types and not in_types:
                return hops
        for chunk in _chunks(frontier, self.chunk_size):
            if step == REL:
                rows = await _fetch(
                    self.tx,
                    "expand_relationships",
                    tenant_id=self.tenant_id,
                    frontier=chunk,
                    out_types=out_types,
                    in_types=in_types,
                )
            elif step == LIN:
                rows = await _fetch(
                    self.tx,
                    "expand_field_lineage",
                    tenant_id=self.tenant_id,
                    frontier=chunk,
                    forward=forward,
                )
            elif step == LIFT:
                rows = await _fetch(
                    self.tx, "expand_to_assets", tenant_id=self.tenant_id, frontier=chunk
                )
            else:
                rows = await _fetch(
                    self.tx, "expand_to_fields", tenant_id=self.tenant_id, frontier=chunk
                )
            hops.extend(_hop(step, r) for r in rows)
        return hops

    async def expand_nodes(
        self,
        steps: Collection[int],
        frontier: Sequence[NodeRef],
        forward: bool,
        types: Collection[str] | None,
    ) -> list[_Hop]:
        """The hops of every step in ``steps`` out of a frontier of assets and fields."""
        assets = [n.id for n in frontier if n.kind == "asset"]
        fields = [n.id for n in frontier if n.kind == "field"]
        hops: list[_Hop] = []
        for step in sorted(steps):
            ids = assets if step in (REL, EXPAND) else fields
            if ids:
                hops.extend(await self.expand(step, ids, forward, types))
        return hops

    async def relationships_among(
        self, ids: Sequence[int], types: Collection[str] | None
    ) -> list[Edge]:
        """Every visible relationship between two of the (visible) assets ``ids``."""
        edges: list[Edge] = []
        wanted = None if types is None else sorted(types)
        # Both ends must be in ids, so the whole list is one statement's $ids: the endpoint test
        # needs all of them (the view is capped by node_cap, so the list stays small).
        rows = await _fetch(
            self.tx, "view_relationships", tenant_id=self.tenant_id, ids=list(ids), types=wanted
        )
        edges.extend(
            Edge.relationship(r["edge"], r["source"], r["target"], r["type"]) for r in rows
        )
        return edges

    async def lineage_among(self, ids: Sequence[int]) -> list[Edge]:
        """Every visible field-lineage edge between two of the (visible) fields ``ids``."""
        rows = await _fetch(self.tx, "view_field_lineage", tenant_id=self.tenant_id, ids=list(ids))
        return [Edge.field_lineage(r["edge"], r["source"], r["target"], r["type"]) for r in rows]


def _hop(step: int, r: Row) -> _Hop:
    """The hop an expand statement's row describes (``origin``, ``node``, ``node_type`` and, for
    relationships and field lineage, the edge's ``edge``, ``source``, ``target``, ``type``)."""
    if step == REL:
        edge = Edge.relationship(r["edge"], r["source"], r["target"], r["type"])
        return _Hop(NodeRef.asset(r["origin"]), NodeRef.asset(r["node"]), edge, r["node_type"])
    if step == LIN:
        edge = Edge.field_lineage(r["edge"], r["source"], r["target"], r["type"])
        return _Hop(NodeRef.field(r["origin"]), NodeRef.field(r["node"]), edge, r["node_type"])
    if step == LIFT:
        edge = Edge.contains(r["node"], r["origin"])
        return _Hop(NodeRef.field(r["origin"]), NodeRef.asset(r["node"]), edge, r["node_type"])
    edge = Edge.contains(r["origin"], r["node"])
    return _Hop(NodeRef.asset(r["origin"]), NodeRef.field(r["node"]), edge, r["node_type"])


# --- BFS ------------------------------------------------------------------------------------------


@dataclass
class _Visit:
    """What a BFS reached: {node: (distance, tree edge, asset type)}; ``stopped`` when the limit
    ended the walk before it was exhausted."""

    reached: dict[NodeRef, tuple[int, Edge | None, str]]
    stopped: bool


async def _bfs(
    g: _Graph,
    starts: dict[NodeRef, str],
    forward: bool,
    steps: Collection[int],
    types: Collection[str] | None,
    max_depth: int | None,
    limit: int | None = None,
    counts: Callable[[_Hop], bool] | None = None,
) -> _Visit:
    """Multi-source, level-synchronous BFS: one round of hop statements per level.

    With ``limit``, stops after the first level at which the newly reached nodes (those
    ``counts`` accepts, all by default) add up to more than ``limit``: nodes further out rank
    after all of those, so the caller still knows which nodes it keeps and that it truncated.
    """
    reached: dict[NodeRef, tuple[int, Edge | None, str]] = {
        node: (0, None, asset_type) for node, asset_type in starts.items()
    }
    frontier = list(starts)
    counted = 0
    level = 0
    while frontier and (max_depth is None or level < max_depth):
        level += 1
        claimed: dict[NodeRef, _Hop] = {}
        for hop in await g.expand_nodes(steps, frontier, forward, types):
            if hop.node in reached:
                continue
            held = claimed.get(hop.node)
            if held is None or hop.rank < held.rank:
                claimed[hop.node] = hop
        for node, hop in claimed.items():
            reached[node] = (level, hop.edge, hop.node_type)
        frontier = list(claimed)
        if limit is not None:
            counted += sum(1 for hop in claimed.values() if counts is None or counts(hop))
            if counted > limit:
                return _Visit(reached, True)
    return _Visit(reached, False)


async def _traverse_tx(
    tx: AsyncManagedTransaction, tenant_id: str, chunk_size: int, q: TraverseQuery
) -> Traversal:
    g = _Graph(tx, tenant_id, chunk_size)
    starts = await g.resolve([q.start])
    wanted = q.asset_types
    counts = None if wanted is None else (lambda hop: hop.node_type in wanted)
    step = REL if q.start.kind == "asset" else LIN
    forward = q.direction == "downstream"
    types = q.relationship_types
    visit = await _bfs(g, starts, forward, (step,), types, q.max_depth, q.limit, counts)
    rows = [
        Reached(node, distance, via)
        for node, (distance, via, asset_type) in visit.reached.items()
        if distance > 0 and (wanted is None or asset_type in wanted)
    ]
    return Traversal.from_rows((q.start,), q.direction, rows, visit.stopped, q.limit)


async def _closure_tx(
    tx: AsyncManagedTransaction, tenant_id: str, chunk_size: int, q: ClosureQuery
) -> Traversal:
    g = _Graph(tx, tenant_id, chunk_size)
    found = await g.resolve(q.starts)
    steps = frozenset(STEP_CODES[s] for s in q.steps)
    room = None if q.limit is None else q.limit - len(q.starts)
    forward = q.direction == "downstream"
    visit = await _bfs(g, found, forward, steps, q.relationship_types, q.max_depth, room)
    rows = [Reached(node, distance, via) for node, (distance, via, _) in visit.reached.items()]
    return Traversal.from_rows(q.starts, q.direction, rows, visit.stopped, q.limit)


# --- graph views ----------------------------------------------------------------------------------


async def _hidden(
    g: _Graph, step: int, shown: Sequence[NodeRef], types: Collection[str] | None
) -> dict[NodeRef, tuple[int, int]]:
    """Per shown node, its distinct visible flow neighbours (upstream, downstream) not shown."""
    view = set(shown)
    ids = [n.id for n in shown]
    sides: list[dict[NodeRef, set[NodeRef]]] = []
    for forward in (False, True):
        outside: dict[NodeRef, set[NodeRef]] = {}
        for hop in await g.expand(step, ids, forward, types):
            if hop.node not in view:
                outside.setdefault(hop.origin, set()).add(hop.node)
        sides.append(outside)
    up, down = sides
    return {n: (len(up.get(n, ())), len(down.get(n, ()))) for n in shown}


async def _graph_view_tx(
    tx: AsyncManagedTransaction, tenant_id: str, chunk_size: int, q: ViewQuery
) -> GraphView:
    center, node_cap, relationship_types = q.center, q.node_cap, q.relationship_types
    g = _Graph(tx, tenant_id, chunk_size)
    found = await g.resolve([center])
    step = REL if center.kind == "asset" else LIN
    # Each side walks until it alone holds node_cap - 1 nodes besides the center: nodes further
    # out rank after those, so every kept node's nearest distance is known exactly.
    placed: dict[NodeRef, tuple[int, ViewSide]] = {}
    stopped = False
    sides: tuple[tuple[bool, int | None, ViewSide], ...] = (
        (True, q.downstream_depth, "downstream"),
        (False, q.upstream_depth, "upstream"),
    )
    for forward, depth, side in sides:
        visit = await _bfs(g, found, forward, (step,), relationship_types, depth, node_cap - 1)
        stopped |= visit.stopped
        for node, (distance, _, _) in visit.reached.items():
            held = placed.get(node)
            # downstream is placed first and keeps ties
            if node != center and (held is None or distance < held[0]):
                placed[node] = (distance, side)
    ranked = sorted(placed, key=lambda n: (placed[n][0], n.id))
    truncated = stopped or len(ranked) > node_cap - 1
    shown = [center, *ranked[: node_cap - 1]]
    placed[center] = (0, "center")
    hidden = await _hidden(g, step, shown, relationship_types)
    nodes = [ViewNode(n, placed[n][0], placed[n][1], *hidden[n]) for n in shown]
    ids = [n.id for n in shown]
    edges: list[Edge] = []
    if center.kind == "asset":
        edges.extend(await g.relationships_among(ids, relationship_types))
        if q.include_fields:
            owner: dict[NodeRef, NodeRef] = {}
            for hop in await g.expand(EXPAND, ids, True, None):
                owner.setdefault(hop.node, hop.origin)
            fields = list(owner)
            field_hidden = await _hidden(g, LIN, fields, None)
            for f in fields:
                distance, side = placed[owner[f]]
                nodes.append(ViewNode(f, distance, side, *field_hidden[f]))
                edges.append(Edge.contains(owner[f].id, f.id))
            edges.extend(await g.lineage_among([f.id for f in fields]))
    else:
        edges.extend(await g.lineage_among(ids))
    return GraphView.of(center, nodes, edges, truncated)


# --- paths ----------------------------------------------------------------------------------------


# node -> (distance from this side's end, tree edge, the neighbour one hop nearer that end)
_Side = dict[NodeRef, tuple[int, Edge | None, NodeRef | None]]


async def _shortest_path_tx(
    tx: AsyncManagedTransaction, tenant_id: str, chunk_size: int, q: PathQuery
) -> list[Edge] | None:
    """Bidirectional BFS: expand whichever frontier is smaller by one full level; the first level
    that meets the other side holds a shortest path (the best meeting of that level)."""
    source, target, relationship_types, max_depth = q
    g = _Graph(tx, tenant_id, chunk_size)
    await g.resolve([source, target])
    if source == target:
        return []
    step = REL if source.kind == "asset" else LIN
    seen: tuple[_Side, _Side] = ({source: (0, None, None)}, {target: (0, None, None)})
    frontier: list[list[NodeRef]] = [[source], [target]]
    depth = [0, 0]
    while frontier[0] and frontier[1] and (max_depth is None or sum(depth) < max_depth):
        side = 0 if len(frontier[0]) <= len(frontier[1]) else 1
        mine, other = seen[side], seen[1 - side]
        d = depth[side] + 1
        hops = await g.expand(step, [n.id for n in frontier[side]], side == 0, relationship_types)
        new: list[NodeRef] = []
        best: tuple[int, NodeRef] | None = None
        for hop in sorted(hops, key=lambda h: h.rank):
            if hop.node in mine:
                continue
            mine[hop.node] = (d, hop.edge, hop.origin)
            new.append(hop.node)
            if hop.node in other:
                total = d + other[hop.node][0]
                if best is None or total < best[0]:
                    best = (total, hop.node)
        depth[side], frontier[side] = d, new
        if best is not None:
            return _join(seen, best[1])
    return None


def _join(seen: tuple[_Side, _Side], meet: NodeRef) -> list[Edge]:
    path: list[Edge] = []
    for side in (0, 1):
        half: list[Edge] = []
        node: NodeRef | None = meet
        while node is not None:
            _, edge, node = seen[side][node]
            if edge is not None:
                half.append(edge)
        if side == 0:
            half.reverse()
        path.extend(half)
    return path


async def _all_paths_tx(
    tx: AsyncManagedTransaction, tenant_id: str, chunk_size: int, q: AllPathsQuery
) -> Paths:
    """Simple paths in (length, edge ids) order: a reverse BFS from the target gives every node's
    distance to it and every edge into a node within ``max_depth - 1`` of it (the only edges a
    path of at most ``max_depth`` edges can use), then an iterative-deepening DFS pruned by those
    distances enumerates the paths locally."""
    source, target, relationship_types, max_depth, max_paths = q
    g = _Graph(tx, tenant_id, chunk_size)
    await g.resolve([source, target])
    if source == target:
        return Paths(source, target, ((),), False)
    step = REL if source.kind == "asset" else LIN
    to_target = {target: 0}
    # upstream node -> {edge id: (downstream node, edge)}; keyed by id so a hop seen twice counts
    # once
    out: dict[NodeRef, dict[int, tuple[NodeRef, Edge]]] = {}
    frontier = [target]
    for d in range(1, max_depth + 1):
        if not frontier:
            break
        hops = await g.expand(step, [n.id for n in frontier], False, relationship_types)
        frontier = []
        for hop in hops:
            out.setdefault(hop.node, {})[hop.edge.id] = (hop.origin, hop.edge)
            if hop.node not in to_target:
                to_target[hop.node] = d
                frontier.append(hop.node)
    successors = {u: [edges[i] for i in sorted(edges)] for u, edges in out.items()}
    found, truncated = simple_paths(
        source, target, lambda u: successors.get(u, ()), to_target, max_depth, max_paths
    )
    return Paths(source, target, tuple(found), truncated)


# --- bookkeeping reads ----------------------------------------------------------------------------


async def _position(tx: AsyncManagedTransaction, tenant_id: str) -> str | None:
    rows = await _fetch(tx, "get_position", tenant_id=tenant_id)
    return str(rows[0]["position"]) if rows else None


async def _stats(tx: AsyncManagedTransaction, tenant_id: str) -> GraphStats:
    (r,) = await _fetch(tx, "stats", tenant_id=tenant_id)
    return GraphStats(
        int(r["assets"]), int(r["fields"]), int(r["relationships"]), int(r["field_lineage"])
    )


async def _snapshot(tx: AsyncManagedTransaction, tenant_id: str) -> GraphData:
    """Every state held; the snapshot statements name their columns after the states' fields."""
    states: list[Mutation] = []
    for row in await _fetch(tx, "snapshot_assets", tenant_id=tenant_id):
        names = {"name": row["name"] or "", "qualified_name": row["qualified_name"] or ""}
        states.append(AssetState(**{**row, **names, "deleted": bool(row["deleted"])}))
    for row in await _fetch(tx, "snapshot_fields", tenant_id=tenant_id):
        states.append(
            FieldState(**{**row, "name": row["name"] or "", "deleted": bool(row["deleted"])})
        )
    for row in await _fetch(tx, "snapshot_relationships", tenant_id=tenant_id):
        states.append(RelationshipState(**{**row, "deleted": bool(row["deleted"])}))
    for row in await _fetch(tx, "snapshot_field_lineage", tenant_id=tenant_id):
        states.append(FieldLineageState(**{**row, "deleted": bool(row["deleted"])}))
    return GraphData.from_states(states)


# --- the engine -----------------------------------------------------------------------------------


class Neo4jGraphEngine(GraphEngine):
    """The Neo4j :class:`~headwater.graph.engine.GraphEngine`.

    Takes ownership of ``driver`` (closed by :meth:`close`). Create it with :meth:`connect`, which
    also creates the constraints and indexes, or call :meth:`ensure_schema` once yourself.
    ``database`` None means the user's home database. ``chunk_size`` bounds the rows of one write
    statement, the ids of one hop statement and the nodes one drop transaction deletes::

        engine = await Neo4jGraphEngine.connect("neo4j://localhost:7687", password="secret")
        downstream = await engine.traverse(tenant_id, NodeRef.asset(7), "downstream")
    """

    name = "neo4j"

    def __init__(
        self, driver: AsyncDriver, *, database: str | None = None, chunk_size: int = CHUNK_SIZE
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._driver = driver
        self._database = database
        self.chunk_size = chunk_size

    @classmethod
    async def connect(
        cls,
        uri: str,
        *,
        user: str = "neo4j",
        password: str = "neo4j",
        database: str | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> Neo4jGraphEngine:
        """An engine on a new driver for ``uri``, with the schema in place. An unreachable server
        or rejected credentials fail at once (the driver's transaction retries would otherwise
        spend half a minute on them)."""
        driver = AsyncGraphDatabase.driver(uri, auth=(user, password))
        engine = cls(driver, database=database, chunk_size=chunk_size)
        try:
            try:
                await driver.verify_connectivity()
            except (Neo4jError, DriverError) as e:
                raise GraphBackendError(f"Neo4j at {uri} is not reachable: {e}") from e
            await engine.ensure_schema()
        except BaseException:
            await driver.close()
            raise
        return engine

    @contextlib.asynccontextmanager
    async def _session(self, what: str) -> AsyncIterator[AsyncSession]:
        """A session whose driver errors become :class:`GraphBackendError`. Sessions share the
        driver's bookmark manager, so a read sees this process's earlier writes even on a
        cluster."""
        try:
            async with self._driver.session(
                database=self._database,
                bookmark_manager=self._driver.execute_query_bookmark_manager,
            ) as session:
                yield session
        except (Neo4jError, DriverError) as e:
            raise GraphBackendError(f"Neo4j could not {what}: {e}") from e

    async def ensure_schema(self) -> None:
        """Create the uniqueness constraints and tenant indexes (idempotent); each schema command
        runs in its own transaction, as Neo4j requires."""
        async with self._session("create the schema") as session:
            await session.execute_write(_execute, "create_asset_key")
            await session.execute_write(_execute, "create_field_key")
            await session.execute_write(_execute, "create_relationship_key")
            await session.execute_write(_execute, "create_field_lineage_key")
            await session.execute_write(_execute, "create_sync_position_key")
            await session.execute_write(_execute, "create_asset_tenant_index")
            await session.execute_write(_execute, "create_field_tenant_index")

    # --- writes -----------------------------------------------------------------------------------

    async def apply(
        self, tenant_id: UUID, mutations: Sequence[Mutation], *, position: str | None = None
    ) -> ApplyResult:
        newest, rising = _newest(mutations)
        if newest or position is not None:
            async with self._session("apply graph mutations") as session:
                held = await session.execute_write(
                    _write_states,
                    str(tenant_id),
                    list(newest.values()),
                    position,
                    self.chunk_size,
                )
        else:
            held = {}
        applied = _applied(rising, held)
        return ApplyResult(applied, len(mutations) - applied)

    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        """Replace the tenant's graph: drop it, write ``data`` in chunks (one transaction each),
        then record ``position``. Not atomic: a load that fails part-way leaves no position, so
        the sync layer loads again."""
        _check_unique(data)
        await self.drop(tenant_id)
        tenant = str(tenant_id)
        async with self._session("load the graph") as session:
            for kind, rows in _kind_chunks(data.states(), self.chunk_size):
                await session.execute_write(_write_chunk, tenant, kind, rows)
            if position is not None:
                await session.execute_write(
                    _execute, "set_position", tenant_id=tenant, position=position
                )

    async def drop(self, tenant_id: UUID) -> None:
        """Delete the tenant's nodes and edges in batches of ``chunk_size`` nodes (one transaction
        each, so no transaction grows with the tenant), then its position."""
        tenant = str(tenant_id)
        async with self._session("drop the graph") as session:
            while await session.execute_write(_drop_fields, tenant, self.chunk_size):
                pass
            while await session.execute_write(_drop_assets, tenant, self.chunk_size):
                pass
            await session.execute_write(_execute, "drop_position", tenant_id=tenant)

    async def close(self) -> None:
        await self._driver.close()

    # --- bookkeeping ------------------------------------------------------------------------------

    async def position(self, tenant_id: UUID) -> str | None:
        async with self._session("read the sync position") as session:
            return await session.execute_read(_position, str(tenant_id))

    async def stats(self, tenant_id: UUID) -> GraphStats:
        async with self._session("count the graph") as session:
            return await session.execute_read(_stats, str(tenant_id))

    async def snapshot(self, tenant_id: UUID) -> GraphData:
        async with self._session("snapshot the graph") as session:
            return await session.execute_read(_snapshot, str(tenant_id))

    # --- queries ----------------------------------------------------------------------------------

    async def _traverse(self, tenant_id: UUID, q: TraverseQuery) -> Traversal:
        async with self._session("traverse the graph") as session:
            return await session.execute_read(_traverse_tx, str(tenant_id), self.chunk_size, q)

    async def _closure(self, tenant_id: UUID, q: ClosureQuery) -> Traversal:
        async with self._session("compute a closure") as session:
            return await session.execute_read(_closure_tx, str(tenant_id), self.chunk_size, q)

    async def _graph_view(self, tenant_id: UUID, q: ViewQuery) -> GraphView:
        async with self._session("build a graph view") as session:
            return await session.execute_read(_graph_view_tx, str(tenant_id), self.chunk_size, q)

    async def _shortest_path(self, tenant_id: UUID, q: PathQuery) -> list[Edge] | None:
        async with self._session("find a shortest path") as session:
            return await session.execute_read(_shortest_path_tx, str(tenant_id), self.chunk_size, q)

    async def _all_paths(self, tenant_id: UUID, q: AllPathsQuery) -> Paths:
        async with self._session("enumerate paths") as session:
            return await session.execute_read(_all_paths_tx, str(tenant_id), self.chunk_size, q)


def _kind_chunks(
    states: Iterable[Mutation], size: int
) -> Iterator[tuple[type[Mutation], list[Row]]]:
    """Consecutive states of one kind as rows, at most ``size`` per chunk."""
    kind: type[Mutation] | None = None
    rows: list[Row] = []
    for state in states:
        if (type(state) is not kind or len(rows) >= size) and rows:
            assert kind is not None
            yield kind, rows
            rows = []
        kind = type(state)
        rows.append(_row(state))
    if rows:
        assert kind is not None
        yield kind, rows
