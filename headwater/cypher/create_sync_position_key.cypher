// One outbox position per tenant.
CREATE CONSTRAINT headwater_sync_position_key IF NOT EXISTS
FOR (p:SyncPosition) REQUIRE p.tenant_id IS UNIQUE
