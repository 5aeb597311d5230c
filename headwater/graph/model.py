"""The lineage graph's vocabulary: node references, edges, mutations, bulk arrays and results.

Two kinds of node live in a tenant's graph: **assets** and **fields** (the columns of an asset,
``schema_fields`` rows). Three kinds of edge connect them:

* ``relationship`` edges between assets, typed. Each type declares its direction of data flow
  (:data:`FLOW_DIRECTIONS`): ``PRODUCES`` flows source -> target, ``USES`` / ``DEPENDS_ON`` flow
  target -> source, ``CONTAINS`` / ``RELATED_TO`` (and any type not listed) are structure, not flow.
* ``field_lineage`` edges between fields; data flows source field -> target field.
* ``contains`` edges, implicit: an asset contains each of its fields. They carry no flow and have
  no row of their own; such an edge is identified by the field's id.

"Upstream" and "downstream" follow flow edges only, so they mean the same for every type.

Mutations are entity *states* (the outbox payloads), each with the entity's version. A state is
applied only when its version is greater than the version already held, so replays and
out-of-order deliveries cannot regress the graph. A delete is the same state with
``deleted=True``: a versioned tombstone, so a late, older upsert cannot resurrect the entity.

Visibility, which every query respects:

* an asset is visible when its latest state is not deleted;
* a field is visible when its latest state is not deleted and its asset is visible;
* a relationship (field-lineage edge) is visible when its latest state is not deleted and both
  end assets (fields) are visible.

So a soft-deleted asset hides its edges, fields and field lineage without changing them, and a
later, higher-version state with ``deleted=False`` brings them all back. An entity only referenced
by an edge (its own state not yet seen) is not visible either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Final, Literal, Self, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CONTAINS",
    "EDGE_KIND_CODES",
    "FLOW_DIRECTIONS",
    "KIND_CODES",
    "ApplyResult",
    "AssetArrays",
    "AssetState",
    "ClosureStep",
    "Direction",
    "Edge",
    "EdgeKind",
    "FieldArrays",
    "FieldLineageArrays",
    "FieldLineageState",
    "FieldState",
    "Flow",
    "GraphData",
    "GraphError",
    "GraphStats",
    "GraphView",
    "InvalidQuery",
    "Labels",
    "Mutation",
    "NodeKind",
    "NodeRef",
    "Paths",
    "Reached",
    "RelationshipArrays",
    "RelationshipState",
    "Traversal",
    "UnknownNode",
    "ViewNode",
    "edge_order",
    "encode_labels",
    "flow_of",
    "node_order",
    "sorted_unique",
]

NodeKind = Literal["asset", "field"]
EdgeKind = Literal["relationship", "field_lineage", "contains"]
Direction = Literal["upstream", "downstream"]
ClosureStep = Literal["relationships", "field_lineage", "field_to_asset", "asset_to_fields"]
"""One kind of hop a :meth:`GraphEngine.closure` may take (each hop costs 1):

