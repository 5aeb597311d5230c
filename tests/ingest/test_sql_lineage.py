"""SQL lineage: every case of ``sql_cases`` must give exactly its expected lineage."""

from __future__ import annotations

import doctest
import json
import random
import re
from collections import Counter

import pytest

from headwater.catalog.errors import HeadwaterError, Unprocessable
from headwater.catalog.field_lineage import Transformation
from headwater.ingest import sql_lineage
from headwater.ingest.sql_lineage import (
    ColumnEdge,
    ColumnRef,
    SqlLineage,
    SqlParseError,
    StatementStatus,
    TransformationSubtype,
    TransformationType,
    extract_lineage,
)
from tests.ingest.sql_cases import CASES, Case


def _column_edge(text: str) -> tuple[str, str, str, str, str]:
    """``"a.b.col -> x.y.col TYPE/SUBTYPE"`` as (source table, column, target table, column,
    kind)."""
    edge, kind = text.rsplit(" ", 1)
    source, target = edge.split(" -> ")
    source_table, source_column = source.rsplit(".", 1)
    target_table, target_column = target.rsplit(".", 1)
    return source_table, source_column, target_table, target_column, kind


def _found_edge(edge: ColumnEdge) -> tuple[str, str, str, str, str]:
    return (
        edge.source.table,
        edge.source.column,
        edge.target.table,
        edge.target.column,
        f"{edge.type.value}/{edge.subtype.value}",
    )


def _statement_label(kind: str, status: StatementStatus) -> str:
    return kind if status is StatementStatus.ANALYSED else f"{kind} (skipped)"


def test_there_are_enough_cases_across_dialects() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    dialects = Counter(c.dialect for c in CASES)
    for dialect in (
        "postgres",
        "snowflake",
        "bigquery",
        "spark",
        "databricks",
        "duckdb",
        "mysql",
        "redshift",
        "tsql",
    ):
        assert dialects[dialect] >= 1, dialect


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sql_lineage_case(case: Case) -> None:
    def run() -> SqlLineage:
        return extract_lineage(
            case.sql,
            case.dialect,
            default_catalog=case.default_catalog,
            default_schema=case.default_schema,
            schema=case.schema,
        )

    if case.error is not None:
        with pytest.raises(SqlParseError) as raised:
            run()
        error = raised.value
        assert (error.statement, error.line, error.column) == case.error, error.message
        assert error.snippet == case.sql.splitlines()[case.error[1] - 1]
        assert f"line {case.error[1]}, column {case.error[2]}" in error.message
        return

    lineage = run()
    labels = [_statement_label(s.kind, s.status) for s in lineage.statements]
    assert labels == list(case.statements)
    assert lineage.inputs == sorted(case.inputs)
    assert lineage.outputs == sorted(case.outputs)
    assert sorted(f"{e.source} -> {e.target}" for e in lineage.table_edges) == sorted(case.tables)

    expected_columns = [_column_edge(c) for c in case.columns]
    assert len(set(expected_columns)) == len(expected_columns), "duplicate expected edge"
    assert sorted(_found_edge(e) for e in lineage.column_edges) == sorted(expected_columns)

    warnings = [w for s in lineage.statements for w in s.warnings]
    assert len(warnings) == len(case.warnings), warnings
    for found, fragment in zip(warnings, case.warnings, strict=True):
        assert fragment in found


def test_statement_lineage_is_consistent_with_the_script() -> None:
    lineage = extract_lineage(
        """
        CREATE TABLE s.a AS SELECT id FROM raw.x;
        GRANT SELECT ON s.a TO r;
        INSERT INTO s.b (id) SELECT id FROM s.a WHERE id > 0;
        """,
        "postgres",
    )
    first, grant, insert = lineage.statements
    assert [(s.index, s.line) for s in lineage.statements] == [(0, 2), (1, 3), (2, 4)]
    assert first.column == 9
    assert grant.status is StatementStatus.SKIPPED
    assert grant.reason
    assert (grant.inputs, grant.outputs, grant.column_edges) == ([], [], [])
    assert len(lineage.column_edges) == len(first.column_edges) + len(insert.column_edges)
    assert set(lineage.column_edges) == {*first.column_edges, *insert.column_edges}
    assert lineage.inputs == ["raw.x", "s.a"]
    assert lineage.outputs == ["s.a", "s.b"]


def test_lineage_round_trips_through_json() -> None:
    lineage = extract_lineage(
        "INSERT INTO t (a) SELECT SUM(x) FROM s WHERE y > 0", "duckdb", default_schema="main"
    )
    body = json.loads(lineage.model_dump_json())
    assert body["column_edges"] == [
        {
            "source": {"table": "main.s", "column": "x"},
            "target": {"table": "main.t", "column": "a"},
            "subtype": "AGGREGATION",
            "type": "DIRECT",
        },
        {
            "source": {"table": "main.s", "column": "y"},
            "target": {"table": "main.t", "column": "a"},
            "subtype": "FILTER",
            "type": "INDIRECT",
        },
    ]
    assert body["table_edges"] == [{"source": "main.s", "target": "main.t"}]
    assert body["statements"][0]["status"] == "analysed"
    assert SqlLineage.model_validate(body) == lineage


