#!/usr/bin/env bash
# Installs and runs the private Postgres and Redis that `make run` and `make test` use.
#
#   scripts/services.sh packages                 install missing apt packages (needs root)
#   scripts/services.sh up NAME PG_PORT REDIS_PORT [REDIS_TLS_PORT]
#                                                start (if not running) a private Postgres and
#                                                Redis for NAME under .tollgate/NAME
#   scripts/services.sh down NAME                stop what `up NAME` started
#
# Both speak TLS as well as plain TCP, with a CA and a server certificate (localhost, 127.0.0.1,
# ::1) made once under .tollgate/NAME/tls/: Postgres with ssl=on on its port, Redis on
# REDIS_TLS_PORT when given (`make test`: 63793). Servers left running without TLS by an older
# version of this script are restarted.
#
# If TOLLGATE_POSTGRES_URL (or TOLLGATE_REDIS_URL) is set, that service is the user's own and
# nothing is started for it. Everything here is idempotent.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"

log() { printf '[services] %s\n' "$*" >&2; }

packages() {
  local needed=()
  command -v pg_ctlcluster >/dev/null 2>&1 || [[ -n "$pg_bin" ]] || needed+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || needed+=(redis-server)
  command -v openssl >/dev/null 2>&1 || needed+=(openssl)
  command -v pkg-config >/dev/null 2>&1 || needed+=(pkg-config)
  command -v curl >/dev/null 2>&1 || needed+=(curl)
  pkg-config --exists hiredis 2>/dev/null || needed+=(libhiredis-dev)
  if [[ ${#needed[@]} -eq 0 ]]; then return 0; fi
  if [[ $(id -u) -ne 0 ]]; then
    log "missing packages: ${needed[*]} (run as root, or install them: apt-get install ${needed[*]})"
    exit 1
  fi
  log "installing ${needed[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
}

# A data directory the postgres user can reach: under the checkout if it can, else /var/tmp.
pg_data_dir() {
  local name="$1" port="$2"
  local dir="$root/.tollgate/$name/pg-$port"
  mkdir -p "$root/.tollgate/$name"
  if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$root/.tollgate/$name" 2>/dev/null; then
    dir="/var/tmp/tollgate-$(echo "$root" | md5sum | cut -c1-8)/$name/pg-$port"
  fi
  echo "$dir"
}

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The test CA and server certificate for NAME, made once (the dev certificate script, another folder).
tls_up() {
  local name="$1"
  local dir="$root/.tollgate/$name/tls"
  if [[ -s "$dir/ca.pem" && -s "$dir/server.pem" && -s "$dir/server-key.pem" ]]; then return 0; fi
  log "making a test CA and server certificate in $dir"
  "$root/certs/make-dev-certs.sh" --force "$dir" >/dev/null
  tls_fresh=1  # servers still running hold the old certificate: restart them
}
tls_fresh=0

psql_admin() {
  local port="$1"; shift
  as_pg "$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

pg_up() {
  local name="$1" port="$2"
  if [[ -n "${TOLLGATE_POSTGRES_URL:-}" ]]; then log "using TOLLGATE_POSTGRES_URL"; return 0; fi
  local data; data="$(pg_data_dir "$name" "$port")"
  if as_pg "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    if [[ "$(psql_admin "$port" -tAc 'SHOW ssl' 2>/dev/null)" == "on" && $tls_fresh -eq 0 ]]; then
      log "postgres already answers on 127.0.0.1:$port"
    else
      # Started before TLS was part of the set-up, or with a certificate since remade: ours to
      # restart, anyone else's to report.
      local running; running="$(psql_admin "$port" -tAc 'SHOW data_directory' 2>/dev/null || true)"
      if [[ "$running" != "$data" ]]; then
        log "postgres on 127.0.0.1:$port is not ours ($running) and lacks this set-up's TLS; stop it, or set TOLLGATE_POSTGRES_URL"
        exit 1
      fi
      log "postgres on 127.0.0.1:$port lacks this set-up's TLS; restarting it"
      as_pg "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
  fi
  if ! as_pg "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$(dirname "$data")"
    if [[ ! -s "$data/PG_VERSION" ]]; then
      log "initdb $data"
      as_pg "$pg_bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    # Postgres refuses a key others can read, and the checkout may be out of the postgres user's
    # reach: copies in the data directory, owned by whoever runs the server, mode 0600.
    local tls="$root/.tollgate/$name/tls"
    install -m 0644 "$tls/server.pem" "$data/tollgate-server.pem"
    install -m 0600 "$tls/server-key.pem" "$data/tollgate-server-key.pem"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$data/tollgate-server.pem" "$data/tollgate-server-key.pem"
    log "starting postgres on 127.0.0.1:$port (TLS on the same port)"
    # TLS on the command line, not in postgresql.conf: a data directory from before TLS still works.
    as_pg "$pg_bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c max_connections=300 -c ssl=on -c ssl_cert_file=$data/tollgate-server.pem -c ssl_key_file=$data/tollgate-server-key.pem" >/dev/null
    echo "$data" > "$root/.tollgate/$name/postgres.started"
  fi
  psql_admin "$port" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE tollgate LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate')\gexec
SELECT 'CREATE DATABASE tollgate OWNER tollgate' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tollgate')\gexec
-- The tests drop their own databases WITH (FORCE), which must also end an autovacuum worker
-- that happens to be analysing the database; Postgres 15 lets only pg_signal_backend do that
-- (without it the drop fails now and then: "must be a member of the role whose process is being
-- terminated or member of pg_signal_backend").
SELECT 'GRANT pg_signal_backend TO tollgate' WHERE NOT pg_has_role('tollgate', 'pg_signal_backend', 'member')\gexec
SQL
}

redis_up() {
  local name="$1" port="$2" tls_port="${3:-}"
  if [[ -n "${TOLLGATE_REDIS_URL:-}" ]]; then log "using TOLLGATE_REDIS_URL"; return 0; fi
  local dir="$root/.tollgate/$name/redis-$port"
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    local serving; serving="$(redis-cli -p "$port" config get tls-port 2>/dev/null | sed -n 2p)"
    if [[ -z "$tls_port" || ( "$serving" == "$tls_port" && $tls_fresh -eq 0 ) ]]; then
      log "redis already answers on 127.0.0.1:$port"
      return 0
    fi
    # Started without the TLS port (an older set-up), or with a certificate since remade: ours to
    # restart, anyone else's to report.
    if [[ ! -f "$dir/redis.pid" ]] || ! kill "$(cat "$dir/redis.pid")" 2>/dev/null; then
      log "redis on 127.0.0.1:$port is not ours and lacks this set-up's TLS port $tls_port; stop it, or set TOLLGATE_REDIS_URL"
      exit 1
    fi
    log "redis on 127.0.0.1:$port lacks this set-up's TLS port $tls_port; restarting it"
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.1; done
  fi
  mkdir -p "$dir"
  local tls_args=() tls="$root/.tollgate/$name/tls"
  if [[ -n "$tls_port" ]]; then
    # Server authentication only: clients are not asked for certificates.
    tls_args=(--tls-port "$tls_port" --tls-cert-file "$tls/server.pem" --tls-key-file "$tls/server-key.pem"
              --tls-ca-cert-file "$tls/ca.pem" --tls-auth-clients no)
  fi
  log "starting redis on 127.0.0.1:$port${tls_port:+ (TLS on $tls_port)}"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${tls_args[@]}"
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$dir/redis.pid" > "$root/.tollgate/$name/redis.started"
}

down() {
  local name="$1"
  local state="$root/.tollgate/$name"
  if [[ -f "$state/postgres.started" ]]; then
    log "stopping postgres"
    as_pg "$pg_bin/pg_ctl" -D "$(cat "$state/postgres.started")" -m fast -w stop >/dev/null 2>&1 || true
    rm -f "$state/postgres.started"
  fi
  if [[ -f "$state/redis.started" ]]; then
    log "stopping redis"
    local pidfile; pidfile="$(cat "$state/redis.started")"
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$state/redis.started"
  fi
}

case "${1:-}" in
  packages) packages ;;
  up) packages; pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"; tls_up "$2"; pg_up "$2" "$3"; redis_up "$2" "$4" "${5:-}" ;;
  down) down "$2" ;;
  *) echo "usage: $0 packages | up NAME PG_PORT REDIS_PORT [REDIS_TLS_PORT] | down NAME" >&2; exit 2 ;;
esac
