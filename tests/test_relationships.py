"""Relationships API: create / revive, read, list, update, soft delete, and what they write."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from headwater.catalog import relationships
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.relationships import RelationshipCreate, RelationshipType
from tests.conftest import TenantKeys, TestDatabase

API = "/api/v1/relationships"
STATE_KEYS = {"id", "source_id", "target_id", "type", "metadata", "version", "deleted_at"}


def query(test_db: TestDatabase, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Read as the superuser: outbox and audits regardless of tenant."""
    with psycopg.connect(test_db.admin_dsn, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def events(test_db: TestDatabase, entity_id: int) -> list[dict[str, Any]]:
    return query(
        test_db,
        "SELECT event_type, entity_version, payload FROM outbox"
        " WHERE entity_type = 'relationship' AND entity_id = %s ORDER BY id",
        entity_id,
    )


def audits(test_db: TestDatabase, entity_id: int) -> list[dict[str, Any]]:
    return query(
        test_db,
        "SELECT action, before, after FROM audits"
        " WHERE entity_type = 'relationship' AND entity_id = %s ORDER BY id",
        str(entity_id),
    )


def state(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k in STATE_KEYS}


async def make_asset(client: httpx.AsyncClient, keys: TenantKeys, name: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/assets",
        json={"type": "table", "name": name, "qualified_name": f"pg://db/{name}"},
        headers=keys.headers("editor"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def link(
    client: httpx.AsyncClient, keys: TenantKeys, source: int, target: int, type: str = "PRODUCES"
) -> httpx.Response:
    return await client.post(
        API,
        json={"source_id": source, "target_id": target, "type": type},
        headers=keys.headers("editor"),
    )


async def test_lifecycle_writes_exact_events_and_audits(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    job = await make_asset(client, tenant, "job")
    table = await make_asset(client, tenant, "orders")
    created = await client.post(
        API,
        json={
            "source_id": job["id"],
            "target_id": table["id"],
            "type": "PRODUCES",
            "metadata": {"via": "airflow"},
        },
        headers=tenant.headers("editor"),
    )
    assert created.status_code == 201, created.text
    rel = created.json()
    assert (rel["source_id"], rel["target_id"], rel["type"]) == (job["id"], table["id"], "PRODUCES")
    assert (rel["version"], rel["metadata"], rel["deleted_at"]) == (1, {"via": "airflow"}, None)

    got = await client.get(f"{API}/{rel['id']}", headers=tenant.headers("viewer"))
    assert got.status_code == 200
    assert got.json() == rel

    patched = await client.patch(
        f"{API}/{rel['id']}",
        json={"version": 1, "metadata": {"via": "dagster"}},
        headers=tenant.headers("editor"),
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["version"], patched.json()["metadata"]) == (2, {"via": "dagster"})

    deleted = await client.delete(
        f"{API}/{rel['id']}", params={"version": 2}, headers=tenant.headers("editor")
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["version"] == 3
    assert deleted.json()["deleted_at"] is not None
    gone = await client.get(f"{API}/{rel['id']}", headers=tenant.headers("viewer"))
    assert gone.status_code == 404
    listed = await client.get(API, params={"asset_id": job["id"]}, headers=tenant.headers())
    assert listed.json()["items"] == []

    v1, v2, v3 = state(rel), state(patched.json()), state(deleted.json())
    assert events(test_db, rel["id"]) == [
        {"event_type": "relationship.upserted", "entity_version": 1, "payload": v1},
        {"event_type": "relationship.upserted", "entity_version": 2, "payload": v2},
        {"event_type": "relationship.deleted", "entity_version": 3, "payload": v3},
    ]
    assert audits(test_db, rel["id"]) == [
        {"action": "relationship.create", "before": None, "after": v1},
        {"action": "relationship.update", "before": v1, "after": v2},
        {"action": "relationship.delete", "before": v2, "after": v3},
    ]


async def test_ends_by_qualified_name(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    report = await make_asset(client, tenant, "report")
    table = await make_asset(client, tenant, "sales")
    created = await client.post(
        API,
        json={
            "source_qualified_name": "pg://db/report",
            "target_id": table["id"],
            "type": "USES",
        },
        headers=tenant.headers("editor"),
    )
    assert created.status_code == 201, created.text
    assert (created.json()["source_id"], created.json()["target_id"]) == (report["id"], table["id"])

    missing = await client.post(
        API,
        json={
            "source_id": report["id"],
            "target_qualified_name": "pg://db/nope",
            "type": "USES",
        },
        headers=tenant.headers("editor"),
    )
    assert missing.status_code == 404
    assert missing.json()["end"] == "target"
    assert "target asset 'pg://db/nope'" in missing.json()["detail"]


async def test_duplicate_is_409_with_existing_id_and_writes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    first = await link(client, tenant, a["id"], b["id"])
    assert first.status_code == 201
    again = await link(client, tenant, a["id"], b["id"])
    assert again.status_code == 409
    assert again.json()["existing_id"] == first.json()["id"]
    assert len(events(test_db, first.json()["id"])) == 1
    # Another type between the same assets is another edge.
    other = await link(client, tenant, a["id"], b["id"], "DEPENDS_ON")
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


async def test_concurrent_creates_of_one_edge_yield_one_row(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    responses = await asyncio.gather(*(link(client, tenant, a["id"], b["id"]) for _ in range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 7
    winner = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert {r.json()["existing_id"] for r in responses if r.status_code == 409} == {winner}
    assert query(test_db, "SELECT count(*) AS n FROM relationships") == [{"n": 1}]


async def test_stale_version_is_409(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    rel = (await link(client, tenant, a["id"], b["id"])).json()
    stale = await client.patch(
        f"{API}/{rel['id']}", json={"version": 2, "metadata": {}}, headers=tenant.headers("editor")
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1
    stale_delete = await client.delete(
        f"{API}/{rel['id']}", params={"version": 3}, headers=tenant.headers("editor")
    )
    assert stale_delete.status_code == 409
    assert (await client.get(f"{API}/{rel['id']}", headers=tenant.headers())).json() == rel


async def test_recreate_after_delete_revives_same_id(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    rel = (await link(client, tenant, a["id"], b["id"])).json()
    deleted = await client.delete(
        f"{API}/{rel['id']}", params={"version": 1}, headers=tenant.headers("editor")
    )
    revived = await client.post(
        API,
        json={"source_id": a["id"], "target_id": b["id"], "type": "PRODUCES", "metadata": {"n": 2}},
        headers=tenant.headers("editor"),
    )
    assert revived.status_code == 201, revived.text
    body = revived.json()
    assert (body["id"], body["version"], body["deleted_at"], body["metadata"]) == (
        rel["id"],
        3,
        None,
        {"n": 2},
    )
    last_event = events(test_db, rel["id"])[-1]
    assert last_event == {
        "event_type": "relationship.upserted",
        "entity_version": 3,
        "payload": state(body),
    }
    last_audit = audits(test_db, rel["id"])[-1]
    assert last_audit == {
        "action": "relationship.create",
        "before": state(deleted.json()),
        "after": state(body),
    }


async def test_hidden_while_an_end_asset_is_deleted(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    rel = (await link(client, tenant, a["id"], b["id"])).json()
    removed = await client.delete(
        f"/api/v1/assets/{b['id']}", params={"version": 1}, headers=tenant.headers("editor")
    )
    assert removed.status_code == 200

    assert (await client.get(f"{API}/{rel['id']}", headers=tenant.headers())).status_code == 404
    for params in ({"asset_id": a["id"]}, {"asset_id": b["id"]}, {}):
        listed = await client.get(API, params=params, headers=tenant.headers())
        assert listed.json()["items"] == []
    patch = await client.patch(
        f"{API}/{rel['id']}", json={"version": 1, "metadata": {}}, headers=tenant.headers("editor")
    )
    assert patch.status_code == 404
    to_deleted = await link(client, tenant, a["id"], b["id"], "USES")
    assert to_deleted.status_code == 404
    assert to_deleted.json()["end"] == "target"
    # The row itself is untouched: hiding is a read rule.
    assert query(test_db, "SELECT version, deleted_at FROM relationships") == [
        {"version": 1, "deleted_at": None}
    ]

    restored = await client.post(
        f"/api/v1/assets/{b['id']}/restore", json={"version": 2}, headers=tenant.headers("editor")
    )
    assert restored.status_code == 200, restored.text
    again = await client.get(f"{API}/{rel['id']}", headers=tenant.headers())
    assert again.status_code == 200
    assert again.json() == rel


async def test_list_filters_directions_and_pages(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    hub = await make_asset(client, tenant, "hub")
    outs = [await make_asset(client, tenant, f"out{i}") for i in range(3)]
    src = await make_asset(client, tenant, "src")
    out_ids = [(await link(client, tenant, hub["id"], o["id"])).json()["id"] for o in outs]
    in_id = (await link(client, tenant, src["id"], hub["id"], "CONTAINS")).json()["id"]

    async def ids(**params: Any) -> list[int]:
        response = await client.get(API, params=params, headers=tenant.headers("viewer"))
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert await ids(asset_id=hub["id"], direction="outgoing") == out_ids
    assert await ids(asset_id=hub["id"], direction="incoming") == [in_id]
    assert await ids(asset_id=hub["id"]) == [*out_ids, in_id]
    assert await ids(asset_id=hub["id"], direction="both", type="CONTAINS") == [in_id]
    assert await ids(type="PRODUCES") == out_ids

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"asset_id": hub["id"], "limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await client.get(API, params=params, headers=tenant.headers())).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*out_ids, in_id]

    capped = await client.get(API, params={"limit": 10**6}, headers=tenant.headers())
    assert (capped.json()["limit"], capped.json()["limit_capped"]) == (500, True)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"source_id": 1, "source_qualified_name": "x", "target_id": 2, "type": "USES"},
            ["body", "source_qualified_name"],
        ),
        ({"source_id": 1, "type": "USES"}, ["body", "target_qualified_name"]),
        ({"source_id": 1, "target_id": 2, "type": "FEEDS"}, ["body", "type"]),
        ({"source_id": 1, "target_id": 1, "type": "USES"}, ["body", "target_qualified_name"]),
        ({"source_id": 2**63, "target_id": 1, "type": "USES"}, ["body", "source_id"]),
        ({"source_id": 1, "target_id": 2, "type": "USES", "version": 3}, ["body", "version"]),
        ({"source_id": 1, "target_id": 2, "type": "USES", "metadata": []}, ["body", "metadata"]),
    ],
)
async def test_invalid_create_is_422_with_path(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    test_db: TestDatabase,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    response = await client.post(API, json=body, headers=tenant.headers("editor"))
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert query(test_db, "SELECT count(*) AS n FROM relationships") == [{"n": 0}]


async def test_invalid_queries_are_422(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    no_anchor = await client.get(API, params={"direction": "outgoing"}, headers=tenant.headers())
    assert no_anchor.status_code == 422
    assert no_anchor.json()["errors"][0]["loc"] == ["query", "direction"]
    bad = await client.get(
        API, params={"direction": "sideways", "asset_id": 1}, headers=tenant.headers()
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "direction"]
    cursor = await client.get(API, params={"cursor": "garbage!"}, headers=tenant.headers())
    assert cursor.status_code == 422


async def test_other_tenant_sees_404(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    rel = (await link(client, tenant, a["id"], b["id"])).json()
    theirs = other_tenant.headers("editor")
    assert (await client.get(f"{API}/{rel['id']}", headers=theirs)).status_code == 404
    patch = await client.patch(
        f"{API}/{rel['id']}", json={"version": 1, "metadata": {}}, headers=theirs
    )
    assert patch.status_code == 404
    delete = await client.delete(f"{API}/{rel['id']}", params={"version": 1}, headers=theirs)
    assert delete.status_code == 404
    listed = await client.get(API, params={"asset_id": a["id"]}, headers=theirs)
    assert listed.json()["items"] == []
    assert (await client.get(API, headers=theirs)).json()["items"] == []
    # Linking to another tenant's assets is linking to nothing.
    mine = await make_asset(client, other_tenant, "mine")
    cross = await link(client, other_tenant, mine["id"], a["id"])
    assert cross.status_code == 404
    assert cross.json()["end"] == "target"
    # The owner still sees its edge unchanged.
    assert (await client.get(f"{API}/{rel['id']}", headers=tenant.headers())).json() == rel


async def test_viewer_cannot_write(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    rel = (await link(client, tenant, a["id"], b["id"])).json()
    viewer = tenant.headers("viewer")
    body = {"source_id": b["id"], "target_id": a["id"], "type": "USES"}
    assert (await client.post(API, json=body, headers=viewer)).status_code == 403
    patch = await client.patch(f"{API}/{rel['id']}", json={"version": 1}, headers=viewer)
    assert patch.status_code == 403
    delete = await client.delete(f"{API}/{rel['id']}", params={"version": 1}, headers=viewer)
    assert delete.status_code == 403


async def test_upsert_updates_metadata_only_when_it_changes(
    client: httpx.AsyncClient, tenant: TenantKeys, database: Database, test_db: TestDatabase
) -> None:
    a = await make_asset(client, tenant, "a")
    b = await make_asset(client, tenant, "b")
    actor = Actor(tenant_id=UUID(str(tenant.tenant_id)), user_id=tenant.admin_user_id)
    data = RelationshipCreate(
        source_id=a["id"], target_id=b["id"], type=RelationshipType.USES, metadata={"k": 1}
    )
    async with database.transaction(actor.tenant_id) as conn:
        first = await relationships.create_relationship(conn, actor, data, upsert=True)
        same = await relationships.create_relationship(conn, actor, data, upsert=True)
        changed = await relationships.create_relationship(
            conn, actor, data.model_copy(update={"metadata": {"k": 2}}), upsert=True
        )
    assert first.id == same.id == changed.id
    assert (first.version, same.version, changed.version) == (1, 1, 2)
    assert [e["entity_version"] for e in events(test_db, first.id)] == [1, 2]
