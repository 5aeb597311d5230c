-- name: list_schema_fields
SELECT id, asset_id, name, data_type, nullable, description, metadata, ordinal, version,
       created_at, updated_at
  FROM schema_fields
 WHERE asset_id = %(asset_id)s
 ORDER BY ordinal, id

-- name: lock_schema_fields
-- Taken before a replace-all reads the lineage of the fields it removes: a concurrent lineage
-- insert needs a key-share lock on its fields, so it cannot slip in unseen between the two.
SELECT id, asset_id, name, data_type, nullable, description, metadata, ordinal, version,
       created_at, updated_at
  FROM schema_fields
 WHERE asset_id = %(asset_id)s
 ORDER BY ordinal, id
   FOR UPDATE

-- name: get_schema_field_for_update
SELECT f.id, f.asset_id, f.name, f.data_type, f.nullable, f.description, f.metadata, f.ordinal,
       f.version, f.created_at, f.updated_at
  FROM schema_fields f
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
 WHERE f.id = %(id)s AND f.asset_id = %(asset_id)s
   FOR UPDATE OF f

-- name: get_schema_field_id_by_name
SELECT id FROM schema_fields WHERE asset_id = %(asset_id)s AND name = %(name)s

-- name: insert_schema_fields
INSERT INTO schema_fields (tenant_id, asset_id, name, data_type, nullable, description, metadata,
                           ordinal)
SELECT headwater_tenant(), %(asset_id)s, r.name, r.data_type, r.nullable, r.description,
       r.metadata, r.ordinal
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(name text, data_type text, nullable boolean, description text, metadata jsonb,
            ordinal integer)
RETURNING id, asset_id, name, data_type, nullable, description, metadata, ordinal, version,
          created_at, updated_at

-- name: update_schema_fields
UPDATE schema_fields f
   SET name = r.name, data_type = r.data_type, nullable = r.nullable,
       description = r.description, metadata = r.metadata, ordinal = r.ordinal,
       version = f.version + 1
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(id bigint, name text, data_type text, nullable boolean, description text,
            metadata jsonb, ordinal integer)
 WHERE f.id = r.id
RETURNING f.id, f.asset_id, f.name, f.data_type, f.nullable, f.description, f.metadata,
          f.ordinal, f.version, f.created_at, f.updated_at

-- name: delete_schema_fields
-- Their field lineage goes too (ON DELETE CASCADE); the caller reads and reports it first.
DELETE FROM schema_fields WHERE id = ANY(%(ids)s::bigint[])

-- name: lock_live_lineage_of_fields
SELECT id, source_field_id, target_field_id, transformation, description, metadata, version,
       deleted_at, now() AS removed_at
  FROM field_lineage
 WHERE deleted_at IS NULL
   AND (source_field_id = ANY(%(ids)s::bigint[]) OR target_field_id = ANY(%(ids)s::bigint[]))
 ORDER BY id
   FOR UPDATE

-- name: bump_asset_version
UPDATE assets SET version = version + 1, updated_by = %(actor)s WHERE id = %(id)s

-- name: get_live_field
SELECT f.id, f.asset_id
  FROM schema_fields f
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
 WHERE f.id = %(id)s

-- name: insert_field_lineage
-- DO NOTHING on an existing (source, target) edge: the caller locks it and refuses or revives.
INSERT INTO field_lineage (tenant_id, source_field_id, target_field_id, transformation,
                           description, metadata, created_by)
VALUES (headwater_tenant(), %(source_field_id)s, %(target_field_id)s, %(transformation)s,
        %(description)s, %(metadata)s, %(actor)s)
ON CONFLICT ON CONSTRAINT field_lineage_edge_key DO NOTHING
RETURNING id, source_field_id, target_field_id, transformation, description, metadata, version,
          created_by, created_at, updated_at, deleted_at

