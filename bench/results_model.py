"""What a run records: rows of figures per measurement, targets with verdicts, and errors."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "Measurement",
    "Row",
    "Target",
    "Timer",
    "latency_row",
    "percentiles",
]

Verdict = Literal["PASS", "MISS"]


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 and mean, in milliseconds (nearest-rank on the sorted sample)."""
    if not seconds:
        return {}
    values = np.sort(np.asarray(seconds, dtype=np.float64)) * 1000.0

    def rank(q: float) -> float:
        return float(values[max(0, math.ceil(q * len(values)) - 1)])

    return {
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "mean_ms": float(values.mean()),
        "max_ms": float(values[-1]),
    }


@dataclass
class Row:
    """One line of a measurement's table: an engine or path, what it did and how fast.

    ``ratios``: how many times slower each named baseline was over the same work (baseline time
    / this row's time); > 1 means this row is faster.
    """

    label: str
    n: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    throughput: float | None = None
    unit: str = ""
    memory_mb: float | None = None
    ratios: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def latency_row(label: str, seconds: Sequence[float], **extra: Any) -> Row:
    stats = percentiles(seconds)
    return Row(
        label,
        n=len(seconds),
        p50_ms=stats.get("p50_ms"),
        p95_ms=stats.get("p95_ms"),
        p99_ms=stats.get("p99_ms"),
        mean_ms=stats.get("mean_ms"),
        max_ms=stats.get("max_ms"),
        extra=dict(extra),
    )


@dataclass
class Target:
    """A goal from issue 8, the figure measured against it, and whether it was met."""

    name: str
    goal: str
    measured: str
    verdict: Verdict
    note: str = ""

    @classmethod
    def check(
        cls, name: str, goal: str, value: float | None, ok: Callable[[float], bool], fmt: str
    ) -> Target:
        if value is None or math.isnan(value):
            return cls(name, goal, "not measured", "MISS", "no figure was produced")
        return cls(name, goal, fmt.format(value), "PASS" if ok(value) else "MISS")


@dataclass
class Measurement:
    """One section of the report."""

    key: str
    title: str
    path: str  # which code path produced the figures (in-process, HTTP, SQL...)
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_average: float | None = None  # of this machine when the measurement started
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "path": self.path,
            "seconds": round(self.seconds, 3),
            "load_average": self.load_average,
            "error": self.error,
            "notes": self.notes,
            "rows": [r.to_json() for r in self.rows],
            "targets": [asdict(t) for t in self.targets],
        }


class Timer:
    """Collects the durations of repeated timed blocks."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @contextmanager
    def time(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.samples.append(time.perf_counter() - started)
