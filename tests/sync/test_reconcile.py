"""Reconcile of the graph mirrors: the drift comparison, the cold start and rebuild of a shared
mirror (under the sink's lease, at a snapshot position), and the check that waits for the mirror
and leaves in-flight changes out.

The shared-mirror orchestration is engine-agnostic; here the shared store is the memory engine
run as a shared sink by the real worker (Neo4j cannot run here), against the real database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from headwater.catalog.db import Database
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import (
    AssetArrays,
    AssetState,
    FieldLineageState,
    FieldState,
    GraphData,
    Mutation,
    RelationshipState,
)
from headwater.sync import tailer
from headwater.sync.events import START
from headwater.sync.graph_mirror import (
    SharedGraphSink,
    changed_since,
    check_shared,
    checkpoint,
    load_shared,
)
from headwater.sync.metrics import SyncMetrics
from headwater.sync.reconcile import Counts, Difference, DriftReport, differences, tenant_drift
from headwater.sync.worker import Outcome, SinkRunner, SyncWorker, WorkerConfig
from tests.conftest import TenantKeys
from tests.sync.conftest import tenant_uuid
from tests.sync.test_graph_sink import Api, build_catalog

SINK = "graph.shared-test"
CONFIG = WorkerConfig(batch_size=50, metrics_interval=60)
T = UUID(int=1)


# --- the comparison -------------------------------------------------------------------------------


def problems(pg: GraphData, held: GraphData) -> list[tuple[str, int, str]]:
    return [(d.kind, d.id, d.problem) for d in differences(pg, held)]


BASE: list[Mutation] = [
    AssetState(1, "table", 2),
    AssetState(2, "job", 1),
    AssetState(3, "table", 3, deleted=True),
    FieldState(10, 1, 1),
    FieldState(11, 3, 2),
    RelationshipState(20, 2, 1, "PRODUCES", 1),
    RelationshipState(21, 2, 3, "USES", 2, deleted=True),
    FieldLineageState(30, 10, 11, "IDENTITY", 1),
]


def test_equal_graphs_have_no_drift_whatever_the_label_order() -> None:
    pg = GraphData.from_states(BASE)
    # Same states, names tables built in another order.
    held = GraphData.from_states(list(reversed(BASE)))
    assert pg.assets.type_names == held.assets.type_names
    shuffled = GraphData(
        AssetArrays(
            held.assets.id,
            (1 - held.assets.type).astype(np.int16),
            tuple(reversed(held.assets.type_names)),
            held.assets.version,
            held.assets.deleted,
        ),
        held.fields,
        held.relationships,
        held.field_lineage,
    )
    assert differences(pg, held) == []
    assert differences(pg, shuffled) == []


def test_each_class_of_difference() -> None:
    pg = GraphData.from_states(BASE)
    held = GraphData.from_states(
        [
            AssetState(1, "table", 1),  # stale: older version
            # asset 2 missing
            AssetState(3, "table", 3, deleted=True),
            AssetState(4, "table", 1),  # extra: Postgres never had it
            FieldState(10, 2, 1),  # stale: another owner
            FieldState(11, 3, 2),
            RelationshipState(20, 2, 1, "USES", 1),  # stale: another type
            RelationshipState(21, 2, 3, "USES", 2),  # stale: live where Postgres deleted it
            FieldLineageState(30, 10, 11, "IDENTITY", 1),
            RelationshipState(22, 1, 3, "USES", 1, deleted=True),  # extra, tombstone or not
        ]
    )
    assert problems(pg, held) == [
        ("asset", 2, "missing"),
        ("asset", 4, "extra"),
        ("asset", 1, "stale"),
        ("field", 10, "stale"),
        ("relationship", 22, "extra"),
        ("relationship", 20, "stale"),
        ("relationship", 21, "stale"),
    ]
    details = {(d.kind, d.id): d.detail for d in differences(pg, held)}
    assert details[("asset", 1)] == "differs in version"
    assert details[("field", 10)] == "differs in asset_id"
    assert details[("relationship", 20)] == "differs in type"
    assert details[("relationship", 21)] == "differs in deleted"


def test_tombstones_of_hard_deleted_rows_are_not_extra() -> None:
    pg = GraphData.from_states([s for s in BASE if s.id not in (11, 30)])  # column 11 dropped
    held = GraphData.from_states(
        [
            *(s for s in BASE if s.id not in (11, 30)),
            FieldState(11, 3, 3, deleted=True),  # the dropped column's tombstone
            FieldLineageState(30, 10, 11, "IDENTITY", 1),  # cascaded away with it
            FieldLineageState(31, 10, 12, "IDENTITY", 2, deleted=True),  # deleted row, gone
            FieldState(12, 1, 1),  # but a live column Postgres lacks is extra
        ]
    )
    assert problems(pg, held) == [("field", 12, "extra")]


def test_duplicated_states_are_found() -> None:
    pg = GraphData.from_states(BASE)
    good = GraphData.from_states(BASE)
    rels = good.relationships
    twice = np.concatenate([rels.id, rels.id[:1]])
    doubled = GraphData(
        good.assets,
        good.fields,
        type(rels)(
            twice,
            np.concatenate([rels.source_id, rels.source_id[:1]]),
            np.concatenate([rels.target_id, rels.target_id[:1]]),
            np.concatenate([rels.type, rels.type[:1]]),
            rels.type_names,
            np.concatenate([rels.version, rels.version[:1]]),
            np.concatenate([rels.deleted, rels.deleted[:1]]),
        ),
        good.field_lineage,
    )
    [duplicate] = differences(pg, doubled)
    assert (duplicate.kind, duplicate.id, duplicate.problem) == ("relationship", 20, "duplicated")


def test_summaries_leave_in_flight_entities_out_and_cap_examples() -> None:
    pg = GraphData.from_states(BASE)
    held = GraphData()
    found = differences(pg, held)
    assert len(found) == len(BASE)
    drift = tenant_drift(T, pg, held, found, in_flight={("asset", 1), ("field", 10)}, examples=2)
    assert drift.in_flight == 2
    assert drift.by_kind["asset"] == Counts(missing=2)
    assert drift.by_kind["field"] == Counts(missing=1)
    assert drift.total == Counts(missing=len(BASE) - 2)
    assert len(drift.examples) == 2
    report = DriftReport("graph.x", "5:0", "4:9", True, (drift,)).as_dict()
    assert report["drift"] is True
    assert report["total"] == {"missing": 6, "extra": 0, "stale": 0, "duplicated": 0, "total": 6}
    assert report["tenants"][0]["postgres"]["asset"] == 3


# --- shared mirrors against the real worker and database ------------------------------------------


class Store(MemoryGraphEngine):
    """The memory engine as a shared mirror's store, with a hook inside ``load`` (to write, fail
    or wait while a load is running) and a count of loads."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.during_load: Callable[[], Awaitable[None]] | None = None

    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        self.loads += 1
        if self.during_load is not None:
            hook, self.during_load = self.during_load, None
            await hook()
        await super().load(tenant_id, data, position=position)


