// Relationship states, one row per relationship id, stored in the catalog's orientation
// (source -> target) with the catalog type as a property; flow directions are applied by the
// queries. The held state is found by id (uniqueness constraint), so the version guard covers
// edges too; a tombstone keeps the edge with deleted = true. Endpoints never change for an id in
// the catalog, but if a newer state moves them the old edge is replaced. Missing endpoint assets
// are created as placeholders.
// Returns the rows written with the version held before.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: rows = [{"id": 5, "source_id": 1, "target_id": 2, "type": "PRODUCES", "version": 1, "deleted": false}]
UNWIND $rows AS row
OPTIONAL MATCH (:Asset {tenant_id: $tenant_id})-[held:RELATIONSHIP {tenant_id: $tenant_id, id: row.id}]->(:Asset {tenant_id: $tenant_id})
WITH row, held, coalesce(held.version, 0) AS held_version
WHERE held_version < row.version
MERGE (s:Asset {tenant_id: $tenant_id, id: row.source_id})
  ON CREATE SET s.version = 0, s.live = false
MERGE (t:Asset {tenant_id: $tenant_id, id: row.target_id})
  ON CREATE SET t.version = 0, t.live = false
FOREACH (
  moved IN CASE WHEN held IS NOT NULL AND (startNode(held) <> s OR endNode(held) <> t) THEN [held] ELSE [] END |
  DELETE moved
)
MERGE (s)-[r:RELATIONSHIP {tenant_id: $tenant_id, id: row.id}]->(t)
SET r.type = row.type, r.version = row.version, r.deleted = row.deleted
RETURN row.id AS id, held_version
