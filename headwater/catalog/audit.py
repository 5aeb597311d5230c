"""Reading the audit log: newest first, filtered by entity, actor and time, paged by id.

Who may read what: the audit rows of catalog entities (``CATALOG_ENTITY_TYPES``) are readable by
every role; every other entity type (users, API keys, the tenant, and any type added later
until it is listed here) needs the admin role. The rule fails closed: an unlisted type is
admin-only.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from headwater.catalog import db
from headwater.catalog.context import Actor, Role
from headwater.catalog.db import Conn
from headwater.catalog.errors import Forbidden, Unprocessable
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q

CATALOG_ENTITY_TYPES: tuple[str, ...] = (
    "asset",
    "asset_tag",
    "tag",
    "relationship",
    "schema_field",
    "field_lineage",
    "task",
)

# The entity types that make up one asset's history: its own rows and its tag attachments
# (both recorded with the asset's id as entity_id).
ASSET_HISTORY_TYPES: tuple[str, ...] = ("asset", "asset_tag")


class AuditEntry(BaseModel):
    id: int
    actor_user_id: int | None
    actor_key_id: int | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime


def readable_entity_types(actor: Actor, entity_type: str | None) -> list[str] | None:
    """The entity types ``actor`` may see for a query filtered by ``entity_type`` (None: all)."""
    if actor.has_role(Role.ADMIN):
        return None if entity_type is None else [entity_type]
    if entity_type is None:
        return list(CATALOG_ENTITY_TYPES)
    if entity_type not in CATALOG_ENTITY_TYPES:
        raise Forbidden(f"the audit of {entity_type!r} entities needs the admin role")
    return [entity_type]


def _utc(value: datetime | None) -> datetime | None:
    # A timestamp without an offset is taken as UTC, never as the server's local time.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def list_audits(
    conn: Conn,
    *,
    entity_types: Collection[str] | None = None,
    entity_id: str | None = None,
    actor_user_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    default_limit: int = 50,
    max_limit: int = 500,
) -> Page[AuditEntry]:
    """Rows with ``since <= created_at < until``, newest first; the cursor walks to older rows."""
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise Unprocessable(
            "until must be later than since",
            errors=[{"loc": ["query", "until"], "msg": "must be later than since"}],
        )
    size, capped = clamp_limit(limit, default_limit, max_limit)
    rows = await db.fetch_all(
        conn,
        Q["list_audits"],
        {
            "entity_types": None if entity_types is None else list(entity_types),
            "entity_id": entity_id,
            "actor_user_id": actor_user_id,
            "since": since,
            "until": until,
            "after_id": decode_cursor(cursor),
            "limit": size + 1,
        },
    )
    return page_of([AuditEntry.model_validate(r) for r in rows], size, capped, lambda e: e.id)
