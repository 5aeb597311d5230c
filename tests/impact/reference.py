"""The impact rules of :mod:`headwater.graph.impact`, computed again with networkx over the whole
graph, for comparison.

Written differently on purpose: no closure, no evidence, no worklist. Column reach is a networkx
multi-source Dijkstra over all visible column lineage; the table-level rules are re-evaluated for
every asset in full passes until nothing changes; distances are one Dijkstra over an explanation
graph (column lineage, column -> table at no cost, and the hops that justify each state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

from headwater.graph.impact import Severity, Status, worst
from headwater.graph.model import GraphData
from headwater.graph.oracle import OracleState


@dataclass(frozen=True)
class Expected:
    assets: dict[int, tuple[Status, Severity, int]]  # asset -> (status, severity, distance)
    columns: dict[int, tuple[Severity, int]]  # field -> (severity, distance)

    @property
    def severity(self) -> Severity:
        return worst(*(s for _, s, _ in self.assets.values()))


def expected_impact(
    data: GraphData,
    asset: int,
    seeds: Mapping[int, Severity],
    asset_change: Severity | None = None,
) -> Expected:
    if not seeds and asset_change is None:
        return Expected({}, {})  # nothing changes that anyone could read
    state = OracleState()
    for m in data.states():
        state.put(m)
    fields = state.visible_fields()
    owner = {f: s.asset_id for f, s in fields.items()}
    lineage = state.visible_lineage()
    flows = nx.MultiDiGraph()
    flows.add_nodes_from(state.visible_assets())
    for r in state.visible_rels():
        if r.type in ("PRODUCES",):
            up, down = r.source_id, r.target_id
        elif r.type in ("USES", "DEPENDS_ON"):
            up, down = r.target_id, r.source_id
        else:
            continue
        if up != down:
            flows.add_edge(up, down)

    col_graph = nx.DiGraph()
    col_graph.add_nodes_from(fields)
    col_graph.add_edges_from((e.source_field_id, e.target_field_id) for e in lineage)
    reach = nx.multi_source_dijkstra_path_length(col_graph, set(seeds)) if seeds else {}
    col_dist = {f: d for f, d in reach.items() if d > 0}
    affected_assets = {owner[f] for f in col_dist}
    tainted_fields = set(col_dist) | set(seeds)
    described = {owner[e.target_field_id] for e in lineage}
    carrying = {
        (owner[e.source_field_id], owner[e.target_field_id])
        for e in lineage
        if e.source_field_id in tainted_fields
    }
    with_columns = set(owner.values())
    whole = asset_change is not None

    def ins(n: int) -> set[int]:
        return set(flows.predecessors(n)) - {n}

    def outs(n: int) -> set[int]:
        return set(flows.successors(n)) - {n}

    possibly: set[int] = {asset} if whole else set()
    colless: dict[int, Status] = {}

    def tainted(n: int) -> bool:
        return n == asset or n in affected_assets or n in possibly or n in colless

    def uncovered(x: int, o: int) -> bool:
        return x in possibly or o not in described

    def suspects(u: int, d: int) -> bool:
        if whole or u in possibly:
            return True
        if u not in with_columns:
            return any(tainted(x) and uncovered(x, d) for x in ins(u))
        return d not in described

    def passes(j: int, x: int) -> bool:
        return (
            whole
            or any((x, o) in carrying for o in outs(j))
            or not outs(j)
            or any(uncovered(x, o) for o in outs(j))
        )

    # Only what a tainted asset reaches can change state: a full pass over every asset, repeated.
    changed = True
    while changed:
        changed = False
        for d in sorted(flows.nodes):
            if d == asset:
                continue
            tainted_inputs = [u for u in ins(d) if tainted(u)]
            if d not in with_columns:
                status: Status | None = None
                if tainted_inputs:
                    if whole or any((x, o) in carrying for x in ins(d) for o in outs(d)):
                        status = "affected"
                    elif any(passes(d, x) for x in tainted_inputs):
                        status = "possibly_affected"
                if status is not None and colless.get(d) != status:
                    colless[d] = status
                    changed = True
            elif d not in possibly and any(suspects(u, d) for u in tainted_inputs):
                possibly.add(d)
                changed = True

    explain = nx.DiGraph()
    for f in col_dist:
        explain.add_edge(("f", f), ("a", owner[f]), weight=0)
    for e in lineage:
        if e.source_field_id in tainted_fields:
            explain.add_edge(("f", e.source_field_id), ("f", e.target_field_id), weight=1)
    for u, d in flows.edges():
        if u == d or d == asset or not tainted(u):
            continue
        if d not in with_columns:
            ok = d in colless and passes(d, u)
        else:
            ok = d in possibly and suspects(u, d)
        if ok:
            explain.add_edge(("a", u), ("a", d), weight=1)
    sources = {("a", asset)} | {("f", s) for s in seeds}
    explain.add_nodes_from(sources)
    dist = nx.multi_source_dijkstra_path_length(explain, sources)

    direct: dict[int, Severity] = {}
    for e in lineage:
        if e.source_field_id in seeds and e.target_field_id in col_dist:
            t = e.target_field_id
            direct[t] = worst(direct.get(t, "safe"), seeds[e.source_field_id])
    columns = {f: (direct.get(f, "warning"), d) for f, d in col_dist.items()}

    assets: dict[int, tuple[Status, Severity, int]] = {}
    for a in affected_assets | possibly | set(colless):
        mine = [f for f in col_dist if owner[f] == a]
        if a == asset:
            if mine:
                assets[a] = (
                    "affected",
                    worst(*(columns[f][0] for f in mine)),
                    min(col_dist[f] for f in mine),
                )
            continue
        distance = dist[("a", a)]
        if asset_change is not None:
            is_direct = asset in ins(a) or any(f in direct for f in mine)
            assets[a] = ("affected", asset_change if is_direct else "warning", distance)
        elif mine:
            severity = worst(*(columns[f][0] for f in mine))
            if a in possibly:
                severity = worst(severity, "warning")
            assets[a] = ("affected", severity, distance)
        elif colless.get(a) == "affected":
            carried = [
                e.source_field_id
                for e in lineage
                if e.source_field_id in seeds
                and asset in ins(a)
                and owner[e.target_field_id] in outs(a)
            ]
            severity = worst(*(seeds[s] for s in carried)) if carried else "warning"
            assets[a] = ("affected", severity, distance)
        else:
            assets[a] = ("possibly_affected", "warning", distance)
    return Expected(assets, columns)
