"""Audit queries: filters return exactly the expected rows, newest first, paged; access by role."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import TenantKeys

API = "/api/v1"


async def _asset(client: httpx.AsyncClient, tenant: TenantKeys, name: str) -> dict[str, Any]:
    body = {"type": "table", "name": name, "qualified_name": f"pg://shop/public.{name}"}
    r = await client.post(f"{API}/assets", json=body, headers=tenant.headers("editor"))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _tag(client: httpx.AsyncClient, tenant: TenantKeys, name: str) -> dict[str, Any]:
    r = await client.post(f"{API}/tags", json={"name": name}, headers=tenant.headers("editor"))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _audit(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = "/audit", **params: Any
) -> list[dict[str, Any]]:
    r = await client.get(f"{API}{path}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None, "expected everything on one page"
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _user_id(client: httpx.AsyncClient, tenant: TenantKeys, role: str) -> int:
    r = await client.get(f"{API}/me", headers=tenant.headers(role))
    return int(r.json()["id"])


async def test_filter_by_entity(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    a = await _asset(client, tenant, "a")
    b = await _asset(client, tenant, "b")
    for version in (1, 2):
        r = await client.patch(
            f"{API}/assets/{a['id']}",
            json={"version": version, "description": f"v{version + 1}"},
            headers=tenant.headers("admin"),
        )
        assert r.status_code == 200

    rows = await _audit(
        client, tenant.headers("viewer"), entity_type="asset", entity_id=str(a["id"])
    )
    assert [r["action"] for r in rows] == ["asset.update", "asset.update", "asset.create"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert {r["entity_id"] for r in rows} == {str(a["id"])}
    assert rows[0]["before"]["description"] == "v2"
    assert rows[0]["after"]["description"] == "v3"
    assert rows[2]["before"] is None

    every_asset = await _audit(client, tenant.headers("viewer"), entity_type="asset")
    assert sorted(r["entity_id"] for r in every_asset) == sorted(
        [str(a["id"])] * 3 + [str(b["id"])]
    )


async def test_filter_by_actor(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    asset = await _asset(client, tenant, "a")
    await client.patch(
        f"{API}/assets/{asset['id']}", json={"version": 1}, headers=tenant.headers("admin")
    )
    editor_id = await _user_id(client, tenant, "editor")

    by_admin = await _audit(client, tenant.headers(), actor_user_id=tenant.admin_user_id)
    assert [r["action"] for r in by_admin] == ["asset.update"]
    by_editor = await _audit(client, tenant.headers(), actor_user_id=editor_id)
    assert [r["action"] for r in by_editor] == ["asset.create"]
    assert by_editor[0]["actor_key_id"] is not None

    user_route = await _audit(client, tenant.headers(), f"/users/{editor_id}/audit")
    assert user_route == by_editor


async def test_filter_by_time_range(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    tags = [await _tag(client, tenant, f"t{i}") for i in range(3)]
    rows = await _audit(client, tenant.headers("viewer"), entity_type="tag")
    assert [r["entity_id"] for r in rows] == [str(t["id"]) for t in reversed(tags)]
    t3, t2, t1 = (r["created_at"] for r in rows)
    assert datetime.fromisoformat(t1) < datetime.fromisoformat(t2) < datetime.fromisoformat(t3)

    def ids(found: list[dict[str, Any]]) -> list[str]:
        return [r["entity_id"] for r in found]

    h = tenant.headers("viewer")
    first, second, third = (str(t["id"]) for t in tags)
    assert ids(await _audit(client, h, entity_type="tag", since=t2)) == [third, second]
    assert ids(await _audit(client, h, entity_type="tag", until=t2)) == [first]
    assert ids(await _audit(client, h, entity_type="tag", since=t2, until=t3)) == [second]
    # Without an offset a timestamp is UTC.
    naive = datetime.fromisoformat(t2).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert ids(await _audit(client, h, entity_type="tag", since=naive)) == [third, second]


@pytest.mark.parametrize("same", [True, False])
async def test_since_must_precede_until(
    client: httpx.AsyncClient, tenant: TenantKeys, same: bool
) -> None:
    since = "2030-01-02T00:00:00+00:00"
    until = since if same else "2030-01-01T00:00:00+00:00"
    r = await client.get(
        f"{API}/audit", params={"since": since, "until": until}, headers=tenant.headers()
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "until"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("since", "yesterday"),
        # pydantic reads a number as seconds since 1970 (schemathesis: a schema-violating
        # request accepted).
        ("until", "0.5"),
        ("since", "1765100000"),
        ("actor_user_id", "me"),
        ("limit", "0"),
        ("cursor", "!!"),
    ],
)
async def test_bad_query_input_is_422_with_a_path(
    client: httpx.AsyncClient, tenant: TenantKeys, name: str, value: str
) -> None:
    r = await client.get(f"{API}/audit", params={name: value}, headers=tenant.headers())
    assert r.status_code == 422
    assert ["query", name] in [e["loc"] for e in r.json()["errors"]]


async def test_pagination_walks_to_older_rows(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    for i in range(7):
        await _tag(client, tenant, f"t{i}")
    everything = await _audit(client, tenant.headers(), entity_type="tag")
    assert len(everything) == 7

    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"entity_type": "tag", "limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get(f"{API}/audit", params=params, headers=tenant.headers())
        assert r.status_code == 200
        pages.append([row["id"] for row in r.json()["items"]])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == [r["id"] for r in everything]

    capped = await client.get(f"{API}/audit", params={"limit": 501}, headers=tenant.headers())
    assert (capped.json()["limit"], capped.json()["limit_capped"]) == (500, True)


async def test_non_admins_see_only_catalog_entities(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await _asset(client, tenant, "a")
    admin_types = {r["entity_type"] for r in await _audit(client, tenant.headers("admin"))}
    assert {"tenant", "user", "api_key", "asset"} <= admin_types

    for role in ("viewer", "editor"):
        h = tenant.headers(role)
        assert {r["entity_type"] for r in await _audit(client, h)} == {"asset"}
        for entity_type in ("user", "api_key", "tenant", "something_new"):
            r = await client.get(f"{API}/audit", params={"entity_type": entity_type}, headers=h)
            assert r.status_code == 403, (role, entity_type)
        user_route = await client.get(f"{API}/users/{tenant.admin_user_id}/audit", headers=h)
        assert user_route.status_code == 403

    users = await _audit(client, tenant.headers("admin"), entity_type="user")
    assert {r["action"] for r in users} == {"user.create"}
    assert len(users) == 3


async def test_asset_history(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    asset = await _asset(client, tenant, "a")
    other = await _asset(client, tenant, "b")
    tag = await _tag(client, tenant, "pii")
    h = tenant.headers("editor")
    await client.put(f"{API}/assets/{asset['id']}/tags/{tag['id']}", headers=h)
    await client.put(f"{API}/assets/{other['id']}/tags/{tag['id']}", headers=h)
    await client.delete(f"{API}/assets/{asset['id']}", params={"version": 1}, headers=h)

    path = f"/assets/{asset['id']}/audit"
    history = await _audit(client, tenant.headers("viewer"), path)
    assert [(r["entity_type"], r["action"]) for r in history] == [
        ("asset", "asset.delete"),
        ("asset_tag", "asset_tag.attach"),
        ("asset", "asset.create"),
    ]
    assert history[1]["after"]["tag_id"] == tag["id"]

    since = history[1]["created_at"]
    recent = await _audit(client, tenant.headers("viewer"), path, since=since)
    assert [r["action"] for r in recent] == ["asset.delete", "asset_tag.attach"]

    assert (await client.get(f"{API}{path}", headers=other_tenant.headers())).status_code == 404
    missing = await client.get(f"{API}/assets/999999/audit", headers=tenant.headers())
    assert missing.status_code == 404


async def test_other_tenant_rows_never_show(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    asset = await _asset(client, tenant, "a")
    theirs = await _audit(client, other_tenant.headers(), entity_type="asset")
    assert theirs == []
    by_id = await _audit(client, other_tenant.headers(), entity_id=str(asset["id"]))
    assert by_id == []
    editor_id = await _user_id(client, tenant, "editor")
    foreign_user = await client.get(
        f"{API}/users/{editor_id}/audit", headers=other_tenant.headers()
    )
    assert foreign_user.status_code == 404
    foreign_actor = await _audit(client, other_tenant.headers(), actor_user_id=editor_id)
    assert foreign_actor == []
