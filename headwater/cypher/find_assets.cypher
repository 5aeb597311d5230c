// The visible (live) assets among $ids, with their types.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: ids = [1, 2, 3]
UNWIND $ids AS id
MATCH (a:Asset {tenant_id: $tenant_id, id: id})
WHERE a.live
RETURN a.id AS id, a.type AS type
