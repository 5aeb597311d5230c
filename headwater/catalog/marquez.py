"""Marquez's names for Headwater's assets: lineage node ids, and the asset a node id names.

Marquez names a dataset or a job by (namespace, name) and a column by (namespace, dataset,
field); its lineage node ids are ``dataset:<namespace>:<name>``, ``job:<namespace>:<name>`` and
``datasetField:<namespace>:<dataset>:<field>`` (``run:<uuid>`` names a run).

An asset's (namespace, name):

1. an asset ingested from OpenLineage keeps its ``namespace`` and ``name`` in
   ``metadata.openlineage`` (its qualified name is ``namespace/name``): those;
2. any other qualified name that reads as an OpenLineage dataset URI, ``scheme://authority/path``
   (``pg://shop/raw.orders``): namespace ``scheme://authority``, name ``path``; without a scheme,
   ``a/b`` splits at the first slash into namespace ``a`` and name ``b``;
3. anything else (``db.orders``, ``superset://revenue``): namespace ``default``, name = the
   qualified name.

Jobs and pipelines are ``JOB`` nodes, every other asset type a ``DATASET`` node; columns are
``DATASET_FIELD`` nodes.

A namespace and a name may both contain colons (``postgres://db:5432``), so a node id is read by
trying every split: the candidates' qualified names (``namespace/name``, or the bare name in the
``default`` namespace) are looked up, directly or among aliases (OpenLineage symlinks), and the
asset whose own node id is exactly the one asked for wins; failing that, the direct match of the
split Marquez itself would choose (the first colon not followed by ``//`` or a digit).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from headwater.catalog import db
from headwater.catalog.db import Conn
from headwater.catalog.errors import NotFound, Unprocessable
from headwater.catalog.queries import Q

__all__ = [
    "DEFAULT_NAMESPACE",
    "JOB_TYPES",
    "ParsedNodeId",
    "asset_name",
    "asset_node_id",
    "asset_node_type",
    "assets_for_lineage",
    "field_lineage_for_lineage",
    "field_node_id",
    "fields_for_lineage",
    "parse_node_id",
    "resolve",
]

DEFAULT_NAMESPACE: Final = "default"
JOB_TYPES: Final = frozenset({"job", "pipeline"})
MAX_NODE_ID: Final = 4200

Prefix = Literal["dataset", "job", "datasetField", "run"]
_PREFIXES: Final[tuple[Prefix, ...]] = ("datasetField", "dataset", "job", "run")
_URI: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/]*)/(.+)$", re.DOTALL)
# Marquez's own reading: the first colon not starting "//" (a scheme) or a port number.
_MARQUEZ_DELIMITER: Final = re.compile(r":(?!//|\d)")


@dataclass(frozen=True, slots=True)
class ParsedNodeId:
    """A well-formed node id: its prefix and what follows the first colon."""

    prefix: Prefix
    rest: str
    raw: str


def _malformed(value: str, why: str) -> Unprocessable:
    return Unprocessable(
        f"nodeId {value[:200]!r} is not a Marquez node id: {why}",
        errors=[
            {
                "loc": ["query", "nodeId"],
                "msg": "dataset:<namespace>:<name>, job:<namespace>:<name> or "
                "datasetField:<namespace>:<dataset>:<field>",
            }
        ],
    )


def parse_node_id(value: str) -> ParsedNodeId:
    """Check a node id's shape (Unprocessable when it is not one).

    >>> parse_node_id("dataset:food_delivery:public.orders").prefix
    'dataset'
    """
    if len(value) > MAX_NODE_ID:
        raise _malformed(value, f"longer than {MAX_NODE_ID} characters")
    prefix, sep, rest = value.partition(":")
    if not sep or prefix not in _PREFIXES:
        raise _malformed(value, "it must start with dataset:, job:, datasetField: or run:")
    parts = {"dataset": 2, "job": 2, "datasetField": 3, "run": 1}[prefix]
    if not _splits(rest, parts):
        raise _malformed(value, f"{prefix} ids have {parts} non-empty parts after the prefix")
    return ParsedNodeId(prefix, rest, value)


def _splits(rest: str, parts: int) -> list[tuple[str, ...]]:
    """Every way to cut ``rest`` at colons into ``parts`` non-empty pieces, Marquez's own
    reading first."""
    if parts == 1:
        return [(rest,)] if rest else []
    colons = [i for i, c in enumerate(rest) if c == ":"]
    found: list[tuple[str, ...]] = []
    for i in colons:
        head = rest[:i]
        if not head:
            continue
        tails = _splits(rest[i + 1 :], parts - 1) if parts > 2 else [(rest[i + 1 :],)]
        for tail in tails:
            if all(tail):
                found.append((head, *tail))
    preferred = _MARQUEZ_DELIMITER.search(rest)
    if preferred is not None:
        first = [s for s in found if len(s[0]) == preferred.start()]
        found = first + [s for s in found if len(s[0]) != preferred.start()]
    return found


def asset_name(qualified_name: str, metadata: Mapping[str, Any]) -> tuple[str, str]:
    """The (namespace, name) Marquez would show for an asset.

    >>> asset_name("pg://shop/raw.orders", {})
    ('pg://shop', 'raw.orders')
    >>> asset_name("db.orders", {})
    ('default', 'db.orders')
    """
    ol = metadata.get("openlineage")
    if isinstance(ol, Mapping):
        namespace, name = ol.get("namespace"), ol.get("name")
        if (
            isinstance(namespace, str)
            and isinstance(name, str)
            and f"{namespace}/{name}" == qualified_name
        ):
            return namespace, name
    uri = _URI.match(qualified_name)
    if uri is not None:
        return uri.group(1), uri.group(2)
    if "://" not in qualified_name:
        namespace, sep, name = qualified_name.partition("/")
        if sep and namespace and name:
            return namespace, name
    return DEFAULT_NAMESPACE, qualified_name


def asset_node_type(asset_type: str) -> Literal["DATASET", "JOB"]:
    return "JOB" if asset_type in JOB_TYPES else "DATASET"


def asset_node_id(asset_type: str, qualified_name: str, metadata: Mapping[str, Any]) -> str:
    namespace, name = asset_name(qualified_name, metadata)
    prefix = "job" if asset_type in JOB_TYPES else "dataset"
    return f"{prefix}:{namespace}:{name}"


def field_node_id(namespace: str, dataset: str, field: str) -> str:
    return f"datasetField:{namespace}:{dataset}:{field}"


def _qualified_names(namespace: str, name: str) -> list[str]:
    names = [f"{namespace}/{name}"]
    if namespace == DEFAULT_NAMESPACE:
        names.append(name)
    return names


async def _assets(
    conn: Conn, pairs: list[tuple[str, str]]
) -> tuple[list[str], list[dict[str, Any]]]:
    names = list(dict.fromkeys(qn for ns, name in pairs for qn in _qualified_names(ns, name)))
    rows = await db.fetch_all(conn, Q["marquez_assets_by_name"], {"names": names})
    return names, rows


def _known_names(row: Mapping[str, Any]) -> set[str]:
    """An asset's qualified name and its aliases."""
    aliases = row["metadata"].get("aliases")
    known = {str(a) for a in aliases} if isinstance(aliases, list) else set()
    return known | {row["qualified_name"]}


