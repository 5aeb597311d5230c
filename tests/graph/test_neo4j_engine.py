"""The Neo4j engine against a real server, beyond the shared conformance suite (which runs on it
too, see conftest.py): statements split into many chunks, batched drops, states that move an
edge or a field, placeholders, and an idempotent schema. Skips without a server (the reason is
in tests/graph/neo4j_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest

from headwater.graph.model import (
    AssetState,
    FieldLineageState,
    FieldState,
    GraphData,
    GraphStats,
    Mutation,
    NodeRef,
    RelationshipState,
)
from headwater.graph.neo4j_engine import Neo4jGraphEngine
from headwater.graph.oracle import OracleGraphEngine
from tests.graph.checks import assert_same_data, outcome
from tests.graph.neo4j_server import connect

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[Neo4jGraphEngine]:
    """Chunks of two rows / ids, so every statement runs in several chunks and every drop in
    several transactions even on these small graphs."""
    created = await connect(chunk_size=2)
    yield created
    await created.close()


def _history() -> list[Mutation]:
    """A diamond with a cycle and a self-loop, columns with lineage, a deleted asset, an edge to
    an asset whose state never arrives, and a replayed relationship."""
    states: list[Mutation] = [AssetState(i, "table" if i % 2 else "job", 1) for i in range(1, 9)]
    states += [
        RelationshipState(1, 1, 2, "PRODUCES", 1),
        RelationshipState(2, 1, 3, "PRODUCES", 1),
        RelationshipState(3, 4, 2, "USES", 1),
        RelationshipState(4, 4, 3, "DEPENDS_ON", 1),
        RelationshipState(5, 4, 5, "PRODUCES", 1),
        RelationshipState(6, 5, 1, "PRODUCES", 1),  # cycle 1 -> ... -> 5 -> 1
        RelationshipState(7, 6, 6, "PRODUCES", 1),  # self-loop
        RelationshipState(8, 6, 99, "PRODUCES", 1),  # 99 never arrives
        RelationshipState(9, 7, 8, "RELATED_TO", 1),
        AssetState(8, "table", 2, deleted=True),
        RelationshipState(1, 1, 2, "PRODUCES", 2),
    ]
    states += [FieldState(10 + i, 1 + i % 5, 1) for i in range(10)]
    states += [FieldLineageState(i, 10 + i, 11 + i, "IDENTITY", 1) for i in range(9)]
    return states


async def _same_answers(engine: Neo4jGraphEngine, oracle: OracleGraphEngine, tenant: UUID) -> None:
    assert await engine.stats(tenant) == await oracle.stats(tenant)
    assert_same_data(await engine.snapshot(tenant), await oracle.snapshot(tenant))
    nodes = [NodeRef.asset(i) for i in range(1, 10)] + [NodeRef.field(i) for i in range(10, 21)]
    for node in nodes:
        for direction in ("upstream", "downstream"):
            expected = await outcome(oracle.traverse(tenant, node, direction, max_depth=None))
            actual = await outcome(engine.traverse(tenant, node, direction, max_depth=None))
            if isinstance(expected, tuple) or isinstance(actual, tuple):
                assert actual == expected
            else:
                assert actual.distances() == expected.distances()
        view = await outcome(engine.graph_view(tenant, node, node_cap=4, include_fields=True))
        assert view == await outcome(
            oracle.graph_view(tenant, node, node_cap=4, include_fields=True)
        )


async def test_chunked_apply_load_and_drop(engine: Neo4jGraphEngine) -> None:
    history = _history()
    applied, loaded = uuid4(), uuid4()
    oracle = OracleGraphEngine()
    try:
        result = await engine.apply(applied, history, position="p1")
        expected = await oracle.apply(applied, history, position="p1")
        assert result == expected
        await _same_answers(engine, oracle, applied)

        await engine.load(loaded, GraphData.from_states(history), position="p2")
        await oracle.load(loaded, GraphData.from_states(history), position="p2")
        await _same_answers(engine, oracle, loaded)
        assert await engine.position(loaded) == "p2"

        # a second load replaces the first entirely
        smaller = [AssetState(1, "table", 1), AssetState(2, "table", 1)]
        await engine.load(loaded, GraphData.from_states(smaller))
        assert await engine.stats(loaded) == GraphStats(2, 0, 0, 0)
        assert await engine.position(loaded) is None

        await engine.drop(applied)
        assert await engine.stats(applied) == GraphStats(0, 0, 0, 0)
        assert len(list((await engine.snapshot(applied)).states())) == 0
        assert await engine.position(applied) is None
    finally:
        await engine.drop(applied)
        await engine.drop(loaded)


async def test_newer_states_move_edges_and_fields(engine: Neo4jGraphEngine) -> None:
    tenant = uuid4()
    try:
        await engine.apply(
            tenant,
            [
                *(AssetState(i, "table", 1) for i in (1, 2, 3)),
                RelationshipState(1, 1, 2, "PRODUCES", 1),
                FieldState(10, 1, 1),
                FieldState(11, 2, 1),
                FieldState(12, 3, 1),
                FieldLineageState(1, 10, 11, "IDENTITY", 1),
            ],
        )
        await engine.apply(
            tenant,
            [
                RelationshipState(1, 3, 2, "PRODUCES", 2),
                FieldState(10, 2, 2),
                FieldLineageState(1, 10, 12, "AGGREGATE", 2),
            ],
        )
        snapshot = {
            type(s).__name__ + str(s.id): s for s in (await engine.snapshot(tenant)).states()
        }
        assert snapshot["RelationshipState1"] == RelationshipState(1, 3, 2, "PRODUCES", 2)
        assert snapshot["FieldLineageState1"] == FieldLineageState(1, 10, 12, "AGGREGATE", 2)
        assert isinstance(snapshot["FieldState10"], FieldState)
        assert snapshot["FieldState10"].asset_id == 2
        assert await engine.stats(tenant) == GraphStats(3, 3, 1, 1)
        downstream = await engine.traverse(tenant, NodeRef.asset(3), "downstream")
        assert downstream.distances() == {NodeRef.asset(2): 1}
        assert len(await engine.traverse(tenant, NodeRef.asset(1), "downstream")) == 0
        columns = await engine.closure(tenant, [NodeRef.asset(2)], steps=["asset_to_fields"])
        assert set(columns.distances()) == {NodeRef.asset(2), NodeRef.field(10), NodeRef.field(11)}
    finally:
        await engine.drop(tenant)


async def test_placeholders_wait_for_their_states(engine: Neo4jGraphEngine) -> None:
    tenant = uuid4()
    try:
        await engine.apply(
            tenant,
            [
                RelationshipState(1, 1, 2, "PRODUCES", 1),
                FieldState(10, 3, 1),
                FieldLineageState(1, 10, 11, "IDENTITY", 1),
            ],
        )
        assert await engine.stats(tenant) == GraphStats(0, 0, 0, 0)
        held = list((await engine.snapshot(tenant)).states())
        assert {type(s).__name__ for s in held} == {
            "RelationshipState",
            "FieldState",
            "FieldLineageState",
        }
        await engine.apply(
            tenant,
            [*(AssetState(i, "table", 1) for i in (1, 2, 3)), FieldState(11, 3, 1)],
        )
        assert await engine.stats(tenant) == GraphStats(3, 2, 1, 1)
    finally:
        await engine.drop(tenant)


async def test_the_schema_can_be_ensured_again(engine: Neo4jGraphEngine) -> None:
    await engine.ensure_schema()
    await engine.ensure_schema()
