"""The mirrors a server process holds itself, as the admin API sees them.

An in-process mirror (the memory graph of ``headwater serve``) can only be checked or rebuilt by
the process that holds it, so the composition root registers each one here under its sink name
(``AppState.mirrors``) and the admin endpoints reach it through this small interface. Reports are
plain JSON objects; :mod:`headwater.api.routers.sync_admin` validates and documents their shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from uuid import UUID

__all__ = ["MirrorAdmin"]


class MirrorAdmin(Protocol):
    """Drift check and rebuild of one in-process mirror, one tenant at a time."""

    async def drift(self, tenant_id: UUID, *, wait: float, examples: int) -> Mapping[str, Any]:
        """Compare the tenant's part of the mirror with Postgres, after waiting up to ``wait``
        seconds for the mirror to catch up with the snapshot compared."""
        ...

    async def rebuild(self, tenant_id: UUID) -> Mapping[str, Any]:
        """Reload the tenant's part of the mirror from a Postgres snapshot."""
        ...
