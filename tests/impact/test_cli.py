"""``headwater impact`` as a CI gate, against a real server on a free local port (and once on the
store directly): exit codes, the three formats, and the messages of bad input."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headwater.catalog.context import Actor
from headwater.catalog.db import Database
from headwater.cli import main
from headwater.ingest.apply import ingest_dbt
from headwater.runtime import build_app
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, serving_in_a_thread
from tests.impact.dbt_project import NAMESPACE, STG, WEEKLY, manifest, proposed
from tests.impact.platform import RAW, REVENUE_BOARD, load_platform, wait_for_graph


@pytest.fixture
def server(
    settings: Settings, test_db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> Iterator[str]:
    """``headwater serve`` in a thread: the memory graph kept current in-process. (Taking
    ``capsys`` first makes the server stop before the captured streams close.)"""
    app = build_app(
        settings.model_copy(update={"db_pool_max": 4}),
        test_db.app_dsn,
        test_db.worker_dsn,
        search=False,
    )
    with serving_in_a_thread(app) as url:
        yield url


@pytest.fixture
async def platform(
    server: str, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> dict[str, int]:
    monkeypatch.setenv("HEADWATER_URL", server)
    monkeypatch.setenv("HEADWATER_API_KEY", tenant.viewer)
    async with httpx.AsyncClient(base_url=server) as http:
        return await load_platform(http, tenant)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = main(["impact", *args])
    finally:  # main() points the root logger at this test's captured stderr
        root.handlers[:], root.level = handlers, level
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_column_nothing_reads_passes_the_gate(
    platform: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--asset", RAW, "--drop-column", "notes")
    assert code == 0
    assert "Headwater impact: SAFE" in out
    assert "affected: 0 asset(s)" in out


async def test_a_column_a_dashboard_reads_three_hops_away_fails_the_gate(
    platform: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--asset", RAW, "--drop-column", "amount")
    assert code == 1
    assert "Headwater impact: BREAKING" in out
    board = next(
        line for line in out.splitlines() if line.startswith("3 ") and REVENUE_BOARD in line
    )
    assert "bi@acme.test" in board
    assert "dashboard" in board
    assert (
        "path: orders.amount -IDENTITY-> mart_orders.amount -AGGREGATION-> revenue.revenue "
        "-IDENTITY-> Revenue.revenue (in Revenue)"
    ) in out
    assert "owners to notify: etl@acme.test, bi@acme.test, ops@acme.test" in out

    code, markdown, _ = run(
        capsys, "--asset", RAW, "--drop-column", "amount", "--format", "markdown"
    )
    assert code == 1
    assert markdown.startswith("### :x: Headwater impact: **breaking**")
    row = next(line for line in markdown.splitlines() if f"`{REVENUE_BOARD}`" in line)
    assert row.startswith("| 3 | :warning: warning |")
    assert "bi@acme.test" in row
    assert "<details><summary>Paths</summary>" in markdown

    code, raw, _ = run(capsys, "--asset", RAW, "--drop-column", "amount", "--format", "json")
    assert code == 1
    body = json.loads(raw)
    assert body["severity"] == "breaking"
    assert body["summary"]["exposures"][0]["owners"] == ["bi@acme.test"]

    # A shorter table says how many affected assets it leaves out.
    code, short, _ = run(capsys, "--asset", RAW, "--drop-column", "amount", "--max-items", "1")
    assert code == 1
    assert len(body["items"]) > 1
    assert f"... and {len(body['items']) - 1 + body['items_omitted']} more" in short


async def test_the_gate_threshold_and_type_changes(
    platform: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    widen = ("--asset", RAW, "--change-type", "amount=numeric(10,2):numeric(18,2)")
    code, out, _ = run(capsys, *widen)
    assert code == 0
    assert "WARNING" in out
    assert run(capsys, *widen, "--fail-on", "warning")[0] == 1
    code, out, _ = run(capsys, "--asset", RAW, "--change-type", "amount=numeric(6,2)")
    assert code == 1
    assert "retype amount numeric(10,2) -> numeric(6,2): breaking (narrowing" in out


async def test_a_new_schema_file(
    platform: dict[str, int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema = tmp_path / "orders.json"
    schema.write_text(
        json.dumps(
            {
                "columns": [
                    {"name": "id", "data_type": "bigint"},
                    {"name": "email_address", "data_type": "varchar(255)"},
                    {"name": "amount", "data_type": "numeric(10,2)"},
                    {"name": "status", "data_type": "varchar(20)"},
                    {"name": "notes", "data_type": "text"},
                ]
            }
        )
    )
    code, out, _ = run(
        capsys, "--asset", RAW, "--schema", str(schema), "--rename", "email=email_address"
    )
    assert code == 1
    assert "renamed: email -> email_address" in out
    assert "rename column email -> email_address: breaking" in out
    assert "pg://dw/mart.orders" in out


async def test_bad_input_exits_2_with_a_message(
    platform: dict[str, int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--asset", "pg://nowhere", "--drop-column", "x")
    assert code == 2
    assert "404" in err
    assert "pg://nowhere" in err
    code, _, err = run(capsys, "--asset", RAW, "--drop-column", "amout")
    assert (code, "did you mean 'amount'" in err) == (2, True)
    code, _, err = run(capsys, "--asset", RAW, "--drop-column", "x", "--url", "http://127.0.0.1:9")
    assert (code, "cannot reach Headwater" in err) == (2, True)
    code, _, err = run(capsys, "--asset", RAW, "--drop-column", "id", "--api-key", "hw_bad")
    assert (code, "401" in err) == (2, True)
    assert run(capsys, "--asset", RAW)[0] == 2  # no change named
    assert run(capsys, "--drop-column", "id")[0] == 2  # no asset named
    assert run(capsys, "--asset", RAW, "--rename-column", "email")[0] == 2
    assert run(capsys, "--asset", RAW, "--schema", str(tmp_path / "missing.json"))[0] == 2
    with pytest.raises(SystemExit) as unknown_kind:
        run(capsys, "--asset", RAW, "--truncate-column", "id")
    assert unknown_kind.value.code == 2
    assert "--truncate-column" in capsys.readouterr().err


async def test_a_dbt_manifest(
    server: str,
    tenant: TenantKeys,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HEADWATER_URL", server)
    monkeypatch.setenv("HEADWATER_API_KEY", tenant.viewer)
    async with database.transaction(tenant.tenant_id) as conn:
        actor = Actor(tenant_id=tenant.tenant_id, user_id=None)
        await ingest_dbt(conn, actor, manifest(), None, namespace=NAMESPACE)
    async with httpx.AsyncClient(base_url=server) as http:
        await wait_for_graph(http, tenant, STG, "id", 2)
    current, changed = tmp_path / "current.json", tmp_path / "manifest.json"
    current.write_text(json.dumps(manifest()))
    changed.write_text(json.dumps(proposed()))
    assert run(capsys, "--dbt-manifest", str(current), "--namespace", NAMESPACE)[0] == 0
    code, out, _ = run(
        capsys, "--dbt-manifest", str(changed), "--namespace", NAMESPACE, "--format", "markdown"
    )
    assert code == 1
    assert "#### :x: `renamed model.shop.customers" in out
    assert f"`{WEEKLY}`" in out
    assert "new (nothing depends on them yet)" in out


def test_direct_on_the_store(
    platform: dict[str, int],
    test_db: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_WORKER_DATABASE_URL", test_db.worker_dsn)
    direct = ("--direct", "--tenant", "acme", "--asset", RAW)
    code, out, _ = run(capsys, *direct, "--drop-column", "amount")
    assert code == 1
    assert REVENUE_BOARD in out
    assert run(capsys, *direct, "--drop-column", "notes")[0] == 0
    code, _, err = run(capsys, *direct, "--drop-column", "nope")
    assert code == 2
    assert "has no column 'nope'" in err
    assert run(capsys, "--direct", "--tenant", "nobody", "--asset", RAW, "--drop-asset")[0] == 2
