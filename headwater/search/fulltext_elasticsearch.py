"""The server full-text engine: Elasticsearch 8/9 through the official async client.

One index holds every tenant. Documents are routed by tenant (a tenant's documents share a
shard, and its searches touch only that shard) and every query filters on ``tenant_id`` as well,
since a shard holds many tenants.

Versions: every write is an ``index`` action with ``version_type=external`` and the document's
version, so Elasticsearch itself drops a write that is not newer than the stored document
(HTTP 409 for that item: counted as stale, not an error). A delete writes a tombstone document
(``deleted: true`` and the version) rather than deleting: Elasticsearch forgets a real delete's
version after ``index.gc_deletes`` (60 s), after which a late, older write would resurrect the
asset. Every search requires ``deleted: false``.

Bulk writes check every item: 2xx applied, 409 stale, 429 and 5xx retried (only those items,
with exponential backoff), anything else raises :class:`~headwater.search.fulltext.IndexWriteError`
once the whole batch has been tried (the sink retries the batch; versions make it idempotent).

Mapping (explicit, ``dynamic: strict``): names, qualified names, column names and tags are
indexed as words (``hw_words``: standard tokenizer, lower-cased, ASCII-folded) with an
edge-n-gram sub-field for prefix matches; the unsplit name and qualified name as lower-cased
keywords for exact matches; descriptions, column text and metadata text with ``hw_english``
(Elasticsearch's ``english`` analyzer plus underscore splitting and ASCII folding); facets as
keywords.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from elasticsearch import AsyncElasticsearch, BadRequestError

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
    IndexWriteError,
    SearchFilters,
    WriteResult,
    content_words,
    fuzzy_distance,
    query_words,
    validate_page,
)
from headwater.search.fulltext_tantivy import (
    EXACT_BOOST,
    FUZZY_SCORES,
    PREFIX_SCORES,
    SNIPPET_CHARS,
    TIE_BREAKER,
    WORD_BOOSTS,
)

__all__ = ["DEFAULT_INDEX", "ElasticsearchEngine", "connect"]

DEFAULT_INDEX: Final = "headwater-assets"
RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS: Final = 5
# Documents per page when listing a tenant's whole index (reconcile).
_SCAN_PAGE: Final = 5000
BACKOFF_SECONDS: Final = 0.5
# Markers the highlighter wraps matches in; private-use characters cannot occur in real text
# that matters, and are stripped from the fragment when the ranges are computed.
_PRE: Final = "\ue000"
_POST: Final = "\ue001"

# Tantivy field name -> Elasticsearch field name.
_FIELDS: Final[Mapping[str, str]] = {
    "name": "name",
    "qualified_name": "qualified_name",
    "column_names": "column_names",
    "tags_text": "tags_text",
    "columns": "column_text",
    "description": "description",
    "metadata": "metadata_text",
}
_FACET_SOURCES: Final[Mapping[FacetName, str]] = {
    "type": "type",
    "tag": "tags",
    "tag_category": "tag_categories",
    "owner": "owners",
}

_WORDS_WITH_PREFIX: Final = {
    "type": "text",
    "analyzer": "hw_words",
    "fields": {"prefix": {"type": "text", "analyzer": "hw_prefix", "search_analyzer": "hw_words"}},
}

INDEX_SETTINGS: Final[Mapping[str, Any]] = {
    "analysis": {
        # Column text keeps column names as written ("phone_number"); the standard tokenizer
        # would keep them whole, so underscores become spaces first (offsets are preserved).
        "char_filter": {"hw_underscore": {"type": "mapping", "mappings": ["_ => \\u0020"]}},
        "filter": {
            "hw_edge": {"type": "edge_ngram", "min_gram": 2, "max_gram": 20},
            "hw_possessive": {"type": "stemmer", "language": "possessive_english"},
            "hw_stop": {"type": "stop", "stopwords": "_english_"},
            "hw_stemmer": {"type": "stemmer", "language": "english"},
        },
        "analyzer": {
            # The built-in english analyzer, rebuilt with underscore splitting and ASCII folding.
            "hw_english": {
                "type": "custom",
                "char_filter": ["hw_underscore"],
                "tokenizer": "standard",
                "filter": [
                    "hw_possessive",
                    "lowercase",
                    "asciifolding",
                    "hw_stop",
                    "hw_stemmer",
                ],
            },
            "hw_words": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            },
            "hw_prefix": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "hw_edge"],
            },
        },
        "normalizer": {
            "hw_lower": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
        },
    },
}

INDEX_MAPPINGS: Final[Mapping[str, Any]] = {
    "dynamic": "strict",
    "_routing": {"required": True},
    "properties": {
        "tenant_id": {"type": "keyword"},
        "asset_id": {"type": "long"},
        "version": {"type": "long"},
        "deleted": {"type": "boolean"},
        "type": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "tag_categories": {"type": "keyword"},
        "owners": {"type": "keyword"},
        "name_exact": {"type": "keyword", "normalizer": "hw_lower", "ignore_above": 1000},
        "qualified_name_exact": {
            "type": "keyword",
            "normalizer": "hw_lower",
            "ignore_above": 2000,
        },
        "name": _WORDS_WITH_PREFIX,
        "column_names": _WORDS_WITH_PREFIX,
        "qualified_name": {"type": "text", "analyzer": "hw_words"},
        "tags_text": {"type": "text", "analyzer": "hw_words"},
        "description": {"type": "text", "analyzer": "hw_english"},
        "column_text": {"type": "text", "analyzer": "hw_english"},
        "metadata_text": {"type": "text", "analyzer": "hw_english"},
    },
}


def connect(url: str, **options: Any) -> AsyncElasticsearch:
    """An async client on httpx (already a dependency), retrying whole requests on transport
    errors and overload; item-level retries are the engine's job."""
    options.setdefault("node_class", "httpxasync")
    options.setdefault("max_retries", 3)
    options.setdefault("retry_on_timeout", True)
    options.setdefault("retry_on_status", (429, 502, 503, 504))
    options.setdefault("request_timeout", 30)
    return AsyncElasticsearch(url, **options)


