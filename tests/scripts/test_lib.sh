#!/usr/bin/env bash
# tests/scripts/test_lib.sh - what scripts/run and scripts/test need of scripts/lib.sh on a new
# machine, checked for real (issue 11, defects 3, 5 and 6):
#
# 1. A Release configure needs nothing the tests need: with every pkg-config module of this
#    machine visible but cmocka, the Release configure succeeds and the test configure
#    (-DCOFFER_TESTS=ON) fails, naming cmocka.
# 2. A configure that failed once (a dependency missing: here no pkg-config module at all)
#    is tried again by the next `build`, which then succeeds; CMake leaves a CMakeCache.txt
#    behind even when it fails, and `build` once skipped the configure because of it.
# 3. A clone the postgres user cannot reach (under a mode-700 folder, as /root is) keeps its
#    cluster under /var/lib/coffer, and a cluster really starts there; a reachable clone
#    keeps it in its own var/; the choice is remembered.
# 4. A cluster that cannot start (its port taken) makes pg_start return 1 with the log's end on
#    stderr, in the calling shell: it once exited the whole script instead, so scripts/test,
#    which silences pg_start's stderr while it retries on another port, died with no word and
#    never retried (issue 23). free_port stays below the ephemeral port range.
#
# Runs as root (runuser, /var/lib). Exits 0 when every check holds, 1 naming the first that
# does not.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
set +e # lib.sh's die exits: every call that may fail runs in a subshell below

fail() {
  printf 'test_lib: FAILED: %s\n' "$*" >&2
  exit 1
}
ok() { printf 'test_lib: ok: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || fail "run as root"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-test-lib.XXXXXX") || fail "mktemp"
chmod 755 "$WORK"
HOMES=()
cleanup() {
  local h
  for h in "${HOMES[@]}"; do
    pg_stop "$h/pg" immediate 2>/dev/null
    rm -rf "$h"
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A pkg-config folder with every module of this machine but cmocka.
NOCMOCKA=$WORK/pc-without-cmocka
mkdir -p "$NOCMOCKA"
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
  for pc in "$d"/*.pc; do
    [ -f "$pc" ] || continue
    case $(basename "$pc") in cmocka.pc) continue ;; esac
    [ -e "$NOCMOCKA/$(basename "$pc")" ] || ln -s "$pc" "$NOCMOCKA/"
  done
done
PKG_CONFIG_LIBDIR=$NOCMOCKA pkg-config --exists cmocka && fail "cmocka is still visible"
PKG_CONFIG_LIBDIR=$NOCMOCKA pkg-config --exists jansson || fail "jansson is not visible"

# --- 1. Release needs no cmocka --------------------------------------------------------------
(PKG_CONFIG_LIBDIR=$NOCMOCKA build Release "$WORK/release" coffer_common) >"$WORK/1.out" 2>&1 ||
  { cat "$WORK/1.out" >&2; fail "the Release build needs something cmocka gives"; }
ok "Release configures and builds without cmocka"
if (PKG_CONFIG_LIBDIR=$NOCMOCKA build Asan "$WORK/tests" coffer_common -DCOFFER_TESTS=ON) \
  >"$WORK/1b.out" 2>&1; then
  fail "the test configure succeeded without cmocka: the check above proves nothing"
fi
grep -q cmocka "$WORK/1b.out" || { cat "$WORK/1b.out" >&2; fail "the test configure failed without naming cmocka"; }
ok "the test configure needs cmocka and says so"

# --- 2. a failed configure recovers ----------------------------------------------------------
mkdir -p "$WORK/empty-pc"
if (PKG_CONFIG_LIBDIR=$WORK/empty-pc build Release "$WORK/recover" coffer_common) \
  >"$WORK/2a.out" 2>&1; then
  fail "a configure without any pkg-config module succeeded"
fi
[ -f "$WORK/recover/CMakeCache.txt" ] || fail "CMake left no CMakeCache.txt: the case is not reproduced"
(build Release "$WORK/recover" coffer_common) >"$WORK/2b.out" 2>&1 ||
  { cat "$WORK/2b.out" >&2; fail "build did not recover from a failed first configure"; }
[ -f "$WORK/recover/common/libcoffer_common.a" ] || fail "the recovered build made no library"
ok "a failed first configure is retried, and the build then succeeds"

# --- 3. the cluster of a clone postgres cannot reach -----------------------------------------
mkdir -p "$WORK/private/clone/var" "$WORK/open/clone/var"
chmod 700 "$WORK/private"
chmod 755 "$WORK/open" "$WORK/open/clone" "$WORK/open/clone/var"
postgres_can_reach "$WORK/private/clone/var" && fail "postgres can reach a mode-700 folder"

home=$(COFFER_ROOT=$WORK/private/clone pg_home "$WORK/private/clone/var") || fail "pg_home failed"
case $home in /var/lib/coffer/*) ;; *) fail "an unreachable clone's cluster went to $home" ;; esac
HOMES+=("$home")
postgres_can_reach "$home" || fail "postgres cannot reach $home"
again=$(COFFER_ROOT=$WORK/private/clone pg_home "$WORK/private/clone/var")
[ "$again" = "$home" ] || fail "the second run chose $again, not $home"
other=$(COFFER_ROOT=$WORK/private/other pg_home "$WORK/open/clone/var") # reachable var/
[ "$other" = "$WORK/open/clone/var" ] || fail "a reachable clone's cluster went to $other"

(pg_init "$home/pg" trust) >"$WORK/3.out" 2>&1 || { cat "$WORK/3.out" >&2; fail "initdb in $home"; }
port=$(free_port)
(pg_start "$home/pg" "$port" "$home/pg-socket" "$home/pg.log") >>"$WORK/3.out" 2>&1 ||
  { cat "$WORK/3.out" >&2; fail "PostgreSQL did not start in $home"; }
answer=$(as_postgres psql -X -At -h 127.0.0.1 -p "$port" -d postgres -c 'SELECT 1')
[ "$answer" = 1 ] || fail "the cluster in $home does not answer"
ok "a clone under a mode-700 folder runs its cluster in $home"

# --- 4. a cluster that does not start: pg_start returns, and says why ------------------------
(pg_init "$WORK/second" trust) >"$WORK/4.out" 2>&1 || { cat "$WORK/4.out" >&2; fail "initdb"; }
started=yes
pg_start "$WORK/second" "$port" "$WORK/second-sock" "$WORK/second.log" 2>"$WORK/4.err" || started=no
[ "$started" = no ] || fail "a second cluster started on port $port, which the first one holds"
grep -q "did not start (port $port)" "$WORK/4.err" ||
  { cat "$WORK/4.err" >&2; fail "pg_start failed without saying so"; }
grep -q "could not\|bind\|in use" "$WORK/4.err" ||
  { cat "$WORK/4.err" >&2; fail "pg_start did not show the log's end"; }
ok "pg_start on a taken port returns 1 and shows why (the caller goes on)"
pg_stop "$home/pg" fast

read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
for i in $(seq 1 200); do
  p=$(free_port)
  [ "$p" -ge 10000 ] && [ "$p" -lt "$lo" ] || fail "free_port gave $p, not in [10000, $lo)"
done
ok "free_port stays below the ephemeral range ($lo)"
exit 0
