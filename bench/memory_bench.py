"""Memory bound benchmarks (issue 5): accounting accuracy, bound held, bytes per key, eviction quality.

    .venv/bin/python bench/memory_bench.py accounting --keys 1000000            # small keys
    .venv/bin/python bench/memory_bench.py accounting --keys 100000 --value-size 10240
    .venv/bin/python bench/memory_bench.py bound --maxmemory-mb 100 --write-mb 1024
    .venv/bin/python bench/memory_bench.py quality --keys 1000000 --requests 2000000

Every run starts its own servers (tandemkv and, where compared, redis-server) on free loopback
ports and stops them. Figures:

- accounting: RSS growth of the server process (/proc/<pid>/statm) against used_memory growth
  while loading N keys (16-byte keys, --value-size values), for tandemkv and redis-server;
  bytes per key from both. --policy sets maxmemory-policy (no bound): tandemkv keeps fewer
  bytes per key under an LRU policy (access seconds kept as marks, keyspace/engine.py).
- bound: maxmemory + allkeys-lru, distinct 1000-byte values written until --write-mb; the
  accounted bytes (used_memory - used_memory_startup) sampled after every pipeline batch, and
  RSS growth at the end.
- quality: a Zipf (s = 0.99) read-through trace over --keys keys (GET; on a miss SET), with the
  bound at 10% of the data set, for allkeys-lru and allkeys-lfu on both servers, plus an exact
  LRU simulation of the same trace with the same capacity in keys. The hit ratio is measured
  after a warm-up of --warmup requests. Requests are sent in pipelined batches (GETs, then SETs
  for the misses), identically for both servers. --reps N runs each (server, policy) N times,
  interleaved, and reports every run and the median. LFU counters decay once a minute
  (lfu-decay-time 1), on both servers: a run during which a minute boundary falls scores 0.5-0.8
  points lower under allkeys-lfu, so each run says whether one fell in its measured part
  ("decay"), and --align starts every run two seconds before a minute boundary, so that none
  falls inside (runs must take under a minute: true at the defaults).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import redis

PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(kind: str, *args: str) -> Iterator[tuple[redis.Redis, int]]:
    """(client, pid) of a fresh tandemkv or redis-server; stopped on exit."""
    port = free_port()
    if kind == "tandemkv":
        command = [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), *args]
    else:
        path = shutil.which("redis-server")
        assert path, "redis-server is not on PATH"
        command = [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *args]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=120)
    try:
        for _ in range(300):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield client, proc.pid
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as handle:
        return int(handle.read().split()[1]) * PAGE


def memory(client: redis.Redis) -> tuple[int, int]:
    """(used_memory, used_memory_startup)."""
    info = client.info("memory")
    return int(info["used_memory"]), int(info.get("used_memory_startup", 0))


def settle(client: redis.Redis) -> None:
    """Wait for tandemkv's migration steps to finish (old engines freed), at most 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = client.info("engine") if b"engine" in client.execute_command("INFO", "engine") else {}
        if not info or all(str(v) != "1" for k, v in info.items() if k.endswith("migrating")):
            break
        time.sleep(0.2)
    time.sleep(0.5)


def key_name(i: int) -> bytes:
    return b"key:%012d" % i  # 16 bytes


def load(client: redis.Redis, keys: Iterator[int], value: bytes, batch: int = 5000) -> None:
    it = iter(keys)
    while True:
        chunk = list(itertools.islice(it, batch))
        if not chunk:
            return
        pipe = client.pipeline(transaction=False)
        for i in chunk:
            pipe.set(key_name(i), value)
        pipe.execute()


# ----------------------------------------------------------------- accounting


def accounting(args: argparse.Namespace) -> None:
    value = b"v" * args.value_size
    print(f"## accounting: {args.keys:,} keys, 16-byte keys, {args.value_size}-byte values, {args.policy}")
    print("| server | RSS growth MB | used_memory growth MB | used/RSS | RSS bytes/key | used bytes/key |")
    print("|---|---|---|---|---|---|")
    for kind in args.servers.split(","):
        with server(kind, "--maxmemory-policy", args.policy) as (client, pid):
            settle(client)
            rss0 = rss_bytes(pid)
            used0, _ = memory(client)
            started = time.monotonic()
            load(client, iter(range(args.keys)), value)
            load_s = time.monotonic() - started
            settle(client)
            rss1 = rss_bytes(pid)
            used1, _ = memory(client)
            rss_growth = rss1 - rss0
            used_growth = used1 - used0
            print(
                f"| {kind} | {rss_growth / 2**20:.1f} | {used_growth / 2**20:.1f} | {used_growth / rss_growth:.3f} "
                f"| {rss_growth / args.keys:.1f} | {used_growth / args.keys:.1f} |  (load {load_s:.1f} s)",
                flush=True,
            )


# ---------------------------------------------------------------------- bound


