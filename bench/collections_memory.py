"""Bytes per member of the collection types, tandemkv against redis-server (RSS growth).

    .venv/bin/python bench/collections_memory.py [--members 1000000] [--small-keys 10000]

For each type (list, hash, set of strings, set of integers, sorted set) two shapes are
loaded into a fresh server of each kind, one after the other:

- large: one key holding --members members (16-byte members; hash values and zset scores
  alongside): Redis's hashtable / skiplist / quicklist encodings;
- small: --small-keys keys of 16 members each: Redis's listpack / intset encodings.

The figure is the growth of the process RSS (/proc/<pid>/statm) divided by the members
loaded, and the ratio tandemkv / redis-server. Both servers are started by the script on free
loopback ports and stopped after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory_bench import rss_bytes, server

BATCH = 1000


def members(i: int) -> bytes:
    return b"member:%09d" % i  # 16 bytes


Loader = Callable[[redis.client.Pipeline, bytes, range], None]
LOADERS: dict[str, Loader] = {
    "list": lambda pipe, key, part: pipe.rpush(key, *[members(i) for i in part]),
    "hash": lambda pipe, key, part: pipe.hset(key, mapping={members(i): b"v%015d" % i for i in part}),
    "set": lambda pipe, key, part: pipe.sadd(key, *[members(i) for i in part]),
    "intset": lambda pipe, key, part: pipe.sadd(key, *part),
    "zset": lambda pipe, key, part: pipe.zadd(key, {members(i): i for i in part}),
}


def load(client: redis.Redis, kind: str, keys: int, per_key: int) -> None:
    pipe = client.pipeline(transaction=False)
    queued = 0
    for k in range(keys):
        key = b"%s:%d" % (kind.encode(), k)
        for start in range(0, per_key, BATCH):
            LOADERS[kind](pipe, key, range(start, min(start + BATCH, per_key)))
            queued += 1
            if queued >= 50:
                pipe.execute()
                queued = 0
    pipe.execute()


def measure(server_kind: str, kind: str, keys: int, per_key: int) -> float:
    with server(server_kind) as (client, pid):
        client.set("warm", "up")
        time.sleep(0.2)
        before = rss_bytes(pid)
        load(client, kind, keys, per_key)
        time.sleep(0.5)
        return (rss_bytes(pid) - before) / (keys * per_key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--small-keys", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{'type':8s} {'shape':6s} {'tandemkv B/member':>18s} {'redis B/member':>15s} {'ratio':>6s}")
    for kind in LOADERS:
        for shape, keys, per_key in (("large", 1, args.members), ("small", args.small_keys, 16)):
            ours = measure("tandemkv", kind, keys, per_key)
            theirs = measure("redis", kind, keys, per_key)
            print(f"{kind:8s} {shape:6s} {ours:18.1f} {theirs:15.1f} {ours / theirs:6.2f}", flush=True)


if __name__ == "__main__":
    main()
