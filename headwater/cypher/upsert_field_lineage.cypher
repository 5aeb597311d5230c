// Field-lineage states (column -> column), one row per edge id, version-guarded like
// relationships; missing endpoint fields are created as placeholders (not visible).
// Returns the rows written with the version held before.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: rows = [{"id": 7, "source_field_id": 10, "target_field_id": 11, "transformation": "IDENTITY", "version": 1, "deleted": false}]
UNWIND $rows AS row
OPTIONAL MATCH (:Field {tenant_id: $tenant_id})-[held:FIELD_LINEAGE {tenant_id: $tenant_id, id: row.id}]->(:Field {tenant_id: $tenant_id})
WITH row, held, coalesce(held.version, 0) AS held_version
WHERE held_version < row.version
MERGE (s:Field {tenant_id: $tenant_id, id: row.source_field_id})
  ON CREATE SET s.version = 0, s.live = false
MERGE (t:Field {tenant_id: $tenant_id, id: row.target_field_id})
  ON CREATE SET t.version = 0, t.live = false
FOREACH (
  moved IN CASE WHEN held IS NOT NULL AND (startNode(held) <> s OR endNode(held) <> t) THEN [held] ELSE [] END |
  DELETE moved
)
MERGE (s)-[e:FIELD_LINEAGE {tenant_id: $tenant_id, id: row.id}]->(t)
SET e.transformation = row.transformation, e.version = row.version, e.deleted = row.deleted
RETURN row.id AS id, held_version
