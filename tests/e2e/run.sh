#!/usr/bin/env bash
# tests/e2e/run.sh SHOTS_DIR - the web page's end-to-end test: a cofferd of its own (local
# KMS backend, its own database in the test cluster), a bootstrap admin token, then
# tests/e2e/ui.test.mjs drives the page in Debian's headless Chromium (playwright-core, pinned
# in package-lock.json, installed by scripts/test) and saves screenshots in SHOTS_DIR.
#
# Needs what scripts/test exports: COFFER_TEST_PG_URL, COFFER_TEST_PG_PORT, COFFER_TEST_COFFERD,
# COFFER_TEST_MIGRATIONS, COFFER_TEST_WORK. Stops its cofferd by PID and drops its database.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHOTS=${1:?usage: tests/e2e/run.sh SHOTS_DIR}
for v in COFFER_TEST_PG_URL COFFER_TEST_PG_PORT COFFER_TEST_COFFERD COFFER_TEST_MIGRATIONS COFFER_TEST_WORK; do
  [ -n "${!v:-}" ] || { echo "e2e: $v is not set (run this through ./scripts/test)" >&2; exit 2; }
done
[ -d "$HERE/node_modules/playwright-core" ] ||
  { echo "e2e: playwright-core is not installed in $HERE/node_modules (scripts/test installs it)" >&2; exit 2; }
CHROMIUM=${COFFER_E2E_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "e2e: no Chromium at $CHROMIUM (the Debian package chromium)" >&2; exit 2; }

WORK=$(mktemp -d "$COFFER_TEST_WORK/e2e.XXXXXX")
DB=coffer_e2e_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
BASE="host=127.0.0.1 port=$COFFER_TEST_PG_PORT dbname=$DB"
PID=

sql() { psql -X -q -v ON_ERROR_STOP=1 "$COFFER_TEST_PG_URL" -c "$1" >/dev/null; }
cleanup() {
  local rc=$?
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  [ "$rc" -ne 0 ] && [ -f "$WORK/cofferd.log" ] && { echo "--- cofferd's log (last 30 lines)" >&2; tail -30 "$WORK/cofferd.log" >&2; }
  exit "$rc"
}
trap cleanup EXIT INT TERM

# The roles the other tests use too (made once per cluster; another test may be making them).
for role in "coffer_app NOLOGIN" "coffer_test_owner LOGIN" "coffer_test_app LOGIN IN ROLE coffer_app"; do
  sql "DO \$\$ BEGIN CREATE ROLE $role; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$" 
done
sql "CREATE DATABASE $DB OWNER coffer_test_owner"

export COFFER_DATABASE_URL="$BASE user=coffer_test_app"
export COFFER_MIGRATE_DATABASE_URL="$BASE user=coffer_test_owner"
export COFFER_MIGRATIONS_DIR=$COFFER_TEST_MIGRATIONS
export COFFER_LOCAL_KEY_FILE=$WORK/kms-keys.json
# The test signs in with a wrong token on purpose; nothing else fails authentication.
export COFFER_AUTH_FAILURES_PER_MINUTE=0
"$COFFER_TEST_COFFERD" local-key init "$COFFER_LOCAL_KEY_FILE" >/dev/null
"$COFFER_TEST_COFFERD" migrate >/dev/null
ADMIN_TOKEN=$("$COFFER_TEST_COFFERD" token create --role admin --name e2e-admin)

# A free loopback port (a race with another test is retried).
for attempt in 1 2 3; do
  PORT=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && continue
  COFFER_LISTEN=127.0.0.1:$PORT "$COFFER_TEST_COFFERD" serve 2>"$WORK/cofferd.log" &
  PID=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthcheck" 2>/dev/null && break 2
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
  echo "e2e: cofferd did not start on port $PORT (attempt $attempt):" >&2
  tail -5 "$WORK/cofferd.log" >&2
  [ "$attempt" = 3 ] && exit 1
done

mkdir -p "$SHOTS"
COFFER_E2E_URL=http://127.0.0.1:$PORT COFFER_E2E_ADMIN_TOKEN=$ADMIN_TOKEN COFFER_E2E_SHOTS=$SHOTS \
  COFFER_E2E_CHROMIUM=$CHROMIUM node "$HERE/ui.test.mjs"
