"""SAVE and load of an RDB image in process, per value type, optionally under cProfile.

    python -m bench.rdb_inprocess KIND [COUNT] [--profile]

KIND: strings (COUNT keys `key:N` -> `value:N`), stream (one stream of COUNT entries of two
fields), or hash / zset / set / list (COUNT / 100 keys of 100 members each). Prints the best
of three SAVEs (`snapshot.save`, fsync included) and of three loads of the file's bytes into
a new instance (`snapshot.load_data`); with --profile, the top functions of one of each.
Figures and what the profiles say: bench/README.md (issue 16).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable

from tandemkv import Store
from tandemkv.persistence import snapshot

MEMBERS = 100  # per collection key
ADD = {"hash": "HSET", "zset": "ZADD", "set": "SADD", "list": "RPUSH"}


def fill(store: Store, kind: str, count: int) -> None:
    run = store.execute
    if kind == "strings":
        for i in range(count):
            run("SET", b"key:%d" % i, b"value:%d" % i)
    elif kind == "stream":
        for i in range(count):
            run("XADD", "stream", f"{i + 1}-0", "user", b"user:%d" % (i % 1000), "n", i)
    else:
        for k in range(count // MEMBERS):
            args: list[object] = []
            for j in range(MEMBERS):
                member = b"member:%d:%d" % (k, j)
                args += [member, b"v%d" % j] if kind == "hash" else [j, member] if kind == "zset" else [member]
            run(ADD[kind], b"%s:%d" % (kind.encode(), k), *args)


def timed(action: Callable[[], object], profile: bool) -> float:
    started = time.perf_counter()
    if not profile:
        action()
        return time.perf_counter() - started
    profiler = cProfile.Profile()
    profiler.runcall(action)
    elapsed = time.perf_counter() - started
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print(out.getvalue())
    return elapsed


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--profile"]
    profile = "--profile" in sys.argv
    kind = args[0]
    count = int(args[1]) if len(args) > 1 else 100_000
    directory = tempfile.mkdtemp(prefix="rdb-inprocess-")
    store = Store(dir=directory)
    fill(store, kind, count)
    rounds = 1 if profile else 3
    save_s = min(timed(lambda: snapshot.save(store.instance), profile) for _ in range(rounds))
    with open(snapshot.rdb_path(store.instance), "rb") as source:
        data = source.read()
    def load_once() -> float:
        instance = Store(dir=directory).instance
        return timed(lambda: snapshot.load_data(instance, data), profile)

    load_s = min(load_once() for _ in range(rounds))
    print(f"{kind} {count}: {len(data)} bytes, SAVE {save_s:.3f} s, load {load_s:.3f} s")


if __name__ == "__main__":
    main()
