#!/usr/bin/env bash
# Local stack for Switchyard: an AWS emulator — moto (pinned, in .venv) or, with EMULATOR=localstack, LocalStack
# (pinned, in .venv/localstack) — Postgres and Redis (the machine's, or private instances started from the binaries
# on PATH), then provisioning and every binary. Used by `make up`, `make down`, `make test`, `make test-localstack`
# and `make bench-localstack`. What it starts listens on 127.0.0.1 (LocalStack's default gateway: see
# start_localstack); state lives in .local/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$ROOT/.venv"
MOTO_PORT="${MOTO_PORT:-4566}"
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
DB_NAME="${DB_NAME:-switchyard}"
EMULATOR="${EMULATOR:-moto}"
# `make up EMULATOR=localstack` serves LocalStack where docker-compose's localstack profile publishes it.
LOCALSTACK_PORT="${LOCALSTACK_PORT:-4567}"
# The services Switchyard uses; docker-compose.yml's localstack profile lists the same (tests/infra checks).
LOCALSTACK_SERVICES="sns,sqs,ses"
# Seconds LocalStack gets to report those services ready.
LOCALSTACK_START_SECONDS="${LOCALSTACK_START_SECONDS:-120}"
case "$EMULATOR" in moto | localstack) ;; *) printf 'error: EMULATOR=%s: expected moto or localstack\n' "$EMULATOR" >&2; exit 1 ;; esac
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

