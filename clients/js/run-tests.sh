#!/usr/bin/env bash
# Tests of the TypeScript client against a running identity service (called by `make test`).
#   IDENTITY_URL=http://127.0.0.1:8081 clients/js/run-tests.sh
# Installs exactly package-lock.json (npm ci), regenerates the types from the live /openapi.json (so a contract
# change that breaks the client fails the type check), compiles and runs node:test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
: "${IDENTITY_URL:?set IDENTITY_URL to a running identity service, e.g. http://127.0.0.1:8081}"
command -v node >/dev/null || { echo "error: node (>= 20) is required: apt-get install nodejs npm" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npx openapi-typescript "$IDENTITY_URL/openapi.json" -o src/generated/identity.ts >/dev/null
npx tsc -p .
IDENTITY_URL="$IDENTITY_URL" node --test dist/test/
