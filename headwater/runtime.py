"""Composition root: settings -> databases -> app. The only module that wires layers together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass

from fastapi import FastAPI

from headwater.api.app import create_app
from headwater.catalog.db import Database, migrate
from headwater.catalog.embedded import EmbeddedPostgres
from headwater.graph.engine import GraphEngine
from headwater.graph.memory import MemoryGraphEngine
from headwater.settings import Settings
from headwater.sync.events import Sink
from headwater.sync.graph_loader import load_graphs
from headwater.sync.graph_sink import GraphSink
from headwater.sync.tailer import consistent_snapshot
from headwater.sync.worker import SyncWorker, WorkerConfig, check_worker_role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Databases:
    app_dsn: str
    admin_dsn: str | None
    embedded: bool
    # The sync worker's role (HEADWATER_WORKER_DATABASE_URL; derived when embedded).
    worker_dsn: str | None = None


@contextmanager
def databases(settings: Settings, *, apply_migrations: bool = True) -> Iterator[Databases]:
    """The embedded cluster when DATABASE_URL is unset (started here, stopped on exit), else the
    configured server. Pending migrations are applied whenever an owner DSN is known."""
    if settings.database_url is not None:
        admin_dsn = settings.admin_database_url
        if apply_migrations and admin_dsn is not None:
            migrate(admin_dsn)
        yield Databases(
            settings.database_url,
            admin_dsn,
            embedded=False,
            worker_dsn=settings.worker_database_url,
        )
        return
    cluster = EmbeddedPostgres(settings.postgres_dir)
    cluster.start()
    try:
        if apply_migrations:
            migrate(cluster.admin_dsn)
            cluster.allow_app_login()
        yield Databases(
            cluster.app_dsn, cluster.admin_dsn, embedded=True, worker_dsn=cluster.worker_dsn
        )
    finally:
        cluster.stop()


def shared_sinks(settings: Settings) -> list[Sink]:
    """The sinks whose mirrors live outside any one process: what `headwater worker` runs, each
    under a lease so several workers can run. Embedded mirrors (the memory graph) are per process
    and are fed inside `headwater serve` instead."""
    if settings.neo4j_uri is not None:
        raise RuntimeError(
            "NEO4J_URI is set, but `headwater worker` cannot build the Neo4j graph sink: "
            "no Neo4j credentials settings exist yet"
        )
    return []


@asynccontextmanager
async def embedded_mirrors(
    settings: Settings, worker_dsn: str, engine: GraphEngine
) -> AsyncIterator[None]:
    """The in-process mirrors of the embedded defaults: load every tenant's graph from one
    snapshot, then tail the outbox from that snapshot's position into the engine."""
    database = Database(worker_dsn, min_size=1, max_size=3)
    await database.open()
    try:
        await check_worker_role(database)
        started = time.perf_counter()
        async with consistent_snapshot(database) as (conn, position):
            loaded = await load_graphs(conn)
        for tenant_id, data in loaded.tenants.items():
            await engine.load(tenant_id, data, position=str(position))
        log.info(
            "graph loaded",
            extra={
                "tenants": len(loaded.tenants),
                "edges": loaded.edges,
                "seconds": round(time.perf_counter() - started, 3),
                "position": str(position),
            },
        )
        config = WorkerConfig(
            batch_size=settings.worker_batch_size,
            poll_interval=settings.worker_poll_interval,
            backoff_initial=settings.worker_backoff_initial,
            backoff_max=settings.worker_backoff_max,
        )
        worker = SyncWorker(database, config, listen_dsn=worker_dsn)
        worker.add_local_sink(GraphSink(engine), position)
        task = asyncio.create_task(worker.run(), name="embedded-sync")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
    finally:
        await database.close()


def build_app(settings: Settings, app_dsn: str, worker_dsn: str | None) -> FastAPI:
    """The API with the memory graph, kept current in-process when a worker DSN is known."""
    if worker_dsn is None:
        raise RuntimeError(
            "serving lineage from the in-process graph needs HEADWATER_WORKER_DATABASE_URL (a "
            "member of headwater_worker) to load it and keep it current"
        )
    engine = MemoryGraphEngine()
    database = Database(app_dsn, max_size=settings.db_pool_max)
    return create_app(
        settings,
        database,
        engine,
        background=lambda: embedded_mirrors(settings, worker_dsn, engine),
    )
