"""Storage of one tenant's graph for the memory engine: compact numpy tables plus a small delta.

Layout (two layers, assets + relationships and fields + field lineage, stored alike):

* **Node tables** (:class:`_Vertices`): append-only rows (id int64, version int32, live bool, one
  int32 attribute: an asset's type code, a field's owning asset row). Rows never move, so edges
  and fields refer to nodes by row. Lookup by id: ``searchsorted`` over the rows indexed at the
  last compaction (ids from identity sequences arrive increasing, so the rows usually *are* in
  id order and no permutation is stored), then a dict for rows appended since.
* **Edge tables** (:class:`_Edges`): append-only rows (id, source row, target row in stored
  orientation, type code, version, deleted), looked up by id the same way.
* **Adjacency** (:class:`_Adjacency`): CSR arrays in flow orientation (forward and reverse:
  neighbour row + edge row per entry) over the rows present at the last compaction, plus a delta
  of rows appended since (dicts of lists). Relationships without flow get their own adjacency, for
  graph views. Tombstones are not delta entries: a deleted edge or node flips its flag in place
  and traversals mask it out, so deletes and restores cost O(1) and never touch the CSR.
* **Compaction** rebuilds the id indexes and the CSR arrays from the tables (vectorised sorts, no
  row remapping) when the delta outgrows a threshold, folding the delta into the base.

Memory (measured, 1M assets / 5M relationships): about 45 bytes per edge (23 in the table, 16
in the two CSR directions, the rest CSR pointers) and about 38 bytes per node including the
traversal scratch space: ~270 MB for that tenant.
"""

from __future__ import annotations

import threading
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from headwater.graph.model import (
    AssetArrays,
    AssetState,
    FieldArrays,
    FieldLineageArrays,
    FieldLineageState,
    FieldState,
    Flow,
    GraphData,
    Mutation,
    RelationshipArrays,
    RelationshipState,
    flow_of,
)

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
I16 = NDArray[np.int16]
I8 = NDArray[np.int8]
B = NDArray[np.bool_]

FORWARD: Final = 1
BACKWARD: Final = -1
NO_FLOW: Final = 0
_FLOW_CODES: Final = {Flow.FORWARD: FORWARD, Flow.BACKWARD: BACKWARD, Flow.NONE: NO_FLOW}

_EMPTY_I32: Final[I32] = np.zeros(0, np.int32)


def _grown(array: NDArray[Any], size: int, fill: Any) -> NDArray[Any]:
    """``array`` with capacity for at least ``size`` rows (doubling), new rows set to ``fill``."""
    if size <= len(array):
        return array
    grown = np.full(max(size, 2 * len(array), 16), fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def gather_ranges(
    ptr: NDArray[np.int64], rows: I32, with_rows: bool = True
) -> tuple[NDArray[np.int64], I32 | None]:
    """Positions of the CSR slices ``ptr[r]:ptr[r+1]`` for each r in ``rows`` (concatenated),
    and (``with_rows``) the row each position belongs to. Fully vectorised."""
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), _EMPTY_I32
    offsets = np.cumsum(lengths) - lengths
    positions = np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)
    return positions, np.repeat(rows, lengths) if with_rows else None


