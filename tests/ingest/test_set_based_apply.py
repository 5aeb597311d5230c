"""Set-based application leaves the catalog exactly as the sequential reference does.

The same events go three ways into three tenants of one database: the sequential applier (one
catalog call per item, ``apply_sequentially``) in one transaction; ``ingest_openlineage`` over
the whole batch in one transaction (runs planned and written set-based, renames and drops as
barriers); and ``ingest_openlineage`` one event per transaction. Every asset, field,
relationship, field lineage edge, tag and attachment must then be equal, by natural keys and
including versions; the batch must report the same summary as the reference; and the last outbox
event of every entity must carry its current version, so the mirrors converge on the same state.

The events: a story written for the corner cases (aliases through symlinks, inferred columns
becoming declared, a removed column with stored lineage, type mismatches, tag names in another
case, revived relationships and lineage, duplicates and equivalents in one batch, a rename and a
drop mid-batch, dataset and job events, nested schemas, runs merging), the Marquez demo seed, and
the benchmark's generated events (shared inputs, wide column lineage).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from bench.ingest_measurements import openlineage_events
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.errors import Unprocessable
from headwater.catalog.field_lineage import delete_field_lineage, list_field_lineage
from headwater.catalog.relationships import delete_relationship, list_relationships
from headwater.ingest import apply, openlineage
from headwater.ingest.apply import apply_sequentially, ingest_openlineage
from headwater.ingest.batch import IngestSummary, IngestWarning
from headwater.ingest.openlineage import qualified_name
from tests.conftest import TestDatabase, make_tenant
from tests.ingest.test_openlineage_api import dataset, event, facet, schema

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "marquez" / "seed"
PG = "postgres://db:5432"


def lineage(**fields: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A columnLineage facet: output field -> [(namespace, name, field), ...]."""
    return facet(
        fields={
            out: {
                "inputFields": [
                    {"namespace": ns, "name": name, "field": col} for ns, name, col in inputs
                ]
            }
            for out, inputs in fields.items()
        }
    )


def before_events() -> list[dict[str, Any]]:
    """Ingested the same way into every tenant first: stored rows the compared events meet."""
    return [
        event(
            "pre_load",
            run_id="3f0c1a52-5b1e-4d55-9a57-2f3b4a1c9d01",
            inputs=[dataset("raw.orders", PG, schema=schema("id", "amount", "ts"))],
            outputs=[
                dataset(
                    "mart.orders",
                    PG,
                    schema=schema("id", "total", "day"),
                    columnLineage=lineage(
                        id=[(PG, "raw.orders", "id")],
                        total=[(PG, "raw.orders", "amount")],
                        day=[(PG, "raw.orders", "ts")],
                    ),
                )
            ],
        )
    ]


