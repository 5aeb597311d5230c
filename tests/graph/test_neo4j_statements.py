"""The Neo4j engine without a server: its Cypher statements (loading, parameters, tenant scoping,
no dead or missing statement, the schema listing), its pure helpers, and the errors it raises
before or instead of reaching Neo4j."""

from __future__ import annotations

import ast
import json
import re
from importlib import resources
from pathlib import Path
from uuid import uuid4

import pytest
from neo4j import AsyncGraphDatabase
from neo4j.exceptions import DriverError

from headwater.cypher import STATEMENTS, load_statements
from headwater.graph import neo4j_engine
from headwater.graph.model import (
    FLOW_DIRECTIONS,
    AssetState,
    FieldLineageState,
    FieldState,
    Flow,
    GraphData,
    InvalidQuery,
    Mutation,
    NodeRef,
    RelationshipState,
)
from headwater.graph.neo4j_engine import (
    GraphBackendError,
    Neo4jGraphEngine,
    _applied,
    _flow_types,
    _kind_chunks,
    _newest,
    _row,
)

ENGINE_SOURCE = Path(neo4j_engine.__file__).read_text(encoding="utf-8")
CYPHER_SOURCES = Path(__file__).resolve().parents[2] / "headwater" / "cypher"
HELPERS = {"_fetch", "_execute"}  # (tx, name, /, **params): every statement runs through these
SCHEMA_STATEMENTS = {name for name in STATEMENTS if name.startswith("create_")}
UNREACHABLE = "bolt://127.0.0.1:1"

SAMPLES: dict[str, Mutation] = {
    "upsert_assets": AssetState(1, "table", 2, "orders", "db.orders", False),
    "upsert_fields": FieldState(10, 1, 1, "email", True),
    "upsert_relationships": RelationshipState(5, 1, 2, "PRODUCES", 3),
    "upsert_field_lineage": FieldLineageState(7, 10, 11, "IDENTITY", 1),
}


def _code(text: str) -> str:
    """A statement without its comments."""
    return re.sub(r"//[^\n]*", "", text)


# --- the statements -------------------------------------------------------------------------------


def test_every_file_is_one_named_statement() -> None:
    files = {
        entry.name.removesuffix(".cypher")
        for entry in resources.files("headwater.cypher").iterdir()
        if entry.name.endswith(".cypher")
    }
    assert set(STATEMENTS) == files
    assert load_statements().keys() == STATEMENTS.keys()
    for name, statement in STATEMENTS.items():
        code = _code(statement.text)
        assert code.strip(), name
        assert ";" not in code, f"{name}: one statement per file"


def test_parameters_are_declared_exactly() -> None:
    for name, statement in STATEMENTS.items():
        assert set(statement.declared) == statement.used, name


def test_header_samples_are_json_the_linter_can_read() -> None:
    for name, statement in STATEMENTS.items():
        for line in statement.text.splitlines():
            if line.lstrip().startswith("// param:"):
                sample = line.split("=", 1)[1]
                json.loads(sample)
        assert all(value is not None for value in statement.declared.values()), name


def test_every_statement_is_tenant_scoped() -> None:
    """Data statements take $tenant_id and every labelled node pattern matches on it; edges with
    ids carry it in their patterns too (their uniqueness is per tenant)."""
    node = re.compile(r"\(\s*\w*\s*:\s*(Asset|Field|SyncPosition)\b([^)]*)\)")
    keyed_edge = re.compile(r"\[\s*\w*\s*:\s*(RELATIONSHIP|FIELD_LINEAGE)\s*(\{[^}]*\})")
    for name, statement in STATEMENTS.items():
        if name in SCHEMA_STATEMENTS:
            continue
        code = _code(statement.text)
        assert "tenant_id" in statement.used, name
        patterns = node.findall(code)
        assert patterns, name
        for label, rest in patterns:
            assert "tenant_id: $tenant_id" in rest, f"{name}: ({label}{rest}) is not tenant-scoped"
        for edge_type, properties in keyed_edge.findall(code):
            assert "tenant_id: $tenant_id" in properties, f"{name}: [{edge_type} {properties}]"


