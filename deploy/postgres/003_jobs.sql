-- Alpa job records for PostgreSQL, migration 003.
-- One row per job: the record (JobInfo) and its measurements (JobMetrics: plan, per-step loss and
-- throughput, the last step's timeline) as JSON. Written by the silo that runs the job; read by any
-- silo of the cluster (alpa jobs / alpa status and the dashboard), so a restart keeps the history.

CREATE TABLE IF NOT EXISTS alpa_jobs (
    cluster_id   text        NOT NULL,
    id           text        NOT NULL,                 -- job-xxxxxxxx
    silo         text        NOT NULL,                 -- address of the silo that runs it
    state        text        NOT NULL CHECK (state IN ('queued', 'planning', 'running', 'done', 'failed', 'cancelled')),
    submitted_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    info         jsonb       NOT NULL,
    metrics      jsonb       NOT NULL,
    PRIMARY KEY (cluster_id, id)
);

CREATE INDEX IF NOT EXISTS alpa_jobs_recent ON alpa_jobs (cluster_id, submitted_at DESC);
