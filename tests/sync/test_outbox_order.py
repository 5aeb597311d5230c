"""The tailer never skips an event that commits late; a tailer that trusts id order does."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from headwater.catalog.db import Database
from headwater.sync import dead_letters, tailer
from headwater.sync.events import START
from headwater.sync.worker import Outcome, SyncWorker, WorkerConfig
from tests.conftest import TenantKeys, TestDatabase
from tests.sync.conftest import create_asset, outbox_positions, tenant_uuid, write_assets
from tests.sync.sinks import MemorySink

LATER_TRANSACTIONS = 200


class NaiveTailer:
    """The counterexample: remembers only the highest outbox id it has seen."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.last_id = 0
        self.seen: list[int] = []

    async def poll(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, row_factory=dict_row
        ) as conn:
            cur = await conn.execute(
                "SELECT id FROM outbox WHERE id > %s ORDER BY id", (self.last_id,)
            )
            rows: list[dict[str, Any]] = await cur.fetchall()
        for row in rows:
            self.seen.append(row["id"])
            self.last_id = row["id"]


async def drain(worker: SyncWorker, sink: str) -> list[Outcome]:
    outcomes = []
    while True:
        outcome = await worker.runners[sink].cycle()
        outcomes.append(outcome)
        if outcome not in (Outcome.APPLIED_FULL, Outcome.APPLIED):
            return outcomes


async def test_late_committing_event_reaches_the_sink_and_a_naive_tailer_loses_it(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    mirror = MemorySink("mirror")
    worker = SyncWorker(worker_db, WorkerConfig(batch_size=32))
    worker.add_sink(mirror)
    await worker.prepare()
    naive = NaiveTailer(test_db.worker_dsn)

    # T1 writes through the catalog and stays open while 200 later transactions commit.
    async with database.transaction(tenant_uuid(tenant)) as t1:
        t1_asset = await create_asset(t1, tenant, "t1_asset")
        for chunk in range(0, LATER_TRANSACTIONS, 20):
            await write_assets(database, tenant, [f"later_{i}" for i in range(chunk, chunk + 20)])
            # Both tailers run between the commits.
            assert await drain(worker, "mirror") == [Outcome.WAITING]
            await naive.poll()
        # T1's event exists but is not visible yet; every later one is, and the naive tailer
        # has already moved past T1's id.
        assert mirror.events == []
        assert len(naive.seen) == LATER_TRANSACTIONS
        async with worker_db.transaction() as conn:
            assert await tailer.get_checkpoint(conn, "mirror") == START

    await drain(worker, "mirror")
    await naive.poll()

    expected = outbox_positions(test_db)
    assert len(expected) == LATER_TRANSACTIONS + 1
    t1_event = next(e for e in mirror.events if e.entity_id == t1_asset)
    assert t1_event.id == expected[0], "T1 began writing first, so it comes first"
    assert mirror.event_ids == expected
    # The counterexample lost exactly T1's event, for good.
    assert t1_event.id not in naive.seen
    assert sorted(naive.seen) == sorted(set(expected) - {t1_event.id})
    assert naive.last_id > t1_event.id


async def test_a_batch_may_end_inside_a_transaction_and_resume_there(
    database: Database, worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    mirror = MemorySink("mirror")
    worker = SyncWorker(worker_db, WorkerConfig(batch_size=2))
    worker.add_sink(mirror)
    await worker.prepare()
    # One transaction, five events.
    async with database.transaction(tenant_uuid(tenant)) as conn:
        for i in range(5):
            await create_asset(conn, tenant, f"same_tx_{i}")
    await write_assets(database, tenant, ["after"])

    outcomes = await drain(worker, "mirror")

    assert outcomes[:3] == [Outcome.APPLIED_FULL] * 3
    assert mirror.event_ids == outbox_positions(test_db)
    assert len({e.txid for e in mirror.events[:5]}) == 1


@pytest.mark.edits_rows_directly
async def test_positions_order_numerically_not_as_text(
    worker_db: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    # Transaction ids travel as text; 10 must still come after 9. Both are long finished.
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        for txid in ("10", "9"):
            conn.execute(
                "INSERT INTO outbox (tenant_id, txid, entity_type, entity_id, entity_version,"
                " event_type, payload)"
                " VALUES (%s, %s::xid8, 'asset', 1, 1, 'asset.upserted', '{}')",
                (tenant_uuid(tenant), txid),
            )
    async with worker_db.transaction() as conn:
        events = await tailer.read_batch(conn, START, 10)
        for event in reversed(events):
            await dead_letters.record(conn, "sink", event, "rejected")
        letters = await dead_letters.list_dead_letters(conn)
    assert [e.txid for e in events] == [9, 10]
    assert [d.txid for d in letters] == [9, 10]
