"""Who is acting, for which tenant, from where: carried into every write for the audit row."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


# Each role includes the ones before it.
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Actor:
    tenant_id: UUID
    user_id: int | None
    key_id: int | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def has_role(self, needed: Role) -> bool:
        return any(ROLE_RANK[r] >= ROLE_RANK[needed] for r in self.roles)
