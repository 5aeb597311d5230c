"""The graph engine interface: one abstract base, several engines (memory, Neo4j, the networkx
oracle).

Every method is scoped to one tenant (``tenant_id`` first); no query ever reads another tenant's
nodes, even when two tenants hold identical ids. The vocabulary (node kinds, flow directions,
visibility, versioned states) is described in :mod:`headwater.graph.model`.

Conventions shared by all queries:

* Impossible parameters raise :class:`~headwater.graph.model.InvalidQuery` (422) before any node
  is looked up: :class:`GraphEngine` checks them once for every engine and hands the engine a
  checked query (:class:`TraverseQuery`, ...). A start / center / endpoint that is not visible
  raises :class:`~headwater.graph.model.UnknownNode` (answer 404).
* Upstream and downstream follow flow edges only: flow relationships between assets, field
  lineage between fields. A query started at an asset walks assets, one started at a field walks
  fields; only :meth:`GraphEngine.closure` crosses between the two (through containment).
* ``relationship_types``: when given, only relationships of these types are followed (None =
  every type); it does not affect field lineage.
* ``max_depth``: hops; ``None`` means unbounded (the API applies its own cap).
* Distances are BFS hop counts. The reported "via" edge of a node is *a* BFS tree edge: it joins
  the node to a node one hop nearer; engines may pick different ones among equals.
* Results say when a cap cut them (``truncated``), and which nodes are kept is deterministic:
  the nearest first, ties by (kind, id).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Final, NamedTuple, TypeVar
from uuid import UUID

from headwater.graph.model import (
    ApplyResult,
    ClosureStep,
    Direction,
    Edge,
    GraphData,
    GraphStats,
    GraphView,
    InvalidQuery,
    Mutation,
    NodeRef,
    Paths,
    Traversal,
)

__all__ = [
    "ALL_CLOSURE_STEPS",
    "DEFAULT_NODE_CAP",
    "EXPAND",
    "LIFT",
    "LIN",
    "REL",
    "STEP_CODES",
    "AllPathsQuery",
    "ClosureQuery",
    "GraphEngine",
    "PathQuery",
    "TraverseQuery",
    "ViewQuery",
    "simple_paths",
]

ALL_CLOSURE_STEPS: Final[frozenset[ClosureStep]] = frozenset(
    {"relationships", "field_lineage", "field_to_asset", "asset_to_fields"}
)
DEFAULT_NODE_CAP: Final = 200

# The closure steps as small codes, for the engines' BFS to index and record them by.
REL: Final = 0  # asset -> asset over a flow relationship
LIN: Final = 1  # field -> field over field lineage
LIFT: Final = 2  # field -> its asset
EXPAND: Final = 3  # asset -> its fields
STEP_CODES: Final[dict[ClosureStep, int]] = {
    "relationships": REL,
    "field_lineage": LIN,
    "field_to_asset": LIFT,
    "asset_to_fields": EXPAND,
}


# --- checked queries ------------------------------------------------------------------------------


class TraverseQuery(NamedTuple):
    """:meth:`GraphEngine.traverse`'s parameters, checked."""

    start: NodeRef
    direction: Direction
    max_depth: int | None
    relationship_types: frozenset[str] | None
    asset_types: frozenset[str] | None
    limit: int | None


class ClosureQuery(NamedTuple):
    """:meth:`GraphEngine.closure`'s parameters, checked; ``starts`` without repeats."""

    starts: tuple[NodeRef, ...]
    direction: Direction
    steps: frozenset[ClosureStep]
    relationship_types: frozenset[str] | None
    max_depth: int | None
    limit: int | None


class ViewQuery(NamedTuple):
    """:meth:`GraphEngine.graph_view`'s parameters, checked."""

    center: NodeRef
    upstream_depth: int | None
    downstream_depth: int | None
    node_cap: int
    include_fields: bool
    relationship_types: frozenset[str] | None


class PathQuery(NamedTuple):
    """:meth:`GraphEngine.shortest_path`'s parameters, checked: both ends of one kind."""

    source: NodeRef
    target: NodeRef
    relationship_types: frozenset[str] | None
    max_depth: int | None


class AllPathsQuery(NamedTuple):
    """:meth:`GraphEngine.all_paths`'s parameters, checked: both ends of one kind."""

    source: NodeRef
    target: NodeRef
    relationship_types: frozenset[str] | None
    max_depth: int
    max_paths: int


def _depth(value: int | None, what: str) -> int | None:
    if value is not None and value < 0:
        raise InvalidQuery(f"{what} must be >= 0 or unbounded, got {value}")
    return value


def _positive(value: int | None, what: str) -> int | None:
    if value is not None and value < 1:
        raise InvalidQuery(f"{what} must be >= 1, got {value}")
    return value


def _names(names: Collection[str] | None, what: str) -> frozenset[str] | None:
    if isinstance(names, str):
        raise InvalidQuery(f"{what} must be a collection of type names")
    return None if names is None else frozenset(names)


