-- The cold-start projection of every tenant's lineage graph, read by the worker role inside one
-- REPEATABLE READ snapshot. Labels are sent as small integer codes (positions in the arrays
-- passed in, 1-based), so the rows are fixed-width and parse straight into numpy arrays.

-- name: graph_load_labels
SELECT (SELECT coalesce(array_agg(DISTINCT type ORDER BY type), '{}') FROM assets)
           AS asset_types,
       (SELECT coalesce(array_agg(DISTINCT type ORDER BY type), '{}') FROM relationships)
           AS relationship_types,
       (SELECT coalesce(array_agg(DISTINCT transformation ORDER BY transformation), '{}')
          FROM field_lineage) AS transformations

-- name: graph_load_assets
COPY (SELECT tenant_id, id, array_position(%(types)s::text[], type)::int2, version,
             deleted_at IS NOT NULL
        FROM assets ORDER BY tenant_id, id) TO STDOUT (FORMAT BINARY)

-- name: graph_load_fields
COPY (SELECT tenant_id, id, asset_id, version, false FROM schema_fields ORDER BY tenant_id, id)
  TO STDOUT (FORMAT BINARY)

-- name: graph_load_relationships
COPY (SELECT tenant_id, id, source_id, target_id, array_position(%(types)s::text[], type)::int2,
             version, deleted_at IS NOT NULL
        FROM relationships ORDER BY tenant_id, id) TO STDOUT (FORMAT BINARY)

-- name: graph_load_field_lineage
COPY (SELECT tenant_id, id, source_field_id, target_field_id,
             array_position(%(types)s::text[], transformation)::int2, version,
             deleted_at IS NOT NULL
        FROM field_lineage ORDER BY tenant_id, id) TO STDOUT (FORMAT BINARY)
