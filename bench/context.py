"""What the measurements of one run share: the database, the loaded tenants, the engine loaded
in this process, the API server, and the main tenant's flow graph for the baselines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import igraph
import networkx as nx
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from bench.generator import LAYERS, TenantLineage
from bench.loader import LoadedTenant
from bench.machine import rss_mb
from bench.scales import Scale
from bench.server import ServerProcess
from headwater.graph.memory import MemoryGraphEngine

__all__ = ["FlowGraph", "RunContext"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]


@dataclass
class BuildCost:
    seconds: float
    memory_mb: float


class FlowGraph:
    """The main tenant's flow edges (upstream -> downstream) over generator positions, and the
    baseline libraries' graphs built from them on first use (build time and memory recorded)."""

    def __init__(self, lineage: TenantLineage) -> None:
        self.n = lineage.n_assets
        self.up, self.down = lineage.flow_edges()
        self.costs: dict[str, BuildCost] = {}

    def _timed(self, name: str, build: Any) -> Any:
        before = rss_mb()
        started = time.perf_counter()
        result = build()
        self.costs[name] = BuildCost(time.perf_counter() - started, max(rss_mb() - before, 0.0))
        return result

    @cached_property
    def csr(self) -> sp.csr_matrix:
        def build() -> sp.csr_matrix:
            ones = np.ones(len(self.up), np.int8)
            return sp.csr_matrix((ones, (self.up, self.down)), shape=(self.n, self.n))

        matrix: sp.csr_matrix = self._timed("scipy", build)
        return matrix

    @cached_property
    def igraph(self) -> igraph.Graph:
        def build() -> igraph.Graph:
            edges = np.column_stack([self.up, self.down]).tolist()
            return igraph.Graph(n=self.n, edges=edges, directed=True)

        graph: igraph.Graph = self._timed("igraph", build)
        return graph

    @cached_property
    def networkx(self) -> nx.DiGraph:
        def build() -> nx.DiGraph:
            graph = nx.DiGraph()
            graph.add_nodes_from(range(self.n))
            graph.add_edges_from(zip(self.up.tolist(), self.down.tolist(), strict=True))
            return graph

        graph: nx.DiGraph = self._timed("networkx", build)
        return graph


@dataclass
class RunContext:
    scale: Scale
    work_dir: Path
    admin_dsn: str
    app_dsn: str
    worker_dsn: str
    tenants: list[LoadedTenant]
    rng: np.random.Generator
    max_bulk_items: int
    postgres_pid: int  # the postmaster, parent of every backend
    engine: MemoryGraphEngine | None = None
    engine_position: str | None = None
    server: ServerProcess | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> LoadedTenant:
        return self.tenants[0]

    @cached_property
    def flow(self) -> FlowGraph:
        return FlowGraph(self.main.lineage)

    def graph_engine(self) -> MemoryGraphEngine:
        if self.engine is None:
            raise RuntimeError("the in-process engine was not loaded (cold start failed)")
        return self.engine

    def http(self, timeout: float = 600.0) -> httpx.Client:
        if self.server is None:
            raise RuntimeError("the API server is not running")
        return httpx.Client(base_url=self.server.base_url, timeout=timeout)

    def pick_assets(self, per_layer: dict[str, int]) -> I64:
        """Random main-tenant asset positions, so many from each named layer (seeded)."""
        lineage = self.main.lineage
        picked: list[I64] = []
        for layer, count in per_layer.items():
            members = np.array(lineage.layer_range(layer), dtype=np.int64)
            if len(members) and count > 0:
                replace = count > len(members)
                picked.append(self.rng.choice(members, count, replace=replace))
        return np.concatenate(picked) if picked else np.zeros(0, np.int64)

    @staticmethod
    def layer_names() -> list[str]:
        return [layer.name for layer in LAYERS]
