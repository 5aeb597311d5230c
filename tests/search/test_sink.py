"""The search sinks on their own: which events touch a document, malformed events, and
idempotent, order-insensitive application of real outbox batches to a real tantivy index."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from prometheus_client import CollectorRegistry

from headwater.catalog import assets, tags
from headwater.catalog.assets import AssetCreate, AssetType, AssetUpdate
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.tags import TagByName
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.sink import FullTextSink, affected_assets
from headwater.search.source import change_version
from headwater.sync import tailer
from headwater.sync.events import START, Batch, OutboxEvent, PermanentSinkError
from headwater.sync.metrics import SyncMetrics
from headwater.sync.worker import SinkRunner, WorkerConfig
from tests.conftest import TenantKeys


def _event(
    event_id: int, txid: int, entity_type: str, entity_id: int, payload: dict[str, Any]
) -> OutboxEvent:
    return OutboxEvent(
        id=event_id,
        txid=txid,
        tenant_id=UUID(int=1),
        entity_type=entity_type,
        entity_id=entity_id,
        entity_version=1,
        event_type=f"{entity_type}.upserted",
        payload=payload,
        created_at=datetime.now(UTC),
    )


def test_only_document_changes_count_at_their_latest_transaction() -> None:
    events = [
        _event(1, 100, "asset", 7, {}),
        _event(2, 101, "schema_field", 70, {"asset_id": 7}),
        _event(3, 102, "asset_tag", 8, {"asset_id": 8, "tag_id": 1}),
        _event(4, 103, "relationship", 9, {"source_id": 7, "target_id": 8}),
        _event(5, 104, "field_lineage", 10, {"source_field_id": 70, "target_field_id": 71}),
        _event(6, 99, "asset", 8, {}),  # an older transaction's event arriving late
    ]
    assert affected_assets(events) == {
        7: (UUID(int=1), change_version(101)),
        8: (UUID(int=1), change_version(102)),
    }
    assert affected_assets(events[3:5]) == {}


def test_a_field_event_without_its_asset_is_rejected_for_good() -> None:
    broken = _event(1, 100, "schema_field", 70, {"name": "email"})
    with pytest.raises(PermanentSinkError) as raised:
        affected_assets([broken])
    assert raised.value.event is broken


async def _outbox(worker_db: Database) -> list[OutboxEvent]:
    async with worker_db.transaction() as conn:
        return await tailer.read_batch(conn, START, 1000)


async def _apply(worker_db: Database, sink: FullTextSink, events: list[OutboxEvent]) -> None:
    async with worker_db.transaction() as conn:
        await sink.apply(Batch(tuple(events), conn))


async def test_batches_apply_idempotently_and_a_late_replay_changes_nothing(
    database: Database, worker_db: Database, tenant: TenantKeys, tmp_path: Path
) -> None:
    actor = Actor(tenant_id=tenant.tenant_id, user_id=tenant.admin_user_id)
    async with database.transaction(tenant.tenant_id) as conn:
        ledger = await assets.create_asset(
            conn,
            actor,
            AssetCreate(type=AssetType.TABLE, name="ledger", qualified_name="erp.ledger"),
        )
    async with database.transaction(tenant.tenant_id) as conn:
        await tags.attach_tag_by_name(conn, actor, ledger.id, TagByName(name="sox"))
    async with database.transaction(tenant.tenant_id) as conn:
        await assets.update_asset(
            conn, actor, ledger.id, AssetUpdate(version=ledger.version, description="General")
        )
    events = await _outbox(worker_db)
    assert len(events) >= 3
    sink = FullTextSink(TantivyEngine(tmp_path / "tantivy"), "search.test")
    try:
        await _apply(worker_db, sink, events)
        held = await sink.live_versions(tenant.tenant_id)
        assert held == {ledger.id: change_version(events[-1].txid)}
        found = await sink.engine.search(tenant.tenant_id, "general sox")
        assert [h.asset_id for h in found.hits] == [ledger.id]
        # Redelivery, whole or in part and in any order, never moves the index backwards.
        await _apply(worker_db, sink, events)
        await _apply(worker_db, sink, events[:1])
        assert await sink.live_versions(tenant.tenant_id) == held
        # A deletion becomes a tombstone that an older event cannot revive.
        async with database.transaction(tenant.tenant_id) as conn:
            current = await assets.get_asset(conn, ledger.id)
            await assets.delete_asset(conn, actor, ledger.id, current.version)
        events = await _outbox(worker_db)
        await _apply(worker_db, sink, events[-1:])
        assert await sink.live_versions(tenant.tenant_id) == {}
        await _apply(worker_db, sink, events[:1])
        assert await sink.live_versions(tenant.tenant_id) == {}
        assert await sink.engine.held_versions(tenant.tenant_id, [ledger.id]) == {
            ledger.id: change_version(events[-1].txid)
        }
        # An id Postgres does not know (another tenant's batch naming a ghost) is a tombstone.
        ghost = _event(events[-1].id + 1, events[-1].txid + 1, "asset", 10**12, {})
        await _apply(worker_db, sink, [ghost])
        assert await sink.live_versions(UUID(int=1)) == {}
        assert await sink.live_versions(uuid4()) == {}
    finally:
        await sink.close()


class _IdleSink:
    name = "idle"

    async def apply(self, batch: Batch) -> None:
        return None


@pytest.mark.parametrize("spins", [0, 1, 2, 3])
async def test_a_runner_waiting_for_a_wake_up_stops_when_cancelled(spins: int) -> None:
    """A wake-up and a cancellation in the same instant: on Python 3.11, asyncio.wait_for
    swallowed the cancellation and `serve` hung on shutdown (the search sinks' runners are
    cancelled right after the last write's NOTIFY in every test)."""
    runner = SinkRunner(
        _IdleSink(),
        Database("postgresql://unused"),
        WorkerConfig(),
        SyncMetrics(CollectorRegistry()),
    )
    waiting = asyncio.create_task(runner._wait(60))
    await asyncio.sleep(0)
    runner.wake.set()
    for _ in range(spins):
        await asyncio.sleep(0)
    if waiting.cancel():  # not finished yet: the cancellation must win
        with pytest.raises(asyncio.CancelledError):
            await waiting
    else:  # the wake-up won the race: the wait simply returned
        assert spins > 0
        assert waiting.result() is None