def test_schema_json_lists_what_the_statements_use() -> None:
    # the linter's input, read where the linter reads it (it is not package data)
    schema = json.loads((CYPHER_SOURCES / "schema.json").read_text(encoding="utf-8"))
    code = "\n".join(_code(s.text) for s in STATEMENTS.values())
    labels = set(re.findall(r"\(\s*\w*\s*:\s*([A-Za-z]\w*)", code))
    types = set(re.findall(r"\[\s*\w*\s*:\s*([A-Za-z]\w*)", code))
    assert labels == set(schema["labels"])
    assert types == set(schema["relationshipTypes"])
    for key in schema["propertyKeys"]:
        assert re.search(rf"(\.{key}\b|\b{key}\s*:)", code), f"property key {key} is unused"


def test_upsert_rows_carry_exactly_what_the_statements_read() -> None:
    for name, state in SAMPLES.items():
        statement = STATEMENTS[name]
        read = set(re.findall(r"\brow\.(\w+)", _code(statement.text)))
        sample_rows = statement.declared["rows"]
        assert isinstance(sample_rows, list)
        assert set(_row(state)) == read == set(sample_rows[0]), name
    # the states of every kind have a statement
    assert {type(s) for s in SAMPLES.values()} == set(neo4j_engine._KINDS)


# --- the engine's use of them ---------------------------------------------------------------------


def _statement_calls() -> list[tuple[str, set[str], int]]:
    """(statement name, keyword parameters, line) for every statement the engine runs: calls of
    the helpers, and calls handing a helper to the driver (``execute_write(_execute, name,
    **params)``)."""
    calls: list[tuple[str, set[str], int]] = []
    for call in ast.walk(ast.parse(ENGINE_SOURCE)):
        if not isinstance(call, ast.Call):
            continue
        at: int | None = None
        if isinstance(call.func, ast.Name) and call.func.id in HELPERS:
            at = 1
        else:
            for i, arg in enumerate(call.args):
                if isinstance(arg, ast.Name) and arg.id in HELPERS:
                    at = i + 1
        if at is None:
            continue
        name = call.args[at] if len(call.args) > at else None
        assert isinstance(name, ast.Constant), f"line {call.lineno}: statement name not literal"
        assert isinstance(name.value, str)
        keywords = {k.arg for k in call.keywords if k.arg is not None}
        assert all(k.arg is not None for k in call.keywords), f"line {call.lineno}: **params"
        calls.append((name.value, keywords, call.lineno))
    return calls


def test_the_engine_runs_every_statement_and_only_existing_ones() -> None:
    calls = _statement_calls()
    referenced = {name for name, _, _ in calls}
    assert referenced - set(STATEMENTS) == set(), "statements the engine names but no file holds"
    assert set(STATEMENTS) - referenced == set(), "dead statements: no engine code runs them"


def test_the_engine_passes_exactly_the_declared_parameters() -> None:
    for name, keywords, line in _statement_calls():
        assert keywords == STATEMENTS[name].used, f"line {line}: {name}"


def test_cypher_is_never_built_at_run_time() -> None:
    """The only queries sent are statement texts: ``tx.run(STATEMENTS[name].text, params)``."""
    runs = [
        call
        for call in ast.walk(ast.parse(ENGINE_SOURCE))
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "run"
    ]
    assert runs
    for call in runs:
        query = call.args[0]
        assert isinstance(query, ast.Attribute), ast.dump(query)
        assert query.attr == "text"
        assert isinstance(query.value, ast.Subscript)
        assert isinstance(query.value.value, ast.Name)
        assert query.value.value.id == "STATEMENTS"


# --- pure helpers ---------------------------------------------------------------------------------


def test_flow_types_follow_the_declared_directions() -> None:
    forward = sorted(t for t, f in FLOW_DIRECTIONS.items() if f is Flow.FORWARD)
    backward = sorted(t for t, f in FLOW_DIRECTIONS.items() if f is Flow.BACKWARD)
    assert forward == ["PRODUCES"]
    assert backward == ["DEPENDS_ON", "USES"]
    # downstream: out along PRODUCES, in along USES / DEPENDS_ON; upstream the other way round
    assert _flow_types(True, None) == (forward, backward)
    assert _flow_types(False, None) == (backward, forward)
    assert _flow_types(True, ["USES", "RELATED_TO", "FEEDS"]) == ([], ["USES"])
    assert _flow_types(False, {"PRODUCES"}) == ([], ["PRODUCES"])
    assert _flow_types(True, ["CONTAINS"]) == ([], [])


