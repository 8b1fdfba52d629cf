#!/usr/bin/env bash
# Applies the membership schema migrations in order, each once, recording them in
# alpa_schema_migrations (the silo does the same at start, under the same advisory lock).
# Usage: deploy/postgres/migrate.sh 'postgresql://USER:PASSWORD@HOST:5432/DB'
set -euo pipefail
url="${1:?usage: migrate.sh POSTGRES_URL}"
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
psql "$url" -v ON_ERROR_STOP=1 -q -c \
  "CREATE TABLE IF NOT EXISTS alpa_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
for f in "$dir"/[0-9][0-9][0-9]_*.sql; do
  name="$(basename "$f")"
  psql "$url" -v ON_ERROR_STOP=1 -q <<SQL
BEGIN;
SELECT pg_advisory_xact_lock(7412001);
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM alpa_schema_migrations WHERE name = '$name') THEN
    RAISE NOTICE 'applying $name';
  END IF;
END \$\$;
\\set ON_ERROR_STOP 1
$(cat "$f")
INSERT INTO alpa_schema_migrations (name) VALUES ('$name') ON CONFLICT DO NOTHING;
COMMIT;
SQL
  echo "migrate: $name applied"
done
