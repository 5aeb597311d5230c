"""Reciprocal rank fusion, and the three search modes over real tantivy, milvus-lite and MiniLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import get_args
from uuid import UUID

import pytest

from headwater.search.documents import SearchDocument, build_document
from headwater.search.fulltext import FullTextHit, Highlight, InvalidSearch, SearchFilters
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.hybrid import HybridSearch, Mode, reciprocal_rank_fusion
from headwater.search.semantic import SemanticIndex
from headwater.search.vectors import VectorHit
from tests.search import samples
from tests.search.samples import CONTACTS, CUSTOMER_ORDERS, CUSTOMERS, REVENUE, SEGMENTS

MODES: tuple[Mode, ...] = get_args(Mode)


def test_rrf_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion(
        [FullTextHit(1, 12.0), FullTextHit(2, 7.0), FullTextHit(3, 1.0)],
        [VectorHit(3, 0.9), VectorHit(4, 0.8), VectorHit(2, 0.5)],
    )
    # 3: 1/63 + 1/61 beats 2: 1/62 + 1/63; both beat a single first place (1: 1/61).
    assert [h.asset_id for h in fused] == [3, 2, 1, 4]
    two = fused[1]
    assert two.matched_by == {"fulltext", "semantic"}
    assert (two.fulltext_rank, two.semantic_rank) == (2, 3)
    assert two.score == pytest.approx(1 / 62 + 1 / 63)
    assert (two.fulltext_score, two.semantic_score) == (7.0, 0.5)
    assert fused[3].matched_by == {"semantic"}
    assert fused[3].fulltext_rank is None


def test_rrf_keeps_highlights_and_breaks_ties_by_fulltext_rank() -> None:
    marked = (Highlight("description", "the email column", ((4, 9),)),)
    fused = reciprocal_rank_fusion(
        [FullTextHit(7, 3.0, marked), FullTextHit(8, 2.0)],
        [VectorHit(8, 0.9), VectorHit(7, 0.8)],
        k=10,
    )
    assert [h.asset_id for h in fused] == [7, 8]  # equal scores: full-text order
    assert fused[0].highlights == marked
    assert fused[0].highlights[0].matched == ("email",)
    assert reciprocal_rank_fusion([], []) == []
    with pytest.raises(InvalidSearch):
        reciprocal_rank_fusion([], [], k=0)


def test_rrf_weights_and_duplicates() -> None:
    fused = reciprocal_rank_fusion(
        [FullTextHit(1, 5.0), FullTextHit(1, 4.0)],
        [VectorHit(2, 0.9)],
        semantic_weight=2.0,
    )
    assert [h.asset_id for h in fused] == [2, 1]
    assert fused[1].score == pytest.approx(1 / 61)


@pytest.fixture
async def search(
    tmp_path: Path, semantic: SemanticIndex
) -> AsyncIterator[tuple[HybridSearch, TantivyEngine]]:
    fulltext = TantivyEngine(tmp_path / "tantivy")
    yield HybridSearch(fulltext, semantic), fulltext
    await fulltext.close()


async def _index(
    search: tuple[HybridSearch, TantivyEngine], docs: Sequence[SearchDocument]
) -> None:
    hybrid, fulltext = search
    await fulltext.upsert(docs)
    await hybrid.semantic.upsert(docs)
    await hybrid.semantic.flush()


async def _delete(search: tuple[HybridSearch, TantivyEngine], tenant: UUID, asset: int) -> None:
    hybrid, fulltext = search
    await fulltext.delete(tenant, {asset: 99})
    await hybrid.semantic.delete(tenant, {asset: 99})
    await hybrid.semantic.flush()


async def _ids(hybrid: HybridSearch, tenant: UUID, query: str, **kwargs: object) -> list[int]:
    results = await hybrid.search(tenant, query, limit=50, **kwargs)  # type: ignore[arg-type]
    return [h.asset_id for h in results.hits]


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("customer email addresses", CONTACTS),
        ("how much money we make in each area", REVENUE),
        ("grouping buyers by how valuable they are", SEGMENTS),
    ],
)
async def test_natural_language_queries_find_their_asset(
    search: tuple[HybridSearch, TantivyEngine],
    tenant_a: UUID,
    mode: Mode,
    query: str,
    expected: int,
) -> None:
    await _index(search, samples.catalog(tenant_a))
    assert expected in (await _ids(search[0], tenant_a, query, mode=mode))[:5]


async def test_hybrid_keeps_exact_names_first_and_says_who_matched(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID
) -> None:
    hybrid, _ = search
    await _index(search, samples.catalog(tenant_a))
    results = await hybrid.search(tenant_a, "customer orders")
    top = results.hits[0]
    assert top.asset_id == CUSTOMER_ORDERS
    assert top.matched_by == {"fulltext", "semantic"}
    assert top.fulltext_rank == 1
    assert top.highlights
    assert results.facets["type"]  # from the full-text engine
    semantic_only = [h for h in results.hits if h.matched_by == {"semantic"}]
    assert all(h.fulltext_rank is None and not h.highlights for h in semantic_only)


async def test_modes_report_what_they_ran(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID
) -> None:
    hybrid, _ = search
    await _index(search, samples.catalog(tenant_a))
    text = await hybrid.search(tenant_a, "customers", mode="fulltext")
    assert text.mode == "fulltext"
    assert all(h.matched_by == {"fulltext"} for h in text.hits)
    meaning = await hybrid.search(tenant_a, "customers", mode="semantic", limit=3)
    assert meaning.mode == "semantic"
    assert all(h.matched_by == {"semantic"} for h in meaning.hits)
    assert [h.semantic_rank for h in meaning.hits] == [1, 2, 3]
    assert meaning.hits[0].score >= meaning.hits[-1].score
    counted = sum(c.count for c in meaning.facets["type"])
    assert counted == meaning.total  # semantic facets count the candidates


async def test_pages_follow_each_other(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID
) -> None:
    hybrid, _ = search
    await _index(search, samples.catalog(tenant_a))
    for mode in MODES:
        first = await hybrid.search(tenant_a, "customer", mode=mode, limit=2)
        assert first.next_offset == 2
        rest = await hybrid.search(tenant_a, "customer", mode=mode, limit=50, offset=2)
        assert rest.next_offset is None
        ids = [h.asset_id for h in first.hits + rest.hits]
        assert len(ids) == len(set(ids)) == first.total


async def test_empty_queries_browse_or_are_refused(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID
) -> None:
    hybrid, _ = search
    await _index(search, samples.catalog(tenant_a))
    browse = await hybrid.search(tenant_a, "  ", filters=SearchFilters(tags=frozenset({"pii"})))
    assert {h.asset_id for h in browse.hits} == {CUSTOMERS, CONTACTS}
    with pytest.raises(InvalidSearch):
        await hybrid.search(tenant_a, "", mode="semantic")
    with pytest.raises(InvalidSearch):
        await hybrid.search(tenant_a, "x" * 1000)


@pytest.mark.parametrize("mode", MODES)
async def test_filters_apply_in_every_mode(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID, mode: Mode
) -> None:
    await _index(search, samples.catalog(tenant_a))
    pii = SearchFilters(tags=frozenset({"pii"}))
    ids = await _ids(search[0], tenant_a, "customer contact email", mode=mode, filters=pii)
    assert ids
    assert set(ids) <= {CUSTOMERS, CONTACTS}


async def test_tenant_b_never_sees_tenant_a_in_any_mode(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID, tenant_b: UUID
) -> None:
    secret = build_document(
        tenant_a,
        100,
        1,
        type="table",
        name="executive_salaries",
        qualified_name="hr.executive_salaries",
        description="Pay of every executive, confidential.",
    )
    # Same asset ids, same text, so the same vectors, in both tenants; the secret only in A.
    await _index(search, [*samples.catalog(tenant_a), secret, *samples.catalog(tenant_b)])
    for mode in MODES:
        for query in ("executive_salaries", "how much do the bosses earn", "customer", ""):
            if mode == "semantic" and not query:
                continue
            ids = await _ids(search[0], tenant_b, query, mode=mode)
            assert 100 not in ids, (mode, query)
    # Tenant A does find it: by name in the text modes, by meaning in the semantic modes.
    text_modes: tuple[Mode, ...] = ("fulltext", "hybrid")
    for mode in text_modes:
        assert (await _ids(search[0], tenant_a, "executive_salaries", mode=mode))[0] == 100
    meaning_modes: tuple[Mode, ...] = ("semantic", "hybrid")
    for mode in meaning_modes:
        found = await _ids(search[0], tenant_a, "how much do the bosses earn", mode=mode)
        assert 100 in found[:5]


async def test_a_deleted_asset_never_appears(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID
) -> None:
    await _index(search, samples.catalog(tenant_a))
    await _delete(search, tenant_a, CONTACTS)
    for mode in MODES:
        for query in ("contacts", "customer email addresses", "crm.contacts"):
            assert CONTACTS not in await _ids(search[0], tenant_a, query, mode=mode)
    # The upsert that preceded the delete arrives late and changes nothing.
    await _index(search, samples.catalog(tenant_a, version=2)[CONTACTS - 1 : CONTACTS])
    for mode in MODES:
        assert CONTACTS not in await _ids(search[0], tenant_a, "crm.contacts", mode=mode)


async def test_retagging_is_reflected_in_every_mode(
    search: tuple[HybridSearch, TantivyEngine], tenant_a: UUID
) -> None:
    await _index(search, samples.catalog(tenant_a))
    retagged = build_document(
        tenant_a,
        REVENUE,
        2,
        type="dashboard",
        name="revenue_by_region",
        qualified_name="bi.revenue_by_region",
        description="Daily revenue broken down by sales region.",
        tags=[("finance", "Domain")],
    )
    await _index(search, [retagged])
    finance = SearchFilters(tags=frozenset({"finance"}))
    for mode in MODES:
        assert await _ids(search[0], tenant_a, "revenue", mode=mode, filters=finance) == [REVENUE]
