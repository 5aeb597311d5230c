// The visible fields among $ids (the field and its asset live), with their assets' types.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: ids = [10, 11]
UNWIND $ids AS id
MATCH (f:Field {tenant_id: $tenant_id, id: id})<-[:HAS_FIELD]-(a:Asset {tenant_id: $tenant_id})
WHERE f.live AND a.live
RETURN f.id AS id, a.type AS type
