"""Reconcile of the search mirrors: drift reports against Postgres, rebuilds from a snapshot, cold
starts, and the `headwater reconcile` command on a data directory no server holds."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from headwater.catalog import assets, fields, tags
from headwater.catalog.assets import AssetCreate, AssetType
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.fields import FieldSpec
from headwater.catalog.tags import TagByName
from headwater.cli import main
from headwater.search import mirrors, reconcile, source
from headwater.search.documents import build_document
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.mirrors import mirror_instance
from headwater.search.sink import FullTextSink, SearchSink
from headwater.settings import Settings
from headwater.sync import tailer
from headwater.sync.events import START, Gathering
from tests.conftest import TenantKeys, TestDatabase
from tests.search.api_helpers import eventually, hit_ids, load_catalog, mirrors_of, search, synced


async def _no_drift(database: Database, sink: SearchSink) -> bool:
    return not (await reconcile.check(database, sink, wait=5)).drift


async def _tamper(database: Database, sink: SearchSink, tenant: TenantKeys, ids: list[int]) -> None:
    """Rewrite the tenant's index behind the sink's back: ids[0] left out (missing), ids[1] at an
    old version (stale), an asset Postgres never had added (extra), the rest as they were."""
    held = await sink.live_versions(tenant.tenant_id)
    async with database.transaction() as conn:
        docs = await source.documents(conn, held)
    await sink.drop_tenant(tenant.tenant_id)
    rewritten = [docs[a] for a in ids[2:]]
    old = docs[ids[1]]
    rewritten.append(
        build_document(
            old.tenant_id,
            old.asset_id,
            1,
            type=old.type,
            name=old.name,
            qualified_name=old.qualified_name,
        )
    )
    rewritten.append(
        build_document(tenant.tenant_id, 10**12, 7, type="table", name="ghost", qualified_name="x")
    )
    await sink.write(rewritten)
    await sink.finish()


async def test_check_finds_no_drift_after_sync_and_counts_tampering_then_rebuild_fixes_it(
    search_app: FastAPI,
    search_client: httpx.AsyncClient,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    worker_db: Database,
) -> None:
    ids = await load_catalog(search_client, tenant)
    theirs = await load_catalog(search_client, other_tenant)
    await synced(search_client, tenant, ids)
    await synced(search_client, other_tenant, theirs)
    mirrors = mirrors_of(search_app)

    for sink in mirrors.sinks:
        await eventually(partial(_no_drift, worker_db, sink))
        report = await reconcile.check(worker_db, sink)
        assert report.caught_up
        assert report.totals() == {
            "expected": 8,
            "indexed": 8,
            "missing": 0,
            "extra": 0,
            "stale": 0,
        }
        assert {t.slug: t.expected for t in report.tenants} == {"acme": 4, "globex": 4}

    order = sorted(ids.values())
    for sink in mirrors.sinks:
        await _tamper(worker_db, sink, tenant, order)
        report = await reconcile.check(worker_db, sink)
        assert report.drift, sink.name
        mine, other = report.tenant("acme"), report.tenant("globex")
        assert (mine.missing, mine.stale, mine.extra) == ([order[0]], [order[1]], [10**12])
        assert (mine.expected, mine.indexed) == (4, 4)
        assert other.drift == 0
        assert report.totals() == {
            "expected": 8,
            "indexed": 8,
            "missing": 1,
            "extra": 1,
            "stale": 1,
        }
        as_json = report.as_dict()
        assert as_json["total"]["missing"] == 1
        assert as_json["tenants"][0]["examples"]["extra"] == [10**12]

    # Search hydrates the ghost away and misses the dropped asset until the rebuild.
    body = await search(search_client, tenant, "contacts", mode="fulltext")
    assert 10**12 not in hit_ids(body)

    for sink in mirrors.sinks:
        rebuilt = await reconcile.rebuild(worker_db, sink)
        assert rebuilt is not None
        assert rebuilt.documents == {"acme": 4, "globex": 4}
        assert rebuilt.checkpoint_moved
        async with worker_db.transaction() as conn:
            checkpoint = await tailer.get_checkpoint(conn, sink.name)
        assert str(checkpoint) == rebuilt.position
        report = await reconcile.check(worker_db, sink)
        assert not report.drift, report.as_dict()
    for mode in ("fulltext", "semantic"):
        body = await search(search_client, tenant, "contacts", mode=mode)
        assert hit_ids(body)[0] == ids["contacts"]

    # Events after the rebuild still flow.
    tagged = await search_client.post(
        f"/api/v1/assets/{ids['orders']}/tags",
        json={"name": "gold"},
        headers=tenant.headers("editor"),
    )
    assert tagged.status_code in (200, 201)

    async def gold() -> bool:
        body = await search(search_client, tenant, "orders", mode="semantic", tag="gold")
        return hit_ids(body) == [ids["orders"]]

    await eventually(gold)


async def test_rebuild_of_one_tenant_leaves_the_others_and_the_checkpoint(
    search_app: FastAPI,
    search_client: httpx.AsyncClient,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    worker_db: Database,
) -> None:
    ids = await load_catalog(search_client, tenant)
    theirs = await load_catalog(search_client, other_tenant)
    await synced(search_client, tenant, ids)
    await synced(search_client, other_tenant, theirs)
    sink = mirrors_of(search_app).fulltext
    before = await sink.live_versions(other_tenant.tenant_id)
    async with worker_db.transaction() as conn:
        checkpoint = await tailer.get_checkpoint(conn, sink.name)
    rebuilt = await reconcile.rebuild(worker_db, sink, tenants=["acme"])
    assert rebuilt is not None
    assert rebuilt.documents == {"acme": 4}
    assert not rebuilt.checkpoint_moved
    async with worker_db.transaction() as conn:
        assert await tailer.get_checkpoint(conn, sink.name) == checkpoint
    assert await sink.live_versions(other_tenant.tenant_id) == before
    mine = await sink.live_versions(tenant.tenant_id)
    assert set(mine) == set(ids.values())
    assert all(v == rebuilt.version for v in mine.values())
    assert not (await reconcile.check(worker_db, sink)).drift


async def _write_catalog(database: Database, keys: TenantKeys) -> list[int]:
    """Three assets written straight to the catalog (no server running), one deleted."""
    actor = Actor(tenant_id=keys.tenant_id, user_id=keys.admin_user_id)
    created: list[int] = []
    async with database.transaction(keys.tenant_id) as conn:
        for name, description in (
            ("invoices", "Invoices sent to customers"),
            ("payments", "Card payments received"),
            ("refunds", "Money given back"),
        ):
            asset = await assets.create_asset(
                conn,
                actor,
                AssetCreate(
                    type=AssetType.TABLE,
                    name=name,
                    qualified_name=f"pg://billing/{name}",
                    description=description,
                ),
            )
            created.append(asset.id)
        await fields.replace_fields(
            conn, actor, created[0], 1, [FieldSpec(name="invoice_total", data_type="numeric")]
        )
        await tags.attach_tag_by_name(conn, actor, created[1], TagByName(name="pci"))
        refund = await assets.get_asset(conn, created[2])
        await assets.delete_asset(conn, actor, created[2], refund.version)
    return created


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["reconcile", *argv])
    out = capsys.readouterr().out
    body: dict[str, Any] = json.loads(out) if out.strip() else {}
    return code, body


@pytest.fixture
async def billing(database: Database, tenant: TenantKeys) -> list[int]:
    return await _write_catalog(database, tenant)


def test_cli_checks_and_rebuilds_a_data_directory_no_server_holds(
    billing: list[int],
    test_db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Synchronous, like the command line: the CLI runs its own event loop."""
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_ADMIN_DATABASE_URL", test_db.admin_dsn)
    monkeypatch.setenv("HEADWATER_WORKER_DATABASE_URL", test_db.worker_dsn)
    monkeypatch.setenv("HEADWATER_DATA_DIR", str(tmp_path / "data"))
    for sink in ("search.fulltext", "search.semantic"):
        # A new, empty index: the two live assets are missing (the deleted one is not); exit 1.
        code, body = _cli(capsys, "--sink", sink, "--check", "--wait", "0")
        assert code == 1, body
        assert body["drift"] is True
        assert body["total"] == {"expected": 2, "indexed": 0, "missing": 2, "extra": 0, "stale": 0}
        assert [t["slug"] for t in body["tenants"]] == ["acme"]
        code, body = _cli(capsys, "--sink", sink)
        assert code == 0, body
        assert body["total"] == 2
        assert body["checkpoint_moved"] is True
        code, body = _cli(capsys, "--sink", sink, "--check", "--wait", "0")
        assert code == 0, body
        assert body["drift"] is False
        assert body["total"]["indexed"] == 2
    # The indexes persist under the data directory, each with its instance id.
    search_dir = tmp_path / "data" / "search"
    assert (search_dir / "tantivy" / "meta.json").exists()
    assert (search_dir / "tantivy.instance").exists()
    assert (search_dir / "vectors.db.instance").exists()
    assert main(["reconcile", "--sink", "search.nothing", "--check"]) == 2
    assert "unknown sink" in capsys.readouterr().err