def test_field_lineage_keeps_one_edge_per_column_pair() -> None:
    lineage = extract_lineage(
        "CREATE TABLE r AS SELECT k, SUM(v) AS total FROM t GROUP BY k HAVING SUM(v) > 0",
        "postgres",
    )
    merged = {(e.source.column, e.target.column): e for e in lineage.field_lineage()}
    assert set(merged) == {("k", "k"), ("k", "total"), ("v", "k"), ("v", "total")}
    assert merged["k", "k"].transformation is Transformation.IDENTITY
    assert merged["k", "k"].subtypes == [
        TransformationSubtype.IDENTITY,
        TransformationSubtype.GROUP_BY,
    ]
    assert merged["v", "total"].transformation is Transformation.AGGREGATION
    assert merged["v", "total"].subtypes == [
        TransformationSubtype.AGGREGATION,
        TransformationSubtype.FILTER,
    ]
    assert merged["k", "total"].transformation is Transformation.GROUP_BY
    assert merged["v", "k"].transformation is Transformation.FILTER
    assert merged["k", "k"].source == ColumnRef(table="t", column="k")


def test_subtypes_are_the_catalog_transformations() -> None:
    catalog = {t.value for t in Transformation}
    assert {s.value for s in TransformationSubtype} <= catalog
    direct = {s for s in TransformationSubtype if s.type is TransformationType.DIRECT}
    assert direct == {
        TransformationSubtype.IDENTITY,
        TransformationSubtype.TRANSFORMATION,
        TransformationSubtype.AGGREGATION,
    }


def test_parse_error_is_a_422_naming_the_position() -> None:
    with pytest.raises(SqlParseError) as raised:
        extract_lineage("SELECT 1;\nSELECT (a FROM t", "postgres")
    error = raised.value
    assert error.status_code == 422
    assert error.extra["line"] == 2
    assert error.extra["column"] == 11
    assert error.extra["statement"] == 1
    assert error.extra["snippet"] == "SELECT (a FROM t"
    assert error.extra["errors"][0]["loc"] == ["body", "sql"]


def test_unknown_dialect_is_unprocessable() -> None:
    with pytest.raises(Unprocessable, match="unknown SQL dialect 'pg9000'"):
        extract_lineage("SELECT 1", "pg9000")


@pytest.mark.parametrize("key", ["", "a..b", "a.b.c.d"])
def test_bad_schema_key_is_unprocessable(key: str) -> None:
    with pytest.raises(Unprocessable, match="is not a table name of one to three parts"):
        extract_lineage("SELECT 1", "postgres", schema={key: ["a"]})


def test_dialect_settings_change_identifier_rules() -> None:
    sql = "INSERT INTO Shop.Copy (ID) SELECT ID FROM Shop.Orders"
    assert extract_lineage(sql, "mysql").outputs == ["Shop.Copy"]
    folded = extract_lineage(sql, "mysql, normalization_strategy = lowercase")
    assert folded.outputs == ["shop.copy"]
    assert [(e.source.column, e.target.column) for e in folded.column_edges] == [("id", "id")]


def test_module_examples_hold() -> None:
    assert doctest.testmod(sql_lineage).failed == 0


def test_empty_script_has_no_statements() -> None:
    lineage = extract_lineage("  ;\n -- nothing here\n", "postgres")
    assert lineage.statements == []
    assert (lineage.inputs, lineage.outputs, lineage.column_edges) == ([], [], [])


# Words and marks spliced into the cases' scripts by the mutation test below.
SPLICED = (
    "SELECT", "FROM", "WHERE", "JOIN", "ON", "UNION", "ALL", "WITH", "AS", "INSERT", "INTO", "(",
    ")", ",", "*", "GROUP BY", "ORDER BY", "OVER", "PARTITION BY", "CASE", "WHEN", "THEN", "END",
    "MERGE", "USING", "MATCHED", "UPDATE", "SET", "DELETE", "VALUES", "LATERAL", "UNNEST",
    "QUALIFY", "PIVOT", "EXCEPT", "DISTINCT", "LIMIT", "1", "NULL", "a.b", "t.*", ".", ";", "--",
    "'", '"', "`", "[", "]",
)  # fmt: skip


def test_mutated_scripts_give_lineage_or_a_422() -> None:
    """The cases' scripts with tokens dropped, spliced in, repeated or swapped, read in their own
    dialect or another: lineage (statements sqlglot cannot analyse skipped) or a 422, never
    another exception (which the API would answer with a 500). Mutating them this way found
    the malformed trees the cases above now pin down."""
    rng = random.Random(11)
    dialects = sorted({c.dialect for c in CASES})
    outcomes = Counter[str]()
    for _ in range(5000):
        case = rng.choice(CASES)
        tokens = re.findall(r"\w+|[^\w\s]|\s+", case.sql)
        for _ in range(rng.randint(1, 4)):
            at, other = rng.randrange(len(tokens)), rng.randrange(len(tokens))
            match rng.randrange(4):
                case 0:
                    del tokens[at]
                case 1:
                    tokens.insert(at, f" {rng.choice(SPLICED)} ")
                case 2:
                    tokens.insert(at, tokens[other])
                case _:
                    tokens[at], tokens[other] = tokens[other], tokens[at]
        dialect = case.dialect if rng.random() < 0.8 else rng.choice(dialects)
        try:
            extract_lineage(
                "".join(tokens),
                dialect,
                default_catalog=case.default_catalog,
                default_schema=case.default_schema,
                schema=case.schema,
            )
            outcomes["lineage"] += 1
        except HeadwaterError as e:
            outcomes[f"{e.status_code}"] += 1
    assert set(outcomes) == {"lineage", "422"}, outcomes
