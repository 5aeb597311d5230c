"""Semantic indexing and search: search documents -> embeddings -> the vector engine.

Indexing embeds only what will be written: a batch's held versions are read first, so stale
documents (replays, late deliveries) are never embedded, and the embedder's cache skips texts
already embedded (an asset whose tags changed but whose text did not costs no model call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from headwater.search.documents import SearchDocument, embedding_text
from headwater.search.embeddings import Embedder
from headwater.search.fulltext import NO_FILTERS, SearchFilters, WriteResult
from headwater.search.vectors import VectorEngine, VectorHit, VectorRecord

__all__ = ["SemanticIndex"]


class SemanticIndex:
    """Keeps a :class:`VectorEngine` current from search documents and answers text queries."""

    def __init__(self, embedder: Embedder, vectors: VectorEngine) -> None:
        self.embedder = embedder
        self.vectors = vectors

    async def upsert(self, docs: Sequence[SearchDocument]) -> WriteResult:
        """Embed and write the documents newer than the versions held (tombstones included).

        Call :meth:`flush` when the batch is done.
        """
        newest: dict[str, SearchDocument] = {}
        for doc in docs:
            held = newest.get(doc.key)
            if held is None or doc.version > held.version:
                newest[doc.key] = doc
        stale = len(docs) - len(newest)
        by_tenant: dict[UUID, list[SearchDocument]] = {}
        for doc in newest.values():
            by_tenant.setdefault(doc.tenant_id, []).append(doc)
        fresh: list[SearchDocument] = []
        for tenant_id, tenant_docs in by_tenant.items():
            held_versions = await self.vectors.held_versions(
                tenant_id, [d.asset_id for d in tenant_docs]
            )
            for doc in tenant_docs:
                if doc.version > held_versions.get(doc.asset_id, -1):
                    fresh.append(doc)
                else:
                    stale += 1
        live = [d for d in fresh if not d.deleted]
        vectors = await self.embedder.embed_async([embedding_text(d) for d in live])
        by_key = {d.key: v for d, v in zip(live, vectors, strict=True)}
        records = [
            VectorRecord.tombstone(d.tenant_id, d.asset_id, d.version)
            if d.deleted
            else VectorRecord(
                d.tenant_id,
                d.asset_id,
                d.version,
                by_key[d.key],
                type=d.type,
                tags=d.tags,
                tag_categories=d.tag_categories,
                owners=d.owners,
            )
            for d in fresh
        ]
        # The engine checks versions again: another writer may have won in between.
        return WriteResult(stale=stale) + await self.vectors.upsert(records)

    async def delete(self, tenant_id: UUID, versions: Mapping[int, int]) -> WriteResult:
        return await self.vectors.delete(tenant_id, versions)

    async def flush(self) -> None:
        await self.vectors.flush()

    async def search(
        self,
        tenant_id: UUID,
        queries: Sequence[str],
        *,
        limit: int = 20,
        filters: SearchFilters = NO_FILTERS,
        min_score: float | None = None,
    ) -> list[list[VectorHit]]:
        """The nearest assets for each query text, in one vector-engine call."""
        if not queries:
            return []
        vectors = await self.embedder.embed_async(list(queries), interactive=True)
        return await self.vectors.search(
            tenant_id, list(vectors), limit=limit, filters=filters, min_score=min_score
        )
