#!/usr/bin/env bash
# The side-by-side kit (../shared/perf, or PERF_KIT) against a release edge, on private Postgres and
# Redis (ports 54334, 63794), tenant `loadtest`, 200,000 seeded orders (499 USD each).
#
#   loadtests/perf/run.sh compare     nginx, the FastAPI peer and the edge in alternation (compare.sh)
#   loadtests/perf/run.sh edge        the edge alone: unique events then duplicates, with the edge's,
#                                     Postgres's and Redis's CPU per request and Redis round trips per request
#   loadtests/perf/run.sh profile     edge unique events under `perf record -g` (folded stacks and an
#                                     SVG flame graph under docs/perf/, loadtests/perf/flamegraph.py)
#   loadtests/perf/run.sh callgrind   the edge under valgrind's callgrind: instructions per unique
#                                     event, per duplicate and per `/healthz` request (the floor of
#                                     TLS, HTTP and the framework; all threads), repeatable on a noisy
#                                     machine; CONNS default 8, DUR default 30, ORDERS default 20000
# env: BIN (the tollgate binary; default the release build), DUR (s, default 15), CONNS (default 64),
#      CONFIG (default config/tollgate.yaml; an older BIN may need its own), VALGRIND (default
#      Debian trixie's 3.24, fetched once and unpacked under .tollgate/: 3.19's DWARF reader fails),
#      ORDERS (orders seeded, default 200000; seeding costs about a millisecond each),
#      OUT (directory for logs and profiles, default .tollgate/perf), LABEL (names the profile files),
#      WARM (s of unmeasured new events for other orders, then ANALYZE, before an `edge` run).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$root"
kit="${PERF_KIT:-$root/../shared/perf}"; out="${OUT:-$root/.tollgate/perf}"; mkdir -p "$out"
mode="${1:-edge}"
if [[ $mode == callgrind ]]; then DUR=${DUR:-30}; CONNS=${CONNS:-8}; ORDERS=${ORDERS:-20000}; fi
DUR=${DUR:-15}; CONNS=${CONNS:-64}; LABEL=${LABEL:-edge}; config="${CONFIG:-config/tollgate.yaml}"
secret=whsec_loadtest_stripe_0123456789; path=/v1/webhooks/loadtest/stripe; url=https://127.0.0.1:8445
log() { printf '[perf] %s\n' "$*" >&2; }

certs/make-dev-certs.sh >/dev/null
scripts/services.sh up perf 54334 63794
bin="${BIN:-}"
if [[ -z "$bin" ]]; then swift build -c release --product tollgate >/dev/null; bin="$(swift build -c release --show-bin-path)/tollgate"; fi
export TOLLGATE_POSTGRES_URL="postgres://tollgate@127.0.0.1:54334/tollgate" TOLLGATE_REDIS_URL="redis://127.0.0.1:63794/0"
export TOLLGATE_LOGGING_LEVEL=warning TOLLGATE_SERVER_LISTEN=127.0.0.1:8445 TOLLGATE_ADMIN_LISTEN=127.0.0.1:9445
edge_pid=""
cleanup() { [[ -n "$edge_pid" ]] && kill "$edge_pid" 2>/dev/null; wait 2>/dev/null || true; scripts/services.sh down perf; }
trap cleanup EXIT
psql -q "$TOLLGATE_POSTGRES_URL" -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" 2>/dev/null || true
redis-cli -p 63794 flushall >/dev/null
launcher=()
if [[ $mode == callgrind ]]; then
  valgrind="${VALGRIND:-}"
  if [[ -z "$valgrind" ]]; then
    vg="$root/.tollgate/valgrind-3.24"
    if [[ ! -x "$vg/usr/bin/valgrind" ]]; then
      log "fetching valgrind 3.24 (Debian trixie's package, unpacked under $vg)"
      curl -sfo "$out/valgrind.deb" http://deb.debian.org/debian/pool/main/v/valgrind/valgrind_3.24.0-3_amd64.deb
      mkdir -p "$vg" && dpkg-deb -x "$out/valgrind.deb" "$vg"
    fi
    valgrind="$vg/usr/bin/valgrind"; export VALGRIND_LIB="$vg/usr/libexec/valgrind"
  fi
  # callgrind_control and vgdb stay Debian's (3.24's vgdb needs glibc 2.38); they speak to 3.24.
  swift_lib="$(dirname "$(dirname "$(command -v swift)")")/lib/swift/linux"
  gcc -O2 -shared -fPIC -o "$out/libmainloop.so" loadtests/perf/valgrind-mainloop.c -L"$swift_lib" -Wl,-rpath,"$swift_lib" -ldispatch
  rm -f "$out"/callgrind.out*
  launcher=(env LD_PRELOAD="$out/libmainloop.so" "$valgrind" --tool=callgrind --compress-strings=no --callgrind-out-file="$out/callgrind.out")
