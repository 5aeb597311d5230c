"""Memory-engine specifics: compaction, bulk loading, and answers at a scale networkx can't check
quickly (cross-checked against scipy's BFS)."""

from __future__ import annotations

import asyncio
import itertools
import threading
from uuid import UUID, uuid4

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import shortest_path

from headwater.graph._store import Compaction
from headwater.graph.memory import SMALL_WALK, MemoryGraphEngine
from headwater.graph.model import (
    AssetArrays,
    AssetState,
    ClosureStep,
    Direction,
    FieldArrays,
    FieldLineageArrays,
    FieldLineageState,
    FieldState,
    GraphData,
    Labels,
    Mutation,
    NodeRef,
    RelationshipArrays,
    RelationshipState,
    UnknownNode,
    sorted_unique,
)
from headwater.graph.oracle import OracleGraphEngine
from tests.graph.checks import assert_same_data, assert_traversal, outcome
from tests.graph.strategies import History, histories

ONE = np.array([1], np.int32)
NOT_DELETED = np.array([False])


async def _same_answers(
    expected: MemoryGraphEngine, actual: MemoryGraphEngine, tenant: UUID, history: History
) -> None:
    assert_same_data(await actual.snapshot(tenant), await expected.snapshot(tenant))
    assert await actual.stats(tenant) == await expected.stats(tenant)
    nodes = [NodeRef.asset(a) for a in history.asset_ids]
    nodes += [NodeRef.field(f) for f in history.field_ids]
    for node in nodes:
        for direction in ("upstream", "downstream"):
            a = await outcome(expected.closure(tenant, [node], direction))
            b = await outcome(actual.closure(tenant, [node], direction))
            if isinstance(a, tuple) or isinstance(b, tuple):
                assert a == b
            else:
                assert a.distances() == b.distances()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_compaction_at_any_point_preserves_answers(data: st.DataObject) -> None:
    history = data.draw(histories())
    never = MemoryGraphEngine(compact_min=10**9)
    # every walk vectorised here, in Python loops there: the two ways must agree too
    sometimes = MemoryGraphEngine(compact_min=10**9, small=0)
    tenant = uuid4()
    if history.bulk:
        await never.load(tenant, history.bulk_data())
        await sometimes.load(tenant, history.bulk_data())
    for batch in history.batched():
        await never.apply(tenant, batch)
        await sometimes.apply(tenant, batch)
        if data.draw(st.booleans()):
            sometimes.compact(tenant)
    await _same_answers(never, sometimes, tenant, history)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_a_compaction_built_while_writes_go_on_preserves_answers(
    data: st.DataObject,
) -> None:
    """A compaction's three steps (begin under the lock, build off it, finish under it) with
    writes between them: the answers are those of a graph never compacted, at every point."""
    history = data.draw(histories())
    never = MemoryGraphEngine(compact_min=10**9)
    phased = MemoryGraphEngine(compact_min=10**9, small=data.draw(st.sampled_from([0, 64])))
    tenant = uuid4()
    if history.bulk:
        await never.load(tenant, history.bulk_data())
        await phased.load(tenant, history.bulk_data())
    job: Compaction | None = None
    built = None
    for batch in history.batched():
        await never.apply(tenant, batch)
        await phased.apply(tenant, batch)
        if data.draw(st.booleans()):
            graph = phased._graph(tenant)
            if job is None:
                job = graph.begin_compaction()
            elif built is None:
                built = job.build()
            else:
                graph.finish_compaction(built)
                job = built = None
    await _same_answers(never, phased, tenant, history)
    if job is not None:
        graph = phased._graph(tenant)
        graph.finish_compaction(built or job.build())
        await _same_answers(never, phased, tenant, history)


