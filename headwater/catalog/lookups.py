"""Read-only lookups that ingestion needs: aliases, field ids by name, already-kept raw inputs."""

from __future__ import annotations

from headwater.catalog import db
from headwater.catalog.db import Conn
from headwater.catalog.queries import Q

__all__ = ["asset_id_by_alias", "asset_id_by_qualified_name", "audit_entry_exists", "field_id"]


async def asset_id_by_qualified_name(conn: Conn, qualified_name: str) -> int | None:
    """The live asset with this qualified name, or None (where ``resolve_qualified_name`` 404s)."""
    row = await db.fetch_one(
        conn, Q["get_asset_id_by_qualified_name"], {"qualified_name": qualified_name}
    )
    return None if row is None else int(row["id"])


async def asset_id_by_alias(conn: Conn, alias: str) -> int | None:
    """The oldest live asset that lists ``alias`` in ``metadata.aliases``."""
    row = await db.fetch_one(conn, Q["find_asset_id_by_alias"], {"alias": alias})
    return None if row is None else int(row["id"])


async def field_id(conn: Conn, asset_id: int, name: str) -> int | None:
    row = await db.fetch_one(
        conn, Q["get_schema_field_id_by_name"], {"asset_id": asset_id, "name": name}
    )
    return None if row is None else int(row["id"])


async def audit_entry_exists(conn: Conn, entity_type: str, entity_id: str) -> bool:
    row = await db.fetch_one(
        conn, Q["audit_entry_exists"], {"entity_type": entity_type, "entity_id": entity_id}
    )
    return bool(row and row["found"])
