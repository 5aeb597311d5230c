"""Fixtures for the sync worker: a pool on the worker role, catalog writes, real test sinks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import psycopg
import pytest

from headwater.aio import stop_task
from headwater.catalog import assets
from headwater.catalog.assets import AssetCreate
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn, Database
from headwater.sync.worker import SyncWorker
from tests.conftest import TenantKeys, TestDatabase


@pytest.fixture
def sink_log(test_db: TestDatabase) -> str:
    """A table a Postgres-backed test sink writes into through the worker's transaction."""
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE sink_log (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " sink text NOT NULL, event_id bigint NOT NULL, txid xid8 NOT NULL,"
            " worker text NOT NULL)"
        )
        conn.execute("GRANT SELECT, INSERT ON sink_log TO headwater_worker")
    return "sink_log"


def tenant_uuid(tenant: TenantKeys) -> UUID:
    assert isinstance(tenant.tenant_id, UUID)
    return tenant.tenant_id


def actor_for(tenant: TenantKeys) -> Actor:
    return Actor(tenant_id=tenant_uuid(tenant), user_id=tenant.admin_user_id)


async def create_asset(conn: Conn, tenant: TenantKeys, name: str) -> int:
    """One catalog write (asset row, audit row and outbox event) on an open transaction."""
    asset = await assets.create_asset(
        conn,
        actor_for(tenant),
        AssetCreate(type=assets.AssetType.TABLE, name=name, qualified_name=f"pg://db/{name}"),
    )
    return asset.id


async def write_assets(database: Database, tenant: TenantKeys, names: list[str]) -> None:
    """Each asset in its own committed transaction, as the API would."""
    for name in names:
        async with database.transaction(tenant_uuid(tenant)) as conn:
            await create_asset(conn, tenant, name)


def outbox_positions(test_db: TestDatabase) -> list[int]:
    """Every committed event id, in the order the tailer must deliver them."""
    with psycopg.connect(test_db.admin_dsn) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM outbox ORDER BY txid, id")]


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, interval: float = 0.01
) -> float:
    """Wait until ``check`` holds; returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running(worker: SyncWorker) -> AsyncIterator[asyncio.Task[None]]:
    """Run the worker in the background; stopping it (as serve does: cancelled until it ends)
    re-raises anything it died of."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        await stop_task(task)
