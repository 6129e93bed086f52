#!/usr/bin/env bash
# Server CPU per request of the HyperLogLog commands next to SET's, under redis-benchmark
# custom commands (-c 50, -r 1000000, -P 1 and -P 16), read from /proc/<pid>/stat, for
# tandemkv and redis-server started one after the other, ROUNDS times (interleaved).
#   [ROUNDS=N] bench/hll_cpu.sh [P1_REQUESTS] [P16_REQUESTS] [MERGE_REQUESTS]
# Commands, in this order on a fresh server:
#   set        SET key:__rand_int__ xxx               (the reference, as redis-benchmark -t set)
#   pfadd      PFADD hll __rand_int__                 (one HLL, made dense beforehand)
#   pfadd_new  PFADD small:__rand_int__ __rand_int__  (mostly new keys: small sparse HLLs)
#   pfcount    PFCOUNT hll                            (dense; the cached count after the first)
#   pfcount2   PFCOUNT hll hll2                       (two dense HLLs merged: computed each time)
set -euo pipefail
cd "$(dirname "$0")/.."
P1_N=${1:-100000}
P16_N=${2:-300000}
MERGE_N=${3:-3000}
TICK=$(getconf CLK_TCK)

run() {  # name pid port pipeline n label command...
    local name=$1 pid=$2 port=$3 pipeline=$4 n=$5 label=$6
    shift 6
    local before after rps
    before=$(awk '{print $14+$15}' "/proc/$pid/stat")
    rps=$(redis-benchmark -p "$port" -n "$n" -r 1000000 -c 50 -P "$pipeline" -q "$@" 2>/dev/null \
        | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
    after=$(awk '{print $14+$15}' "/proc/$pid/stat")
    python3 -c "print(f'$name P$pipeline $label: {$rps:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:7.2f} us CPU/request')"
}

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    "$@" --port "$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    for key in hll hll2; do  # both dense before anything is measured
        redis-benchmark -p "$port" -n 20000 -r 1000000 -c 50 -q pfadd $key __rand_int__ >/dev/null 2>&1
    done
    for pipeline in 1 16; do
        local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
        run "$name" "$pid" "$port" "$pipeline" "$n" set set key:__rand_int__ xxx
        run "$name" "$pid" "$port" "$pipeline" "$n" pfadd pfadd hll __rand_int__
        run "$name" "$pid" "$port" "$pipeline" "$n" pfadd_new pfadd small:__rand_int__ __rand_int__
        run "$name" "$pid" "$port" "$pipeline" "$n" pfcount pfcount hll
        run "$name" "$pid" "$port" "$pipeline" "$MERGE_N" pfcount2 pfcount hll hll2
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv 7722 .venv/bin/tandemkv-server --dir "$(mktemp -d)"
    measure redis 7723 redis-server --save "" --appendonly no
done
