-- Graph answers carry ids only; these turn them into what a client shows, from Postgres, under
-- the request's tenant. An id the mirror still holds but Postgres no longer shows is left out.

-- name: hydrate_assets
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.owners, a.metadata,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                      'category', t.category) ORDER BY t.name)
                   FROM asset_tags at JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags
  FROM assets a
 WHERE a.id = ANY(%(ids)s) AND a.deleted_at IS NULL

-- name: hydrate_fields
SELECT f.id, f.name, f.data_type, f.description, f.asset_id
  FROM schema_fields f
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
 WHERE f.id = ANY(%(ids)s)
