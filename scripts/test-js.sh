#!/usr/bin/env bash
# The TypeScript client's tests (clients/js) against a live identity process of their own: a free 127.0.0.1 port,
# its own schema, Redis key prefix and topic prefix, and a signing key generated for the run. Called by `make test`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/.local/env"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
id="js$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
topic="$(SWITCHYARD_ENV="t-$id" "$BIN/yard" provision --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["resources"]["topic_arns"]["identity-events"])')"
log="$ROOT/.local/logs/identity-js-$id.log"

HTTP_ADDR="127.0.0.1:$port" DATABASE_SCHEMA="t_${id}_identity" REDIS_KEY_PREFIX="t-$id:" TOPIC_ARN="$topic" \
  JWT_SIGNING_KEYS="$("$BIN/identity" gen-key)" JWT_ISSUER="http://127.0.0.1:$port" JWT_AUDIENCE=switchyard-js-test \
  "$BIN/identity" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS t_${id}_identity CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 150); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "identity exited; see $log" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
IDENTITY_URL="http://127.0.0.1:$port" "$ROOT/clients/js/run-tests.sh"
