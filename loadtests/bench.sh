#!/usr/bin/env bash
# `make bench`: release binaries, private Postgres and Redis (ports 54332, 63792), the edge, the
# provider simulator, the game-backend simulator; then webhook-storm, checkout-burst, mixed and fulfilment with --verify (checkout orders
# are priced by the edge from catalog/, the directory config/tollgate.yaml's catalog.dir names and
# the generator buys from), and forgery-flood against the edge and against nginx returning a
# constant over TLS (the baseline, same machine, same run).
# Results: loadtests/results/<scenario>.{json,html}; the tables are printed.
#   BENCH_SCENARIOS="mixed" make bench     # a subset
#   BENCH_SCENARIOS="soak" BENCH_LOAD_ARGS="--duration 120s" make bench   # flags for every run
#   BENCH_EDGE=/tmp/tollgate-old BENCH_SCENARIOS="webhook-storm" make bench # another edge build, same generator
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
state="$root/.tollgate/bench"
mkdir -p "$state" loadtests/results
log() { printf '[bench] %s\n' "$*" >&2; }

certs/make-dev-certs.sh >/dev/null
scripts/services.sh up bench 54332 63792
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f "$state/nginx.pid" ]] && kill "$(cat "$state/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/services.sh down bench
}
trap cleanup EXIT

log "building release binaries"
swift build -c release --product tollgate >/dev/null
bin="$(swift build -c release --show-bin-path)"

# BENCH_EDGE=path: serve this edge binary instead (an A/B of two builds under the same generator).
edge_bin="${BENCH_EDGE:-$bin/tollgate}"
export TOLLGATE_POSTGRES_URL="postgres://tollgate@127.0.0.1:54332/tollgate"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:63792/0"
export TOLLGATE_LOGGING_LEVEL="${TOLLGATE_LOGGING_LEVEL:-warning}"
"$edge_bin" serve --config config/tollgate.yaml --migrate >"$state/edge.log" 2>&1 &
edge_pid=$!
pids+=($edge_pid)
"$bin/tollgate" provider-sim --settle-delay 200ms >"$state/sim.log" 2>&1 &
pids+=($!)
# The game backend of tenants demo and fulfil, failing 30% of its answers (the fulfilment scenario's premise).
"$bin/tollgate" game-backend-sim --fail-percent 30 \
  --secret whsec_dG9sbGdhdGUtZGV2LWZ1bGZpbC1nYW1lLWJhY2tlbmQta2V5 --secret whsec_dG9sbGdhdGUtZGV2LWRlbW8tZ2FtZS1iYWNrZW5kLWtleQ== \
  >"$state/game.log" 2>&1 &
pids+=($!)
# Up to 10 minutes: --migrate runs first, and a bench database kept from earlier runs can hold
# hundreds of thousands of events for a migration to rewrite.
for _ in $(seq 1 3000); do
  curl -sf --cacert certs/dev/ca.pem https://127.0.0.1:8443/readyz >/dev/null 2>&1 && break
  kill -0 "$edge_pid" 2>/dev/null || break
  sleep 0.2
done
curl -sf --cacert certs/dev/ca.pem https://127.0.0.1:8443/readyz >/dev/null || { log "edge did not become ready"; cat "$state/edge.log"; exit 1; }

status=0
for scenario in ${BENCH_SCENARIOS:-webhook-storm checkout-burst mixed fulfilment forgery-flood}; do
  log "scenario $scenario"
  # forgery-flood runs over HTTP/1.1 on both sides: nginx stalls HTTP/2 streams whose bodies it
  # discards (seen as 10 s timeouts), which would flatter the edge.
  extra=(); [[ $scenario == forgery-flood ]] && extra=(--http h1)
  # shellcheck disable=SC2086
  log "edge RSS before: $(ps -o rss= -p "$edge_pid") KiB"
  # The edge's memory every 30 s while the scenario runs (soak: it must stay flat).
  ( while sleep 30; do log "edge RSS: $(ps -o rss= -p "$edge_pid" 2>/dev/null || echo gone) KiB"; done ) &
  sampler=$!
  "$bin/tollgate" load "loadtests/scenarios/$scenario.yaml" --simulator http://127.0.0.1:12111 --verify --config config/tollgate.yaml \
    --out loadtests/results "${extra[@]}" ${BENCH_LOAD_ARGS:-} \
    | grep -v '^\[ *[0-9]*s\]' || status=1
  kill "$sampler" 2>/dev/null || true
  log "edge RSS after: $(ps -o rss= -p "$edge_pid") KiB"
done

if [[ " ${BENCH_SCENARIOS:-forgery-flood} " == *" forgery-flood "* ]] && command -v nginx >/dev/null; then
  log "baseline: nginx returning a constant over TLS (HTTP/1.1), same scenario"
  cat >"$state/nginx.conf" <<CONF
worker_processes auto;
pid $state/nginx.pid;
error_log $state/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;   # nginx closes an HTTP/2 connection after 1000 requests by default
  server {
    listen 127.0.0.1:8444 ssl http2;
    ssl_certificate $root/certs/dev/server.pem;
    ssl_certificate_key $root/certs/dev/server-key.pem;
    location / { return 200 '{"received":true}'; }
  }
}
CONF
  nginx -c "$state/nginx.conf" -p "$state" -g 'daemon on;'
  sleep 0.5
  "$bin/tollgate" load loadtests/scenarios/forgery-flood.yaml --target https://127.0.0.1:8444 --http h1 --out loadtests/results/nginx \
    | grep -v '^\[ *[0-9]*s\]' || true
  edge=$(python3 -c 'import json;print(json.load(open("loadtests/results/forgery-flood.json"))["overall"]["throughput"])')
  base=$(python3 -c 'import json;print(json.load(open("loadtests/results/nginx/forgery-flood.json"))["overall"]["throughput"])')
  python3 -c "print(f'forgery-flood: edge {float($edge):.0f}/s, nginx constant {float($base):.0f}/s, ratio {float($edge)/float($base):.2f} (goal >= 0.50)')"
fi
exit $status
