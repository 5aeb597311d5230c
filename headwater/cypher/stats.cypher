// Counts of the tenant's visible nodes and edges (visibility rules in headwater.graph.model).
// Field-lineage ends are checked with EXISTS rather than one longer pattern, so a self-loop
// (whose two ends share one HAS_FIELD link) still counts.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
RETURN
  COUNT {
    MATCH (a:Asset {tenant_id: $tenant_id})
    WHERE a.live
  } AS assets,
  COUNT {
    MATCH (a:Asset {tenant_id: $tenant_id})-[:HAS_FIELD]->(f:Field {tenant_id: $tenant_id})
    WHERE a.live AND f.live
  } AS fields,
  COUNT {
    MATCH (s:Asset {tenant_id: $tenant_id})-[r:RELATIONSHIP]->(t:Asset {tenant_id: $tenant_id})
    WHERE s.live AND t.live AND NOT r.deleted
  } AS relationships,
  COUNT {
    MATCH (s:Field {tenant_id: $tenant_id})-[e:FIELD_LINEAGE]->(t:Field {tenant_id: $tenant_id})
    WHERE
      s.live
      AND t.live
      AND NOT e.deleted
      AND EXISTS { MATCH (s)<-[:HAS_FIELD]-(sa:Asset {tenant_id: $tenant_id}) WHERE sa.live }
      AND EXISTS { MATCH (t)<-[:HAS_FIELD]-(ta:Asset {tenant_id: $tenant_id}) WHERE ta.live }
  } AS field_lineage
