# Shared by the bench/*_cpu.sh scripts (source it): start a server, run redis-benchmark against
# it, and print the server's CPU per request read from /proc/<pid>/stat.
#
#   start_server PORT COMMAND...   starts COMMAND --port PORT, waits for PING; sets SERVER_PID
#   start_server_on PORT COMMAND... starts COMMAND as given (it names its ports), PING on PORT
#   stop_server                    stops it
#   cpu_run LABEL PORT N REDIS_BENCHMARK_ARGS...
#       runs redis-benchmark -p PORT -n N -c 50 -q ARGS..., then prints
#       "LABEL: <requests/s> requests/s  <us> us CPU/request". Requests still queued when
#       redis-benchmark stops (-P 16) are served after it returns: the CPU is read once it
#       stops moving, so they count.
# CLIENT_ARGS (an array, e.g. (--tls --cacert ca.pem)) is passed to redis-cli and redis-benchmark.

TICK=$(getconf CLK_TCK)
SERVER_PID=
CLIENT_ARGS=("${CLIENT_ARGS[@]+"${CLIENT_ARGS[@]}"}")

start_server() {
    local port=$1
    shift
    start_server_on "$port" "$@" --port "$port"
}

start_server_on() {
    local port=$1
    shift
    "$@" >/dev/null 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$port" "${CLIENT_ARGS[@]+"${CLIENT_ARGS[@]}"}" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server on port $port did not start: $*" >&2
    kill "$SERVER_PID" 2>/dev/null || true
    return 1
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
}

_cpu_ticks() {
    awk '{print $14+$15}' "/proc/$SERVER_PID/stat"
}

cpu_run() {
    local label=$1 port=$2 n=$3
    shift 3
    local before after now rps
    before=$(_cpu_ticks)
    rps=$(redis-benchmark -p "$port" "${CLIENT_ARGS[@]+"${CLIENT_ARGS[@]}"}" -n "$n" -c 50 -q "$@" 2>/dev/null \
        | tr '\r' '\n' | grep "per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
    after=$(_cpu_ticks)
    while sleep 0.3; do
        now=$(_cpu_ticks)
        [ "$now" = "$after" ] && break
        after=$now
    done
    python3 -c "print(f'$label: {${rps:-0}:>10.0f} requests/s  {($after-$before)/$TICK/$n*1e6:7.2f} us CPU/request')"
}
