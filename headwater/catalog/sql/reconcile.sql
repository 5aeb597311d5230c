-- Reconcile: comparing a mirror with Postgres, and (re)loading a shared mirror at a snapshot.
-- Positions are (txid, event_id); xid8 travels as text (see sync.sql).

-- name: reconcile_tenant_ids
-- Every tenant, whatever its status: a mirror holds the graph of suspended tenants too.
SELECT id FROM tenants ORDER BY id

-- name: reconcile_events_between
-- Whether a committed event lies after the mirror's position and before the snapshot's: when
-- none does, the mirror has applied everything the snapshot is guaranteed to contain.
SELECT EXISTS (
    SELECT 1 FROM outbox
     WHERE (txid, id) > (%(after_txid)s::text::xid8, %(after_id)s::bigint)
       AND txid < %(before_txid)s::text::xid8
) AS behind

-- name: reconcile_changed_since
-- The entities among the given ones with an event after a position: changed since the snapshot,
-- so a difference in them is in flight rather than drift.
SELECT DISTINCT entity_type, entity_id
  FROM outbox
 WHERE tenant_id = %(tenant_id)s
   AND (txid, id) > (%(txid)s::text::xid8, %(event_id)s::bigint)
   AND entity_type = ANY (%(entity_types)s::text[])
   AND entity_id = ANY (%(entity_ids)s::bigint[])

-- name: reconcile_set_checkpoint
-- Put a shared sink's checkpoint at a position: after a load at that snapshot, or back to the
-- start so that a load interrupted half-way is redone by the next worker.
INSERT INTO sync_checkpoints (sink, txid, event_id)
VALUES (%(sink)s, %(txid)s::text::xid8, %(event_id)s)
ON CONFLICT (sink) DO UPDATE
   SET txid = EXCLUDED.txid, event_id = EXCLUDED.event_id, updated_at = now()
