-- Alpa membership table for PostgreSQL, migration 001.
-- Same model as Orleans' ADO.NET clustering: one row per silo incarnation (address, epoch) and a
-- version row per cluster. Every insert or status change bumps the version, conditionally on the
-- version the writer read (optimistic concurrency); rows also carry an etag.
-- Apply with deploy/postgres/migrate.sh, or let the first silo apply it (it takes an advisory lock).

CREATE TABLE IF NOT EXISTS alpa_membership_version (
    cluster_id  text        PRIMARY KEY,
    version     bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS alpa_membership (
    cluster_id     text        NOT NULL REFERENCES alpa_membership_version (cluster_id),
    address        text        NOT NULL,                -- control-plane host:port
    epoch          bigint      NOT NULL,                -- incarnation; a restart gets a larger one
    data_port      integer     NOT NULL,                -- tensor data-plane port on the same host
    devices        text        NOT NULL,                -- JSON array, e.g. ["cpu:0","cpu:1"]
    status         text        NOT NULL CHECK (status IN ('joining', 'active', 'dead')),
    last_heartbeat timestamptz NOT NULL,
    started_at     timestamptz NOT NULL,
    etag           bigint      NOT NULL,
    PRIMARY KEY (cluster_id, address, epoch)
);
