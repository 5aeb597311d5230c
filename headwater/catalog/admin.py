"""Tenants, users and API keys: the administrative side of the catalog."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator

from headwater.catalog import apikeys, db
from headwater.catalog.base import EntityId, StrictModel
from headwater.catalog.changes import Change, jsonb, record
from headwater.catalog.context import Actor, Role
from headwater.catalog.db import Conn
from headwater.catalog.errors import Conflict, NotFound, VersionConflict
from headwater.catalog.paging import Page, clamp_limit, decode_cursor, page_of
from headwater.catalog.queries import Q

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
# Checked as sent (the pattern admits no whitespace), as the OpenAPI document states it.
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
TenantStatus = Literal["ACTIVE", "SUSPENDED", "DELETED"]


class Tenant(BaseModel):
    id: UUID
    slug: str
    name: str
    status: TenantStatus
    config: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class TenantSummary(BaseModel):
    id: UUID
    slug: str
    name: str
    status: TenantStatus
    created_at: datetime


class TenantUpdate(StrictModel):
    version: int = Field(ge=1, strict=True)
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    config: dict[str, Any] | None = None


class User(BaseModel):
    id: int
    email: str
    name: str
    roles: list[Role]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class UserCreate(StrictModel):
    email: Email
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    roles: list[Role] = Field(default_factory=lambda: [Role.VIEWER], min_length=1)


class UserUpdate(StrictModel):
    version: int = Field(ge=1, strict=True)
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    roles: list[Role] | None = Field(default=None, min_length=1)
    active: bool | None = Field(default=None, strict=True)


class ApiKey(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreate(StrictModel):
    user_id: EntityId
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    # A zone-less time would be read in the database session's zone: ambiguous for an expiry.
    expires_at: AwareDatetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future: this key would be expired from the start")
        return value


class CreatedApiKey(ApiKey):
    """Returned once, at creation: the plaintext key is never stored and cannot be shown again."""

    key: str


# The key's hash never appears in an audit row.
def _key_state(key: ApiKey) -> dict[str, Any]:
    return key.model_dump(mode="json")


async def create_tenant(conn: Conn, slug: str, name: str, config: dict[str, Any]) -> Tenant:
    """Create a tenant; sets this transaction's tenant to it, so follow-up writes land in it."""
    tenant_id = uuid.uuid4()
    await db.set_tenant(conn, tenant_id)
    existing = await db.fetch_all(
        conn, "SELECT slug FROM headwater_list_tenants() WHERE slug = %s", (slug,)
    )
    if existing:
        raise Conflict(f"a tenant with slug {slug!r} already exists")
    row = await db.fetch_one(
        conn,
        Q["insert_tenant"],
        {"id": tenant_id, "slug": slug, "name": name, "config": jsonb(config)},
    )
    tenant = Tenant.model_validate(row)
    actor = Actor(tenant_id=tenant_id, user_id=None)
    await record(
        conn,
        actor,
        Change("tenant.create", "tenant", str(tenant_id), None, tenant.model_dump(mode="json")),
    )
    return tenant


async def list_tenants(conn: Conn) -> list[TenantSummary]:
    return [TenantSummary.model_validate(r) for r in await db.fetch_all(conn, Q["list_tenants"])]


async def get_tenant(conn: Conn) -> Tenant:
    row = await db.fetch_one(conn, Q["get_tenant"])
    if row is None:
        raise NotFound("tenant does not exist")
    return Tenant.model_validate(row)


async def update_tenant(
    conn: Conn, actor: Actor, data: TenantUpdate, status: TenantStatus | None = None
) -> Tenant:
    row = await db.fetch_one(conn, Q["get_tenant_for_update"])
    if row is None:
        raise NotFound("tenant does not exist")
    before = Tenant.model_validate(row)
    if before.version != data.version:
        raise VersionConflict("tenant", before.id, data.version, before.version)
    updated = await db.fetch_one(
        conn,
        Q["update_tenant"],
        {
            "name": data.name if data.name is not None else before.name,
            "status": status or before.status,
            "config": jsonb(data.config if data.config is not None else before.config),
        },
    )
    after = Tenant.model_validate(updated)
    await record(
        conn,
        actor,
        Change(
            "tenant.update",
            "tenant",
            str(before.id),
            before.model_dump(mode="json"),
            after.model_dump(mode="json"),
        ),
    )
    return after


