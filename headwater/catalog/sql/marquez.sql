-- Marquez-compatible lineage: node ids name assets by (namespace, name); these find them and
-- read what Marquez's lineage response shows of them, under the request's tenant.

-- name: marquez_assets_by_name
-- Live assets whose qualified name, or one of whose aliases (OpenLineage symlinks), is a
-- candidate.
SELECT id, type, qualified_name, metadata,
       qualified_name = ANY (%(names)s::text[]) AS direct
  FROM assets
 WHERE id = ANY (ARRAY(
           SELECT id FROM assets
            WHERE deleted_at IS NULL AND qualified_name = ANY (%(names)s::text[])
           UNION
           SELECT asset_id FROM headwater_assets_by_alias(%(names)s::text[])))

-- name: marquez_fields_by_name
SELECT id, asset_id, name FROM schema_fields
 WHERE asset_id = ANY (%(asset_ids)s::bigint[]) AND name = ANY (%(names)s::text[])

-- name: marquez_assets
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.metadata, a.created_at,
       a.updated_at,
       COALESCE((SELECT jsonb_agg(t.name ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('name', f.name, 'type', f.data_type,
                                                     'description', f.description)
                                  ORDER BY f.ordinal, f.id)
                   FROM schema_fields f
                  WHERE f.asset_id = a.id), '[]') AS fields
  FROM assets a
 WHERE a.id = ANY (%(ids)s::bigint[]) AND a.deleted_at IS NULL

-- name: marquez_fields
SELECT f.id, f.asset_id, f.name, f.data_type
  FROM schema_fields f
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
 WHERE f.id = ANY (%(ids)s::bigint[])

-- name: marquez_field_lineage
SELECT id, transformation, description FROM field_lineage
 WHERE id = ANY (%(ids)s::bigint[]) AND deleted_at IS NULL
