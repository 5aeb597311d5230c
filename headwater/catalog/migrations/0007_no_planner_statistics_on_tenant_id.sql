-- The planner keeps no statistics on tenant_id of the tables tenants fill in bulk.
--
-- Every query of the application role carries the tenant policy (tenant_id = headwater_tenant()),
-- and the planner estimates it from the column's statistics: its most-common-values list holds
-- the tenants the last ANALYZE saw, so a tenant created since (or one outside the list) is
-- estimated at about one row until autovacuum analyzes the table again (after 10% of it has
-- changed: for a large catalog, after millions of rows). With one row expected, scanning the
-- whole tenant through any index that starts with tenant_id looks cheaper than probing the right
-- one, and the plans of the write path did exactly that: a new tenant's OpenLineage ingestion,
-- in a database of 100k assets, spent 27 ms per 100 events finding the assets it names and 4 ms
-- checking its raw events in the audit log, instead of 0.6 and 0.03 ms, and ran at 154 instead
-- of 445 events/s, the gap growing with the tenant.
--
-- Without statistics the tenant condition is estimated at 0.5% of the table whatever the tenant:
-- wrong for a very large or a very small tenant, but never "one row", and the probes the
-- queries are written for win. The statistics already gathered are removed too (ANALYZE leaves
-- a column it no longer samples alone); that needs a superuser, so where the migrating role is
-- not one, the warning below says what to run.

DO $$
DECLARE
    t text;
    cleared boolean := true;
BEGIN
    FOREACH t IN ARRAY ARRAY['assets', 'relationships', 'schema_fields', 'field_lineage', 'tags',
                             'asset_tags', 'audits', 'outbox', 'background_tasks']
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN tenant_id SET STATISTICS 0', t);
        BEGIN
            DELETE FROM pg_statistic s USING pg_attribute a
             WHERE s.starelid = t::regclass AND a.attrelid = s.starelid
               AND a.attnum = s.staattnum AND a.attname = 'tenant_id';
        EXCEPTION WHEN insufficient_privilege THEN
            cleared := false;
        END;
    END LOOP;
    IF NOT cleared THEN
        RAISE WARNING 'tenant_id statistics gathered before this migration stay until a superuser '
            'runs: DELETE FROM pg_statistic s USING pg_attribute a WHERE a.attrelid = s.starelid '
            'AND a.attnum = s.staattnum AND a.attname = ''tenant_id'' AND a.attstattarget = 0';
    END IF;
END
$$;
