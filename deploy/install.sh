#!/usr/bin/env bash
# Installs an Alpa silo on a VM as a systemd service (deploy/README.md, "Deploy on GPU VMs").
#
#   sudo deploy/install.sh --bundle alpa-gpu-linux-x64.tar.gz \
#        --membership 'postgres:Host=10.0.0.5;Username=alpa;Password=…;Database=alpa' \
#        --cluster-id prod --secret-file ./secret [--tls-cert silo.crt --tls-key silo.key --tls-ca ca.crt] [--start]
#
# Options:
#   --bundle PATH         folder or .tar.gz holding a self-contained `alpa` (deploy/gpu-bundle.sh builds one)
#   --from-repo           build that bundle from this checkout first (needs the .NET 10 SDK)
#   --listen ADDR:PORT    control endpoint (default 0.0.0.0:7000)
#   --advertise HOST:PORT address peers use (default: this VM's first IP and the listen port)
#   --data-port PORT      tensor data-plane port (default 7001)
#   --devices SPEC        cuda, cuda:N or cpu:N (default: cuda when /dev/nvidia0 exists, else cpu:1)
#   --membership SPEC     postgres:CONNSTR | static:ADDR:PORT | memory (default memory)
#   --cluster-id ID       cluster name (default default)
#   --secret-file FILE    the cluster secret to install as /etc/alpa/secret (else one is generated once)
#   --tls-cert/--tls-key/--tls-ca FILE   this silo's certificate, its key and the CA (enables TLS)
#   --root DIR            install under DIR instead of / (images, tests): no apt-get, no systemctl
#   --no-apt              do not install Debian packages
#   --start               enable and start (or restart, when something changed) the service
#
# Idempotent: every file is written only when its content, mode or owner differs, the user is created
# only when missing, and /etc/alpa/alpa.env (your settings) is written only when absent. A second run
# with the same inputs changes nothing and prints "install: nothing changed".
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="" bundle="" from_repo=0 apt=1 start=0
listen="0.0.0.0:7000" advertise="" data_port=7001 devices="" membership="memory" cluster_id="default"
secret_file="" tls_cert="" tls_key="" tls_ca=""
changed=0

die() { echo "install: $*" >&2; exit 1; }
note() { echo "install: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="${2:?--bundle needs a path}"; shift 2 ;;
    --from-repo) from_repo=1; shift ;;
    --listen) listen="${2:?--listen needs ADDR:PORT}"; shift 2 ;;
    --advertise) advertise="${2:?--advertise needs HOST:PORT}"; shift 2 ;;
    --data-port) data_port="${2:?--data-port needs a port}"; shift 2 ;;
    --devices) devices="${2:?--devices needs cuda, cuda:N or cpu:N}"; shift 2 ;;
    --membership) membership="${2:?--membership needs a spec}"; shift 2 ;;
    --cluster-id) cluster_id="${2:?--cluster-id needs a name}"; shift 2 ;;
    --secret-file) secret_file="${2:?--secret-file needs a file}"; shift 2 ;;
    --tls-cert) tls_cert="${2:?--tls-cert needs a file}"; shift 2 ;;
    --tls-key) tls_key="${2:?--tls-key needs a file}"; shift 2 ;;
    --tls-ca) tls_ca="${2:?--tls-ca needs a file}"; shift 2 ;;
    --root) root="${2:?--root needs a folder}"; shift 2 ;;
    --no-apt) apt=0; shift ;;
    --start) start=1; shift ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a folder"
  root="$(cd "$root" && pwd)"
  apt=0
elif [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo), or give --root DIR to install into a folder"
fi
if [ -n "$tls_cert$tls_key$tls_ca" ] && { [ -z "$tls_cert" ] || [ -z "$tls_key" ] || [ -z "$tls_ca" ]; }; then
  die "TLS needs all three of --tls-cert, --tls-key and --tls-ca"
fi
[ -n "$bundle" ] || [ "$from_repo" -eq 1 ] || die "give --bundle PATH (a folder or .tar.gz with a self-contained alpa) or --from-repo"
[ -z "$bundle" ] || [ -e "$bundle" ] || die "--bundle $bundle does not exist"
[[ "$listen" =~ :[0-9]+$ ]] || die "--listen '$listen' is not ADDR:PORT"
port="${listen##*:}"
if [ -z "$advertise" ]; then
  ip="$(hostname -I 2>/dev/null | awk '{print $1}')"
  [ -n "$ip" ] || die "cannot find this VM's IP address; give --advertise HOST:PORT"
  advertise="$ip:$port"
fi
if [ -z "$devices" ]; then
  if [ -e /dev/nvidia0 ]; then devices=cuda; else devices=cpu:1; fi
fi

# shellcheck source=lib/install-files.sh
. "$here/lib/install-files.sh"

