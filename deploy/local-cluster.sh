#!/usr/bin/env bash
# A cluster of N silos on this machine, for trying things out (deploy/README.md).
#
#   deploy/local-cluster.sh N [--devices cpu:K] [--port P] [--tls]   starts PostgreSQL and N silos
#   deploy/local-cluster.sh status                                    lists the members
#   deploy/local-cluster.sh stop                                      stops the silos (SIGTERM)
#
# Silos listen on 127.0.0.1:P … P+N-1 (default P = 7100) with PostgreSQL membership (cluster id
# `local`), a generated secret and, with --tls, certificates from a generated CA. Silo 0 serves the
# dashboard on 127.0.0.1:P+100. Everything lives in .build/local-cluster/ (logs, pids, secret, certs).
# PostgreSQL is left running by `stop` (other things use it); stop it with pg_ctlcluster.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$repo/.build/local-cluster"
alpa_dll="$repo/.build/alpa/alpa.dll"

die() { echo "local-cluster: $*" >&2; exit 1; }

stop() {
  local pidfile pid
  for pidfile in "$state"/silo-*.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && { echo "local-cluster: silo pid $pid ignored SIGTERM; killing it" >&2; kill -KILL "$pid"; }
    fi
    rm -f "$pidfile"
  done
  echo "local-cluster: silos stopped (PostgreSQL keeps running)" >&2
}

client_args() {
  local args=(--connect "127.0.0.1:$(cat "$state/port")" --secret-file "$state/secret")
  [ -f "$state/tls/ca.crt" ] && args+=(--tls-ca "$state/tls/ca.crt")
  printf '%s\n' "${args[@]}"
}

status() {
  [ -f "$state/port" ] || die "no local cluster was started (run: deploy/local-cluster.sh N)"
  local args
  mapfile -t args < <(client_args)
  dotnet "$alpa_dll" cluster "${args[@]}"
}

start() {
  local n="$1" devices="cpu:1" port=7100 tls=0
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --devices) devices="${2:?}"; shift 2 ;;
      --port) port="${2:?}"; shift 2 ;;
      --tls) tls=1; shift ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "N must be a number of silos from 1 to 99, got '$n'"
  ls "$state"/silo-*.pid >/dev/null 2>&1 && die "a local cluster is running; run: deploy/local-cluster.sh stop"
  mkdir -p "$state"
  "$repo/alpa" --help >/dev/null  # builds .build/alpa when the sources changed
  # shellcheck source=scripts/postgres.sh
  . "$repo/scripts/postgres.sh" || die "PostgreSQL is not available"
  [ -f "$state/secret" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$state/secret")
  local env=()
  if [ "$tls" -eq 1 ]; then
    "$repo/deploy/tls/make-certs.sh" "$state/tls" ca
    "$repo/deploy/tls/make-certs.sh" "$state/tls" silo local 127.0.0.1
    env=(ALPA_Silo__Tls__CertificatePath="$state/tls/local.crt" ALPA_Silo__Tls__CertificatePassword="$state/tls/local.key"
         ALPA_Silo__Tls__TrustedCertificatePath="$state/tls/ca.crt")
  else
    rm -rf "$state/tls"
  fi
  echo "$port" > "$state/port"
  local i dashboard
  for i in $(seq 0 $((n - 1))); do
    dashboard=()
    [ "$i" -eq 0 ] && dashboard=(--dashboard "127.0.0.1:$((port + 100))")
    env "${env[@]}" setsid dotnet "$alpa_dll" silo --listen "127.0.0.1:$((port + i))" --devices "$devices" \
      --membership "postgres:$ALPA_TEST_POSTGRES" --cluster-id local --secret-file "$state/secret" \
      --log-dir "$state/logs" "${dashboard[@]}" > "$state/silo-$i.out" 2> "$state/silo-$i.log" < /dev/null &
    echo $! > "$state/silo-$i.pid"
  done
  for i in $(seq 0 $((n - 1))); do
    for _ in $(seq 1 240); do
      grep -q '^alpa silo ready' "$state/silo-$i.out" 2>/dev/null && break
      kill -0 "$(cat "$state/silo-$i.pid")" 2>/dev/null || { tail -5 "$state/silo-$i.log" >&2; stop; die "silo $i exited (log above, $state/silo-$i.log)"; }
      sleep 0.25
    done
    grep -q '^alpa silo ready' "$state/silo-$i.out" || { stop; die "silo $i not ready after 60 s ($state/silo-$i.log)"; }
    cat "$state/silo-$i.out"
  done
  local args
  mapfile -t args < <(client_args)
  echo "local-cluster: $n silos up; dashboard http://127.0.0.1:$((port + 100)); try: ./alpa cluster ${args[*]}" >&2
}

case "${1:-}" in
  stop) stop ;;
  status) status ;;
  ''|-h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" ;;
  *) start "$@" ;;
esac
