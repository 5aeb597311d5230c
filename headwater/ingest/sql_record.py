"""SQL lineage against the catalog: extraction that knows the catalog's columns, and recording.

``analyse_sql`` runs ``sql_lineage.extract_lineage`` over a script and, when asked, writes what
it found through the catalog (``apply.apply_units``) in the caller's one transaction. It serves
``POST /api/v1/lineage/sql`` and ``headwater ingest sql``.

Names. A table the SQL names is reported as its dot-joined catalog, schema and table, completed
with ``default_catalog`` / ``default_schema`` and normalised by the dialect's rules (see
``sql_lineage``): ``shop.public.orders``. Its asset is ``{namespace}/{that name}``, the naming
scheme of OpenLineage datasets (``{namespace}/{name}``, the name being ``database.schema.table``
for a warehouse table) and of dbt relations (``{namespace}/{database}.{schema}.{identifier}``).
So with the namespace the warehouse's OpenLineage producers use (``postgres://db:5432``,
``snowflake://org-account``, ``bigquery``), SQL, dbt and OpenLineage meet on one asset. The
default namespace is the dialect's name (``postgres``, ``snowflake``, ``bigquery``...), which is
also dbt's default (the adapter type) for the adapters named like their dialect; dbt's
``sqlserver`` / ``synapse`` / ``fabric`` are the ``tsql`` dialect, so give the namespace there.
A table resolves to an existing asset by that qualified name, then through ``metadata.aliases``
(OpenLineage symlinks), then, for dialects that fold unquoted names to upper case (Snowflake),
by the upper-case spelling other tools record (``snowflake://acct/DB.PUBLIC.ORDERS``).
``assets`` in the answer maps every table to the qualified name it resolved (or will resolve) to.

Known columns. sqlglot expands ``SELECT *`` and maps ``INSERT`` without a column list only when
it knows the columns of the tables involved. The columns of every table the script names that the
catalog holds are looked up (the asset's schema fields, in order) and merged with the request's
``schema``, which wins for the tables it names; the script is then analysed again with them.
``catalog_columns`` lists the tables whose columns came from the catalog.

Recording (``record: true``; the editor role), in one transaction:

- every table the script reads or writes is an asset: the target of ``CREATE [MATERIALIZED]
  VIEW`` a ``view``, the target of another ``CREATE`` or of ``SELECT INTO`` a ``table``; a table
  only read, or written by INSERT / MERGE / UPDATE, a ``table`` as a guess, so an existing data
  asset (a view, an OpenLineage dataset) keeps its type without a warning.
  ``metadata.sql`` records the namespace and the SQL name.
- the columns at either end of a column edge are added to the asset's schema when it lacks them
  (matched case-insensitively, as dbt's column lineage does), marked ``metadata.inferred``; no
  column is changed or removed.
- table lineage: a SQL statement has no job to hang the flow on, so the written table
  ``DEPENDS_ON`` each table it reads (consumer -> source, data flowing source -> target), the
  same relationship dbt's ``depends_on`` gives a model. Nothing about a statement is recorded on
  the edge, so a dbt model and the SQL that builds it give one and the same relationship.
- column lineage: one field lineage edge per (source column, target column), with the strongest
  transformation kind (``SqlLineage.field_lineage``) and every kind seen in
  ``metadata.transformations`` (as dbt's column lineage records them).
- the script, dialect, namespace and defaults are kept once in a ``sql.lineage`` audit row keyed
  by their SHA-256.

Replaying a script changes nothing: every write is an upsert that writes only differences.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import SqlglotError

from headwater.catalog import lookups
from headwater.catalog.assets import AssetType
from headwater.catalog.base import StrictModel
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Unprocessable
from headwater.catalog.fields import FieldSpec, list_fields
from headwater.catalog.relationships import RelationshipType
from headwater.ingest.apply import apply_units
from headwater.ingest.batch import (
    AssetSpec,
    AuditSpec,
    ColumnEdgeSpec,
    EdgeSpec,
    IngestSummary,
    IngestUnit,
)
from headwater.ingest.sql_lineage import (
    ColumnEdge,
    SqlLineage,
    StatementLineage,
    TableEdge,
    extract_lineage,
)

__all__ = [
    "MAX_SQL_CHARS",
    "SqlLineageRequest",
    "SqlLineageResult",
    "analyse_sql",
    "default_namespace",
    "sql_unit",
]

MAX_SQL_CHARS = 2_000_000
# Tables whose columns are looked up in the catalog, at most (the rest are analysed without).
MAX_LOOKUPS = 2_000
INFERRED = {"inferred": True, "inferred_from": "sql"}


class SqlLineageRequest(StrictModel):
    """A script to analyse, and whether to record its lineage in the catalog."""

    model_config = ConfigDict(populate_by_name=True)

    dialect: str = Field(
        min_length=1,
        max_length=200,
        description="sqlglot dialect: postgres, snowflake, bigquery, spark, tsql, duckdb, ... "
        "(optionally with settings: 'mysql, normalization_strategy = lowercase')",
        examples=["postgres"],
    )
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS, description="';'-separated script")
    default_catalog: str | None = Field(None, min_length=1, max_length=1000)
    default_schema: str | None = Field(None, min_length=1, max_length=1000)
    namespace: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="qualified names are '{namespace}/{catalog.schema.table}' (the OpenLineage "
        "dataset form); default: the dialect's name",
        examples=["postgres://db.example.com:5432"],
    )
    columns: dict[str, list[str]] = Field(
        default_factory=dict,
        alias="schema",
        description="known columns by table name (one to three parts); merged over the "
        "columns the catalog knows of the same tables",
    )
    record: bool = Field(
        False, strict=True, description="write the lineage to the catalog (editor role)"
    )


class SqlLineageResult(BaseModel):
    """The script's lineage (see ``sql_lineage``), where its tables live in the catalog, and
    what recording it changed."""

    dialect: str
    namespace: str
    statements: list[StatementLineage]
    inputs: list[str]
    outputs: list[str]
    table_edges: list[TableEdge]
    column_edges: list[ColumnEdge]
    warnings: list[str] = Field(description="every statement's warnings, prefixed with where")
    assets: dict[str, str] = Field(
        description="each table the script names -> the qualified name of its asset"
    )
    catalog_columns: list[str] = Field(
        description="tables whose known columns were taken from the catalog"
    )
    recorded: IngestSummary | None = Field(
        None, description="what recording changed (null when not recorded)"
    )


def default_namespace(dialect: str) -> str:
    """The dialect's name without its settings: ``"mysql, x = y"`` -> ``"mysql"``."""
    return dialect.split(",", 1)[0].strip().lower() or dialect


