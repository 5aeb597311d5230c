-- name: find_asset_id_by_alias
-- A live asset that lists this name among its aliases (OpenLineage symlinks); oldest first.
SELECT asset_id AS id FROM headwater_assets_by_alias(ARRAY[%(alias)s::text])
 ORDER BY asset_id
 LIMIT 1

-- name: audit_entry_exists
-- Ingestion keeps each raw input once, keyed by its digest.
SELECT EXISTS (
    SELECT 1 FROM audits WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
) AS found

-- name: ingest_join
-- Every ingestion run holds its tenant's ingestion lock shared, to the end of its transaction.
SELECT pg_advisory_xact_lock_shared(%(namespace)s::integer, hashtext(headwater_tenant()::text))

-- name: ingest_serialize_retries
-- A run whose plan a concurrent writer invalidated holds the lock exclusively before it plans
-- again: it waits for the runs under way to commit, and new runs wait for it (Postgres queues
-- a shared request behind a waiting exclusive one), so colliding runs take turns. The wait is
-- bounded by lock_timeout, set first (the outer row is built from the CTE's, which calls a
-- volatile function and so is not inlined): a long transaction holding the lock shared, a
-- background task's chunk, would otherwise stall every new run of the tenant behind this
-- request. Returns the lock_timeout to put back once the lock is held.
WITH previous AS (SELECT current_setting('lock_timeout') AS lock_timeout),
     bounded AS (SELECT lock_timeout, set_config('lock_timeout', %(wait)s, true) FROM previous)
SELECT lock_timeout,
       pg_advisory_xact_lock(%(namespace)s::integer, hashtext(headwater_tenant()::text))
           IS NULL AS locked
  FROM bounded

-- name: ingest_restore_lock_timeout
SELECT set_config('lock_timeout', %(lock_timeout)s, true)

-- name: ingest_known_raw_inputs
-- Which of a run's raw inputs (entity_type, entity_id pairs) are kept already.
SELECT a.entity_type, a.entity_id
  FROM audits a
  JOIN unnest(%(entity_types)s::text[], %(entity_ids)s::text[]) AS k(entity_type, entity_id)
    ON a.entity_type = k.entity_type AND a.entity_id = k.entity_id

