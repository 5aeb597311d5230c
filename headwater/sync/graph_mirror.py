"""Keeping graph mirrors honest: cold start of a shared mirror, drift checks and rebuilds.

Two kinds of graph mirror exist (see :mod:`headwater.sync.worker`):

* **shared** (Neo4j; in tests, a Postgres-table mirror): one copy fed by ``headwater worker``
  processes under the sink's lease, checkpoint in ``sync_checkpoints``;
* **local** (the memory graph): one copy per ``headwater serve`` process, loaded at start and
  fed in-process from the position its load covered.

**Cold start of a shared mirror.** A new mirror is loaded from one consistent Postgres snapshot
and its checkpoint put at that snapshot's position in the same step, under the sink's lease, so
no worker tails it before it holds the snapshot and every event after the snapshot is tailed
(:func:`load_shared`). A checkpoint that is absent or at the outbox's start means "not loaded":
a load that dies half-way leaves it so, and the next worker loads again. A forced rebuild first
moves a used checkpoint back to the start (committed on its own), for the same reason.

**Drift.** A check reads Postgres in one snapshot at position P, waits until the mirror has
applied every event before P, then compares each tenant's mirror with Postgres
(:mod:`headwater.sync.reconcile`). A difference in an entity that has an outbox event after P is
*in flight* (the write is still on its way, or Postgres moved on after the snapshot) and is
reported apart, not as drift; every other difference is drift.

**Rebuild of a local mirror under traffic.** The tenant's graph is loaded from a snapshot at P and
swapped in whole; then every committed event of the tenant after P is applied to it. The
in-process sink may have applied events to the old graph just before the swap; each of them was
read below an xmin bound no greater than the one the replay reads below, so the replay covers
them all, and version guards make the overlap harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol
from uuid import UUID

from headwater.catalog.db import Conn, Database, fetch_all, fetch_one, set_tenant
from headwater.catalog.queries import Q
from headwater.graph.engine import GraphEngine
from headwater.graph.model import GraphData
from headwater.sync import tailer
from headwater.sync.events import START, Batch, Position
from headwater.sync.graph_loader import READERS, load_graphs
from headwater.sync.graph_sink import GraphSink
from headwater.sync.reconcile import (
    Difference,
    DriftReport,
    Kind,
    TenantDrift,
    differences,
    sizes,
    tenant_drift,
)
from headwater.sync.worker import SinkRunner

__all__ = [
    "Loaded",
    "LocalGraphMirror",
    "MirrorStore",
    "Rebuilt",
    "SharedGraphSink",
    "check_shared",
    "load_shared",
]

log = logging.getLogger(__name__)

# The outbox's entity_type for each kind of graph entity.
ENTITY_TYPES: Final[Mapping[Kind, str]] = {
    "asset": "asset",
    "field": "schema_field",
    "relationship": "relationship",
    "field_lineage": "field_lineage",
}
_KIND_OF: Final[Mapping[str, Kind]] = {v: k for k, v in ENTITY_TYPES.items()}


class MirrorStore(Protocol):
    """What reconcile needs of a mirror: replace a tenant's graph, and read it back whole.
    Every :class:`~headwater.graph.engine.GraphEngine` is one."""

    async def load(
        self, tenant_id: UUID, data: GraphData, *, position: str | None = None
    ) -> None: ...

    async def snapshot(self, tenant_id: UUID) -> GraphData: ...


# --- reading Postgres -----------------------------------------------------------------------------


async def tenant_ids(conn: Conn) -> list[UUID]:
    """Every tenant the connection may see (all of them for the worker role)."""
    return [row["id"] for row in await fetch_all(conn, Q["reconcile_tenant_ids"])]


async def checkpoint(conn: Conn, sink: str) -> Position | None:
    """A shared sink's checkpoint, None when it has none yet."""
    row = await fetch_one(conn, Q["get_checkpoint"], {"sink": sink})
    return None if row is None else Position(int(row["txid"]), row["event_id"])


async def _set_checkpoint(conn: Conn, sink: str, position: Position) -> None:
    await conn.execute(
        Q["reconcile_set_checkpoint"],
        {"sink": sink, "txid": str(position.txid), "event_id": position.event_id},
    )


async def _behind(conn: Conn, mirror: Position, snapshot: Position) -> bool:
    row = await fetch_one(
        conn,
        Q["reconcile_events_between"],
        {
            "after_txid": str(mirror.txid),
            "after_id": mirror.event_id,
            "before_txid": str(snapshot.txid),
        },
    )
    return bool(row and row["behind"])


