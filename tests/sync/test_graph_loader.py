"""The cold-start loader reads exactly what Postgres holds: every tenant, every state (soft-deleted
included), across block ranges shared out between connections, compared with a plain row-by-row
read; and every connection reads the one snapshot the load's position belongs to."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from headwater.catalog.db import Database
from headwater.graph.model import GraphData
from headwater.sync import graph_loader, tailer
from tests.conftest import TestDatabase, make_tenant
from tests.sync.churn import Churn


def _rows(admin_dsn: str, query: str) -> dict[Any, list[dict[str, Any]]]:
    by_tenant: dict[Any, list[dict[str, Any]]] = {}
    with psycopg.connect(admin_dsn, row_factory=dict_row) as conn:
        for row in conn.execute(query):
            by_tenant.setdefault(row.pop("tenant_id"), []).append(row)
    return by_tenant


def _edges(ends: tuple[str, str], *columns: Any) -> list[dict[str, Any]]:
    """Loaded edge arrays as the rows the oracle query returns (label codes as names)."""
    ids, sources, targets, codes, names, versions, deleted = columns
    return [
        {"id": i, ends[0]: s, ends[1]: t, "type": names[c], "version": v, "deleted": d}
        for i, s, t, c, v, d in zip(ids, sources, targets, codes, versions, deleted, strict=True)
    ]


@pytest.mark.parametrize(
    ("readers", "block_range", "min_blocks"),
    [(1, graph_loader.BLOCK_RANGE, graph_loader.MIN_BLOCKS_PER_PIECE), (3, 1, 1), (2, 3, 1)],
)
async def test_the_loaded_graphs_equal_the_rows_in_postgres(
    database: Database,
    worker_db: Database,
    test_db: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    readers: int,
    block_range: int,
    min_blocks: int,
) -> None:
    tenants = [await make_tenant(database, slug) for slug in ("acme", "globex", "initech")]
    churn = Churn(
        database,
        [(t.tenant_id, t.admin_user_id) for t in tenants[:2]],
        seed=11,
        admin_dsn=test_db.admin_dsn,
    )
    await churn.write(600)
    monkeypatch.setattr(graph_loader, "BLOCK_RANGE", block_range)
    monkeypatch.setattr(graph_loader, "MIN_BLOCKS_PER_PIECE", min_blocks)
    loaded, _ = await graph_loader.load_snapshot(worker_db, readers)

    assets = _rows(
        test_db.admin_dsn,
        "SELECT tenant_id, id, type, version, deleted_at IS NOT NULL AS deleted"
        " FROM assets ORDER BY id",
    )
    fields = _rows(
        test_db.admin_dsn, "SELECT tenant_id, id, asset_id, version FROM schema_fields ORDER BY id"
    )
    rels = _rows(
        test_db.admin_dsn,
        "SELECT tenant_id, id, source_id, target_id, type, version,"
        " deleted_at IS NOT NULL AS deleted FROM relationships ORDER BY id",
    )
    lineage = _rows(
        test_db.admin_dsn,
        "SELECT tenant_id, id, source_field_id, target_field_id, transformation AS type, version,"
        " deleted_at IS NOT NULL AS deleted FROM field_lineage ORDER BY id",
    )
    # The third tenant has written nothing lineage-related: it has no graph at all.
    assert set(loaded.tenants) == {t.tenant_id for t in tenants[:2]}
    assert loaded.edges == sum(map(len, rels.values())) + sum(map(len, lineage.values()))
    for tenant_id, graph in loaded.tenants.items():
        a = graph.assets
        assert [
            {
                "id": i,
                "type": a.type_names[c],
                "version": v,
                "deleted": d,
            }
            for i, c, v, d in zip(a.id, a.type, a.version, a.deleted, strict=True)
        ] == assets[tenant_id]
        f = graph.fields
        assert not f.deleted.any()
        assert [
            {"id": i, "asset_id": s, "version": v}
            for i, s, v in zip(f.id, f.asset_id, f.version, strict=True)
        ] == fields.get(tenant_id, [])
        r = graph.relationships
        assert _edges(
            ("source_id", "target_id"), r.id, r.source_id, r.target_id, r.type, r.type_names,
            r.version, r.deleted,
        ) == rels.get(tenant_id, [])  # fmt: skip
        fl = graph.field_lineage
        assert _edges(
            ("source_field_id", "target_field_id"), fl.id, fl.source_field_id,
            fl.target_field_id, fl.transformation, fl.transformation_names, fl.version,
            fl.deleted,
        ) == lineage.get(tenant_id, [])  # fmt: skip
        # Native byte order, as the engines index them.
        assert all(x.dtype.isnative for x in (a.id, r.source_id, fl.target_field_id, r.version))
        assert bool(np.all(np.diff(r.id) > 0))


def _same(a: GraphData, b: GraphData) -> bool:
    return all(
        np.array_equal(getattr(x, column), getattr(y, column))
        for table in ("assets", "fields", "relationships", "field_lineage")
        for x, y in [(getattr(a, table), getattr(b, table))]
        for column, _ in x._COLUMNS
    )


async def test_every_reader_sees_the_snapshot_not_later_writes(
    database: Database, worker_db: Database, test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes committed after the snapshot was taken stay out of the load, whichever connection
    reads the pages they landed on: the shared load equals a one-connection load of a snapshot
    taken at the same moment, and the next load has the writes."""
    tenant = await make_tenant(database, "acme")
    churn = Churn(
        database, [(tenant.tenant_id, tenant.admin_user_id)], seed=5, admin_dsn=test_db.admin_dsn
    )
    await churn.write(300)
    monkeypatch.setattr(graph_loader, "MIN_BLOCKS_PER_PIECE", 1)
    monkeypatch.setattr(graph_loader, "BLOCK_RANGE", 1)
    async with (
        tailer.shared_snapshot(worker_db, 3) as (readers, _),
        tailer.consistent_snapshot(worker_db) as (conn, _),
    ):
        assert len(readers) == 3
        await churn.write(300)
        shared = (await graph_loader.load_graphs(readers)).tenants[tenant.tenant_id]
        alone = (await graph_loader.load_graphs([conn])).tenants[tenant.tenant_id]
    after = (await graph_loader.load_snapshot(worker_db, 3))[0].tenants[tenant.tenant_id]
    assert _same(shared, alone)
    assert not _same(shared, after)


async def test_a_snapshot_is_shared_only_with_connections_the_pool_can_spare(
    test_db: TestDatabase,
) -> None:
    """A caller holding a connection of a full pool (a sink's lease) reads alone at once,
    instead of queueing for a connection it holds itself."""
    pool = Database(test_db.worker_dsn, max_size=2)
    await pool.open()
    try:
        async with pool.pool.connection():
            pool.pool.pop_stats()
            async with tailer.shared_snapshot(pool, 4) as (readers, _):
                assert len(readers) == 1
            # The snapshot's own connection was the only one asked for.
            assert pool.pool.pop_stats()["requests_num"] == 1
        async with tailer.shared_snapshot(pool, 4) as (readers, _):
            assert len(readers) == 2
    finally:
        await pool.close()
