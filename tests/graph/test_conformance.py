"""The graph engine conformance suite: every engine in ``ENGINE_PARAMS`` answers like the
networkx oracle, on random histories (hypothesis) and on hand-built graphs with known answers."""

from __future__ import annotations

import random
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.graph.engine import GraphEngine
from headwater.graph.model import (
    AssetState,
    ClosureStep,
    Direction,
    Edge,
    FieldLineageState,
    FieldState,
    GraphData,
    GraphStats,
    InvalidQuery,
    Mutation,
    NodeRef,
    RelationshipState,
    UnknownNode,
)
from tests.graph.checks import assert_flow_path, assert_same_data, assert_traversal, build, outcome
from tests.graph.strategies import ASSET_TYPES, RELATIONSHIP_TYPES, History, histories

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STEPS: tuple[ClosureStep, ...] = (
    "relationships",
    "field_lineage",
    "field_to_asset",
    "asset_to_fields",
)


def _node(data: st.DataObject, history: History) -> NodeRef:
    pick_field = bool(data.draw(st.integers(0, 1)))
    if history.field_ids and pick_field:
        return NodeRef.field(data.draw(st.sampled_from(history.field_ids)))
    return NodeRef.asset(data.draw(st.sampled_from(history.asset_ids)))


def _types(data: st.DataObject, choices: tuple[str, ...]) -> list[str] | None:
    if data.draw(st.booleans()):
        return None
    return data.draw(st.lists(st.sampled_from(choices), unique=True, max_size=len(choices)))


_depths = st.one_of(st.none(), st.integers(0, 3))
_directions: st.SearchStrategy[Direction] = st.sampled_from(["upstream", "downstream"])


# --- properties against the oracle --------------------------------------------------------------


@PROPERTY
@given(data=st.data())
async def test_traverse_matches_oracle(engine: GraphEngine, data: st.DataObject) -> None:
    history = data.draw(histories())
    tenant, oracle = await build(engine, history)
    try:
        for _ in range(4):
            start = _node(data, history)
            direction = data.draw(_directions)
            max_depth = data.draw(_depths)
            types = _types(data, RELATIONSHIP_TYPES)
            asset_types = _types(data, ASSET_TYPES)
            limit = data.draw(st.one_of(st.none(), st.integers(1, 4)))
            expected = await outcome(
                oracle.traverse(
                    tenant,
                    start,
                    direction,
                    max_depth=max_depth,
                    relationship_types=types,
                    asset_types=asset_types,
                    limit=limit,
                )
            )
            actual = await outcome(
                engine.traverse(
                    tenant,
                    start,
                    direction,
                    max_depth=max_depth,
                    relationship_types=types,
                    asset_types=asset_types,
                    limit=limit,
                )
            )
            if isinstance(expected, tuple):
                assert actual == expected
                continue
            assert not isinstance(actual, tuple)
            graph = oracle.state(tenant).flow_graph(start.kind, types)
            graph = graph if direction == "downstream" else graph.reverse(copy=False)
            assert_traversal(actual, expected, graph, [start], max_depth)
    finally:
        await engine.drop(tenant)


@PROPERTY
@given(data=st.data())
async def test_closure_matches_oracle(engine: GraphEngine, data: st.DataObject) -> None:
    history = data.draw(histories())
    tenant, oracle = await build(engine, history)
    try:
        for _ in range(3):
            state = oracle.state(tenant)
            candidates = [
                *(NodeRef.asset(a) for a in sorted(state.visible_assets())),
                *(NodeRef.field(f) for f in sorted(state.visible_fields())),
            ]
            if not candidates:
                break
            starts = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3))
            direction = data.draw(_directions)
            steps = data.draw(st.lists(st.sampled_from(STEPS), unique=True))
            types = _types(data, RELATIONSHIP_TYPES)
            max_depth = data.draw(_depths)
            limit = data.draw(st.one_of(st.none(), st.integers(1, 6)))
            expected = await oracle.closure(
                tenant,
                starts,
                direction,
                steps=steps,
                relationship_types=types,
                max_depth=max_depth,
                limit=limit,
            )
            actual = await engine.closure(
                tenant,
                starts,
                direction,
                steps=steps,
                relationship_types=types,
                max_depth=max_depth,
                limit=limit,
            )
            assert actual.starts == tuple(dict.fromkeys(starts))
            graph = state.closure_graph(steps, types, direction)
            assert_traversal(actual, expected, graph, starts, max_depth)
    finally:
        await engine.drop(tenant)


