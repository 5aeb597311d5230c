"""Engines under test for the graph conformance suite.

``ENGINE_PARAMS`` lists the engine factories; every test taking the ``engine`` fixture runs once
per engine. Another engine joins the suite by appending a param whose factory returns it (and
calls ``pytest.skip`` with the reason when its server is unavailable), e.g.::

    ENGINE_PARAMS.append(pytest.param(neo4j_engine, id="neo4j", marks=pytest.mark.neo4j))

The fixture is session-scoped (hypothesis re-runs a test body many times); tests isolate
themselves by using a fresh tenant id per example and dropping it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from headwater.graph.engine import GraphEngine
from headwater.graph.memory import MemoryGraphEngine
from tests.graph.neo4j_server import neo4j_engine

EngineFactory = Callable[[], Awaitable[GraphEngine]]


async def memory_engine() -> GraphEngine:
    """Default thresholds: the small test graphs live entirely in the delta."""
    return MemoryGraphEngine()


async def memory_engine_compacting() -> GraphEngine:
    """Compacts whenever the delta holds more than a few rows, so queries see base + delta mixes;
    and vectorises every walk, which the small test graphs would otherwise never need."""
    return MemoryGraphEngine(compact_min=5, compact_ratio=0.0, small=0)


ENGINE_PARAMS: list[object] = [
    pytest.param(memory_engine, id="memory"),
    pytest.param(memory_engine_compacting, id="memory-compacting"),
    # NEO4J_URI or a Docker engine; skips with the reason otherwise
    pytest.param(neo4j_engine, id="neo4j", marks=pytest.mark.neo4j),
]


@pytest.fixture(scope="session", params=ENGINE_PARAMS)
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[GraphEngine]:
    factory: EngineFactory = request.param
    created = await factory()
    yield created
    await created.close()
