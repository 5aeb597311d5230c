"""Cold start of the memory graph: every tenant's lineage read from Postgres in one snapshot.

Each column of a table arrives as one ``bytea`` per tenant and block range, its values'
fixed-width binary forms concatenated (see ``graph_load.sql``), and parses straight into a numpy
array: no per-row Python objects, and no per-row driver work either. Labels (asset types,
relationship types, transformations) come as codes into name tables fetched first. The block
ranges are shared out between several connections reading through one exported snapshot
(``tailer.shared_snapshot``): the server-side aggregation is the cost, and it runs in one
backend per connection.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, LiteralString
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from headwater.catalog.db import Conn, Database, fetch_one
from headwater.catalog.queries import Q
from headwater.graph.model import (
    AssetArrays,
    FieldArrays,
    FieldLineageArrays,
    GraphData,
    RelationshipArrays,
)
from headwater.sync.events import Position
from headwater.sync.tailer import shared_snapshot

# Connections reading at once (at most the pool's size): Postgres aggregates in one backend each.
READERS: Final = 4
# Pages per query: at most 291 rows fit a page, so a bytea stays under 100k x 291 x 8 bytes
# (~230 MiB), far below Postgres' 1 GiB limit.
BLOCK_RANGE: Final = 100_000
# A table smaller than this many pages per reader is read in fewer pieces.
MIN_BLOCKS_PER_PIECE: Final = 256
# Past any block a table can have (block numbers are 32-bit): the last range is open-ended.
_END_BLOCK: Final = 2**32 - 1

# The numpy type of each column's send form.
_WIDTH: Final = {
    "id": ">i8",
    "asset_id": ">i8",
    "source": ">i8",
    "target": ">i8",
    "type": ">i2",
    "version": ">i4",
    "deleted": "?",
}

Columns = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class _Piece:
    table: str
    statement: LiteralString
    params: dict[str, Any]


def _pieces(
    table: str, statement: LiteralString, blocks: int, readers: int, params: dict[str, Any]
) -> list[_Piece]:
    """Block ranges covering the table: at least one per BLOCK_RANGE pages, and one per reader
    when the table is large enough to be worth splitting."""
    count = max(-(-blocks // BLOCK_RANGE), min(readers, blocks // MIN_BLOCKS_PER_PIECE), 1)
    step = max(-(-blocks // count), 1)
    starts = list(range(0, max(blocks, 1), step))
    ends = [*starts[1:], _END_BLOCK]
    return [
        _Piece(table, statement, {**params, "lo": f"({lo},0)", "hi": f"({hi},0)"})
        for lo, hi in zip(starts, ends, strict=True)
    ]


async def _read(readers: Sequence[Conn], pieces: list[_Piece]) -> dict[str, dict[UUID, Columns]]:
    """Every piece read by whichever connection is free; per table, each tenant's rows as
    native-endian arrays sorted by id."""
    parts: defaultdict[str, defaultdict[UUID, defaultdict[str, list[NDArray[Any]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    queue = deque(pieces)

    async def drain(conn: Conn) -> None:
        async with conn.cursor() as cur:
            while queue:
                piece = queue.popleft()
                await cur.execute(piece.statement, piece.params, binary=True)
                for row in await cur.fetchall():
                    columns_of = parts[piece.table][row.pop("tenant_id")]
                    for name, raw in row.items():
                        columns_of[name].append(np.frombuffer(raw, dtype=_WIDTH[name]))

    await asyncio.gather(*(drain(conn) for conn in readers))
    tables: dict[str, dict[UUID, Columns]] = {}
    for table, by_tenant in parts.items():
        tables[table] = {}
        for tenant, columns in by_tenant.items():
            joined = {name: np.concatenate(chunks) for name, chunks in columns.items()}
            order = np.argsort(joined["id"], kind="stable")
            tables[table][tenant] = {
                name: values[order].astype(values.dtype.newbyteorder("="))
                for name, values in joined.items()
            }
    return tables


def _codes(values: NDArray[Any]) -> NDArray[np.int16]:
    return (values - 1).astype(np.int16)  # array_position is 1-based


def _empty(*names: str) -> Columns:
    return {name: np.empty(0, dtype=np.dtype(_WIDTH[name]).newbyteorder("=")) for name in names}


@dataclass(frozen=True)
class LoadedGraphs:
    tenants: dict[UUID, GraphData]
    edges: int


async def load_graphs(readers: Sequence[Conn]) -> LoadedGraphs:
    """Every tenant's graph as of the readers' snapshot (``tailer.shared_snapshot``; one
    connection inside ``consistent_snapshot`` also works)."""
    labels = await fetch_one(readers[0], Q["graph_load_labels"])
    blocks = await fetch_one(readers[0], Q["graph_load_blocks"])
    assert labels is not None
    assert blocks is not None
    asset_types = tuple(labels["asset_types"])
    rel_types = tuple(labels["relationship_types"])
    transformations = tuple(labels["transformations"])
    # Largest tables first, so the last pieces left to share out are small ones.
    params: dict[str, dict[str, Any]] = {
        "field_lineage": {"types": list(transformations)},
        "fields": {},
        "relationships": {"types": list(rel_types)},
        "assets": {"types": list(asset_types)},
    }
    pieces = [
        piece
        for table, extra in params.items()
        for piece in _pieces(table, Q[f"graph_load_{table}"], blocks[table], len(readers), extra)
    ]
    tables = await _read(readers, pieces)
    assets, fields = tables.get("assets", {}), tables.get("fields", {})
    rels, lineage = tables.get("relationships", {}), tables.get("field_lineage", {})
    edge_columns = ("id", "source", "target", "type", "version", "deleted")
    graphs: dict[UUID, GraphData] = {}
    edges = 0
    for tenant in assets.keys() | fields.keys() | rels.keys() | lineage.keys():
        a = assets.get(tenant) or _empty("id", "type", "version", "deleted")
        f = fields.get(tenant) or _empty("id", "asset_id", "version")
        r = rels.get(tenant) or _empty(*edge_columns)
        fl = lineage.get(tenant) or _empty(*edge_columns)
        edges += len(r["id"]) + len(fl["id"])
        graphs[tenant] = GraphData(
            assets=AssetArrays(
                id=a["id"],
                type=_codes(a["type"]),
                type_names=asset_types,
                version=a["version"],
                deleted=a["deleted"],
            ),
            # Fields are hard-deleted: every row read is live.
            fields=FieldArrays(
                id=f["id"],
                asset_id=f["asset_id"],
                version=f["version"],
                deleted=np.zeros(len(f["id"]), dtype=bool),
            ),
            relationships=RelationshipArrays(
                id=r["id"],
                source_id=r["source"],
                target_id=r["target"],
                type=_codes(r["type"]),
                type_names=rel_types,
                version=r["version"],
                deleted=r["deleted"],
            ),
            field_lineage=FieldLineageArrays(
                id=fl["id"],
                source_field_id=fl["source"],
                target_field_id=fl["target"],
                transformation=_codes(fl["type"]),
                transformation_names=transformations,
                version=fl["version"],
                deleted=fl["deleted"],
            ),
        )
    return LoadedGraphs(graphs, edges)


async def load_snapshot(
    database: Database, readers: int = READERS
) -> tuple[LoadedGraphs, Position]:
    """Every tenant's graph and the outbox position it reflects, read by up to ``readers``
    connections sharing one snapshot."""
    async with shared_snapshot(database, readers) as (conns, position):
        return await load_graphs(conns), position
