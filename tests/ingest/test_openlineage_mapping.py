"""The pure parts: event mapping, run merging, transformation kinds, body decoding."""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from headwater.catalog.errors import BadRequest, PayloadTooLarge, Unprocessable
from headwater.catalog.field_lineage import Transformation
from headwater.ingest.batch import FieldsMode, RunUpdate, merge_run
from headwater.ingest.openlineage import map_events
from headwater.ingest.payload import decode_body, load_documents

PRODUCER = "https://example.com/producer"


def run_event(when: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "START",
        "eventTime": when,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "ns", "name": "job"},
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        **extra,
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2020-12-28T19:51:01.641Z", datetime(2020, 12, 28, 19, 51, 1, 641000, UTC)),
        ("2020-12-28T19:51:01.641499123Z", datetime(2020, 12, 28, 19, 51, 1, 641499, UTC)),
        ("2020-12-28T19:52:00.001+10:00", datetime(2020, 12, 28, 9, 52, 0, 1000, UTC)),
        ("2020-12-28 19:52:00-0130", datetime(2020, 12, 28, 21, 22, 0, 0, UTC)),
        ("2020-12-28T19:52", datetime(2020, 12, 28, 19, 52, 0, 0, UTC)),
    ],
)
def test_event_times_normalise_to_utc(given: str, expected: datetime) -> None:
    unit = map_events([run_event(given)]).units[0]
    run = unit.assets["ns/job"].run
    assert run is not None
    assert run.event_time == expected


def _update(run_id: str, event_type: str, minute: int) -> RunUpdate:
    return RunUpdate(run_id, event_type, datetime(2024, 5, 1, 10, minute, tzinfo=UTC))


def test_run_merge_is_order_independent_and_idempotent() -> None:
    old, new = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
    updates = [
        _update(old, "START", 0),
        _update(old, "FAIL", 5),
        _update(new, "START", 10),
        _update(new, "RUNNING", 11),
        _update(new, "COMPLETE", 20),
        _update(new, "OTHER", 30),
    ]
    results = set()
    for order in itertools.permutations(updates):
        state: dict[str, Any] | None = None
        for update in (*order, *order):  # every event twice: replays change nothing
            state = merge_run(state, update)
        assert state is not None
        results.add(tuple(sorted(state.items())))
    assert len(results) == 1
    final = dict(next(iter(results)))
    assert final["run_id"] == new
    assert final["state"] == "COMPLETE"  # OTHER adds facts, it is no transition
    assert final["started_at"] == "2024-05-01T10:10:00+00:00"
    assert final["ended_at"] == "2024-05-01T10:20:00+00:00"
    assert final["latest_event_time"] == "2024-05-01T10:30:00+00:00"


def _lineage(**entry: Any) -> dict[str, Any]:
    output: dict[str, Any] = {
        "namespace": "pg",
        "name": "out",
        "facets": {
            "columnLineage": {
                "_producer": PRODUCER,
                "_schemaURL": "https://example.com",
                "fields": {"o": {"inputFields": [{"namespace": "pg", "name": "in", "field": "i"}]}},
            }
        },
    }
    fields = output["facets"]["columnLineage"]["fields"]["o"]
    transformations = entry.pop("transformations", None)
    if transformations is not None:
        fields["inputFields"][0]["transformations"] = transformations
    fields.update(entry)
    return run_event("2024-05-01T10:00:00Z", outputs=[output])


@pytest.mark.parametrize(
    ("entry", "kind", "metadata"),
    [
        ({}, Transformation.UNKNOWN, {}),
        ({"transformationType": "IDENTITY"}, Transformation.IDENTITY, {}),
        ({"transformationType": "MASKED"}, Transformation.TRANSFORMATION, {"masking": True}),
        (
            {"transformations": [{"type": "INDIRECT", "subtype": "JOIN"}]},
            Transformation.JOIN,
            {"transformations": [{"type": "INDIRECT", "subtype": "JOIN"}]},
        ),
        (
            {
                "transformations": [
                    {"type": "INDIRECT", "subtype": "FILTER"},
                    {"type": "DIRECT", "subtype": "AGGREGATION", "masking": True},
                ]
            },
            Transformation.AGGREGATION,
            {
                "transformations": [
                    {"type": "INDIRECT", "subtype": "FILTER"},
                    {"type": "DIRECT", "subtype": "AGGREGATION", "masking": True},
                ],
                "masking": True,
            },
        ),
        (
            {"transformations": [{"type": "DIRECT"}]},
            Transformation.TRANSFORMATION,
            {"transformations": [{"type": "DIRECT"}]},
        ),
    ],
)
def test_transformation_kinds(
    entry: dict[str, Any], kind: Transformation, metadata: dict[str, Any]
) -> None:
    unit = map_events([_lineage(**entry)]).units[0]
    [edge] = unit.column_edges
    assert (edge.source, edge.source_field, edge.target, edge.target_field) == (
        "pg/in",
        "i",
        "pg/out",
        "o",
    )
    assert edge.transformation == kind
    assert edge.metadata == metadata
    # Both ends are created as inferred columns, since the event declares no schema for them.
    assert [f.name for f in unit.assets["pg/in"].ensure_fields] == ["i"]
    assert unit.assets["pg/out"].ensure_fields[0].metadata["inferred"] is True