* ``relationships``: a flow relationship between assets, in the traversal's direction;
* ``field_lineage``: a field-lineage edge between fields, in the traversal's direction;
* ``field_to_asset``: from a field to the asset that contains it ("a change to a column is a
  change to its table");
* ``asset_to_fields``: from an asset to each of its fields ("dropping a table drops its columns").

Containment hops go the same way whichever the direction: upstream, ``field_to_asset`` reads
"where does this column's table get its data".
"""

CONTAINS: Final = "CONTAINS"


class Flow(Enum):
    """Which way data moves along a relationship, relative to its stored source and target."""

    FORWARD = "forward"  # source -> target
    BACKWARD = "backward"  # target -> source
    NONE = "none"  # structure, not flow


FLOW_DIRECTIONS: Final[Mapping[str, Flow]] = {
    "PRODUCES": Flow.FORWARD,
    "USES": Flow.BACKWARD,
    "DEPENDS_ON": Flow.BACKWARD,
    "CONTAINS": Flow.NONE,
    "RELATED_TO": Flow.NONE,
}


def flow_of(relationship_type: str) -> Flow:
    """The flow direction of a relationship type; types without a declared flow are structure.

    >>> flow_of("USES")
    <Flow.BACKWARD: 'backward'>
    """
    return FLOW_DIRECTIONS.get(relationship_type, Flow.NONE)


# --- errors ---------------------------------------------------------------------------------------


class GraphError(Exception):
    """Base of the graph layer's errors."""


class UnknownNode(GraphError, LookupError):
    """A query named a node that is not visible in the tenant's graph (missing, deleted, foreign).

    Callers answer it exactly like a missing id (404).
    """

    def __init__(self, nodes: Iterable[NodeRef]) -> None:
        self.nodes = tuple(nodes)
        super().__init__("unknown node(s): " + ", ".join(str(n) for n in self.nodes))


class InvalidQuery(GraphError, ValueError):
    """The query's parameters are impossible (negative depth, mixed node kinds, ...): a 422."""


# --- nodes and edges ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class NodeRef:
    """A node of the graph: an asset or a field (column), by its catalog id.

    >>> NodeRef.asset(7)
    NodeRef(kind='asset', id=7)
    """

    kind: NodeKind
    id: int

    @classmethod
    def asset(cls, id: int) -> NodeRef:
        return cls("asset", id)

    @classmethod
    def field(cls, id: int) -> NodeRef:
        return cls("field", id)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Edge:
    """An edge as the catalog stores it (source and target in stored, not flow, orientation).

    ``type`` is the relationship type, the field lineage's transformation, or ``CONTAINS`` for
    the implicit asset -> field containment (whose ``id`` is the field's id).
    """

    kind: EdgeKind
    id: int
    source: NodeRef
    target: NodeRef
    type: str

    @classmethod
    def relationship(cls, id: int, source_id: int, target_id: int, type: str) -> Edge:
        """A relationship between two assets, by id."""
        return cls(
            "relationship", id, NodeRef("asset", source_id), NodeRef("asset", target_id), type
        )

    @classmethod
    def field_lineage(
        cls, id: int, source_field_id: int, target_field_id: int, transformation: str
    ) -> Edge:
        """A field-lineage edge between two fields, by id."""
        return cls(
            "field_lineage",
            id,
            NodeRef("field", source_field_id),
            NodeRef("field", target_field_id),
            transformation,
        )

    @classmethod
    def contains(cls, asset_id: int, field_id: int) -> Edge:
        """The containment of a field in its asset (identified by the field's id).

        >>> Edge.contains(7, 70).source
        NodeRef(kind='asset', id=7)
        """
        return cls(
            "contains", field_id, NodeRef("asset", asset_id), NodeRef("field", field_id), CONTAINS
        )

    def flow(self) -> tuple[NodeRef, NodeRef] | None:
        """(upstream end, downstream end) if data flows along this edge, else None."""
        if self.kind == "field_lineage":
            return self.source, self.target
        if self.kind == "relationship":
            direction = flow_of(self.type)
            if direction is Flow.FORWARD:
                return self.source, self.target
            if direction is Flow.BACKWARD:
                return self.target, self.source
        return None


# --- mutations ------------------------------------------------------------------------------------


class _Versioned:
    """Checks an entity state's version on creation (versions start at 1)."""

    __slots__ = ()
    version: int

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"entity versions start at 1, got {self.version}")