@PROPERTY
@given(data=st.data())
async def test_paths_match_oracle(engine: GraphEngine, data: st.DataObject) -> None:
    history = data.draw(histories(max_relationships=14, max_lineage=12))
    tenant, oracle = await build(engine, history)
    try:
        for _ in range(4):
            source = _node(data, history)
            ids = history.asset_ids if source.kind == "asset" else history.field_ids
            target = NodeRef(source.kind, data.draw(st.sampled_from(ids)))
            types = _types(data, RELATIONSHIP_TYPES)
            max_depth = data.draw(st.integers(0, 5))
            max_paths = data.draw(st.integers(1, 6))

            expected_short = await outcome(
                oracle.shortest_path(tenant, source, target, relationship_types=types)
            )
            actual_short = await outcome(
                engine.shortest_path(tenant, source, target, relationship_types=types)
            )
            if isinstance(expected_short, tuple):
                assert actual_short == expected_short
                continue
            graph = oracle.state(tenant).flow_graph(source.kind, types)
            if expected_short is None:
                assert actual_short is None
            else:
                assert isinstance(actual_short, list)
                assert len(actual_short) == len(expected_short)
                assert_flow_path(actual_short, source, target, graph)
            bounded = await engine.shortest_path(
                tenant, source, target, relationship_types=types, max_depth=max_depth
            )
            if expected_short is None or len(expected_short) > max_depth:
                assert bounded is None
            else:
                assert bounded is not None
                assert len(bounded) == len(expected_short)

            expected = await oracle.all_paths(
                tenant,
                source,
                target,
                max_depth=max_depth,
                max_paths=max_paths,
                relationship_types=types,
            )
            actual = await engine.all_paths(
                tenant,
                source,
                target,
                max_depth=max_depth,
                max_paths=max_paths,
                relationship_types=types,
            )
            assert actual == expected
    finally:
        await engine.drop(tenant)


@PROPERTY
@given(data=st.data())
async def test_graph_view_matches_oracle(engine: GraphEngine, data: st.DataObject) -> None:
    history = data.draw(histories())
    tenant, oracle = await build(engine, history)
    try:
        for _ in range(3):
            center = _node(data, history)
            up, down = data.draw(_depths), data.draw(_depths)
            cap = data.draw(st.integers(1, 8))
            with_fields = data.draw(st.booleans())
            types = _types(data, RELATIONSHIP_TYPES)
            expected = await outcome(
                oracle.graph_view(
                    tenant,
                    center,
                    upstream_depth=up,
                    downstream_depth=down,
                    node_cap=cap,
                    include_fields=with_fields,
                    relationship_types=types,
                )
            )
            actual = await outcome(
                engine.graph_view(
                    tenant,
                    center,
                    upstream_depth=up,
                    downstream_depth=down,
                    node_cap=cap,
                    include_fields=with_fields,
                    relationship_types=types,
                )
            )
            assert actual == expected
    finally:
        await engine.drop(tenant)


@PROPERTY
@given(data=st.data())
async def test_state_matches_oracle(engine: GraphEngine, data: st.DataObject) -> None:
    history = data.draw(histories())
    tenant, oracle = await build(engine, history)
    try:
        assert await engine.stats(tenant) == await oracle.stats(tenant)
        assert_same_data(await engine.snapshot(tenant), await oracle.snapshot(tenant))
        assert await engine.position(tenant) == ("bulk" if history.bulk else None)
    finally:
        await engine.drop(tenant)


@PROPERTY
@given(data=st.data())
async def test_replays_and_reordering_change_nothing(
    engine: GraphEngine, data: st.DataObject
) -> None:
    history = data.draw(histories(shuffle=False))
    in_order = uuid4()
    replayed = uuid4()
    try:
        commits = list(history.mutations)
        await engine.apply(in_order, commits)
        # the same events shuffled (any order within and across entities), delivered twice
        shuffled = data.draw(st.permutations(commits))
        first = await engine.apply(replayed, shuffled)
        again = await engine.apply(replayed, data.draw(st.permutations(commits)))
        assert first.applied + first.ignored == len(commits)
        assert again.applied == 0
        assert again.ignored == len(commits)
        assert_same_data(await engine.snapshot(replayed), await engine.snapshot(in_order))
        assert await engine.stats(replayed) == await engine.stats(in_order)
        for asset in history.asset_ids:
            for direction in ("upstream", "downstream"):
                a = await outcome(
                    engine.traverse(in_order, NodeRef.asset(asset), direction, max_depth=None)
                )
                b = await outcome(
                    engine.traverse(replayed, NodeRef.asset(asset), direction, max_depth=None)
                )
                if isinstance(a, tuple) or isinstance(b, tuple):
                    assert a == b
                else:
                    assert a.distances() == b.distances()
    finally:
        await engine.drop(in_order)
        await engine.drop(replayed)


