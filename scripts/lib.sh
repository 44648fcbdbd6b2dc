# scripts/lib.sh - what scripts/run and scripts/test share: packages, the build, a local
# PostgreSQL cluster, moto_server, free ports. Sourced, never run.
#
# Every function is idempotent: it checks before it installs, creates or starts anything.

COFFER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=/usr/lib/postgresql/15/bin

# Debian packages: building, running, testing.
BUILD_PACKAGES="build-essential dpkg-dev patch cmake pkg-config libssl-dev libcurl4-openssl-dev
  libpq-dev libjansson-dev"
RUN_PACKAGES="postgresql-15 postgresql-client-15 curl ca-certificates openssl"

# civetweb is built from Debian's own source package (ensure_civetweb_source): Debian's binary
# loads OpenSSL 1.1 by symbol name and cannot start TLS with OpenSSL 3.
CIVETWEB_VERSION=1.15
CIVETWEB_DIR=$COFFER_ROOT/build/src/civetweb
TEST_PACKAGES="libcmocka-dev clang-format clang-tidy clang libclang-rt-14-dev groff-base chromium"

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" = 0 ] || die "run this as root (it installs Debian packages and runs PostgreSQL as the postgres user)"
}

# ensure_packages PKG...: installs the missing ones (one apt-get update at most).
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install failed for: ${missing[*]}"
}

# ensure_deb_src: makes Debian's source packages reachable: a deb-src entry with the URIs,
# suites, components and keyring of the machine's own Debian entry, once.
ensure_deb_src() {
  local own=/etc/apt/sources.list.d/coffer-deb-src.sources
  if grep -qsE '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources ||
    grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
    return 0
  fi
  local base=/etc/apt/sources.list.d/debian.sources
  [ -f "$base" ] || die "no $base to take the Debian mirror from: add a deb-src entry for bookworm yourself"
  say "adding $own (Debian source packages, from $base)"
  sed -e 's/^Types:.*/Types: deb-src/' "$base" >"$own.tmp" && mv "$own.tmp" "$own"
  apt-get update -qq || die "apt-get update failed after adding $own"
}

# civetweb_stamp: the version and patches the unpacked source must have.
civetweb_stamp() {
  printf '%s %s\n' "$CIVETWEB_VERSION" \
    "$(cat "$COFFER_ROOT"/scripts/civetweb/*.patch | sha256sum | cut -c1-16)"
}

