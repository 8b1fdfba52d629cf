#!/usr/bin/env bash
# Applies the membership schema migrations (NNN_*.sql next to this script) in order, each once,
# recording them in alpa_schema_migrations, under the advisory lock the silos take for the same job.
# The schema version is the number of the newest recorded migration. If the database holds a
# migration this folder does not have (a newer alpa migrated it), nothing is applied and it exits 1.
# Usage: deploy/postgres/migrate.sh 'postgresql://USER:PASSWORD@HOST:5432/DB'
set -euo pipefail
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
url="${1:?usage: migrate.sh POSTGRES_URL}"
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
psql "$url" -v ON_ERROR_STOP=1 -q -c \
  "CREATE TABLE IF NOT EXISTS alpa_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
known=()
declare -A is_known=()
for f in "$dir"/[0-9][0-9][0-9]_*.sql; do known+=("$(basename "$f")"); is_known["$(basename "$f")"]=1; done
while IFS= read -r name; do
  [ -n "$name" ] || continue
  # A lookup, not 'printf | grep -q': under pipefail grep's early exit can fail printf with SIGPIPE.
  if [ -z "${is_known[$name]:-}" ]; then
    echo "migrate: the database has migration $name, which this folder does not know (it knows up to ${known[-1]}); use the deploy/postgres folder of the alpa version that applied it" >&2
    exit 1
  fi
done < <(psql "$url" -v ON_ERROR_STOP=1 -tAq -c "SELECT name FROM alpa_schema_migrations ORDER BY name")
for name in "${known[@]}"; do
  applied="$(psql "$url" -v ON_ERROR_STOP=1 -tAq -c "SELECT count(*) FROM alpa_schema_migrations WHERE name = '$name'")"
  if [ "$applied" != "0" ]; then
    continue
  fi
  psql "$url" -v ON_ERROR_STOP=1 -q <<SQL
BEGIN;
SELECT pg_advisory_xact_lock(7412001) \\g /dev/null
$(cat "$dir/$name")
INSERT INTO alpa_schema_migrations (name) VALUES ('$name') ON CONFLICT DO NOTHING;
COMMIT;
SQL
  echo "migrate: applied $name" >&2
done
version="$(psql "$url" -tAq -c "SELECT coalesce(max(substring(name from '^[0-9]+')::int), 0) FROM alpa_schema_migrations")"
echo "migrate: schema version $version" >&2