# --- known answers --------------------------------------------------------------------------------


def asset(id: int, version: int = 1, type: str = "table", deleted: bool = False) -> AssetState:
    return AssetState(id, type, version, name=f"a{id}", qualified_name=f"db.a{id}", deleted=deleted)


def rel(
    id: int,
    source: int,
    target: int,
    type: str = "PRODUCES",
    version: int = 1,
    deleted: bool = False,
) -> RelationshipState:
    return RelationshipState(id, source, target, type, version, deleted)


async def _downstream(engine: GraphEngine, tenant: UUID, id: int) -> dict[int, int]:
    result = await engine.traverse(tenant, NodeRef.asset(id), "downstream", max_depth=None)
    return {n.id: d for n, d in result.distances().items()}


async def _upstream(engine: GraphEngine, tenant: UUID, id: int) -> dict[int, int]:
    result = await engine.traverse(tenant, NodeRef.asset(id), "upstream", max_depth=None)
    return {n.id: d for n, d in result.distances().items()}


async def test_flow_direction_per_relationship_type(engine: GraphEngine) -> None:
    # 1 job PRODUCES 2; 3 USES 2; 4 DEPENDS_ON 3; 5 CONTAINS 4; 2 RELATED_TO 6
    tenant = uuid4()
    await engine.apply(
        tenant,
        [
            *(asset(i) for i in range(1, 7)),
            rel(1, 1, 2, "PRODUCES"),
            rel(2, 3, 2, "USES"),
            rel(3, 4, 3, "DEPENDS_ON"),
            rel(4, 5, 4, "CONTAINS"),
            rel(5, 2, 6, "RELATED_TO"),
        ],
    )
    try:
        assert await _downstream(engine, tenant, 1) == {2: 1, 3: 2, 4: 3}
        assert await _upstream(engine, tenant, 4) == {3: 1, 2: 2, 1: 3}
        assert await _downstream(engine, tenant, 5) == {}
        assert await _downstream(engine, tenant, 6) == {}
        only_produces = await engine.traverse(
            tenant,
            NodeRef.asset(1),
            "downstream",
            max_depth=None,
            relationship_types=["PRODUCES"],
        )
        assert [n.id for n in only_produces.nodes()] == [2]
        one_hop = await engine.traverse(tenant, NodeRef.asset(2), "downstream")
        assert [(r.node.id, r.distance, r.via) for r in one_hop] == [
            (3, 1, Edge("relationship", 2, NodeRef.asset(3), NodeRef.asset(2), "USES"))
        ]
        view = await engine.graph_view(tenant, NodeRef.asset(2))
        assert [e.id for e in view.edges] == [1, 2]  # 6 is related, not downstream
        assert {
            (n.node.id, n.side, n.hidden_upstream, n.hidden_downstream) for n in view.nodes
        } == {
            (2, "center", 0, 0),
            (1, "upstream", 0, 0),
            (3, "downstream", 0, 1),
        }
    finally:
        await engine.drop(tenant)


async def test_version_guard_and_tombstones(engine: GraphEngine) -> None:
    tenant = uuid4()
    try:
        await engine.apply(tenant, [asset(1), asset(2), rel(10, 1, 2, version=2)])
        stale = await engine.apply(tenant, [rel(10, 1, 2, version=1, deleted=True), asset(1, 1)])
        assert (stale.applied, stale.ignored) == (0, 2)
        assert await _downstream(engine, tenant, 1) == {2: 1}
        # a versioned delete wins over a late, older upsert
        await engine.apply(tenant, [rel(10, 1, 2, version=4, deleted=True)])
        late = await engine.apply(tenant, [rel(10, 1, 2, version=3)])
        assert late.applied == 0
        assert await _downstream(engine, tenant, 1) == {}
        # re-created: same id, higher version
        await engine.apply(tenant, [rel(10, 1, 2, version=5)])
        assert await _downstream(engine, tenant, 1) == {2: 1}
        equal = await engine.apply(tenant, [rel(10, 1, 2, version=5, deleted=True)])
        assert equal.applied == 0
        assert await _downstream(engine, tenant, 1) == {2: 1}
    finally:
        await engine.drop(tenant)


