"""Discovery search: full-text, semantic or hybrid, faceted, hydrated from Postgres.

The engines answer with asset ids, scoped to the caller's tenant; every hit is then read from
Postgres under the caller's tenant, so an asset that is deleted (or, were an index ever wrong,
foreign) never appears, even while an index still holds it.

Cursors are opaque. One encodes a position in the ranking of one query (its text, mode and
filters; a cursor used with another query is refused) as it stands when the next page is asked
for: the ranking is not frozen, so an index update between two pages can shift hits across the
page boundary. Paging stops at the 10,000th full-text hit and at the fused window (1,000) in the
other modes. A page may hold fewer than ``limit`` hits when the index still holds assets that
Postgres no longer shows; ``next_cursor`` is null on the last page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from headwater.api.deps import ReadSession, State
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog import hydrate
from headwater.catalog.errors import HeadwaterError, Unprocessable
from headwater.catalog.hydrate import AssetSummary
from headwater.search.fulltext import (
    FACET_FIELDS,
    MAX_QUERY_CHARS,
    InvalidSearch,
    SearchFilters,
    query_words,
)
from headwater.search.hybrid import HybridSearch, Mode

router = APIRouter(prefix="/search", tags=["search"], route_class=StrictJSONRoute)

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 20
MAX_FILTER_VALUES: Final = 20
# Extra engine hits asked for per page, so a page stays full when hydration drops a few.
_SLACK: Final = 10
_CURSOR_VERSION: Final = 1
# Full-text engines page no deeper (Elasticsearch's max_result_window).
MAX_RESULT_WINDOW: Final = 10_000


class SearchUnavailable(HeadwaterError):
    status_code = 503
    title = "Search unavailable"


def search_engine(state: State) -> HybridSearch:
    if state.search is None:
        raise SearchUnavailable("this server runs without search mirrors")
    return state.search


Search = Annotated[HybridSearch, Depends(search_engine)]


class HighlightOut(BaseModel):
    field: Literal["description", "columns"]
    fragment: str
    ranges: list[tuple[int, int]] = Field(
        description="matched [start, end) character offsets into fragment"
    )


class EngineMatch(BaseModel):
    rank: int
    score: float


class HitOut(BaseModel):
    asset: AssetSummary
    score: float = Field(description="BM25 (fulltext), cosine (semantic) or fused RRF (hybrid)")
    matched_by: list[Literal["fulltext", "semantic"]]
    fulltext: EngineMatch | None
    semantic: EngineMatch | None
    highlights: list[HighlightOut]


class FacetOut(BaseModel):
    value: str
    count: int


class SearchOut(BaseModel):
    query: str
    mode: Mode
    limit: int
    total: int = Field(
        description="matching documents (fulltext) or fused candidates (semantic, hybrid), "
        "as the index counts them"
    )
    hits: list[HitOut]
    facets: dict[str, list[FacetOut]]
    next_cursor: str | None


def _fingerprint(q: str, mode: str, filters: SearchFilters) -> str:
    canonical = json.dumps(
        [
            q,
            mode,
            sorted(filters.types),
            sorted(filters.tags),
            sorted(filters.tag_categories),
            sorted(filters.owners),
        ]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"v": _CURSOR_VERSION, "o": offset, "q": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        offset = data["o"]
        valid = data["v"] == _CURSOR_VERSION and isinstance(offset, int) and offset >= 0
    except (binascii.Error, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise _invalid("cursor", "not a cursor this server issued")
    if data["q"] != fingerprint:
        raise _invalid(
            "cursor",
            "the cursor belongs to another query: resend the same q, mode "
            "and filters, or drop the cursor",
        )
    return int(offset)


def _invalid(param: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors=[{"loc": ["query", param], "msg": message}])


def _values(param: str, values: list[str] | None) -> frozenset[str]:
    if not values:
        return frozenset()
    if len(values) > MAX_FILTER_VALUES:
        raise _invalid(param, f"at most {MAX_FILTER_VALUES} values per filter")
    return frozenset(v.strip() for v in values if v.strip())


FilterValues = Annotated[list[Annotated[str, Field(max_length=320)]] | None, Query()]


@router.get("")
async def search(
    session: ReadSession,
    engine: Search,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="what to look for")],
    mode: Mode = "hybrid",
    type: FilterValues = None,
    tag: FilterValues = None,
    tag_category: FilterValues = None,
    owner: FilterValues = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> SearchOut:
    """Find assets by name, columns, tags or meaning. Filters are OR within a facet (``type=table
    &type=view``) and AND across facets; facets count the matches per value."""
    query = q.strip()
    if not query:
        raise _invalid("q", "the query is empty: say what to look for")
    try:
        words = query_words(query)
    except InvalidSearch as e:
        raise _invalid("q", str(e)) from e
    if not words:
        raise _invalid("q", "the query has no words or numbers to search for")
    filters = SearchFilters(
        types=_values("type", type),
        tags=_values("tag", tag),
        tag_categories=_values("tag_category", tag_category),
        owners=_values("owner", owner),
    )
    fingerprint = _fingerprint(query, mode, filters)
    offset = 0 if cursor is None else decode_cursor(cursor, fingerprint)
    # The slack never pushes a request past the engines' paging bound on its own.
    fetch = max(limit, min(limit + _SLACK, MAX_RESULT_WINDOW - offset))
    try:
        results = await engine.search(
            session.actor.tenant_id, query, mode=mode, filters=filters, limit=fetch, offset=offset
        )
    except InvalidSearch as e:
        raise _invalid("cursor" if offset else "q", str(e)) from e
    assets = await hydrate.assets_by_id(session.conn, [h.asset_id for h in results.hits])
    hits: list[HitOut] = []
    consumed = 0
    for hit in results.hits:
        if len(hits) == limit:
            break
        consumed += 1
        asset = assets.get(hit.asset_id)
        if asset is None:  # deleted since the index saw it: Postgres decides
            continue
        hits.append(
            HitOut(
                asset=asset,
                score=hit.score,
                matched_by=sorted(hit.matched_by),
                fulltext=None
                if hit.fulltext_rank is None or hit.fulltext_score is None
                else EngineMatch(rank=hit.fulltext_rank, score=hit.fulltext_score),
                semantic=None
                if hit.semantic_rank is None or hit.semantic_score is None
                else EngineMatch(rank=hit.semantic_rank, score=hit.semantic_score),
                highlights=[
                    HighlightOut(field=h.field, fragment=h.fragment, ranges=list(h.ranges))
                    for h in hit.highlights
                ],
            )
        )
    more = consumed < len(results.hits) or results.next_offset is not None
    return SearchOut(
        query=query,
        mode=mode,
        limit=limit,
        total=results.total,
        hits=hits,
        facets={
            facet: [FacetOut(value=f.value, count=f.count) for f in results.facets.get(facet, [])]
            for facet in FACET_FIELDS
        },
        next_cursor=encode_cursor(offset + consumed, fingerprint) if more else None,
    )
