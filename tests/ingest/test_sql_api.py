"""POST /api/v1/lineage/sql: extraction, recording (and replaying), errors with positions, roles,
and names that line up with the assets other sources created; ``headwater ingest sql``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from headwater.cli import EXIT_ERROR, EXIT_OK, main
from tests.conftest import TenantKeys, TestDatabase
from tests.test_bulk import row_counts

API = "/api/v1/lineage/sql"

SCRIPT = """
CREATE VIEW mart.customer_totals AS
SELECT c.id AS customer_id, c.email, SUM(o.amount) AS total
  FROM raw.customers c JOIN raw.orders o ON o.customer_id = c.id
 WHERE o.status = 'paid'
 GROUP BY c.id, c.email;
INSERT INTO mart.daily (day, revenue)
SELECT o.ordered_on, SUM(o.amount) FROM raw.orders o GROUP BY o.ordered_on
"""


def _graph(test_db: TestDatabase, tenant: TenantKeys) -> dict[str, Any]:
    """What the tenant's catalog holds, by qualified names (read as the schema owner)."""
    tenant_id = UUID(str(tenant.tenant_id))
    with psycopg.connect(test_db.admin_dsn) as conn:
        assets: dict[str, str] = dict(
            conn.execute(
                "SELECT qualified_name, type FROM assets WHERE tenant_id = %s AND deleted_at"
                " IS NULL",
                (tenant_id,),
            ).fetchall()
        )
        fields: dict[str, list[str]] = {}
        for qn, name in conn.execute(
            "SELECT a.qualified_name, f.name FROM schema_fields f JOIN assets a ON a.id ="
            " f.asset_id WHERE f.tenant_id = %s ORDER BY a.qualified_name, f.ordinal",
            (tenant_id,),
        ):
            fields.setdefault(qn, []).append(name)
        relationships = set(
            conn.execute(
                "SELECT s.qualified_name, r.type, t.qualified_name FROM relationships r"
                " JOIN assets s ON s.id = r.source_id JOIN assets t ON t.id = r.target_id"
                " WHERE r.tenant_id = %s AND r.deleted_at IS NULL",
                (tenant_id,),
            ).fetchall()
        )
        lineage = set(
            conn.execute(
                "SELECT sa.qualified_name || '.' || s.name, ta.qualified_name || '.' || t.name,"
                "       l.transformation"
                "  FROM field_lineage l"
                "  JOIN schema_fields s ON s.id = l.source_field_id"
                "  JOIN schema_fields t ON t.id = l.target_field_id"
                "  JOIN assets sa ON sa.id = s.asset_id JOIN assets ta ON ta.id = t.asset_id"
                " WHERE l.tenant_id = %s AND l.deleted_at IS NULL",
                (tenant_id,),
            ).fetchall()
        )
    return {"assets": assets, "fields": fields, "relationships": relationships, "lineage": lineage}


