// A field (column) is unique per tenant; the backing index serves every lookup by (tenant_id, id).
CREATE CONSTRAINT headwater_field_key IF NOT EXISTS
FOR (f:Field) REQUIRE (f.tenant_id, f.id) IS UNIQUE
