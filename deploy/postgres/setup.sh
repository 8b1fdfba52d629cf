#!/usr/bin/env bash
# Prepares PostgreSQL for an Alpa cluster, on the database host, as root. Idempotent.
#   deploy/postgres/setup.sh --cluster-id prod [--password-file FILE] [--listen ADDR] [--allow CIDR]...
# 1. installs PostgreSQL when missing and starts it;
# 2. creates the role and database `alpa` (password from --password-file, else generated once into
#    /etc/alpa/postgres-password, mode 0600);
# 3. with --listen ADDR: PostgreSQL also listens on ADDR (the private interface the silos reach), and
#    each --allow CIDR (the silos' subnet) may log in with the password (scram-sha-256); restarts it;
# 4. applies the migrations (migrate.sh) and registers the cluster id, so silos with
#    Silo:CreateCluster=false accept it (a silo with another id is refused);
# 5. prints the Npgsql connection string for the silos' --membership postgres:….
# --reset-secret forgets the cluster's secret fingerprint (secret rotation, deploy/README.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster="" password_file="" listen="" allow=() reset_secret=0 db=alpa role=alpa
while [ $# -gt 0 ]; do
  case "$1" in
    --cluster-id) cluster="${2:?}"; shift 2 ;;
    --password-file) password_file="${2:?}"; shift 2 ;;
    --listen) listen="${2:?}"; shift 2 ;;
    --allow) allow+=("${2:?}"); shift 2 ;;
    --reset-secret) reset_secret=1; shift ;;
    *) echo "setup: unknown option '$1'" >&2; exit 1 ;;
  esac
done
[ -n "$cluster" ] || { echo "setup: give --cluster-id NAME (the Silo:ClusterId of every silo)" >&2; exit 1; }
[[ "$cluster" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "setup: cluster id '$cluster' may use letters, digits, '.', '_' and '-' only" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "setup: run as root on the database host" >&2; exit 1; }

if ! command -v pg_lsclusters >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
read -r version name port _ < <(pg_lsclusters --no-header | head -1)
conf="/etc/postgresql/$version/$name"
restart=0
if [ -n "$listen" ] && ! grep -qE "^listen_addresses = 'localhost,$listen'" "$conf/postgresql.conf"; then
  echo "listen_addresses = 'localhost,$listen'" >> "$conf/postgresql.conf"
  restart=1
fi
for cidr in "${allow[@]}"; do
  line="host $db $role $cidr scram-sha-256"
  grep -qxF "$line" "$conf/pg_hba.conf" || { echo "$line" >> "$conf/pg_hba.conf"; restart=1; }
done
if pg_lsclusters --no-header | head -1 | grep -q online; then
  [ "$restart" -eq 0 ] || pg_ctlcluster "$version" "$name" restart
else
  pg_ctlcluster "$version" "$name" start
fi

if [ -z "$password_file" ]; then
  password_file=/etc/alpa/postgres-password
  if [ ! -f "$password_file" ]; then
    install -d -m 0750 /etc/alpa
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$password_file")
  fi
fi
password="$(tr -d '\n' < "$password_file")"
as_postgres() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -p "$port" "$@"; }
as_postgres -d postgres -v pw="$password" <<SQL
SELECT format('CREATE ROLE $role LOGIN PASSWORD %L', :'pw') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \gexec
SELECT format('ALTER ROLE $role LOGIN PASSWORD %L', :'pw') \gexec
SQL
as_postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
  || as_postgres -d postgres -c "CREATE DATABASE $db OWNER $role"

PGPASSWORD="$password" "$here/migrate.sh" "postgresql://$role@127.0.0.1:$port/$db"
as_postgres -d "$db" -c "INSERT INTO alpa_membership_version (cluster_id) VALUES ('$cluster') ON CONFLICT DO NOTHING"
if [ "$reset_secret" -eq 1 ]; then
  as_postgres -d "$db" -c "UPDATE alpa_membership_version SET secret_check = NULL WHERE cluster_id = '$cluster'"
  echo "setup: forgot the secret fingerprint of '$cluster'; the next silo to join records its secret" >&2
fi
echo "setup: cluster '$cluster' registered. Silos: --membership 'postgres:Host=${listen:-127.0.0.1};Port=$port;Username=$role;Password=<see $password_file>;Database=$db'" >&2
