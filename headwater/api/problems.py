"""Every error leaves as RFC 9457 problem+json, with the request id so operators can find it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.catalog.errors import HeadwaterError
from headwater.logging_setup import request_id_var

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str = ""


class Problem(BaseModel):
    """An error response (RFC 9457). Some errors add members of their own, e.g. the id of the
    live entity a 409 collides with."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[ProblemError] | None = None


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


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def document(app: FastAPI, schemas: Mapping[str, Any]) -> None:
    """Say in the OpenAPI document what errors look like: FastAPI documents a 422 as its own
    JSON shape, which this API never sends, and no other error at all. ``schemas``: components
    that operations reference by name without a model of their own."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        _, definitions = models_json_schema(
            [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions["$defs"])
        components.update(schemas)
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in schema["paths"].items():
            if not path.startswith("/api/"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    if status.startswith("4"):
                        text = response.get("description") or HTTPStatus(int(status)).phrase
                        responses[status] = _problem_response(text)
                if "422" in responses:
                    responses["422"]["description"] = (
                        "Values the request's model or a constraint refuses; `errors` locates each"
                    )
                responses["4XX"] = _problem_response(
                    "Any other refusal: 400 a body that is not storable JSON, 401/403 the API "
                    "key, 404 an unknown id, 409 a stale version or a duplicate, 413 too large"
                )
                responses["5XX"] = _problem_response("A server error; quote the request_id")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
