"""Real sinks for the worker's tests: one keeps its mirror in memory, one in a Postgres table."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from headwater.sync.events import Batch, OutboxEvent, PermanentSinkError


@dataclass
class MemorySink:
    """An external-state sink: a list of applied events, plus switches to make it misbehave."""

    name: str
    events: list[OutboxEvent] = field(default_factory=list)
    # Transient failure: raise ConnectionError on every apply while set.
    failing: bool = False
    # Permanent rejection of assets with these names; ``name_culprit`` says whether the error
    # names the offending event.
    reject_names: set[str] = field(default_factory=set)
    name_culprit: bool = True
    attempts: list[float] = field(default_factory=list)

    async def apply(self, batch: Batch) -> None:
        self.attempts.append(time.monotonic())
        if self.failing:
            raise ConnectionError(f"{self.name} is unreachable")
        # All or nothing, like a mirror that validates a batch before writing it.
        for event in batch.events:
            if event.payload.get("name") in self.reject_names:
                raise PermanentSinkError(
                    f"asset name {event.payload['name']!r} is not allowed",
                    event if self.name_culprit else None,
                )
        self.events.extend(batch.events)

    @property
    def event_ids(self) -> list[int]:
        return [e.id for e in self.events]


@dataclass
class GatheringSink(MemorySink):
    """A MemorySink whose batches cost enough for events to gather first (events.Gathering)."""

    gather_seconds: float = 0.0


@dataclass
class HeldSink(MemorySink):
    """A MemorySink whose batches wait in ``apply`` until ``release`` is set: a long batch."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: int = 0

    async def apply(self, batch: Batch) -> None:
        self.holding = len(batch.events)
        await self.release.wait()
        await super().apply(batch)
        self.holding = 0


@dataclass
class ConcurrencyProbe:
    """Shared by several sink instances: how many of them were inside ``apply`` at once."""

    inside: int = 0
    most: int = 0


@dataclass
class TableSink:
    """A sink whose state lives in Postgres: written through the worker's transaction, so it
    commits with the checkpoint. ``worker`` labels which worker applied each row."""

    name: str
    worker: str
    probe: ConcurrencyProbe
    delay: float = 0.002

    async def apply(self, batch: Batch) -> None:
        self.probe.inside += 1
        self.probe.most = max(self.probe.most, self.probe.inside)
        try:
            async with batch.conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO sink_log (sink, event_id, txid, worker)"
                    " VALUES (%s, %s, %s::text::xid8, %s)",
                    [(self.name, e.id, str(e.txid), self.worker) for e in batch.events],
                )
            # Widen the window in which a second worker, were it let in, would overlap.
            await asyncio.sleep(self.delay)
        finally:
            self.probe.inside -= 1