@dataclass(frozen=True, slots=True)
class AssetState(_Versioned):
    """An asset node's state (``asset.upserted`` / ``.deleted`` / ``.restored`` payloads).

    ``name`` and ``qualified_name`` are for display in engines that keep them (Neo4j); reads
    hydrate assets from Postgres, so the memory engine does not store them.
    """

    id: int
    type: str
    version: int
    name: str = ""
    qualified_name: str = ""
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class FieldState(_Versioned):
    """A field (schema field) node's state; a deleted field is a tombstone with its last version."""

    id: int
    asset_id: int
    version: int
    name: str = ""
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class RelationshipState(_Versioned):
    """A relationship edge's state. Its (source_id, target_id, type) never change for an id."""

    id: int
    source_id: int
    target_id: int
    type: str
    version: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class FieldLineageState(_Versioned):
    """A field-lineage edge's state (column -> column, with the transformation kind)."""

    id: int
    source_field_id: int
    target_field_id: int
    transformation: str
    version: int
    deleted: bool = False


Mutation = AssetState | FieldState | RelationshipState | FieldLineageState


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """How many mutations of a batch changed the graph, and how many were stale (no-ops)."""

    applied: int
    ignored: int


# --- bulk arrays ----------------------------------------------------------------------------------

Int64s = NDArray[np.int64]
Int32s = NDArray[np.int32]
Int16s = NDArray[np.int16]
Bools = NDArray[np.bool_]


def encode_labels(labels: Sequence[str] | NDArray[Any]) -> tuple[Int16s, tuple[str, ...]]:
    """Dictionary-encode labels (types, transformations): (codes, names) with names[codes[i]].

    >>> encode_labels(["USES", "PRODUCES", "USES"])
    (array([1, 0, 1], dtype=int16), ('PRODUCES', 'USES'))
    """
    values = np.asarray(labels, dtype=object)
    if values.size == 0:
        return np.zeros(0, np.int16), ()
    names, codes = np.unique(values.astype(str), return_inverse=True)
    if len(names) > np.iinfo(np.int16).max:
        raise ValueError("too many distinct labels")
    return codes.astype(np.int16), tuple(str(n) for n in names)


_Int = TypeVar("_Int", np.int32, np.int64)


