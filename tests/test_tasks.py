"""Background tasks: the queue's runner side (claim, progress, complete, fail with backoff) and
the API (list, get, cancel)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from headwater.catalog import tasks
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.errors import Conflict, NotFound, Unprocessable
from headwater.catalog.tasks import Task, TaskStatus
from tests.conftest import TenantKeys, TestDatabase

API = "/api/v1"


def _tid(tenant: TenantKeys) -> UUID:
    return UUID(str(tenant.tenant_id))


async def _enqueue(
    database: Database,
    tenant: TenantKeys,
    type: str = "ingest.dbt",
    *,
    priority: int = 0,
    max_retries: int = 3,
    payload: dict[str, Any] | None = None,
) -> Task:
    async with database.transaction(_tid(tenant)) as conn:
        actor = Actor(tenant_id=_tid(tenant), user_id=tenant.admin_user_id)
        return await tasks.enqueue_task(
            conn, actor, type, payload or {}, priority=priority, max_retries=max_retries
        )


async def _claim(database: Database, tenant: TenantKeys, worker: str = "w1") -> Task | None:
    async with database.transaction() as conn:
        return await tasks.claim_next_task(conn, _tid(tenant), worker)


async def _make_due(test_db: TestDatabase, task_id: int, seconds_ago: int = 1) -> None:
    """Move a task's run_after into the past, as if its backoff had elapsed."""
    async with await psycopg.AsyncConnection.connect(test_db.admin_dsn, autocommit=True) as conn:
        await conn.execute(
            "UPDATE background_tasks SET run_after = now() - make_interval(secs => %s)"
            " WHERE id = %s",
            (seconds_ago, task_id),
        )


async def test_api_lists_and_gets_tasks(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    dbt = await _enqueue(database, tenant, "ingest.dbt", payload={"manifest": "m.json"})
    sql = await _enqueue(database, tenant, "ingest.sql")
    third = await _enqueue(database, tenant, "ingest.dbt")
    await _claim(database, tenant)  # takes dbt: same priority, oldest
    h = tenant.headers("viewer")

    listed = await client.get(f"{API}/tasks", headers=h)
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["items"]] == [third.id, sql.id, dbt.id]

    by_type = await client.get(f"{API}/tasks", params={"type": "ingest.dbt"}, headers=h)
    assert [t["id"] for t in by_type.json()["items"]] == [third.id, dbt.id]
    running = await client.get(f"{API}/tasks", params={"status": "RUNNING"}, headers=h)
    assert [t["id"] for t in running.json()["items"]] == [dbt.id]

    first_page = await client.get(f"{API}/tasks", params={"limit": 2}, headers=h)
    assert [t["id"] for t in first_page.json()["items"]] == [third.id, sql.id]
    rest = await client.get(
        f"{API}/tasks", params={"limit": 2, "cursor": first_page.json()["next_cursor"]}, headers=h
    )
    assert [t["id"] for t in rest.json()["items"]] == [dbt.id]
    assert rest.json()["next_cursor"] is None

    got = await client.get(f"{API}/tasks/{dbt.id}", headers=h)
    assert got.status_code == 200
    body = got.json()
    assert body["payload"] == {"manifest": "m.json"}
    assert (body["status"], body["locked_by"], body["created_by"]) == (
        "RUNNING",
        "w1",
        tenant.admin_user_id,
    )
    assert (await client.get(f"{API}/tasks/999999", headers=h)).status_code == 404


@pytest.mark.parametrize(
    ("name", "value"), [("status", "DONE"), ("type", "Bad Type"), ("limit", "0")]
)
async def test_bad_list_input_is_422_with_a_path(
    client: httpx.AsyncClient, tenant: TenantKeys, name: str, value: str
) -> None:
    r = await client.get(f"{API}/tasks", params={name: value}, headers=tenant.headers())
    assert r.status_code == 422
    assert ["query", name] in [e["loc"] for e in r.json()["errors"]]


async def test_enqueue_validates(database: Database, tenant: TenantKeys) -> None:
    for bad in ("Ingest DBT", "ingest.dbt\n"):  # a newline no runner would ever match
        with pytest.raises(Unprocessable) as bad_type:
            await _enqueue(database, tenant, bad)
        assert bad_type.value.extra["errors"][0]["loc"] == ["type"]
    with pytest.raises(Unprocessable):
        await _enqueue(database, tenant, max_retries=-1)
    async with database.transaction(_tid(tenant)) as conn:
        assert (await tasks.list_tasks(conn)).items == []