class _Labels:
    """Dictionary of type names (asset types, relationship types, transformations) to codes."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names: list[str] = list(names)
        self.codes: dict[str, int] = {n: i for i, n in enumerate(names)}
        self.flow: I8 = np.array([_FLOW_CODES[flow_of(n)] for n in names], np.int8)

    def code(self, name: str) -> int:
        code = self.codes.get(name)
        if code is None:
            code = len(self.names)
            if code > np.iinfo(np.int16).max:
                raise ValueError("too many distinct labels")
            self.names.append(name)
            self.codes[name] = code
            self.flow = np.append(self.flow, np.int8(_FLOW_CODES[flow_of(name)]))
        return code

    def mask(self, names: Any) -> B:
        """A lookup table code -> selected, for a filter given as names (unknown names match
        nothing)."""
        selected = np.zeros(len(self.names) + 1, bool)
        for name in names:
            code = self.codes.get(name)
            if code is not None:
                selected[code] = True
        return selected


class _IdIndex:
    """Row lookup by id: a sorted index built at compaction plus a dict for later rows."""

    def __init__(self) -> None:
        self.sorted_ids: I64 = np.zeros(0, np.int64)
        self.sorted_rows: I32 | None = None  # None: row i holds sorted_ids[i]
        self.extra: dict[int, int] = {}

    def rebuild(self, ids: I64, rows: I32) -> None:
        """Index ``rows`` (whose ids are ``ids``); ids must be unique."""
        if (
            len(ids)
            and bool(np.all(ids[1:] > ids[:-1]))
            and np.array_equal(rows, np.arange(len(rows), dtype=np.int32))
        ):
            # no copy: rows below n never change their id, so a view of the column is stable
            self.sorted_ids, self.sorted_rows = ids, None
        else:
            order = np.argsort(ids, kind="stable")
            self.sorted_ids, self.sorted_rows = ids[order], rows[order].astype(np.int32)
        self.extra = {}

    def find(self, id: int) -> int:
        row = self.extra.get(id)
        if row is not None:
            return row
        i = int(np.searchsorted(self.sorted_ids, id))
        if i < len(self.sorted_ids) and self.sorted_ids[i] == id:
            return i if self.sorted_rows is None else int(self.sorted_rows[i])
        return -1


class _Vertices:
    """Append-only node rows: id, version (0 = only referenced, state not seen), live, attr."""

    def __init__(self) -> None:
        self.n = 0
        self.ids: I64 = np.zeros(0, np.int64)
        self.version: I32 = np.zeros(0, np.int32)
        self.live: B = np.zeros(0, bool)
        self.attr: I32 = np.zeros(0, np.int32)
        self.index = _IdIndex()
        self.indexed = 0  # rows covered by the sorted index and the adjacency base

    def set_arrays(self, ids: I64, version: I32, live: B, attr: I32) -> None:
        self.n = len(ids)
        self.ids, self.version, self.live, self.attr = ids, version, live, attr
        self.reindex()

    def reindex(self) -> None:
        self.index.rebuild(self.ids[: self.n], np.arange(self.n, dtype=np.int32))
        self.indexed = self.n

    def find(self, id: int) -> int:
        return self.index.find(id)

    def ensure(self, id: int) -> int:
        """The row of ``id``, appending a placeholder (version 0, not live) when unknown."""
        row = self.index.find(id)
        if row >= 0:
            return row
        row = self.n
        self.n += 1
        self.ids = _grown(self.ids, self.n, 0)
        self.version = _grown(self.version, self.n, 0)
        self.live = _grown(self.live, self.n, False)
        self.attr = _grown(self.attr, self.n, -1)
        self.ids[row] = id
        self.index.extra[id] = row
        return row


class _Edges:
    """Append-only edge rows. A row whose id re-appears with other endpoints or type is retired
    (``dead``) and a fresh row takes the id, so the CSR never needs editing in place."""

    def __init__(self) -> None:
        self.n = 0
        self.ids: I64 = np.zeros(0, np.int64)
        self.src: I32 = np.zeros(0, np.int32)
        self.dst: I32 = np.zeros(0, np.int32)
        self.type: I16 = np.zeros(0, np.int16)
        self.version: I32 = np.zeros(0, np.int32)
        self.deleted: B = np.zeros(0, bool)
        self.dead: set[int] = set()
        self.index = _IdIndex()
        self.indexed = 0

    def set_arrays(self, ids: I64, src: I32, dst: I32, type: I16, version: I32, deleted: B) -> None:
        self.n = len(ids)
        self.ids, self.src, self.dst, self.type = ids, src, dst, type
        self.version, self.deleted = version, deleted
        self.dead = set()
        self.reindex()

    def alive_rows(self) -> I32:
        rows = np.arange(self.n, dtype=np.int32)
        if self.dead:
            rows = np.setdiff1d(rows, np.fromiter(self.dead, np.int32, len(self.dead)))
        return rows

    def reindex(self) -> None:
        rows = self.alive_rows()
        self.index.rebuild(self.ids[rows] if self.dead else self.ids[: self.n], rows)
        self.indexed = self.n

    def append(self, id: int, src: int, dst: int, type: int, version: int, deleted: bool) -> int:
        row = self.n
        self.n += 1
        self.ids = _grown(self.ids, self.n, 0)
        self.src = _grown(self.src, self.n, 0)
        self.dst = _grown(self.dst, self.n, 0)
        self.type = _grown(self.type, self.n, 0)
        self.version = _grown(self.version, self.n, 0)
        self.deleted = _grown(self.deleted, self.n, True)
        self.ids[row], self.src[row], self.dst[row], self.type[row] = id, src, dst, type
        self.version[row], self.deleted[row] = version, deleted
        self.index.extra[id] = row
        return row


class _Adjacency:
    """CSR adjacency (forward and reverse) over edge rows, plus a delta of rows added since the
    last rebuild. Entries are (neighbour row, edge row); orientation is the caller's."""

    def __init__(self) -> None:
        self.nv = 0  # vertices covered by the forward CSR pointers
        self.nv_in = 0  # vertices covered by the reverse CSR pointers
        self.out_ptr: NDArray[np.int64] = np.zeros(1, np.int64)
        self.out_nbr: I32 = _EMPTY_I32
        self.out_edge: I32 = _EMPTY_I32
        self.in_ptr: NDArray[np.int64] = np.zeros(1, np.int64)
        self.in_nbr: I32 = _EMPTY_I32
        self.in_edge: I32 = _EMPTY_I32
        self._reset_delta()

    def _reset_delta(self) -> None:
        self.delta_out: dict[int, list[tuple[int, int]]] = {}
        self.delta_in: dict[int, list[tuple[int, int]]] = {}
        self.mark_out: B = np.zeros(0, bool)
        self.mark_in: B = np.zeros(0, bool)
        self.delta_size = 0

    def rebuild(self, nv: int, edges: I32, a: I32, b: I32, nv_in: int | None = None) -> None:
        """CSR over ``edges`` running a -> b, for rows a in 0..nv-1 and b in 0..nv_in-1
        (default nv)."""
        nv_in = nv if nv_in is None else nv_in
        self.nv, self.nv_in = nv, nv_in
        # order within a node's slice does not matter: the default (unstable) sort is faster
        order = np.argsort(a)
        self.out_ptr = np.zeros(nv + 1, np.int64)
        np.cumsum(np.bincount(a, minlength=nv), out=self.out_ptr[1:])
        self.out_nbr, self.out_edge = b[order], edges[order]
        order = np.argsort(b)
        self.in_ptr = np.zeros(nv_in + 1, np.int64)
        np.cumsum(np.bincount(b, minlength=nv_in), out=self.in_ptr[1:])
        self.in_nbr, self.in_edge = a[order], edges[order]
        self._reset_delta()

    def add(self, edge: int, a: int, b: int) -> None:
        self.delta_out.setdefault(a, []).append((b, edge))
        self.delta_in.setdefault(b, []).append((a, edge))
        self.mark_out = _grown(self.mark_out, a + 1, False)
        self.mark_in = _grown(self.mark_in, b + 1, False)
        self.mark_out[a] = True
        self.mark_in[b] = True
        self.delta_size += 1

    def gather(
        self,
        frontier: I32,
        forward: bool,
        with_origin: bool = True,
        unseen: I32 | None = None,
    ) -> tuple[I32, I32, I32 | None]:
        """(neighbour, edge, from) for every entry leaving ``frontier`` (entering, if not
        ``forward``), base and delta, unmasked; ``from`` is None unless ``with_origin``.

        With ``unseen`` (BFS distances of the neighbours' layer), entries to visited neighbours
        are dropped before the edge rows are even read.
        """
        covered = self.nv if forward else self.nv_in
        if forward:
            ptr, nbr, edge, delta, mark = (
                self.out_ptr,
                self.out_nbr,
                self.out_edge,
                self.delta_out,
                self.mark_out,
            )
        else:
            ptr, nbr, edge, delta, mark = (
                self.in_ptr,
                self.in_nbr,
                self.in_edge,
                self.delta_in,
                self.mark_in,
            )
        if covered == 0:
            based = _EMPTY_I32
        elif len(frontier) and int(frontier.max()) >= covered:
            based = frontier[frontier < covered]
        else:
            based = frontier
        positions, out_from = gather_ranges(ptr, based, with_origin)
        out_nbr = nbr[positions]
        if unseen is not None:
            fresh = unseen[out_nbr] < 0
            positions, out_nbr = positions[fresh], out_nbr[fresh]
            out_from = None if out_from is None else out_from[fresh]
        out_edge = edge[positions]
        if delta:
            hits = frontier[frontier < len(mark)]
            hits = hits[mark[hits]]
            if len(hits):
                extra_nbr: list[int] = []
                extra_edge: list[int] = []
                extra_from: list[int] = []
                for v in hits.tolist():
                    for n, e in delta[v]:
                        if unseen is None or unseen[n] < 0:
                            extra_nbr.append(n)
                            extra_edge.append(e)
                            extra_from.append(v)
                out_nbr = np.concatenate([out_nbr, np.array(extra_nbr, np.int32)])
                out_edge = np.concatenate([out_edge, np.array(extra_edge, np.int32)])
                if out_from is not None:
                    out_from = np.concatenate([out_from, np.array(extra_from, np.int32)])
        return out_nbr, out_edge, out_from