async def test_soft_deleted_asset_hides_its_edges_and_fields_until_restored(
    engine: GraphEngine,
) -> None:
    tenant = uuid4()
    try:
        await engine.apply(
            tenant,
            [
                asset(1),
                asset(2),
                asset(3),
                rel(10, 1, 2),
                rel(11, 2, 3),
                FieldState(100, 1, 1),
                FieldState(200, 2, 1),
                FieldState(300, 3, 1),
                FieldLineageState(1, 100, 200, "IDENTITY", 1),
                FieldLineageState(2, 200, 300, "IDENTITY", 1),
            ],
        )
        before = await engine.stats(tenant)
        assert before == GraphStats(3, 3, 2, 2)
        await engine.apply(tenant, [asset(2, version=2, deleted=True)])
        assert await _downstream(engine, tenant, 1) == {}
        assert await engine.stats(tenant) == GraphStats(2, 2, 0, 0)
        for node in (NodeRef.asset(2), NodeRef.field(200)):
            with pytest.raises(UnknownNode):
                await engine.traverse(tenant, node, "downstream")
        column = await engine.traverse(tenant, NodeRef.field(100), "downstream", max_depth=None)
        assert len(column) == 0
        # an older restore is stale; a newer one brings everything back
        await engine.apply(tenant, [asset(2, version=2)])
        assert await _downstream(engine, tenant, 1) == {}
        await engine.apply(tenant, [asset(2, version=3)])
        assert await _downstream(engine, tenant, 1) == {2: 1, 3: 2}
        assert await engine.stats(tenant) == before
        column = await engine.traverse(tenant, NodeRef.field(100), "downstream", max_depth=None)
        assert column.distances() == {NodeRef.field(200): 1, NodeRef.field(300): 2}
    finally:
        await engine.drop(tenant)


async def test_edges_wait_for_their_nodes(engine: GraphEngine) -> None:
    """An edge delivered before its endpoints' states is held but invisible until they arrive."""
    tenant = uuid4()
    try:
        await engine.apply(tenant, [rel(10, 1, 2), asset(1)])
        assert await _downstream(engine, tenant, 1) == {}
        with pytest.raises(UnknownNode):
            await engine.traverse(tenant, NodeRef.asset(2), "upstream")
        await engine.apply(tenant, [asset(2)])
        assert await _downstream(engine, tenant, 1) == {2: 1}
    finally:
        await engine.drop(tenant)


async def test_tenants_never_see_each_other(engine: GraphEngine) -> None:
    a, b = uuid4(), uuid4()
    try:
        await engine.apply(a, [asset(1), asset(2), asset(3), rel(10, 1, 2), rel(11, 2, 3)])
        await engine.apply(b, [asset(1), asset(2), rel(10, 2, 1), asset(4)])
        assert await _downstream(engine, a, 1) == {2: 1, 3: 2}
        assert await _downstream(engine, b, 1) == {}
        assert await _downstream(engine, b, 2) == {1: 1}
        with pytest.raises(UnknownNode):
            await engine.traverse(b, NodeRef.asset(3), "upstream")
        with pytest.raises(UnknownNode):
            await engine.traverse(a, NodeRef.asset(4), "upstream")
        with pytest.raises(UnknownNode):
            await engine.closure(b, [NodeRef.asset(3)])
        assert await engine.shortest_path(b, NodeRef.asset(1), NodeRef.asset(2)) is None
        assert await engine.stats(a) == GraphStats(3, 0, 2, 0)
        assert await engine.stats(b) == GraphStats(3, 0, 1, 0)
        await engine.drop(a)
        assert await engine.stats(a) == GraphStats(0, 0, 0, 0)
        assert await _downstream(engine, b, 2) == {1: 1}
    finally:
        await engine.drop(a)
        await engine.drop(b)


