#!/usr/bin/env bash
# Server CPU per request under redis-benchmark (-c 50, -P 1 and -P 16), read from
# /proc/<pid>/stat, for tandemkv and redis-server started one after the other, ROUNDS times
# (interleaved: tandemkv, redis, tandemkv, redis ...).
#   [TESTS="set get lpush ..."] [ROUNDS=N] [TLS=1] [PORTS="7601 7602"] bench/server_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
# TLS=1: both servers listen on TLS only (certificates made here with openssl; clients need
# none: tls-auth-clients no), and redis-benchmark connects with --tls.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r TANDEM_PORT REDIS_PORT <<< "${PORTS:-7601 7602}"
SERVER_TLS=()
CLIENT_TLS=()
if [ "${TLS:-0}" = 1 ]; then
    CERTS=$(mktemp -d)
    trap 'rm -rf "$CERTS"' EXIT
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" 2>/dev/null
    SERVER_TLS=(--tls-cert-file "$CERTS/cert.pem" --tls-key-file "$CERTS/key.pem" --tls-auth-clients no)
    CLIENT_TLS=(--tls --cacert "$CERTS/cert.pem")
fi
P1_N=${1:-1000000}
P16_N=${2:-2000000}
TICK=$(getconf CLK_TCK)

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    if [ ${#SERVER_TLS[@]} -gt 0 ]; then
        "$@" --port 0 --tls-port "$port" "${SERVER_TLS[@]}" >/dev/null 2>&1 &
    else
        "$@" --port "$port" >/dev/null 2>&1 &
    fi
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" "${CLIENT_TLS[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
    for pipeline in 1 16; do
        for test in ${TESTS:-set get}; do
            local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
            local before after rps
            before=$(awk '{print $14+$15}' "/proc/$pid/stat")
            rps=$(redis-benchmark -p "$port" "${CLIENT_TLS[@]}" -t "$test" -n "$n" -r 1000000 -c 50 -P "$pipeline" -q 2>/dev/null \
                | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
            after=$(awk '{print $14+$15}' "/proc/$pid/stat")
            python3 -c "print(f'$name P$pipeline $test: {$rps:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:5.2f} us CPU/request')"
        done
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv "$TANDEM_PORT" .venv/bin/tandemkv-server
    measure redis "$REDIS_PORT" redis-server --save "" --appendonly no
done
