"""Relevance of the three search modes over a realistic catalog and labelled queries.

Prints recall@10 and nDCG@10 per mode and per kind of query (run with ``-s`` to see the table),
and checks that hybrid is at least as good as the better single mode, and that natural-language
queries sharing no word with their target's name still find it in the top 5.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args
from uuid import UUID, uuid4

import pytest

from headwater.search.documents import identifier_words
from headwater.search.fulltext import query_words
from headwater.search.fulltext_tantivy import TantivyEngine
from headwater.search.hybrid import HybridSearch, Mode
from headwater.search.semantic import SemanticIndex
from tests.search.catalog_fixture import (
    MARQUEZ_SEED,
    QUERIES,
    LabelledQuery,
    catalog_assets,
    catalog_documents,
)

pytestmark = pytest.mark.skipif(
    not MARQUEZ_SEED.is_file(), reason=f"the Marquez seed is missing at {MARQUEZ_SEED}"
)

MODES: tuple[Mode, ...] = get_args(Mode)
K = 10


def recall_at(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, a in enumerate(ranked[:k]) if a in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal


def test_metrics() -> None:
    assert recall_at([3, 1, 2], {1, 9}) == 0.5
    assert ndcg_at([1, 2], {1}) == 1.0
    assert ndcg_at([2, 1], {1}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at([5, 6], {1}) == 0.0


@dataclass(frozen=True)
class Ranked:
    query: LabelledQuery
    relevant: set[int]
    by_mode: dict[Mode, list[int]]


@pytest.fixture(scope="module")
async def ranked(
    tmp_path_factory: pytest.TempPathFactory, semantic: SemanticIndex
) -> AsyncIterator[list[Ranked]]:
    tenant: UUID = uuid4()
    docs, ids = catalog_documents(tenant)
    fulltext = TantivyEngine(Path(tmp_path_factory.mktemp("relevance")))
    await fulltext.upsert(docs)
    await semantic.upsert(docs)
    await semantic.flush()
    search = HybridSearch(fulltext, semantic)
    results: list[Ranked] = []
    for labelled in QUERIES:
        relevant = {ids[q] for q in labelled.relevant}
        by_mode: dict[Mode, list[int]] = {}
        for mode in MODES:
            found = await search.search(tenant, labelled.query, mode=mode, limit=K)
            by_mode[mode] = [h.asset_id for h in found.hits]
        results.append(Ranked(labelled, relevant, by_mode))
    yield results
    await semantic.vectors.drop_tenant(tenant)
    await fulltext.close()


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def test_the_labelled_set_is_big_enough() -> None:
    assert len(QUERIES) >= 40
    names = {a.qualified_name for a in catalog_assets()}
    for labelled in QUERIES:
        assert set(labelled.relevant) <= names, labelled.query


def test_hybrid_is_at_least_as_good_as_either_mode(ranked: list[Ranked]) -> None:
    kinds = sorted({r.query.kind for r in ranked})
    print(f"\n{'mode':<10}{'kind':<10}{'n':>4}{'recall@10':>11}{'nDCG@10':>9}")
    scores: dict[Mode, tuple[float, float]] = {}
    for mode in MODES:
        for kind in [*kinds, "all"]:
            subset = [r for r in ranked if kind in ("all", r.query.kind)]
            recall = _mean([recall_at(r.by_mode[mode], r.relevant) for r in subset])
            ndcg = _mean([ndcg_at(r.by_mode[mode], r.relevant) for r in subset])
            print(f"{mode:<10}{kind:<10}{len(subset):>4}{recall:>11.3f}{ndcg:>9.3f}")
        scores[mode] = (recall, ndcg)
    for metric in (0, 1):
        best_single = max(scores["fulltext"][metric], scores["semantic"][metric])
        assert scores["hybrid"][metric] >= best_single, scores


def _shares_no_word_with_a_target(r: Ranked) -> bool:
    words = set(query_words(r.query.query))
    return all(
        not words & set(identifier_words(q.rsplit(".", 1)[-1]).split()) for q in r.query.relevant
    )


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_natural_language_finds_targets_without_shared_words(
    ranked: list[Ranked], mode: Mode
) -> None:
    subset = [r for r in ranked if r.query.kind == "natural" and _shares_no_word_with_a_target(r)]
    assert len(subset) >= 15
    missed = [r.query.query for r in subset if not set(r.by_mode[mode][:5]) & r.relevant]
    print(f"\n{mode}: {len(subset) - len(missed)}/{len(subset)} in the top 5; missed {missed}")
    assert len(missed) <= len(subset) // 5, missed
