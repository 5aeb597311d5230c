"""GET /api/v1/lineage?nodeId=&depth=: Marquez's lineage format over Headwater's graph.

The data is Marquez's own demo (the food_delivery seed, posted to the OpenLineage endpoint), and
the shape is checked against Marquez's own lineage-node test fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.catalog.errors import Unprocessable
from headwater.catalog.marquez import asset_name, parse_node_id
from tests.conftest import TenantKeys
from tests.test_lineage_api import eventually

MARQUEZ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "marquez"
SEED = MARQUEZ / "seed" / "metadata.json"
NODE_FIXTURE = MARQUEZ / "api_test_resources" / "lineage" / "node.json"
COLUMN_FIXTURE = MARQUEZ / "api_test_resources" / "column_lineage" / "node.json"
URL = "/api/v1/lineage"
FD = "food_delivery"


def ds(name: str) -> str:
    return f"dataset:{FD}:public.{name}"


def job(name: str) -> str:
    return f"job:{FD}:{name}"


async def lineage(
    client: httpx.AsyncClient, keys: TenantKeys, node_id: str, **params: Any
) -> httpx.Response:
    return await client.get(URL, params={"nodeId": node_id, **params}, headers=keys.headers())


@pytest.fixture
async def food_delivery(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    """Marquez's demo seed, ingested as Marquez ingests it, and synced into the graph."""
    posted = await client.post(
        f"{URL}/batch",
        content=SEED.read_bytes(),
        headers={**tenant.headers("editor"), "content-type": "application/json"},
    )
    assert posted.status_code == 200, posted.text

    async def synced() -> bool:
        # Every node of the demo is up or downstream of delivery_7_days.
        r = await lineage(client, tenant, ds("delivery_7_days"), depth=20)
        return r.status_code == 200 and len(r.json()["graph"]) == 26

    await eventually(synced)


