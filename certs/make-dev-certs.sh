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

umask 077

# A development App Store signing chain (root, intermediate and leaf with Apple's marker
# extensions) for the shipped tenants' Apple sources: apple/root.der is what they trust in place
# of Apple Root CA - G3, apple/signing.pem (leaf key, leaf, intermediate, root) what `tollgate
# trigger` and the load generator sign with.
apple="$out/apple"
if [[ $force -eq 1 || ! -s "$apple/signing.pem" || ! -s "$apple/root.der" ]]; then
  mkdir -p "$apple"
  work="$(mktemp -d)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=Tollgate Development App Store Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/root-key.pem" -out "$work/root.pem" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
    "1.2.840.113635.100.6.2.1=ASN1:NULL" > "$work/intermediate.ext"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "1.2.840.113635.100.6.11.1=ASN1:NULL" > "$work/leaf.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=Tollgate Development App Store Intermediate" \
    -keyout "$work/intermediate-key.pem" -out "$work/intermediate.csr" 2>/dev/null
  openssl x509 -req -in "$work/intermediate.csr" -CA "$work/root.pem" -CAkey "$work/root-key.pem" -set_serial 2 \
    -days 3650 -extfile "$work/intermediate.ext" -out "$work/intermediate.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=Tollgate Development App Store Signer" \
    -keyout "$work/leaf-key.pem" -out "$work/leaf.csr" 2>/dev/null
  openssl x509 -req -in "$work/leaf.csr" -CA "$work/intermediate.pem" -CAkey "$work/intermediate-key.pem" -set_serial 3 \
    -days 3650 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null
  openssl x509 -in "$work/root.pem" -outform DER -out "$apple/root.der"
  cat "$work/leaf-key.pem" "$work/leaf.pem" "$work/intermediate.pem" "$work/root.pem" > "$apple/signing.pem"
  rm -rf "$work"
  chmod 644 "$apple/root.der"
  echo "dev App Store chain: $apple/root.der $apple/signing.pem"
fi

# A development Google push-token key for the shipped tenants' Google Play sources:
# google/jwks.json is what they trust in place of Google's published keys, google/signing.pem what
# `tollgate trigger` signs push tokens with. The kid is "dev-" and the first 8 bytes of SHA-256 of
# the modulus in hex, as GooglePushSigningKey derives it.
google="$out/google"
if [[ $force -eq 1 || ! -s "$google/signing.pem" || ! -s "$google/jwks.json" ]]; then
  mkdir -p "$google"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$google/signing.pem" 2>/dev/null
  modulus="$(openssl rsa -in "$google/signing.pem" -noout -modulus 2>/dev/null | sed 's/^Modulus=//')"
  python3 - "$modulus" > "$google/jwks.json" <<'PY'
import base64, hashlib, json, sys
n = bytes.fromhex(sys.argv[1]).lstrip(b"\0")
b64url = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
kid = "dev-" + hashlib.sha256(n).digest()[:8].hex()
print(json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64url(n), "e": "AQAB"}]}))
PY
  chmod 644 "$google/jwks.json"
  echo "dev Google push key: $google/jwks.json $google/signing.pem"
fi

# A development PayPal signing chain for the shipped tenants' PayPal sources: paypal/root.der is
# what they trust, paypal/signing.pem (leaf key, leaf named as PayPal's sandbox
# message-verification certificate, root) what `tollgate trigger` and the load generator sign
# with, and what the sources serve for PayPal's certificate URL instead of fetching it.
paypal="$out/paypal"
if [[ $force -eq 1 || ! -s "$paypal/signing.pem" || ! -s "$paypal/root.der" ]]; then
  mkdir -p "$paypal"
  work="$(mktemp -d)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=Tollgate Development PayPal Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/root-key.pem" -out "$work/root.pem" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" > "$work/leaf.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=messageverificationcerts.sandbox.paypal.com" \
    -keyout "$work/leaf-key.pem" -out "$work/leaf.csr" 2>/dev/null
  openssl x509 -req -in "$work/leaf.csr" -CA "$work/root.pem" -CAkey "$work/root-key.pem" -set_serial 2 \
    -days 3650 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null
  openssl x509 -in "$work/root.pem" -outform DER -out "$paypal/root.der"
  cat "$work/leaf-key.pem" "$work/leaf.pem" "$work/root.pem" > "$paypal/signing.pem"
  rm -rf "$work"
  chmod 644 "$paypal/root.der"
  echo "dev PayPal chain: $paypal/root.der $paypal/signing.pem"
fi

if [[ $force -eq 0 && -s "$out/server.pem" && -s "$out/server-key.pem" && -s "$out/ca.pem" ]]; then
  echo "dev certificates already in $out"
  exit 0
fi

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
