"""Loading the generated platform into the catalog, two ways, each timed.

* :func:`load_set_based` — the loader used for the measured tenants at every scale: COPY into
  staging tables, then one INSERT ... SELECT per chunk writing the entity rows together with the
  audit rows and outbox events the catalog's functions would record (``bench/sql/load.sql``),
  in the application role under row-level security. It is what makes 1M assets loadable at all:
  the per-item path below issues several statements per entity.
* :func:`load_via_bulk_api` — ``POST /api/v1/bulk`` over HTTP, the catalog's own per-item bulk
  path (natural keys, all-or-nothing per request), measured on a separate small tenant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString
from uuid import UUID

import httpx
import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg.rows import dict_row

from bench.generator import (
    COLUMN_TYPES,
    COLUMN_VOCAB,
    RELATIONSHIP_TYPES,
    TRANSFORMATIONS,
    TenantLineage,
)
from bench.sql import Q
from headwater.catalog import admin
from headwater.catalog.admin import ApiKeyCreate, UserCreate
from headwater.catalog.context import Actor, Role
from headwater.catalog.db import Conn, Database, set_tenant

__all__ = [
    "AGENT",
    "EntityLoad",
    "LoadedTenant",
    "TenantAccess",
    "binary_copy",
    "create_tenant",
    "load_set_based",
    "load_via_bulk_api",
]

AGENT: Final = "headwater-bench"
_COPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER: Final = b"\xff\xff"
_PG_INTS: Final = {"int2": (">i2", 2), "int4": (">i4", 4), "int8": (">i8", 8)}
_ASSET_CHUNK: Final = 50_000
_ROW_CHUNK: Final = 250_000

I64 = NDArray[np.int64]


def binary_copy(columns: Sequence[tuple[NDArray[Any], str]]) -> bytes:
    """Integer columns as a binary COPY stream, built in numpy without per-row Python work."""
    n = len(columns[0][0])
    layout: list[tuple[str, str]] = [("ncols", ">i2")]
    for i, (_, kind) in enumerate(columns):
        layout += [(f"len{i}", ">i4"), (f"val{i}", _PG_INTS[kind][0])]
    rows = np.empty(n, dtype=np.dtype(layout))
    rows["ncols"] = len(columns)
    for i, (values, kind) in enumerate(columns):
        rows[f"len{i}"] = _PG_INTS[kind][1]
        rows[f"val{i}"] = values
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def _parse_map(body: bytes, gen_kind: str) -> I64:
    """A binary COPY of (gen, id) rows ordered by gen -> ids indexed by gen."""
    dtype = np.dtype(
        [("n", ">i2"), ("l0", ">i4"), ("gen", _PG_INTS[gen_kind][0]), ("l1", ">i4"), ("id", ">i8")]
    )
    rows = np.frombuffer(body[len(_COPY_HEADER) : -len(_COPY_TRAILER)], dtype=dtype)
    if len(rows) and not np.array_equal(rows["gen"], np.arange(len(rows))):
        raise RuntimeError("the loader's id map has gaps: some rows were not written")
    ids: I64 = rows["id"].astype(np.int64)
    return ids


@dataclass(frozen=True)
class TenantAccess:
    """A tenant made for the run: its id, the loader's actor and one API key per role."""

    tenant_id: UUID
    slug: str
    actor: Actor
    keys: dict[str, str]

    def headers(self, role: str = "editor") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


async def create_tenant(app_dsn: str, slug: str) -> TenantAccess:
    """A tenant with a user and an API key per role, through the catalog's admin functions."""
    database = Database(app_dsn, max_size=1)
    await database.open()
    try:
        async with database.transaction() as conn:
            tenant = await admin.create_tenant(conn, slug, slug.title(), {})
            system = Actor(tenant_id=tenant.id, user_id=None, user_agent=AGENT)
            keys: dict[str, str] = {}
            users: dict[str, int] = {}
            for role in (Role.ADMIN, Role.EDITOR, Role.VIEWER):
                user = await admin.create_user(
                    conn,
                    system,
                    UserCreate(email=f"bench-{role.value}@{slug}.example", roles=[role]),
                )
                key = await admin.create_api_key(conn, system, ApiKeyCreate(user_id=user.id))
                keys[role.value] = key.key
                users[role.value] = user.id
    finally:
        await database.close()
    actor = Actor(
        tenant_id=tenant.id,
        user_id=users["editor"],
        roles=frozenset({Role.EDITOR}),
        user_agent=AGENT,
    )
    return TenantAccess(tenant.id, slug, actor, keys)


