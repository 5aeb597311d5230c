"""Discovery search: pure engine modules behind small Protocols.

* :mod:`~headwater.search.documents` — the search document of an asset and its embedding text.
* :mod:`~headwater.search.fulltext` — the :class:`FullTextEngine` Protocol and its vocabulary;
  engines in :mod:`~headwater.search.fulltext_tantivy` (embedded, on disk) and
  :mod:`~headwater.search.fulltext_elasticsearch` (servers).
* :mod:`~headwater.search.embeddings` — all-MiniLM-L6-v2, offline, with a hash-keyed cache.
* :mod:`~headwater.search.vectors` — the :class:`VectorEngine` Protocol and its Milvus engine
  (milvus-lite or a server); :mod:`~headwater.search.semantic` keeps it current from documents.
* :mod:`~headwater.search.hybrid` — reciprocal rank fusion and the three search modes.
* :mod:`~headwater.search.source` — documents read from Postgres, and their versions;
  :mod:`~headwater.search.sink` — the sinks that keep both indexes current from the outbox;
  :mod:`~headwater.search.reconcile` — drift checks and rebuilds;
  :mod:`~headwater.search.mirrors` — the engines a process opens, per settings.

Every engine is tenant-scoped and version-guarded (stale writes are ignored, deletes leave
versioned tombstones). Results are asset ids with scores and highlights, which the API hydrates
from Postgres.
"""
