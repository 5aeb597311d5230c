"""A Neo4j server for the graph tests: ``NEO4J_URI`` (with ``NEO4J_USER`` / ``NEO4J_PASSWORD``,
default neo4j/neo4j) when set, else a throwaway ``neo4j:5`` container when a Docker engine
answers (testcontainers), else the tests skip with :data:`SKIP_REASON`.

One server serves the whole test session; the container is stopped when the process exits.
Tests isolate themselves by tenant, as in production.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import warnings
from dataclasses import dataclass
from typing import Final

import pytest

from headwater.graph.engine import GraphEngine
from headwater.graph.neo4j_engine import CHUNK_SIZE, Neo4jGraphEngine

__all__ = ["SKIP_REASON", "Neo4jServer", "connect", "neo4j_engine", "neo4j_server"]

SKIP_REASON: Final = "no Neo4j: set NEO4J_URI or run a Docker engine"
IMAGE: Final = "neo4j:5"
_CONTAINER_PASSWORD: Final = "headwater-tests"  # Neo4j 5 wants at least 8 characters


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str


_lock = threading.Lock()
_found: list[Neo4jServer | None] = []  # [] = not looked for yet; [None] = none available


def _unix_socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _docker_available() -> bool:
    from testcontainers.core.docker_client import DockerClient, get_docker_host

    # The docker library leaks a socket when a unix socket refuses it (a ResourceWarning, an error
    # under this suite's warning filter), so probe the default socket first.
    host = get_docker_host() or "unix:///var/run/docker.sock"
    if host.startswith("unix://") and not _unix_socket_answers(host.removeprefix("unix://")):
        return False
    try:
        docker = DockerClient()
    except Exception:  # no daemon, no permission, a bad DOCKER_HOST: all mean "no Docker here"
        return False
    try:
        docker.client.ping()
    except Exception:
        return False
    finally:
        docker.client.close()
    return True


def _start_container() -> Neo4jServer:
    from testcontainers.community.neo4j import Neo4jContainer

    container = Neo4jContainer(IMAGE, password=_CONTAINER_PASSWORD)
    # testcontainers' own deprecation notices are not this suite's concern (warnings are errors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        container.start()
    atexit.register(container.stop)
    return Neo4jServer(container.get_connection_url(), "neo4j", _CONTAINER_PASSWORD)


def neo4j_server() -> Neo4jServer:
    """The session's server, found (or started) on first use; skips the test when none can be
    had."""
    with _lock:
        if not _found:
            uri = os.environ.get("NEO4J_URI")
            if uri:
                _found.append(
                    Neo4jServer(
                        uri,
                        os.environ.get("NEO4J_USER", "neo4j"),
                        os.environ.get("NEO4J_PASSWORD", "neo4j"),
                    )
                )
            elif _docker_available():
                _found.append(_start_container())
            else:
                _found.append(None)
        server = _found[0]
    if server is None:
        pytest.skip(SKIP_REASON)
    return server


async def connect(chunk_size: int = CHUNK_SIZE) -> Neo4jGraphEngine:
    """A connected engine (schema ensured) on the session's server."""
    server = neo4j_server()
    return await Neo4jGraphEngine.connect(
        server.uri, user=server.user, password=server.password, chunk_size=chunk_size
    )


async def neo4j_engine() -> GraphEngine:
    """The conformance suite's factory (tests/graph/conftest.py)."""
    return await connect()
