// Asset states, one row per asset (the engine keeps the newest state per id of a batch).
// A state is written only when its version is newer than the one held, so replays and
// out-of-order deliveries are no-ops; a delete is the same state with deleted = true (live =
// false), a versioned tombstone. A node first created by an edge or a field is a placeholder
// (version 0, not live) until its own state arrives.
// Returns the rows written with the version held before (0 for a new or placeholder node).
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: rows = [{"id": 1, "type": "table", "name": "orders", "qualified_name": "db.orders", "version": 2, "deleted": false}]
UNWIND $rows AS row
MERGE (a:Asset {tenant_id: $tenant_id, id: row.id})
  ON CREATE SET a.version = 0, a.live = false
WITH a, row, a.version AS held_version
WHERE held_version < row.version
SET
  a.type = row.type,
  a.name = row.name,
  a.qualified_name = row.qualified_name,
  a.version = row.version,
  a.live = NOT row.deleted
RETURN row.id AS id, held_version
