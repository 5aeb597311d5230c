"""The vector engine interface and its Milvus engine (milvus-lite embedded, or a Milvus server).

One collection holds every tenant's vectors; the tenant is the partition key, so a tenant's
searches touch only its partition, and every search and query carries a ``tenant_id == ...``
filter that callers cannot leave out.

Version order: a row stores the version of the document it was embedded from, and tombstones
are rows too (``deleted = true``, a zero vector, excluded by every search). Before a batch is
written its held versions are read back (one query per tenant, strong consistency) and only
newer records are upserted; writes hold a lock, so within a process the check and the write
cannot interleave. Across processes this relies on one writer per sink (the sync worker's
checkpoint guarantees it).

milvus-lite 3.x is pure Python and visits every stored row in Python on each search, whatever
the index (~90 ms a query at 100k vectors here): on milvus-lite the engine therefore also keeps
the rows in memory and answers searches there, exactly (:mod:`headwater.search.vector_memory`;
1.5 KiB a vector, 150 MiB per 100k assets), once that copy is loaded; until then, and on a
Milvus server, Milvus answers. FLAT is the
default index; ``index_type="IVF_FLAT"`` is for Milvus servers, where ``nprobe`` is honoured
(milvus-lite's IVF_FLAT ignored it: 22% of the true top 20). Before a flush, rows sit in growing
segments, so the sink calls :meth:`flush` at the end of each batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from pymilvus import DataType, MilvusClient

from headwater.search.documents import document_key
from headwater.search.embeddings import DIMENSION
from headwater.search.fulltext import NO_FILTERS, SearchFilters, WriteResult
from headwater.search.vector_memory import MemoryHit, MemoryVectors

__all__ = [
    "MilvusVectorEngine",
    "VectorEngine",
    "VectorHit",
    "VectorRecord",
]

log = logging.getLogger(__name__)

Vector = NDArray[np.float32]
IndexType = Literal["FLAT", "IVF_FLAT"]

DEFAULT_COLLECTION: Final = "headwater_assets"
# Array fields are bounded in Milvus; an asset with more values is filtered on the first ones.
MAX_ARRAY_VALUES: Final = 256
_MAX_VALUE_CHARS: Final = 320
_QUERY_CHUNK: Final = 1000


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One asset's vector at a version, with the facet values semantic search filters on.

    A tombstone has ``deleted=True`` and no vector.
    """

    tenant_id: UUID
    asset_id: int
    version: int
    vector: Vector | None
    deleted: bool = False
    type: str = ""
    tags: tuple[str, ...] = ()
    tag_categories: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.deleted and self.vector is None:
            raise ValueError("a live vector record needs a vector")

    @classmethod
    def tombstone(cls, tenant_id: UUID, asset_id: int, version: int) -> VectorRecord:
        return cls(tenant_id, asset_id, version, None, deleted=True)


@dataclass(frozen=True, slots=True)
class VectorHit:
    """A nearest neighbour: cosine similarity ``score`` and the facet values stored with it."""

    asset_id: int
    score: float
    type: str = ""
    tags: tuple[str, ...] = ()
    tag_categories: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()


class VectorEngine(Protocol):
    """A tenant-scoped vector index of asset embeddings, kept current by a sink."""

    name: str

    async def upsert(self, records: Sequence[VectorRecord]) -> WriteResult:
        """Write records (tombstones included) of any tenants; only versions newer than the one
        held for the asset are applied, and within a batch the highest version wins."""
        ...

    async def delete(self, tenant_id: UUID, versions: Mapping[int, int]) -> WriteResult:
        """Delete assets (``{asset_id: version}``) by writing versioned tombstones."""
        ...

    async def held_versions(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        """The versions held for these assets (tombstones included)."""
        ...

    async def flush(self) -> None:
        """Seal what was written so searches use the index; call it at the end of a batch."""
        ...

    async def search(
        self,
        tenant_id: UUID,
        vectors: Sequence[Vector],
        *,
        limit: int = 20,
        filters: SearchFilters = NO_FILTERS,
        min_score: float | None = None,
    ) -> list[list[VectorHit]]:
        """For each query vector, the tenant's nearest live assets, best first."""
        ...

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        """Every live record of the tenant and its version (reconcile's drift check)."""
        ...

    async def count(self, tenant_id: UUID) -> int:
        """Live vectors of the tenant."""
        ...

    async def drop_tenant(self, tenant_id: UUID) -> None: ...

    async def close(self) -> None: ...


def _literal(value: str) -> str:
    """A Milvus expression string literal (JSON's escaping is what Milvus's parser accepts)."""
    return json.dumps(value, ensure_ascii=False)


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_literal(v) for v in sorted(values)) + "]"