def test_a_batch_counts_what_a_one_at_a_time_apply_would() -> None:
    v1, v2, v3 = (AssetState(1, "table", v) for v in (1, 2, 3))
    newest, rising = _newest([v1, v2, v3, v2])
    assert list(newest.values()) == [v3]
    assert rising == {(AssetState, 1): [1, 2, 3]}
    assert _applied(rising, {(AssetState, 1): 0}) == 3
    assert _applied(rising, {(AssetState, 1): 2}) == 1
    assert _applied(rising, {}) == 0  # nothing written: the held version was not older
    newest, rising = _newest([v3, v1, v2])
    assert list(newest.values()) == [v3]
    assert _applied(rising, {(AssetState, 1): 0}) == 1
    # an asset and a field with one id are different entities
    newest, rising = _newest([v1, FieldState(1, 1, 1)])
    assert len(newest) == 2


def test_bulk_rows_come_in_chunks_of_one_kind() -> None:
    states: list[Mutation] = [AssetState(i, "table", 1) for i in range(5)]
    states += [RelationshipState(i, 0, 1, "USES", 1) for i in range(2)]
    chunks = list(_kind_chunks(states, 2))
    assert [(kind.__name__, len(rows)) for kind, rows in chunks] == [
        ("AssetState", 2),
        ("AssetState", 2),
        ("AssetState", 1),
        ("RelationshipState", 2),
    ]
    assert [row["id"] for _, rows in chunks[:3] for row in rows] == [0, 1, 2, 3, 4]


# --- errors ---------------------------------------------------------------------------------------


def _unreachable_engine() -> Neo4jGraphEngine:
    # no transaction retries: an unreachable server fails at once
    driver = AsyncGraphDatabase.driver(
        UNREACHABLE, auth=("neo4j", "neo4j"), max_transaction_retry_time=0
    )
    return Neo4jGraphEngine(driver)


async def test_connect_fails_fast_with_a_domain_error() -> None:
    with pytest.raises(GraphBackendError) as caught:
        await Neo4jGraphEngine.connect(UNREACHABLE, password="wrong-but-unused")
    assert isinstance(caught.value.__cause__, DriverError)


async def test_driver_errors_become_graph_errors() -> None:
    engine = _unreachable_engine()
    tenant = uuid4()
    try:
        for call in (
            engine.stats(tenant),
            engine.position(tenant),
            engine.traverse(tenant, NodeRef.asset(1), "downstream"),
            engine.apply(tenant, [AssetState(1, "table", 1)]),
            engine.drop(tenant),
        ):
            with pytest.raises(GraphBackendError) as caught:
                await call
            assert isinstance(caught.value.__cause__, DriverError)
    finally:
        await engine.close()


async def test_impossible_queries_are_refused_before_reaching_neo4j() -> None:
    engine = _unreachable_engine()
    tenant = uuid4()
    a, f = NodeRef.asset(1), NodeRef.field(1)
    try:
        with pytest.raises(InvalidQuery):
            await engine.traverse(tenant, a, "downstream", max_depth=-1)
        with pytest.raises(InvalidQuery):
            await engine.traverse(tenant, a, "downstream", limit=0)
        with pytest.raises(InvalidQuery):
            await engine.closure(tenant, [a], steps=["sideways"])  # type: ignore[list-item]
        with pytest.raises(InvalidQuery):
            await engine.graph_view(tenant, a, node_cap=0)
        with pytest.raises(InvalidQuery):
            await engine.graph_view(tenant, a, relationship_types="USES")
        with pytest.raises(InvalidQuery):
            await engine.shortest_path(tenant, a, f)
        with pytest.raises(InvalidQuery):
            await engine.all_paths(tenant, a, a, max_depth=2, max_paths=0)
        # an empty batch without a position has nothing to write
        result = await engine.apply(tenant, [])
        assert (result.applied, result.ignored) == (0, 0)
        # duplicate ids in bulk data are refused before the tenant's graph is dropped
        states = [AssetState(1, "table", 1), AssetState(2, "table", 1)]
        data = GraphData.from_states(states)
        data.assets.id[1] = 1
        with pytest.raises(ValueError, match="duplicate asset ids"):
            await engine.load(tenant, data)
    finally:
        await engine.close()
