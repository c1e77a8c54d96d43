#!/usr/bin/env bash
# The cluster benchmarks of docs/benchmarks.md, in one run on PostgreSQL:
# the same two shapes (100 rooms x 50 members at 1,000 msg/s, 1 room x 1,000
# members at 200 msg/s) against
#   single     one node, no Redis, clients straight on it (the ceiling);
#   nginx-1    the same node behind nginx (what the proxy costs);
#   cluster-1  one node with Redis behind nginx (what the backplane adds);
#   cluster-3  three nodes with Redis behind nginx, round robin.
# Results go to bench-results/cluster/<setup>-<shape>.{txt,json}, each with
# the CPU seconds the nodes, nginx and Redis used while the bench sent.
#
#   scripts/bench-cluster.sh              # every setup
#   scripts/bench-cluster.sh cluster-3    # one of them
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=("$@")
out=bench-results/cluster
mkdir -p "$out"
cargo build --release --locked -p confab -p confab-bench
export CLUSTER_BIN=target/release/confab

source scripts/bench-env.sh
ulimit -n "$(ulimit -Hn)"

fresh_database() {
    psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS confab_bench' -c 'CREATE DATABASE confab_bench'
    export CONFAB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/confab_bench
}

# CPU seconds (user + system) used so far by every process named $1.
cpu_of() {
    local ticks=0 pid
    for pid in $(pgrep -x "$1"); do
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$ticks"
}

# Runs one fanout scenario; while it sends (not while it sets up accounts
# and sockets), counts the CPU seconds of the nodes, nginx and Redis.
scenario() { # name, setup, url, fanout arguments...
    local name=$1 setup=$2 url=$3
    shift 3
    local log="$out/$setup-$name.txt"
    local processes=(confab nginx redis-server)
    echo "== $setup $name"
    target/release/confab-bench --url "$url" --json "$out/$setup-$name.json" \
        --create-users-cmd "$CLUSTER_BIN user create {username} --developer --password-stdin" \
        fanout "$@" >"$log" 2>"$log.progress" &
    local bench=$!
    until grep -q sending "$log.progress" 2>/dev/null || ! kill -0 $bench 2>/dev/null; do sleep 0.1; done
    local before=() after=() used=() process i
    for process in "${processes[@]}"; do before+=("$(cpu_of "$process")"); done
    wait $bench || echo "!! exited with status $?"
    for process in "${processes[@]}"; do after+=("$(cpu_of "$process")"); done
    for i in 0 1 2; do
        used+=("$(echo "scale=1; (${after[$i]} - ${before[$i]}) / $(getconf CLK_TCK)" | bc)")
    done
    cat "$log"
    echo "  CPU seconds while sending   nodes ${used[0]}  nginx ${used[1]}  redis ${used[2]}" | tee -a "$log"
}

shapes() { # setup, url
    scenario fanout-100x50 "$1" "$2" --rooms 100 --members 50 --rate 1000 --duration 20
    scenario fanout-1x1000-200 "$1" "$2" --rooms 1 --members 1000 --senders 10 --rate 200 --duration 20
}

want() {
    [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " =~ " $1 " ]]
}

if want single; then
    fresh_database
    data=$(mktemp -d)
    CONFAB_DATA_DIR=$data CONFAB_BIND=127.0.0.1:8090 "$CLUSTER_BIN" serve &
    server=$!
    until curl -sf http://127.0.0.1:8090/readyz >/dev/null; do sleep 0.2; done
    shapes single http://127.0.0.1:8090
    kill $server
    wait $server || true
    rm -rf "$data"
fi

for setup in nginx-1 cluster-1 cluster-3; do
    want "$setup" || continue
    fresh_database
    redis=${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/}
    [ "$setup" = nginx-1 ] && redis=none
    CLUSTER_NODES=${setup#*-} CLUSTER_REDIS_URL=$redis CLUSTER_DEMO=0 \
        CLUSTER_DATABASE_URL=$CONFAB_DATABASE_URL CLUSTER_PORT=8080 scripts/cluster.sh &
    cluster=$!
    until curl -sf http://127.0.0.1:8080/readyz >/dev/null; do
        kill -0 $cluster 2>/dev/null || { echo "the cluster did not start" >&2; exit 1; }
        sleep 0.5
    done
    shapes "$setup" http://127.0.0.1:8080
    kill $cluster
    wait $cluster || true
done