def _bounded(values: tuple[str, ...]) -> list[str]:
    return [v[:_MAX_VALUE_CHARS] for v in values[:MAX_ARRAY_VALUES]]


class MilvusVectorEngine:
    """Vectors in Milvus through ``pymilvus``: a local file ``uri`` (``/path/vectors.db``) runs
    milvus-lite in-process, an ``http://`` uri talks to a Milvus server."""

    name = "milvus"

    def __init__(
        self,
        uri: str,
        *,
        collection: str = DEFAULT_COLLECTION,
        dimension: int = DIMENSION,
        index_type: IndexType = "FLAT",
        token: str = "",
        in_memory: bool | None = None,
    ) -> None:
        """``in_memory``: search an in-memory copy of the rows (None: on milvus-lite only)."""
        self._client = MilvusClient(uri=uri, token=token)
        # milvus-lite serves a local file from threads of this process until told to stop.
        self._lite_path = None if uri.startswith(("http://", "https://", "tcp://")) else uri
        self._collection = collection
        self._dimension = dimension
        self._lock = threading.Lock()
        # True when this call created the collection: whatever a checkpoint says, it is empty.
        self.created = not self._client.has_collection(collection)
        if self.created:
            self._create(index_type)
        self._client.load_collection(collection)
        if in_memory is None:
            in_memory = self._lite_path is not None
        self._memory = MemoryVectors(dimension) if in_memory else None
        self._memory_loaded = threading.Event()
        self._closing = threading.Event()
        self._loader: threading.Thread | None = None
        if self._memory is not None:
            if self.created:
                self._memory_loaded.set()
            else:
                self._loader = threading.Thread(
                    target=self._load_memory, name=f"vector-memory-{collection}", daemon=True
                )
                self._loader.start()

    def _load_memory(self) -> None:
        """Fill the in-memory copy from the collection. Writes wait meanwhile (the lock), so
        none can fall between the read and the copy; searches go to Milvus until it is done."""
        memory = self._memory
        assert memory is not None
        started = time.perf_counter()
        rows = 0
        try:
            with self._lock:
                if self._closing.is_set():
                    return  # closed before the load began: the client is gone
                iterator = self._client.query_iterator(
                    self._collection,
                    batch_size=10 * _QUERY_CHUNK,
                    filter="deleted == false",
                    output_fields=["tenant_id", "asset_id", "deleted", "type", "tags",
                                   "tag_categories", "owners", "vector"],
                    consistency_level="Strong",
                )  # fmt: skip
                try:
                    while not self._closing.is_set() and (batch := iterator.next()):
                        memory.apply(batch)
                        rows += len(batch)
                finally:
                    iterator.close()
        except Exception:
            log.exception(
                "vector memory load failed: searches stay on Milvus",
                extra={"collection": self._collection, "rows_loaded": rows},
            )
            self._memory = None
            return
        if self._closing.is_set():
            return
        self._memory_loaded.set()
        log.info(
            "vector memory loaded",
            extra={
                "collection": self._collection,
                "rows": rows,
                "seconds": round(time.perf_counter() - started, 2),
            },
        )

    @property
    def searches_in_memory(self) -> bool:
        """Whether searches are answered from the in-memory copy (loaded and healthy)."""
        return self._memory is not None and self._memory_loaded.is_set()

    async def wait_for_memory(self, timeout: float | None = None) -> bool:
        """Wait until the in-memory copy is loaded; False when there is none or it failed."""
        if self._loader is not None:
            await asyncio.to_thread(self._loader.join, timeout)
        return self.searches_in_memory

    def _create(self, index_type: IndexType) -> None:
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("tenant_id", DataType.VARCHAR, max_length=36, is_partition_key=True)
        schema.add_field("asset_id", DataType.INT64)
        schema.add_field("version", DataType.INT64)
        schema.add_field("deleted", DataType.BOOL)
        schema.add_field("type", DataType.VARCHAR, max_length=64)
        for array_field in ("tags", "tag_categories", "owners"):
            schema.add_field(
                array_field,
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=MAX_ARRAY_VALUES,
                max_length=_MAX_VALUE_CHARS * 4,  # bytes: room for any UTF-8 text
            )
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dimension)
        index = self._client.prepare_index_params()
        params = {"nlist": 256} if index_type == "IVF_FLAT" else {}
        index.add_index("vector", index_type=index_type, metric_type="IP", params=params)
        self._client.create_collection(self._collection, schema=schema, consistency_level="Bounded")
        # Waiting for the index asks the server for a timestamp, which milvus-lite does not
        # implement: its gRPC thread logs that as an ERROR with a traceback (the client goes on).
        # milvus-lite has built the index when the call returns, so nothing is lost by not waiting.
        self._client.create_index(self._collection, index, sync=self._lite_path is None)

    # --- writes --------------------------------------------------------------------------------

    async def upsert(self, records: Sequence[VectorRecord]) -> WriteResult:
        if not records:
            return WriteResult()
        return await asyncio.to_thread(self._upsert, records)

    async def delete(self, tenant_id: UUID, versions: Mapping[int, int]) -> WriteResult:
        return await self.upsert(
            [VectorRecord.tombstone(tenant_id, a, v) for a, v in versions.items()]
        )

    async def flush(self) -> None:
        await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._client.flush(self._collection)

    async def drop_tenant(self, tenant_id: UUID) -> None:
        def drop() -> None:
            with self._lock:
                self._client.delete(
                    self._collection, filter=f"tenant_id == {_literal(str(tenant_id))}"
                )
                if self._memory is not None:
                    self._memory.drop_tenant(tenant_id)

        await asyncio.to_thread(drop)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._closing.set()  # a loader still reading stops at its next batch
        # Under the write lock: a cancelled sink's write may still run in its thread, and
        # closing the collection under it would leave milvus-lite's files half written.
        with self._lock:
            self._client.close()
            if self._lite_path is not None:
                # Otherwise the server (and its lock on the file) lives until the process exits.
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self._lite_path)

    def _row(self, record: VectorRecord) -> dict[str, Any]:
        if record.vector is None or record.deleted:
            vector = [0.0] * self._dimension
        else:
            if record.vector.shape != (self._dimension,):
                raise ValueError(
                    f"asset {record.asset_id}: vector of shape {record.vector.shape}, "
                    f"expected ({self._dimension},)"
                )
            vector = record.vector.astype(np.float32).tolist()
        return {
            "pk": document_key(record.tenant_id, record.asset_id),
            "tenant_id": str(record.tenant_id),
            "asset_id": record.asset_id,
            "version": record.version,
            "deleted": record.deleted,
            "type": "" if record.deleted else record.type[:64],
            "tags": [] if record.deleted else _bounded(record.tags),
            "tag_categories": [] if record.deleted else _bounded(record.tag_categories),
            "owners": [] if record.deleted else _bounded(record.owners),
            "vector": vector,
        }

    def _upsert(self, records: Sequence[VectorRecord]) -> WriteResult:
        newest: dict[tuple[UUID, int], VectorRecord] = {}
        for record in records:
            key = (record.tenant_id, record.asset_id)
            held = newest.get(key)
            if held is None or record.version > held.version:
                newest[key] = record
        stale = len(records) - len(newest)
        by_tenant: dict[UUID, list[VectorRecord]] = defaultdict(list)
        for record in newest.values():
            by_tenant[record.tenant_id].append(record)
        with self._lock:
            rows: list[dict[str, Any]] = []
            for tenant_id, tenant_records in by_tenant.items():
                held_versions = self._held(tenant_id, [r.asset_id for r in tenant_records])
                for record in tenant_records:
                    if record.version > held_versions.get(record.asset_id, -1):
                        rows.append(self._row(record))
                    else:
                        stale += 1
            for start in range(0, len(rows), _QUERY_CHUNK):
                chunk = rows[start : start + _QUERY_CHUNK]
                self._client.upsert(self._collection, chunk)
                if self._memory is not None:
                    self._memory.apply(chunk)
        return WriteResult(applied=len(rows), stale=stale)

    # --- reads ---------------------------------------------------------------------------------

    def _held(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        held: dict[int, int] = {}
        ids = sorted(set(asset_ids))
        for start in range(0, len(ids), _QUERY_CHUNK):
            chunk = ids[start : start + _QUERY_CHUNK]
            rows = self._client.query(
                self._collection,
                filter=f"tenant_id == {_literal(str(tenant_id))} and asset_id in {chunk}",
                output_fields=["asset_id", "version"],
                consistency_level="Strong",
            )
            held.update({int(row["asset_id"]): int(row["version"]) for row in rows})
        return held

    async def held_versions(self, tenant_id: UUID, asset_ids: Sequence[int]) -> dict[int, int]:
        return await asyncio.to_thread(self._held, tenant_id, asset_ids)

    @staticmethod
    def _filter(tenant_id: UUID, filters: SearchFilters) -> str:
        clauses = [f"tenant_id == {_literal(str(tenant_id))}", "deleted == false"]
        if filters.types:
            clauses.append(f"type in {_list(filters.types)}")
        for values, field_name in (
            (filters.tags, "tags"),
            (filters.tag_categories, "tag_categories"),
            (filters.owners, "owners"),
        ):
            if values:
                clauses.append(f"ARRAY_CONTAINS_ANY({field_name}, {_list(values)})")
        return " and ".join(clauses)

    async def search(
        self,
        tenant_id: UUID,
        vectors: Sequence[Vector],
        *,
        limit: int = 20,
        filters: SearchFilters = NO_FILTERS,
        min_score: float | None = None,
    ) -> list[list[VectorHit]]:
        if not vectors or limit <= 0:
            return [[] for _ in vectors]
        memory = self._memory
        if memory is not None and self._memory_loaded.is_set():
            queries = np.asarray(np.stack(vectors), dtype=np.float32)
            found = await asyncio.to_thread(memory.search, tenant_id, queries, limit, filters)
        else:
            found = await asyncio.to_thread(self._search_milvus, tenant_id, vectors, limit, filters)
        return [
            [
                VectorHit(asset_id, score, *facets)
                for asset_id, score, facets in hits
                if min_score is None or score >= min_score
            ]
            for hits in found
        ]

    def _search_milvus(
        self, tenant_id: UUID, vectors: Sequence[Vector], limit: int, filters: SearchFilters
    ) -> list[list[MemoryHit]]:
        results = self._client.search(
            self._collection,
            data=[np.asarray(v, dtype=np.float32).tolist() for v in vectors],
            filter=self._filter(tenant_id, filters),
            limit=limit,
            output_fields=["asset_id", "type", "tags", "tag_categories", "owners"],
            search_params={"metric_type": "IP"},
        )
        return [
            [
                (
                    int(hit["entity"]["asset_id"]),
                    float(hit["distance"]),
                    (
                        str(hit["entity"]["type"]),
                        tuple(hit["entity"]["tags"]),
                        tuple(hit["entity"]["tag_categories"]),
                        tuple(hit["entity"]["owners"]),
                    ),
                )
                for hit in result
            ]
            for result in results
        ]

    def _live_versions(self, tenant_id: UUID) -> dict[int, int]:
        iterator = self._client.query_iterator(
            self._collection,
            batch_size=_QUERY_CHUNK,
            filter=self._filter(tenant_id, NO_FILTERS),
            output_fields=["asset_id", "version"],
            consistency_level="Strong",
        )
        found: dict[int, int] = {}
        try:
            while rows := iterator.next():
                found.update({int(row["asset_id"]): int(row["version"]) for row in rows})
        finally:
            iterator.close()
        return found

    async def live_versions(self, tenant_id: UUID) -> dict[int, int]:
        return await asyncio.to_thread(self._live_versions, tenant_id)

    async def count(self, tenant_id: UUID) -> int:
        rows = await asyncio.to_thread(
            self._client.query,
            self._collection,
            filter=self._filter(tenant_id, NO_FILTERS),
            output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(rows[0]["count(*)"]) if rows else 0
