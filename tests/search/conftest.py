"""Engines under test for the search suite: real tantivy, real milvus-lite, the real MiniLM model.

``fulltext`` runs each conformance test once per full-text engine. Elasticsearch joins when
``ELASTICSEARCH_URL`` is set or a Docker engine is reachable (a throwaway container, whose image
``ELASTICSEARCH_IMAGE`` may override; the server's major version must match the client's); each
test gets its own index. The model loads once per session (``embedder``, in tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from headwater.search.embeddings import Embedder
from headwater.search.fulltext import FullTextEngine
from headwater.search.fulltext_elasticsearch import ElasticsearchEngine, connect
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.semantic import SemanticIndex
from headwater.search.vectors import MilvusVectorEngine

NO_ELASTICSEARCH = "no Elasticsearch: set ELASTICSEARCH_URL or run a Docker engine"
ELASTICSEARCH_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.0.0"


def _docker_reachable() -> bool:
    """Whether a Docker engine answers ``GET /_ping`` at ``DOCKER_HOST`` (or the default socket)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(2)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").partition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(2)
            address = (name, int(port or 2375))
        else:
            return False
        with sock:
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(256)
    except OSError:
        return False


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield url
        return
    if not _docker_reachable():
        pytest.skip(NO_ELASTICSEARCH)
    from testcontainers.community.elasticsearch import ElasticSearchContainer

    image = os.environ.get("ELASTICSEARCH_IMAGE", ELASTICSEARCH_IMAGE)
    container = ElasticSearchContainer(image, mem_limit="2G")
    container.with_env("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
    with container:
        host = container.get_container_host_ip()
        yield f"http://{host}:{container.get_exposed_port(container.port)}"


async def _tantivy(request: pytest.FixtureRequest, tmp_path: Path) -> FullTextEngine:
    return TantivyEngine(tmp_path / "tantivy")


async def _elasticsearch(request: pytest.FixtureRequest, tmp_path: Path) -> FullTextEngine:
    url: str = request.getfixturevalue("elasticsearch_url")
    engine = ElasticsearchEngine(connect(url), index=f"hw-test-{uuid.uuid4().hex}")
    await engine.ensure_index()
    return engine


@pytest.fixture(
    params=[
        pytest.param(_tantivy, id="tantivy"),
        pytest.param(_elasticsearch, id="elasticsearch", marks=pytest.mark.elasticsearch),
    ]
)
async def fulltext(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FullTextEngine]:
    engine: FullTextEngine = await request.param(request, tmp_path)
    yield engine
    if isinstance(engine, ElasticsearchEngine):
        await engine.delete_index()
    await engine.close()


@pytest.fixture(scope="session", params=["in-memory", "milvus-lite"])
async def milvus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MilvusVectorEngine]:
    """One milvus-lite database per session and search path (the engine's in-memory copy, and
    milvus-lite's own search); tests isolate themselves with fresh tenant ids."""
    in_memory = request.param == "in-memory"
    engine = MilvusVectorEngine(
        str(tmp_path_factory.mktemp("milvus") / "vectors.db"), in_memory=in_memory
    )
    assert engine.searches_in_memory == in_memory
    yield engine
    await engine.close()


@pytest.fixture(scope="session")
def semantic(embedder: Embedder, milvus: MilvusVectorEngine) -> SemanticIndex:
    return SemanticIndex(embedder, milvus)


@pytest.fixture
def tenant_a() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def tenant_b() -> uuid.UUID:
    return uuid.uuid4()
