"""Wiring of the Neo4j mirror and of `headwater reconcile`, tested as far as runs here.

No Neo4j server runs in this environment, so what is exercised for real: the settings, which
process reads and feeds the graph, the sink `headwater worker` builds, and that `serve`, `worker`
and `reconcile` fail at once and cleanly, before touching any checkpoint, when Neo4j cannot be
reached (a closed local port). The cold-start protocol itself is engine-agnostic and is tested
against the real worker in tests/sync/test_reconcile.py; the Neo4j engine's own reads and writes
are covered by the conformance suite, which skips here."""

from __future__ import annotations

import socket

import psycopg
import pytest

from headwater.cli import EXIT_ERROR, main
from headwater.graph.memory import MemoryGraphEngine
from headwater.graph.neo4j_engine import GraphBackendError, Neo4jGraphEngine
from headwater.runtime import build_app, graph_backend, shared_sinks
from headwater.settings import Settings
from headwater.sync.graph_mirror import SharedGraphSink
from tests.conftest import TestDatabase


def closed_port() -> int:
    """A local port nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def neo4j_env(monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"bolt://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("NEO4J_URI", uri)
    monkeypatch.setenv("NEO4J_USER", "lineage")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("NEO4J_DATABASE", "graph")
    return uri


def test_neo4j_settings_take_their_conventional_names(
    neo4j_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings()
    assert settings.neo4j_uri == neo4j_env
    assert settings.neo4j_user == "lineage"
    assert settings.neo4j_password is not None
    assert settings.neo4j_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.neo4j_database == "graph"
    assert graph_backend(settings) == "neo4j"
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name)
    defaults = Settings()
    assert (defaults.neo4j_user, defaults.neo4j_password, defaults.neo4j_database) == (
        "neo4j",
        None,
        None,
    )
    assert graph_backend(defaults) == "memory"


async def test_the_worker_feeds_neo4j_and_serve_reads_it(
    neo4j_env: str, settings: Settings, test_db: TestDatabase
) -> None:
    configured = settings.model_copy(update={"neo4j_uri": neo4j_env})
    graph_sinks = [s for s in shared_sinks(configured) if isinstance(s, SharedGraphSink)]
    [sink] = graph_sinks
    assert sink.name == "graph.neo4j"
    assert isinstance(sink.engine, Neo4jGraphEngine)
    with pytest.raises(GraphBackendError, match="not reachable"):
        await sink.setup()
    await sink.engine.close()
    plain = settings.model_copy(update={"neo4j_uri": None})
    assert not [s for s in shared_sinks(plain) if isinstance(s, SharedGraphSink)]

    # serve: lineage from Neo4j, no in-process graph or mirror to reconcile; it will not start
    # without its graph.
    app = build_app(configured, test_db.app_dsn, test_db.worker_dsn, search=False)
    assert isinstance(app.state.headwater.graph, Neo4jGraphEngine)
    assert app.state.headwater.mirrors == {}
    with pytest.raises(GraphBackendError, match="not reachable"):
        async with app.router.lifespan_context(app):
            pass
    memory = build_app(plain, test_db.app_dsn, test_db.worker_dsn, search=False)
    assert isinstance(memory.state.headwater.graph, MemoryGraphEngine)


def _db_env(monkeypatch: pytest.MonkeyPatch, test_db: TestDatabase) -> None:
    monkeypatch.setenv("DATABASE_URL", test_db.app_dsn)
    monkeypatch.setenv("HEADWATER_WORKER_DATABASE_URL", test_db.worker_dsn)
    monkeypatch.setenv("HEADWATER_WORKER_METRICS_PORT", "0")
    monkeypatch.setenv("HEADWATER_TASK_RUNNER", "false")


def test_worker_and_reconcile_stop_cleanly_when_neo4j_is_unreachable(
    neo4j_env: str,
    test_db: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _db_env(monkeypatch, test_db)
    assert main(["worker"]) == EXIT_ERROR
    assert main(["reconcile", "--sink", "graph", "--check"]) == EXIT_ERROR
    assert main(["reconcile", "--sink", "graph"]) == EXIT_ERROR
    assert "not reachable" in capsys.readouterr().err
    with psycopg.connect(test_db.admin_dsn) as conn:
        rows = conn.execute("SELECT sink FROM sync_checkpoints WHERE sink LIKE 'graph%'")
        assert rows.fetchall() == []  # nothing was loaded, so nothing claims to be


def test_reconcile_of_the_memory_graph_needs_the_server_that_holds_it(
    test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _db_env(monkeypatch, test_db)
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.delenv("HEADWATER_URL", raising=False)
    assert main(["reconcile", "--sink", "graph", "--check"]) == EXIT_ERROR
    assert "HEADWATER_URL" in capsys.readouterr().err
    assert main(["reconcile", "--sink", "nonsense"]) == EXIT_ERROR
    assert "unknown sink 'nonsense'" in capsys.readouterr().err
    monkeypatch.setenv("HEADWATER_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HEADWATER_API_KEY", "hw_x_y")
    assert main(["reconcile", "--sink", "graph", "--check"]) == EXIT_ERROR
    assert "cannot reach" in capsys.readouterr().err
