"""Authentication, roles and tenant isolation across every endpoint of the API."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from headwater.api.app import create_app
from headwater.catalog import tasks
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.embedded import EmbeddedPostgres
from headwater.logging_setup import JsonFormatter
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, table_row_counts
from tests.search.api_helpers import eventually

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def api_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the API, from its OpenAPI document."""
    app = create_app(Settings(database_url="postgresql://unused"), Database("postgresql://unused"))
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1")
        for method in operations
    ]


async def seed(client: httpx.AsyncClient, database: Database, keys: TenantKeys) -> dict[str, int]:
    """One entity of each kind, so every route with an id has something to point at."""
    h = keys.headers("admin")

    async def post(path: str, body: dict[str, Any], method: str = "POST") -> Any:
        response = await client.request(method, path, json=body, headers=h)
        assert response.status_code in (200, 201), (path, response.text)
        return response.json()

    ids: dict[str, int] = {}
    ids["asset_id"] = (await post("/api/v1/assets", TABLE))["id"]
    target = await post("/api/v1/assets", {"type": "view", "name": "v", "qualified_name": "db.v"})
    ids["relationship_id"] = (
        await post(
            "/api/v1/relationships",
            {"source_id": target["id"], "target_id": ids["asset_id"], "type": "DEPENDS_ON"},
        )
    )["id"]
    columns = {"version": 1, "fields": [{"name": "email"}]}
    source = await post(f"/api/v1/assets/{ids['asset_id']}/fields", columns, "PUT")
    sink = await post(f"/api/v1/assets/{target['id']}/fields", columns, "PUT")
    ids["field_id"] = source["fields"][0]["id"]
    ids["lineage_id"] = (
        await post(
            "/api/v1/field-lineage",
            {"source_field_id": ids["field_id"], "target_field_id": sink["fields"][0]["id"]},
        )
    )["id"]
    ids["tag_id"] = (await post("/api/v1/tags", {"name": "pii", "category": "PII"}))["id"]
    await post(f"/api/v1/assets/{ids['asset_id']}/tags/{ids['tag_id']}", {}, "PUT")
    ids["user_id"] = (await post("/api/v1/users", {"email": "someone@x.test"}))["id"]
    ids["key_id"] = (await post("/api/v1/api-keys", {"user_id": ids["user_id"]}))["id"]
    async with database.transaction(keys.tenant_id) as conn:  # tasks have no create route
        actor = Actor(tenant_id=keys.tenant_id, user_id=keys.admin_user_id)
        ids["task_id"] = (await tasks.enqueue_task(conn, actor, "ingest.dbt", {})).id
    return ids