async def test_compactions_run_in_the_background_and_fold_the_delta() -> None:
    rng = np.random.default_rng(3)
    mutations = _layered(rng)
    never = MemoryGraphEngine(compact_min=10**9)
    engine = MemoryGraphEngine(compact_min=64, compact_ratio=0.05)
    tenant = uuid4()
    threads_seen: set[str] = set()
    for lo in range(0, len(mutations), 97):
        batch = mutations[lo : lo + 97]
        await never.apply(tenant, batch)
        await engine.apply(tenant, batch)
        threads_seen |= {t.name for t in threading.enumerate() if t.name.startswith("graph-comp")}
    await engine.wait_for_compactions()
    graph = engine._graph(tenant)
    assert threads_seen, "no compaction ran in a thread of its own"
    assert not graph.compacting
    assert graph.base_size() > 0
    # a compaction that ends over the threshold (writes went on) starts the next one
    assert graph.delta_size() <= max(64, int(graph.base_size() * 0.05))
    starts = rng.choice(sorted({m.id for m in mutations if isinstance(m, AssetState)}), 40)
    for start in starts.tolist():
        for direction in ("upstream", "downstream"):
            a = await outcome(never.closure(tenant, [NodeRef.asset(start)], direction))
            b = await outcome(engine.closure(tenant, [NodeRef.asset(start)], direction))
            if isinstance(a, tuple) or isinstance(b, tuple):
                assert a == b  # a deleted start: unknown to both
            else:
                assert a.distances() == b.distances()
    await engine.close()


async def test_edge_with_new_endpoints_replaces_the_old_one_across_compactions() -> None:
    engine = MemoryGraphEngine(compact_min=10**9)
    tenant = uuid4()
    await engine.apply(
        tenant,
        [AssetState(i, "table", 1) for i in (1, 2, 3)] + [RelationshipState(10, 1, 2, "USES", 1)],
    )
    engine.compact(tenant)
    await engine.apply(tenant, [RelationshipState(10, 1, 3, "PRODUCES", 2)])
    result = await engine.traverse(tenant, NodeRef.asset(1), "downstream", max_depth=None)
    assert result.distances() == {NodeRef.asset(3): 1}
    # the old endpoints are gone: 2 no longer feeds 1
    assert len(await engine.traverse(tenant, NodeRef.asset(2), "downstream")) == 0
    engine.compact(tenant)
    late = await engine.apply(tenant, [RelationshipState(10, 1, 2, "USES", 1)])
    assert late.applied == 0
    snapshot = await engine.snapshot(tenant)
    assert snapshot.relationships.id.tolist() == [10]
    assert snapshot.relationships.target_id.tolist() == [3]
    assert (await engine.stats(tenant)).relationships == 1


