"""Mutated OpenLineage events: refused cleanly, or applied set-based exactly as the reference.

Events are taken from the corner-case story, the Marquez demo seed, the benchmark's generated
events and Marquez's odd API test events, and changed at random places. Two properties:

* anything at all in any place: the mapper maps the event or refuses it with a 422 naming the
  path; no other exception (which the API would answer with a 500);
* changes that keep the JSON's shape (a string swapped for another the events use, so names,
  columns, run states, lifecycle changes and transformation kinds collide; a list with an entry
  repeated or reversed; a key dropped): a stream of such events, shuffled and with repeats, goes
  through ``ingest_three_ways``; the set-based writer must leave what the sequential reference
  leaves, or refuse the batch with the reference's own message, writing nothing.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from headwater.catalog.db import Database
from headwater.catalog.errors import Unprocessable
from headwater.ingest import apply, openlineage
from tests.conftest import TestDatabase
from tests.ingest.test_set_based_apply import (
    generated_events,
    ingest_three_ways,
    seed_events,
    story,
)

ODD: Final = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "marquez"
ODD_EVENTS: Final = ODD / "api_test_resources" / "open_lineage"

# Values of every JSON kind, and strings the mapper reads as keywords or must bound or refuse.
ANYTHING: Final[tuple[Any, ...]] = (
    None, 0, -1, 1.5, 1e308, 10**30, True, False, "", " ", "\x00", "a" * 5000, "é✓🙂", [], {},
    [None], {"a": None}, {"name": ""}, [{"name": None}], {"_deleted": True}, "not-a-uuid",
    "2024-13-45T99:99:99Z", "9999-12-31T23:59:59.999999999+14:00", "//", "  padded  ",
)  # fmt: skip
KEYWORDS: Final = (
    "START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER", "DROP", "RENAME", "OVERWRITE",
    "CREATE", "TRUNCATE", "DIRECT", "INDIRECT", "IDENTITY", "MASKED", "TRANSFORMATION",
    "AGGREGATION", "VIEW", "TABLE", "STREAM",
)  # fmt: skip
NodePath = tuple[str | int, ...]


def base_events() -> list[dict[str, Any]]:
    return story() + seed_events() + generated_events()[:12]


def odd_events() -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(ODD_EVENTS.glob("*.json"))]


def nodes(value: Any, path: NodePath = ()) -> Iterator[tuple[NodePath, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def replaced(
    event: dict[str, Any], path: NodePath, new: Any, *, drop: bool = False
) -> dict[str, Any]:
    """A copy of ``event`` with the node at ``path`` (not the root) set to ``new``, or removed
    from its object."""
    out = copy.deepcopy(event)
    parent: Any = out
    for step in path[:-1]:
        parent = parent[step]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return out


def anything_anywhere(rng: random.Random, event: dict[str, Any]) -> dict[str, Any]:
    for _ in range(rng.randint(1, 3)):
        path, _ = rng.choice([n for n in nodes(event) if n[0]])
        event = replaced(event, path, copy.deepcopy(rng.choice(ANYTHING)), drop=rng.random() < 0.15)
    return event


def same_shape(rng: random.Random, event: dict[str, Any], strings: list[str]) -> dict[str, Any]:
    path, value = rng.choice([n for n in nodes(event) if n[0]])
    if isinstance(value, str):
        other = rng.choice(strings)
        new: Any = rng.choice([other, value.upper(), f" {value}", f"{value}.{other}", *KEYWORDS])
    elif isinstance(value, list) and value:
        new = [*value, copy.deepcopy(rng.choice(value))] if rng.random() < 0.5 else value[::-1]
    elif isinstance(value, dict) and value:
        return replaced(event, (*path, rng.choice(list(value))), None, drop=True)
    else:
        return event
    return replaced(event, path, new)


def _swappable(value: Any) -> bool:
    """A string to swap in: short, and not a run id (the story's are random, and the stream
    must be the same on every run)."""
    if not isinstance(value, str) or len(value) >= 200:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return True
    return False


def mutated_stream(rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """The base events, most of them changed a few times (a change the mapper refuses is not
    kept: it would refuse the whole batch), some repeated, shuffled; and how many changed."""
    events = base_events()
    strings = sorted({v for e in events for _, v in nodes(e) if _swappable(v)})
    out: list[dict[str, Any]] = []
    changes = 0
    for event in events:
        original = event
        for _ in range(rng.randint(0, 5)):
            changed = same_shape(rng, event, strings)
            try:
                openlineage.map_events([changed])
            except Unprocessable:
                continue
            event = changed
        changes += event != original
        out.append(event)
        if rng.random() < 0.1:
            out.append(copy.deepcopy(rng.choice(out)))
    rng.shuffle(out)
    return out, changes


def test_any_value_anywhere_is_mapped_or_refused_with_a_422() -> None:
    rng = random.Random(5)
    seeds = base_events() + odd_events()
    refusals: list[list[dict[str, Any]]] = []
    for _ in range(3000):
        event = anything_anywhere(rng, rng.choice(seeds))
        try:
            openlineage.map_events([event])
        except Unprocessable as e:
            refusals.append(e.extra["errors"])
    assert 0 < len(refusals) < 3000, "both outcomes were exercised"
    for errors in refusals:
        assert errors, "a refusal names the problem"
        assert errors[0]["loc"][0] == "body", errors
        assert errors[0]["msg"], errors


@pytest.mark.parametrize("seed", range(8))
async def test_mutated_streams_apply_as_the_reference_does(
    database: Database, test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(apply, "RUN_LIMIT", rng.choice([3, 7, 500]))
    events, changes = mutated_stream(rng)
    assert changes > len(events) // 2, "most events are changed"
    refused = await ingest_three_ways(database, test_db, events)
    # About one stream in ten reuses a job's name for a dataset (or the reverse), which the
    # reference refuses; these seeds' streams are applied (the refusal has its own test below).
    assert refused is None, f"seed {seed}'s stream is refused, pick another seed: {refused}"


async def test_a_refused_stream_is_refused_alike(database: Database, test_db: TestDatabase) -> None:
    events = base_events()
    job = next(e for e in events if e.get("job", {}).get("namespace") == "food_delivery")
    table = next(
        d["name"] for e in events for d in e.get("outputs", []) if d["namespace"] == "food_delivery"
    )
    # The job, named as a table the events create, with no datasets of its own.
    clash = {**replaced(job, ("job", "name"), table), "inputs": [], "outputs": []}
    refused = await ingest_three_ways(database, test_db, [*events, clash])
    assert refused is not None
    assert "not a job: an asset's type cannot change" in str(refused)
