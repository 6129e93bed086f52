#!/usr/bin/env bash
# Write throughput and server CPU per request with the append-only file on, for tandemkv and
# redis-server started one after the other (interleaved, ROUNDS times), each in a fresh
# directory, for each appendfsync policy; the same without AOF as the reference.
# redis-benchmark -c 50, -P 1 and -P 16; CPU from /proc/<pid>/stat (all threads).
#   [TESTS="set incr"] [POLICIES="off always everysec"] [ROUNDS=N] [PORT=7760]
#   bench/aof_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cpu_lib.sh
P1_N=${1:-100000}
P16_N=${2:-300000}
PORT=${PORT:-7760}

measure() {  # name policy command...
    local name=$1 policy=$2
    shift 2
    local dir
    dir=$(mktemp -d)
    local aof=(--appendonly no)
    [ "$policy" != off ] && aof=(--appendonly yes --appendfsync "$policy")
    start_server "$PORT" "$@" --dir "$dir" "${aof[@]}"
    for pipeline in 1 16; do
        for test in ${TESTS:-set}; do
            local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
            cpu_run "$name $policy P$pipeline $test" "$PORT" "$n" -t "$test" -r 1000000 -P "$pipeline"
        done
    done
    stop_server
    rm -rf "$dir"
}

for _ in $(seq "${ROUNDS:-1}"); do
    for policy in ${POLICIES:-off always everysec}; do
        measure tandemkv "$policy" .venv/bin/tandemkv-server
        measure redis "$policy" redis-server --save ""
    done
done
