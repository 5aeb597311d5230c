"""Administration within a tenant: users, API keys, tenant settings (admin role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from headwater.api.deps import AdminSession, PageLimit, ReadSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import admin
from headwater.catalog.admin import (
    ApiKey,
    ApiKeyCreate,
    CreatedApiKey,
    Tenant,
    TenantUpdate,
    User,
    UserCreate,
    UserUpdate,
)
from headwater.catalog.paging import Page

router = APIRouter(tags=["admin"], route_class=StrictJSONRoute)


@router.get("/tenant")
async def get_tenant(session: ReadSession) -> Tenant:
    return await admin.get_tenant(session.conn)


@router.patch("/tenant")
async def update_tenant(body: TenantUpdate, session: AdminSession) -> Tenant:
    return await admin.update_tenant(session.conn, session.actor, body)


@router.get("/me")
async def whoami(session: ReadSession) -> User:
    assert session.actor.user_id is not None
    return await admin.get_user(session.conn, session.actor.user_id)


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: AdminSession) -> User:
    return await admin.create_user(session.conn, session.actor, body)


@router.get("/users")
async def list_users(
    session: AdminSession,
    limit: PageLimit = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[User]:
    return await admin.list_users(
        session.conn, limit=limit, cursor=cursor, max_limit=session.settings.max_page_size
    )


@router.get("/users/{user_id}")
async def get_user(user_id: int, session: AdminSession) -> User:
    return await admin.get_user(session.conn, user_id)


@router.patch("/users/{user_id}")
async def update_user(user_id: int, body: UserUpdate, session: AdminSession) -> User:
    return await admin.update_user(session.conn, session.actor, user_id, body)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(body: ApiKeyCreate, session: AdminSession) -> CreatedApiKey:
    return await admin.create_api_key(session.conn, session.actor, body)


@router.get("/api-keys")
async def list_api_keys(session: AdminSession, user_id: int | None = None) -> list[ApiKey]:
    return await admin.list_api_keys(session.conn, user_id)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(key_id: int, session: AdminSession) -> ApiKey:
    return await admin.revoke_api_key(session.conn, session.actor, key_id)
