"""The web UI in headless Chromium against a running Headwater loaded with the Marquez seed.

Every check compares what the page draws (``data-node-id`` / ``data-edge-id`` in the DOM) with
what the API answers for the same question. Each view leaves a screenshot in test-artifacts/ui/.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.ui.conftest import Guard, Headwater, qn, screenshot, sign_in

DELIVERY = qn("public.delivery_7_days")
CUSTOMERS = qn("public.customers")


def graph_ready(page: Page, after: int = 0) -> None:
    """Wait until the graph stage is drawn (more than ``after`` times)."""
    page.wait_for_function(
        "n => { const s = document.querySelector('.graph-stage');"
        " return s && s.dataset.state === 'ready' && Number(s.dataset.renders || 0) > n; }",
        arg=after,
    )


def search_ready(page: Page) -> None:
    """Wait until the results on the page are those of the query in the URL."""
    page.wait_for_function(
        "() => { const r = document.getElementById('results');"
        " return r && r.dataset.state === 'ready' && r.dataset.key === location.hash; }"
    )


def renders(page: Page) -> int:
    return int(page.get_attribute(".graph-stage", "data-renders") or 0)


def drawn_nodes(page: Page) -> set[str]:
    return set(page.eval_on_selector_all("svg .node", "els => els.map(e => e.dataset.nodeId)"))


def drawn(page: Page, selector: str, attribute: str = "edgeId") -> set[str]:
    return set(page.eval_on_selector_all(selector, f"els => els.map(e => e.dataset.{attribute})"))


def traversal_ids(body: dict[str, Any]) -> set[str]:
    return {f"{n['kind']}:{n['id']}" for n in body["nodes"]}


def box_x(page: Page, node: str) -> float:
    box = page.locator(f'svg .node[data-node-id="{node}"] > rect.box').bounding_box()
    assert box is not None, node
    return box["x"]


def test_sign_in_refuses_a_bad_key_readably_then_signs_in(
    page: Page, headwater: Headwater, guard: Guard
) -> None:
    guard.expected_statuses.add(401)
    page.goto(f"{headwater.url}/")
    expect(page).to_have_url(f"{headwater.url}/#/login?next=%2F")
    page.fill("#api-key", "hw_notakey_0000000000000000000000000000")
    page.click("form.login button[type=submit]")
    expect(page.locator("form.login .error")).to_contain_text("invalid API key")
    page.fill("#api-key", headwater.keys.viewer)
    page.click("form.login button[type=submit]")
    identity = page.locator("[data-testid=identity]")
    expect(identity).to_contain_text("viewer@marquez.test")
    expect(identity).to_contain_text("marquez")
    # The key lives in this tab's session storage only.
    stored = page.evaluate("sessionStorage.getItem('headwater.apiKey')")
    assert stored == headwater.keys.viewer
    assert page.evaluate("localStorage.length") == 0
    screenshot(page, "01-signed-in")


def test_errors_are_readable_and_other_tenants_assets_do_not_exist(
    page: Page, headwater: Headwater, guard: Guard
) -> None:
    guard.expected_statuses.add(404)
    other = headwater.new_tenant("globex")
    theirs = Headwater(headwater.url, other, headwater.app_dsn).write(
        "POST",
        "assets",
        {"type": "table", "name": "secrets", "qualified_name": "pg://globex/secrets"},
    )
    sign_in(page, headwater)
    for asset in (theirs["id"], 987654321):
        page.goto(f"{headwater.url}/#/asset/{asset}")
        error = page.locator("main .error")
        expect(error).to_contain_text("Not found")
        expect(error).to_contain_text(f"asset {asset} does not exist")
        expect(error).to_contain_text("request id")
    page.goto(f"{headwater.url}/#/lineage/{theirs['id']}")
    expect(page.locator(".graph-notices .error")).to_contain_text(
        f"asset {theirs['id']} does not exist"
    )
    screenshot(page, "10-error")


def test_search_finds_an_asset_with_facets_and_the_keyboard(
    page: Page, headwater: Headwater
) -> None:
    assert headwater.has_route("search"), "GET /api/v1/search is not served"
    sign_in(page, headwater)
    expect(page.get_by_test_id("mode-hybrid")).to_be_checked()
    page.fill("#search-box", "customer email address")
    page.press("#search-box", "Enter")
    search_ready(page)
    customers = headwater.ids[CUSTOMERS]
    hit = page.locator(f'.hit[data-asset-id="{customers}"]')
    expect(hit).to_be_visible()
    expect(hit.locator(".qualified-name")).to_have_text(CUSTOMERS)
    expect(hit.locator(".tag.sensitive")).to_have_text("PII")
    api = headwater.api("search", q="customer email address", mode="hybrid", limit=20)
    assert drawn(page, ".hit", "assetId") == {str(h["asset"]["id"]) for h in api["hits"]}
    # Facet counts are the API's.
    for facet in api["facets"]["type"]:
        label = page.locator(f'[data-facet="type"] .facet-value:has([value="{facet["value"]}"])')
        expect(label.locator(".count")).to_have_text(str(facet["count"]))
    screenshot(page, "02-search")

    # A facet filter narrows the results to its value.
    page.get_by_test_id("facet-type-job").check()
    expect(page).to_have_url(f"{headwater.url}/#/search?q=customer+email+address&type=job")
    search_ready(page)
    jobs = headwater.api("search", q="customer email address", type="job", limit=20)
    assert drawn(page, ".hit", "assetId") == {str(h["asset"]["id"]) for h in jobs["hits"]}
    assert all(h["asset"]["type"] == "job" for h in jobs["hits"])

    # Keyboard: "/" focuses the box, arrows walk the results, Enter opens one.
    page.get_by_test_id("facet-type-job").uncheck()
    search_ready(page)
    page.locator("body").click(position={"x": 5, "y": 880})
    page.keyboard.press("/")
    expect(page.locator("#search-box")).to_be_focused()
    page.keyboard.press("ArrowDown")
    first = page.locator(".hit-link").first
    expect(first).to_be_focused()
    target = first.get_attribute("href")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{headwater.url}/{target}")


def test_asset_page_shows_columns_tags_owners_and_neighbours(
    page: Page, headwater: Headwater
) -> None:
    sign_in(page, headwater)
    customers = headwater.ids[CUSTOMERS]
    page.goto(f"{headwater.url}/#/asset/{customers}")
    expect(page.get_by_test_id("qualified-name")).to_have_text(CUSTOMERS)
    fields = headwater.api(f"assets/{customers}/fields")["fields"]
    rows = page.locator("[data-testid=columns] tbody tr")
    expect(rows).to_have_count(len(fields))
    assert drawn(page, "[data-testid=columns] tbody tr", "nodeId") == {
        f"field:{f['id']}" for f in fields
    }
    for f in fields:
        row = page.locator(f'[data-testid=columns] tr[data-node-id="field:{f["id"]}"]')
        expect(row.locator("td").nth(0)).to_contain_text(f["name"])
        expect(row.locator("td").nth(1)).to_have_text(f["data_type"] or "—")
    expect(page.get_by_test_id("owners")).to_have_text("crm-team@example.com")
    expect(page.locator("[data-testid=tags] .tag.sensitive")).to_contain_text("PII")
    for side in ("upstream", "downstream"):
        api = headwater.api(f"lineage/{side}", asset_id=customers, depth=1)
        assert drawn(page, f"[data-testid={side}] li", "nodeId") == traversal_ids(api), side
    # The owner change and the tag are in the history, newest first.
    history = page.get_by_test_id("history")
    expect(history.locator("li").first).to_contain_text("asset_tag.attach")
    expect(history.locator("li").first).to_contain_text("tag PII")
    expect(history).to_contain_text("changed owners")
    screenshot(page, "03-asset")


def test_lineage_view_draws_the_apis_upstream_and_downstream(
    page: Page, headwater: Headwater
) -> None:
    sign_in(page, headwater)
    center = headwater.ids[DELIVERY]
    page.goto(f"{headwater.url}/#/lineage/{center}?up=2&down=2")
    graph_ready(page)
    up = headwater.api("lineage/upstream", asset_id=center, depth=2)
    down = headwater.api("lineage/downstream", asset_id=center, depth=2)
    assert up["nodes"]
    assert down["nodes"]
    assert drawn_nodes(page) == {f"asset:{center}"} | traversal_ids(up) | traversal_ids(down)
    view = headwater.api("lineage/graph", asset_id=center, upstream_depth=2, downstream_depth=2)
    assert drawn(page, "svg .edge") == {f"{e['kind']}:{e['id']}" for e in view["edges"]}
    # Upstream left of the centre, downstream right of it.
    middle = box_x(page, f"asset:{center}")
    assert all(box_x(page, n) < middle for n in traversal_ids(up))
    assert all(box_x(page, n) > middle for n in traversal_ids(down))
    # Each node shows its type icon and name, and the hidden neighbours the depth left out.
    customers = f"asset:{headwater.ids[CUSTOMERS]}"
    node = page.locator(f'svg .node[data-node-id="{customers}"]')
    expect(node.locator("text.name")).to_have_text("public.customers")
    expect(node.locator("svg.type-icon")).to_have_attribute("data-type", "table")
    hidden = next(n for n in view["nodes"] if f"asset:{n['id']}" == customers)
    expect(node.locator(".handle.expand.downstream text")).to_have_text(
        f"+{hidden['hidden_downstream']}"
    )
    screenshot(page, "04-lineage")

    # Pan, zoom and fit.
    zoom = float(page.get_attribute("svg.graph-canvas", "data-zoom") or 0)
    page.get_by_test_id("zoom-in").click()
    page.wait_for_function(
        "z => Number(document.querySelector('svg.graph-canvas').dataset.zoom) > z", arg=zoom
    )
    page.get_by_test_id("fit").click()
    page.wait_for_function(
        "z => Math.abs(Number(document.querySelector('svg.graph-canvas').dataset.zoom) - z) < 1e-3",
        arg=zoom,
    )
    before = box_x(page, f"asset:{center}")
    stage = page.locator(".graph-stage").bounding_box()
    assert stage is not None
    page.mouse.move(stage["x"] + 20, stage["y"] + 20)
    page.mouse.down()
    page.mouse.move(stage["x"] + 120, stage["y"] + 60, steps=5)
    page.mouse.up()
    page.wait_for_function(
        '([id, x]) => document.querySelector(`svg .node[data-node-id="${id}"] > rect.box`)'
        ".getBoundingClientRect().x > x + 50",
        arg=[f"asset:{center}", before],
    )


def test_expanding_and_collapsing_nodes(page: Page, headwater: Headwater) -> None:
    sign_in(page, headwater)
    center = headwater.ids[DELIVERY]
    customers = headwater.ids[CUSTOMERS]
    page.goto(f"{headwater.url}/#/lineage/{center}?up=2&down=2")
    graph_ready(page)
    before = drawn_nodes(page)
    neighbours = traversal_ids(
        headwater.api("lineage/upstream", asset_id=customers, depth=1)
    ) | traversal_ids(headwater.api("lineage/downstream", asset_id=customers, depth=1))
    assert not neighbours <= before, "the seed gives customers neighbours beyond depth 2"
    count = renders(page)
    page.locator(f'svg .node[data-node-id="asset:{customers}"] text.name').click()
    graph_ready(page, count)
    assert drawn_nodes(page) == before | neighbours
    node = page.locator(f'svg .node[data-node-id="asset:{customers}"]')
    expect(node.locator(".handle.expand")).to_have_count(0)
    expect(page.locator(".graph-panel h2")).to_have_text("public.customers")
    screenshot(page, "05-lineage-expanded")

    # Collapse the upstream side of the job that feeds the centre: its sources disappear.
    job = f"asset:{headwater.ids[qn('etl_delivery_7_days')]}"
    feeding = traversal_ids(headwater.api("lineage/upstream", asset_id=int(job[6:]), depth=1))
    count = renders(page)
    page.locator(f'svg .node[data-node-id="{job}"] .handle.collapse.upstream').click()
    graph_ready(page, count)
    shown = drawn_nodes(page)
    assert not (feeding & shown)
    assert f"asset:{customers}" not in shown
    handle = page.locator(f'svg .node[data-node-id="{job}"] .handle.expand.upstream')
    expect(handle.locator("text")).to_have_text(f"+{len(feeding)}")
    # And back.
    count = renders(page)
    handle.click()
    graph_ready(page, count)
    assert feeding <= drawn_nodes(page)


def test_column_toggle_draws_column_edges_and_traces_a_column(
    page: Page, headwater: Headwater
) -> None:
    sign_in(page, headwater)
    center = headwater.ids[DELIVERY]
    page.goto(f"{headwater.url}/#/lineage/{center}?up=2&down=2")
    graph_ready(page)
    assert drawn(page, "svg .col-edge") == set()
    count = renders(page)
    page.get_by_test_id("columns-toggle").check()
    graph_ready(page, count)
    view = headwater.api(
        "lineage/graph", asset_id=center, upstream_depth=2, downstream_depth=2, include_fields=True
    )
    column_edges = {
        f"field_lineage:{e['id']}" for e in view["edges"] if e["kind"] == "field_lineage"
    }
    assert column_edges
    assert drawn(page, "svg .col-edge") == column_edges
    assert drawn(page, "svg .col", "nodeId") == {
        f"field:{n['id']}" for n in view["nodes"] if n["kind"] == "field"
    }
    expect(page).to_have_url(f"{headwater.url}/#/lineage/{center}?up=2&down=2&cols=1")

    # Hovering a column highlights every column upstream and downstream of it.
    fields = headwater.api(f"assets/{center}/fields")["fields"]
    email = next(f for f in fields if f["name"] == "customer_email")
    related = traversal_ids(
        headwater.api("lineage/upstream", field_id=email["id"], depth="all")
    ) | traversal_ids(headwater.api("lineage/downstream", field_id=email["id"], depth="all"))
    shown = drawn(page, "svg .col", "nodeId")
    page.locator(f'svg .col[data-node-id="field:{email["id"]}"]').hover()
    page.wait_for_function("() => document.querySelector('svg.graph-canvas').dataset.highlight")
    highlighted = drawn(page, "svg .col.hl", "nodeId")
    assert highlighted == {f"field:{email['id']}"} | (related & shown)
    assert len(highlighted) >= 3
    screenshot(page, "06-lineage-columns")


def test_path_view_shows_the_shortest_path_between_assets_and_columns(
    page: Page, headwater: Headwater
) -> None:
    sign_in(page, headwater)
    orders = headwater.ids[qn("public.orders")]
    popular = headwater.ids[qn("public.popular_orders_day_of_week")]
    page.goto(f"{headwater.url}/#/paths")
    # Pick both ends by typing, as a person would.
    for name, text, asset in (("from", "orders", orders), ("to", "popular", popular)):
        page.fill(f"#{name}-asset", text)
        page.locator(f'#{name}-options li[data-asset-id="{asset}"]').click()
        expect(page.locator(f"#{name}-asset")).not_to_have_value(text)
    page.get_by_test_id("find-paths").click()
    chain = page.get_by_test_id("shortest-path")
    expect(chain).to_be_visible()
    api = headwater.api(
        "lineage/paths", from_asset_id=orders, to_asset_id=popular, max_depth=10, max_paths=100
    )
    assert api["shortest"]
    expected = _path_nodes(api["shortest"])
    assert chain.locator(".hop-node").evaluate_all("els => els.map(e => e.dataset.nodeId)") == (
        expected
    )
    assert drawn_nodes(page) == {k for k in expected}
    assert drawn(page, "svg .edge.on-path") == {f"{e['kind']}:{e['id']}" for e in api["shortest"]}
    screenshot(page, "07-paths")

    # Column to column, from the URL.
    source = _field(headwater, orders, "placed_on")
    target = _field(headwater, popular, "order_day_of_week")
    page.goto(f"{headwater.url}/#/paths?from=field:{source}&to=field:{target}")
    chain = page.get_by_test_id("shortest-path")
    expect(chain).to_be_visible()
    columns = headwater.api(
        "lineage/paths", from_field_id=source, to_field_id=target, max_depth=10, max_paths=100
    )
    assert columns["shortest"]
    expected = _path_nodes(columns["shortest"])
    assert chain.locator(".hop-node").evaluate_all("els => els.map(e => e.dataset.nodeId)") == (
        expected
    )
    assert set(expected) <= drawn(page, "svg .col", "nodeId")
    assert drawn(page, "svg .col-edge") >= {f"field_lineage:{e['id']}" for e in columns["shortest"]}


def _field(hw: Headwater, asset: int, name: str) -> int:
    return int(
        next(f["id"] for f in hw.api(f"assets/{asset}/fields")["fields"] if f["name"] == name)
    )


def _path_nodes(edges: list[dict[str, Any]]) -> list[str]:
    """The nodes of a path in flow order (an edge's stored ends may point against the flow)."""
    ends = []
    for e in edges:
        source, target = (
            f"{e['source']['kind']}:{e['source']['id']}",
            f"{e['target']['kind']}:{e['target']['id']}",
        )
        backward = e["kind"] == "relationship" and e["type"] in ("USES", "DEPENDS_ON")
        ends.append((target, source) if backward else (source, target))
    return [ends[0][0], *(b for _, b in ends)]


def test_the_graph_stays_responsive_at_several_hundred_nodes(
    page: Page, headwater: Headwater
) -> None:
    keys = headwater.new_tenant("bigco")
    rng = random.Random(7)
    layers, width = 24, 20
    names = [[f"pg://big/l{layer}.t{i}" for i in range(width)] for layer in range(layers)]
    relationships = [
        {"source_qualified_name": child, "target_qualified_name": parent, "type": "DEPENDS_ON"}
        for layer in range(1, layers)
        for child in names[layer]
        for parent in rng.sample(names[layer - 1], 3)
    ]
    body = {
        "assets": [
            {"type": "table", "name": qname.rsplit("/", 1)[1], "qualified_name": qname}
            for layer in names
            for qname in layer
        ],
        "relationships": relationships,
    }
    big = Headwater(headwater.url, keys, headwater.app_dsn)
    big.write("POST", "bulk", body)
    center = big.api("assets/lookup", qualified_name=names[layers // 2][0])["id"]

    def reach() -> int:
        view = big.api(
            "lineage/graph",
            asset_id=center,
            upstream_depth="all",
            downstream_depth="all",
            node_cap=1000,
        )
        return len(view["nodes"])

    deadline = time.monotonic() + 30
    while reach() < 300 and time.monotonic() < deadline:
        time.sleep(0.2)
    expected = reach()
    assert expected >= 300, f"the synthetic graph reaches only {expected} nodes"

    sign_in(page, big)
    page.goto(f"{big.url}/#/lineage/{center}?up=all&down=all&cap=1000")
    graph_ready(page)
    # Every node is laid out and drawn, and the view still answers input (how fast is measured
    # by the benchmarks, not asserted here: a shared CI machine's timing is not a behaviour).
    assert len(drawn_nodes(page)) == expected
    assert int(page.get_attribute("svg.graph-canvas", "data-render-ms") or -1) >= 0
    screenshot(page, "09-lineage-large")
    zoom = float(page.get_attribute("svg.graph-canvas", "data-zoom") or 0)
    page.get_by_test_id("zoom-in").click()
    page.wait_for_function(
        "z => Number(document.querySelector('svg.graph-canvas').dataset.zoom) > z", arg=zoom
    )

    # Under a node cap the view says so, and the nodes at its edge count what they hide.
    page.goto(f"{big.url}/#/lineage/{center}?up=all&down=all&cap=50")
    graph_ready(page)
    capped = big.api(
        "lineage/graph", asset_id=center, upstream_depth="all", downstream_depth="all", node_cap=50
    )
    assert capped["truncated"]
    expect(page.get_by_test_id("truncated")).to_contain_text("capped this view at 50 nodes")
    assert drawn_nodes(page) == {f"asset:{n['id']}" for n in capped["nodes"]}
    shown_hidden = page.eval_on_selector_all(
        "svg .handle.expand text", "els => els.map(e => Number(e.textContent.slice(1)))"
    )
    assert sum(shown_hidden) > 0


def test_impact_run_highlights_and_lists_the_affected_assets(
    page: Page, headwater: Headwater
) -> None:
    assert headwater.has_route("impact"), "POST /api/v1/impact is not served"
    sign_in(page, headwater)
    customers = headwater.ids[CUSTOMERS]
    page.goto(f"{headwater.url}/#/impact/{customers}")
    page.get_by_test_id("action-email").select_option("drop_column")
    page.get_by_test_id("action-phone").select_option("change_type")
    page.locator('input[name="detail-phone"]').fill("INTEGER")
    page.get_by_test_id("run-impact").click()
    page.wait_for_selector('.impact-results[data-state="ready"]')
    report = httpx_post(
        headwater,
        "impact",
        {
            "asset_id": customers,
            "changes": [
                {"kind": "drop_column", "column": "email"},
                {"kind": "change_type", "column": "phone", "new_type": "INTEGER"},
            ],
        },
    )
    assert report["items"], "dropping customers.email affects the seed's downstream"
    expect(page.get_by_test_id("impact-summary")).to_have_attribute(
        "data-severity", report["severity"]
    )
    # The list is the API's ranking, with severities and owners.
    rows = page.locator("[data-testid=impact-items] tbody tr")
    assert rows.evaluate_all("els => els.map(e => Number(e.dataset.assetId))") == [
        item["id"] for item in report["items"]
    ]
    for item in report["items"]:
        row = page.locator(f'[data-testid=impact-items] tr[data-asset-id="{item["id"]}"]')
        expect(row).to_have_attribute("data-severity", item["severity"])
        expect(row.locator("td").nth(5)).to_have_text(", ".join(item["owners"]) or "no owner")
    assert any(item["owners"] == ["logistics@example.com"] for item in report["items"])
    # The graph highlights exactly the affected assets, by severity, and the affected columns.
    for severity in ("breaking", "warning"):
        assert drawn(page, f"svg .node.impact-{severity}", "nodeId") == {
            f"asset:{i['id']}" for i in report["items"] if i["severity"] == severity
        }, severity
    assert drawn(page, "svg .node.impact-origin", "nodeId") == {f"asset:{customers}"}
    affected_columns = {
        f"field:{c['id']}" for i in report["items"] for c in i["columns"] if c["severity"] != "safe"
    }
    assert affected_columns
    assert affected_columns <= drawn(
        page, "svg .col.impact-breaking, svg .col.impact-warning", "nodeId"
    )
    screenshot(page, "08-impact")

    # Export: CSV with one row per affected column (or asset), and the JSON report itself.
    with page.expect_download() as csv_download:
        page.get_by_test_id("export-csv").click()
    lines = Path(csv_download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("rank,severity,status,asset_type,asset,qualified_name,column")
    expected_rows = sum(max(1, len(i["columns"])) for i in report["items"])
    assert len(lines) == 1 + expected_rows
    with page.expect_download() as json_download:
        page.get_by_test_id("export-json").click()
    exported = json.loads(Path(json_download.value.path()).read_text(encoding="utf-8"))
    assert [i["id"] for i in exported["items"]] == [i["id"] for i in report["items"]]


def httpx_post(hw: Headwater, path: str, body: Any) -> Any:
    return hw.write("POST", path, body, role="viewer")
