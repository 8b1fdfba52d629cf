#!/usr/bin/env bash
# A small certificate authority for one Alpa cluster, with openssl (deploy/README.md, "TLS").
#
#   deploy/tls/make-certs.sh DIR ca                      # DIR/ca.key + DIR/ca.crt (10 years); once per cluster
#   deploy/tls/make-certs.sh DIR silo NAME IP[,IP|DNS…]  # DIR/NAME.key + DIR/NAME.crt signed by the CA (397 days)
#   deploy/tls/make-certs.sh DIR check NAME              # prints subject, SANs and expiry; verifies the chain
#
# Silos present NAME.crt (Silo:Tls:CertificatePath) with NAME.key (Silo:Tls:CertificatePassword) and
# trust ca.crt (Silo:Tls:TrustedCertificatePath); clients (alpa cluster --tls-ca, TransportOptions)
# need only ca.crt, since they authenticate with the cluster secret. Keys are ECDSA P-256, mode 0600.
# Keep ca.key offline (it is needed only to issue and renew); an existing file is never overwritten.
set -euo pipefail
dir="${1:?usage: make-certs.sh DIR ca|silo NAME IPS|check NAME}"
what="${2:?usage: make-certs.sh DIR ca|silo NAME IPS|check NAME}"
mkdir -p "$dir"
umask 077

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

case "$what" in
  ca)
    [ ! -e "$dir/ca.key" ] || { echo "make-certs: $dir/ca.key exists; keeping it (delete it to start a new CA)" >&2; exit 0; }
    new_key "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=alpa-cluster-ca" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.crt"
    chmod 0644 "$dir/ca.crt"
    echo "make-certs: CA in $dir/ca.crt (key $dir/ca.key: keep it offline)" >&2
    ;;
  silo)
    name="${3:?make-certs.sh DIR silo NAME IP[,IP|DNS:name…]}"
    sans="${4:?make-certs.sh DIR silo NAME IP[,IP|DNS:name…]: give the addresses other silos and clients use}"
    [ -f "$dir/ca.key" ] || { echo "make-certs: no CA in $dir; run: make-certs.sh $dir ca" >&2; exit 1; }
    san=""
    IFS=',' read -ra parts <<< "$sans"
    for p in "${parts[@]}"; do
      case "$p" in DNS:*|IP:*) san+="${san:+,}$p" ;; *) san+="${san:+,}IP:$p" ;; esac
    done
    new_key "$dir/$name.key.new"
    openssl req -new -key "$dir/$name.key.new" -subj "/CN=$name" -out "$dir/$name.csr"
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -sha256 -days 397 \
      -set_serial "0x$(openssl rand -hex 16)" -out "$dir/$name.crt.new" -extfile <(printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san") 2>/dev/null
    rm -f "$dir/$name.csr"
    mv -f "$dir/$name.key.new" "$dir/$name.key"
    mv -f "$dir/$name.crt.new" "$dir/$name.crt"
    chmod 0644 "$dir/$name.crt"
    echo "make-certs: $dir/$name.crt ($san) and $dir/$name.key" >&2
    ;;
  check)
    name="${3:?make-certs.sh DIR check NAME}"
    openssl x509 -in "$dir/$name.crt" -noout -subject -enddate -ext subjectAltName
    openssl verify -CAfile "$dir/ca.crt" "$dir/$name.crt"
    ;;
  *)
    echo "make-certs: unknown action '$what' (ca, silo or check)" >&2; exit 1 ;;
esac
