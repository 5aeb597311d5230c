"""Connections, transactions scoped to one tenant, and the migration runner."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from time import monotonic
from typing import Any, Final, LiteralString, cast
from uuid import UUID
from weakref import WeakKeyDictionary

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from headwater.catalog.errors import Conflict, HeadwaterError, Unprocessable
from headwater.catalog.queries import Q
from headwater.jsoncodec import loads

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[DictRow]

# Serialises concurrent migrators (several replicas starting at once).
_MIGRATION_LOCK = 0x6865_6164_7761_7472

# A connection given back to the pool this recently is taken as alive without a round trip
# (HikariCP's aliveBypassWindowMs): under load every request would otherwise pay for one.
ALIVE_BYPASS_S: Final = 0.5


async def _configure(conn: Conn) -> None:
    # json and jsonb columns arrive decoded by orjson: the outbox tailer and the ingestion
    # planner decode thousands of states a second.
    set_json_loads(loads, conn)


class Database:
    """An async pool for the application role; every unit of work runs in one transaction."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._returned: WeakKeyDictionary[Conn, float] = WeakKeyDictionary()
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            connection_class=psycopg.AsyncConnection[DictRow],
            check=self._check,
            configure=_configure,
        )

    async def _check(self, conn: Conn) -> None:
        returned = self._returned.get(conn)
        if returned is None or monotonic() - returned > ALIVE_BYPASS_S:
            await AsyncConnectionPool.check_connection(conn)

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self, tenant_id: UUID | None = None) -> AsyncIterator[Conn]:
        """One transaction; the tenant is set for it alone (``set_config(..., true)``)."""
        try:
            async with self.pool.connection() as conn:
                try:
                    async with conn.transaction():
                        if tenant_id is not None:
                            await set_tenant(conn, tenant_id)
                        yield conn
                finally:
                    # Noted here, not in a pool reset callback: with one, psycopg_pool hands
                    # every returned connection to a background task, and under load the next
                    # request waits for it.
                    self._returned[conn] = monotonic()
        except psycopg.errors.IntegrityError as e:
            raise translate_integrity_error(e) from e
        except (psycopg.DataError, psycopg.errors.ProgramLimitExceeded) as e:
            # Values the input models let through but Postgres cannot store (a NUL character, an
            # entry too large for its index) are the client's to fix, not a server error.
            raise Unprocessable(
                f"the database refused a value: {e.diag.message_primary or e}"
            ) from e


def translate_integrity_error(e: psycopg.errors.IntegrityError) -> HeadwaterError:
    """Constraint violations that slipped past the domain checks (races) become 409/422."""
    constraint = e.diag.constraint_name or "a constraint"
    if isinstance(e, psycopg.errors.UniqueViolation):
        return Conflict(f"a concurrent write already created this entity ({constraint})")
    return Unprocessable(f"the change violates {constraint}: {e.diag.message_primary}")


async def set_tenant(conn: Conn, tenant_id: UUID) -> None:
    await conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (str(tenant_id),))


async def fetch_one(conn: Conn, query: LiteralString, params: Any = None) -> dict[str, Any] | None:
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def fetch_all(
    conn: Conn, query: LiteralString, params: Any = None, *, prepare: bool | None = None
) -> list[dict[str, Any]]:
    """``prepare=False``: planned for these very parameters every time (psycopg otherwise
    prepares a statement after five executions, and Postgres may settle on a generic plan)."""
    cur = await conn.execute(query, params, prepare=prepare)
    return await cur.fetchall()


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("headwater.catalog") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migration numbers must run 1..n without gaps, found {numbers}")
    return found


def latest_migration() -> int:
    return len(_migrations())


def migrate(admin_dsn: str) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied."""
    applied: list[str] = []
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            done = {
                row[0]: (row[1], row[2])
                for row in conn.execute("SELECT version, name, checksum FROM schema_migrations")
            }
            for number, name, text in _migrations():
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if number in done:
                    if done[number][1] != checksum:
                        raise RuntimeError(
                            f"migration {name} was edited after it was applied: "
                            "add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(cast(LiteralString, text))  # type: ignore[redundant-cast]
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (number, name, checksum),
                    )
                log.info("applied migration", extra={"migration": name})
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


async def check_role(db: Database, group: str, setting: str) -> None:
    """Refuse a connection (configured by ``setting``) whose role could do more than a member of
    ``group``: a superuser, a role that bypasses row-level security or owns tables; or one that
    is not a member, or a schema behind this build's migrations."""
    async with db.transaction() as conn:
        row = await fetch_one(conn, Q["check_runtime_role"], {"group": group})
    if row is None:
        raise RuntimeError("cannot inspect the database role")
    if row["rolsuper"] or row["rolbypassrls"] or row["owned"]:
        raise RuntimeError(
            f"{setting} connects as {row['rolname']!r}, which is a superuser, bypasses "
            f"row-level security or owns tables: connect as a member of {group} instead"
        )
    if not row["is_member"]:
        raise RuntimeError(f"role {row['rolname']!r} is not a member of {group}")
    if row["schema_version"] != latest_migration():
        raise RuntimeError(
            f"database schema is at migration {row['schema_version']}, this build needs "
            f"{latest_migration()}: run `headwater migrate`"
        )


async def check_app_role(db: Database) -> None:
    """Refuse to serve through a role that could read across tenants."""
    await check_role(db, "headwater_app", "DATABASE_URL")
