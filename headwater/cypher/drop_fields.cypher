// Delete up to $batch_size of the tenant's fields with their edges (repeated until none is left).
// param: tenant_id = "00000000-0000-0000-0000-000000000001"
// param: batch_size = 10000
MATCH (f:Field {tenant_id: $tenant_id})
WITH f LIMIT $batch_size
DETACH DELETE f
RETURN count(*) AS deleted
