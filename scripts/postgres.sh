#!/usr/bin/env bash
# Makes a local PostgreSQL available to the membership tests: installs it with apt-get when
# missing (as root), starts the cluster, creates the role and database alpa_test (password login
# over TCP 127.0.0.1, since peer authentication fails for root), and exports the Npgsql connection
# string in ALPA_TEST_POSTGRES. Logs go to stderr; stdout gets one line `export ALPA_TEST_POSTGRES=...`.
#   source scripts/postgres.sh          # exports into the current shell
#   eval "$(scripts/postgres.sh)"       # same, from a subshell
# Exits (or returns) non-zero with a reason when PostgreSQL cannot be made available; the tests
# then skip their PostgreSQL cases at run time.
alpa_postgres() {
  local role=alpa_test db=alpa_test password=alpa_test_pw port version cluster
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "postgres.sh: PostgreSQL is not installed; run: sudo apt-get install -y postgresql" >&2
      return 1
    fi
    echo "postgres.sh: installing postgresql (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } >&2 || return 1
  fi
  read -r version cluster port _ < <(pg_lsclusters --no-header | head -1)
  if [ -z "${version:-}" ]; then
    echo "postgres.sh: no PostgreSQL cluster found (pg_lsclusters is empty); create one with pg_createcluster" >&2
    return 1
  fi
  if ! pg_lsclusters --no-header | head -1 | grep -q online; then
    echo "postgres.sh: starting cluster $version/$cluster" >&2
    # pg_ctl refuses to run as root; pg_ctlcluster switches to the postgres user itself.
    pg_ctlcluster "$version" "$cluster" start >&2 || return 1
  fi
  local as_postgres=(psql -v ON_ERROR_STOP=1 -q -p "$port")
  if [ "$(id -u)" -eq 0 ]; then
    as_postgres=(runuser -u postgres -- "${as_postgres[@]}")
  elif [ "$(id -un)" != postgres ]; then
    as_postgres=(sudo -u postgres "${as_postgres[@]}")
  fi
  "${as_postgres[@]}" -d postgres >&2 <<SQL || return 1
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN PASSWORD '$password';
  ELSE
    ALTER ROLE $role LOGIN PASSWORD '$password';
  END IF;
END \$\$;
SQL
  if ! "${as_postgres[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    "${as_postgres[@]}" -d postgres -c "CREATE DATABASE $db OWNER $role" >&2 || return 1
  fi
  export ALPA_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=$role;Password=$password;Database=$db"
  echo "export ALPA_TEST_POSTGRES='$ALPA_TEST_POSTGRES'"
  echo "postgres.sh: PostgreSQL $version ready on 127.0.0.1:$port (ALPA_TEST_POSTGRES set)" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  alpa_postgres
  exit $?
else
  alpa_postgres >/dev/null
fi
