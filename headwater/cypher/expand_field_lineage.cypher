// One BFS hop over fields: for each field of the frontier, its visible neighbours along field
// lineage, downstream (source -> target) when $forward, upstream otherwise. A neighbour is
// visible when it and its asset are live; node_type is its asset's type.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: frontier = [10, 11]
// param: forward = true
UNWIND $frontier AS origin
MATCH (u:Field {tenant_id: $tenant_id, id: origin})-[e:FIELD_LINEAGE]-(v:Field {tenant_id: $tenant_id})
WHERE
  v.live
  AND NOT e.deleted
  AND ((startNode(e) = u AND $forward) OR (endNode(e) = u AND NOT $forward))
MATCH (v)<-[:HAS_FIELD]-(owner:Asset {tenant_id: $tenant_id})
WHERE owner.live
RETURN
  origin,
  v.id AS node,
  owner.type AS node_type,
  e.id AS edge,
  startNode(e).id AS source,
  endNode(e).id AS target,
  e.transformation AS type