TABLE = {"type": "table", "name": "orders", "qualified_name": "db.orders"}
# A valid body per write route, so that 404/403 (not 422) is what the test observes.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/assets"): {"type": "table", "name": "x", "qualified_name": "db.x"},
    ("PATCH", "/api/v1/assets/{asset_id}"): {"version": 1, "description": "x"},
    ("POST", "/api/v1/assets/{asset_id}/restore"): {"version": 1},
    ("PATCH", "/api/v1/tenant"): {"version": 1, "name": "x"},
    ("POST", "/api/v1/users"): {"email": "new@x.test"},
    ("PATCH", "/api/v1/users/{user_id}"): {"version": 1, "name": "x"},
    ("POST", "/api/v1/api-keys"): {"user_id": 1},
    ("POST", "/api/v1/tags"): {"name": "new"},
    ("PATCH", "/api/v1/tags/{tag_id}"): {"version": 1},
    ("POST", "/api/v1/assets/{asset_id}/tags"): {"name": "new"},
    ("POST", "/api/v1/relationships"): {"source_id": 1, "target_id": 2, "type": "USES"},
    ("PATCH", "/api/v1/relationships/{relationship_id}"): {"version": 1, "metadata": {}},
    ("PUT", "/api/v1/assets/{asset_id}/fields"): {"version": 1, "fields": []},
    ("PATCH", "/api/v1/assets/{asset_id}/fields/{field_id}"): {"version": 1},
    ("POST", "/api/v1/field-lineage"): {"source_field_id": 1, "target_field_id": 2},
    ("POST", "/api/v1/bulk"): {"assets": [TABLE]},
    # Reads sent as POST, naming their asset in the body ("{asset_id}" is filled in).
    ("POST", "/api/v1/impact"): {
        "asset_id": "{asset_id}",
        "changes": [{"kind": "drop_column", "column": "email"}],
    },
    ("POST", "/api/v1/impact/schema-diff"): {"asset_id": "{asset_id}", "columns": []},
    # A viewer may extract SQL lineage; recording it is the write.
    ("POST", "/api/v1/lineage/sql"): {
        "dialect": "postgres",
        "sql": "INSERT INTO db.v SELECT * FROM db.orders",
        "record": True,
    },
}
# POST routes that only read (their input is a document): every role may call them.
READ_POSTS = {
    ("POST", "/api/v1/impact"),
    ("POST", "/api/v1/impact/schema-diff"),
    ("POST", "/api/v1/impact/dbt"),
}
QUERY: dict[tuple[str, str], dict[str, Any]] = {
    ("DELETE", "/api/v1/assets/{asset_id}"): {"version": 1},
    ("DELETE", "/api/v1/tags/{tag_id}"): {"version": 1},
    ("DELETE", "/api/v1/relationships/{relationship_id}"): {"version": 1},
    ("DELETE", "/api/v1/field-lineage/{lineage_id}"): {"version": 1},
    ("GET", "/api/v1/assets/lookup"): {"qualified_name": "db.orders"},
    ("GET", "/api/v1/search"): {"q": "orders"},
    ("POST", "/api/v1/ingest/tasks"): {"type": "openlineage.ndjson"},
    # Routes that name their node in the query: the id is filled in like a path parameter.
    ("GET", "/api/v1/lineage/upstream"): {"asset_id": "{asset_id}"},
    ("GET", "/api/v1/lineage/downstream"): {"field_id": "{field_id}"},
    ("GET", "/api/v1/lineage/graph"): {"asset_id": "{asset_id}"},
    ("GET", "/api/v1/lineage/paths"): {"from_asset_id": "{asset_id}", "to_asset_id": "{asset_id}"},
    # Marquez's node ids name assets by name: each tenant sees its own "db.orders".
    ("GET", "/api/v1/lineage"): {"nodeId": "dataset:default:db.orders"},
}


def _names_an_id(method: str, path: str) -> bool:
    in_query = any("{" in str(v) for v in QUERY.get((method, path), {}).values())
    in_body = any(_template(v) for v in BODIES.get((method, path), {}).values())
    return "{" in path or in_query or in_body


