"""An embedded PostgreSQL cluster under the data directory, for the zero-configuration default.

Binaries come from ``HEADWATER_PG_BIN``, the machine's PostgreSQL installation, or the PyPI
``pgserver`` package, in that order. The cluster listens only on a private unix socket and trusts
local connections, so nothing outside this machine's user accounts can reach it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = "headwater"
SUPERUSER = "postgres"
APP_ROLE = "headwater_app"
WORKER_ROLE = "headwater_worker"
_UNPRIVILEGED_USER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_postgres_bin() -> Path:
    candidates: list[Path] = []
    if env := os.environ.get("HEADWATER_PG_BIN"):
        candidates.append(Path(env))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major_version, reverse=True)
    )
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    bundled = importlib.util.find_spec("pgserver")
    if bundled is not None and bundled.origin is not None:
        bindir = Path(bundled.origin).parent / "pginstall" / "bin"
        if (bindir / "initdb").exists():
            return bindir
    raise EmbeddedPostgresError(
        "no PostgreSQL binaries found: install PostgreSQL (e.g. apt-get install postgresql) or "
        "`pip install pgserver`, set HEADWATER_PG_BIN, or set DATABASE_URL to use a server"
    )


def _major_version(bindir: Path) -> int:
    try:
        return int(bindir.parent.name)
    except ValueError:
        return 0


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach ``path`` through root-owned parents (search bit)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


class EmbeddedPostgres:
    """Start (or join) a cluster in ``directory``; ``stop`` stops only a cluster it started."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pgdata = directory / "data"
        self.bindir = find_postgres_bin()
        self.socket_dir: Path | None = None
        self._started_here = False
        self._run_as = _UNPRIVILEGED_USER if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._run_as is None:
            return subprocess.run(command, capture_output=True, text=True, check=False)
        # Drop root's groups too: a root group would deny access through group permission bits.
        entry = pwd.getpwnam(self._run_as)
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
        )

    def _chown(self, path: Path) -> None:
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            _make_traversable(self.directory)
            self._chown(self.directory)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        running = self._socket_dir_of_running_server()
        if running is not None:
            self.socket_dir = running
            log.info("joined running embedded postgres", extra={"pgdata": str(self.pgdata)})
            return
        # Unix socket paths are limited to ~100 bytes, so the socket lives in a short temp dir.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="hw-pg-"))
        self._chown(self.socket_dir)
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
            "-c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on"
        )
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.directory / "postgres.log"),
            "-o",
            options,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"embedded postgres failed to start: {result.stderr.strip()} "
                f"(see {self.directory / 'postgres.log'})"
            )
        self._started_here = True
        self._ensure_database()
        log.info("started embedded postgres", extra={"pgdata": str(self.pgdata)})

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._chown(self.pgdata)
        os.chmod(self.pgdata, 0o700)
        result = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip()}")

    def _socket_dir_of_running_server(self) -> Path | None:
        if self._run("pg_ctl", "status", "-D", str(self.pgdata)).returncode != 0:
            return None
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        return Path(lines[4]) if len(lines) > 4 and lines[4] else None

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn(SUPERUSER, "postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def dsn(self, user: str, database: str = DATABASE) -> str:
        if self.socket_dir is None:
            raise EmbeddedPostgresError("embedded postgres is not running")
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def allow_app_login(self, database: str = DATABASE) -> None:
        """Let the (migration-created) application and sync worker roles log in over the private
        socket."""
        import psycopg

        with psycopg.connect(self.dsn(SUPERUSER, database), autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {APP_ROLE} LOGIN")
            conn.execute(f"ALTER ROLE {WORKER_ROLE} LOGIN")

    @property
    def admin_dsn(self) -> str:
        return self.dsn(SUPERUSER)

    @property
    def app_dsn(self) -> str:
        return self.dsn(APP_ROLE)

    @property
    def worker_dsn(self) -> str:
        return self.dsn(WORKER_ROLE)

    def stop(self) -> None:
        if not self._started_here:
            return
        result = self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        if result.returncode != 0:
            log.error("embedded postgres did not stop cleanly", extra={"stderr": result.stderr})
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        self._started_here = False
