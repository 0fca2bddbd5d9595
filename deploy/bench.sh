#!/usr/bin/env bash
# The benchmark (docs/BENCHMARKS.md): builds convo-bench and the convo server in release and runs
# every section against the PostgreSQL at CONVO_BENCH_DATABASE_URL (default: the local one, user
# postgres), in scratch databases it creates and drops; the server runs as its own `convo serve`
# process (the scale section: one `--role all`, then two `--role api` and a `--role worker`).
# Prints the machine and its load, then the Markdown; also written to $CARGO_TARGET_DIR/bench.md
# (or BENCH_OUT). Extra arguments go to convo-bench (e.g. --duration-secs 10, --clients 1,8,32,
# --sections engine,queries,scale, --smoke). About 11 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convo-target}"
out="${BENCH_OUT:-$CARGO_TARGET_DIR/bench.md}"
url="${CONVO_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

cargo build --quiet --release -p convo-bench -p convo-cli
pg_version="$(psql "$url" -AtXc 'SHOW server_version' 2>/dev/null || echo unknown)"
echo "$(date -u +%Y-%m-%d), $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), \
$(free -g | awk '/^Mem:/ {print $2}') GiB RAM, PostgreSQL $pg_version, release build"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
CONVO_BENCH_DATABASE_URL="$url" "$CARGO_TARGET_DIR/release/convo-bench" \
  --server-bin "$CARGO_TARGET_DIR/release/convo" --out "$out" "$@"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(written to $out)"
