"""GET /api/v1/search through the app as `headwater serve` builds it: real tantivy, milvus-lite and
MiniLM, kept current by the search sinks from the outbox, every hit hydrated from Postgres."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from headwater.runtime import build_app
from headwater.search.documents import build_document
from headwater.search.embeddings import Embedder
from headwater.search.fulltext import MAX_QUERY_CHARS
from headwater.search.vectors import MilvusVectorEngine
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase
from tests.search.api_helpers import (
    eventually,
    hit_ids,
    load_catalog,
    mirrors_of,
    search,
    synced,
)

MODES = ("fulltext", "semantic", "hybrid")


async def test_search_finds_assets_by_name_column_tag_and_meaning(
    search_client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load_catalog(search_client, tenant)
    await synced(search_client, tenant, ids)

    # A column name, with its highlight in the column text.
    body = await search(search_client, tenant, "email", mode="fulltext")
    assert hit_ids(body)[0] == ids["contacts"]
    top = body["hits"][0]
    assert top["matched_by"] == ["fulltext"]
    assert top["fulltext"]["rank"] == 1
    assert top["semantic"] is None
    assert top["asset"]["qualified_name"] == "pg://crm/public.contacts"
    assert top["asset"]["tags"] == [
        {"id": top["asset"]["tags"][0]["id"], "name": "pii", "category": "Privacy"}
    ]
    columns = next(h for h in top["highlights"] if h["field"] == "columns")
    start, end = columns["ranges"][0]
    assert columns["fragment"][start:end].lower().startswith("email")

    # Natural language with no word in common with the asset's name or columns.
    body = await search(search_client, tenant, "money customers spent", mode="semantic", limit=2)
    assert ids["orders"] in hit_ids(body)
    assert all(h["matched_by"] == ["semantic"] for h in body["hits"])

    # Hybrid: both engines agree on the exact name.
    body = await search(search_client, tenant, "revenue by region")
    assert hit_ids(body)[0] == ids["revenue_by_region"]
    assert body["hits"][0]["matched_by"] == ["fulltext", "semantic"]
    assert body["mode"] == "hybrid"

    # Facets count the matches; filters narrow them (AND across facets).
    body = await search(search_client, tenant, "orders contacts", mode="fulltext")
    assert {f["value"]: f["count"] for f in body["facets"]["type"]} == {"table": 2}
    assert {"value": "pii", "count": 1} in body["facets"]["tag"]
    assert {"value": "Privacy", "count": 1} in body["facets"]["tag_category"]
    for mode in MODES:
        body = await search(search_client, tenant, "orders contacts", mode=mode, tag="pii")
        assert hit_ids(body) == [ids["contacts"]], mode
        body = await search(
            search_client, tenant, "orders contacts", mode=mode, owner="shop@example.com"
        )
        assert hit_ids(body) == [ids["orders"]], mode
    body = await search(search_client, tenant, "clicks", type=["table", "dashboard"])
    assert ids["web_events"] not in hit_ids(body)


async def test_delete_retag_and_restore_are_reflected_after_sync(
    search_client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load_catalog(search_client, tenant)
    await synced(search_client, tenant, ids)
    editor = tenant.headers("editor")

    # Retag: pii off, a new "finance" tag on.
    tags = (await search_client.get("/api/v1/tags", headers=editor)).json()["items"]
    pii = next(t["id"] for t in tags if t["name"] == "pii")
    detached = await search_client.delete(
        f"/api/v1/assets/{ids['contacts']}/tags/{pii}", headers=editor
    )
    assert detached.status_code == 200, detached.text
    attached = await search_client.post(
        f"/api/v1/assets/{ids['contacts']}/tags",
        json={"name": "finance", "category": "Domain"},
        headers=editor,
    )
    assert attached.status_code in (200, 201), attached.text

    async def retagged() -> bool:
        for mode in MODES:
            old = await search(search_client, tenant, "contacts", mode=mode, tag="pii")
            new = await search(search_client, tenant, "contacts", mode=mode, tag="finance")
            if hit_ids(old) or hit_ids(new) != [ids["contacts"]]:
                return False
        return True

    await eventually(retagged)
    # Tags are searchable text too.
    body = await search(search_client, tenant, "finance", mode="fulltext", type="table")
    assert hit_ids(body) == [ids["contacts"]]

    # Delete: gone from every mode once synced, and from the index itself.
    asset = (await search_client.get(f"/api/v1/assets/{ids['orders']}", headers=editor)).json()
    deleted = await search_client.delete(
        f"/api/v1/assets/{ids['orders']}", params={"version": asset["version"]}, headers=editor
    )
    assert deleted.status_code in (200, 204), deleted.text

    async def gone() -> bool:
        for mode in MODES:
            body = await search(search_client, tenant, "purchase orders", mode=mode)
            if ids["orders"] in hit_ids(body) or body["total"] > 3:
                return False
        return True

    await eventually(gone)

    # Restore brings it back.
    asset = (
        await search_client.get(
            f"/api/v1/assets/{ids['orders']}", params={"include_deleted": True}, headers=editor
        )
    ).json()
    restored = await search_client.post(
        f"/api/v1/assets/{ids['orders']}/restore",
        json={"version": asset["version"]},
        headers=editor,
    )
    assert restored.status_code == 200, restored.text

    async def back() -> bool:
        for mode in MODES:
            body = await search(search_client, tenant, "purchase orders", mode=mode)
            if ids["orders"] not in hit_ids(body):
                return False
        return True

    await eventually(back)


@pytest.mark.edits_rows_directly
async def test_a_deleted_or_foreign_asset_never_appears_even_when_an_index_holds_it(
    search_app: FastAPI,
    search_client: httpx.AsyncClient,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    test_db: TestDatabase,
) -> None:
    ids = await load_catalog(search_client, tenant)
    await synced(search_client, tenant, ids)
    mirrors = mirrors_of(search_app)

    # Deleted behind the mirrors' back (no outbox event): the indexes keep the asset forever.
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute("UPDATE assets SET deleted_at = now() WHERE id = %s", (ids["orders"],))
    held = await mirrors.fulltext.live_versions(tenant.tenant_id)
    assert ids["orders"] in held
    assert ids["orders"] in await mirrors.semantic.live_versions(tenant.tenant_id)
    for mode in MODES:
        body = await search(search_client, tenant, "purchase orders", mode=mode)
        assert ids["orders"] not in hit_ids(body), mode

    # A document filed under the other tenant that names this tenant's asset (an index bug, or
    # a corrupted index): the engines return it to the other tenant, hydration drops it.
    doc = build_document(
        other_tenant.tenant_id,
        ids["contacts"],
        held[ids["contacts"]] + 100,
        type="table",
        name="contacts",
        qualified_name="pg://crm/public.contacts",
        description="People at partner companies we are in touch with.",
    )
    await mirrors.fulltext.write([doc])
    await mirrors.fulltext.finish()
    await mirrors.semantic.write([doc])
    await mirrors.semantic.finish()
    for mode in MODES:
        body = await search(search_client, other_tenant, "contacts partner companies", mode=mode)
        assert body["hits"] == [], mode


async def test_tenants_never_see_each_others_assets_in_any_mode(
    search_client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = await load_catalog(search_client, tenant)
    theirs = await load_catalog(search_client, other_tenant)  # identical text and vectors
    await synced(search_client, tenant, mine)
    await synced(search_client, other_tenant, theirs)
    for keys, own, foreign in ((tenant, mine, theirs), (other_tenant, theirs, mine)):
        for mode in MODES:
            for q in ("contacts", "customer email addresses", "revenue", "orders clicks"):
                body = await search(search_client, keys, q, mode=mode, limit=100)
                found = set(hit_ids(body))
                assert found, (mode, q)
                assert found <= set(own.values()), (mode, q)
                assert not found & set(foreign.values()), (mode, q)
                facet_total = sum(f["count"] for f in body["facets"]["type"])
                assert facet_total <= len(own), (mode, q)


async def test_unchanged_text_is_not_embedded_again(
    search_client: httpx.AsyncClient, tenant: TenantKeys, search_app: FastAPI
) -> None:
    ids = await load_catalog(search_client, tenant)
    await synced(search_client, tenant, ids)
    embedder = mirrors_of(search_app).embedder
    editor = tenant.headers("editor")
    url = f"/api/v1/assets/{ids['revenue_by_region']}"

    async def patch(body: dict[str, Any]) -> None:
        current = (await search_client.get(url, headers=editor)).json()
        response = await search_client.patch(
            url, json={"version": current["version"], **body}, headers=editor
        )
        assert response.status_code == 200, response.text

    # Embed the query first: searches embed their query (cached), which is not indexing.
    await search(search_client, tenant, "revenue", mode="semantic", owner="cfo@example.com")
    calls, texts = embedder.model_calls, embedder.texts_embedded
    # Three changes the embedded text does not show: each is an event, a document version and
    # a write to both indexes, none a model call.
    await patch({"owners": ["cfo@example.com"]})
    await patch({"description": "Daily revenue broken down by sales region."})  # same text
    await patch({"metadata": {"refresh_minutes": 15}})  # not a searchable metadata key

    async def reindexed() -> bool:
        body = await search(
            search_client, tenant, "revenue", mode="semantic", owner="cfo@example.com"
        )
        return hit_ids(body) == [ids["revenue_by_region"]]

    await eventually(reindexed)
    assert (embedder.model_calls, embedder.texts_embedded) == (calls, texts)

    # A change the text does show is embedded: once.
    await patch({"description": "Weekly revenue by sales territory."})

    async def embedded() -> bool:
        return embedder.texts_embedded > texts

    await eventually(embedded)
    assert embedder.texts_embedded == texts + 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "empty"),
        ({"q": "   \t "}, "empty"),
        ({"q": "?! ..."}, "no words"),
        ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "at most 500 characters"),
        ({"q": " ".join(["word"] * 40)}, "more than 32 words"),
        ({"q": "orders", "mode": "fuzzy"}, "mode"),
        ({"q": "orders", "limit": 0}, "limit"),
        ({"q": "orders", "limit": 101}, "limit"),
        ({"q": "orders", "cursor": "not-a-cursor"}, "cursor"),
        ({"q": "orders", "tag": [f"t{i}" for i in range(21)]}, "at most 20 values"),
        ({}, "q"),
    ],
)
async def test_bad_queries_are_422_with_a_message(
    search_client: httpx.AsyncClient, tenant: TenantKeys, params: dict[str, Any], message: str
) -> None:
    response = await search_client.get(
        "/api/v1/search", params=params, headers=tenant.headers("viewer")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]


async def test_cursor_pages_through_without_repeats_and_is_bound_to_its_query(
    search_client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load_catalog(search_client, tenant)
    await synced(search_client, tenant, ids)
    for mode in MODES:
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"mode": mode, "limit": 1}
            if cursor is not None:
                params["cursor"] = cursor
            body = await search(search_client, tenant, "orders contacts revenue clicks", **params)
            seen.extend(hit_ids(body))
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert cursor is None, mode
        assert len(seen) == len(set(seen)), mode
        full = await search(search_client, tenant, "orders contacts revenue clicks", mode=mode)
        assert seen == hit_ids(full), mode
    first = await search(search_client, tenant, "orders contacts", mode="fulltext", limit=1)
    assert first["next_cursor"] is not None
    other = await search_client.get(
        "/api/v1/search",
        params={"q": "orders", "mode": "fulltext", "cursor": first["next_cursor"]},
        headers=tenant.headers(),
    )
    assert other.status_code == 422
    assert "another query" in other.json()["detail"]


async def test_search_needs_a_key_and_a_server_with_search(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    anonymous = await client.get("/api/v1/search", params={"q": "orders"})
    assert anonymous.status_code == 401
    # The plain test client runs no search mirrors: a clear 503, never an empty result.
    response = await client.get(
        "/api/v1/search", params={"q": "orders"}, headers=tenant.headers("viewer")
    )
    assert response.status_code == 503
    assert "without search" in response.json()["detail"]


async def test_semantic_answers_are_the_same_after_a_restart(
    settings: Settings, test_db: TestDatabase, embedder: Embedder, tenant: TenantKeys
) -> None:
    """A second serve over the same data directory loads its in-memory copy of the vectors
    from milvus-lite in the background, and answers as the first did, before and after."""
    serve_settings = settings.model_copy(update={"db_pool_max": 8})
    queries = ["money customers spent", "people we talk to at partner companies"]

    async def answers(client: httpx.AsyncClient) -> list[list[int]]:
        return [hit_ids(await search(client, tenant, q, mode="semantic")) for q in queries]

    @contextlib.asynccontextmanager
    async def serving() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = build_app(serve_settings, test_db.app_dsn, test_db.worker_dsn, embedder=embedder)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield app, client

    async with serving() as (app, client):
        ids = await load_catalog(client, tenant)
        await synced(client, tenant, ids)
        first = await answers(client)
        assert ids["orders"] in first[0]
        assert ids["contacts"] in first[1]
    async with serving() as (app, client):
        vectors = mirrors_of(app).semantic.vectors
        assert isinstance(vectors, MilvusVectorEngine)
        assert not vectors.created
        assert await answers(client) == first  # from milvus-lite, or the copy if loaded by now
        assert await vectors.wait_for_memory(timeout=120)
        assert vectors.searches_in_memory
        assert await answers(client) == first