def _source(doc: SearchDocument) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tenant_id": str(doc.tenant_id),
        "asset_id": doc.asset_id,
        "version": doc.version,
        "deleted": doc.deleted,
    }
    if doc.deleted:
        return base
    return base | {
        "type": doc.type,
        "tags": list(doc.tags),
        "tag_categories": list(doc.tag_categories),
        "owners": list(doc.owners),
        "name_exact": doc.name,
        "qualified_name_exact": doc.qualified_name,
        "name": doc.name_words,
        "qualified_name": doc.qualified_name_words,
        "column_names": [identifier_words(c) for c in doc.column_names],
        "tags_text": [identifier_words(t) for t in doc.tags + doc.tag_categories],
        "description": doc.description,
        "column_text": doc.column_text,
        "metadata_text": doc.metadata_text,
    }


def _highlight(label: str, marked: str) -> Highlight | None:
    fragment: list[str] = []
    ranges: list[tuple[int, int]] = []
    length = 0
    start = -1
    for char in marked:
        if char == _PRE:
            start = length
        elif char == _POST:
            if start >= 0:
                ranges.append((start, length))
            start = -1
        else:
            fragment.append(char)
            length += 1
    if not ranges:
        return None
    return Highlight(
        "columns" if label == "column_text" else "description", "".join(fragment), tuple(ranges)
    )