def _path_ends(source: NodeRef, target: NodeRef) -> None:
    if source.kind != target.kind:
        raise InvalidQuery("a path joins two assets or two fields, not one of each")


# --- the interface --------------------------------------------------------------------------------


class GraphEngine(ABC):
    """A tenant-scoped lineage graph kept current from the outbox and queried by the API.

    An engine implements the writes, the bookkeeping and one ``_<query>`` method per query,
    which receives the query's parameters checked."""

    name: str

    # --- writes --------------------------------------------------------------------------------

    @abstractmethod
    async def apply(
        self, tenant_id: UUID, mutations: Sequence[Mutation], *, position: str | None = None
    ) -> ApplyResult:
        """Apply entity states in order. A state whose version is not greater than the version
        held for that entity is ignored, so replays and out-of-order deliveries are harmless.
        ``position`` (opaque, the sync layer's outbox position) is remembered when given."""

    @abstractmethod
    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        """Replace the tenant's whole graph with ``data`` (bulk cold start or rebuild), taken at
        the outbox ``position``; later :meth:`apply` calls carry on from there."""

    @abstractmethod
    async def drop(self, tenant_id: UUID) -> None:
        """Forget the tenant's graph entirely."""

    @abstractmethod
    async def close(self) -> None:
        """Release the engine's resources."""

    # --- bookkeeping ---------------------------------------------------------------------------

    @abstractmethod
    async def position(self, tenant_id: UUID) -> str | None:
        """The last position given to :meth:`load` or :meth:`apply`, if any."""

    @abstractmethod
    async def stats(self, tenant_id: UUID) -> GraphStats:
        """Counts of visible nodes and edges."""

    @abstractmethod
    async def snapshot(self, tenant_id: UUID) -> GraphData:
        """Every entity state held, tombstones included (for reconcile's drift checks).

        Field-lineage edges whose field was deleted are kept as held: Postgres cascades those rows
        away without an event, so drift checks should ignore live edges whose fields are deleted.
        """

    # --- queries -------------------------------------------------------------------------------

    async def traverse(
        self,
        tenant_id: UUID,
        start: NodeRef,
        direction: Direction,
        *,
        max_depth: int | None = 1,
        relationship_types: Collection[str] | None = None,
        asset_types: Collection[str] | None = None,
        limit: int | None = None,
    ) -> Traversal:
        """Upstream or downstream of one asset (over flow relationships) or one field (over field
        lineage), the start excluded.

        ``asset_types`` filters what is *reported* (for a field: its asset's type); the walk
        still goes through nodes of other types, so a reported node's ``parent`` may be -1.
        ``limit`` caps the reported nodes (nearest first, ties by id); ``truncated`` when more
        existed.
        """
        query = TraverseQuery(
            start,
            direction,
            _depth(max_depth, "max_depth"),
            _names(relationship_types, "relationship_types"),
            _names(asset_types, "asset_types"),
            _positive(limit, "limit"),
        )
        return await self._traverse(tenant_id, query)

    async def closure(
        self,
        tenant_id: UUID,
        starts: Collection[NodeRef],
        direction: Direction = "downstream",
        *,
        steps: Collection[ClosureStep] = ALL_CLOSURE_STEPS,
        relationship_types: Collection[str] | None = None,
        max_depth: int | None = None,
        limit: int | None = None,
    ) -> Traversal:
        """One multi-source BFS over assets and fields together: the impact primitive.

        Every start is in the result at distance 0 (no via edge); each other node carries its
        distance from the nearest start and its BFS tree edge, so ``Traversal.path_to`` explains
        it. ``steps`` chooses the hops (see :data:`~headwater.graph.model.ClosureStep`), each
        costing 1. For "what breaks if these columns change": starts = the columns, all steps
        but ``asset_to_fields``: column lineage where it exists, and from each reached column's
        table onwards through table-level flow. ``limit`` caps the result's size (starts
        included); ``truncated`` when more nodes were reachable.
        """
        unknown = set(steps) - ALL_CLOSURE_STEPS
        if unknown:
            raise InvalidQuery(f"unknown closure steps: {sorted(unknown)}")
        query = ClosureQuery(
            tuple(dict.fromkeys(starts)),
            direction,
            frozenset(steps),
            _names(relationship_types, "relationship_types"),
            _depth(max_depth, "max_depth"),
            _positive(limit, "limit"),
        )
        return await self._closure(tenant_id, query)

    async def graph_view(
        self,
        tenant_id: UUID,
        center: NodeRef,
        *,
        upstream_depth: int | None = 1,
        downstream_depth: int | None = 1,
        node_cap: int = DEFAULT_NODE_CAP,
        include_fields: bool = False,
        relationship_types: Collection[str] | None = None,
    ) -> GraphView:
        """The neighbourhood of ``center`` for the UI: nodes up to the given depths each way and
        every visible edge among them (relationships of any type for an asset center, subject to
        ``relationship_types``; field lineage for a field center).

        ``node_cap`` caps the nodes of the center's kind (nearest first, ties by kind and id);
        ``truncated`` when it dropped some. Every node carries its count of hidden upstream and
        downstream neighbours. ``include_fields`` (asset center) adds the visible fields of every
        shown asset, their ``contains`` edges and the field lineage among them; fields do not
        count against the cap.
        """
        _positive(node_cap, "node_cap")
        query = ViewQuery(
            center,
            _depth(upstream_depth, "upstream_depth"),
            _depth(downstream_depth, "downstream_depth"),
            node_cap,
            include_fields,
            _names(relationship_types, "relationship_types"),
        )
        return await self._graph_view(tenant_id, query)

    async def shortest_path(
        self,
        tenant_id: UUID,
        source: NodeRef,
        target: NodeRef,
        *,
        relationship_types: Collection[str] | None = None,
        max_depth: int | None = None,
    ) -> list[Edge] | None:
        """A shortest path along the flow from ``source`` down to ``target`` (both assets or both
        fields), as edges in flow order; [] when source == target; None when there is none within
        ``max_depth``."""
        _path_ends(source, target)
        query = PathQuery(
            source,
            target,
            _names(relationship_types, "relationship_types"),
            _depth(max_depth, "max_depth"),
        )
        return await self._shortest_path(tenant_id, query)

    async def all_paths(
        self,
        tenant_id: UUID,
        source: NodeRef,
        target: NodeRef,
        *,
        max_depth: int,
        max_paths: int,
        relationship_types: Collection[str] | None = None,
    ) -> Paths:
        """Simple paths (no repeated node) along the flow from ``source`` down to ``target`` of at
        most ``max_depth`` edges, parallel edges giving distinct paths. The first ``max_paths``
        in canonical order (:class:`~headwater.graph.model.Paths`); source == target gives the
        single empty path."""
        _path_ends(source, target)
        _depth(max_depth, "max_depth")
        _positive(max_paths, "max_paths")
        query = AllPathsQuery(
            source, target, _names(relationship_types, "relationship_types"), max_depth, max_paths
        )
        return await self._all_paths(tenant_id, query)

    # --- the engines' part of the queries ------------------------------------------------------

    @abstractmethod
    async def _traverse(self, tenant_id: UUID, q: TraverseQuery) -> Traversal:
        """:meth:`traverse`, its parameters checked."""

    @abstractmethod
    async def _closure(self, tenant_id: UUID, q: ClosureQuery) -> Traversal:
        """:meth:`closure`, its parameters checked."""

    @abstractmethod
    async def _graph_view(self, tenant_id: UUID, q: ViewQuery) -> GraphView:
        """:meth:`graph_view`, its parameters checked."""

    @abstractmethod
    async def _shortest_path(self, tenant_id: UUID, q: PathQuery) -> list[Edge] | None:
        """:meth:`shortest_path`, its parameters checked."""

    @abstractmethod
    async def _all_paths(self, tenant_id: UUID, q: AllPathsQuery) -> Paths:
        """:meth:`all_paths`, its parameters checked."""


