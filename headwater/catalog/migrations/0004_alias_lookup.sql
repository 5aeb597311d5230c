-- Alias lookups (OpenLineage symlinks) through an index that row-level security lets them use.
--
-- Under row-level security the planner may not evaluate jsonb's ?| (not leakproof) before the
-- tenant policy, so the aliases' GIN index was out of reach and every lookup scanned the tenant's
-- live assets. headwater_assets_by_alias, owned by headwater_system, reads assets through a policy
-- of its own and applies the tenant filter itself: it sees only the caller's tenant, and nothing
-- when no tenant is set.
--
-- The index now holds only assets that declare aliases (few), and without GIN's pending list:
-- with fastupdate every lookup between two vacuums scanned up to 4 MB of unsorted entries, which
-- cost more than the index saved.

DROP INDEX assets_aliases_idx;
CREATE INDEX assets_aliases_idx ON assets USING gin ((metadata -> 'aliases'))
    WITH (fastupdate = off)
    WHERE deleted_at IS NULL AND metadata ? 'aliases';

CREATE POLICY system_alias_lookup ON assets FOR SELECT TO headwater_system USING (true);
GRANT SELECT (id, tenant_id, metadata, deleted_at) ON assets TO headwater_system;

CREATE FUNCTION headwater_assets_by_alias(names text[]) RETURNS TABLE (asset_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT a.id FROM assets a
         WHERE a.tenant_id = headwater_tenant() AND a.deleted_at IS NULL
           AND a.metadata ? 'aliases' AND a.metadata -> 'aliases' ?| names
    $$;

ALTER FUNCTION headwater_assets_by_alias(text[]) OWNER TO headwater_system;
REVOKE ALL ON FUNCTION headwater_assets_by_alias(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION headwater_assets_by_alias(text[]) TO headwater_app;
