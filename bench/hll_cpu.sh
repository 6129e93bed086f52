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
source bench/cpu_lib.sh
P1_N=${1:-100000}
P16_N=${2:-300000}
MERGE_N=${3:-3000}

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    start_server "$port" "$@"
    for key in hll hll2; do  # both dense before anything is measured
        redis-benchmark -p "$port" -n 20000 -r 1000000 -c 50 -q pfadd $key __rand_int__ >/dev/null 2>&1
    done
    for p in 1 16; do
        local n=$([ "$p" = 1 ] && echo "$P1_N" || echo "$P16_N")
        cpu_run "$name P$p set" "$port" "$n" -r 1000000 -P "$p" set key:__rand_int__ xxx
        cpu_run "$name P$p pfadd" "$port" "$n" -r 1000000 -P "$p" pfadd hll __rand_int__
        cpu_run "$name P$p pfadd_new" "$port" "$n" -r 1000000 -P "$p" pfadd small:__rand_int__ __rand_int__
        cpu_run "$name P$p pfcount" "$port" "$n" -r 1000000 -P "$p" pfcount hll
        cpu_run "$name P$p pfcount2" "$port" "$MERGE_N" -r 1000000 -P "$p" pfcount hll hll2
    done
    stop_server
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv 7722 .venv/bin/tandemkv-server --dir "$(mktemp -d)"
    measure redis 7723 redis-server --save "" --appendonly no
done
