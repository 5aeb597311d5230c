-- The sync-lag writer at rates the per-event catalog path cannot offer from the bench process.

-- name: write_relationships_by_id
-- The rows relationships.write_relationship writes when it creates an edge (as
-- insert_relationships in load.sql does), for edges given by catalog ids, one statement per
-- transaction: relationship rows, relationship.create audit rows, relationship.upserted events.
WITH ins AS (
    INSERT INTO relationships (tenant_id, source_id, target_id, type, metadata, created_by)
    SELECT headwater_tenant(), e.source_id, e.target_id, %(type)s, '{}'::jsonb, %(actor)s
      FROM unnest(%(sources)s::bigint[], %(targets)s::bigint[]) AS e(source_id, target_id)
    RETURNING id, source_id, target_id, type, metadata, version, deleted_at
), state AS (
    SELECT i.id, i.version,
           jsonb_build_object('id', i.id, 'source_id', i.source_id, 'target_id', i.target_id,
                              'type', i.type, 'metadata', i.metadata, 'version', i.version,
                              'deleted_at', i.deleted_at) AS doc
      FROM ins i
), audited AS (
    INSERT INTO audits (tenant_id, actor_user_id, action, entity_type, entity_id, after,
                        user_agent)
    SELECT headwater_tenant(), %(actor)s, 'relationship.create', 'relationship', st.id::text,
           st.doc, %(agent)s
      FROM state st
)
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT headwater_tenant(), 'relationship', st.id, st.version, 'relationship.upserted', st.doc
  FROM state st
 ORDER BY st.id
RETURNING entity_id
