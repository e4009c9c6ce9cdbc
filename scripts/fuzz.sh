#!/usr/bin/env bash
# Schemathesis (pinned in requirements-dev.txt) against the OpenAPI document of every HTTP service — identity, tasks,
# mail — running for real: the built binaries on free 127.0.0.1 ports, real Postgres, Redis and the AWS emulator,
# an environment prefix, schemas and a Redis key prefix of their own. Requests carry the bearer token of a user
# holding every permission (identity's of an administrator), so authenticated operations are exercised, not just
# their 401s. Fails on any 5xx and on any response the document does not describe (status, content type, body
# schema, headers). Called by `make test` (`make fuzz` alone).
#
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 300: about a minute for all three on 2 cores)
#   FUZZ_SEED          reproduce a run (every run prints its seed; default: a new one)
#   FUZZ_TIME_LIMIT    wall-clock bound per service in seconds (default 240): exceeding it fails the run
#   FUZZ_SERVICES      which services (default "identity tasks mail")
#   FUZZ_KEEP=1        keep the schemas afterwards (to look at what the run left), FUZZ_RUST_LOG=info for request logs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/.local/env"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
ST="$ROOT/.venv/bin/st"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-300}"
SEED="${FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}"
TIME_LIMIT="${FUZZ_TIME_LIMIT:-240}"
SERVICES="${FUZZ_SERVICES:-identity tasks mail}"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[ -x "$ST" ] || die "schemathesis is not installed in .venv: make deps"
for b in identity tasks mail yard; do [ -x "$BIN/$b" ] || die "$BIN/$b is not built: cargo build --workspace --bins"; done

id="fz$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
LOGS="$ROOT/.local/logs/fuzz-$id"
REPORTS="$LOGS/reports"
mkdir -p "$REPORTS" "$ROOT/.local/schemathesis"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[k]
print(d)' "$@"; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${FUZZ_KEEP:-}" ] && { say "kept schemas t_${id}_{identity,tasks,mail}"; return; }
  for svc in identity tasks mail; do
    psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS t_${id}_${svc} CASCADE" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

provision="$(SWITCHYARD_ENV="t-$id" "$BIN/yard" provision --json)"
topic() { json_get resources topic_arns "$1" <<<"$provision"; }
issuer_port="$(free_port)"
declare -A PORT=([identity]="$issuer_port" [tasks]="$(free_port)" [mail]="$(free_port)")
common=(JWT_ISSUER="http://127.0.0.1:$issuer_port" JWT_AUDIENCE=switchyard-fuzz REDIS_KEY_PREFIX="t-$id:"
  RUST_LOG="${FUZZ_RUST_LOG:-warn}")

start() { # name env...
  local name="$1"; shift
  env "${common[@]}" HTTP_ADDR="127.0.0.1:${PORT[$name]}" DATABASE_SCHEMA="t_${id}_${name}" "$@" \
    "$BIN/$name" >"$LOGS/$name.log" 2>&1 &
  pids+=("$!")
  local pid=$!
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$name]}") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$LOGS/$name.log" >&2; die "$name exited at start"; }
    sleep 0.2
  done
  die "$name did not listen on ${PORT[$name]} within 60 s (log: $LOGS/$name.log)"
}

say "fuzz $id: starting identity, tasks and mail (logs: ${LOGS#"$ROOT"/})"
keys="$("$BIN/identity" gen-key)"
# The service accounts tasks and mail read permissions with (identity's internal endpoint, on a Redis miss).
clients="$LOGS/clients"
mkdir -p "$clients"
for client in tasks mail; do
  "$BIN/identity" create-client --name "$client" --scopes permissions:read --out "$clients" >/dev/null
done
start identity TOPIC_ARN="$(topic identity-events)" JWT_SIGNING_KEYS="$keys" \
  SERVICE_CLIENTS_FILE="$clients/service-clients.json"
start tasks TOPIC_ARN="$(topic task-events)" IDENTITY_URL="http://127.0.0.1:${PORT[identity]}" \
  QUEUE_URL="$(json_get resources queue_urls tasks <<<"$provision")" WAIT_TIME_SECONDS=1 \
  IDENTITY_CLIENT_ID=tasks IDENTITY_CLIENT_SECRET_FILE="$clients/tasks.secret"
start mail IDENTITY_URL="http://127.0.0.1:${PORT[identity]}" \
  IDENTITY_CLIENT_ID=mail IDENTITY_CLIENT_SECRET_FILE="$clients/mail.secret"

