"""Ranking and the summary over more reported assets than a report lists: every reported asset is
ranked and counted from the facts read for all of them (type, qualified name, owners, tags for
PII), while names and full tags are shown for the listed ones only.

::

    src.c -> d1.c (PII: pii, core) -> w1.c (PII: pii) -> x1.c (dashboard)
          |                        -> w2.c (notebook)
          -> d2.c -> w3.c
          -> d3.c (dashboard)
          -> d4.c (PII: category) -> w4.c
          -> d5.c (PII: PII_email)
          -> d6.c (alpii, finance: not PII)
    src --USES-- load (job) --PRODUCES--> d7 (columns, no column lineage)
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantKeys
from tests.impact.platform import eventually

SRC = "pg://t/src"


def _asset(name: str, type: str = "table", owners: tuple[str, ...] = ()) -> dict[str, Any]:
    scheme = {"dashboard": "bi", "notebook": "nb", "job": "af"}.get(type, "pg")
    return {
        "type": type,
        "name": name,
        "qualified_name": f"{scheme}://t/{name}",
        "owners": list(owners),
    }


ASSETS = [
    _asset("src", owners=("src@x.test",)),
    _asset("d1", owners=("a@x.test",)),
    _asset("d2", "view", ("b@x.test", "a@x.test")),
    _asset("d3", "dashboard", ("c@x.test",)),
    _asset("d4"),
    _asset("d5", owners=("d@x.test",)),
    _asset("d6", owners=("e@x.test",)),
    _asset("d7"),
    _asset("w1", owners=("f@x.test",)),
    _asset("w2", "notebook", ("g@x.test",)),
    _asset("w3", "view", ("a@x.test", "h@x.test")),
    _asset("w4"),
    _asset("x1", "dashboard", ("i@x.test",)),
    _asset("load", "job", ("j@x.test",)),
]
QN = {a["name"]: a["qualified_name"] for a in ASSETS}
# reads (column c of the key from column c of the value)
FEEDS = {
    "d1": "src",
    "d2": "src",
    "d3": "src",
    "d4": "src",
    "d5": "src",
    "d6": "src",
    "w1": "d1",
    "w2": "d1",
    "w3": "d2",
    "w4": "d4",
    "x1": "w1",
}
TAGS: dict[str, list[dict[str, str]]] = {
    "d1": [{"name": "pii"}, {"name": "core", "category": "quality"}],
    "d4": [{"name": "contact", "category": "PII"}],
    "d5": [{"name": "PII_email"}],
    "d6": [{"name": "alpii", "category": "finance"}],
    "w1": [{"name": "pii"}],
}
# Breaking before warning, affected before possibly affected, exposures first, then PII, then
# more dependents, nearer, and by qualified name.
RANKED = ["d3", "d1", "d4", "d5", "d2", "d6", "w2", "x1", "w1", "w3", "w4", "load", "d7"]


async def _load(client: httpx.AsyncClient, tenant: TenantKeys) -> dict[str, int]:
    columns = [{"name": "c", "data_type": "bigint"}]
    bulk = {
        "assets": ASSETS,
        "fields": [
            {"asset_qualified_name": a["qualified_name"], "fields": columns}
            for a in ASSETS
            if a["type"] != "job"
        ],
        "relationships": [
            {"source_qualified_name": QN["load"], "target_qualified_name": SRC, "type": "USES"},
            {
                "source_qualified_name": QN["load"],
                "target_qualified_name": QN["d7"],
                "type": "PRODUCES",
            },
        ],
        "field_lineage": [
            {
                "source": {"asset_qualified_name": QN[up], "field": "c"},
                "target": {"asset_qualified_name": QN[down], "field": "c"},
                "transformation": "IDENTITY",
            }
            for down, up in FEEDS.items()
        ],
    }
    response = await client.post("/api/v1/bulk", json=bulk, headers=tenant.headers("editor"))
    assert response.status_code == 200, response.text
    listed = await client.get(
        "/api/v1/assets", params={"limit": 500}, headers=tenant.headers("viewer")
    )
    ids = {a["name"]: a["id"] for a in listed.json()["items"]}
    for name, tags in TAGS.items():
        for tag in tags:
            attached = await client.post(
                f"/api/v1/assets/{ids[name]}/tags", json=tag, headers=tenant.headers("editor")
            )
            assert attached.status_code == 200, attached.text
    return ids


async def _report(client: httpx.AsyncClient, tenant: TenantKeys, max_items: int) -> dict[str, Any]:
    body = {
        "qualified_name": SRC,
        "changes": [{"kind": "drop_column", "column": "c"}],
        "max_items": max_items,
    }
    response = await client.post("/api/v1/impact", json=body, headers=tenant.headers("viewer"))
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def test_unlisted_items_are_ranked_and_counted_from_their_facts(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    ids = await _load(client, tenant)

    async def synced() -> bool:
        reported: int = (await _report(client, tenant, 1))["summary"]["assets"]
        return reported == len(RANKED)

    await eventually(synced)
    full = await _report(client, tenant, 1000)
    assert [i["name"] for i in full["items"]] == RANKED
    assert [i["rank"] for i in full["items"]] == list(range(1, len(RANKED) + 1))
    by_name = {i["name"]: i for i in full["items"]}
    assert {n for n, i in by_name.items() if i["pii"]} == {"d1", "d4", "d5", "w1"}
    assert (by_name["load"]["category"], by_name["load"]["status"]) == ("job", "possibly_affected")
    # each listed item carries its asset's facts as the catalog holds them
    for name, item in by_name.items():
        asset = await client.get(f"/api/v1/assets/{ids[name]}", headers=tenant.headers("viewer"))
        held = asset.json()
        assert (item["id"], item["type"], item["qualified_name"]) == (
            held["id"],
            held["type"],
            held["qualified_name"],
        )
        assert item["owners"] == held["owners"]
        assert item["tags"] == sorted(held["tags"], key=lambda t: t["name"])
    assert [t["name"] for t in by_name["d1"]["tags"]] == ["core", "pii"]
    assert by_name["d4"]["tags"][0]["category"] == "PII"

    three = await _report(client, tenant, 3)
    assert three["items"] == full["items"][:3]
    assert three["items_omitted"] == len(RANKED) - 3
    summary = three["summary"]
    # the unlisted count as much as the listed
    assert {k: v for k, v in summary.items() if k not in ("exposures", "jobs")} == {
        k: v for k, v in full["summary"].items() if k not in ("exposures", "jobs")
    }
    assert summary["pii_assets"] == 4  # d5 and w1 are not listed
    assert summary["owners"] == [
        "c@x.test",  # d3
        "a@x.test",  # d1
        "d@x.test",  # d5 (d4 has none)
        "b@x.test",  # d2
        "e@x.test",  # d6
        "g@x.test",  # w2
        "i@x.test",  # x1
        "f@x.test",  # w1
        "h@x.test",  # w3
        "j@x.test",  # load
    ]
    assert (summary["assets"], summary["columns"], summary["possibly_affected"]) == (13, 11, 2)
    assert summary["by_severity"] == {"breaking": 6, "warning": 7, "safe": 0}
    assert summary["by_asset_type"]["dashboard"] == {"breaking": 1, "warning": 1, "safe": 0}
    assert summary["by_asset_type"]["job"] == {"breaking": 0, "warning": 1, "safe": 0}
    # exposures and jobs are named, with their owners, whether listed or not
    assert [(e["name"], e["owners"], e["severity"]) for e in summary["exposures"]] == [
        ("d3", ["c@x.test"], "breaking"),
        ("w2", ["g@x.test"], "warning"),
        ("x1", ["i@x.test"], "warning"),
    ]
    assert [(j["name"], j["qualified_name"], j["status"]) for j in summary["jobs"]] == [
        ("load", QN["load"], "possibly_affected")
    ]
    one = await _report(client, tenant, 1)
    assert [e["name"] for e in one["summary"]["exposures"]] == ["d3"]
    assert one["items"] == full["items"][:1]
