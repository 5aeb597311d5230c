"""Composition root: settings -> databases -> app. The only module that wires layers together."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal
from uuid import UUID

import uvicorn
from fastapi import FastAPI
from neo4j import AsyncDriver, AsyncGraphDatabase
from neo4j.exceptions import DriverError, Neo4jError

from headwater.aio import stop_task
from headwater.api.app import create_app
from headwater.api.mirrors import MirrorAdmin
from headwater.catalog.db import Database, check_app_role, migrate
from headwater.catalog.embedded import EmbeddedPostgres
from headwater.graph.engine import GraphEngine
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.neo4j_engine import GraphBackendError, Neo4jGraphEngine
from headwater.ingest.tasks import RunnerConfig, TaskRunner
from headwater.search import mirrors as search_mirrors
from headwater.search.embeddings import Embedder
from headwater.settings import Settings
from headwater.sync.events import Sink
from headwater.sync.graph_loader import load_snapshot
from headwater.sync.graph_mirror import LocalGraphMirror, SharedGraphSink
from headwater.sync.graph_sink import GraphSink
from headwater.sync.worker import SyncWorker, WorkerConfig, check_worker_role

log = logging.getLogger(__name__)


GC_YOUNG_THRESHOLD: Final = 10_000


class AppServer(uvicorn.Server):
    """uvicorn for a process that serves one app (``serve``, the bench's API server): once the
    app has started, everything alive (modules, routes, models, the loaded graph's objects) is
    moved out of the garbage collector's sight with ``gc.freeze``. A full collection then walks
    the garbage of requests, not ~175k long-lived objects (~95 ms, landing on every other large
    impact report, down to ~6 ms). The youngest generation is collected every 10,000 allocations
    instead of 700: a batch ingestion allocates hundreds of thousands of short-lived objects
    with few cycles (0.1 ms of CPU less per ingested event). Not for processes that build many
    apps (tests): frozen objects in reference cycles are never collected."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


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
    sinks: list[Sink] = []
    if settings.neo4j_uri is not None:
        sinks.append(neo4j_graph_sink(settings))
    sinks.extend(search_mirrors.shared_search_sinks(settings))
    return sinks


def neo4j_graph_sink(settings: Settings) -> SharedGraphSink:
    """The graph sink of the shared Neo4j mirror; a new mirror is loaded from a snapshot before
    it tails (see headwater/sync/graph_mirror.py)."""
    engine, driver = neo4j_engine(settings)

    async def setup() -> None:
        await neo4j_reachable(driver, settings)
        await engine.ensure_schema()

    return SharedGraphSink(engine, setup=setup)


def graph_backend(settings: Settings) -> Literal["memory", "neo4j"]:
    """Where lineage is read from and which process feeds it: the memory graph inside each
    `headwater serve`, or Neo4j (NEO4J_URI) fed by `headwater worker`."""
    return "memory" if settings.neo4j_uri is None else "neo4j"


def neo4j_engine(settings: Settings) -> tuple[Neo4jGraphEngine, AsyncDriver]:
    """The Neo4j engine and its driver (which connects lazily, on first use)."""
    if settings.neo4j_uri is None:
        raise ValueError("NEO4J_URI is not set")
    password = settings.neo4j_password
    auth = None if password is None else (settings.neo4j_user, password.get_secret_value())
    driver = AsyncGraphDatabase.driver(settings.neo4j_uri, auth=auth)
    return Neo4jGraphEngine(driver, database=settings.neo4j_database), driver


async def neo4j_reachable(driver: AsyncDriver, settings: Settings) -> None:
    """Fail at once on an unreachable server or rejected credentials (transaction retries would
    otherwise spend half a minute on them)."""
    try:
        await driver.verify_connectivity()
    except (Neo4jError, DriverError) as e:
        raise GraphBackendError(f"Neo4j at {settings.neo4j_uri} is not reachable: {e}") from e


class _MirrorAdmin:
    """The admin API's view of the in-process memory graph (JSON reports)."""

    def __init__(self, mirror: LocalGraphMirror) -> None:
        self._mirror = mirror

    async def drift(self, tenant_id: UUID, *, wait: float, examples: int) -> Mapping[str, Any]:
        return (await self._mirror.drift(tenant_id, wait=wait, examples=examples)).as_dict()

    async def rebuild(self, tenant_id: UUID) -> Mapping[str, Any]:
        return (await self._mirror.rebuild(tenant_id)).as_dict()


@asynccontextmanager
async def embedded_mirrors(
    settings: Settings,
    worker_dsn: str,
    engine: GraphEngine,
    admin: tuple[Database, dict[str, MirrorAdmin]] | None = None,
) -> AsyncIterator[None]:
    """The in-process mirrors of the embedded defaults: load every tenant's graph from one
    snapshot, then tail the outbox from that snapshot's position into the engine. ``admin``:
    the app's database and registry, to expose the graph to the admin sync endpoints."""
    database = Database(worker_dsn, min_size=1, max_size=3)
    await database.open()
    try:
        await check_worker_role(database)
        started = time.perf_counter()
        loaded, position = await load_snapshot(database)
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
        runner = worker.add_local_sink(GraphSink(engine), position)
        if admin is not None:
            app_database, registry = admin
            registry["graph"] = _MirrorAdmin(LocalGraphMirror(engine, app_database, runner))
        task = asyncio.create_task(worker.run(), name="embedded-sync")
        try:
            yield
        finally:
            await stop_task(task)
    finally:
        await database.close()


def _search_mirrors(
    settings: Settings, worker_dsn: str | None, embedder: Embedder | None
) -> search_mirrors.SearchMirrors | None:
    if worker_dsn is None:
        log.warning(
            "search is off: its mirrors are fed as the worker role, and "
            "HEADWATER_WORKER_DATABASE_URL is not set"
        )
        return None
    return search_mirrors.open_mirrors(settings, embedder=embedder)


Background = Callable[[], AbstractAsyncContextManager[None]]


def _with_search(
    background: Background,
    mirrors: search_mirrors.SearchMirrors | None,
    settings: Settings,
    worker_dsn: str | None,
) -> Background:
    """``background`` plus the search mirrors' sync loop (and their closing) when they run."""
    if mirrors is None or worker_dsn is None:
        return background

    @asynccontextmanager
    async def both() -> AsyncIterator[None]:
        async with background(), search_mirrors.running(mirrors, settings, worker_dsn):
            yield

    return both


def build_app(
    settings: Settings,
    app_dsn: str,
    worker_dsn: str | None,
    *,
    search: bool = True,
    embedder: Embedder | None = None,
) -> FastAPI:
    """The API with the memory graph, kept current in-process when a worker DSN is known; with
    NEO4J_URI, lineage is read from Neo4j, which `headwater worker` keeps current."""
    # Search mirrors run in every serving process (tests opt in: ``search``); ``embedder``
    # shares a loaded model (it takes seconds to load), else one is loaded here.
    found = _search_mirrors(settings, worker_dsn, embedder) if search else None
    if graph_backend(settings) == "neo4j":
        database = Database(app_dsn, max_size=settings.db_pool_max)
        return _neo4j_app(settings, database, found, worker_dsn)
    if worker_dsn is None:
        raise RuntimeError(
            "serving lineage from the in-process graph needs HEADWATER_WORKER_DATABASE_URL (a "
            "member of headwater_worker) to load it and keep it current"
        )
    engine = MemoryGraphEngine()
    database = Database(app_dsn, max_size=settings.db_pool_max)

    def background() -> AbstractAsyncContextManager[None]:
        # Called when the app starts: the mirrors register in the registry the endpoints read.
        registry: dict[str, MirrorAdmin] = app.state.headwater.mirrors
        return embedded_mirrors(settings, worker_dsn, engine, (database, registry))

    app = create_app(
        settings,
        database,
        engine,
        background=_with_tasks(
            _with_search(background, found, settings, worker_dsn), settings, app_dsn, worker_dsn
        ),
        search=None if found is None else found.hybrid(),
    )
    app.state.search_mirrors = found
    return app


def serve_runs_tasks(settings: Settings) -> bool:
    """`serve` runs the background task runner on the embedded defaults, or when told to
    (HEADWATER_TASK_RUNNER); a deployment on servers runs it in `headwater worker`."""
    return settings.embedded_postgres if settings.task_runner is None else settings.task_runner


def _with_tasks(
    background: Background, settings: Settings, app_dsn: str, worker_dsn: str
) -> Background:
    """``background`` plus the task runner when this `serve` runs it."""
    if not serve_runs_tasks(settings):
        return background

    @asynccontextmanager
    async def both() -> AsyncIterator[None]:
        async with background(), task_runner(settings, app_dsn, worker_dsn):
            yield

    return both


@asynccontextmanager
async def task_runner(
    settings: Settings, app_dsn: str, worker_dsn: str
) -> AsyncIterator[asyncio.Task[None]]:
    """The background task runner (bulk ingestion), running while the context is open: it finds
    tasks across tenants as the worker role and does their work as the application role, in
    transactions bound to each task's tenant. Yields the runner's asyncio task."""
    config = RunnerConfig.from_settings(settings)
    # Per task slot: its work's transaction and its progress reports.
    app_database = Database(app_dsn, min_size=1, max_size=2 * config.concurrency + 1)
    worker_database = Database(worker_dsn, min_size=1, max_size=2)
    await app_database.open()
    try:
        await worker_database.open()
        try:
            await check_app_role(app_database)
            await check_worker_role(worker_database)
            runner = TaskRunner(app_database, worker_database, config, listen_dsn=worker_dsn)
            running = asyncio.create_task(runner.run(), name="task-runner")
            try:
                yield running
            finally:
                await stop_task(running)
        finally:
            await worker_database.close()
    finally:
        await app_database.close()


async def run_task_runner(settings: Settings, app_dsn: str, worker_dsn: str) -> None:
    """The task runner of `headwater worker`, until cancelled."""
    async with task_runner(settings, app_dsn, worker_dsn) as running:
        await running


def _neo4j_app(
    settings: Settings,
    database: Database,
    found: search_mirrors.SearchMirrors | None = None,
    worker_dsn: str | None = None,
) -> FastAPI:
    engine, driver = neo4j_engine(settings)

    @asynccontextmanager
    async def connected() -> AsyncIterator[None]:
        try:
            await neo4j_reachable(driver, settings)
            yield
        finally:
            await engine.close()

    return create_app(
        settings,
        database,
        engine,
        background=_with_search(connected, found, settings, worker_dsn),
        search=None if found is None else found.hybrid(),
    )
