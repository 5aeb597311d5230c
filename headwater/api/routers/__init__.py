"""Routers mounted under /api/v1."""

from fastapi import APIRouter

from headwater.api.routers import (
    admin,
    assets,
    audit,
    bulk,
    fields,
    impact,
    ingest_tasks,
    lineage,
    lineage_ingest,
    lineage_sql,
    relationships,
    search,
    sync_admin,
    tags,
    tasks,
)

ROUTERS: list[APIRouter] = [
    assets.router,
    admin.router,
    tags.router,
    audit.router,
    tasks.router,
    relationships.router,
    fields.router,
    fields.lineage_router,
    bulk.router,
    lineage_ingest.router,
    lineage_sql.router,
    ingest_tasks.router,
    lineage.router,
    impact.router,
    search.router,
    sync_admin.router,
]
