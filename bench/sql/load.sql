-- The set-based loader: the generated platform goes into the catalog tables through staging
-- tables filled by COPY, then one INSERT ... SELECT per chunk that writes the entity rows, their
-- audit rows and their outbox events in the same statement and transaction, with the states the
-- catalog's own functions record (headwater/catalog: assets, fields, relationships,
-- field_lineage). Run as the application role with the tenant set, so row-level security
-- applies exactly as it does to the API. Generator positions ("gen") map to catalog ids through
-- asset_map and field_map.

-- name: create_stage_tables
CREATE TEMP TABLE stage_assets (
    gen int PRIMARY KEY, type text, name text, qualified_name text, description text,
    metadata jsonb, owners text[]);
CREATE TEMP TABLE asset_map (gen int PRIMARY KEY, id bigint NOT NULL);
CREATE TEMP TABLE stage_fields (gen bigint PRIMARY KEY, asset_gen int, code int2, ordinal int4);
CREATE TEMP TABLE field_vocab (code int2 PRIMARY KEY, name text, data_type text);
CREATE TEMP TABLE field_map (gen bigint PRIMARY KEY, id bigint NOT NULL);
CREATE TEMP TABLE stage_relationships (source_gen int, target_gen int, type_code int2);
CREATE TEMP TABLE stage_lineage (source_gen bigint, target_gen bigint, type_code int2)

-- name: copy_stage_assets
COPY stage_assets (gen, type, name, qualified_name, description, metadata, owners) FROM STDIN

-- name: copy_stage_fields
COPY stage_fields (gen, asset_gen, code, ordinal) FROM STDIN (FORMAT BINARY)

-- name: copy_stage_relationships
COPY stage_relationships (source_gen, target_gen, type_code) FROM STDIN (FORMAT BINARY)

-- name: copy_stage_lineage
COPY stage_lineage (source_gen, target_gen, type_code) FROM STDIN (FORMAT BINARY)

-- name: truncate_stage
TRUNCATE stage_assets, stage_fields, stage_relationships, stage_lineage

-- name: insert_field_vocab
INSERT INTO field_vocab (code, name, data_type)
SELECT v.code - 1, v.name, v.data_type
  FROM unnest(%(names)s::text[], %(types)s::text[]) WITH ORDINALITY AS v(name, data_type, code)

-- name: insert_assets
-- As assets.create_asset: the row, an asset.create audit row and an asset.upserted event whose
-- payload is the asset's JSON state.
WITH ins AS (
    INSERT INTO assets (tenant_id, type, name, qualified_name, description, metadata, owners,
                        created_by, updated_by)
    SELECT headwater_tenant(), s.type, s.name, s.qualified_name, s.description, s.metadata,
           s.owners, %(actor)s, %(actor)s
      FROM stage_assets s
     ORDER BY s.gen
    RETURNING *
), state AS (
    SELECT i.id, i.version, i.qualified_name,
           jsonb_build_object('id', i.id, 'type', i.type, 'name', i.name,
                              'qualified_name', i.qualified_name, 'description', i.description,
                              'metadata', i.metadata, 'owners', to_jsonb(i.owners),
                              'tags', '[]'::jsonb, 'version', i.version,
                              'created_by', i.created_by, 'updated_by', i.updated_by,
                              'created_at', i.created_at, 'updated_at', i.updated_at,
                              'deleted_at', i.deleted_at) AS doc
      FROM ins i
), mapped AS (
    INSERT INTO asset_map (gen, id)
    SELECT s.gen, st.id FROM state st JOIN stage_assets s ON s.qualified_name = st.qualified_name
), audited AS (
    INSERT INTO audits (tenant_id, actor_user_id, action, entity_type, entity_id, after,
                        user_agent)
    SELECT headwater_tenant(), %(actor)s, 'asset.create', 'asset', st.id::text, st.doc,
           %(agent)s
      FROM state st
)
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT headwater_tenant(), 'asset', st.id, st.version, 'asset.upserted', st.doc
  FROM state st
 ORDER BY st.id

