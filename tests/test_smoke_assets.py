from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantKeys, TestDatabase, table_row_counts


async def test_create_and_get_asset(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    body = {"type": "table", "name": "orders", "qualified_name": "pg://shop/public.orders"}
    created = await client.post("/api/v1/assets", json=body, headers=tenant.headers("editor"))
    assert created.status_code == 201, created.text
    asset = created.json()
    got = await client.get(f"/api/v1/assets/{asset['id']}", headers=tenant.headers("viewer"))
    assert got.status_code == 200
    assert got.json()["qualified_name"] == "pg://shop/public.orders"


async def test_names_lose_surrounding_whitespace_within_the_limits_as_sent(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """The OpenAPI document states each name's length limit; a name over it as sent was accepted
    when stripping whitespace brought it under (schemathesis: schema-violating requests
    accepted). Blank names are refused as such."""
    h = tenant.headers("editor")
    padded = {"type": "table", "name": "  orders\t", "qualified_name": " db.orders \n"}
    created = await client.post("/api/v1/assets", json=padded, headers=h)
    assert created.status_code == 201, created.text
    assert (created.json()["name"], created.json()["qualified_name"]) == ("orders", "db.orders")
    before = table_row_counts(test_db)
    changes: list[tuple[dict[str, Any], str]] = [
        ({"qualified_name": "q" * 1999 + "  "}, "at most 2000 characters"),
        ({"name": " \t "}, "must not be blank"),
        ({"owners": ["ana", "   "]}, "must not be blank"),
    ]
    for changed, says in changes:
        body = {"type": "table", "name": "t", "qualified_name": "db.t", **changed}
        response = await client.post("/api/v1/assets", json=body, headers=h)
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]
    assert table_row_counts(test_db) == before
    columns = {"version": 1, "fields": [{"name": " id ", "data_type": " bigint "}]}
    asset_id = created.json()["id"]
    replaced = await client.put(f"/api/v1/assets/{asset_id}/fields", json=columns, headers=h)
    assert [(f["name"], f["data_type"]) for f in replaced.json()["fields"]] == [("id", "bigint")]
