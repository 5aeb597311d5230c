"""Cold start of the memory graph: every tenant's lineage read from Postgres in one snapshot.

Rows travel as binary COPY of fixed-width columns, so each table parses straight into numpy
arrays (no per-row Python objects): a few seconds for millions of edges. Labels (asset types,
relationship types, transformations) come as codes into name tables fetched first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, LiteralString
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from headwater.catalog.db import Conn, fetch_one
from headwater.catalog.queries import Q
from headwater.graph.model import (
    AssetArrays,
    FieldArrays,
    FieldLineageArrays,
    GraphData,
    RelationshipArrays,
)

_HEADER = 19  # signature (11) + flags (4) + header extension length (4, always 0 here)
_TRAILER = 2  # the int16 -1 that ends the stream


def _row_dtype(*columns: tuple[str, str]) -> np.dtype[Any]:
    """A binary COPY row: int16 column count, then per column int32 length and big-endian value."""
    fields: list[tuple[str, str]] = [("ncols", ">i2")]
    for name, kind in columns:
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    return np.dtype(fields)


_ASSET = _row_dtype(
    ("tenant", "V16"), ("id", ">i8"), ("type", ">i2"), ("version", ">i4"), ("deleted", "?")
)
_FIELD = _row_dtype(
    ("tenant", "V16"), ("id", ">i8"), ("asset_id", ">i8"), ("version", ">i4"), ("deleted", "?")
)
_EDGE = _row_dtype(
    ("tenant", "V16"),
    ("id", ">i8"),
    ("source", ">i8"),
    ("target", ">i8"),
    ("type", ">i2"),
    ("version", ">i4"),
    ("deleted", "?"),
)


async def _copy_rows(
    conn: Conn, statement: LiteralString, params: dict[str, Any], dtype: np.dtype[Any]
) -> NDArray[Any]:
    chunks: list[bytes] = []
    async with conn.cursor() as cur, cur.copy(statement, params) as copy:
        async for block in copy:
            chunks.append(bytes(block))
    body = b"".join(chunks)[_HEADER:-_TRAILER]
    rows = np.frombuffer(body, dtype=dtype)
    if len(rows) and (rows["ncols"] != (len(dtype.names or ()) - 1) // 2).any():
        raise RuntimeError("unexpected binary COPY layout (a NULL in a NOT NULL column?)")
    return rows


def _split(rows: NDArray[Any]) -> dict[UUID, slice]:
    """Rows are ordered by tenant: the slice of each tenant's rows."""
    if len(rows) == 0:
        return {}
    tenants = rows["tenant"]
    starts = np.flatnonzero(np.concatenate(([True], tenants[1:] != tenants[:-1])))
    ends = [*starts[1:].tolist(), len(rows)]
    return {
        UUID(bytes=bytes(tenants[s])): slice(int(s), int(e))
        for s, e in zip(starts.tolist(), ends, strict=True)
    }


def _codes(values: NDArray[Any]) -> NDArray[np.int16]:
    return (values.astype(np.int16) - 1).astype(np.int16)  # array_position is 1-based


@dataclass(frozen=True)
class LoadedGraphs:
    tenants: dict[UUID, GraphData]
    edges: int


async def load_graphs(conn: Conn) -> LoadedGraphs:
    """Every tenant's graph as of ``conn``'s snapshot (run inside ``consistent_snapshot``)."""
    labels = await fetch_one(conn, Q["graph_load_labels"])
    assert labels is not None
    asset_types = tuple(labels["asset_types"])
    rel_types = tuple(labels["relationship_types"])
    transformations = tuple(labels["transformations"])
    assets = await _copy_rows(conn, Q["graph_load_assets"], {"types": list(asset_types)}, _ASSET)
    fields = await _copy_rows(conn, Q["graph_load_fields"], {}, _FIELD)
    rels = await _copy_rows(conn, Q["graph_load_relationships"], {"types": list(rel_types)}, _EDGE)
    lineage = await _copy_rows(
        conn, Q["graph_load_field_lineage"], {"types": list(transformations)}, _EDGE
    )
    parts = [_split(assets), _split(fields), _split(rels), _split(lineage)]
    empty = slice(0, 0)
    graphs: dict[UUID, GraphData] = {}
    for tenant in set().union(*parts):
        a, f, r, fl = (p.get(tenant, empty) for p in parts)
        graphs[tenant] = GraphData(
            assets=AssetArrays(
                id=assets["id"][a],
                type=_codes(assets["type"][a]),
                type_names=asset_types,
                version=assets["version"][a],
                deleted=assets["deleted"][a],
            ),
            fields=FieldArrays(
                id=fields["id"][f],
                asset_id=fields["asset_id"][f],
                version=fields["version"][f],
                deleted=fields["deleted"][f],
            ),
            relationships=RelationshipArrays(
                id=rels["id"][r],
                source_id=rels["source"][r],
                target_id=rels["target"][r],
                type=_codes(rels["type"][r]),
                type_names=rel_types,
                version=rels["version"][r],
                deleted=rels["deleted"][r],
            ),
            field_lineage=FieldLineageArrays(
                id=lineage["id"][fl],
                source_field_id=lineage["source"][fl],
                target_field_id=lineage["target"][fl],
                transformation=_codes(lineage["type"][fl]),
                transformation_names=transformations,
                version=lineage["version"][fl],
                deleted=lineage["deleted"][fl],
            ),
        )
    return LoadedGraphs(graphs, len(rels) + len(lineage))