async def create_user(conn: Conn, actor: Actor, data: UserCreate) -> User:
    if await db.fetch_one(conn, Q["get_user_by_email"], {"email": data.email}) is not None:
        raise Conflict(f"a user with email {data.email!r} already exists")
    row = await db.fetch_one(
        conn,
        Q["insert_user"],
        {"email": data.email, "name": data.name, "roles": sorted({r.value for r in data.roles})},
    )
    user = User.model_validate(row)
    await record(
        conn, actor, Change("user.create", "user", user.id, None, user.model_dump(mode="json"))
    )
    return user


async def get_user(conn: Conn, user_id: int) -> User:
    row = await db.fetch_one(conn, Q["get_user"], {"id": user_id})
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return User.model_validate(row)


async def update_user(conn: Conn, actor: Actor, user_id: int, data: UserUpdate) -> User:
    row = await db.fetch_one(conn, Q["get_user_for_update"], {"id": user_id})
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    before = User.model_validate(row)
    if before.version != data.version:
        raise VersionConflict("user", user_id, data.version, before.version)
    roles = before.roles if data.roles is None else data.roles
    updated = await db.fetch_one(
        conn,
        Q["update_user"],
        {
            "id": user_id,
            "name": before.name if data.name is None else data.name,
            "roles": sorted({r.value for r in roles}),
            "active": before.active if data.active is None else data.active,
        },
    )
    after = User.model_validate(updated)
    await record(
        conn,
        actor,
        Change(
            "user.update",
            "user",
            user_id,
            before.model_dump(mode="json"),
            after.model_dump(mode="json"),
        ),
    )
    return after


async def list_users(
    conn: Conn, *, limit: int | None, cursor: str | None, max_limit: int
) -> Page[User]:
    size, capped = clamp_limit(limit, 50, max_limit)
    rows = await db.fetch_all(
        conn, Q["list_users"], {"after_id": decode_cursor(cursor), "limit": size + 1}
    )
    return page_of([User.model_validate(r) for r in rows], size, capped, lambda u: u.id)


async def create_api_key(conn: Conn, actor: Actor, data: ApiKeyCreate) -> CreatedApiKey:
    await get_user(conn, data.user_id)
    new = apikeys.generate()
    row = await db.fetch_one(
        conn,
        Q["insert_api_key"],
        {
            "user_id": data.user_id,
            "name": data.name,
            "prefix": new.prefix,
            "key_hash": new.key_hash,
            "expires_at": data.expires_at,
        },
    )
    key = ApiKey.model_validate(row)
    await record(conn, actor, Change("api_key.create", "api_key", key.id, None, _key_state(key)))
    return CreatedApiKey(**key.model_dump(), key=new.plaintext)


async def list_api_keys(conn: Conn, user_id: int | None = None) -> list[ApiKey]:
    rows = await db.fetch_all(conn, Q["list_api_keys"], {"user_id": user_id})
    return [ApiKey.model_validate(r) for r in rows]


async def revoke_api_key(conn: Conn, actor: Actor, key_id: int) -> ApiKey:
    before_rows = [k for k in await list_api_keys(conn) if k.id == key_id]
    if not before_rows:
        raise NotFound(f"API key {key_id} does not exist")
    row = await db.fetch_one(conn, Q["revoke_api_key"], {"id": key_id})
    after = ApiKey.model_validate(row)
    await record(
        conn,
        actor,
        Change("api_key.revoke", "api_key", key_id, _key_state(before_rows[0]), _key_state(after)),
    )
    return after


async def bootstrap_default_tenant(conn: Conn) -> tuple[Tenant, User, CreatedApiKey] | None:
    """On a fresh embedded install, create tenant ``default`` with an admin and its key."""
    if await list_tenants(conn):
        return None
    tenant = await create_tenant(conn, "default", "Default tenant", {})
    actor = Actor(tenant_id=tenant.id, user_id=None)
    admin = await create_user(
        conn, actor, UserCreate(email="admin@localhost", name="Administrator", roles=[Role.ADMIN])
    )
    key = await create_api_key(conn, actor, ApiKeyCreate(user_id=admin.id, name="bootstrap"))
    return tenant, admin, key