async def wait_caught_up(
    database: Database,
    mirror_position: Callable[[Conn], Awaitable[Position | None]],
    snapshot: Position,
    wait: float,
    tenant_id: UUID | None = None,
) -> tuple[Position | None, bool]:
    """Wait up to ``wait`` seconds for the mirror to apply every event before ``snapshot``
    (only the tenant's events when ``tenant_id`` is given). Returns where the mirror stood and
    whether it got there."""
    deadline = time.monotonic() + wait
    delay = 0.02
    while True:
        async with database.transaction(tenant_id) as conn:
            position = await mirror_position(conn)
            behind = position is None or await _behind(conn, position, snapshot)
        if not behind:
            return position, True
        if time.monotonic() >= deadline:
            return position, False
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)


async def changed_since(
    conn: Conn, tenant_id: UUID, position: Position, found: Sequence[Difference]
) -> set[tuple[Kind, int]]:
    """The differing entities that have an outbox event after ``position``."""
    if not found:
        return set()
    rows = await fetch_all(
        conn,
        Q["reconcile_changed_since"],
        {
            "tenant_id": tenant_id,
            "txid": str(position.txid),
            "event_id": position.event_id,
            "entity_types": sorted({ENTITY_TYPES[d.kind] for d in found}),
            "entity_ids": sorted({d.id for d in found}),
        },
    )
    return {(_KIND_OF[r["entity_type"]], int(r["entity_id"])) for r in rows}


async def _judge(
    database: Database,
    tenant_id: UUID,
    postgres: GraphData,
    mirror: GraphData,
    position: Position,
    examples: int,
) -> TenantDrift:
    found = differences(postgres, mirror)
    flying: set[tuple[Kind, int]] = set()
    if found:
        async with database.transaction(tenant_id) as conn:
            flying = await changed_since(conn, tenant_id, position, found)
    return tenant_drift(tenant_id, postgres, mirror, found, in_flight=flying, examples=examples)


@asynccontextmanager
async def _tenant_snapshot(
    database: Database, tenant_id: UUID
) -> AsyncIterator[tuple[Conn, Position]]:
    """A consistent snapshot seen as one tenant (the application role's row-level security)."""
    async with tailer.consistent_snapshot(database) as (conn, position):
        await set_tenant(conn, tenant_id)
        yield conn, position


# --- shared mirrors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A shared mirror loaded from one snapshot: its position, and the states written."""

    sink: str
    position: Position
    tenants: int
    states: Mapping[Kind, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "position": str(self.position),
            "tenants": self.tenants,
            "loaded": dict(self.states),
            "seconds": self.seconds,
        }


async def _load_all(database: Database, sink: str, store: MirrorStore) -> Loaded:
    started = time.perf_counter()
    async with tailer.shared_snapshot(database, READERS) as (readers, position):
        loaded = await load_graphs(readers)
        tenants = await tenant_ids(readers[0])
    totals: dict[Kind, int] = {}
    for tenant_id in tenants:
        data = loaded.tenants.get(tenant_id, GraphData())
        await store.load(tenant_id, data, position=str(position))
        for kind, count in sizes(data).items():
            totals[kind] = totals.get(kind, 0) + count
    return Loaded(sink, position, len(tenants), totals, round(time.perf_counter() - started, 3))


async def load_shared(
    database: Database, sink: str, store: MirrorStore, *, force: bool, poll: float = 0.2
) -> Loaded | None:
    """Load a shared mirror from one snapshot and put its checkpoint there, under the sink's
    lease. Without ``force``, only a mirror whose checkpoint is absent or at the outbox's start
    is loaded. Returns what was loaded, None when nothing was done. ``database``: the
    worker role (it reads every tenant and owns the checkpoints)."""
    waiting_since = time.monotonic()
    while True:
        async with database.transaction() as lease:
            if await tailer.try_lease(lease, sink):
                current = await checkpoint(lease, sink)
                if not force and current not in (None, START):
                    return None
                if current not in (None, START):
                    # Committed now, outside the lease's transaction: should this load die
                    # half-way, the next worker finds "not loaded" and loads again.
                    async with database.transaction() as conn:
                        await _set_checkpoint(conn, sink, START)
                loaded = await _load_all(database, sink, store)
                await _set_checkpoint(lease, sink, loaded.position)
                log.info("graph mirror loaded from a snapshot", extra=loaded.as_dict())
                return loaded
        if time.monotonic() - waiting_since > 30:
            log.info("waiting for another process to release the sink", extra={"sink": sink})
            waiting_since = time.monotonic()
        await asyncio.sleep(poll)


