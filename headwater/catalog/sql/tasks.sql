-- name: insert_task
INSERT INTO background_tasks (tenant_id, type, priority, payload, max_retries, created_by)
VALUES (headwater_tenant(), %(type)s, %(priority)s, %(payload)s, %(max_retries)s, %(actor)s)
RETURNING id, tenant_id, type, status, priority, payload, result, error, progress, retries,
          max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
          started_at, finished_at

-- name: get_task
SELECT id, tenant_id, type, status, priority, payload, result, error, progress, retries,
       max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
       started_at, finished_at
  FROM background_tasks WHERE id = %(id)s

-- name: get_task_for_update
SELECT id, tenant_id, type, status, priority, payload, result, error, progress, retries,
       max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
       started_at, finished_at
  FROM background_tasks WHERE id = %(id)s
   FOR UPDATE

-- name: list_tasks
SELECT id, tenant_id, type, status, priority, payload, result, error, progress, retries,
       max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
       started_at, finished_at
  FROM background_tasks
 WHERE (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(type)s::text IS NULL OR type = %(type)s)
   AND (%(after_id)s::bigint IS NULL OR id < %(after_id)s)
 ORDER BY id DESC
 LIMIT %(limit)s

-- name: next_pending_task
-- SKIP LOCKED: concurrent claimers each take a different row instead of queueing on one.
SELECT id, tenant_id, type, status, priority, payload, result, error, progress, retries,
       max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
       started_at, finished_at
  FROM background_tasks
 WHERE status = 'PENDING' AND run_after <= now()
 ORDER BY priority DESC, run_after, id
 LIMIT 1
   FOR UPDATE SKIP LOCKED

-- name: start_task
UPDATE background_tasks
   SET status = 'RUNNING', started_at = now(), finished_at = NULL, locked_by = %(worker_id)s,
       progress = 0, version = version + 1
 WHERE id = %(id)s
RETURNING id, tenant_id, type, status, priority, payload, result, error, progress, retries,
          max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
          started_at, finished_at

-- name: set_task_progress
UPDATE background_tasks SET progress = %(progress)s
 WHERE id = %(id)s AND status = 'RUNNING'
RETURNING id

-- name: finish_task
UPDATE background_tasks
   -- An earlier attempt's error stays visible unless this change brings a newer one.
   SET status = %(status)s, result = %(result)s, error = COALESCE(%(error)s, error),
       progress = CASE WHEN %(status)s::text = 'SUCCEEDED' THEN 100 ELSE progress END,
       locked_by = NULL, finished_at = now(), version = version + 1
 WHERE id = %(id)s
RETURNING id, tenant_id, type, status, priority, payload, result, error, progress, retries,
          max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
          started_at, finished_at

-- name: retry_task
UPDATE background_tasks
   SET status = 'PENDING', error = %(error)s, retries = retries + 1, locked_by = NULL,
       run_after = now() + make_interval(secs => %(delay_seconds)s), version = version + 1
 WHERE id = %(id)s
RETURNING id, tenant_id, type, status, priority, payload, result, error, progress, retries,
          max_retries, run_after, locked_by, created_by, version, created_at, updated_at,
          started_at, finished_at
