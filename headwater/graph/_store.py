"""Storage of one tenant's graph for the memory engine: compact numpy tables plus a small delta.

Layout (two layers, assets + relationships and fields + field lineage, stored alike):

* **Node tables** (:class:`Vertices`): append-only rows (id int64, version int32, live bool, open
  bool: the node's visibility, kept current on every write, one int32 attribute: an asset's type
  code, a field's owning asset row). Rows never move, so edges and fields refer to nodes by row.
  Lookup by id: a binary search over the rows indexed at the last compaction (ids from identity
  sequences arrive increasing, so the rows usually *are* in id order and no permutation is
  stored), then a dict for rows appended since.
* **Edge tables** (:class:`_Edges`): append-only rows (id, source row, target row in stored
  orientation, type code, version, deleted), looked up by id the same way, with a count of the
  deleted rows the adjacency holds (none: walks skip the flags).
* **Adjacency** (:class:`_Adjacency`): CSR arrays in flow orientation (forward and reverse:
  neighbour row + edge row per entry) over the rows present at the last compaction, plus a delta
  of rows appended since (dicts of lists). Relationships without flow get their own adjacency, for
  graph views. Tombstones are not delta entries: a deleted edge or node flips its flag in place
  and traversals mask it out, so deletes and restores cost O(1) and never touch the CSR.
* **Compaction** rebuilds the id indexes and the CSR arrays from the tables (vectorised sorts, no
  row remapping) when the delta outgrows a threshold, folding the delta into the base. It runs in
  three steps so that the long one needs no lock: :meth:`TenantGraph.begin_compaction` notes the
  table sizes (rows below them never change where the build reads them) and starts journaling
  adjacency additions; :meth:`Compaction.build` sorts, off the lock; and
  :meth:`TenantGraph.finish_compaction` swaps the result in and replays the journal (the rows
  written meanwhile) into the new delta.

Memory (measured, 1M assets / 5M relationships): about 45 bytes per edge (23 in the table, 16
in the two CSR directions, the rest CSR pointers) and about 35 bytes per node including the
traversal scratch space: ~265 MB for that tenant.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
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
    """``array`` with capacity for at least ``size`` rows, new rows set to ``fill``. Grows by an
    eighth (as CPython's lists do), not by doubling: the tables are sized exactly at a load, so
    the first write after it would otherwise double a million-edge tenant's memory at once."""
    if size <= len(array):
        return array
    grown = np.full(max(size, len(array) + len(array) // 8, 16), fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def gather_ranges(ptr: I64, rows: I32, with_rows: bool = True) -> tuple[I64, I32 | None]:
    """Positions of the CSR slices ``ptr[r]:ptr[r+1]`` for each r in ``rows`` (concatenated),
    and (``with_rows``) the row each position belongs to. Fully vectorised."""
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), _EMPTY_I32
    offsets = np.cumsum(lengths) - lengths
    positions = np.repeat(starts - offsets, lengths) + np.arange(total, dtype=ptr.dtype)
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
        # bisect over a memoryview reads plain ints: a lookup costs a fraction of a numpy call
        self._search = self.sorted_ids.data

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
        self._search = self.sorted_ids.data
        self.extra = {}

    def find(self, id: int) -> int:
        row = self.extra.get(id)
        if row is not None:
            return row
        i = bisect.bisect_left(self._search, id)
        if i < len(self._search) and self._search[i] == id:
            return i if self.sorted_rows is None else int(self.sorted_rows[i])
        return -1

    def find_many(self, ids: I64) -> I32:
        """The rows of ``ids`` (-1 where none), by one binary search over the sorted index; only
        the ids it lacks are looked up in the dict of later rows (the delta: few)."""
        at = np.searchsorted(self.sorted_ids, ids)
        hit = at < len(self.sorted_ids)
        hit[hit] = self.sorted_ids[at[hit]] == ids[hit]
        rows = np.full(len(ids), -1, np.int32)
        rows[hit] = at[hit] if self.sorted_rows is None else self.sorted_rows[at[hit]]
        if self.extra:
            missing = np.flatnonzero(~hit)
            found = [self.extra.get(i, -1) for i in ids[missing].tolist()]
            rows[missing] = np.array(found, np.int32)
        return rows


def _newer(index: _IdIndex, versions: I32, id: int, version: int) -> int | None:
    """The row holding ``id`` (-1 when none does), or None when the version held is not older
    than ``version`` (the state is stale)."""
    row = index.find(id)
    if row >= 0 and version <= versions[row]:
        return None
    return row


def _alive(n: int, dead: set[int] | frozenset[int]) -> I32:
    """Rows 0..n-1 except the ``dead`` ones."""
    rows = np.arange(n, dtype=np.int32)
    if dead:
        rows = np.setdiff1d(rows, np.fromiter(dead, np.int32, len(dead)))
    return rows


def _index(ids: I64, rows: I32) -> _IdIndex:
    """An id index over ``rows`` (increasing) of a table whose id column is ``ids``."""
    index = _IdIndex()
    # all rows 0..n-1: a view of the column, no gather
    index.rebuild(
        ids[: len(rows)] if len(rows) == 0 or rows[-1] == len(rows) - 1 else ids[rows], rows
    )
    return index


def _add_later_rows(index: _IdIndex, ids: I64, n: int, end: int) -> None:
    """Rows n..end-1 into the index's dict, in order (a later row takes over an id)."""
    for offset, id in enumerate(ids[n:end].tolist()):
        index.extra[id] = n + offset


class Vertices:
    """Append-only node rows: id, version (0 = only referenced, state not seen), live, attr.

    ``open`` is maintained by :class:`TenantGraph`: between queries it holds the node's
    visibility (an asset's ``live``; for a field, also its asset's); a running BFS clears it for
    the nodes it has reached and sets it back when done, so a single lookup tells the walk both
    "visible" and "not yet reached". ``ordered``: rows are in increasing id order, so sorting
    rows sorts ids (true after a bulk load while appended ids keep increasing).
    """

    def __init__(self) -> None:
        self.n = 0
        self.ids: I64 = np.zeros(0, np.int64)
        self.version: I32 = np.zeros(0, np.int32)
        self.live: B = np.zeros(0, bool)
        self.open: B = np.zeros(0, bool)
        self.attr: I32 = np.zeros(0, np.int32)
        self.index = _IdIndex()
        self.indexed = 0  # rows covered by the sorted index and the adjacency base
        self.ordered = True

    def set_arrays(self, ids: I64, version: I32, live: B, attr: I32) -> None:
        """Take the arrays of a bulk load (``ids`` sorted); ``open`` is the caller's to set, the
        index the following compaction's."""
        self.n = len(ids)
        self.ids, self.version, self.live, self.attr = ids, version, live, attr
        self.open = np.zeros(self.n, bool)
        self.ordered = True

    def install(self, index: _IdIndex, n: int) -> None:
        """Take an index built over rows 0..n-1; rows appended since go to its dict."""
        _add_later_rows(index, self.ids, n, self.n)
        self.index, self.indexed = index, n

    def find(self, id: int) -> int:
        return self.index.find(id)

    def find_many(self, ids: I64) -> I32:
        return self.index.find_many(ids)

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
        self.open = _grown(self.open, self.n, False)
        self.attr = _grown(self.attr, self.n, -1)
        self.ids[row] = id
        self.ordered = self.ordered and (row == 0 or id > self.ids[row - 1])
        self.index.extra[id] = row
        return row


class _Edges:
    """Append-only edge rows. A row whose id re-appears with other endpoints or type is retired
    (``dead``) and a fresh row takes the id, so the CSR never needs editing in place.

    ``masked`` counts the rows the adjacency may yield that are deleted (tombstones, and retired
    rows until the next compaction drops them): while it is 0 a walk need not read the flags.
    """

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
        self.masked = 0

    def set_arrays(self, ids: I64, src: I32, dst: I32, type: I16, version: I32, deleted: B) -> None:
        self.n = len(ids)
        self.ids, self.src, self.dst, self.type = ids, src, dst, type
        self.version, self.deleted = version, deleted
        self.dead = set()

    def alive_rows(self) -> I32:
        return _alive(self.n, self.dead)

    def install(self, index: _IdIndex, n: int, based: I32) -> None:
        """Take an index built over the alive rows ``based`` of rows 0..n-1 (the adjacency's new
        base); rows appended since go to its dict, and the adjacency's deleted rows are
        counted again."""
        _add_later_rows(index, self.ids, n, self.n)
        self.index, self.indexed = index, n
        self.masked = int(np.count_nonzero(self.deleted[based])) + int(
            np.count_nonzero(self.deleted[n : self.n])
        )

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
        self.masked += deleted
        self.index.extra[id] = row
        return row

    def set_deleted(self, row: int, deleted: bool) -> None:
        self.masked += int(deleted) - int(self.deleted[row])
        self.deleted[row] = deleted

    def put(
        self,
        row: int,
        id: int,
        src: int,
        dst: int,
        type: int,
        version: int,
        deleted: bool,
        retype: bool,
    ) -> int:
        """Hold a newer state of the edge at ``row`` (-1: none yet). With the same endpoints
        (and type, unless ``retype`` allows changing it in place) the row is updated and -1
        returned; otherwise the old row is retired and the new row appended, to be added to the
        adjacency by the caller."""
        if (
            row >= 0
            and self.src[row] == src
            and self.dst[row] == dst
            and (retype or self.type[row] == type)
        ):
            self.version[row], self.type[row] = version, type
            self.set_deleted(row, deleted)
            return -1
        if row >= 0:
            # the id moves to a fresh row; compaction drops this one from the adjacency
            self.set_deleted(row, True)
            self.dead.add(row)
        return self.append(id, src, dst, type, version, deleted)


class _Csr:
    """One direction of an adjacency: CSR slices for the rows present at the last rebuild, plus a
    delta of entries added since (dicts of lists). An entry is (neighbour row, edge row)."""

    def __init__(self, n: int, n_nbr: int, ptr: I64, nbr: I32, edge: I32) -> None:
        self.n = n  # rows with a slice
        self.n_nbr = n_nbr  # neighbour rows at the rebuild
        self.ptr, self.nbr, self.edge = ptr, nbr, edge
        self.end = ptr[1:]  # slice ends: gathers need no ``rows + 1``
        self.delta: dict[int, list[tuple[int, int]]] = {}
        self.mark: B = np.zeros(0, bool)  # rows with delta entries

    @classmethod
    def build(cls, n: int, n_nbr: int, edges: I32, a: I32, b: I32) -> _Csr:
        """Entries a -> b of ``edges``, for rows a in 0..n-1 and b in 0..n_nbr-1."""
        # order within a node's slice does not matter: the default (unstable) sort is faster
        order = np.argsort(a)
        ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(a, minlength=n), out=ptr[1:])
        return cls(n, n_nbr, ptr, b[order], edges[order])

    def add(self, a: int, b: int, edge: int) -> None:
        self.delta.setdefault(a, []).append((b, edge))
        self.mark = _grown(self.mark, a + 1, False)
        self.mark[a] = True

    def entries(self, frontier: I32, with_origin: bool = True) -> tuple[I32, I32, I32 | None]:
        """(neighbour, edge, from) for every entry of the ``frontier`` rows, base and delta;
        ``from`` is None unless ``with_origin``."""
        based = frontier
        if len(frontier) and int(frontier.max()) >= self.n:
            based = frontier[frontier < self.n]  # rows appended since the rebuild have no slice
        positions, origin = gather_ranges(self.ptr, based, with_origin)
        nbr, edge = self.nbr[positions], self.edge[positions]
        extra = self._delta_entries(frontier, None)
        if extra:
            more = np.array(extra, np.int32).reshape(-1, 3)
            nbr = np.concatenate([nbr, more[:, 0]])
            edge = np.concatenate([edge, more[:, 1]])
            if origin is not None:
                origin = np.concatenate([origin, more[:, 2]])
        return nbr, edge, origin

    def reach(self, frontier: I32, open_: B) -> tuple[I32, I32]:
        """(neighbour, edge) for the entries of the ``frontier`` rows (sorted) whose neighbour is
        open, base and delta: a BFS level's candidates. Few numpy calls, each over as little as
        possible: the slices are cut first, the edge rows read only for open neighbours."""
        if len(frontier) and int(frontier[-1]) >= self.n:
            based = frontier[: int(np.searchsorted(frontier, self.n))]
        else:
            based = frontier
        low = self.ptr.take(based)
        lengths = self.end.take(based)
        lengths -= low
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        ends -= lengths
        low -= ends  # position of entry i of the gathered slices: low[slice] + i
        positions = np.repeat(low, lengths)
        positions += np.arange(total, dtype=np.int64)
        nbr = self.nbr.take(positions)
        keep = np.flatnonzero(open_.take(nbr))
        nbr = nbr.take(keep)
        edge = self.edge.take(positions.take(keep))
        extra = self._delta_entries(frontier, open_)
        if extra:
            more = np.array(extra, np.int32).reshape(-1, 3)
            nbr = np.concatenate([nbr, more[:, 0]])
            edge = np.concatenate([edge, more[:, 1]])
        return nbr, edge

    def _delta_entries(self, frontier: I32, open_: B | None) -> list[tuple[int, int, int]]:
        """(neighbour, edge, from) of the delta entries of ``frontier``, to open neighbours
        only when ``open_`` is given."""
        if not self.delta:
            return []
        hits = frontier[frontier < len(self.mark)]
        hits = hits[self.mark[hits]]
        return [
            (n, e, v) for v in hits.tolist() for n, e in self.delta[v] if open_ is None or open_[n]
        ]


class _Adjacency:
    """CSR adjacency in both directions over edge rows, plus the delta of rows added since the
    last rebuild. Entries run a -> b in the orientation the caller chose: ``out`` holds a's
    entries (neighbour b), ``into`` b's (neighbour a)."""

    def __init__(self) -> None:
        self.out = _Csr(0, 0, np.zeros(1, np.int64), _EMPTY_I32, _EMPTY_I32)
        self.into = _Csr(0, 0, np.zeros(1, np.int64), _EMPTY_I32, _EMPTY_I32)
        self.delta_size = 0
        # (edge, a, b) of each add while a compaction builds: replayed into its result
        self.journal: list[tuple[int, int, int]] | None = None

    def rebuild(self, nv: int, edges: I32, a: I32, b: I32, nv_in: int | None = None) -> None:
        """CSR over ``edges`` running a -> b, for rows a in 0..nv-1 and b in 0..nv_in-1
        (default nv); the delta is folded in."""
        nv_in = nv if nv_in is None else nv_in
        self.out = _Csr.build(nv, nv_in, edges, a, b)
        self.into = _Csr.build(nv_in, nv, edges, b, a)
        self.delta_size = 0

    def add(self, edge: int, a: int, b: int) -> None:
        self.out.add(a, b, edge)
        self.into.add(b, a, edge)
        self.delta_size += 1
        if self.journal is not None:
            self.journal.append((edge, a, b))

    def side(self, forward: bool) -> _Csr:
        """The entries to follow walking a -> b (``forward``) or b -> a."""
        return self.out if forward else self.into

    def gather(
        self, frontier: I32, forward: bool, with_origin: bool = True
    ) -> tuple[I32, I32, I32 | None]:
        """(neighbour, edge, from) for every entry leaving ``frontier`` (entering, if not
        ``forward``), base and delta, unmasked; ``from`` is None unless ``with_origin``."""
        return self.side(forward).entries(frontier, with_origin)


class Scratch:
    """Per-layer traversal state reused across queries (under the tenant lock), so a query never
    allocates per-node arrays: read only where the running query wrote."""

    def __init__(self) -> None:
        self.slot: I32 = np.zeros(0, np.int32)
        self.p_edge: I32 = np.zeros(0, np.int32)
        self.p_step: I8 = np.zeros(0, np.int8)

    def fit(self, n: int) -> None:
        if n > len(self.slot):
            self.slot = _grown(self.slot, n, -1)
            self.p_edge = _grown(self.p_edge, n, -1)
            self.p_step = _grown(self.p_step, n, -1)


class TenantGraph:
    """One tenant's graph: the tables, adjacency and label dictionaries, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.position: str | None = None
        self.assets = Vertices()  # attr: asset type code
        self.fields = Vertices()  # attr: owning asset row (-1 until the field's state is seen)
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
        row = _newer(v.index, v.version, s.id, s.version)
        if row is None:
            return False
        row = v.ensure(s.id) if row < 0 else row
        live = not s.deleted
        reopen = live != v.live[row]
        v.version[row], v.live[row], v.open[row] = s.version, live, live
        v.attr[row] = self.asset_types.code(s.type)
        if reopen:
            # the asset's fields are visible only while it is
            fields, _, _ = self.members.gather(np.array([row], np.int32), True, False)
            fields = fields[self.fields.attr[fields] == row]
            self.fields.open[fields] = self.fields.live[fields] & live
        return True

    def _put_field(self, s: FieldState) -> bool:
        v = self.fields
        row = _newer(v.index, v.version, s.id, s.version)
        if row is None:
            return False
        row = v.ensure(s.id) if row < 0 else row
        owner = self.assets.ensure(s.asset_id)
        v.version[row], v.live[row] = s.version, not s.deleted
        v.open[row] = not s.deleted and self.assets.live[owner]
        if v.attr[row] != owner:
            v.attr[row] = owner
            self.members.add(row, owner, row)
        return True

    def _put_relationship(self, s: RelationshipState) -> bool:
        e = self.rels
        row = _newer(e.index, e.version, s.id, s.version)
        if row is None:
            return False
        src, dst = self.assets.ensure(s.source_id), self.assets.ensure(s.target_id)
        code = self.rel_types.code(s.type)
        # a new type may flow the other way: only the same type keeps its adjacency entry
        row = e.put(row, s.id, src, dst, code, s.version, s.deleted, retype=False)
        if row >= 0:
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
        row = _newer(e.index, e.version, s.id, s.version)
        if row is None:
            return False
        src, dst = self.fields.ensure(s.source_field_id), self.fields.ensure(s.target_field_id)
        code = self.transformations.code(s.transformation)
        row = e.put(row, s.id, src, dst, code, s.version, s.deleted, retype=True)
        if row >= 0:
            self.lin_flow.add(row, src, dst)
        return True

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

    @property
    def compacting(self) -> bool:
        return self.rel_flow.journal is not None

    def _adjacencies(self) -> tuple[_Adjacency, _Adjacency, _Adjacency, _Adjacency]:
        return self.rel_flow, self.rel_structure, self.lin_flow, self.members

    def begin_compaction(self) -> Compaction:
        """Under the lock: what a compaction will build from, and a journal of the adjacency
        additions made until it is finished (or aborted)."""
        if self.compacting:
            raise RuntimeError("a compaction of this graph is already running")
        for adjacency in self._adjacencies():
            adjacency.journal = []
        return Compaction(self)

    def finish_compaction(self, built: _Built) -> None:
        """Under the lock: the new base in place, with what was written since its begin as the
        new delta."""
        c = built.compaction
        self.assets.install(built.asset_index, c.na)
        self.fields.install(built.field_index, c.nf)
        self.rels.install(built.rel_index, c.nr, built.rel_rows)
        self.lineage.install(built.lineage_index, c.nl, built.lineage_rows)
        for name, new in zip(
            ("rel_flow", "rel_structure", "lin_flow", "members"), built.adjacency, strict=True
        ):
            old: _Adjacency = getattr(self, name)
            for edge, a, b in old.journal or ():
                new.add(edge, a, b)
            setattr(self, name, new)
        self.asset_scratch.fit(self.assets.n)
        self.field_scratch.fit(self.fields.n)

    def abort_compaction(self) -> None:
        for adjacency in self._adjacencies():
            adjacency.journal = None

    def compact(self) -> None:
        """Fold the delta into a new base, all under the caller's lock."""
        self.finish_compaction(self.begin_compaction().build())

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
        self.assets.open = self.assets.live.copy()
        self.fields.open = self.fields_visible(np.arange(self.fields.n, dtype=np.int32))
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
        self.compact()

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


class Compaction:
    """A compaction's inputs, taken under the lock. Rows below the noted sizes never change their
    ids or ends, and array growth copies into new arrays, so the columns are read in place; the
    fields' owners and the edges' retired rows can change, so they are copied."""

    def __init__(self, g: TenantGraph) -> None:
        self.na, self.nf, self.nr, self.nl = g.assets.n, g.fields.n, g.rels.n, g.lineage.n
        self.asset_ids, self.field_ids = g.assets.ids, g.fields.ids
        self.owners = g.fields.attr[: self.nf].copy()
        self.rel_ids, self.rel_src, self.rel_dst = g.rels.ids, g.rels.src, g.rels.dst
        self.rel_type = g.rels.type  # a relationship row never changes its type
        self.rel_dead = frozenset(g.rels.dead)
        self.flow = g.rel_types.flow.copy()
        self.lin_ids, self.lin_src, self.lin_dst = g.lineage.ids, g.lineage.src, g.lineage.dst
        self.lin_dead = frozenset(g.lineage.dead)

    def build(self) -> _Built:
        """The new id indexes and CSR adjacency (the long part: no lock needed)."""
        na, nf = self.na, self.nf
        rels = _alive(self.nr, self.rel_dead)
        src, dst = self.rel_src[rels], self.rel_dst[rels]
        flow = self.flow[self.rel_type[rels]] if len(rels) else np.zeros(0, np.int8)
        fwd, bwd, none = flow == FORWARD, flow == BACKWARD, flow == NO_FLOW
        rel_flow, rel_structure, lin_flow, members = (_Adjacency() for _ in range(4))
        rel_flow.rebuild(
            na,
            np.concatenate([rels[fwd], rels[bwd]]),
            np.concatenate([src[fwd], dst[bwd]]),
            np.concatenate([dst[fwd], src[bwd]]),
        )
        rel_structure.rebuild(na, rels[none], src[none], dst[none])
        lin = _alive(self.nl, self.lin_dead)
        lin_flow.rebuild(nf, lin, self.lin_src[lin], self.lin_dst[lin])
        owned = np.flatnonzero(self.owners >= 0).astype(np.int32)
        members.rebuild(na, owned, self.owners[owned], owned, nf)
        return _Built(
            self,
            _index(self.asset_ids, np.arange(na, dtype=np.int32)),
            _index(self.field_ids, np.arange(nf, dtype=np.int32)),
            _index(self.rel_ids, rels),
            rels,
            _index(self.lin_ids, lin),
            lin,
            (rel_flow, rel_structure, lin_flow, members),
        )


@dataclass(frozen=True, slots=True)
class _Built:
    compaction: Compaction
    asset_index: _IdIndex
    field_index: _IdIndex
    rel_index: _IdIndex
    rel_rows: I32
    lineage_index: _IdIndex
    lineage_rows: I32
    adjacency: tuple[_Adjacency, _Adjacency, _Adjacency, _Adjacency]


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
    table: Vertices, all_ids: I64, rows: I32, version: I32, deleted: B, attr: NDArray[Any]
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
