"""Cold start of the memory graph: every tenant's lineage read from Postgres in one snapshot.

Each column of a table arrives as one ``bytea`` per tenant and id range, its values' fixed-width
binary forms concatenated (see ``graph_load.sql``), and parses straight into a numpy array: no
per-row Python objects, and no per-row driver work either. Labels (asset types, relationship
types, transformations) come as codes into name tables fetched first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final, LiteralString
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

# Ids per query: bounds every bytea (8 bytes x 4M = 32 MiB) far below Postgres' 1 GiB limit.
ID_RANGE: Final = 4_000_000

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


async def _read_table(
    conn: Conn, statement: LiteralString, upper: int, params: dict[str, Any]
) -> dict[UUID, Columns]:
    """Every tenant's rows of one table, as native-endian arrays sorted by id."""
    parts: defaultdict[UUID, defaultdict[str, list[NDArray[Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    async with conn.cursor() as cur:
        for lo in range(1, upper + 1, ID_RANGE):
            await cur.execute(statement, {**params, "lo": lo, "hi": lo + ID_RANGE}, binary=True)
            for row in await cur.fetchall():
                columns_of = parts[row.pop("tenant_id")]
                for name, raw in row.items():
                    columns_of[name].append(np.frombuffer(raw, dtype=_WIDTH[name]))
    tables: dict[UUID, Columns] = {}
    for tenant, columns in parts.items():
        joined = {name: np.concatenate(chunks) for name, chunks in columns.items()}
        order = np.argsort(joined["id"], kind="stable")
        tables[tenant] = {
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


async def load_graphs(conn: Conn) -> LoadedGraphs:
    """Every tenant's graph as of ``conn``'s snapshot (run inside ``consistent_snapshot``)."""
    labels = await fetch_one(conn, Q["graph_load_labels"])
    bounds = await fetch_one(conn, Q["graph_load_id_bounds"])
    assert labels is not None
    assert bounds is not None
    asset_types = tuple(labels["asset_types"])
    rel_types = tuple(labels["relationship_types"])
    transformations = tuple(labels["transformations"])
    assets = await _read_table(
        conn, Q["graph_load_assets"], bounds["assets"], {"types": list(asset_types)}
    )
    fields = await _read_table(conn, Q["graph_load_fields"], bounds["fields"], {})
    rels = await _read_table(
        conn, Q["graph_load_relationships"], bounds["relationships"], {"types": list(rel_types)}
    )
    lineage = await _read_table(
        conn,
        Q["graph_load_field_lineage"],
        bounds["field_lineage"],
        {"types": list(transformations)},
    )
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
