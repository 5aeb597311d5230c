"""POST /api/v1/lineage and /api/v1/lineage/batch: odd real-world events, facets, rejections."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.ingest import bulk_apply
from headwater.ingest.apply import ingest_openlineage
from headwater.ingest.batch import IngestSummary
from tests.conftest import TenantKeys, TestDatabase
from tests.test_bulk import row_counts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MARQUEZ_EVENTS = SHARED / "marquez" / "api_test_resources" / "open_lineage"
PRODUCER = "https://github.com/example/producer"
URL = "/api/v1/lineage"


def event(
    job: str = "etl.load",
    *,
    event_type: str = "COMPLETE",
    run_id: str | None = None,
    time: str = "2024-05-01T12:00:00Z",
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    job_facets: dict[str, Any] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": "airflow", "name": job, "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


def facet(**content: Any) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/x.json",
        **content,
    }


def dataset(name: str, namespace: str = "postgres://db:5432", **facets: Any) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": facets}


def schema(*columns: str) -> dict[str, Any]:
    return facet(
        fields=[{"name": c, "type": "INTEGER", "description": f"the {c}"} for c in columns]
    )


async def lookup(client: httpx.AsyncClient, tenant: TenantKeys, qn: str) -> dict[str, Any]:
    got = await client.get(
        "/api/v1/assets/lookup", params={"qualified_name": qn}, headers=tenant.headers("viewer")
    )
    assert got.status_code == 200, got.text
    asset: dict[str, Any] = got.json()
    return asset


async def fields_of(client: httpx.AsyncClient, tenant: TenantKeys, asset_id: int) -> list[Any]:
    got = await client.get(f"/api/v1/assets/{asset_id}/fields", headers=tenant.headers("viewer"))
    assert got.status_code == 200, got.text
    fields: list[Any] = got.json()["fields"]
    return fields


async def relationships_of(
    client: httpx.AsyncClient, tenant: TenantKeys, asset_id: int
) -> set[tuple[int, int, str]]:
    got = await client.get(
        "/api/v1/relationships",
        params={"asset_id": asset_id, "limit": 500},
        headers=tenant.headers("viewer"),
    )
    assert got.status_code == 200, got.text
    return {(r["source_id"], r["target_id"], r["type"]) for r in got.json()["items"]}


async def post(
    client: httpx.AsyncClient, tenant: TenantKeys, body: Any, path: str = URL
) -> httpx.Response:
    return await client.post(path, json=body, headers=tenant.headers("editor"))


# Marquez's own odd test events --------------------------------------------------------------------

# file -> the warning it must carry (None: accepted without warnings).
MARQUEZ_CASES = {
    "event_additional_facet.json": "parent job is the job itself",
    "event_dataset_event.json": None,
    "event_full.json": "parent job is the job itself",
    "event_job_event.json": None,
    "event_large.json": "parent job is the job itself",
    "event_namespace_naming.json": "parent job is the job itself",
    "event_required_nanoseconds.json": None,
    "event_required_no_timezone.json": "no time zone: read as UTC",
    "event_required_only.json": None,
    "event_simple.json": None,
    "event_unicode.json": None,
    "event_without_schema_url.json": "schemaURL",
    "null_nominal_end_time.json": None,
    "listener/1.json": "schemaURL",
    "listener/2.json": "schemaURL",
}


def test_every_marquez_test_event_has_a_case() -> None:
    on_disk = {str(p.relative_to(MARQUEZ_EVENTS)) for p in MARQUEZ_EVENTS.rglob("*.json")}
    assert on_disk == set(MARQUEZ_CASES)


@pytest.mark.parametrize(("name", "warning"), sorted(MARQUEZ_CASES.items()))
async def test_marquez_test_events_are_accepted_with_their_warnings(
    client: httpx.AsyncClient, tenant: TenantKeys, name: str, warning: str | None
) -> None:
    raw = (MARQUEZ_EVENTS / name).read_bytes()
    sent = await client.post(
        URL,
        content=raw,
        headers={**tenant.headers("editor"), "Content-Type": "application/json"},
    )
    assert sent.status_code == 201, sent.text
    summary = sent.json()
    messages = [w["msg"] for w in summary["warnings"]]
    if warning is None:
        assert messages == []
    else:
        assert any(warning in m for m in messages), messages
    parsed = json.loads(raw)
    if "job" in parsed:
        job = await lookup(client, tenant, f"{parsed['job']['namespace']}/{parsed['job']['name']}")
        assert job["type"] == "job"
        assert job["name"] == parsed["job"]["name"]  # unicode names survive
    for ds in [parsed.get("dataset"), *parsed.get("inputs", []), *parsed.get("outputs", [])]:
        if ds is not None:
            await lookup(client, tenant, f"{ds['namespace']}/{ds['name']}")
    # The same event again is recognised and changes nothing.
    again = await client.post(
        URL, content=raw, headers={**tenant.headers("editor"), "Content-Type": "application/json"}
    )
    assert again.status_code == 201
    assert again.json()["duplicates"] == 1
    # An equivalent event (another producer) is applied, and finds everything in place.
    equivalent = await post(client, tenant, {**parsed, "producer": "https://example.com/other"})
    assert equivalent.status_code == 201
    counts = equivalent.json()
    assert counts["duplicates"] == 0
    for kind in ("assets", "fields", "relationships", "field_lineage", "tags"):
        assert counts[kind]["created"] == counts[kind]["updated"] == counts[kind]["deleted"] == 0


async def test_zone_less_and_nanosecond_times_are_read_as_utc(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    run_id = str(uuid.uuid4())
    start = event("times", event_type="START", run_id=run_id, time="2020-12-28T19:51:01.641499123")
    end = event("times", run_id=run_id, time="2020-12-28T21:51:01.641499999+02:00")
    assert (await post(client, tenant, start)).status_code == 201
    assert (await post(client, tenant, end)).status_code == 201
    run = (await lookup(client, tenant, "airflow/times"))["metadata"]["openlineage"]["last_run"]
    assert run["started_at"] == "2020-12-28T19:51:01.641499+00:00"
    assert run["ended_at"] == "2020-12-28T19:51:01.641499+00:00"
    assert run["state"] == "COMPLETE"


# Rejections ---------------------------------------------------------------------------------------


def _without_job_name() -> dict[str, Any]:
    e = event()
    del e["job"]["name"]
    return e


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    e: dict[str, Any] = event(outputs=[dataset("shop.public.orders", schema=schema("id"))])
    target: Any = e
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return e


BAD_EVENTS: list[tuple[str, Any, int, str]] = [
    ("no job name", _without_job_name(), 422, "'name' is a required property"),
    ("empty job name", _with(("job", "name"), "  "), 422, "job name must not be empty"),
    ("bad eventTime", _with(("eventTime",), "yesterday"), 422, "ISO 8601"),
    ("date only", _with(("eventTime",), "2024-05-01"), 422, "ISO 8601"),
    ("non-ASCII digits", _with(("eventTime",), "٢٠٢٤-05-01T12:00:00Z"), 422, "ISO 8601"),
    ("impossible date", _with(("eventTime",), "2024-02-30T10:00:00Z"), 422, "not a real"),
    ("eventTime a number", _with(("eventTime",), 1714560000), 422, "is not of type 'string'"),
    ("inputs an object", _with(("inputs",), {"name": "x"}), 422, "is not of type 'array'"),
    ("runId not a UUID", _with(("run", "runId"), "run-42"), 422, "runId must be a UUID"),
    ("unknown eventType", _with(("eventType",), "DONE"), 422, "is not one of"),
    (
        "schema fields not a list",
        _with(("outputs", 0, "facets", "schema"), facet(fields={"id": "int"})),
        422,
        "fields must be an array",
    ),
    (
        "neither run, job nor dataset",
        {"eventTime": "2024-05-01T12:00:00Z"},
        422,
        "not an OpenLineage",
    ),
    ("an array", [event()], 400, "not a list"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "reason"), BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS]
)
async def test_unmappable_events_are_refused_with_a_reason_and_write_nothing(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    test_db: TestDatabase,
    case: str,
    body: Any,
    status: int,
    reason: str,
) -> None:
    before = row_counts(test_db)
    answer = await post(client, tenant, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert reason in answer.json()["detail"], answer.json()
    assert row_counts(test_db) == before


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"eventTime": ', "not valid JSON"),
        (b'{"eventTime": NaN}', "NaN is not valid JSON"),
        (b'{"run": {"facets": {"x": {"rows": 1e400}}}}', "1e400 is beyond the range of a double"),
        (b'{"job": {"namespace": "a", "name": "b\\u0000"}}', "NUL character"),
        (b'{"job": {"namespace": "a", "name": "\\ud800"}}', "unpaired UTF-16 surrogate"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
async def test_malformed_bodies_are_400_and_write_nothing(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase, raw: bytes, reason: str
) -> None:
    before = row_counts(test_db)
    answer = await client.post(
        URL, content=raw, headers={**tenant.headers("editor"), "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["detail"]
    assert row_counts(test_db) == before


async def test_roles_and_authentication(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    assert (await client.post(URL, json=event())).status_code == 401
    viewer = await client.post(URL, json=event(), headers=tenant.headers("viewer"))
    assert viewer.status_code == 403


# Batches ------------------------------------------------------------------------------------------


async def test_a_batch_is_all_or_nothing_and_names_the_bad_event(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    good = [event(f"job_{i}", outputs=[dataset(f"db.public.t{i}")]) for i in range(3)]
    bad = event("job_bad")
    bad["run"]["runId"] = "nope"
    before = row_counts(test_db)
    answer = await post(client, tenant, [*good[:2], bad, good[2]], f"{URL}/batch")
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"loc": ["body", 2, "run", "runId"], "msg": "runId must be a UUID, got 'nope'"}
    ]
    assert row_counts(test_db) == before

    # A write that fails in the database half-way (a job named like an existing table) rolls back
    # everything before it too.
    clash = event("db.public.t0", outputs=[dataset("db.public.x")])
    clash["job"]["namespace"] = "postgres://db:5432"
    first = await post(client, tenant, [good[0]], f"{URL}/batch")
    assert first.status_code == 200, first.text
    before = row_counts(test_db)
    failed = await post(client, tenant, [good[1], clash], f"{URL}/batch")
    assert failed.status_code == 422
    assert "is a table in the catalog, not a job" in failed.json()["detail"]
    assert row_counts(test_db) == before

    accepted = await post(client, tenant, good, f"{URL}/batch")
    assert accepted.status_code == 200
    summary = accepted.json()
    assert summary["units"] == 3
    assert summary["duplicates"] == 1  # good[0] was ingested on its own before
    assert summary["relationships"] == {"created": 2, "updated": 0, "unchanged": 0, "deleted": 0}


async def test_batch_takes_ndjson_and_gzip(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    events = [event(f"nd_{i}", outputs=[dataset(f"db.public.nd{i}")]) for i in range(3)]
    ndjson = "\n".join(json.dumps(e) for e in events).encode() + b"\n"
    answer = await client.post(
        f"{URL}/batch",
        content=gzip.compress(ndjson),
        headers={
            **tenant.headers("editor"),
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["units"] == 3
    assert answer.json()["assets"]["created"] == 6

    broken = b'{"eventTime": "2024-05-01T12:00:00Z"}\n{"job": '
    before = row_counts(test_db)
    refused = await client.post(
        f"{URL}/batch", content=broken, headers={**tenant.headers("editor")}
    )
    assert refused.status_code == 400
    assert "line 2 is not valid JSON" in refused.json()["detail"]
    assert row_counts(test_db) == before

    bomb = gzip.compress(b"[" + b" " * (20 * 1024 * 1024) + b"]")
    too_big = await client.post(
        f"{URL}/batch",
        content=bomb,
        headers={**tenant.headers("editor"), "Content-Encoding": "gzip"},
    )
    assert too_big.status_code == 413


# Facets -------------------------------------------------------------------------------------------


async def test_facets_map_onto_the_catalog(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    source = dataset(
        "/warehouse/orders",
        "s3://lake",
        symlinks=facet(
            identifiers=[{"namespace": "hive://metastore", "name": "sales.orders", "type": "TABLE"}]
        ),
        dataSource=facet(name="lake", uri="postgres://loader:s3cret@db:5432/shop"),
    )
    target = dataset(
        "shop.public.daily",
        schema=schema("day", "total", "customer"),
        documentation=facet(description="Daily totals"),
        ownership=facet(owners=[{"name": "team:finance", "type": "MAINTAINER"}]),
        datasetType=facet(datasetType="VIEW"),
        tags=facet(
            tags=[
                {"key": "pii", "value": "true", "source": "MANUAL"},
                {"key": "domain", "value": "finance"},
                {"key": "pii", "value": "email", "field": "customer"},
            ]
        ),
        columnLineage=facet(
            fields={
                "total": {
                    "inputFields": [
                        {
                            "namespace": "s3://lake",
                            "name": "/warehouse/orders",
                            "field": "amount",
                            "transformations": [
                                {"type": "DIRECT", "subtype": "AGGREGATION", "description": "sum"},
                                {"type": "INDIRECT", "subtype": "FILTER", "masking": True},
                            ],
                        }
                    ]
                },
                "day": {
                    "inputFields": [
                        {"namespace": "s3://lake", "name": "/warehouse/orders", "field": "ts"}
                    ],
                    "transformationType": "IDENTITY",
                },
                "missing": {
                    "inputFields": [
                        {"namespace": "s3://lake", "name": "/warehouse/orders", "field": "x"}
                    ]
                },
            },
            dataset=[
                {
                    "namespace": "s3://lake",
                    "name": "/warehouse/orders",
                    "field": "status",
                    "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
                }
            ],
        ),
    )
    sent = event(
        "daily_totals",
        inputs=[source],
        outputs=[target],
        job_facets={
            "sql": facet(query="INSERT INTO daily SELECT ...", dialect="postgres"),
            "sourceCode": facet(language="python", sourceCode="print(1)"),
            "jobType": facet(processingType="BATCH", integration="AIRFLOW", jobType="TASK"),
            "tags": facet(tags=[{"key": "tier", "value": "gold", "source": "USER"}]),
            "ownership": facet(owners=[{"name": "alice@example.com"}]),
        },
        run_facets={
            "parent": facet(
                run={"runId": str(uuid.uuid4())},
                job={"namespace": "airflow", "name": "daily_dag"},
            ),
            "errorMessage": facet(message="boom", programmingLanguage="python"),
        },
    )
    answer = await post(client, tenant, sent)
    assert answer.status_code == 201, answer.text
    warnings = [w["msg"] for w in answer.json()["warnings"]]
    assert any("has no field 'missing' in this event's schema facet" in w for w in warnings)

    job = await lookup(client, tenant, "airflow/daily_totals")
    meta = job["metadata"]["openlineage"]
    assert meta["sql"] == {"query": "INSERT INTO daily SELECT ...", "dialect": "postgres"}
    assert meta["source_code"] == {"language": "python", "source_code": "print(1)"}
    assert meta["job_type"]["jobType"] == "TASK"
    assert meta["parent"] == {"namespace": "airflow", "name": "daily_dag"}
    assert meta["last_run"]["error_message"] == "boom"
    assert job["owners"] == ["alice@example.com"]
    assert [t["name"] for t in job["tags"]] == ["tier:gold"]
    dag = await lookup(client, tenant, "airflow/daily_dag")
    assert (dag["id"], job["id"], "CONTAINS") in await relationships_of(client, tenant, job["id"])

    daily = await lookup(client, tenant, "postgres://db:5432/shop.public.daily")
    assert daily["type"] == "view"
    assert daily["description"] == "Daily totals"
    assert daily["owners"] == ["team:finance"]
    assert sorted(t["name"] for t in daily["tags"]) == ["domain:finance", "pii"]
    assert daily["metadata"]["openlineage"]["field_tags"] == {"customer": ["pii:email"]}
    assert daily["metadata"]["openlineage"]["column_lineage_dataset"][0]["field"] == "status"

    orders = await lookup(client, tenant, "s3://lake//warehouse/orders")
    assert orders["type"] == "file"
    assert orders["metadata"]["aliases"] == ["hive://metastore/sales.orders"]
    assert orders["metadata"]["openlineage"]["data_source"]["uri"] == (
        "postgres://loader:***@db:5432/shop"
    )
    inferred = await fields_of(client, tenant, orders["id"])
    assert [(f["name"], f["metadata"]["inferred"]) for f in inferred] == [
        ("amount", True),
        ("ts", True),
    ]
    rels = await relationships_of(client, tenant, job["id"])
    assert (job["id"], orders["id"], "USES") in rels
    assert (job["id"], daily["id"], "PRODUCES") in rels

    lineage = await client.get(
        "/api/v1/field-lineage",
        params={"asset_id": daily["id"], "direction": "upstream"},
        headers=tenant.headers("viewer"),
    )
    edges = {e["transformation"]: e for e in lineage.json()["items"]}
    assert set(edges) == {"AGGREGATION", "IDENTITY"}
    assert edges["AGGREGATION"]["description"] == "sum"
    assert edges["AGGREGATION"]["metadata"]["masking"] is True
    assert len(edges["AGGREGATION"]["metadata"]["transformations"]) == 2

    # A later event naming the alias lands on the same asset.
    via_alias = event(
        "hive_reader",
        inputs=[dataset("sales.orders", "hive://metastore", schema=schema("amount", "ts", "qty"))],
    )
    answer = await post(client, tenant, via_alias)
    assert answer.status_code == 201, answer.text
    assert answer.json()["assets"]["created"] == 1  # the job only
    names = [f["name"] for f in await fields_of(client, tenant, orders["id"])]
    assert names == ["amount", "ts", "qty"]
    missing = await client.get(
        "/api/v1/assets/lookup",
        params={"qualified_name": "hive://metastore/sales.orders"},
        headers=tenant.headers("viewer"),
    )
    assert missing.status_code == 404


async def test_schema_replace_keeps_lineage_through_inferred_columns(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    lineage = facet(
        fields={
            "b": {"inputFields": [{"namespace": "pg", "name": "src", "field": "legacy"}]},
        }
    )
    first = event("a", inputs=[dataset("src", "pg", schema=schema("id"))])
    second = event("b", outputs=[dataset("dst", "pg", schema=schema("b"), columnLineage=lineage)])
    # Each round is a new run of both jobs: applied in full, not recognised as a duplicate.
    for _ in range(2):
        for e in (first, second):
            e["run"]["runId"] = str(uuid.uuid4())
            assert (await post(client, tenant, e)).status_code == 201
    src = await lookup(client, tenant, "pg/src")
    assert [f["name"] for f in await fields_of(client, tenant, src["id"])] == ["id", "legacy"]
    before = row_counts(test_db)
    for e in (first, second):
        answer = await post(client, tenant, {**e, "producer": "https://example.com/again"})
        assert answer.json()["fields"]["created"] == answer.json()["fields"]["deleted"] == 0
        assert answer.json()["field_lineage"]["created"] == 0
    after = row_counts(test_db)
    # Only the two raw events' audit rows are new.
    assert after == {**before, "audits": before["audits"] + 2}


async def test_lifecycle_rename_and_drop_replay_cleanly(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    created = event("maker", outputs=[dataset("db.public.old", schema=schema("id"))])
    assert (await post(client, tenant, created)).status_code == 201
    old = await lookup(client, tenant, "postgres://db:5432/db.public.old")

    renamed = event(
        "renamer",
        outputs=[
            dataset(
                "db.public.new",
                lifecycleStateChange=facet(
                    lifecycleStateChange="RENAME",
                    previousIdentifier={"namespace": "postgres://db:5432", "name": "db.public.old"},
                ),
            )
        ],
    )
    answer = await post(client, tenant, renamed)
    assert answer.status_code == 201, answer.text
    assert answer.json()["renamed"] == 1
    new = await lookup(client, tenant, "postgres://db:5432/db.public.new")
    assert new["id"] == old["id"]
    assert new["metadata"]["openlineage"]["name"] == "db.public.new"
    assert [f["name"] for f in await fields_of(client, tenant, new["id"])] == ["id"]

    dropped = event(
        "dropper",
        outputs=[dataset("db.public.new", lifecycleStateChange=facet(lifecycleStateChange="DROP"))],
    )
    answer = await post(client, tenant, dropped)
    assert answer.status_code == 201
    assert answer.json()["assets"]["deleted"] == 1
    gone = await client.get(f"/api/v1/assets/{new['id']}", headers=tenant.headers("viewer"))
    assert gone.status_code == 404
    kept = await client.get(
        f"/api/v1/assets/{new['id']}",
        params={"include_deleted": True},
        headers=tenant.headers("viewer"),
    )
    assert kept.json()["deleted_at"] is not None

    # Replaying the whole story neither brings the old name back nor the dropped table.
    before = row_counts(test_db)
    answer = await post(client, tenant, [created, renamed, dropped], f"{URL}/batch")
    assert answer.status_code == 200
    assert answer.json()["duplicates"] == 3
    assert row_counts(test_db) == before
    for name in ("db.public.old", "db.public.new"):
        missing = await client.get(
            "/api/v1/assets/lookup",
            params={"qualified_name": f"postgres://db:5432/{name}"},
            headers=tenant.headers("viewer"),
        )
        assert missing.status_code == 404


async def test_an_event_dropping_a_dataset_ignores_the_dataset_s_aliases_too(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    hive = {"namespace": "hive://metastore", "name": "sales.x", "type": "TABLE"}
    made = event(
        "maker",
        outputs=[dataset("db.public.x", schema=schema("id"), symlinks=facet(identifiers=[hive]))],
    )
    assert (await post(client, tenant, made)).status_code == 201
    x = await lookup(client, tenant, "postgres://db:5432/db.public.x")
    # The same table dropped, and written under its alias, in one event: the alias means the
    # dropped table, so it is left out as the table's own name would be.
    dropped = event(
        "dropper",
        inputs=[dataset("db.public.src", schema=schema("id"))],
        outputs=[
            dataset("db.public.x", lifecycleStateChange=facet(lifecycleStateChange="DROP")),
            dataset(
                "sales.x",
                "hive://metastore",
                schema=schema("id", "extra"),
                tags=facet(tags=[{"key": "pii"}]),
                columnLineage=facet(
                    fields={
                        "id": {
                            "inputFields": [
                                {"namespace": "postgres://db:5432", "name": "db.public.src",
                                 "field": "id"}
                            ]
                        }
                    }
                ),
            ),
        ],
    )  # fmt: skip
    answer = await post(client, tenant, dropped)
    assert answer.status_code == 201, answer.text
    summary = answer.json()
    assert summary["assets"]["deleted"] == 1
    assert summary["fields"]["created"] == 1  # the input's column, none of the alias's
    assert summary["field_lineage"]["created"] == summary["tags"]["created"] == 0
    assert [w["msg"] for w in summary["warnings"]] == [
        "'hive://metastore/sales.x' is an alias of 'postgres://db:5432/db.public.x', which this "
        "event drops: ignored"
    ]
    gone = await client.get(f"/api/v1/assets/{x['id']}", headers=tenant.headers("viewer"))
    assert gone.status_code == 404
    job = await lookup(client, tenant, "airflow/dropper")
    src = await lookup(client, tenant, "postgres://db:5432/db.public.src")
    assert await relationships_of(client, tenant, job["id"]) == {(job["id"], src["id"], "USES")}


async def test_dataset_and_job_events_carry_static_lineage(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    dataset_event = {
        "eventTime": "2024-05-01T12:00:00Z",
        "dataset": dataset("db.public.static", schema=schema("a", "b")),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
    }
    job_event = {
        "eventTime": "2024-05-01T12:00:00Z",
        "job": {"namespace": "static", "name": "designer"},
        "inputs": [dataset("db.public.static")],
        "outputs": [dataset("db.public.derived")],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
    }
    answer = await post(client, tenant, [dataset_event, job_event], f"{URL}/batch")
    assert answer.status_code == 200, answer.text
    static = await lookup(client, tenant, "postgres://db:5432/db.public.static")
    assert [f["name"] for f in await fields_of(client, tenant, static["id"])] == ["a", "b"]
    job = await lookup(client, tenant, "static/designer")
    assert "last_run" not in job["metadata"].get("openlineage", {})
    derived = await lookup(client, tenant, "postgres://db:5432/db.public.derived")
    assert await relationships_of(client, tenant, job["id"]) == {
        (job["id"], static["id"], "USES"),
        (job["id"], derived["id"], "PRODUCES"),
    }


async def test_runs_merge_whatever_the_arrival_order(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    old_run, new_run = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        event("ordered", event_type="COMPLETE", run_id=new_run, time="2024-05-02T10:05:00Z"),
        event("ordered", event_type="START", run_id=new_run, time="2024-05-02T10:00:00Z"),
        event("ordered", event_type="FAIL", run_id=old_run, time="2024-05-01T10:05:00Z"),
        event("ordered", event_type="RUNNING", run_id=new_run, time="2024-05-02T10:01:00Z"),
    ]
    assert (await post(client, tenant, events, f"{URL}/batch")).status_code == 200
    run = (await lookup(client, tenant, "airflow/ordered"))["metadata"]["openlineage"]["last_run"]
    assert run["run_id"] == new_run
    assert run["state"] == "COMPLETE"
    assert run["started_at"] == "2024-05-02T10:00:00+00:00"
    assert run["ended_at"] == "2024-05-02T10:05:00+00:00"


async def test_the_raw_event_is_kept_once_for_audit(
    client: httpx.AsyncClient, tenant: TenantKeys, test_db: TestDatabase
) -> None:
    sent = event("audited", outputs=[dataset("db.public.audited")])
    for _ in range(2):
        assert (await post(client, tenant, sent)).status_code == 201
    with psycopg.connect(test_db.admin_dsn) as conn:
        rows = conn.execute(
            "SELECT entity_id, after FROM audits WHERE action = 'openlineage.event'"
        ).fetchall()
    assert len(rows) == 1
    assert rows[0][0].startswith("sha256:")
    assert rows[0][1] == sent


async def test_a_concurrent_creator_of_the_same_dataset_does_not_fail_the_other(
    database: Database,
    tenant: TenantKeys,
    test_db: TestDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The second writer's run is planned again, which operators see in /metrics and the log."""
    replanned = {"found": "name_taken"}
    before = REGISTRY.get_sample_value("headwater_ingest_runs_replanned_total", replanned) or 0
    caplog.set_level(logging.INFO, logger="headwater.ingest")
    actor = Actor(tenant_id=tenant.tenant_id, user_id=None)
    first = event("first", outputs=[dataset("db.public.raced", schema=schema("id"))])
    second = event("second", outputs=[dataset("db.public.raced", schema=schema("id"))])

    async def ingest_second() -> IngestSummary:
        async with database.transaction(tenant.tenant_id) as conn:
            return await ingest_openlineage(conn, actor, [second])

    async with database.transaction(tenant.tenant_id) as conn:
        await ingest_openlineage(conn, actor, [first])
        racing = asyncio.create_task(ingest_second())
        # Wait until the second writer blocks on the name the first one has not committed yet.
        with psycopg.connect(test_db.admin_dsn, autocommit=True) as admin:
            for _ in range(500):
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the second writer never waited for the first")
    summary = await racing
    assert summary.assets.created == 1  # its job; the dataset was the first writer's
    assert summary.assets.unchanged == 1
    after = REGISTRY.get_sample_value("headwater_ingest_runs_replanned_total", replanned)
    assert after == before + 1
    (logged,) = [r for r in caplog.records if r.getMessage().startswith("ingestion run planned")]
    assert (logged.__dict__["found"], logged.__dict__["attempt"]) == ("name_taken", 1)