class Scratch:
    """Per-layer traversal state reused across queries (under the tenant lock): ``dist`` is -1
    everywhere between queries; the other arrays are only read where ``dist`` was set."""

    def __init__(self) -> None:
        self.dist: I32 = np.zeros(0, np.int32)
        self.slot: I32 = np.zeros(0, np.int32)
        self.p_edge: I32 = np.zeros(0, np.int32)
        self.p_step: I8 = np.zeros(0, np.int8)

    def fit(self, n: int) -> None:
        if n > len(self.dist):
            self.dist = _grown(self.dist, n, -1)
            self.slot = _grown(self.slot, n, -1)
            self.p_edge = _grown(self.p_edge, n, -1)
            self.p_step = _grown(self.p_step, n, -1)


class TenantGraph:
    """One tenant's graph: the tables, adjacency and label dictionaries, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.position: str | None = None
        self.assets = _Vertices()  # attr: asset type code
        self.fields = _Vertices()  # attr: owning asset row (-1 until the field's state is seen)
        self.rels = _Edges()
        self.lineage = _Edges()
        self.asset_types = _Labels()
        self.rel_types = _Labels()
        self.transformations = _Labels()
        self.rel_flow = _Adjacency()  # flow relationships, flow-oriented (upstream -> downstream)
        self.rel_structure = _Adjacency()  # relationships without flow, stored orientation
        self.lin_flow = _Adjacency()  # field lineage, source -> target
        self.members = _Adjacency()  # asset row -> field row (out direction only is used)
        self.asset_scratch = Scratch()
        self.field_scratch = Scratch()

    # --- writes -----------------------------------------------------------------------------------

    def apply(self, mutation: Mutation) -> bool:
        """Apply one state if it is newer than the one held; True when it changed the graph."""
        if isinstance(mutation, AssetState):
            return self._put_asset(mutation)
        if isinstance(mutation, FieldState):
            return self._put_field(mutation)
        if isinstance(mutation, RelationshipState):
            return self._put_relationship(mutation)
        return self._put_lineage(mutation)

    def _put_asset(self, s: AssetState) -> bool:
        v = self.assets
        row = v.find(s.id)
        if row >= 0 and s.version <= v.version[row]:
            return False
        row = v.ensure(s.id) if row < 0 else row
        v.version[row], v.live[row] = s.version, not s.deleted
        v.attr[row] = self.asset_types.code(s.type)
        return True

    def _put_field(self, s: FieldState) -> bool:
        v = self.fields
        row = v.find(s.id)
        if row >= 0 and s.version <= v.version[row]:
            return False
        row = v.ensure(s.id) if row < 0 else row
        owner = self.assets.ensure(s.asset_id)
        v.version[row], v.live[row] = s.version, not s.deleted
        if v.attr[row] != owner:
            v.attr[row] = owner
            self.members.add(row, owner, row)
        return True

    def _put_relationship(self, s: RelationshipState) -> bool:
        e = self.rels
        row = e.index.find(s.id)
        if row >= 0 and s.version <= e.version[row]:
            return False
        src, dst = self.assets.ensure(s.source_id), self.assets.ensure(s.target_id)
        code = self.rel_types.code(s.type)
        if row >= 0 and (e.src[row], e.dst[row], e.type[row]) == (src, dst, code):
            e.version[row], e.deleted[row] = s.version, s.deleted
            return True
        if row >= 0:
            self._retire(e, row)
        row = e.append(s.id, src, dst, code, s.version, s.deleted)
        flow = int(self.rel_types.flow[code])
        if flow == FORWARD:
            self.rel_flow.add(row, src, dst)
        elif flow == BACKWARD:
            self.rel_flow.add(row, dst, src)
        else:
            self.rel_structure.add(row, src, dst)
        return True

    def _put_lineage(self, s: FieldLineageState) -> bool:
        e = self.lineage
        row = e.index.find(s.id)
        if row >= 0 and s.version <= e.version[row]:
            return False
        src, dst = self.fields.ensure(s.source_field_id), self.fields.ensure(s.target_field_id)
        code = self.transformations.code(s.transformation)
        if row >= 0 and (e.src[row], e.dst[row]) == (src, dst):
            e.version[row], e.deleted[row], e.type[row] = s.version, s.deleted, code
            return True
        if row >= 0:
            self._retire(e, row)
        row = e.append(s.id, src, dst, code, s.version, s.deleted)
        self.lin_flow.add(row, src, dst)
        return True

    @staticmethod
    def _retire(edges: _Edges, row: int) -> None:
        edges.deleted[row] = True
        edges.dead.add(row)

    # --- compaction -------------------------------------------------------------------------------

    def delta_size(self) -> int:
        return (
            self.rel_flow.delta_size
            + self.rel_structure.delta_size
            + self.lin_flow.delta_size
            + self.members.delta_size
            + (self.assets.n - self.assets.indexed)
            + (self.fields.n - self.fields.indexed)
        )

    def base_size(self) -> int:
        return self.assets.indexed + self.fields.indexed + self.rels.indexed + self.lineage.indexed

    def compact(self) -> None:
        """Fold the delta into a new base: id indexes and CSR arrays rebuilt from the tables."""
        self.assets.reindex()
        self.fields.reindex()
        self.rels.reindex()
        self.lineage.reindex()
        self._rebuild_adjacency()

    def _rebuild_adjacency(self) -> None:
        na, nf = self.assets.n, self.fields.n
        rels = self.rels.alive_rows()
        src, dst = self.rels.src[rels], self.rels.dst[rels]
        flow = self.rel_types.flow[self.rels.type[rels]] if len(rels) else np.zeros(0, np.int8)
        fwd, bwd, none = flow == FORWARD, flow == BACKWARD, flow == NO_FLOW
        self.rel_flow.rebuild(
            na,
            np.concatenate([rels[fwd], rels[bwd]]),
            np.concatenate([src[fwd], dst[bwd]]),
            np.concatenate([dst[fwd], src[bwd]]),
        )
        self.rel_structure.rebuild(na, rels[none], src[none], dst[none])
        lin = self.lineage.alive_rows()
        self.lin_flow.rebuild(nf, lin, self.lineage.src[lin], self.lineage.dst[lin])
        owned = np.flatnonzero(self.fields.attr[:nf] >= 0).astype(np.int32)
        self.members.rebuild(na, owned, self.fields.attr[owned], owned, nf)
        self.asset_scratch.fit(na)
        self.field_scratch.fit(nf)

    # --- bulk -------------------------------------------------------------------------------------

    @classmethod
    def from_data(cls, data: GraphData) -> TenantGraph:
        """A graph holding exactly ``data`` (tables filled in bulk, then one compaction)."""
        graph = cls()
        graph._fill(data)
        return graph

    def _fill(self, data: GraphData) -> None:
        a, f, r, ln = data.assets, data.fields, data.relationships, data.field_lineage
        self.asset_types = _Labels(a.type_names)
        self.rel_types = _Labels(r.type_names)
        self.transformations = _Labels(ln.transformation_names)
        # Node rows are the sorted ids (states first, then ids only referenced by edges).
        asset_ids, (a_rows, src, dst, owner) = _nodes(
            _unique_ids(a.id, "asset"), a.id, r.source_id, r.target_id, f.asset_id
        )
        _fill_vertices(self.assets, asset_ids, a_rows, a.version, a.deleted, a.type)
        field_ids, (f_rows, lsrc, ldst) = _nodes(
            _unique_ids(f.id, "field"), f.id, ln.source_field_id, ln.target_field_id
        )
        _fill_vertices(self.fields, field_ids, f_rows, f.version, f.deleted, owner)
        _fill_edges(self.rels, r.id, src, dst, r.type, r.version, r.deleted, "relationship")
        _fill_edges(
            self.lineage,
            ln.id,
            lsrc,
            ldst,
            ln.transformation,
            ln.version,
            ln.deleted,
            "field lineage",
        )
        self._rebuild_adjacency()

    def snapshot(self) -> GraphData:
        a, f, r, ln = self.assets, self.fields, self.rels, self.lineage
        ar = _by_id(a.ids, np.flatnonzero(a.version[: a.n] > 0))
        fr = _by_id(f.ids, np.flatnonzero(f.version[: f.n] > 0))
        rr, lr = _by_id(r.ids, r.alive_rows()), _by_id(ln.ids, ln.alive_rows())
        return GraphData(
            AssetArrays(
                a.ids[ar],
                a.attr[ar].astype(np.int16),
                tuple(self.asset_types.names),
                a.version[ar],
                ~a.live[ar],
            ),
            FieldArrays(f.ids[fr], a.ids[f.attr[fr]], f.version[fr], ~f.live[fr]),
            RelationshipArrays(
                r.ids[rr],
                a.ids[r.src[rr]],
                a.ids[r.dst[rr]],
                r.type[rr],
                tuple(self.rel_types.names),
                r.version[rr],
                r.deleted[rr],
            ),
            FieldLineageArrays(
                ln.ids[lr],
                f.ids[ln.src[lr]],
                f.ids[ln.dst[lr]],
                ln.type[lr],
                tuple(self.transformations.names),
                ln.version[lr],
                ln.deleted[lr],
            ),
        )

    # --- visibility -------------------------------------------------------------------------------

    def fields_visible(self, rows: I32) -> B:
        ok = self.fields.live[rows]
        owners = self.fields.attr[rows[ok]]
        ok[ok] = self.assets.live[owners]
        return ok


def _unique_ids(ids: I64, what: str) -> I64:
    ordered = np.sort(ids)
    if len(ordered) > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
        raise ValueError(f"duplicate {what} ids in bulk data")
    return ordered


def _locate(sorted_ids: I64, query: I64) -> I32:
    """Positions of ``query`` ids in ``sorted_ids`` (-1 where absent), vectorised.

    Ids from identity sequences are dense, so a direct lookup table usually applies (one
    gather); otherwise the queries are sorted first, which keeps ``searchsorted`` cache-friendly.
    """
    n = len(sorted_ids)
    if n == 0 or len(query) == 0:
        return np.full(len(query), -1, np.int32)
    low = int(sorted_ids[0])
    span = int(sorted_ids[-1]) - low + 1
    if span <= 4 * n + 1024:
        table = np.full(span, -1, np.int32)
        table[sorted_ids - low] = np.arange(n, dtype=np.int32)
        positions: I32 = table[np.clip(query - low, 0, span - 1)]
        positions[(query < low) | (query >= low + span)] = -1
        return positions
    order = np.argsort(query)
    found = np.minimum(np.searchsorted(sorted_ids, query[order]), n - 1)
    hit = sorted_ids[found] == query[order]
    positions = np.empty(len(query), np.int32)
    positions[order] = np.where(hit, found, -1)
    return positions


def _nodes(ids: I64, *references: I64) -> tuple[I64, list[I32]]:
    """All node ids (``ids`` sorted, plus ids only referenced), and the rows of each reference
    array in that node table."""
    rows = [_locate(ids, ref) for ref in references]
    missing = [ref[r < 0] for ref, r in zip(references, rows, strict=True)]
    if any(len(m) for m in missing):
        ids = np.union1d(ids, np.concatenate(missing))
        rows = [_locate(ids, ref) for ref in references]
    return ids, rows


def _fill_vertices(
    table: _Vertices, all_ids: I64, rows: I32, version: I32, deleted: B, attr: NDArray[Any]
) -> None:
    n = len(all_ids)
    table_version = np.zeros(n, np.int32)
    live = np.zeros(n, bool)
    table_attr = np.full(n, -1, np.int32)
    table_version[rows], live[rows], table_attr[rows] = version, ~deleted, attr
    table.set_arrays(all_ids, table_version, live, table_attr)


def _fill_edges(
    table: _Edges,
    ids: I64,
    src: I32,
    dst: I32,
    type: I16,
    version: I32,
    deleted: B,
    what: str,
) -> None:
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
        # copies: the tables are updated in place later, the caller's arrays must not be
        table.set_arrays(ids.copy(), src, dst, type.copy(), version.copy(), deleted.copy())
        return
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if len(sorted_ids) > 1 and bool(np.any(sorted_ids[1:] == sorted_ids[:-1])):
        raise ValueError(f"duplicate {what} ids in bulk data")
    table.set_arrays(
        sorted_ids, src[order], dst[order], type[order], version[order], deleted[order]
    )


def _by_id(ids: I64, rows: NDArray[Any]) -> I32:
    """``rows`` ordered by their ids."""
    rows = rows.astype(np.int32)
    ordered: I32 = rows[np.argsort(ids[rows], kind="stable")]
    return ordered
