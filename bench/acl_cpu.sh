#!/usr/bin/env bash
# Server CPU per GET/SET for the default user (allowed everything: the dispatcher's one-test
# fast path) against a restricted user (a few commands, one key pattern: the full ACL check),
# side by side on one server, for tandemkv and redis-server, ROUNDS times interleaved (the
# user measured first alternates between rounds: the second run of SET meets a bigger keyspace).
# redis-benchmark -c 50, -P 1 and -P 16; CPU read from /proc/<pid>/stat.
#   [TESTS="set get"] [ROUNDS=N] bench/acl_cpu.sh [P1_REQUESTS] [P16_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cpu_lib.sh
P1_N=${1:-200000}
P16_N=${2:-600000}
ACLDIR=$(mktemp -d)
trap 'rm -rf "$ACLDIR"' EXIT
# redis-benchmark keys are key:<12 digits> (-r); its CONFIG GET at start is refused, as it may be.
printf 'user default on nopass ~* &* +@all\nuser bench on >pw ~key:* resetchannels -@all +get +set +ping\n' >"$ACLDIR/users.acl"

measure() {  # name port users command...  (users: the order, alternated between rounds)
    local name=$1 port=$2 users=$3
    shift 3
    start_server "$port" "$@" --aclfile "$ACLDIR/users.acl"
    for pipeline in 1 16; do
        for test in ${TESTS:-set get}; do
            for user in $users; do
                local n=$([ "$pipeline" = 1 ] && echo "$P1_N" || echo "$P16_N")
                local auth=()
                [ "$user" = bench ] && auth=(--user bench -a pw)
                cpu_run "$name P$pipeline $test $user" "$port" "$n" "${auth[@]}" -t "$test" -r 1000000 -P "$pipeline"
            done
        done
    done
    stop_server
}

for round in $(seq "${ROUNDS:-1}"); do
    users=$([ $((round % 2)) = 1 ] && echo "default bench" || echo "bench default")
    measure tandemkv 7603 "$users" .venv/bin/tandemkv-server
    measure redis 7604 "$users" redis-server --save "" --appendonly no
done
