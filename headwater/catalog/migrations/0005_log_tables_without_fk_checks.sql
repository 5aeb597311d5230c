-- Audits and outbox events are append-only logs written in bulk (an OpenLineage batch of 100
-- events writes ~3,000 of each). Their foreign keys checked, row by row, facts nothing can break:
-- the tenant is forced by row-level security to the transaction's tenant (set from a verified
-- API key), and users and API keys are never deleted (the application role has no DELETE on
-- them). Those checks were ~35% of the time of these inserts, so the logs go without them.
--
-- Their JSON columns (before/after states, event payloads; kilobytes each) are compressed with
-- lz4 where the server has it: cheaper than the default pglz for the same rows.

ALTER TABLE audits DROP CONSTRAINT audits_tenant_id_fkey;
ALTER TABLE audits DROP CONSTRAINT audits_actor_user_id_fkey;
ALTER TABLE audits DROP CONSTRAINT audits_actor_key_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_tenant_id_fkey;

DO $$
BEGIN
    ALTER TABLE audits ALTER COLUMN before SET COMPRESSION lz4,
                       ALTER COLUMN after SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no lz4: audits and outbox keep the default compression';
END
$$;