@dataclass
class EntityLoad:
    """What one kind of entity cost: rows written (audit and outbox rows come on top)."""

    rows: int = 0
    seconds: float = 0.0
    events: int = 0  # outbox events (= audit rows) written with them

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class LoadedTenant:
    access: TenantAccess
    lineage: TenantLineage
    asset_ids: I64  # catalog id of each generator asset position
    field_ids: I64  # catalog id of each generator field position
    entities: dict[str, EntityLoad] = field(default_factory=dict)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


async def load_set_based(
    app_dsn: str, access: TenantAccess, lineage: TenantLineage
) -> LoadedTenant:
    """Write ``lineage`` into the catalog as ``access``'s loader user (see the module doc)."""
    actor = access.actor
    params = {"actor": actor.user_id, "agent": AGENT}
    stats = {k: EntityLoad() for k in ("assets", "fields", "relationships", "field_lineage")}
    async with await psycopg.AsyncConnection.connect(
        app_dsn, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(Q["create_stage_tables"])
        await conn.execute(
            Q["insert_field_vocab"], {"names": list(COLUMN_VOCAB), "types": list(COLUMN_TYPES)}
        )

        started = time.perf_counter()
        for lo, hi in _chunks(lineage.n_assets, _ASSET_CHUNK):
            async with conn.transaction():
                await set_tenant(conn, access.tenant_id)
                await conn.execute(Q["truncate_stage"])
                async with (
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY stage_assets (gen, type, name, qualified_name, description, metadata,"
                        " owners) FROM STDIN"
                    ) as copy,
                ):
                    for i in range(lo, hi):
                        await copy.write_row(
                            (
                                i,
                                lineage.asset_type(i),
                                lineage.names[i],
                                lineage.qualified_names[i],
                                lineage.descriptions[i],
                                json.dumps(lineage.metadata(i)),
                                lineage.owners(i),
                            )
                        )
                await conn.execute(Q["insert_assets"], params)
        stats["assets"] = EntityLoad(
            lineage.n_assets, time.perf_counter() - started, lineage.n_assets
        )

        started = time.perf_counter()
        fields_per_asset = np.bincount(lineage.field_asset, minlength=lineage.n_assets)
        ends = np.cumsum(fields_per_asset)
        bumped = 0
        lo = 0
        while lo < lineage.n_fields:
            # Whole assets per chunk: each asset's schema is written (and its version bumped)
            # in one transaction, as a schema replace does.
            hi = int(ends[np.searchsorted(ends, lo + _ROW_CHUNK, side="right") - 1])
            hi = hi if hi > lo else int(ends[np.searchsorted(ends, lo, side="right")])
            async with conn.transaction():
                await set_tenant(conn, access.tenant_id)
                await conn.execute(Q["truncate_stage"])
                data = binary_copy(
                    [
                        (np.arange(lo, hi, dtype=np.int64), "int8"),
                        (lineage.field_asset[lo:hi], "int4"),
                        (lineage.field_code[lo:hi], "int2"),
                        (lineage.field_ordinal[lo:hi], "int4"),
                    ]
                )
                await _copy_in(conn, Q["copy_stage_fields"], data)
                await conn.execute(Q["insert_fields"], params)
                cur = await conn.execute(Q["bump_assets_for_fields"], params)
                bumped += cur.rowcount
            lo = hi
        stats["fields"] = EntityLoad(
            lineage.n_fields, time.perf_counter() - started, lineage.n_fields + bumped
        )

        started = time.perf_counter()
        n_rel = len(lineage.rel_source)
        for lo, hi in _chunks(n_rel, _ROW_CHUNK):
            async with conn.transaction():
                await set_tenant(conn, access.tenant_id)
                await conn.execute(Q["truncate_stage"])
                data = binary_copy(
                    [
                        (lineage.rel_source[lo:hi], "int4"),
                        (lineage.rel_target[lo:hi], "int4"),
                        (lineage.rel_type[lo:hi], "int2"),
                    ]
                )
                await _copy_in(conn, Q["copy_stage_relationships"], data)
                await conn.execute(
                    Q["insert_relationships"], {**params, "types": list(RELATIONSHIP_TYPES)}
                )
        stats["relationships"] = EntityLoad(n_rel, time.perf_counter() - started, n_rel)

        started = time.perf_counter()
        n_lin = len(lineage.lineage_source)
        for lo, hi in _chunks(n_lin, _ROW_CHUNK):
            async with conn.transaction():
                await set_tenant(conn, access.tenant_id)
                await conn.execute(Q["truncate_stage"])
                data = binary_copy(
                    [
                        (lineage.lineage_source[lo:hi], "int8"),
                        (lineage.lineage_target[lo:hi], "int8"),
                        (lineage.lineage_type[lo:hi], "int2"),
                    ]
                )
                await _copy_in(conn, Q["copy_stage_lineage"], data)
                await conn.execute(
                    Q["insert_field_lineage"], {**params, "types": list(TRANSFORMATIONS)}
                )
        stats["field_lineage"] = EntityLoad(n_lin, time.perf_counter() - started, n_lin)

        asset_ids = _parse_map(await _copy_out(conn, Q["asset_map_rows"]), "int4")
        field_ids = _parse_map(await _copy_out(conn, Q["field_map_rows"]), "int8")
    if len(asset_ids) != lineage.n_assets or len(field_ids) != lineage.n_fields:
        raise RuntimeError("the loader wrote fewer rows than the generator produced")
    return LoadedTenant(access, lineage, asset_ids, field_ids, stats)


async def _copy_in(conn: Conn, statement: LiteralString, data: bytes) -> None:
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        view = memoryview(data)
        for start in range(0, len(view), 1 << 22):
            await copy.write(view[start : start + (1 << 22)])


async def _copy_out(conn: Conn, statement: LiteralString) -> bytes:
    chunks: list[bytes] = []
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        async for block in copy:
            chunks.append(bytes(block))
    return b"".join(chunks)


# --- the per-item path: POST /api/v1/bulk ---------------------------------------------------


@dataclass
class BulkApiLoad:
    items: int = 0
    requests: int = 0
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    entities: dict[str, int] = field(default_factory=dict)


def _bulk_requests(lineage: TenantLineage, max_items: int) -> Iterator[tuple[dict[str, Any], int]]:
    """Requests of at most ``max_items`` items (fields counting one each, as the API counts):
    assets with their columns first, then relationships, then field lineage, all by name."""
    offsets = lineage.field_offsets()
    per_asset = np.bincount(lineage.field_asset, minlength=lineage.n_assets)
    assets: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    items = 0
    for i in range(lineage.n_assets):
        cost = 1 + (1 + int(per_asset[i]) if per_asset[i] else 0)
        if items and items + cost > max_items:
            yield {"assets": assets, "fields": fields}, items
            assets, fields, items = [], [], 0
        qn = lineage.qualified_names[i]
        assets.append(
            {
                "type": lineage.asset_type(i),
                "name": lineage.names[i],
                "qualified_name": qn,
                "description": lineage.descriptions[i],
                "metadata": lineage.metadata(i),
                "owners": lineage.owners(i),
            }
        )
        if per_asset[i]:
            columns = range(int(offsets[i]), int(offsets[i] + per_asset[i]))
            fields.append(
                {
                    "asset_qualified_name": qn,
                    "fields": [
                        {
                            "name": lineage.field_name(f),
                            "data_type": COLUMN_TYPES[lineage.field_code[f]],
                        }
                        for f in columns
                    ],
                }
            )
        items += cost
    if items:
        yield {"assets": assets, "fields": fields}, items
    names = lineage.qualified_names
    relationships = [
        {
            "source_qualified_name": names[s],
            "target_qualified_name": names[t],
            "type": RELATIONSHIP_TYPES[k],
        }
        for s, t, k in zip(
            lineage.rel_source.tolist(),
            lineage.rel_target.tolist(),
            lineage.rel_type.tolist(),
            strict=True,
        )
    ]
    for start in range(0, len(relationships), max_items):
        part = relationships[start : start + max_items]
        yield {"relationships": part}, len(part)
    owner = lineage.field_asset
    lineage_items = [
        {
            "source": {"asset_qualified_name": names[owner[s]], "field": lineage.field_name(s)},
            "target": {"asset_qualified_name": names[owner[t]], "field": lineage.field_name(t)},
            "transformation": TRANSFORMATIONS[k],
        }
        for s, t, k in zip(
            lineage.lineage_source.tolist(),
            lineage.lineage_target.tolist(),
            lineage.lineage_type.tolist(),
            strict=True,
        )
    ]
    for start in range(0, len(lineage_items), max_items):
        chunk = lineage_items[start : start + max_items]
        yield {"field_lineage": chunk}, len(chunk)


async def load_via_bulk_api(
    client: httpx.AsyncClient, access: TenantAccess, lineage: TenantLineage, max_items: int
) -> BulkApiLoad:
    """Send ``lineage`` through ``POST /api/v1/bulk`` in requests of at most ``max_items``."""
    result = BulkApiLoad(
        entities={
            "assets": lineage.n_assets,
            "fields": lineage.n_fields,
            "relationships": len(lineage.rel_source),
            "field_lineage": len(lineage.lineage_source),
        }
    )
    started = time.perf_counter()
    for body, items in _bulk_requests(lineage, max_items):
        sent = time.perf_counter()
        response = await client.post("/api/v1/bulk", json=body, headers=access.headers())
        result.latencies_s.append(time.perf_counter() - sent)
        if response.status_code != 200:
            raise RuntimeError(
                f"POST /api/v1/bulk answered {response.status_code}: {response.text[:500]}"
            )
        result.items += items
        result.requests += 1
    result.seconds = time.perf_counter() - started
    return result
