from __future__ import annotations

import httpx

from tests.conftest import TenantKeys


async def test_create_and_get_asset(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    body = {"type": "table", "name": "orders", "qualified_name": "pg://shop/public.orders"}
    created = await client.post("/api/v1/assets", json=body, headers=tenant.headers("editor"))
    assert created.status_code == 201, created.text
    asset = created.json()
    got = await client.get(f"/api/v1/assets/{asset['id']}", headers=tenant.headers("viewer"))
    assert got.status_code == 200
    assert got.json()["qualified_name"] == "pg://shop/public.orders"