def bound(args: argparse.Namespace) -> None:
    limit = args.maxmemory_mb * 2**20
    value_size = 1000
    keys = args.write_mb * 2**20 // value_size
    value = b"x" * value_size
    print(f"## bound: maxmemory {args.maxmemory_mb}mb allkeys-lru, {keys:,} distinct keys of {value_size} bytes")
    for kind in args.servers.split(","):
        with server(kind, "--maxmemory", f"{args.maxmemory_mb}mb", "--maxmemory-policy", "allkeys-lru") as (client, pid):
            settle(client)
            rss0 = rss_bytes(pid)
            worst_over = -limit
            started = time.monotonic()
            for start in range(0, keys, 5000):
                load(client, iter(range(start, min(keys, start + 5000))), value)
                used, startup = memory(client)
                # tandemkv bounds used_memory - startup; redis-server bounds used_memory.
                bounded = used - startup if kind == "tandemkv" else used
                worst_over = max(worst_over, bounded - limit)
            elapsed = time.monotonic() - started
            settle(client)
            rss_growth = rss_bytes(pid) - rss0
            stats = client.info("stats")
            print(
                f"{kind}: wrote {keys:,} keys in {elapsed:.1f} s; keys kept {client.dbsize():,}, evicted "
                f"{stats['evicted_keys']:,}; worst bounded usage - bound after a batch: {worst_over:+,} bytes; "
                f"RSS growth {rss_growth / 2**20:.1f} MB ({rss_growth / limit:.2f} x bound)",
                flush=True,
            )


# -------------------------------------------------------------------- quality


def zipf_trace(keys: int, requests: int, s: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    weights = [1.0 / (rank**s) for rank in range(1, keys + 1)]
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    permutation = list(range(keys))
    rng.shuffle(permutation)  # popularity unrelated to key names
    return [permutation[bisect.bisect_left(cumulative, rng.random() * total)] for _ in range(requests)]


def exact_lru_hits(trace: list[int], capacity: int, warmup: int) -> float:
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for n, key in enumerate(trace):
        if key in cache:
            cache.move_to_end(key)
            if n >= warmup:
                hits += 1
        else:
            cache[key] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / (len(trace) - warmup)


def read_through(client: redis.Redis, trace: list[int], value: bytes, warmup: int, batch: int = 200) -> tuple[float, float]:
    """(hit ratio after `warmup` requests, wall time when those began)."""
    hits = 0
    measured_from_s = time.time()
    for start in range(0, len(trace), batch):
        if start <= warmup < start + batch:
            measured_from_s = time.time()
        chunk = trace[start : start + batch]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.get(key_name(key))
        replies = pipe.execute()
        pipe = client.pipeline(transaction=False)
        missed = set()
        for n, (key, reply) in enumerate(zip(chunk, replies, strict=True)):
            if reply is not None:
                if start + n >= warmup:
                    hits += 1
            elif key not in missed:
                missed.add(key)
                pipe.set(key_name(key), value)
        pipe.execute()
    return hits / (len(trace) - warmup), measured_from_s


def quality(args: argparse.Namespace) -> None:
    value = b"v" * args.value_size
    print(f"## quality: Zipf s={args.s} over {args.keys:,} keys, {args.requests:,} requests "
          f"(warm-up {args.warmup:,}), bound = 10% of the data set", flush=True)
    trace = zipf_trace(args.keys, args.requests, args.s, args.seed)
    capacity = args.keys // 10
    print(f"exact LRU ({capacity:,} keys): {exact_lru_hits(trace, capacity, args.warmup):.4f}", flush=True)
    limits = {}
    for kind in args.servers.split(","):
        # The data set's size on this server: load every key once, measure, then flush.
        with server(kind) as (client, _pid):
            used0, startup = memory(client)
            load(client, iter(range(args.keys)), value)
            used1, _ = memory(client)
        limits[kind] = (used1 - used0) // 10 + (0 if kind == "tandemkv" else startup)
    ratios: dict[tuple[str, str], list[float]] = {}
    for _rep in range(args.reps):
        for policy in args.policies.split(","):
            for kind, limit in limits.items():
                if args.align:
                    while int(time.time()) % 60 != 58:
                        time.sleep(0.2)
                with server(kind, "--maxmemory", str(limit), "--maxmemory-policy", policy) as (client, _pid):
                    started = time.monotonic()
                    ratio, measured_from_s = read_through(client, trace, value, args.warmup)
                    decay = int(measured_from_s) // 60 != int(time.time()) // 60
                    ratios.setdefault((kind, policy), []).append(ratio)
                    print(f"{kind} {policy}: hit ratio {ratio:.4f} (maxmemory {limit:,}, keys kept "
                          f"{client.dbsize():,}, {time.monotonic() - started:.0f} s{', decay' if decay else ''})",
                          flush=True)
    if args.reps > 1:
        for (kind, policy), values in ratios.items():
            print(f"median {kind} {policy}: {sorted(values)[len(values) // 2]:.4f} of {len(values)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("accounting")
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--value-size", type=int, default=16)
    p.add_argument("--servers", default="tandemkv,redis")
    p.add_argument("--policy", default="noeviction", help="maxmemory-policy (no bound is set)")
    p.set_defaults(run=accounting)
    p = sub.add_parser("bound")
    p.add_argument("--maxmemory-mb", type=int, default=100)
    p.add_argument("--write-mb", type=int, default=1024)
    p.add_argument("--servers", default="tandemkv")
    p.set_defaults(run=bound)
    p = sub.add_parser("quality")
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=2_000_000)
    p.add_argument("--warmup", type=int, default=1_000_000)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--s", type=float, default=0.99)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    p.add_argument("--servers", default="tandemkv,redis")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--align", action="store_true", help="start each run 2 s before a minute boundary")
    p.set_defaults(run=quality)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
