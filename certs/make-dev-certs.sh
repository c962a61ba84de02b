#!/usr/bin/env bash
# Makes a local development CA and a server certificate for localhost, 127.0.0.1 and ::1
# under certs/dev/ (git-ignored). Idempotent: existing files are kept unless --force is given.
#
#   certs/make-dev-certs.sh [--force] [OUT_DIR]
set -euo pipefail

force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
out="${1:-$(cd "$(dirname "$0")" && pwd)/dev}"
mkdir -p "$out"

if [[ $force -eq 0 && -s "$out/server.pem" && -s "$out/server-key.pem" && -s "$out/ca.pem" ]]; then
  echo "dev certificates already in $out"
  exit 0
fi

umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=Tollgate Dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$out/ca-key.pem" -out "$out/ca.pem" 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout "$out/server-key.pem" -out "$out/server.csr" 2>/dev/null

cat > "$out/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial \
  -days 825 -extfile "$out/server.ext" -out "$out/server.pem" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 644 "$out/ca.pem" "$out/server.pem"
echo "dev CA:          $out/ca.pem"
echo "server cert/key: $out/server.pem $out/server-key.pem"
