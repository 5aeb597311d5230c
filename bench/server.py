"""The API under test: Headwater's app exactly as ``headwater serve`` builds it
(:func:`headwater.runtime.build_app`: the memory graph loaded from Postgres and kept current by
the in-process sync worker), served by uvicorn in a child process so that its CPU time and
memory are its own.

``python -m bench.server --app-dsn ... --worker-dsn ... --port N --data-dir DIR`` runs it;
:class:`ServerProcess` starts, waits for and stops it.
"""

from __future__ import annotations

import argparse
import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from headwater.logging_setup import configure_logging
from headwater.runtime import AppServer, build_app
from headwater.settings import Settings

__all__ = ["ServerProcess", "main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--app-dsn", required=True)
    parser.add_argument("--worker-dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--max-lineage-nodes", type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings(
        data_dir=Path(args.data_dir),
        database_url=args.app_dsn,
        worker_database_url=args.worker_dsn,
        # Unbounded closures over HTTP must return every node, as the in-process engine does.
        max_lineage_nodes=args.max_lineage_nodes,
        max_body_bytes=256 * 1024 * 1024,
    )
    configure_logging(settings.log_level)
    # The search mirrors stay off in this server (where build_app runs them at all): their cold
    # start embeds every asset in the background, which would load the machine while lineage is
    # measured. The search engines are measured in-process (bench/search_measurements.py).
    options: dict[str, Any] = {}
    if "search" in inspect.signature(build_app).parameters:
        options["search"] = False
    app = build_app(settings, args.app_dsn, args.worker_dsn, **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_config=None)
    AppServer(config).run()


class ServerProcess:
    """The child process serving the API; its log goes to ``data_dir/server.log``."""

    def __init__(
        self, app_dsn: str, worker_dsn: str, data_dir: Path, port: int, max_lineage_nodes: int
    ) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir / "server.log"
        self._command = [
            sys.executable, "-m", "bench.server", "--app-dsn", app_dsn,
            "--worker-dsn", worker_dsn, "--port", str(port), "--data-dir", str(data_dir),
            "--max-lineage-nodes", str(max_lineage_nodes),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def start(self, timeout: float) -> float:
        """Start the server; returns the seconds until it answered ``/readyz`` (its lifespan has
        loaded the graph by then)."""
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command,
                stdout=log,
                stderr=log,
                cwd=Path(__file__).resolve().parent.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = started + timeout
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"the API server exited with {self._process.returncode}; "
                        f"see {self.log_path}"
                    )
                try:
                    if client.get("/readyz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    self.stop()
                    raise RuntimeError(f"the API server was not ready within {timeout:.0f} s")
                time.sleep(0.05)

    def peak_rss_mb(self) -> float | None:
        """The server's peak resident memory (VmHWM), in MiB."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except (OSError, RuntimeError):
            return None
        return None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
