-- The sync worker's statements. Positions are (txid, event_id); xid8 travels as text because
-- psycopg has no xid8 adapter.

-- name: read_outbox_batch
-- Only transactions older than this statement's snapshot xmin: every one of them has finished, so
-- no event can ever appear below that bound later (see headwater/sync/tailer.py).
-- Qualified names in ORDER BY: a bare "txid" would sort by the text output column. Read as
-- tuples (tailer.read_batch): the columns after txid are OutboxEvent's, in its order.
SELECT o.id, o.tenant_id, o.txid::text AS txid, o.entity_type, o.entity_id, o.entity_version,
       o.event_type, o.payload, o.created_at
  FROM outbox o
 WHERE (o.txid, o.id) > (%(txid)s::text::xid8, %(event_id)s::bigint)
   AND o.txid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY o.txid, o.id
 LIMIT %(limit)s

-- name: outbox_waiting_behind_barrier
-- Committed events the tailer may not read yet because an older transaction is still open.
SELECT EXISTS (
    SELECT 1 FROM outbox
     WHERE txid >= pg_snapshot_xmin(pg_current_snapshot())
       AND (txid, id) > (%(txid)s::text::xid8, %(event_id)s::bigint)
) AS waiting

-- name: outbox_lag
-- Committed events after a position (counted up to a cap) and when the oldest of them was written.
SELECT count(*) AS behind, min(created_at) AS oldest, now() AS now
  FROM (SELECT created_at
          FROM outbox
         WHERE (txid, id) > (%(txid)s::text::xid8, %(event_id)s::bigint)
         ORDER BY txid, id
         LIMIT %(cap)s) AS pending

-- name: snapshot_position
-- Inside a REPEATABLE READ transaction: every event of a transaction older than the snapshot xmin
-- is visible to it, so a mirror loaded in that transaction reflects at least position (xmin, 0).
SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS txid

-- name: export_snapshot
-- Lets other transactions of the worker role read through this one's snapshot (SET TRANSACTION
-- SNAPSHOT) for as long as this transaction stays open.
SELECT pg_export_snapshot() AS snapshot

-- name: ensure_checkpoint
INSERT INTO sync_checkpoints (sink) VALUES (%(sink)s) ON CONFLICT (sink) DO NOTHING

-- name: try_sink_lease
-- A transaction-scoped advisory lock: it needs no transaction id (so it holds back nobody's
-- snapshot xmin) and is released by commit, rollback or the holder's death.
SELECT pg_try_advisory_xact_lock(%(namespace)s::integer, hashtext(%(sink)s::text)) AS acquired

-- name: get_checkpoint
SELECT txid::text AS txid, event_id, updated_at FROM sync_checkpoints WHERE sink = %(sink)s

-- name: advance_checkpoint
UPDATE sync_checkpoints
   SET txid = %(txid)s::text::xid8, event_id = %(event_id)s, updated_at = now()
 WHERE sink = %(sink)s

-- name: insert_dead_letter
-- A process-local sink runs in every process, so the same rejection may be recorded more than
-- once: the first record stands.
INSERT INTO sync_dead_letters (sink, event_id, txid, tenant_id, entity_type, entity_id,
                               entity_version, event_type, payload, event_created_at, error)
VALUES (%(sink)s, %(event_id)s, %(txid)s::text::xid8, %(tenant_id)s, %(entity_type)s,
        %(entity_id)s, %(entity_version)s, %(event_type)s, %(payload)s, %(event_created_at)s,
        %(error)s)
ON CONFLICT (sink, event_id) DO NOTHING

-- name: list_dead_letters
SELECT d.id, d.sink, d.event_id, d.txid::text AS txid, d.tenant_id, d.entity_type, d.entity_id,
       d.entity_version, d.event_type, d.payload, d.event_created_at, d.error, d.attempts,
       d.status, d.created_at, d.updated_at, d.resolved_at
  FROM sync_dead_letters d
 WHERE (%(sink)s::text IS NULL OR d.sink = %(sink)s)
   AND (%(status)s::text IS NULL OR d.status = %(status)s)
 ORDER BY d.sink, d.txid, d.event_id
 LIMIT %(limit)s

-- name: dead_letters_to_retry
SELECT d.id, d.sink, d.event_id, d.txid::text AS txid, d.tenant_id, d.entity_type, d.entity_id,
       d.entity_version, d.event_type, d.payload, d.event_created_at, d.error, d.attempts,
       d.status, d.created_at, d.updated_at, d.resolved_at
  FROM sync_dead_letters d
 WHERE d.sink = %(sink)s AND d.status = 'RETRY'
 ORDER BY d.txid, d.event_id
 LIMIT %(limit)s

-- name: request_dead_letter_retry
-- ids NULL means every dead letter of the sink.
UPDATE sync_dead_letters
   SET status = 'RETRY'
 WHERE status = 'DEAD'
   AND (%(sink)s::text IS NULL OR sink = %(sink)s)
   AND (%(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s::bigint[]))
RETURNING id

-- name: discard_dead_letters
UPDATE sync_dead_letters
   SET status = 'DISCARDED', resolved_at = now()
 WHERE status IN ('DEAD', 'RETRY')
   AND id = ANY (%(ids)s::bigint[])
RETURNING id

-- name: resolve_dead_letter
UPDATE sync_dead_letters SET status = 'RESOLVED', resolved_at = now() WHERE id = %(id)s

-- name: fail_dead_letter_retry
UPDATE sync_dead_letters
   SET status = 'DEAD', error = %(error)s, attempts = attempts + 1
 WHERE id = %(id)s
