"""Tags: CRUD, case-insensitive uniqueness, attach/detach and the asset_tag events they emit."""

from __future__ import annotations

import asyncio
from typing import Any, LiteralString

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import TenantKeys, TestDatabase

API = "/api/v1"


async def _asset(client: httpx.AsyncClient, tenant: TenantKeys, name: str) -> dict[str, Any]:
    body = {"type": "table", "name": name, "qualified_name": f"pg://shop/public.{name}"}
    r = await client.post(f"{API}/assets", json=body, headers=tenant.headers("editor"))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _tag(
    client: httpx.AsyncClient, tenant: TenantKeys, name: str, category: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if category is not None:
        body["category"] = category
    r = await client.post(f"{API}/tags", json=body, headers=tenant.headers("editor"))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _events(test_db: TestDatabase, entity_type: str = "asset_tag") -> list[dict[str, Any]]:
    """Outbox rows of one entity type, in commit order (read as superuser, past RLS)."""
    async with await psycopg.AsyncConnection.connect(
        test_db.admin_dsn, row_factory=dict_row
    ) as conn:
        cur = await conn.execute(
            "SELECT entity_id, entity_version, event_type, payload FROM outbox"
            " WHERE entity_type = %s ORDER BY txid, id",
            (entity_type,),
        )
        return await cur.fetchall()


async def _count(test_db: TestDatabase, query: LiteralString, *params: object) -> int:
    async with await psycopg.AsyncConnection.connect(test_db.admin_dsn) as conn:
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_tag_crud_happy_path(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    created = await _tag(client, tenant, "email", "PII")
    assert created["category"] == "PII"
    assert created["version"] == 1
    assert created["description"] == ""
    tag_id = created["id"]

    got = await client.get(f"{API}/tags/{tag_id}", headers=tenant.headers("viewer"))
    assert got.status_code == 200
    assert got.json() == created

    patched = await client.patch(
        f"{API}/tags/{tag_id}",
        json={"version": 1, "description": "An e-mail address"},
        headers=tenant.headers("editor"),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "An e-mail address"
    assert patched.json()["category"] == "PII"  # left out, so kept
    assert patched.json()["version"] == 2

    cleared = await client.patch(
        f"{API}/tags/{tag_id}", json={"version": 2, "category": None}, headers=tenant.headers()
    )
    assert cleared.status_code == 200
    assert cleared.json()["category"] is None

    stale = await client.delete(
        f"{API}/tags/{tag_id}", params={"version": 1}, headers=tenant.headers("editor")
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 3

    deleted = await client.delete(
        f"{API}/tags/{tag_id}", params={"version": 3}, headers=tenant.headers("editor")
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"tag": cleared.json(), "detached_assets": 0}
    gone = await client.get(f"{API}/tags/{tag_id}", headers=tenant.headers("viewer"))
    assert gone.status_code == 404


async def test_list_tags_filters_and_pages(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    pii = [await _tag(client, tenant, f"pii-{i}", "PII") for i in range(3)]
    await _tag(client, tenant, "gold", "Tier")
    await _tag(client, tenant, "misc")

    everything = await client.get(f"{API}/tags", headers=tenant.headers("viewer"))
    assert [t["name"] for t in everything.json()["items"]] == [
        "pii-0",
        "pii-1",
        "pii-2",
        "gold",
        "misc",
    ]

    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"category": "PII", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = await client.get(f"{API}/tags", params=params, headers=tenant.headers("viewer"))
        assert page.status_code == 200
        seen += [t["id"] for t in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in pii]

    capped = await client.get(f"{API}/tags", params={"limit": 10**6}, headers=tenant.headers())
    assert capped.json()["limit_capped"] is True
    assert capped.json()["limit"] == 500


async def test_names_are_unique_ignoring_case(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    first = await _tag(client, tenant, "Email", "PII")
    dup = await client.post(f"{API}/tags", json={"name": "eMAIL"}, headers=tenant.headers("editor"))
    assert dup.status_code == 409
    assert dup.json()["existing_id"] == first["id"]

    # Another tenant has its own namespace.
    await _tag(client, other_tenant, "email")

    second = await _tag(client, tenant, "phone")
    rename = await client.patch(
        f"{API}/tags/{second['id']}",
        json={"version": 1, "name": "EMAIL"},
        headers=tenant.headers("editor"),
    )
    assert rename.status_code == 409
    # Changing only the case of a tag's own name is fine.
    recase = await client.patch(
        f"{API}/tags/{first['id']}", json={"version": 1, "name": "EMAIL"}, headers=tenant.headers()
    )
    assert recase.status_code == 200
    assert recase.json()["name"] == "EMAIL"


async def test_attach_is_idempotent_and_detach_emits_events(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset = await _asset(client, tenant, "customers")
    tag = await _tag(client, tenant, "email", "PII")
    url = f"{API}/assets/{asset['id']}/tags/{tag['id']}"
    expected = [{"id": tag["id"], "name": "email", "category": "PII"}]

    for _ in range(2):
        r = await client.put(url, headers=tenant.headers("editor"))
        assert r.status_code == 200, r.text
        assert r.json() == expected
    payload = {"asset_id": asset["id"], "tag_id": tag["id"], "tag_name": "email", "category": "PII"}
    assert await _events(test_db) == [
        {
            "entity_id": asset["id"],
            "entity_version": asset["version"],
            "event_type": "asset_tag.attached",
            "payload": payload,
        }
    ]
    attach_audits = "SELECT count(*) FROM audits WHERE action = 'asset_tag.attach'"
    assert await _count(test_db, attach_audits) == 1

    listed = await client.get(f"{API}/assets/{asset['id']}/tags", headers=tenant.headers("viewer"))
    assert listed.json() == expected
    fetched = await client.get(f"{API}/assets/{asset['id']}", headers=tenant.headers("viewer"))
    assert fetched.json()["tags"] == expected

    detached = await client.delete(url, headers=tenant.headers("editor"))
    assert detached.status_code == 200
    assert detached.json() == []
    events = await _events(test_db)
    assert [e["event_type"] for e in events] == ["asset_tag.attached", "asset_tag.detached"]
    assert events[1]["payload"] == payload

    again = await client.delete(url, headers=tenant.headers("editor"))
    assert again.status_code == 404
    assert "not attached" in again.json()["detail"]
    assert len(await _events(test_db)) == 2


async def test_attach_by_name_creates_or_reuses(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    a = await _asset(client, tenant, "a")
    b = await _asset(client, tenant, "b")
    created = await client.post(
        f"{API}/assets/{a['id']}/tags",
        json={"name": "Finance", "category": "Domain"},
        headers=tenant.headers("editor"),
    )
    assert created.status_code == 200, created.text
    [tag] = created.json()
    assert (tag["name"], tag["category"]) == ("Finance", "Domain")

    # Another case, another category: the existing tag is reused as it is.
    reused = await client.post(
        f"{API}/assets/{b['id']}/tags",
        json={"name": "finance", "category": "Other"},
        headers=tenant.headers("editor"),
    )
    assert reused.json() == [tag]
    assert await _count(test_db, "SELECT count(*) FROM tags") == 1
    assert await _count(test_db, "SELECT count(*) FROM audits WHERE action = 'tag.create'") == 1
    events = await _events(test_db)
    assert [(e["entity_id"], e["event_type"]) for e in events] == [
        (a["id"], "asset_tag.attached"),
        (b["id"], "asset_tag.attached"),
    ]

    # Attaching by name again changes nothing.
    again = await client.post(
        f"{API}/assets/{b['id']}/tags", json={"name": "FINANCE"}, headers=tenant.headers()
    )
    assert again.json() == [tag]
    assert len(await _events(test_db)) == 2


async def test_delete_tag_detaches_everywhere(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    assets = [await _asset(client, tenant, f"t{i}") for i in range(3)]
    tag = await _tag(client, tenant, "ssn", "PII")
    keep = await _tag(client, tenant, "gold")
    for asset in assets[:2]:
        r = await client.put(
            f"{API}/assets/{asset['id']}/tags/{tag['id']}", headers=tenant.headers("editor")
        )
        assert r.status_code == 200
    await client.put(
        f"{API}/assets/{assets[0]['id']}/tags/{keep['id']}", headers=tenant.headers("editor")
    )
    # A soft-deleted asset loses the tag too (its history says so).
    deleted_asset = await client.delete(
        f"{API}/assets/{assets[1]['id']}", params={"version": 1}, headers=tenant.headers("editor")
    )
    assert deleted_asset.status_code == 200

    r = await client.delete(
        f"{API}/tags/{tag['id']}", params={"version": 1}, headers=tenant.headers("editor")
    )
    assert r.status_code == 200, r.text
    assert r.json()["detached_assets"] == 2

    detach_events = [e for e in await _events(test_db) if e["event_type"] == "asset_tag.detached"]
    assert detach_events == [
        {
            "entity_id": asset["id"],
            "entity_version": version,
            "event_type": "asset_tag.detached",
            "payload": {
                "asset_id": asset["id"],
                "tag_id": tag["id"],
                "tag_name": "ssn",
                "category": "PII",
            },
        }
        for asset, version in ((assets[0], 1), (assets[1], 2))
    ]
    query = (
        "SELECT count(*) FROM audits WHERE action = 'asset_tag.detach'"
        " AND after IS NULL AND (before->>'tag_id')::bigint = %s"
    )
    assert await _count(test_db, query, tag["id"]) == 2
    assert await _count(test_db, "SELECT count(*) FROM audits WHERE action = 'tag.delete'") == 1
    assert await _count(test_db, "SELECT count(*) FROM asset_tags") == 1

    first = await client.get(f"{API}/assets/{assets[0]['id']}", headers=tenant.headers("viewer"))
    assert [t["name"] for t in first.json()["tags"]] == ["gold"]


async def test_rename_reannounces_attachments(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset = await _asset(client, tenant, "users")
    gone = await _asset(client, tenant, "old_users")
    tag = await _tag(client, tenant, "mail", "PII")
    for target in (asset, gone):
        await client.put(f"{API}/assets/{target['id']}/tags/{tag['id']}", headers=tenant.headers())
    await client.delete(
        f"{API}/assets/{gone['id']}", params={"version": 1}, headers=tenant.headers()
    )

    described = await client.patch(
        f"{API}/tags/{tag['id']}", json={"version": 1, "description": "x"}, headers=tenant.headers()
    )
    assert described.status_code == 200
    assert len(await _events(test_db)) == 2  # a description is not in the search document

    renamed = await client.patch(
        f"{API}/tags/{tag['id']}", json={"version": 2, "name": "e-mail"}, headers=tenant.headers()
    )
    assert renamed.status_code == 200
    # Only the live asset is re-announced: the deleted one has no search document.
    events = await _events(test_db)
    assert len(events) == 3
    assert events[2]["event_type"] == "asset_tag.attached"
    assert events[2]["payload"] == {
        "asset_id": asset["id"],
        "tag_id": tag["id"],
        "tag_name": "e-mail",
        "category": "PII",
    }


async def test_asset_must_be_live(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    asset = await _asset(client, tenant, "old")
    tag = await _tag(client, tenant, "t")
    h = tenant.headers("editor")
    await client.delete(f"{API}/assets/{asset['id']}", params={"version": 1}, headers=h)
    base = f"{API}/assets/{asset['id']}/tags"
    assert (await client.put(f"{base}/{tag['id']}", headers=h)).status_code == 404
    assert (await client.delete(f"{base}/{tag['id']}", headers=h)).status_code == 404
    assert (await client.post(base, json={"name": "t"}, headers=h)).status_code == 404
    assert (await client.get(base, headers=h)).status_code == 404
    assert (await client.put(f"{API}/assets/999999/tags/{tag['id']}", headers=h)).status_code == 404
    missing_tag = await client.put(f"{API}/assets/999999/tags/999999", headers=h)
    assert missing_tag.status_code == 404


async def test_other_tenants_ids_are_not_found(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    tag = await _tag(client, tenant, "secret", "PII")
    asset = await _asset(client, tenant, "mine")
    theirs_asset = await _asset(client, other_tenant, "theirs")
    theirs_tag = await _tag(client, other_tenant, "theirs")
    h = other_tenant.headers("admin")

    assert (await client.get(f"{API}/tags/{tag['id']}", headers=h)).status_code == 404
    patch = await client.patch(f"{API}/tags/{tag['id']}", json={"version": 1}, headers=h)
    assert patch.status_code == 404
    delete = await client.delete(f"{API}/tags/{tag['id']}", params={"version": 1}, headers=h)
    assert delete.status_code == 404
    # Their asset with my tag, my asset with their tag: both unknown to them / to me.
    cross = await client.put(f"{API}/assets/{theirs_asset['id']}/tags/{tag['id']}", headers=h)
    assert cross.status_code == 404
    mine = tenant.headers("editor")
    cross_back = await client.put(
        f"{API}/assets/{asset['id']}/tags/{theirs_tag['id']}", headers=mine
    )
    assert cross_back.status_code == 404
    by_name = await client.post(f"{API}/assets/{asset['id']}/tags", json={"name": "x"}, headers=h)
    assert by_name.status_code == 404

    listed = await client.get(f"{API}/tags", headers=h)
    assert [t["name"] for t in listed.json()["items"]] == ["theirs"]


async def test_viewer_cannot_write(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    asset = await _asset(client, tenant, "a")
    tag = await _tag(client, tenant, "t")
    h = tenant.headers("viewer")
    calls = [
        client.post(f"{API}/tags", json={"name": "v"}, headers=h),
        client.patch(f"{API}/tags/{tag['id']}", json={"version": 1}, headers=h),
        client.delete(f"{API}/tags/{tag['id']}", params={"version": 1}, headers=h),
        client.put(f"{API}/assets/{asset['id']}/tags/{tag['id']}", headers=h),
        client.delete(f"{API}/assets/{asset['id']}/tags/{tag['id']}", headers=h),
        client.post(f"{API}/assets/{asset['id']}/tags", json={"name": "v"}, headers=h),
    ]
    for call in calls:
        assert (await call).status_code == 403


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": ""}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"name": "x" * 201}, ["body", "name"]),
        ({"name": "x", "category": ""}, ["body", "category"]),
        ({"name": "x", "version": 3}, ["body", "version"]),
        ({"name": "x", "tenant_id": "00000000-0000-0000-0000-000000000000"}, ["body", "tenant_id"]),
        ({}, ["body", "name"]),
    ],
)
async def test_bad_tag_input_is_422_with_a_path(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    test_db: TestDatabase,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    r = await client.post(f"{API}/tags", json=body, headers=tenant.headers("editor"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in r.json()["errors"]]
    assert await _count(test_db, "SELECT count(*) FROM tags") == 0


async def test_bad_update_and_query_input(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    tag = await _tag(client, tenant, "t")
    h = tenant.headers("editor")
    no_version = await client.patch(f"{API}/tags/{tag['id']}", json={"name": "u"}, headers=h)
    assert ["body", "version"] in [e["loc"] for e in no_version.json()["errors"]]
    bad_cursor = await client.get(f"{API}/tags", params={"cursor": "nope"}, headers=h)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["loc"] == ["query", "cursor"]
    no_delete_version = await client.delete(f"{API}/tags/{tag['id']}", headers=h)
    assert no_delete_version.status_code == 422
    assert ["query", "version"] in [e["loc"] for e in no_delete_version.json()["errors"]]


async def test_concurrent_attach_by_name_creates_one_tag(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    assets = [await _asset(client, tenant, f"c{i}") for i in range(6)]
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/assets/{a['id']}/tags", json={"name": "Hot"}, headers=tenant.headers()
            )
            for a in assets
        )
    )
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.json()[0]["id"] for r in responses}) == 1
    assert await _count(test_db, "SELECT count(*) FROM tags") == 1
    assert await _count(test_db, "SELECT count(*) FROM audits WHERE action = 'tag.create'") == 1
    assert sorted(e["entity_id"] for e in await _events(test_db)) == [a["id"] for a in assets]
