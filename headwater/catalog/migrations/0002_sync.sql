-- The sync worker: a role that reads what the mirrors need across tenants, and the dead letters.
--
-- headwater_worker tails the outbox of every tenant, which the tenant_isolation policies forbid to
-- headwater_app. It gets read-only policies on exactly the tables sinks hydrate from, and
-- read/write on its own bookkeeping (checkpoints, dead letters). It owns nothing and cannot bypass
-- row-level security, so any other table stays closed to it.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'headwater_worker') THEN
        CREATE ROLE headwater_worker NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO headwater_worker;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['outbox', 'tenants', 'assets', 'relationships', 'schema_fields',
                             'field_lineage', 'tags', 'asset_tags']
    LOOP
        EXECUTE format('CREATE POLICY worker_read ON %I FOR SELECT TO headwater_worker USING (true)', t);
        EXECUTE format('GRANT SELECT ON %I TO headwater_worker', t);
    END LOOP;
END
$$;

GRANT SELECT ON schema_migrations TO headwater_worker;
GRANT SELECT, INSERT, UPDATE ON sync_checkpoints TO headwater_worker;

-- An event a sink rejected permanently. The checkpoint moves past it; the row keeps the whole
-- event so it can be retried (status RETRY, picked up by the worker holding the sink's lease) or
-- discarded once a person has looked at it.
CREATE TABLE sync_dead_letters (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sink              text NOT NULL,
    event_id          bigint NOT NULL,
    txid              xid8 NOT NULL,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    entity_type       text NOT NULL,
    entity_id         bigint NOT NULL,
    entity_version    integer NOT NULL,
    event_type        text NOT NULL,
    payload           jsonb NOT NULL,
    event_created_at  timestamptz NOT NULL,
    error             text NOT NULL,
    attempts          integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    status            text NOT NULL DEFAULT 'DEAD'
                      CHECK (status IN ('DEAD', 'RETRY', 'RESOLVED', 'DISCARDED')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz,
    CONSTRAINT sync_dead_letters_sink_event_key UNIQUE (sink, event_id)
);
CREATE INDEX sync_dead_letters_open_idx ON sync_dead_letters (sink, status, txid, event_id)
    WHERE status IN ('DEAD', 'RETRY');
CREATE INDEX sync_dead_letters_tenant_idx ON sync_dead_letters (tenant_id, id);
CREATE TRIGGER sync_dead_letters_touch BEFORE UPDATE ON sync_dead_letters
    FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();

ALTER TABLE sync_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_dead_letters FORCE ROW LEVEL SECURITY;
-- A tenant's admin may be shown its own dead letters; the worker manages all of them.
CREATE POLICY tenant_isolation ON sync_dead_letters
    USING (tenant_id = headwater_tenant()) WITH CHECK (tenant_id = headwater_tenant());
CREATE POLICY worker_all ON sync_dead_letters TO headwater_worker USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE ON sync_dead_letters TO headwater_worker;
GRANT SELECT ON sync_dead_letters TO headwater_app;
