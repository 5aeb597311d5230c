"""Events a sink rejected for good: kept whole, so a person can retry or discard them.

Lifecycle: DEAD (recorded, the checkpoint moved past it) -> RETRY (requested) -> RESOLVED (the
worker holding the sink's lease applied it) or DEAD again with one more attempt; DEAD or RETRY ->
DISCARDED. A retried event arrives after newer ones; version-guarded sinks keep the newest state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from headwater.catalog.changes import jsonb
from headwater.catalog.db import Conn, fetch_all
from headwater.catalog.queries import Q
from headwater.sync.events import OutboxEvent

DeadLetterStatus = Literal["DEAD", "RETRY", "RESOLVED", "DISCARDED"]


class DeadLetter(BaseModel):
    id: int
    sink: str
    event_id: int
    txid: int
    tenant_id: UUID
    entity_type: str
    entity_id: int
    entity_version: int
    event_type: str
    payload: dict[str, Any]
    event_created_at: datetime
    error: str
    attempts: int
    status: DeadLetterStatus
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    def event(self) -> OutboxEvent:
        return OutboxEvent(
            id=self.event_id,
            txid=self.txid,
            tenant_id=self.tenant_id,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            entity_version=self.entity_version,
            event_type=self.event_type,
            payload=self.payload,
            created_at=self.event_created_at,
        )


async def record(conn: Conn, sink: str, event: OutboxEvent, error: str) -> None:
    await conn.execute(
        Q["insert_dead_letter"],
        {
            "sink": sink,
            "event_id": event.id,
            "txid": str(event.txid),
            "tenant_id": event.tenant_id,
            "entity_type": event.entity_type,
            "entity_id": event.entity_id,
            "entity_version": event.entity_version,
            "event_type": event.event_type,
            "payload": jsonb(event.payload),
            "event_created_at": event.created_at,
            "error": error,
        },
    )


async def list_dead_letters(
    conn: Conn,
    *,
    sink: str | None = None,
    status: DeadLetterStatus | None = None,
    limit: int = 1000,
) -> list[DeadLetter]:
    rows = await fetch_all(
        conn, Q["list_dead_letters"], {"sink": sink, "status": status, "limit": limit}
    )
    return [DeadLetter.model_validate(r) for r in rows]


async def to_retry(conn: Conn, sink: str, limit: int) -> list[DeadLetter]:
    rows = await fetch_all(conn, Q["dead_letters_to_retry"], {"sink": sink, "limit": limit})
    return [DeadLetter.model_validate(r) for r in rows]


async def request_retry(
    conn: Conn, *, sink: str | None = None, ids: Sequence[int] | None = None
) -> list[int]:
    """Mark dead letters for the sink's worker to apply again; returns the ids marked."""
    rows = await fetch_all(
        conn,
        Q["request_dead_letter_retry"],
        {"sink": sink, "ids": None if ids is None else list(ids)},
    )
    return [r["id"] for r in rows]


async def discard(conn: Conn, ids: Sequence[int]) -> list[int]:
    rows = await fetch_all(conn, Q["discard_dead_letters"], {"ids": list(ids)})
    return [r["id"] for r in rows]


async def mark_resolved(conn: Conn, dead_letter_id: int) -> None:
    await conn.execute(Q["resolve_dead_letter"], {"id": dead_letter_id})


async def mark_failed_again(conn: Conn, dead_letter_id: int, error: str) -> None:
    await conn.execute(Q["fail_dead_letter_retry"], {"id": dead_letter_id, "error": error})
