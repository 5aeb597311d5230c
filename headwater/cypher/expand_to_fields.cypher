// One hop from each asset of the frontier to its live fields (dropping a table drops its
// columns; graph views show an asset's columns).
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: frontier = [1, 2]
UNWIND $frontier AS origin
MATCH (a:Asset {tenant_id: $tenant_id, id: origin})-[:HAS_FIELD]->(f:Field {tenant_id: $tenant_id})
WHERE f.live
RETURN origin, f.id AS node, a.type AS node_type
