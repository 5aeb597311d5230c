"""Search: full-text (tantivy) and semantic (MiniLM embeddings in milvus-lite) over every asset of
the scale, queried in the main tenant, plus embedding throughput.

The engines are measured in this process, as the search sink and the search service call them
(the bench's API server runs without search mirrors, whose cold start would dominate). Each
asset's search document is built with
``headwater.search.documents.build_document`` from the generated platform (name, qualified
name, description, columns with their types, owners, metadata).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Final
from uuid import UUID

import numpy as np

from bench.context import RunContext
from bench.generator import COLUMN_TYPES, DOMAINS, ENTITIES, METRICS, QUALIFIERS
from bench.machine import rss_mb
from bench.results_model import Measurement, Row, Target, latency_row
from headwater.search.documents import SearchDocument, build_document, embedding_text
from headwater.search.embeddings import Embedder, EmbeddingCache
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.semantic import SemanticIndex
from headwater.search.vectors import MilvusVectorEngine, VectorRecord

__all__ = ["measure_search"]

INDEX_BATCH: Final = 5_000
EMBED_BATCH: Final = 1_024
# Texts the semantic sink embedded per batch while 3,000 OpenLineage events were ingested into
# `headwater serve` (7,494 texts in 44 batches).
SINK_TEXTS: Final = 170
BUSY_QUERIES: Final = 50


def _documents(ctx: RunContext) -> list[SearchDocument]:
    """Every asset's document, the main tenant's first."""
    docs: list[SearchDocument] = []
    for tenant in ctx.tenants:
        lineage = tenant.lineage
        offsets = lineage.field_offsets()
        per_asset = np.bincount(lineage.field_asset, minlength=lineage.n_assets)
        for i in range(lineage.n_assets):
            first = int(offsets[i])
            columns = [
                (lineage.field_name(f), COLUMN_TYPES[lineage.field_code[f]], "")
                for f in range(first, first + int(per_asset[i]))
            ]
            docs.append(
                build_document(
                    tenant.access.tenant_id,
                    int(tenant.asset_ids[i]),
                    2 if columns else 1,
                    type=lineage.asset_type(i),
                    name=lineage.names[i],
                    qualified_name=lineage.qualified_names[i],
                    description=lineage.descriptions[i],
                    columns=columns,
                    owners=lineage.owners(i),
                    metadata=lineage.metadata(i),
                )
            )
    return docs


def _fulltext_queries(rng: np.random.Generator, count: int) -> list[str]:
    """What people type: words, two-word phrases, prefixes, typos, column names, dotted names."""
    queries: list[str] = []
    while len(queries) < count:
        domain = DOMAINS[int(rng.integers(len(DOMAINS)))]
        one, many = ENTITIES[int(rng.integers(len(ENTITIES)))]
        metric = METRICS[int(rng.integers(len(METRICS)))]
        kind = len(queries) % 6
        if kind == 0:
            queries.append(many)
        elif kind == 1:
            queries.append(f"{domain} {many}")
        elif kind == 2:
            queries.append(many[:4])
        elif kind == 3:
            k = int(rng.integers(1, len(many) - 1))
            queries.append(many[:k] + many[k + 1] + many[k] + many[k + 2 :])
        elif kind == 4:
            queries.append(f"{one}_id {metric}")
        else:
            queries.append(f"staging.{domain}")
    return queries


def _ratio(baseline: float | None, measured: float | None) -> float:
    return float("nan") if baseline is None or not measured else baseline / measured


async def _while_indexing(
    index: SemanticIndex,
    embedder: Embedder,
    texts: list[str],
    rng: np.random.Generator,
    tenant: UUID,
) -> list[float]:
    """Semantic search latency while a thread embeds new texts in sink-sized batches, as the
    semantic sink does during a large ingestion: queries take the model between two chunks."""
    stop = threading.Event()

    def index_batches() -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            # New text every time: the cache must not answer for the model.
            embedder.embed([f"{t} (revision {round_})" for t in texts[:SINK_TEXTS]])

    indexing = threading.Thread(target=index_batches, name="bench-indexing")
    indexing.start()
    latencies: list[float] = []
    try:
        started = embedder.model_calls
        while embedder.model_calls == started:
            await asyncio.sleep(0.01)
        for q in _semantic_queries(rng, BUSY_QUERIES, "busy"):
            began = time.perf_counter()
            await index.search(tenant, [q], limit=20)
            latencies.append(time.perf_counter() - began)
            await asyncio.sleep(float(rng.uniform(0, 0.1)))  # arrive anywhere in a chunk
    finally:
        stop.set()
        await asyncio.to_thread(indexing.join)
    return latencies


def _semantic_queries(rng: np.random.Generator, count: int, salt: str) -> list[str]:
    """Distinct natural-language questions (distinct, so no query hits the embedding cache)."""
    seen: dict[str, None] = {}
    while len(seen) < count:
        domain = DOMAINS[int(rng.integers(len(DOMAINS)))]
        one, many = ENTITIES[int(rng.integers(len(ENTITIES)))]
        metric = METRICS[int(rng.integers(len(METRICS)))]
        qualifier = QUALIFIERS[int(rng.integers(len(QUALIFIERS)))]
        n = len(seen)
        seen.setdefault(
            f"where is the {qualifier} {metric} of {many} for the {domain} team ({salt} {n})", None
        )
        seen.setdefault(f"{one} {metric} by {domain} region, {qualifier} ({salt} {n})", None)
    return list(seen)[:count]


async def measure_search(ctx: RunContext) -> Measurement:
    scale = ctx.scale
    m = Measurement(
        "search",
        "Search: full-text and semantic, in the main tenant",
        "in-process engines: TantivyEngine.search (BM25, prefix + typo matching, facets, "
        "highlights, limit 20); SemanticIndex.search (MiniLM query embedding + the vector engine: "
        "vectors stored in milvus-lite, searched in the engine's exact in-memory copy); "
        "milvus-lite's own FLAT search and numpy brute force over the same vectors as baselines",
    )
    tenant = ctx.main.access.tenant_id
    started = time.perf_counter()
    docs = _documents(ctx)
    m.notes.append(f"{len(docs):,} documents built in {time.perf_counter() - started:.1f} s")

    # --- full-text --------------------------------------------------------------------------
    fulltext = TantivyEngine(ctx.work_dir / "tantivy")
    try:
        started = time.perf_counter()
        for lo in range(0, len(docs), INDEX_BATCH):
            await fulltext.upsert(docs[lo : lo + INDEX_BATCH])
        seconds = time.perf_counter() - started
        m.rows.append(
            Row("tantivy indexing", n=len(docs), p50_ms=seconds * 1000,
                throughput=len(docs) / seconds, unit="documents/s")
        )  # fmt: skip
        queries = _fulltext_queries(ctx.rng, scale.search_queries)
        for q in queries[:10]:
            await fulltext.search(tenant, q)
        latencies: list[float] = []
        hits: list[int] = []
        for q in queries:
            began = time.perf_counter()
            result = await fulltext.search(tenant, q)
            latencies.append(time.perf_counter() - began)
            hits.append(result.total)
        m.rows.append(
            latency_row("full-text search (tantivy)", latencies,
                        mean_matches=round(float(np.mean(hits)), 1), documents=len(docs))
        )  # fmt: skip
    finally:
        await fulltext.close()

    # --- semantic ---------------------------------------------------------------------------
    limit = scale.semantic_assets or len(docs)
    semantic_docs = docs[:limit]
    del docs
    before = rss_mb()
    started = time.perf_counter()
    embedder = Embedder(cache=EmbeddingCache(capacity=10_000))
    m.rows.append(
        Row("embedding model load", n=1, p50_ms=(time.perf_counter() - started) * 1000,
            memory_mb=rss_mb() - before)
    )  # fmt: skip
    texts = [embedding_text(d) for d in semantic_docs]
    embedder.embed(texts[:64])  # warm-up, not counted: its texts are embedded again below
    embedder.cache = EmbeddingCache(capacity=10_000)
    started = time.perf_counter()
    vectors = np.concatenate(
        [embedder.embed(texts[lo : lo + EMBED_BATCH]) for lo in range(0, len(texts), EMBED_BATCH)]
    )
    seconds = time.perf_counter() - started
    embedding_rate = len(texts) / seconds
    m.rows.append(
        Row("embedding (all-MiniLM-L6-v2, CPU)", n=len(texts), p50_ms=seconds * 1000,
            throughput=embedding_rate, unit="assets/s",
            extra={"mean_text_chars": round(float(np.mean([len(t) for t in texts])), 1),
                   "precision": embedder.precision})
    )  # fmt: skip

    milvus_path = str(Path(ctx.work_dir) / "milvus.db")
    milvus = MilvusVectorEngine(milvus_path)
    try:
        started = time.perf_counter()
        records = [
            VectorRecord(d.tenant_id, d.asset_id, d.version, vectors[i], type=d.type,
                         owners=d.owners)
            for i, d in enumerate(semantic_docs)
        ]  # fmt: skip
        for lo in range(0, len(records), 10_000):
            await milvus.upsert(records[lo : lo + 10_000])
        await milvus.flush()
        seconds = time.perf_counter() - started
        m.rows.append(
            Row("milvus-lite insert + flush", n=len(records), p50_ms=seconds * 1000,
                throughput=len(records) / seconds, unit="vectors/s")
        )  # fmt: skip
        del records
        index = SemanticIndex(embedder, milvus)
        probe = _semantic_queries(ctx.rng, scale.search_queries, "probe")
        for q in probe[:5]:
            await index.search(tenant, [q])
        query_embed: list[float] = []
        query_vectors = []
        for q in probe:
            began = time.perf_counter()
            query_vectors.append(embedder.embed_query(q))
            query_embed.append(time.perf_counter() - began)
        vector_only: list[float] = []
        for v in query_vectors:
            began = time.perf_counter()
            await milvus.search(tenant, [v], limit=20)
            vector_only.append(time.perf_counter() - began)
        end_to_end: list[float] = []
        for q in _semantic_queries(ctx.rng, scale.search_queries, "ask"):
            began = time.perf_counter()
            await index.search(tenant, [q], limit=20)
            end_to_end.append(time.perf_counter() - began)
        busy = await _while_indexing(index, embedder, texts, ctx.rng, tenant)
    finally:
        await milvus.close()
    # milvus-lite's own search over the same file (the engine's path before the in-memory copy).
    lite = MilvusVectorEngine(milvus_path, in_memory=False)
    try:
        lite_only: list[float] = []
        for v in query_vectors:
            began = time.perf_counter()
            await lite.search(tenant, [v], limit=20)
            lite_only.append(time.perf_counter() - began)
    finally:
        await lite.close()
    in_tenant = np.array([d.tenant_id == tenant for d in semantic_docs])
    matrix = np.ascontiguousarray(vectors[in_tenant])
    brute: list[float] = []
    for v in query_vectors:
        began = time.perf_counter()
        scores = matrix @ v
        top = np.argpartition(-scores, min(20, len(scores) - 1))[:20]
        top[np.argsort(-scores[top])]
        brute.append(time.perf_counter() - began)
    sem = latency_row(
        "semantic search end to end (embed query + vector search)",
        end_to_end,
        vectors=len(semantic_docs),
        tenant_vectors=int(in_tenant.sum()),
    )
    # The same kind of query while the mirror indexes: the baseline is the idle row above.
    loaded = latency_row(
        "  while the mirror embeds sink batches (background thread)",
        busy,
        texts_per_batch=SINK_TEXTS,
    )
    loaded.ratios["idle (p50)"] = _ratio(sem.p50_ms, loaded.p50_ms)
    loaded.ratios["idle (p99)"] = _ratio(sem.p99_ms, loaded.p99_ms)
    in_memory = latency_row("  of which: vector search (in-memory copy, exact)", vector_only)
    in_memory.ratios["milvus-lite search"] = sum(lite_only) / sum(vector_only)
    in_memory.ratios["numpy brute force"] = sum(brute) / sum(vector_only)
    m.rows += [
        sem,
        loaded,
        latency_row("  of which: query embedding", query_embed),
        in_memory,
        latency_row("baseline: milvus-lite's own search (FLAT, tenant partition)", lite_only),
        latency_row("baseline: numpy brute force (tenant's vectors)", brute),
    ]  # fmt: skip
    ft = next(r for r in m.rows if r.label == "full-text search (tantivy)")
    m.targets += [
        Target.check(f"full-text search at {ft.extra['documents']:,} assets", "p99 <= 20 ms",
                     ft.p99_ms, lambda v: v <= 20, "p99 {:.2f} ms"),
        Target.check(f"semantic search at {len(semantic_docs):,} assets", "p99 <= 50 ms",
                     sem.p99_ms, lambda v: v <= 50, "p99 {:.1f} ms"),
        Target.check("embedding throughput (issue 4)", ">= 300 assets/s on 2 cores",
                     embedding_rate, lambda v: v >= 300, "{:,.0f} assets/s"),
    ]  # fmt: skip
    embedder.close()
    return m
