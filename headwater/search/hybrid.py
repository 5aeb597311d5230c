"""Hybrid search: full-text and semantic ranked lists fused by reciprocal rank fusion.

Reciprocal rank fusion scores an asset ``sum(weight / (k + rank))`` over the lists it appears
in (ranks from 1). It needs no score calibration between BM25 and cosine similarity, and an
asset both engines rank well beats one only a single engine found. Each fused hit remembers
which engines matched it, its rank and score in each, and the full-text highlights.

:class:`HybridSearch` answers the three modes over one tenant. The results are asset ids: the
API layer hydrates them from Postgres, which drops anything deleted or foreign that an index
still holds.

Facets: in ``fulltext`` and ``hybrid`` mode they are the full-text engine's counts over every
document matching the query and filters; in ``semantic`` mode (which has no match set, only
nearest neighbours) they count the semantic candidates, from the values stored with the vectors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from uuid import UUID

from headwater.search.fulltext import (
    DEFAULT_FACET_SIZE,
    FACET_FIELDS,
    NO_FILTERS,
    FacetCount,
    FacetName,
    FullTextEngine,
    FullTextHit,
    Highlight,
    InvalidSearch,
    SearchFilters,
    query_words,
    validate_page,
)
from headwater.search.semantic import SemanticIndex
from headwater.search.vectors import VectorHit

__all__ = [
    "DEFAULT_RRF_K",
    "HybridHit",
    "HybridSearch",
    "MatchedBy",
    "Mode",
    "SearchResults",
    "reciprocal_rank_fusion",
]

DEFAULT_RRF_K: Final = 60
# Candidates taken from each engine before fusing; pages beyond it are not reachable in the
# fused modes.
DEFAULT_WINDOW: Final = 100
MAX_WINDOW: Final = 1000
# Nearest neighbours below this cosine similarity are unrelated text for MiniLM; dropping them
# keeps semantic-only noise out of the fused tail.
DEFAULT_MIN_SEMANTIC_SCORE: Final = 0.15

MatchedBy = Literal["fulltext", "semantic"]
Mode = Literal["hybrid", "fulltext", "semantic"]


@dataclass(frozen=True, slots=True)
class HybridHit:
    asset_id: int
    score: float
    matched_by: frozenset[MatchedBy]
    highlights: tuple[Highlight, ...] = ()
    fulltext_rank: int | None = None
    fulltext_score: float | None = None
    semantic_rank: int | None = None
    semantic_score: float | None = None


@dataclass(frozen=True, slots=True)
class SearchResults:
    """One page of hits, best first. ``total`` counts every match in ``fulltext`` mode and the
    fused candidates otherwise; ``next_offset`` is None on the last page."""

    mode: Mode
    hits: list[HybridHit]
    total: int
    next_offset: int | None
    facets: Mapping[FacetName, list[FacetCount]] = field(default_factory=dict)


def reciprocal_rank_fusion(
    fulltext: Sequence[FullTextHit],
    semantic: Sequence[VectorHit],
    *,
    k: int = DEFAULT_RRF_K,
    fulltext_weight: float = 1.0,
    semantic_weight: float = 1.0,
) -> list[HybridHit]:
    """Fuse two ranked lists (best first) into one; ties keep full-text order, then id.

    >>> from headwater.search.fulltext import FullTextHit
    >>> from headwater.search.vectors import VectorHit
    >>> fused = reciprocal_rank_fusion(
    ...     [FullTextHit(1, 9.0), FullTextHit(2, 5.0)], [VectorHit(2, 0.8), VectorHit(3, 0.7)]
    ... )
    >>> [(h.asset_id, sorted(h.matched_by)) for h in fused]
    [(2, ['fulltext', 'semantic']), (1, ['fulltext']), (3, ['semantic'])]
    """
    if k < 1:
        raise InvalidSearch("the fusion constant k must be at least 1")
    scores: dict[int, float] = {}
    text_hits: dict[int, tuple[int, FullTextHit]] = {}
    vector_hits: dict[int, tuple[int, VectorHit]] = {}
    for rank, hit in enumerate(fulltext, start=1):
        if hit.asset_id not in text_hits:
            text_hits[hit.asset_id] = (rank, hit)
            scores[hit.asset_id] = scores.get(hit.asset_id, 0.0) + fulltext_weight / (k + rank)
    for rank, vector_hit in enumerate(semantic, start=1):
        if vector_hit.asset_id not in vector_hits:
            vector_hits[vector_hit.asset_id] = (rank, vector_hit)
            scores[vector_hit.asset_id] = scores.get(vector_hit.asset_id, 0.0) + (
                semantic_weight / (k + rank)
            )

    def order(asset_id: int) -> tuple[float, int, int]:
        text_rank = text_hits[asset_id][0] if asset_id in text_hits else len(fulltext) + 1
        return (-scores[asset_id], text_rank, asset_id)

    fused: list[HybridHit] = []
    for asset_id in sorted(scores, key=order):
        text = text_hits.get(asset_id)
        vector = vector_hits.get(asset_id)
        matched: set[MatchedBy] = set()
        if text:
            matched.add("fulltext")
        if vector:
            matched.add("semantic")
        fused.append(
            HybridHit(
                asset_id=asset_id,
                score=scores[asset_id],
                matched_by=frozenset(matched),
                highlights=text[1].highlights if text else (),
                fulltext_rank=text[0] if text else None,
                fulltext_score=text[1].score if text else None,
                semantic_rank=vector[0] if vector else None,
                semantic_score=vector[1].score if vector else None,
            )
        )
    return fused


def _semantic_facets(hits: Sequence[VectorHit], size: int) -> dict[FacetName, list[FacetCount]]:
    counters: dict[FacetName, Counter[str]] = {facet: Counter() for facet in FACET_FIELDS}
    for hit in hits:
        if hit.type:
            counters["type"][hit.type] += 1
        counters["tag"].update(set(hit.tags))
        counters["tag_category"].update(set(hit.tag_categories))
        counters["owner"].update(set(hit.owners))
    return {
        facet: [
            FacetCount(value, count)
            for value, count in sorted(counter.items(), key=lambda vc: (-vc[1], vc[0]))[:size]
        ]
        for facet, counter in counters.items()
    }


class HybridSearch:
    """Search one tenant in ``fulltext``, ``semantic`` or ``hybrid`` mode."""

    def __init__(
        self,
        fulltext: FullTextEngine,
        semantic: SemanticIndex,
        *,
        rrf_k: int = DEFAULT_RRF_K,
        window: int = DEFAULT_WINDOW,
        min_semantic_score: float | None = DEFAULT_MIN_SEMANTIC_SCORE,
    ) -> None:
        self.fulltext = fulltext
        self.semantic = semantic
        self.rrf_k = rrf_k
        self.window = window
        self.min_semantic_score = min_semantic_score

    async def search(
        self,
        tenant_id: UUID,
        query: str,
        *,
        mode: Mode = "hybrid",
        filters: SearchFilters = NO_FILTERS,
        limit: int = 20,
        offset: int = 0,
        facet_size: int = DEFAULT_FACET_SIZE,
    ) -> SearchResults:
        validate_page(limit, offset, facet_size)
        has_words = bool(query_words(query))
        if mode == "fulltext" or (mode == "hybrid" and not has_words):
            # Browsing (no words) is a full-text listing whatever the mode asked.
            result = await self.fulltext.search(
                tenant_id, query, filters=filters, limit=limit, offset=offset, facet_size=facet_size
            )
            hits = [
                HybridHit(
                    asset_id=h.asset_id,
                    score=h.score,
                    matched_by=frozenset({"fulltext"}),
                    highlights=h.highlights,
                    fulltext_rank=offset + i,
                    fulltext_score=h.score,
                )
                for i, h in enumerate(result.hits, start=1)
            ]
            more = offset + len(hits) < result.total
            return SearchResults(
                "fulltext" if mode == "fulltext" else "hybrid",
                hits,
                result.total,
                offset + len(hits) if more else None,
                result.facets,
            )
        if not has_words:
            raise InvalidSearch("semantic search needs a query with words in it")
        window = min(max(self.window, offset + limit), MAX_WINDOW)
        if offset >= window:
            raise InvalidSearch(f"fused results are limited to the first {window}")
        semantic_hits = (
            await self.semantic.search(
                tenant_id,
                [query],
                limit=window,
                filters=filters,
                min_score=self.min_semantic_score,
            )
        )[0]
        facets: Mapping[FacetName, list[FacetCount]]
        if mode == "semantic":
            fused = [
                HybridHit(
                    asset_id=h.asset_id,
                    score=h.score,
                    matched_by=frozenset({"semantic"}),
                    semantic_rank=rank,
                    semantic_score=h.score,
                )
                for rank, h in enumerate(semantic_hits, start=1)
            ]
            facets = _semantic_facets(semantic_hits, facet_size) if facet_size else {}
        else:
            text = await self.fulltext.search(
                tenant_id, query, filters=filters, limit=window, facet_size=facet_size
            )
            fused = reciprocal_rank_fusion(text.hits, semantic_hits, k=self.rrf_k)
            facets = text.facets
        page = fused[offset : offset + limit]
        end = offset + len(page)
        return SearchResults(mode, page, len(fused), end if end < len(fused) else None, facets)