def _template(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\{\w+\}", value) is not None


def _body(method: str, path: str, ids: dict[str, int]) -> dict[str, Any] | None:
    body = BODIES.get((method, path))
    if body is None:
        return None
    return {k: int(_fill(v, ids)) if _template(v) else v for k, v in body.items()}


def _query(method: str, path: str, ids: dict[str, int]) -> dict[str, Any] | None:
    query = QUERY.get((method, path))
    return None if query is None else {k: _fill(str(v), ids) for k, v in query.items()}


def _fill(path: str, ids: dict[str, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            pytest.fail(f"no seeded entity for path parameter {name!r}: extend seed()")
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", value, path)


async def test_every_route_with_an_id_answers_404_for_another_tenant(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    ids = await seed(client, database, tenant)
    await seed(client, database, other_tenant)  # identical data in the other tenant
    checked = 0
    for method, path in api_routes():
        if not _names_an_id(method, path):
            continue
        response = await client.request(
            method,
            _fill(path, ids),
            json=_body(method, path, ids),
            params=_query(method, path, ids),
            headers=other_tenant.headers("admin"),
        )
        assert response.status_code == 404, (method, path, response.text)
        checked += 1
    assert checked >= 5


MARQUEZ_LINEAGE = "/api/v1/lineage"


def _listed(path: str, body: Any) -> set[Any]:
    """What a list route returned, by the identifier that tells one tenant's rows from another's
    (ids come from sequences shared by all tenants: the same id is never in both)."""
    if path == "/api/v1/search":
        return {hit["asset"]["id"] for hit in body["hits"]}
    if path == MARQUEZ_LINEAGE:  # Marquez ids are names, the same in both tenants by design
        return {node["id"] for node in body["graph"]}
    if path == "/api/v1/admin/sync/drift":
        return {tenant["tenant_id"] for tenant in body["tenants"]}
    if isinstance(body, dict) and "items" in body:
        return {item["id"] for item in body["items"]}
    if isinstance(body, list):
        return {item["id"] for item in body}
    return {body["id"]}  # one object: the tenant, the caller, a lookup


async def test_lists_never_show_another_tenants_rows(
    search_client: httpx.AsyncClient,
    database: Database,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
) -> None:
    # The app with its search mirrors: /search is one of the lists.
    mine = await seed(search_client, database, tenant)
    theirs = await seed(search_client, database, other_tenant)
    # Marquez names nodes by qualified name, identical in both tenants: one asset only this
    # tenant has, next to db.orders, tells its lineage graph from the other's.
    only_mine = await search_client.post(
        "/api/v1/assets",
        json={"type": "view", "name": "mine", "qualified_name": "db.only_mine"},
        headers=tenant.headers("editor"),
    )
    linked = await search_client.post(
        "/api/v1/relationships",
        json={"source_id": only_mine.json()["id"], "target_id": mine["asset_id"], "type": "USES"},
        headers=tenant.headers("editor"),
    )
    assert linked.status_code == 201, linked.text
    only_mine_node = "dataset:default:db.only_mine"

    async def listed(path: str, keys: TenantKeys, ids: dict[str, int]) -> set[Any]:
        response = await search_client.get(
            path, params=_query("GET", path, ids), headers=keys.headers("admin")
        )
        assert response.status_code == 200, (path, response.text)
        return _listed(path, response.json())

    # Search and lineage read mirrors fed from the outbox: wait until they hold the seeded rows.
    async def mirrored() -> bool:
        searched = [
            ids["asset_id"] in await listed("/api/v1/search", keys, ids)
            for keys, ids in ((tenant, mine), (other_tenant, theirs))
        ]
        return all(searched) and only_mine_node in await listed(MARQUEZ_LINEAGE, tenant, mine)

    await eventually(mirrored)
    lists = [p for m, p in api_routes() if m == "GET" and not _names_an_id(m, p)]
    assert MARQUEZ_LINEAGE in lists
    for path in lists:
        own = await listed(path, tenant, mine)
        other = await listed(path, other_tenant, theirs)
        # Both tenants see rows of their own, so an empty overlap says something.
        assert own, path
        assert other, path
        if path == MARQUEZ_LINEAGE:
            assert only_mine_node in own
            assert only_mine_node not in other
        else:
            assert not own & other, (path, own & other)


async def test_viewer_gets_403_on_every_write_endpoint(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    ids = await seed(client, database, tenant)
    writes = [(m, p) for m, p in api_routes() if m in WRITE_METHODS and (m, p) not in READ_POSTS]
    assert writes
    for method, path in writes:
        response = await client.request(
            method,
            _fill(path, ids),
            json=_body(method, path, ids),
            params=_query(method, path, ids),
            headers=tenant.headers("viewer"),
        )
        assert response.status_code == 403, (method, path, response.text)


async def test_editor_cannot_administer(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"email": "boss@x.test", "roles": ["admin"]},
        headers=tenant.headers("editor"),
    )
    assert response.status_code == 403


async def test_an_email_is_checked_as_sent(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """The pattern the OpenAPI document states admits no whitespace; " a@x.test" passed it
    once stripped, so a request the document calls invalid was accepted."""
    h = tenant.headers("admin")
    before = table_row_counts(test_db)
    for email in (" padded@x.test", "padded@x.test\n", "two@at@x.test", "no-at"):
        response = await client.post("/api/v1/users", json={"email": email}, headers=h)
        assert response.status_code == 422, (email, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", "email"]
    assert table_row_counts(test_db) == before
    response = await client.post("/api/v1/users", json={"email": "padded@x.test"}, headers=h)
    assert response.status_code == 201


async def test_server_owned_key_fields_are_rejected_with_their_path(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    keys_before = table_row_counts(test_db)["api_keys"]
    for field, value in [
        ("key_hash", "00" * 32),
        ("prefix", "ABCDEFGH1234"),
        ("revoked_at", None),
        ("key", "hw_ABCDEFGH1234_" + "x" * 40),
        ("tenant_id", str(tenant.tenant_id)),
    ]:
        response = await client.post(
            "/api/v1/api-keys",
            json={"user_id": tenant.admin_user_id, field: value},
            headers=tenant.headers("admin"),
        )
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert ["body", field] in [e["loc"] for e in response.json()["errors"]], field
    assert table_row_counts(test_db)["api_keys"] == keys_before


async def test_editor_cannot_give_itself_roles(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    me = (await client.get("/api/v1/me", headers=tenant.headers("editor"))).json()
    assert me["roles"] == ["editor"]
    response = await client.patch(
        f"/api/v1/users/{me['id']}",
        json={"version": me["version"], "roles": ["admin"]},
        headers=tenant.headers("editor"),
    )
    assert response.status_code == 403
    # Refused outright, not merely hidden: the editor's key still cannot administer.
    assert (await client.get("/api/v1/users", headers=tenant.headers("editor"))).status_code == 403
    after = await client.get(f"/api/v1/users/{me['id']}", headers=tenant.headers("admin"))
    assert after.json()["roles"] == ["editor"]
    assert after.json()["version"] == me["version"]


@pytest.mark.parametrize(
    "header",
    [None, "Basic abc", "Bearer ", "Bearer hw_short_key", f"Bearer hw_{'A' * 12}_{'B' * 40}"],
)
async def test_bad_credentials_are_401(
    client: httpx.AsyncClient, tenant: TenantKeys, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/v1/assets", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_wrong_secret_with_valid_prefix_is_401(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    forged = tenant.admin[:-5] + "Zzzzz"
    response = await client.get("/api/v1/assets", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_revoked_key_is_401_on_the_next_request(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    h = tenant.headers("admin")
    body = {"user_id": tenant.admin_user_id}
    created = await client.post("/api/v1/api-keys", json=body, headers=h)
    assert created.status_code == 201
    key = created.json()
    own = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get("/api/v1/assets", headers=own)).status_code == 200
    revoked = await client.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=h)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert "key" not in revoked.json()
    response = await client.get("/api/v1/assets", headers=own)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


async def test_an_expiry_must_be_a_future_time_with_a_zone(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """An expiry of 0 was read as 1970 and made a key that never worked; a zone-less one was
    read in the database session's zone."""
    h = tenant.headers("admin")
    before = table_row_counts(test_db)
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    for expires_at, says in [
        (0, "must be in the future"),
        ("2001-01-01T00:00:00Z", "must be in the future"),
        (future.replace(tzinfo=None).isoformat(), "timezone"),
    ]:
        body = {"user_id": tenant.admin_user_id, "expires_at": expires_at}
        response = await client.post("/api/v1/api-keys", json=body, headers=h)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["loc"] == ["body", "expires_at"]
        assert says in error["msg"]
    assert table_row_counts(test_db) == before
    body = {"user_id": tenant.admin_user_id, "expires_at": future.isoformat()}
    created = await client.post("/api/v1/api-keys", json=body, headers=h)
    assert created.status_code == 201
    assert datetime.fromisoformat(created.json()["expires_at"]) == future
    own = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.get("/api/v1/assets", headers=own)).status_code == 200


@pytest.mark.edits_rows_directly
async def test_an_expired_key_is_401(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    import psycopg

    body = {"user_id": tenant.admin_user_id, "expires_at": "2999-01-01T00:00:00+02:00"}
    created = await client.post("/api/v1/api-keys", json=body, headers=tenant.headers("admin"))
    own = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.get("/api/v1/assets", headers=own)).status_code == 200
    # Time passes: the expiry is moved to a second ago rather than waited for.
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
            (created.json()["id"],),
        )
    response = await client.get("/api/v1/assets", headers=own)
    assert response.status_code == 401
    assert response.json()["detail"] == "API key has expired"


@pytest.mark.edits_rows_directly
async def test_suspended_tenant_is_refused(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    import psycopg

    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute("UPDATE tenants SET status = 'SUSPENDED' WHERE id = %s", (tenant.tenant_id,))
    response = await client.get("/api/v1/assets", headers=tenant.headers())
    assert response.status_code == 403


async def test_no_plaintext_key_in_the_database_or_the_logs(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    test_db: TestDatabase,
    pg_cluster: EmbeddedPostgres,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await client.post(
        "/api/v1/api-keys", json={"user_id": tenant.admin_user_id}, headers=tenant.headers()
    )
    plaintext = created.json()["key"]
    await client.get("/api/v1/assets", headers={"Authorization": f"Bearer {plaintext}"})
    await client.get("/api/v1/assets", headers={"Authorization": f"Bearer {plaintext}x"})
    secrets = [k.rsplit("_", 1)[1] for k in (plaintext, tenant.admin, tenant.editor, tenant.viewer)]
    dump = subprocess.run(
        [str(pg_cluster.bindir / "pg_dump"), "--data-only", test_db.admin_dsn],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "api_keys" in dump
    formatter = JsonFormatter()
    logs = "\n".join(formatter.format(record) for record in caplog.records)
    assert "request" in logs
    for secret in secrets:
        assert secret not in dump
        assert secret not in logs


async def test_body_over_the_limit_is_413_with_or_without_content_length(
    settings: Settings, tenant: TenantKeys
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    assert small.database_url is not None
    app = create_app(small, Database(small.database_url, max_size=2))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            big = {"type": "table", "name": "x", "qualified_name": "x", "description": "d" * 5000}
            declared = await http.post("/api/v1/assets", json=big, headers=tenant.headers())
            assert declared.status_code == 413
            assert declared.headers["content-type"] == "application/problem+json"

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield b"x" * 500

            streamed = await http.post(
                "/api/v1/assets",
                content=chunks(),
                headers={**tenant.headers(), "content-type": "application/json"},
            )
            assert streamed.status_code == 413
            ok = await http.post(
                "/api/v1/assets",
                json={"type": "table", "name": "x", "qualified_name": "x"},
                headers=tenant.headers(),
            )
            assert ok.status_code == 201


async def _pooled_session(database: Database) -> dict[str, Any]:
    """The backend and tenant setting of a pooled connection, outside any transaction."""
    async with database.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pg_backend_pid() AS pid,"
            " current_setting('headwater.tenant_id', true) AS tenant_id"
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def test_one_connection_pool_never_leaks_a_tenant_between_requests(
    settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    """Interleaved requests of two tenants share one connection; some fail mid-transaction, in
    the domain checks or with a real SQL error from Postgres."""
    assert settings.database_url is not None
    database = Database(settings.database_url, min_size=1, max_size=1)
    app = create_app(settings, database)
    # 2,000 characters, within the model's limit, but 8 kB: the INSERT reaches Postgres, whose
    # unique index on qualified names cannot hold the entry (program_limit_exceeded).
    rng = random.Random(3)
    unindexable = "".join(chr(rng.randrange(0x10000, 0x1F000)) for _ in range(2000))
    async with app.router.lifespan_context(app):
        backend = (await _pooled_session(database))["pid"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            own: dict[str, set[int]] = {"a": set(), "b": set()}
            for label, keys in (("a", tenant), ("b", other_tenant)):
                for i in range(3):
                    r = await http.post(
                        "/api/v1/assets",
                        json={"type": "table", "name": f"{label}{i}", "qualified_name": f"q{i}"},
                        headers=keys.headers("editor"),
                    )
                    own[label].add(r.json()["id"])

            async def call(label: str, keys: TenantKeys, i: int) -> tuple[str, httpx.Response]:
                if i % 4 == 0:  # fails after taking a row lock: stale version
                    target = min(own[label])
                    r = await http.patch(
                        f"/api/v1/assets/{target}",
                        json={"version": 99, "description": "x"},
                        headers=keys.headers("editor"),
                    )
                    return "conflict", r
                if i % 4 == 1:  # fails on a unique name inside the transaction
                    r = await http.post(
                        "/api/v1/assets",
                        json={"type": "table", "name": "dup", "qualified_name": "q0"},
                        headers=keys.headers("editor"),
                    )
                    return "duplicate", r
                if i % 4 == 2:  # Postgres fails the INSERT: the transaction is aborted
                    r = await http.post(
                        "/api/v1/assets",
                        json={"type": "table", "name": "wide", "qualified_name": unindexable},
                        headers=keys.headers("editor"),
                    )
                    return "sql_error", r
                return label, await http.get("/api/v1/assets", headers=keys.headers())

            calls = [
                call(label, keys, i)
                for i in range(32)
                for label, keys in (("a", tenant), ("b", other_tenant))
            ]
            for kind, response in await asyncio.gather(*calls):
                if kind in ("conflict", "duplicate"):
                    assert response.status_code == 409, response.text
                elif kind == "sql_error":
                    assert response.status_code == 422, response.text
                    assert "assets_tenant_qualified_name_key" in response.json()["detail"]
                else:
                    assert {a["id"] for a in response.json()["items"]} == own[kind]
        # The one connection served every request, and kept no tenant once they were done.
        after = await _pooled_session(database)
        assert after["pid"] == backend
        assert after["tenant_id"] in (None, "")
