"""Request-scoped dependencies: the authenticated actor and its tenant-bound transaction.

The session dependency commits when the endpoint returns and before the response is sent
(``scope="function"``), so a client that got a 2xx can read its own write.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from headwater.api.mirrors import MirrorAdmin
from headwater.catalog import apikeys, db
from headwater.catalog.context import Actor, Role
from headwater.catalog.db import Conn, Database
from headwater.catalog.errors import Forbidden, Unauthorized
from headwater.catalog.queries import Q
from headwater.graph.engine import GraphEngine
from headwater.logging_setup import request_id_var
from headwater.search.hybrid import HybridSearch
from headwater.settings import Settings

# Compared against when the prefix is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = apikeys.hash_secret("0" * apikeys.SECRET_LENGTH)


class KeyUse:
    """When this process last recorded each API key's use (``last_used_at``).

    ``headwater_touch_api_key`` writes at most once a minute per key, so calling it again within
    the minute only costs a round trip, and a row lock that queues the key's concurrent requests.
    Only a committed touch counts: a request that fails rolls its touch back.
    """

    WINDOW_S = 60.0
    _MAX_KEYS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._recorded: dict[int, float] = {}

    def due(self, key_id: int) -> bool:
        recorded = self._recorded.get(key_id)
        return recorded is None or self._clock() - recorded >= self.WINDOW_S

    def recorded(self, key_id: int) -> None:
        now = self._clock()
        if len(self._recorded) >= self._MAX_KEYS:
            self._recorded = {k: t for k, t in self._recorded.items() if now - t < self.WINDOW_S}
        self._recorded[key_id] = now


@dataclass(frozen=True)
class AppState:
    settings: Settings
    database: Database
    graph: GraphEngine | None = None
    # In-process mirrors by sink name, registered by the composition root once they run.
    mirrors: dict[str, MirrorAdmin] = field(default_factory=dict)
    # Discovery search over the search mirrors; None when this process runs without them.
    search: HybridSearch | None = None
    key_use: KeyUse = field(default_factory=KeyUse)


# Coroutines, as every dependency here: FastAPI runs a plain function in a worker thread.
async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.headwater
    return state


State = Annotated[AppState, Depends(app_state)]
# The default and the maximum are the server's: a larger limit is capped and the page says so.
PageLimit = Annotated[int | None, Query(ge=1, description="items per page (capped by the server)")]


@dataclass(frozen=True)
class Session:
    """An authenticated request: who acts, and the open transaction bound to their tenant."""

    actor: Actor
    conn: Conn
    settings: Settings


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer hw_...'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <api key>'")
    return token.strip()


async def authenticate(conn: Conn, token: str, request: Request) -> Actor:
    """The key's actor. The transaction's tenant is the key's from here on (``lookup_api_key``
    sets it): a caller that refuses the actor must raise, which rolls the transaction back."""
    parsed = apikeys.parse(token)
    row = None
    if parsed is not None:
        row = await db.fetch_one(conn, Q["lookup_api_key"], {"prefix": parsed.prefix})
    secret = parsed.secret if parsed is not None else ""
    if row is None:
        apikeys.matches(secret, _DUMMY_HASH)
        raise Unauthorized("invalid API key")
    if not apikeys.matches(secret, bytes(row["key_hash"])):
        raise Unauthorized("invalid API key")
    now = datetime.now(UTC)
    if row["revoked_at"] is not None:
        raise Unauthorized("API key has been revoked")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise Unauthorized("API key has expired")
    if not row["user_active"]:
        raise Unauthorized("the key's user is deactivated")
    if row["tenant_status"] != "ACTIVE":
        raise Forbidden(f"tenant is {row['tenant_status'].lower()}")
    return Actor(
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        key_id=row["key_id"],
        roles=frozenset(Role(r) for r in row["roles"]),
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request_id_var.get(),
    )


async def _record_use(conn: Conn, actor: Actor, key_use: KeyUse) -> int | None:
    """Record the key's use when it is due; the key's id when this transaction did, for
    ``key_use.recorded`` once it committed."""
    if actor.key_id is None or not key_use.due(actor.key_id):
        return None
    await conn.execute(Q["touch_api_key"], {"key_id": actor.key_id})
    return actor.key_id


def session_for(role: Role) -> Callable[..., AsyncIterator[Session]]:
    async def dependency(request: Request, state: State) -> AsyncIterator[Session]:
        token = _bearer_token(request)
        async with state.database.transaction() as conn:
            actor = await authenticate(conn, token, request)
            touched = await _record_use(conn, actor, state.key_use)
            if not actor.has_role(role):
                raise Forbidden(f"this operation needs the {role.value} role")
            yield Session(actor=actor, conn=conn, settings=state.settings)
        if touched is not None:
            state.key_use.recorded(touched)

    return dependency


def _session(role: Role) -> Any:
    return Depends(session_for(role), scope="function")


ReadSession = Annotated[Session, _session(Role.VIEWER)]
WriteSession = Annotated[Session, _session(Role.EDITOR)]
AdminSession = Annotated[Session, _session(Role.ADMIN)]


def actor_for(role: Role) -> Callable[..., Awaitable[Actor]]:
    """Authenticate in a short transaction of its own, for endpoints that work on other
    connections for a long time: a request transaction left open meanwhile would hold every
    mirror's outbox tailer back (its transaction id stays below their snapshot bound)."""

    async def dependency(request: Request, state: State) -> Actor:
        token = _bearer_token(request)
        async with state.database.transaction() as conn:
            actor = await authenticate(conn, token, request)
            touched = await _record_use(conn, actor, state.key_use)
        if touched is not None:
            state.key_use.recorded(touched)
        if not actor.has_role(role):
            raise Forbidden(f"this operation needs the {role.value} role")
        return actor

    return dependency


AdminActor = Annotated[Actor, Depends(actor_for(Role.ADMIN))]
