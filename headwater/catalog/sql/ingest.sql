-- name: find_asset_id_by_alias
-- A live asset that lists this name among its aliases (OpenLineage symlinks); oldest first.
SELECT id FROM assets
 WHERE deleted_at IS NULL AND metadata -> 'aliases' ? %(alias)s::text
 ORDER BY id
 LIMIT 1

-- name: audit_entry_exists
-- Ingestion keeps each raw input once, keyed by its digest.
SELECT EXISTS (
    SELECT 1 FROM audits WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
) AS found
