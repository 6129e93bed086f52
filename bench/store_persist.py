"""The durable embedded Store, and AOF bases of commands, side by side with redis-server.

    python bench/store_persist.py [KEYS]

1. Store.set() cost in microseconds per call: in memory, then with appendonly yes under
   appendfsync no, everysec and always (fsync per call), each as a ratio to in memory; the same
   ratios for redis-server (redis-benchmark SET, one client, no pipelining, so that `always`
   pays an fsync per request as the Store does).
2. An AOF rewrite of KEYS keys (strings, and lists/hashes/sets/zsets of 20 items, a quarter of
   each) with aof-use-rdb-preamble yes and no: the Store's rewrite (tick() until done) and
   redis-server's BGREWRITEAOF (polled until aof_rewrite_in_progress is 0), seconds and the
   base file's size.
Figures go to bench/README.md ("Durable Store").
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import redis

from tandemkv import Store

SET_CALLS = {"memory": 50_000, "no": 50_000, "everysec": 50_000, "always": 3_000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def store_set_us(policy: str) -> float:
    calls = SET_CALLS[policy]
    with tempfile.TemporaryDirectory() as directory:
        settings = {} if policy == "memory" else {"appendonly": "yes", "appendfsync": policy}
        store = Store(dir=directory, **settings)
        started = time.perf_counter()
        for i in range(calls):
            store.set(b"key:%d" % i, b"value")
        elapsed = time.perf_counter() - started
        store.close()
    return elapsed / calls * 1e6


def start_redis(directory: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--dir", directory, "--save", "", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            redis.Redis(port=port).ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.01)
    raise RuntimeError("redis-server did not start")


def redis_set_us(policy: str) -> float:
    calls = SET_CALLS[policy]
    with tempfile.TemporaryDirectory() as directory:
        args = ("--appendonly", "no") if policy == "memory" else ("--appendonly", "yes", "--appendfsync", policy)
        proc, port = start_redis(directory, *args)
        try:
            out = subprocess.run(
                ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(calls), "-c", "1", "-r", "1000000", "--csv"],
                capture_output=True, text=True, check=True,
            ).stdout
        finally:
            proc.terminate()
            proc.wait()
    rps = float(re.search(r'"SET","([\d.]+)"', out).group(1))  # type: ignore[union-attr]
    return 1e6 / rps


def fill(execute, keys: int) -> None:  # type: ignore[no-untyped-def]
    quarter = keys // 4
    items = [b"item:%d" % j for j in range(20)]
    for i in range(quarter):
        execute("SET", b"s:%d" % i, b"value:%d" % i)
        execute("RPUSH", b"l:%d" % i, *items)
        execute("HSET", b"h:%d" % i, *[x for item in items for x in (item, b"v")])
        execute("ZADD", b"z:%d" % i, *[x for j, item in enumerate(items) for x in (str(j).encode(), item)])


def base_size(directory: str) -> int:
    aof_dir = os.path.join(directory, "appendonlydir")
    return sum(os.path.getsize(os.path.join(aof_dir, name)) for name in os.listdir(aof_dir) if ".base." in name)


def store_rewrite(keys: int, preamble: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as directory:
        store = Store(dir=directory, appendonly="yes", aof_use_rdb_preamble=preamble, auto_aof_rewrite_percentage=0)
        fill(store.execute, keys)
        started = time.perf_counter()
        store.bgrewriteaof()
        while store.tick():
            pass
        elapsed = time.perf_counter() - started
        size = base_size(directory)
        store.close()
    return elapsed, size


def redis_rewrite(keys: int, preamble: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as directory:
        proc, port = start_redis(
            directory, "--appendonly", "yes", "--aof-use-rdb-preamble", preamble, "--auto-aof-rewrite-percentage", "0"
        )
        try:
            client = redis.Redis(port=port)
            pipe = client.pipeline(transaction=False)
            fill(pipe.execute_command, keys)
            pipe.execute()
            started = time.perf_counter()
            client.bgrewriteaof()
            while client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.001)
            elapsed = time.perf_counter() - started
            size = base_size(directory)
        finally:
            proc.terminate()
            proc.wait()
    return elapsed, size


def main() -> None:
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print("Store.set() and redis-server SET (1 client), microseconds per call; ratio to in memory")
    store_base = redis_base = 0.0
    for policy in ("memory", "no", "everysec", "always"):
        ours, theirs = store_set_us(policy), redis_set_us(policy)
        if policy == "memory":
            store_base, redis_base = ours, theirs
        print(f"  {policy:9} Store {ours:8.1f} us ({ours / store_base:6.2f}x)   redis-server {theirs:8.1f} us ({theirs / redis_base:6.2f}x)")
    print(f"AOF rewrite of {keys} keys (a quarter each strings, lists, hashes, zsets of 20 items)")
    for preamble in ("yes", "no"):
        (ours_s, ours_bytes), (theirs_s, theirs_bytes) = store_rewrite(keys, preamble), redis_rewrite(keys, preamble)
        print(
            f"  aof-use-rdb-preamble {preamble:3}  Store {ours_s:6.2f} s, base {ours_bytes / 1e6:6.1f} MB   "
            f"redis-server {theirs_s:6.2f} s, base {theirs_bytes / 1e6:6.1f} MB"
        )


if __name__ == "__main__":
    main()