# 1. Native libraries (OpenBLAS for CPU kernels, CBC for the planner's ILP).
if [ "$apt" -eq 1 ]; then
  missing=()
  for pkg in libopenblas0 coinor-libcbc3; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    note "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    changed=1
  fi
fi

# 2. The system user the service runs as.
if ! awk -F: '$1 == "alpa" { found = 1 } END { exit !found }' "$root/etc/passwd"; then
  note "creating system user alpa"
  useradd ${root:+--prefix "$root"} --system --user-group --home-dir /var/lib/alpa --no-create-home \
    --shell /usr/sbin/nologin --comment "Alpa silo" alpa
  changed=1
fi
alpa_ids="$(awk -F: '$1 == "alpa" { print $3 ":" $4 }' "$root/etc/passwd")"

# 3. The self-contained build.
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
if [ "$from_repo" -eq 1 ]; then
  "$here/gpu-bundle.sh" "$staging/build" >&2
  bundle="$staging/build/alpa-gpu"
fi
if [ -f "$bundle" ]; then
  tar -C "$staging" -xzf "$bundle" || die "cannot unpack $bundle"
  bundle="$(dirname "$(find "$staging" -maxdepth 2 -type f -name alpa -perm -u+x | head -1)")"
fi
[ -x "$bundle/alpa" ] || die "no executable 'alpa' in the bundle $bundle"
put_dir /opt/alpa 0755 0:0
put_tree "$bundle" /opt/alpa
put_dir /opt/alpa/postgres 0755 0:0
for f in "$here"/postgres/*.sql "$here"/postgres/*.sh; do
  put_file "$f" "/opt/alpa/postgres/$(basename "$f")" "$(file_mode "$f")" 0:0
done
put_file "$here/README.md" /opt/alpa/README-deploy.md 0644 0:0
put_link /opt/alpa/alpa /usr/local/bin/alpa

# 4. Configuration, secret and certificates (root:alpa, readable by the service only).
put_dir /etc/alpa 0750 "0:${alpa_ids#*:}"
if [ -n "$secret_file" ]; then
  put_file "$secret_file" /etc/alpa/secret 0640 "0:${alpa_ids#*:}"
elif [ ! -f "$root/etc/alpa/secret" ]; then
  head -c 32 /dev/urandom | base64 > "$staging/secret"
  put_file "$staging/secret" /etc/alpa/secret 0640 "0:${alpa_ids#*:}"
  note "generated a new cluster secret in /etc/alpa/secret: copy it to every other silo and client"
fi
tls_prefix="#"
if [ -n "$tls_cert" ]; then
  tls_prefix=""
  put_dir /etc/alpa/tls 0750 "0:${alpa_ids#*:}"
  put_file "$tls_cert" /etc/alpa/tls/silo.crt 0644 0:0
  put_file "$tls_key" /etc/alpa/tls/silo.key 0640 "0:${alpa_ids#*:}"
  put_file "$tls_ca" /etc/alpa/tls/ca.crt 0644 0:0
fi
if [ ! -f "$root/etc/alpa/alpa.env" ]; then
  esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
  sed -e "s|@LISTEN@|$(esc "$listen")|" -e "s|@ADVERTISE@|$(esc "$advertise")|" -e "s|@DATA_PORT@|$(esc "$data_port")|" \
      -e "s|@DEVICES@|$(esc "$devices")|" -e "s|@CLUSTER_ID@|$(esc "$cluster_id")|" -e "s|@MEMBERSHIP@|$(esc "$membership")|" \
      -e "s|^@TLS@|$tls_prefix|" "$here/config/alpa.env" > "$staging/alpa.env"
  put_file "$staging/alpa.env" /etc/alpa/alpa.env 0640 "0:${alpa_ids#*:}"
fi

# 5. Folders of the service, and the unit.
put_dir /var/lib/alpa 0750 "$alpa_ids"
put_dir /var/log/alpa 0750 "$alpa_ids"
put_file "$here/systemd/alpa-silo.service" /etc/systemd/system/alpa-silo.service 0644 0:0

# 6. systemd (only on a booted systemd and a real root).
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  [ "$changed" -eq 1 ] && systemctl daemon-reload
  systemctl is-enabled --quiet alpa-silo 2>/dev/null || { systemctl enable --quiet alpa-silo; changed=1; }
  if [ "$start" -eq 1 ]; then
    if [ "$changed" -eq 1 ]; then systemctl restart alpa-silo; else systemctl start alpa-silo; fi
    note "alpa-silo started: systemctl status alpa-silo; journalctl -u alpa-silo -f"
  fi
elif [ "$start" -eq 1 ]; then
  note "systemd is not running here (or --root was given): start the service on the target with systemctl start alpa-silo"
fi

if [ "$changed" -eq 0 ]; then note "nothing changed"; else note "done (settings: /etc/alpa/alpa.env, logs: /var/log/alpa and journalctl -u alpa-silo)"; fi
