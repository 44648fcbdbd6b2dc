#!/usr/bin/env bash
# bench/run_bundle.sh - bundle-fetch throughput and latency with every fetch durably audited
# (group commit), beside the ceiling of a request that writes no row (GET /healthcheck), both
# measured in the same run on this machine. Prints one JSON object per measurement, then the
# access-log batch sizes seen and the chain check.
#
# Usage: bench/run_bundle.sh [SECONDS] [CLIENT_THREADS]   (defaults 10 and 8)
# Runs a throwaway PostgreSQL cluster and a Release cofferd on loopback ports and stops both.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

SECONDS_EACH=${1:-10}
CLIENTS=${2:-8}
require_root
cd "$COFFER_ROOT"
ensure_packages $BUILD_PACKAGES $RUN_PACKAGES
build Release build/release
BIN=$COFFER_ROOT/build/release
WORK=$(mktemp -d /tmp/coffer-bench.XXXXXX)
chmod 755 "$WORK"
COFFERD_PID=

cleanup() {
  [ -n "$COFFERD_PID" ] && kill "$COFFERD_PID" 2>/dev/null && wait "$COFFERD_PID" 2>/dev/null
  pg_stop "$WORK/pg" immediate
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

pg_init "$WORK/pg" trust
PGPORT=$(free_port)
pg_start "$WORK/pg" "$PGPORT" "$WORK/sock" "$WORK/pg.log"
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
  -c "CREATE ROLE coffer_app NOLOGIN" -c "CREATE ROLE coffer LOGIN IN ROLE coffer_app" \
  -c "CREATE DATABASE coffer"
export COFFER_MIGRATE_DATABASE_URL="host=127.0.0.1 port=$PGPORT user=postgres dbname=coffer"
export COFFER_DATABASE_URL="host=127.0.0.1 port=$PGPORT user=coffer dbname=coffer"
export COFFER_LOCAL_KEY_FILE=$WORK/keys.json COFFER_AUTH_KEY=alias/coffer-auth
export COFFER_AUTH_CONTEXT=coffer-bench COFFER_LOG_LEVEL=warn
PORT=$(free_port)
export COFFER_LISTEN=127.0.0.1:$PORT
"$BIN/service/cofferd" migrate >/dev/null
"$BIN/service/cofferd" local-key init "$COFFER_LOCAL_KEY_FILE" 2>/dev/null
ADMIN=$("$BIN/service/cofferd" token create --role admin --name bench)
"$BIN/service/cofferd" serve 2>"$WORK/cofferd.log" &
COFFERD_PID=$!
wait_port "$PORT" 30 "$COFFERD_PID" || { cat "$WORK/cofferd.log" >&2; die "cofferd did not start"; }

# A service with five credentials of a few pairs each, as a typical boot bundle.
URL=http://127.0.0.1:$PORT
IDS=""
for i in 1 2 3 4 5; do
  ID=$(curl -sf -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "{\"name\": \"bench credential $i\", \"credential_pairs\": {\"user_$i\": \"u$i\", \"password_$i\": \"p$(head -c 12 /dev/urandom | base64)\"}}" \
    "$URL/v1/credentials" | sed -n 's/.*"id":"\([0-9a-f]\{32\}\)".*/\1/p')
  IDS="$IDS${IDS:+,}\"$ID\""
done
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d "{\"credentials\": [$IDS]}" "$URL/v1/services/bench-service"
SERVICE_AUTH=$("$BIN/cli/coffer" token --from bench-service --header --lifetime 60)
curl -sf -o /dev/null -H "$SERVICE_AUTH" "$URL/v1/services/bench-service" # warm the caches
ROWS_BEFORE=$(psql -X -qtA -h 127.0.0.1 -p "$PGPORT" -U postgres -d coffer -c "SELECT count(*) FROM audit_log")

"$BIN/bench/bench_http" --label healthcheck_ceiling --url "$URL/healthcheck" \
  --threads "$CLIENTS" --seconds "$SECONDS_EACH"
"$BIN/bench/bench_http" --label bundle_fetch_audited --url "$URL/v1/services/bench-service" \
  --header "$SERVICE_AUTH" --threads "$CLIENTS" --seconds "$SECONDS_EACH" | tee "$WORK/bundle.json"

ROWS_AFTER=$(psql -X -qtA -h 127.0.0.1 -p "$PGPORT" -U postgres -d coffer -c "SELECT count(*) FROM audit_log")
FETCHES=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$WORK/bundle.json")
echo "{\"bench\":\"audit_rows\",\"fetches\":$FETCHES,\"rows_written\":$((ROWS_AFTER - ROWS_BEFORE))}"
curl -sf "$URL/metrics" | grep -E '^coffer_audit_batch_size|^coffer_audit_events_total|^coffer_kms_requests_total\{op="Decrypt"' |
  sed 's/^/# /'
"$BIN/service/cofferd" audit verify
