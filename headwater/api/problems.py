"""Every error leaves as RFC 9457 problem+json, with the request id so operators can find it."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.catalog.errors import HeadwaterError
from headwater.logging_setup import request_id_var

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if (request_id := request_id_var.get()) is not None:
        body["request_id"] = request_id
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="headwater"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(HeadwaterError)
    async def domain_error(_: Request, exc: HeadwaterError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed", extra={"error": exc.message})
        return problem(exc.status_code, exc.title, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        where = ", ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in errors[:5])
        return problem(422, "Validation failed", f"invalid request: {where}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return problem(500, "Internal error", "an unexpected error occurred; quote the request_id")
