// Every visible relationship (flow or structure) between two of the assets $ids, which are all
// visible; $types = null means every type.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: ids = [1, 2, 3]
// param: types = ["PRODUCES", "USES"]
UNWIND $ids AS id
MATCH (u:Asset {tenant_id: $tenant_id, id: id})-[r:RELATIONSHIP]->(v:Asset {tenant_id: $tenant_id})
WHERE v.live AND NOT r.deleted AND v.id IN $ids AND ($types IS NULL OR r.type IN $types)
RETURN r.id AS edge, u.id AS source, v.id AS target, r.type AS type
