"""The memory engine's impact evidence (``MemoryGraphEngine.impact_evidence``) equals the
catalog's (``PostgresEvidence``) for a graph in sync with the catalog, on a hand-built catalog with
known answers and on random ones (hypothesis), each written through the catalog's own functions
and synced into the engine three ways: bulk-loaded as at a cold start, applied from the outbox by
the graph sink, and applied in small batches by an engine that compacts between them. Deleted,
restored and revived assets, relationships and column lineage, dropped columns and assets without
columns are all in play."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.catalog import admin, assets, field_lineage, fields, relationships
from headwater.catalog.assets import AssetCreate, AssetType
from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.field_lineage import FieldLineageCreate, Transformation
from headwater.catalog.fields import FieldSpec
from headwater.catalog.impact_report import PostgresEvidence
from headwater.catalog.relationships import RelationshipCreate, RelationshipType
from headwater.graph.impact import Evidence
from headwater.graph.memory import MemoryGraphEngine
from headwater.sync import tailer
from headwater.sync.events import START, Batch
from headwater.sync.graph_loader import load_snapshot
from headwater.sync.graph_sink import GraphSink
from tests.conftest import TenantKeys
from tests.impact.platform import JOB, MART, OPS_BOARD, RAW, REVENUE, REVENUE_BOARD, load_platform
from tests.impact.test_api import drop, impact, ranked

Fate = Literal["live", "deleted", "revived"]
"""What becomes of an entity after it is written: kept, deleted, or deleted and then brought back
(an asset restored, an edge written again, which revives the same row)."""

_slugs = itertools.count()


@dataclass(frozen=True)
class Plan:
    """A catalog to write, by position: assets (type, how many columns), relationships between
    assets, column lineage between columns (numbered across the assets in order), then the
    columns dropped (their lineage goes with them) and what becomes of each asset."""

    assets: tuple[tuple[AssetType, int], ...]
    relationships: tuple[tuple[int, int, RelationshipType, Fate], ...] = ()
    lineage: tuple[tuple[int, int, Transformation, Fate], ...] = ()
    dropped: frozenset[int] = frozenset()
    fates: dict[int, Fate] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    tenant_id: UUID
    asset_ids: list[int]
    field_ids: list[int]  # by column position, dropped ones included


async def write(database: Database, plan: Plan) -> Written:
    """The plan written through the catalog (rows, audit and outbox, as the API writes them)."""
    slug = f"t{next(_slugs)}"
    async with database.transaction() as conn:
        tenant_id = (await admin.create_tenant(conn, slug, slug, {})).id
    actor = Actor(tenant_id=tenant_id, user_id=None)
    asset_ids: list[int] = []
    field_ids: list[int] = []
    columns: dict[int, list[tuple[int, str]]] = {}  # asset position -> (column position, name)
    async with database.transaction(tenant_id) as conn:
        for i, (kind, count) in enumerate(plan.assets):
            created = await assets.create_asset(
                conn, actor, AssetCreate(type=kind, name=f"a{i}", qualified_name=f"pg://db/a{i}")
            )
            asset_ids.append(created.id)
            names = [f"c{len(field_ids) + k}" for k in range(count)]
            if names:
                schema = await fields.replace_fields(
                    conn, actor, created.id, created.version, [FieldSpec(name=n) for n in names]
                )
                by_name = {f.name: f.id for f in schema.fields}
                columns[i] = [(len(field_ids) + k, n) for k, n in enumerate(names)]
                field_ids += [by_name[n] for n in names]
        for source, target, rel_type, fate in plan.relationships:
            rel = RelationshipCreate(
                source_id=asset_ids[source], target_id=asset_ids[target], type=rel_type
            )
            made = await relationships.create_relationship(conn, actor, rel)
            if fate != "live":
                await relationships.delete_relationship(conn, actor, made.id, made.version)
            if fate == "revived":
                await relationships.create_relationship(conn, actor, rel)
        for source, target, transformation, fate in plan.lineage:
            edge = FieldLineageCreate(
                source_field_id=field_ids[source],
                target_field_id=field_ids[target],
                transformation=transformation,
            )
            made_edge = await field_lineage.create_field_lineage(conn, actor, edge)
            if fate != "live":
                await field_lineage.delete_field_lineage(
                    conn, actor, made_edge.id, made_edge.version
                )
            if fate == "revived":
                await field_lineage.create_field_lineage(conn, actor, edge)
        for i, owned in columns.items():
            if any(p in plan.dropped for p, _ in owned):
                kept = [FieldSpec(name=n) for p, n in owned if p not in plan.dropped]
                version = (await assets.get_asset(conn, asset_ids[i])).version
                await fields.replace_fields(conn, actor, asset_ids[i], version, kept)
        for i, fate in plan.fates.items():
            if fate != "live":
                version = (await assets.get_asset(conn, asset_ids[i])).version
                gone = await assets.delete_asset(conn, actor, asset_ids[i], version)
                if fate == "revived":
                    await assets.restore_asset(conn, actor, asset_ids[i], gone.version)
    return Written(tenant_id, asset_ids, field_ids)


async def synced(worker_db: Database, tenant_id: UUID) -> list[tuple[str, MemoryGraphEngine]]:
    """Engines holding what the catalog holds for the tenant, each synced another way."""
    loaded, _ = await load_snapshot(worker_db)
    cold = MemoryGraphEngine()
    await cold.load(tenant_id, loaded.tenants[tenant_id])
    tailed = MemoryGraphEngine()
    # Compacts whenever its delta holds a few rows: queries see base and delta mixed.
    compacting = MemoryGraphEngine(compact_min=5, compact_ratio=0.0, small=0)
    async with worker_db.transaction() as conn:
        events = [
            e for e in await tailer.read_batch(conn, START, 10**6) if e.tenant_id == tenant_id
        ]
        await GraphSink(tailed).apply(Batch(events, conn))
        for start in range(0, len(events), 3):
            await GraphSink(compacting).apply(Batch(events[start : start + 3], conn))
    return [("cold start", cold), ("outbox", tailed), ("outbox, compacting", compacting)]


def facts(e: Evidence) -> dict[str, Any]:
    """The evidence field by field: flows as rows (and how many, so a repeated row shows), the
    collections as sets, the direct lineage in its order (by id)."""
    flows = e.flows
    rows = [
        (int(flows.id[i]), int(flows.source[i]), int(flows.target[i]), flows.type[i])
        for i in range(len(flows))
    ]
    return {
        "flows": set(rows),
        "flow rows": len(rows),
        "lineage_targets": set(map(int, e.lineage_targets)),
        "carrying_pairs": {(int(u), int(d)) for u, d in e.carrying_pairs},
        "with_columns": set(map(int, e.with_columns)),
        "field_assets": dict(e.field_assets),
        "direct": list(e.direct),
    }


async def assert_same_evidence(
    database: Database,
    worker_db: Database,
    tenant_id: UUID,
    region: Sequence[int],
    tainted: Sequence[int],
    seeds: Sequence[int],
) -> dict[str, Any]:
    """Each synced engine's evidence equals the catalog's; returns the catalog's."""
    async with database.transaction(tenant_id) as conn:
        expected = facts(await PostgresEvidence(conn).evidence(region, tainted, seeds))
    for how, engine in await synced(worker_db, tenant_id):
        got = await engine.impact_evidence(tenant_id).evidence(region, tainted, seeds)
        assert facts(got) == expected, how
    return expected