class ElasticsearchEngine:
    """Full-text search in an Elasticsearch index (created by :meth:`ensure_index`)."""

    name = "elasticsearch"

    def __init__(self, client: AsyncElasticsearch, *, index: str = DEFAULT_INDEX) -> None:
        self._client = client
        self._index = index

    async def ensure_index(self, *, shards: int = 1, replicas: int = 0) -> None:
        """Create the index with its mapping unless it exists (safe to race)."""
        if await self._client.indices.exists(index=self._index):
            return
        settings = dict(INDEX_SETTINGS) | {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
        }
        try:
            await self._client.indices.create(
                index=self._index, settings=settings, mappings=INDEX_MAPPINGS
            )
        except BadRequestError as e:
            if e.error != "resource_already_exists_exception":
                raise

    async def delete_index(self) -> None:
        await self._client.indices.delete(index=self._index, ignore_unavailable=True)

    # --- writes --------------------------------------------------------------------------------

    async def upsert(self, docs: Sequence[SearchDocument]) -> WriteResult:
        newest: dict[str, SearchDocument] = {}
        for doc in docs:
            held = newest.get(doc.key)
            if held is None or doc.version > held.version:
                newest[doc.key] = doc
        result = WriteResult(stale=len(docs) - len(newest))
        pending = list(newest.values())
        failures: list[str] = []
        for attempt in range(MAX_ATTEMPTS):
            if not pending:
                break
            if attempt:
                await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            operations: list[Mapping[str, Any]] = []
            for doc in pending:
                operations.append(
                    {
                        "index": {
                            "_index": self._index,
                            "_id": doc.key,
                            "routing": str(doc.tenant_id),
                            "version": doc.version,
                            "version_type": "external",
                        }
                    }
                )
                operations.append(_source(doc))
            response = await self._client.bulk(operations=operations)
            retry: list[SearchDocument] = []
            for doc, item in zip(pending, response["items"], strict=True):
                outcome = item["index"]
                status = int(outcome["status"])
                if 200 <= status < 300:
                    result += WriteResult(applied=1)
                elif status == 409:
                    result += WriteResult(stale=1)
                elif status in RETRYABLE:
                    retry.append(doc)
                else:
                    failures.append(f"{doc.key}: {status} {outcome.get('error')}")
            pending = retry
        if pending:
            failures.extend(
                f"{d.key}: still failing after {MAX_ATTEMPTS} attempts" for d in pending
            )
        if failures:
            raise IndexWriteError(
                f"{len(failures)} document(s) were not indexed: " + "; ".join(failures[:5])
            )
        return result

    async def delete(self, tenant_id: UUID, versions: Mapping[int, int]) -> WriteResult:
        return await self.upsert(
            [SearchDocument.tombstone(tenant_id, a, v) for a, v in versions.items()]
        )

    async def refresh(self) -> None:
        await self._client.indices.refresh(index=self._index)

    async def drop_tenant(self, tenant_id: UUID) -> None:
        await self._client.delete_by_query(
            index=self._index,
            query={"term": {"tenant_id": str(tenant_id)}},
            routing=str(tenant_id),
            conflicts="proceed",
            refresh=True,
        )

    async def close(self) -> None:
        await self._client.close()

    # --- reads ---------------------------------------------------------------------------------

    async def held_versions(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        if not asset_ids:
            return {}
        response = await self._client.mget(
            index=self._index,
            ids=[f"{tenant_id}:{a}" for a in asset_ids],
            routing=str(tenant_id),
            source=False,
        )
        return {
            int(doc["_id"].rsplit(":", 1)[1]): int(doc["_version"])
            for doc in response["docs"]
            if doc.get("found")
        }

    @staticmethod
    def _filter(tenant_id: UUID, filters: SearchFilters) -> list[dict[str, Any]]:
        clauses: list[dict[str, Any]] = [
            {"term": {"tenant_id": str(tenant_id)}},
            {"term": {"deleted": False}},
        ]
        for values, field_name in (
            (filters.types, "type"),
            (filters.tags, "tags"),
            (filters.tag_categories, "tag_categories"),
            (filters.owners, "owners"),
        ):
            if values:
                clauses.append({"terms": {field_name: sorted(values)}})
        return clauses

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        # search_after over the asset id: unlike from/size it is not capped at 10,000 hits.
        found: dict[int, int] = {}
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "index": self._index,
                "routing": str(tenant_id),
                "query": {"bool": {"filter": self._filter(tenant_id, NO_FILTERS)}},
                "sort": [{"asset_id": "asc"}],
                "size": _SCAN_PAGE,
                "source": ["asset_id"],
                "version": True,
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            hits = (await self._client.search(**body))["hits"]["hits"]
            for hit in hits:
                found[int(hit["_source"]["asset_id"])] = int(hit["_version"])
            if len(hits) < _SCAN_PAGE:
                return found
            after = hits[-1]["sort"]

    async def count(self, tenant_id: UUID) -> int:
        response = await self._client.count(
            index=self._index,
            query={"bool": {"filter": self._filter(tenant_id, NO_FILTERS)}},
            routing=str(tenant_id),
        )
        return int(response["count"])

    @staticmethod
    def _text_query(query: str) -> dict[str, Any] | None:
        """The same scoring structure as the tantivy engine (see its module)."""
        words = query_words(query)
        if not words:
            return None
        exact = query.strip()
        should: list[dict[str, Any]] = [
            {"term": {f: {"value": exact, "boost": EXACT_BOOST}}}
            for f in ("name_exact", "qualified_name_exact")
        ]
        for word in content_words(words):
            per_field: list[dict[str, Any]] = [
                {"match": {_FIELDS[f]: {"query": word, "boost": boost}}}
                for f, boost in WORD_BOOSTS.items()
            ]
            if len(word) >= 3:
                per_field.extend(
                    {
                        "constant_score": {
                            "filter": {"match": {f"{_FIELDS[f]}.prefix": word}},
                            "boost": score,
                        }
                    }
                    for f, score in PREFIX_SCORES.items()
                )
            distance = fuzzy_distance(word)
            if distance:
                per_field.extend(
                    {
                        "constant_score": {
                            "filter": {
                                "match": {_FIELDS[f]: {"query": word, "fuzziness": distance}}
                            },
                            "boost": score,
                        }
                    }
                    for f, score in FUZZY_SCORES.items()
                )
            should.append({"dis_max": {"queries": per_field, "tie_breaker": TIE_BREAKER}})
        return {"bool": {"should": should, "minimum_should_match": 1}}

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
        text = self._text_query(query)
        bool_query: dict[str, Any] = {"filter": self._filter(tenant_id, filters)}
        if text is not None:
            bool_query["must"] = [text]
        body: dict[str, Any] = {
            "index": self._index,
            "routing": str(tenant_id),
            "query": {"bool": bool_query},
            "from_": offset,
            "size": limit,
            "track_total_hits": True,
            "source": ["asset_id"],
        }
        if facet_size:
            body["aggs"] = {
                facet: {"terms": {"field": _FACET_SOURCES[facet], "size": facet_size}}
                for facet in FACET_FIELDS
            }
        if highlight and text is not None and limit:
            body["highlight"] = {
                "pre_tags": [_PRE],
                "post_tags": [_POST],
                "fragment_size": SNIPPET_CHARS,
                "number_of_fragments": 1,
                "fields": {"description": {}, "column_text": {}},
            }
        response = await self._client.search(**body)
        hits: list[FullTextHit] = []
        for hit in response["hits"]["hits"]:
            highlights = []
            for label in ("description", "column_text"):
                for marked in hit.get("highlight", {}).get(label, [])[:1]:
                    found = _highlight(label, marked)
                    if found is not None:
                        highlights.append(found)
            hits.append(
                FullTextHit(
                    int(hit["_source"]["asset_id"]),
                    float(hit["_score"] or 0.0),
                    tuple(highlights),
                )
            )
        facets: dict[FacetName, list[FacetCount]] = {}
        aggregations = response.get("aggregations") or {}
        for facet in FACET_FIELDS if facet_size else ():
            facets[facet] = [
                FacetCount(str(b["key"]), int(b["doc_count"]))
                for b in aggregations.get(facet, {}).get("buckets", [])
            ]
        return FullTextResult(
            hits=hits, total=int(response["hits"]["total"]["value"]), facets=facets
        )