def _folds_to_upper(dialect: str) -> bool:
    try:
        strategy = Dialect.get_or_raise(dialect).normalization_strategy
    except (ValueError, SqlglotError):
        return False  # extract_lineage reports the unknown dialect
    return strategy in (
        NormalizationStrategy.UPPERCASE,
        NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE,
    )


def _candidates(namespace: str, table: str, upper: bool) -> list[str]:
    """The qualified names a SQL table may be recorded under, in order of preference."""
    exact = f"{namespace}/{table}"
    if not upper:
        return [exact]
    shouted = ".".join(p.upper() if p == p.lower() else p for p in table.split("."))
    return list(dict.fromkeys([exact, f"{namespace}/{shouted}"]))


async def _resolve(conn: Conn, names: Iterable[str]) -> tuple[str, int] | None:
    for name in names:
        asset_id = await lookups.asset_id_by_qualified_name(conn, name)
        if asset_id is None:
            asset_id = await lookups.asset_id_by_alias(conn, name)
        if asset_id is not None:
            return name, asset_id
    return None


async def _extract(request: SqlLineageRequest, schema: dict[str, list[str]]) -> SqlLineage:
    # sqlglot is CPU work: keep the event loop serving other requests meanwhile.
    return await asyncio.to_thread(
        extract_lineage,
        request.sql,
        request.dialect,
        default_catalog=request.default_catalog,
        default_schema=request.default_schema,
        schema=schema,
    )


def _tables(lineage: SqlLineage) -> list[str]:
    return sorted({*lineage.inputs, *lineage.outputs})


async def analyse_sql(
    conn: Conn | None, request: SqlLineageRequest, actor: Actor | None = None
) -> SqlLineageResult:
    """The lineage of ``request.sql``, recorded when ``request.record`` (needs ``conn`` and
    ``actor``). Without ``conn`` the catalog is not consulted (the CLI offline).

    Raises ``SqlParseError`` (422 with the statement index, line and column) for SQL that cannot
    be parsed and ``Unprocessable`` for an unknown dialect or a bad ``schema`` key."""
    if request.record and (conn is None or actor is None):
        raise ValueError("recording needs a connection and an actor")
    namespace = (request.namespace or default_namespace(request.dialect)).strip()
    upper = _folds_to_upper(request.dialect)
    lineage = await _extract(request, request.columns)

    resolved: dict[str, tuple[str, int]] = {}
    known: dict[str, list[str]] = {}

    async def look_up(tables: list[str], *, with_columns: bool) -> None:
        assert conn is not None
        for table in tables:
            if table in resolved or len(resolved) >= MAX_LOOKUPS:
                continue
            found = await _resolve(conn, _candidates(namespace, table, upper))
            if found is None:
                continue
            resolved[table] = found
            if with_columns:
                columns = [f.name for f in (await list_fields(conn, found[1])).fields]
                if columns:
                    known[table] = columns

    if conn is not None:
        await look_up(_tables(lineage), with_columns=True)
        if known:
            # Analysed again knowing the columns; the request's own win for the tables it names.
            lineage = await _extract(request, {**known, **request.columns})
            await look_up(_tables(lineage), with_columns=False)

    assets = {
        table: resolved[table][0] if table in resolved else f"{namespace}/{table}"
        for table in _tables(lineage)
    }
    result = SqlLineageResult(
        dialect=lineage.dialect,
        namespace=namespace,
        statements=lineage.statements,
        inputs=lineage.inputs,
        outputs=lineage.outputs,
        table_edges=lineage.table_edges,
        column_edges=lineage.column_edges,
        warnings=[
            f"statement {s.index + 1} (line {s.line}): {w}"
            for s in lineage.statements
            for w in s.warnings
        ],
        assets=assets,
        catalog_columns=sorted(t for t in known if t not in request.columns),
    )
    if request.record:
        assert conn is not None
        assert actor is not None
        field_names = {table: known.get(table, []) for table in assets}
        unit = sql_unit(lineage, request, namespace, assets, field_names)
        result.recorded = await apply_units(conn, actor, [unit], IngestSummary(units=1))
    return result


