// Whole-tenant scans of fields (stats, snapshot, drop).
CREATE INDEX headwater_field_tenant IF NOT EXISTS
FOR (f:Field) ON (f.tenant_id)