async def test_claim_takes_highest_priority_then_oldest_due(
    database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    low = await _enqueue(database, tenant, priority=0)
    older = await _enqueue(database, tenant, priority=5)
    newer = await _enqueue(database, tenant, priority=5)
    later = await _enqueue(database, tenant, priority=9)
    # run_after, not the id, decides between equal priorities; a future run_after is not due.
    await _make_due(test_db, newer.id, seconds_ago=60)
    await _make_due(test_db, later.id, seconds_ago=-3600)

    claimed = [await _claim(database, tenant, f"w{i}") for i in range(4)]
    assert [t.id if t else None for t in claimed] == [newer.id, older.id, low.id, None]
    first = claimed[0]
    assert first is not None
    assert first.status == TaskStatus.RUNNING
    assert first.locked_by == "w0"
    assert first.started_at is not None
    assert first.version == 2


async def test_progress_then_complete(database: Database, tenant: TenantKeys) -> None:
    task = await _enqueue(database, tenant)
    claimed = await _claim(database, tenant)
    assert claimed is not None
    assert claimed.id == task.id
    async with database.transaction(_tid(tenant)) as conn:
        assert await tasks.report_progress(conn, task.id, 40) is True
        assert (await tasks.get_task(conn, task.id)).progress == 40
        with pytest.raises(Unprocessable):
            await tasks.report_progress(conn, task.id, 101)
    async with database.transaction(_tid(tenant)) as conn:
        done = await tasks.complete_task(conn, task.id, {"assets": 12})
    assert done.status == TaskStatus.SUCCEEDED
    assert (done.result, done.progress, done.locked_by) == ({"assets": 12}, 100, None)
    assert done.finished_at is not None
    assert done.version == 3
    async with database.transaction(_tid(tenant)) as conn:
        assert await tasks.report_progress(conn, task.id, 50) is False
        with pytest.raises(Conflict, match="SUCCEEDED"):
            await tasks.complete_task(conn, task.id, None)
    async with database.transaction(_tid(tenant)) as conn:
        with pytest.raises(NotFound):
            await tasks.report_progress(conn, 999999, 10)


def test_retry_delay_is_exponential_and_capped() -> None:
    assert [tasks.retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert tasks.retry_delay(50) == timedelta(hours=1)


async def test_fail_retries_with_backoff_then_fails(
    database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    task = await _enqueue(database, tenant, max_retries=2)
    for retry in (1, 2):
        claimed = await _claim(database, tenant)
        assert claimed is not None
        assert claimed.id == task.id
        async with database.transaction(_tid(tenant)) as conn:
            failed = await tasks.fail_task(conn, task.id, f"boom {retry}")
        assert failed.status == TaskStatus.PENDING
        assert (failed.retries, failed.error, failed.locked_by) == (retry, f"boom {retry}", None)
        # run_after and updated_at are both taken from the failing transaction's now().
        assert failed.run_after - failed.updated_at == tasks.retry_delay(retry)
        assert await _claim(database, tenant) is None, "not due before its backoff elapses"
        await _make_due(test_db, task.id)

    claimed = await _claim(database, tenant)
    assert claimed is not None
    async with database.transaction(_tid(tenant)) as conn:
        final = await tasks.fail_task(conn, task.id, "boom 3")
    assert final.status == TaskStatus.FAILED
    assert (final.retries, final.error) == (2, "boom 3")
    assert final.finished_at is not None
    assert await _claim(database, tenant) is None


async def test_concurrent_claimers_never_get_the_same_task(
    database: Database, tenant: TenantKeys
) -> None:
    first = await _enqueue(database, tenant)
    second = await _enqueue(database, tenant)
    # A holds its claim uncommitted; B skips the locked row instead of waiting for it.
    async with database.transaction() as a:
        held = await tasks.claim_next_task(a, _tid(tenant), "a")
        async with database.transaction() as b:
            # A claimer that waited on A's lock would hang here: fail fast instead.
            other = await asyncio.wait_for(tasks.claim_next_task(b, _tid(tenant), "b"), 5)
            async with database.transaction() as c:
                none_left = await asyncio.wait_for(tasks.claim_next_task(c, _tid(tenant), "c"), 5)
    assert held is not None
    assert other is not None
    assert (held.id, other.id, none_left) == (first.id, second.id, None)

    queued = {(await _enqueue(database, tenant)).id for _ in range(20)}

    async def claimer(name: str) -> list[int]:
        got: list[int] = []
        while (task := await _claim(database, tenant, name)) is not None:
            got.append(task.id)
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(6)))
    claimed = [task_id for result in results for task_id in result]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == queued


async def test_claim_needs_a_transaction(database: Database, tenant: TenantKeys) -> None:
    async with database.pool.connection() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await tasks.claim_next_task(conn, _tid(tenant), "w")


async def test_cancel_semantics(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    h = tenant.headers("editor")
    pending = await _enqueue(database, tenant, priority=0)
    r = await client.post(f"{API}/tasks/{pending.id}/cancel", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED"
    assert r.json()["finished_at"] is not None
    again = await client.post(f"{API}/tasks/{pending.id}/cancel", headers=h)
    assert again.status_code == 409
    assert "CANCELLED" in again.json()["detail"]
    assert again.json()["task_status"] == "CANCELLED"
    assert await _claim(database, tenant) is None, "a cancelled task is never claimed"

    running = await _enqueue(database, tenant)
    assert await _claim(database, tenant) is not None
    r = await client.post(f"{API}/tasks/{running.id}/cancel", headers=h)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["locked_by"]) == ("CANCELLED", None)
    async with database.transaction(_tid(tenant)) as conn:
        assert await tasks.report_progress(conn, running.id, 60) is False
        kept = await tasks.complete_task(conn, running.id, {"late": True})
        assert (kept.status, kept.result) == (TaskStatus.CANCELLED, None)
        assert (await tasks.fail_task(conn, running.id, "late")).status == TaskStatus.CANCELLED

    for outcome in ("SUCCEEDED", "FAILED"):
        task = await _enqueue(database, tenant, max_retries=0)
        assert await _claim(database, tenant) is not None
        async with database.transaction(_tid(tenant)) as conn:
            if outcome == "SUCCEEDED":
                await tasks.complete_task(conn, task.id, None)
            else:
                await tasks.fail_task(conn, task.id, "x")
        r = await client.post(f"{API}/tasks/{task.id}/cancel", headers=h)
        assert r.status_code == 409
        assert outcome in r.json()["detail"]


async def test_every_state_change_is_audited(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    task = await _enqueue(database, tenant, payload={"big": "x" * 100})
    await _claim(database, tenant, "w1")
    async with database.transaction(_tid(tenant)) as conn:
        await tasks.report_progress(conn, task.id, 30)
        await tasks.fail_task(conn, task.id, "flaky")
    await _make_due(test_db, task.id)
    await _claim(database, tenant, "w2")
    async with database.transaction(_tid(tenant)) as conn:
        await tasks.complete_task(conn, task.id, {"ok": True})

    r = await client.get(
        f"{API}/audit",
        params={"entity_type": "task", "entity_id": str(task.id)},
        headers=tenant.headers("viewer"),
    )
    rows = r.json()["items"]
    assert [row["action"] for row in rows] == [
        "task.complete",
        "task.claim",
        "task.retry",
        "task.claim",
        "task.enqueue",
    ]
    complete, claim2, retry, claim1, enqueue = rows
    assert enqueue["actor_user_id"] == tenant.admin_user_id
    assert enqueue["after"]["payload"] == {"big": "x" * 100}
    assert "payload" not in claim1["after"]
    assert claim1["actor_user_id"] is None
    assert (claim1["before"]["status"], claim1["after"]["status"]) == ("PENDING", "RUNNING")
    assert claim1["after"]["locked_by"] == "w1"
    assert (retry["after"]["status"], retry["after"]["error"]) == ("PENDING", "flaky")
    assert claim2["after"]["locked_by"] == "w2"
    assert complete["after"]["result"] == {"ok": True}
    assert complete["after"]["status"] == "SUCCEEDED"

    cancelled = await _enqueue(database, tenant)
    await client.post(f"{API}/tasks/{cancelled.id}/cancel", headers=tenant.headers("editor"))
    r = await client.get(
        f"{API}/audit",
        params={"entity_type": "task", "entity_id": str(cancelled.id)},
        headers=tenant.headers("viewer"),
    )
    [cancel, _] = r.json()["items"]
    assert cancel["action"] == "task.cancel"
    assert cancel["actor_user_id"] == await _user_id(client, tenant, "editor")
    assert (cancel["before"]["status"], cancel["after"]["status"]) == ("PENDING", "CANCELLED")


async def _user_id(client: httpx.AsyncClient, tenant: TenantKeys, role: str) -> int:
    r = await client.get(f"{API}/me", headers=tenant.headers(role))
    return int(r.json()["id"])


async def test_other_tenants_tasks_are_invisible(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    task = await _enqueue(database, tenant)
    h = other_tenant.headers("admin")
    assert (await client.get(f"{API}/tasks/{task.id}", headers=h)).status_code == 404
    assert (await client.post(f"{API}/tasks/{task.id}/cancel", headers=h)).status_code == 404
    assert (await client.get(f"{API}/tasks", headers=h)).json()["items"] == []
    assert await _claim(database, other_tenant) is None

    claimed = await _claim(database, tenant)
    assert claimed is not None
    async with database.transaction(_tid(other_tenant)) as conn:
        with pytest.raises(NotFound):
            await tasks.report_progress(conn, task.id, 10)
        with pytest.raises(NotFound):
            await tasks.complete_task(conn, task.id, None)
        with pytest.raises(NotFound):
            await tasks.fail_task(conn, task.id, "x")


async def test_viewer_cannot_cancel(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    task = await _enqueue(database, tenant)
    r = await client.post(f"{API}/tasks/{task.id}/cancel", headers=tenant.headers("viewer"))
    assert r.status_code == 403
    got = await client.get(f"{API}/tasks/{task.id}", headers=tenant.headers("viewer"))
    assert got.json()["status"] == "PENDING"
