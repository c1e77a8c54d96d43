#!/usr/bin/env bash
# A local cluster, for trying it by hand and for benchmarks: N `confab serve`
# nodes (default 3) on one PostgreSQL database and one Redis, behind nginx
# (Debian's package) as the WebSocket-aware load balancer, round robin.
#
#   scripts/cluster.sh              # 3 nodes, demo accounts, http://127.0.0.1:8080/
#   CLUSTER_NODES=5 scripts/cluster.sh
#
# Runs in the foreground; Ctrl-C (or SIGTERM) stops nginx and every node.
# Settings (environment):
#   CLUSTER_NODES         nodes (3)
#   CLUSTER_PORT          nginx's port (8080); nodes listen on CLUSTER_PORT+1...
#   CLUSTER_DATABASE_URL  a PostgreSQL or MySQL URL
#                         (default: a fresh postgres://postgres@127.0.0.1:5432/confab_cluster)
#   CLUSTER_REDIS_URL     (redis://127.0.0.1:6379/); `none`: no Redis (sensible
#                         with one node only: nginx in front of a single node)
#   CLUSTER_DEMO          1 (default): the first node seeds the demo accounts
#   CLUSTER_BIN            the binary (default: target/release/confab, built first)
# Any other CONFAB_* variable reaches every node (limits, log level...).
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=${CLUSTER_NODES:-3}
port=${CLUSTER_PORT:-8080}
redis_url=${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/}
demo=${CLUSTER_DEMO:-1}

if [ -z "${CLUSTER_BIN:-}" ]; then
    cargo build --release --locked -p confab
    CLUSTER_BIN=target/release/confab
fi
command -v nginx >/dev/null || {
    echo "nginx is not installed: apt-get install -y --no-install-recommends nginx" >&2
    exit 2
}

if [ -z "${CLUSTER_DATABASE_URL:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS confab_cluster' -c 'CREATE DATABASE confab_cluster'
    CLUSTER_DATABASE_URL=postgres://postgres@127.0.0.1:5432/confab_cluster
fi

dir=$(mktemp -d)
pids=()
stop() {
    trap - EXIT INT TERM
    [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT INT TERM

# One data directory for all: the first node creates the JWT secret there,
# and the others read it (every node must sign and check with the same key).
export CONFAB_DATA_DIR=$dir/data
export CONFAB_DATABASE_URL=$CLUSTER_DATABASE_URL
if [ "$redis_url" = none ]; then
    unset CONFAB_REDIS_URL
else
    export CONFAB_REDIS_URL=$redis_url
fi
# nginx adds the client's address; the nodes take it from there.
export CONFAB_TRUST_FORWARDED_FOR=true
ulimit -n "$(ulimit -Hn)"

"$CLUSTER_BIN" migrate
upstream=""
for i in $(seq 1 "$nodes"); do
    node_port=$((port + i))
    args=(serve)
    [ "$i" -eq 1 ] && [ "$demo" = 1 ] && args+=(--demo)
    CONFAB_BIND=127.0.0.1:$node_port "$CLUSTER_BIN" "${args[@]}" &
    pids+=($!)
    until curl -sf "http://127.0.0.1:$node_port/readyz" >/dev/null; do
        kill -0 "${pids[-1]}" 2>/dev/null || { echo "node $i did not start" >&2; exit 1; }
        sleep 0.2
    done
    upstream+="        server 127.0.0.1:$node_port;"$'\n'
done

# Round robin over the nodes; WebSockets are upgraded and kept open (the
# nodes ping every ws_ping_interval, well inside proxy_read_timeout).
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 16384; }
worker_rlimit_nofile 65536;
http {
    access_log off;
    client_body_temp_path $dir/nginx-tmp/body;
    proxy_temp_path $dir/nginx-tmp/proxy;
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }
    upstream confab {
$upstream        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        client_max_body_size 1m;
        location / {
            proxy_pass http://confab;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }
    }
}
EOF
mkdir -p "$dir/nginx-tmp"
chmod 755 "$dir"
nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/nginx-error.log"
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
echo
echo "cluster: $nodes nodes behind http://127.0.0.1:$port/ (nodes on ports $((port + 1))-$((port + nodes)))"
echo "database: $CLUSTER_DATABASE_URL  redis: $redis_url  (Ctrl-C stops it)"
wait "${pids[0]}"
