"""Helpers for the search API tests: a small catalog written through the API, and waiting for
the in-process search mirrors to catch up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from headwater.search.mirrors import SearchMirrors
from tests.conftest import TenantKeys

CATALOG: dict[str, Any] = {
    "assets": [
        {
            "type": "table",
            "name": "contacts",
            "qualified_name": "pg://crm/public.contacts",
            "description": "People at partner companies we are in touch with.",
            "owners": ["sales-ops@example.com"],
        },
        {
            "type": "table",
            "name": "orders",
            "qualified_name": "pg://shop/public.orders",
            "description": "Purchase orders placed in the web shop, one row per order.",
            "owners": ["shop@example.com"],
        },
        {
            "type": "dashboard",
            "name": "revenue_by_region",
            "qualified_name": "superset://finance/revenue_by_region",
            "description": "Daily revenue broken down by sales region.",
            "owners": ["finance@example.com"],
        },
        {
            "type": "topic",
            "name": "web_events",
            "qualified_name": "kafka://prod/web_events",
            "description": "Clickstream from the website: page views and clicks.",
        },
    ],
    "fields": [
        {
            "asset_qualified_name": "pg://crm/public.contacts",
            "fields": [
                {"name": "contact_id", "data_type": "bigint"},
                {"name": "email_address", "data_type": "text", "description": "Work e-mail"},
                {"name": "phone_number", "data_type": "text"},
            ],
        },
        {
            "asset_qualified_name": "pg://shop/public.orders",
            "fields": [
                {"name": "order_id", "data_type": "bigint"},
                {"name": "amount_eur", "data_type": "numeric", "description": "Order total"},
            ],
        },
    ],
}


async def load_catalog(client: httpx.AsyncClient, keys: TenantKeys) -> dict[str, int]:
    """The catalog above, plus a PII tag on contacts; returns ids by asset name."""
    response = await client.post("/api/v1/bulk", json=CATALOG, headers=keys.headers("editor"))
    assert response.status_code == 200, response.text
    listed = await client.get("/api/v1/assets", headers=keys.headers())
    ids = {a["name"]: a["id"] for a in listed.json()["items"]}
    tagged = await client.post(
        f"/api/v1/assets/{ids['contacts']}/tags",
        json={"name": "pii", "category": "Privacy"},
        headers=keys.headers("editor"),
    )
    assert tagged.status_code in (200, 201), tagged.text
    return ids


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll until ``check`` holds; fails the test after ``timeout`` seconds."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def search(
    client: httpx.AsyncClient, keys: TenantKeys, q: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/search", params={"q": q, **params}, headers=keys.headers("viewer")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def hit_ids(body: dict[str, Any]) -> list[int]:
    return [h["asset"]["id"] for h in body["hits"]]


async def synced(client: httpx.AsyncClient, keys: TenantKeys, ids: dict[str, int]) -> None:
    """Wait until both mirrors hold every asset in ``ids`` (searching by exact name)."""

    async def both_found() -> bool:
        for name, asset_id in ids.items():
            for mode in ("fulltext", "semantic"):
                body = await search(client, keys, name, mode=mode, limit=50)
                if asset_id not in hit_ids(body):
                    return False
        return True

    await eventually(both_found)


def mirrors_of(app: FastAPI) -> SearchMirrors:
    mirrors: SearchMirrors | None = app.state.search_mirrors
    assert mirrors is not None
    return mirrors
