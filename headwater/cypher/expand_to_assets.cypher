// One closure hop from each field of the frontier to the asset that contains it (a change to a
// column is a change to its table). The edge is the implicit containment, named by the field.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: frontier = [10, 11]
UNWIND $frontier AS origin
MATCH (f:Field {tenant_id: $tenant_id, id: origin})<-[:HAS_FIELD]-(a:Asset {tenant_id: $tenant_id})
WHERE a.live
RETURN origin, a.id AS node, a.type AS node_type
