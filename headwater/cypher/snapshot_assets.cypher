// Every asset state held, tombstones included; placeholders (version 0) are not states.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
MATCH (a:Asset {tenant_id: $tenant_id})
WHERE a.version > 0
RETURN
  a.id AS id,
  a.type AS type,
  a.version AS version,
  NOT a.live AS deleted,
  a.name AS name,
  a.qualified_name AS qualified_name
