"""Impact analysis before a schema change: what breaks downstream, at column level, and who to tell.

``POST /api/v1/impact`` takes an asset and proposed changes (drop, rename or retype a column;
drop or rename the asset); ``/impact/schema-diff`` takes the asset's new column list and works
out the changes; ``/impact/dbt`` takes a new dbt manifest. Each answer comes from one traversal
of the lineage graph, hydrated from Postgres, with the rules documented in
:mod:`headwater.graph.impact` and :mod:`headwater.catalog.impact_report`. They are reads: a
viewer may run them, and nothing is written.
"""

from __future__ import annotations

from fastapi import APIRouter

from headwater.api.deps import ReadSession
from headwater.api.json_route import StrictJSONRoute
from headwater.api.routers.lineage import Graph
from headwater.catalog.impact_report import (
    ImpactCaps,
    ImpactReport,
    ImpactRequest,
    SchemaDiffReport,
    SchemaDiffRequest,
    impact_of_changes,
    schema_diff_impact,
)
from headwater.ingest.dbt_diff import DbtImpactReport, DbtImpactRequest, dbt_impact
from headwater.settings import Settings

router = APIRouter(prefix="/impact", tags=["impact"], route_class=StrictJSONRoute)


def _caps(settings: Settings) -> ImpactCaps:
    return ImpactCaps(
        max_depth=settings.max_impact_depth,
        max_nodes=settings.max_impact_nodes,
        max_models=settings.max_impact_models,
        max_items=settings.max_impact_items,
    )


@router.post("")
async def impact(body: ImpactRequest, session: ReadSession, graph: Graph) -> ImpactReport:
    """Every column and asset downstream of the proposed changes, with distance, an explaining
    path, owners and tags, a severity each (breaking / warning / safe) and overall, ranked most
    critical first. Unknown asset: 404; unknown column or change kind: 422."""
    return await impact_of_changes(
        session.conn, graph, session.actor.tenant_id, body, _caps(session.settings)
    )


@router.post("/schema-diff")
async def schema_diff(
    body: SchemaDiffRequest, session: ReadSession, graph: Graph
) -> SchemaDiffReport:
    """The asset's new column list compared with the catalog (dropped, added, retyped, renamed
    as declared or detected), then the impact of those changes."""
    return await schema_diff_impact(
        session.conn, graph, session.actor.tenant_id, body, _caps(session.settings)
    )


@router.post("/dbt")
async def dbt(body: DbtImpactRequest, session: ReadSession, graph: Graph) -> DbtImpactReport:
    """A new dbt manifest (and optional catalog.json) against the catalog: each changed,
    renamed or removed model with its impact."""
    return await dbt_impact(
        session.conn, graph, session.actor.tenant_id, body, _caps(session.settings)
    )