# --- a hand-built catalog -------------------------------------------------------------------------

# Assets by position, and the columns they hold (numbered across the assets).
SRC, ETL, OUT, BOARD, OPS, GONE = range(6)
SRC_A, SRC_B, SRC_C, OUT_A, OUT_B, BOARD_A, GONE_A = range(7)
HAND_BUILT = Plan(
    assets=(
        (AssetType.TABLE, 3),
        (AssetType.JOB, 0),
        (AssetType.TABLE, 2),
        (AssetType.DASHBOARD, 1),
        (AssetType.DASHBOARD, 0),
        (AssetType.TABLE, 1),
    ),
    relationships=(
        (ETL, SRC, RelationshipType.USES, "live"),
        (ETL, OUT, RelationshipType.PRODUCES, "live"),
        (BOARD, OUT, RelationshipType.DEPENDS_ON, "deleted"),
        (OPS, OUT, RelationshipType.DEPENDS_ON, "revived"),
        (GONE, OUT, RelationshipType.DEPENDS_ON, "live"),  # its consumer is deleted
        (OUT, SRC, RelationshipType.RELATED_TO, "live"),  # structure, not flow
    ),
    lineage=(
        (SRC_A, OUT_A, Transformation.IDENTITY, "live"),
        (SRC_B, OUT_B, Transformation.IDENTITY, "deleted"),
        (SRC_C, OUT_B, Transformation.AGGREGATION, "live"),  # SRC_C is dropped: gone with it
        (OUT_A, BOARD_A, Transformation.TRANSFORMATION, "revived"),
        (OUT_B, GONE_A, Transformation.IDENTITY, "live"),  # into a deleted asset
    ),
    dropped=frozenset({SRC_C}),
    fates={GONE: "deleted", OPS: "revived"},
)


