#!/usr/bin/env bash
# Property-based tests of the REST API from its own OpenAPI document
# (/api/schema/), with schemathesis from PyPI: every operation is called with
# generated inputs, valid and not, with a real developer's token. A 5xx, or a
# response that does not match the schema (status, content type, body), fails.
#
#   scripts/schemathesis.sh [max examples per operation, default 25]
#
# Needs python3 with venv; installs schemathesis into a fresh temporary venv.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${1:-25}
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== installing schemathesis into $WORK/venv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'

cargo build --locked -p confab
CONFAB=$PWD/target/debug/confab
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export CONFAB_DATA_DIR="$WORK/data" CONFAB_BIND="127.0.0.1:$PORT" CONFAB_LOG=warn
# Generated requests come fast and from one user: budgets high, so what is
# tested is each answer, not the throttles (tests/api/hardening.rs does those).
export CONFAB_REST_WRITE_RATE=100000 CONFAB_REST_WRITE_BURST=100000
export CONFAB_LOGIN_RATE_PER_USER=100000 CONFAB_LOGIN_RATE_PER_ADDRESS=100000
# Long-lived tokens: a run outlasts the default five minutes.
export CONFAB_ACCESS_TOKEN_LIFETIME=3600

echo "schemathesis-password" | $CONFAB user create alice --developer --password-stdin >/dev/null
echo "schemathesis-password" | $CONFAB user create bob --developer --password-stdin >/dev/null
TOKEN=$($CONFAB token alice)
$CONFAB serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
# Something to act on: a room with a message.
curl -fsS -X POST "http://127.0.0.1:$PORT/api/chat/rooms/" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"name": "general", "room_type": "public"}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$PORT/api/chat/rooms/1/messages/" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"content": "hello"}' >/dev/null

echo "== schemathesis: $EXAMPLES examples per operation"
status=0
# From the scratch directory: schemathesis keeps a cache (.schemathesis/) in
# the directory it runs in, and the repository is no place for it.
cd "$WORK"
"$WORK/venv/bin/schemathesis" run "http://127.0.0.1:$PORT/api/schema/" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" \
    --seed 1 \
    --no-color || status=$?
if [ "$status" -ne 0 ]; then
    echo "== server log (last 50 lines)"
    tail -n 50 "$WORK/server.log"
fi
exit "$status"
