-- name: get_live_asset_id
SELECT id FROM assets WHERE id = %(id)s AND deleted_at IS NULL

-- name: insert_relationship
-- DO NOTHING on an existing (source, target, type), live or soft-deleted: the caller then locks
-- that row and either refuses (409) or revives it, so the pair keeps one id.
INSERT INTO relationships (tenant_id, source_id, target_id, type, metadata, created_by)
VALUES (headwater_tenant(), %(source_id)s, %(target_id)s, %(type)s, %(metadata)s, %(actor)s)
ON CONFLICT ON CONSTRAINT relationships_edge_key DO NOTHING
RETURNING id, source_id, target_id, type, metadata, version, created_by, created_at, updated_at,
          deleted_at

-- name: get_relationship_by_edge_for_update
SELECT id, source_id, target_id, type, metadata, version, created_by, created_at, updated_at,
       deleted_at
  FROM relationships
 WHERE source_id = %(source_id)s AND target_id = %(target_id)s AND type = %(type)s
   FOR UPDATE

-- name: get_relationship
-- Visible only while both end assets are live; a soft-deleted end hides the edge, unchanged.
SELECT r.id, r.source_id, r.target_id, r.type, r.metadata, r.version, r.created_by,
       r.created_at, r.updated_at, r.deleted_at
  FROM relationships r
  JOIN assets s ON s.id = r.source_id AND s.deleted_at IS NULL
  JOIN assets t ON t.id = r.target_id AND t.deleted_at IS NULL
 WHERE r.id = %(id)s AND r.deleted_at IS NULL

-- name: get_relationship_for_update
SELECT r.id, r.source_id, r.target_id, r.type, r.metadata, r.version, r.created_by,
       r.created_at, r.updated_at, r.deleted_at
  FROM relationships r
  JOIN assets s ON s.id = r.source_id AND s.deleted_at IS NULL
  JOIN assets t ON t.id = r.target_id AND t.deleted_at IS NULL
 WHERE r.id = %(id)s AND r.deleted_at IS NULL
   FOR UPDATE OF r

-- name: set_relationship_live
-- Update or revive: the row becomes live with the given metadata, one version later.
UPDATE relationships
   SET metadata = %(metadata)s, deleted_at = NULL, version = version + 1
 WHERE id = %(id)s
RETURNING id, source_id, target_id, type, metadata, version, created_by, created_at, updated_at,
          deleted_at

-- name: soft_delete_relationship
UPDATE relationships SET deleted_at = now(), version = version + 1
 WHERE id = %(id)s
RETURNING id, source_id, target_id, type, metadata, version, created_by, created_at, updated_at,
          deleted_at

-- name: list_relationships
SELECT r.id, r.source_id, r.target_id, r.type, r.metadata, r.version, r.created_by,
       r.created_at, r.updated_at, r.deleted_at
  FROM relationships r
  JOIN assets s ON s.id = r.source_id AND s.deleted_at IS NULL
  JOIN assets t ON t.id = r.target_id AND t.deleted_at IS NULL
 WHERE r.deleted_at IS NULL
   AND (%(asset_id)s::bigint IS NULL
        OR (%(outgoing)s AND r.source_id = %(asset_id)s)
        OR (%(incoming)s AND r.target_id = %(asset_id)s))
   AND (%(type)s::text IS NULL OR r.type = %(type)s)
   AND (%(after_id)s::bigint IS NULL OR r.id > %(after_id)s)
 ORDER BY r.id
 LIMIT %(limit)s
