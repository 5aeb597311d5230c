"""The full-text engine interface, shared by the embedded engine (tantivy) and Elasticsearch.

Everything is scoped to one tenant: a search names its tenant and can only ever match that
tenant's documents (the engines add the filter themselves; callers cannot forget it).

Why async: the API and the sync worker are asyncio programs and Elasticsearch's client is async.
The tantivy engine answers small calls (a search: well under a millisecond to a few ms) inline
and moves commits (fsync) to a worker thread.

Query semantics, identical in both engines:

* The query is free text, split into words the way names are (``crm.contacts`` -> ``crm``,
  ``contacts``); it is never parsed as a query language, so no input is a syntax error.
* Ranking, best first: the whole query equal to an asset's name or qualified name (ignoring case);
  then word matches, weighted name > qualified name > column names = tags > column text >
  description > metadata text, summed over the query's words (BM25). Each word also matches as a
  prefix of a name or column word ("cust" finds "customers") and with typos (one edit for words
  of 3-5 characters, two from 6: "custmer" finds "customer"), below exact matches.
* An empty query matches every live document of the tenant (browsing by facets).
* Filters: OR within one facet (``types={"table", "view"}``), AND across facets.
* Facets count the live documents matching the query and the filters.
* Highlights are fragments of the description and of the column text with the matched ranges
  (character offsets into the fragment), never markup, so the caller escapes for its medium.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol
from uuid import UUID

from headwater.search.documents import SearchDocument, identifier_words

__all__ = [
    "DEFAULT_FACET_SIZE",
    "FACET_FIELDS",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_WORDS",
    "NO_FILTERS",
    "STOP_WORDS",
    "FacetCount",
    "FacetName",
    "FullTextEngine",
    "FullTextHit",
    "FullTextResult",
    "Highlight",
    "IndexWriteError",
    "InvalidSearch",
    "SearchError",
    "SearchFilters",
    "WriteResult",
    "content_words",
    "fuzzy_distance",
    "query_words",
    "validate_page",
]

FacetName = Literal["type", "tag", "tag_category", "owner"]
FACET_FIELDS: Final[tuple[FacetName, ...]] = ("type", "tag", "tag_category", "owner")
MAX_QUERY_CHARS: Final = 500
MAX_QUERY_WORDS: Final = 32
DEFAULT_FACET_SIZE: Final = 20
# Lucene's English stop words: they match nearly everything, so queries ignore them (unless a
# query has nothing else).
STOP_WORDS: Final = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then"
    " there these they this to was will with".split()
)


class SearchError(Exception):
    """Base of the search layer's errors."""


class InvalidSearch(SearchError, ValueError):
    """The search's parameters are impossible (negative offset, absurd query...): a 422."""


class IndexWriteError(SearchError):
    """An engine refused a write for a reason that retrying will not fix (a mapping error...)."""


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Facet filters: an asset matches when, for every non-empty set, it has one of its values."""

    types: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    tag_categories: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.types or self.tags or self.tag_categories or self.owners)


NO_FILTERS: Final = SearchFilters()


@dataclass(frozen=True, slots=True)
class Highlight:
    """A fragment of one field with the matched ranges, as ``[start, end)`` character offsets."""

    field: Literal["description", "columns"]
    fragment: str
    ranges: tuple[tuple[int, int], ...]

    @property
    def matched(self) -> tuple[str, ...]:
        return tuple(self.fragment[start:end] for start, end in self.ranges)


@dataclass(frozen=True, slots=True)
class FullTextHit:
    asset_id: int
    score: float
    highlights: tuple[Highlight, ...] = ()


@dataclass(frozen=True, slots=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class FullTextResult:
    """One page of hits (best first), the number of matching documents, and facet counts."""

    hits: list[FullTextHit]
    total: int
    facets: Mapping[FacetName, list[FacetCount]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a batch write did: ``applied`` documents, ``stale`` ones ignored by the version guard
    (not newer than the version held: replays and late deliveries, which are expected)."""

    applied: int = 0
    stale: int = 0

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(self.applied + other.applied, self.stale + other.stale)


class FullTextEngine(Protocol):
    """A tenant-scoped full-text index over :class:`SearchDocument` s, kept current by a sink."""

    name: str

    async def upsert(self, docs: Sequence[SearchDocument]) -> WriteResult:
        """Write documents (tombstones included), possibly of several tenants.

        A document is applied only if its version is greater than the one held for its asset
        (live or tombstone); within a batch the highest version of an asset wins.
        """
        ...

    async def delete(self, tenant_id: UUID, versions: Mapping[int, int]) -> WriteResult:
        """Delete assets (``{asset_id: version}``) by writing versioned tombstones."""
        ...

    async def refresh(self) -> None:
        """Make every write so far visible to searches; the sink calls it after each batch."""
        ...

    async def search(
        self,
        tenant_id: UUID,
        query: str,
        *,
        filters: SearchFilters = NO_FILTERS,
        limit: int = 20,
        offset: int = 0,
        facet_size: int = DEFAULT_FACET_SIZE,
        highlight: bool = True,
    ) -> FullTextResult:
        """Live documents of ``tenant_id`` matching ``query`` and ``filters``, best first.

        ``limit`` = 0 returns only ``total`` and the facets; ``facet_size`` = 0 skips facets.
        """
        ...

    async def held_versions(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        """The versions held for these assets (tombstones included), for drift checks."""
        ...

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        """Every live document of the tenant and its version (reconcile's drift check)."""
        ...

    async def count(self, tenant_id: UUID) -> int:
        """Live documents of the tenant."""
        ...

    async def drop_tenant(self, tenant_id: UUID) -> None:
        """Forget every document of the tenant, tombstones included (before a rebuild)."""
        ...

    async def close(self) -> None: ...


def query_words(query: str) -> list[str]:
    """The words of a query, lower-cased, as names are split (the engines' analyzers agree).

    Raises :class:`InvalidSearch` for an absurdly long query.

    >>> query_words("Where is crm.contacts?")
    ['where', 'is', 'crm', 'contacts']
    """
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidSearch(f"the query is longer than {MAX_QUERY_CHARS} characters")
    words = identifier_words(query).split()
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidSearch(f"the query has more than {MAX_QUERY_WORDS} words")
    return words


def content_words(words: list[str]) -> list[str]:
    """The words that carry meaning: stop words dropped, unless nothing else is left.

    >>> content_words(["where", "is", "the", "revenue"])
    ['where', 'revenue']
    """
    return [w for w in words if w not in STOP_WORDS] or words


def fuzzy_distance(word: str) -> int:
    """Edits allowed when matching ``word`` with typos (Elasticsearch's ``AUTO``: 0/1/2)."""
    if len(word) < 3:
        return 0
    return 1 if len(word) < 6 else 2


def validate_page(limit: int, offset: int, facet_size: int) -> None:
    if limit < 0 or offset < 0 or facet_size < 0:
        raise InvalidSearch("limit, offset and facet_size must not be negative")
    if offset + limit > 10_000:
        raise InvalidSearch("results beyond the first 10,000 cannot be paged to")
