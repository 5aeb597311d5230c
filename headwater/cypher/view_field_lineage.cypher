// Every visible field-lineage edge between two of the fields $ids, which are all visible.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: ids = [10, 11]
UNWIND $ids AS id
MATCH (u:Field {tenant_id: $tenant_id, id: id})-[e:FIELD_LINEAGE]->(v:Field {tenant_id: $tenant_id})
WHERE v.live AND NOT e.deleted AND v.id IN $ids
RETURN e.id AS edge, u.id AS source, v.id AS target, e.transformation AS type
