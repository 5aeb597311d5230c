"""Routers mounted under /api/v1."""

from fastapi import APIRouter

from headwater.api.routers import (
    admin,
    assets,
    audit,
    bulk,
    fields,
    lineage,
    lineage_ingest,
    relationships,
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
    lineage.router,
]
