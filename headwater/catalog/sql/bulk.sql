-- name: get_live_field_id_by_name
SELECT f.id
  FROM schema_fields f
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
 WHERE a.qualified_name = %(qualified_name)s AND f.name = %(name)s
