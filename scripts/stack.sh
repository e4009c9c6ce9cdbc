#!/usr/bin/env bash
# Local stack for Switchyard: moto (pinned, in .venv), Postgres and Redis (the machine's, or private instances
# started from the binaries on PATH), then provisioning and every binary. Used by `make up`, `make down` and
# `make test`. Everything it starts listens on 127.0.0.1 only; state lives in .local/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$ROOT/.venv"
MOTO_PORT="${MOTO_PORT:-4566}"
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
DB_NAME="${DB_NAME:-switchyard}"
mkdir -p "$LOCAL/logs" "$LOCAL/pids"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds what
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || die "$3 did not start listening on 127.0.0.1:$1 within $2 s (log: $LOCAL/logs)"
    sleep 0.2
  done
}

find_pg_bin() { # name
  command -v "$1" 2>/dev/null && return
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

venv() {
  if [ ! -x "$VENV/bin/moto_server" ] || ! cmp -s "$ROOT/requirements-dev.txt" "$VENV/.requirements"; then
    command -v python3 >/dev/null || die "python3 is required: apt-get install python3 python3-venv"
    say "installing Python tools (moto, pytest, checkov) into .venv"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "python3 -m venv failed: apt-get install python3-venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
    cp "$ROOT/requirements-dev.txt" "$VENV/.requirements"
  fi
  # checkov ships its own `hcl2` package that clashes with python-hcl2, so it lives in a venv of its own.
  local reqs="$ROOT/tests/infra/requirements-checkov.txt"
  if [ ! -x "$VENV/checkov/bin/checkov" ] || ! cmp -s "$reqs" "$VENV/checkov/.requirements"; then
    say "installing checkov into .venv/checkov"
    [ -x "$VENV/checkov/bin/python" ] || python3 -m venv "$VENV/checkov"
    "$VENV/checkov/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
    cp "$reqs" "$VENV/checkov/.requirements"
  fi
}

start_moto() {
  if port_open "$MOTO_PORT"; then
    say "AWS emulator already listening on 127.0.0.1:$MOTO_PORT"
    return
  fi
  say "starting moto on 127.0.0.1:$MOTO_PORT"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOCAL/logs/moto.log" 2>&1 &
  echo $! >"$LOCAL/pids/moto.pid"
  wait_port "$MOTO_PORT" 30 moto
}

start_postgres() {
  if port_open "$PG_PORT"; then
    say "Postgres already listening on 127.0.0.1:$PG_PORT"
  else
    local initdb pg_ctl
    initdb="$(find_pg_bin initdb)"; pg_ctl="$(find_pg_bin pg_ctl)"
    [ -n "$initdb" ] && [ -n "$pg_ctl" ] || die "Postgres is not running on 127.0.0.1:$PG_PORT and no initdb/pg_ctl is on PATH: apt-get install postgresql"
    local data="$LOCAL/pgdata" run=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to run a private Postgres: apt-get install postgresql"
      run=(runuser -u postgres --)
      chown postgres "$LOCAL"
    fi
    if [ ! -s "$data/PG_VERSION" ]; then
      say "initialising a private Postgres cluster in $data"
      mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
      "${run[@]}" "$initdb" -D "$data" -U postgres --auth=trust >"$LOCAL/logs/initdb.log" 2>&1
    fi
    say "starting a private Postgres on 127.0.0.1:$PG_PORT"
    "${run[@]}" "$pg_ctl" -D "$data" -l "$LOCAL/logs/postgres.log" -w \
      -o "-h 127.0.0.1 -p $PG_PORT -k /tmp" start >/dev/null
    echo "$data" >"$LOCAL/pids/postgres.data"
  fi
  command -v psql >/dev/null || die "psql is required: apt-get install postgresql-client"
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    say "creating database $DB_NAME"
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE \"$DB_NAME\"" >/dev/null
  fi
}

start_redis() {
  if port_open "$REDIS_PORT"; then
    say "Redis already listening on 127.0.0.1:$REDIS_PORT"
    return
  fi
  command -v redis-server >/dev/null || die "Redis is not running on 127.0.0.1:$REDIS_PORT and redis-server is not on PATH: apt-get install redis-server"
  say "starting a private Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$LOCAL" --pidfile "$LOCAL/pids/redis.pid" --logfile "$LOCAL/logs/redis.log"
  wait_port "$REDIS_PORT" 15 redis
}

write_env() {
  cat >"$LOCAL/env" <<ENV
export AWS_ENDPOINT_URL=\${AWS_ENDPOINT_URL:-http://127.0.0.1:$MOTO_PORT}
export AWS_REGION=\${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-test}
export DATABASE_URL=\${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME}
export REDIS_URL=\${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}
export SWITCHYARD_ENV=\${SWITCHYARD_ENV:-dev}
ENV
}

deps() {
  venv
  start_moto
  start_postgres
  start_redis
  write_env
}

# name:port — HTTP services serve /healthz on their port, workers on HEALTH_ADDR.
SERVICES=(identity:8081 tasks:8082 mail:8083)
WORKERS=(event-archive:9103 mailer:9101 ses-suppressor:9102)
SES_DOMAIN="${SES_DOMAIN:-switchyard.local}"

resource() { # jq-less lookup in .local/provision.json: resource KIND KEY
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][sys.argv[2]][sys.argv[3]])' \
    "$LOCAL/provision.json" "$1" "$2"
}

