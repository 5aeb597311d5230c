"""Malformed input in any place of any route: a 4xx that says what is wrong, never a 5xx.

Every route of the OpenAPI document is called with odd path ids (zero, negative, past bigint,
not a number, a NUL), odd values for each of its query parameters, and mutated copies of a valid
body (a value of any JSON kind put anywhere, or a key dropped). Each answer must be below 500
and, when it refuses, carry a ``detail`` that says why. The search routes may answer 503: this
server runs without search mirrors, which they say.
"""

from __future__ import annotations

import copy
import json
import random
import re
from typing import Any, Final

import httpx
import pytest
from jsonschema import Draft202012Validator

from headwater.api.app import create_app
from headwater.api.problems import PROBLEM_JSON
from headwater.catalog.db import Database
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, table_row_counts
from tests.ingest.test_mutated_events import nodes, replaced
from tests.test_security_api import BODIES, api_routes, seed

ODD_IDS: Final = (
    "0", "-1", "2147483648", "9223372036854775808", "99999999999999999999", "abc", "1.5", "%00",
)  # fmt: skip
ODD_QUERY: Final = (*ODD_IDS, "", " ", "true", "a" * 2000, "2024-13-45T99:99:99Z", "é✓🙂")
ODD_VALUES: Final[tuple[Any, ...]] = (
    None, 0, -1, 1.5, 1e308, 10**30, 2**63, True, "", " ", "\x00", "a" * 5000, "é✓🙂", [], {},
    [None], {"a": None}, {"version": 1}, "2024-13-45T99:99:99Z", "//", [{"name": "a"}] * 3,
)  # fmt: skip


OPENAPI: Final[dict[str, Any]] = create_app(
    Settings(database_url="postgresql://unused"), Database("postgresql://unused")
).openapi()
PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}
# Every refusal must be the error document the OpenAPI document describes.
PROBLEM: Final = Draft202012Validator({**PROBLEM_REF, "components": OPENAPI["components"]})


def query_parameters() -> dict[tuple[str, str], dict[str, float | None]]:
    """The query parameters of every (method, path) with their documented minimum, from the
    OpenAPI document."""
    found: dict[tuple[str, str], dict[str, float | None]] = {}
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            found[method.upper(), path] = {
                p["name"]: _minimum(p["schema"])
                for p in operation.get("parameters", [])
                if p["in"] == "query"
            }
    return found


def _minimum(schema: dict[str, Any]) -> float | None:
    for option in [schema, *schema.get("anyOf", [])]:
        if "minimum" in option:
            return float(option["minimum"])
    return None


def mutated(rng: random.Random, body: dict[str, Any]) -> Any:
    out: Any = body
    for _ in range(rng.randint(1, 3)):
        path = rng.choice([p for p, _ in nodes(out)])
        new = copy.deepcopy(rng.choice(ODD_VALUES))
        out = replaced(out, path, new, drop=rng.random() < 0.2) if path else new
    return out


def assert_refused_politely(method: str, url: str, response: httpx.Response) -> None:
    where = (method, url[:200], response.text[:300])
    if response.status_code == 503 and url.startswith("/api/v1/search"):
        return
    assert response.status_code < 500, where
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON, where
        assert response.json().get("detail"), where
        assert not list(PROBLEM.iter_errors(response.json())), where


