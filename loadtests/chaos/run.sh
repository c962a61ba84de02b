#!/usr/bin/env bash
# The chaos scenario (issue 14): a webhook storm (loadtests/scenarios/chaos.yaml, --verify) through
# HAProxy to two edges while, one after the other with quiet gaps between:
#   redis-kill        Redis killed with SIGKILL, started again 10 s later (empty: no persistence)
#   postgres-restart  pg_ctl restart -m fast
#   postgres-cut      the edges' Postgres proxy (HAProxy) in maintenance for 10 s, its sessions shut
#   edge-sigterm      edge 1 stopped with SIGTERM (graceful), then started again
#   row-lock          a psql transaction holding the rows of four orders about to be paid for 10 s
# Each fault's window is appended to a faults file that `tollgate load --faults` reads at the end:
# the report (loadtests/results/chaos.html) shades each window on the latency chart, and the
# results (chaos.json, the table) give each fault's requests, errors, p99 and time to recover.
#
#   loadtests/chaos/run.sh                       release build, about 5 minutes
#   CHAOS_BIN=.build/debug loadtests/chaos/run.sh   use binaries already built there (no build)
#   CHAOS_FAULTS=none loadtests/chaos/run.sh     the same storm without faults (a baseline)
#   CHAOS_FAULTS="row-lock postgres-cut" ...     some faults, in this order (slots at 30, 60, 90, 120, 160 s)
#   CHAOS_LOAD_ARGS="--rate 300" ...             flags for `tollgate load`
#
# Everything is private and on loopback, ports 55000-55099: HAProxy 55000 (edges) and 55021
# (Postgres proxy), edges 55001/55002 (admin 55011/55012), Postgres 55020, Redis 55030; state under
# .tollgate/chaos-run. Everything started here is stopped on exit. Not part of CI (too long).
# Needs root (or the packages already there) for haproxy, postgresql, redis-server.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
state="$root/.tollgate/chaos-run"
faults="$state/faults.jsonl"
mkdir -p "$state" loadtests/results
log() { printf '[chaos %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

export CHAOS_STATE="$state" CHAOS_FRONT_PORT=55000 CHAOS_EDGE1_PORT=55001 CHAOS_EDGE2_PORT=55002
export CHAOS_PG_PORT=55020 CHAOS_PG_PROXY_PORT=55021
redis_port=55030
admin1=55011 admin2=55012
postgres_url="postgres://tollgate@127.0.0.1:$CHAOS_PG_PORT/tollgate"
# The edges take their URLs from the chaos configuration; a caller's own must not leak in (and
# scripts/services.sh would start nothing if they were set).
unset TOLLGATE_POSTGRES_URL TOLLGATE_REDIS_URL

# --- packages: a CI machine is fresh ----------------------------------------------------------
if ! command -v haproxy >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || { log "haproxy is missing: apt-get install haproxy"; exit 1; }
  log "installing haproxy"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
command -v python3 >/dev/null || { log "python3 is needed (HAProxy runtime API)"; exit 1; }
certs/make-dev-certs.sh >/dev/null
scripts/services.sh up chaos "$CHAOS_PG_PORT" "$redis_port"  # installs postgresql and redis-server if missing
command -v psql >/dev/null || { log "psql is needed (postgresql-client)"; exit 1; }
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
pg_data="$(cat .tollgate/chaos/postgres.started)"
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [[ -n "${CHAOS_BIN:-}" ]]; then
  bin="$CHAOS_BIN"
else
  log "building the release binary"
  swift build -c release --product tollgate >/dev/null
  bin="$(swift build -c release --show-bin-path)"
fi

# --- processes ----------------------------------------------------------------------------------
edge1_pid="" edge2_pid="" load_pid="" lock_pid=""
# stop PID SECONDS: SIGTERM, then SIGKILL if it is still there after SECONDS. 0: it exited in time.
stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  return 1
}
cleanup() {
  for pid in "$load_pid" "$lock_pid"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
  # The edges' shutdown grace is 10 s; one that outlives it by far is hung (reported, then killed).
  for n in 1 2; do
    local pid; pid="$(eval echo "\$edge${n}_pid")"
    [[ -n "$pid" ]] && { stop "$pid" 20 || log "edge $n did not exit within 20 s of SIGTERM: killed"; }
  done
  [[ -f "$state/haproxy.pid" ]] && kill "$(cat "$state/haproxy.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$state/haproxy.pid"
  scripts/services.sh down chaos
}
trap cleanup EXIT
trap 'exit 143' INT TERM  # so that the EXIT trap stops everything on Ctrl-C or kill too