-- name: get_field_lineage_by_edge_for_update
SELECT id, source_field_id, target_field_id, transformation, description, metadata, version,
       created_by, created_at, updated_at, deleted_at
  FROM field_lineage
 WHERE source_field_id = %(source_field_id)s AND target_field_id = %(target_field_id)s
   FOR UPDATE

-- name: get_field_lineage
-- Visible only while both fields' assets are live.
SELECT fl.id, fl.source_field_id, fl.target_field_id, fl.transformation, fl.description,
       fl.metadata, fl.version, fl.created_by, fl.created_at, fl.updated_at, fl.deleted_at,
       sf.asset_id AS source_asset_id, tf.asset_id AS target_asset_id
  FROM field_lineage fl
  JOIN schema_fields sf ON sf.id = fl.source_field_id
  JOIN assets sa ON sa.id = sf.asset_id AND sa.deleted_at IS NULL
  JOIN schema_fields tf ON tf.id = fl.target_field_id
  JOIN assets ta ON ta.id = tf.asset_id AND ta.deleted_at IS NULL
 WHERE fl.id = %(id)s AND fl.deleted_at IS NULL

-- name: get_field_lineage_for_update
SELECT fl.id, fl.source_field_id, fl.target_field_id, fl.transformation, fl.description,
       fl.metadata, fl.version, fl.created_by, fl.created_at, fl.updated_at, fl.deleted_at,
       sf.asset_id AS source_asset_id, tf.asset_id AS target_asset_id
  FROM field_lineage fl
  JOIN schema_fields sf ON sf.id = fl.source_field_id
  JOIN assets sa ON sa.id = sf.asset_id AND sa.deleted_at IS NULL
  JOIN schema_fields tf ON tf.id = fl.target_field_id
  JOIN assets ta ON ta.id = tf.asset_id AND ta.deleted_at IS NULL
 WHERE fl.id = %(id)s AND fl.deleted_at IS NULL
   FOR UPDATE OF fl

-- name: set_field_lineage_live
-- Update or revive: the edge becomes live with the given content, one version later.
UPDATE field_lineage
   SET transformation = %(transformation)s, description = %(description)s,
       metadata = %(metadata)s, deleted_at = NULL, version = version + 1
 WHERE id = %(id)s
RETURNING id, source_field_id, target_field_id, transformation, description, metadata, version,
          created_by, created_at, updated_at, deleted_at

-- name: soft_delete_field_lineage
UPDATE field_lineage SET deleted_at = now(), version = version + 1
 WHERE id = %(id)s
RETURNING id, source_field_id, target_field_id, transformation, description, metadata, version,
          created_by, created_at, updated_at, deleted_at

-- name: list_field_lineage
-- upstream of X: edges flowing into X (X is the target); downstream: edges out of X.
SELECT fl.id, fl.source_field_id, fl.target_field_id, fl.transformation, fl.description,
       fl.metadata, fl.version, fl.created_by, fl.created_at, fl.updated_at, fl.deleted_at,
       sf.asset_id AS source_asset_id, tf.asset_id AS target_asset_id
  FROM field_lineage fl
  JOIN schema_fields sf ON sf.id = fl.source_field_id
  JOIN assets sa ON sa.id = sf.asset_id AND sa.deleted_at IS NULL
  JOIN schema_fields tf ON tf.id = fl.target_field_id
  JOIN assets ta ON ta.id = tf.asset_id AND ta.deleted_at IS NULL
 WHERE fl.deleted_at IS NULL
   AND (%(field_id)s::bigint IS NULL
        OR (%(upstream)s AND fl.target_field_id = %(field_id)s)
        OR (%(downstream)s AND fl.source_field_id = %(field_id)s))
   AND (%(asset_id)s::bigint IS NULL
        OR (%(upstream)s AND tf.asset_id = %(asset_id)s)
        OR (%(downstream)s AND sf.asset_id = %(asset_id)s))
   AND (%(after_id)s::bigint IS NULL OR fl.id > %(after_id)s)
 ORDER BY fl.id
 LIMIT %(limit)s