def _random_data(
    rng: np.random.Generator, n: int, m: int, id_stride: int
) -> tuple[GraphData, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n assets (ids spaced by ``id_stride``), m relationships of mixed types, some deleted."""
    ids = np.arange(1, n + 1, dtype=np.int64) * id_stride
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    types = rng.integers(0, 4, m).astype(np.int16)  # DEPENDS_ON, PRODUCES, RELATED_TO, USES
    deleted_assets = rng.random(n) < 0.02
    deleted_rels = rng.random(m) < 0.05
    # shuffled rows: the loader must sort them
    order = rng.permutation(m)
    data = GraphData(
        AssetArrays(ids, np.zeros(n, np.int16), ("table",), np.ones(n, np.int32), deleted_assets),
        relationships=RelationshipArrays(
            np.arange(1, m + 1, dtype=np.int64)[order],
            ids[src][order],
            ids[dst][order],
            types[order],
            ("DEPENDS_ON", "PRODUCES", "RELATED_TO", "USES"),
            np.full(m, 3, np.int32),
            deleted_rels[order],
        ),
    )
    # the visible flow graph, upstream -> downstream, as positions
    ok = ~deleted_rels & ~deleted_assets[src] & ~deleted_assets[dst]
    forward = ok & (types == 1)
    backward = ok & ((types == 0) | (types == 3))
    a = np.concatenate([src[forward], dst[backward]])
    b = np.concatenate([dst[forward], src[backward]])
    return data, ids, a, b, deleted_assets


@pytest.mark.parametrize("small", [0, SMALL_WALK, 10**9])  # vectorised, default, all in Python
@pytest.mark.parametrize("id_stride", [1, 97])  # dense ids, and ids spread over a wide range
async def test_bulk_load_answers_match_scipy(id_stride: int, small: int) -> None:
    rng = np.random.default_rng(id_stride)
    n, m = 20_000, 60_000
    data, ids, a, b, deleted = _random_data(rng, n, m, id_stride)
    engine = MemoryGraphEngine(small=small)
    tenant = uuid4()
    await engine.load(tenant, data, position="42")
    assert await engine.position(tenant) == "42"
    flow = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    starts = [int(s) for s in rng.choice(np.flatnonzero(~deleted), 5, replace=False)]
    expected = shortest_path(flow, method="D", unweighted=True, indices=starts)
    reverse = shortest_path(flow.T.tocsr(), method="D", unweighted=True, indices=starts)
    for k, s in enumerate(starts):
        sides: tuple[tuple[Direction, np.ndarray], ...] = (
            ("downstream", expected[k]),
            ("upstream", reverse[k]),
        )
        for direction, table in sides:
            result = await engine.traverse(
                tenant, NodeRef.asset(int(ids[s])), direction, max_depth=None
            )
            reached = np.flatnonzero(np.isfinite(table))
            reached = reached[reached != s]
            want = dict(
                zip(ids[reached].tolist(), table[reached].astype(int).tolist(), strict=True)
            )
            got = {node.id: d for node, d in result.distances().items()}
            assert got == want
            # each tree edge comes from a node one hop nearer: the start (not reported) for the
            # first level, else the parent row, which the edge joins
            first = result.distance == 1
            assert (result.parent[first] == -1).all()
            parent = result.parent[~first]
            assert (parent >= 0).all()
            assert (result.distance[parent] == result.distance[~first] - 1).all()
            ends = np.stack([result.via_source[~first], result.via_target[~first]])
            assert ((ends == result.id[parent]) | (ends == result.id[~first])).all(axis=0).all()
    # the same answers after incremental updates on top of the loaded base
    await engine.apply(tenant, [AssetState(int(ids[starts[0]]), "table", 2, deleted=True)])
    with pytest.raises(LookupError):
        await engine.traverse(tenant, NodeRef.asset(int(ids[starts[0]])), "downstream")
    snapshot = await engine.snapshot(tenant)
    assert len(snapshot.relationships) == m
    assert bool(snapshot.assets.deleted[starts[0]])


async def test_load_takes_copies_and_rejects_duplicates() -> None:
    data = GraphData.from_states(
        [
            AssetState(1, "table", 1),
            AssetState(2, "table", 1),
            RelationshipState(5, 1, 2, "USES", 1),
        ]
    )
    engine = MemoryGraphEngine()
    tenant = uuid4()
    await engine.load(tenant, data)
    await engine.apply(tenant, [RelationshipState(5, 1, 2, "USES", 2, deleted=True)])
    assert data.relationships.deleted.tolist() == [False]  # the caller's arrays are untouched
    assert data.relationships.version.tolist() == [1]

    duplicated = GraphData(
        AssetArrays(
            np.array([1, 1]),
            np.zeros(2, np.int16),
            ("table",),
            np.ones(2, np.int32),
            np.zeros(2, bool),
        )
    )
    with pytest.raises(ValueError, match="duplicate asset ids"):
        await engine.load(tenant, duplicated)
    with pytest.raises(ValueError, match="codes outside"):
        FieldLineageArrays(
            np.array([1]), np.array([1]), np.array([2]), np.array([3]), ("X",), ONE, NOT_DELETED
        )
    with pytest.raises(ValueError, match="length"):
        FieldArrays(np.array([1, 2]), np.array([1]), np.array([1, 1]), np.array([False, False]))


async def test_writes_after_a_load_grow_the_tables_by_a_fraction_not_a_multiple() -> None:
    """A load sizes the tables exactly; the first write after it must not double the memory of
    a large tenant (every column of the edge and node tables would be copied at twice the size)."""
    n = 4_000
    data = GraphData.from_states(
        [AssetState(i, "table", 1) for i in range(1, n + 1)]
        + [RelationshipState(n + i, i, i % n + 1, "USES", 1) for i in range(1, n + 1)]
    )
    engine = MemoryGraphEngine()
    tenant = uuid4()
    await engine.load(tenant, data)
    # asset 1 starts to use a new asset
    new: list[Mutation] = [
        AssetState(10 * n, "table", 1),
        RelationshipState(10 * n + 1, 1, 10 * n, "USES", 1),
    ]
    await engine.apply(tenant, new)
    graph = engine._graph(tenant)
    for table in (graph.assets, graph.rels):
        assert table.n == n + 1
        assert len(table.ids) <= n + n // 8 + 16
        assert len(table.version) == len(table.ids)
    reached = await engine.traverse(tenant, NodeRef.asset(10 * n), "downstream", max_depth=1)
    assert reached.ids("asset").tolist() == [1]


async def test_fields_only_referenced_by_lineage_load_as_invisible_placeholders() -> None:
    data = GraphData(
        fields=FieldArrays(
            np.array([7]), np.array([1]), np.array([1], np.int32), np.array([False])
        ),
        field_lineage=FieldLineageArrays(
            np.array([1]),
            np.array([7]),
            np.array([8]),
            np.array([0]),
            ("IDENTITY",),
            ONE,
            NOT_DELETED,
        ),
    )
    engine = MemoryGraphEngine()
    tenant = uuid4()
    await engine.load(tenant, data)
    # field 7's asset 1 was never seen, field 8 neither: nothing is visible yet
    assert (await engine.stats(tenant)).fields == 0
    await engine.apply(tenant, [AssetState(1, "table", 1)])
    assert (await engine.stats(tenant)).fields == 1
    assert len(await engine.traverse(tenant, NodeRef.field(7), "downstream")) == 0


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-(2**31), 2**31 - 1)))
def test_sorted_unique_is_numpys_unique(values: list[int]) -> None:
    wide = sorted_unique(np.array(values, np.int64))
    narrow = sorted_unique(np.array(values, np.int32))
    assert wide.tolist() == narrow.tolist() == np.unique(np.array(values)).tolist()
    assert (wide.dtype, narrow.dtype) == (np.dtype(np.int64), np.dtype(np.int32))


@pytest.mark.parametrize("compacted", [False, True])  # ids found in the sorted index, or the delta
async def test_closures_from_many_starts_match_the_oracle(compacted: bool) -> None:
    """An impact wave starts from thousands of assets: the starts are looked up a layer at a
    time, and the invisible ones named in the order given."""
    states = _layered(np.random.default_rng(3))
    engine, oracle = MemoryGraphEngine(), OracleGraphEngine()
    tenant = uuid4()
    for graph in (engine, oracle):
        await graph.apply(tenant, states)
    if compacted:
        engine.compact(tenant)
    state = oracle.state(tenant)
    # assets and columns interleaved, some deleted (or their asset is), one never seen
    starts = [
        node
        for a in range(1, 321)
        for node in (NodeRef.asset(a), *([NodeRef.field(a)] if a % 3 == 0 else []))
    ]
    starts.append(NodeRef.asset(10**6))
    visible = [node for node in starts if state.is_visible(node)]
    hidden = [node for node in starts if not state.is_visible(node)]
    assert len(hidden) > 2  # deleted, or in a deleted asset, and the one never seen
    with pytest.raises(UnknownNode) as caught:
        await engine.closure(tenant, starts)
    assert caught.value.nodes == tuple(hidden)
    walks: tuple[list[ClosureStep], ...] = (["relationships"], ["field_lineage", "field_to_asset"])
    for steps in walks:
        actual = await engine.closure(tenant, visible, steps=steps, max_depth=2)
        expected = await oracle.closure(tenant, visible, steps=steps, max_depth=2)
        assert actual.distances() == expected.distances()
        assert actual.starts == tuple(visible)


def test_labels_sequence() -> None:
    labels = Labels(np.array([1, 0, 1]), ("A", "B"))
    assert list(labels) == ["B", "A", "B"]
    assert labels[-1] == "B"
    assert list(labels[1:]) == ["A", "B"]
    assert len(labels) == 3


async def test_concurrent_queries_from_threads_see_consistent_results() -> None:
    """Queries hold the tenant lock, so worker threads may share the engine and its scratch."""
    engine = MemoryGraphEngine()
    tenant = uuid4()
    chain: list[Mutation] = [AssetState(i, "table", 1) for i in range(1, 201)]
    chain += [RelationshipState(i, i, i + 1, "PRODUCES", 1) for i in range(1, 200)]
    await engine.apply(tenant, chain)

    def walk(start: int) -> int:
        result = asyncio.run(
            engine.traverse(tenant, NodeRef.asset(start), "downstream", max_depth=None)
        )
        return len(result)

    sizes = await asyncio.gather(*(asyncio.to_thread(walk, s) for s in range(1, 41)))
    assert sizes == [200 - s for s in range(1, 41)]


def _layered(rng: np.random.Generator) -> list[Mutation]:
    """A few hundred assets and fields in layers, each fed by one to four of the layer before
    (diamonds, parallel edges), some assets and edges deleted: walks of a few nodes to a few
    hundred."""
    states: list[Mutation] = []
    layers = [list(range(1 + 40 * k, 41 + 40 * k)) for k in range(8)]
    for layer in layers:
        for a in layer:
            states.append(
                AssetState(a, "table" if a % 3 else "view", 1, deleted=rng.random() < 0.03)
            )
            states.append(FieldState(a, a, 1))  # one column per asset, same id
    edge = 0
    for upper, lower in itertools.pairwise(layers):
        for a in lower:
            for b in rng.choice(upper, int(rng.integers(1, 5))).tolist():
                edge += 1
                deleted = rng.random() < 0.05
                states.append(RelationshipState(edge, b, a, "PRODUCES", 1, deleted=deleted))
                states.append(FieldLineageState(edge, b, a, "IDENTITY", 1, deleted=deleted))
    return states


@pytest.mark.parametrize("small", [0, SMALL_WALK, 10**9])  # vectorised, default, all in Python
async def test_walks_of_every_size_match_the_oracle(small: int) -> None:
    """Results of a few rows and of hundreds, filtered and capped, assembled either way."""
    rng = np.random.default_rng(small % 1000)
    states = _layered(rng)
    engine, oracle = MemoryGraphEngine(small=small), OracleGraphEngine()
    tenant = uuid4()
    for graph in (engine, oracle):
        await graph.apply(tenant, states)
    flow = oracle.state(tenant).flow_graph("asset")
    for start in (1, 5, 121, 200, 319):
        cases: tuple[tuple[Direction, int | None, list[str] | None], ...] = (
            ("downstream", None, None),
            ("downstream", 40, None),
            ("downstream", None, ["table"]),
            ("upstream", 7, ["view"]),
        )
        for direction, limit, kinds in cases:
            node = NodeRef.asset(start)
            actual = await outcome(
                engine.traverse(
                    tenant, node, direction, max_depth=None, asset_types=kinds, limit=limit
                )
            )
            expected = await outcome(
                oracle.traverse(
                    tenant, node, direction, max_depth=None, asset_types=kinds, limit=limit
                )
            )
            if isinstance(expected, tuple) or isinstance(actual, tuple):
                assert actual == expected
                continue
            graph = flow if direction == "downstream" else flow.reverse(copy=False)
            assert_traversal(actual, expected, graph, [node], None)
        closure = await outcome(engine.closure(tenant, [NodeRef.field(start)], limit=300))
        reference = await outcome(oracle.closure(tenant, [NodeRef.field(start)], limit=300))
        if isinstance(closure, tuple) or isinstance(reference, tuple):
            assert closure == reference
        else:
            assert closure.distances() == reference.distances()
            assert closure.truncated == reference.truncated
