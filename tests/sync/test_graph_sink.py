"""The graph sink: catalog writes made through the API reach the graph engine through the worker."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry

from headwater.catalog.db import Database
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import (
    AssetState,
    FieldLineageState,
    FieldState,
    GraphData,
    Mutation,
    NodeRef,
    RelationshipState,
)
from headwater.sync import dead_letters, tailer
from headwater.sync.events import START, Batch, Position
from headwater.sync.graph_sink import GraphSink
from headwater.sync.metrics import SyncMetrics
from headwater.sync.worker import Outcome, SyncWorker, WorkerConfig
from tests.conftest import TenantKeys, TestDatabase
from tests.sync.conftest import tenant_uuid

CONFIG = WorkerConfig(batch_size=7, metrics_interval=60)


class Api:
    def __init__(self, client: httpx.AsyncClient, tenant: TenantKeys) -> None:
        self.client = client
        self.headers = tenant.headers("editor")

    async def call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.client.request(method, url, headers=self.headers, **kwargs)
        assert response.status_code < 300, response.text
        body: dict[str, Any] = response.json()
        return body

    async def asset(self, name: str, type: str = "table") -> dict[str, Any]:
        body = {"type": type, "name": name, "qualified_name": f"pg://db/{name}"}
        return await self.call("POST", "/api/v1/assets", json=body)

    async def relate(self, source: int, target: int, type: str) -> dict[str, Any]:
        body = {"source_id": source, "target_id": target, "type": type}
        return await self.call("POST", "/api/v1/relationships", json=body)

    async def fields(self, asset: dict[str, Any], names: list[str]) -> dict[int, str]:
        current = await self.call("GET", f"/api/v1/assets/{asset['id']}")
        body = {"version": current["version"], "fields": [{"name": n} for n in names]}
        result = await self.call("PUT", f"/api/v1/assets/{asset['id']}/fields", json=body)
        return {f["id"]: f["name"] for f in result["fields"]}


async def build_catalog(api: Api) -> dict[str, int]:
    """raw -> job -> clean -> dash, with column lineage raw.email -> clean.email_hash, then a
    few deletes so tombstones flow too."""
    raw = await api.asset("raw")
    job = await api.asset("job", "job")
    clean = await api.asset("clean")
    dash = await api.asset("dash", "dashboard")
    await api.relate(job["id"], raw["id"], "USES")
    await api.relate(job["id"], clean["id"], "PRODUCES")
    dash_uses = await api.relate(dash["id"], clean["id"], "DEPENDS_ON")
    raw_fields = await api.fields(raw, ["id", "email"])
    clean_fields = await api.fields(clean, ["id", "email_hash", "legacy"])
    by_name = {v: k for k, v in {**raw_fields, **clean_fields}.items()}
    await api.call(
        "POST",
        "/api/v1/field-lineage",
        json={"source_field_id": by_name["email"], "target_field_id": by_name["email_hash"]},
    )
    await api.call(
        "POST",
        "/api/v1/field-lineage",
        json={"source_field_id": by_name["id"], "target_field_id": by_name["legacy"]},
    )
    # Dropping a column deletes its lineage; deleting an edge and an asset leaves tombstones.
    await api.fields(clean, ["id", "email_hash"])
    await api.call(
        "DELETE",
        f"/api/v1/relationships/{dash_uses['id']}",
        params={"version": dash_uses["version"]},
    )
    dash_now = await api.call("GET", f"/api/v1/assets/{dash['id']}")
    await api.call(
        "DELETE", f"/api/v1/assets/{dash['id']}", params={"version": dash_now["version"]}
    )
    await api.call("POST", "/api/v1/tags", json={"name": "pii"})
    return {"raw": raw["id"], "job": job["id"], "clean": clean["id"], "dash": dash["id"]}


def postgres_states(test_db: TestDatabase, tenant_id: UUID) -> set[Mutation]:
    """What the graph must hold for a tenant, read straight from the catalog tables."""
    states: set[Mutation] = set()
    with psycopg.connect(test_db.admin_dsn) as conn:
        for a in conn.execute(
            "SELECT id, type, version, name, qualified_name, deleted_at IS NOT NULL"
            " FROM assets WHERE tenant_id = %s",
            (tenant_id,),
        ):
            states.add(AssetState(a[0], a[1], a[2], a[3], a[4], a[5]))
        for r in conn.execute(
            "SELECT id, source_id, target_id, type, version, deleted_at IS NOT NULL"
            " FROM relationships WHERE tenant_id = %s",
            (tenant_id,),
        ):
            states.add(RelationshipState(*r))
        for f in conn.execute(
            "SELECT id, asset_id, version, name FROM schema_fields WHERE tenant_id = %s",
            (tenant_id,),
        ):
            states.add(FieldState(*f))
        for e in conn.execute(
            "SELECT id, source_field_id, target_field_id, transformation, version,"
            " deleted_at IS NOT NULL FROM field_lineage WHERE tenant_id = %s",
            (tenant_id,),
        ):
            states.add(FieldLineageState(*e))
    return states


def bare(state: Mutation) -> Mutation:
    """Without display names, which the memory engine does not keep."""
    if isinstance(state, AssetState):
        return replace(state, name="", qualified_name="")
    if isinstance(state, FieldState):
        return replace(state, name="")
    return state


def live(data: GraphData) -> set[Mutation]:
    """Held states minus tombstones of rows Postgres hard-deletes (dropped columns and the
    lineage cascaded away with them)."""
    held = {bare(s) for s in data.states()}
    dropped = {s.id for s in held if isinstance(s, FieldState) and s.deleted}
    return {
        s
        for s in held
        if not (isinstance(s, FieldState) and s.deleted)
        and not (
            isinstance(s, FieldLineageState)
            and s.deleted
            and {s.source_field_id, s.target_field_id} & dropped
        )
    }


async def test_catalog_writes_reach_the_memory_graph(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    worker_db: Database,
    test_db: TestDatabase,
) -> None:
    ids = await build_catalog(Api(client, tenant))
    other = await build_catalog(Api(client, other_tenant))
    engine = MemoryGraphEngine()
    sink = GraphSink(engine)
    worker = SyncWorker(worker_db, CONFIG, SyncMetrics(CollectorRegistry()))
    runner = worker.add_sink(sink)
    await worker.prepare()
    while await runner.cycle() is not Outcome.IDLE:
        pass

    for keys in (tenant, other_tenant):
        tenant_id = tenant_uuid(keys)
        expected = {bare(s) for s in postgres_states(test_db, tenant_id)}
        assert live(await engine.snapshot(tenant_id)) == expected
    acme = tenant_uuid(tenant)
    downstream = await engine.traverse(
        acme, NodeRef.asset(ids["raw"]), "downstream", max_depth=None
    )
    assert downstream.distances() == {NodeRef.asset(ids["job"]): 1, NodeRef.asset(ids["clean"]): 2}
    # The other tenant's identical graph is not reachable from this one.
    assert not set(other.values()) & {n.id for n in downstream.nodes()}
    async with worker_db.transaction() as conn:
        head = await tailer.get_checkpoint(conn, sink.name)
    assert await engine.position(acme) is not None
    assert Position.parse(str(await engine.position(acme))) <= head


async def test_replayed_and_shuffled_events_leave_the_in_order_state(
    client: httpx.AsyncClient, tenant: TenantKeys, worker_db: Database
) -> None:
    await build_catalog(Api(client, tenant))
    async with worker_db.transaction() as conn:
        events = await tailer.read_batch(conn, START, 10_000)
        in_order, shuffled = MemoryGraphEngine(), MemoryGraphEngine()
        await GraphSink(in_order).apply(Batch(events, conn))
        scrambled = list(events) * 2
        random.Random(7).shuffle(scrambled)
        for start in range(0, len(scrambled), 5):
            await GraphSink(shuffled).apply(Batch(scrambled[start : start + 5], conn))
    acme = tenant_uuid(tenant)
    expected = set((await in_order.snapshot(acme)).states())
    assert expected
    assert set((await shuffled.snapshot(acme)).states()) == expected


@pytest.mark.edits_rows_directly
async def test_an_event_that_breaks_the_payload_contract_is_dead_lettered(
    client: httpx.AsyncClient, tenant: TenantKeys, worker_db: Database, test_db: TestDatabase
) -> None:
    api = Api(client, tenant)
    first = await api.asset("first")
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type,"
            " payload) VALUES (%s, 'relationship', 99, 1, 'relationship.upserted', '{}')",
            (tenant_uuid(tenant),),
        )
    second = await api.asset("second")
    engine = MemoryGraphEngine()
    worker = SyncWorker(worker_db, CONFIG, SyncMetrics(CollectorRegistry()))
    runner = worker.add_sink(GraphSink(engine))
    await worker.prepare()
    assert await runner.cycle() is Outcome.APPLIED

    stats = await engine.stats(tenant_uuid(tenant))
    assert stats.assets == 2
    async with worker_db.transaction() as conn:
        [letter] = await dead_letters.list_dead_letters(conn)
    assert (letter.entity_type, letter.entity_id) == ("relationship", 99)
    assert "source_id" in letter.error
    assert {first["id"], second["id"]} == {
        s.id for s in (await engine.snapshot(tenant_uuid(tenant))).states()
    }
