"""The graph engine interface: one Protocol, several engines (memory, Neo4j, the networkx oracle).

Every method is scoped to one tenant (``tenant_id`` first); no query ever reads another tenant's
nodes, even when two tenants hold identical ids. The vocabulary (node kinds, flow directions,
visibility, versioned states) is described in :mod:`headwater.graph.model`.

Conventions shared by all queries:

* A start / center / endpoint that is not visible raises :class:`~headwater.graph.model.UnknownNode`
  (answer 404); impossible parameters raise :class:`~headwater.graph.model.InvalidQuery` (422).
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

from collections.abc import Collection, Sequence
from typing import Final, Protocol
from uuid import UUID

from headwater.graph.model import (
    ApplyResult,
    ClosureStep,
    Direction,
    Edge,
    GraphData,
    GraphStats,
    GraphView,
    Mutation,
    NodeRef,
    Paths,
    Traversal,
)

__all__ = ["ALL_CLOSURE_STEPS", "DEFAULT_NODE_CAP", "GraphEngine"]

ALL_CLOSURE_STEPS: Final[frozenset[ClosureStep]] = frozenset(
    {"relationships", "field_lineage", "field_to_asset", "asset_to_fields"}
)
DEFAULT_NODE_CAP: Final = 200


class GraphEngine(Protocol):
    """A tenant-scoped lineage graph kept current from the outbox and queried by the API."""

    name: str

    # --- writes --------------------------------------------------------------------------------

    async def apply(
        self, tenant_id: UUID, mutations: Sequence[Mutation], *, position: str | None = None
    ) -> ApplyResult:
        """Apply entity states in order. A state whose version is not greater than the version
        held for that entity is ignored, so replays and out-of-order deliveries are harmless.
        ``position`` (opaque, the sync layer's outbox position) is remembered when given."""
        ...

    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        """Replace the tenant's whole graph with ``data`` (bulk cold start or rebuild), taken at
        the outbox ``position``; later :meth:`apply` calls carry on from there."""
        ...

    async def drop(self, tenant_id: UUID) -> None:
        """Forget the tenant's graph entirely."""
        ...

    async def close(self) -> None:
        """Release the engine's resources."""
        ...

    # --- bookkeeping ---------------------------------------------------------------------------

    async def position(self, tenant_id: UUID) -> str | None:
        """The last position given to :meth:`load` or :meth:`apply`, if any."""
        ...

    async def stats(self, tenant_id: UUID) -> GraphStats:
        """Counts of visible nodes and edges."""
        ...

    async def snapshot(self, tenant_id: UUID) -> GraphData:
        """Every entity state held, tombstones included (for reconcile's drift checks).

        Field-lineage edges whose field was deleted are kept as held: Postgres cascades those rows
        away without an event, so drift checks should ignore live edges whose fields are deleted.
        """
        ...

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
        ...

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
        ...

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
        ...

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
        ...

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
        ...
