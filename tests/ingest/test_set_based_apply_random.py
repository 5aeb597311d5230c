"""Set-based application equals the sequential reference on random event sequences too.

``test_set_based_apply`` compares the three ways of applying events (sequential reference, one
batch, one event per transaction) on a story written for known corner cases. Here hypothesis
writes the stories: a handful of RunEvents, DatasetEvents and JobEvents over a universe small
enough that they keep meeting each other's datasets, columns, jobs and runs: schemas that grow,
shrink and retype, column lineage to columns that exist or not, symlinks making one dataset
another's alias, tags differing in case, owners, types, renames onto free or taken names, drops,
and events sent twice.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.catalog.db import Database
from headwater.ingest import apply
from tests.conftest import TestDatabase
from tests.ingest.test_openlineage_api import dataset, event, facet
from tests.ingest.test_set_based_apply import ingest_three_ways

PG = "postgres://db:5432"
# raw.orders and mart.orders are the before-events' datasets (stored rows the events meet).
NAMES = [(PG, "raw.orders"), (PG, "mart.orders"), (PG, "mart.a"), (PG, "mart.b"), ("s3://l", "/x")]
COLUMNS = ["id", "amount", "ts", "total", "day", "x"]
RUNS = [f"3f0c1a52-5b1e-4d55-9a57-2f3b4a1c9e0{i}" for i in range(3)]
TIMES = ["2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-02T10:00:00Z"]

_slugs = itertools.count()
_names = st.sampled_from(NAMES)
_maybe = st.booleans()


@st.composite
def _schema(draw: st.DrawFn) -> dict[str, Any]:
    columns = draw(st.lists(st.sampled_from(COLUMNS), unique=True, max_size=4))
    fields: list[dict[str, Any]] = [
        {
            "name": c,
            "type": draw(st.sampled_from(["INTEGER", "STRING", "integer"])),
            **({"description": f"the {c}"} if draw(_maybe) else {}),
        }
        for c in columns
    ]
    if draw(st.integers(0, 5)) == 0:
        fields.append({"name": "address", "type": "STRUCT", "fields": [{"name": "city"}]})
    return facet(fields=fields)


@st.composite
def _column_lineage(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for target in draw(st.lists(st.sampled_from(COLUMNS), unique=True, min_size=1, max_size=3)):
        sources = []
        for namespace, name in draw(st.lists(_names, min_size=1, max_size=2)):
            source: dict[str, Any] = {
                "namespace": namespace,
                "name": name,
                "field": draw(st.sampled_from(COLUMNS)),
            }
            if draw(_maybe):
                subtype = draw(st.sampled_from(["IDENTITY", "AGGREGATION"]))
                source["transformations"] = [{"type": "DIRECT", "subtype": subtype}]
            sources.append(source)
        fields[target] = {"inputFields": sources}
    content: dict[str, Any] = {"fields": fields}
    if draw(st.integers(0, 4)) == 0:
        # Dataset-wide dependencies (a filter, a join key): kept as metadata.
        namespace, name = draw(_names)
        content["dataset"] = [
            {
                "namespace": namespace,
                "name": name,
                "field": draw(st.sampled_from(COLUMNS)),
                "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
            }
        ]
    return facet(**content)


@st.composite
def _dataset(draw: st.DrawFn, output: bool, static: bool = False) -> dict[str, Any]:
    namespace, name = draw(_names)
    facets: dict[str, Any] = {}
    if (output or static) and draw(st.integers(0, 4)) == 0:
        change = draw(st.sampled_from(["DROP", "RENAME"]))
        lifecycle: dict[str, Any] = {"lifecycleStateChange": change}
        if change == "RENAME":
            previous_namespace, previous = draw(_names)
            lifecycle["previousIdentifier"] = {"namespace": previous_namespace, "name": previous}
        facets["lifecycleStateChange"] = facet(**lifecycle)
    if draw(_maybe):
        facets["schema"] = draw(_schema())
    if output and draw(_maybe):
        facets["columnLineage"] = draw(_column_lineage())
    if draw(st.integers(0, 4)) == 0:
        alias_namespace, alias = draw(_names)
        facets["symlinks"] = facet(
            identifiers=[{"namespace": alias_namespace, "name": alias, "type": "TABLE"}]
        )
    if draw(st.integers(0, 3)) == 0:
        tags = draw(st.lists(st.sampled_from(["pii", "PII", "tier"]), unique=True, max_size=2))
        facets["tags"] = facet(
            tags=[
                {"key": t, "value": "true", **({"field": "id"} if draw(_maybe) else {})}
                for t in tags
            ]
        )
    if draw(st.integers(0, 3)) == 0:
        owner = draw(st.sampled_from(["team:data", "alice@example.com"]))
        facets["ownership"] = facet(owners=[{"name": owner}])
    if draw(st.integers(0, 3)) == 0:
        facets["documentation"] = facet(description=draw(st.sampled_from(["one", "two"])))
    if draw(st.integers(0, 4)) == 0:
        facets["datasetType"] = facet(datasetType=draw(st.sampled_from(["TABLE", "VIEW"])))
    return dataset(name, namespace, **facets)


@st.composite
def _event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["run", "run", "run", "run", "dataset", "job"]))
    producer = {
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"
        + {"run": "RunEvent", "dataset": "DatasetEvent", "job": "JobEvent"}[kind],
    }
    if kind == "dataset":
        return {
            "eventTime": draw(st.sampled_from(TIMES)),
            "dataset": draw(_dataset(False, static=True)),
            **producer,
        }
    inputs = draw(st.lists(_dataset(False), max_size=2))
    outputs = draw(st.lists(_dataset(True), max_size=2))
    job = draw(st.sampled_from(["load", "report", "copy"]))
    if kind == "job":
        return {
            "eventTime": draw(st.sampled_from(TIMES)),
            "job": {"namespace": "airflow", "name": job},
            "inputs": inputs,
            "outputs": outputs,
            **producer,
        }
    job_facets: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        job_facets["sql"] = facet(query=draw(st.sampled_from(["SELECT 1", "SELECT 2"])))
    if draw(st.integers(0, 4)) == 0:
        job_facets["tags"] = facet(tags=[{"key": draw(st.sampled_from(["gold", "GOLD"]))}])
    if draw(st.integers(0, 4)) == 0:
        job_facets["ownership"] = facet(owners=[{"name": "team:etl"}])
    if draw(st.integers(0, 4)) == 0:
        job_facets["documentation"] = facet(description=draw(st.sampled_from(["one", "two"])))
    run_facets: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        run_facets["parent"] = facet(
            run={"runId": draw(st.sampled_from(RUNS))},
            job={"namespace": "airflow", "name": draw(st.sampled_from(["dag", "load"]))},
        )
    return event(
        job,
        event_type=draw(st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL", "ABORT"])),
        run_id=draw(st.sampled_from(RUNS)),
        time=draw(st.sampled_from(TIMES)),
        inputs=inputs,
        outputs=outputs,
        job_facets=job_facets,
        run_facets=run_facets,
    )


@st.composite
def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = draw(st.lists(_event(), min_size=1, max_size=14))
    # Some sent again, as an emitter retrying does.
    for index in draw(st.lists(st.integers(0, len(events) - 1), max_size=2)):
        events.append(json.loads(json.dumps(events[index])))
    return events


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        # One database for every example: each uses tenants of its own.
        HealthCheck.function_scoped_fixture,
    ],
)
@given(events=_events(), run_limit=st.sampled_from([2, apply.RUN_LIMIT]))
async def test_random_events_apply_alike_three_ways(
    database: Database, test_db: TestDatabase, events: list[dict[str, Any]], run_limit: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        # Short runs carry what one planned run wrote to the next.
        patch.setattr(apply, "RUN_LIMIT", run_limit)
        await ingest_three_ways(database, test_db, events, prefix=f"r{next(_slugs)}")
