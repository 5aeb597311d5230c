"""Liveness, readiness and Prometheus metrics (unauthenticated, no tenant data)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from headwater.api.deps import State
from headwater.api.json_route import StrictJSONRoute
from headwater.api.problems import problem

router = APIRouter(tags=["health"], route_class=StrictJSONRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(state: State) -> dict[str, str] | Response:
    try:
        async with state.database.transaction() as conn:
            await conn.execute("SELECT 1")
    except Exception as e:  # any failure means not ready; the reason goes to the caller
        return problem(503, "Not ready", f"database unavailable: {type(e).__name__}")
    return {"status": "ready"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
