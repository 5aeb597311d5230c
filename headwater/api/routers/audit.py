"""The audit log: every change, newest first, with cursor pagination (cursors walk to older rows).

Access rule: the audit of catalog entities (assets, their tag attachments, tags, relationships,
schema fields, field lineage and background tasks) is readable by every role. The audit of any
other entity type (users, API keys, the tenant) needs the admin role:

* ``GET /audit`` without ``entity_type`` returns all rows to an admin and only catalog rows to
  anyone else; with an admin-only ``entity_type`` a non-admin gets 403.
* ``GET /assets/{id}/audit`` is an asset's history (its own rows and its tag attachments), open
  to every role, also for a soft-deleted asset.
* ``GET /users/{id}/audit`` is what a user did, across every entity type: admin only.

``since`` and ``until`` are ISO 8601 timestamps (UTC when they carry no offset) and select
``since <= created_at < until``; ``since >= until`` is 422. Page sizes are capped by the server
(``limit_capped`` says when).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from headwater.api.deps import AdminSession, PageLimit, ReadSession, Session
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import admin, assets, audit
from headwater.catalog.audit import ASSET_HISTORY_TYPES, AuditEntry
from headwater.catalog.paging import Page

router = APIRouter(tags=["audit"], route_class=StrictJSONRoute)

Cursor = Annotated[str | None, Query(max_length=200)]


def _iso_8601(value: object) -> object:
    # pydantic also reads a number as seconds since 1970: ?until=0.5 would mean 1970.
    if isinstance(value, str) and not re.match(r"\d{4}-\d\d-\d\d", value):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-12-07T10:00:00Z")
    return value


Moment = Annotated[
    datetime | None,
    BeforeValidator(_iso_8601),
    Query(description="ISO 8601 date-time; UTC when it has no offset"),
]


async def _page(
    session: Session,
    *,
    entity_types: list[str] | tuple[str, ...] | None,
    entity_id: str | None = None,
    actor_user_id: int | None = None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    cursor: str | None,
) -> Page[AuditEntry]:
    return await audit.list_audits(
        session.conn,
        entity_types=entity_types,
        entity_id=entity_id,
        actor_user_id=actor_user_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        default_limit=session.settings.default_page_size,
        max_limit=session.settings.max_page_size,
    )


@router.get("/audit")
async def list_audit(
    session: ReadSession,
    entity_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    entity_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    actor_user_id: int | None = None,
    since: Moment = None,
    until: Moment = None,
    limit: PageLimit = None,
    cursor: Cursor = None,
) -> Page[AuditEntry]:
    return await _page(
        session,
        entity_types=audit.readable_entity_types(session.actor, entity_type),
        entity_id=entity_id,
        actor_user_id=actor_user_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


@router.get("/assets/{asset_id}/audit")
async def asset_audit(
    asset_id: int,
    session: ReadSession,
    since: Moment = None,
    until: Moment = None,
    limit: PageLimit = None,
    cursor: Cursor = None,
) -> Page[AuditEntry]:
    await assets.get_asset(session.conn, asset_id, include_deleted=True)
    return await _page(
        session,
        entity_types=ASSET_HISTORY_TYPES,
        entity_id=str(asset_id),
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


@router.get("/users/{user_id}/audit")
async def user_audit(
    user_id: int,
    session: AdminSession,
    since: Moment = None,
    until: Moment = None,
    limit: PageLimit = None,
    cursor: Cursor = None,
) -> Page[AuditEntry]:
    await admin.get_user(session.conn, user_id)
    return await _page(
        session,
        entity_types=None,
        actor_user_id=user_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
