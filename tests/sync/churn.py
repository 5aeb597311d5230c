"""A random stream of catalog writes across tenants, for the crash-recovery tests.

Assets are created, deleted and restored; relationships of every type are created, deleted and
revived; columns are added and dropped (dropping their lineage); column lineage is created and
deleted. Every write goes through the catalog, so each commits its rows, audit rows and outbox
events together, a few writes per transaction as an ingest would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg

from headwater.catalog import assets, field_lineage, fields, relationships
from headwater.catalog.assets import AssetCreate, AssetType
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn, Database, fetch_one
from headwater.catalog.errors import HeadwaterError, VersionConflict
from headwater.catalog.field_lineage import FieldLineageCreate, Transformation
from headwater.catalog.fields import FieldSpec
from headwater.catalog.relationships import RelationshipCreate, RelationshipType

COLUMNS = ("id", "email", "amount", "ts", "name", "city", "country")
TYPES = (AssetType.TABLE, AssetType.VIEW, AssetType.JOB, AssetType.DASHBOARD)


@dataclass
class _Tenant:
    """What one tenant's writer believes the catalog holds (refreshed when a write disagrees)."""

    index: int
    tenant_id: UUID
    actor: Actor
    live: dict[int, int] = field(default_factory=dict)  # asset id -> version
    deleted: dict[int, int] = field(default_factory=dict)
    rels: dict[int, int] = field(default_factory=dict)  # live relationship id -> version
    columns: dict[int, dict[str, int]] = field(default_factory=dict)  # asset -> name -> field
    lineage: dict[int, int] = field(default_factory=dict)  # live field lineage id -> version
    created: int = 0


async def _create_asset(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    t.created += 1
    name = f"a{t.created}"
    data = AssetCreate(type=rng.choice(TYPES), name=name, qualified_name=f"pg://db{t.index}/{name}")
    asset = await assets.create_asset(conn, t.actor, data)
    t.live[asset.id] = asset.version


async def _relate(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    source, target = rng.sample(sorted(t.live), 2)
    kind = rng.choice(list(RelationshipType))
    data = RelationshipCreate(source_id=source, target_id=target, type=kind)
    edge = await relationships.create_relationship(conn, t.actor, data)
    t.rels[edge.id] = edge.version


async def _unrelate(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    edge_id = rng.choice(sorted(t.rels))
    version = t.rels.pop(edge_id)
    await relationships.delete_relationship(conn, t.actor, edge_id, version)


async def _columns(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    asset_id = rng.choice(sorted(t.live))
    names = rng.sample(COLUMNS, rng.randint(1, 5))
    schema = await fields.replace_fields(
        conn, t.actor, asset_id, t.live[asset_id], [FieldSpec(name=n) for n in names]
    )
    t.live[asset_id] = schema.asset_version
    t.columns[asset_id] = {f.name: f.id for f in schema.fields}


async def _link(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    owners = [a for a in sorted(t.columns) if a in t.live and t.columns[a]]
    source_asset, target_asset = rng.sample(owners, 2)
    source = rng.choice(sorted(t.columns[source_asset].values()))
    target = rng.choice(sorted(t.columns[target_asset].values()))
    data = FieldLineageCreate(
        source_field_id=source,
        target_field_id=target,
        transformation=rng.choice(list(Transformation)),
    )
    edge = await field_lineage.create_field_lineage(conn, t.actor, data)
    t.lineage[edge.id] = edge.version


async def _unlink(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    edge_id = rng.choice(sorted(t.lineage))
    version = t.lineage.pop(edge_id)
    await field_lineage.delete_field_lineage(conn, t.actor, edge_id, version)


async def _delete_asset(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    asset_id = rng.choice(sorted(t.live))
    asset = await assets.delete_asset(conn, t.actor, asset_id, t.live.pop(asset_id))
    t.deleted[asset_id] = asset.version


async def _restore_asset(conn: Conn, t: _Tenant, rng: random.Random) -> None:
    asset_id = rng.choice(sorted(t.deleted))
    asset = await assets.restore_asset(conn, t.actor, asset_id, t.deleted.pop(asset_id))
    t.live[asset_id] = asset.version


def _pick(t: _Tenant, rng: random.Random) -> Any:
    choices: list[tuple[Any, int]] = [(_create_asset, 12 if len(t.live) < 80 else 1)]
    if len(t.live) >= 2:
        choices += [(_relate, 25), (_columns, 15), (_delete_asset, 2)]
    if t.rels:
        choices.append((_unrelate, 10))
    if sum(1 for a in t.columns if a in t.live and t.columns[a]) >= 2:
        choices.append((_link, 22))
    if t.lineage:
        choices.append((_unlink, 8))
    if t.deleted:
        choices.append((_restore_asset, 2))
    ops, weights = zip(*choices, strict=True)
    return rng.choices(ops, weights)[0]


async def _refresh(conn: Conn, t: _Tenant) -> None:
    """Re-read versions after a write was refused (a tracked version went stale)."""
    for asset_id in list(t.live):
        t.live[asset_id] = (await assets.get_asset(conn, asset_id)).version


async def _events(conn: Conn) -> int:
    """The events this transaction wrote (an index range on the outbox's (txid, id))."""
    row = await fetch_one(
        conn, "SELECT count(*) AS n FROM outbox WHERE txid = pg_current_xact_id_if_assigned()"
    )
    assert row is not None
    return int(row["n"])


async def _analyze(admin_dsn: str, every: float) -> None:
    """What autovacuum does a minute or so later: fresh tables would otherwise keep their
    empty-table statistics for the whole run, and some lookups then plan as nested loops over
    whole tenants (get_field_lineage_for_update took ~130 ms per call at 12k events)."""
    while True:
        await asyncio.sleep(every)
        async with await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True) as conn:
            await conn.execute("ANALYZE assets, relationships, schema_fields, field_lineage")


class Churn:
    """Writers for several tenants (tenant id, a user id to act as); each ``write`` call goes on
    from where the previous one stopped."""

    def __init__(
        self,
        database: Database,
        tenants: Sequence[tuple[UUID, int]],
        *,
        seed: int,
        admin_dsn: str,
        per_transaction: int = 8,
    ) -> None:
        self._database = database
        self._admin_dsn = admin_dsn
        self._per_transaction = per_transaction
        self._writers = [
            _Tenant(i, tenant_id, Actor(tenant_id=tenant_id, user_id=user_id))
            for i, (tenant_id, user_id) in enumerate(tenants)
        ]
        self._rngs = [random.Random(seed * 1000 + i) for i in range(len(tenants))]
        self.events = 0

    async def _write(self, t: _Tenant, events: int) -> int:
        rng = self._rngs[t.index]
        written = 0
        while written < events:
            async with self._database.transaction(t.tenant_id) as conn:
                for _ in range(self._per_transaction):
                    op = _pick(t, rng)
                    try:
                        async with conn.transaction():
                            await op(conn, t, rng)
                    except VersionConflict:
                        async with conn.transaction():
                            await _refresh(conn, t)
                    except HeadwaterError:
                        pass  # e.g. the edge exists already: the stream just moves on
                written += await _events(conn)
            await asyncio.sleep(0)  # let the other writers, and whatever the test runs, go on
        return written

    async def write(self, events: int) -> int:
        """Write at least ``events`` outbox events, spread evenly over the tenants."""
        share = -(-events // len(self._writers))
        analyze = asyncio.create_task(_analyze(self._admin_dsn, 2.0))
        try:
            counts = await asyncio.gather(*(self._write(t, share) for t in self._writers))
        finally:
            analyze.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await analyze
        self.events += sum(counts)
        return sum(counts)
