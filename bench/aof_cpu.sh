#!/usr/bin/env bash
# Write throughput and server CPU per request with the append-only file on, for tandemkv and
# redis-server started one after the other (interleaved, ROUNDS times), each in a fresh
# directory, for each appendfsync policy; the same without AOF as the reference.
# redis-benchmark -c 50, -P 1 and -P 16; CPU from /proc/<pid>/stat (all threads).
#   [TESTS="set incr"] [POLICIES="off always everysec"] [ROUNDS=N] [PORT=7760]
#   bench/aof_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
P1_N=${1:-100000}
P16_N=${2:-300000}
PORT=${PORT:-7760}
TICK=$(getconf CLK_TCK)

measure() {  # name policy command...
    local name=$1 policy=$2
    shift 2
    local dir
    dir=$(mktemp -d)
    local aof=(--appendonly no)
    [ "$policy" != off ] && aof=(--appendonly yes --appendfsync "$policy")
    "$@" --port "$PORT" --dir "$dir" "${aof[@]}" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    for pipeline in 1 16; do
        for test in ${TESTS:-set}; do
            local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
            local before after rps
            before=$(awk '{print $14+$15}' "/proc/$pid/stat")
            rps=$(redis-benchmark -p "$PORT" -t "$test" -n "$n" -r 1000000 -c 50 -P "$pipeline" -q 2>/dev/null \
                | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
            after=$(awk '{print $14+$15}' "/proc/$pid/stat")
            python3 -c "print(f'$name $policy P$pipeline $test: {$rps:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:5.2f} us CPU/request')"
        done
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}

for _ in $(seq "${ROUNDS:-1}"); do
    for policy in ${POLICIES:-off always everysec}; do
        measure tandemkv "$policy" .venv/bin/tandemkv-server
        measure redis "$policy" redis-server --save ""
    done
done
