"""Fixtures: a throwaway PostgreSQL cluster per test session, a fresh database per test.

The cluster is the same embedded PostgreSQL that ``headwater serve`` runs; each test database is
cloned from a migrated template, so tests are isolated and cheap.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from psycopg import sql

from headwater.catalog import admin
from headwater.catalog.admin import ApiKeyCreate, UserCreate
from headwater.catalog.context import Actor, Role
from headwater.catalog.db import Database, migrate
from headwater.catalog.embedded import SUPERUSER, EmbeddedPostgres
from headwater.runtime import build_app
from headwater.search.embeddings import Embedder
from headwater.settings import Settings

TEMPLATE = "hw_template"
# The repository: on PYTHONPATH of the processes tests start, which import ``tests.*`` helpers.
ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """The CLI configures the root logger with a handler on the sys.stderr of its time, which
    under pytest is a capture that closes with the test: later records would fail to print."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    cluster.start()
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    migrate(cluster.dsn(SUPERUSER, TEMPLATE))
    cluster.allow_app_login(TEMPLATE)
    yield cluster
    cluster.stop()


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # a fixture value, not a test class

    name: str
    admin_dsn: str
    app_dsn: str
    # The sync worker's role (headwater_worker, given LOGIN by allow_app_login on the template).
    worker_dsn: str

    def process_env(self, data_dir: Path, log_level: str = "WARNING") -> dict[str, str]:
        """The environment of a `headwater` process run against this database: the caller's,
        less any Headwater, Neo4j or Elasticsearch setting, so only the embedded engines run."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NEO4J_", "HEADWATER_")) and k != "ELASTICSEARCH_URL"
        }
        return env | {
            "DATABASE_URL": self.app_dsn,
            "HEADWATER_WORKER_DATABASE_URL": self.worker_dsn,
            "HEADWATER_DATA_DIR": str(data_dir),
            "HEADWATER_LOG_LEVEL": log_level,
            "PYTHONPATH": str(ROOT),
        }


@pytest.fixture
def test_db(pg_cluster: EmbeddedPostgres, request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    name = f"hw_test_{next(_counter)}"
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    test_db = TestDatabase(
        name,
        pg_cluster.dsn(SUPERUSER, name),
        pg_cluster.dsn("headwater_app", name),
        pg_cluster.dsn("headwater_worker", name),
    )
    yield test_db
    if request.node.get_closest_marker("edits_rows_directly") is None:
        assert_logs_match_rows(test_db)
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def table_row_counts(test_db: TestDatabase) -> dict[str, int]:
    """Rows in every table of the schema, listed from the catalog: a new table is counted too."""
    with psycopg.connect(test_db.admin_dsn) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        counts: dict[str, int] = {}
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            assert row is not None
            counts[table] = row[0]
    return counts


_LOGGED_TABLES: Final = {
    "asset": "assets",
    "schema_field": "schema_fields",
    "relationship": "relationships",
    "field_lineage": "field_lineage",
}
# Audited but not mirrored: no outbox events.
_AUDITED_TABLES: Final = {
    **_LOGGED_TABLES,
    "tag": "tags",
    "tenant": "tenants",
    "user": "users",
    "api_key": "api_keys",
}
# Kept elsewhere (an asset's tags are their own entities) or set by the database.
_UNCOMPARED: Final = frozenset({"tags", "created_by", "updated_by"})


def _differences(state: dict[str, Any], row: dict[str, Any]) -> list[str]:
    found = []
    for key, value in state.items():
        if key in _UNCOMPARED or key not in row:
            continue
        if key.endswith("_at"):
            # Times: only whether one is set (a deletion, a revocation) is the logged change;
            # the database sets the values, and uses (a key's last use) are not changes.
            if key in ("deleted_at", "revoked_at") and (value is None) != (row[key] is None):
                found.append(f"{key} {value!r} but the row's {row[key]!r}")
        elif value != row[key]:
            found.append(f"{key} {value!r:.80} but the row's {row[key]!r:.80}")
    return found


def assert_logs_match_rows(test_db: TestDatabase) -> None:
    """The last audit row and the last outbox event of every asset, field, relationship and
    column edge hold the entity's row as it is, or say it is gone, and no row goes unlogged: what
    the audit log shows as the latest state, and what the sinks end up holding. Checked after
    every test that used a database, so a write path that commits a row without logging it as it
    is fails whichever test took it."""
    wrong: list[tuple[str, str, str, list[str]]] = []
    with psycopg.connect(test_db.admin_dsn) as conn:
        rows = {
            entity_type: {
                str(entity_id): state
                for entity_id, state in conn.execute(
                    sql.SQL("SELECT id, to_jsonb(t) FROM {} t").format(sql.Identifier(table))
                )
            }
            for entity_type, table in _AUDITED_TABLES.items()
        }
        for log, kind, state_column, tables in (
            ("audits", "action", "after", _AUDITED_TABLES),
            ("outbox", "event_type", "payload", _LOGGED_TABLES),
        ):
            last = conn.execute(
                sql.SQL(
                    """SELECT DISTINCT ON (entity_type, entity_id) entity_type,
                              entity_id::text, {kind}, {state}, {entity_version}
                         FROM {log} WHERE entity_type = ANY(%s)
                        ORDER BY entity_type, entity_id, id DESC"""
                ).format(
                    kind=sql.Identifier(kind),
                    state=sql.Identifier(state_column),
                    entity_version=sql.SQL("entity_version" if log == "outbox" else "NULL"),
                    log=sql.Identifier(log),
                ),
                (list(tables),),
            ).fetchall()
            logged: set[tuple[str, str]] = set()
            for entity_type, entity_id, change, state, version in last:
                logged.add((entity_type, entity_id))
                row = rows[entity_type].get(entity_id)
                where = (log, entity_type, entity_id)
                if row is None:
                    # Hard-deleted (a field, or lineage that went with one): the log says it is
                    # gone; a column edge deleted before its field went stays logged as deleted.
                    # The outbox says so by its event type, as the sinks read it.
                    gone = (
                        change.endswith(".deleted")
                        if log == "outbox"
                        else (
                            change.endswith(".delete")
                            or state is None
                            or state.get("deleted_at") is not None
                        )
                    )
                    if not gone:
                        wrong.append((*where, ["the row is gone, the log holds it live"]))
                    continue
                if state is None:
                    wrong.append((*where, ["the log says gone, the row is there"]))
                    continue
                problems = _differences(state, row)
                if version is not None and version != row["version"]:
                    problems.append(f"event version {version} but the row's {row['version']}")
                if problems:
                    wrong.append((*where, problems))
            for entity_type in tables:
                by_id = rows[entity_type]
                for entity_id in by_id.keys() - {i for t, i in logged if t == entity_type}:
                    wrong.append((log, entity_type, entity_id, ["a row that was never logged"]))
    assert not wrong, wrong[:10]


@pytest.fixture
def settings(test_db: TestDatabase, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, database_url=test_db.app_dsn, admin_database_url=test_db.admin_dsn
    )


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url is not None
    db = Database(settings.database_url, max_size=4)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def worker_db(test_db: TestDatabase) -> AsyncIterator[Database]:
    """A pool on the sync worker's role: reads the outbox across tenants and loads graphs."""
    db = Database(test_db.worker_dsn, max_size=6)
    await db.open()
    yield db
    await db.close()


