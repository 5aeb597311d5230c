-- Search documents, read by the search sinks and reconcile through the worker role (which reads
-- every tenant's catalog). See headwater/search/source.py for how versions are assigned.

-- name: search_documents
-- One row per asset among ids, live or deleted (a deleted one becomes a tombstone): its own text,
-- its columns in ordinal order (bounded), its tags by name, and only the metadata keys asked for
-- (ingestion can leave large raw JSON in metadata that a search document does not want).
SELECT a.id, a.tenant_id, a.type, a.name, a.qualified_name, a.description, a.owners,
       a.deleted_at IS NOT NULL AS deleted,
       COALESCE((SELECT jsonb_object_agg(k.key, a.metadata -> k.key)
                   FROM unnest(%(metadata_keys)s::text[]) AS k (key)
                  WHERE a.metadata ? k.key), '{}') AS metadata,
       COALESCE((SELECT jsonb_agg(jsonb_build_array(f.name, f.data_type, f.description)
                                  ORDER BY f.ordinal, f.id)
                   FROM (SELECT sf.id, sf.name, sf.data_type, sf.description, sf.ordinal
                           FROM schema_fields sf
                          WHERE sf.asset_id = a.id
                          ORDER BY sf.ordinal, sf.id
                          LIMIT %(max_columns)s) AS f), '[]') AS columns,
       COALESCE((SELECT jsonb_agg(jsonb_build_array(t.name, t.category) ORDER BY t.name)
                   FROM asset_tags at
                   JOIN tags t ON t.id = at.tag_id
                  WHERE at.asset_id = a.id), '[]') AS tags
  FROM assets a
 WHERE a.id = ANY (%(ids)s::bigint[])

-- name: search_live_asset_ids
-- A tenant's live assets in id order, a page at a time (keyset: after the last id seen).
SELECT a.id
  FROM assets a
 WHERE a.tenant_id = %(tenant_id)s AND a.deleted_at IS NULL AND a.id > %(after)s
 ORDER BY a.id
 LIMIT %(limit)s

-- name: search_tenants
SELECT t.id, t.slug FROM tenants t ORDER BY t.slug

-- name: search_expected_versions
-- Every live asset of a tenant and the txid of the last outbox event that changed its search
-- document (NULL when the outbox holds none): the asset itself, its tags, its columns. One pass
-- over the tenant's outbox; this serves the drift check, not the request path.
WITH changes AS (
    SELECT CASE WHEN o.entity_type = 'schema_field' THEN (o.payload ->> 'asset_id')::bigint
                ELSE o.entity_id END AS asset_id,
           o.txid::text::bigint AS txid
      FROM outbox o
     WHERE o.tenant_id = %(tenant_id)s
       AND o.entity_type IN ('asset', 'asset_tag', 'schema_field')
), latest AS (
    SELECT c.asset_id, max(c.txid) AS txid FROM changes c GROUP BY c.asset_id
)
SELECT a.id AS asset_id, l.txid
  FROM assets a
  LEFT JOIN latest l ON l.asset_id = a.id
 WHERE a.tenant_id = %(tenant_id)s AND a.deleted_at IS NULL