start_bin() { # name port env...
  local name="$1" port="$2"; shift 2
  local bin="$BIN/$name"
  if [ ! -x "$bin" ]; then say "skipping $name: not built"; return; fi
  stop_one "$name"
  env "$@" nohup "$bin" >"$LOCAL/logs/$name.log" 2>&1 &
  echo $! >"$LOCAL/pids/$name.pid"
  wait_port "$port" 60 "$name"
  printf '  %-16s http://127.0.0.1:%s/healthz   log .local/logs/%s.log\n' "$name" "$port" "$name"
}

up() {
  deps
  # shellcheck disable=SC1091
  source "$LOCAL/env"
  say "building binaries"
  cargo build --quiet --bins
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
  say "provisioning topology for environment $SWITCHYARD_ENV"
  "$BIN/yard" provision --json >"$LOCAL/provision.json"
  "$BIN/yard" provision

  # SES on the emulator: a verified sending domain whose bounces and complaints go to the ses-feedback topic
  # (terraform does the same in AWS; docker-compose runs the same script).
  "$VENV/bin/python" "$ROOT/scripts/ses-local.py" "$SES_DOMAIN" "$(resource topic_arns ses-feedback)"

  # A signing key for this machine's identity service, made once and kept out of the repository.
  if [ ! -s "$LOCAL/jwt-signing-keys.json" ]; then
    (umask 077; "$BIN/identity" gen-key >"$LOCAL/jwt-signing-keys.json")
  fi
  # Service accounts of tasks and mail at identity (their permission look-ups), made once: the secrets for the
  # clients, the registry (argon2id hashes) for identity.
  mkdir -p "$LOCAL/clients"
  for client in tasks mail; do
    "$BIN/identity" create-client --name "$client" --scopes permissions:read --out "$LOCAL/clients"
  done
  local jwt=(JWT_ISSUER=http://127.0.0.1:8081 JWT_AUDIENCE=switchyard-local IDENTITY_URL=http://127.0.0.1:8081
    CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://localhost:5173}")
  start_bin identity 8081 HTTP_ADDR=127.0.0.1:8081 DATABASE_SCHEMA=identity \
    TOPIC_ARN="$(resource topic_arns identity-events)" JWT_SIGNING_KEYS="$(cat "$LOCAL/jwt-signing-keys.json")" \
    SERVICE_CLIENTS_FILE="$LOCAL/clients/service-clients.json" "${jwt[@]}"
  start_bin tasks 8082 HTTP_ADDR=127.0.0.1:8082 DATABASE_SCHEMA=tasks \
    TOPIC_ARN="$(resource topic_arns task-events)" QUEUE_URL="$(resource queue_urls tasks)" \
    IDENTITY_CLIENT_ID=tasks IDENTITY_CLIENT_SECRET_FILE="$LOCAL/clients/tasks.secret" "${jwt[@]}"
  start_bin mail 8083 HTTP_ADDR=127.0.0.1:8083 DATABASE_SCHEMA=mail \
    IDENTITY_CLIENT_ID=mail IDENTITY_CLIENT_SECRET_FILE="$LOCAL/clients/mail.secret" "${jwt[@]}"
  start_bin event-archive 9103 HEALTH_ADDR=127.0.0.1:9103 DATABASE_SCHEMA=event_archive \
    QUEUE_URL="$(resource queue_urls event-archive)"
  start_bin ses-suppressor 9102 HEALTH_ADDR=127.0.0.1:9102 DATABASE_SCHEMA=mail \
    QUEUE_URL="$(resource queue_urls ses-suppressor)"
  start_bin mailer 9101 HEALTH_ADDR=127.0.0.1:9101 DATABASE_SCHEMA=mail \
    QUEUE_URL="$(resource queue_urls mailer)" SES_FROM_ADDRESS="noreply@$SES_DOMAIN" SES_API=v2
  printf '  %-16s %s\n' moto "$AWS_ENDPOINT_URL" postgres "$DATABASE_URL" redis "$REDIS_URL"
  say "stack is up; create an administrator with: source .local/env && $BIN/identity create-admin --email you@example.com"
  say "'make down' stops what this started"
}

stop_one() {
  local pidfile="$LOCAL/pids/$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

down() {
  for entry in "${SERVICES[@]}" "${WORKERS[@]}"; do stop_one "${entry%%:*}"; done
  stop_one moto
  if [ -f "$LOCAL/pids/redis.pid" ]; then stop_one redis; fi
  if [ -f "$LOCAL/pids/postgres.data" ]; then
    local data; data="$(cat "$LOCAL/pids/postgres.data")"
    local pg_ctl; pg_ctl="$(find_pg_bin pg_ctl)"
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl" -D "$data" stop -m fast >/dev/null || true
    else "$pg_ctl" -D "$data" stop -m fast >/dev/null || true; fi
    rm -f "$LOCAL/pids/postgres.data"
  fi
  say "stopped what make up started"
}

case "${1:-}" in
  deps) deps ;;
  up) up ;;
  down) down ;;
  *) die "usage: scripts/stack.sh deps|up|down" ;;
esac
