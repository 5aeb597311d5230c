"""The search sinks: outbox events -> documents re-read from Postgres -> a search engine.

An outbox event says *which* asset's search document changed, not what it now is: a tag or a
column event carries only its own row. So a sink collects the assets a batch touches (assets,
their tags, their columns; relationships and column lineage are not in a document), re-reads
their documents from Postgres through the batch's connection (the worker role, which sees every
tenant), and writes them at a version derived from the events' transaction ids (see
:mod:`headwater.search.source`): deleted assets become versioned tombstones. Reading the current
state, rather than replaying payloads, makes a batch idempotent and order-insensitive; the
engines' version guard drops anything older than what they hold.

Each batch ends deliberately: the full-text engine makes its writes visible (``refresh``), the
vector engine seals them (``flush``: milvus-lite scans unsealed rows on every search). The
semantic sink embeds only documents newer than the vectors held, in one call per batch, and the
embedder's hash-keyed cache skips texts it has embedded before.

Both sinks keep state outside Postgres, so they are applied before their checkpoint moves
(at least once) and rely on the version guard for exactly-once effects.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Final, Literal
from uuid import UUID

from headwater.catalog.db import Database
from headwater.search import source
from headwater.search.documents import SearchDocument
from headwater.search.embeddings import Embedder
from headwater.search.fulltext import FullTextEngine, IndexWriteError, WriteResult
from headwater.search.semantic import SemanticIndex
from headwater.search.vectors import VectorEngine
from headwater.sync.events import Batch, OutboxEvent, PermanentSinkError

__all__ = ["FullTextSink", "MirrorKind", "SearchSink", "SemanticSink", "affected_assets"]

log = logging.getLogger(__name__)

MirrorKind = Literal["fulltext", "semantic"]

# Entity types whose events change an asset's search document.
DOCUMENT_ENTITIES: Final = frozenset({"asset", "asset_tag", "schema_field"})


def _asset_of(event: OutboxEvent) -> int:
    if event.entity_type == "schema_field":
        try:
            return int(event.payload["asset_id"])
        except (KeyError, TypeError, ValueError) as e:
            raise PermanentSinkError(
                f"{event.event_type} event {event.id} has no usable asset_id: {e!r}", event
            ) from e
    # asset events and asset_tag events (whose entity id is the asset's) name the asset.
    return event.entity_id


def affected_assets(events: Iterable[OutboxEvent]) -> dict[int, tuple[UUID, int]]:
    """``{asset_id: (tenant_id, version)}`` for every asset whose document the events change,
    at the version of the asset's latest event (see :func:`source.change_version`)."""
    affected: dict[int, tuple[UUID, int]] = {}
    for event in events:
        if event.entity_type not in DOCUMENT_ENTITIES:
            continue
        asset_id = _asset_of(event)
        version = source.change_version(event.txid)
        held = affected.get(asset_id)
        if held is None or version > held[1]:
            affected[asset_id] = (event.tenant_id, version)
    return affected


class SearchSink(ABC):
    """A search index kept current from the outbox, and what ``reconcile`` needs of it."""

    kind: MirrorKind

    def __init__(self, name: str, gather_seconds: float = 0.0) -> None:
        self.name = name
        # See headwater.sync.events.Gathering: a refresh (and an embedding call) per batch.
        self.gather_seconds = gather_seconds
        self._started = False

    async def apply(self, batch: Batch) -> None:
        wanted = affected_assets(batch.events)
        if not wanted:
            return
        await self.start()
        found = await source.documents(batch.conn, {a: v for a, (_, v) in wanted.items()})
        # An id Postgres does not know cannot be shown either: tombstone it.
        docs = [
            found[asset_id]
            if asset_id in found
            else SearchDocument.tombstone(tenant_id, asset_id, version)
            for asset_id, (tenant_id, version) in wanted.items()
        ]
        try:
            await self.write(docs)
        except IndexWriteError as e:
            # Retrying cannot help; the worker retries event by event to dead-letter the culprit.
            raise PermanentSinkError(f"{self.name}: {e}") from e
        await self.finish()

    async def bootstrap(self, database: Database) -> None:
        """Cold start: when the sink's checkpoint is still at the start of the outbox, rebuild
        the index from a snapshot and move the checkpoint there, rather than replaying every
        event ever written. A no-op afterwards. ``database`` connects as the worker role."""
        from headwater.search.reconcile import rebuild  # reconcile builds on this module

        report = await rebuild(database, self, only_if_new=True)
        if report is not None:
            log.info("search mirror cold-started", extra=report.as_dict())

    async def start(self) -> None:
        """Prepare the engine once (create a server index); idempotent."""
        if not self._started:
            await self._start()
            self._started = True

    async def _start(self) -> None:
        return None

    @abstractmethod
    async def write(self, docs: Sequence[SearchDocument]) -> WriteResult:
        """Write documents and tombstones; only versions newer than those held take effect."""

    @abstractmethod
    async def finish(self) -> None:
        """End a batch: make the writes visible to searches."""

    @abstractmethod
    async def live_versions(self, tenant_id: UUID) -> dict[int, int]: ...

    @abstractmethod
    async def drop_tenant(self, tenant_id: UUID) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


class FullTextSink(SearchSink):
    kind: MirrorKind = "fulltext"

    def __init__(
        self, engine: FullTextEngine, name: str | None = None, *, gather_seconds: float = 0.0
    ) -> None:
        super().__init__(name or f"search.{engine.name}", gather_seconds)
        self.engine = engine

    async def _start(self) -> None:
        # Elasticsearch's index is created here (safe to race); tantivy opens at construction.
        ensure_index = getattr(self.engine, "ensure_index", None)
        if ensure_index is not None:
            await ensure_index()

    async def write(self, docs: Sequence[SearchDocument]) -> WriteResult:
        return await self.engine.upsert(docs)

    async def finish(self) -> None:
        await self.engine.refresh()

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        return await self.engine.live_versions(tenant_id)

    async def drop_tenant(self, tenant_id: UUID) -> None:
        await self.engine.drop_tenant(tenant_id)

    async def close(self) -> None:
        await self.engine.close()


class SemanticSink(SearchSink):
    """Embeds documents and writes their vectors. ``embedder`` may be None for a sink that is
    only checked for drift (loading the model is slow); writing then raises."""

    kind: MirrorKind = "semantic"

    def __init__(
        self,
        vectors: VectorEngine,
        embedder: Embedder | None,
        name: str | None = None,
        *,
        gather_seconds: float = 0.0,
    ) -> None:
        super().__init__(name or f"search.{vectors.name}", gather_seconds)
        self.vectors = vectors
        self.index = None if embedder is None else SemanticIndex(embedder, vectors)

    async def write(self, docs: Sequence[SearchDocument]) -> WriteResult:
        if self.index is None:
            raise RuntimeError(f"{self.name} was opened without an embedder and cannot write")
        return await self.index.upsert(docs)

    async def finish(self) -> None:
        await self.vectors.flush()

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        return await self.vectors.live_versions(tenant_id)

    async def drop_tenant(self, tenant_id: UUID) -> None:
        await self.vectors.drop_tenant(tenant_id)

    async def close(self) -> None:
        await self.vectors.close()
