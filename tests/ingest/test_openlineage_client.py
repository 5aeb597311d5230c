"""The official OpenLineage Python client pointed at a running Headwater, as at Marquez.

The Marquez demo seed (26 RunEvents) is turned into the client's own event objects and emitted
through its HTTP transport; afterwards the catalog holds every job's inputs and outputs, every
dataset's schema and every column lineage edge of the events. Emitting them all again changes no
row; emitting equivalent events (another producer, so not recognised as duplicates) adds only
their raw audit copies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.generated import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    nominal_time_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.generated.base import DatasetFacet, JobFacet, RunFacet
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from headwater.api.app import create_app
from headwater.catalog.db import Database
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, serving_in_a_thread
from tests.test_bulk import row_counts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SEED = SHARED / "marquez" / "seed" / "metadata.json"


def seed_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(SEED.read_text(encoding="utf-8"))
    return events


# The seed's JSON as the client's typed objects -------------------------------------------------


def _schema_fields(fields: list[dict[str, Any]]) -> list[schema_dataset.SchemaDatasetFacetFields]:
    return [
        schema_dataset.SchemaDatasetFacetFields(
            name=f["name"],
            type=f.get("type"),
            description=f.get("description"),
            fields=_schema_fields(f.get("fields", [])),
        )
        for f in fields
    ]


def _dataset_facets(facets: dict[str, Any]) -> dict[str, DatasetFacet]:
    typed: dict[str, DatasetFacet] = {}
    for name, facet in facets.items():
        producer = facet["_producer"]
        match name:
            case "documentation":
                typed[name] = documentation_dataset.DocumentationDatasetFacet(
                    description=facet["description"], producer=producer
                )
            case "schema":
                typed[name] = schema_dataset.SchemaDatasetFacet(
                    fields=_schema_fields(facet["fields"]), producer=producer
                )
            case "dataSource":
                typed[name] = datasource_dataset.DatasourceDatasetFacet(
                    name=facet["name"], uri=facet["uri"], producer=producer
                )
            case "columnLineage":
                typed[name] = column_lineage_dataset.ColumnLineageDatasetFacet(
                    fields={
                        output: column_lineage_dataset.Fields(
                            inputFields=[
                                column_lineage_dataset.InputField(
                                    namespace=i["namespace"], name=i["name"], field=i["field"]
                                )
                                for i in entry["inputFields"]
                            ]
                        )
                        for output, entry in facet["fields"].items()
                    },
                    producer=producer,
                )
            case "dataQualityAssertions":
                # The seed puts this input facet among the dataset facets; so does the client.
                typed[name] = cast(
                    DatasetFacet,
                    data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                        assertions=[
                            data_quality_assertions_dataset.Assertion(
                                assertion=a["assertion"],
                                success=a["success"],
                                column=a.get("column"),
                            )
                            for a in facet["assertions"]
                        ],
                        producer=producer,
                    ),
                )
            case _:
                raise AssertionError(f"the seed has a facet this test does not convert: {name}")
    return typed


def _job_facets(facets: dict[str, Any]) -> dict[str, JobFacet]:
    typed: dict[str, JobFacet] = {}
    for name, facet in facets.items():
        if name == "sql":
            typed[name] = sql_job.SQLJobFacet(query=facet["query"], producer=facet["_producer"])
        elif name == "documentation":
            typed[name] = documentation_job.DocumentationJobFacet(
                description=facet["description"], producer=facet["_producer"]
            )
        else:
            raise AssertionError(f"the seed has a job facet this test does not convert: {name}")
    return typed


def _run_facets(facets: dict[str, Any]) -> dict[str, RunFacet]:
    typed: dict[str, RunFacet] = {}
    for name, facet in facets.items():
        assert name == "nominalTime", name
        typed[name] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=facet["nominalStartTime"],
            nominalEndTime=facet.get("nominalEndTime"),
            producer=facet["_producer"],
        )
    return typed


def client_event(raw: dict[str, Any], producer: str | None = None) -> RunEvent:
    return RunEvent(
        eventType=RunState(raw["eventType"]),
        eventTime=raw["eventTime"],
        producer=producer or raw["producer"],
        run=Run(runId=raw["run"]["runId"], facets=_run_facets(raw["run"].get("facets", {}))),
        job=Job(
            namespace=raw["job"]["namespace"],
            name=raw["job"]["name"],
            facets=_job_facets(raw["job"].get("facets", {})),
        ),
        inputs=[
            InputDataset(d["namespace"], d["name"], facets=_dataset_facets(d.get("facets", {})))
            for d in raw.get("inputs", [])
        ],
        outputs=[
            OutputDataset(d["namespace"], d["name"], facets=_dataset_facets(d.get("facets", {})))
            for d in raw.get("outputs", [])
        ],
    )


# A real server on a free local port --------------------------------------------------------------


@contextmanager
def running_headwater(settings: Settings) -> Iterator[str]:
    assert settings.database_url is not None
    app = create_app(settings, Database(settings.database_url, max_size=4))
    with serving_in_a_thread(app) as url:
        yield url


def emit_all(
    url: str, api_key: str, events: list[dict[str, Any]], producer: str | None = None
) -> None:
    transport = HttpTransport(HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": api_key})))
    client = OpenLineageClient(transport=transport)
    try:
        for raw in events:
            client.emit(client_event(raw, producer))  # raises on any non-2xx answer
    finally:
        client.close()


# What the catalog must hold ----------------------------------------------------------------------


async def _asset(http: httpx.AsyncClient, headers: dict[str, str], qn: str) -> dict[str, Any]:
    got = await http.get("/api/v1/assets/lookup", params={"qualified_name": qn}, headers=headers)
    assert got.status_code == 200, f"{qn}: {got.text}"
    asset: dict[str, Any] = got.json()
    return asset


async def _all(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = await http.get(path, params=query, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def assert_catalog_holds(
    http: httpx.AsyncClient, headers: dict[str, str], events: list[dict[str, Any]]
) -> None:
    ids: dict[str, int] = {}

    async def asset_id(namespace: str, name: str) -> int:
        qn = f"{namespace}/{name}"
        if qn not in ids:
            ids[qn] = (await _asset(http, headers, qn))["id"]
        return ids[qn]

    relationships = {
        (r["source_id"], r["target_id"], r["type"])
        for r in await _all(http, "/api/v1/relationships", headers)
    }
    field_names: dict[int, str] = {}
    for event in events:
        job = await asset_id(event["job"]["namespace"], event["job"]["name"])
        for dataset in event.get("inputs", []):
            target = await asset_id(dataset["namespace"], dataset["name"])
            assert (job, target, "USES") in relationships, (event["job"]["name"], dataset["name"])
        for dataset in event.get("outputs", []):
            target = await asset_id(dataset["namespace"], dataset["name"])
            assert (job, target, "PRODUCES") in relationships, (
                event["job"]["name"],
                dataset["name"],
            )
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            target = await asset_id(dataset["namespace"], dataset["name"])
            fields = await http.get(f"/api/v1/assets/{target}/fields", headers=headers)
            assert fields.status_code == 200
            stored = {f["name"]: f for f in fields.json()["fields"]}
            for f in fields.json()["fields"]:
                field_names[f["id"]] = f"{dataset['namespace']}/{dataset['name']}.{f['name']}"
            declared = dataset.get("facets", {}).get("schema", {}).get("fields", [])
            # The declared schema comes first, in order, with its types and descriptions.
            assert [f["name"] for f in fields.json()["fields"]][: len(declared)] == [
                f["name"] for f in declared
            ]
            for f in declared:
                assert stored[f["name"]]["data_type"] == f["type"]
                assert stored[f["name"]]["description"] == f["description"]

    edges = set()
    for edge in await _all(http, "/api/v1/field-lineage", headers):
        for field_id in (edge["source_field_id"], edge["target_field_id"]):
            if field_id not in field_names:
                owner = (
                    edge["source_asset_id"]
                    if field_id == edge["source_field_id"]
                    else edge["target_asset_id"]
                )
                listed = await http.get(f"/api/v1/assets/{owner}/fields", headers=headers)
                asset = await http.get(f"/api/v1/assets/{owner}", headers=headers)
                for f in listed.json()["fields"]:
                    field_names[f["id"]] = f"{asset.json()['qualified_name']}.{f['name']}"
        edges.add((field_names[edge["source_field_id"]], field_names[edge["target_field_id"]]))
    expected = set()
    for event in events:
        for dataset in event.get("outputs", []):
            lineage = dataset.get("facets", {}).get("columnLineage")
            for output, entry in (lineage or {}).get("fields", {}).items():
                for source in entry["inputFields"]:
                    expected.add(
                        (
                            f"{source['namespace']}/{source['name']}.{source['field']}",
                            f"{dataset['namespace']}/{dataset['name']}.{output}",
                        )
                    )
    assert expected, "the seed has column lineage"
    assert expected <= edges, expected - edges


async def test_official_client_emits_the_marquez_seed_and_a_replay_changes_nothing(
    settings: Settings,
    tenant: TenantKeys,
    client: httpx.AsyncClient,
    test_db: TestDatabase,
) -> None:
    events = seed_events()
    assert len(events) == 26
    with running_headwater(settings) as url:
        emit_all(url, tenant.editor, events)
        await assert_catalog_holds(client, tenant.headers("viewer"), events)

        jobs = await _all(client, "/api/v1/assets", tenant.headers("viewer"), type="job")
        assert len(jobs) == 13
        orders = next(j for j in jobs if j["name"] == "etl_orders")
        run = orders["metadata"]["openlineage"]["last_run"]
        # START and COMPLETE of the run merged into one record.
        assert run["state"] == "COMPLETE"
        assert run["started_at"].startswith("2020-02-22T22:42:42")
        assert run["ended_at"].startswith("2020-02-22T22:44:52")
        assert orders["description"] == "Loads newly placed orders daily."
        assert orders["metadata"]["openlineage"]["sql"]["query"].startswith("INSERT INTO orders")

        # The same events again: recognised, nothing changes.
        before = row_counts(test_db)
        emit_all(url, tenant.editor, events)
        assert row_counts(test_db) == before
        # Equivalent events from another producer are applied in full and find everything in
        # place: only their raw copies are kept.
        emit_all(url, tenant.editor, events, producer="https://example.com/replayer")
        assert row_counts(test_db) == {**before, "audits": before["audits"] + len(events)}
