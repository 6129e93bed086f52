#!/usr/bin/env bash
# Issue 3 (c): grow a keyspace to ~9.5 M keys through the server with redis-benchmark
# (-t set -r 100000000 -n 10000000 -c 50 -P 16), tandemkv then redis-server; prints the
# latency distribution, server CPU, RSS and (tandemkv) INFO engine.
set -euo pipefail
cd "$(dirname "$0")/.."
TICK=$(getconf CLK_TCK)

grow() {  # name port command...
    local name=$1 port=$2
    shift 2
    "$@" --port "$port" >"/tmp/growth-$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    local before after
    before=$(awk '{print $14+$15}' "/proc/$pid/stat")
    echo "== $name"
    redis-benchmark -p "$port" -t set -r 100000000 -n 10000000 -c 50 -P 16 2>&1 \
        | tr '\r' '\n' | grep -v "rps=" | grep -E "requests per second|[0-9]%|avg|^ +[0-9]"
    after=$(awk '{print $14+$15}' "/proc/$pid/stat")
    echo "server CPU s: $(( (after - before) / TICK )), RSS KB: $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    redis-cli -p "$port" info engine 2>/dev/null | tr -d '\r' | grep -E "^(db0_shards|steps_up|migration_time_ms_total)" || true
    grep -E "step|GC" "/tmp/growth-$name.log" | tail -4 || true
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

grow tandemkv 7611 .venv/bin/tandemkv-server
grow redis 7612 redis-server --save "" --appendonly no
