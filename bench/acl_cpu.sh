#!/usr/bin/env bash
# Server CPU per GET/SET for the default user (allowed everything: the dispatcher's one-test
# fast path) against a restricted user (a few commands, one key pattern: the full ACL check),
# side by side on one server, for tandemkv and redis-server, ROUNDS times interleaved (the
# user measured first alternates between rounds: the second run of SET meets a bigger keyspace).
# redis-benchmark -c 50, -P 1 and -P 16; CPU read from /proc/<pid>/stat.
#   [TESTS="set get"] [ROUNDS=N] bench/acl_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
P1_N=${1:-200000}
P16_N=${2:-600000}
TICK=$(getconf CLK_TCK)
ACLDIR=$(mktemp -d)
trap 'rm -rf "$ACLDIR"' EXIT
# redis-benchmark keys are key:<12 digits> (-r); its CONFIG GET at start is refused, as it may be.
printf 'user default on nopass ~* &* +@all\nuser bench on >pw ~key:* resetchannels -@all +get +set +ping\n' >"$ACLDIR/users.acl"

measure() {  # name port users command...  (users: the order, alternated between rounds)
    local name=$1 port=$2 users=$3
    shift 3
    "$@" --port "$port" --aclfile "$ACLDIR/users.acl" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    for pipeline in 1 16; do
        for test in ${TESTS:-set get}; do
            for user in $users; do
                local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
                local auth=()
                [ "$user" = bench ] && auth=(--user bench -a pw)
                local before after rps
                before=$(awk '{print $14+$15}' "/proc/$pid/stat")
                rps=$(redis-benchmark -p "$port" "${auth[@]}" -t "$test" -n "$n" -r 1000000 -c 50 -P "$pipeline" -q 2>/dev/null \
                    | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
                after=$(awk '{print $14+$15}' "/proc/$pid/stat")
                python3 -c "print(f'$name P$pipeline $test $user: {$rps:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:5.2f} us CPU/request')"
            done
        done
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for round in $(seq "${ROUNDS:-1}"); do
    users=$([ $((round % 2)) = 1 ] && echo "default bench" || echo "bench default")
    measure tandemkv 7603 "$users" .venv/bin/tandemkv-server
    measure redis 7604 "$users" redis-server --save "" --appendonly no
done
