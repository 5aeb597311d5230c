"""``headwater ingest ... --server``: upload as a task to a real server (uvicorn on a free port,
built as `serve` builds it, task runner included), follow its progress, print the summary."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.cli import EXIT_ERROR, EXIT_OK, main
from headwater.cli_ingest import ProgressBar, follow_task
from headwater.runtime import build_app
from headwater.settings import Settings
from tests.conftest import TenantKeys, TestDatabase, serving_in_a_thread
from tests.ingest.test_tasks_api import MANIFEST, data_counts, ndjson, seed_events


@contextmanager
def serving(settings: Settings, test_db: TestDatabase) -> Iterator[str]:
    """`headwater serve` on a free local port, in a thread, with the task runner on."""
    fast = settings.model_copy(
        update={
            "task_runner": True,
            "task_poll_interval": 0.1,
            "task_progress_interval": 0.02,
            "task_heartbeat_interval": 0.2,
            "task_stale_after": 5.0,
            "task_retry_base": 0.05,
        }
    )
    app = build_app(fast, test_db.app_dsn, test_db.worker_dsn, search=False)
    with serving_in_a_thread(app, timeout=30) as url:
        yield url


def summary_of(out: str) -> tuple[list[str], dict[str, Any]]:
    """The progress lines before the summary, and the summary (the JSON after them)."""
    lines = out.splitlines()
    start = lines.index("{")
    parsed: dict[str, Any] = json.loads("\n".join(lines[start:]))
    return lines[:start], parsed


async def cli(*argv: str) -> int:
    # main() runs its own event loop and blocks on HTTP: keep it off the test's loop.
    if argv[:2] in (("ingest", "openlineage"), ("ingest", "dbt")) and "--no-wait" not in argv:
        argv = (*argv, "--timeout", "120")  # a runner that never finishes fails the test
    return await asyncio.to_thread(main, list(argv))


async def test_cli_uploads_follows_progress_and_prints_the_summary(
    settings: Settings,
    test_db: TestDatabase,
    tenant: TenantKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HEADWATER_API_KEY", tenant.editor)
    events = tmp_path / "events.ndjson"
    events.write_bytes(ndjson(seed_events()))
    with serving(settings, test_db) as url:
        assert await cli("ingest", "openlineage", str(events), "--server", url) == EXIT_OK
        printed = capsys.readouterr()
        progress, summary = summary_of(printed.out)
        # No JSON line per HTTP call (each progress poll) among what the command prints.
        assert '"logger": "httpx"' not in printed.err
        assert summary["units"] == 26
        assert summary["assets"]["created"] == 27
        assert summary["field_lineage"]["created"] > 0
        assert summary["transactions"] == 1
        # Not a terminal: whole lines, the last one the finished task.
        assert progress, "progress lines come before the summary"
        assert progress[-1].endswith("100% SUCCEEDED")
        assert progress[-1].startswith("task ")
        assert "[" + "#" * ProgressBar.WIDTH + "]" in progress[-1]
        assert all("\r" not in line for line in progress)

        # HEADWATER_URL is the default server; a replay changes nothing.
        monkeypatch.setenv("HEADWATER_URL", url)
        before = data_counts(test_db)
        assert await cli("ingest", "openlineage", str(events)) == EXIT_OK
        assert summary_of(capsys.readouterr().out)[1]["duplicates"] == 26
        assert data_counts(test_db) == before

        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps({"nodes": {}, "sources": {}}))
        argv = ["ingest", "dbt", str(MANIFEST), "--catalog", str(catalog)]
        assert await cli(*argv, "--namespace", "postgres://db:5432") == EXIT_OK
        dbt = summary_of(capsys.readouterr().out)[1]
        assert (dbt["assets"]["created"], dbt["relationships"]["created"]) == (11, 8)

        assert await cli("ingest", "openlineage", str(events), "--no-wait") == EXIT_OK
        queued = json.loads(capsys.readouterr().out)
        assert queued["status"] in ("PENDING", "RUNNING", "SUCCEEDED")
        assert queued["type"] == "openlineage.ndjson"


async def test_cli_exits_2_when_the_task_fails(
    settings: Settings,
    test_db: TestDatabase,
    tenant: TenantKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "broken.ndjson"
    lines = ndjson(seed_events()[:3]).splitlines()
    broken.write_bytes(b"\n".join([lines[0], lines[1], b"{not json"]))
    before = data_counts(test_db)
    with serving(settings, test_db) as url:
        assert await cli("ingest", "openlineage", str(broken), "--server", url) == EXIT_ERROR
        assert "HEADWATER_API_KEY" in capsys.readouterr().err

        monkeypatch.setenv("HEADWATER_API_KEY", tenant.editor)
        assert await cli("ingest", "openlineage", str(broken), "--server", url) == EXIT_ERROR
        captured = capsys.readouterr()
        assert "FAILED" in captured.out
        assert "failed: broken.ndjson line 3 is not valid JSON" in captured.err
        assert data_counts(test_db) == before

        monkeypatch.setenv("HEADWATER_API_KEY", tenant.viewer)
        assert await cli("ingest", "openlineage", str(broken), "--server", url) == EXIT_ERROR
        assert "upload was refused: 403" in capsys.readouterr().err


async def test_cli_sql_against_the_server(
    settings: Settings,
    test_db: TestDatabase,
    tenant: TenantKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HEADWATER_API_KEY", tenant.editor)
    script = tmp_path / "q.sql"
    script.write_text("CREATE TABLE mart.b AS SELECT id, amount * 2 AS doubled FROM raw.a")
    argv = ["ingest", "sql", str(script), "--dialect", "postgres", "--format", "table"]
    with serving(settings, test_db) as url:
        assert await cli(*argv, "--server", url, "--record") == EXIT_OK
        table = capsys.readouterr().out
        assert "raw.a -> mart.b" in table
        assert "recorded:" in table
        assert "assets         created 2, updated 0, unchanged 0" in table
        script.write_text("SELECT (")
        assert await cli(*argv, "--server", url) == EXIT_ERROR
        assert "422: statement 1 cannot be parsed at line 1" in capsys.readouterr().err


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, tty=True)
    task = {"id": 7, "status": "RUNNING", "progress": 0, "retries": 0, "max_retries": 3}
    for progress in (0, 10, 10, 55):
        bar.update({**task, "progress": progress})
    bar.finish({**task, "status": "SUCCEEDED", "progress": 100})
    text = out.getvalue()
    assert text.count("\r") == 4, "one redraw per change"
    assert text.count("\n") == 1
    assert text.rstrip().split("\r")[-1].startswith(f"task 7 [{'#' * ProgressBar.WIDTH}] 100%")

    piped = io.StringIO()
    lines = ProgressBar(piped, tty=False, every=3600)
    for progress in (0, 10, 55):
        lines.update({**task, "progress": progress})
    lines.update({**task, "status": "PENDING", "progress": 55, "retries": 1, "error": "boom"})
    lines.finish({**task, "status": "SUCCEEDED", "progress": 100})
    assert piped.getvalue().splitlines() == [
        f"task 7 [{'-' * 30}]   0% RUNNING",
        f"task 7 [{'#' * 16}{'-' * 14}]  55% PENDING (retry 1/3: boom)",
        f"task 7 [{'#' * 30}] 100% SUCCEEDED",
    ]


def test_following_gives_up_after_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    pending = {"id": 3, "status": "PENDING", "progress": 0, "retries": 0, "max_retries": 3}

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json=pending)
        return httpx.Response(200, json=pending)

    http = httpx.Client(transport=httpx.MockTransport(server), base_url="http://hw")
    bar = ProgressBar(io.StringIO(), tty=False)
    with pytest.raises(TimeoutError, match="task 3 is still PENDING"):
        follow_task(http, pending, {}, bar, interval=0.01, timeout=0.05)
