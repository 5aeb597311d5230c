-- name: get_asset
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.metadata, a.owners, a.version,
       a.created_by, a.updated_by, a.created_at, a.updated_at, a.deleted_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                      'category', t.category) ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags
  FROM assets a
 WHERE a.id = %(id)s
   AND (%(include_deleted)s OR a.deleted_at IS NULL)

-- name: get_asset_for_update
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.metadata, a.owners, a.version,
       a.created_by, a.updated_by, a.created_at, a.updated_at, a.deleted_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                      'category', t.category) ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags
  FROM assets a
 WHERE a.id = %(id)s
   FOR UPDATE OF a

-- name: get_asset_id_by_qualified_name
SELECT id FROM assets WHERE qualified_name = %(qualified_name)s AND deleted_at IS NULL

-- name: insert_asset
INSERT INTO assets (tenant_id, type, name, qualified_name, description, metadata, owners,
                    created_by, updated_by)
VALUES (headwater_tenant(), %(type)s, %(name)s, %(qualified_name)s, %(description)s,
        %(metadata)s, %(owners)s, %(actor)s, %(actor)s)
RETURNING id

-- name: update_asset
UPDATE assets
   SET name = %(name)s, qualified_name = %(qualified_name)s, description = %(description)s,
       metadata = %(metadata)s, owners = %(owners)s, updated_by = %(actor)s,
       version = version + 1
 WHERE id = %(id)s

-- name: set_asset_deleted
UPDATE assets
   SET deleted_at = CASE WHEN %(deleted)s THEN now() END, updated_by = %(actor)s,
       version = version + 1
 WHERE id = %(id)s

-- name: list_assets
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.metadata, a.owners, a.version,
       a.created_by, a.updated_by, a.created_at, a.updated_at, a.deleted_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                      'category', t.category) ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags
  FROM assets a
 WHERE (%(include_deleted)s OR a.deleted_at IS NULL)
   AND (%(type)s::text IS NULL OR a.type = %(type)s)
   AND (%(owner)s::text IS NULL OR a.owners @> ARRAY[%(owner)s::text])
   AND (%(name_prefix)s::text IS NULL OR lower(a.name) LIKE lower(%(name_prefix)s) || '%%')
   AND (%(tag)s::text IS NULL OR EXISTS (
          SELECT 1 FROM asset_tags at JOIN tags t ON t.id = at.tag_id
           WHERE at.asset_id = a.id AND lower(t.name) = lower(%(tag)s)))
   AND (%(after_id)s::bigint IS NULL OR a.id > %(after_id)s)
 ORDER BY a.id
 LIMIT %(limit)s
