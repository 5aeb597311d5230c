// Remember the outbox position the tenant's graph is current to (opaque to the graph).
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: position = "123:456"
MERGE (p:SyncPosition {tenant_id: $tenant_id})
SET p.position = $position
