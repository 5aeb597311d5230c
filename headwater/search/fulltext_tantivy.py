"""The embedded full-text engine: one tantivy index on disk, shared by every tenant.

Each asset has exactly one document, keyed ``tenant:asset``: its live state or its tombstone.
The version guard's state lives in the index itself: every document (tombstones included) stores
its version, a write first reads the held versions of its batch (one query per tenant) and
writes only the newer documents, deleting the old one by key and adding the new one in the same
commit. Writes hold a lock and commit before they return, so the held state is always
committed state. Tombstones carry no text, and every search requires ``deleted = false``, so
they are never found.

Analysis: names, qualified names, column names and tags are split into words (punctuation,
underscores and camel case, see :func:`~headwater.search.documents.identifier_words`),
lower-cased and ASCII-folded, never stemmed (so typo matching compares real words);
descriptions, column text and metadata text are also stemmed (English) with stop words removed.
An extra lower-cased, unsplit copy of the name and qualified name serves exact-name matches.

One process writes (the sync worker, or the single embedded process); tantivy's lock file
refuses a second writer. Readers reload when a commit lands.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Literal
from uuid import UUID

import tantivy
from tantivy import Filter, Occur, Query, TextAnalyzer, TextAnalyzerBuilder, Tokenizer

from headwater.search.documents import SearchDocument, identifier_words
from headwater.search.fulltext import (
    DEFAULT_FACET_SIZE,
    FACET_FIELDS,
    NO_FILTERS,
    FacetCount,
    FacetName,
    FullTextHit,
    FullTextResult,
    Highlight,
    SearchFilters,
    WriteResult,
    content_words,
    fuzzy_distance,
    query_words,
    validate_page,
)

__all__ = ["TantivyEngine"]

_WORDS: Final = "hw_words"
_STEM: Final = "hw_stem"
_EXACT: Final = "hw_exact"

# Field boosts (multipliers of BM25) and constant scores of prefix / typo matches. An exact name
# match outranks any combination of word matches; a prefix or typo match ranks below the same
# word matched exactly.
EXACT_BOOST: Final = 20.0
WORD_BOOSTS: Final[Mapping[str, float]] = {
    "name": 4.0,
    "qualified_name": 2.0,
    "column_names": 2.0,
    "tags_text": 2.0,
    "columns": 1.2,
    "description": 1.0,
    "metadata": 0.5,
}
PREFIX_SCORES: Final[Mapping[str, float]] = {"name": 1.5, "column_names": 0.75}
FUZZY_SCORES: Final[Mapping[str, float]] = {"name": 1.0, "column_names": 0.5}
TIE_BREAKER: Final = 0.2
_STEMMED_FIELDS: Final = frozenset({"columns", "description", "metadata"})
_FACET_SOURCES: Final[Mapping[FacetName, str]] = {
    "type": "type",
    "tag": "tags",
    "tag_category": "tag_categories",
    "owner": "owners",
}
_HIGHLIGHT_FIELDS: Final[tuple[tuple[Literal["description", "columns"], str], ...]] = (
    ("description", "description"),
    ("columns", "columns"),
)
SNIPPET_CHARS: Final = 200
_PREFIX_EXPANSIONS: Final = 8


def _analyzers() -> dict[str, TextAnalyzer]:
    def base(tokenizer: Tokenizer) -> TextAnalyzerBuilder:
        return (
            TextAnalyzerBuilder(tokenizer).filter(Filter.remove_long(60)).filter(Filter.lowercase())
        )

    return {
        _WORDS: base(Tokenizer.simple()).filter(Filter.ascii_fold()).build(),
        _STEM: base(Tokenizer.simple())
        .filter(Filter.ascii_fold())
        .filter(Filter.stopword("english"))
        .filter(Filter.stemmer("english"))
        .build(),
        _EXACT: TextAnalyzerBuilder(Tokenizer.raw()).filter(Filter.lowercase()).build(),
    }


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("key", tokenizer_name="raw")
    sb.add_text_field("tenant_id", tokenizer_name="raw")
    sb.add_integer_field("asset_id", stored=True, indexed=True, fast=True)
    sb.add_integer_field("version", indexed=True, fast=True)
    sb.add_boolean_field("deleted", indexed=True, fast=True)
    for facet_field in _FACET_SOURCES.values():
        sb.add_text_field(facet_field, tokenizer_name="raw", fast=True)
    sb.add_text_field("name_exact", tokenizer_name=_EXACT)
    sb.add_text_field("qualified_name_exact", tokenizer_name=_EXACT)
    for words_field in ("name", "qualified_name", "column_names", "tags_text"):
        sb.add_text_field(words_field, tokenizer_name=_WORDS)
    # Stored for snippets.
    sb.add_text_field("description", stored=True, tokenizer_name=_STEM)
    sb.add_text_field("columns", stored=True, tokenizer_name=_STEM)
    sb.add_text_field("metadata", tokenizer_name=_STEM)
    return sb.build()


def _to_tantivy(doc: SearchDocument) -> tantivy.Document:
    out = tantivy.Document()
    out.add_text("key", doc.key)
    out.add_text("tenant_id", str(doc.tenant_id))
    out.add_integer("asset_id", doc.asset_id)
    out.add_integer("version", doc.version)
    out.add_boolean("deleted", doc.deleted)
    if doc.deleted:
        return out
    if doc.type:
        out.add_text("type", doc.type)
    for values, field_name in (
        (doc.tags, "tags"),
        (doc.tag_categories, "tag_categories"),
        (doc.owners, "owners"),
    ):
        for value in values:
            out.add_text(field_name, value)
    texts: dict[str, list[str]] = {
        "name_exact": [doc.name],
        "qualified_name_exact": [doc.qualified_name],
        "name": [doc.name_words],
        "qualified_name": [doc.qualified_name_words],
        "column_names": [identifier_words(c) for c in doc.column_names],
        "tags_text": [identifier_words(t) for t in doc.tags + doc.tag_categories],
        "description": [doc.description],
        "columns": [doc.column_text],
        "metadata": [doc.metadata_text],
    }
    for field_name, field_values in texts.items():
        for value in field_values:
            if value:
                out.add_text(field_name, value)
    return out


def _char_ranges(
    fragment: str, byte_ranges: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    """tantivy reports UTF-8 byte offsets; Python strings index characters."""
    raw = fragment.encode()
    return tuple(
        (len(raw[:start].decode(errors="ignore")), len(raw[:end].decode(errors="ignore")))
        for start, end in byte_ranges
    )


def _count(result: tantivy.SearchResult) -> int:
    # ``count`` exists when searching with count=True, but tantivy's type stubs omit it.
    count = getattr(result, "count", None)
    return int(count) if count is not None else 0


class TantivyEngine:
    """Full-text search over a tantivy index in ``directory`` (created when missing)."""

    name = "tantivy"

    def __init__(self, directory: Path, *, writer_heap_bytes: int = 64_000_000) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # True when this call created the index: whatever a checkpoint says it holds, it is empty.
        self.created = not (directory / "meta.json").exists()
        self._schema = _schema()
        self._index = tantivy.Index(self._schema, path=str(directory), reuse=True)
        self._analyzers = _analyzers()
        for tokenizer_name, analyzer in self._analyzers.items():
            self._index.register_tokenizer(tokenizer_name, analyzer)
        self._heap = writer_heap_bytes
        self._writer: tantivy.IndexWriter | None = None
        self._write_lock = threading.Lock()

    # --- writes --------------------------------------------------------------------------------

    async def upsert(self, docs: Sequence[SearchDocument]) -> WriteResult:
        if not docs:
            return WriteResult()
        return await asyncio.to_thread(self._write, docs)

    async def delete(self, tenant_id: UUID, versions: Mapping[int, int]) -> WriteResult:
        return await self.upsert(
            [SearchDocument.tombstone(tenant_id, a, v) for a, v in versions.items()]
        )

    async def refresh(self) -> None:
        # Writes commit and reload before they return; this picks up another process's commits.
        self._index.reload()

    async def drop_tenant(self, tenant_id: UUID) -> None:
        await asyncio.to_thread(self._drop_tenant, tenant_id)

    async def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    def _writer_or_open(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=self._heap, num_threads=1)
        return self._writer

    def _write(self, docs: Sequence[SearchDocument]) -> WriteResult:
        newest: dict[str, SearchDocument] = {}
        for doc in docs:
            held = newest.get(doc.key)
            if held is None or doc.version > held.version:
                newest[doc.key] = doc
        stale = len(docs) - len(newest)
        with self._write_lock:
            by_tenant: dict[UUID, list[SearchDocument]] = defaultdict(list)
            for doc in newest.values():
                by_tenant[doc.tenant_id].append(doc)
            winners: list[SearchDocument] = []
            for tenant_id, tenant_docs in by_tenant.items():
                held_versions = self._held(tenant_id, [d.asset_id for d in tenant_docs])
                for doc in tenant_docs:
                    if doc.version > held_versions.get(doc.asset_id, -1):
                        winners.append(doc)
                    else:
                        stale += 1
            if winners:
                writer = self._writer_or_open()
                for doc in winners:
                    writer.delete_documents_by_term("key", doc.key)
                    writer.add_document(_to_tantivy(doc))
                writer.commit()
                self._index.reload()
        return WriteResult(applied=len(winners), stale=stale)

    def _drop_tenant(self, tenant_id: UUID) -> None:
        with self._write_lock:
            writer = self._writer_or_open()
            writer.delete_documents_by_term("tenant_id", str(tenant_id))
            writer.commit()
            self._index.reload()

    # --- reads ---------------------------------------------------------------------------------

    def _tenant(self, tenant_id: UUID) -> Query:
        return Query.term_query(self._schema, "tenant_id", str(tenant_id))

    def _held(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        if not asset_ids:
            return {}
        searcher = self._index.searcher()
        query = Query.boolean_query(
            [
                (Occur.Must, self._tenant(tenant_id)),
                (Occur.Must, Query.term_set_query(self._schema, "asset_id", list(asset_ids))),
            ]
        )
        hits = searcher.search(query, limit=len(asset_ids), count=False).hits
        addresses = [address for _, address in hits]
        ids = searcher.fast_field_values("asset_id", addresses)
        versions = searcher.fast_field_values("version", addresses)
        return {
            int(a): int(v)
            for a, v in zip(ids, versions, strict=True)
            if a is not None and v is not None
        }

    async def held_versions(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        return self._held(tenant_id, asset_ids)

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        searcher = self._index.searcher()
        live = self._live(tenant_id, NO_FILTERS)
        total = _count(searcher.search(live, limit=1))
        if not total:
            return {}
        addresses = [address for _, address in searcher.search(live, limit=total, count=False).hits]
        ids = searcher.fast_field_values("asset_id", addresses)
        versions = searcher.fast_field_values("version", addresses)
        return {
            int(a): int(v)
            for a, v in zip(ids, versions, strict=True)
            if a is not None and v is not None
        }

    async def count(self, tenant_id: UUID) -> int:
        searcher = self._index.searcher()
        return _count(searcher.search(self._live(tenant_id, NO_FILTERS), limit=1))

    def _live(self, tenant_id: UUID, filters: SearchFilters) -> Query:
        clauses: list[tuple[Occur, Query]] = [
            (Occur.Must, self._tenant(tenant_id)),
            (Occur.Must, Query.term_query(self._schema, "deleted", False)),
        ]
        for values, field_name in (
            (filters.types, "type"),
            (filters.tags, "tags"),
            (filters.tag_categories, "tag_categories"),
            (filters.owners, "owners"),
        ):
            if values:
                clauses.append(
                    (Occur.Must, Query.term_set_query(self._schema, field_name, sorted(values)))
                )
        return Query.boolean_query(clauses)

    def _analyze(self, analyzer: str, word: str) -> str | None:
        tokens = self._analyzers[analyzer].analyze(word)
        return tokens[0] if tokens else None

    def _text_query(self, query: str) -> tuple[Query | None, list[tuple[str, str]]]:
        """The scoring query, and the (field, term) pairs to highlight."""
        words = query_words(query)
        if not words:
            return None, []
        schema = self._schema
        exact = self._analyze(_EXACT, query.strip()) or ""
        clauses: list[tuple[Occur, Query]] = [
            (Occur.Should, Query.boost_query(Query.term_query(schema, f, exact), EXACT_BOOST))
            for f in ("name_exact", "qualified_name_exact")
        ]
        highlight_terms: list[tuple[str, str]] = []
        for word in content_words(words):
            folded = self._analyze(_WORDS, word) or word
            stemmed = self._analyze(_STEM, word)
            per_field: list[Query] = []
            for field_name, boost in WORD_BOOSTS.items():
                term = stemmed if field_name in _STEMMED_FIELDS else folded
                if term is None:
                    continue
                per_field.append(
                    Query.boost_query(Query.term_query(schema, field_name, term), boost)
                )
                if field_name in ("description", "columns"):
                    highlight_terms.append((field_name, term))
            if len(folded) >= 3:
                for field_name, score in PREFIX_SCORES.items():
                    prefix = Query.fuzzy_term_query(
                        schema, field_name, folded, distance=0, prefix=True
                    )
                    per_field.append(Query.const_score_query(prefix, score))
                for field_name in ("description", "columns"):
                    highlight_terms.append((field_name, f"{folded}*"))
            distance = fuzzy_distance(folded)
            if distance:
                for field_name, score in FUZZY_SCORES.items():
                    fuzzy = Query.fuzzy_term_query(schema, field_name, folded, distance=distance)
                    per_field.append(Query.const_score_query(fuzzy, score))
            clauses.append(
                (Occur.Should, Query.disjunction_max_query(per_field, tie_breaker=TIE_BREAKER))
            )
        return Query.boolean_query(clauses), highlight_terms

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
        validate_page(limit, offset, facet_size)
        text, highlight_terms = self._text_query(query)
        live = self._live(tenant_id, filters)
        full = (
            live if text is None else Query.boolean_query([(Occur.Must, live), (Occur.Must, text)])
        )
        searcher = self._index.searcher()
        found = searcher.search(full, limit=max(limit, 1), offset=offset, count=True)
        total = _count(found)
        hits: list[FullTextHit] = []
        if limit:
            pairs = found.hits[:limit]
            ids = searcher.fast_field_values("asset_id", [address for _, address in pairs])
            generators = (
                self._snippet_generators(searcher, tenant_id, highlight_terms)
                if highlight and highlight_terms
                else []
            )
            for (score, address), asset_id in zip(pairs, ids, strict=True):
                assert asset_id is not None  # every document has one
                highlights: tuple[Highlight, ...] = ()
                if generators:
                    highlights = self._highlights(searcher.doc(address), generators)
                hits.append(FullTextHit(int(asset_id), float(score), highlights))
        facets = self._facets(searcher, full, facet_size) if facet_size and total else {}
        return FullTextResult(hits=hits, total=total, facets=facets)

    def _snippet_generators(
        self,
        searcher: tantivy.Searcher,
        tenant_id: UUID,
        terms: list[tuple[str, str]],
    ) -> list[tuple[Literal["description", "columns"], tantivy.SnippetGenerator]]:
        """One snippet generator per highlighted field, over the query's exact terms plus the
        tenant's terms that its prefixes expand to (typo matches are not highlighted)."""
        generators: list[tuple[Literal["description", "columns"], tantivy.SnippetGenerator]] = []
        tenant = self._tenant(tenant_id)
        for label, field_name in _HIGHLIGHT_FIELDS:
            term_queries: list[tuple[Occur, Query]] = []
            for term_field, term in terms:
                if term_field != field_name:
                    continue
                if term.endswith("*"):
                    expansions = searcher.terms_with_prefix(
                        field_name, term[:-1], filter_query=tenant, limit=_PREFIX_EXPANSIONS
                    )
                    expanded = [t for t, _ in expansions]
                else:
                    expanded = [term]
                term_queries.extend(
                    (Occur.Should, Query.term_query(self._schema, field_name, t)) for t in expanded
                )
            if term_queries:
                generator = tantivy.SnippetGenerator.create(
                    searcher, Query.boolean_query(term_queries), self._schema, field_name
                )
                generator.set_max_num_chars(SNIPPET_CHARS)
                generators.append((label, generator))
        return generators

    @staticmethod
    def _highlights(
        doc: tantivy.Document,
        generators: list[tuple[Literal["description", "columns"], tantivy.SnippetGenerator]],
    ) -> tuple[Highlight, ...]:
        out: list[Highlight] = []
        for label, generator in generators:
            snippet = generator.snippet_from_doc(doc)
            byte_ranges = [(r.start, r.end) for r in snippet.highlighted()]
            if byte_ranges:
                fragment = snippet.fragment()
                out.append(Highlight(label, fragment, _char_ranges(fragment, byte_ranges)))
        return tuple(out)

    @staticmethod
    def _facets(
        searcher: tantivy.Searcher, query: Query, size: int
    ) -> dict[FacetName, list[FacetCount]]:
        aggregations = {
            facet: {"terms": {"field": _FACET_SOURCES[facet], "size": size}}
            for facet in FACET_FIELDS
        }
        result = searcher.aggregate(query, aggregations)
        return {
            facet: [
                FacetCount(str(bucket["key"]), int(bucket["doc_count"]))
                for bucket in result.get(facet, {}).get("buckets", [])
            ]
            for facet in FACET_FIELDS
        }
