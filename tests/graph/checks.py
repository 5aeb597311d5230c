"""Assertions shared by the graph tests: compare an engine's answer with the oracle's, and check
the parts engines may legitimately choose differently (BFS tree edges, which shortest path)
against the graph itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Collection
from typing import TypeVar
from uuid import UUID, uuid4

import networkx as nx

from headwater.graph.engine import GraphEngine
from headwater.graph.model import Edge, GraphData, NodeRef, Traversal, UnknownNode
from headwater.graph.oracle import OracleGraphEngine
from tests.graph.strategies import History

T = TypeVar("T")


async def build(engine: GraphEngine, history: History) -> tuple[UUID, OracleGraphEngine]:
    """A fresh tenant holding ``history`` in ``engine``, and an oracle holding the same."""
    tenant = uuid4()
    oracle = OracleGraphEngine()
    if history.bulk:
        data = history.bulk_data()
        await engine.load(tenant, data, position="bulk")
        await oracle.load(tenant, data, position="bulk")
    for batch in history.batched():
        await engine.apply(tenant, batch)
        await oracle.apply(tenant, batch)
    return tenant, oracle


async def outcome(call: Awaitable[T]) -> T | tuple[str, tuple[NodeRef, ...]]:
    """The call's result, or ("unknown", nodes) when it raised UnknownNode."""
    try:
        return await call
    except UnknownNode as e:
        return ("unknown", tuple(sorted(e.nodes)))


def assert_traversal(
    actual: Traversal,
    expected: Traversal,
    graph: nx.MultiDiGraph,
    starts: Collection[NodeRef],
    max_depth: int | None,
) -> None:
    """Same nodes, order, distances and truncation as the oracle; every tree edge is an edge of
    the (query-oriented) ``graph`` from a node one hop nearer, and parent rows agree with it."""
    assert actual.nodes() == expected.nodes()
    assert actual.distance.tolist() == expected.distance.tolist()
    assert actual.truncated == expected.truncated
    full = nx.multi_source_dijkstra_path_length(graph, set(starts), cutoff=max_depth)
    reported = set(actual.nodes())
    for row, reached in enumerate(actual):
        if reached.distance == 0:
            assert reached.via is None
            assert actual.parent[row] == -1
            continue
        via = reached.via
        assert via is not None
        nearer = via.source if via.target == reached.node else via.target
        assert full[nearer] == reached.distance - 1
        candidates = graph.get_edge_data(nearer, reached.node, default={})
        assert any(d["edge"] == via for d in candidates.values()), via
        parent = int(actual.parent[row])
        if parent >= 0:
            assert actual.node(parent) == nearer
        else:
            assert nearer not in reported
        if nearer in reported:
            assert actual.path_to(reached.node)[-1] == via


def assert_flow_path(
    path: list[Edge], source: NodeRef, target: NodeRef, graph: nx.MultiDiGraph
) -> None:
    """``path`` runs along the flow from source to target over edges of ``graph``."""
    at = source
    for edge in path:
        ends = edge.flow()
        assert ends is not None
        assert ends[0] == at
        assert graph.has_edge(ends[0], ends[1], key=edge.id)
        assert graph.edges[ends[0], ends[1], edge.id]["edge"] == edge
        at = ends[1]
    assert at == target


def assert_same_data(actual: GraphData, expected: GraphData) -> None:
    """Equal entity states (display names aside: engines need not keep them)."""

    def key(data: GraphData) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for s in data.states():
            fields = tuple(
                (f.name, getattr(s, f.name))
                for f in dataclasses.fields(s)
                if f.name not in ("name", "qualified_name")
            )
            rows.append((type(s).__name__, *fields))
        return sorted(rows, key=repr)

    assert key(actual) == key(expected)
