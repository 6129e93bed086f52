#!/usr/bin/env bash
# Server CPU per request under redis-benchmark (-c 50, -P 1 and -P 16), read from
# /proc/<pid>/stat, for tandemkv and redis-server started one after the other, ROUNDS times
# (interleaved: tandemkv, redis, tandemkv, redis ...).
#   [TESTS="set get lpush ..."] [ROUNDS=N] [TLS=1] [PORTS="7601 7602"] bench/server_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
# TLS=1: both servers listen on TLS only (certificates made here with openssl; clients need
# none: tls-auth-clients no), and redis-benchmark connects with --tls.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cpu_lib.sh
P1_N=${1:-1000000}
P16_N=${2:-2000000}
read -r TANDEM_PORT REDIS_PORT <<< "${PORTS:-7601 7602}"
SERVER_ARGS=()
if [ "${TLS:-0}" = 1 ]; then
    CERTS=$(mktemp -d)
    trap 'rm -rf "$CERTS"' EXIT
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" 2>/dev/null
    SERVER_ARGS=(--tls-port "$TANDEM_PORT" --tls-cert-file "$CERTS/cert.pem" --tls-key-file "$CERTS/key.pem" --tls-auth-clients no)
    CLIENT_ARGS=(--tls --cacert "$CERTS/cert.pem")
fi

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    if [ ${#SERVER_ARGS[@]} -gt 0 ]; then  # TLS only: --port 0, the TLS port is `port`
        SERVER_ARGS[1]=$port
        start_server_on "$port" "$@" --port 0 "${SERVER_ARGS[@]}"
    else
        start_server "$port" "$@"
    fi
    for pipeline in 1 16; do
        for test in ${TESTS:-set get}; do
            local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
            cpu_run "$name P$pipeline $test" "$port" "$n" -t "$test" -r 1000000 -P "$pipeline"
        done
    done
    stop_server
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv "$TANDEM_PORT" .venv/bin/tandemkv-server
    measure redis "$REDIS_PORT" redis-server --save "" --appendonly no
done
