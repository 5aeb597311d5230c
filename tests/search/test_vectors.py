"""The Milvus vector engine on real milvus-lite, and semantic indexing with the real model."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest

from headwater.search.documents import build_document
from headwater.search.embeddings import DIMENSION, Embedder
from headwater.search.fulltext import NO_FILTERS, SearchFilters, WriteResult
from headwater.search.semantic import SemanticIndex
from headwater.search.vectors import MilvusVectorEngine, Vector, VectorRecord
from tests.search import samples
from tests.search.samples import CONTACTS, CUSTOMERS, REVENUE, SEGMENTS


def _unit(seed: int) -> Vector:
    vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _record(tenant: UUID, asset: int, version: int, seed: int, **facets: object) -> VectorRecord:
    return VectorRecord(tenant, asset, version, _unit(seed), **facets)  # type: ignore[arg-type]


async def _write(milvus: MilvusVectorEngine, records: list[VectorRecord]) -> WriteResult:
    result = await milvus.upsert(records)
    await milvus.flush()
    return result


async def test_nearest_neighbours_in_one_batched_call(
    milvus: MilvusVectorEngine, tenant_a: UUID
) -> None:
    assert await _write(milvus, [_record(tenant_a, i, 1, seed=i) for i in range(1, 21)]) == (
        WriteResult(applied=20)
    )
    assert await milvus.count(tenant_a) == 20
    results = await milvus.search(tenant_a, [_unit(3), _unit(11), _unit(17)], limit=5)
    assert [hits[0].asset_id for hits in results] == [3, 11, 17]
    assert all(len(hits) == 5 for hits in results)
    assert results[0][0].score == pytest.approx(1.0, abs=1e-4)
    assert results[0][0].score > results[0][1].score
    assert await milvus.search(tenant_a, [], limit=5) == []


async def test_min_score_drops_unrelated_neighbours(
    milvus: MilvusVectorEngine, tenant_a: UUID
) -> None:
    await _write(milvus, [_record(tenant_a, i, 1, seed=i) for i in range(1, 6)])
    (hits,) = await milvus.search(tenant_a, [_unit(2)], limit=5, min_score=0.5)
    assert [h.asset_id for h in hits] == [2]


async def test_filters_on_stored_facets(milvus: MilvusVectorEngine, tenant_a: UUID) -> None:
    quoted = 'odd "tag" \\ ü'
    await _write(
        milvus,
        [
            _record(tenant_a, 1, 1, 1, type="table", tags=("pii",), owners=("ana",)),
            _record(tenant_a, 2, 1, 2, type="view", tags=("gold", quoted)),
            _record(tenant_a, 3, 1, 3, type="table", tag_categories=("Privacy",)),
        ],
    )

    async def matching(**filters: frozenset[str]) -> set[int]:
        (hits,) = await milvus.search(
            tenant_a, [_unit(1)], limit=10, filters=SearchFilters(**filters)
        )
        return {h.asset_id for h in hits}

    assert await matching(types=frozenset({"table"})) == {1, 3}
    assert await matching(tags=frozenset({"pii", "gold"})) == {1, 2}
    assert await matching(tags=frozenset({quoted})) == {2}
    assert await matching(tag_categories=frozenset({"Privacy"})) == {3}
    assert await matching(owners=frozenset({"ana"})) == {1}
    assert await matching(types=frozenset({"table"}), tags=frozenset({"gold"})) == set()
    (hits,) = await milvus.search(tenant_a, [_unit(2)], limit=1)
    assert (hits[0].type, hits[0].tags) == ("view", ("gold", quoted))


async def test_tenants_never_see_each_other_even_with_identical_vectors(
    milvus: MilvusVectorEngine, tenant_a: UUID, tenant_b: UUID
) -> None:
    await _write(
        milvus,
        [_record(tenant_a, i, 1, seed=i) for i in range(1, 6)]
        + [_record(tenant_b, i, 1, seed=i) for i in range(1, 4)]
        + [_record(tenant_a, 99, 1, seed=99)],
    )
    for query in (_unit(99), _unit(1)):
        (hits,) = await milvus.search(tenant_b, [query], limit=50)
        assert {h.asset_id for h in hits} == {1, 2, 3}
    assert await milvus.count(tenant_b) == 3
    await milvus.delete(tenant_a, {1: 2})
    await milvus.flush()
    (hits,) = await milvus.search(tenant_b, [_unit(1)], limit=1)
    assert hits[0].asset_id == 1
    await milvus.drop_tenant(tenant_a)
    await milvus.flush()
    assert await milvus.count(tenant_a) == 0
    assert await milvus.count(tenant_b) == 3


async def test_version_order_is_respected(milvus: MilvusVectorEngine, tenant_a: UUID) -> None:
    assert await _write(milvus, [_record(tenant_a, 1, 5, seed=50)]) == WriteResult(applied=1)
    assert await _write(milvus, [_record(tenant_a, 1, 3, seed=30)]) == WriteResult(stale=1)
    assert await _write(milvus, [_record(tenant_a, 1, 5, seed=30)]) == WriteResult(stale=1)
    (hits,) = await milvus.search(tenant_a, [_unit(50)], limit=1)
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    batch = [_record(tenant_a, 2, v, seed=v) for v in (2, 9, 4)]
    assert await _write(milvus, batch) == WriteResult(applied=1, stale=2)
    assert await milvus.held_versions(tenant_a, [1, 2, 3]) == {1: 5, 2: 9}


async def test_delete_tombstone_beats_a_late_upsert(
    milvus: MilvusVectorEngine, tenant_a: UUID
) -> None:
    await _write(milvus, [_record(tenant_a, i, 2, seed=i) for i in (1, 2)])
    assert await milvus.delete(tenant_a, {1: 3}) == WriteResult(applied=1)
    await milvus.flush()
    late = _record(tenant_a, 1, 2, seed=1)
    assert await _write(milvus, [late]) == WriteResult(stale=1)
    (hits,) = await milvus.search(tenant_a, [_unit(1)], limit=10)
    assert [h.asset_id for h in hits] == [2]
    assert await milvus.count(tenant_a) == 1
    assert await milvus.held_versions(tenant_a, [1]) == {1: 3}
    # A restore (newer version) brings it back.
    assert await _write(milvus, [_record(tenant_a, 1, 4, seed=1)]) == WriteResult(applied=1)
    (hits,) = await milvus.search(tenant_a, [_unit(1)], limit=1)
    assert hits[0].asset_id == 1


async def test_records_are_checked(milvus: MilvusVectorEngine, tenant_a: UUID) -> None:
    with pytest.raises(ValueError, match="needs a vector"):
        VectorRecord(tenant_a, 1, 1, None)
    wrong = VectorRecord(tenant_a, 1, 1, np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        await milvus.upsert([wrong])


async def test_semantic_index_embeds_only_fresh_documents(
    semantic: SemanticIndex, embedder: Embedder, tenant_a: UUID
) -> None:
    docs = samples.catalog(tenant_a)
    calls, embedded = embedder.model_calls, embedder.texts_embedded
    assert await semantic.upsert(docs) == WriteResult(applied=len(docs))
    await semantic.flush()
    assert embedder.texts_embedded - embedded <= len(docs)
    # Replaying the batch is stale before anything is embedded.
    calls = embedder.model_calls
    assert await semantic.upsert(docs) == WriteResult(stale=len(docs))
    assert embedder.model_calls == calls
    # A new version whose text is unchanged (a new owner) is written without a model call.
    reowned = build_document(
        tenant_a,
        REVENUE,
        2,
        type="dashboard",
        name="revenue_by_region",
        qualified_name="bi.revenue_by_region",
        description="Daily revenue broken down by sales region.",
        owners=["dave@example.com"],
    )
    assert await semantic.upsert([reowned]) == WriteResult(applied=1)
    await semantic.flush()
    assert embedder.model_calls == calls
    (hits,) = await semantic.search(
        tenant_a, ["money"], filters=SearchFilters(owners=frozenset({"dave@example.com"}))
    )
    assert [h.asset_id for h in hits] == [REVENUE]


async def test_natural_language_finds_assets_without_shared_words(
    semantic: SemanticIndex, tenant_a: UUID
) -> None:
    await semantic.upsert(samples.catalog(tenant_a))
    await semantic.flush()
    queries = {
        "customer email addresses": CONTACTS,
        "how much money we make in each area": REVENUE,
        "grouping buyers by how valuable they are": SEGMENTS,
        "who buys from us": CUSTOMERS,
    }
    results = await semantic.search(tenant_a, list(queries), limit=5)
    for (query, expected), hits in zip(queries.items(), results, strict=True):
        assert expected in [h.asset_id for h in hits], query


async def test_live_versions_list_a_tenants_live_records(
    milvus: MilvusVectorEngine, tenant_a: UUID, tenant_b: UUID
) -> None:
    # More than one page of the iterator.
    await _write(milvus, [_record(tenant_a, i, 2, seed=i) for i in range(1, 1202)])
    await _write(milvus, [_record(tenant_b, 1, 7, seed=1)])
    await milvus.delete(tenant_a, {5: 3})
    await _write(milvus, [_record(tenant_a, 6, 8, seed=6)])
    held = await milvus.live_versions(tenant_a)
    assert len(held) == 1200
    assert 5 not in held
    assert (held[1], held[6]) == (2, 8)
    assert await milvus.live_versions(tenant_b) == {1: 7}


async def test_the_in_memory_copy_answers_as_milvus_lite_does(tmp_path: Path) -> None:
    """Random records over two tenants (facets, newer versions, stale writes, tombstones): the
    in-memory copy, milvus-lite's own search, and a copy reloaded from the file all agree."""
    rng = np.random.default_rng(7)
    tenants = [uuid.uuid4(), uuid.uuid4()]
    types, tags, owners = ["table", "view", "topic"], ["pii", "gold", "raw", "ü tag"], ["ana", "bo"]

    def random_record(asset: int, version: int) -> VectorRecord:
        return VectorRecord(
            tenants[asset % 2], asset, version, _unit(int(rng.integers(1 << 30))),
            type=types[int(rng.integers(3))],
            tags=tuple(rng.choice(tags, size=int(rng.integers(3)), replace=False)),
            owners=tuple(rng.choice(owners, size=int(rng.integers(2)), replace=False)),
        )  # fmt: skip

    path = str(tmp_path / "vectors.db")
    writer = MilvusVectorEngine(path)
    await _write(writer, [random_record(a, 1) for a in range(300)])
    await _write(writer, [random_record(a, 2) for a in range(0, 300, 3)])  # replaced
    await _write(writer, [random_record(a, 1) for a in range(1, 300, 3)])  # stale: dropped
    for tenant in tenants:
        await writer.delete(tenant, {a: 5 for a in range(2, 300, 7) if tenants[a % 2] == tenant})
    await writer.flush()
    queries = [_unit(1000 + i) for i in range(8)]
    filter_sets = [
        NO_FILTERS,
        SearchFilters(types=frozenset({"view"})),
        SearchFilters(tags=frozenset({"pii", "ü tag"})),
        SearchFilters(types=frozenset({"table", "topic"}), owners=frozenset({"ana"})),
        SearchFilters(tags=frozenset({"absent"})),
    ]

    async def answers(engine: MilvusVectorEngine) -> list[list[list[tuple[int, float]]]]:
        out = []
        for tenant in tenants:
            for filters in filter_sets:
                results = await engine.search(tenant, queries, limit=15, filters=filters)
                out.append([[(h.asset_id, round(h.score, 4)) for h in hits] for hits in results])
        return out

    assert writer.searches_in_memory
    from_memory = await answers(writer)
    assert any(hits for per_query in from_memory for hits in per_query)
    await writer.close()

    lite = MilvusVectorEngine(path, in_memory=False)
    assert not lite.searches_in_memory
    assert await answers(lite) == from_memory
    await lite.close()

    reopened = MilvusVectorEngine(path)
    assert await reopened.wait_for_memory(timeout=120)
    assert await answers(reopened) == from_memory
    # Writes after the reload reach the copy as well.
    await _write(reopened, [VectorRecord(tenants[0], 1_000, 1, queries[0], type="view")])
    (hits,) = await reopened.search(tenants[0], [queries[0]], limit=1)
    assert hits[0].asset_id == 1_000
    await reopened.drop_tenant(tenants[0])
    assert await reopened.search(tenants[0], [queries[0]], limit=5) == [[]]
    await reopened.close()