# One command to HAProxy's runtime API; prints its answer.
haproxy_api() {
  python3 - "$state/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().read(), end="")
PY
}
# UP, DOWN, MAINT... of one server, from `show stat` (CSV: pxname, svname, ..., status is field 18).
server_status() { haproxy_api "show stat" | awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $18 }'; }

start_edge() {  # start_edge N [--migrate]; sets edgeN_pid
  local n="$1"; shift
  local listen="127.0.0.1:$CHAOS_EDGE1_PORT" admin="127.0.0.1:$admin1"
  [[ $n == 2 ]] && listen="127.0.0.1:$CHAOS_EDGE2_PORT" admin="127.0.0.1:$admin2"
  TOLLGATE_SERVER_LISTEN="$listen" TOLLGATE_ADMIN_LISTEN="$admin" \
    "$bin/tollgate" serve --config loadtests/chaos/tollgate-chaos.yaml "$@" >>"$state/edge$n.log" 2>&1 &
  printf -v "edge${n}_pid" '%s' "$!"
}

wait_ready() {  # wait_ready ADMIN_PORT PID
  for _ in $(seq 1 3000); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { log "edge on admin port $1 exited"; tail -n 20 "$state"/edge*.log; exit 1; }
    sleep 0.2
  done
  log "edge on admin port $1 did not become ready"; exit 1
}

wait_in_rotation() {  # wait_in_rotation SERVER: HAProxy's health check has it UP
  for _ in $(seq 1 100); do [[ "$(server_status edges "$1")" == UP* ]] && return 0; sleep 0.2; done
  log "HAProxy does not see $1 up"; exit 1
}

now() { date +%s.%N; }
record() {  # record NAME START END: one line of the faults file
  printf '{"name": "%s", "start": %s, "end": %s}\n' "$1" "$2" "$3" >>"$faults"
  log "$1: $(python3 -c "print(f'{$3 - $2:.1f}')") s"
}

: >"$faults"
for n in 1 2; do : >"$state/edge$n.log"; done
haproxy -c -q -f loadtests/chaos/haproxy.cfg
haproxy -D -f loadtests/chaos/haproxy.cfg
# Edge 1 migrates (alone, under its advisory lock) before edge 2 starts.
start_edge 1 --migrate; wait_ready "$admin1" "$edge1_pid"
start_edge 2; wait_ready "$admin2" "$edge2_pid"
wait_in_rotation edge1; wait_in_rotation edge2
log "edges $edge1_pid and $edge2_pid behind HAProxy on 127.0.0.1:$CHAOS_FRONT_PORT"

# --- the storm ----------------------------------------------------------------------------------
# Line-buffered: the run line below is awaited while the run goes on.
stdbuf -oL "$bin/tollgate" load loadtests/scenarios/chaos.yaml --target "https://127.0.0.1:$CHAOS_FRONT_PORT" --postgres "$postgres_url" \
  --config loadtests/chaos/tollgate-chaos.yaml --verify --faults "$faults" --out loadtests/results ${CHAOS_LOAD_ARGS:-} >"$state/load.log" 2>&1 &
load_pid=$!
# The run starts sending when it prints its run line (after seeding the orders).
for _ in $(seq 1 600); do grep -q '^run [a-z0-9]*:' "$state/load.log" && break; kill -0 "$load_pid" 2>/dev/null || break; sleep 0.1; done
run_line="$(grep -m1 '^run [a-z0-9]*:' "$state/load.log")" || { cat "$state/load.log"; exit 1; }
run_id="$(sed -E 's/^run ([a-z0-9]+):.*/\1/' <<<"$run_line")"
started="$(now)"
log "$run_line"
at() { local wait; wait="$(python3 -c "print(max(0.0, $started + $1 - $(now)))")"; sleep "$wait"; }

# --- the faults: each a function that records its window -----------------------------------------
redis-kill() {
  local start; start="$(now)"
  kill -9 "$(cat ".tollgate/chaos/redis-$redis_port/redis.pid")"
  sleep 10
  scripts/services.sh up chaos "$CHAOS_PG_PORT" "$redis_port" 2>/dev/null
  record redis-kill "$start" "$(now)"
}

