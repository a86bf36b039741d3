#!/usr/bin/env bash
# The contacts benchmark on SQLite and on a throwaway PostgreSQL server (see
# benches/support/postgres.sh). Arguments go to the benchmark's environment, e.g.
# `CONTACTS_BENCH_TASKS=64 bash benches/run-contacts.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/support/postgres.sh
start_postgres benches/run-contacts.sh 200

cargo bench --bench contacts
