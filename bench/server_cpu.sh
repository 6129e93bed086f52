#!/usr/bin/env bash
# Server CPU per request under redis-benchmark (-c 50, -P 1 and -P 16), read from
# /proc/<pid>/stat, for tandemkv and redis-server started one after the other, ROUNDS times
# (interleaved: tandemkv, redis, tandemkv, redis ...).
#   [TESTS="set get lpush ..."] [ROUNDS=N] bench/server_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
P1_N=${1:-1000000}
P16_N=${2:-2000000}
TICK=$(getconf CLK_TCK)

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    "$@" --port "$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    for pipeline in 1 16; do
        for test in ${TESTS:-set get}; do
            local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
            local before after rps
            before=$(awk '{print $14+$15}' "/proc/$pid/stat")
            rps=$(redis-benchmark -p "$port" -t "$test" -n "$n" -r 1000000 -c 50 -P "$pipeline" -q 2>/dev/null \
                | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
            after=$(awk '{print $14+$15}' "/proc/$pid/stat")
            python3 -c "print(f'$name P$pipeline $test: {$rps:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:5.2f} us CPU/request')"
        done
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv 7601 .venv/bin/tandemkv-server
    measure redis 7602 redis-server --save "" --appendonly no
done
