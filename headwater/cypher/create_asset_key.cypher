// An asset is unique per tenant; the backing index serves every lookup by (tenant_id, id).
CREATE CONSTRAINT headwater_asset_key IF NOT EXISTS
FOR (a:Asset) REQUIRE (a.tenant_id, a.id) IS UNIQUE