@dataclass(frozen=True)
class TenantKeys:
    """A tenant with one user and key per role."""

    tenant_id: UUID
    admin: str
    editor: str
    viewer: str
    admin_user_id: int

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


async def make_tenant(database: Database, slug: str) -> TenantKeys:
    async with database.transaction() as conn:
        tenant = await admin.create_tenant(conn, slug, slug.title(), {})
        actor = Actor(tenant_id=tenant.id, user_id=None)
        keys: dict[str, str] = {}
        user_ids: dict[str, int] = {}
        for role in (Role.ADMIN, Role.EDITOR, Role.VIEWER):
            user = await admin.create_user(
                conn, actor, UserCreate(email=f"{role.value}@{slug}.test", roles=[role])
            )
            key = await admin.create_api_key(conn, actor, ApiKeyCreate(user_id=user.id))
            keys[role.value] = key.key
            user_ids[role.value] = user.id
    return TenantKeys(tenant.id, keys["admin"], keys["editor"], keys["viewer"], user_ids["admin"])


@pytest.fixture
async def tenant(database: Database) -> TenantKeys:
    return await make_tenant(database, "acme")


@pytest.fixture
async def other_tenant(database: Database) -> TenantKeys:
    return await make_tenant(database, "globex")


@pytest.fixture
async def client(settings: Settings, test_db: TestDatabase) -> AsyncIterator[httpx.AsyncClient]:
    """The API as ``headwater serve`` builds it: the memory graph kept current in-process. The
    search mirrors are left out (``search_client`` has them): embedding every write would slow
    down the tests that do not search."""
    assert settings.database_url is not None
    app = build_app(
        settings.model_copy(update={"db_pool_max": 8}),
        test_db.app_dsn,
        test_db.worker_dsn,
        search=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    """all-MiniLM-L6-v2, loaded once per session (it takes seconds); its cache is in memory."""
    model = Embedder()
    yield model
    model.close()


@pytest.fixture
async def search_app(
    settings: Settings, test_db: TestDatabase, embedder: Embedder
) -> AsyncIterator[FastAPI]:
    """The app exactly as ``headwater serve`` builds it, search mirrors included: tantivy and
    milvus-lite under the test's data directory, fed from the outbox in-process."""
    app = build_app(
        settings.model_copy(update={"db_pool_max": 8}),
        test_db.app_dsn,
        test_db.worker_dsn,
        embedder=embedder,
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def search_client(search_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=search_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@contextmanager
def serving_in_a_thread(app: FastAPI, timeout: float = 30) -> Iterator[str]:
    """uvicorn serving ``app`` on a free local port in a daemon thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            assert thread.is_alive(), "the server thread died while starting"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
        sock.close()
