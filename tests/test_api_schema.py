"""Every operation answers as the OpenAPI document says, for requests generated from it.

schemathesis (its command line, as a CI job would run it) reads the document the app serves and
generates requests for each operation: its examples, boundary values of every parameter and body
member (the coverage phase: empty, equal, longest, wrong-typed values), random valid and invalid
inputs, and call sequences that feed one answer's ids into the next request (stateful). The app
runs under uvicorn as ``headwater serve`` builds it, search mirrors included, on a real
database. Each answer must not be a server error, its status, content type and body must be what
the document declares for that operation, and a request that breaks the document's schema must
be refused. The seed is fixed, so a failure reproduces; schemathesis prints it as a curl
command.

Revoking an API key and editing users run last, on their own: generated calls revoke or
deactivate the key the runs authenticate with, after which every call is a 401.

The document is self-contained (the OpenLineage endpoints' bodies reference the spec's
definitions among its components). Refusing schema-violating requests is not required of two
kinds of operation, which run on their own:
- the OpenLineage endpoints accept some events the schema refuses (facets without ``_producer``
  or ``schemaURL``, with a warning);
- search's filters are lists of free text in the query string, where a "number" schemathesis
  generates to break the schema (``tag=0.0``) is the text "0.0", a valid tag to look for.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import httpx

from headwater.catalog.db import Database
from headwater.runtime import build_app
from headwater.search.embeddings import Embedder
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, serving_in_a_thread
from tests.test_security_api import seed

CHECKS: Final = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
LOCKING_OUT: Final = {
    ("post", "/api/v1/api-keys/{key_id}/revoke"),
    ("patch", "/api/v1/users/{user_id}"),
}
OPENLINEAGE: Final = ("/api/v1/lineage", "/api/v1/lineage/batch")


async def test_every_operation_answers_as_its_openapi_document_says(
    settings: Settings,
    test_db: TestDatabase,
    database: Database,
    tenant: TenantKeys,
    embedder: Embedder,
    tmp_path: Path,
) -> None:
    app = build_app(settings, test_db.app_dsn, test_db.worker_dsn, embedder=embedder)
    document = app.openapi()
    paths = {p: dict(ops) for p, ops in document["paths"].items() if p.startswith("/api/")}
    locking_out: dict[str, dict[str, Any]] = {}
    for method, path in LOCKING_OUT:
        locking_out.setdefault(path, {})[method] = paths[path].pop(method)
    lenient = {path: {"post": paths[path]["post"]} for path in OPENLINEAGE}
    for path in OPENLINEAGE:
        del paths[path]["post"]
    lenient["/api/v1/search"] = paths.pop("/api/v1/search")
    schemas = {
        "openapi.json": (CHECKS + ",negative_data_rejection", {**document, "paths": paths}),
        "lenient.json": (CHECKS, {**document, "paths": lenient}),
        "locking-out.json": (
            CHECKS + ",negative_data_rejection",
            {**document, "paths": locking_out},
        ),
    }
    with serving_in_a_thread(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            await seed(http, database, tenant)  # something for the ids in paths to find
        for name, (checks, schema) in schemas.items():
            (tmp_path / name).write_text(json.dumps(schema))
            command = [
                str(Path(sys.executable).with_name("st")), "run", name, "--url", base_url,
                "--header", f"Authorization: Bearer {tenant.admin}",
                "--checks", checks, "--phases", "examples,coverage,fuzzing,stateful",
                "--max-examples", "25", "--seed", "20261207", "--workers", "1",
                "--output-sanitize", "true", "--no-color",
            ]  # fmt: skip
            run = await asyncio.to_thread(
                subprocess.run,
                command,
                cwd=tmp_path,  # where schemathesis keeps its cache
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
            operations = sum(len(methods) for methods in schema["paths"].values())
            assert f"Tested: {operations}\n" in run.stdout, run.stdout[-3_000:]


def test_the_openapi_document_needs_nothing_from_the_network(
    settings: Settings, test_db: TestDatabase
) -> None:
    document = build_app(settings, test_db.app_dsn, test_db.worker_dsn, search=False).openapi()
    references = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                references.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    schemas = document["components"]["schemas"]
    for reference in references:
        assert reference.startswith("#/components/schemas/"), reference
        assert reference.removeprefix("#/components/schemas/") in schemas, reference
    body = document["paths"]["/api/v1/lineage"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/OpenLineageEvent"}
    assert "OpenLineageRunEvent" in schemas
