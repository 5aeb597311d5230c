-- Headwater catalog: the authoritative store for entities, audit and the outbox.
-- Every tenant-owned table has row-level security enabled and forced; the tenant comes from the
-- transaction-local setting headwater.tenant_id, and with none set a read sees nothing and a write
-- fails the policy check.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'headwater_app') THEN
        CREATE ROLE headwater_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    -- Owns the few SECURITY DEFINER functions that must look across tenants (API key lookup,
    -- tenant listing). It cannot log in and nobody is granted membership.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'headwater_system') THEN
        CREATE ROLE headwater_system NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO headwater_app, headwater_system;

CREATE FUNCTION headwater_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('headwater.tenant_id', true), '')::uuid $$;

CREATE FUNCTION headwater_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Tenants -------------------------------------------------------------------------------------

CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'DELETED')),
    config      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Users and API keys ---------------------------------------------------------------------------

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    email          text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    name           text NOT NULL DEFAULT '',
    roles          text[] NOT NULL DEFAULT '{viewer}'
                   CHECK (roles <@ ARRAY['viewer', 'editor', 'admin'] AND cardinality(roles) > 0),
    active         boolean NOT NULL DEFAULT true,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    user_id       bigint NOT NULL REFERENCES users (id),
    name          text NOT NULL DEFAULT '',
    -- Public lookup handle; the secret part is stored only as its SHA-256.
    prefix        text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{8,32}$'),
    key_hash      bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (tenant_id, user_id);

-- Assets ---------------------------------------------------------------------------------------