def _lineage_of(test_db: TestDatabase, tenant: TenantKeys) -> tuple[set[Any], set[Any]]:
    """A tenant's live assets with their field names, and its relationships by name."""
    with psycopg.connect(test_db.admin_dsn) as conn:
        assets = conn.execute(
            "SELECT a.qualified_name, array(SELECT f.name FROM schema_fields f"
            "  WHERE f.asset_id = a.id ORDER BY f.ordinal) FROM assets a"
            " WHERE a.tenant_id = %s AND a.deleted_at IS NULL",
            (tenant.tenant_id,),
        ).fetchall()
        edges = conn.execute(
            "SELECT s.qualified_name, t.qualified_name, r.type FROM relationships r"
            "  JOIN assets s ON s.id = r.source_id JOIN assets t ON t.id = r.target_id"
            " WHERE r.tenant_id = %s AND r.deleted_at IS NULL",
            (tenant.tenant_id,),
        ).fetchall()
    return {(qn, tuple(fields)) for qn, fields in assets}, set(edges)


async def test_concurrent_batches_over_the_same_datasets_all_land(
    tenant: TenantKeys, other_tenant: TenantKeys, test_db: TestDatabase
) -> None:
    """Two writers at once, each streaming batches whose events read datasets drawn from one
    pool, most of them new to the catalog when read: every batch lands, and the catalog ends as
    one writer sending the same batches in turn leaves it. Runs that collide on names they
    create take turns: without the tenant's ingestion lock (shared by every run, exclusive for
    a retry) they failed with 409 after a few attempts, the streaming writer invalidating the
    other's retries again and again."""
    writers, rounds, per_batch, pool = 2, 10, 60, 600
    draw = random.Random(5)
    batches = {
        (w, r): [
            event(
                f"writer{w}.job{r}_{i}",
                inputs=[
                    dataset(f"db.public.pool_{k}", schema=schema("id", f"c{k % 7}"))
                    for k in draw.sample(range(pool), 3)
                ],
                outputs=[dataset(f"db.public.out_{w}_{r}_{i}", schema=schema("id"))],
            )
            for i in range(per_batch)
        ]
        for w in range(writers)
        for r in range(rounds)
    }

    async def write(tenant: TenantKeys, mine: list[list[dict[str, Any]]]) -> None:
        actor = Actor(tenant_id=tenant.tenant_id, user_id=None)
        for batch in mine:
            async with database.transaction(tenant.tenant_id) as conn:
                await ingest_openlineage(conn, actor, batch)

    database = Database(test_db.app_dsn, max_size=writers)
    await database.open()
    try:
        await asyncio.gather(
            *(write(tenant, [batches[w, r] for r in range(rounds)]) for w in range(writers))
        )
        await write(other_tenant, list(batches.values()))
    finally:
        await database.close()
    assets, edges = _lineage_of(test_db, tenant)
    assert len(assets) > writers * rounds * per_batch * 2 + pool * 0.9
    assert (assets, edges) == _lineage_of(test_db, other_tenant)


