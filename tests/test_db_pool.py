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


@pytest.mark.parametrize(
    ("window", "first_use_fails"),
    [
        # Idle past the window: the check finds the dead connection and the pool replaces it.
        (0.0, False),
        # The other side of the trade: within the window nothing probes the connection, so a
        # backend killed in it fails the next unit of work (and the pool then discards it).
        (3600.0, True),
    ],
)
async def test_a_killed_connection_is_replaced_checked_or_after_one_failure(
    test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch, window: float, first_use_fails: bool
) -> None:
    monkeypatch.setattr(db_module, "ALIVE_BYPASS_S", window)
    database = Database(test_db.app_dsn, min_size=1, max_size=1)
    await database.open()
    try:
        pid = await _backend_pid(database)
        with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        if first_use_fails:
            with pytest.raises(psycopg.OperationalError):
                await _backend_pid(database)
        assert await _backend_pid(database) != pid
    finally:
        await database.close()