# LocalStack needs Python 3.11 (the version its 4.9.2 runtime and requirements-localstack.txt were resolved for).
localstack_venv() {
  local venv="$VENV/localstack" reqs="$ROOT/requirements-localstack.txt"
  [ -x "$venv/bin/python" ] && cmp -s "$reqs" "$venv/.requirements" && return
  local python
  python="$(command -v python3.11 || true)"
  if [ -z "$python" ] && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    python="$(command -v python3)"
  fi
  [ -n "$python" ] || die "LocalStack needs Python 3.11 (python3.11 on PATH, or python3 being 3.11)"
  say "installing LocalStack (requirements-localstack.txt) into .venv/localstack"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || die "$python -m venv failed: apt-get install python3-venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/.requirements"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One LocalStack in host mode: start_localstack NAME PORT. NAME keeps instances apart (`make up`'s and a test run's):
# .local/NAME/ holds its state (FILESYSTEM_ROOT), .local/logs/NAME.log its log, .local/pids/NAME.pid its process
# group. Configured to stay on this machine: no analytics (DISABLE_EVENTS), no certificate download
# (SKIP_SSL_CERT_DOWNLOAD), no DNS server (DNS_ADDRESS=0), host-mode directories even in a container
# (OVERRIDE_IN_DOCKER=0). Its default gateway (twisted) keeps connections alive but binds every interface whatever
# GATEWAY_LISTEN's host says (localstack/runtime/server/twisted.py, 4.9.2); LOCALSTACK_GATEWAY_SERVER=hypercorn binds
# 127.0.0.1 only, and closes every connection.
start_localstack() {
  local name="$1" port="$2" dir="$LOCAL/$1" pidfile="$LOCAL/pids/$1.pid"
  localstack_venv
  stop_localstack "$name"
  port_open "$port" && die "127.0.0.1:$port is taken: set LOCALSTACK_PORT to a free port"
  rm -rf "$dir"; mkdir -p "$dir"
  say "starting LocalStack $(sed -n 's/^localstack-core\[runtime\]==//p' "$ROOT/requirements-localstack.txt") ($LOCALSTACK_SERVICES) on 127.0.0.1:$port"
  # The whole subshell's stdio goes to the log (nothing keeps the caller's stdout open), and it execs into the
  # process, which records its own pid: the process group that stop_localstack signals.
  (cd "$dir" && exec env GATEWAY_LISTEN="127.0.0.1:$port" SERVICES="$LOCALSTACK_SERVICES" FILESYSTEM_ROOT="$dir/fs" \
    GATEWAY_SERVER="${LOCALSTACK_GATEWAY_SERVER:-twisted}" OVERRIDE_IN_DOCKER=0 DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 DNS_ADDRESS=0 \
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$VENV/localstack/bin/python" -m localstack.runtime.main) \
    </dev/null >"$LOCAL/logs/$name.log" 2>&1 &
  local deadline=$((SECONDS + LOCALSTACK_START_SECONDS)) why
  until why="$("$VENV/localstack/bin/python" "$ROOT/scripts/localstack-ready.py" "http://127.0.0.1:$port" \
    "$LOCALSTACK_SERVICES" 2>&1)"; do
    if [ -s "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 20 "$LOCAL/logs/$name.log" >&2
      die "LocalStack exited during start-up (log: .local/logs/$name.log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      stop_localstack "$name"
      die "LocalStack not ready within $LOCALSTACK_START_SECONDS s: $why (log: .local/logs/$name.log)"
    fi
    sleep 0.5
  done
  say "LocalStack ready at http://127.0.0.1:$port (log .local/logs/$name.log)"
}

# Stops the process group start_localstack made (LocalStack shuts its services down on SIGTERM).
stop_localstack() { stop_one "$1" group; }

# with-localstack NAME CMD...: a LocalStack of its own on a free port (or LOCALSTACK_TEST_PORT) for one command, which
# sees it as AWS_ENDPOINT_URL with SWITCHYARD_EMULATOR=localstack; stopped when the command ends, however it ends.
with_localstack() {
  WITH_LOCALSTACK="$1"; shift # global: the EXIT trap runs after this function has returned
  local port="${LOCALSTACK_TEST_PORT:-$(free_port)}"
  trap 'stop_localstack "$WITH_LOCALSTACK"' EXIT
  trap 'exit 130' INT TERM
  start_localstack "$WITH_LOCALSTACK" "$port"
  local rc=0
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" SWITCHYARD_EMULATOR=localstack "$@" || rc=$?
  return "$rc"
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
  if [ "$EMULATOR" = localstack ]; then localstack_venv; else start_moto; fi
  start_postgres
  start_redis
  write_env
}

# name:port — HTTP services serve /healthz on their port, workers on HEALTH_ADDR. Each port can be moved
# (IDENTITY_PORT=18081 make up ...), e.g. to run a second stack beside one already up.
IDENTITY_PORT="${IDENTITY_PORT:-8081}" TASKS_PORT="${TASKS_PORT:-8082}" MAIL_PORT="${MAIL_PORT:-8083}"
MAILER_HEALTH_PORT="${MAILER_HEALTH_PORT:-9101}" SUPPRESSOR_HEALTH_PORT="${SUPPRESSOR_HEALTH_PORT:-9102}"
ARCHIVE_HEALTH_PORT="${ARCHIVE_HEALTH_PORT:-9103}"
SERVICES=(identity:$IDENTITY_PORT tasks:$TASKS_PORT mail:$MAIL_PORT)
WORKERS=(event-archive:$ARCHIVE_HEALTH_PORT mailer:$MAILER_HEALTH_PORT ses-suppressor:$SUPPRESSOR_HEALTH_PORT)
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
  # SES on LocalStack's community edition is the v1 API only (SESv2 answers 501): the mailer's fallback.
  local ses_api=v2
  if [ "$EMULATOR" = localstack ]; then
    start_localstack localstack "$LOCALSTACK_PORT"
    export AWS_ENDPOINT_URL="http://127.0.0.1:$LOCALSTACK_PORT"
    ses_api=v1
  fi
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
  local jwt=(JWT_ISSUER="http://127.0.0.1:$IDENTITY_PORT" JWT_AUDIENCE=switchyard-local
    IDENTITY_URL="http://127.0.0.1:$IDENTITY_PORT" CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://localhost:5173}")
  start_bin identity "$IDENTITY_PORT" HTTP_ADDR="127.0.0.1:$IDENTITY_PORT" DATABASE_SCHEMA=identity \
    TOPIC_ARN="$(resource topic_arns identity-events)" JWT_SIGNING_KEYS="$(cat "$LOCAL/jwt-signing-keys.json")" \
    SERVICE_CLIENTS_FILE="$LOCAL/clients/service-clients.json" "${jwt[@]}"
  start_bin tasks "$TASKS_PORT" HTTP_ADDR="127.0.0.1:$TASKS_PORT" DATABASE_SCHEMA=tasks \
    TOPIC_ARN="$(resource topic_arns task-events)" QUEUE_URL="$(resource queue_urls tasks)" \
    IDENTITY_CLIENT_ID=tasks IDENTITY_CLIENT_SECRET_FILE="$LOCAL/clients/tasks.secret" "${jwt[@]}"
  start_bin mail "$MAIL_PORT" HTTP_ADDR="127.0.0.1:$MAIL_PORT" DATABASE_SCHEMA=mail \
    IDENTITY_CLIENT_ID=mail IDENTITY_CLIENT_SECRET_FILE="$LOCAL/clients/mail.secret" "${jwt[@]}"
  start_bin event-archive "$ARCHIVE_HEALTH_PORT" HEALTH_ADDR="127.0.0.1:$ARCHIVE_HEALTH_PORT" DATABASE_SCHEMA=event_archive \
    QUEUE_URL="$(resource queue_urls event-archive)"
  start_bin ses-suppressor "$SUPPRESSOR_HEALTH_PORT" HEALTH_ADDR="127.0.0.1:$SUPPRESSOR_HEALTH_PORT" DATABASE_SCHEMA=mail \
    QUEUE_URL="$(resource queue_urls ses-suppressor)"
  start_bin mailer "$MAILER_HEALTH_PORT" HEALTH_ADDR="127.0.0.1:$MAILER_HEALTH_PORT" DATABASE_SCHEMA=mail \
    QUEUE_URL="$(resource queue_urls mailer)" SES_FROM_ADDRESS="noreply@$SES_DOMAIN" SES_API="$ses_api"
  printf '  %-16s %s\n' "$EMULATOR" "$AWS_ENDPOINT_URL" postgres "$DATABASE_URL" redis "$REDIS_URL"
  if [ "$EMULATOR" = localstack ]; then
    say "the stack is on LocalStack: export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL before yard or the AWS CLI"
  fi
  say "stack is up; create an administrator with: source .local/env && $BIN/identity create-admin --email you@example.com"
  say "'make down' stops what this started"
}

stop_one() { # NAME [group]: SIGTERM to .local/pids/NAME.pid (to its whole process group with "group"), SIGKILL after 30 s
  local pidfile="$LOCAL/pids/$1.pid"
  [ -s "$pidfile" ] || { rm -f "$pidfile"; return 0; }
  local pid target; pid="$(cat "$pidfile")"
  target="$pid"; [ "${2:-}" = group ] && target="-$pid"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "$target" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "$target" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

down() {
  for entry in "${SERVICES[@]}" "${WORKERS[@]}"; do stop_one "${entry%%:*}"; done
  stop_one moto
  stop_localstack localstack
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
  with-localstack) shift; [ $# -ge 2 ] || die "usage: scripts/stack.sh with-localstack NAME CMD..."; with_localstack "$@" ;;
  *) die "usage: scripts/stack.sh deps|up|down|with-localstack NAME CMD..." ;;
esac
