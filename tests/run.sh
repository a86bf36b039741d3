#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts what the tests need (a throwaway
# PostgreSQL server; Node.js for the Apex parser check; Chromium for the browser tests), then
# runs every test. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
    [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- PostgreSQL: a private cluster on a Unix socket, removed on exit -------------------------
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "tests/run.sh: installing PostgreSQL" >&2
    apt_install postgresql
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
pg_dir=$(mktemp -d /tmp/ctibridge-pg.XXXXXX)
run_pg() {
    # initdb and postgres refuse to run as root: use the postgres account when we are root.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
cleanup() {
    run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U ctibridge --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; exit 1; }
run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-c listen_addresses='' -k $pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$pg_dir/server.log" >&2; exit 1; }
export CTIBRIDGE_TEST_POSTGRES_URL="postgres://ctibridge@localhost/postgres?host=$pg_dir"

# --- Node.js packages for the checks that need them ------------------------------------------
if [ -f apex/tools/package.json ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    (cd apex/tools && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# --- Chromium and chromedriver for the browser tests (tests/it/browser) -----------------------
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "tests/run.sh: installing chromium and chromium-driver" >&2
    apt_install chromium chromium-driver
fi

# --- the tests -------------------------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --all-targets --no-fail-fast "$@"
else
    cargo test --all-targets --no-fail-fast "$@"
fi
