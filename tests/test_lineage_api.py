"""Lineage queries through the API, answered by the in-process graph mirror and hydrated from
Postgres: flow semantics, caps, paths, column level, freshness and isolation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import TenantKeys

PLATFORM: dict[str, Any] = {
    "assets": [
        {"type": "table", "name": "orders", "qualified_name": "pg://shop/raw.orders"},
        {"type": "table", "name": "customers", "qualified_name": "pg://shop/raw.customers"},
        {"type": "job", "name": "build_orders", "qualified_name": "airflow://etl/build_orders"},
        {"type": "table", "name": "orders_enriched", "qualified_name": "pg://dw/mart.orders"},
        {"type": "dashboard", "name": "Revenue", "qualified_name": "superset://revenue"},
    ],
    "fields": [
        {
            "asset_qualified_name": "pg://shop/raw.orders",
            "fields": [{"name": "id"}, {"name": "email"}],
        },
        {
            "asset_qualified_name": "pg://dw/mart.orders",
            "fields": [{"name": "id"}, {"name": "customer_email"}],
        },
    ],
    "relationships": [
        {
            "source_qualified_name": "airflow://etl/build_orders",
            "target_qualified_name": "pg://shop/raw.orders",
            "type": "USES",
        },
        {
            "source_qualified_name": "airflow://etl/build_orders",
            "target_qualified_name": "pg://shop/raw.customers",
            "type": "USES",
        },
        {
            "source_qualified_name": "airflow://etl/build_orders",
            "target_qualified_name": "pg://dw/mart.orders",
            "type": "PRODUCES",
        },
        {
            "source_qualified_name": "superset://revenue",
            "target_qualified_name": "pg://dw/mart.orders",
            "type": "DEPENDS_ON",
        },
        {  # structure, not flow: never followed upstream or downstream
            "source_qualified_name": "pg://shop/raw.orders",
            "target_qualified_name": "pg://shop/raw.customers",
            "type": "RELATED_TO",
        },
    ],
    "field_lineage": [
        {
            "source": {"asset_qualified_name": "pg://shop/raw.orders", "field": "email"},
            "target": {"asset_qualified_name": "pg://dw/mart.orders", "field": "customer_email"},
            "transformation": "IDENTITY",
        }
    ],
}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> float:
    """Seconds until ``check`` held; fails the test after ``timeout``."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def load(client: httpx.AsyncClient, keys: TenantKeys) -> dict[str, int]:
    response = await client.post("/api/v1/bulk", json=PLATFORM, headers=keys.headers("editor"))
    assert response.status_code == 200, response.text
    listed = await client.get("/api/v1/assets", headers=keys.headers())
    ids = {a["qualified_name"]: a["id"] for a in listed.json()["items"]}

    async def synced() -> bool:
        r = await client.get(
            "/api/v1/lineage/upstream",
            params={"asset_id": ids["superset://revenue"], "depth": "all"},
            headers=keys.headers(),
        )
        return r.status_code == 200 and len(r.json()["nodes"]) == 4

    await eventually(synced)
    return ids


def names(body: dict[str, Any]) -> dict[str, int]:
    return {n["asset"]["qualified_name"]: n["distance"] for n in body["nodes"]}


