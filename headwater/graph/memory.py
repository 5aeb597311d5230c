"""The embedded graph engine: per-tenant numpy tables and CSR adjacency plus a small delta.

Storage is described in :mod:`headwater.graph._store`. Queries:

* **BFS** (traverse, closure, graph views) is level-synchronous and vectorised: each level
  gathers the CSR slices of the whole frontier at once, masks tombstoned edges, invisible nodes
  and filtered types, and claims unvisited neighbours with a scatter/gather trick (write each
  candidate's position into a per-node slot, keep the candidates that read their own position
  back: exactly one per node, no sort). Per-node state lives in scratch arrays reused across
  queries and reset only where touched, so a 3-hop neighbourhood costs a few dozen numpy calls
  whatever the graph's size, and a million-node closure runs at numpy speed.
* **Shortest path**: bidirectional BFS, expanding the smaller frontier one level at a time.
* **All simple paths**: iterative deepening DFS in canonical order (length, then edge ids),
  pruned by the distance to the target, stopping as soon as the cap is exceeded.

Measured on the development machine (1M assets, 5M random relationships of which 3.3M carry
flow; see also ``bench/``): bulk load from arrays 0.5-0.8 s; a 3-hop downstream traversal
(~50 nodes) 0.15-0.25 ms; a full downstream closure reaching 959k nodes ~200 ms with distances,
tree edges and sorted rows (the BFS itself ~110 ms; scipy's ``breadth_first_order``, which
returns only order and predecessors, ~40 ms on the same graph); applying 10k new edges ~80 ms;
compaction 0.4-0.7 s.

Methods are ``async`` for the :class:`~headwater.graph.engine.GraphEngine` Protocol but run
synchronously (no awaits inside): each holds its tenant's lock for the duration, so the engine is
also safe to call from worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Final
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from headwater.graph._store import FORWARD, I32, I64, B, Scratch, TenantGraph
from headwater.graph.engine import ALL_CLOSURE_STEPS, DEFAULT_NODE_CAP
from headwater.graph.model import (
    CONTAINS,
    ApplyResult,
    ClosureStep,
    Direction,
    Edge,
    GraphData,
    GraphStats,
    GraphView,
    InvalidQuery,
    Labels,
    Mutation,
    NodeRef,
    Paths,
    Traversal,
    UnknownNode,
    ViewNode,
    ViewSide,
)

__all__ = ["MemoryGraphEngine"]

ASSETS: Final = 0
FIELDS: Final = 1

# BFS steps; a step's code is also what the scratch remembers as the way a node was reached.
REL: Final = 0  # asset -> asset over a flow relationship
LIN: Final = 1  # field -> field over field lineage
LIFT: Final = 2  # field -> its asset
EXPAND: Final = 3  # asset -> its fields
_STEP_CODES: Final[dict[ClosureStep, int]] = {
    "relationships": REL,
    "field_lineage": LIN,
    "field_to_asset": LIFT,
    "asset_to_fields": EXPAND,
}
_STEP_FROM: Final = {REL: ASSETS, LIN: FIELDS, LIFT: FIELDS, EXPAND: ASSETS}
_STEP_TO: Final = {REL: ASSETS, LIN: FIELDS, LIFT: ASSETS, EXPAND: FIELDS}
_EMPTY: Final[I32] = np.zeros(0, np.int32)


def _check_depth(value: int | None, what: str) -> None:
    if value is not None and value < 0:
        raise InvalidQuery(f"{what} must be >= 0 or unbounded, got {value}")


def _check_positive(value: int | None, what: str) -> None:
    if value is not None and value < 1:
        raise InvalidQuery(f"{what} must be >= 1, got {value}")


# --- resolution and masks -------------------------------------------------------------------------


def _resolve(g: TenantGraph, node: NodeRef) -> tuple[int, int]:
    """(layer, row) of a visible node; UnknownNode otherwise."""
    if node.kind == "asset":
        row = g.assets.find(node.id)
        if row >= 0 and g.assets.live[row]:
            return ASSETS, row
    else:
        row = g.fields.find(node.id)
        if row >= 0 and g.fields_visible(np.array([row], np.int32))[0]:
            return FIELDS, row
    raise UnknownNode([node])


def _rel_mask(g: TenantGraph, relationship_types: Collection[str] | None) -> B | None:
    if relationship_types is None:
        return None
    if isinstance(relationship_types, str):
        raise InvalidQuery("relationship_types must be a collection of type names")
    return g.rel_types.mask(relationship_types)


def _hops(
    g: TenantGraph,
    step: int,
    frontier: I32,
    forward: bool,
    rel_allowed: B | None,
    unseen: I32 | None = None,
    with_origin: bool = True,
) -> tuple[I32, I32, I32 | None]:
    """(node, edge, from) for each visible hop of kind ``step`` out of ``frontier``.

    ``edge`` is the relationship / lineage row, or the field row for containment hops. With
    ``unseen`` (the target layer's BFS distances), hops to visited nodes are dropped first,
    which in a large closure removes most candidates before the other masks run. ``from`` is
    only gathered ``with_origin`` (the BFS recovers it from the edge when it needs it).
    """
    origin: I32 | None
    if step == REL or step == LIN:
        adjacency = g.rel_flow if step == REL else g.lin_flow
        nbr, edge, origin = adjacency.gather(frontier, forward, with_origin, unseen)
    else:
        if step == LIFT:
            nbr = g.fields.attr[frontier]
            edge = origin = frontier
        else:
            nbr, _, origin = g.members.gather(frontier, True)
            edge = nbr
        if unseen is not None and len(nbr):
            fresh = unseen[nbr] < 0
            nbr, edge = nbr[fresh], edge[fresh]
            origin = None if origin is None else origin[fresh]
    if step == REL:
        ok = ~g.rels.deleted[edge]
        ok &= g.assets.live[nbr]
        if rel_allowed is not None:
            ok &= rel_allowed[g.rels.type[edge]]
    elif step == LIN:
        ok = ~g.lineage.deleted[edge]
        ok[ok] = g.fields_visible(nbr[ok])
    elif step == LIFT:
        ok = nbr >= 0
        ok[ok] = g.assets.live[nbr[ok]]
    else:
        ok = g.fields.attr[nbr] == origin
        ok[ok] = g.fields.live[nbr[ok]]
    return nbr[ok], edge[ok], None if origin is None else origin[ok]


def _expand(
    g: TenantGraph, step: int, frontier: I32, forward: bool, rel_allowed: B | None
) -> tuple[I32, I32, I32]:
    """:func:`_hops` with the node each hop comes from."""
    nbr, edge, origin = _hops(g, step, frontier, forward, rel_allowed)
    assert origin is not None
    return nbr, edge, origin


# --- BFS ------------------------------------------------------------------------------------------


@dataclass
class _Visit:
    """What a BFS touched, per layer: rows in visit order and their distances. The scratch
    arrays hold the tree edges until :meth:`release` resets them."""

    rows: tuple[list[I32], list[I32]]
    dist: tuple[list[I32], list[I32]]
    stopped: bool  # the limit stopped the walk before it was exhausted

    def layer(self, layer: int) -> tuple[I32, I32]:
        rows, dist = self.rows[layer], self.dist[layer]
        if not rows:
            return _EMPTY, _EMPTY
        return np.concatenate(rows), np.concatenate(dist)

    def release(self, g: TenantGraph) -> None:
        for layer, scratch in enumerate((g.asset_scratch, g.field_scratch)):
            for rows in self.rows[layer]:
                scratch.dist[rows] = -1


Counter = Callable[[int, I32], int]


def _bfs(
    g: TenantGraph,
    starts: tuple[I32, I32],
    forward: bool,
    steps: Collection[int],
    rel_allowed: B | None,
    max_depth: int | None,
    limit: int | None = None,
    count: Counter | None = None,
) -> _Visit:
    """Multi-source, level-synchronous BFS over assets and fields.

    With ``limit``, stops after the first level at which ``count`` (new rows of a layer ->
    how many of them are reportable; all of them by default) has summed to more than ``limit``.
    The caller must ``release`` the result.
    """
    scratch = (g.asset_scratch, g.field_scratch)
    g.asset_scratch.fit(g.assets.n)
    g.field_scratch.fit(g.fields.n)
    visit = _Visit(([], []), ([], []), False)
    frontiers: list[I32] = []
    for layer in (ASSETS, FIELDS):
        rows = np.unique(starts[layer]).astype(np.int32)
        s = scratch[layer]
        s.dist[rows] = 0
        s.p_step[rows] = -1
        s.p_edge[rows] = -1
        visit.rows[layer].append(rows)
        visit.dist[layer].append(np.zeros(len(rows), np.int32))
        frontiers.append(rows)
    steps_by_source = {
        layer: [st for st in sorted(steps) if _STEP_FROM[st] == layer] for layer in (0, 1)
    }
    reported = 0
    level = 0
    while (len(frontiers[ASSETS]) or len(frontiers[FIELDS])) and (
        max_depth is None or level < max_depth
    ):
        level += 1
        found: tuple[list[tuple[I32, I32, int]], list[tuple[I32, I32, int]]] = ([], [])
        for layer in (ASSETS, FIELDS):
            if len(frontiers[layer]) == 0:
                continue
            for st in steps_by_source[layer]:
                unseen = scratch[_STEP_TO[st]].dist
                nbr, edge, _ = _hops(
                    g, st, frontiers[layer], forward, rel_allowed, unseen, with_origin=False
                )
                if len(nbr):
                    found[_STEP_TO[st]].append((nbr, edge, st))
        frontiers = [
            _claim(scratch[layer], found[layer], level, visit, layer) for layer in (ASSETS, FIELDS)
        ]
        if limit is not None:
            for layer in (ASSETS, FIELDS):
                if len(frontiers[layer]):
                    new = frontiers[layer]
                    reported += len(new) if count is None else count(layer, new)
            if reported > limit:
                visit.stopped = True
                break
    return visit


def _claim(
    s: Scratch,
    found: list[tuple[I32, I32, int]],
    level: int,
    visit: _Visit,
    layer: int,
) -> I32:
    """Mark the candidates (node, edge, step) as reached at ``level``, one tree edge per node;
    the new frontier."""
    if not found:
        return _EMPTY
    if len(found) == 1:
        nbr, edge, st = found[0]
        step = np.full(len(nbr), st, np.int8)
    else:
        nbr = np.concatenate([f[0] for f in found])
        edge = np.concatenate([f[1] for f in found])
        step = np.concatenate([np.full(len(f[0]), f[2], np.int8) for f in found])
    # candidates are unvisited (``_hops`` dropped the others), but may repeat
    position = np.arange(len(nbr), dtype=np.int32)
    s.slot[nbr] = position
    won = s.slot[nbr] == position
    nbr, edge, step = nbr[won], edge[won], step[won]
    s.dist[nbr] = level
    s.p_edge[nbr] = edge
    s.p_step[nbr] = step
    visit.rows[layer].append(nbr)
    visit.dist[layer].append(np.full(len(nbr), level, np.int32))
    claimed: I32 = nbr
    return claimed


def _result_order(ids: I64, kind: NDArray[np.uint8], dist: I32) -> NDArray[np.intp]:
    """The permutation sorting rows by (distance, kind, id): one sort by id, then a stable
    radix sort by the small (distance, kind) key."""
    if len(ids) == 0 or int(dist.max()) >= 30000:
        return np.lexsort((ids, kind, dist))
    by_id = np.argsort(ids)
    key = (dist[by_id] * 2 + kind[by_id]).astype(np.uint16)
    order: NDArray[np.intp] = by_id[np.argsort(key, kind="stable")]
    return order


def _traversal(
    g: TenantGraph,
    visit: _Visit,
    starts: tuple[NodeRef, ...],
    direction: Direction,
    keep: tuple[I32, I32],
    keep_dist: tuple[I32, I32],
    limit: int | None,
) -> Traversal:
    """Build the result from the kept rows of each layer (a subset of the visit), while the
    scratch still holds the tree edges."""
    a_rows, f_rows = keep
    kind = np.concatenate([np.zeros(len(a_rows), np.uint8), np.ones(len(f_rows), np.uint8)])
    ids = np.concatenate([g.assets.ids[a_rows], g.fields.ids[f_rows]])
    dist = np.concatenate(keep_dist)
    rows = np.concatenate([a_rows, f_rows])
    order = _result_order(ids, kind, dist)
    truncated = visit.stopped or (limit is not None and len(order) > limit)
    if limit is not None:
        order = order[:limit]
    kind, ids, dist, rows = kind[order], ids[order], dist[order], rows[order]
    a_scr, f_scr = g.asset_scratch, g.field_scratch
    n = len(rows)
    step = np.empty(n, np.int8)
    edge = np.empty(n, np.int32)
    for layer, scr in ((ASSETS, a_scr), (FIELDS, f_scr)):
        mine = kind == layer
        step[mine] = scr.p_step[rows[mine]]
        edge[mine] = scr.p_edge[rows[mine]]

    # one label space: relationship types, then transformations, then CONTAINS, then ""
    n_rel, n_lin = len(g.rel_types.names), len(g.transformations.names)
    labels = (*g.rel_types.names, *g.transformations.names, CONTAINS, "")
    forward = direction == "downstream"
    if n and bool((step == REL).all()):
        # the common single-layer walk: plain gathers, no masked writes
        src, dst = g.rels.src[edge], g.rels.dst[edge]
        along = g.rel_types.flow[g.rels.type[edge]] == FORWARD
        origin = np.where(along == forward, src, dst)
        return _finish(
            g,
            visit,
            starts,
            direction,
            (kind, ids, dist, rows, step, origin, truncated),
            np.zeros(n, np.int8),
            g.rels.ids[edge],
            g.assets.ids[src],
            g.assets.ids[dst],
            Labels(g.rels.type[edge], labels),
        )

    via_kind = np.full(n, -1, np.int8)
    via_id = np.zeros(n, np.int64)
    via_source = np.zeros(n, np.int64)
    via_target = np.zeros(n, np.int64)
    via_label = np.full(n, n_rel + n_lin + 1, np.int32)
    origin = np.full(n, -1, np.int32)  # the row the tree edge comes from
    rel, lin, lift, expand = step == REL, step == LIN, step == LIFT, step == EXPAND
    if rel.any():
        e = edge[rel]
        src, dst = g.rels.src[e], g.rels.dst[e]
        via_kind[rel] = 0
        via_id[rel] = g.rels.ids[e]
        via_source[rel] = g.assets.ids[src]
        via_target[rel] = g.assets.ids[dst]
        via_label[rel] = g.rels.type[e]
        along = g.rel_types.flow[g.rels.type[e]] == FORWARD  # flow runs source -> target
        origin[rel] = np.where(along == forward, src, dst)
    if lin.any():
        e = edge[lin]
        via_kind[lin] = 1
        via_id[lin] = g.lineage.ids[e]
        via_source[lin] = g.fields.ids[g.lineage.src[e]]
        via_target[lin] = g.fields.ids[g.lineage.dst[e]]
        via_label[lin] = n_rel + g.lineage.type[e]
        origin[lin] = g.lineage.src[e] if forward else g.lineage.dst[e]
    contains = lift | expand
    if contains.any():
        e = edge[contains]
        via_kind[contains] = 2
        via_id[contains] = g.fields.ids[e]
        via_source[contains] = g.assets.ids[g.fields.attr[e]]
        via_target[contains] = g.fields.ids[e]
        via_label[contains] = n_rel + n_lin
        origin[lift] = edge[lift]
        origin[expand] = g.fields.attr[edge[expand]]

    return _finish(
        g,
        visit,
        starts,
        direction,
        (kind, ids, dist, rows, step, origin, truncated),
        via_kind,
        via_id,
        via_source,
        via_target,
        Labels(via_label, labels),
    )


def _finish(
    g: TenantGraph,
    visit: _Visit,
    starts: tuple[NodeRef, ...],
    direction: Direction,
    rows_info: tuple[NDArray[np.uint8], I64, I32, I32, NDArray[np.int8], I32, bool],
    via_kind: NDArray[np.int8],
    via_id: I64,
    via_source: I64,
    via_target: I64,
    via_type: Labels,
) -> Traversal:
    """Resolve parent rows and assemble the result. The slot arrays map each layer's visited
    rows to output positions (-1 = not in the output)."""
    kind, ids, dist, rows, step, origin, truncated = rows_info
    a_scr, f_scr = g.asset_scratch, g.field_scratch
    for layer, scr in ((ASSETS, a_scr), (FIELDS, f_scr)):
        for visited in visit.rows[layer]:
            scr.slot[visited] = -1
        mine = np.flatnonzero(kind == layer)
        scr.slot[rows[mine]] = mine
    parent = np.full(len(rows), -1, np.int64)
    from_assets = (step == REL) | (step == EXPAND)
    from_fields = (step == LIN) | (step == LIFT)
    if from_assets.all():
        parent[:] = a_scr.slot[origin]
    else:
        parent[from_assets] = a_scr.slot[origin[from_assets]]
        parent[from_fields] = f_scr.slot[origin[from_fields]]
    return Traversal(
        starts,
        direction,
        kind,
        ids,
        dist,
        via_kind,
        via_id,
        via_source,
        via_target,
        via_type,
        parent,
        truncated,
    )


# --- edges ----------------------------------------------------------------------------------------


def _rel_edge(g: TenantGraph, row: int) -> Edge:
    return Edge(
        "relationship",
        int(g.rels.ids[row]),
        NodeRef.asset(int(g.assets.ids[g.rels.src[row]])),
        NodeRef.asset(int(g.assets.ids[g.rels.dst[row]])),
        g.rel_types.names[int(g.rels.type[row])],
    )


def _lineage_edge(g: TenantGraph, row: int) -> Edge:
    return Edge(
        "field_lineage",
        int(g.lineage.ids[row]),
        NodeRef.field(int(g.fields.ids[g.lineage.src[row]])),
        NodeRef.field(int(g.fields.ids[g.lineage.dst[row]])),
        g.transformations.names[int(g.lineage.type[row])],
    )


def _flow_edge(g: TenantGraph, layer: int, row: int) -> Edge:
    return _rel_edge(g, row) if layer == ASSETS else _lineage_edge(g, row)


def _contains_edge(g: TenantGraph, field_row: int) -> Edge:
    return Edge(
        "contains",
        int(g.fields.ids[field_row]),
        NodeRef.asset(int(g.assets.ids[g.fields.attr[field_row]])),
        NodeRef.field(int(g.fields.ids[field_row])),
        CONTAINS,
    )


# --- paths ----------------------------------------------------------------------------------------


def _shortest_path(
    g: TenantGraph, layer: int, s: int, t: int, allowed: B | None, max_depth: int | None
) -> list[Edge] | None:
    """Bidirectional BFS: expand whichever frontier is smaller by one full level; the first
    level that meets the other side holds a shortest path (the best meeting of that level)."""
    if s == t:
        return []
    step = REL if layer == ASSETS else LIN
    # node -> (distance, edge row, neighbour one hop nearer to this side's end)
    seen: tuple[dict[int, tuple[int, int, int]], dict[int, tuple[int, int, int]]] = (
        {s: (0, -1, -1)},
        {t: (0, -1, -1)},
    )
    frontier: list[list[int]] = [[s], [t]]
    depth = [0, 0]
    while frontier[0] and frontier[1] and (max_depth is None or sum(depth) < max_depth):
        side = 0 if len(frontier[0]) <= len(frontier[1]) else 1
        mine, other = seen[side], seen[1 - side]
        d = depth[side] + 1
        nbr, edge, origin = _expand(g, step, np.array(frontier[side], np.int32), side == 0, allowed)
        new: list[int] = []
        best: tuple[int, int] | None = None
        for v, e, u in zip(nbr.tolist(), edge.tolist(), origin.tolist(), strict=True):
            if v in mine:
                continue
            mine[v] = (d, e, u)
            new.append(v)
            if v in other:
                total = d + other[v][0]
                if best is None or total < best[0]:
                    best = (total, v)
        depth[side], frontier[side] = d, new
        if best is not None:
            return _join(g, layer, seen, best[1])
    return None


def _join(
    g: TenantGraph,
    layer: int,
    seen: tuple[dict[int, tuple[int, int, int]], dict[int, tuple[int, int, int]]],
    meet: int,
) -> list[Edge]:
    head: list[Edge] = []
    v = meet
    while seen[0][v][1] >= 0:
        _, e, v = seen[0][v]
        head.append(_flow_edge(g, layer, e))
    head.reverse()
    v = meet
    while seen[1][v][1] >= 0:
        _, e, v = seen[1][v]
        head.append(_flow_edge(g, layer, e))
    return head


def _distances_to(
    g: TenantGraph, layer: int, t: int, allowed: B | None, max_depth: int
) -> dict[int, int]:
    """Hops from every node to ``t`` along the flow, up to ``max_depth``."""
    step = REL if layer == ASSETS else LIN
    dist = {t: 0}
    frontier = [t]
    for d in range(1, max_depth + 1):
        if not frontier:
            break
        nbr, _, _ = _expand(g, step, np.array(frontier, np.int32), False, allowed)
        frontier = []
        for v in nbr.tolist():
            if v not in dist:
                dist[v] = d
                frontier.append(v)
    return dist


class _Enough(Exception):
    """Raised inside the path DFS once more paths than the cap were found."""


def _all_paths(
    g: TenantGraph,
    layer: int,
    s: int,
    t: int,
    allowed: B | None,
    max_depth: int,
    max_paths: int,
) -> tuple[list[list[int]], bool]:
    """Edge rows of the first ``max_paths`` simple paths s -> t in (length, edge ids) order."""
    if s == t:
        return [[]], False
    to_target = _distances_to(g, layer, t, allowed, max_depth)
    if s not in to_target:
        return [], False
    step = REL if layer == ASSETS else LIN
    ids = g.rels.ids if layer == ASSETS else g.lineage.ids
    successors: dict[int, list[tuple[int, int, int]]] = {}

    def out(u: int) -> list[tuple[int, int, int]]:
        hops = successors.get(u)
        if hops is None:
            nbr, edge, _ = _expand(g, step, np.array([u], np.int32), True, allowed)
            hops = sorted(
                (int(ids[e]), v, e)
                for v, e in zip(nbr.tolist(), edge.tolist(), strict=True)
                if v in to_target
            )
            successors[u] = hops
        return hops

    found: list[list[int]] = []
    path: list[int] = []
    on_path = {s}

    def extend(u: int, remaining: int) -> None:
        for _, v, e in out(u):
            if v == t:
                if remaining == 1:
                    found.append([*path, e])
                    if len(found) > max_paths:
                        raise _Enough
                continue
            if v in on_path or to_target[v] > remaining - 1:
                continue
            on_path.add(v)
            path.append(e)
            extend(v, remaining - 1)
            path.pop()
            on_path.discard(v)

    try:
        for length in range(to_target[s], max_depth + 1):
            extend(s, length)
    except _Enough:
        return found[:max_paths], True
    return found, False


# --- graph views ----------------------------------------------------------------------------------


def _hidden_counts(
    g: TenantGraph,
    layer: int,
    rows: I32,
    in_view: B,
    forward: bool,
    allowed: B | None,
) -> NDArray[np.int64]:
    """Per row, the number of distinct visible flow neighbours (one direction) not in view."""
    step = REL if layer == ASSETS else LIN
    nbr, _, origin = _expand(g, step, rows, forward, allowed)
    hidden = ~in_view[nbr]
    nbr, origin = nbr[hidden], origin[hidden]
    counts = np.zeros(len(rows), np.int64)
    if len(nbr) == 0:
        return counts
    pairs = np.unique(origin.astype(np.int64) * (1 << 32) + nbr.astype(np.int64))
    owners = (pairs >> 32).astype(np.int32)
    # rows are unique; map each owner row to its position through a sort
    order = np.argsort(rows)
    position = order[np.searchsorted(rows[order], owners)]
    np.add.at(counts, position, 1)
    return counts


def _graph_view(
    g: TenantGraph,
    center: NodeRef,
    upstream_depth: int | None,
    downstream_depth: int | None,
    node_cap: int,
    include_fields: bool,
    allowed: B | None,
) -> GraphView:
    layer, c = _resolve(g, center)
    step = REL if layer == ASSETS else LIN
    center_row = np.array([c], np.int32)
    starts = (center_row, _EMPTY) if layer == ASSETS else (_EMPTY, center_row)
    # Each side walks until it alone holds node_cap - 1 nodes besides the center: nodes further
    # out rank after those, so both sides know every kept node's distance exactly (see docs).
    sides: list[tuple[I32, I32]] = []
    stopped = False
    for forward, depth in ((False, upstream_depth), (True, downstream_depth)):
        visit = _bfs(g, starts, forward, (step,), allowed, depth, limit=node_cap - 1)
        try:
            rows, dist = visit.layer(layer)
        finally:
            visit.release(g)
        sides.append((rows[1:], dist[1:]))  # the center is always first
        stopped |= visit.stopped
    (up_rows, up_dist), (down_rows, down_dist) = sides
    rows = np.concatenate([down_rows, up_rows])
    dist = np.concatenate([down_dist, up_dist])
    is_up = np.concatenate([np.zeros(len(down_rows), bool), np.ones(len(up_rows), bool)])
    # nearest side per node, downstream winning ties (downstream rows come first)
    order = np.lexsort((is_up, dist, rows))
    rows, dist, is_up = rows[order], dist[order], is_up[order]
    first = np.ones(len(rows), bool)
    first[1:] = rows[1:] != rows[:-1]
    rows, dist, is_up = rows[first], dist[first], is_up[first]
    ids = (g.assets.ids if layer == ASSETS else g.fields.ids)[rows]
    rank = np.lexsort((ids, dist))
    truncated = stopped or len(rank) > node_cap - 1
    rank = rank[: node_cap - 1]
    rows = np.concatenate([[c], rows[rank]]).astype(np.int32)
    dist = np.concatenate([[0], dist[rank]]).astype(np.int32)
    sides_of: list[ViewSide] = ["center"]
    sides_of.extend("upstream" if up else "downstream" for up in is_up[rank].tolist())

    n_layer = g.assets.n if layer == ASSETS else g.fields.n
    in_view = np.zeros(n_layer, bool)
    in_view[rows] = True
    hidden_up = _hidden_counts(g, layer, rows, in_view, False, allowed)
    hidden_down = _hidden_counts(g, layer, rows, in_view, True, allowed)
    ref = NodeRef.asset if layer == ASSETS else NodeRef.field
    nodes = [
        ViewNode(ref(int(i)), int(d), side, int(hu), int(hd))
        for i, d, side, hu, hd in zip(
            (g.assets.ids if layer == ASSETS else g.fields.ids)[rows].tolist(),
            dist.tolist(),
            sides_of,
            hidden_up.tolist(),
            hidden_down.tolist(),
            strict=True,
        )
    ]
    edges: list[Edge] = []
    if layer == ASSETS:
        nbr, e, _ = _expand(g, REL, rows, True, allowed)
        for row in np.unique(e[in_view[nbr]]).tolist():
            edges.append(_rel_edge(g, row))
        nbr, e, _ = g.rel_structure.gather(rows, True)
        ok = ~g.rels.deleted[e] & in_view[nbr]
        if allowed is not None:
            ok &= allowed[g.rels.type[e]]
        for row in np.unique(e[ok]).tolist():
            edges.append(_rel_edge(g, row))
        if include_fields:
            nodes, edges = _with_fields(g, rows, dist, sides_of, nodes, edges)
    else:
        nbr, e, _ = _expand(g, LIN, rows, True, None)
        for row in np.unique(e[in_view[nbr]]).tolist():
            edges.append(_lineage_edge(g, row))
    kind_order = {"asset": 0, "field": 1}
    nodes.sort(key=lambda n: (n.distance, kind_order[n.node.kind], n.node.id))
    edge_order = {"relationship": 0, "field_lineage": 1, "contains": 2}
    edges.sort(key=lambda e: (edge_order[e.kind], e.id))
    return GraphView(center, tuple(nodes), tuple(edges), truncated)


def _with_fields(
    g: TenantGraph,
    asset_rows: I32,
    asset_dist: I32,
    asset_sides: list[ViewSide],
    nodes: list[ViewNode],
    edges: list[Edge],
) -> tuple[list[ViewNode], list[Edge]]:
    fields, _, owners = _expand(g, EXPAND, asset_rows, True, None)
    fields, first = np.unique(fields, return_index=True)
    owners = owners[first]
    position = {r: i for i, r in enumerate(asset_rows.tolist())}
    in_view = np.zeros(g.fields.n, bool)
    in_view[fields] = True
    hidden_up = _hidden_counts(g, FIELDS, fields, in_view, False, None)
    hidden_down = _hidden_counts(g, FIELDS, fields, in_view, True, None)
    for f, owner, hu, hd in zip(
        fields.tolist(), owners.tolist(), hidden_up.tolist(), hidden_down.tolist(), strict=True
    ):
        at = position[owner]
        nodes.append(
            ViewNode(
                NodeRef.field(int(g.fields.ids[f])),
                int(asset_dist[at]),
                asset_sides[at],
                hu,
                hd,
            )
        )
        edges.append(_contains_edge(g, f))
    nbr, e, _ = _expand(g, LIN, fields.astype(np.int32), True, None)
    for row in np.unique(e[in_view[nbr]]).tolist():
        edges.append(_lineage_edge(g, row))
    return nodes, edges


# --- the engine -----------------------------------------------------------------------------------


class MemoryGraphEngine:
    """The embedded :class:`~headwater.graph.engine.GraphEngine`.

    ``compact_min`` / ``compact_ratio``: the delta (rows appended since the last compaction) is
    folded into the base once it exceeds ``max(compact_min, compact_ratio * base size)``, which
    keeps the amortised cost of an insert low and the delta small enough to stay off the hot
    path.
    """

    name = "memory"

    def __init__(self, *, compact_min: int = 4096, compact_ratio: float = 1 / 16) -> None:
        self._tenants: dict[UUID, TenantGraph] = {}
        self._guard = threading.Lock()
        self.compact_min = compact_min
        self.compact_ratio = compact_ratio

    def _graph(self, tenant_id: UUID, *, create: bool = False) -> TenantGraph:
        with self._guard:
            graph = self._tenants.get(tenant_id)
            if graph is None:
                graph = TenantGraph()
                if create:
                    self._tenants[tenant_id] = graph
            return graph

    # --- writes -----------------------------------------------------------------------------------

    async def apply(
        self, tenant_id: UUID, mutations: Sequence[Mutation], *, position: str | None = None
    ) -> ApplyResult:
        graph = self._graph(tenant_id, create=True)
        with graph.lock:
            applied = sum(1 for m in mutations if graph.apply(m))
            if position is not None:
                graph.position = position
            if graph.delta_size() > max(
                self.compact_min, int(graph.base_size() * self.compact_ratio)
            ):
                graph.compact()
        return ApplyResult(applied, len(mutations) - applied)

    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        graph = TenantGraph.from_data(data)
        graph.position = position
        with self._guard:
            self._tenants[tenant_id] = graph

    async def drop(self, tenant_id: UUID) -> None:
        with self._guard:
            self._tenants.pop(tenant_id, None)

    async def close(self) -> None:
        with self._guard:
            self._tenants.clear()

    def compact(self, tenant_id: UUID) -> None:
        """Fold the tenant's delta into its base now (tests and benchmarks)."""
        graph = self._graph(tenant_id)
        with graph.lock:
            graph.compact()

    # --- bookkeeping ------------------------------------------------------------------------------

    async def position(self, tenant_id: UUID) -> str | None:
        return self._graph(tenant_id).position

    async def stats(self, tenant_id: UUID) -> GraphStats:
        g = self._graph(tenant_id)
        with g.lock:
            live = g.assets.live[: g.assets.n]
            visible = g.fields_visible(np.arange(g.fields.n, dtype=np.int32))
            r = g.rels.alive_rows()
            rels = ~g.rels.deleted[r] & live[g.rels.src[r]] & live[g.rels.dst[r]]
            ln = g.lineage.alive_rows()
            lin = ~g.lineage.deleted[ln] & visible[g.lineage.src[ln]] & visible[g.lineage.dst[ln]]
            return GraphStats(int(live.sum()), int(visible.sum()), int(rels.sum()), int(lin.sum()))

    async def snapshot(self, tenant_id: UUID) -> GraphData:
        g = self._graph(tenant_id)
        with g.lock:
            return g.snapshot()

    # --- queries ----------------------------------------------------------------------------------

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
        _check_depth(max_depth, "max_depth")
        _check_positive(limit, "limit")
        g = self._graph(tenant_id)
        with g.lock:
            layer, row = _resolve(g, start)
            allowed = _rel_mask(g, relationship_types)
            reportable = _type_filter(g, asset_types)
            count: Counter | None = None
            if reportable is not None:
                test = reportable

                def count_reportable(layer: int, rows: I32) -> int:
                    return int(test(layer, rows).sum())

                count = count_reportable
            starts = (np.array([row], np.int32), _EMPTY)
            if layer == FIELDS:
                starts = (_EMPTY, np.array([row], np.int32))
            step = REL if layer == ASSETS else LIN
            visit = _bfs(
                g, starts, direction == "downstream", (step,), allowed, max_depth, limit, count
            )
            try:
                keep: list[I32] = []
                keep_dist: list[I32] = []
                for lay in (ASSETS, FIELDS):
                    rows, dist = visit.layer(lay)
                    ok = dist > 0
                    if reportable is not None:
                        ok &= reportable(lay, rows)
                    keep.append(rows[ok])
                    keep_dist.append(dist[ok])
                return _traversal(
                    g,
                    visit,
                    (start,),
                    direction,
                    (keep[0], keep[1]),
                    (keep_dist[0], keep_dist[1]),
                    limit,
                )
            finally:
                visit.release(g)

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
        _check_depth(max_depth, "max_depth")
        _check_positive(limit, "limit")
        unknown_steps = set(steps) - set(_STEP_CODES)
        if unknown_steps:
            raise InvalidQuery(f"unknown closure steps: {sorted(unknown_steps)}")
        g = self._graph(tenant_id)
        with g.lock:
            starts = tuple(dict.fromkeys(starts))
            rows: tuple[list[int], list[int]] = ([], [])
            unknown: list[NodeRef] = []
            for node in starts:
                try:
                    layer, row = _resolve(g, node)
                except UnknownNode:
                    unknown.append(node)
                    continue
                rows[layer].append(row)
            if unknown:
                raise UnknownNode(unknown)
            allowed = _rel_mask(g, relationship_types)
            first = (np.array(rows[0], np.int32), np.array(rows[1], np.int32))
            visit = _bfs(
                g,
                first,
                direction == "downstream",
                {_STEP_CODES[s] for s in steps},
                allowed,
                max_depth,
                None if limit is None else limit - len(starts),
            )
            try:
                a_rows, a_dist = visit.layer(ASSETS)
                f_rows, f_dist = visit.layer(FIELDS)
                return _traversal(
                    g, visit, starts, direction, (a_rows, f_rows), (a_dist, f_dist), limit
                )
            finally:
                visit.release(g)

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
        _check_depth(upstream_depth, "upstream_depth")
        _check_depth(downstream_depth, "downstream_depth")
        _check_positive(node_cap, "node_cap")
        g = self._graph(tenant_id)
        with g.lock:
            allowed = _rel_mask(g, relationship_types)
            return _graph_view(
                g, center, upstream_depth, downstream_depth, node_cap, include_fields, allowed
            )

    async def shortest_path(
        self,
        tenant_id: UUID,
        source: NodeRef,
        target: NodeRef,
        *,
        relationship_types: Collection[str] | None = None,
        max_depth: int | None = None,
    ) -> list[Edge] | None:
        _check_depth(max_depth, "max_depth")
        g = self._graph(tenant_id)
        with g.lock:
            layer, s, t = _endpoints(g, source, target)
            allowed = _rel_mask(g, relationship_types)
            return _shortest_path(g, layer, s, t, allowed, max_depth)

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
        _check_depth(max_depth, "max_depth")
        _check_positive(max_paths, "max_paths")
        g = self._graph(tenant_id)
        with g.lock:
            layer, s, t = _endpoints(g, source, target)
            allowed = _rel_mask(g, relationship_types)
            found, truncated = _all_paths(g, layer, s, t, allowed, max_depth, max_paths)
            paths = tuple(tuple(_flow_edge(g, layer, e) for e in path) for path in found)
            return Paths(source, target, paths, truncated)


def _endpoints(g: TenantGraph, source: NodeRef, target: NodeRef) -> tuple[int, int, int]:
    if source.kind != target.kind:
        raise InvalidQuery("a path joins two assets or two fields, not one of each")
    unknown = []
    rows = []
    layer = ASSETS
    for node in (source, target):
        try:
            layer, row = _resolve(g, node)
            rows.append(row)
        except UnknownNode:
            unknown.append(node)
    if unknown:
        raise UnknownNode(unknown)
    return layer, rows[0], rows[1]


def _type_filter(
    g: TenantGraph, asset_types: Collection[str] | None
) -> Callable[[int, I32], B] | None:
    """A test (layer, rows) -> reportable, for an asset type filter (a field reports with its
    asset's type)."""
    if asset_types is None:
        return None
    if isinstance(asset_types, str):
        raise InvalidQuery("asset_types must be a collection of type names")
    selected = g.asset_types.mask(asset_types)

    def reportable(layer: int, rows: I32) -> B:
        assets = rows if layer == ASSETS else g.fields.attr[rows]
        result: B = selected[g.assets.attr[assets]]
        return result

    return reportable
