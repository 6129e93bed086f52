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
source bench/cpu_lib.sh
N=${1:-200000}
BITCOUNT_N=${2:-2000}
BITS=$((8 * 1024 * 1024))
OUT=$(mktemp)

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    start_server "$port" "$@"
    redis-cli -p "$port" setbit bm $((BITS - 1)) 0 >/dev/null
    python3 -c "import os, sys; sys.stdout.buffer.write(os.urandom(1 << 20))" | redis-cli -p "$port" -x set bmc >/dev/null
    for p in ${PIPELINES:-1 16}; do
        cpu_run "$name P$p set" "$port" "$N" -r 1000000 -P "$p" -t set | tee -a "$OUT"
        cpu_run "$name P$p setbit" "$port" "$N" -P "$p" setbit bm 4194304 1 | tee -a "$OUT"
        cpu_run "$name P$p getbit" "$port" "$N" -P "$p" getbit bm 4194304 | tee -a "$OUT"
        cpu_run "$name P$p bitfield" "$port" "$N" -P "$p" bitfield bm incrby u8 4194312 1 | tee -a "$OUT"
        cpu_run "$name P$p bitcount" "$port" "$BITCOUNT_N" -P "$p" bitcount bmc | tee -a "$OUT"
    done
    stop_server
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