def test_nested_schema_fields_are_flattened() -> None:
    output = {
        "namespace": "s3://b",
        "name": "/t",
        "facets": {
            "schema": {
                "_producer": PRODUCER,
                "_schemaURL": "https://example.com",
                "fields": [
                    {"name": "id", "type": "int"},
                    {
                        "name": "address",
                        "type": "struct",
                        "fields": [{"name": "zip", "type": "string"}],
                    },
                    {"name": "id", "type": "bigint"},
                ],
            }
        },
    }
    mapped = map_events([run_event("2024-05-01T10:00:00Z", outputs=[output])])
    spec = mapped.units[0].assets["s3://b//t"]
    assert spec.type.value == "file"
    assert spec.fields is not None
    assert spec.fields.mode == FieldsMode.REPLACE
    assert [(f.name, f.data_type) for f in spec.fields.fields] == [
        ("id", "int"),
        ("address", "struct"),
        ("address.zip", "string"),
    ]
    assert any("duplicate field 'id'" in msg for _, msg in mapped.warnings)


def test_a_name_used_for_a_job_and_a_dataset_is_refused() -> None:
    event = run_event("2024-05-01T10:00:00Z", inputs=[{"namespace": "ns", "name": "job"}])
    with pytest.raises(Unprocessable) as refused:
        map_events([event])
    assert "named both as a job and as a table" in refused.value.message


def test_errors_are_collected_across_a_batch() -> None:
    bad = [run_event("never"), run_event("2024-05-01T10:00:00Z"), {"job": 1}]
    with pytest.raises(Unprocessable) as refused:
        map_events(bad)
    assert [e["loc"][:2] for e in refused.value.extra["errors"]] == [["body", 0], ["body", 2]]
    assert "(and 1 more)" in refused.value.message


def test_documents_arrays_single_objects_and_ndjson() -> None:
    assert load_documents(b' [{"a": 1}, {"a": 2}] ') == [{"a": 1}, {"a": 2}]
    assert load_documents(b'{\n  "a": 1\n}\n') == [{"a": 1}]
    assert load_documents(b'{"a": 1}\n\n{"a": 2}\n') == [{"a": 1}, {"a": 2}]
    with pytest.raises(BadRequest, match="body is not valid JSON"):
        load_documents(b'{\n  "a": 1,\n}\n')  # a broken pretty-printed document, not NDJSON
    with pytest.raises(BadRequest, match="body is empty"):
        load_documents(b"  \n")


def test_bodies_decode_within_the_limit() -> None:
    data = b'{"a": 1}'
    assert decode_body(data, None, 100) == data
    assert decode_body(gzip.compress(data), "gzip", 100) == data
    assert decode_body(zlib.compress(data), "deflate", 100) == data
    with pytest.raises(BadRequest, match="not supported"):
        decode_body(data, "br", 100)
    with pytest.raises(BadRequest, match="not valid gzip"):
        decode_body(data, "gzip", 100)
    with pytest.raises(BadRequest, match="truncated"):
        decode_body(gzip.compress(data)[:-6], "gzip", 100)
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress(b"x" * 101), "gzip", 100)


# Schema validation: a compiled validator answers first, the reference explains refusals --------

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "marquez"


def _corpus() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((SHARED / "seed" / "metadata.json").read_text())
    for path in sorted((SHARED / "api_test_resources" / "open_lineage").rglob("*.json")):
        events.append(json.loads(path.read_text()))
    return events


def _reference_errors(event: dict[str, Any]) -> list[Any]:
    schema = json.loads(
        (resources.files("headwater.ingest") / "schemas" / "OpenLineage.json").read_text()
    )
    kind = "RunEvent" if "run" in event else "DatasetEvent" if "dataset" in event else "JobEvent"
    ref = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"}
    return list(Draft202012Validator(ref).iter_errors(event))


def _datasets(event: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*event.get("inputs", []), *event.get("outputs", [])]
    return found + ([event["dataset"]] if "dataset" in event else [])


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for d in _datasets(event) for f in d.get("facets", {}).values()]


def _set(key: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            obj[key] = value

    return mutate


# Each breaks the schema somewhere the mapper itself does not look first: (objects of an event
# to change, the change).
MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], list[dict[str, Any]]], Any]] = {
    "eventTime a number": (lambda e: [e], _set("eventTime", 1714560000)),
    "producer a number": (lambda e: [e], _set("producer", 7)),
    "job facets a list": (lambda e: [e["job"]] if "run" in e else [], _set("facets", [])),
    "a facet's _producer a number": (_facets, _set("_producer", 3)),
    "a facet's _deleted a string": (_facets, _set("_deleted", "yes")),
    "a dataset namespace a number": (_datasets, _set("namespace", 5)),
}


def test_the_compiled_validator_lets_through_only_what_the_reference_accepts() -> None:
    checked = 0
    for event in _corpus():
        mapped = map_events([event])
        tolerated = any("tolerated" in msg for _, msg in mapped.warnings)
        # Accepted without a word: the reference schema validator finds nothing either.
        assert tolerated or _reference_errors(event) == [], event.get("job", event.get("dataset"))
        for name, (where, mutate) in MUTATIONS.items():
            broken = copy.deepcopy(event)
            mutate(where(broken))
            if broken == event:
                continue  # nothing to break in this event (no datasets, no facets)
            assert _reference_errors(broken), name
            with pytest.raises(Unprocessable):
                map_events([broken])
            checked += 1
    assert checked > 100
