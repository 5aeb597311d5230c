"""The ``headwater`` command line, in-process against the test database and as a real server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from headwater.cli import EXIT_ERROR, EXIT_OK, main
from tests.conftest import TestDatabase


@pytest.fixture
def db_env(test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> TestDatabase:
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_ADMIN_DATABASE_URL", test_db.admin_dsn)
    return test_db


def test_admin_creates_tenant_user_and_key(
    db_env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "tenant", "create", "acme", "--admin-email", "a@acme.test"]) == EXIT_OK
    created = json.loads(capsys.readouterr().out)
    assert created["api_key"].startswith("hw_")
    assert main(["admin", "tenant", "list"]) == EXIT_OK
    assert [t["slug"] for t in json.loads(capsys.readouterr().out)] == ["acme"]
    code = main(
        [
            "admin",
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "e@acme.test",
            "--role",
            "editor",
        ]
    )
    assert code == EXIT_OK
    user = json.loads(capsys.readouterr().out)
    assert user["roles"] == ["editor"]
    assert main(["admin", "key", "create", "--tenant", "acme", "--user-id", str(user["id"])]) == 0
    key = json.loads(capsys.readouterr().out)
    assert main(["admin", "key", "revoke", "--tenant", "acme", str(key["id"])]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["revoked_at"] is not None
    assert main(["admin", "tenant", "suspend", "acme"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["status"] == "SUSPENDED"


def test_admin_errors_exit_2_with_a_message(
    db_env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "user", "create", "--tenant", "nope", "--email", "x@y.z"]) == EXIT_ERROR
    assert "no tenant with slug 'nope'" in capsys.readouterr().err
    assert main(["admin", "tenant", "create", "acme", "--admin-email", "a@acme.test"]) == EXIT_OK
    capsys.readouterr()
    assert main(["admin", "tenant", "create", "acme", "--admin-email", "b@acme.test"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["admin", "tenant", "create", "Bad Slug!", "--admin-email", "x@y.z"]) == 2


def test_migrate_reports_nothing_pending(
    db_env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == EXIT_OK
    assert "none pending" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_on_embedded_defaults_bootstraps_once_and_stops_its_postgres(tmp_path: Path) -> None:
    """The README's run command: no configuration, its own Postgres, a key printed once."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env["HEADWATER_DATA_DIR"] = str(tmp_path / "data")
    port = _free_port()
    command = [sys.executable, "-m", "headwater.cli", "serve", "--port", str(port)]

    def run_once() -> tuple[str, httpx.Response | None]:
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        response = None
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        return out, response

    out, ready = run_once()
    assert ready is not None
    assert ready.status_code == 200
    keys = re.findall(r"hw_[A-Za-z0-9]+_[A-Za-z0-9]+", out)
    assert len(keys) == 1
    # The Postgres it started is stopped again...
    pgdata = tmp_path / "data" / "postgres" / "data"
    assert not (pgdata / "postmaster.pid").exists()
    # ...and a second start reuses the data: no new tenant, no key printed.
    out, ready = run_once()
    assert ready is not None
    assert ready.status_code == 200
    assert re.findall(r"hw_[A-Za-z0-9]+_[A-Za-z0-9]+", out) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_worker_stops_cleanly_on_a_signal(
    test_db: TestDatabase, tmp_path: Path, sig: signal.Signals
) -> None:
    """`headwater worker` (here: the task runner alone, no external mirror configured) leaves on
    SIGTERM or SIGINT with exit 0 once it has closed its pools, as an orchestrator stops it."""
    env = test_db.process_env(tmp_path / "data", log_level="INFO")
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "headwater.cli", "worker"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while "task runner started" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == EXIT_OK, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "sync worker stopped" in log_path.read_text()