async def check_shared(
    database: Database, sink: str, store: MirrorStore, *, wait: float = 30.0, examples: int = 10
) -> DriftReport:
    """Compare a shared mirror with Postgres for every tenant Postgres knows (``database``: the
    worker role), once the sink's checkpoint has caught up with the snapshot compared."""
    async with tailer.shared_snapshot(database, READERS) as (readers, position):
        loaded = await load_graphs(readers)
        tenants = await tenant_ids(readers[0])

    async def where(conn: Conn) -> Position | None:
        return await checkpoint(conn, sink)

    mirror_position, caught_up = await wait_caught_up(database, where, position, wait)
    drifts = [
        await _judge(
            database,
            tenant_id,
            loaded.tenants.get(tenant_id, GraphData()),
            await store.snapshot(tenant_id),
            position,
            examples,
        )
        for tenant_id in tenants
    ]
    return DriftReport(
        sink,
        str(position),
        None if mirror_position is None else str(mirror_position),
        caught_up,
        tuple(drifts),
    )


class SharedGraphSink(GraphSink):
    """A graph sink whose mirror outlives the worker (Neo4j): before it tails, a new mirror is
    loaded from a snapshot (:func:`load_shared`). ``setup`` runs first (connectivity, schema)."""

    def __init__(
        self,
        engine: GraphEngine,
        name: str | None = None,
        *,
        setup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(engine, name)
        self._setup = setup

    async def setup(self) -> None:
        """Make the engine usable (reachable, schema in place)."""
        if self._setup is not None:
            await self._setup()

    async def bootstrap(self, database: Database) -> None:
        """Run by the worker before it tails. A failure stops the worker (its supervisor
        restarts it), so the engine is closed on the way out."""
        try:
            await self.setup()
            await load_shared(database, self.name, self.engine, force=False)
        except BaseException:
            await self.engine.close()
            raise


# --- local mirrors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rebuilt:
    """A tenant's graph reloaded from a snapshot, and the events replayed after it."""

    sink: str
    tenant_id: UUID
    position: str
    loaded: Mapping[Kind, int]
    replayed_events: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "tenant_id": str(self.tenant_id),
            "position": self.position,
            "loaded": dict(self.loaded),
            "replayed_events": self.replayed_events,
            "seconds": self.seconds,
        }


class LocalGraphMirror:
    """The graph this process serves and feeds itself, checked and rebuilt one tenant at a time.

    ``database`` reads Postgres as the tenant (the application role, so row-level security keeps
    every read inside it); ``runner`` is the in-process sink feeding ``engine``.
    """

    def __init__(
        self,
        engine: GraphEngine,
        database: Database,
        runner: SinkRunner,
        *,
        replay_batch: int = 1000,
    ) -> None:
        self.engine = engine
        self.sink = runner.name
        self._database = database
        self._runner = runner
        self._replay_batch = replay_batch

    async def drift(
        self, tenant_id: UUID, *, wait: float = 10.0, examples: int = 10
    ) -> DriftReport:
        async with _tenant_snapshot(self._database, tenant_id) as (conn, position):
            postgres = (await load_graphs([conn])).tenants.get(tenant_id, GraphData())

        async def where(_: Conn) -> Position:
            return await self._runner.applied_position()

        mirror_position, caught_up = await wait_caught_up(
            self._database, where, position, wait, tenant_id
        )
        judged = await _judge(
            self._database,
            tenant_id,
            postgres,
            await self.engine.snapshot(tenant_id),
            position,
            examples,
        )
        return DriftReport(
            self.sink,
            str(position),
            None if mirror_position is None else str(mirror_position),
            caught_up,
            (judged,),
        )

    async def rebuild(self, tenant_id: UUID) -> Rebuilt:
        started = time.perf_counter()
        async with _tenant_snapshot(self._database, tenant_id) as (conn, position):
            data = (await load_graphs([conn])).tenants.get(tenant_id, GraphData())
        await self.engine.load(tenant_id, data, position=str(position))
        replay = GraphSink(self.engine, self.sink)
        after, replayed = position, 0
        while True:
            async with self._database.transaction(tenant_id) as conn:
                events = await tailer.read_batch(conn, after, self._replay_batch)
                if events:
                    await replay.apply(Batch(tuple(events), conn))
            if not events:
                break
            replayed += len(events)
            after = events[-1].position
        log.info(
            "graph rebuilt from a snapshot",
            extra={"sink": self.sink, "tenant": str(tenant_id), "replayed": replayed},
        )
        return Rebuilt(
            self.sink,
            tenant_id,
            str(position),
            sizes(data),
            replayed,
            round(time.perf_counter() - started, 3),
        )