async def test_a_facet_value_repeated_within_a_record_is_retagged_cleanly(
    milvus: MilvusVectorEngine, tenant_a: UUID
) -> None:
    await _write(milvus, [_record(tenant_a, 1, 1, seed=1, tags=("pii", "pii"), owners=("a", "a"))])
    await _write(milvus, [_record(tenant_a, 1, 2, seed=1, tags=("gold",))])
    pii = SearchFilters(tags=frozenset({"pii"}))
    assert await milvus.search(tenant_a, [_unit(1)], limit=5, filters=pii) == [[]]
    (hits,) = await milvus.search(
        tenant_a, [_unit(1)], limit=5, filters=SearchFilters(tags=frozenset({"gold"}))
    )
    assert [h.asset_id for h in hits] == [1]


@pytest.mark.parametrize("index_type", ["FLAT", "IVF_FLAT"])
async def test_creating_the_collection_logs_no_error(
    index_type: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, tenant_a: UUID
) -> None:
    """Waiting for the index asked milvus-lite for a timestamp it does not implement: its gRPC
    thread logged an ERROR with a traceback at every first start of the embedded search."""
    with caplog.at_level(logging.WARNING):
        engine = MilvusVectorEngine(
            str(tmp_path / "vectors.db"),
            index_type=index_type,  # type: ignore[arg-type]
            in_memory=False,
        )
        assert engine.created
        await _write(engine, [_record(tenant_a, 1, 1, seed=1)])
        (hits,) = await engine.search(tenant_a, [_unit(1)], limit=1)
        await engine.close()
    assert [h.asset_id for h in hits] == [1]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
