#!/usr/bin/env bash
# Runs the benchmark suite of docs/benchmarks.md: a fresh release server on
# SQLite or PostgreSQL, then confab-bench scenarios against it. Each result
# goes to bench-results/<backend>/<name>.{txt,json}.
#
#   scripts/bench.sh sqlite                 # every scenario
#   scripts/bench.sh postgres fanout-100x50 # one of them
#
# Scenario names: connect-10000 connect-100x100 fanout-100x50 fanout-1x1000-50
# fanout-1x1000-200 fanout-1x1000-400 socket-1x200 history-64 post-64
# post-open-3000 post-1 search-1m (not in the default run: seeding a million
# messages takes minutes; name it)
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-sqlite}
shift || true
wanted=("$@")
out="bench-results/$backend"
mkdir -p "$out"

cargo build --release --locked -p confab -p confab-bench
# BENCH_TMPDIR=/dev/shm keeps the SQLite file in memory (tmpfs, where an
# fsync costs nothing): the in-memory ceiling beside the on-disk numbers.
data=$(mktemp -d -p "${BENCH_TMPDIR:-/tmp}")
port=${BENCH_PORT:-8000}
export CONFAB_DATA_DIR=$data
export CONFAB_BIND=127.0.0.1:$port
source scripts/bench-env.sh
after_seed=()
case $backend in
    sqlite) ;;
    postgres)
        psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS confab_bench' -c 'CREATE DATABASE confab_bench'
        export CONFAB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/confab_bench
        # After a bulk load, what autovacuum would do within a minute.
        after_seed=(--after-seed-cmd "psql -q -h 127.0.0.1 -U postgres -d confab_bench -c ANALYZE")
        ;;
    *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac

ulimit -n "$(ulimit -Hn)"
target/release/confab serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done

bench=(target/release/confab-bench --url "http://127.0.0.1:$port" --user-prefix benchu
    --create-users-cmd "target/release/confab user create {username} --developer --password-stdin")

run() {
    local name=$1
    shift
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then return; fi
    if [ ${#wanted[@]} -eq 0 ] && [[ $name == search-1m* ]]; then return; fi
    echo "== $name ($backend)"
    # A failed delivery check (exit status 2) is reported and the suite goes on.
    "${bench[@]}" --json "$out/$name.json" "$@" | tee "$out/$name.txt" || echo "!! $name exited with status $?"
}

run connect-10000 connect --sockets 10000 --rooms 10 --server-pid "$server"
# 100 rooms x 100 sockets, one socket per (user, room): every user in every room.
run connect-100x100 connect --sockets 10000 --rooms 100 --users 100 --layout grid --server-pid "$server"
run fanout-100x50 fanout --rooms 100 --members 50 --rate 1000 --duration 20
run fanout-1x1000-50 fanout --rooms 1 --members 1000 --senders 10 --rate 50 --duration 20
run fanout-1x1000-200 fanout --rooms 1 --members 1000 --senders 10 --rate 200 --duration 20
run fanout-1x1000-400 fanout --rooms 1 --members 1000 --senders 10 --rate 400 --duration 20
# One socket sending 200 msg/s, pipelined; its ack latency is the echo's.
run socket-1x200 fanout --rooms 1 --members 1 --senders 1 --rate 200 --duration 20
run history-64 history --concurrency 64 --seed 5000 --duration 20
# One client, closed loop: every post is its own commit, so this is the
# latency of one commit (and, with synchronous=full, of one fsync).
run post-1 post --concurrency 1 --duration 10
run post-64 post --concurrency 64 --duration 20
# Open loop: each of 256 clients posts every 85 ms (256 / 3,000 s), one post in
# flight each; answers slower than that show as latency from the intended time.
run post-open-3000 post --rooms 8 --concurrency 256 --rate 3000 --duration 20
# A million messages of random words in 10 rooms, then 16 clients searching
# for two words at once (closed loop).
run search-1m search --seed 1000000 --rooms 10 --users 16 --concurrency 16 --duration 20 "${after_seed[@]}"
# The same, one client at a time: the latency of a single search.
run search-1m-1 search --seed 1000000 --rooms 10 --users 16 --concurrency 1 --duration 20 "${after_seed[@]}"
