// Whole-tenant scans (stats, snapshot, drop) seek this index rather than rely on the composite
// key index answering a prefix predicate.
CREATE INDEX headwater_asset_tenant IF NOT EXISTS
FOR (a:Asset) ON (a.tenant_id)
