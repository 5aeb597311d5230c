"""The facts about the machine a run's figures belong to."""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

__all__ = ["cpu_seconds", "machine_facts", "postmaster_pid", "rss_mb"]

_VERSIONS = (
    "numpy", "scipy", "python-igraph", "networkx", "psycopg", "fastapi", "uvicorn", "httpx",
    "tantivy", "pymilvus", "milvus-lite", "torch", "sentence-transformers",
)  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_facts(postgres_version: str | None = None) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory.total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgres": postgres_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {p: v for p in _VERSIONS if (v := _version(p)) is not None},
    }


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MiB."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def cpu_seconds(pid: int | None = None, *, tree: bool = False) -> float:
    """CPU time (user + system) a process has used, this one by default; ``tree``: with its
    descendants, the live ones and those it has reaped (Postgres's exited backends)."""
    process = psutil.Process(pid)
    times = process.cpu_times()
    total = times.user + times.system
    if tree:
        total += times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                used = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += used.user + used.system
    return float(total)


def postmaster_pid(pgdata: Path) -> int:
    """The pid of the Postgres server running on ``pgdata`` (its postmaster.pid's first line)."""
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
