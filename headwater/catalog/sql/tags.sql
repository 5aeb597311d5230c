-- name: insert_tag
INSERT INTO tags (tenant_id, name, category, description)
VALUES (headwater_tenant(), %(name)s, %(category)s, %(description)s)
RETURNING id, name, category, description, version, created_at, updated_at

-- name: insert_tag_if_absent
-- A concurrent creator of the same name makes this wait, then return nothing: the caller reads
-- the winner's row instead of failing.
INSERT INTO tags (tenant_id, name, category)
VALUES (headwater_tenant(), %(name)s, %(category)s)
ON CONFLICT (tenant_id, lower(name)) DO NOTHING
RETURNING id, name, category, description, version, created_at, updated_at

-- name: get_tag
SELECT id, name, category, description, version, created_at, updated_at
  FROM tags WHERE id = %(id)s

-- name: get_tag_for_update
SELECT id, name, category, description, version, created_at, updated_at
  FROM tags WHERE id = %(id)s
   FOR UPDATE

-- name: get_tag_for_share
SELECT id, name, category, description, version, created_at, updated_at
  FROM tags WHERE id = %(id)s
   FOR SHARE

-- name: get_tag_by_name
SELECT id, name, category, description, version, created_at, updated_at
  FROM tags WHERE lower(name) = lower(%(name)s)

-- name: get_tag_by_name_for_share
SELECT id, name, category, description, version, created_at, updated_at
  FROM tags WHERE lower(name) = lower(%(name)s)
   FOR SHARE

-- name: update_tag
UPDATE tags
   SET name = %(name)s, category = %(category)s, description = %(description)s,
       version = version + 1
 WHERE id = %(id)s
RETURNING id, name, category, description, version, created_at, updated_at

-- name: delete_tag
DELETE FROM tags WHERE id = %(id)s

-- name: list_tags
SELECT id, name, category, description, version, created_at, updated_at
  FROM tags
 WHERE (%(category)s::text IS NULL OR category = %(category)s)
   AND (%(after_id)s::bigint IS NULL OR id > %(after_id)s)
 ORDER BY id
 LIMIT %(limit)s

-- name: attach_tag
INSERT INTO asset_tags (tenant_id, asset_id, tag_id, created_by)
VALUES (headwater_tenant(), %(asset_id)s, %(tag_id)s, %(actor)s)
ON CONFLICT (asset_id, tag_id) DO NOTHING
RETURNING asset_id

-- name: detach_tag
DELETE FROM asset_tags WHERE asset_id = %(asset_id)s AND tag_id = %(tag_id)s
RETURNING asset_id

-- name: detach_tag_everywhere
-- Every asset the tag was on, deleted or not, with the version its events carry.
WITH gone AS (
    DELETE FROM asset_tags WHERE tag_id = %(tag_id)s RETURNING asset_id
)
SELECT g.asset_id, a.version
  FROM gone g JOIN assets a ON a.id = g.asset_id
 ORDER BY g.asset_id

-- name: list_live_tag_attachments
-- A soft-deleted asset has no search document to refresh; its restore event carries fresh tags.
SELECT at.asset_id, a.version
  FROM asset_tags at JOIN assets a ON a.id = at.asset_id
 WHERE at.tag_id = %(tag_id)s AND a.deleted_at IS NULL
 ORDER BY at.asset_id

-- name: list_asset_tags
SELECT t.id, t.name, t.category
  FROM asset_tags at JOIN tags t ON t.id = at.tag_id
 WHERE at.asset_id = %(asset_id)s
 ORDER BY t.name, t.id
