"""Tags (e.g. ``pii`` in category ``PII``) and their attachment to assets.

A tag's name is unique per tenant, case-insensitively. Attachments feed an asset's search
document, so every change to them (attach, detach, and a rename or re-categorisation of an
attached tag) emits ``asset_tag`` events whose ``entity_id`` is the asset. ``asset_tag.attached``
is an upsert of one (asset, tag) attachment: a sink keys it by ``(asset_id, tag_id)`` and takes
the name and category from the latest event.

Lock order, to keep concurrent writers free of deadlocks and lost events: the asset row first
(``FOR UPDATE``), then the tag row (``FOR SHARE`` to attach or detach, ``FOR UPDATE`` to rename or
delete). A tag delete therefore waits for in-flight attaches and sees every attachment it removes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from headwater.catalog import db
from headwater.catalog.assets import TagRef, lock_asset
from headwater.catalog.base import StrictModel, TrimNonBlank
from headwater.catalog.changes import Change, record
from headwater.catalog.context import Actor
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, VersionConflict
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q

TagName = Annotated[str, StringConstraints(min_length=1, max_length=200), TrimNonBlank]
Category = Annotated[str, StringConstraints(min_length=1, max_length=100), TrimNonBlank]
TagDescription = Annotated[str, StringConstraints(max_length=10_000)]


class Tag(BaseModel):
    id: int
    name: str
    category: str | None
    description: str
    version: int
    created_at: datetime
    updated_at: datetime


class TagCreate(StrictModel):
    name: TagName
    category: Category | None = None
    description: TagDescription = ""


class TagUpdate(StrictModel):
    """Fields left out keep their value; ``"category": null`` removes the category."""

    version: int = Field(ge=1, strict=True)
    name: TagName | None = None
    category: Category | None = None
    description: TagDescription | None = None


class TagByName(StrictModel):
    """Attach by name; ``category`` is used only when the tag does not exist yet."""

    name: TagName
    category: Category | None = None


class DeletedTag(BaseModel):
    tag: Tag
    # How many assets the tag was detached from (each got an ``asset_tag.detached`` event).
    detached_assets: int


def _state(tag: Tag) -> dict[str, Any]:
    return tag.model_dump(mode="json")


def _attachment(asset_id: int, tag: Tag) -> dict[str, Any]:
    return {"asset_id": asset_id, "tag_id": tag.id, "tag_name": tag.name, "category": tag.category}


def _conflict_on_name(existing: dict[str, Any]) -> Conflict:
    return Conflict(
        f"tag {existing['id']} is already named {existing['name']!r} "
        "(tag names are unique, ignoring case)",
        existing_id=existing["id"],
    )


async def get_tag(conn: Conn, tag_id: int) -> Tag:
    row = await db.fetch_one(conn, Q["get_tag"], {"id": tag_id})
    if row is None:
        raise NotFound(f"tag {tag_id} does not exist")
    return Tag.model_validate(row)


async def _lock_tag(conn: Conn, tag_id: int, *, exclusive: bool) -> Tag:
    query = Q["get_tag_for_update"] if exclusive else Q["get_tag_for_share"]
    row = await db.fetch_one(conn, query, {"id": tag_id})
    if row is None:
        raise NotFound(f"tag {tag_id} does not exist")
    return Tag.model_validate(row)


async def list_tags(
    conn: Conn,
    *,
    category: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    default_limit: int = 50,
    max_limit: int = 500,
) -> Page[Tag]:
    size, capped = clamp_limit(limit, default_limit, max_limit)
    rows = await db.fetch_all(
        conn,
        Q["list_tags"],
        {"category": category, "after_id": decode_cursor(cursor), "limit": size + 1},
    )
    return page_of([Tag.model_validate(r) for r in rows], size, capped, lambda t: t.id)


async def create_tag(conn: Conn, actor: Actor, data: TagCreate) -> Tag:
    existing = await db.fetch_one(conn, Q["get_tag_by_name"], {"name": data.name})
    if existing is not None:
        raise _conflict_on_name(existing)
    row = await db.fetch_one(
        conn,
        Q["insert_tag"],
        {"name": data.name, "category": data.category, "description": data.description},
    )
    tag = Tag.model_validate(row)
    await record(conn, actor, Change("tag.create", "tag", tag.id, None, _state(tag), tag.version))
    return tag


async def update_tag(conn: Conn, actor: Actor, tag_id: int, data: TagUpdate) -> Tag:
    before = await _lock_tag(conn, tag_id, exclusive=True)
    if before.version != data.version:
        raise VersionConflict("tag", tag_id, data.version, before.version)
    name = data.name if data.name is not None else before.name
    category = data.category if "category" in data.model_fields_set else before.category
    description = data.description if data.description is not None else before.description
    if name.lower() != before.name.lower():
        existing = await db.fetch_one(conn, Q["get_tag_by_name"], {"name": name})
        if existing is not None:
            raise _conflict_on_name(existing)
    row = await db.fetch_one(
        conn,
        Q["update_tag"],
        {"id": tag_id, "name": name, "category": category, "description": description},
    )
    after = Tag.model_validate(row)
    changes = [Change("tag.update", "tag", tag_id, _state(before), _state(after), after.version)]
    if (after.name, after.category) != (before.name, before.category):
        # Every live asset carrying the tag has a stale search document now.
        attachments = await db.fetch_all(conn, Q["list_live_tag_attachments"], {"tag_id": tag_id})
        for attached in attachments:
            asset_id = int(attached["asset_id"])
            changes.append(
                Change(
                    "asset_tag.update",
                    "asset_tag",
                    asset_id,
                    _attachment(asset_id, before),
                    _attachment(asset_id, after),
                    int(attached["version"]),
                    "asset_tag.attached",
                )
            )
    await record(conn, actor, *changes)
    return after


async def delete_tag(conn: Conn, actor: Actor, tag_id: int, version: int) -> DeletedTag:
    """Hard delete: the tag leaves every asset it was on, each with its own detach event."""
    tag = await _lock_tag(conn, tag_id, exclusive=True)
    if tag.version != version:
        raise VersionConflict("tag", tag_id, version, tag.version)
    detached = await db.fetch_all(conn, Q["detach_tag_everywhere"], {"tag_id": tag_id})
    await conn.execute(Q["delete_tag"], {"id": tag_id})
    changes = [
        Change(
            "asset_tag.detach",
            "asset_tag",
            int(row["asset_id"]),
            _attachment(int(row["asset_id"]), tag),
            None,
            int(row["version"]),
            "asset_tag.detached",
        )
        for row in detached
    ]
    changes.append(Change("tag.delete", "tag", tag_id, _state(tag), None, tag.version))
    await record(conn, actor, *changes)
    return DeletedTag(tag=tag, detached_assets=len(detached))


async def asset_tags(conn: Conn, asset_id: int) -> list[TagRef]:
    """The tags of a live asset, ordered by name."""
    await _live_asset_version(conn, asset_id, lock=False)
    return await _tag_refs(conn, asset_id)


async def _tag_refs(conn: Conn, asset_id: int) -> list[TagRef]:
    rows = await db.fetch_all(conn, Q["list_asset_tags"], {"asset_id": asset_id})
    return [TagRef.model_validate(r) for r in rows]


async def _live_asset_version(conn: Conn, asset_id: int, *, lock: bool) -> int:
    if lock:
        asset = await lock_asset(conn, asset_id, None)
        deleted = asset.deleted_at is not None
        version = asset.version
    else:
        row = await db.fetch_one(conn, Q["get_asset"], {"id": asset_id, "include_deleted": False})
        deleted = row is None
        version = 0 if row is None else int(row["version"])
    if deleted:
        raise NotFound(f"asset {asset_id} does not exist")
    return version


async def _attach(conn: Conn, actor: Actor, asset_id: int, version: int, tag: Tag) -> None:
    row = await db.fetch_one(
        conn, Q["attach_tag"], {"asset_id": asset_id, "tag_id": tag.id, "actor": actor.user_id}
    )
    if row is None:
        return  # already attached: nothing changed, so nothing to audit or announce
    await record(
        conn,
        actor,
        Change(
            "asset_tag.attach",
            "asset_tag",
            asset_id,
            None,
            _attachment(asset_id, tag),
            version,
            "asset_tag.attached",
        ),
    )


async def attach_tag(conn: Conn, actor: Actor, asset_id: int, tag_id: int) -> list[TagRef]:
    """Idempotent: attaching a tag the asset already has changes nothing."""
    version = await _live_asset_version(conn, asset_id, lock=True)
    tag = await _lock_tag(conn, tag_id, exclusive=False)
    await _attach(conn, actor, asset_id, version, tag)
    return await _tag_refs(conn, asset_id)


async def attach_tag_by_name(
    conn: Conn, actor: Actor, asset_id: int, data: TagByName
) -> list[TagRef]:
    """Attach the tag called ``data.name`` (any case), creating it first if it does not exist."""
    version = await _live_asset_version(conn, asset_id, lock=True)
    row = await db.fetch_one(
        conn, Q["insert_tag_if_absent"], {"name": data.name, "category": data.category}
    )
    if row is not None:
        tag = Tag.model_validate(row)
        await record(
            conn, actor, Change("tag.create", "tag", tag.id, None, _state(tag), tag.version)
        )
    else:
        existing = await db.fetch_one(conn, Q["get_tag_by_name_for_share"], {"name": data.name})
        if existing is None:
            # The conflicting tag was deleted between the insert and this read.
            raise Conflict(f"tag {data.name!r} was deleted concurrently: retry")
        tag = Tag.model_validate(existing)
    await _attach(conn, actor, asset_id, version, tag)
    return await _tag_refs(conn, asset_id)


async def detach_tag(conn: Conn, actor: Actor, asset_id: int, tag_id: int) -> list[TagRef]:
    version = await _live_asset_version(conn, asset_id, lock=True)
    tag = await _lock_tag(conn, tag_id, exclusive=False)
    row = await db.fetch_one(conn, Q["detach_tag"], {"asset_id": asset_id, "tag_id": tag_id})
    if row is None:
        raise NotFound(f"tag {tag_id} is not attached to asset {asset_id}")
    await record(
        conn,
        actor,
        Change(
            "asset_tag.detach",
            "asset_tag",
            asset_id,
            _attachment(asset_id, tag),
            None,
            version,
            "asset_tag.detached",
        ),
    )
    return await _tag_refs(conn, asset_id)