async def test_extracts_table_and_column_lineage(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    before = row_counts(test_db)
    r = await client.post(
        API,
        json={"dialect": "postgres", "sql": SCRIPT, "default_catalog": "shop"},
        headers=tenant.headers("viewer"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["namespace"] == "postgres"
    assert [(s["index"], s["line"], s["kind"]) for s in body["statements"]] == [
        (0, 2, "CREATE VIEW"),
        (1, 7, "INSERT"),
    ]
    assert body["inputs"] == ["shop.raw.customers", "shop.raw.orders"]
    assert body["outputs"] == ["shop.mart.customer_totals", "shop.mart.daily"]
    assert {(e["source"], e["target"]) for e in body["table_edges"]} == {
        ("shop.raw.customers", "shop.mart.customer_totals"),
        ("shop.raw.orders", "shop.mart.customer_totals"),
        ("shop.raw.orders", "shop.mart.daily"),
    }
    edges = {
        (e["source"]["column"], e["target"]["table"], e["target"]["column"], e["subtype"])
        for e in body["column_edges"]
    }
    assert ("id", "shop.mart.customer_totals", "customer_id", "IDENTITY") in edges
    assert ("amount", "shop.mart.customer_totals", "total", "AGGREGATION") in edges
    assert ("customer_id", "shop.mart.customer_totals", "total", "JOIN") in edges
    assert ("status", "shop.mart.customer_totals", "email", "FILTER") in edges
    assert ("ordered_on", "shop.mart.daily", "day", "IDENTITY") in edges
    assert ("amount", "shop.mart.daily", "revenue", "AGGREGATION") in edges
    assert all(e["type"] in ("DIRECT", "INDIRECT") for e in body["column_edges"])
    assert body["assets"]["shop.raw.orders"] == "postgres/shop.raw.orders"
    assert body["recorded"] is None
    assert row_counts(test_db) == before, "extraction writes nothing"


async def test_record_then_replay_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    request = {
        "dialect": "postgres",
        "sql": SCRIPT,
        "default_catalog": "shop",
        "namespace": "postgres://db:5432",
        "record": True,
    }
    r = await client.post(API, json=request, headers=tenant.headers("editor"))
    assert r.status_code == 200, r.text
    recorded = r.json()["recorded"]
    assert recorded["assets"]["created"] == 4
    assert recorded["relationships"]["created"] == 3
    assert recorded["field_lineage"]["created"] > 0

    ns = "postgres://db:5432/shop"
    graph = _graph(test_db, tenant)
    assert graph["assets"] == {
        f"{ns}.raw.customers": "table",
        f"{ns}.raw.orders": "table",
        f"{ns}.mart.customer_totals": "view",
        f"{ns}.mart.daily": "table",
    }
    # No job: the written table DEPENDS_ON what it reads (data flows target -> source's reader).
    assert graph["relationships"] == {
        (f"{ns}.mart.customer_totals", "DEPENDS_ON", f"{ns}.raw.customers"),
        (f"{ns}.mart.customer_totals", "DEPENDS_ON", f"{ns}.raw.orders"),
        (f"{ns}.mart.daily", "DEPENDS_ON", f"{ns}.raw.orders"),
    }
    assert (f"{ns}.raw.orders.amount", f"{ns}.mart.customer_totals.total", "AGGREGATION") in (
        graph["lineage"]
    )
    assert (f"{ns}.raw.customers.id", f"{ns}.mart.customer_totals.customer_id", "IDENTITY") in (
        graph["lineage"]
    )
    # One edge per column pair, with its strongest kind: customer_id feeds total by the JOIN only.
    assert (f"{ns}.raw.orders.customer_id", f"{ns}.mart.customer_totals.total", "JOIN") in (
        graph["lineage"]
    )
    assert set(graph["fields"][f"{ns}.mart.daily"]) == {"day", "revenue"}
    assert {"amount", "status", "customer_id", "ordered_on"} <= set(
        graph["fields"][f"{ns}.raw.orders"]
    )

    before = row_counts(test_db)
    again = await client.post(API, json=request, headers=tenant.headers("editor"))
    assert again.status_code == 200
    replay = again.json()["recorded"]
    for kind in ("assets", "fields", "relationships", "field_lineage"):
        assert replay[kind]["created"] == replay[kind]["updated"] == 0, kind
    assert replay["assets"]["unchanged"] == 4
    assert row_counts(test_db) == before


async def test_known_columns_come_from_the_catalog_and_names_line_up(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """An OpenLineage dataset's columns expand a SELECT *, and recording joins that asset."""
    h = tenant.headers("editor")
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2024-05-01T10:00:00Z",
        "producer": "https://example.com/spark",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190a1b2-0000-7000-8000-000000000001"},
        "job": {"namespace": "spark", "name": "load_orders"},
        "outputs": [
            {
                "namespace": "postgres://db:5432",
                "name": "shop.public.orders",
                "facets": {
                    "schema": {
                        "_producer": "https://example.com/spark",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                        "fields": [
                            {"name": "id", "type": "bigint"},
                            {"name": "amount", "type": "numeric"},
                        ],
                    }
                },
            }
        ],
    }
    assert (await client.post("/api/v1/lineage", json=event, headers=h)).status_code == 201
    request = {
        "dialect": "postgres",
        "sql": "CREATE TABLE public.orders_copy AS SELECT * FROM public.orders",
        "default_catalog": "shop",
        "namespace": "postgres://db:5432",
        "record": True,
    }
    r = await client.post(API, json=request, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["catalog_columns"] == ["shop.public.orders"]
    assert {(e["source"]["column"], e["target"]["column"]) for e in body["column_edges"]} == {
        ("id", "id"),
        ("amount", "amount"),
    }
    assert body["recorded"]["assets"] == {
        "created": 1,  # the copy; the orders asset is OpenLineage's
        "updated": 1,  # it gains metadata.sql
        "unchanged": 0,
        "deleted": 0,
    }
    graph = _graph(test_db, tenant)
    orders = "postgres://db:5432/shop.public.orders"
    assert graph["fields"][orders] == ["id", "amount"], "no column added or removed"
    assert (
        f"{orders}.amount",
        "postgres://db:5432/shop.public.orders_copy.amount",
        "IDENTITY",
    ) in (graph["lineage"])

    # The request's own columns win over the catalog's for the tables it names.
    narrowed = {**request, "record": False, "schema": {"shop.public.orders": ["id"]}}
    r = await client.post(API, json=narrowed, headers=h)
    assert [e["target"]["column"] for e in r.json()["column_edges"]] == ["id"]
    # The copy exists now, so its columns come from the catalog; the request's orders do not.
    assert r.json()["catalog_columns"] == ["shop.public.orders_copy"]


async def test_upper_case_names_of_snowflake_resolve(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    h = tenant.headers("editor")
    created = await client.post(
        "/api/v1/assets",
        json={"type": "table", "name": "ORDERS", "qualified_name": "snowflake/DB.PUBLIC.ORDERS"},
        headers=h,
    )
    asset = created.json()
    await client.put(
        f"/api/v1/assets/{asset['id']}/fields",
        json={"version": asset["version"], "fields": [{"name": "ID"}, {"name": "AMOUNT"}]},
        headers=h,
    )
    r = await client.post(
        API,
        json={"dialect": "snowflake", "sql": "INSERT INTO db.public.copy SELECT * FROM orders",
              "default_catalog": "db", "default_schema": "public", "record": True},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["assets"]["db.public.orders"] == "snowflake/DB.PUBLIC.ORDERS"
    assert body["catalog_columns"] == ["db.public.orders"]
    # The copy's columns are unknown, so INSERT ... SELECT * cannot be mapped by position.
    assert body["recorded"]["relationships"]["created"] == 1
    fields = await client.get(f"/api/v1/assets/{asset['id']}/fields", headers=h)
    assert [f["name"] for f in fields.json()["fields"]] == ["ID", "AMOUNT"]


@pytest.mark.parametrize(
    ("sql", "statement", "line", "column"),
    [
        ("SELECT 1;\nINSERT INTO t SELEC a FROM s", 1, 2, 15),
        ("SELECT a FROM t;\nSELECT b FROM u;\n\n  SELECT (c FROM v", 2, 4, 13),
        # sqlglot reads it, with a dot missing its left side, and its optimizer then fails.
        ("SELECT 1;\nINSERT INTO t SELECT a FROM s LATERAL .x", 1, 2, 40),
    ],
)
async def test_unparseable_sql_is_422_naming_the_position(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    test_db: TestDatabase,
    sql: str,
    statement: int,
    line: int,
    column: int,
) -> None:
    before = row_counts(test_db)
    r = await client.post(
        API,
        json={"dialect": "postgres", "sql": sql, "record": True},
        headers=tenant.headers("editor"),
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["statement"], body["line"], body["column"]) == (statement, line, column)
    assert (
        f"statement {statement + 1} cannot be parsed at line {line}, column {column}"
        in (body["detail"])
    )
    assert body["snippet"] == sql.splitlines()[line - 1]
    assert row_counts(test_db) == before


async def test_bad_requests_are_422(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    h = tenant.headers("viewer")
    unknown = await client.post(API, json={"dialect": "klingon", "sql": "SELECT 1"}, headers=h)
    assert unknown.status_code == 422
    assert "unknown SQL dialect 'klingon'" in unknown.json()["detail"]
    for body in (
        {"dialect": "postgres", "sql": ""},
        {"dialect": "postgres", "sql": "SELECT 1", "extra": True},
        {"dialect": "postgres", "sql": "SELECT 1", "schema": {"a.b.c.d": ["x"]}},
    ):
        r = await client.post(API, json=body, headers=h)
        assert r.status_code == 422, body


async def test_viewer_may_extract_but_not_record(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    before = row_counts(test_db)
    request = {"dialect": "postgres", "sql": SCRIPT, "record": True}
    r = await client.post(API, json=request, headers=tenant.headers("viewer"))
    assert r.status_code == 403
    assert "editor" in r.json()["detail"]
    assert row_counts(test_db) == before
    unauthenticated = await client.post(API, json=request)
    assert unauthenticated.status_code == 401


async def test_recording_stays_in_the_callers_tenant(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys, test_db: TestDatabase
) -> None:
    request = {"dialect": "duckdb", "sql": "CREATE TABLE b AS SELECT x FROM a", "record": True}
    r = await client.post(API, json=request, headers=tenant.headers("editor"))
    assert r.json()["recorded"]["assets"]["created"] == 2
    assert set(_graph(test_db, tenant)["assets"]) == {"duckdb/a", "duckdb/b"}
    assert _graph(test_db, other_tenant)["assets"] == {}
    # The other tenant's own recording creates its own assets, not a link to the first's.
    r = await client.post(API, json=request, headers=other_tenant.headers("editor"))
    assert r.json()["recorded"]["assets"]["created"] == 2


# headwater ingest sql ------------------------------------------------------------------------


def test_cli_sql_offline_prints_json_or_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "q.sql"
    script.write_text("INSERT INTO mart.t (id, total) SELECT id, SUM(v) FROM raw.s GROUP BY id")
    assert main(["ingest", "sql", str(script), "--dialect", "postgres"]) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert body["table_edges"] == [{"source": "raw.s", "target": "mart.t"}]
    assert body["recorded"] is None

    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"raw.s": ["id", "v", "w"]}))
    star = tmp_path / "star.sql"
    star.write_text("CREATE VIEW v AS SELECT * FROM raw.s")
    argv = ["ingest", "sql", str(star), "--dialect", "postgres", "--schema", str(schema)]
    assert main([*argv, "--format", "table"]) == EXIT_OK
    table = capsys.readouterr().out
    assert "statement 1 (line 1, column 1): CREATE VIEW analysed" in table
    assert "raw.s -> v" in table
    assert re.search(r"^  raw\.s\.w +-> v\.w +DIRECT/IDENTITY$", table, re.MULTILINE)

    script.write_text("SELECT 1;\nSELECT FROM WHERE (")
    assert main(["ingest", "sql", str(script), "--dialect", "postgres"]) == EXIT_ERROR
    assert "statement 2 cannot be parsed at line 2" in capsys.readouterr().err


def test_cli_sql_records_into_the_store(
    test_db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_ADMIN_DATABASE_URL", test_db.admin_dsn)
    assert main(["admin", "tenant", "create", "acme", "--admin-email", "a@acme.test"]) == EXIT_OK
    capsys.readouterr()
    script = tmp_path / "q.sql"
    script.write_text("CREATE TABLE b AS SELECT x, y + 1 AS z FROM a")
    argv = ["ingest", "sql", str(script), "--dialect", "postgres", "--record", "--tenant", "acme"]
    assert main(argv) == EXIT_OK
    recorded = json.loads(capsys.readouterr().out)["recorded"]
    assert (recorded["assets"]["created"], recorded["field_lineage"]["created"]) == (2, 2)
    before = row_counts(test_db)
    assert main(argv) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["recorded"]["assets"]["unchanged"] == 2
    assert row_counts(test_db) == before
