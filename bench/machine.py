"""The facts about the machine a run's figures belong to."""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

__all__ = ["machine_facts", "rss_mb"]

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
