"""POST /api/v1/impact and /impact/schema-diff over the in-process graph, hydrated from Postgres."""

from __future__ import annotations

from typing import Any

import httpx

from headwater.api.app import create_app
from headwater.catalog.db import Database
from headwater.catalog.impact_report import PostgresEvidence, catalog_columns
from headwater.graph.impact import Evidence, GraphDataEvidence
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.model import Edge
from headwater.settings import Settings
from headwater.sync.graph_loader import load_snapshot
from tests.conftest import TenantKeys, TestDatabase
from tests.impact.platform import (
    JOB,
    MART,
    OPS_BOARD,
    RAW,
    REVENUE,
    REVENUE_BOARD,
    eventually,
    load_platform,
)


async def impact(
    client: httpx.AsyncClient, keys: TenantKeys, body: dict[str, Any], path: str = ""
) -> httpx.Response:
    return await client.post(f"/api/v1/impact{path}", json=body, headers=keys.headers("viewer"))


def drop(column: str) -> dict[str, Any]:
    return {"qualified_name": RAW, "changes": [{"kind": "drop_column", "column": column}]}


def ranked(body: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [(i["qualified_name"], i["status"], i["severity"], i["distance"]) for i in body["items"]]


def steps(item: dict[str, Any]) -> list[str]:
    return [f"{s['from']['name']} -{s['type']}-> {s['to']['name']}" for s in item["path"]]


async def test_a_column_nothing_reads_is_safe(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await load_platform(client, tenant)
    response = await impact(client, tenant, drop("notes"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["severity"] == "safe"
    assert body["items"] == []
    assert body["changes"][0]["severity"] == "breaking"  # for a reader, had there been one
    assert body["summary"]["assets"] == 0


async def test_a_column_read_three_hops_away_names_the_dashboard_and_its_owner(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await load_platform(client, tenant)
    response = await impact(client, tenant, drop("amount"))
    body = response.json()
    assert body["severity"] == "breaking"
    assert ranked(body) == [
        (MART, "affected", "breaking", 1),  # PII, before the job
        (JOB, "affected", "breaking", 1),
        (REVENUE_BOARD, "affected", "warning", 3),  # an exposure, before the view
        (REVENUE, "affected", "warning", 2),
        (OPS_BOARD, "possibly_affected", "warning", 2),
    ]
    board = body["items"][2]
    assert board["owners"] == ["bi@acme.test"]
    assert board["type"] == "dashboard"
    assert board["category"] == "exposure"
    assert steps(board) == [
        "orders.amount -IDENTITY-> mart_orders.amount",
        "mart_orders.amount -AGGREGATION-> revenue.revenue",
        "revenue.revenue -IDENTITY-> Revenue.revenue",
        "Revenue.revenue -CONTAINS-> Revenue",
    ]
    assert [c["name"] for c in board["columns"]] == ["revenue"]
    mart = body["items"][0]
    assert mart["pii"] is True
    assert [t["name"] for t in mart["tags"]] == ["pii"]
    assert mart["dependents"] == 3
    assert mart["columns"][0]["direct"] is True
    assert "dropped" in mart["columns"][0]["reason"]
    job = body["items"][1]
    assert (job["basis"], job["direct"], job["owners"]) == (
        "carries_column",
        True,
        ["etl@acme.test"],
    )
    assert steps(job) == ["orders -USES-> build_orders"]
    ops = body["items"][4]
    assert ops["reason"] == "possibly affected: no column-level lineage from mart_orders"
    summary = body["summary"]
    assert summary["by_severity"] == {"breaking": 2, "warning": 3, "safe": 0}
    assert summary["by_asset_type"]["dashboard"] == {"breaking": 0, "warning": 2, "safe": 0}
    assert [e["qualified_name"] for e in summary["exposures"]] == [REVENUE_BOARD, OPS_BOARD]
    assert [j["qualified_name"] for j in summary["jobs"]] == [JOB]
    assert summary["owners"] == ["etl@acme.test", "bi@acme.test", "ops@acme.test"]
    assert (summary["assets"], summary["columns"], summary["possibly_affected"]) == (5, 3, 1)
    assert summary["pii_assets"] == 1
    assert body["changes"][0]["explains"] == 4  # all but the job, reached by a relationship
    assert (body["max_depth"], body["depth_capped"], body["truncated"]) == (100, False, False)


async def test_mixed_lineage_reports_the_possibly_affected(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await load_platform(client, tenant)
    legacy = {
        "assets": [{"type": "table", "name": "export", "qualified_name": "pg://dw/legacy.export"}],
        "fields": [{"asset_qualified_name": "pg://dw/legacy.export", "fields": [{"name": "x"}]}],
        "relationships": [
            {
                "source_qualified_name": "pg://dw/legacy.export",
                "target_qualified_name": RAW,
                "type": "DEPENDS_ON",
            }
        ],
    }
    added = await client.post("/api/v1/bulk", json=legacy, headers=tenant.headers("editor"))
    assert added.status_code == 200

    async def reached() -> bool:
        return bool((await impact(client, tenant, drop("notes"))).json()["items"])

    await eventually(reached)
    body = (await impact(client, tenant, drop("notes"))).json()
    assert ranked(body) == [("pg://dw/legacy.export", "possibly_affected", "warning", 1)]
    assert body["items"][0]["reason"] == "possibly affected: no column-level lineage from orders"
    assert body["items"][0]["basis"] == "table_lineage"
    assert body["severity"] == "warning"
    # column lineage still decides for the others: mart.orders does not read notes
    assert all(i["qualified_name"] != MART for i in body["items"])


async def test_type_narrowing_breaks_and_widening_warns(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await load_platform(client, tenant)

    def retype(new: str, old: str | None = None) -> dict[str, Any]:
        change: dict[str, Any] = {"kind": "change_type", "column": "amount", "new_type": new}
        if old is not None:
            change["old_type"] = old
        return {"qualified_name": RAW, "changes": [change]}

    narrow = (await impact(client, tenant, retype("numeric(8,2)"))).json()
    assert narrow["severity"] == "breaking"
    assert narrow["changes"][0]["assessment"].startswith("narrowing")
    assert narrow["changes"][0]["old_type"] == "numeric(10,2)"  # from the catalog
    assert narrow["items"][0]["columns"][0]["severity"] == "breaking"
    wide = (await impact(client, tenant, retype("numeric(18,2)"))).json()
    assert wide["severity"] == "warning"
    assert {i["severity"] for i in wide["items"]} == {"warning"}
    same = (await impact(client, tenant, retype("NUMERIC(10, 2)"))).json()
    assert (same["severity"], same["items"]) == ("safe", [])
    noted = (await impact(client, tenant, retype("text", old="numeric(9,2)"))).json()
    assert any("numeric(9,2)" in n for n in noted["notes"])
    assert noted["changes"][0]["assessment"].startswith("incompatible")


async def test_renames_and_dropping_the_asset(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await load_platform(client, tenant)
    renamed = await impact(
        client,
        tenant,
        {
            "asset_id": ids[RAW],
            "changes": [{"kind": "rename_column", "old": "email", "new": "email_address"}],
        },
    )
    body = renamed.json()
    assert ranked(body)[0] == (MART, "affected", "breaking", 1)
    assert body["items"][0]["columns"][0]["name"] == "customer_email"
    dropped = (
        await impact(client, tenant, {"qualified_name": MART, "changes": [{"kind": "drop_asset"}]})
    ).json()
    assert ranked(dropped) == [
        (OPS_BOARD, "affected", "breaking", 1),
        (REVENUE, "affected", "breaking", 1),
        (REVENUE_BOARD, "affected", "warning", 2),
    ]
    moved = (
        await impact(
            client,
            tenant,
            {
                "qualified_name": REVENUE,
                "changes": [{"kind": "rename_asset", "new_qualified_name": "pg://dw/mart.rev"}],
            },
        )
    ).json()
    assert ranked(moved) == [(REVENUE_BOARD, "affected", "breaking", 1)]
    assert moved["items"][0]["reason"].startswith("reads revenue directly")


async def test_bad_input_is_404_or_422_with_a_message(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    ids = await load_platform(client, tenant)
    missing = await impact(client, tenant, {"asset_id": 10**9, "changes": [{"kind": "drop_asset"}]})
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["detail"]
    unknown_name = await impact(client, tenant, {**drop("id"), "qualified_name": "pg://nope"})
    assert unknown_name.status_code == 404
    foreign = await impact(
        client, other_tenant, {"asset_id": ids[RAW], "changes": [{"kind": "drop_asset"}]}
    )
    assert foreign.status_code == 404
    typo = await impact(client, tenant, drop("amout"))
    assert typo.status_code == 422
    assert "has no column 'amout'" in typo.json()["detail"]
    assert "did you mean 'amount'" in typo.json()["detail"]
    assert typo.json()["errors"][0]["loc"] == ["body", "changes", 0, "column"]
    kind = await impact(
        client, tenant, {"qualified_name": RAW, "changes": [{"kind": "truncate", "column": "id"}]}
    )
    assert kind.status_code == 422
    assert "drop_column" in kind.json()["detail"]
    bad: list[dict[str, Any]] = [
        {"changes": [{"kind": "drop_asset"}]},  # no asset
        {"asset_id": ids[RAW], "qualified_name": RAW, "changes": [{"kind": "drop_asset"}]},
        {"qualified_name": RAW, "changes": []},
        {"qualified_name": RAW, "changes": [{"kind": "change_type", "column": "id"}]},
        {
            "qualified_name": RAW,
            "changes": [{"kind": "rename_column", "column": "id", "new_name": "email"}],
        },
        {"qualified_name": RAW, "changes": [{"kind": "drop_column", "column": "id"}] * 2},
        {"qualified_name": RAW, "changes": [{"kind": "drop_asset"}, {"kind": "drop_asset"}]},
        {**drop("id"), "max_depth": -1},
    ]
    for body in bad:
        response = await impact(client, tenant, body)
        assert response.status_code == 422, body
        assert response.json()["detail"]


async def test_caps_are_stated(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    await load_platform(client, tenant)
    big = (
        await impact(client, tenant, {**drop("amount"), "max_depth": 10**6, "limit": 10**9})
    ).json()
    assert (big["depth_capped"], big["max_depth"]) == (True, 100)
    assert (big["limit_capped"], big["limit"]) == (True, 50_000)
    shallow = (await impact(client, tenant, {**drop("amount"), "max_depth": 1})).json()
    assert {i["distance"] for i in shallow["items"]} == {1}
    small = (await impact(client, tenant, {**drop("amount"), "limit": 2})).json()
    assert small["truncated"] is True
    assert any("stopped after" in n for n in small["notes"])


async def test_items_beyond_max_items_are_counted_not_listed(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await load_platform(client, tenant)
    full = (await impact(client, tenant, drop("amount"))).json()
    assert (full["max_items"], full["max_items_capped"], full["items_omitted"]) == (100, False, 0)
    assert len(full["items"]) == full["summary"]["assets"] == 5
    two = (await impact(client, tenant, {**drop("amount"), "max_items": 2})).json()
    assert two["items"] == full["items"][:2]  # the most critical, as the full list ranks them
    assert (two["max_items"], two["items_omitted"]) == (2, 3)
    assert {k: v for k, v in two["summary"].items() if k not in ("exposures", "jobs")} == {
        k: v for k, v in full["summary"].items() if k not in ("exposures", "jobs")
    }
    assert any("max_items" in n for n in two["notes"])
    one = (await impact(client, tenant, {**drop("amount"), "max_items": 1})).json()
    assert [e["qualified_name"] for e in one["summary"]["exposures"]] == [REVENUE_BOARD]
    big = (await impact(client, tenant, {**drop("amount"), "max_items": 10**6})).json()
    assert (big["max_items"], big["max_items_capped"], big["items_omitted"]) == (1_000, True, 0)
    bad = await impact(client, tenant, {**drop("amount"), "max_items": 0})
    assert bad.status_code == 422


async def test_schema_diff_computes_the_changes_then_the_impact(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    await load_platform(client, tenant)
    new_columns = [
        {"name": "id", "data_type": "BIGINT"},
        {"name": "email_address", "data_type": "varchar(255)"},
        {"name": "amount", "data_type": "numeric(8,2)"},
        {"name": "STATUS", "data_type": "varchar(20)"},
        {"name": "created_at", "data_type": "timestamp"},
    ]
    declared = await impact(
        client,
        tenant,
        {"qualified_name": RAW, "columns": new_columns, "renames": {"email": "email_address"}},
        "/schema-diff",
    )
    assert declared.status_code == 200, declared.text
    body = declared.json()
    assert body["diff"] == {
        "compared": "full",
        "dropped": ["notes"],
        "added": ["created_at"],
        "type_changed": [
            {
                "column": "amount",
                "old_type": "numeric(10,2)",
                "new_type": "numeric(8,2)",
                "verdict": "narrowing",
                "severity": "breaking",
            }
        ],
        "renamed": [{"old": "email", "new": "email_address", "detected": False}],
        "unchanged": 2,  # id (same type, other spelling), status (case-insensitive name)
    }
    assert [c["kind"] for c in body["impact"]["changes"]] == [
        "drop_column",
        "rename_column",
        "change_type",
    ]
    assert body["impact"]["severity"] == "breaking"
    mart = body["impact"]["items"][0]
    assert mart["qualified_name"] == MART
    assert {c["name"] for c in mart["columns"]} == {"customer_email", "amount"}

    detected = (
        await impact(
            client,
            tenant,
            {"qualified_name": RAW, "columns": new_columns, "detect_renames": True},
            "/schema-diff",
        )
    ).json()
    assert detected["diff"]["renamed"] == [
        {"old": "email", "new": "email_address", "detected": True}
    ]
    plain = (
        await impact(
            client, tenant, {"qualified_name": RAW, "columns": new_columns}, "/schema-diff"
        )
    ).json()
    assert plain["diff"]["dropped"] == ["email", "notes"]
    assert plain["diff"]["renamed"] == []

    wrong = await impact(
        client,
        tenant,
        {"qualified_name": RAW, "columns": new_columns, "renames": {"nope": "created_at"}},
        "/schema-diff",
    )
    assert wrong.status_code == 422
    twice = await impact(
        client,
        tenant,
        {"qualified_name": RAW, "columns": [{"name": "id"}, {"name": "id"}]},
        "/schema-diff",
    )
    assert twice.status_code == 422


async def test_a_graph_that_has_not_caught_up_answers_503(
    client: httpx.AsyncClient, tenant: TenantKeys, settings: Settings
) -> None:
    await load_platform(client, tenant)
    assert settings.database_url is not None
    # The same catalog, served with a graph that never loaded it: a mirror lagging behind.
    app = create_app(settings, Database(settings.database_url, max_size=2), MemoryGraphEngine())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as lagging:
            response = await impact(lagging, tenant, drop("amount"))
    assert response.status_code == 503
    assert "retry" in response.json()["detail"]


async def test_postgres_evidence_matches_the_snapshot_evidence(
    client: httpx.AsyncClient, tenant: TenantKeys, database: Database, test_db: TestDatabase
) -> None:
    """The API's evidence (Postgres) and the in-process one (a graph snapshot) agree."""
    ids = await load_platform(client, tenant)
    worker = Database(test_db.worker_dsn, max_size=1)
    await worker.open()
    try:
        snapshot = (await load_snapshot(worker))[0].tenants[tenant.tenant_id]
    finally:
        await worker.close()
    region = sorted(ids.values())
    async with database.transaction(tenant.tenant_id) as conn:
        fields = await catalog_columns(conn, [ids[RAW], ids[MART]])
        tainted = sorted(c.id for cs in fields.values() for c in cs)
        seeds = [c.id for c in fields[ids[RAW]]]
        from_postgres = await PostgresEvidence(conn).evidence(region, tainted, seeds)
    from_snapshot = await GraphDataEvidence(snapshot).evidence(region, tainted, seeds)

    def flows(e: Evidence) -> list[Edge]:
        return sorted((e.flows.edge(i) for i in range(len(e.flows))), key=lambda x: x.id)

    assert flows(from_postgres) == flows(from_snapshot)
    assert len(flows(from_postgres)) == 5
    for name in ("lineage_targets", "carrying_pairs", "with_columns"):
        assert set(getattr(from_postgres, name)) == set(getattr(from_snapshot, name)), name
    assert dict(from_postgres.field_assets) == dict(from_snapshot.field_assets)
    assert sorted(from_postgres.direct, key=lambda e: e.id) == list(from_snapshot.direct)
    assert {ids[MART], ids[REVENUE], ids[REVENUE_BOARD]} == set(from_postgres.lineage_targets)