async def test_truncation_flags(engine: GraphEngine) -> None:
    # 1 fans out to 2..6, each of which feeds 7: five paths 1 -> 7
    tenant = uuid4()
    mutations: list[Mutation] = [asset(i) for i in range(1, 8)]
    for i in range(2, 7):
        mutations += [rel(i, 1, i), rel(10 + i, i, 7)]
    await engine.apply(tenant, mutations)
    start = NodeRef.asset(1)
    try:
        full = await engine.traverse(tenant, start, "downstream", max_depth=None, limit=6)
        assert not full.truncated
        assert len(full) == 6
        cut = await engine.traverse(tenant, start, "downstream", max_depth=None, limit=5)
        assert cut.truncated
        assert [n.id for n in cut.nodes()] == [2, 3, 4, 5, 6]
        cut = await engine.traverse(tenant, start, "downstream", max_depth=None, limit=2)
        assert cut.truncated
        assert [n.id for n in cut.nodes()] == [2, 3]

        paths = await engine.all_paths(tenant, start, NodeRef.asset(7), max_depth=2, max_paths=5)
        assert not paths.truncated
        assert len(paths.paths) == 5
        paths = await engine.all_paths(tenant, start, NodeRef.asset(7), max_depth=2, max_paths=3)
        assert paths.truncated
        assert [[e.id for e in p] for p in paths.paths] == [[2, 12], [3, 13], [4, 14]]
        assert (await engine.all_paths(tenant, start, start, max_depth=3, max_paths=1)).paths == (
            (),
        )
        assert (
            await engine.all_paths(tenant, start, NodeRef.asset(7), max_depth=1, max_paths=9)
        ).paths == ()

        view = await engine.graph_view(tenant, start, downstream_depth=2, node_cap=7)
        assert not view.truncated
        assert len(view.nodes) == 7
        view = await engine.graph_view(tenant, start, downstream_depth=2, node_cap=4)
        assert view.truncated
        assert [n.node.id for n in view.nodes] == [1, 2, 3, 4]
        assert [(n.hidden_upstream, n.hidden_downstream) for n in view.nodes] == [
            (0, 2),
            (0, 1),
            (0, 1),
            (0, 1),
        ]
        assert [e.id for e in view.edges] == [2, 3, 4]

        closure = await engine.closure(tenant, [start], limit=3)
        assert closure.truncated
        assert len(closure) == 3
        closure = await engine.closure(tenant, [start], limit=7)
        assert not closure.truncated
        assert len(closure) == 7
        assert await engine.shortest_path(tenant, start, start) == []
        path = await engine.shortest_path(tenant, start, NodeRef.asset(7))
        assert path is not None
        assert len(path) == 2
        assert await engine.shortest_path(tenant, start, NodeRef.asset(7), max_depth=1) is None
    finally:
        await engine.drop(tenant)


async def test_impact_closure_crosses_columns_and_tables(engine: GraphEngine) -> None:
    """Column 11 of table 1 feeds column 21 of table 2; table 2 feeds dashboard 3 (no column
    lineage). Dropping column 11 reaches column 21, table 2 and the dashboard, with a path."""
    tenant = uuid4()
    await engine.apply(
        tenant,
        [
            asset(1),
            asset(2),
            asset(3, type="dashboard"),
            asset(4),
            rel(1, 2, 1, "DEPENDS_ON"),
            rel(2, 3, 2, "USES"),
            rel(3, 1, 4, "PRODUCES"),
            FieldState(11, 1, 1),
            FieldState(12, 1, 1),
            FieldState(21, 2, 1),
            FieldLineageState(1, 11, 21, "IDENTITY", 1),
        ],
    )
    try:
        impact = await engine.closure(
            tenant,
            [NodeRef.field(11)],
            steps=["field_lineage", "field_to_asset", "relationships"],
        )
        assert impact.distances() == {
            NodeRef.field(11): 0,
            NodeRef.asset(1): 1,
            NodeRef.field(21): 1,
            NodeRef.asset(2): 2,
            NodeRef.asset(4): 2,
            NodeRef.asset(3): 3,
        }
        path = impact.path_to(NodeRef.asset(3))
        assert [(e.kind, e.id) for e in path] == [
            ("field_lineage", 1),
            ("contains", 21),
            ("relationship", 2),
        ]
        dropped_table = await engine.closure(
            tenant, [NodeRef.asset(1)], steps=["asset_to_fields", "field_lineage"]
        )
        assert set(dropped_table.distances()) == {
            NodeRef.asset(1),
            NodeRef.field(11),
            NodeRef.field(12),
            NodeRef.field(21),
        }
        upstream = await engine.closure(tenant, [NodeRef.asset(3)], "upstream")
        assert upstream.distances() == {
            NodeRef.asset(3): 0,
            NodeRef.asset(2): 1,
            NodeRef.asset(1): 2,
            NodeRef.field(21): 2,
            NodeRef.field(11): 3,
            NodeRef.field(12): 3,
        }
        columns_only = await engine.closure(
            tenant, [NodeRef.field(21)], "upstream", steps=["field_lineage"]
        )
        assert columns_only.distances() == {NodeRef.field(21): 0, NodeRef.field(11): 1}
    finally:
        await engine.drop(tenant)


