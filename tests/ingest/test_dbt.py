"""dbt manifests v1..v12 (and catalog.json) into the catalog, in-process on the store."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.catalog.errors import Unprocessable
from headwater.ingest.apply import ingest_dbt
from headwater.ingest.batch import IngestSummary
from tests.conftest import TenantKeys, TestDatabase
from tests.test_bulk import row_counts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STATE = SHARED / "dbt" / "artifacts" / "data" / "state"
RICH = SHARED / "dbt" / "defer_state" / "data" / "manifest.json"
MAPPED = {"model", "seed", "snapshot", "source", "exposure", "metric", "semantic_model"}


def load(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


async def ingest(
    database: Database, tenant: TenantKeys, manifest: Any, catalog: Any | None = None, **kw: Any
) -> IngestSummary:
    async with database.transaction(tenant.tenant_id) as conn:
        actor = Actor(tenant_id=tenant.tenant_id, user_id=None)
        return await ingest_dbt(conn, actor, manifest, catalog, **kw)


def nodes_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    every: dict[str, dict[str, Any]] = {}
    for key in ("nodes", "sources", "exposures", "metrics", "semantic_models"):
        every.update(manifest.get(key) or {})
    return {
        uid: node
        for uid, node in every.items()
        if node.get("resource_type") in MAPPED and (node.get("config") or {}).get("enabled", True)
    }


def expected_name(uid: str, node: dict[str, Any], namespace: str = "postgres") -> str:
    """The documented naming scheme, restated independently of the mapper."""
    kind = node["resource_type"]
    if kind in ("exposure", "metric", "semantic_model") or (
        kind == "model" and node["config"]["materialized"] == "ephemeral"
    ):
        return f"dbt://{uid}"
    identifier = node.get("identifier") if kind == "source" else node.get("alias")
    parts = [node.get("database"), node.get("schema"), identifier or node["name"]]
    return f"{namespace}/{'.'.join(p for p in parts if p)}"


async def depends_on_edges(client: httpx.AsyncClient, tenant: TenantKeys) -> set[tuple[str, str]]:
    names: dict[int, str] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/v1/assets", params=params, headers=tenant.headers("viewer"))
        names.update({a["id"]: a["qualified_name"] for a in page.json()["items"]})
        if (cursor := page.json()["next_cursor"]) is None:
            break
    rels = await client.get(
        "/api/v1/relationships",
        params={"type": "DEPENDS_ON", "limit": 500},
        headers=tenant.headers("viewer"),
    )
    assert rels.json()["next_cursor"] is None
    return {(names[r["source_id"]], names[r["target_id"]]) for r in rels.json()["items"]}


MANIFESTS = sorted(STATE.glob("v*/manifest.json"), key=lambda p: int(p.parent.name[1:]))


def test_all_twelve_manifest_versions_are_here() -> None:
    assert [p.parent.name for p in MANIFESTS] == [f"v{n}" for n in range(1, 13)]


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.parent.name for p in MANIFESTS])
async def test_each_manifest_version_ingests_with_the_lineage_of_its_parent_map(
    database: Database,
    tenant: TenantKeys,
    client: httpx.AsyncClient,
    test_db: TestDatabase,
    path: Path,
) -> None:
    manifest = load(path)
    summary = await ingest(database, tenant, manifest)
    mapped = nodes_of(manifest)
    assert summary.assets.created == len({expected_name(u, n) for u, n in mapped.items()})

    expected = {
        (expected_name(uid, mapped[uid]), expected_name(parent, mapped[parent]))
        for uid, parents in manifest["parent_map"].items()
        if uid in mapped
        for parent in parents
        if parent in mapped
    }
    assert await depends_on_edges(client, tenant) == expected
    for uid, node in mapped.items():
        got = await client.get(
            "/api/v1/assets/lookup",
            params={"qualified_name": expected_name(uid, node)},
            headers=tenant.headers("viewer"),
        )
        assert got.status_code == 200, uid
        assert got.json()["metadata"]["dbt"]["unique_id"] == uid

    before = row_counts(test_db)
    again = await ingest(database, tenant, manifest)
    assert again.assets.created == again.assets.updated == 0
    assert again.relationships.created == again.relationships.updated == 0
    assert row_counts(test_db) == before


async def test_a_rich_manifest_maps_types_owners_tags_columns_and_exposures(
    database: Database, tenant: TenantKeys, client: httpx.AsyncClient
) -> None:
    manifest = load(RICH)
    summary = await ingest(database, tenant, manifest, namespace="postgres://warehouse:5432")
    assert summary.warnings == []

    async def asset(qn: str) -> dict[str, Any]:
        got = await client.get(
            "/api/v1/assets/lookup", params={"qualified_name": qn}, headers=tenant.headers("viewer")
        )
        assert got.status_code == 200, qn
        found: dict[str, Any] = got.json()
        return found

    namespace = "postgres://warehouse:5432"
    mapped = nodes_of(manifest)

    async def node(uid: str) -> dict[str, Any]:
        return await asset(expected_name(uid, mapped[uid], namespace))

    configured = await node("model.test.model_with_lots_of_schema_configs")
    assert configured["qualified_name"].endswith(".outer_alias")
    assert configured["type"] == "table"
    assert configured["metadata"]["dbt"]["meta"] == {"my_custom_property": "string_meta"}
    assert [t["name"] for t in configured["tags"]] == ["string_tag"]
    fields = await client.get(
        f"/api/v1/assets/{configured['id']}/fields", headers=tenant.headers("viewer")
    )
    assert [f["name"] for f in fields.json()["fields"]] == ["id", "created_at"]

    assert (await node("model.test.outer"))["type"] == "view"
    incremental = await node("model.test.incremental")
    assert incremental["type"] == "table"
    assert incremental["metadata"]["dbt"]["materialized"] == "incremental"
    ephemeral = await asset("dbt://model.test.ephemeral")
    assert ephemeral["type"] == "dataset"
    spine = await node("model.test.metricflow_time_spine")
    assert spine["owners"] == ["finance@jaffleshop.com"]  # the owner of its group
    assert sorted(t["name"] for t in spine["tags"]) == ["list", "of", "tags"]
    snapshot = await node("snapshot.test.snapshot_2")
    assert snapshot["qualified_name"].startswith(f"{namespace}/mydb.")
    assert snapshot["owners"] == ["@alice"]  # meta.owner
    seed = await node("seed.test.seed")
    assert seed["owners"] == ["finance@jaffleshop.com"]

    exposure = await asset("dbt://exposure.test.weekly_jaffle_metrics")
    assert exposure["type"] in {"dashboard", "notebook", "application", "report", "ml_model"}
    assert (
        exposure["metadata"]["dbt"]["exposure_type"]
        == manifest["exposures"]["exposure.test.weekly_jaffle_metrics"]["type"]
    )
    assert (await asset("dbt://semantic_model.test.my_sm"))["type"] == "semantic_model"
    assert (await asset("dbt://metric.test.total_outer"))["type"] == "metric"

    expected = {
        (
            expected_name(uid, mapped[uid], namespace),
            expected_name(parent, mapped[parent], namespace),
        )
        for uid, parents in manifest["parent_map"].items()
        if uid in mapped
        for parent in parents
        if parent in mapped
    }
    assert expected
    assert await depends_on_edges(client, tenant) == expected


def _catalog_for(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"},
        "nodes": {
            "model.test.my_model": {
                "metadata": {"type": "VIEW", "name": "my_model"},
                "columns": {
                    "loaded_at": {"type": "timestamp", "index": 2, "name": "loaded_at"},
                    "id": {"type": "integer", "index": 1, "name": "id", "comment": "db comment"},
                },
                "stats": {},
            }
        },
        "sources": {},
    }


async def test_catalog_json_gives_the_columns_their_types_and_order(
    database: Database, tenant: TenantKeys, client: httpx.AsyncClient
) -> None:
    manifest = load(STATE / "v12" / "manifest.json")
    manifest["nodes"]["model.test.my_model"]["columns"]["id"]["description"] = "The key"
    manifest["nodes"]["model.test.my_model"]["columns"]["undeployed"] = {
        "name": "undeployed",
        "description": "declared, not built yet",
        "data_type": "text",
    }
    summary = await ingest(database, tenant, manifest, _catalog_for(manifest))
    assert [w.msg for w in summary.warnings] == [
        "column 'undeployed' is declared in the manifest but not in catalog.json"
    ]
    node = manifest["nodes"]["model.test.my_model"]
    got = await client.get(
        "/api/v1/assets/lookup",
        params={"qualified_name": expected_name("model.test.my_model", node)},
        headers=tenant.headers("viewer"),
    )
    fields = await client.get(
        f"/api/v1/assets/{got.json()['id']}/fields", headers=tenant.headers("viewer")
    )
    assert [(f["name"], f["data_type"], f["description"]) for f in fields.json()["fields"]] == [
        ("id", "integer", "The key"),
        ("loaded_at", "timestamp", ""),
        ("undeployed", "text", "declared, not built yet"),
    ]


async def test_dbt_lines_up_with_openlineage_and_keeps_its_columns(
    database: Database, tenant: TenantKeys, client: httpx.AsyncClient
) -> None:
    manifest = load(STATE / "v12" / "manifest.json")
    node = manifest["nodes"]["model.test.my_model"]
    name = f"{node['database']}.{node['schema']}.{node['alias']}"
    openlineage_event = {
        "eventType": "COMPLETE",
        "eventTime": "2024-05-01T12:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": "refresh"},
        "outputs": [
            {
                "namespace": "postgres://db:5432",
                "name": name,
                "facets": {
                    "schema": {
                        "_producer": "https://example.com",
                        "_schemaURL": "https://example.com/schema",
                        "fields": [
                            {"name": "id", "type": "INT"},
                            {"name": "extra", "type": "TEXT"},
                        ],
                    }
                },
            }
        ],
        "producer": "https://example.com",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
    }
    posted = await client.post(
        "/api/v1/lineage", json=openlineage_event, headers=tenant.headers("editor")
    )
    assert posted.status_code == 201, posted.text
    table = await client.get(
        "/api/v1/assets/lookup",
        params={"qualified_name": f"postgres://db:5432/{name}"},
        headers=tenant.headers("viewer"),
    )

    manifest["nodes"]["model.test.my_model"]["columns"]["id"]["description"] = "The key"
    summary = await ingest(database, tenant, manifest, namespace="postgres://db:5432")
    # OpenLineage guessed a table; dbt knows it is a view, but a type cannot change.
    assert any("stays a table (this source says view)" in w.msg for w in summary.warnings)
    after = await client.get(
        f"/api/v1/assets/{table.json()['id']}", headers=tenant.headers("viewer")
    )
    assert after.json()["description"] == "Example model"
    assert after.json()["metadata"]["dbt"]["unique_id"] == "model.test.my_model"
    assert after.json()["metadata"]["openlineage"]["name"] == name
    fields = await client.get(
        f"/api/v1/assets/{table.json()['id']}/fields", headers=tenant.headers("viewer")
    )
    # Without catalog.json the manifest's columns merge into what OpenLineage reported.
    assert [(f["name"], f["data_type"], f["description"]) for f in fields.json()["fields"]] == [
        ("id", "INT", "The key"),
        ("extra", "TEXT", ""),
    ]


def _broken(change: str) -> Any:
    manifest = load(STATE / "v12" / "manifest.json")
    match change:
        case "not an object":
            return [manifest]
        case "no version":
            del manifest["metadata"]["dbt_schema_version"]
        case "catalog schema":
            manifest["metadata"]["dbt_schema_version"] = (
                "https://schemas.getdbt.com/dbt/catalog/v1.json"
            )
        case "nodes a list":
            manifest["nodes"] = list(manifest["nodes"].values())
        case "columns a list":
            manifest["nodes"]["model.test.my_model"]["columns"] = ["id"]
        case "depends_on a string":
            manifest["nodes"]["snapshot.test.snapshot_seed"]["depends_on"]["nodes"] = "seed"
        case "a node a string":
            manifest["sources"]["source.test.my_source.my_table"] = "my_table"
    return manifest


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("not an object", "a manifest must be an object, got list"),
        ("no version", "dbt_schema_version must name a manifest schema"),
        ("catalog schema", "must name a manifest schema"),
        ("nodes a list", "a manifest has a nodes object"),
        ("columns a list", "columns must be an object, got list"),
        ("depends_on a string", "depends_on.nodes must be an array"),
        ("a node a string", "a source must be an object, got str"),
    ],
)
async def test_a_malformed_manifest_writes_nothing_and_says_why(
    database: Database, tenant: TenantKeys, test_db: TestDatabase, change: str, reason: str
) -> None:
    good = load(STATE / "v7" / "manifest.json")
    await ingest(database, tenant, good)
    before = row_counts(test_db)
    with pytest.raises(Unprocessable) as refused:
        await ingest(database, tenant, _broken(change))
    assert reason in refused.value.message
    assert "nothing was written" in refused.value.message
    assert row_counts(test_db) == before


async def test_a_clash_with_the_catalog_rolls_the_whole_manifest_back(
    database: Database, tenant: TenantKeys, client: httpx.AsyncClient, test_db: TestDatabase
) -> None:
    manifest = load(STATE / "v12" / "manifest.json")
    seed = manifest["nodes"]["seed.test.my_seed"]
    job = {
        "type": "job",
        "name": "impostor",
        "qualified_name": expected_name("seed.test.my_seed", seed),
    }
    made = await client.post("/api/v1/assets", json=job, headers=tenant.headers("editor"))
    assert made.status_code == 201
    before = row_counts(test_db)
    with pytest.raises(Unprocessable, match="is a job in the catalog, not a table"):
        await ingest(database, tenant, copy.deepcopy(manifest))
    assert row_counts(test_db) == before


async def test_compiled_sql_gives_column_lineage(
    database: Database, tenant: TenantKeys, client: httpx.AsyncClient, test_db: TestDatabase
) -> None:
    manifest = load(STATE / "v12" / "manifest.json")
    model = manifest["nodes"]["model.test.my_model"]
    schema = model["schema"]
    downstream = copy.deepcopy(model)
    downstream.update(
        unique_id="model.test.downstream",
        name="downstream",
        alias="downstream",
        columns={},
        depends_on={
            "macros": [],
            "nodes": ["model.test.my_model", "source.test.my_source.my_table"],
        },
        compiled_code=(
            f'select m.id, upper(s.name) as label\nfrom "dbt"."{schema}"."my_model" m\n'
            'join "dbt"."my_source"."my_seed" s on s.id = m.id'
        ),
    )
    broken = copy.deepcopy(downstream)
    broken.update(unique_id="model.test.broken", name="broken", alias="broken")
    broken["compiled_code"] = "select (1 from"
    manifest["nodes"]["model.test.downstream"] = downstream
    manifest["nodes"]["model.test.broken"] = broken

    summary = await ingest(database, tenant, manifest)
    assert [w.loc for w in summary.warnings] == [["manifest", "nodes", "model.test.broken"]]
    assert "not analysed for column lineage" in summary.warnings[0].msg

    names: dict[int, str] = {}
    for uid in ("model.test.my_model", "model.test.downstream", "source.test.my_source.my_table"):
        node = manifest["nodes"].get(uid) or manifest["sources"][uid]
        asset = await client.get(
            "/api/v1/assets/lookup",
            params={"qualified_name": expected_name(uid, node)},
            headers=tenant.headers("viewer"),
        )
        fields = await client.get(
            f"/api/v1/assets/{asset.json()['id']}/fields", headers=tenant.headers("viewer")
        )
        names.update({f["id"]: f"{node['name']}.{f['name']}" for f in fields.json()["fields"]})
        if uid == "model.test.downstream":
            assert [f["name"] for f in fields.json()["fields"]] == ["id", "label"]
            assert all(f["metadata"]["inferred"] for f in fields.json()["fields"])
    lineage = await client.get(
        "/api/v1/field-lineage", params={"limit": 500}, headers=tenant.headers("viewer")
    )
    edges = {
        (names[e["source_field_id"]], names[e["target_field_id"]], e["transformation"])
        for e in lineage.json()["items"]
    }
    assert edges == {
        ("my_model.id", "downstream.id", "IDENTITY"),
        ("my_model.id", "downstream.label", "JOIN"),
        ("my_table.id", "downstream.id", "JOIN"),
        ("my_table.id", "downstream.label", "JOIN"),
        ("my_table.name", "downstream.label", "TRANSFORMATION"),
    }
    before = row_counts(test_db)
    await ingest(database, tenant, manifest)
    assert row_counts(test_db) == before
