// Every relationship state held, tombstones included.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
MATCH (s:Asset {tenant_id: $tenant_id})-[r:RELATIONSHIP]->(t:Asset {tenant_id: $tenant_id})
RETURN
  r.id AS id,
  s.id AS source_id,
  t.id AS target_id,
  r.type AS type,
  r.version AS version,
  r.deleted AS deleted