def runner_for(worker_db: Database, store: Store) -> tuple[SyncWorker, SinkRunner]:
    worker = SyncWorker(worker_db, CONFIG, SyncMetrics(CollectorRegistry()))
    return worker, worker.add_sink(SharedGraphSink(store, SINK))


async def drain(runner: SinkRunner) -> None:
    while await runner.cycle() is not Outcome.IDLE:
        pass


async def test_a_new_shared_mirror_is_loaded_at_a_snapshot_and_tails_from_there(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys, worker_db: Database
) -> None:
    api = Api(client, tenant)
    await build_catalog(api)
    await build_catalog(Api(client, other_tenant))
    store = Store()
    written: dict[str, int] = {}

    async def write_during_the_load() -> None:
        # Committed after the snapshot was taken: only tailing from its position brings it.
        late = await api.asset("late")
        written["late"] = late["id"]
        raw = await client.get(
            "/api/v1/assets/lookup", params={"qualified_name": "pg://db/raw"}, headers=api.headers
        )
        written["edge"] = (await api.relate(late["id"], raw.json()["id"], "DEPENDS_ON"))["id"]

    store.during_load = write_during_the_load
    worker, runner = runner_for(worker_db, store)
    await worker.prepare()
    acme = tenant_uuid(tenant)
    async with worker_db.transaction() as conn:
        loaded_at = await checkpoint(conn, SINK)
    assert loaded_at is not None
    assert loaded_at != START
    assert await store.position(acme) == str(loaded_at)
    assert written["late"] not in {s.id for s in (await store.snapshot(acme)).states()}

    await drain(runner)
    held = {s.id for s in (await store.snapshot(acme)).states()}
    assert {written["late"], written["edge"]} <= held
    report = await check_shared(worker_db, SINK, store, wait=5)
    assert report.caught_up
    assert not report.drift, report.as_dict()
    assert {t.tenant_id for t in report.tenants} >= {acme, tenant_uuid(other_tenant)}

    # Another worker starting on the loaded mirror does not load it again.
    loads = store.loads
    second, _ = runner_for(worker_db, store)
    await second.prepare()
    assert store.loads == loads


