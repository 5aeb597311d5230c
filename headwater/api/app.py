"""The FastAPI application: routers under /api/v1, problem+json errors, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI

from headwater import __version__
from headwater.api import problems
from headwater.api.deps import AppState
from headwater.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from headwater.api.routers import ROUTERS, health
from headwater.api.ui import mount_ui
from headwater.catalog.db import Database, check_app_role
from headwater.graph.engine import GraphEngine
from headwater.ingest import openlineage
from headwater.search.hybrid import HybridSearch
from headwater.settings import Settings


def create_app(
    settings: Settings,
    database: Database,
    graph: GraphEngine | None = None,
    *,
    background: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    search: HybridSearch | None = None,
) -> FastAPI:
    """Build the app around a database and a lineage graph; the lifespan opens and closes the
    pool and runs ``background`` (the composition root's mirrors) while the app serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await database.open()
        try:
            await check_app_role(database)
            if background is None:
                yield
            else:
                async with background():
                    yield
        finally:
            await database.close()

    app = FastAPI(
        title="Headwater",
        version=__version__,
        description="Graph-native lineage: impact analysis, lineage and asset search.",
        lifespan=lifespan,
    )
    app.state.headwater = AppState(settings=settings, database=database, graph=graph, search=search)
    problems.install(app)
    problems.document(app, openlineage.openapi_schemas())
    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)
    app.include_router(api)
    app.include_router(health.router)
    mount_ui(app)
    # Outermost first: the request id must exist before a 413 is rendered.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
