-- Background task runners: finding work across tenants, uploaded inputs, wake-ups.
--
-- A runner (inside `headwater serve` on the embedded defaults, or `headwater worker`) finds due
-- and stalled tasks of every tenant through headwater_worker, which may read only the queue's
-- bookkeeping columns: never a payload, a result or an error. It then claims a task, reports its
-- progress and writes the task's data through headwater_app in transactions bound to the task's
-- tenant, so row-level security keeps every write of a task inside its tenant.

CREATE POLICY worker_queue ON background_tasks FOR SELECT TO headwater_worker USING (true);
GRANT SELECT (id, tenant_id, type, status, priority, run_after, updated_at)
    ON background_tasks TO headwater_worker;

-- The file a task works on (an NDJSON of OpenLineage events, a dbt manifest), kept apart from
-- the payload so listing and reading tasks never carries it. It lives while the task can still
-- run: a trigger drops it when the task succeeds, fails for good or is cancelled.
CREATE TABLE background_task_inputs (
    task_id           bigint PRIMARY KEY REFERENCES background_tasks (id) ON DELETE CASCADE,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    content           bytea NOT NULL,
    -- As uploaded: a gzip body is stored compressed and inflated (within its limit) when run.
    content_encoding  text NOT NULL CHECK (content_encoding IN ('identity', 'gzip')),
    content_type      text NOT NULL DEFAULT '' CHECK (length(content_type) <= 200),
    decoded_bytes     bigint NOT NULL CHECK (decoded_bytes >= 0),
    sha256            text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Where a task that commits in several transactions got to, written with each commit, so a
    -- retry resumes there instead of starting over.
    checkpoint        jsonb CHECK (checkpoint IS NULL OR jsonb_typeof(checkpoint) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX background_task_inputs_tenant_idx ON background_task_inputs (tenant_id, task_id);
CREATE TRIGGER background_task_inputs_touch BEFORE UPDATE ON background_task_inputs
    FOR EACH ROW EXECUTE FUNCTION headwater_touch_updated_at();

ALTER TABLE background_task_inputs ENABLE ROW LEVEL SECURITY;
ALTER TABLE background_task_inputs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON background_task_inputs
    USING (tenant_id = headwater_tenant()) WITH CHECK (tenant_id = headwater_tenant());

GRANT SELECT, INSERT, DELETE ON background_task_inputs TO headwater_app;
GRANT UPDATE (checkpoint) ON background_task_inputs TO headwater_app;

-- Runs as whoever finishes the task (the API cancelling it, the runner completing or failing
-- it), inside that transaction and under that tenant's row-level security.
CREATE FUNCTION headwater_drop_finished_task_input() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM background_task_inputs WHERE task_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER background_tasks_drop_input AFTER UPDATE OF status ON background_tasks
    FOR EACH ROW
    WHEN (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND OLD.status <> NEW.status)
    EXECUTE FUNCTION headwater_drop_finished_task_input();

-- Runners LISTEN here: a task that becomes PENDING (queued, retried, released) wakes them at
-- commit instead of at their next poll. A retry's backoff is honoured by run_after, not here.
CREATE FUNCTION headwater_tasks_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('headwater_tasks', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER background_tasks_notify_insert AFTER INSERT ON background_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION headwater_tasks_notify();
CREATE TRIGGER background_tasks_notify_pending AFTER UPDATE OF status ON background_tasks
    FOR EACH ROW WHEN (NEW.status = 'PENDING' AND OLD.status <> NEW.status)
    EXECUTE FUNCTION headwater_tasks_notify();
