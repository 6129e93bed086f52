#!/usr/bin/env bash
# Server CPU per request of GEOSEARCH and GEOADD, with SET's from the same run as the yardstick,
# for tandemkv and redis-server started one after the other, ROUNDS times (interleaved), under
# redis-benchmark -c 50 at -P 1 and -P 16. Each server first gets the same POINTS random points
# (seeded, uniform over about 68 x 67 km around 13.4 E 52.5 N: some 22 points a km²) in `points`.
#   GEOSEARCH r700m:     FROMLONLAT 13.4 52.5 BYRADIUS 0.7 km ASC          (~33 results of ~150 candidates)
#   GEOSEARCH r5km/10:   FROMLONLAT 13.4 52.5 BYRADIUS 5 km ASC COUNT 10   (~1700 in the circle, 10 returned)
#   GEOADD:              new random members at random points near the others
#   [ROUNDS=N] [POINTS=100000] [TANDEM_PORT=7601] [REDIS_PORT=7602] bench/geo_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cpu_lib.sh
P1_N=${1:-50000}
P16_N=${2:-200000}
POINTS=${POINTS:-100000}
LOAD=$(mktemp)
trap 'rm -f "$LOAD"' EXIT

python3 - "$POINTS" >"$LOAD" <<'EOF'
import random
import sys

points = int(sys.argv[1])
rng = random.Random(1)
out = sys.stdout
for start in range(0, points, 1000):
    args = [b"GEOADD", b"points"]
    for i in range(start, min(start + 1000, points)):
        args += [b"%.6f" % (13.4 + rng.uniform(-0.5, 0.5)), b"%.6f" % (52.5 + rng.uniform(-0.3, 0.3)), b"p%d" % i]
    out.buffer.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args))
EOF

# label|share of the requests (1/N)|redis-benchmark arguments after -n/-P
CASES=(
    "SET|1|-t set -r 1000000"
    "GEOSEARCH r700m|2|geosearch points fromlonlat 13.4 52.5 byradius 0.7 km asc"
    "GEOSEARCH r5km/10|40|geosearch points fromlonlat 13.4 52.5 byradius 5 km asc count 10"
    "GEOADD|1|-r 1000000 geoadd added 13.__rand_int__ 52.__rand_int__ m:__rand_int__"
)

measure() {  # name port command...
    local name=$1 port=$2
    shift 2
    start_server "$port" "$@"
    redis-cli -p "$port" --pipe <"$LOAD" >/dev/null
    echo "$name: $(redis-cli -p "$port" zcard points) points"
    for pipeline in 1 16; do
        for case in "${CASES[@]}"; do
            local label=${case%%|*} rest=${case#*|}
            local share=${rest%%|*} args=${rest#*|}
            local n=$(( ($([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")) / share ))
            # shellcheck disable=SC2086  # args are words
            cpu_run "$name P$pipeline $label" "$port" "$n" -P "$pipeline" $args
        done
    done
    stop_server
}

for _ in $(seq "${ROUNDS:-1}"); do
    measure tandemkv "${TANDEM_PORT:-7601}" .venv/bin/tandemkv-server --save ""
    measure redis "${REDIS_PORT:-7602}" redis-server --save "" --appendonly no
done
