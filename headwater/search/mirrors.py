"""The search mirrors a process runs, built from settings, and the loop that keeps them current.

Engines: tantivy under ``<data dir>/search/tantivy`` unless ``ELASTICSEARCH_URL`` is set;
milvus-lite in ``<data dir>/search/vectors.db`` unless ``MILVUS_URI`` names another file or a
server (``http(s)://``). The embedding cache lives in ``<data dir>/search/embeddings.sqlite``.

Checkpoints. Every search sink is a shared sink (checkpoint in Postgres, applied under a lease),
because its index outlives the process: after a restart it resumes where it stopped instead of
rebuilding. A server index (Elasticsearch, Milvus) is one mirror whoever feeds it, so its sink
has one name, and `headwater serve` and any number of `headwater worker` s can share it. An
embedded index (tantivy, milvus-lite) belongs to one data directory: its sink's name carries an
instance id kept next to the index, so two processes with their own data directories on one
database keep their own checkpoints, and an index created afresh (the directory was wiped) gets
a new id and hence a new checkpoint, which triggers a cold start (a rebuild from a snapshot)
rather than trusting a checkpoint for data that is gone. One process writes a tantivy index or
a milvus-lite file at a time; both refuse a second one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pymilvus.exceptions import MilvusException

from headwater.aio import stop_task
from headwater.catalog.db import Database
from headwater.search.embeddings import Embedder, EmbeddingCache
from headwater.search.fulltext_elasticsearch import ElasticsearchEngine, connect
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.hybrid import HybridSearch
from headwater.search.sink import FullTextSink, SearchSink, SemanticSink
from headwater.search.vectors import MilvusVectorEngine
from headwater.settings import Settings
from headwater.sync.metrics import SyncMetrics
from headwater.sync.worker import SyncWorker, WorkerConfig, backoff_delay, check_worker_role

__all__ = [
    "SearchMirrors",
    "keep_current",
    "mirror_instance",
    "open_embedder",
    "open_fulltext",
    "open_mirrors",
    "open_semantic",
    "running",
    "shared_search_sinks",
]

log = logging.getLogger(__name__)

_INSTANCE: Final = re.compile(r"^[0-9a-f]{12}$")
_SERVER_SCHEMES: Final = ("http://", "https://", "tcp://", "grpc://")


def search_dir(settings: Settings) -> Path:
    return settings.data_dir / "search"


def mirror_instance(marker: Path, *, fresh: bool) -> str:
    """The id of the on-disk index that ``marker`` sits beside: a new one when the index was
    just created (``fresh``) or the marker is missing or unreadable."""
    if not fresh:
        try:
            instance = marker.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            instance = ""
        if _INSTANCE.match(instance):
            return instance
    instance = uuid.uuid4().hex[:12]
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(instance + "\n", encoding="utf-8")
    return instance


def open_fulltext(settings: Settings) -> FullTextSink:
    """The full-text sink and its engine: Elasticsearch when configured, else tantivy on disk."""
    gather = settings.search_refresh_interval
    if settings.elasticsearch_url is not None:
        return FullTextSink(
            ElasticsearchEngine(connect(settings.elasticsearch_url)), gather_seconds=gather
        )
    folder = search_dir(settings)
    engine = TantivyEngine(folder / "tantivy")
    instance = mirror_instance(folder / "tantivy.instance", fresh=engine.created)
    return FullTextSink(engine, f"search.tantivy.{instance}", gather_seconds=gather)


def open_semantic(settings: Settings, embedder: Embedder | None) -> SemanticSink:
    """The semantic sink and its vector engine: a Milvus server for an ``http(s)://`` MILVUS_URI,
    else milvus-lite in a local file. ``embedder`` None: the sink can be checked, not written."""
    uri = settings.milvus_uri or str(search_dir(settings) / "vectors.db")
    server = uri.startswith(_SERVER_SCHEMES)
    if not server:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        # IVF_FLAT only where nprobe is honoured (see headwater/search/vectors.py).
        vectors = MilvusVectorEngine(uri, index_type="IVF_FLAT" if server else "FLAT")
    except MilvusException as e:
        where = "the Milvus server" if server else "the embedded vector index"
        hint = "" if server else " (is another headwater process using this data directory?)"
        raise RuntimeError(f"cannot open {where} at {uri}: {e.message}{hint}") from e
    gather = settings.search_refresh_interval
    if server:
        return SemanticSink(vectors, embedder, "search.milvus", gather_seconds=gather)
    instance = mirror_instance(Path(uri + ".instance"), fresh=vectors.created)
    return SemanticSink(vectors, embedder, f"search.milvus-lite.{instance}", gather_seconds=gather)


def open_embedder(settings: Settings) -> Embedder:
    """all-MiniLM-L6-v2 (slow to load: once per process) with its on-disk cache."""
    return Embedder(
        cache=EmbeddingCache(path=search_dir(settings) / "embeddings.sqlite"),
        precision=settings.embedding_precision,
    )


@dataclass
class SearchMirrors:
    """The full-text and semantic mirrors of one process, and the search over them."""

    fulltext: FullTextSink
    semantic: SemanticSink
    embedder: Embedder
    # An embedder handed in (shared by tests) is closed by whoever made it.
    owns_embedder: bool

    @property
    def sinks(self) -> list[SearchSink]:
        return [self.fulltext, self.semantic]

    def hybrid(self) -> HybridSearch:
        assert self.semantic.index is not None
        return HybridSearch(self.fulltext.engine, self.semantic.index)

    async def close(self) -> None:
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception as e:  # closing one engine must not leave the other open
                log.warning(
                    "closing a search engine failed", extra={"sink": sink.name, "error": str(e)}
                )
        if self.owns_embedder:
            self.embedder.close()


def open_mirrors(settings: Settings, *, embedder: Embedder | None = None) -> SearchMirrors:
    """Both mirrors per settings; loads the model unless an ``embedder`` is given."""
    owns = embedder is None
    model = embedder if embedder is not None else open_embedder(settings)
    try:
        # The vector engine first: a milvus-lite file held by another process is the likely
        # refusal, and nothing else has been opened yet when it comes.
        semantic = open_semantic(settings, model)
        fulltext = open_fulltext(settings)
    except BaseException:
        if owns:
            model.close()
        raise
    return SearchMirrors(fulltext, semantic, model, owns)


async def keep_current(
    database: Database,
    sinks: Sequence[SearchSink],
    config: WorkerConfig,
    *,
    listen_dsn: str | None,
    metrics: SyncMetrics | None = None,
) -> None:
    """Cold-start the sinks that are new (rebuild from a snapshot), then tail the outbox into
    them until cancelled. ``database`` connects as the worker role."""
    for sink in sinks:
        failures = 0
        while True:
            try:
                await sink.bootstrap(database)
                break
            except Exception as e:  # an engine or the database is down: retry, like a batch
                failures += 1
                delay = backoff_delay(failures, config.backoff_initial, config.backoff_max)
                log.warning(
                    "search cold start failed, retrying",
                    extra={"sink": sink.name, "retry_in": round(delay, 3), "error": str(e)},
                )
                await asyncio.sleep(delay)
    worker = SyncWorker(database, config, metrics, listen_dsn=listen_dsn)
    for sink in sinks:
        worker.add_sink(sink)
    await worker.run()


@asynccontextmanager
async def running(
    mirrors: SearchMirrors, settings: Settings, worker_dsn: str
) -> AsyncIterator[None]:
    """While the app serves: cold-start the mirrors if they are new, then keep them current
    from the outbox (as the worker role); close them afterwards."""
    database = Database(worker_dsn, min_size=1, max_size=4)
    try:
        await database.open()
        await check_worker_role(database)
        config = WorkerConfig(
            batch_size=settings.worker_batch_size,
            poll_interval=settings.worker_poll_interval,
            backoff_initial=settings.worker_backoff_initial,
            backoff_max=settings.worker_backoff_max,
        )
        task = asyncio.create_task(
            keep_current(database, mirrors.sinks, config, listen_dsn=worker_dsn),
            name="search-sync",
        )
        try:
            yield
        finally:
            await _stop(task)
    finally:
        await database.close()
        await mirrors.close()


def shared_search_sinks(settings: Settings) -> list[SearchSink]:
    """The search sinks `headwater worker` can feed: those of server engines (ELASTICSEARCH_URL,
    an http(s) MILVUS_URI). Embedded indexes are fed by the `headwater serve` that holds them."""
    sinks: list[SearchSink] = []
    if settings.elasticsearch_url is not None:
        sinks.append(open_fulltext(settings))
    if settings.milvus_uri is not None and settings.milvus_uri.startswith(_SERVER_SCHEMES):
        sinks.append(open_semantic(settings, open_embedder(settings)))
    return sinks


async def _stop(task: asyncio.Task[None]) -> None:
    try:
        await stop_task(task)
    except Exception as error:
        log.error("search sync stopped on an error", extra={"error": repr(error)})