async def test_unknown_nodes_and_impossible_queries(engine: GraphEngine) -> None:
    tenant = uuid4()
    await engine.apply(tenant, [asset(1), asset(2), FieldState(1, 1, 1), rel(1, 1, 2)])
    a, f = NodeRef.asset(1), NodeRef.field(1)
    try:
        with pytest.raises(UnknownNode) as caught:
            await engine.traverse(tenant, NodeRef.asset(99), "downstream")
        assert caught.value.nodes == (NodeRef.asset(99),)
        with pytest.raises(UnknownNode):
            await engine.traverse(tenant, NodeRef.field(2), "downstream")
        with pytest.raises(UnknownNode):
            await engine.closure(tenant, [a, NodeRef.field(5)])
        with pytest.raises(UnknownNode):
            await engine.graph_view(tenant, NodeRef.asset(3))
        with pytest.raises(UnknownNode):
            await engine.all_paths(tenant, a, NodeRef.asset(3), max_depth=2, max_paths=2)
        with pytest.raises(InvalidQuery):
            await engine.traverse(tenant, a, "downstream", max_depth=-1)
        with pytest.raises(InvalidQuery):
            await engine.traverse(tenant, a, "downstream", limit=0)
        with pytest.raises(InvalidQuery):
            await engine.traverse(tenant, a, "downstream", relationship_types="USES")
        with pytest.raises(InvalidQuery):
            await engine.shortest_path(tenant, a, f)
        with pytest.raises(InvalidQuery):
            await engine.all_paths(tenant, a, a, max_depth=2, max_paths=0)
        with pytest.raises(InvalidQuery):
            await engine.graph_view(tenant, a, node_cap=0)
        with pytest.raises(InvalidQuery):
            await engine.closure(tenant, [a], steps=["sideways"])  # type: ignore[list-item]
        assert len(await engine.traverse(tenant, a, "downstream", max_depth=0)) == 0
        assert len(await engine.closure(tenant, [])) == 0
    finally:
        await engine.drop(tenant)


async def test_load_snapshot_round_trip(engine: GraphEngine) -> None:
    rng = random.Random(7)
    mutations: list[Mutation] = [asset(i, type=rng.choice(ASSET_TYPES)) for i in range(1, 40)]
    mutations += [asset(5, version=2, deleted=True)]
    mutations += [
        rel(i, rng.randint(1, 39), rng.randint(1, 39), rng.choice(RELATIONSHIP_TYPES), 1 + i % 3)
        for i in range(1, 120)
    ]
    mutations += [FieldState(i, rng.randint(1, 39), 1) for i in range(1, 60)]
    mutations += [
        FieldLineageState(i, rng.randint(1, 59), rng.randint(1, 59), "IDENTITY", 1, i % 7 == 0)
        for i in range(1, 90)
    ]
    source, copy = uuid4(), uuid4()
    try:
        await engine.apply(source, mutations, position="p42")
        assert await engine.position(source) == "p42"
        snapshot = await engine.snapshot(source)
        await engine.load(copy, snapshot, position="p42")
        assert await engine.position(copy) == "p42"
        assert_same_data(await engine.snapshot(copy), snapshot)
        assert_same_data(snapshot, GraphData.from_states(mutations))
        assert await engine.stats(copy) == await engine.stats(source)
        for i in range(1, 40):
            for direction in ("upstream", "downstream"):
                a = await outcome(
                    engine.traverse(source, NodeRef.asset(i), direction, max_depth=None)
                )
                b = await outcome(
                    engine.traverse(copy, NodeRef.asset(i), direction, max_depth=None)
                )
                assert (a if isinstance(a, tuple) else a.distances()) == (
                    b if isinstance(b, tuple) else b.distances()
                )
        # the loaded copy keeps taking updates, version-guarded
        result = await engine.apply(copy, [asset(5, version=2), asset(5, version=3)])
        assert (result.applied, result.ignored) == (1, 1)
    finally:
        await engine.drop(source)
        await engine.drop(copy)