async def test_drift_is_found_and_a_rebuild_that_dies_half_way_is_redone(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys, worker_db: Database
) -> None:
    await build_catalog(Api(client, tenant))
    await build_catalog(Api(client, other_tenant))
    store = Store()
    worker, runner = runner_for(worker_db, store)
    await worker.prepare()
    await drain(runner)
    acme = tenant_uuid(tenant)
    await store.drop(acme)
    report = await check_shared(worker_db, SINK, store, wait=5)
    assert report.drift
    [lost] = [t for t in report.tenants if t.tenant_id == acme]
    assert lost.total == Counts(missing=sum(lost.postgres.values()))
    assert report.total == lost.total  # the other tenant is intact

    async def crash() -> None:
        raise ConnectionError("the mirror went away half-way")

    store.during_load = crash
    with pytest.raises(ConnectionError):
        await load_shared(worker_db, SINK, store, force=True)
    async with worker_db.transaction() as conn:
        assert await checkpoint(conn, SINK) == START  # "not loaded": the next worker loads
    restarted, runner = runner_for(worker_db, store)
    await restarted.prepare()
    await drain(runner)
    assert not (await check_shared(worker_db, SINK, store, wait=5)).drift


async def test_the_lease_keeps_workers_off_a_mirror_while_it_is_rebuilt(
    client: httpx.AsyncClient, tenant: TenantKeys, worker_db: Database
) -> None:
    api = Api(client, tenant)
    await build_catalog(api)
    store = Store()
    worker, runner = runner_for(worker_db, store)
    await worker.prepare()
    await drain(runner)
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        entered.set()
        await release.wait()

    store.during_load = hold
    rebuild = asyncio.create_task(load_shared(worker_db, SINK, store, force=True))
    await entered.wait()
    await api.asset("while-rebuilding")
    assert await runner.cycle() is Outcome.BUSY
    release.set()
    loaded = await rebuild
    assert loaded is not None
    await drain(runner)
    assert not (await check_shared(worker_db, SINK, store, wait=5)).drift


async def test_a_mirror_behind_is_reported_as_such_and_changes_after_the_snapshot_are_in_flight(
    client: httpx.AsyncClient, tenant: TenantKeys, worker_db: Database
) -> None:
    api = Api(client, tenant)
    ids = await build_catalog(api)
    store = Store()
    worker, _runner = runner_for(worker_db, store)
    await worker.prepare()
    await api.asset("unapplied")
    behind = await check_shared(worker_db, SINK, store, wait=0)
    assert not behind.caught_up
    assert behind.total.missing == 1  # lag is drift at that moment, and says so

    acme = tenant_uuid(tenant)
    async with tailer.consistent_snapshot(worker_db) as (_, position):
        pass
    raw = await api.call("GET", f"/api/v1/assets/{ids['raw']}")
    body = {"version": raw["version"], "description": "changed after the snapshot"}
    await api.call("PATCH", f"/api/v1/assets/{ids['raw']}", json=body)
    asked = [
        Difference("asset", ids["raw"], "stale", 2, 1),
        Difference("asset", ids["clean"], "stale", 1, 1),
    ]
    async with worker_db.transaction() as conn:
        assert await changed_since(conn, acme, position, asked) == {("asset", ids["raw"])}
