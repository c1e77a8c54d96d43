#!/usr/bin/env bash
# CI's check of a real cluster: scripts/cluster.sh (three debug nodes on a
# fresh PostgreSQL database, Redis, nginx round robin), then a short
# confab-bench fanout through nginx, which exits 2 on any lost, duplicated
# or out-of-order delivery, or on errors.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -p confab -p confab-bench
port=18080
export CLUSTER_BIN=target/debug/confab CLUSTER_DEMO=0 CLUSTER_PORT=$port
export CONFAB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/confab_cluster_check
export CLUSTER_DATABASE_URL=$CONFAB_DATABASE_URL
export CONFAB_REDIS_PREFIX=confab-ci-$$
export CONFAB_LOG=warn
psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS confab_cluster_check' -c 'CREATE DATABASE confab_cluster_check'
scripts/cluster.sh &
cluster=$!
trap 'kill $cluster 2>/dev/null; wait $cluster 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 $cluster 2>/dev/null || { echo "the cluster did not start" >&2; exit 1; }
    sleep 0.2
done
# 4 rooms x 6 members, one sender per room at 2 msg/s (the default budgets hold).
target/debug/confab-bench --url "http://127.0.0.1:$port" --users 24 \
    --create-users-cmd "target/debug/confab user create {username} --developer --password-stdin" \
    fanout --rooms 4 --members 6 --senders 4 --rate 8 --duration 5
