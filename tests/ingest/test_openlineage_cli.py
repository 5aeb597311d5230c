"""``headwater ingest openlineage|dbt``, in-process on the store the environment names."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from headwater.cli import EXIT_ERROR, EXIT_OK, main
from tests.conftest import TestDatabase
from tests.test_bulk import row_counts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SEED = SHARED / "marquez" / "seed" / "metadata.json"
MANIFEST = SHARED / "dbt" / "artifacts" / "data" / "state" / "v12" / "manifest.json"


@pytest.fixture
def store(
    test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> TestDatabase:
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_ADMIN_DATABASE_URL", test_db.admin_dsn)
    assert main(["admin", "tenant", "create", "acme", "--admin-email", "a@acme.test"]) == EXIT_OK
    capsys.readouterr()
    return test_db


def test_ingest_openlineage_file_then_stdin_replay(
    store: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = json.loads(SEED.read_text(encoding="utf-8"))
    ndjson = tmp_path / "events.ndjson"
    ndjson.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")

    assert main(["ingest", "openlineage", str(ndjson), "--tenant", "acme"]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["units"] == 26
    assert summary["assets"]["created"] == 13 + 14  # jobs, and datasets incl. one only named
    assert summary["field_lineage"]["created"] > 0

    before = row_counts(store)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SEED.read_bytes())))
    assert main(["ingest", "openlineage", "-", "--tenant", "acme"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["duplicates"] == 26
    assert row_counts(store) == before


def test_ingest_openlineage_bad_input_exits_2_and_writes_nothing(
    store: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = json.loads(SEED.read_text(encoding="utf-8"))[:4]
    events[3]["eventTime"] = "last tuesday"
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events), encoding="utf-8")
    before = row_counts(store)
    assert main(["ingest", "openlineage", str(path), "--tenant", "acme"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"{path}.3.eventTime" in err
    assert "ISO 8601" in err
    assert row_counts(store) == before

    assert main(["ingest", "openlineage", str(tmp_path / "missing.json"), "--tenant", "acme"]) == 2
    assert "cannot read" in capsys.readouterr().err
    path.write_text("{not json", encoding="utf-8")
    assert main(["ingest", "openlineage", str(path), "--tenant", "acme"]) == EXIT_ERROR
    assert "is not valid JSON" in capsys.readouterr().err
    assert main(["ingest", "openlineage", str(SEED), "--tenant", "nope"]) == EXIT_ERROR
    assert "no tenant with slug 'nope'" in capsys.readouterr().err
    assert row_counts(store) == before


def test_ingest_dbt_with_catalog_and_namespace(
    store: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.test.my_model": {
                        "columns": {"id": {"type": "bigint", "index": 1, "name": "id"}}
                    }
                },
                "sources": {},
            }
        ),
        encoding="utf-8",
    )
    args = ["ingest", "dbt", str(MANIFEST), "--catalog", str(catalog), "--tenant", "acme"]
    assert main([*args, "--namespace", "postgres://db:5432"]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["assets"]["created"] == 11
    assert summary["fields"]["created"] == 1
    assert summary["relationships"]["created"] == 8

    before = row_counts(store)
    assert main([*args, "--namespace", "postgres://db:5432"]) == EXIT_OK
    again = json.loads(capsys.readouterr().out)
    assert again["assets"]["unchanged"] == 11
    assert row_counts(store) == before

    broken = tmp_path / "manifest.json"
    broken.write_text(json.dumps({"metadata": {}, "nodes": {}}), encoding="utf-8")
    assert main(["ingest", "dbt", str(broken), "--tenant", "acme"]) == EXIT_ERROR
    assert "dbt_schema_version" in capsys.readouterr().err
    assert row_counts(store) == before
