"""A shared graph mirror kept in Postgres tables, written the way a Neo4j mirror is written.

Its writes do not go through the worker's transaction: they commit on the mirror's own
connection, statement by statement, before the worker commits the checkpoint. A worker killed in
between has applied a batch its checkpoint does not cover, so the next worker delivers it again,
and only the version guard (``WHERE held.version < new.version``, as in the Cypher upserts) keeps
the mirror exact. ``mirror_deliveries`` records every event delivered and by which process, so a
test can see that redeliveries really happened, and which worker is applying right now. Like a
new Neo4j mirror, it loads itself from a snapshot before it tails (``bootstrap``).

Tables (created by :func:`create_tables` as the schema owner): ``mirror_assets``,
``mirror_fields``, ``mirror_relationships``, ``mirror_field_lineage``, ``mirror_deliveries``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any, Final, LiteralString
from uuid import UUID

import psycopg
from psycopg import sql

from headwater.catalog.db import Database
from headwater.graph.model import (
    AssetState,
    FieldLineageState,
    FieldState,
    GraphData,
    Mutation,
    RelationshipState,
)
from headwater.sync.events import Batch
from headwater.sync.graph_mirror import load_shared
from headwater.sync.graph_sink import to_mutation

SINK: Final = "graph.table-test"

_DDL: Final[tuple[LiteralString, ...]] = (
    "CREATE TABLE mirror_assets (tenant_id uuid, id bigint, type text NOT NULL,"
    " version int NOT NULL, deleted bool NOT NULL, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE mirror_fields (tenant_id uuid, id bigint, asset_id bigint NOT NULL,"
    " version int NOT NULL, deleted bool NOT NULL, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE mirror_relationships (tenant_id uuid, id bigint, source_id bigint NOT NULL,"
    " target_id bigint NOT NULL, type text NOT NULL, version int NOT NULL,"
    " deleted bool NOT NULL, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE mirror_field_lineage (tenant_id uuid, id bigint,"
    " source_field_id bigint NOT NULL, target_field_id bigint NOT NULL,"
    " transformation text NOT NULL, version int NOT NULL, deleted bool NOT NULL,"
    " PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE mirror_deliveries (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " event_id bigint NOT NULL, pid int NOT NULL)",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON mirror_assets, mirror_fields,"
    " mirror_relationships, mirror_field_lineage, mirror_deliveries TO headwater_worker",
)

# One upsert per kind, guarded by version exactly like the Neo4j engine's statements.
_UPSERT: Final[dict[type, LiteralString]] = {
    AssetState: "INSERT INTO mirror_assets AS m VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (tenant_id, id) DO UPDATE SET type = EXCLUDED.type,"
    " version = EXCLUDED.version, deleted = EXCLUDED.deleted"
    " WHERE m.version < EXCLUDED.version",
    FieldState: "INSERT INTO mirror_fields AS m VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (tenant_id, id) DO UPDATE SET asset_id = EXCLUDED.asset_id,"
    " version = EXCLUDED.version, deleted = EXCLUDED.deleted"
    " WHERE m.version < EXCLUDED.version",
    RelationshipState: "INSERT INTO mirror_relationships AS m VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (tenant_id, id) DO UPDATE SET source_id = EXCLUDED.source_id,"
    " target_id = EXCLUDED.target_id, type = EXCLUDED.type, version = EXCLUDED.version,"
    " deleted = EXCLUDED.deleted WHERE m.version < EXCLUDED.version",
    FieldLineageState: "INSERT INTO mirror_field_lineage AS m"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (tenant_id, id) DO UPDATE SET source_field_id = EXCLUDED.source_field_id,"
    " target_field_id = EXCLUDED.target_field_id, transformation = EXCLUDED.transformation,"
    " version = EXCLUDED.version, deleted = EXCLUDED.deleted"
    " WHERE m.version < EXCLUDED.version",
}
_TABLES: Final[tuple[LiteralString, ...]] = (
    "mirror_assets",
    "mirror_fields",
    "mirror_relationships",
    "mirror_field_lineage",
)


def create_tables(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for statement in _DDL:
            conn.execute(statement)


def _row(tenant_id: UUID, state: Mutation) -> tuple[Any, ...]:
    if isinstance(state, AssetState):
        return (tenant_id, state.id, state.type, state.version, state.deleted)
    if isinstance(state, FieldState):
        return (tenant_id, state.id, state.asset_id, state.version, state.deleted)
    if isinstance(state, RelationshipState):
        return (
            tenant_id,
            state.id,
            state.source_id,
            state.target_id,
            state.type,
            state.version,
            state.deleted,
        )
    return (
        tenant_id,
        state.id,
        state.source_field_id,
        state.target_field_id,
        state.transformation,
        state.version,
        state.deleted,
    )


class TableGraphMirror:
    """The sink (``apply``, ``bootstrap``) and the store reconcile reads (``load``,
    ``snapshot``). ``latency``: a pause after each batch's writes, like a remote server's round
    trip, which widens the window in which a kill leaves applied but uncheckpointed events."""

    name = SINK

    def __init__(self, dsn: str, *, latency: float = 0.0) -> None:
        self._dsn = dsn
        self._latency = latency
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def _write(self, tenant_id: UUID, states: Sequence[Mutation]) -> None:
        conn = await self._connection()
        async with conn.cursor() as cur:
            for kind, statement in _UPSERT.items():
                rows = [_row(tenant_id, s) for s in states if isinstance(s, kind)]
                if rows:
                    await cur.executemany(statement, rows)

    async def apply(self, batch: Batch) -> None:
        by_tenant: dict[UUID, list[Mutation]] = {}
        for event in batch.events:
            mutation = to_mutation(event)
            if mutation is not None:
                by_tenant.setdefault(event.tenant_id, []).append(mutation)
        for tenant_id, states in by_tenant.items():
            await self._write(tenant_id, states)
        conn = await self._connection()
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO mirror_deliveries (event_id, pid) VALUES (%s, %s)",
                [(e.id, os.getpid()) for e in batch.events],
            )
        await asyncio.sleep(self._latency)

    async def bootstrap(self, database: Database) -> None:
        await load_shared(database, self.name, self, force=False)

    async def load(self, tenant_id: UUID, data: GraphData, *, position: str | None = None) -> None:
        """Replace the tenant's graph in one transaction."""
        conn = await self._connection()
        async with conn.transaction(), conn.cursor() as cur:
            for table in _TABLES:
                await cur.execute(
                    sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(sql.Identifier(table)),
                    (tenant_id,),
                )
            states = list(data.states())
            for kind, statement in _UPSERT.items():
                rows = [_row(tenant_id, s) for s in states if isinstance(s, kind)]
                if rows:
                    await cur.executemany(statement, rows)

    async def snapshot(self, tenant_id: UUID) -> GraphData:
        conn = await self._connection()
        states: list[Mutation] = []
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id, type, version, deleted FROM mirror_assets WHERE tenant_id = %s",
                (tenant_id,),
            )
            states += [AssetState(i, t, v, deleted=d) for i, t, v, d in await cur.fetchall()]
            await cur.execute(
                "SELECT id, asset_id, version, deleted FROM mirror_fields WHERE tenant_id = %s",
                (tenant_id,),
            )
            states += [FieldState(i, a, v, deleted=d) for i, a, v, d in await cur.fetchall()]
            await cur.execute(
                "SELECT id, source_id, target_id, type, version, deleted"
                " FROM mirror_relationships WHERE tenant_id = %s",
                (tenant_id,),
            )
            states += [RelationshipState(*row) for row in await cur.fetchall()]
            await cur.execute(
                "SELECT id, source_field_id, target_field_id, transformation, version, deleted"
                " FROM mirror_field_lineage WHERE tenant_id = %s",
                (tenant_id,),
            )
            states += [FieldLineageState(*row) for row in await cur.fetchall()]
        return GraphData.from_states(states)