# --- shared by the engines ------------------------------------------------------------------------

N = TypeVar("N", bound=Hashable)
E = TypeVar("E")


class _Enough(Exception):
    """Raised inside the path enumeration once more paths than the cap were found."""


def simple_paths(
    source: N,
    target: N,
    successors: Callable[[N], Sequence[tuple[N, E]]],
    to_target: Mapping[N, int],
    max_depth: int,
    max_paths: int,
) -> tuple[list[tuple[E, ...]], bool]:
    """The first ``max_paths`` simple paths from ``source`` to ``target`` (distinct) of at most
    ``max_depth`` edges, in canonical order (length, then edge ids), and whether more exist.

    ``successors(u)``: the hops (node, edge) out of ``u`` in edge-id order; ``to_target``: the
    hops from each node to ``target`` for every node within ``max_depth`` of it, which prunes the
    search to nodes that can still arrive in time. An iterative-deepening DFS, stopping as soon
    as the cap is exceeded.

    >>> hops = {1: [(2, "a"), (3, "b")], 2: [(3, "c")]}
    >>> simple_paths(1, 3, lambda u: hops.get(u, []), {3: 0, 1: 1, 2: 1}, 2, 10)
    ([('b',), ('a', 'c')], False)
    """
    found: list[tuple[E, ...]] = []
    path: list[E] = []
    on_path = {source}

    def extend(u: N, remaining: int) -> None:
        for v, edge in successors(u):
            if v == target:
                if remaining == 1:
                    found.append((*path, edge))
                    if len(found) > max_paths:
                        raise _Enough
                continue
            if v in on_path or to_target[v] > remaining - 1:
                continue
            on_path.add(v)
            path.append(edge)
            extend(v, remaining - 1)
            path.pop()
            on_path.discard(v)

    if source not in to_target:
        return [], False
    try:
        for length in range(to_target[source], max_depth + 1):
            extend(source, length)
    except _Enough:
        return found[:max_paths], True
    return found, False
