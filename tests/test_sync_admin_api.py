"""The admin sync endpoints: drift check and rebuild of the serving process's memory graph, for
the caller's tenant, while the process keeps serving and the writers keep writing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from headwater.graph.engine import GraphEngine
from headwater.graph.model import AssetState, RelationshipState
from headwater.runtime import build_app
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase
from tests.sync.test_graph_sink import Api, build_catalog

DRIFT = "/api/v1/admin/sync/drift"
REBUILD = "/api/v1/admin/sync/rebuild"


@pytest.fixture
async def served(
    settings: Settings, test_db: TestDatabase
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The app as `headwater serve` builds it, with its engine at hand to damage."""
    app = build_app(
        settings.model_copy(update={"db_pool_max": 8}),
        test_db.app_dsn,
        test_db.worker_dsn,
        search=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, app


def engine_of(app: FastAPI) -> GraphEngine:
    engine: GraphEngine = app.state.headwater.graph
    return engine


async def drift(http: httpx.AsyncClient, keys: TenantKeys, **params: Any) -> dict[str, Any]:
    response = await http.get(DRIFT, params={"wait": 10, **params}, headers=keys.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_synced_graph_has_no_drift_and_damage_is_found_and_rebuilt_away(
    served: tuple[httpx.AsyncClient, FastAPI], tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    http, app = served
    ids = await build_catalog(Api(http, tenant))
    await build_catalog(Api(http, other_tenant))
    clean = await drift(http, tenant)
    assert clean["drift"] is False
    assert clean["caught_up"] is True
    assert clean["sink"] == "graph.memory"
    [mine] = clean["tenants"]  # the caller's tenant only
    assert mine["tenant_id"] == str(tenant.tenant_id)
    # Dropping the "legacy" column took its lineage row with it.
    assert mine["postgres"] == {"asset": 4, "field": 4, "relationship": 3, "field_lineage": 1}

    engine = engine_of(app)
    snapshot = await engine.snapshot(tenant.tenant_id)
    job = next(s for s in snapshot.states() if isinstance(s, AssetState) and s.id == ids["job"])
    await engine.apply(
        tenant.tenant_id,
        [
            AssetState(job.id, job.type, job.version + 1, deleted=True),  # stale
            AssetState(10**12, "table", 1),  # extra
            RelationshipState(10**12, ids["raw"], ids["clean"], "USES", 1),  # extra
        ],
    )
    damaged = await drift(http, tenant, examples=1)
    assert damaged["drift"] is True
    assert damaged["by_kind"]["asset"] == {
        "missing": 0,
        "extra": 1,
        "stale": 1,
        "duplicated": 0,
        "total": 2,
    }
    assert damaged["by_kind"]["relationship"]["extra"] == 1
    assert len(damaged["tenants"][0]["examples"]) == 1
    assert (await drift(http, other_tenant))["drift"] is False  # its graph is untouched

    rebuilt = await http.post(REBUILD, params={"sink": "graph"}, headers=tenant.headers())
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["loaded"]["asset"] == 4
    assert (await drift(http, tenant))["drift"] is False
    # Lineage is answered from the rebuilt graph.
    down = await http.get(
        "/api/v1/lineage/downstream",
        params={"asset_id": ids["raw"], "depth": "all"},
        headers=tenant.headers(),
    )
    assert {n["id"] for n in down.json()["nodes"]} == {ids["job"], ids["clean"]}


async def test_a_rebuild_under_concurrent_writes_misses_nothing(
    served: tuple[httpx.AsyncClient, FastAPI], tenant: TenantKeys
) -> None:
    http, _ = served
    api = Api(http, tenant)
    ids = await build_catalog(api)

    async def write() -> None:
        previous = ids["clean"]
        for i in range(40):
            made = await api.asset(f"t{i}")
            await api.relate(made["id"], previous, "DEPENDS_ON")
            previous = made["id"]

    writing = asyncio.create_task(write())
    for _ in range(5):
        rebuilt = await http.post(REBUILD, headers=tenant.headers())
        assert rebuilt.status_code == 200, rebuilt.text
        await asyncio.sleep(0.01)
    await writing
    assert (await drift(http, tenant))["drift"] is False


async def test_only_admins_and_only_known_mirrors(
    served: tuple[httpx.AsyncClient, FastAPI], tenant: TenantKeys
) -> None:
    http, _ = served
    for role in ("viewer", "editor"):
        assert (await http.get(DRIFT, headers=tenant.headers(role))).status_code == 403
        assert (await http.post(REBUILD, headers=tenant.headers(role))).status_code == 403
    assert (await http.get(DRIFT)).status_code == 401
    unknown = await http.get(DRIFT, params={"sink": "search"}, headers=tenant.headers())
    assert unknown.status_code == 404
    assert "holds: graph" in unknown.json()["detail"]
    bad = await http.get(DRIFT, params={"wait": -1}, headers=tenant.headers())
    assert bad.status_code == 422
