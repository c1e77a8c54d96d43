# Sourced by the benchmark scripts: what every benchmarked server runs with.
# The per-user budgets are for people, not for a load generator.
export CONFAB_WS_MESSAGE_RATE=1000000 CONFAB_WS_MESSAGE_BURST=1000000
export CONFAB_WS_FRAME_RATE=1000000 CONFAB_WS_FRAME_BURST=1000000
export CONFAB_REST_WRITE_RATE=1000000 CONFAB_REST_WRITE_BURST=1000000
export CONFAB_WS_MAX_SOCKETS_PER_USER=1000000 CONFAB_MAX_CONNECTIONS=100000
export CONFAB_LOG=${CONFAB_LOG:-warn}
# Setting up 1,000 members takes longer than the default 5-minute token.
export CONFAB_ACCESS_TOKEN_LIFETIME=3600