-- name: ingest_lock_named_assets
-- Every live asset a run of units names, by qualified name or through metadata.aliases, locked
-- in id order (the order concurrent writers lock them in), with its tags and its fields (as json,
-- not jsonb: the client decodes them anyway, and json skips building binary objects, a third of
-- this statement's time; each field an array, not an object: no key names to build and decode
-- for every column of every asset).
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.metadata, a.owners, a.version,
       a.created_by, a.updated_by, a.created_at, a.updated_at, a.deleted_at,
       COALESCE((SELECT json_agg(json_build_object('id', t.id, 'name', t.name,
                                                    'category', t.category) ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags,
       COALESCE((SELECT json_agg(json_build_array(f.id, f.name, f.data_type, f.nullable,
                                                   f.description, f.metadata, f.ordinal,
                                                   f.version)
                                   ORDER BY f.ordinal, f.id)
                   FROM schema_fields f
                  WHERE f.asset_id = a.id), '[]') AS fields
  FROM assets a
 WHERE a.id = ANY (ARRAY(
           SELECT id FROM assets
            WHERE deleted_at IS NULL AND qualified_name = ANY(%(names)s::text[])
           UNION
           SELECT asset_id FROM headwater_assets_by_alias(%(names)s::text[])))
 ORDER BY a.id
   FOR UPDATE OF a

-- name: ingest_assets_by_id
-- The state of the assets a run changed, after it, for their audit rows and outbox events.
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.metadata, a.owners, a.version,
       a.created_by, a.updated_by, a.created_at, a.updated_at, a.deleted_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                      'category', t.category) ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags
  FROM assets a
 WHERE a.id = ANY(%(ids)s::bigint[])
 ORDER BY a.id

-- name: ingest_insert_assets
-- DO NOTHING on a live name: a concurrent writer created it first, and the caller plans again.
INSERT INTO assets (tenant_id, type, name, qualified_name, description, metadata, owners,
                    version, created_by, updated_by)
SELECT headwater_tenant(), r.type, r.name, r.qualified_name, r.description, r.metadata,
       r.owners, r.version, %(actor)s, %(actor)s
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(ord integer, type text, name text, qualified_name text, description text,
            metadata jsonb, owners text[], version integer)
 ORDER BY r.ord
ON CONFLICT (tenant_id, qualified_name) WHERE deleted_at IS NULL DO NOTHING
RETURNING id, qualified_name

-- name: ingest_update_assets
-- The rows are locked by ingest_lock_named_assets; version is the one after the run's changes.
UPDATE assets a
   SET name = r.name, description = r.description, metadata = r.metadata, owners = r.owners,
       version = r.version, updated_by = %(actor)s
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(id bigint, name text, description text, metadata jsonb, owners text[],
            version integer)
 WHERE a.id = r.id
RETURNING a.id

-- name: ingest_lock_fields
-- The fields a run removes, locked before their lineage is read (see lock_schema_fields).
SELECT id, version FROM schema_fields WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id FOR UPDATE

-- name: ingest_update_fields
-- Only rows still at the version the run read: fewer rows back means a concurrent change.
UPDATE schema_fields f
   SET data_type = r.data_type, nullable = r.nullable, description = r.description,
       metadata = r.metadata, ordinal = r.ordinal, version = r.version
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(id bigint, read_version integer, data_type text, nullable boolean,
            description text, metadata jsonb, ordinal integer, version integer)
 WHERE f.id = r.id AND f.version = r.read_version
RETURNING f.id

-- name: ingest_insert_fields
INSERT INTO schema_fields (tenant_id, asset_id, name, data_type, nullable, description, metadata,
                           ordinal, version)
SELECT headwater_tenant(), r.asset_id, r.name, r.data_type, r.nullable, r.description,
       r.metadata, r.ordinal, r.version
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(ord integer, asset_id bigint, name text, data_type text, nullable boolean,
            description text, metadata jsonb, ordinal integer, version integer)
 ORDER BY r.ord
RETURNING id, asset_id, name

-- name: ingest_insert_tags
-- Tags attached by name that do not exist yet (the first category asked for wins).
INSERT INTO tags (tenant_id, name, category)
SELECT headwater_tenant(), r.name, r.category
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(ord integer, name text, category text)
 ORDER BY r.ord
ON CONFLICT (tenant_id, lower(name)) DO NOTHING
RETURNING id, name, category, description, version, created_at, updated_at

-- name: ingest_tags_by_name
SELECT id, name, category
  FROM tags
 WHERE lower(name) = ANY(%(names)s::text[])
   FOR SHARE

-- name: ingest_attach_tags
INSERT INTO asset_tags (tenant_id, asset_id, tag_id, created_by)
SELECT headwater_tenant(), r.asset_id, r.tag_id, %(actor)s
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(ord integer, asset_id bigint, tag_id bigint)
 ORDER BY r.ord
ON CONFLICT (asset_id, tag_id) DO NOTHING
RETURNING asset_id, tag_id

-- name: ingest_relationships_by_edge
-- The existing rows (live or soft-deleted) of the (source, target, type) edges a run writes.
SELECT r.id, r.source_id, r.target_id, r.type, r.metadata, r.version, r.created_by,
       r.created_at, r.updated_at, r.deleted_at
  FROM relationships r
  JOIN unnest(%(source_ids)s::bigint[], %(target_ids)s::bigint[], %(types)s::text[])
       AS e(source_id, target_id, type)
    ON r.source_id = e.source_id AND r.target_id = e.target_id AND r.type = e.type

-- name: ingest_insert_relationships
-- DO NOTHING on an existing edge: a concurrent writer created it, and the caller plans again.
INSERT INTO relationships (tenant_id, source_id, target_id, type, metadata, version,
                           created_by)
SELECT headwater_tenant(), r.source_id, r.target_id, r.type, r.metadata, r.version, %(actor)s
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(ord integer, source_id bigint, target_id bigint, type text, metadata jsonb,
            version integer)
 ORDER BY r.ord
ON CONFLICT ON CONSTRAINT relationships_edge_key DO NOTHING
RETURNING id, source_id, target_id, type

-- name: ingest_update_relationships
-- Update or revive, only rows still at the version the run read.
UPDATE relationships x
   SET metadata = r.metadata, deleted_at = NULL, version = r.version
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(id bigint, read_version integer, metadata jsonb, version integer)
 WHERE x.id = r.id AND x.version = r.read_version
RETURNING x.id

-- name: ingest_field_lineage_by_edge
-- The existing rows (live or soft-deleted) of the (source, target) field pairs a run writes.
SELECT fl.id, fl.source_field_id, fl.target_field_id, fl.transformation, fl.description,
       fl.metadata, fl.version, fl.deleted_at
  FROM field_lineage fl
  JOIN unnest(%(source_ids)s::bigint[], %(target_ids)s::bigint[]) AS e(source_id, target_id)
    ON fl.source_field_id = e.source_id AND fl.target_field_id = e.target_id

-- name: ingest_insert_field_lineage
-- DO NOTHING on an existing edge: a concurrent writer created it, and the caller plans again.
INSERT INTO field_lineage (tenant_id, source_field_id, target_field_id, transformation,
                           description, metadata, version, created_by)
SELECT headwater_tenant(), r.source_field_id, r.target_field_id, r.transformation,
       r.description, r.metadata, r.version, %(actor)s
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(ord integer, source_field_id bigint, target_field_id bigint, transformation text,
            description text, metadata jsonb, version integer)
 ORDER BY r.ord
ON CONFLICT ON CONSTRAINT field_lineage_edge_key DO NOTHING
RETURNING id, source_field_id, target_field_id

-- name: ingest_update_field_lineage
-- Update or revive, only rows still at the version the run read.
UPDATE field_lineage x
   SET transformation = r.transformation, description = r.description, metadata = r.metadata,
       deleted_at = NULL, version = r.version
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(id bigint, read_version integer, transformation text, description text,
            metadata jsonb, version integer)
 WHERE x.id = r.id AND x.version = r.read_version
RETURNING x.id