postgres-restart() {
  local start; start="$(now)"
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -m fast -w -t 60 restart >/dev/null
  until as_pg "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$CHAOS_PG_PORT"; do sleep 0.1; done
  record postgres-restart "$start" "$(now)"
}

postgres-cut() {
  local start; start="$(now)"
  haproxy_api "set server postgres/db state maint" >/dev/null
  haproxy_api "shutdown sessions server postgres/db" >/dev/null
  sleep 10
  haproxy_api "set server postgres/db state ready" >/dev/null
  record postgres-cut "$start" "$(now)"
}

edge-sigterm() {
  local start; start="$(now)"
  # The shutdown grace is 10 s: an edge still there 20 s after SIGTERM is hung (a defect), and is killed.
  stop "$edge1_pid" 20 || log "DEFECT: edge 1 did not exit within 20 s of SIGTERM; killed with SIGKILL"
  wait "$edge1_pid" 2>/dev/null || true
  log "edge 1 stopped after $(python3 -c "print(f'{$(now) - $start:.1f}')") s"
  start_edge 1; wait_ready "$admin1" "$edge1_pid"; wait_in_rotation edge1
  record edge-sigterm "$start" "$(now)"
}

# Four orders whose payments are due 1, 3, 5 and 7 s into the 10 s: the generator pays the seeded
# orders in sequence, so the last one paid and the pace (measured over a second) say which. Each
# payment that meets the lock waits lock_timeout (1 s) and fails its group commit's batch, which
# is then redone event by event so that only its own event fails (503, the provider retries).
row-lock() {
  last_paid() {
    psql "$postgres_url" -tAc "SELECT coalesce(max(substring(order_id FROM '_([0-9]+)\$')::int), 0) FROM orders
      WHERE tenant = 'loadtest' AND order_id LIKE 'lt${run_id}\\_%' AND status <> 'pending_payment'"
  }
  local paid_before paid pace locked start
  paid_before="$(last_paid)"; sleep 1; paid="$(last_paid)"
  pace=$((paid - paid_before))
  locked="$(for second in 1 3 5 7; do printf "'lt%s_%d'," "$run_id" $((paid + pace * second)); done)"
  start="$(now)"
  psql "$postgres_url" -v ON_ERROR_STOP=1 -q >"$state/row-lock.log" 2>&1 <<SQL &
BEGIN;
SELECT order_id, status FROM orders WHERE tenant = 'loadtest' AND order_id IN (${locked%,}) FOR UPDATE;
SELECT pg_sleep(10);
COMMIT;
SQL
  lock_pid=$!
  wait "$lock_pid" || log "the row lock's psql failed: $(cat "$state/row-lock.log")"
  lock_pid=""
  record row-lock "$start" "$(now)"
  log "held ${locked%,} (last paid order: $paid, $pace paid a second)"
}

# One fault every 30-40 s from 30 s on (the edge's restart needs the longer slot), 20 s or more of
# quiet between them for the next fault's baseline, the last one ending about 50 s before the run.
faults_in_order=(${CHAOS_FAULTS:-redis-kill postgres-restart postgres-cut edge-sigterm row-lock})
slots=(30 60 90 120 160)
if [[ "${faults_in_order[*]}" == none ]]; then
  log "CHAOS_FAULTS=none: the storm alone (the baseline)"
else
  for index in "${!faults_in_order[@]}"; do
    fault="${faults_in_order[$index]}"
    [[ $(type -t "$fault") == function && $index -lt ${#slots[@]} ]] || { log "unknown fault or too many: $fault"; exit 2; }
    # The row lock measures the pace for a second first, so that its window starts on the slot.
    at $((slots[index] - $([[ $fault == row-lock ]] && echo 1 || echo 0)))
    "$fault"
  done
fi

status=0
wait "$load_pid" || status=$?
load_pid=""
grep -v '^\[ *[0-9]*s\]' "$state/load.log"
for n in 1 2; do
  log "edge $n log: $(grep -c '"level":"error"\|"level":"critical"' "$state/edge$n.log" || true) error lines ($state/edge$n.log)"
done
log "faults: $faults; report: loadtests/results/chaos.html"
exit $status
