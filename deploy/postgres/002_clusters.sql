-- Migration 002: clusters are registered, and each remembers a fingerprint of its secret.
-- A cluster is a row of alpa_membership_version. deploy/postgres/setup.sh creates it (or the first
-- silo does, when Silo:CreateCluster is true, the development default). secret_check is
-- hex(HMAC-SHA256(secret, 'alpa-cluster-check' || chr(10) || cluster_id)), written by the first silo
-- that has a secret: a silo whose secret gives another value refuses to join. The fingerprint reveals
-- nothing usable about a random 32-byte secret; a guessable secret could be brute-forced from it.
-- The schema version is the number of the newest migration in alpa_schema_migrations; a silo that
-- finds a migration it does not know there refuses to start (upgrade alpa first).

ALTER TABLE alpa_membership_version ADD COLUMN IF NOT EXISTS secret_check text;
ALTER TABLE alpa_membership_version ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
