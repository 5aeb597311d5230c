// Field (column) states, one row per field, version-guarded like assets. The owning asset is
// linked by HAS_FIELD (created as a placeholder when its state has not arrived); a state that
// moves the field to another asset replaces the link. A field is visible only while it and its
// asset are live, so deleting an asset hides its fields without touching them.
// Returns the rows written with the version held before.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: rows = [{"id": 10, "asset_id": 1, "name": "email", "version": 1, "deleted": false}]
UNWIND $rows AS row
MERGE (f:Field {tenant_id: $tenant_id, id: row.id})
  ON CREATE SET f.version = 0, f.live = false
WITH f, row, f.version AS held_version
WHERE held_version < row.version
MERGE (a:Asset {tenant_id: $tenant_id, id: row.asset_id})
  ON CREATE SET a.version = 0, a.live = false
SET
  f.asset_id = row.asset_id,
  f.name = row.name,
  f.version = row.version,
  f.live = NOT row.deleted
WITH f, a, row, held_version
FOREACH (
  moved IN [(previous:Asset {tenant_id: $tenant_id})-[link:HAS_FIELD]->(f) WHERE previous <> a | link] |
  DELETE moved
)
MERGE (a)-[:HAS_FIELD]->(f)
RETURN row.id AS id, held_version
