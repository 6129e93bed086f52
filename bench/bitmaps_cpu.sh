#!/usr/bin/env bash
# Server CPU per request of bitmap commands next to SET, under redis-benchmark (-c 50, -P 1 and
# -P 16, or PIPELINES="..."),
# read from /proc/<pid>/stat, for tandemkv and redis-server started one after the other,
# ROUNDS times (interleaved: tandemkv, redis, tandemkv, redis ...):
#   set       redis-benchmark -t set (random keys), the reference ratio
#   setbit    SETBIT bm 4194304 1 on a 1 MB bitmap (the bit is set by the first call)
#   getbit    GETBIT bm 4194304 on the same bitmap
#   bitfield  BITFIELD bm INCRBY u8 4194312 1 on the same bitmap (a write every call)
#   bitcount  BITCOUNT bmc: the whole of a 1 MB random bitmap
# The offsets are fixed: redis-benchmark's __rand_int__ is zero-padded ("000000001234"), which
# Redis's string2ll, and so SETBIT's offset, refuses. Redis's cost does not depend on the offset;
# a tandemkv that copied the bitmap on a write would show it on any offset.
#   [ROUNDS=N] [PIPELINES="1 16"] [TANDEM_PORT=7712] [REDIS_PORT=7713] \
#       bench/bitmaps_cpu.sh [REQUESTS] [BITCOUNT_REQUESTS]
# Prints one line per server and test, then the ratio tandemkv/redis of each test's CPU per
# request beside SET's ratio from the same round.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
BITCOUNT_N=${2:-2000}
TICK=$(getconf CLK_TCK)
BITS=$((8 * 1024 * 1024))
OUT=$(mktemp)

run() {  # name port pid pipeline test n args...
    local name=$1 port=$2 pid=$3 pipeline=$4 test=$5 n=$6
    shift 6
    local before after rps
    before=$(awk '{print $14+$15}' "/proc/$pid/stat")
    rps=$(redis-benchmark -p "$port" -n "$n" -r 1000000 -c 50 -P "$pipeline" -q "$@" 2>/dev/null \
        | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
    after=$(awk '{print $14+$15}' "/proc/$pid/stat")
    python3 -c "print(f'$name P$pipeline $test: {$rps:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:8.2f} us CPU/request')" | tee -a "$OUT"
}

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    "$@" --port "$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" setbit bm $((BITS - 1)) 0 >/dev/null
    python3 -c "import os, sys; sys.stdout.buffer.write(os.urandom(1 << 20))" | redis-cli -p "$port" -x set bmc >/dev/null
    for p in ${PIPELINES:-1 16}; do
        run "$name" "$port" "$pid" "$p" set "$N" -t set
        run "$name" "$port" "$pid" "$p" setbit "$N" setbit bm 4194304 1
        run "$name" "$port" "$pid" "$p" getbit "$N" getbit bm 4194304
        run "$name" "$port" "$pid" "$p" bitfield "$N" bitfield bm incrby u8 4194312 1
        run "$name" "$port" "$pid" "$p" bitcount "$BITCOUNT_N" bitcount bmc
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv "${TANDEM_PORT:-7712}" .venv/bin/tandemkv-server --dir "$(mktemp -d)"
    measure redis "${REDIS_PORT:-7713}" redis-server --save "" --appendonly no
done

python3 - "$OUT" <<'EOF'
import sys
from collections import defaultdict
from statistics import median
cpu = defaultdict(list)
for line in open(sys.argv[1]):
    name, pipeline, test = line.split()[:3]
    cpu[(name, pipeline, test.rstrip(":"))].append(float(line.split()[-3]))
print("median CPU per request, tandemkv / redis-server, and that ratio over SET's:")
for pipeline in sorted({key[1] for key in cpu}, key=lambda p: int(p[1:])):
    base = median(cpu[("tandemkv", pipeline, "set")]) / median(cpu[("redis", pipeline, "set")])
    for test in ("set", "setbit", "getbit", "bitfield", "bitcount"):
        ours, theirs = median(cpu[("tandemkv", pipeline, test)]), median(cpu[("redis", pipeline, test)])
        print(f"  {pipeline:3} {test:9} {ours:8.2f} us / {theirs:6.2f} us = {ours / theirs:5.2f}x  ({ours / theirs / base:4.2f} x SET's)")
EOF
rm -f "$OUT"
