-- Postgres baselines: lineage answered by recursive SQL over the catalog's own tables, the way
-- Marquez answers it. Run as the application role, so row-level security scopes them to the
-- tenant exactly as it scopes the API, over the same partial indexes the catalog declares.

-- name: set_session_tenant
SELECT set_config('headwater.tenant_id', %(tenant_id)s, false)

-- name: closure_cte_lateral
-- Downstream closure: per reached asset, index lookups for the edges its data flows along
-- (PRODUCES source -> target, USES / DEPENDS_ON target -> source). UNION drops nodes already
-- reached, so cycles end. Returns how many assets were reached besides the start.
WITH RECURSIVE reached (id) AS (
    SELECT %(start)s::bigint
    UNION
    SELECT next.id
      FROM reached r
     CROSS JOIN LATERAL (
            SELECT rel.target_id AS id FROM relationships rel
             WHERE rel.source_id = r.id AND rel.type = 'PRODUCES' AND rel.deleted_at IS NULL
            UNION ALL
            SELECT rel.source_id FROM relationships rel
             WHERE rel.target_id = r.id AND rel.type IN ('USES', 'DEPENDS_ON')
               AND rel.deleted_at IS NULL
          ) next
)
SELECT count(*) - 1 AS reached FROM reached

-- name: closure_cte_join
-- The same closure written as a join against a flow view of the edges, letting the planner
-- choose (hash join per iteration, or nested loops over the indexes).
WITH RECURSIVE flow (up, down) AS (
    SELECT source_id, target_id FROM relationships
     WHERE type = 'PRODUCES' AND deleted_at IS NULL
    UNION ALL
    SELECT target_id, source_id FROM relationships
     WHERE type IN ('USES', 'DEPENDS_ON') AND deleted_at IS NULL
), reached (id) AS (
    SELECT %(start)s::bigint
    UNION
    SELECT f.down FROM reached r JOIN flow f ON f.up = r.id
)
SELECT count(*) - 1 AS reached FROM reached