def _asset_kind(statement: StatementLineage) -> tuple[AssetType, bool]:
    """The type a statement gives the table it writes, and whether that is only a guess."""
    if "VIEW" in statement.kind:
        return AssetType.VIEW, False
    if statement.kind.startswith(("CREATE", "SELECT INTO")):
        return AssetType.TABLE, False
    return AssetType.TABLE, True


def sql_unit(
    lineage: SqlLineage,
    request: SqlLineageRequest,
    namespace: str,
    assets: dict[str, str],
    known_fields: dict[str, list[str]],
) -> IngestUnit:
    """The lineage as one catalog unit (see the module documentation); ``assets`` maps each SQL
    table to its qualified name, ``known_fields`` to the columns its asset already has."""
    unit = IngestUnit(loc=("body", "sql"))

    def add(table: str, kind: AssetType, guessed: bool, statement: StatementLineage) -> None:
        spec = AssetSpec(
            assets[table],
            kind,
            table[:1000],
            type_guessed=guessed,
            identity={"sql": {"namespace": namespace, "name": table}},
            loc=("body", "sql", "statement", statement.index),
        )
        try:
            unit.add_asset(spec)
        except ValueError as e:
            raise Unprocessable(str(e), errors=[{"loc": list(spec.loc), "msg": str(e)}]) from None

    for statement in lineage.statements:
        kind, guessed = _asset_kind(statement)
        for table in statement.outputs:
            add(table, kind, guessed, statement)
        for table in statement.inputs:
            add(table, AssetType.TABLE, True, statement)

    # Column spellings: the catalog's where it has the column (any case), else the SQL's.
    spelling: dict[str, dict[str, str]] = {
        table: {name.lower(): name for name in reversed(known_fields.get(table, []))}
        for table in assets
    }

    def column(table: str, name: str) -> str:
        seen = spelling.setdefault(table, {})
        if (existing := seen.get(name.lower())) is not None:
            return existing
        try:
            field = FieldSpec(name=name, metadata=dict(INFERRED))
        except PydanticValidationError as e:
            detail = "; ".join(x["msg"] for x in e.errors())
            raise Unprocessable(
                f"column {name[:100]!r} of {table!r} cannot be stored: {detail}",
                errors=[{"loc": ["body", "sql"], "msg": detail}],
            ) from None
        unit.assets[assets[table]].add_ensured([field])
        seen[name.lower()] = field.name
        return field.name

    for table_edge in lineage.table_edges:
        unit.add_edge(
            EdgeSpec(
                assets[table_edge.target], assets[table_edge.source], RelationshipType.DEPENDS_ON
            )
        )
    for edge in lineage.field_lineage():
        source_column = column(edge.source.table, edge.source.column)
        target_column = column(edge.target.table, edge.target.column)
        unit.column_edges.append(
            ColumnEdgeSpec(
                assets[edge.source.table],
                source_column,
                assets[edge.target.table],
                target_column,
                edge.transformation,
                metadata={
                    "transformations": [
                        {"type": k.type.value, "subtype": k.value} for k in edge.subtypes
                    ]
                },
            )
        )

    kept: dict[str, Any] = {
        "dialect": request.dialect,
        "namespace": namespace,
        "default_catalog": request.default_catalog,
        "default_schema": request.default_schema,
        "schema": request.columns,
        "sql": request.sql,
    }
    digest = hashlib.sha256(
        json.dumps(kept, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    unit.audit = AuditSpec(
        "sql.lineage",
        "sql_script",
        f"sha256:{digest}",
        {**kept, "sha256": digest, "statements": len(lineage.statements)},
    )
    return unit
