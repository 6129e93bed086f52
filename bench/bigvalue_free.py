"""Freeing a big list: the longest stall of DEL, UNLINK, SET over it, EXPIRE-driven expiry and
FLUSHDB, and of each background slice that frees it afterwards (in-process, no sockets).

    .venv/bin/python bench/bigvalue_free.py [ELEMENTS]
"""

from __future__ import annotations

import sys
import time

from tandemkv.commands.memory import measure_slice
from tandemkv.store import Store

FREE_SLICE_ITEMS = 20_000  # what the server's cron frees per tick (server/app.py FREE_SLICE_KEYS)


def build(store: Store, key: bytes, elements: int) -> None:
    chunk = [b"element-%d" % i for i in range(10_000)]
    for _ in range(elements // len(chunk)):
        store.execute("RPUSH", key, *chunk)


def timed_ms(action) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    elements = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    store = Store()
    db = store.instance.dbs[0]
    for how, command in (("DEL", ("DEL", "k")), ("UNLINK", ("UNLINK", "k")), ("SET over it", ("SET", "k", "v")),
                         ("FLUSHDB", ("FLUSHDB",))):
        build(store, b"k", elements)
        stall_ms = timed_ms(lambda command=command: store.execute(*command))
        slices = []
        while db.has_garbage:
            slices.append(timed_ms(lambda: db.free_detached(FREE_SLICE_ITEMS)))
        measure_slice(store.instance)
        print(f"{how:12s} {elements} elements: command {stall_ms:6.2f} ms, then {len(slices)} slices, "
              f"longest {max(slices, default=0):5.2f} ms, median {sorted(slices)[len(slices) // 2] if slices else 0:5.2f} ms")
        store.execute("FLUSHALL")


if __name__ == "__main__":
    main()
