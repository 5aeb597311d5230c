"""Lineage queries through the API, answered by the in-process graph mirror and hydrated from
Postgres: flow semantics, caps, paths, column level, freshness and isolation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from headwater.api.app import create_app
from headwater.api.routers import lineage
from headwater.api.routers.lineage import GraphViewOut, PathsOut, TraversalOut
from headwater.catalog.db import Database
from headwater.catalog.hydrate import AssetSummary, FieldDocuments
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import Edge, NodeRef, Reached, Traversal
from headwater.settings import Settings
from tests.conftest import TenantKeys, make_tenant

PLATFORM: dict[str, Any] = {
    "assets": [
        {"type": "table", "name": "orders", "qualified_name": "pg://shop/raw.orders"},
        {"type": "table", "name": "customers", "qualified_name": "pg://shop/raw.customers"},
        {"type": "job", "name": "build_orders", "qualified_name": "airflow://etl/build_orders"},
        {
            "type": "table",
            "name": "orders_enriched",
            "qualified_name": "pg://dw/mart.orders",
            # Text and values a JSON encoder must get right, carried through to lineage answers.
            "description": 'Orders, "enriched" \\ — ünïcode\tand\ncontrol',
            "owners": ["dw@example.com", 'o"brien@example.com'],
            "metadata": {"sla": {"hours": 1.5, "tiers": [1, None, True]}, "é": "\u0001"},
        },
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


def as_documented(model: type[BaseModel], body: dict[str, Any]) -> str:
    """The body re-encoded through its response model: equal to the body's own encoding when it
    has exactly the model's keys, in the model's order, with values of the model's types."""
    return json.dumps(model.model_validate(body).model_dump(mode="json"))


async def test_bodies_are_the_documented_models_with_the_assets_postgres_shows(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    """Traversals, views and paths are encoded without their models (for speed): they must
    still be exactly what the models document, and show each asset as its own endpoint does."""
    ids = await load(client, tenant)
    mart = ids["pg://dw/mart.orders"]
    for tag in ({"name": "zeta"}, {"name": "Gold", "category": "tier"}, {"name": "pii"}):
        tagged = await client.post(
            f"/api/v1/assets/{mart}/tags", json=tag, headers=tenant.headers("editor")
        )
        assert tagged.status_code == 200, tagged.text
    fields = await client.get(
        f"/api/v1/assets/{ids['pg://shop/raw.orders']}/fields", headers=tenant.headers()
    )
    email = next(f["id"] for f in fields.json()["fields"] if f["name"] == "email")
    answers: list[tuple[type[BaseModel], str, dict[str, Any]]] = [
        (TraversalOut, "downstream", {"asset_id": ids["pg://shop/raw.orders"], "depth": "all"}),
        (TraversalOut, "upstream", {"asset_id": ids["superset://revenue"], "depth": "all"}),
        (TraversalOut, "downstream", {"field_id": email, "depth": "all"}),
        (GraphViewOut, "graph", {"asset_id": mart, "include_fields": True}),
        (
            PathsOut,
            "paths",
            {
                "from_asset_id": ids["pg://shop/raw.orders"],
                "to_asset_id": ids["superset://revenue"],
            },
        ),
    ]
    shown: dict[int, dict[str, Any]] = {}
    for model, route, params in answers:
        r = await client.get(f"/api/v1/lineage/{route}", params=params, headers=tenant.headers())
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert json.dumps(body) == as_documented(model, body), route
        nodes = body["nodes"] + ([body["start"]] if "start" in body else [])
        assert nodes
        shown.update({n["asset"]["id"]: n["asset"] for n in nodes})
    assert mart in shown
    assert [t["name"] for t in shown[mart]["tags"]] == ["Gold", "pii", "zeta"]
    for asset_id, asset in shown.items():
        own = await client.get(f"/api/v1/assets/{asset_id}", headers=tenant.headers())
        assert asset == {k: own.json()[k] for k in AssetSummary.model_fields}


async def test_a_node_the_mirror_has_not_seen_stands_alone(
    settings: Settings, database: Database
) -> None:
    """A graph that never hears of Postgres's writes: a start Postgres shows is answered alone
    (the mirror lags), one it does not show is 404."""
    keys = await make_tenant(database, "acme")
    assert settings.database_url is not None
    app = create_app(settings, Database(settings.database_url), MemoryGraphEngine())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            created = await client.post(
                "/api/v1/assets",
                json={"type": "table", "name": "new", "qualified_name": "pg://new"},
                headers=keys.headers("editor"),
            )
            assert created.status_code == 201, created.text
            asset_id = created.json()["id"]
            down = await client.get(
                "/api/v1/lineage/downstream",
                params={"asset_id": asset_id, "depth": "all"},
                headers=keys.headers(),
            )
            assert down.status_code == 200, down.text
            assert down.json()["start"]["asset"]["qualified_name"] == "pg://new"
            assert down.json()["nodes"] == []
            view = await client.get(
                "/api/v1/lineage/graph", params={"asset_id": asset_id}, headers=keys.headers()
            )
            assert view.status_code == 200, view.text
            assert [(n["id"], n["side"]) for n in view.json()["nodes"]] == [(asset_id, "center")]
            for route in ("downstream", "graph"):
                missing = await client.get(
                    f"/api/v1/lineage/{route}",
                    params={"asset_id": asset_id + 1000},
                    headers=keys.headers(),
                )
                assert missing.status_code == 404, route


def test_traversal_rows_are_encoded_as_the_graph_reads_them() -> None:
    """The encoder reads a Traversal's row codes itself: it must agree with the Reached rows the
    graph layer builds from them, for every kind of node and edge."""
    rows = [
        Reached(NodeRef.asset(1), 0, None),
        Reached(NodeRef.asset(2), 1, Edge.relationship(11, 2, 1, "DEPENDS_ON")),
        Reached(NodeRef.field(20), 2, Edge.contains(2, 20)),
        Reached(NodeRef.field(30), 3, Edge.field_lineage(12, 20, 30, 'SQL "expr"')),
    ]
    result = Traversal.from_rows([NodeRef.asset(1)], "downstream", rows, False)
    shown = lineage._Shown(
        {1: b'{"a":1}', 2: b'{"a":2}'},
        FieldDocuments({20: 2, 30: 2}, {20: b'{"f":20}', 30: b'{"f":30}'}),
    )
    encoded = [json.loads(node) for node in shown.reached(result)]
    expected = []
    for r in result:
        field = {"f": r.node.id} if r.node.kind == "field" else None
        via = None
        if r.via is not None:
            via = {
                "kind": r.via.kind,
                "id": r.via.id,
                "source": {"kind": r.via.source.kind, "id": r.via.source.id},
                "target": {"kind": r.via.target.kind, "id": r.via.target.id},
                "type": r.via.type,
            }
        asset = {"a": r.node.id if r.node.kind == "asset" else 2}
        node = {"kind": r.node.kind, "id": r.node.id, "distance": r.distance}
        expected.append({**node, "asset": asset, "field": field, "via": via})
    assert encoded == expected
