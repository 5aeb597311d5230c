"""What `serve` and `worker` check of their database role before doing anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from headwater.catalog import db as db_module
from headwater.catalog.db import Database, check_app_role
from headwater.sync.worker import check_worker_role
from tests.conftest import TestDatabase

Check = Callable[[Database], Awaitable[None]]


async def _check(dsn: str, check: Check) -> None:
    database = Database(dsn, max_size=1)
    await database.open()
    try:
        await check(database)
    finally:
        await database.close()


@pytest.mark.parametrize(
    ("check", "connect_as", "refusal"),
    [
        (check_app_role, "admin", "DATABASE_URL connects as .*superuser"),
        (check_app_role, "worker", "not a member of headwater_app"),
        (check_app_role, "app", None),
        (check_worker_role, "admin", "HEADWATER_WORKER_DATABASE_URL connects as .*superuser"),
        (check_worker_role, "app", "not a member of headwater_worker"),
        (check_worker_role, "worker", None),
    ],
)
async def test_each_runtime_role_is_refused_anything_more_or_other(
    test_db: TestDatabase, check: Check, connect_as: str, refusal: str | None
) -> None:
    dsn = {"admin": test_db.admin_dsn, "app": test_db.app_dsn, "worker": test_db.worker_dsn}
    if refusal is None:
        await _check(dsn[connect_as], check)
        return
    with pytest.raises(RuntimeError, match=refusal):
        await _check(dsn[connect_as], check)


@pytest.mark.parametrize("check", [check_app_role, check_worker_role])
async def test_a_schema_behind_the_build_is_refused(
    test_db: TestDatabase, check: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "latest_migration", lambda: 10_000)
    with pytest.raises(RuntimeError, match="this build needs 10000: run `headwater migrate`"):
        await _check(test_db.app_dsn if check is check_app_role else test_db.worker_dsn, check)
