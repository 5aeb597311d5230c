"""The worker's role reads what mirrors need across tenants and nothing else; the CLI uses it."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from headwater.aio import stop_task
from headwater.catalog.db import Database
from headwater.cli import EXIT_ERROR, EXIT_OK, main
from headwater.sync import dead_letters
from headwater.sync.metrics import SyncMetrics
from headwater.sync.worker import SyncWorker, WorkerConfig, check_worker_role, run_worker
from tests.conftest import TenantKeys, TestDatabase
from tests.sync.conftest import eventually, tenant_uuid, write_assets
from tests.sync.sinks import MemorySink

HYDRATION_TABLES = [
    "outbox", "tenants", "assets", "relationships", "schema_fields", "field_lineage", "tags",
    "asset_tags",
]  # fmt: skip
CLOSED_TABLES = ["users", "api_keys", "audits", "background_tasks"]


async def test_worker_role_reads_every_tenant_and_writes_only_its_bookkeeping(
    database: Database, test_db: TestDatabase, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    await write_assets(database, tenant, ["mine"])
    await write_assets(database, other_tenant, ["theirs"])
    with psycopg.connect(test_db.worker_dsn, autocommit=True) as conn:
        tenants = {r[0] for r in conn.execute("SELECT DISTINCT tenant_id FROM outbox")}
        assert tenants == {tenant_uuid(tenant), tenant_uuid(other_tenant)}
        assert conn.execute("SELECT count(*) FROM assets").fetchone() == (2,)
        for table in HYDRATION_TABLES:
            conn.execute(f"SELECT * FROM {table} LIMIT 1")
        for statement in [
            *(f"SELECT * FROM {table}" for table in CLOSED_TABLES),
            "UPDATE assets SET name = 'x'",
            "DELETE FROM outbox",
            "INSERT INTO tags (tenant_id, name) SELECT id, 'x' FROM tenants",
            "DELETE FROM sync_checkpoints",
            "TRUNCATE sync_dead_letters",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        conn.execute("INSERT INTO sync_checkpoints (sink) VALUES ('probe')")
        conn.execute("UPDATE sync_checkpoints SET event_id = 1 WHERE sink = 'probe'")

    with psycopg.connect(test_db.admin_dsn) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
            " WHERE rolname = 'headwater_worker'"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = 'headwater_worker'::regrole"
        ).fetchone()
    assert role == (False, False, False, False)
    assert owned == (0,)


async def test_a_tenant_sees_only_its_own_dead_letters(
    database: Database, worker_db: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    await write_assets(database, tenant, ["poison"])
    worker = SyncWorker(worker_db, WorkerConfig(), SyncMetrics(CollectorRegistry()))
    runner = worker.add_sink(MemorySink("picky", reject_names={"poison"}))
    await worker.prepare()
    await runner.cycle()
    for keys, visible in ((tenant, 1), (other_tenant, 0)):
        async with database.transaction(tenant_uuid(keys)) as conn:
            assert len(await dead_letters.list_dead_letters(conn)) == visible


async def test_the_worker_refuses_a_role_that_could_do_more(test_db: TestDatabase) -> None:
    for dsn, reason in (
        (test_db.admin_dsn, "superuser"),
        (test_db.app_dsn, "not a member of headwater_worker"),
    ):
        with pytest.raises(RuntimeError, match=reason):
            await run_worker(dsn, [MemorySink("m")], WorkerConfig())
    database = Database(test_db.worker_dsn, max_size=1)
    await database.open()
    try:
        await check_worker_role(database)
    finally:
        await database.close()


async def test_run_worker_applies_until_cancelled(
    database: Database, test_db: TestDatabase, tenant: TenantKeys
) -> None:
    sink = MemorySink("m")
    config = WorkerConfig(poll_interval=0.05, metrics_interval=60)
    task = asyncio.create_task(
        run_worker(test_db.worker_dsn, [sink], config, metrics=SyncMetrics(CollectorRegistry()))
    )
    try:
        await write_assets(database, tenant, ["a", "b"])
        await eventually(lambda: len(sink.events) == 2)
    finally:
        await stop_task(task)


@pytest.fixture
def worker_env(test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> TestDatabase:
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_ADMIN_DATABASE_URL", test_db.admin_dsn)
    monkeypatch.setenv("HEADWATER_WORKER_DATABASE_URL", test_db.worker_dsn)
    return test_db


async def test_cli_manages_dead_letters(
    worker_env: TestDatabase,
    database: Database,
    worker_db: Database,
    tenant: TenantKeys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await write_assets(database, tenant, ["poison", "fine"])
    worker = SyncWorker(worker_db, WorkerConfig(), SyncMetrics(CollectorRegistry()))
    for name in ("a", "b"):
        worker.add_sink(MemorySink(name, reject_names={"poison"}))
    await worker.prepare()
    for runner in worker.runners.values():
        await runner.cycle()

    def cli(*argv: str) -> object:
        assert main(["worker", "dead-letters", *argv]) == EXIT_OK
        return json.loads(capsys.readouterr().out)

    # The CLI runs its own event loop, so it goes to a thread.
    listed = await asyncio.to_thread(cli, "list", "--sink", "a")
    assert isinstance(listed, list)
    assert [(d["sink"], d["payload"]["name"], d["status"]) for d in listed] == [
        ("a", "poison", "DEAD")
    ]
    retried = await asyncio.to_thread(cli, "retry", "--sink", "a")
    assert retried == {"marked_for_retry": [listed[0]["id"]]}
    others = await asyncio.to_thread(cli, "list", "--sink", "b")
    assert isinstance(others, list)
    discarded = await asyncio.to_thread(cli, "discard", str(others[0]["id"]))
    assert discarded == {"discarded": [others[0]["id"]]}
    statuses = await asyncio.to_thread(cli, "list")
    assert isinstance(statuses, list)
    assert [(d["sink"], d["status"]) for d in statuses] == [("a", "RETRY"), ("b", "DISCARDED")]


def test_cli_worker_without_an_external_mirror_says_why(
    worker_env: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # With the task runner on (the default), the worker has work even without a mirror.
    monkeypatch.setenv("HEADWATER_TASK_RUNNER", "false")
    assert main(["worker"]) == EXIT_ERROR
    assert "kept current inside `headwater serve`" in capsys.readouterr().err


def test_cli_worker_needs_its_dsn(
    worker_env: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HEADWATER_WORKER_DATABASE_URL")
    assert main(["worker"]) == EXIT_ERROR
    assert "HEADWATER_WORKER_DATABASE_URL" in capsys.readouterr().err