# ensure_civetweb_source: unpacks Debian's civetweb $CIVETWEB_VERSION source (with Debian's
# patches, then coffer's own from scripts/civetweb/) into $CIVETWEB_DIR, again whenever those
# patches change; the build compiles it with the OpenSSL 3 API, linked directly. A partial
# unpack is never taken for a finished one: the stamp is written last.
ensure_civetweb_source() {
  local want
  want=$(civetweb_stamp)
  [ "$(cat "$CIVETWEB_DIR/.coffer-stamp" 2>/dev/null)" = "$want" ] && return 0
  ensure_deb_src
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-civetweb.XXXXXX") || die "mktemp failed"
  chmod 755 "$tmp"
  say "fetching Debian's civetweb source package..."
  (cd "$tmp" && apt-get source -qq civetweb >"$tmp/apt.log" 2>&1) ||
    { tail -5 "$tmp/apt.log" >&2; rm -rf "$tmp"; die "apt-get source civetweb failed"; }
  local src
  src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'civetweb-*' | head -1)
  [ -n "$src" ] && [ -f "$src/src/civetweb.c" ] ||
    { rm -rf "$tmp"; die "the civetweb source package has no src/civetweb.c"; }
  local version p
  version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version 2>/dev/null)
  case $version in
    "$CIVETWEB_VERSION"*) ;;
    *) rm -rf "$tmp"; die "Debian's civetweb is $version; coffer is written against $CIVETWEB_VERSION" ;;
  esac
  for p in "$COFFER_ROOT"/scripts/civetweb/*.patch; do
    patch -s -p1 -d "$src" <"$p" || { rm -rf "$tmp"; die "$(basename "$p") does not apply to civetweb $version"; }
  done
  rm -rf "$CIVETWEB_DIR"
  mkdir -p "$(dirname "$CIVETWEB_DIR")"
  mv "$src" "$CIVETWEB_DIR"
  printf '%s\n' "$want" >"$CIVETWEB_DIR/.coffer-stamp"
  rm -rf "$tmp"
  say "civetweb $version source, with coffer's patches, in $CIVETWEB_DIR"
}

# build TYPE DIR [TARGET [CMAKE_ARGS...]]: configures and builds coffer, or only TARGET. The
# configure step runs every time: it takes a second when nothing changed, and a configure that
# failed before (CMake leaves a CMakeCache.txt even then) is simply tried again once the cause
# is fixed. The Fuzz type is built with clang (libFuzzer).
build() {
  local type=$1 dir=$2 target=${3:-all}
  local args=(-DCMAKE_BUILD_TYPE="$type" -DCOFFER_CIVETWEB_SOURCE="$CIVETWEB_DIR" "${@:4}")
  ensure_civetweb_source
  [ "$type" = Fuzz ] && args+=(-DCMAKE_C_COMPILER=clang)
  mkdir -p "$dir"
  cmake -S "$COFFER_ROOT" -B "$dir" "${args[@]}" >"$dir.configure.log" 2>&1 || {
    tail -30 "$dir.configure.log" >&2
    die "cmake configure failed ($type); full log: $dir.configure.log"
  }
  cmake --build "$dir" -j"$(nproc)" --target "$target" >"$dir.build.log" 2>&1 || {
    tail -40 "$dir.build.log" >&2
    die "build failed ($type); full log: $dir.build.log"
  }
}

# ensure_e2e_modules: the web page's browser test needs Node.js and npm (the machine's, or
# Debian's when there are none) and playwright-core at the version tests/e2e/package-lock.json
# pins, installed by `npm ci` into tests/e2e/node_modules again whenever the lock file changes.
ensure_e2e_modules() {
  local dir=$COFFER_ROOT/tests/e2e want
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
  want=$(sha256sum <"$dir/package-lock.json" | cut -c1-16)
  [ "$(cat "$dir/node_modules/.coffer-stamp" 2>/dev/null)" = "$want" ] && return 0
  say "installing the browser test's npm packages (tests/e2e/package-lock.json)..."
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm ci failed in $dir (the npm registry must be reachable)"
  printf '%s\n' "$want" >"$dir/node_modules/.coffer-stamp"
}

# port_in_use PORT: true if something listens on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: prints a loopback port nobody listens on now (the caller retries on a race). It is
# taken below the ephemeral range (net.ipv4.ip_local_port_range), where the kernel never puts
# the local end of an outgoing connection: a port in that range can be taken by any connect()
# between this check and the server's bind.
free_port() {
  local p i lo=32768 hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  [ "$lo" -gt 11000 ] || die "the ephemeral port range starts at $lo: no room below it"
  for i in $(seq 1 200); do
    p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

# as_postgres CMD...: runs CMD as the postgres user from /, so that a working directory it
# cannot enter (a clone under /root) is not in its way.
as_postgres() {
  (cd / && runuser -u postgres -- "$@")
}

# postgres_can_reach DIR: true if the postgres user can enter DIR (every parent traversable).
postgres_can_reach() {
  as_postgres test -x "$1" 2>/dev/null
}

# check_traversable DIR: PostgreSQL runs as postgres and must reach DIR through its parents.
check_traversable() {
  local d=$1
  postgres_can_reach "$d" ||
    die "the postgres user cannot reach $d: make its parent folders traversable (chmod o+x)"
}

# pg_home VAR: prints the folder that holds scripts/run's cluster (pg/, pg-socket/, pg.log).
# It is VAR when the postgres user can reach it; a clone where it cannot (under /root, which
# is mode 700 on Debian) gets /var/lib/coffer/<the clone's path, hashed> instead, which is
# made reachable. The first choice is kept in VAR/pg.home, so later runs find the cluster.
pg_home() {
  local var=$1 home
  if [ -f "$var/pg.home" ]; then
    cat "$var/pg.home"
    return 0
  fi
  if postgres_can_reach "$var"; then
    home=$var
  else
    home=/var/lib/coffer/$(printf '%s' "$COFFER_ROOT" | sha256sum | cut -c1-16)
    mkdir -p "$home"
    chmod 755 /var/lib/coffer "$home"
    check_traversable "$home"
  fi
  printf '%s\n' "$home" >"$var/pg.home"
  printf '%s\n' "$home"
}

# pg_init DIR AUTH: creates a cluster in DIR once (AUTH: trust, or scram for host + peer local).
pg_init() {
  local dir=$1 auth=$2
  [ -f "$dir/PG_VERSION" ] && return 0
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 server binaries not found in $PG_BIN"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  check_traversable "$dir"
  local args=(-D "$dir" -U postgres --encoding=UTF8 --locale=C.UTF-8)
  if [ "$auth" = trust ]; then
    args+=(--auth=trust)
  else
    args+=(--auth-local=peer --auth-host=scram-sha-256)
  fi
  as_postgres "$PG_BIN/initdb" "${args[@]}" >/dev/null || die "initdb failed in $dir"
}

# pg_running DIR: true if the cluster in DIR is up.
pg_running() {
  as_postgres "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# pg_start DIR PORT SOCKDIR LOG: starts the cluster unless it is running. When it does not
# start it prints the log's end and returns 1 (it does not exit: a caller may retry on another
# port, and a caller that silenced stderr would otherwise exit with no word of why).
pg_start() {
  local dir=$1 port=$2 sock=$3 log=$4
  pg_running "$dir" && return 0
  mkdir -p "$sock"
  chown postgres:postgres "$sock"
  touch "$log"
  chown postgres:postgres "$log"
  as_postgres "$PG_BIN/pg_ctl" -D "$dir" -l "$log" -w -t 60 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >/dev/null && return 0
  tail -20 "$log" >&2
  say "PostgreSQL did not start (port $port); log: $log"
  return 1
}

# pg_stop DIR [MODE]: stops the cluster if it is running.
pg_stop() {
  pg_running "$1" || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$1" -m "${2:-fast}" -w -t 60 stop >/dev/null || true
}

# psql_super PORT SOCKDIR SQL...: runs SQL as the postgres superuser over the socket.
psql_super() {
  local port=$1 sock=$2
  shift 2
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -d postgres "$@"
}

# find_moto: prints the path of moto_server, or fails with a clear message.
find_moto() {
  local m
  m=$(command -v moto_server 2>/dev/null || true)
  [ -z "$m" ] && [ -x "${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server" ] && m="${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server"
  [ -z "$m" ] && [ -x /root/.pyenv/shims/moto_server ] && m=/root/.pyenv/shims/moto_server
  if [ -z "$m" ]; then
    die "moto_server (the AWS KMS-compatible test server, Python package 'moto[server]') is not installed.
There is no PyPI on these machines: use a machine image that has moto preinstalled, or install moto
(pip install 'moto[server]') where a package index is reachable, then run this again."
  fi
  echo "$m"
}

# find_moto_python MOTO: prints a python3 that can import boto3 (moto's own), for the tests
# that speak to KMS as the official Python clients do; fails clearly without one.
find_moto_python() {
  local p
  for p in "$(dirname "$1")/python3" "${PYENV_ROOT:-$HOME/.pyenv}/shims/python3" python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import boto3, requests' 2>/dev/null; then
      command -v "$p"
      return 0
    fi
  done
  die "no python3 with boto3 and requests (moto's dependencies) was found next to $1"
}

# wait_port PORT SECONDS PID: waits until PORT accepts, failing early if PID died.
wait_port() {
  local port=$1 secs=$2 pid=$3 i
  for i in $(seq 1 $((secs * 10))); do
    port_in_use "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
