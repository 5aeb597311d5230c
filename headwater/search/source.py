"""Search documents read from Postgres, the authority, and the versions they carry.

Document versions
-----------------
An engine applies a document only when its version is greater than the one it holds, so the
version must grow with every change to anything the document is built from. The asset's own
version does not: attaching a tag or editing a column leaves it alone. Versions are therefore
derived from the outbox's transaction ids (``txid``, a 64-bit counter that never wraps):

* a sink that re-reads a document because of events of transaction ``t`` writes it at
  :func:`change_version` ``(t) = 2t + 1`` (for several events in a batch, the highest ``t``);
* a rebuild that reads every document from a snapshot whose xmin is ``x`` (every transaction
  below ``x`` is in it, none at or above ``x`` is known to be) writes them at
  :func:`snapshot_version` ``(x) = 2x``.

Why this is correct: a sink applies events in the tailer's order, ``(txid, id)``, one batch after
another under its lease, and every read sees the latest committed state, so a document read
later is never older than one read earlier, and its version is never smaller. A rebuild's
``2x`` sits strictly between the sink's versions for transactions below ``x`` (at most
``2x - 1``: their changes are in the snapshot, so the sink's later re-delivery of them may be
dropped) and those at or above ``x`` (at least ``2x + 1``: they may be missing from the
snapshot, so the sink's delivery of them must win). The two never tie, which matters to
Elasticsearch: after a delete it still refuses the deleted document's version for a while.

Reads go through the worker role's connection (it sees every tenant); each document carries its
tenant, and the engines filter on it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from headwater.catalog.db import Conn, fetch_all
from headwater.catalog.queries import Q
from headwater.search.documents import (
    DEFAULT_METADATA_KEYS,
    MAX_COLUMNS,
    SearchDocument,
    build_document,
)

__all__ = [
    "TenantRef",
    "change_version",
    "documents",
    "expected_change_txids",
    "live_asset_ids",
    "snapshot_version",
    "tenants",
]

# Assets per statement: bounds the array parameter and the rows one fetch holds.
CHUNK: Final = 1000


def change_version(txid: int) -> int:
    """The version of a document re-read because of a change in transaction ``txid``."""
    return 2 * txid + 1


def snapshot_version(xmin: int) -> int:
    """The version of a document read from a snapshot whose xmin is ``xmin``."""
    return 2 * xmin


@dataclass(frozen=True, slots=True)
class TenantRef:
    id: UUID
    slug: str


def _document(row: dict[str, Any], version: int) -> SearchDocument:
    tenant_id: UUID = row["tenant_id"]
    asset_id = int(row["id"])
    if row["deleted"]:
        return SearchDocument.tombstone(tenant_id, asset_id, version)
    return build_document(
        tenant_id,
        asset_id,
        version,
        type=row["type"],
        name=row["name"],
        qualified_name=row["qualified_name"],
        description=row["description"],
        columns=[(str(n), str(t or ""), str(d or "")) for n, t, d in row["columns"]],
        tags=[(str(name), category) for name, category in row["tags"]],
        owners=row["owners"],
        metadata=row["metadata"],
    )


async def documents(conn: Conn, versions: dict[int, int]) -> dict[int, SearchDocument]:
    """The current documents of the assets in ``versions`` (``{asset_id: version}``), each at
    its given version: a tombstone for a deleted asset; an id Postgres does not have is absent."""
    found: dict[int, SearchDocument] = {}
    ids = sorted(versions)
    for start in range(0, len(ids), CHUNK):
        rows = await fetch_all(
            conn,
            Q["search_documents"],
            {
                "ids": ids[start : start + CHUNK],
                "metadata_keys": list(DEFAULT_METADATA_KEYS),
                "max_columns": MAX_COLUMNS,
            },
        )
        for row in rows:
            asset_id = int(row["id"])
            found[asset_id] = _document(row, versions[asset_id])
    return found


async def live_asset_ids(conn: Conn, tenant_id: UUID, *, after: int = 0) -> list[int]:
    """The next page (up to :data:`CHUNK`) of the tenant's live asset ids above ``after``."""
    rows = await fetch_all(
        conn, Q["search_live_asset_ids"], {"tenant_id": tenant_id, "after": after, "limit": CHUNK}
    )
    return [int(r["id"]) for r in rows]


async def tenants(conn: Conn, slugs: Collection[str] | None = None) -> list[TenantRef]:
    """Every tenant (or those named by ``slugs``), by slug."""
    rows = await fetch_all(conn, Q["search_tenants"])
    return [TenantRef(r["id"], r["slug"]) for r in rows if slugs is None or r["slug"] in set(slugs)]


async def expected_change_txids(conn: Conn, tenant_id: UUID) -> dict[int, int | None]:
    """The tenant's live assets and the txid of the last outbox event that changed their
    document (None when the outbox holds none)."""
    rows = await fetch_all(conn, Q["search_expected_versions"], {"tenant_id": tenant_id})
    return {int(r["asset_id"]): None if r["txid"] is None else int(r["txid"]) for r in rows}
