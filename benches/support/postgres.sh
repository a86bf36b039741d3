# Sourced by the benchmark scripts: `start_postgres NAME MAX_CONNECTIONS` starts a throwaway
# PostgreSQL server (as tests/run.sh does: on a Unix socket, removed on exit), installing
# PostgreSQL first when it is missing, and exports CTIBRIDGE_TEST_POSTGRES_URL.
#
# PostgreSQL runs with synchronous_commit=off: a commit does not wait for its WAL flush, the
# same durability SQLite has with WAL + synchronous=NORMAL (safe against a crash of the server
# process, may lose the last commits on power loss).
start_postgres() {
    local name=$1 max_connections=$2
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
        echo "$name: installing PostgreSQL" >&2
        as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    pg_dir=$(mktemp -d /tmp/ctibridge-bench-pg.XXXXXX)
    run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir"; fi
    cleanup() {
        run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$pg_dir"
    }
    trap cleanup EXIT
    run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U ctibridge --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
        || { cat "$pg_dir/initdb.log" >&2; exit 1; }
    run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
        -o "-c listen_addresses='' -k $pg_dir -c synchronous_commit=off -c max_connections=$max_connections" \
        start >/dev/null || { cat "$pg_dir/server.log" >&2; exit 1; }
    export CTIBRIDGE_TEST_POSTGRES_URL="postgres://ctibridge@localhost/postgres?host=$pg_dir"
}