async def test_downstream_and_upstream_follow_the_flow(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load(client, tenant)
    down = await client.get(
        "/api/v1/lineage/downstream",
        params={"qualified_name": "pg://shop/raw.orders", "depth": "all"},
        headers=tenant.headers(),
    )
    assert down.status_code == 200
    body = down.json()
    assert body["start"]["asset"]["qualified_name"] == "pg://shop/raw.orders"
    assert names(body) == {
        "airflow://etl/build_orders": 1,
        "pg://dw/mart.orders": 2,
        "superset://revenue": 3,
    }
    dashboard = next(n for n in body["nodes"] if n["asset"]["type"] == "dashboard")
    assert dashboard["via"]["type"] == "DEPENDS_ON"
    assert dashboard["via"]["source"] == {"kind": "asset", "id": ids["superset://revenue"]}
    assert body["truncated"] is False

    up = await client.get(
        "/api/v1/lineage/upstream",
        params={"asset_id": ids["pg://dw/mart.orders"]},
        headers=tenant.headers(),
    )
    assert names(up.json()) == {"airflow://etl/build_orders": 1}  # default depth is 1
    filtered = await client.get(
        "/api/v1/lineage/upstream",
        params={
            "asset_id": ids["superset://revenue"],
            "depth": "all",
            "asset_type": "table",
        },
        headers=tenant.headers(),
    )
    assert set(names(filtered.json())) == {
        "pg://dw/mart.orders",
        "pg://shop/raw.orders",
        "pg://shop/raw.customers",
    }


async def test_column_level_lineage(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    ids = await load(client, tenant)
    fields = await client.get(
        f"/api/v1/assets/{ids['pg://shop/raw.orders']}/fields", headers=tenant.headers()
    )
    email = next(f for f in fields.json()["fields"] if f["name"] == "email")
    down = await client.get(
        "/api/v1/lineage/downstream",
        params={"field_id": email["id"], "depth": "all"},
        headers=tenant.headers(),
    )
    nodes = down.json()["nodes"]
    assert [(n["kind"], n["field"]["name"], n["asset"]["name"]) for n in nodes] == [
        ("field", "customer_email", "orders_enriched")
    ]
    assert nodes[0]["via"]["type"] == "IDENTITY"


async def test_caps_truncation_and_bad_parameters(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load(client, tenant)
    start = {"asset_id": ids["pg://shop/raw.orders"]}
    limited = await client.get(
        "/api/v1/lineage/downstream",
        params={**start, "depth": "all", "limit": 1},
        headers=tenant.headers(),
    )
    assert limited.json()["truncated"] is True
    assert len(limited.json()["nodes"]) == 1
    deep = await client.get(
        "/api/v1/lineage/downstream", params={**start, "depth": 10**6}, headers=tenant.headers()
    )
    assert deep.json()["depth_capped"] is True
    assert deep.json()["depth"] == 100
    huge = await client.get(
        "/api/v1/lineage/downstream", params={**start, "limit": 10**9}, headers=tenant.headers()
    )
    assert huge.json()["limit_capped"] is True
    bad: list[dict[str, str | int]] = [
        {**start, "depth": "lots"},
        {**start, "limit": 0},
        {**start, "relationship_type": "FLOWS_SIDEWAYS"},
        {},
        {**start, "qualified_name": "pg://shop/raw.orders"},
    ]
    for params in bad:
        r = await client.get("/api/v1/lineage/downstream", params=params, headers=tenant.headers())
        assert r.status_code == 422, params
    missing = await client.get(
        "/api/v1/lineage/downstream", params={"asset_id": 999999}, headers=tenant.headers()
    )
    assert missing.status_code == 404


async def test_graph_view_and_paths(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    ids = await load(client, tenant)
    view = await client.get(
        "/api/v1/lineage/graph",
        params={
            "asset_id": ids["pg://dw/mart.orders"],
            "upstream_depth": 1,
            "downstream_depth": 1,
            "include_fields": True,
        },
        headers=tenant.headers(),
    )
    assert view.status_code == 200
    body = view.json()
    shown = {(n["kind"], n["asset"]["name"], (n["field"] or {}).get("name")) for n in body["nodes"]}
    assert ("asset", "build_orders", None) in shown
    assert ("asset", "Revenue", None) in shown
    assert ("field", "orders_enriched", "customer_email") in shown
    job = next(n for n in body["nodes"] if n["asset"]["name"] == "build_orders")
    assert job["side"] == "upstream"
    assert job["hidden_upstream"] == 2  # raw.orders and raw.customers are one hop further
    capped = await client.get(
        "/api/v1/lineage/graph",
        params={"asset_id": ids["pg://dw/mart.orders"], "node_cap": 1},
        headers=tenant.headers(),
    )
    assert capped.json()["truncated"] is True

    paths = await client.get(
        "/api/v1/lineage/paths",
        params={
            "from_qualified_name": "pg://shop/raw.orders",
            "to_qualified_name": "superset://revenue",
        },
        headers=tenant.headers(),
    )
    assert paths.status_code == 200, paths.text
    result = paths.json()
    assert [e["type"] for e in result["shortest"]] == ["USES", "PRODUCES", "DEPENDS_ON"]
    assert len(result["paths"]) == 1
    none = await client.get(
        "/api/v1/lineage/paths",
        params={
            "from_asset_id": ids["superset://revenue"],
            "to_asset_id": ids["pg://shop/raw.orders"],
        },
        headers=tenant.headers(),
    )
    assert none.json()["shortest"] is None
    assert none.json()["paths"] == []


async def test_a_write_is_visible_to_lineage_within_a_second(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load(client, tenant)
    report = await client.post(
        "/api/v1/assets",
        json={"type": "report", "name": "weekly", "qualified_name": "looker://weekly"},
        headers=tenant.headers("editor"),
    )
    created = await client.post(
        "/api/v1/relationships",
        json={
            "source_id": report.json()["id"],
            "target_id": ids["pg://dw/mart.orders"],
            "type": "DEPENDS_ON",
        },
        headers=tenant.headers("editor"),
    )
    assert created.status_code == 201

    async def visible() -> bool:
        r = await client.get(
            "/api/v1/lineage/downstream",
            params={"asset_id": ids["pg://dw/mart.orders"]},
            headers=tenant.headers(),
        )
        return "looker://weekly" in names(r.json())

    assert await eventually(visible, timeout=1.0) < 1.0


async def test_deleted_assets_never_leak_even_before_the_mirror_catches_up(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load(client, tenant)
    job = await client.get(f"/api/v1/assets/{ids['airflow://etl/build_orders']}",
                           headers=tenant.headers())  # fmt: skip
    deleted = await client.delete(
        f"/api/v1/assets/{job.json()['id']}",
        params={"version": job.json()["version"]},
        headers=tenant.headers("editor"),
    )
    assert deleted.status_code == 200
    # Immediately: hydration from Postgres drops the job whatever the mirror holds.
    r = await client.get(
        "/api/v1/lineage/downstream",
        params={"asset_id": ids["pg://shop/raw.orders"], "depth": "all"},
        headers=tenant.headers(),
    )
    assert "airflow://etl/build_orders" not in names(r.json())

    async def cut() -> bool:  # and once synced, the flow through it is gone
        r = await client.get(
            "/api/v1/lineage/downstream",
            params={"asset_id": ids["pg://shop/raw.orders"], "depth": "all"},
            headers=tenant.headers(),
        )
        return len(r.json()["nodes"]) == 0

    await eventually(cut)


async def test_traversals_never_cross_tenants(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = await load(client, tenant)
    theirs = await load(client, other_tenant)
    assert set(mine.values()).isdisjoint(theirs.values())
    r = await client.get(
        "/api/v1/lineage/downstream",
        params={"asset_id": mine["pg://shop/raw.orders"], "depth": "all"},
        headers=other_tenant.headers(),
    )
    assert r.status_code == 404
    r = await client.get(
        "/api/v1/lineage/downstream",
        params={"qualified_name": "pg://shop/raw.orders", "depth": "all"},
        headers=other_tenant.headers(),
    )
    assert {n["id"] for n in r.json()["nodes"]} <= set(theirs.values())
    assert len(r.json()["nodes"]) == 3
