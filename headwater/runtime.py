"""Composition root: settings -> databases -> app. The only module that wires layers together."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from headwater.catalog.db import migrate
from headwater.catalog.embedded import EmbeddedPostgres
from headwater.settings import Settings
from headwater.sync.events import Sink

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
