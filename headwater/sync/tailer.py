"""Reading the outbox without gaps, and the per-sink checkpoints and leases.

Why the tailer never skips an event
-----------------------------------
Every outbox row carries ``txid``, the id of the transaction that wrote it
(``pg_current_xact_id()``, a 64-bit xid8 that never wraps). A read returns only events with

    (txid, id) > checkpoint   AND   txid < pg_snapshot_xmin(pg_current_snapshot())

ordered by ``(txid, id)``, and the checkpoint then moves to the last event returned.

``xmin`` is the oldest transaction still running when the statement's snapshot was taken. Every
transaction below it has finished, committed or aborted, and the same snapshot is the one the
read sees rows through, so every event below the bound that will ever exist is already visible to
this read. A transaction that has not committed yet has, or will be given, an id of at least
``xmin``. Hence an event can appear in the outbox only above the bound, and so above any
checkpoint the tailer could have reached: no event is ever passed over. A transaction's events
become visible together, and the ``id`` tie-break orders them, so a batch may end in the middle
of a transaction and the next one resumes there.

``(txid, id)`` is a total order that every worker agrees on, but it is the order in which writers
obtained their transaction ids, not strictly the order they committed: a writer that took its id
early and locked an entity late can deliver version n+1 of it before another writer's version n.
That is why sinks compare ``entity_version`` and keep the newer state, whatever the arrival order.

Why ``id > last_id`` loses events: identity values are handed out when a row is inserted, but a
row becomes visible when its transaction commits. T1 inserts id 10 and stays open; T2 inserts
id 11 and commits; a tailer reads 11 and remembers 11; T1 commits; every later read asks for
``id > 11`` and never returns id 10. The xmin bound above is exactly what stops the tailer at 10.

The price: an open transaction holds every later event back until it ends, so a transaction left
open for minutes stalls the mirrors for minutes (visible as ``headwater_sync_seconds_behind``).
The worker's own batches therefore never hold a transaction id while they apply: the lease is a
transaction-scoped advisory lock, which needs none, and the only write is the final checkpoint
update. Read the primary, not a replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import PoolTimeout

from headwater.catalog.db import Conn, Database, fetch_one
from headwater.catalog.queries import Q
from headwater.sync.events import OutboxEvent, Position

# First key of the advisory lock pair that leases a sink; the second is hashtext(sink). Two sinks
# whose names collide just share a lease, which costs throughput, never correctness.
LEASE_NAMESPACE = 0x6877_5359  # "hwSY"

# The events-behind gauge counts at most this many, so measuring a large backlog stays cheap.
LAG_COUNT_CAP = 1_000_000

# How long a shared snapshot waits for a connection the pool reported spare.
SPARE_CONNECTION_WAIT_S = 2.0

_SNAPSHOT_TRANSACTION = sql.SQL("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _position_params(position: Position) -> dict[str, object]:
    return {"txid": str(position.txid), "event_id": position.event_id}


async def read_batch(conn: Conn, after: Position, limit: int) -> list[OutboxEvent]:
    """Up to ``limit`` events after ``after`` in commit order, all of whose writers have ended."""
    # Tuples, not dicts: a batch is thousands of rows, and the sync worker shares the API's CPU.
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(Q["read_outbox_batch"], {**_position_params(after), "limit": limit})
        rows = await cur.fetchall()
    return [
        OutboxEvent(event_id, int(txid), tenant_id, *rest)
        for event_id, tenant_id, txid, *rest in rows
    ]


async def waiting_behind_barrier(conn: Conn, after: Position) -> bool:
    """True when committed events exist that an older, still open transaction holds back."""
    row = await fetch_one(conn, Q["outbox_waiting_behind_barrier"], _position_params(after))
    return bool(row and row["waiting"])


@dataclass(frozen=True)
class Lag:
    events_behind: int
    seconds_behind: float


async def measure_lag(conn: Conn, after: Position) -> Lag:
    """Committed events after ``after`` (capped at LAG_COUNT_CAP) and the age of the oldest."""
    row = await fetch_one(conn, Q["outbox_lag"], {**_position_params(after), "cap": LAG_COUNT_CAP})
    assert row is not None
    oldest: datetime | None = row["oldest"]
    age = 0.0 if oldest is None else max(0.0, (row["now"] - oldest).total_seconds())
    return Lag(int(row["behind"]), age)


@asynccontextmanager
async def consistent_snapshot(database: Database) -> AsyncIterator[tuple[Conn, Position]]:
    """A read-only REPEATABLE READ transaction and the outbox position its snapshot covers.

    A mirror loaded through ``conn`` contains every event before the position; events of
    transactions that committed just before the snapshot may be both loaded and delivered again
    from the position, which version-guarded sinks ignore.
    """
    async with database.pool.connection() as conn, conn.transaction():
        await conn.execute(_SNAPSHOT_TRANSACTION)
        row = await fetch_one(conn, Q["snapshot_position"])
        assert row is not None
        yield conn, Position(int(row["txid"]), 0)


@asynccontextmanager
async def shared_snapshot(
    database: Database, readers: int
) -> AsyncIterator[tuple[list[Conn], Position]]:
    """``consistent_snapshot`` on up to ``readers`` connections: the first exports its snapshot
    and the others import it (as pg_dump --jobs does), so a load can split its reads across
    Postgres backends and still see one state of the database. Only connections the pool can
    spare join: the caller may hold others (a sink's lease) and must not wait on itself."""
    async with consistent_snapshot(database) as (first, position), AsyncExitStack() as stack:
        conns = [first]
        stats = database.pool.get_stats()
        spare = stats["pool_available"] + stats["pool_max"] - stats["pool_size"]
        if readers > 1 and spare > 0:
            row = await fetch_one(first, Q["export_snapshot"])
            assert row is not None
            imported = sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(row["snapshot"]))
            for _ in range(min(readers - 1, spare)):
                try:
                    conn = await stack.enter_async_context(
                        database.pool.connection(timeout=SPARE_CONNECTION_WAIT_S)
                    )
                except PoolTimeout:
                    break  # another task took it meanwhile: read with fewer
                await stack.enter_async_context(conn.transaction())
                await conn.execute(_SNAPSHOT_TRANSACTION)
                await conn.execute(imported)
                conns.append(conn)
        yield conns, position


async def ensure_checkpoint(conn: Conn, sink: str) -> None:
    await conn.execute(Q["ensure_checkpoint"], {"sink": sink})


async def get_checkpoint(conn: Conn, sink: str) -> Position:
    row = await fetch_one(conn, Q["get_checkpoint"], {"sink": sink})
    if row is None:
        raise LookupError(f"sink {sink!r} has no checkpoint row")
    return Position(int(row["txid"]), row["event_id"])


async def try_lease(conn: Conn, sink: str) -> bool:
    """Take the sink's lease for the rest of this transaction, or report that another holds it."""
    row = await fetch_one(conn, Q["try_sink_lease"], {"namespace": LEASE_NAMESPACE, "sink": sink})
    return bool(row and row["acquired"])


async def advance_checkpoint(conn: Conn, sink: str, position: Position) -> None:
    await conn.execute(Q["advance_checkpoint"], {"sink": sink, **_position_params(position)})