def test_every_operation_documents_its_errors_as_the_problem_documents_sent() -> None:
    """FastAPI documented a 422 in a JSON shape of its own that this API never sends, and no
    other error; generated clients and schema-driven testers (schemathesis) trusted that."""
    schemas = OPENAPI["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    for path, operations in OPENAPI["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"4XX", "5XX"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status[0] in "45":
                    assert response["content"] == {PROBLEM_JSON: {"schema": PROBLEM_REF}}


def test_counts_and_page_sizes_document_their_minimum() -> None:
    """limit=0 was refused by the handler while the document allowed any integer."""
    counts = {"limit", "node_cap", "max_depth", "max_paths"}
    checked = 0
    for (method, path), parameters in query_parameters().items():
        for name in counts & set(parameters):
            assert parameters[name] == 1, (method, path, name)
            checked += 1
    assert checked >= 14


async def test_odd_ids_and_query_values_are_refused_with_a_4xx(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    ids = await seed(client, database, tenant)
    queries = query_parameters()
    headers = tenant.headers("admin")
    calls = 0
    for method, path in api_routes():
        body = BODIES.get((method, path))
        body = json.loads(json.dumps(body).replace('"{asset_id}"', str(ids["asset_id"])))
        valid = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)
        for odd in ODD_IDS if "{" in path else ():
            url = re.sub(r"\{\w+\}", odd, path)
            response = await client.request(method, url, json=body, headers=headers)
            assert_refused_politely(method, url, response)
            calls += 1
        for name, minimum in queries[method, path].items():
            for odd in ODD_QUERY:
                response = await client.request(
                    method, valid, params={name: odd}, json=body, headers=headers
                )
                where = f"{valid}?{name}={odd[:20]}"
                assert_refused_politely(method, where, response)
                below = minimum is not None and re.fullmatch(r"-?\d+", odd) and int(odd) < minimum
                if below and response.status_code != 503:  # 503: search without its mirrors
                    # What the document says is refused is refused, at that parameter.
                    assert response.status_code == 422, where
                    assert ["query", name] in [e["loc"] for e in response.json()["errors"]], where
                calls += 1
    assert calls > 500


async def test_ids_versions_counts_and_flags_in_bodies_take_only_their_json_type(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """FastAPI validates a parsed body as Python objects, where pydantic read true as 1, 2.0 as
    2 and 0 as false: {"asset_id": true} reported on asset 1 (schemathesis: schema-violating
    requests accepted)."""
    ids = await seed(client, database, tenant)
    asset, field = ids["asset_id"], ids["field_id"]
    headers = tenant.headers("admin")
    cases: list[tuple[str, str, dict[str, Any], list[str | int]]] = [
        ("POST", "/api/v1/impact", {"asset_id": True, "changes": [{"kind": "drop_asset"}]},
         ["body", "asset_id"]),
        ("POST", "/api/v1/impact/schema-diff",
         {"asset_id": asset, "columns": [], "detect_renames": 1}, ["body", "detect_renames"]),
        ("POST", "/api/v1/impact/schema-diff", {"asset_id": asset, "columns": [], "limit": 5.0},
         ["body", "limit"]),
        ("PATCH", f"/api/v1/assets/{asset}", {"version": 1.0, "description": "x"},
         ["body", "version"]),
        ("PUT", f"/api/v1/assets/{asset}/fields",
         {"version": 2, "fields": [{"name": "email", "nullable": 0}]},
         ["body", "fields", 0, "nullable"]),
        ("PATCH", f"/api/v1/assets/{asset}/fields/{field}", {"version": 1, "nullable": "false"},
         ["body", "nullable"]),
        ("POST", "/api/v1/relationships", {"source_id": True, "target_id": asset, "type": "USES"},
         ["body", "source_id"]),
        ("POST", "/api/v1/api-keys", {"user_id": "1"}, ["body", "user_id"]),
        ("POST", "/api/v1/lineage/sql", {"dialect": "postgres", "sql": "SELECT 1", "record": 1},
         ["body", "record"]),
    ]  # fmt: skip
    before = table_row_counts(test_db)
    for method, url, body, loc in cases:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 422, (url, body, response.text)
        assert loc in [e["loc"] for e in response.json()["errors"]], (url, response.text)
    assert table_row_counts(test_db) == before


async def test_mutated_bodies_are_refused_with_a_4xx(
    client: httpx.AsyncClient, database: Database, tenant: TenantKeys
) -> None:
    ids = await seed(client, database, tenant)
    rng = random.Random(3)
    headers = {**tenant.headers("admin"), "Content-Type": "application/json"}
    refused = 0
    for (method, path), body in BODIES.items():
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        valid = json.loads(json.dumps(body).replace('"{asset_id}"', str(ids["asset_id"])))
        for _ in range(40):
            content = json.dumps(mutated(rng, valid))
            response = await client.request(method, url, content=content, headers=headers)
            assert_refused_politely(method, url, response)
            refused += response.status_code >= 400
    assert refused > len(BODIES) * 20, "most mutants are refused"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("NaN", "NaN is not valid JSON"),
        ("-Infinity", "-Infinity is not valid JSON"),
        ("1e400", "1e400 is beyond the range of a double"),
        ("-1E999", "-1E999 is beyond the range of a double"),
    ],
)
async def test_numbers_json_cannot_store_are_a_400_on_every_write_route(
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantKeys,
    test_db: TestDatabase,
    number: str,
    reason: str,
) -> None:
    """The standard library reads these as floats that the catalog would store as null; every
    route's body is refused instead, before anything is written."""
    ids = await seed(client, database, tenant)
    headers = {**tenant.headers("admin"), "Content-Type": "application/json"}
    before = table_row_counts(test_db)
    for (method, path), body in BODIES.items():
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        leaf = next(p for p, v in nodes(body) if p and not isinstance(v, dict | list))
        content = json.dumps(replaced(body, leaf, "<number>")).replace('"<number>"', number)
        response = await client.request(method, url, content=content, headers=headers)
        assert response.status_code == 400, (method, path, response.text)
        assert reason in response.json()["detail"], (method, path, response.text)
    assert table_row_counts(test_db) == before
