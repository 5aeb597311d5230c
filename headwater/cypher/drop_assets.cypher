// Delete up to $batch_size of the tenant's assets with their edges; the engine repeats it until
// it deletes nothing, so no transaction grows with the tenant.
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: batch_size = 10000
MATCH (a:Asset {tenant_id: $tenant_id})
WITH a LIMIT $batch_size
DETACH DELETE a
RETURN count(*) AS deleted
