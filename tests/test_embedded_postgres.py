"""The embedded PostgreSQL on the binaries of the PyPI ``pgserver`` package, the fallback for a
machine without a PostgreSQL installation (the test session's cluster uses the machine's)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import psycopg
import pytest

from headwater.catalog.db import Database, check_app_role, migrate
from headwater.catalog.embedded import EmbeddedPostgres, find_postgres_bin


def _pgserver_bin() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        pytest.skip("the pgserver package is not installed")
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        pytest.skip(f"pgserver is installed without its PostgreSQL binaries (no {bindir})")
    return bindir


async def test_pgserver_binaries_run_migrate_and_serve_the_app_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = _pgserver_bin()
    monkeypatch.setenv("HEADWATER_PG_BIN", str(bindir))
    assert find_postgres_bin() == bindir
    cluster = EmbeddedPostgres(tmp_path / "postgres")
    assert cluster.bindir == bindir
    pg_config = subprocess.run(
        [str(bindir / "pg_config"), "--version"], capture_output=True, text=True, check=True
    )
    cluster.start()
    try:
        migrate(cluster.admin_dsn)
        cluster.allow_app_login()
        with psycopg.connect(cluster.app_dsn) as conn:
            row = conn.execute(
                "SELECT current_user, current_setting('server_version'),"
                " (SELECT count(*) FROM assets)"
            ).fetchone()
        assert row is not None
        user, server_version, assets = row
        assert user == "headwater_app"
        # The server runs pgserver's build, not the machine's PostgreSQL.
        assert pg_config.stdout.split() == ["PostgreSQL", server_version]
        assert assets == 0
        # The role check `serve` runs before answering: no superuser, owns no table, schema
        # at the latest migration.
        database = Database(cluster.app_dsn, max_size=1)
        await database.open()
        try:
            await check_app_role(database)
        finally:
            await database.close()
    finally:
        cluster.stop()
    assert not (cluster.pgdata / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.app_dsn, connect_timeout=2)
