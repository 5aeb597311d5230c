"""Prometheus metrics of the sync worker, one series per sink."""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class SyncMetrics:
    """The per-sink figures an operator alerts on; tests pass their own registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.events_behind = Gauge(
            "headwater_sync_events_behind",
            "Committed outbox events the sink has not applied yet (counted up to 1,000,000).",
            ["sink"],
            registry=registry,
        )
        self.seconds_behind = Gauge(
            "headwater_sync_seconds_behind",
            "Age in seconds of the oldest committed outbox event the sink has not applied.",
            ["sink"],
            registry=registry,
        )
        self.applied = Counter(
            "headwater_sync_events_applied",
            "Outbox events applied to the sink (dead-lettered ones excluded).",
            ["sink"],
            registry=registry,
        )
        self.failed = Counter(
            "headwater_sync_batch_failures",
            "Batch attempts that failed with a transient error and were retried with backoff.",
            ["sink"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "headwater_sync_events_dead_lettered",
            "Outbox events the sink rejected permanently and that went to sync_dead_letters.",
            ["sink"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "headwater_sync_batch_seconds",
            "Time to read, apply and checkpoint one batch.",
            ["sink"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )

    def register_sink(self, sink: str) -> None:
        """Expose every series of ``sink`` from the start, at zero."""
        for metric in (
            self.events_behind,
            self.seconds_behind,
            self.applied,
            self.failed,
            self.dead_lettered,
            self.batch_seconds,
        ):
            metric.labels(sink=sink)


@cache
def default_metrics() -> SyncMetrics:
    """The process-wide metrics on the default registry (what ``/metrics`` serves)."""
    return SyncMetrics()
