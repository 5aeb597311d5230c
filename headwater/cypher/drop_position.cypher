// Forget the tenant's outbox position.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
MATCH (p:SyncPosition {tenant_id: $tenant_id})
DELETE p