fi
"${launcher[@]}" "$bin" serve --config "$config" --migrate >"$out/edge.log" 2>&1 &
edge_pid=$!
for _ in $(seq 1 600); do curl -sfk "$url/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sfk "$url/readyz" >/dev/null || { log "edge did not become ready"; cat "$out/edge.log"; exit 1; }
"$bin" orders seed --config "$config" --tenant loadtest --count "${ORDERS:-200000}" --amount-minor 499 --currency USD >"$out/orders.txt"
log "edge pid $edge_pid, $(wc -l <"$out/orders.txt") orders seeded"

# This cluster's postmaster and every process it started (backends, WAL writer, checkpointer).
pg_pids() { local pm; pm=$(head -1 "$(cat .tollgate/perf/postgres.started)/postmaster.pid"); echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"; }
ticks() { local s=0; for p in "$@"; do s=$((s + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $s; }
# Round trips the edge made to Redis: its client's per-command timer counts every reply that came
# back (a command that timed out or failed is not counted).
redis_calls() { curl -s http://127.0.0.1:9445/metrics | awk '/^tollgate_redis_command_duration_seconds_count/ && !/PING/ {s += $2} END {print s + 0}'; }
venv=/tmp/tollgate-peers/venv/bin/python
[[ -x $venv ]] || "$kit/peers-up.sh" >/dev/null

# WARM=N: before the measured runs, N seconds of new events for the last third of the seeded
# orders (never measured), then ANALYZE: the tables then hold history and statistics, as in
# production, instead of starting empty (a plan Postgres keeps is made on what it sees).
warm_up() {
  local third=$(( $(wc -l <"$out/orders.txt") / 3 ))
  tail -n "$third" "$out/orders.txt" >"$out/orders-warm.txt"
  head -n "$(( third * 2 ))" "$out/orders.txt" >"$out/orders-measured.txt"
  $venv "$kit/gen_stripe_reqs.py" $((WARM * 15000)) $secret "$out/req-warm.txt" 0.0 "$out/orders-warm.txt"
  REQS="$out/req-warm.txt" WH_PATH=$path wrk -t1 -c$CONNS -d${WARM}s -s "$kit/wrk_signed.lua" $url >"$out/wrk-warm.log" 2>&1
  psql -q "$TOLLGATE_POSTGRES_URL" -c "ANALYZE"
  log "warmed up: $(awk '/requests in/ {print $1}' "$out/wrk-warm.log") events for $third other orders, then ANALYZE"
  sleep 2
}
measured_orders="$out/orders.txt"
if [[ -n "${WARM:-}" ]]; then warm_up; measured_orders="$out/orders-measured.txt"; fi

edge_run() { # mode: unique | dup
  local f="$out/req-$1.txt" count=$((DUR * 15000))
  [[ $1 == dup ]] && count=20000
  $venv "$kit/gen_stripe_reqs.py" $count $secret "$f" 0.0 "$measured_orders"
  [[ $1 == dup ]] && REQS=$f WH_PATH=$path wrk -t1 -c$CONNS -d12s -s "$kit/wrk_signed.lua" $url >/dev/null 2>&1
  local pg; pg="$(pg_pids)"; local rp; rp="$(pgrep -f 'redis-server.*63794' | tr '\n' ' ')"
  local e0 p0 r0 c0; e0=$(ticks $edge_pid); p0=$(ticks $pg); r0=$(ticks $rp); c0=$(redis_calls)
  REQS=$f WH_PATH=$path wrk -t1 -c$CONNS -d${DUR}s -s "$kit/wrk_signed.lua" $url >"$out/wrk-$1.log" 2>&1
  local e1 p1 r1 c1; e1=$(ticks $edge_pid); p1=$(ticks $pg); r1=$(ticks $rp); c1=$(redis_calls)
  curl -s http://127.0.0.1:9445/metrics >"$out/metrics-$1.txt" || true
  local n rps non; n=$(awk '/requests in/ {print $1}' "$out/wrk-$1.log"); rps=$(awk '/Requests\/sec/ {print $2}' "$out/wrk-$1.log")
  non=$(awk '/Non-2xx/ {print $5}' "$out/wrk-$1.log")
  echo "edge $1 rps=$rps non2xx=${non:-0} edge_us=$(( (e1-e0)*10000/n )) postgres_us=$(( (p1-p0)*10000/n )) redis_us=$(( (r1-r0)*10000/n )) redis_round_trips_per_req=$(awk -v a=$((c1-c0)) -v n=$n 'BEGIN{printf "%.2f", a/n}') $(grep '^p50' "$out/wrk-$1.log")"
}

# Instructions the edge executes per request, all threads, counted by callgrind between a zeroing
# and a dump around each wrk phase (requests as wrk counted them; at most CONNS cut off at the end).
callgrind_phase() { # name, requests file (none: GET /healthz)
  callgrind_control -z $edge_pid >/dev/null 2>&1
  if [[ -n $2 ]]; then
    REQS=$2 WH_PATH=$path wrk -t1 -c$CONNS -d${DUR}s --timeout 10s -s "$kit/wrk_signed.lua" $url >"$out/wrk-$1.log" 2>&1
  else
    wrk -t1 -c$CONNS -d${DUR}s --timeout 10s "$url/healthz" >"$out/wrk-$1.log" 2>&1
  fi
  callgrind_control -d "$1" $edge_pid >/dev/null 2>&1
  sleep 1
  local n dump ir; n=$(awk '/requests in/ {print $1}' "$out/wrk-$1.log")
  dump=$(ls -t "$out"/callgrind.out.* | head -1); mv "$dump" "$out/callgrind.$LABEL.$1"
  ir=$(awk '/^summary:/ {print $2}' "$out/callgrind.$LABEL.$1")
  echo "callgrind $LABEL $1 requests=$n non2xx=$(awk '/Non-2xx/ {print $5}' "$out/wrk-$1.log") instructions_per_request=$(( ir / n )) $(grep '^p50' "$out/wrk-$1.log")"
}

case "$mode" in
  callgrind)
    third=$(( $(wc -l <"$out/orders.txt") / 3 ))
    tail -n "$third" "$out/orders.txt" >"$out/orders-warm.txt"; head -n $(( third * 2 )) "$out/orders.txt" >"$out/orders-measured.txt"
    $venv "$kit/gen_stripe_reqs.py" 2000 $secret "$out/req-cg-warm.txt" 0.0 "$out/orders-warm.txt"
    $venv "$kit/gen_stripe_reqs.py" $(( third * 2 )) $secret "$out/req-cg-unique.txt" 0.0 "$out/orders-measured.txt"
    REQS="$out/req-cg-warm.txt" WH_PATH=$path wrk -t1 -c$CONNS -d10s --timeout 10s -s "$kit/wrk_signed.lua" $url >"$out/wrk-cg-warm.log" 2>&1
    callgrind_phase unique "$out/req-cg-unique.txt"
    # Replays only what the unique phase sent (and one connection's worth more than wrk counted
    # would be new events): every request of this phase is a duplicate.
    head -n $(( $(awk '/requests in/ {print $1}' "$out/wrk-unique.log") - CONNS )) "$out/req-cg-unique.txt" >"$out/req-cg-dup.txt"
    callgrind_phase dup "$out/req-cg-dup.txt"
    # The floor under both: TLS, HTTP/1.1, Hummingbird's router and the edge's middleware, with no
    # route work (`/healthz` answers a constant).
    callgrind_phase floor ""
    # What the edge executes with no request at all (timers, pool keep-alives, gauges), which the
    # figures above include: instructions per second.
    callgrind_control -z $edge_pid >/dev/null 2>&1; sleep "$DUR"; callgrind_control -d idle $edge_pid >/dev/null 2>&1; sleep 1
    dump=$(ls -t "$out"/callgrind.out.* | head -1); mv "$dump" "$out/callgrind.$LABEL.idle"
    echo "callgrind $LABEL idle instructions_per_second=$(( $(awk '/^summary:/ {print $2}' "$out/callgrind.$LABEL.idle") / DUR ))" ;;
  compare)
    EDGE=$url EDGE_PATH=$path EDGE_SECRET=$secret EDGE_ORDERS="$out/orders.txt" EDGE_PID=$edge_pid DUR=$DUR CONNS=$CONNS "$kit/compare.sh" ;;
  edge) edge_run unique; edge_run dup ;;
  profile)
    $venv "$kit/gen_stripe_reqs.py" $((DUR * 15000)) $secret "$out/req-unique.txt" 0.0 "$out/orders.txt"
    REQS="$out/req-unique.txt" WH_PATH=$path wrk -t1 -c$CONNS -d$((DUR + 2))s -s "$kit/wrk_signed.lua" $url >"$out/wrk-profile.log" 2>&1 &
    wrk_pid=$!
    sleep 1
    perf record -F 499 -e cpu-clock -g -p $edge_pid -o "$out/$LABEL.perf.data" -- sleep "$DUR" 2>/dev/null
    wait "$wrk_pid"   # not the edge
    perf script --no-inline -i "$out/$LABEL.perf.data" 2>/dev/null >"$out/$LABEL.perf.txt"
    mkdir -p docs/perf
    python3 loadtests/perf/flamegraph.py "$out/$LABEL.perf.txt" --svg "docs/perf/$LABEL.svg" --folded "$out/$LABEL.folded" \
      --title "tollgate $LABEL: unique Stripe events, wrk -c$CONNS" >"$out/$LABEL.summary.txt"
    log "flame graph: docs/perf/$LABEL.svg, summary: $out/$LABEL.summary.txt"
    cat "$out/wrk-profile.log" ;;
esac