identity_url="http://127.0.0.1:${PORT[identity]}"
request() { # method path token body -> body on stdout; fails on a non-2xx
  curl -sS --fail-with-body -X "$1" "$identity_url$2" -H 'content-type: application/json' \
    ${3:+-H "authorization: Bearer $3"} ${4:+-d "$4"}
}
login() { request POST /v1/sessions "" "{\"email\":\"$1\",\"password\":\"$2\"}" | json_get access_token; }
password="fuzz-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
DATABASE_SCHEMA="t_${id}_identity" ADMIN_PASSWORD="$password" "$BIN/identity" create-admin \
  --email "admin-$id@example.com" >/dev/null
admin="$(login "admin-$id@example.com" "$password")"
# The user for tasks and mail: every permission but users:admin (identity's fuzzing cannot learn its id).
user_id="$(request POST /v1/users "" \
  "{\"email\":\"user-$id@example.com\",\"password\":\"$password\",\"display_name\":\"Fuzz\"}" | json_get id)"
request PUT "/v1/users/$user_id/permissions" "$admin" \
  '{"permissions":["tasks:read","tasks:write","mail:admin"]}' >/dev/null
user="$(login "user-$id@example.com" "$password")"
# tasks learns the user from identity's user.registered (its users projection): wait for it, so task creation is
# exercised rather than answered 503 (the account is not known yet).
for _ in $(seq 1 150); do
  known="$(psql "$DATABASE_URL" -tAc "SELECT 1 FROM t_${id}_tasks.users WHERE id = '$user_id'" 2>/dev/null || true)"
  [ "$known" = 1 ] && break
  sleep 0.2
done
[ "$known" = 1 ] || die "tasks did not learn the fuzz user from user.registered within 30 s (log: $LOGS/tasks.log)"

declare -A TOKEN=([identity]="$admin" [tasks]="$user" [mail]="$user")
say "schemathesis: seed $SEED, at most $MAX_EXAMPLES examples per operation, ${TIME_LIMIT} s per service (FUZZ_SEED=$SEED reproduces)"
failed=()
for svc in $SERVICES; do
  started=$SECONDS
  set +e
  # Run from .local/schemathesis: schemathesis keeps its cache (failures it replays first next time) in the cwd.
  # One worker: with two, hypothesis' lambda descriptions race in CPython 3.11's ast.parse ("AST constructor
  # recursion depth mismatch") and the run errors out; one worker takes well under a minute per service anyway.
  (cd "$ROOT/.local/schemathesis" && exec timeout --signal=INT --kill-after=10 "$TIME_LIMIT" "$ST" run --no-color \
    "http://127.0.0.1:${PORT[$svc]}/openapi.json" \
    --checks "$CHECKS" \
    --header "Authorization: Bearer ${TOKEN[$svc]}" \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
    --workers 1 --request-timeout 15 --generation-database none \
    --report junit --report-junit-path "$REPORTS/$svc.xml") \
    >"$LOGS/schemathesis-$svc.log" 2>&1
  rc=$?
  set -e
  summary="$(awk '/^Test cases:/ { getline; sub(/^ +/, ""); print }' "$LOGS/schemathesis-$svc.log")"
  if [ "$rc" -eq 0 ]; then
    say "$svc: ok in $((SECONDS - started)) s: $summary"
  else
    [ "$rc" -eq 124 ] && say "$svc: exceeded ${TIME_LIMIT} s (FUZZ_TIME_LIMIT)"
    say "$svc: FAILED (exit $rc) in $((SECONDS - started)) s — full output: ${LOGS#"$ROOT"/}/schemathesis-$svc.log"
    sed -n '/FAILURES/,$p' "$LOGS/schemathesis-$svc.log" | head -n 150 >&2 || true
    failed+=("$svc")
  fi
done
if grep -lE '"level":"(ERROR|error)"|panicked' "$LOGS"/{identity,tasks,mail}.log >/dev/null 2>&1; then
  say "server logs with errors or panics:"; grep -hE '"level":"(ERROR|error)"|panicked' "$LOGS"/{identity,tasks,mail}.log | head -n 20 >&2
fi
[ "${#failed[@]}" -eq 0 ] || die "schemathesis found problems in: ${failed[*]} (seed $SEED)"
say "fuzzing took $SECONDS s; reports in ${REPORTS#"$ROOT"/}"
