#!/usr/bin/env bash
# The cluster benchmark (three instances) on a throwaway PostgreSQL server (see
# benches/support/postgres.sh). Arguments go to the benchmark's environment, e.g.
# `BENCH_SOCKETS=3000 bash benches/run-cluster.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/support/postgres.sh
start_postgres benches/run-cluster.sh 300

cargo bench --bench cluster