def graph_of(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    nodes: list[dict[str, Any]] = response.json()["graph"]
    assert [n["id"] for n in nodes] == sorted(n["id"] for n in nodes)  # Marquez sorts by id
    return {n["id"]: n for n in nodes}


def edges(nodes: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    found = set()
    for node in nodes.values():
        for edge in node["inEdges"]:
            assert edge["destination"] == node["id"]
            found.add((edge["origin"], edge["destination"]))
        for edge in node["outEdges"]:
            assert edge["origin"] == node["id"]
            found.add((edge["origin"], edge["destination"]))
    return found


def same_shape(ours: Any, theirs: Any, path: str = "") -> None:
    """Every key of Marquez's fixture exists in ours with the same JSON type (timestamps, which
    Marquez's fixture writes as epoch numbers, are ISO strings as Marquez's API serves them)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        for key, value in theirs.items():
            assert key in ours, f"{path}.{key} missing"
            same_shape(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), path
        if theirs and ours:
            same_shape(ours[0], theirs[0], f"{path}[0]")
    elif theirs is not None and not path.endswith(("createdAt", "updatedAt")):
        assert isinstance(ours, type(theirs)) or ours is None, (path, ours, theirs)


async def test_a_dataset_graph_has_marquez_shape_and_follows_the_flow(
    client: httpx.AsyncClient, tenant: TenantKeys, food_delivery: None
) -> None:
    response = await lineage(client, tenant, ds("delivery_7_days"), depth=1)
    nodes = graph_of(response)
    # depth counts job levels, as in Marquez: 2 * depth + 1 flow edges each way.
    assert set(nodes) == {
        ds("delivery_7_days"),
        job("etl_delivery_7_days"),
        *(ds(n) for n in ("orders_7_days", "customers", "order_status", "drivers", "restaurants")),
        *(job(n) for n in ("etl_orders_7_days", "etl_customers", "etl_order_status")),
        *(job(n) for n in ("etl_drivers", "etl_restaurants")),
        job("delivery_times_7_days"),
        ds("top_delivery_times"),
        ds("discounts"),
        job("orders_popular_day_of_week"),
        job("email_discounts"),
    }
    assert response.headers["Headwater-Depth"] == "3"
    assert response.headers["Headwater-Depth-Capped"] == "false"
    assert response.headers["Headwater-Truncated"] == "false"
    flows = edges(nodes)
    assert (job("etl_delivery_7_days"), ds("delivery_7_days")) in flows
    assert (ds("customers"), job("etl_delivery_7_days")) in flows
    assert (ds("delivery_7_days"), job("delivery_times_7_days")) in flows
    assert all(o in nodes and d in nodes for o, d in flows)

    center = nodes[ds("delivery_7_days")]
    assert center["type"] == "DATASET"
    data = center["data"]
    assert data["id"] == {"namespace": FD, "name": "public.delivery_7_days"}
    assert (data["namespace"], data["name"], data["type"]) == (
        FD,
        "public.delivery_7_days",
        "DB_TABLE",
    )
    assert [f["name"] for f in data["fields"]][:2] == ["order_id", "order_placed_on"]
    same_shape(center, json.loads(NODE_FIXTURE.read_text()))

    etl = nodes[job("etl_delivery_7_days")]
    assert etl["type"] == "JOB"
    assert {(i["namespace"], i["name"]) for i in etl["data"]["inputs"]} == {
        (FD, f"public.{n}")
        for n in ("orders_7_days", "customers", "order_status", "drivers", "restaurants")
    }
    assert etl["data"]["outputs"] == [{"namespace": FD, "name": "public.delivery_7_days"}]
    assert etl["data"]["latestRun"]["state"] == "COMPLETED"
    assert etl["data"]["latestRun"]["durationMs"] is not None


async def test_depth_zero_a_job_node_and_caps(
    client: httpx.AsyncClient, tenant: TenantKeys, food_delivery: None
) -> None:
    nodes = graph_of(await lineage(client, tenant, job("etl_orders_7_days"), depth=0))
    assert set(nodes) == {
        job("etl_orders_7_days"),
        ds("orders_7_days"),
        *(ds(n) for n in ("menus", "menu_items", "orders", "categories")),
    }
    whole = await lineage(client, tenant, job("etl_menus"), depth=10**6)
    assert whole.headers["Headwater-Depth-Capped"] == "true"
    assert whole.headers["Headwater-Depth"] == "100"
    # Downstream only: etl_menus has no upstream, and jobs that merely share a dataset with
    # its flow (Marquez would add them) are not part of it.
    downstream = graph_of(whole)
    assert job("etl_orders") not in downstream
    assert {job("email_discounts"), ds("popular_orders_day_of_week")} <= set(downstream)


async def test_a_column_graph(
    client: httpx.AsyncClient, tenant: TenantKeys, food_delivery: None
) -> None:
    node_id = f"datasetField:{FD}:public.delivery_7_days:customer_email"
    nodes = graph_of(await lineage(client, tenant, node_id, depth=1))
    source = f"datasetField:{FD}:public.customers:email"
    assert source in nodes
    assert all(n["type"] == "DATASET_FIELD" for n in nodes.values())
    column = nodes[node_id]
    assert column["inEdges"] == [{"origin": source, "destination": node_id}]
    data = column["data"]
    assert (data["namespace"], data["dataset"], data["field"]) == (
        FD,
        "public.delivery_7_days",
        "customer_email",
    )
    assert data["inputFields"][0]["field"] == "email"
    assert data["inputFields"][0]["dataset"] == "public.customers"
    same_shape(column, json.loads(COLUMN_FIXTURE.read_text()))


async def test_unknown_nodes_are_404_and_malformed_ids_422(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    food_delivery: None,
) -> None:
    for missing in (
        ds("nope"),
        job("public.orders"),  # a dataset asked for as a job
        f"dataset:{FD}:etl_orders",  # and a job as a dataset
        f"datasetField:{FD}:public.orders:nope",
        "run:9f6a2a10-2b4e-4a5e-8f0e-6c1b2e0f5a11",
    ):
        r = await lineage(client, tenant, missing)
        assert r.status_code == 404, (missing, r.text)
    for malformed in ("orders", "dataset:only", "table:a:b", "datasetField:a:b", "job::x"):
        r = await lineage(client, tenant, malformed)
        assert r.status_code == 422, (malformed, r.text)
    assert (await client.get(URL, headers=tenant.headers())).status_code == 422
    assert (await lineage(client, tenant, ds("orders"), depth=-1)).status_code == 422
    assert (await lineage(client, tenant, ds("orders"), depth="x")).status_code == 422
    # Another tenant's node is unknown here.
    assert (await lineage(client, other_tenant, ds("orders"))).status_code == 404


async def test_assets_not_from_openlineage_get_a_documented_name(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    h = tenant.headers("editor")
    made = {}
    for body in (
        {"type": "table", "name": "orders", "qualified_name": "pg://shop:5432/raw.orders"},
        {"type": "job", "name": "load", "qualified_name": "load_orders"},
        {"type": "dashboard", "name": "Revenue", "qualified_name": "superset://revenue"},
    ):
        made[body["qualified_name"]] = (
            await client.post("/api/v1/assets", json=body, headers=h)
        ).json()
    for source, target, kind in (
        ("load_orders", "pg://shop:5432/raw.orders", "PRODUCES"),
        ("superset://revenue", "pg://shop:5432/raw.orders", "DEPENDS_ON"),
    ):
        r = await client.post(
            "/api/v1/relationships",
            json={"source_id": made[source]["id"], "target_id": made[target]["id"], "type": kind},
            headers=h,
        )
        assert r.status_code == 201
    table = "dataset:pg://shop:5432:raw.orders"

    async def synced() -> bool:
        return len((await lineage(client, tenant, table)).json()["graph"]) == 3

    await eventually(synced)
    nodes = graph_of(await lineage(client, tenant, table))
    assert set(nodes) == {table, "job:default:load_orders", "dataset:default:superset://revenue"}
    assert edges(nodes) == {
        ("job:default:load_orders", table),
        (table, "dataset:default:superset://revenue"),
    }


def test_names_and_ids_round_trip() -> None:
    cases = {
        "postgres://db:5432/shop.public.orders": ("postgres://db:5432", "shop.public.orders"),
        "food_delivery/etl_orders": ("food_delivery", "etl_orders"),
        "s3://bucket/path/to/file": ("s3://bucket", "path/to/file"),
        "db.orders": ("default", "db.orders"),
        "superset://revenue": ("default", "superset://revenue"),
    }
    for qualified_name, expected in cases.items():
        assert asset_name(qualified_name, {}) == expected
    # OpenLineage's own namespace and name win when they make up the qualified name.
    meta = {"openlineage": {"namespace": "s3://bucket/warehouse", "name": "orders"}}
    assert asset_name("s3://bucket/warehouse/orders", meta) == ("s3://bucket/warehouse", "orders")
    with pytest.raises(Unprocessable):
        parse_node_id("dataset:" + "x" * 5000 + ":y")
