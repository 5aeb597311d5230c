// One BFS hop over assets: for each asset of the frontier, its visible neighbours along flow
// relationships in the walk's direction. Relationships are stored source -> target, so the walk
// follows outgoing edges whose type is in $out_types and incoming edges whose type is in
// $in_types (the engine derives both lists from the declared flow directions, the direction and
// the type filter). Rows are (origin, node) pairs with the edge that joins them.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: frontier = [1, 2]
// param: out_types = ["PRODUCES"]
// param: in_types = ["USES", "DEPENDS_ON"]
UNWIND $frontier AS origin
MATCH (u:Asset {tenant_id: $tenant_id, id: origin})-[r:RELATIONSHIP]-(v:Asset {tenant_id: $tenant_id})
WHERE
  v.live
  AND NOT r.deleted
  AND ((startNode(r) = u AND r.type IN $out_types) OR (endNode(r) = u AND r.type IN $in_types))
RETURN
  origin,
  v.id AS node,
  v.type AS node_type,
  r.id AS edge,
  startNode(r).id AS source,
  endNode(r).id AS target,
  r.type AS type
