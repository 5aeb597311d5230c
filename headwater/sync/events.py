"""What a sink receives: outbox events in commit order, and the contract a sink implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from headwater.catalog.db import Conn, Database


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the outbox's commit order: everything at or before it has been applied.

    ``Position(txid, 0)`` means "every event of every transaction older than ``txid``".
    """

    txid: int
    event_id: int

    def __str__(self) -> str:
        return f"{self.txid}:{self.event_id}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The inverse of ``str(position)``, for positions a mirror stored."""
        txid, sep, event_id = text.partition(":")
        if not sep:
            raise ValueError(f"not an outbox position: {text!r}")
        return cls(int(txid), int(event_id))


START = Position(0, 0)


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One outbox row (the payload contract is in the catalog: entity_type / event_type / payload).

    ``entity_version`` is the entity's version after the change; sinks compare it with what they
    hold so a replayed or late event can never move a mirror backwards.
    """

    id: int
    txid: int
    tenant_id: UUID
    entity_type: str
    entity_id: int
    entity_version: int
    event_type: str
    payload: dict[str, Any]
    created_at: datetime

    @property
    def position(self) -> Position:
        return Position(self.txid, self.id)


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive events in commit order, and the worker's open transaction.

    ``conn`` belongs to the headwater_worker role: it can read the catalog tables sinks hydrate
    from across tenants. A sink whose state lives in Postgres writes through it, and its writes
    commit atomically with the checkpoint (exactly once). Each ``apply`` call runs inside a
    savepoint, so a rejected attempt leaves nothing behind in Postgres.
    """

    events: Sequence[OutboxEvent]
    conn: Conn


class Sink(Protocol):
    """A derived mirror of the catalog, kept current from the outbox.

    ``apply`` receives events in outbox order, ``(txid, id)`` (see headwater/sync/tailer.py).
    A sink whose state lives outside Postgres is applied first and checkpointed after, so after a
    crash it may see events again, and a dead letter retried later arrives after newer events: it
    must be idempotent and guard on ``entity_version`` (a stale version never overwrites a newer
    one).

    Raise ``PermanentSinkError`` for an event that can never be applied; any other exception is
    treated as transient, and the same batch is retried with exponential backoff.
    """

    @property
    def name(self) -> str:
        """Stable identifier: the key of the sink's checkpoint and dead letters."""
        ...

    async def apply(self, batch: Batch) -> None: ...


@runtime_checkable
class Bootstrapping(Protocol):
    """A shared sink that must hold a snapshot of Postgres before it tails: the worker calls
    ``bootstrap`` (with the worker role's database) before it runs the sink; it loads a new mirror
    and sets the sink's checkpoint itself (see headwater/sync/graph_mirror.py)."""

    async def bootstrap(self, database: Database) -> None: ...


@runtime_checkable
class Gathering(Protocol):
    """A sink whose every batch has a cost of its own (a search index's refresh, a model call that
    runs better on many texts): once the sink has caught up, the worker lets new events gather for
    ``gather_seconds`` before it reads the next batch. A sink that is behind reads on at once."""

    @property
    def gather_seconds(self) -> float: ...


class PermanentSinkError(Exception):
    """The sink rejects an event for good (retrying cannot help): it is dead-lettered.

    Name the offending ``event`` when known; otherwise the worker applies the batch one event at a
    time to find the ones to dead-letter.
    """

    def __init__(self, message: str, event: OutboxEvent | None = None) -> None:
        super().__init__(message)
        self.event = event