def story() -> list[dict[str, Any]]:
    lake_orders = dataset(
        "/warehouse/orders",
        "s3://lake",
        symlinks=facet(
            identifiers=[{"namespace": "hive://metastore", "name": "sales.orders", "type": "TABLE"}]
        ),
        dataSource=facet(name="lake", uri="postgres://loader:s3cret@db:5432/shop"),
    )
    daily = dataset(
        "mart.daily",
        PG,
        schema=schema("day", "total", "customer"),
        documentation=facet(description="Daily totals"),
        ownership=facet(owners=[{"name": "team:finance", "type": "MAINTAINER"}]),
        datasetType=facet(datasetType="VIEW"),
        tags=facet(
            tags=[
                {"key": "pii", "value": "true"},
                {"key": "domain", "value": "finance"},
                {"key": "pii", "value": "email", "field": "customer"},
            ]
        ),
        columnLineage=lineage(
            total=[("s3://lake", "/warehouse/orders", "amount")],
            day=[("s3://lake", "/warehouse/orders", "ts"), (PG, "raw.orders", "id")],
        ),
    )
    via_alias = dataset("sales.orders", "hive://metastore", schema=schema("amount", "ts", "qty"))
    alias_event = event(
        "lake_reader",
        inputs=[lake_orders],
        outputs=[daily],
        job_facets={
            "tags": facet(tags=[{"key": "tier", "value": "gold"}]),
            "ownership": facet(owners=[{"name": "alice@example.com"}]),
            "sql": facet(query="INSERT INTO daily SELECT ..."),
        },
    )
    replay_before = before_events()[0]
    replay_before["run"]["runId"] = "3f0c1a52-5b1e-4d55-9a57-2f3b4a1c9d02"
    run, old_run, parent_run = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    parent = {
        "parent": facet(run={"runId": parent_run}, job={"namespace": "airflow", "name": "dag"})
    }
    nested = facet(
        fields=[
            {"name": "id", "type": "INTEGER"},
            {
                "name": "address",
                "type": "STRUCT",
                "fields": [{"name": "city", "type": "STRING"}, {"name": "zip", "type": "STRING"}],
            },
        ]
    )
    redescribed = schema("id", "amount", "region")
    redescribed["fields"][0]["description"] = "the order id, now described"
    events = [
        replay_before,  # revives the relationship and the column edge deleted beforehand
        alias_event,
        event("hive_reader", inputs=[via_alias]),  # lands on the s3 asset through its alias
        event("ordered", event_type="START", run_id=run, time="2024-05-02T10:00:00Z",
              run_facets=parent),
        event("ordered", event_type="FAIL", run_id=old_run, time="2024-05-01T10:05:00Z"),
        event("ordered", event_type="COMPLETE", run_id=run, time="2024-05-02T10:05:00Z",
              run_facets=parent),
        # A stored column edge changes, then (below) its source column goes, and with it.
        event(
            "pre_load",
            outputs=[
                dataset(
                    "mart.orders",
                    PG,
                    columnLineage=facet(
                        fields={
                            "day": {
                                "inputFields": [
                                    {
                                        "namespace": PG,
                                        "name": "raw.orders",
                                        "field": "ts",
                                        "transformations": [
                                            {"type": "DIRECT", "subtype": "AGGREGATION"}
                                        ],
                                    }
                                ]
                            }
                        }
                    ),
                )
            ],
        ),
        # A column and its lineage created, then removed within the batch.
        event("tmp_writer", outputs=[dataset("mart.tmp", PG, schema=schema("a", "b"),
              columnLineage=lineage(b=[(PG, "raw.orders", "amount")]))]),
        event("tmp_writer", outputs=[dataset("mart.tmp", PG, schema=schema("a"))]),
        # A table named as a view stays a table (a warning); "ts" leaves with its lineage.
        event(
            "retyper",
            outputs=[
                dataset("raw.orders", PG, datasetType=facet(datasetType="VIEW"),
                        schema=schema("id", "amount", "region"))
            ],
        ),
        json.loads(json.dumps(alias_event)),  # the same event again: a duplicate
        {**alias_event, "producer": "https://example.com/other"},  # equivalent: all unchanged
        event("tagger", outputs=[dataset("mart.daily", PG, tags=facet(tags=[{"key": "PII"}]))]),
        event("describer", outputs=[dataset("raw.orders", PG, schema=redescribed)]),
        event(
            "renamer",
            outputs=[
                dataset(
                    "mart.daily_v2",
                    PG,
                    lifecycleStateChange=facet(
                        lifecycleStateChange="RENAME",
                        previousIdentifier={"namespace": PG, "name": "mart.daily"},
                    ),
                )
            ],
        ),
        event(
            "after_rename",
            inputs=[dataset("mart.daily_v2", PG, schema=schema("day", "total", "customer", "n"))],
            outputs=[dataset("mart.weekly", PG, schema=schema("week"),
                             columnLineage=lineage(week=[(PG, "mart.daily_v2", "day")]))],
        ),
        event("dropper", outputs=[dataset("mart.orders", PG,
              lifecycleStateChange=facet(lifecycleStateChange="DROP"))]),
        event("recreator", outputs=[dataset("mart.orders", PG, schema=schema("id"))]),
        {
            "eventTime": "2024-05-01T12:00:00Z",
            "dataset": dataset("db.public.static", PG, schema=nested),
            "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        },
        {
            "eventTime": "2024-05-01T12:00:00Z",
            "job": {"namespace": "static", "name": "designer"},
            "inputs": [dataset("db.public.static", PG)],
            "outputs": [dataset("db.public.derived", PG)],
            "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        },
        # Column lineage whose transformation changes: the edge gets a new version.
        event(
            "lake_reader",
            inputs=[lake_orders],
            outputs=[
                dataset(
                    "mart.daily_v2",
                    PG,
                    columnLineage=facet(
                        fields={
                            "total": {
                                "inputFields": [
                                    {
                                        "namespace": "s3://lake",
                                        "name": "/warehouse/orders",
                                        "field": "amount",
                                        "transformations": [
                                            {"type": "DIRECT", "subtype": "AGGREGATION"}
                                        ],
                                    }
                                ]
                            }
                        }
                    ),
                )
            ],
        ),
    ]  # fmt: skip
    return events


def seed_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((SEED / "metadata.json").read_text("utf-8"))
    return events


def generated_events() -> list[dict[str, Any]]:
    return openlineage_events("eq", 24, 7)


async def delete_edges(database: Database, tenant_id: UUID) -> None:
    """Delete one relationship and one column edge of the before-events, as a user would."""
    actor = Actor(tenant_id=tenant_id, user_id=None)
    async with database.transaction(tenant_id) as conn:
        relationships = (await list_relationships(conn, limit=500)).items
        produces = next(r for r in relationships if r.type == "PRODUCES")
        await delete_relationship(conn, actor, produces.id, produces.version)
        edge = (await list_field_lineage(conn, limit=1)).items[0]
        await delete_field_lineage(conn, actor, edge.id, edge.version)


def snapshot(test_db: TestDatabase, tenant_id: UUID) -> dict[str, list[str]]:
    """Every row of the catalog by natural keys (ids differ between tenants), sorted."""
    queries = {
        "assets": """
            SELECT qualified_name, type, name, description, metadata, owners, version,
                   deleted_at IS NOT NULL
              FROM assets WHERE tenant_id = %(t)s""",
        "fields": """
            SELECT a.qualified_name, a.deleted_at IS NOT NULL, f.name, f.data_type, f.nullable,
                   f.description, f.metadata, f.ordinal, f.version
              FROM schema_fields f JOIN assets a ON a.id = f.asset_id
             WHERE f.tenant_id = %(t)s""",
        "relationships": """
            SELECT s.qualified_name, s.deleted_at IS NOT NULL, t.qualified_name,
                   t.deleted_at IS NOT NULL, r.type, r.metadata, r.version,
                   r.deleted_at IS NOT NULL
              FROM relationships r JOIN assets s ON s.id = r.source_id
              JOIN assets t ON t.id = r.target_id
             WHERE r.tenant_id = %(t)s""",
        "field_lineage": """
            SELECT sa.qualified_name, sa.deleted_at IS NOT NULL, sf.name, ta.qualified_name,
                   ta.deleted_at IS NOT NULL, tf.name, l.transformation, l.description,
                   l.metadata, l.version, l.deleted_at IS NOT NULL
              FROM field_lineage l
              JOIN schema_fields sf ON sf.id = l.source_field_id
              JOIN assets sa ON sa.id = sf.asset_id
              JOIN schema_fields tf ON tf.id = l.target_field_id
              JOIN assets ta ON ta.id = tf.asset_id
             WHERE l.tenant_id = %(t)s""",
        "tags": "SELECT name, category, description, version FROM tags WHERE tenant_id = %(t)s",
        "asset_tags": """
            SELECT a.qualified_name, a.deleted_at IS NOT NULL, t.name
              FROM asset_tags x JOIN assets a ON a.id = x.asset_id JOIN tags t ON t.id = x.tag_id
             WHERE x.tenant_id = %(t)s""",
        "raw_events": """
            SELECT entity_id, after FROM audits
             WHERE tenant_id = %(t)s AND entity_type = 'openlineage_event'""",
    }
    with psycopg.connect(test_db.admin_dsn) as conn:
        return {
            kind: sorted(
                json.dumps(list(row), sort_keys=True, default=str)
                for row in conn.execute(query, {"t": tenant_id})
            )
            for kind, query in queries.items()
        }


def by_place(summary: IngestSummary) -> list[IngestWarning]:
    return sorted(summary.warnings, key=lambda w: (str(w.loc), w.msg))


async def ingest_three_ways(
    database: Database, test_db: TestDatabase, events: list[dict[str, Any]], prefix: str = ""
) -> Unprocessable | None:
    """Apply ``events`` the three ways (into tenants whose slugs start with ``prefix``) and
    compare; returns the reference's refusal instead when it refuses the batch, after checking
    that the batch path refuses it alike, writing nothing."""
    tenants = [
        (await make_tenant(database, prefix + slug)).tenant_id for slug in ("seq", "batch", "each")
    ]
    for tenant_id in tenants:
        actor = Actor(tenant_id=tenant_id, user_id=None)
        async with database.transaction(tenant_id) as conn:
            await ingest_openlineage(conn, actor, before_events())
        await delete_edges(database, tenant_id)

    sequential, batch, each = tenants
    mapped = openlineage.map_events(events)
    reference = IngestSummary(units=len(mapped.units))
    for where, msg in mapped.warnings:
        reference.warn(where, msg)
    try:
        async with database.transaction(sequential) as conn:
            await apply_sequentially(
                conn, Actor(tenant_id=sequential, user_id=None), mapped.units, reference
            )
    except Unprocessable as refused:
        before = snapshot(test_db, batch)
        with pytest.raises(Unprocessable, match=f"^{re.escape(str(refused))}$"):
            async with database.transaction(batch) as conn:
                await ingest_openlineage(conn, Actor(tenant_id=batch, user_id=None), events)
        assert snapshot(test_db, batch) == before
        return refused
    async with database.transaction(batch) as conn:
        summary = await ingest_openlineage(conn, Actor(tenant_id=batch, user_id=None), events)
    per_event = IngestSummary(units=len(events))
    for index, one in enumerate(events):
        async with database.transaction(each) as conn:
            got = await ingest_openlineage(
                conn, Actor(tenant_id=each, user_id=None), [one], loc=("body", index), indexed=False
            )
        per_event.duplicates += got.duplicates
        for kind in ("assets", "fields", "relationships", "field_lineage", "tags"):
            total, counts = getattr(per_event, kind), getattr(got, kind)
            for outcome in ("created", "updated", "unchanged", "deleted"):
                setattr(total, outcome, getattr(total, outcome) + getattr(counts, outcome))
        per_event.renamed += got.renamed
        per_event.warnings += got.warnings

    assert summary.model_dump() == reference.model_dump()
    # One event at a time interleaves mapping and applying warnings; a batch maps all first.
    assert by_place(per_event) == by_place(reference)
    assert per_event.model_dump(exclude={"warnings"}) == reference.model_dump(exclude={"warnings"})
    expected = snapshot(test_db, sequential)
    assert snapshot(test_db, batch) == expected
    assert snapshot(test_db, each) == expected
    return None


async def test_batch_apply_equals_sequential_application(
    database: Database, test_db: TestDatabase
) -> None:
    events = story() + seed_events() + generated_events()
    assert await ingest_three_ways(database, test_db, events) is None


@pytest.mark.parametrize("seed", [1, 2])
async def test_equal_in_any_order_and_across_run_limits(
    database: Database, test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Runs of at most 7 units: state carried from one planned run to the next is checked too.
    monkeypatch.setattr(apply, "RUN_LIMIT", 7)
    events = story() + seed_events() + generated_events()[:12]
    random.Random(seed).shuffle(events)
    assert await ingest_three_ways(database, test_db, events) is None


async def test_an_alias_claimed_later_by_an_older_asset_names_that_asset(
    database: Database, test_db: TestDatabase
) -> None:
    """An alias names its oldest live holder, also when that one claims it after a younger one
    did (the reference applier once kept answering with the first holder it had found)."""
    alias = [{"namespace": PG, "name": "mart.alias", "type": "TABLE"}]
    events = [
        event("load", outputs=[dataset("mart.orders", PG, symlinks=facet(identifiers=alias))]),
        event(
            "load",
            inputs=[
                dataset("mart.alias", PG),
                dataset("raw.orders", PG, symlinks=facet(identifiers=alias)),
            ],
        ),
        event("load", inputs=[dataset("mart.alias", PG, documentation=facet(description="d"))]),
    ]
    assert await ingest_three_ways(database, test_db, events) is None


def test_the_story_covers_its_corner_cases() -> None:
    """The story exercises what it claims: warnings, duplicates, a rename, a drop, aliases."""
    mapped = openlineage.map_events(story())
    units = mapped.units
    assert any(u.renames for u in units)
    assert any(u.drops for u in units)
    assert sum(1 for u in units if any(s.aliases for s in u.assets.values())) >= 1
    alias = qualified_name("hive://metastore", "sales.orders")
    assert any(alias in u.assets for u in units)
    digests = [u.audit.entity_id for u in units if u.audit is not None]
    assert len(digests) > len(set(digests)), "one event is repeated"


@pytest.mark.parametrize("change", ["DROP", "RENAME"])
async def test_a_drop_or_rename_waiting_for_a_concurrent_drop_finds_nothing_to_change(
    database: Database, test_db: TestDatabase, change: str
) -> None:
    """A second batch that drops or renames a table a first, still open, drops: it waits for
    the first, then finds the table gone, as it would one after the other (it answered 404)."""
    tenant_id = (await make_tenant(database, "race")).tenant_id
    actor = Actor(tenant_id=tenant_id, user_id=None)
    async with database.transaction(tenant_id) as conn:
        await ingest_openlineage(conn, actor, before_events())
    drop = facet(lifecycleStateChange="DROP")
    rename = facet(
        lifecycleStateChange="RENAME", previousIdentifier={"namespace": PG, "name": "mart.orders"}
    )
    second = event(
        "second",
        outputs=[
            dataset("mart.orders", PG, lifecycleStateChange=drop)
            if change == "DROP"
            else dataset("mart.renamed", PG, lifecycleStateChange=rename)
        ],
    )

    async def run_second() -> IngestSummary:
        async with database.transaction(tenant_id) as conn:
            return await ingest_openlineage(conn, actor, [second])

    async with database.transaction(tenant_id) as conn:
        first = event("first", outputs=[dataset("mart.orders", PG, lifecycleStateChange=drop)])
        assert (await ingest_openlineage(conn, actor, [first])).assets.deleted == 1
        racing = asyncio.create_task(run_second())
        await asyncio.sleep(0.3)  # the second reaches the table's row lock and waits there
        assert not racing.done()
    summary = await racing
    assert summary.assets.deleted == summary.renamed == 0
    deleted = {json.loads(a)[0]: json.loads(a)[-1] for a in snapshot(test_db, tenant_id)["assets"]}
    assert deleted["postgres://db:5432/mart.orders"] is True
    # Renaming what is gone leaves the new name to be created, as in one batch after the other.
    assert deleted.get("postgres://db:5432/mart.renamed", False) is False
