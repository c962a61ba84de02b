#!/usr/bin/env bash
# Installs and runs the private Postgres and Redis that `make run` and `make test` use.
#
#   scripts/services.sh packages                 install missing apt packages (needs root)
#   scripts/services.sh up NAME PG_PORT REDIS_PORT   start (if not running) a private Postgres
#                                                   and Redis for NAME under .tollgate/NAME
#   scripts/services.sh down NAME                stop what `up NAME` started
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

pg_up() {
  local name="$1" port="$2"
  if [[ -n "${TOLLGATE_POSTGRES_URL:-}" ]]; then log "using TOLLGATE_POSTGRES_URL"; return 0; fi
  if as_pg "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    log "postgres already answers on 127.0.0.1:$port"
  else
    local data; data="$(pg_data_dir "$name" "$port")"
    mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$(dirname "$data")"
    if [[ ! -s "$data/PG_VERSION" ]]; then
      log "initdb $data"
      as_pg "$pg_bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    log "starting postgres on 127.0.0.1:$port"
    as_pg "$pg_bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c max_connections=300" >/dev/null
    echo "$data" > "$root/.tollgate/$name/postgres.started"
  fi
  as_pg "$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE tollgate LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate')\gexec
SELECT 'CREATE DATABASE tollgate OWNER tollgate' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tollgate')\gexec
SQL
}

redis_up() {
  local name="$1" port="$2"
  if [[ -n "${TOLLGATE_REDIS_URL:-}" ]]; then log "using TOLLGATE_REDIS_URL"; return 0; fi
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    log "redis already answers on 127.0.0.1:$port"
    return 0
  fi
  local dir="$root/.tollgate/$name/redis-$port"
  mkdir -p "$dir"
  log "starting redis on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
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
  up) packages; pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"; pg_up "$2" "$3"; redis_up "$2" "$4" ;;
  down) down "$2" ;;
  *) echo "usage: $0 packages | up NAME PG_PORT REDIS_PORT | down NAME" >&2; exit 2 ;;
esac
