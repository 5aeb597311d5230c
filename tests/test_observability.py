"""Operators' view of the API: liveness, readiness, Prometheus metrics and JSON request logs."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message, Receive, Scope, Send

from headwater.api.app import create_app
from headwater.api.middleware import RequestContextMiddleware
from headwater.catalog.db import Database
from headwater.logging_setup import JsonFormatter
from headwater.settings import Settings
from tests.conftest import TenantKeys

GENERATED_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex


def _requests_total(exposition: str) -> dict[tuple[str, str, str], float]:
    """``headwater_http_requests_total`` by (method, route, status)."""
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "headwater_http_requests_total"
    }


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_metrics_count_requests_by_method_route_and_status(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    # The counter is process-wide (other tests' requests count too): compare before and after.
    before = _requests_total((await client.get("/metrics")).text)
    await client.get("/healthz")
    await client.get("/healthz")
    for asset_id in (999998, 999999):
        missing = await client.get(f"/api/v1/assets/{asset_id}", headers=tenant.headers("viewer"))
        assert missing.status_code == 404
    for path in ("/api/v1/no-such-route/1", "/api/v1/no-such-route/2"):
        assert (await client.get(path)).status_code == 404
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    documented = (await client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
    assert list(documented["responses"]["200"]["content"]) == ["text/plain"]
    after = _requests_total(response.text)
    increased = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k)}
    # The /metrics call that took ``before`` is counted once it has answered.
    assert increased.pop(("GET", "/metrics", "200")) == 1
    # Labelled by route template, never by the raw path: one series however many ids are asked.
    # Paths no route matched share one series too.
    assert increased.pop(("GET", "unmatched", "404")) == 2
    [(asset_route, asset_count)] = [(k, v) for k, v in increased.items() if k[1] != "/healthz"]
    assert asset_route[0] == "GET"
    assert asset_route[1] == "/api/v1/assets/{asset_id}"
    assert asset_route[2] == "404"
    assert asset_count == 2
    assert increased[("GET", "/healthz", "200")] == 2


async def test_metrics_expose_replanned_ingestion_runs_by_cause_from_the_start(
    client: httpx.AsyncClient,
) -> None:
    """Every cause is a series before any run collides, so a rate() alert has data to read."""
    exposition = (await client.get("/metrics")).text
    found = {
        sample.labels["found"]
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "headwater_ingest_runs_replanned_total"
    }
    assert found == {
        "name_taken", "field_changed", "tag_deleted", "edge_changed", "edge_taken", "deadlock"
    }  # fmt: skip


async def test_readyz_is_ready_with_the_database_and_503_without_it(settings: Settings) -> None:
    assert settings.database_url is not None
    database = Database(settings.database_url, max_size=1)
    app = create_app(settings, database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready"}
            # The database becomes unusable while the app keeps serving.
            await database.close()
            unready = await http.get("/readyz")
            assert unready.status_code == 503
            assert unready.headers["content-type"] == "application/problem+json"
            assert unready.json()["detail"].startswith("database unavailable")
            # Liveness does not depend on the database: the process itself is fine.
            assert (await http.get("/healthz")).status_code == 200


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The access log as the JSON lines operators read: formatted when emitted, while the
    request's id is still current (the formatter reads it from the request's context)."""
    caplog.set_level(logging.INFO, logger="headwater.access")
    caplog.handler.setFormatter(JsonFormatter())
    return caplog


def _access_lines(caplog: pytest.LogCaptureFixture, path: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in caplog.text.splitlines() if line.strip()]
    return [e for e in entries if e["logger"] == "headwater.access" and e.get("path") == path]


async def test_request_log_line_carries_the_given_request_id(
    client: httpx.AsyncClient, tenant: TenantKeys, access_log: pytest.LogCaptureFixture
) -> None:
    response = await client.get(
        "/api/v1/assets", headers={**tenant.headers("viewer"), "X-Request-ID": "trace-7f.A_1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-7f.A_1"
    [line] = _access_lines(access_log, "/api/v1/assets")
    assert line["request_id"] == "trace-7f.A_1"
    assert line["msg"] == "request"
    assert line["method"] == "GET"
    assert line["status"] == 200


async def test_request_without_a_usable_id_gets_a_generated_one(
    client: httpx.AsyncClient, tenant: TenantKeys, access_log: pytest.LogCaptureFixture
) -> None:
    absent = await client.get("/api/v1/assets/999999", headers=tenant.headers("viewer"))
    # An id that could forge log lines or flood them is replaced, not echoed.
    unsafe = await client.get("/healthz", headers={"X-Request-ID": 'a b"}' + "x" * 100})
    generated = [absent.headers["x-request-id"], unsafe.headers["x-request-id"]]
    assert all(GENERATED_ID.fullmatch(g) for g in generated)
    assert generated[0] != generated[1]
    # The problem+json body names the same id, so a client can quote it to an operator.
    assert absent.json()["request_id"] == generated[0]
    [missing_line] = _access_lines(access_log, "/api/v1/assets/999999")
    assert missing_line["request_id"] == generated[0]
    assert missing_line["status"] == 404
    [health_line] = _access_lines(access_log, "/healthz")
    assert health_line["request_id"] == generated[1]


async def test_an_id_ending_in_a_newline_is_replaced() -> None:
    """A regular expression's ``$`` also matches before a final newline; no HTTP client here
    sends one (httpx refuses it), so the middleware is called as a server would call it."""
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"x-request-id", b"a\n")]}
    await RequestContextMiddleware(app)(scope, receive, send)
    [value] = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
    assert GENERATED_ID.fullmatch(value.decode()), value


async def test_an_unexpected_error_is_a_500_carrying_its_request_id_logged_once(
    settings: Settings, access_log: pytest.LogCaptureFixture
) -> None:
    """Starlette answers an unhandled exception outside this API's middleware, where the request
    id is gone: the 500 said "quote the request_id" without one, no X-Request-ID header, the
    error log line had none either, and the exception went on to the server, which logged the
    traceback a second time."""
    assert settings.database_url is not None
    app = create_app(settings, Database(settings.database_url, max_size=1))

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/broken", broken)
    access_log.set_level(logging.INFO)
    # httpx's ASGI transport raises what escapes the app, as a server would log it.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/api/v1/broken", headers={"X-Request-ID": "bug-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "bug-42"
    assert response.json()["request_id"] == "bug-42"
    lines = [json.loads(line) for line in access_log.text.splitlines() if line.strip()]
    [error] = [e for e in lines if e["level"] == "ERROR"]
    assert error["msg"] == "unhandled error"
    assert error["request_id"] == "bug-42"
    assert error["error_type"] == "RuntimeError"
    assert "a bug" in error["exc"]
    [access] = _access_lines(access_log, "/api/v1/broken")
    assert (access["status"], access["request_id"]) == (500, "bug-42")
