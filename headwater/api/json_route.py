"""JSON request bodies read as strictly as ingestion reads them.

FastAPI reads bodies with the standard library, which accepts ``NaN``, ``Infinity`` and numbers
beyond a double (read as infinity); the catalog stores JSON through orjson, which writes all of
them as ``null``: a value would change silently between request and row. Every router uses this
route class, so each body is read by ``headwater.ingest.payload.loads`` instead, which refuses
those (and a NUL character or an unpaired surrogate, which Postgres refuses later) with a 400
that says what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from headwater.catalog.errors import BadRequest
from headwater.ingest.payload import loads


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            try:
                self._strict_json = loads(await self.body())
            except BadRequest as e:
                # FastAPI turns any other exception raised while reading the body into a
                # 400 without the reason; an HTTPException passes through as it is.
                raise HTTPException(status_code=400, detail=e.message) from None
        return self._strict_json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict
