"""Drift check and rebuild of the mirrors this server process holds itself (admin only).

The memory graph of ``headwater serve`` lives inside the serving process, so only that process
can compare it with Postgres or reload it; ``headwater reconcile --sink graph`` calls these
endpoints when given ``HEADWATER_URL`` and an admin key. Both act on the caller's tenant. A mirror
that lives outside the process (Neo4j, fed by ``headwater worker``) is reconciled by the CLI
directly against it.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from headwater.api.deps import AdminActor, State
from headwater.api.json_route import StrictJSONRoute
from headwater.api.mirrors import MirrorAdmin
from headwater.catalog.errors import NotFound

router = APIRouter(prefix="/admin/sync", tags=["admin"], route_class=StrictJSONRoute)

Kind = Literal["asset", "field", "relationship", "field_lineage"]


class CountsOut(BaseModel):
    missing: int
    extra: int
    stale: int
    duplicated: int
    total: int


class DifferenceOut(BaseModel):
    kind: Kind
    id: int
    problem: Literal["missing", "extra", "stale", "duplicated"]
    postgres_version: int | None
    mirror_version: int | None
    detail: str


class TenantDriftOut(BaseModel):
    tenant_id: UUID
    postgres: dict[Kind, int]
    mirror: dict[Kind, int]
    by_kind: dict[Kind, CountsOut]
    total: CountsOut
    in_flight: int
    examples: list[DifferenceOut]


class DriftReportOut(BaseModel):
    """``drift`` is true when any entity is missing, extra, stale or duplicated. ``in_flight``
    entities changed after the compared snapshot and are not judged. ``caught_up`` is false when
    the mirror had not applied every event before ``position`` within ``wait`` seconds (its lag
    then shows as drift)."""

    sink: str
    position: str
    mirror_position: str | None
    caught_up: bool
    drift: bool
    total: CountsOut
    by_kind: dict[Kind, CountsOut]
    in_flight: int
    tenants: list[TenantDriftOut]


class RebuildOut(BaseModel):
    sink: str
    tenant_id: UUID
    position: str
    loaded: dict[Kind, int]
    replayed_events: int
    seconds: float


SinkName = Annotated[str, Query(min_length=1, max_length=200, description="the mirror: 'graph'")]


def _mirror(state: State, sink: str) -> MirrorAdmin:
    mirror = state.mirrors.get(sink)
    if mirror is None:
        held = ", ".join(sorted(state.mirrors)) or "none"
        raise NotFound(
            f"this server holds no in-process mirror {sink!r} (it holds: {held}); a shared "
            "mirror (NEO4J_URI) is reconciled by `headwater reconcile` against it directly"
        )
    return mirror


@router.get("/drift")
async def drift(
    actor: AdminActor,
    state: State,
    sink: SinkName = "graph",
    wait: Annotated[float, Query(ge=0, le=300)] = 10.0,
    examples: Annotated[int, Query(ge=0, le=1000)] = 10,
) -> DriftReportOut:
    """Compare the caller's tenant in an in-process mirror with Postgres: counts of missing,
    extra, stale and duplicated entities per kind, and a few examples."""
    report = await _mirror(state, sink).drift(actor.tenant_id, wait=wait, examples=examples)
    return DriftReportOut.model_validate(report)


@router.post("/rebuild")
async def rebuild(actor: AdminActor, state: State, sink: SinkName = "graph") -> RebuildOut:
    """Reload the caller's tenant in an in-process mirror from a Postgres snapshot, then apply
    the tenant's events written since; queries keep being answered meanwhile."""
    report = await _mirror(state, sink).rebuild(actor.tenant_id)
    return RebuildOut.model_validate(report)
