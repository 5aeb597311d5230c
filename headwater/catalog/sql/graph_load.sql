-- The cold-start projection of every tenant's lineage graph, read by the worker role inside one
-- REPEATABLE READ snapshot (shared by several connections, each reading other block ranges of the
-- tables: TID range scans, sequential reads of just those pages). Each column arrives as one
-- bytea per tenant and block range: the
-- values' binary send forms (big-endian, fixed width) concatenated, so a million rows cost one
-- result row that parses straight into numpy, not a million rows through the driver (binary
-- COPY hands libpq one message per row: the client spent ~5 us a row there). Within one
-- aggregate group every string_agg sees the rows in the same order, so the columns line up.
-- Labels travel as small integer codes (1-based positions in the arrays passed in).

-- name: graph_load_labels
SELECT (SELECT coalesce(array_agg(DISTINCT type ORDER BY type), '{}') FROM assets)
           AS asset_types,
       (SELECT coalesce(array_agg(DISTINCT type ORDER BY type), '{}') FROM relationships)
           AS relationship_types,
       (SELECT coalesce(array_agg(DISTINCT transformation ORDER BY transformation), '{}')
          FROM field_lineage) AS transformations

-- name: graph_load_blocks
-- Pages per table, measured inside the snapshot: every row it can see was written before, so sits
-- in one of them (the loader still leaves the last range open-ended).
SELECT pg_relation_size('assets') / b AS assets,
       pg_relation_size('schema_fields') / b AS fields,
       pg_relation_size('relationships') / b AS relationships,
       pg_relation_size('field_lineage') / b AS field_lineage
  FROM (SELECT current_setting('block_size')::bigint AS b) AS block

-- name: graph_load_assets
SELECT tenant_id,
       string_agg(int8send(id), ''::bytea) AS id,
       string_agg(int2send(array_position(%(types)s::text[], type)::int2), ''::bytea) AS type,
       string_agg(int4send(version), ''::bytea) AS version,
       string_agg(boolsend(deleted_at IS NOT NULL), ''::bytea) AS deleted
  FROM assets
 WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid
 GROUP BY tenant_id

-- name: graph_load_fields
SELECT tenant_id,
       string_agg(int8send(id), ''::bytea) AS id,
       string_agg(int8send(asset_id), ''::bytea) AS asset_id,
       string_agg(int4send(version), ''::bytea) AS version
  FROM schema_fields
 WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid
 GROUP BY tenant_id

-- name: graph_load_relationships
SELECT tenant_id,
       string_agg(int8send(id), ''::bytea) AS id,
       string_agg(int8send(source_id), ''::bytea) AS source,
       string_agg(int8send(target_id), ''::bytea) AS target,
       string_agg(int2send(array_position(%(types)s::text[], type)::int2), ''::bytea) AS type,
       string_agg(int4send(version), ''::bytea) AS version,
       string_agg(boolsend(deleted_at IS NOT NULL), ''::bytea) AS deleted
  FROM relationships
 WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid
 GROUP BY tenant_id

-- name: graph_load_field_lineage
SELECT tenant_id,
       string_agg(int8send(id), ''::bytea) AS id,
       string_agg(int8send(source_field_id), ''::bytea) AS source,
       string_agg(int8send(target_field_id), ''::bytea) AS target,
       string_agg(int2send(array_position(%(types)s::text[], transformation)::int2), ''::bytea)
           AS type,
       string_agg(int4send(version), ''::bytea) AS version,
       string_agg(boolsend(deleted_at IS NOT NULL), ''::bytea) AS deleted
  FROM field_lineage
 WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid
 GROUP BY tenant_id