-- name: insert_fields
-- As fields.replace_fields on an asset without columns: each field row, a schema_field.create
-- audit row and a schema_field.upserted event (bump_assets_for_fields does the asset's part).
WITH ins AS (
    INSERT INTO schema_fields (tenant_id, asset_id, name, data_type, nullable, description,
                               metadata, ordinal)
    SELECT headwater_tenant(), m.id, v.name, v.data_type, true, '', '{}'::jsonb, s.ordinal
      FROM stage_fields s
      JOIN asset_map m ON m.gen = s.asset_gen
      JOIN field_vocab v ON v.code = s.code
     ORDER BY s.gen
    RETURNING id, asset_id, name, data_type, nullable, description, metadata, ordinal, version
), state AS (
    SELECT i.id, i.version, i.asset_id, i.ordinal,
           jsonb_build_object('id', i.id, 'asset_id', i.asset_id, 'name', i.name,
                              'data_type', i.data_type, 'nullable', i.nullable,
                              'description', i.description, 'metadata', i.metadata,
                              'ordinal', i.ordinal, 'version', i.version) AS doc
      FROM ins i
), mapped AS (
    INSERT INTO field_map (gen, id)
    SELECT s.gen, st.id
      FROM state st
      JOIN asset_map m ON m.id = st.asset_id
      JOIN stage_fields s ON s.asset_gen = m.gen AND s.ordinal = st.ordinal
), audited AS (
    INSERT INTO audits (tenant_id, actor_user_id, action, entity_type, entity_id, after,
                        user_agent)
    SELECT headwater_tenant(), %(actor)s, 'schema_field.create', 'schema_field', st.id::text,
           st.doc, %(agent)s
      FROM state st
)
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT headwater_tenant(), 'schema_field', st.id, st.version, 'schema_field.upserted', st.doc
  FROM state st
 ORDER BY st.id

-- name: bump_assets_for_fields
-- The asset's part of a schema replace: version + 1, an asset.replace_fields audit row with
-- the states before and after, and an asset.upserted event.
WITH touched AS (
    SELECT DISTINCT m.id FROM stage_fields s JOIN asset_map m ON m.gen = s.asset_gen
), before AS (
    SELECT a.* FROM assets a JOIN touched t ON t.id = a.id
), after AS (
    UPDATE assets a SET version = a.version + 1, updated_by = %(actor)s
      FROM touched t
     WHERE a.id = t.id
    RETURNING a.*
), state AS (
    SELECT af.id, af.version,
           jsonb_build_object('id', b.id, 'type', b.type, 'name', b.name,
                              'qualified_name', b.qualified_name, 'description', b.description,
                              'metadata', b.metadata, 'owners', to_jsonb(b.owners),
                              'tags', '[]'::jsonb, 'version', b.version,
                              'created_by', b.created_by, 'updated_by', b.updated_by,
                              'created_at', b.created_at, 'updated_at', b.updated_at,
                              'deleted_at', b.deleted_at) AS before_doc,
           jsonb_build_object('id', af.id, 'type', af.type, 'name', af.name,
                              'qualified_name', af.qualified_name, 'description', af.description,
                              'metadata', af.metadata, 'owners', to_jsonb(af.owners),
                              'tags', '[]'::jsonb, 'version', af.version,
                              'created_by', af.created_by, 'updated_by', af.updated_by,
                              'created_at', af.created_at, 'updated_at', af.updated_at,
                              'deleted_at', af.deleted_at) AS after_doc
      FROM after af JOIN before b ON b.id = af.id
), audited AS (
    INSERT INTO audits (tenant_id, actor_user_id, action, entity_type, entity_id, before, after,
                        user_agent)
    SELECT headwater_tenant(), %(actor)s, 'asset.replace_fields', 'asset', st.id::text,
           st.before_doc, st.after_doc, %(agent)s
      FROM state st
)
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT headwater_tenant(), 'asset', st.id, st.version, 'asset.upserted', st.after_doc
  FROM state st
 ORDER BY st.id

-- name: insert_relationships
-- As relationships.write_relationship creating an edge: relationship.create audit rows and
-- relationship.upserted events carrying {id, source_id, target_id, type, metadata, version,
-- deleted_at}.
WITH ins AS (
    INSERT INTO relationships (tenant_id, source_id, target_id, type, metadata, created_by)
    SELECT headwater_tenant(), ms.id, mt.id, (%(types)s::text[])[s.type_code + 1], '{}'::jsonb,
           %(actor)s
      FROM stage_relationships s
      JOIN asset_map ms ON ms.gen = s.source_gen
      JOIN asset_map mt ON mt.gen = s.target_gen
    RETURNING id, source_id, target_id, type, metadata, version, deleted_at
), state AS (
    SELECT i.id, i.version,
           jsonb_build_object('id', i.id, 'source_id', i.source_id, 'target_id', i.target_id,
                              'type', i.type, 'metadata', i.metadata, 'version', i.version,
                              'deleted_at', i.deleted_at) AS doc
      FROM ins i
), audited AS (
    INSERT INTO audits (tenant_id, actor_user_id, action, entity_type, entity_id, after,
                        user_agent)
    SELECT headwater_tenant(), %(actor)s, 'relationship.create', 'relationship', st.id::text,
           st.doc, %(agent)s
      FROM state st
)
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT headwater_tenant(), 'relationship', st.id, st.version, 'relationship.upserted', st.doc
  FROM state st
 ORDER BY st.id

-- name: insert_field_lineage
-- As field_lineage.write_field_lineage creating an edge.
WITH ins AS (
    INSERT INTO field_lineage (tenant_id, source_field_id, target_field_id, transformation,
                               description, metadata, created_by)
    SELECT headwater_tenant(), fs.id, ft.id, (%(types)s::text[])[s.type_code + 1], '',
           '{}'::jsonb, %(actor)s
      FROM stage_lineage s
      JOIN field_map fs ON fs.gen = s.source_gen
      JOIN field_map ft ON ft.gen = s.target_gen
    RETURNING id, source_field_id, target_field_id, transformation, description, metadata,
              version, deleted_at
), state AS (
    SELECT i.id, i.version,
           jsonb_build_object('id', i.id, 'source_field_id', i.source_field_id,
                              'target_field_id', i.target_field_id,
                              'transformation', i.transformation,
                              'description', i.description, 'metadata', i.metadata,
                              'version', i.version, 'deleted_at', i.deleted_at) AS doc
      FROM ins i
), audited AS (
    INSERT INTO audits (tenant_id, actor_user_id, action, entity_type, entity_id, after,
                        user_agent)
    SELECT headwater_tenant(), %(actor)s, 'field_lineage.create', 'field_lineage',
           st.id::text, st.doc, %(agent)s
      FROM state st
)
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT headwater_tenant(), 'field_lineage', st.id, st.version, 'field_lineage.upserted', st.doc
  FROM state st
 ORDER BY st.id

-- name: vacuum_analyze
-- After the load, as autovacuum would soon do: fresh statistics for the planner (the recursive
-- CTE baselines and the hydration queries depend on them) and a visibility map. The logs too:
-- left to autovacuum, their millions of fresh rows were vacuumed while the first measurements
-- ran (insert-triggered autovacuum), on the same two cores.
VACUUM ANALYZE assets, schema_fields, relationships, field_lineage, audits, outbox

-- name: checkpoint
-- Then the load's dirty pages written now, not by a spread checkpoint under the measurements.
CHECKPOINT

-- name: asset_map_rows
COPY (SELECT gen, id FROM asset_map ORDER BY gen) TO STDOUT (FORMAT BINARY)

-- name: field_map_rows
COPY (SELECT gen, id FROM field_map ORDER BY gen) TO STDOUT (FORMAT BINARY)
