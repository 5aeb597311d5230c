"""The write-path invariant: a mutation's audit row and outbox event go in its own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Json, Jsonb

from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.queries import Q
from headwater.jsoncodec import dumps


def jsonb(value: object) -> Jsonb:
    return Jsonb(value, dumps=dumps)


def _json(value: dict[str, Any] | None) -> Json | None:
    """An audit state or event payload: the logs keep JSON as written (migration 0008)."""
    return None if value is None else Json(value, dumps=dumps)


@dataclass(frozen=True)
class Change:
    """One entity change: audited always, and sent to the mirrors when ``event_type`` is set."""

    action: str
    entity_type: str
    entity_id: int | str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    version: int = 0
    event_type: str | None = None
    # The event's payload when it is not ``after`` (or ``before``): a hard-deleted row has no
    # after state, yet its event must carry the tombstone version the mirrors order by.
    payload: dict[str, Any] | None = None
    # ``after`` already serialised, when the caller has it (an ingested document's canonical
    # JSON): ``record_all`` then stores this text instead of serialising ``after`` again.
    after_text: str | None = None


async def record(conn: Conn, actor: Actor, *changes: Change) -> None:
    """Write the audit rows and outbox events of ``changes`` inside the mutation's transaction."""
    async with conn.cursor() as cur:
        await cur.executemany(
            Q["insert_audit"],
            [
                {
                    "tenant_id": actor.tenant_id,
                    "actor_user_id": actor.user_id,
                    "actor_key_id": actor.key_id,
                    "action": c.action,
                    "entity_type": c.entity_type,
                    "entity_id": str(c.entity_id),
                    "before": _json(c.before),
                    "after": _json(c.after),
                    "ip": actor.ip,
                    "user_agent": actor.user_agent,
                    "request_id": actor.request_id,
                }
                for c in changes
            ],
        )
        events = [c for c in changes if c.event_type is not None]
        if events:
            await cur.executemany(
                Q["insert_outbox_event"],
                [
                    {
                        "tenant_id": actor.tenant_id,
                        "entity_type": c.entity_type,
                        "entity_id": c.entity_id,
                        "entity_version": c.version,
                        "event_type": c.event_type,
                        "payload": _json(_payload(c)),
                    }
                    for c in events
                ],
            )


def _payload(change: Change) -> dict[str, Any] | None:
    if change.payload is not None:
        return change.payload
    return change.after if change.after is not None else change.before


async def record_all(conn: Conn, actor: Actor, changes: Sequence[Change]) -> None:
    """``record`` for many changes at once: two statements whatever their number (a set-based
    writer's thousands), rows in the order given. Each state is serialised once, even when it
    is both an audit row's after state and an event's payload."""
    if not changes:
        return
    texts: dict[int, str] = {}

    def text(value: dict[str, Any] | None) -> str | None:
        if value is None:
            return None
        known = texts.get(id(value))
        if known is None:
            known = texts[id(value)] = dumps(value)
        return known

    await conn.execute(
        Q["insert_audits"],
        {
            "tenant_id": actor.tenant_id,
            "actor_user_id": actor.user_id,
            "actor_key_id": actor.key_id,
            "ip": actor.ip,
            "user_agent": actor.user_agent,
            "request_id": actor.request_id,
            "actions": [c.action for c in changes],
            "entity_types": [c.entity_type for c in changes],
            "entity_ids": [str(c.entity_id) for c in changes],
            "befores": [text(c.before) for c in changes],
            "afters": [c.after_text or text(c.after) for c in changes],
        },
    )
    events = [c for c in changes if c.event_type is not None]
    if events:
        await conn.execute(
            Q["insert_outbox_events"],
            {
                "tenant_id": actor.tenant_id,
                "entity_types": [c.entity_type for c in events],
                "entity_ids": [c.entity_id for c in events],
                "entity_versions": [c.version for c in events],
                "event_types": [c.event_type for c in events],
                "payloads": [text(_payload(c)) for c in events],
            },
        )
