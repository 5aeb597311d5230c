"""The pool checks a connection only when it has been idle past the alive-bypass window."""

from __future__ import annotations

import psycopg
import pytest

from headwater.catalog import db as db_module
from headwater.catalog.db import Database
from tests.conftest import TestDatabase


async def _backend_pid(database: Database) -> int:
    async with database.transaction() as conn:
        row = await db_module.fetch_one(conn, "SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


def _terminate(test_db: TestDatabase, pid: int) -> None:
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


async def test_a_dead_connection_idle_past_the_window_is_replaced(
    test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "ALIVE_BYPASS_S", 0.0)
    database = Database(test_db.app_dsn, min_size=1, max_size=1)
    await database.open()
    try:
        pid = await _backend_pid(database)
        _terminate(test_db, pid)
        assert await _backend_pid(database) != pid
    finally:
        await database.close()


async def test_a_connection_back_within_the_window_is_used_without_a_check(
    test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the trade: within the window nothing probes the connection, so a
    # backend killed in that window fails the next unit of work (which the pool then discards).
    monkeypatch.setattr(db_module, "ALIVE_BYPASS_S", 3600.0)
    database = Database(test_db.app_dsn, min_size=1, max_size=1)
    await database.open()
    try:
        pid = await _backend_pid(database)
        _terminate(test_db, pid)
        with pytest.raises(psycopg.OperationalError):
            await _backend_pid(database)
        assert await _backend_pid(database) != pid
    finally:
        await database.close()
