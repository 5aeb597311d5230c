// Every field state held, tombstones included; placeholders (version 0) are not states.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
MATCH (f:Field {tenant_id: $tenant_id})
WHERE f.version > 0
RETURN f.id AS id, f.asset_id AS asset_id, f.version AS version, NOT f.live AS deleted, f.name AS name
