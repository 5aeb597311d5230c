"""POST /api/v1/impact/dbt: a new manifest against what an earlier one put in the catalog."""

from __future__ import annotations

from typing import Any

import httpx

from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.ingest.apply import ingest_dbt
from headwater.ingest.dbt_diff import prune_manifest
from tests.conftest import TenantKeys
from tests.impact.dbt_project import (
    CUSTOMERS,
    NAMESPACE,
    OLD_REPORT,
    STG,
    WEEKLY,
    manifest,
    proposed,
)
from tests.impact.platform import wait_for_graph


async def ingest_project(client: httpx.AsyncClient, database: Database, tenant: TenantKeys) -> None:
    async with database.transaction(tenant.tenant_id) as conn:
        actor = Actor(tenant_id=tenant.tenant_id, user_id=None)
        await ingest_dbt(conn, actor, manifest(), None, namespace=NAMESPACE)
    await wait_for_graph(client, tenant, STG, "id", 2)  # customers.id, old_report.id


async def dbt(client: httpx.AsyncClient, tenant: TenantKeys, body: dict[str, Any]) -> Any:
    response = await client.post("/api/v1/impact/dbt", json=body, headers=tenant.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_changed_manifest_reports_each_model_and_its_impact(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    await ingest_project(client, database, tenant)
    same = await dbt(client, tenant, {"manifest": manifest(), "namespace": NAMESPACE})
    assert (same["severity"], same["models"], same["new"]) == ("safe", [], [])
    assert same["unchanged"] == 3

    body = await dbt(client, tenant, {"manifest": proposed(), "namespace": NAMESPACE})
    assert body["severity"] == "breaking"
    assert body["new"] == [f"{NAMESPACE}/analytics.marts.fresh"]
    models = {m["unique_id"]: m for m in body["models"]}
    assert [(m["unique_id"], m["status"], m["severity"]) for m in body["models"]] == [
        ("model.shop.customers", "renamed", "breaking"),
        ("model.shop.stg_customers", "changed", "breaking"),
        ("model.shop.old_report", "removed", "safe"),
    ]
    renamed = models["model.shop.customers"]
    assert renamed["qualified_name"] == f"{NAMESPACE}/analytics.core.customers"
    assert renamed["impact"]["asset"]["qualified_name"] == CUSTOMERS
    assert [(i["qualified_name"], i["severity"]) for i in renamed["impact"]["items"]] == [
        (WEEKLY, "breaking")
    ]
    assert renamed["impact"]["summary"]["exposures"][0]["owners"] == ["bi@acme.test"]

    stg = models["model.shop.stg_customers"]
    assert stg["diff"]["compared"] == "full"  # the contract is enforced
    assert stg["diff"]["dropped"] == ["email"]
    assert stg["diff"]["type_changed"][0]["verdict"] == "narrowing"
    items = {i["qualified_name"]: i for i in stg["impact"]["items"]}
    assert {n: (i["status"], i["severity"]) for n, i in items.items()} == {
        CUSTOMERS: ("affected", "breaking"),
        OLD_REPORT: ("affected", "breaking"),
        WEEKLY: ("possibly_affected", "warning"),
    }
    assert {c["name"] for c in items[CUSTOMERS]["columns"]} == {"id", "email"}
    assert models["model.shop.old_report"]["impact"]["changes"][0]["kind"] == "drop_asset"


async def test_without_a_contract_only_declared_columns_are_compared(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    await ingest_project(client, database, tenant)
    changed = manifest()
    stg = changed["nodes"]["model.shop.stg_customers"]
    stg["config"]["contract"]["enforced"] = False
    del stg["columns"]["email"]  # undocumented now, not necessarily dropped
    stg["columns"]["id"]["data_type"] = "bigint"
    body = await dbt(client, tenant, {"manifest": changed, "namespace": NAMESPACE})
    (model,) = body["models"]
    assert model["diff"]["compared"] == "declared"
    assert model["diff"]["dropped"] == []
    assert [t["verdict"] for t in model["diff"]["type_changed"]] == ["widening"]
    assert model["severity"] == "warning"


async def test_a_bad_manifest_is_422(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    response = await client.post(
        "/api/v1/impact/dbt",
        json={"manifest": {"metadata": {"dbt_schema_version": "nope"}, "nodes": {}}},
        headers=tenant.headers("viewer"),
    )
    assert response.status_code == 422
    assert "dbt_schema_version" in response.json()["detail"]


def test_pruning_keeps_what_the_diff_reads() -> None:
    pruned = prune_manifest({**manifest(), "macros": {"m": {}}, "docs": {}, "child_map": {}})
    assert set(pruned) == {"metadata", "nodes", "sources", "exposures"}
    node = pruned["nodes"]["model.shop.customers"]
    assert "compiled_code" not in node
    assert "raw_code" not in node
    assert node["columns"] == manifest()["nodes"]["model.shop.customers"]["columns"]
