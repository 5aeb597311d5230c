"""The three sizes a run can take, and how much work each measurement does at each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Scale:
    """``tenant_assets``: assets per tenant, the measured (main) tenant first.

    The generator aims at about 5 table-level edges and 20 column-level edges per asset, so
    ``large`` is 1M assets, ~5M relationships and ~20M field-lineage edges.
    """

    name: str
    tenant_assets: tuple[int, ...]
    # A separate small tenant written through POST /api/v1/bulk, the per-item write path.
    api_bulk_assets: int
    closure_starts: int
    # Wall-clock budget per (engine, closure-size bucket) for the slow baselines; the memory
    # engine in-process always runs every start. A cell that ran out of budget says how many
    # starts it measured, and ratios compare the same starts.
    closure_budget_s: float
    traversal_requests: int
    path_pairs: int
    impact_starts: int
    sync_seconds: float
    ingest_events: int
    search_queries: int
    # Assets embedded and indexed for semantic search (None: every asset of the scale), the
    # main tenant's first.
    semantic_assets: int | None
    seed: int = 20_240_601

    @property
    def total_assets(self) -> int:
        return sum(self.tenant_assets)


SCALES: Final[dict[str, Scale]] = {
    "tiny": Scale(
        name="tiny",
        tenant_assets=(1_500, 500, 300),
        api_bulk_assets=40,
        closure_starts=200,
        closure_budget_s=1.0,
        traversal_requests=100,
        path_pairs=50,
        impact_starts=20,
        sync_seconds=0.5,
        ingest_events=20,
        search_queries=50,
        semantic_assets=200,
    ),
    "medium": Scale(
        name="medium",
        tenant_assets=(70_000, 15_000, 10_000, 5_000),
        api_bulk_assets=1_000,
        closure_starts=200,
        closure_budget_s=60.0,
        traversal_requests=1_000,
        path_pairs=200,
        impact_starts=200,
        sync_seconds=10.0,
        ingest_events=3_000,
        search_queries=200,
        semantic_assets=None,
    ),
    "large": Scale(
        name="large",
        tenant_assets=(700_000, 150_000, 100_000, 50_000),
        api_bulk_assets=1_000,
        closure_starts=200,
        closure_budget_s=180.0,
        traversal_requests=2_000,
        path_pairs=200,
        impact_starts=200,
        sync_seconds=30.0,
        ingest_events=3_000,
        search_queries=200,
        # The semantic target is stated at 100k assets; embedding all 1M on 2 CPU cores takes
        # hours (--semantic-assets 1000000 does it).
        semantic_assets=100_000,
    ),
}
