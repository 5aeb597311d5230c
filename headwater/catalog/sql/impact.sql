-- Impact analysis. The graph mirror finds the region a change reaches (a closure over column
-- lineage, then waves over table-level flow); these read, for that region only, the edges the
-- rules need (headwater.graph.impact.Evidence), what ranking needs of the reported assets, and
-- the catalog state a schema diff compares against. Row-level security scopes all to the tenant.
--
-- The evidence statements are driven by the region's ids through the (tenant_id, ...) indexes
-- and test membership in the region with a hash: a region holds thousands of ids, and
-- "x = ANY(array)" as a row filter compares every row with each of them.

-- name: impact_without_jit
-- For the rest of the transaction. The evidence statements' estimated costs grow with the region
-- and with the fan-out of popular columns, past jit_above_cost, and compiling them takes longer
-- (half a second) than running them.
SELECT set_config('jit', 'off', true)

-- name: impact_flows
-- Relationships with a declared flow between two live assets of the region.
WITH region AS MATERIALIZED (
    SELECT a.id
      FROM unnest(%(ids)s::bigint[]) AS wanted(id)
      JOIN assets a ON a.id = wanted.id AND a.deleted_at IS NULL
)
SELECT r.id, r.source_id, r.target_id, r.type
  FROM region s
  JOIN relationships r ON r.source_id = s.id AND r.deleted_at IS NULL
 WHERE r.type = ANY(%(types)s::text[])
   AND r.target_id IN (SELECT id FROM region)
 ORDER BY r.id

-- name: impact_region_assets
-- Per live region asset: whether it has columns, and whether column lineage (from a live asset)
-- ends in one of them (its inputs are described at column level). Each is a per-asset probe that
-- stops at the first hit (LATERAL ... LIMIT 1): as EXISTS, the planner may hash it into a scan of
-- every column or lineage edge of the tenant.
WITH region AS MATERIALIZED (
    SELECT a.id
      FROM unnest(%(ids)s::bigint[]) AS wanted(id)
      JOIN assets a ON a.id = wanted.id AND a.deleted_at IS NULL
)
SELECT s.id AS asset_id,
       columns.hit IS NOT NULL AS has_columns,
       described.hit IS NOT NULL AS described
  FROM region s
  LEFT JOIN LATERAL (
        SELECT 1 AS hit FROM schema_fields f WHERE f.asset_id = s.id LIMIT 1
       ) AS columns ON true
  LEFT JOIN LATERAL (
        SELECT 1 AS hit
          FROM schema_fields tf
          JOIN field_lineage fl ON fl.target_field_id = tf.id AND fl.deleted_at IS NULL
          JOIN schema_fields sf ON sf.id = fl.source_field_id
          JOIN assets sa ON sa.id = sf.asset_id AND sa.deleted_at IS NULL
         WHERE tf.asset_id = s.id
         LIMIT 1
       ) AS described ON true

-- name: impact_carrying_pairs
-- Which live region assets a tainted column feeds, by column lineage (the column's own asset is
-- known from impact_field_assets). One index probe per tainted column: a few popular columns
-- feed thousands, so the statistics promise many rows per column and, left to itself, the
-- planner scans all of the tenant's lineage instead (OFFSET 0 keeps the subquery a probe).
WITH fed AS MATERIALIZED (
    SELECT DISTINCT hop.source_field_id, hop.asset_id
      FROM unnest(%(tainted)s::bigint[]) AS tainted(id)
     CROSS JOIN LATERAL (
            SELECT fl.source_field_id, tf.asset_id
              FROM field_lineage fl
              JOIN schema_fields tf ON tf.id = fl.target_field_id
             WHERE fl.source_field_id = tainted.id AND fl.deleted_at IS NULL
            OFFSET 0
           ) AS hop
), region AS MATERIALIZED (
    SELECT a.id
      FROM unnest(%(ids)s::bigint[]) AS wanted(id)
      JOIN assets a ON a.id = wanted.id AND a.deleted_at IS NULL
)
SELECT fed.source_field_id, fed.asset_id AS target_asset
  FROM fed
  JOIN region ON region.id = fed.asset_id

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

-- name: impact_asset_facts
-- What ranking and the summary need of every reported asset (a report may reach thousands): no
-- description, no metadata. Tags come as JSON text, NULL for the many assets without any: only
-- tagged rows cost a decoding. The ids are a constant array (the statement is planned per
-- call): Postgres hashes it and tests the assets against it, or probes the primary key for a
-- few ids. Joined from unnest(ids), the plan hashed every asset of the tenant through the
-- row-level policy, and a tag subquery per row added more: three times the time for 5,000.
WITH tagged AS (
    SELECT at.asset_id,
           json_agg(json_build_object('id', t.id, 'name', t.name, 'category', t.category)
                    ORDER BY t.name)::text AS tags
      FROM asset_tags at
      JOIN tags t ON t.id = at.tag_id
     WHERE at.asset_id = ANY(%(ids)s::bigint[])
     GROUP BY at.asset_id
)
SELECT a.id, a.type, a.name, a.qualified_name, a.owners, tg.tags
  FROM assets a
  LEFT JOIN tagged tg ON tg.asset_id = a.id
 WHERE a.id = ANY(%(ids)s::bigint[]) AND a.deleted_at IS NULL

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