CREATE TABLE assets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    type            text NOT NULL CHECK (type ~ '^[a-z][a-z_]{0,39}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 1000),
    qualified_name  text NOT NULL CHECK (length(qualified_name) BETWEEN 1 AND 2000),
    description     text NOT NULL DEFAULT '',
    metadata        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    owners          text[] NOT NULL DEFAULT '{}',
    version         integer NOT NULL DEFAULT 1,
    created_by      bigint REFERENCES users (id),
    updated_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
-- A qualified name is unique among live assets; a deleted one may be reused.
CREATE UNIQUE INDEX assets_tenant_qualified_name_key
    ON assets (tenant_id, qualified_name) WHERE deleted_at IS NULL;
CREATE INDEX assets_tenant_type_idx ON assets (tenant_id, type, id) WHERE deleted_at IS NULL;
CREATE INDEX assets_tenant_name_idx ON assets (tenant_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX assets_owners_idx ON assets USING gin (owners);
-- Ingestion resolves a name it does not know through the aliases other sources declared.
CREATE INDEX assets_aliases_idx ON assets USING gin ((metadata -> 'aliases')) WHERE deleted_at IS NULL;
CREATE INDEX assets_tenant_updated_idx ON assets (tenant_id, updated_at);

-- Relationships: typed, directed. Rows are soft-deleted so a pair keeps one id and a monotonic
-- version across delete and re-create, which the mirrors use to order deliveries.
CREATE TABLE relationships (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    source_id   bigint NOT NULL REFERENCES assets (id),
    target_id   bigint NOT NULL REFERENCES assets (id),
    type        text NOT NULL CHECK (type ~ '^[A-Z][A-Z_]{0,39}$'),
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    version     integer NOT NULL DEFAULT 1,
    created_by  bigint REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CONSTRAINT relationships_no_self_loop CHECK (source_id <> target_id),
    CONSTRAINT relationships_edge_key UNIQUE (tenant_id, source_id, target_id, type)
);
CREATE INDEX relationships_source_idx ON relationships (tenant_id, source_id) WHERE deleted_at IS NULL;
CREATE INDEX relationships_target_idx ON relationships (tenant_id, target_id) WHERE deleted_at IS NULL;

-- Tags -----------------------------------------------------------------------------------------

CREATE TABLE tags (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL CHECK (name ~ '^[^\s].{0,199}$'),
    category     text CHECK (category IS NULL OR length(category) BETWEEN 1 AND 100),
    description  text NOT NULL DEFAULT '',
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_tenant_name_key ON tags (tenant_id, lower(name));
CREATE INDEX tags_tenant_category_idx ON tags (tenant_id, category);

CREATE TABLE asset_tags (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    asset_id    bigint NOT NULL REFERENCES assets (id),
    tag_id      bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    created_by  bigint REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, tag_id)
);
CREATE INDEX asset_tags_tag_idx ON asset_tags (tenant_id, tag_id);

-- Schema fields (the columns of an asset) and field lineage ------------------------------------

CREATE TABLE schema_fields (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    asset_id     bigint NOT NULL REFERENCES assets (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 1000),
    data_type    text NOT NULL DEFAULT '',
    nullable     boolean NOT NULL DEFAULT true,
    description  text NOT NULL DEFAULT '',
    metadata     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    ordinal      integer NOT NULL CHECK (ordinal >= 0),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schema_fields_asset_name_key UNIQUE (asset_id, name)
);
CREATE INDEX schema_fields_asset_idx ON schema_fields (tenant_id, asset_id, ordinal);
CREATE INDEX schema_fields_name_idx ON schema_fields (tenant_id, lower(name));

CREATE TABLE field_lineage (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    source_field_id  bigint NOT NULL REFERENCES schema_fields (id) ON DELETE CASCADE,
    target_field_id  bigint NOT NULL REFERENCES schema_fields (id) ON DELETE CASCADE,
    transformation   text NOT NULL DEFAULT 'UNKNOWN' CHECK (transformation ~ '^[A-Z][A-Z_]{0,39}$'),
    description      text NOT NULL DEFAULT '',
    metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    version          integer NOT NULL DEFAULT 1,
    created_by       bigint REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    CONSTRAINT field_lineage_no_self_loop CHECK (source_field_id <> target_field_id),
    CONSTRAINT field_lineage_edge_key UNIQUE (tenant_id, source_field_id, target_field_id)
);
CREATE INDEX field_lineage_source_idx ON field_lineage (tenant_id, source_field_id) WHERE deleted_at IS NULL;
CREATE INDEX field_lineage_target_idx ON field_lineage (tenant_id, target_field_id) WHERE deleted_at IS NULL;

-- Audit: immutable --------------------------------------------------------------------------------

CREATE TABLE audits (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    actor_user_id  bigint REFERENCES users (id),
    actor_key_id   bigint REFERENCES api_keys (id),
    action         text NOT NULL,
    entity_type    text NOT NULL,
    entity_id      text NOT NULL,
    before         jsonb,
    after          jsonb,
    ip             inet,
    user_agent     text,
    request_id     text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audits_entity_idx ON audits (tenant_id, entity_type, entity_id, id);
CREATE INDEX audits_actor_idx ON audits (tenant_id, actor_user_id, id);
CREATE INDEX audits_time_idx ON audits (tenant_id, created_at, id);

CREATE FUNCTION headwater_audits_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are immutable' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audits_immutable BEFORE UPDATE OR DELETE ON audits
    FOR EACH ROW EXECUTE FUNCTION headwater_audits_immutable();
CREATE TRIGGER audits_no_truncate BEFORE TRUNCATE ON audits
    FOR EACH STATEMENT EXECUTE FUNCTION headwater_audits_immutable();

-- Background tasks -----------------------------------------------------------------------------

CREATE TABLE background_tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    type         text NOT NULL CHECK (type ~ '^[a-z][a-z_.]{0,63}$'),
    status       text NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    priority     integer NOT NULL DEFAULT 0,
    payload      jsonb NOT NULL DEFAULT '{}',
    result       jsonb,
    error        text,
    progress     smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    retries      integer NOT NULL DEFAULT 0 CHECK (retries >= 0),
    max_retries  integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    run_after    timestamptz NOT NULL DEFAULT now(),
    locked_by    text,
    created_by   bigint REFERENCES users (id),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX background_tasks_tenant_idx ON background_tasks (tenant_id, status, id);
CREATE INDEX background_tasks_queue_idx ON background_tasks (priority DESC, run_after, id)
    WHERE status = 'PENDING';

-- Outbox and sync checkpoints --------------------------------------------------------------------
-- txid is the writing transaction's id. A tailer reads only events whose transaction is older than
-- the snapshot xmin (so every such transaction has finished) and orders by (txid, id): an event
-- that commits late can never be passed over, unlike a tailer that trusts id order.

CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    entity_type     text NOT NULL,
    entity_id       bigint NOT NULL,
    entity_version  integer NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_position_idx ON outbox (txid, id);

CREATE FUNCTION headwater_outbox_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('headwater_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION headwater_outbox_notify();

CREATE TABLE sync_checkpoints (
    sink        text PRIMARY KEY,
    txid        xid8 NOT NULL DEFAULT '0',
    event_id    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- updated_at maintenance -------------------------------------------------------------------------

CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER assets_touch BEFORE UPDATE ON assets FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER relationships_touch BEFORE UPDATE ON relationships FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER tags_touch BEFORE UPDATE ON tags FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER schema_fields_touch BEFORE UPDATE ON schema_fields FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER field_lineage_touch BEFORE UPDATE ON field_lineage FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();
CREATE TRIGGER background_tasks_touch BEFORE UPDATE ON background_tasks FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();

-- Row-level security -----------------------------------------------------------------------------

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = headwater_tenant()) WITH CHECK (id = headwater_tenant());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'api_keys', 'assets', 'relationships', 'tags', 'asset_tags',
                             'schema_fields', 'field_lineage', 'audits', 'background_tasks', 'outbox']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = headwater_tenant()) '
                       'WITH CHECK (tenant_id = headwater_tenant())', t);
    END LOOP;
END
$$;

-- The system role reads keys, users and tenants across tenants, only through the functions below.
CREATE POLICY system_lookup ON api_keys FOR SELECT TO headwater_system USING (true);
CREATE POLICY system_touch ON api_keys FOR UPDATE TO headwater_system USING (true) WITH CHECK (true);
CREATE POLICY system_lookup ON users FOR SELECT TO headwater_system USING (true);
CREATE POLICY system_lookup ON tenants FOR SELECT TO headwater_system USING (true);
GRANT SELECT ON api_keys, users, tenants TO headwater_system;
GRANT UPDATE (last_used_at) ON api_keys TO headwater_system;
GRANT UPDATE (last_login_at) ON users TO headwater_system;
CREATE POLICY system_touch ON users FOR UPDATE TO headwater_system USING (true) WITH CHECK (true);

-- Resolve an API key by its public prefix: the only way to learn a key's tenant before the tenant
-- is known. Returns the stored hash for the caller to compare in constant time.
CREATE FUNCTION headwater_lookup_api_key(key_prefix text)
    RETURNS TABLE (key_id bigint, tenant_id uuid, tenant_status text, user_id bigint,
                   user_active boolean, roles text[], key_hash bytea, revoked_at timestamptz,
                   expires_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, t.status, u.id, u.active, u.roles, k.key_hash, k.revoked_at,
               k.expires_at
          FROM api_keys k
          JOIN users u ON u.id = k.user_id
          JOIN tenants t ON t.id = k.tenant_id
         WHERE k.prefix = key_prefix
    $$;

-- Record use at most once a minute per key, so authentication is not a write on every request.
CREATE FUNCTION headwater_touch_api_key(touched_key_id bigint) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        UPDATE users SET last_login_at = now()
         WHERE id = (SELECT user_id FROM api_keys WHERE id = touched_key_id)
           AND (last_login_at IS NULL OR last_login_at < now() - interval '1 minute');
        UPDATE api_keys SET last_used_at = now()
         WHERE id = touched_key_id
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
    $$;

CREATE FUNCTION headwater_list_tenants()
    RETURNS TABLE (id uuid, slug text, name text, status text, created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id, slug, name, status, created_at FROM tenants ORDER BY created_at, id $$;

ALTER FUNCTION headwater_lookup_api_key(text) OWNER TO headwater_system;
ALTER FUNCTION headwater_touch_api_key(bigint) OWNER TO headwater_system;
ALTER FUNCTION headwater_list_tenants() OWNER TO headwater_system;
REVOKE ALL ON FUNCTION headwater_lookup_api_key(text), headwater_touch_api_key(bigint),
    headwater_list_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION headwater_lookup_api_key(text), headwater_touch_api_key(bigint),
    headwater_list_tenants() TO headwater_app;

-- Application privileges: no ownership, no audit rewrites ------------------------------------

GRANT SELECT, INSERT, UPDATE ON tenants, users, api_keys, assets, relationships, tags,
    schema_fields, field_lineage, background_tasks TO headwater_app;
GRANT DELETE ON asset_tags, schema_fields, tags TO headwater_app;
GRANT SELECT, INSERT ON asset_tags, audits, outbox TO headwater_app;
GRANT SELECT ON schema_migrations TO headwater_app;
