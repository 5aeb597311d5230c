"""Hydration of graph answers from Postgres, the authority: the mirrors may lag, never lead."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg.rows import tuple_row
from pydantic import BaseModel

from headwater import jsoncodec
from headwater.catalog import db
from headwater.catalog.assets import TagRef
from headwater.catalog.db import Conn
from headwater.catalog.errors import NotFound
from headwater.catalog.queries import Q


class AssetSummary(BaseModel):
    id: int
    type: str
    name: str
    qualified_name: str
    description: str
    owners: list[str]
    tags: list[TagRef]
    metadata: dict[str, Any]


class FieldSummary(BaseModel):
    id: int
    name: str
    data_type: str
    description: str
    asset_id: int


def _id_array(ids: Collection[int]) -> str:
    """The distinct ``ids`` as an array literal for the statements' ``%(ids)s::bigint[]``:
    psycopg adapts a list element by element in Python, which for a closure of tens of
    thousands of ids costs more than the query."""
    return "{" + ",".join(map(str, set(ids))) + "}"


async def assets_by_id(conn: Conn, ids: Collection[int]) -> dict[int, AssetSummary]:
    """The live assets among ``ids`` visible to this transaction's tenant."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["hydrate_assets"], {"ids": _id_array(ids)})
    return {
        int(r["id"]): AssetSummary.model_validate(
            {**r, "tags": orjson.loads(r["tags"]), "metadata": jsoncodec.loads(r["metadata"])}
        )
        for r in rows
    }


async def fields_by_id(conn: Conn, ids: Collection[int]) -> dict[int, FieldSummary]:
    """The fields among ``ids`` whose asset is live and visible to this transaction's tenant."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["hydrate_fields"], {"ids": _id_array(ids)})
    return {int(r["id"]): FieldSummary.model_validate(r) for r in rows}


# The JSON forms below serve responses that carry thousands of these (a lineage closure). Each row
# is encoded as it is read, tags and metadata passing through as the JSON text Postgres returns:
# no model to validate, and nothing held per row but its bytes, which the garbage collector does
# not track (dicts and rows kept alive until the whole response is encoded set off full
# collections of the heap). Rows are read in chunks: one at a time costs an await each.
_CHUNK = 1000


async def asset_documents(conn: Conn, ids: Collection[int]) -> dict[int, bytes]:
    """The live assets among ``ids`` visible to this transaction's tenant, each as the JSON of
    its :class:`AssetSummary`."""
    if not ids:
        return {}
    found: dict[int, bytes] = {}
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(Q["hydrate_assets"], {"ids": _id_array(ids)})
        while rows := await cur.fetchmany(_CHUNK):
            for asset_id, type_, name, qualified_name, description, owners, tags, meta in rows:
                found[asset_id] = orjson.dumps(
                    {
                        "id": asset_id,
                        "type": type_,
                        "name": name,
                        "qualified_name": qualified_name,
                        "description": description,
                        "owners": owners,
                        "tags": orjson.Fragment(tags),
                        "metadata": orjson.Fragment(meta),
                    }
                )
    return found


@dataclass(frozen=True)
class FieldDocuments:
    """Fields by id: the id of each one's asset, and the JSON of its :class:`FieldSummary`."""

    asset_of: dict[int, int]
    json: dict[int, bytes]


async def field_documents(conn: Conn, ids: Collection[int]) -> FieldDocuments:
    """The fields among ``ids`` whose asset is live and visible to this transaction's tenant."""
    found = FieldDocuments({}, {})
    if not ids:
        return found
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(Q["hydrate_fields"], {"ids": _id_array(ids)})
        while rows := await cur.fetchmany(_CHUNK):
            for field_id, name, data_type, description, asset_id in rows:
                found.asset_of[field_id] = asset_id
                found.json[field_id] = orjson.dumps(
                    {
                        "id": field_id,
                        "name": name,
                        "data_type": data_type,
                        "description": description,
                        "asset_id": asset_id,
                    }
                )
    return found


async def live_field(conn: Conn, field_id: int) -> int:
    """The asset id of a live field, or 404."""
    row = await db.fetch_one(conn, Q["get_live_field"], {"id": field_id})
    if row is None:
        raise NotFound(f"field {field_id} does not exist")
    return int(row["asset_id"])
