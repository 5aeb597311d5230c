"""The write path: optimistic locking, audit before/after, outbox, soft delete and restore."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import psycopg

from headwater.catalog.changes import Change, record_all
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from tests.conftest import TenantKeys, TestDatabase, table_row_counts

ORDERS = {
    "type": "table",
    "name": "orders",
    "qualified_name": "postgres://shop/public.orders",
    "description": "One row per order",
    "metadata": {"rows": 10},
    "owners": ["data-eng@acme.test"],
}


def _counts(test_db: TestDatabase, entity_id: int) -> tuple[int, int]:
    with psycopg.connect(test_db.admin_dsn) as conn:
        audits = conn.execute(
            "SELECT count(*) FROM audits WHERE entity_type = 'asset' AND entity_id = %s",
            (str(entity_id),),
        ).fetchone()
        events = conn.execute(
            "SELECT count(*) FROM outbox WHERE entity_type = 'asset' AND entity_id = %s",
            (entity_id,),
        ).fetchone()
    assert audits is not None
    assert events is not None
    return audits[0], events[0]


async def _create(client: httpx.AsyncClient, tenant: TenantKeys, **over: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/assets", json={**ORDERS, **over}, headers=tenant.headers("editor")
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_fifty_concurrent_updates_with_one_version_exactly_one_wins(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset = await _create(client, tenant)
    before = _counts(test_db, asset["id"])

    async def update(i: int) -> httpx.Response:
        return await client.patch(
            f"/api/v1/assets/{asset['id']}",
            json={"version": asset["version"], "description": f"writer {i}"},
            headers=tenant.headers("editor"),
        )

    responses = await asyncio.gather(*(update(i) for i in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 49
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["current_version"] == asset["version"] + 1
    current = await client.get(f"/api/v1/assets/{asset['id']}", headers=tenant.headers("viewer"))
    assert current.json()["version"] == asset["version"] + 1
    assert _counts(test_db, asset["id"]) == (before[0] + 1, before[1] + 1)


async def test_audit_row_holds_exact_before_and_after(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset = await _create(client, tenant)
    response = await client.patch(
        f"/api/v1/assets/{asset['id']}",
        json={"version": 1, "description": "Orders, deduplicated", "owners": ["bi@acme.test"]},
        headers={**tenant.headers("editor"), "user-agent": "audit-test/1.0"},
    )
    assert response.status_code == 200
    after = response.json()
    with psycopg.connect(test_db.admin_dsn) as conn:
        row = conn.execute(
            "SELECT action, before, after, user_agent, request_id, actor_user_id, host(ip)"
            " FROM audits"
            " WHERE entity_type = 'asset' AND entity_id = %s AND action = 'asset.update'",
            (str(asset["id"]),),
        ).fetchone()
        event = conn.execute(
            "SELECT event_type, entity_version, payload FROM outbox"
            " WHERE entity_id = %s ORDER BY id DESC LIMIT 1",
            (asset["id"],),
        ).fetchone()
    assert row is not None
    assert event is not None
    action, before_state, after_state, user_agent, request_id, actor, ip = row
    assert action == "asset.update"
    assert before_state == asset
    assert after_state == after
    assert user_agent == "audit-test/1.0"
    assert request_id == response.headers["x-request-id"]
    assert actor is not None
    # httpx's ASGI transport presents its requests as coming from this address.
    assert ip == "127.0.0.1"
    assert event == ("asset.upserted", 2, after)


async def test_stale_delete_is_409_and_soft_delete_restore_round_trip(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    asset = await _create(client, tenant)
    url = f"/api/v1/assets/{asset['id']}"
    editor = tenant.headers("editor")
    stale = await client.delete(url, params={"version": 7}, headers=editor)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1
    missing_version = await client.delete(url, headers=editor)
    assert missing_version.status_code == 422
    deleted = await client.delete(url, params={"version": 1}, headers=editor)
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None
    assert (await client.get(url, headers=editor)).status_code == 404
    listed = await client.get("/api/v1/assets", headers=editor)
    assert asset["id"] not in [a["id"] for a in listed.json()["items"]]
    # The qualified name is free again while the asset is deleted...
    twin = await _create(client, tenant)
    conflict = await client.post(f"{url}/restore", json={"version": 2}, headers=editor)
    assert conflict.status_code == 409
    # ...and restore works once it is free again.
    await client.delete(f"/api/v1/assets/{twin['id']}", params={"version": 1}, headers=editor)
    restored = await client.post(f"{url}/restore", json={"version": 2}, headers=editor)
    assert restored.status_code == 200, restored.text
    assert restored.json()["deleted_at"] is None
    assert restored.json()["version"] == 3


async def test_duplicate_qualified_name_is_409(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    first = await _create(client, tenant)
    again = await client.post("/api/v1/assets", json=ORDERS, headers=tenant.headers("editor"))
    assert again.status_code == 409
    assert again.json()["existing_id"] == first["id"]


async def test_server_owned_and_unknown_fields_are_rejected_with_their_path(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    for field, value in [
        ("tenant_id", str(tenant.tenant_id)),
        ("version", 3),
        ("created_by", 1),
        ("deleted_at", "2020-01-01T00:00:00Z"),
        ("id", 5),
        ("colour", "blue"),
    ]:
        response = await client.post(
            "/api/v1/assets", json={**ORDERS, field: value}, headers=tenant.headers("editor")
        )
        assert response.status_code == 422, field
        assert response.headers["content-type"] == "application/problem+json"
        assert ["body", field] in [e["loc"] for e in response.json()["errors"]]
    bad_type = await client.post(
        "/api/v1/assets", json={**ORDERS, "type": "spaceship"}, headers=tenant.headers("editor")
    )
    assert bad_type.status_code == 422
    assert ["body", "type"] in [e["loc"] for e in bad_type.json()["errors"]]


async def test_pagination_by_cursor_and_cap(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    for i in range(7):
        await _create(client, tenant, name=f"t{i}", qualified_name=f"db.t{i}")
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/assets", params=params, headers=tenant.headers())).json()
        seen.extend(a["id"] for a in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    assert seen == sorted(seen)
    capped = await client.get("/api/v1/assets", params={"limit": 10**6}, headers=tenant.headers())
    assert capped.json()["limit_capped"] is True
    assert capped.json()["limit"] == 500
    bad = await client.get("/api/v1/assets", params={"cursor": "@@@"}, headers=tenant.headers())
    assert bad.status_code == 422


async def test_list_filters_by_type_and_by_tag(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    editor = tenant.headers("editor")
    ids: dict[str, int] = {}
    for name, kind in {"orders": "table", "users": "table", "sales": "view", "load": "job"}.items():
        asset = await _create(client, tenant, type=kind, name=name, qualified_name=f"db.{name}")
        ids[name] = asset["id"]
    pii = (await client.post("/api/v1/tags", json={"name": "pii"}, headers=editor)).json()
    gold = (await client.post("/api/v1/tags", json={"name": "gold"}, headers=editor)).json()
    for name, tag in [("orders", pii), ("sales", pii), ("load", gold)]:
        attached = await client.put(f"/api/v1/assets/{ids[name]}/tags/{tag['id']}", headers=editor)
        assert attached.status_code == 200, attached.text

    async def listed(**params: str) -> set[int]:
        response = await client.get("/api/v1/assets", params=params, headers=tenant.headers())
        assert response.status_code == 200, response.text
        return {asset["id"] for asset in response.json()["items"]}

    assert await listed(type="table") == {ids["orders"], ids["users"]}
    assert await listed(type="job") == {ids["load"]}
    assert await listed(type="dashboard") == set()
    assert await listed(tag="pii") == {ids["orders"], ids["sales"]}
    assert await listed(tag="PII") == {ids["orders"], ids["sales"]}  # tag names ignore case
    assert await listed(tag="gold") == {ids["load"]}
    assert await listed(tag="no-such-tag") == set()
    assert await listed(type="table", tag="pii") == {ids["orders"]}
    bad = await client.get("/api/v1/assets", params={"type": "spaceship"}, headers=editor)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert ["query", "type"] in [e["loc"] for e in bad.json()["errors"]]


async def test_values_postgres_cannot_store_are_4xx_and_write_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """Inputs Postgres refuses are the client's to fix, not 500s: the body reader refuses what
    no column can hold, Postgres what only a constraint forbids."""
    rng = random.Random(2)
    # 2,000 characters (within the model's limit) but 8 kB: over what a btree entry may hold.
    wide = "".join(chr(rng.randrange(0x10000, 0x1F000)) for _ in range(2000))
    refused: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "or\x00ders"}, 400, "NUL character"),  # text cannot hold NUL
        ({"metadata": {"note": "\x00"}}, 400, "NUL character"),  # nor can jsonb
        # the unique index on qualified names cannot take it
        ({"qualified_name": wide}, 422, "the database refused a value"),
    ]
    before = table_row_counts(test_db)
    for override, status, reason in refused:
        response = await client.post(
            "/api/v1/assets", json={**ORDERS, **override}, headers=tenant.headers("editor")
        )
        assert response.status_code == status, (override.keys(), response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert reason in response.json()["detail"], response.text
    assert table_row_counts(test_db) == before
    await _create(client, tenant)  # and the connection that saw the errors still serves


async def test_record_all_keeps_order_and_texts_and_wakes_sinks_only_for_events(
    database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """The audit rows and the outbox events land each in the order given, an ``after_text`` as
    sent and a payload override in place of the state; a transaction whose changes carry no
    event writes no outbox row and notifies no sink (the outbox's statement trigger would, even
    for an insert of no row)."""
    actor = Actor(tenant_id=tenant.tenant_id, user_id=None, request_id="rec-all")
    raw = '{"b": 1,  "a": [2]}'  # not how the codec would write it: kept as sent
    quiet = [Change("probe.raw", "probe", "quiet-1", None, {"a": [2], "b": 1}, after_text=raw)]
    loud = [
        Change("probe.raw", "probe", "loud-1", None, {"n": 1}),
        Change("probe.create", "probe", 7001, None, {"n": 2}, 1, "probe.created"),
        Change("probe.note", "probe", 7002, {"n": 3}, None),
        Change("probe.delete", "probe", 7003, {"n": 4}, None, 5, "probe.deleted", {"gone": 5}),
        Change("probe.update", "probe", 7001, {"n": 2}, {"n": 6}, 2, "probe.updated"),
    ]
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as listener:
        listener.execute("LISTEN headwater_outbox")

        def heard_until(marker: str) -> list[str]:
            """The notifications delivered before ``marker``, which this session sends last."""
            listener.execute("SELECT pg_notify('headwater_outbox', %s)", (marker,))
            heard: list[str] = []
            for notify in listener.notifies(timeout=10):
                if notify.payload == marker:
                    return heard
                heard.append(notify.payload)
            raise AssertionError(f"{marker!r} never arrived")

        for changes, woken, marker in ((quiet, [], "after quiet"), (loud, [""], "after loud")):
            async with database.transaction(tenant.tenant_id) as conn:
                await record_all(conn, actor, changes)
            # Delivered in commit order: the transaction's notification comes before the marker.
            assert heard_until(marker) == woken
        audits = listener.execute(
            "SELECT action, entity_id, before::text, after::text, request_id FROM audits"
            " WHERE entity_type = 'probe' ORDER BY id"
        ).fetchall()
        events = listener.execute(
            "SELECT entity_id, entity_version, event_type, payload FROM outbox"
            " WHERE entity_type = 'probe' ORDER BY id"
        ).fetchall()
    assert audits == [
        ("probe.raw", "quiet-1", None, raw, "rec-all"),
        ("probe.raw", "loud-1", None, '{"n":1}', "rec-all"),
        ("probe.create", "7001", None, '{"n":2}', "rec-all"),
        ("probe.note", "7002", '{"n":3}', None, "rec-all"),
        ("probe.delete", "7003", '{"n":4}', None, "rec-all"),
        ("probe.update", "7001", '{"n":2}', '{"n":6}', "rec-all"),
    ]
    assert events == [
        (7001, 1, "probe.created", {"n": 2}),
        (7003, 5, "probe.deleted", {"gone": 5}),
        (7001, 2, "probe.updated", {"n": 6}),
    ]
