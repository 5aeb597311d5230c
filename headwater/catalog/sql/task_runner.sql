-- Task runners. The first three statements run as headwater_worker, which reads only the
-- queue's bookkeeping columns of every tenant; the rest run as headwater_app in a transaction
-- bound to the task's tenant.

-- name: list_due_tasks
-- Candidates only: the claim (claim_pending_task) locks and re-checks each under its tenant.
SELECT id, tenant_id
  FROM background_tasks
 WHERE status = 'PENDING' AND run_after <= now() AND type = ANY(%(types)s::text[])
 ORDER BY priority DESC, run_after, id
 LIMIT %(limit)s

-- name: list_stalled_tasks
-- A running task's runner reports progress at least every heartbeat, and every update touches
-- updated_at: one silent for longer has lost its runner (a crash, a kill -9).
SELECT id, tenant_id
  FROM background_tasks
 WHERE status = 'RUNNING' AND type = ANY(%(types)s::text[])
   AND updated_at < now() - make_interval(secs => %(stale_seconds)s)
 ORDER BY updated_at, id
 LIMIT %(limit)s

-- name: seconds_until_next_task
SELECT EXTRACT(EPOCH FROM min(run_after) - now())::float8 AS seconds
  FROM background_tasks
 WHERE status = 'PENDING' AND type = ANY(%(types)s::text[])

-- name: claim_pending_task
-- SKIP LOCKED: a task another runner is claiming right now is passed over, not waited for.
SELECT id, tenant_id, type, status, priority, payload, result, error, progress, retries,
       max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
       started_at, finished_at
  FROM background_tasks
 WHERE id = %(id)s AND status = 'PENDING' AND run_after <= now()
   FOR UPDATE SKIP LOCKED

-- name: set_task_progress_of_worker
UPDATE background_tasks SET progress = %(progress)s
 WHERE id = %(id)s AND status = 'RUNNING' AND locked_by = %(worker_id)s
RETURNING id

-- name: release_task
-- Back to the queue without counting an attempt: its runner is shutting down.
UPDATE background_tasks
   SET status = 'PENDING', locked_by = NULL, version = version + 1
 WHERE id = %(id)s
RETURNING id, tenant_id, type, status, priority, payload, result, error, progress, retries,
          max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
          started_at, finished_at

-- name: task_is_stalled
SELECT updated_at < now() - make_interval(secs => %(stale_seconds)s) AS stalled
  FROM background_tasks
 WHERE id = %(id)s

-- name: insert_task_input
INSERT INTO background_task_inputs (task_id, tenant_id, content, content_encoding, content_type,
                                    decoded_bytes, sha256)
VALUES (%(task_id)s, headwater_tenant(), %(content)s, %(content_encoding)s, %(content_type)s,
        %(decoded_bytes)s, %(sha256)s)

-- name: get_task_input
SELECT task_id, content, content_encoding, content_type, decoded_bytes, sha256, checkpoint
  FROM background_task_inputs
 WHERE task_id = %(task_id)s

-- name: set_task_checkpoint
UPDATE background_task_inputs SET checkpoint = %(checkpoint)s
 WHERE task_id = %(task_id)s
RETURNING task_id