def sorted_unique(values: NDArray[_Int]) -> NDArray[_Int]:
    """``values`` sorted, each once: a sort and one comparison pass. ``np.unique`` hashes first
    (numpy 2.4): measured here 5 to 25 times slower, from a hundred values to half a million.

    >>> sorted_unique(np.array([3, 1, 3, 2]))
    array([1, 2, 3])
    """
    ordered = np.sort(values)
    first = np.ones(len(ordered), bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _column(values: Any, dtype: type[np.generic], n: int | None, what: str) -> NDArray[Any]:
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != 1 or (n is not None and len(array) != n):
        raise ValueError(f"{what}: expected a 1-d array of length {n}, got shape {array.shape}")
    return array


class _Columns:
    """Entity states as parallel arrays, one row per entity: on creation every column named in
    ``_COLUMNS`` becomes a contiguous array of its dtype with one entry per id, every codes column
    of ``_CODES`` is checked against its names table, and every label list of ``_LABELS`` (which
    may be None) against the length."""

    __slots__ = ()
    _WHAT: ClassVar[str]
    _COLUMNS: ClassVar[tuple[tuple[str, type[np.generic]], ...]]
    _CODES: ClassVar[tuple[tuple[str, str], ...]] = ()  # (codes column, names field)
    _LABELS: ClassVar[tuple[str, ...]] = ()
    id: Int64s

    def __post_init__(self) -> None:
        n = len(np.asarray(self.id))
        for name, dtype in self._COLUMNS:
            what = f"{self._WHAT} {name}"
            object.__setattr__(self, name, _column(getattr(self, name), dtype, n, what))
        for name, names in self._CODES:
            codes = getattr(self, name)
            if n and (int(codes.min()) < 0 or int(codes.max()) >= len(getattr(self, names))):
                raise ValueError(f"{self._WHAT} {name}: codes outside the names table")
        for name in self._LABELS:
            labels = getattr(self, name)
            if labels is not None and len(labels) != n:
                raise ValueError(f"{self._WHAT} {name}: length differs from ids")

    @classmethod
    def empty(cls) -> Self:
        """No rows."""
        columns = {name: np.zeros(0, dtype) for name, dtype in cls._COLUMNS}
        return cls(**columns, **{names: () for _, names in cls._CODES})

    def __len__(self) -> int:
        return len(self.id)


@dataclass(frozen=True, eq=False)
class AssetArrays(_Columns):
    """Asset states as parallel arrays; ``type`` holds codes into ``type_names``."""

    _WHAT = "asset"
    _COLUMNS = (("id", np.int64), ("type", np.int16), ("version", np.int32), ("deleted", np.bool_))
    _CODES = (("type", "type_names"),)
    _LABELS = ("name", "qualified_name")

    id: Int64s
    type: Int16s
    type_names: tuple[str, ...]
    version: Int32s
    deleted: Bools
    name: Sequence[str] | None = None
    qualified_name: Sequence[str] | None = None


@dataclass(frozen=True, eq=False)
class FieldArrays(_Columns):
    """Field (column) states as parallel arrays."""

    _WHAT = "field"
    _COLUMNS = (
        ("id", np.int64),
        ("asset_id", np.int64),
        ("version", np.int32),
        ("deleted", np.bool_),
    )
    _LABELS = ("name",)

    id: Int64s
    asset_id: Int64s
    version: Int32s
    deleted: Bools
    name: Sequence[str] | None = None


@dataclass(frozen=True, eq=False)
class RelationshipArrays(_Columns):
    """Relationship states as parallel arrays; ``type`` holds codes into ``type_names``."""

    _WHAT = "relationship"
    _COLUMNS = (
        ("id", np.int64),
        ("source_id", np.int64),
        ("target_id", np.int64),
        ("type", np.int16),
        ("version", np.int32),
        ("deleted", np.bool_),
    )
    _CODES = (("type", "type_names"),)

    id: Int64s
    source_id: Int64s
    target_id: Int64s
    type: Int16s
    type_names: tuple[str, ...]
    version: Int32s
    deleted: Bools


@dataclass(frozen=True, eq=False)
class FieldLineageArrays(_Columns):
    """Field-lineage states as parallel arrays; ``transformation`` codes into its names."""

    _WHAT = "field lineage"
    _COLUMNS = (
        ("id", np.int64),
        ("source_field_id", np.int64),
        ("target_field_id", np.int64),
        ("transformation", np.int16),
        ("version", np.int32),
        ("deleted", np.bool_),
    )
    _CODES = (("transformation", "transformation_names"),)

    id: Int64s
    source_field_id: Int64s
    target_field_id: Int64s
    transformation: Int16s
    transformation_names: tuple[str, ...]
    version: Int32s
    deleted: Bools


@dataclass(frozen=True, eq=False)
class GraphData:
    """A tenant's whole graph as arrays: what :meth:`GraphEngine.load` takes (bulk cold start)
    and :meth:`GraphEngine.snapshot` returns (drift checks).

    Rows are entity states, tombstones included (``deleted``), with their versions; ids are
    unique within each array. Build small ones from states with :meth:`from_states`.
    """

    assets: AssetArrays = field(default_factory=AssetArrays.empty)
    fields: FieldArrays = field(default_factory=FieldArrays.empty)
    relationships: RelationshipArrays = field(default_factory=RelationshipArrays.empty)
    field_lineage: FieldLineageArrays = field(default_factory=FieldLineageArrays.empty)

    @classmethod
    def from_states(cls, states: Iterable[Mutation]) -> GraphData:
        """Arrays holding, per entity, the highest-version state among ``states``."""
        latest: dict[tuple[type, int], Mutation] = {}
        for state in states:
            key = (type(state), state.id)
            held = latest.get(key)
            if held is None or state.version > held.version:
                latest[key] = state
        assets = [s for s in latest.values() if isinstance(s, AssetState)]
        fields_ = [s for s in latest.values() if isinstance(s, FieldState)]
        rels = [s for s in latest.values() if isinstance(s, RelationshipState)]
        lineage = [s for s in latest.values() if isinstance(s, FieldLineageState)]
        asset_types, asset_type_names = encode_labels([a.type for a in assets])
        rel_types, rel_type_names = encode_labels([r.type for r in rels])
        transformations, transformation_names = encode_labels([e.transformation for e in lineage])
        return cls(
            AssetArrays(
                np.array([a.id for a in assets], np.int64),
                asset_types,
                asset_type_names,
                np.array([a.version for a in assets], np.int32),
                np.array([a.deleted for a in assets], bool),
                [a.name for a in assets],
                [a.qualified_name for a in assets],
            ),
            FieldArrays(
                np.array([f.id for f in fields_], np.int64),
                np.array([f.asset_id for f in fields_], np.int64),
                np.array([f.version for f in fields_], np.int32),
                np.array([f.deleted for f in fields_], bool),
                [f.name for f in fields_],
            ),
            RelationshipArrays(
                np.array([r.id for r in rels], np.int64),
                np.array([r.source_id for r in rels], np.int64),
                np.array([r.target_id for r in rels], np.int64),
                rel_types,
                rel_type_names,
                np.array([r.version for r in rels], np.int32),
                np.array([r.deleted for r in rels], bool),
            ),
            FieldLineageArrays(
                np.array([e.id for e in lineage], np.int64),
                np.array([e.source_field_id for e in lineage], np.int64),
                np.array([e.target_field_id for e in lineage], np.int64),
                transformations,
                transformation_names,
                np.array([e.version for e in lineage], np.int32),
                np.array([e.deleted for e in lineage], bool),
            ),
        )

    def states(self) -> Iterator[Mutation]:
        """The rows back as states (display names are empty when the arrays carry none)."""
        a = self.assets
        for i in range(len(a)):
            yield AssetState(
                int(a.id[i]),
                a.type_names[a.type[i]],
                int(a.version[i]),
                a.name[i] if a.name is not None else "",
                a.qualified_name[i] if a.qualified_name is not None else "",
                bool(a.deleted[i]),
            )
        f = self.fields
        for i in range(len(f)):
            yield FieldState(
                int(f.id[i]),
                int(f.asset_id[i]),
                int(f.version[i]),
                f.name[i] if f.name is not None else "",
                bool(f.deleted[i]),
            )
        r = self.relationships
        for i in range(len(r)):
            yield RelationshipState(
                int(r.id[i]),
                int(r.source_id[i]),
                int(r.target_id[i]),
                r.type_names[r.type[i]],
                int(r.version[i]),
                bool(r.deleted[i]),
            )
        e = self.field_lineage
        for i in range(len(e)):
            yield FieldLineageState(
                int(e.id[i]),
                int(e.source_field_id[i]),
                int(e.target_field_id[i]),
                e.transformation_names[e.transformation[i]],
                int(e.version[i]),
                bool(e.deleted[i]),
            )


# --- results --------------------------------------------------------------------------------------

_KINDS: Final[tuple[NodeKind, NodeKind]] = ("asset", "field")
_EDGE_KINDS: Final[tuple[EdgeKind, EdgeKind, EdgeKind]] = (
    "relationship",
    "field_lineage",
    "contains",
)
KIND_CODES: Final[dict[NodeKind, int]] = {k: i for i, k in enumerate(_KINDS)}
"""A node kind's code in results (and its rank: assets sort before fields)."""
EDGE_KIND_CODES: Final[dict[EdgeKind, int]] = {k: i for i, k in enumerate(_EDGE_KINDS)}
"""An edge kind's code in results (and its rank in orderings)."""


def node_order(distance: int, node: NodeRef) -> tuple[int, int, int]:
    """The key results are ordered by: nearest first, ties by (kind, id)."""
    return distance, KIND_CODES[node.kind], node.id


def edge_order(edge: Edge) -> tuple[int, int]:
    """The key edge lists are ordered by: (kind, id)."""
    return EDGE_KIND_CODES[edge.kind], edge.id


NO_EDGE: Final = -1


class Labels(Sequence[str]):
    """A read-only sequence of labels stored as codes into a names table: a million-row result
    holds one small int per row instead of a million string references."""

    __slots__ = ("codes", "names")

    def __init__(self, codes: NDArray[np.integer[Any]], names: Sequence[str]) -> None:
        self.codes = codes
        self.names = tuple(names)

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return Labels(self.codes[index], self.names)
        return self.names[int(self.codes[index])]

    def __repr__(self) -> str:
        return f"Labels({list(self)!r})"


@dataclass(frozen=True, slots=True)
class Reached:
    """A node a traversal reached: its distance in hops and the BFS tree edge it was reached by
    (None for a start node of a closure)."""

    node: NodeRef
    distance: int
    via: Edge | None


@dataclass(frozen=True, eq=False)
class Traversal:
    """The nodes a BFS reached, as parallel arrays sorted by (distance, kind, id).

    Arrays keep a million-node closure cheap; iterate for :class:`Reached` rows. Row ``i``:

    * ``kind[i]`` (0 asset, 1 field), ``id[i]``, ``distance[i]``;
    * the BFS tree edge: ``via_kind[i]`` (0 relationship, 1 field_lineage, 2 contains, -1 none),
      ``via_id[i]``, ``via_source[i]`` / ``via_target[i]`` (ids in stored orientation; a contains
      edge runs asset -> field), ``via_type[i]``;
    * ``parent[i]``: the row of the node the edge came from, -1 for a start or when that node is
      not in the result (filtered out by asset type, or cut by the limit).

    ``truncated`` is True when ``limit`` cut the result short.
    """

    starts: tuple[NodeRef, ...]
    direction: Direction
    kind: NDArray[np.uint8]
    id: Int64s
    distance: Int32s
    via_kind: NDArray[np.int8]
    via_id: Int64s
    via_source: Int64s
    via_target: Int64s
    via_type: Sequence[str]
    parent: Int64s
    truncated: bool

    @classmethod
    def from_rows(
        cls,
        starts: Sequence[NodeRef],
        direction: Direction,
        rows: Iterable[Reached],
        truncated: bool = False,
        limit: int | None = None,
    ) -> Traversal:
        """Build from rows (any order), keeping the first ``limit`` in result order (truncated
        when that left some out); parents are resolved by the via edge's other end."""
        ordered = sorted(rows, key=lambda r: node_order(r.distance, r.node))
        truncated = truncated or (limit is not None and len(ordered) > limit)
        ordered = ordered[:limit]
        row_of = {r.node: i for i, r in enumerate(ordered)}
        parent = np.full(len(ordered), -1, np.int64)
        for i, r in enumerate(ordered):
            if r.via is not None:
                other = r.via.source if r.via.target == r.node else r.via.target
                parent[i] = row_of.get(other, -1)
        return cls(
            tuple(starts),
            direction,
            np.array([KIND_CODES[r.node.kind] for r in ordered], np.uint8),
            np.array([r.node.id for r in ordered], np.int64),
            np.array([r.distance for r in ordered], np.int32),
            np.array(
                [NO_EDGE if r.via is None else EDGE_KIND_CODES[r.via.kind] for r in ordered],
                np.int8,
            ),
            np.array([0 if r.via is None else r.via.id for r in ordered], np.int64),
            np.array([0 if r.via is None else r.via.source.id for r in ordered], np.int64),
            np.array([0 if r.via is None else r.via.target.id for r in ordered], np.int64),
            tuple("" if r.via is None else r.via.type for r in ordered),
            parent,
            truncated,
        )

    def __len__(self) -> int:
        return len(self.id)

    def node(self, row: int) -> NodeRef:
        return NodeRef(_KINDS[int(self.kind[row])], int(self.id[row]))

    def edge(self, row: int) -> Edge | None:
        """The BFS tree edge of a row (None for a start)."""
        code = int(self.via_kind[row])
        if code == NO_EDGE:
            return None
        kind = _EDGE_KINDS[code]
        source_kind: NodeKind = "field" if kind == "field_lineage" else "asset"
        target_kind: NodeKind = "asset" if kind == "relationship" else "field"
        return Edge(
            kind,
            int(self.via_id[row]),
            NodeRef(source_kind, int(self.via_source[row])),
            NodeRef(target_kind, int(self.via_target[row])),
            self.via_type[row],
        )

    def __iter__(self) -> Iterator[Reached]:
        for row in range(len(self)):
            yield Reached(self.node(row), int(self.distance[row]), self.edge(row))

    def nodes(self) -> list[NodeRef]:
        return [self.node(row) for row in range(len(self))]

    def distances(self) -> dict[NodeRef, int]:
        """{node: distance}, handy for comparisons."""
        return {self.node(row): int(self.distance[row]) for row in range(len(self))}

    def ids(self, kind: NodeKind) -> Int64s:
        """The ids of the reached nodes of one kind, in result order."""
        selected: Int64s = self.id[self.kind == KIND_CODES[kind]]
        return selected

    def row(self, node: NodeRef) -> int:
        """The row of a node; raises KeyError when it was not reached."""
        hits = np.flatnonzero((self.id == node.id) & (self.kind == KIND_CODES[node.kind]))
        if len(hits) == 0:
            raise KeyError(node)
        return int(hits[0])

    def path_to(self, node: NodeRef) -> list[Edge]:
        """The BFS tree path from a start (or the first node whose parent is not in the result)
        to ``node``, as edges in traversal order."""
        edges: list[Edge] = []
        row = self.row(node)
        while row >= 0:
            edge = self.edge(row)
            if edge is None:
                break
            edges.append(edge)
            row = int(self.parent[row])
        edges.reverse()
        return edges


ViewSide = Literal["center", "upstream", "downstream"]


@dataclass(frozen=True, slots=True)
class ViewNode:
    """A node of a :class:`GraphView`.

    ``distance`` / ``side``: the hops from the center and the nearer direction (ties go to
    downstream); a field shown because its asset is in the view takes its asset's.
    ``hidden_upstream`` / ``hidden_downstream``: how many distinct visible flow neighbours (over
    the query's relationship types; field lineage for fields) are not in the view.
    """

    node: NodeRef
    distance: int
    side: ViewSide
    hidden_upstream: int
    hidden_downstream: int


@dataclass(frozen=True, slots=True)
class GraphView:
    """Nodes around a center and every visible edge among them; ``truncated`` when the node
    cap dropped nodes the depths would have included. Nodes are ordered by (distance, kind, id),
    edges by (kind, id)."""

    center: NodeRef
    nodes: tuple[ViewNode, ...]
    edges: tuple[Edge, ...]
    truncated: bool

    @classmethod
    def of(
        cls, center: NodeRef, nodes: Iterable[ViewNode], edges: Iterable[Edge], truncated: bool
    ) -> GraphView:
        """The view of these nodes and edges (any order), put in its order."""
        return cls(
            center,
            tuple(sorted(nodes, key=lambda n: node_order(n.distance, n.node))),
            tuple(sorted(edges, key=edge_order)),
            truncated,
        )


@dataclass(frozen=True, slots=True)
class Paths:
    """Simple paths from ``source`` to ``target`` along the flow, in canonical order: by length,
    then by the sequence of edge ids. ``truncated`` when more than ``max_paths`` exist."""

    source: NodeRef
    target: NodeRef
    paths: tuple[tuple[Edge, ...], ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class GraphStats:
    """Counts of visible nodes and edges in a tenant's graph."""

    assets: int
    fields: int
    relationships: int
    field_lineage: int
