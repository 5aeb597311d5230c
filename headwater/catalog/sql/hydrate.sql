-- Graph answers carry ids only; these turn them into what a client shows, from Postgres, under
-- the request's tenant. An id the mirror still holds but Postgres no longer shows is left out.
--
-- The ids come as one array of distinct ids (a literal, see hydrate.py), often tens of thousands
-- of them (a closure). Joining on its unnest rather than testing ``id = ANY(...)`` keeps planning
-- cheap (the planner estimates ANY element by element) and lets it hash-join a large set. Tags
-- are aggregated once for the whole set: a subquery per asset is planned as a scan of every tag of
-- the tenant for each asset. Tags and metadata come back as JSON text, which the lineage API
-- passes through to its response unparsed.

-- name: hydrate_assets
WITH wanted AS MATERIALIZED (SELECT unnest(%(ids)s::bigint[]) AS id),
tagged AS (
    SELECT at.asset_id,
           json_agg(json_build_object('id', t.id, 'name', t.name, 'category', t.category)
                    ORDER BY t.name)::text AS tags
      FROM wanted w
      JOIN asset_tags at ON at.asset_id = w.id
      JOIN tags t ON t.id = at.tag_id
     GROUP BY at.asset_id
)
SELECT a.id, a.type, a.name, a.qualified_name, a.description, a.owners,
       COALESCE(tg.tags, '[]') AS tags, a.metadata::text AS metadata
  FROM wanted w
  JOIN assets a ON a.id = w.id
  LEFT JOIN tagged tg ON tg.asset_id = a.id
 WHERE a.deleted_at IS NULL

-- name: hydrate_fields
SELECT f.id, f.name, f.data_type, f.description, f.asset_id
  FROM unnest(%(ids)s::bigint[]) AS wanted (id)
  JOIN schema_fields f ON f.id = wanted.id
  JOIN assets a ON a.id = f.asset_id AND a.deleted_at IS NULL
