"""The impact rules (headwater.graph.impact) on hand-built graphs with known answers, and on random
graphs against an independent networkx computation of the same rules, over both the memory
engine and the networkx oracle engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.graph.engine import GraphEngine
from headwater.graph.impact import (
    AffectedAsset,
    Evidence,
    GraphDataEvidence,
    ImpactGraph,
    ImpactQuery,
    Severity,
    analyze,
)
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import Edge, GraphData, NodeRef
from headwater.graph.oracle import OracleGraphEngine, OracleState
from tests.graph.strategies import histories
from tests.impact.graphs import Lineage
from tests.impact.reference import expected_impact

Factory = Callable[[], Awaitable[GraphEngine]]


async def _memory() -> GraphEngine:
    return MemoryGraphEngine()


async def _oracle() -> GraphEngine:
    return OracleGraphEngine()


@pytest.fixture(
    scope="session",
    params=[pytest.param(_memory, id="memory"), pytest.param(_oracle, id="oracle")],
)
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[GraphEngine]:
    factory: Factory = request.param
    created = await factory()
    yield created
    await created.close()


async def run(
    engine: GraphEngine,
    g: Lineage,
    asset: str,
    seeds: dict[str, Severity] | None = None,
    asset_change: Severity | None = None,
    **caps: Any,
) -> ImpactGraph:
    tenant = uuid4()
    data = g.data()
    await engine.load(tenant, data)
    try:
        if asset_change is not None and seeds is None:
            seeds = {
                c.split(".", 1)[1]: asset_change for c in g.fields if c.startswith(f"{asset}.")
            }
        query = ImpactQuery(
            g.assets[asset],
            {g.fields[f"{asset}.{c}"]: s for c, s in (seeds or {}).items()},
            asset_change,
            **caps,
        )
        return await analyze(engine, tenant, query, GraphDataEvidence(data))
    finally:
        await engine.drop(tenant)


def table(g: Lineage, result: ImpactGraph) -> dict[str, tuple[str, str, int]]:
    return {g.name(a.asset_id): (a.status, a.severity, a.distance) for a in result.assets}


def item(g: Lineage, result: ImpactGraph, name: str) -> AffectedAsset:
    return next(a for a in result.assets if a.asset_id == g.assets[name])


def describe(g: Lineage, path: tuple[Edge, ...]) -> list[str]:
    def label(node: NodeRef) -> str:
        return g.name(node.id) if node.kind == "asset" else g.column(node.id)

    steps = []
    for e in path:
        if e.kind == "contains":
            steps.append(f"{label(e.target)} in {label(e.source)}")
        else:
            ends = e.flow()
            assert ends is not None
            steps.append(f"{label(ends[0])} -{e.type}-> {label(ends[1])}")
    return steps


# --- hand-built graphs --------------------------------------------------------------------------


def dbt_project() -> Lineage:
    """src -> m1 -> m2 -> dashboard, column lineage on every table hop; m1 reads src.a and
    src.b, m2 aggregates m1.a; the dashboard (an exposure) declares no columns."""
    return (
        Lineage()
        .asset("src", columns=["a", "b", "c"])
        .asset("m1", columns=["a", "b"])
        .asset("m2", "view", columns=["a"])
        .asset("revenue", "dashboard")
        .reads("m1", "src")
        .reads("m2", "m1")
        .reads("revenue", "m2")
        .col("src.a", "m1.a")
        .col("src.b", "m1.b", "TRANSFORMATION")
        .col("m1.a", "m2.a", "AGGREGATION")
    )


async def test_a_column_nothing_reads_is_safe(engine: GraphEngine) -> None:
    g = dbt_project()
    result = await run(engine, g, "src", {"c": "breaking"})
    assert result.assets == ()
    assert result.severity == "safe"


async def test_dropping_a_read_column_breaks_its_direct_consumers(engine: GraphEngine) -> None:
    g = dbt_project()
    result = await run(engine, g, "src", {"a": "breaking"})
    assert table(g, result) == {
        "m1": ("affected", "breaking", 1),
        "m2": ("affected", "warning", 2),
        "revenue": ("possibly_affected", "warning", 3),
    }
    assert result.severity == "breaking"
    m1 = item(g, result, "m1")
    assert [(g.column(c.field_id), c.severity, c.direct) for c in m1.columns] == [
        ("m1.a", "breaking", True)
    ]
    revenue = item(g, result, "revenue")
    assert revenue.basis == "table_lineage"
    assert revenue.via == g.assets["m2"]
    assert describe(g, revenue.path) == [
        "src.a -IDENTITY-> m1.a",
        "m1.a -AGGREGATION-> m2.a",
        "m2.a in m2",
        "m2 -DEPENDS_ON-> revenue",
    ]
    # m2 and revenue are explained through m1; revenue through m2
    assert (m1.dependents, item(g, result, "m2").dependents, revenue.dependents) == (2, 1, 0)


async def test_a_widening_warns_only_the_columns_that_read_it(engine: GraphEngine) -> None:
    g = dbt_project()
    result = await run(engine, g, "src", {"b": "warning"})
    assert table(g, result) == {"m1": ("affected", "warning", 1)}
    assert result.severity == "warning"


async def test_a_dashboard_three_hops_away_through_column_lineage(engine: GraphEngine) -> None:
    g = (
        Lineage()
        .asset("src", columns=["c", "d"])
        .asset("t1", columns=["c"])
        .asset("t2", columns=["c"])
        .asset("board", "dashboard", columns=["c"])
        .reads("t1", "src")
        .reads("t2", "t1")
        .reads("board", "t2")
        .col("src.c", "t1.c")
        .col("t1.c", "t2.c", "FILTER")
        .col("t2.c", "board.c")
    )
    result = await run(engine, g, "src", {"c": "breaking"})
    assert table(g, result) == {
        "t1": ("affected", "breaking", 1),
        "t2": ("affected", "warning", 2),
        "board": ("affected", "warning", 3),
    }
    assert describe(g, item(g, result, "board").path) == [
        "src.c -IDENTITY-> t1.c",
        "t1.c -FILTER-> t2.c",
        "t2.c -IDENTITY-> board.c",
        "board.c in board",
    ]
    assert (await run(engine, g, "src", {"d": "breaking"})).severity == "safe"


def openlineage_jobs() -> Lineage:
    """raw -> load (job) -> staged -> enrich (job) -> mart, column lineage straight between the
    datasets (as the columnLineage facet records it), the jobs declaring no columns."""
    return (
        Lineage()
        .asset("raw", columns=["c", "d"])
        .asset("load", "job")
        .asset("staged", columns=["x", "y"])
        .asset("enrich", "job")
        .asset("mart", columns=["z"])
        .job("load", ["raw"], ["staged"])
        .job("enrich", ["staged"], ["mart"])
        .col("raw.c", "staged.x")
        .col("raw.d", "staged.y")
        .col("staged.x", "mart.z", "AGGREGATION")
    )


async def test_jobs_are_judged_by_the_columns_they_carry(engine: GraphEngine) -> None:
    g = openlineage_jobs()
    only_d = await run(engine, g, "raw", {"d": "breaking"})
    assert table(g, only_d) == {
        "load": ("affected", "breaking", 1),
        "staged": ("affected", "breaking", 1),
    }
    assert item(g, only_d, "load").basis == "carries_column"
    assert item(g, only_d, "load").direct
    through = await run(engine, g, "raw", {"c": "breaking"})
    assert table(g, through) == {
        "load": ("affected", "breaking", 1),
        "staged": ("affected", "breaking", 1),
        "enrich": ("affected", "warning", 2),
        "mart": ("affected", "warning", 2),
    }
    assert describe(g, item(g, through, "enrich").path) == [
        "raw.c -IDENTITY-> staged.x",
        "staged.x in staged",
        "staged -USES-> enrich",
    ]


async def test_mixed_lineage_reports_what_only_table_lineage_reaches(engine: GraphEngine) -> None:
    g = (
        Lineage()
        .asset("a", columns=["c", "other"])
        .asset("b", columns=["c"])
        .asset("c", columns=["c"])  # reads b, no column lineage recorded
        .asset("d", columns=["c"])  # reads c with column lineage: but every column of c is suspect
        .asset("board", "dashboard")
        .asset("covered", columns=["x"])  # reads a.other only
        .asset("opaque", columns=["x"])  # reads a, no column lineage
        .reads("b", "a")
        .reads("c", "b")
        .reads("d", "c")
        .reads("board", "d")
        .reads("covered", "a")
        .reads("opaque", "a")
        .col("a.c", "b.c")
        .col("c.c", "d.c")
        .col("a.other", "covered.x")
    )
    result = await run(engine, g, "a", {"c": "breaking"})
    assert table(g, result) == {
        "b": ("affected", "breaking", 1),
        "c": ("possibly_affected", "warning", 2),
        "d": ("possibly_affected", "warning", 3),
        "board": ("possibly_affected", "warning", 4),
        "opaque": ("possibly_affected", "warning", 1),
    }
    assert item(g, result, "c").via == g.assets["b"]
    assert item(g, result, "opaque").direct
    assert not item(g, result, "d").direct


async def test_dropping_the_asset_reaches_everything_downstream(engine: GraphEngine) -> None:
    g = dbt_project()
    result = await run(engine, g, "src", asset_change="breaking")
    assert table(g, result) == {
        "m1": ("affected", "breaking", 1),
        "m2": ("affected", "warning", 2),
        "revenue": ("affected", "warning", 3),
    }
    assert {a.basis for a in result.assets} == {"asset_change"}


async def test_cycles_of_column_less_nodes_terminate(engine: GraphEngine) -> None:
    g = (
        Lineage()
        .asset("a", columns=["c"])
        .asset("x", "job")
        .asset("y", "job")
        .reads("x", "a")
        .reads("y", "x")
        .reads("x", "y")
    )
    result = await run(engine, g, "a", {"c": "breaking"})
    assert table(g, result) == {
        "x": ("possibly_affected", "warning", 1),
        "y": ("possibly_affected", "warning", 2),
    }


async def test_depth_and_size_caps(engine: GraphEngine) -> None:
    g = dbt_project()
    shallow = await run(engine, g, "src", {"a": "breaking"}, max_depth=1)
    assert table(g, shallow) == {"m1": ("affected", "breaking", 1)}
    small = await run(engine, g, "src", {"a": "breaking"}, limit=1)
    assert small.truncated
    assert not (await run(engine, g, "src", {"a": "breaking"})).truncated


async def test_a_job_at_the_depth_cap_is_judged_by_its_outputs(engine: GraphEngine) -> None:
    """The job reads m1 but carries m1.b, not the changed column, into m2 (which has column
    lineage): it is not affected, however the depth cap cuts the walk right after it."""
    g = (
        Lineage()
        .asset("src", columns=["a"])
        .asset("m1", columns=["a", "b"])
        .asset("build", "job")
        .asset("m2", columns=["b"])
        .reads("m1", "src")
        .job("build", ["m1"], ["m2"])
        .col("src.a", "m1.a")
        .col("m1.b", "m2.b")
    )
    for cap in (None, 1, 2, 3):
        result = await run(engine, g, "src", {"a": "breaking"}, max_depth=cap)
        assert table(g, result) == {"m1": ("affected", "breaking", 1)}, cap


def long_chains() -> Lineage:
    """src.c -> t1.c by column lineage, then table-level lineage only, further than one wave of
    the analysis reaches: t1 -> t2 -> t3 -> t4 -> board, and t1 -> j1 (job) -> j2 (job) -> out;
    t4 also feeds `covered` with column lineage from a column nothing changes."""
    return (
        Lineage()
        .asset("src", columns=["c"])
        .asset("t1", columns=["c"])
        .asset("t2", columns=["c"])
        .asset("t3", columns=["c"])
        .asset("t4", columns=["c", "d"])
        .asset("board", "dashboard")
        .asset("j1", "job")
        .asset("j2", "job")
        .asset("out", columns=["x"])
        .asset("covered", columns=["d"])
        .reads("t1", "src")
        .reads("t2", "t1")
        .reads("t3", "t2")
        .reads("t4", "t3")
        .reads("board", "t4")
        .reads("covered", "t4")
        .job("j1", ["t1"], [])
        .job("j2", [], ["out"])
        .reads("j2", "j1")
        .col("src.c", "t1.c")
        .col("t4.d", "covered.d")
    )


async def test_table_level_lineage_is_followed_to_its_end(engine: GraphEngine) -> None:
    g = long_chains()
    result = await run(engine, g, "src", {"c": "breaking"})
    assert table(g, result) == {
        "t1": ("affected", "breaking", 1),
        "t2": ("possibly_affected", "warning", 2),
        "t3": ("possibly_affected", "warning", 3),
        "t4": ("possibly_affected", "warning", 4),
        "board": ("possibly_affected", "warning", 5),
        "covered": ("possibly_affected", "warning", 5),  # every column of t4 is suspect
        "j1": ("possibly_affected", "warning", 2),
        "j2": ("possibly_affected", "warning", 3),
        "out": ("possibly_affected", "warning", 4),
    }
    data = g.data()
    want = expected_impact(data, g.assets["src"], {g.fields["src.c"]: "breaking"})
    assert {a.asset_id: (a.status, a.severity, a.distance) for a in result.assets} == want.assets
    assert describe(g, item(g, result, "out").path) == [
        "src.c -IDENTITY-> t1.c",
        "t1.c in t1",
        "t1 -USES-> j1",
        "j1 -DEPENDS_ON-> j2",
        "j2 -PRODUCES-> out",
    ]


async def test_nothing_to_propagate_asks_nothing_of_the_engine(engine: GraphEngine) -> None:
    class Refusing:
        async def evidence(self, *_: object) -> Evidence:
            raise AssertionError("no evidence is needed")

    result = await analyze(engine, uuid4(), ImpactQuery(1), Refusing())
    assert (result.assets, result.severity, result.reached) == ((), "safe", 0)


# --- random graphs against the networkx computation ---------------------------------------------

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_severities: st.SearchStrategy[Severity] = st.sampled_from(["warning", "breaking"])


@PROPERTY
@given(data=st.data())
async def test_random_graphs_match_networkx(engine: GraphEngine, data: st.DataObject) -> None:
    history = data.draw(histories(max_assets=7, max_fields=14, max_lineage=22, shuffle=False))
    await _matches_networkx(engine, data, GraphData.from_states(history.mutations))


@settings(PROPERTY, max_examples=60)
@given(data=st.data())
async def test_larger_random_graphs_match_networkx(
    engine: GraphEngine, data: st.DataObject
) -> None:
    """Graphs deep enough that table-level lineage outruns the first wave of the analysis."""
    history = data.draw(
        histories(max_assets=16, max_fields=24, max_relationships=48, max_lineage=40, shuffle=False)
    )
    await _matches_networkx(engine, data, GraphData.from_states(history.mutations))


async def _matches_networkx(engine: GraphEngine, data: st.DataObject, graph: GraphData) -> None:
    state = OracleState()
    for m in graph.states():
        state.put(m)
    visible = sorted(state.visible_assets())
    if not visible:
        return
    with_columns = sorted({s.asset_id for s in state.visible_fields().values()})
    # mostly an asset with columns: those are the ones column changes can reach anything from
    prefer_columns = data.draw(st.booleans())
    candidates = with_columns if with_columns and prefer_columns else visible
    asset = data.draw(st.sampled_from(candidates))
    own = sorted(f for f, s in state.visible_fields().items() if s.asset_id == asset)
    whole = data.draw(st.booleans()) and data.draw(st.booleans())
    change: Severity | None = data.draw(_severities) if whole else None
    if change is not None:
        seeds = dict.fromkeys(own, change)
    else:
        chosen = data.draw(st.lists(st.sampled_from(own), unique=True)) if own else []
        seeds = {f: data.draw(_severities) for f in chosen}
    tenant = uuid4()
    await engine.load(tenant, graph)
    try:
        got = await analyze(
            engine, tenant, ImpactQuery(asset, seeds, change), GraphDataEvidence(graph)
        )
    finally:
        await engine.drop(tenant)
    want = expected_impact(graph, asset, seeds, change)
    assert {a.asset_id: (a.status, a.severity, a.distance) for a in got.assets} == want.assets
    assert {c.field_id: (c.severity, c.distance) for c in got.columns()} == want.columns
    assert all(a.column_count == len(a.columns) for a in got.assets)  # counted, not built
    assert got.severity == want.severity
    fields = state.visible_fields()
    for a in got.assets:
        _assert_explains(a, asset, seeds, fields)
        first = a.path[0] if a.path else None
        assert a.origin == (first.source.id if first and first.kind == "field_lineage" else None)


def _assert_explains(
    item: AffectedAsset, asset: int, seeds: dict[int, Severity], fields: dict[int, Any]
) -> None:
    """The path is a chain of real hops from a seed or the changed asset to the item, as long
    as its distance (containment hops are free)."""

    def asset_of(node: NodeRef) -> int:
        return node.id if node.kind == "asset" else int(fields[node.id].asset_id)

    if not item.path:
        return
    first = item.path[0]
    at = first.source if first.kind != "contains" else first.target
    if first.kind == "relationship":
        ends = first.flow()
        assert ends is not None
        at = ends[0]
    assert (at.kind == "field" and at.id in seeds) or (at.kind == "asset" and at.id == asset)
    hops = 0
    for e in item.path:
        if e.kind == "contains":
            assert at == e.target
            at = e.source
            continue
        ends = e.flow()
        assert ends is not None
        assert ends[0] == at or asset_of(ends[0]) == asset_of(at)
        at = ends[1]
        hops += 1
    assert asset_of(at) == item.asset_id
    assert hops == item.distance
