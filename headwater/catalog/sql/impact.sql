-- Impact analysis. The graph mirror finds the region a change reaches (one closure); these read,
-- for that region only, the edges the rules need (headwater.graph.impact.Evidence), and the
-- catalog state a schema diff compares against. Row-level security scopes all to the tenant.

-- name: impact_flows
-- Relationships with a declared flow between two live assets of the region.
SELECT r.id, r.source_id, r.target_id, r.type
  FROM relationships r
  JOIN assets s ON s.id = r.source_id AND s.deleted_at IS NULL
  JOIN assets t ON t.id = r.target_id AND t.deleted_at IS NULL
 WHERE r.deleted_at IS NULL
   AND r.type = ANY(%(types)s::text[])
   AND r.source_id = ANY(%(ids)s::bigint[])
   AND r.target_id = ANY(%(ids)s::bigint[])
 ORDER BY r.id

-- name: impact_lineage_targets
-- The region assets that column lineage ends in (their inputs are described at column level).
SELECT DISTINCT tf.asset_id
  FROM schema_fields tf
  JOIN field_lineage fl ON fl.target_field_id = tf.id AND fl.deleted_at IS NULL
  JOIN schema_fields sf ON sf.id = fl.source_field_id
  JOIN assets sa ON sa.id = sf.asset_id AND sa.deleted_at IS NULL
 WHERE tf.asset_id = ANY(%(ids)s::bigint[])

-- name: impact_carrying_pairs
-- Which assets a tainted column feeds, by column lineage, within the region.
SELECT DISTINCT sf.asset_id AS source_asset, tf.asset_id AS target_asset
  FROM field_lineage fl
  JOIN schema_fields sf ON sf.id = fl.source_field_id
  JOIN schema_fields tf ON tf.id = fl.target_field_id
  JOIN assets ta ON ta.id = tf.asset_id AND ta.deleted_at IS NULL
 WHERE fl.deleted_at IS NULL
   AND fl.source_field_id = ANY(%(tainted)s::bigint[])
   AND tf.asset_id = ANY(%(ids)s::bigint[])

-- name: impact_assets_with_fields
SELECT DISTINCT asset_id FROM schema_fields WHERE asset_id = ANY(%(ids)s::bigint[])

-- name: impact_field_assets
SELECT f.id, f.asset_id
  FROM schema_fields f
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
 WHERE f.id = ANY(%(ids)s::bigint[])

-- name: impact_direct_lineage
-- Column lineage out of the changed columns: who reads them directly, and how.
SELECT fl.id, fl.source_field_id, fl.target_field_id, fl.transformation
  FROM field_lineage fl
  JOIN schema_fields tf ON tf.id = fl.target_field_id
  JOIN assets ta ON ta.id = tf.asset_id AND ta.deleted_at IS NULL
 WHERE fl.deleted_at IS NULL
   AND fl.source_field_id = ANY(%(seeds)s::bigint[])
 ORDER BY fl.id

-- name: impact_assets_by_qualified_name
SELECT id, qualified_name, metadata -> 'dbt' ->> 'unique_id' AS unique_id
  FROM assets
 WHERE deleted_at IS NULL AND qualified_name = ANY(%(names)s::text[])

-- name: impact_dbt_relations
-- The models, seeds and snapshots a dbt project (by package) wrote into the catalog.
SELECT id, qualified_name, metadata -> 'dbt' ->> 'unique_id' AS unique_id
  FROM assets
 WHERE deleted_at IS NULL
   AND metadata -> 'dbt' ->> 'package_name' = ANY(%(packages)s::text[])
   AND metadata -> 'dbt' ->> 'resource_type' IN ('model', 'seed', 'snapshot')
 ORDER BY id

-- name: impact_fields_of_assets
SELECT id, asset_id, name, data_type, ordinal
  FROM schema_fields
 WHERE asset_id = ANY(%(ids)s::bigint[])
 ORDER BY asset_id, ordinal, id