async def test_a_retry_waits_a_bounded_time_behind_a_long_ingestion(
    tenant: TenantKeys, test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose plan went stale asks for the tenant's ingestion lock exclusively, and new runs
    queue behind it; while a long transaction (a background task's chunk) holds it shared, the
    run gives up waiting after ``_SERIALIZE_WAIT``, retries without it, and lands, its
    transaction's lock_timeout as it was. Unbounded, it waited for the long transaction."""
    monkeypatch.setattr(bulk_apply, "_SERIALIZE_WAIT", "300ms")
    write, planned = bulk_apply._Plan.write, []

    async def stale_once(plan: bulk_apply._Plan, conn: psycopg.AsyncConnection[Any]) -> None:
        planned.append(plan)
        if len(planned) == 1:
            raise bulk_apply._Stale("name_taken")
        await write(plan, conn)

    monkeypatch.setattr(bulk_apply._Plan, "write", stale_once)
    actor = Actor(tenant_id=tenant.tenant_id, user_id=None)
    database = Database(test_db.app_dsn, max_size=2)
    await database.open()
    try:
        async with database.transaction(tenant.tenant_id) as long:
            await bulk_apply._join_ingestion(long)
            async with asyncio.timeout(30), database.transaction(tenant.tenant_id) as conn:
                summary = await ingest_openlineage(conn, actor, [event("etl.retried")])
                timeout = await (await conn.execute("SHOW lock_timeout")).fetchone()
            assert not long.closed
    finally:
        await database.close()
    assert len(planned) == 2
    assert summary.assets.created == 1
    assert timeout == {"lock_timeout": "0"}
