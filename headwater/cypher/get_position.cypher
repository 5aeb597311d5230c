// The outbox position the tenant's graph is current to, if any.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
MATCH (p:SyncPosition {tenant_id: $tenant_id})
RETURN p.position AS position