async def test_the_hand_built_catalog_gives_the_same_known_evidence(
    database: Database, worker_db: Database
) -> None:
    mine = await write(database, HAND_BUILT)
    other = await write(database, HAND_BUILT)
    a, f = mine.asset_ids, mine.field_ids
    # Another tenant's ids are unknown here, however the query names them.
    region = [*a, *other.asset_ids]
    tainted = [*f, *other.field_ids]
    seeds = [f[SRC_A], f[SRC_B], f[SRC_C], other.field_ids[SRC_A]]
    expected = await assert_same_evidence(
        database, worker_db, mine.tenant_id, region, tainted, seeds
    )
    assert {(source, target, kind) for _, source, target, kind in expected["flows"]} == {
        (a[ETL], a[SRC], "USES"),
        (a[ETL], a[OUT], "PRODUCES"),
        (a[OPS], a[OUT], "DEPENDS_ON"),
    }
    assert expected["lineage_targets"] == {a[OUT], a[BOARD]}
    assert expected["with_columns"] == {a[SRC], a[OUT], a[BOARD]}
    assert expected["carrying_pairs"] == {(a[SRC], a[OUT]), (a[OUT], a[BOARD])}
    assert expected["field_assets"] == {
        f[SRC_A]: a[SRC],
        f[SRC_B]: a[SRC],
        f[OUT_A]: a[OUT],
        f[OUT_B]: a[OUT],
        f[BOARD_A]: a[BOARD],
    }
    [direct] = expected["direct"]
    assert (direct.source.id, direct.target.id, direct.type) == (f[SRC_A], f[OUT_A], "IDENTITY")


async def test_an_empty_region_has_no_evidence(database: Database, worker_db: Database) -> None:
    mine = await write(database, HAND_BUILT)
    expected = await assert_same_evidence(database, worker_db, mine.tenant_id, [], [], [])
    assert expected == facts(Evidence())


# --- random catalogs ------------------------------------------------------------------------------

_fates: st.SearchStrategy[Fate] = st.sampled_from(["live"] * 5 + ["deleted", "deleted", "revived"])


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    kinds = draw(
        st.lists(
            st.tuples(
                st.sampled_from([AssetType.TABLE, AssetType.JOB, AssetType.DASHBOARD]),
                st.integers(0, 3),
            ),
            min_size=2,
            max_size=8,
        )
    )
    n, columns = len(kinds), sum(count for _, count in kinds)
    ends = st.tuples(
        st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from(RelationshipType)
    )
    rels = draw(st.lists(ends, max_size=3 * n, unique=True))
    lineage: list[tuple[int, int, Transformation, Fate]] = []
    if columns > 1:
        pairs = st.tuples(st.integers(0, columns - 1), st.integers(0, columns - 1))
        for source, target in draw(st.lists(pairs, max_size=3 * columns, unique=True)):
            if source != target:
                kind = draw(st.sampled_from([Transformation.IDENTITY, Transformation.JOIN]))
                lineage.append((source, target, kind, draw(_fates)))
    dropped = draw(st.frozensets(st.integers(0, columns - 1), max_size=2)) if columns else None
    return Plan(
        tuple(kinds),
        tuple((s, t, kind, draw(_fates)) for s, t, kind in rels if s != t),
        tuple(lineage),
        dropped or frozenset(),
        draw(st.dictionaries(st.integers(0, n - 1), _fates, max_size=3)),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(plan=plans(), data=st.data())
async def test_random_catalogs_give_the_same_evidence(
    database: Database, worker_db: Database, plan: Plan, data: st.DataObject
) -> None:
    written = await write(database, plan)
    unknown = 10**12
    # Each id once, as analyze asks (the catalog's statements would repeat rows for a repeat).
    region = data.draw(st.lists(st.sampled_from([*written.asset_ids, unknown]), unique=True))
    field_ids = [*written.field_ids, unknown]
    tainted = data.draw(st.lists(st.sampled_from(field_ids), unique=True))
    seeds = data.draw(st.lists(st.sampled_from(field_ids), unique=True))
    await assert_same_evidence(database, worker_db, written.tenant_id, region, tainted, seeds)


# --- the API --------------------------------------------------------------------------------------


async def test_the_api_takes_the_evidence_from_the_memory_engine(
    client: httpx.AsyncClient, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load_platform(client, tenant)

    async def refused(self: PostgresEvidence, *_: object) -> Evidence:
        raise AssertionError("the memory engine's own evidence should have been used")

    monkeypatch.setattr(PostgresEvidence, "evidence", refused)
    response = await impact(client, tenant, drop("amount"))
    assert response.status_code == 200, response.text
    assert ranked(response.json()) == [
        (MART, "affected", "breaking", 1),
        (JOB, "affected", "breaking", 1),
        (REVENUE_BOARD, "affected", "warning", 3),
        (REVENUE, "affected", "warning", 2),
        (OPS_BOARD, "possibly_affected", "warning", 2),
    ]
    assert response.json()["asset"]["qualified_name"] == RAW
