// Every field-lineage state held, tombstones included.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
MATCH (s:Field {tenant_id: $tenant_id})-[e:FIELD_LINEAGE]->(t:Field {tenant_id: $tenant_id})
RETURN
  e.id AS id,
  s.id AS source_field_id,
  t.id AS target_field_id,
  e.transformation AS transformation,
  e.version AS version,
  e.deleted AS deleted
