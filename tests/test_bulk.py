"""POST /api/v1/bulk: upserts by natural keys, all or nothing."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from headwater.api.app import create_app
from headwater.catalog.db import Database
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, table_row_counts

# The catalog's tables, for the ingest tests that import ``row_counts``: this module's own tests
# count every table (``table_row_counts``).
TABLES = [
    "assets", "schema_fields", "relationships", "field_lineage", "audits", "outbox", "tags",
    "asset_tags",
]  # fmt: skip


def row_counts(test_db: TestDatabase) -> dict[str, int]:
    with psycopg.connect(test_db.admin_dsn) as conn:
        counts = {}
        for table in TABLES:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            counts[table] = row[0]
        return counts


def pipeline(n: int) -> dict[str, Any]:
    """A chain raw_i -> job_i -> clean_i with an id column, and column lineage through it."""
    assets, fields, relationships, lineage = [], [], [], []
    for i in range(n):
        raw, clean, job = f"db.raw_{i}", f"db.clean_{i}", f"airflow.load_{i}"
        assets += [
            {"type": "table", "name": f"raw_{i}", "qualified_name": raw},
            {"type": "table", "name": f"clean_{i}", "qualified_name": clean},
            {"type": "job", "name": f"load_{i}", "qualified_name": job},
        ]
        for table in (raw, clean):
            fields.append(
                {
                    "asset_qualified_name": table,
                    "fields": [{"name": "id", "data_type": "bigint"}, {"name": "email"}],
                }
            )
        relationships += [
            {"source_qualified_name": job, "target_qualified_name": raw, "type": "USES"},
            {"source_qualified_name": job, "target_qualified_name": clean, "type": "PRODUCES"},
        ]
        lineage.append(
            {
                "source": {"asset_qualified_name": raw, "field": "email"},
                "target": {"asset_qualified_name": clean, "field": "email"},
                "transformation": "IDENTITY",
            }
        )
    return {
        "assets": assets,
        "fields": fields,
        "relationships": relationships,
        "field_lineage": lineage,
    }


async def test_bulk_creates_then_replays_as_unchanged(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    body = pipeline(5)
    first = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "assets": {"created": 15, "updated": 0, "unchanged": 0},
        "fields": {"created": 0, "updated": 10, "unchanged": 0},
        "relationships": {"created": 10, "updated": 0, "unchanged": 0},
        "field_lineage": {"created": 5, "updated": 0, "unchanged": 0},
    }
    before = table_row_counts(test_db)
    again = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert again.status_code == 200
    assert again.json()["assets"] == {"created": 0, "updated": 0, "unchanged": 15}
    assert again.json()["relationships"]["unchanged"] == 10
    assert again.json()["field_lineage"]["unchanged"] == 5
    assert table_row_counts(test_db) == before  # a replay writes nothing, not even audit rows

    body["assets"][0]["description"] = "raw orders"
    changed = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert changed.json()["assets"] == {"created": 0, "updated": 1, "unchanged": 14}


async def test_bulk_of_100_with_one_invalid_item_writes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    body = pipeline(20)  # 60 assets, 40 field lists, 40 relationships, 20 lineage edges
    body["relationships"][37]["target_qualified_name"] = "db.does_not_exist"
    before = table_row_counts(test_db)
    response = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "relationships", 37]
    assert "db.does_not_exist" in problem["detail"]
    assert table_row_counts(test_db) == before


async def test_schema_invalid_item_is_422_with_its_path_and_writes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    body = pipeline(3)
    body["assets"][4]["type"] = "spaceship"
    before = table_row_counts(test_db)
    response = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert response.status_code == 422
    assert ["body", "assets", 4, "type"] in [e["loc"] for e in response.json()["errors"]]
    body = pipeline(3)
    body["fields"][1]["fields"].append({"name": "id"})  # duplicate column name
    response = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:3] == ["body", "fields", 1]
    assert table_row_counts(test_db) == before


async def test_self_links_and_overlong_descriptions_are_422_not_500(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """The bulk items built the catalog's own models after reading the request, so what those
    models refuse (found by schemathesis) escaped as a 500 instead of naming the item."""
    self_link = pipeline(2)
    self_link["relationships"][3]["target_qualified_name"] = self_link["relationships"][3][
        "source_qualified_name"
    ]
    self_loop = pipeline(2)
    self_loop["field_lineage"][1]["target"] = self_loop["field_lineage"][1]["source"]
    long_description = pipeline(2)
    long_description["field_lineage"][0]["description"] = "x" * 100_001
    before = table_row_counts(test_db)
    for body, where, says in [
        (self_link, ["body", "relationships", 3], "cannot link an asset to itself"),
        (self_loop, ["body", "field_lineage", 1], "cannot be its own lineage source"),
        (long_description, ["body", "field_lineage", 0, "description"], "at most 100000"),
    ]:
        response = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert [e["loc"] for e in problem["errors"]] == [where]
        assert says in problem["errors"][0]["msg"]
    assert table_row_counts(test_db) == before


async def test_unknown_field_in_lineage_and_type_change_are_rejected(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    body = pipeline(1)
    body["field_lineage"][0]["target"]["field"] = "phone"
    response = await client.post("/api/v1/bulk", json=body, headers=tenant.headers("editor"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "field_lineage", 0]
    assert "phone" in response.json()["detail"]
    ok = await client.post("/api/v1/bulk", json=pipeline(1), headers=tenant.headers("editor"))
    assert ok.status_code == 200
    retyped = pipeline(1)
    retyped["assets"][0]["type"] = "view"
    response = await client.post("/api/v1/bulk", json=retyped, headers=tenant.headers("editor"))
    assert response.status_code == 422
    assert "cannot change" in response.json()["detail"]


async def test_bulk_over_the_configured_item_limit_is_refused_and_writes_nothing(
    settings: Settings, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    small = settings.model_copy(update={"max_bulk_items": 4})
    assert small.database_url is not None
    app = create_app(small, Database(small.database_url, max_size=2))
    # A column list counts one, and each of its columns one more: 1 asset + (1 + 2) = 4 items.
    columns = [{"name": "id", "data_type": "bigint"}, {"name": "email"}]
    at_limit = {
        "assets": [{"type": "table", "name": "t", "qualified_name": "db.t"}],
        "fields": [{"asset_qualified_name": "db.t", "fields": columns}],
    }
    over_limit = {
        **at_limit,
        "fields": [{"asset_qualified_name": "db.t", "fields": [*columns, {"name": "x"}]}],
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            before = table_row_counts(test_db)
            refused = await http.post(
                "/api/v1/bulk", json=over_limit, headers=tenant.headers("editor")
            )
            assert refused.status_code == 422
            assert "5 items" in refused.json()["detail"]
            assert "over the limit of 4" in refused.json()["detail"]
            assert refused.json()["errors"][0]["loc"] == ["body"]
            assert table_row_counts(test_db) == before
            accepted = await http.post(
                "/api/v1/bulk", json=at_limit, headers=tenant.headers("editor")
            )
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["assets"]["created"] == 1