async def test_a_new_sink_cold_starts_from_a_snapshot_and_only_once(
    database: Database, tenant: TenantKeys, worker_db: Database, tmp_path: Path
) -> None:
    created = await _write_catalog(database, tenant)
    engine = TantivyEngine(tmp_path / "tantivy")
    assert engine.created
    sink = FullTextSink(engine, "search.tantivy.test")
    try:
        await sink.bootstrap(worker_db)
        held = await sink.live_versions(tenant.tenant_id)
        assert set(held) == set(created[:2])
        async with worker_db.transaction() as conn:
            checkpoint = await tailer.get_checkpoint(conn, sink.name)
        assert checkpoint > START
        assert set(held.values()) == {source.snapshot_version(checkpoint.txid)}
        # Once the checkpoint moved, bootstrapping again does nothing.
        assert await reconcile.rebuild(worker_db, sink, only_if_new=True) is None
        await sink.bootstrap(worker_db)
        assert await sink.live_versions(tenant.tenant_id) == held
    finally:
        await sink.close()
    reopened = TantivyEngine(tmp_path / "tantivy")
    assert not reopened.created
    await reopened.close()


def test_instance_ids_follow_the_index(tmp_path: Path) -> None:
    marker = tmp_path / "index.instance"
    first = mirror_instance(marker, fresh=True)
    assert mirror_instance(marker, fresh=False) == first
    # A recreated index is a new mirror: a new id, hence a new checkpoint and a cold start.
    second = mirror_instance(marker, fresh=True)
    assert second != first
    marker.write_text("garbage")
    assert mirror_instance(marker, fresh=False) not in (first, second, "garbage")


async def test_the_search_sinks_gather_for_the_configured_refresh_interval(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, search_refresh_interval=0.25)
    sinks: list[SearchSink] = [mirrors.open_fulltext(settings)]
    try:
        sinks.append(mirrors.open_semantic(settings, None))
        for sink in sinks:
            assert isinstance(sink, Gathering)
            assert sink.gather_seconds == 0.25
    finally:
        for sink in sinks:
            await sink.close()


async def test_stopping_the_sync_survives_a_swallowed_cancellation() -> None:
    """asyncio.wait_for on Python 3.11 can swallow a cancellation; stopping must still end."""
    rounds = 0

    async def stubborn() -> None:
        nonlocal rounds
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            rounds += 1  # swallowed, as wait_for may do
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(mirrors._stop(task), timeout=10)
    assert task.cancelled()
    assert rounds == 1
