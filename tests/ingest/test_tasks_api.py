"""Bulk ingestion as background tasks, through the API with a real runner: upload, progress,
result, cancellation, retries, bad input, chunked commits, crash recovery, tenant isolation."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from headwater.catalog import tasks
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.ingest.tasks import (
    HANDLERS,
    OPENLINEAGE_NDJSON,
    RunnerConfig,
    TaskContext,
    TaskHandler,
    TaskRunner,
    run_openlineage_ndjson,
)
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase
from tests.sync.conftest import eventually

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SEED = SHARED / "marquez" / "seed" / "metadata.json"
MANIFEST = SHARED / "dbt" / "artifacts" / "data" / "state" / "v12" / "manifest.json"
DATA_TABLES = ["assets", "schema_fields", "relationships", "field_lineage", "outbox", "asset_tags"]

FAST = RunnerConfig(
    poll_interval=0.1,
    progress_interval=0.01,
    heartbeat_interval=0.2,
    stale_after=2.0,
    retry_base=0.05,
)


def seed_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(SEED.read_text(encoding="utf-8"))
    return events


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(e) for e in events) + "\n").encode()


def data_counts(test_db: TestDatabase, tenant: TenantKeys | None = None) -> dict[str, int]:
    with psycopg.connect(test_db.admin_dsn) as conn:
        counts = {}
        for table in DATA_TABLES:
            if tenant is None:
                row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            else:
                row = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE tenant_id = %s",
                    (UUID(str(tenant.tenant_id)),),
                ).fetchone()
            assert row is not None
            counts[table] = row[0]
        return counts


@asynccontextmanager
async def running(
    test_db: TestDatabase,
    handlers: Mapping[str, TaskHandler] | None = None,
    config: RunnerConfig = FAST,
) -> AsyncIterator[TaskRunner]:
    """A task runner on the test database, as `serve` and `headwater worker` run it."""
    app = Database(test_db.app_dsn, max_size=2 * config.concurrency + 1)
    worker = Database(test_db.worker_dsn, max_size=2)
    await app.open()
    await worker.open()
    runner = TaskRunner(app, worker, config, handlers, listen_dsn=test_db.worker_dsn)
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await worker.close()
        await app.close()


async def upload(
    client: httpx.AsyncClient,
    keys: TenantKeys,
    data: bytes,
    task_type: str = OPENLINEAGE_NDJSON,
    *,
    compress: bool = True,
    **params: Any,
) -> httpx.Response:
    headers = {**keys.headers("editor"), "Content-Type": "application/x-ndjson"}
    if compress:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    return await client.post(
        "/api/v1/ingest/tasks", params={"type": task_type, **params}, content=data, headers=headers
    )


async def queued(client: httpx.AsyncClient, keys: TenantKeys, data: bytes, **params: Any) -> int:
    r = await upload(client, keys, data, **params)
    assert r.status_code == 202, r.text
    task_id: int = r.json()["id"]
    assert r.headers["location"] == f"/api/v1/tasks/{task_id}"
    return task_id


async def get_task(client: httpx.AsyncClient, keys: TenantKeys, task_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{task_id}", headers=keys.headers("viewer"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def finished(
    client: httpx.AsyncClient, keys: TenantKeys, task_id: int, timeout: float = 30
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def done() -> bool:
        seen.update(await get_task(client, keys, task_id))
        return seen["status"] in ("SUCCEEDED", "FAILED", "CANCELLED")

    await eventually(done, timeout=timeout, interval=0.05)
    return seen


def input_rows(test_db: TestDatabase) -> int:
    with psycopg.connect(test_db.admin_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM background_task_inputs").fetchone()
        assert row is not None
        return int(row[0])


class Gate:
    """Wraps a handler: pauses its work at the first progress point at or past ``at`` percent
    until released, so a test can look at (or cancel) a task mid-run."""

    def __init__(self, handler: TaskHandler, at: int) -> None:
        self.handler, self.at = handler, at
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.contexts: list[TaskContext] = []

    async def __call__(self, ctx: TaskContext) -> Any:
        self.contexts.append(ctx)

        async def pause(percent: int) -> None:
            if percent >= self.at and not self.reached.is_set():
                self.reached.set()
                await self.release.wait()

        ctx.listeners.append(pause)
        return await self.handler(ctx)


# The lifecycle ----------------------------------------------------------------------------------


async def test_upload_progress_and_result(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    gate = Gate(run_openlineage_ndjson, at=50)
    async with running(test_db, {**HANDLERS, OPENLINEAGE_NDJSON: gate}):
        task_id = await queued(client, tenant, ndjson(seed_events()), filename="seed.ndjson")
        queued_task = await get_task(client, tenant, task_id)
        assert queued_task["type"] == "openlineage.ndjson"
        assert queued_task["payload"]["input"]["filename"] == "seed.ndjson"
        assert queued_task["payload"]["input"]["bytes"] == len(ndjson(seed_events()))
        await asyncio.wait_for(gate.reached.wait(), 20)

        # Mid-run, from the API: RUNNING with the progress the runner wrote beside its work.
        async def halfway() -> bool:
            state = await get_task(client, tenant, task_id)
            return bool(state["status"] == "RUNNING" and state["progress"] >= 50)

        await eventually(halfway, timeout=5)
        state = await get_task(client, tenant, task_id)
        assert state["progress"] < 100
        assert state["locked_by"] is not None
        gate.release.set()
        done = await finished(client, tenant, task_id)

    assert done["status"] == "SUCCEEDED", done
    assert (done["progress"], done["retries"], done["error"], done["locked_by"]) == (
        100,
        0,
        None,
        None,
    )
    result = done["result"]
    assert result["units"] == 26
    assert result["transactions"] == 1
    assert result["assets"]["created"] == 13 + 14
    assert result["relationships"]["created"] > 0
    assert result["fields"]["created"] > 0
    assert result["field_lineage"]["created"] > 0
    assert input_rows(test_db) == 0, "the input is dropped when the task finishes"

    # The writes are the user's who queued the task, in the task's tenant.
    editor = await client.get("/api/v1/me", headers=tenant.headers("editor"))
    with psycopg.connect(test_db.admin_dsn) as conn:
        actors = conn.execute(
            "SELECT DISTINCT actor_user_id, tenant_id FROM audits WHERE entity_type = 'asset'"
        ).fetchall()
    assert actors == [(editor.json()["id"], UUID(str(tenant.tenant_id)))]


async def test_replayed_upload_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    async with running(test_db):
        first = await finished(client, tenant, await queued(client, tenant, ndjson(seed_events())))
        before = data_counts(test_db)
        again = await finished(client, tenant, await queued(client, tenant, ndjson(seed_events())))
    assert first["status"] == again["status"] == "SUCCEEDED"
    assert again["result"]["duplicates"] == 26
    assert data_counts(test_db) == before


async def test_dbt_manifest_with_catalog(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    catalog = {"nodes": {"model.test.my_model": {"columns": {"id": {"type": "bigint",
               "index": 1, "name": "id"}}}}, "sources": {}}  # fmt: skip
    body = b'{"manifest":' + MANIFEST.read_bytes() + b',"catalog":' + json.dumps(catalog).encode()
    body += b"}"
    async with running(test_db):
        task_id = await queued(
            client, tenant, body, type="dbt.manifest", namespace="postgres://db:5432"
        )
        done = await finished(client, tenant, task_id)
        assert done["status"] == "SUCCEEDED", done
        assert done["payload"]["namespace"] == "postgres://db:5432"
        result = done["result"]
        assert (result["assets"]["created"], result["fields"]["created"]) == (11, 1)
        assert result["relationships"]["created"] == 8
        before = data_counts(test_db)
        replayed = await queued(
            client, tenant, body, type="dbt.manifest", namespace="postgres://db:5432"
        )
        again = await finished(client, tenant, replayed)
    assert again["result"]["assets"]["unchanged"] == 11
    assert data_counts(test_db) == before


async def test_cancelled_task_stops_and_writes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    gate = Gate(run_openlineage_ndjson, at=60)
    async with running(test_db, {OPENLINEAGE_NDJSON: gate}):
        before = data_counts(test_db)
        task_id = await queued(client, tenant, ndjson(seed_events()))
        await asyncio.wait_for(gate.reached.wait(), 20)  # some events are written, uncommitted
        r = await client.post(f"/api/v1/tasks/{task_id}/cancel", headers=tenant.headers("editor"))
        assert r.status_code == 200
        assert r.json()["status"] == "CANCELLED"
        # The runner learns it from its next progress report and stops at the next point.
        await eventually(lambda: gate.contexts[0].stop_requested, timeout=5)
        gate.release.set()
        await eventually(lambda: input_rows(test_db) == 0, timeout=5)

        # The runner goes on with the next task.
        events = seed_events()[:2]
        follow_up = await finished(client, tenant, await queued(client, tenant, ndjson(events)))
        assert follow_up["status"] == "SUCCEEDED"
    cancelled = await get_task(client, tenant, task_id)
    assert (cancelled["status"], cancelled["result"]) == ("CANCELLED", None)
    assert cancelled["progress"] < 100
    with psycopg.connect(test_db.admin_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audits WHERE entity_type = 'openlineage_event'"
        ).fetchone()
    assert row == (2,), "only the follow-up's events were kept: the cancelled run rolled back"
    assert data_counts(test_db)["assets"] > before["assets"]


async def test_transient_failures_retry_with_backoff_then_fail(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    attempts: list[int] = []

    async def broken(ctx: TaskContext) -> Any:
        attempts.append(ctx.task.retries)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    async with running(test_db, {"test.broken": broken}):
        async with database.transaction(tenant.tenant_id) as conn:
            actor = Actor(tenant_id=tenant.tenant_id, user_id=tenant.admin_user_id)
            task = await tasks.enqueue_task(conn, actor, "test.broken", {}, max_retries=2)
        done = await finished(client, tenant, task.id)
    assert done["status"] == "FAILED"
    assert done["retries"] == 2
    assert done["error"] == "OperationalError: server closed the connection unexpectedly"
    assert attempts == [0, 1, 2]
    audit = await client.get(
        "/api/v1/audit",
        params={"entity_type": "task", "entity_id": str(task.id)},
        headers=tenant.headers("viewer"),
    )
    assert [a["action"] for a in reversed(audit.json()["items"])] == [
        "task.enqueue", "task.claim", "task.retry", "task.claim", "task.retry", "task.claim",
        "task.fail",
    ]  # fmt: skip


async def test_a_transient_failure_mid_write_rolls_back_and_the_retry_succeeds(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    async def flaky(ctx: TaskContext) -> Any:
        async def once(percent: int) -> None:
            if percent >= 60 and ctx.task.retries == 0:
                raise psycopg.errors.DeadlockDetected("deadlock detected")

        ctx.listeners.append(once)
        return await run_openlineage_ndjson(ctx)

    async with running(test_db, {OPENLINEAGE_NDJSON: flaky}):
        done = await finished(client, tenant, await queued(client, tenant, ndjson(seed_events())))
    assert done["status"] == "SUCCEEDED"
    assert done["retries"] == 1
    assert done["error"] == "DeadlockDetected: deadlock detected", "the last attempt's error stays"
    assert done["result"]["assets"]["created"] == 27, "the first attempt's writes rolled back"
    assert done["result"]["duplicates"] == 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (lambda e: [*e[:2], b"{not json", *e[3:]], "seed.ndjson line 3 is not valid JSON"),
        (
            lambda e: [
                *e[:4],
                e[4].replace(b'"eventTime": "', b'"eventTime": "last tuesday'),
                *e[5:],
            ],
            "seed.ndjson line 5.eventTime",
        ),
    ],
)
async def test_a_malformed_file_fails_at_once_and_writes_nothing(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    test_db: TestDatabase,
    lines: Callable[[list[bytes]], list[bytes]],
    message: str,
) -> None:
    events = [json.dumps(e).encode() for e in seed_events()]
    before = data_counts(test_db)
    async with running(test_db):
        task_id = await queued(client, tenant, b"\n".join(lines(events)), filename="seed.ndjson")
        done = await finished(client, tenant, task_id)
    assert done["status"] == "FAILED"
    assert done["retries"] == 0, "bad input is not retried"
    assert message in done["error"]
    assert "nothing was written" in done["error"]
    assert data_counts(test_db) == before
    assert input_rows(test_db) == 0


async def test_a_large_file_commits_in_chunks_and_resumes_after_a_failure(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys, test_db: TestDatabase
) -> None:
    async def fails_in_second_chunk(ctx: TaskContext) -> Any:
        async def once(percent: int) -> None:
            if percent >= 60 and ctx.task.retries == 0:
                raise OSError("network is unreachable")

        ctx.listeners.append(once)
        return await run_openlineage_ndjson(ctx)

    chunked = replace(FAST, events_per_transaction=10)
    async with running(test_db, {OPENLINEAGE_NDJSON: fails_in_second_chunk}, chunked):
        done = await finished(client, tenant, await queued(client, tenant, ndjson(seed_events())))
    async with running(test_db):  # the same file in one transaction, for comparison
        whole = await finished(
            client, other_tenant, await queued(client, other_tenant, ndjson(seed_events()))
        )
    assert done["status"] == whole["status"] == "SUCCEEDED"
    assert done["retries"] == 1
    assert (done["result"]["transactions"], whole["result"]["transactions"]) == (3, 1)
    # Resumed after the committed chunk: nothing applied twice, the same outcome as one commit.
    assert done["result"]["duplicates"] == 0
    for key in ("assets", "relationships", "fields", "field_lineage"):
        assert done["result"][key] == whole["result"][key], key
    assert data_counts(test_db, tenant) == data_counts(test_db, other_tenant)


async def test_a_task_whose_runner_died_is_retried(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    task_id = await queued(client, tenant, ndjson(seed_events()[:3]))
    async with database.transaction(tenant.tenant_id) as conn:
        ghost = await tasks.claim_task(conn, task_id, "ghost:1")
    assert ghost is not None
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE background_tasks SET updated_at = now() - interval '1 hour' WHERE id = %s",
            (task_id,),
        )
    async with running(test_db):
        done = await finished(client, tenant, task_id)
    assert done["status"] == "SUCCEEDED"
    assert done["retries"] == 1
    assert "runner ghost:1 stopped reporting" in done["error"]


async def test_a_runner_shutting_down_puts_its_task_back(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    gate = Gate(run_openlineage_ndjson, at=50)
    before = data_counts(test_db)
    async with running(test_db, {OPENLINEAGE_NDJSON: gate}):
        task_id = await queued(client, tenant, ndjson(seed_events()))
        await asyncio.wait_for(gate.reached.wait(), 20)
    released = await get_task(client, tenant, task_id)
    assert (released["status"], released["retries"], released["locked_by"]) == (
        "PENDING",
        0,
        None,
    )
    assert data_counts(test_db) == before
    async with running(test_db):
        assert (await finished(client, tenant, task_id))["status"] == "SUCCEEDED"


# Tenants ----------------------------------------------------------------------------------------


async def test_tasks_never_cross_tenants(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys, test_db: TestDatabase
) -> None:
    events = seed_events()
    theirs = [json.loads(json.dumps(e).replace("food_delivery", "globex_food")) for e in events]
    async with running(test_db, config=replace(FAST, concurrency=2)):
        mine = await queued(client, tenant, ndjson(events))
        other = await queued(client, other_tenant, ndjson(theirs))
        for keys, task_id in ((tenant, mine), (other_tenant, other)):
            assert (await finished(client, keys, task_id))["status"] == "SUCCEEDED"

    def names(keys: TenantKeys) -> set[str]:
        with psycopg.connect(test_db.admin_dsn) as conn:
            rows = conn.execute(
                "SELECT qualified_name FROM assets WHERE tenant_id = %s",
                (UUID(str(keys.tenant_id)),),
            ).fetchall()
        return {r[0] for r in rows}

    assert any("food_delivery" in n for n in names(tenant))
    assert not any("globex_food" in n for n in names(tenant))
    assert any("globex_food" in n for n in names(other_tenant))
    assert not any("food_delivery" in n for n in names(other_tenant))
    with psycopg.connect(test_db.admin_dsn) as conn:
        crossed = conn.execute(
            "SELECT count(*) FROM audits a JOIN users u ON u.id = a.actor_user_id"
            " WHERE a.tenant_id <> u.tenant_id"
        ).fetchone()
    assert crossed == (0,), "every write is attributed within its own tenant"

    h = other_tenant.headers("admin")
    assert (await client.get(f"/api/v1/tasks/{mine}", headers=h)).status_code == 404
    assert (await client.post(f"/api/v1/tasks/{mine}/cancel", headers=h)).status_code == 404
    listed = await client.get("/api/v1/tasks", headers=h)
    assert [t["id"] for t in listed.json()["items"]] == [other]


def test_the_worker_role_sees_the_queue_but_no_payload_or_input(
    test_db: TestDatabase,
) -> None:
    with psycopg.connect(test_db.worker_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT id, tenant_id, type, status, priority, run_after FROM background_tasks"
        )
        for statement in (
            "SELECT payload FROM background_tasks",
            "SELECT result, error FROM background_tasks",
            "SELECT * FROM background_task_inputs",
            "UPDATE background_tasks SET status = 'PENDING'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


# Upload validation ------------------------------------------------------------------------------


async def test_upload_validation(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    events = ndjson(seed_events()[:2])
    r = await upload(client, tenant, events, compress=False)
    assert r.status_code == 202, "an uncompressed body is taken too"
    assert r.json()["payload"]["input"]["encoding"] == "identity"

    headers = {**tenant.headers("editor"), "Content-Encoding": "gzip"}
    cases = [
        ({"type": "openlineage.ndjson"}, events, headers, 400, "not valid gzip"),
        ({"type": "openlineage.ndjson"}, gzip.compress(events)[:-12], headers, 400, "truncated"),
        ({"type": "openlineage.ndjson"}, gzip.compress(b""), headers, 400, "empty"),
        ({"type": "ingest.sql"}, gzip.compress(events), headers, 422, "type"),
        ({"type": "openlineage.ndjson", "namespace": "x"}, gzip.compress(events), headers, 422,
         "dbt manifests only"),
        ({"type": "openlineage.ndjson"}, gzip.compress(events), tenant.headers("viewer"), 403,
         "editor"),
    ]  # fmt: skip
    for params, body, sent_headers, status, text in cases:
        r = await client.post(
            "/api/v1/ingest/tasks", params=params, content=body, headers=sent_headers
        )
        assert r.status_code == status, (params, r.text)
        assert text in r.text, r.text
    listed = await client.get("/api/v1/tasks", headers=tenant.headers())
    assert len(listed.json()["items"]) == 1, "refused uploads queue nothing"
    assert input_rows(test_db) == 1


async def test_inflated_size_is_capped(
    settings: Settings, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    from headwater.runtime import build_app

    small = settings.model_copy(update={"max_task_input_bytes": 1000})
    app = build_app(small, test_db.app_dsn, test_db.worker_dsn, search=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            bomb = gzip.compress(b"x" * 100_000)
            assert len(bomb) < 1000
            r = await upload(http, tenant, b"x" * 100_000)
            assert r.status_code == 413
            assert r.json()["limit_bytes"] == 1000
            plain = await upload(http, tenant, b"x" * 1001, compress=False)
            assert plain.status_code == 413


async def test_the_worker_process_runner(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase, settings: Settings
) -> None:
    """What `headwater worker` runs: the runner behind the role checks, until cancelled."""
    from headwater.runtime import run_task_runner

    fast = settings.model_copy(update={"task_poll_interval": 0.1, "task_progress_interval": 0.02})
    with pytest.raises(RuntimeError, match="not a member of headwater_worker"):
        await run_task_runner(fast, test_db.app_dsn, test_db.app_dsn)
    worker = asyncio.create_task(run_task_runner(fast, test_db.app_dsn, test_db.worker_dsn))
    try:
        done = await finished(client, tenant, await queued(client, tenant, ndjson(seed_events())))
        assert done["status"] == "SUCCEEDED"
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