def _rank(row: dict[str, Any], names: list[str]) -> int:
    if row["direct"]:
        return names.index(row["qualified_name"])
    return len(names)


async def resolve(conn: Conn, node: ParsedNodeId) -> tuple[Literal["asset", "field"], int]:
    """The live asset (or field) a node id names in this transaction's tenant, or NotFound."""
    if node.prefix == "run":
        raise NotFound(
            f"{node.raw!r}: runs are not lineage nodes in Headwater; ask for the run's job "
            "(job:<namespace>:<name>)"
        )
    if node.prefix == "datasetField":
        return "field", await _resolve_field(conn, node)
    pairs = [(s[0], s[1]) for s in _splits(node.rest, 2)]
    names, rows = await _assets(conn, pairs)
    wanted_job = node.prefix == "job"
    rows = [r for r in rows if (r["type"] in JOB_TYPES) == wanted_job]
    if not rows:
        raise NotFound(f"no {node.prefix} named {node.raw!r}")
    best = min(
        rows,
        key=lambda r: (
            asset_node_id(r["type"], r["qualified_name"], r["metadata"]) != node.raw,
            _rank(r, names),
            r["id"],
        ),
    )
    return "asset", int(best["id"])


async def _resolve_field(conn: Conn, node: ParsedNodeId) -> int:
    triples = [(s[0], s[1], s[2]) for s in _splits(node.rest, 3)]
    names, rows = await _assets(conn, [(ns, ds) for ns, ds, _ in triples])
    if rows:
        fields = await db.fetch_all(
            conn,
            Q["marquez_fields_by_name"],
            {
                "asset_ids": sorted({r["id"] for r in rows}),
                "names": sorted({f for _, _, f in triples}),
            },
        )
        by_asset = {r["id"]: r for r in rows}
        candidates = []
        for f in fields:
            asset = by_asset[f["asset_id"]]
            namespace, dataset = asset_name(asset["qualified_name"], asset["metadata"])
            exact = field_node_id(namespace, dataset, f["name"]) == node.raw
            known = _known_names(asset)
            named = any(
                f["name"] == field and not known.isdisjoint(_qualified_names(ns, ds))
                for ns, ds, field in triples
            )
            if exact or named:
                candidates.append((not exact, _rank(asset, names), int(f["id"])))
        if candidates:
            return min(candidates)[2]
    raise NotFound(f"no dataset field named {node.raw!r}")


async def assets_for_lineage(conn: Conn, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The live assets among ``ids``, with what Marquez shows of a dataset or a job (timestamps,
    tag names, columns in order)."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["marquez_assets"], {"ids": sorted(ids)})
    return {int(r["id"]): r for r in rows}


async def fields_for_lineage(conn: Conn, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The fields among ``ids`` whose asset is live."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["marquez_fields"], {"ids": sorted(ids)})
    return {int(r["id"]): r for r in rows}


async def field_lineage_for_lineage(conn: Conn, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The live field-lineage edges among ``ids``: transformation and its description."""
    if not ids:
        return {}
    rows = await db.fetch_all(conn, Q["marquez_field_lineage"], {"ids": sorted(ids)})
    return {int(r["id"]): r for r in rows}
