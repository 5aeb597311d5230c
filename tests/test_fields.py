"""Schema fields (replace all, patch) and field lineage, and the audit/outbox rows they write."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from headwater.catalog import field_lineage
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.field_lineage import FieldLineageCreate, Transformation
from tests.conftest import TenantKeys, TestDatabase

LINEAGE = "/api/v1/field-lineage"
FIELD_KEYS = {
    "id", "asset_id", "name", "data_type", "nullable", "description", "metadata", "ordinal",
    "version",
}  # fmt: skip
LINEAGE_KEYS = {
    "id", "source_field_id", "target_field_id", "transformation", "description", "metadata",
    "version", "deleted_at",
}  # fmt: skip


def query(test_db: TestDatabase, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Read as the superuser: outbox and audits regardless of tenant."""
    with psycopg.connect(test_db.admin_dsn, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def last_ids(test_db: TestDatabase) -> tuple[int, int]:
    row = query(
        test_db,
        "SELECT (SELECT coalesce(max(id), 0) FROM outbox) AS outbox,"
        " (SELECT coalesce(max(id), 0) FROM audits) AS audits",
    )[0]
    return row["outbox"], row["audits"]


def written_since(
    test_db: TestDatabase, mark: tuple[int, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The outbox events and audit rows written after ``mark``, in order."""
    outbox = query(
        test_db,
        "SELECT entity_type, entity_id, entity_version, event_type, payload FROM outbox"
        " WHERE id > %s ORDER BY id",
        mark[0],
    )
    audit = query(
        test_db,
        "SELECT action, entity_type, entity_id, before, after FROM audits"
        " WHERE id > %s ORDER BY id",
        mark[1],
    )
    return outbox, audit


def field_state(field: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in field.items() if k in FIELD_KEYS}


def lineage_state(edge: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in edge.items() if k in LINEAGE_KEYS}


async def make_asset(client: httpx.AsyncClient, keys: TenantKeys, name: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/assets",
        json={"type": "table", "name": name, "qualified_name": f"pg://db/{name}"},
        headers=keys.headers("editor"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def put_fields(
    client: httpx.AsyncClient,
    keys: TenantKeys,
    asset_id: int,
    version: int,
    fields: list[dict[str, Any]],
) -> httpx.Response:
    return await client.put(
        f"/api/v1/assets/{asset_id}/fields",
        json={"version": version, "fields": fields},
        headers=keys.headers("editor"),
    )


async def schema(
    client: httpx.AsyncClient, keys: TenantKeys, name: str, columns: list[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """An asset with the given columns; returns it (at its new version) and its fields by name."""
    asset = await make_asset(client, keys, name)
    response = await put_fields(client, keys, asset["id"], 1, [{"name": c} for c in columns])
    assert response.status_code == 200, response.text
    body = response.json()
    return {**asset, "version": body["asset_version"]}, {f["name"]: f for f in body["fields"]}


async def add_lineage(
    client: httpx.AsyncClient, keys: TenantKeys, source: int, target: int, **extra: Any
) -> httpx.Response:
    return await client.post(
        LINEAGE,
        json={"source_field_id": source, "target_field_id": target, **extra},
        headers=keys.headers("editor"),
    )


async def test_replace_creates_ordered_fields_and_writes_events(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset = await make_asset(client, tenant, "orders")
    mark = last_ids(test_db)
    response = await put_fields(
        client,
        tenant,
        asset["id"],
        1,
        [
            {"name": "id", "data_type": "bigint", "nullable": False},
            {"name": "email", "data_type": "text", "description": "customer e-mail"},
            {"name": "total", "data_type": "numeric", "metadata": {"unit": "EUR"}},
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["asset_id"] == asset["id"]
    assert body["asset_version"] == 2
    fields = body["fields"]
    assert [(f["name"], f["ordinal"], f["version"]) for f in fields] == [
        ("id", 0, 1),
        ("email", 1, 1),
        ("total", 2, 1),
    ]
    assert (fields[0]["nullable"], fields[1]["nullable"]) == (False, True)
    assert fields[2]["metadata"] == {"unit": "EUR"}

    got = await client.get(f"/api/v1/assets/{asset['id']}/fields", headers=tenant.headers("viewer"))
    assert got.status_code == 200
    assert got.json() == body

    asset_after = (
        await client.get(f"/api/v1/assets/{asset['id']}", headers=tenant.headers())
    ).json()
    outbox, audit = written_since(test_db, mark)
    assert outbox == [
        {
            "entity_type": "schema_field",
            "entity_id": f["id"],
            "entity_version": 1,
            "event_type": "schema_field.upserted",
            "payload": field_state(f),
        }
        for f in fields
    ] + [
        {
            "entity_type": "asset",
            "entity_id": asset["id"],
            "entity_version": 2,
            "event_type": "asset.upserted",
            "payload": asset_after,
        }
    ]
    assert audit == [
        {
            "action": "schema_field.create",
            "entity_type": "schema_field",
            "entity_id": str(f["id"]),
            "before": None,
            "after": field_state(f),
        }
        for f in fields
    ] + [
        {
            "action": "asset.replace_fields",
            "entity_type": "asset",
            "entity_id": str(asset["id"]),
            "before": asset,
            "after": asset_after,
        }
    ]


async def test_replace_keeps_ids_and_deletes_removed_fields_with_their_lineage(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    _, tcols = await schema(client, tenant, "mart", ["x"])
    asset, cols = await schema(client, tenant, "orders", ["a", "b", "c", "e"])
    kept_edge = (await add_lineage(client, tenant, cols["a"]["id"], tcols["x"]["id"])).json()
    doomed = (await add_lineage(client, tenant, cols["c"]["id"], tcols["x"]["id"])).json()
    # An edge already soft-deleted is gone for the mirrors: no second deleted event for it.
    old = (await add_lineage(client, tenant, tcols["x"]["id"], cols["c"]["id"])).json()
    await client.delete(f"{LINEAGE}/{old['id']}", params={"version": 1}, headers=tenant.headers())

    mark = last_ids(test_db)
    response = await put_fields(
        client,
        tenant,
        asset["id"],
        asset["version"],
        [
            {"name": "b", "data_type": "int"},  # changed type, moved to the front
            {"name": "a"},  # moved
            {"name": "d"},  # new
            {"name": "e"},  # unchanged, same ordinal
        ],
    )
    assert response.status_code == 200, response.text
    after = {f["name"]: f for f in response.json()["fields"]}
    assert [f["name"] for f in response.json()["fields"]] == ["b", "a", "d", "e"]
    assert after["a"]["id"] == cols["a"]["id"]
    assert after["b"]["id"] == cols["b"]["id"]
    assert after["e"] == cols["e"]
    assert (after["a"]["version"], after["b"]["version"], after["d"]["version"]) == (2, 2, 1)

    assert query(test_db, "SELECT id FROM schema_fields WHERE id = %s", cols["c"]["id"]) == []
    assert query(test_db, "SELECT id FROM field_lineage ORDER BY id") == [{"id": kept_edge["id"]}]
    kept = await client.get(f"{LINEAGE}/{kept_edge['id']}", headers=tenant.headers())
    assert kept.status_code == 200
    assert kept.json() == kept_edge
    gone = await client.get(f"{LINEAGE}/{doomed['id']}", headers=tenant.headers())
    assert gone.status_code == 404

    outbox, audit = written_since(test_db, mark)
    c = field_state(cols["c"])
    removed_edge = outbox[0]
    assert removed_edge["payload"].pop("deleted_at") is not None
    assert removed_edge == {
        "entity_type": "field_lineage",
        "entity_id": doomed["id"],
        "entity_version": 2,
        "event_type": "field_lineage.deleted",
        "payload": {k: v for k, v in lineage_state(doomed).items() if k != "deleted_at"}
        | {"version": 2},
    }
    assert [
        (e["entity_type"], e["entity_id"], e["event_type"], e["entity_version"]) for e in outbox[1:]
    ] == [
        ("schema_field", c["id"], "schema_field.deleted", 2),
        ("schema_field", after["b"]["id"], "schema_field.upserted", 2),
        ("schema_field", after["a"]["id"], "schema_field.upserted", 2),
        ("schema_field", after["d"]["id"], "schema_field.upserted", 1),
        ("asset", asset["id"], "asset.upserted", asset["version"] + 1),
    ]
    assert outbox[1]["payload"] == c | {"version": 2}
    assert outbox[2]["payload"] == field_state(after["b"])
    assert [(a["action"], a["entity_id"]) for a in audit] == [
        ("field_lineage.delete", str(doomed["id"])),
        ("schema_field.delete", str(c["id"])),
        ("schema_field.update", str(after["b"]["id"])),
        ("schema_field.update", str(after["a"]["id"])),
        ("schema_field.create", str(after["d"]["id"])),
        ("asset.replace_fields", str(asset["id"])),
    ]
    assert (audit[0]["before"], audit[0]["after"]) == (lineage_state(doomed), None)
    assert (audit[1]["before"], audit[1]["after"]) == (c, None)
    assert audit[2]["before"] == field_state(cols["b"])
    assert audit[2]["after"] == field_state(after["b"])
    assert audit[4]["before"] is None
    assert audit[4]["after"] == field_state(after["d"])


async def test_identical_replace_writes_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset, cols = await schema(client, tenant, "orders", ["a", "b"])
    mark = last_ids(test_db)
    response = await put_fields(
        client, tenant, asset["id"], asset["version"], [{"name": "a"}, {"name": "b"}]
    )
    assert response.status_code == 200
    assert response.json()["asset_version"] == asset["version"]
    assert response.json()["fields"] == list(cols.values())
    assert written_since(test_db, mark) == ([], [])


async def test_replace_with_empty_list_deletes_every_field(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset, _ = await schema(client, tenant, "orders", ["a", "b"])
    response = await put_fields(client, tenant, asset["id"], asset["version"], [])
    assert response.status_code == 200
    assert response.json()["fields"] == []
    assert query(test_db, "SELECT count(*) AS n FROM schema_fields") == [{"n": 0}]


async def test_duplicate_names_are_422_with_the_path_and_write_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset = await make_asset(client, tenant, "orders")
    mark = last_ids(test_db)
    response = await put_fields(
        client, tenant, asset["id"], 1, [{"name": "a"}, {"name": "b"}, {"name": " a "}]
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "fields", 2, "name"]]
    assert written_since(test_db, mark) == ([], [])
    assert query(test_db, "SELECT version FROM assets") == [{"version": 1}]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ([{"name": "a"}, {"name": "b", "nullable": "perhaps"}], ["body", "fields", 1, "nullable"]),
        ([{"name": ""}], ["body", "fields", 0, "name"]),
        ([{"name": "a", "ordinal": 3}], ["body", "fields", 0, "ordinal"]),
        ([{"data_type": "int"}], ["body", "fields", 0, "name"]),
    ],
)
async def test_invalid_fields_are_422_with_the_path(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    fields: list[dict[str, Any]],
    loc: list[str | int],
) -> None:
    asset = await make_asset(client, tenant, "orders")
    response = await put_fields(client, tenant, asset["id"], 1, fields)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["errors"]]


async def test_replace_refuses_stale_deleted_foreign_and_viewer(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    asset, _ = await schema(client, tenant, "orders", ["a"])
    stale = await put_fields(client, tenant, asset["id"], 1, [{"name": "b"}])
    assert stale.status_code == 409
    assert stale.json()["current_version"] == asset["version"]

    foreign = await put_fields(client, other_tenant, asset["id"], asset["version"], [])
    assert foreign.status_code == 404
    url = f"/api/v1/assets/{asset['id']}/fields"
    assert (await client.get(url, headers=other_tenant.headers())).status_code == 404

    viewer = await client.put(
        url, json={"version": asset["version"], "fields": []}, headers=tenant.headers("viewer")
    )
    assert viewer.status_code == 403

    deleted = await client.delete(
        f"/api/v1/assets/{asset['id']}",
        params={"version": asset["version"]},
        headers=tenant.headers("editor"),
    )
    assert deleted.status_code == 200
    assert (await client.get(url, headers=tenant.headers())).status_code == 404
    gone = await put_fields(client, tenant, asset["id"], asset["version"] + 1, [])
    assert gone.status_code == 404


async def test_patch_field(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset, cols = await schema(client, tenant, "orders", ["a", "b"])
    other, _ = await schema(client, tenant, "other", ["z"])
    url = f"/api/v1/assets/{asset['id']}/fields/{cols['a']['id']}"
    mark = last_ids(test_db)
    patched = await client.patch(
        url,
        json={"version": 1, "name": "a2", "description": "renamed"},
        headers=tenant.headers("editor"),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["id"], body["name"], body["description"], body["version"]) == (
        cols["a"]["id"],
        "a2",
        "renamed",
        2,
    )
    assert (body["data_type"], body["ordinal"]) == (cols["a"]["data_type"], 0)
    outbox, audit = written_since(test_db, mark)
    assert outbox == [
        {
            "entity_type": "schema_field",
            "entity_id": body["id"],
            "entity_version": 2,
            "event_type": "schema_field.upserted",
            "payload": field_state(body),
        }
    ]
    assert audit == [
        {
            "action": "schema_field.update",
            "entity_type": "schema_field",
            "entity_id": str(body["id"]),
            "before": field_state(cols["a"]),
            "after": field_state(body),
        }
    ]

    taken = await client.patch(
        url, json={"version": 2, "name": "b"}, headers=tenant.headers("editor")
    )
    assert taken.status_code == 409
    assert taken.json()["existing_id"] == cols["b"]["id"]
    stale = await client.patch(
        url, json={"version": 1, "nullable": False}, headers=tenant.headers("editor")
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    wrong_asset = await client.patch(
        f"/api/v1/assets/{other['id']}/fields/{cols['a']['id']}",
        json={"version": 2, "nullable": False},
        headers=tenant.headers("editor"),
    )
    assert wrong_asset.status_code == 404
    foreign = await client.patch(
        url, json={"version": 2, "nullable": False}, headers=other_tenant.headers("editor")
    )
    assert foreign.status_code == 404
    viewer = await client.patch(
        url, json={"version": 2, "nullable": False}, headers=tenant.headers("viewer")
    )
    assert viewer.status_code == 403
    server_owned = await client.patch(
        url, json={"version": 2, "ordinal": 5}, headers=tenant.headers("editor")
    )
    assert server_owned.status_code == 422
    assert server_owned.json()["errors"][0]["loc"] == ["body", "ordinal"]


async def test_field_lineage_lifecycle(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    _, src = await schema(client, tenant, "raw", ["id", "amount"])
    _, dst = await schema(client, tenant, "mart", ["total"])
    created = await add_lineage(
        client,
        tenant,
        src["amount"]["id"],
        dst["total"]["id"],
        transformation="AGGREGATION",
        description="sum(amount)",
    )
    assert created.status_code == 201, created.text
    edge = created.json()
    assert (edge["transformation"], edge["version"], edge["deleted_at"]) == ("AGGREGATION", 1, None)
    assert (edge["source_asset_id"], edge["target_asset_id"]) == (
        src["amount"]["asset_id"],
        dst["total"]["asset_id"],
    )
    default = await add_lineage(client, tenant, src["id"]["id"], dst["total"]["id"])
    assert default.json()["transformation"] == "UNKNOWN"

    got = await client.get(f"{LINEAGE}/{edge['id']}", headers=tenant.headers("viewer"))
    assert got.json() == edge

    duplicate = await add_lineage(client, tenant, src["amount"]["id"], dst["total"]["id"])
    assert duplicate.status_code == 409
    assert duplicate.json()["existing_id"] == edge["id"]

    stale = await client.delete(
        f"{LINEAGE}/{edge['id']}", params={"version": 2}, headers=tenant.headers("editor")
    )
    assert stale.status_code == 409
    deleted = await client.delete(
        f"{LINEAGE}/{edge['id']}", params={"version": 1}, headers=tenant.headers("editor")
    )
    assert deleted.status_code == 200
    assert deleted.json()["version"] == 2
    assert (
        await client.get(f"{LINEAGE}/{edge['id']}", headers=tenant.headers())
    ).status_code == 404

    revived = await add_lineage(
        client, tenant, src["amount"]["id"], dst["total"]["id"], transformation="IDENTITY"
    )
    assert revived.status_code == 201
    assert (revived.json()["id"], revived.json()["version"]) == (edge["id"], 3)
    assert revived.json()["transformation"] == "IDENTITY"

    outbox = query(
        test_db,
        "SELECT event_type, entity_version, payload FROM outbox"
        " WHERE entity_type = 'field_lineage' AND entity_id = %s ORDER BY id",
        edge["id"],
    )
    assert outbox == [
        {
            "event_type": "field_lineage.upserted",
            "entity_version": 1,
            "payload": lineage_state(edge),
        },
        {
            "event_type": "field_lineage.deleted",
            "entity_version": 2,
            "payload": lineage_state(deleted.json()),
        },
        {
            "event_type": "field_lineage.upserted",
            "entity_version": 3,
            "payload": lineage_state(revived.json()),
        },
    ]
    audit = query(
        test_db,
        "SELECT action, before, after FROM audits"
        " WHERE entity_type = 'field_lineage' AND entity_id = %s ORDER BY id",
        str(edge["id"]),
    )
    assert audit == [
        {"action": "field_lineage.create", "before": None, "after": lineage_state(edge)},
        {
            "action": "field_lineage.delete",
            "before": lineage_state(edge),
            "after": lineage_state(deleted.json()),
        },
        {
            "action": "field_lineage.create",
            "before": lineage_state(deleted.json()),
            "after": lineage_state(revived.json()),
        },
    ]


async def test_field_lineage_listing(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    _, raw = await schema(client, tenant, "raw", ["a", "b"])
    mid_asset, mid = await schema(client, tenant, "mid", ["m"])
    _, out = await schema(client, tenant, "out", ["o"])
    e1 = (await add_lineage(client, tenant, raw["a"]["id"], mid["m"]["id"])).json()["id"]
    e2 = (await add_lineage(client, tenant, raw["b"]["id"], mid["m"]["id"])).json()["id"]
    e3 = (await add_lineage(client, tenant, mid["m"]["id"], out["o"]["id"])).json()["id"]

    async def ids(**params: Any) -> list[int]:
        response = await client.get(LINEAGE, params=params, headers=tenant.headers("viewer"))
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    m = mid["m"]["id"]
    assert await ids(field_id=m, direction="upstream") == [e1, e2]
    assert await ids(field_id=m, direction="downstream") == [e3]
    assert await ids(field_id=m) == [e1, e2, e3]
    assert await ids(asset_id=mid_asset["id"], direction="upstream") == [e1, e2]
    assert await ids(asset_id=mid_asset["id"], direction="downstream") == [e3]
    assert await ids(field_id=raw["a"]["id"], direction="upstream") == []
    assert await ids() == [e1, e2, e3]
    page = (await client.get(LINEAGE, params={"limit": 2}, headers=tenant.headers())).json()
    assert [e["id"] for e in page["items"]] == [e1, e2]
    rest = await client.get(
        LINEAGE, params={"cursor": page["next_cursor"]}, headers=tenant.headers()
    )
    assert [e["id"] for e in rest.json()["items"]] == [e3]
    no_anchor = await client.get(
        LINEAGE, params={"direction": "upstream"}, headers=tenant.headers()
    )
    assert no_anchor.status_code == 422
    assert no_anchor.json()["errors"][0]["loc"] == ["query", "direction"]


async def test_field_lineage_hidden_while_an_asset_is_deleted(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    _, src = await schema(client, tenant, "raw", ["a"])
    dst_asset, dst = await schema(client, tenant, "mart", ["b", "c"])
    edge = (await add_lineage(client, tenant, src["a"]["id"], dst["b"]["id"])).json()
    removed = await client.delete(
        f"/api/v1/assets/{dst_asset['id']}",
        params={"version": dst_asset["version"]},
        headers=tenant.headers("editor"),
    )
    assert removed.status_code == 200
    assert (
        await client.get(f"{LINEAGE}/{edge['id']}", headers=tenant.headers())
    ).status_code == 404
    assert (await client.get(LINEAGE, headers=tenant.headers())).json()["items"] == []
    to_hidden = await add_lineage(client, tenant, src["a"]["id"], dst["c"]["id"])
    assert to_hidden.status_code == 404
    assert to_hidden.json()["end"] == "target"
    delete = await client.delete(
        f"{LINEAGE}/{edge['id']}", params={"version": 1}, headers=tenant.headers("editor")
    )
    assert delete.status_code == 404
    assert query(test_db, "SELECT version, deleted_at FROM field_lineage") == [
        {"version": 1, "deleted_at": None}
    ]

    restored = await client.post(
        f"/api/v1/assets/{dst_asset['id']}/restore",
        json={"version": dst_asset["version"] + 1},
        headers=tenant.headers("editor"),
    )
    assert restored.status_code == 200, restored.text
    again = await client.get(f"{LINEAGE}/{edge['id']}", headers=tenant.headers())
    assert again.json() == edge
    fields = await client.get(f"/api/v1/assets/{dst_asset['id']}/fields", headers=tenant.headers())
    assert [f["name"] for f in fields.json()["fields"]] == ["b", "c"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"source_field_id": 1, "target_field_id": 2, "transformation": "MAGIC"},
            ["body", "transformation"],
        ),
        ({"source_field_id": 1, "target_field_id": 1}, ["body", "target_field_id"]),
        ({"source_field_id": 1}, ["body", "target_field_id"]),
        ({"source_field_id": "x", "target_field_id": 2}, ["body", "source_field_id"]),
        ({"source_field_id": 1, "target_field_id": 2, "version": 1}, ["body", "version"]),
    ],
)
async def test_invalid_field_lineage_is_422_with_the_path(
    client: httpx.AsyncClient, tenant: TenantKeys, body: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post(LINEAGE, json=body, headers=tenant.headers("editor"))
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["errors"]]


async def test_field_lineage_tenancy_roles_and_missing_ends(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    _, src = await schema(client, tenant, "raw", ["a"])
    _, dst = await schema(client, tenant, "mart", ["b"])
    edge = (await add_lineage(client, tenant, src["a"]["id"], dst["b"]["id"])).json()

    missing = await add_lineage(client, tenant, 10**12, dst["b"]["id"])
    assert missing.status_code == 404
    assert missing.json()["end"] == "source"

    theirs = other_tenant.headers("editor")
    assert (await client.get(f"{LINEAGE}/{edge['id']}", headers=theirs)).status_code == 404
    delete = await client.delete(f"{LINEAGE}/{edge['id']}", params={"version": 1}, headers=theirs)
    assert delete.status_code == 404
    listed = await client.get(LINEAGE, params={"field_id": src["a"]["id"]}, headers=theirs)
    assert listed.json()["items"] == []
    _, mine = await schema(client, other_tenant, "mine", ["m"])
    cross = await add_lineage(client, other_tenant, mine["m"]["id"], dst["b"]["id"])
    assert cross.status_code == 404
    assert cross.json()["end"] == "target"

    viewer = tenant.headers("viewer")
    body = {"source_field_id": dst["b"]["id"], "target_field_id": src["a"]["id"]}
    assert (await client.post(LINEAGE, json=body, headers=viewer)).status_code == 403
    denied = await client.delete(f"{LINEAGE}/{edge['id']}", params={"version": 1}, headers=viewer)
    assert denied.status_code == 403
    assert (await client.get(f"{LINEAGE}/{edge['id']}", headers=tenant.headers())).json() == edge


async def test_concurrent_replaces_with_one_version_one_wins(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    asset, _ = await schema(client, tenant, "orders", ["a"])
    mark = last_ids(test_db)
    responses = await asyncio.gather(
        *(
            put_fields(client, tenant, asset["id"], asset["version"], [{"name": f"c{i}"}])
            for i in range(6)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["asset_version"] == asset["version"] + 1
    outbox, _ = written_since(test_db, mark)
    # One replace's events: a deleted, one new field, the asset.
    assert [e["event_type"] for e in outbox] == [
        "schema_field.deleted",
        "schema_field.upserted",
        "asset.upserted",
    ]


async def test_lineage_upsert_changes_content_only_when_it_differs(
    client: httpx.AsyncClient, tenant: TenantKeys, database: Database, test_db: TestDatabase
) -> None:
    _, src = await schema(client, tenant, "raw", ["a"])
    _, dst = await schema(client, tenant, "mart", ["b"])
    actor = Actor(tenant_id=UUID(str(tenant.tenant_id)), user_id=tenant.admin_user_id)
    data = FieldLineageCreate(source_field_id=src["a"]["id"], target_field_id=dst["b"]["id"])
    async with database.transaction(actor.tenant_id) as conn:
        first = await field_lineage.create_field_lineage(conn, actor, data, upsert=True)
        same = await field_lineage.create_field_lineage(conn, actor, data, upsert=True)
        changed = await field_lineage.create_field_lineage(
            conn,
            actor,
            data.model_copy(update={"transformation": Transformation.FILTER}),
            upsert=True,
        )
    assert first.id == same.id == changed.id
    assert (first.version, same.version, changed.version) == (1, 1, 2)
    assert changed.transformation == Transformation.FILTER
    actions = query(
        test_db,
        "SELECT action FROM audits WHERE entity_type = 'field_lineage' ORDER BY id",
    )
    assert actions == [{"action": "field_lineage.create"}, {"action": "field_lineage.update"}]
