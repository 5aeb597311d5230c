"""A small data platform loaded through the API for the impact tests, and a wait for the
in-process graph to hold all of it.

::

    raw.orders --USES-- build_orders (job) --PRODUCES--> mart.orders (PII) --> mart.revenue
        id, email, amount, status, notes                    |                 |
                                                             +--> ops board    +--> revenue board
    column lineage: raw.{id,email,amount,status} -> mart.{id,customer_email,amount,status}
                    mart.amount -AGGREGATION-> revenue.revenue -> revenue board.revenue

``raw.orders.amount`` is read by the revenue dashboard three hops away; ``raw.orders.notes`` is
read by nobody; the ops board declares no columns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import TenantKeys

RAW = "pg://shop/raw.orders"
JOB = "airflow://etl/build_orders"
MART = "pg://dw/mart.orders"
REVENUE = "pg://dw/mart.revenue"
REVENUE_BOARD = "superset://dash/revenue"
OPS_BOARD = "superset://dash/ops"


def _col(asset: str, field: str) -> dict[str, str]:
    return {"asset_qualified_name": asset, "field": field}


PLATFORM: dict[str, Any] = {
    "assets": [
        {"type": "table", "name": "orders", "qualified_name": RAW, "owners": ["eng@acme.test"]},
        {"type": "job", "name": "build_orders", "qualified_name": JOB, "owners": ["etl@acme.test"]},
        {"type": "table", "name": "mart_orders", "qualified_name": MART},
        {"type": "view", "name": "revenue", "qualified_name": REVENUE},
        {
            "type": "dashboard",
            "name": "Revenue",
            "qualified_name": REVENUE_BOARD,
            "owners": ["bi@acme.test"],
        },
        {
            "type": "dashboard",
            "name": "Ops",
            "qualified_name": OPS_BOARD,
            "owners": ["ops@acme.test"],
        },
    ],
    "fields": [
        {
            "asset_qualified_name": RAW,
            "fields": [
                {"name": "id", "data_type": "bigint"},
                {"name": "email", "data_type": "varchar(255)"},
                {"name": "amount", "data_type": "numeric(10,2)"},
                {"name": "status", "data_type": "varchar(20)"},
                {"name": "notes", "data_type": "text"},
            ],
        },
        {
            "asset_qualified_name": MART,
            "fields": [
                {"name": "id", "data_type": "bigint"},
                {"name": "customer_email", "data_type": "varchar(255)"},
                {"name": "amount", "data_type": "numeric(12,2)"},
                {"name": "status", "data_type": "varchar(20)"},
            ],
        },
        {
            "asset_qualified_name": REVENUE,
            "fields": [
                {"name": "day", "data_type": "date"},
                {"name": "revenue", "data_type": "numeric(14,2)"},
            ],
        },
        {"asset_qualified_name": REVENUE_BOARD, "fields": [{"name": "revenue"}]},
    ],
    "relationships": [
        {"source_qualified_name": JOB, "target_qualified_name": RAW, "type": "USES"},
        {"source_qualified_name": JOB, "target_qualified_name": MART, "type": "PRODUCES"},
        {"source_qualified_name": REVENUE, "target_qualified_name": MART, "type": "DEPENDS_ON"},
        {
            "source_qualified_name": REVENUE_BOARD,
            "target_qualified_name": REVENUE,
            "type": "DEPENDS_ON",
        },
        {"source_qualified_name": OPS_BOARD, "target_qualified_name": MART, "type": "DEPENDS_ON"},
    ],
    "field_lineage": [
        {"source": _col(RAW, "id"), "target": _col(MART, "id"), "transformation": "IDENTITY"},
        {
            "source": _col(RAW, "email"),
            "target": _col(MART, "customer_email"),
            "transformation": "IDENTITY",
        },
        {
            "source": _col(RAW, "amount"),
            "target": _col(MART, "amount"),
            "transformation": "IDENTITY",
        },
        {
            "source": _col(RAW, "status"),
            "target": _col(MART, "status"),
            "transformation": "IDENTITY",
        },
        {
            "source": _col(MART, "amount"),
            "target": _col(REVENUE, "revenue"),
            "transformation": "AGGREGATION",
        },
        {
            "source": _col(REVENUE, "revenue"),
            "target": _col(REVENUE_BOARD, "revenue"),
            "transformation": "IDENTITY",
        },
    ],
}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def ids_by_name(client: httpx.AsyncClient, keys: TenantKeys) -> dict[str, int]:
    listed = await client.get("/api/v1/assets", params={"limit": 500}, headers=keys.headers())
    return {a["qualified_name"]: a["id"] for a in listed.json()["items"]}


async def wait_for_graph(
    client: httpx.AsyncClient, keys: TenantKeys, asset: str, column: str, reaches: int
) -> None:
    """Until the graph shows ``reaches`` columns downstream of ``asset.column``."""
    ids = await ids_by_name(client, keys)
    fields = await client.get(f"/api/v1/assets/{ids[asset]}/fields", headers=keys.headers())
    field_id = next(f["id"] for f in fields.json()["fields"] if f["name"] == column)

    async def synced() -> bool:
        r = await client.get(
            "/api/v1/lineage/downstream",
            params={"field_id": field_id, "depth": "all"},
            headers=keys.headers(),
        )
        return r.status_code == 200 and len(r.json()["nodes"]) == reaches

    await eventually(synced)


async def load_platform(client: httpx.AsyncClient, keys: TenantKeys) -> dict[str, int]:
    response = await client.post("/api/v1/bulk", json=PLATFORM, headers=keys.headers("editor"))
    assert response.status_code == 200, response.text
    ids = await ids_by_name(client, keys)
    tagged = await client.post(
        f"/api/v1/assets/{ids[MART]}/tags",
        json={"name": "pii", "category": "PII"},
        headers=keys.headers("editor"),
    )
    assert tagged.status_code == 200, tagged.text
    await wait_for_graph(client, keys, RAW, "amount", 3)
    return ids
