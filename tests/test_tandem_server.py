"""The tandem engine through a real server: concurrent redis-py clients overwrite, read,
increment, rename and delete their keys while the keyspace grows through several steps and
shrinks back (mass DEL, then mass expiry). Every acknowledged write must be read back: zero
lost or stale values. A dedicated server with tiny shards (64 keys up, 8 down) makes the steps
happen with a few thousand keys."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import start_tandem, stop

THREADS = 4
KEYS_PER_THREAD = 600
BATCH = 50
TTL_MS = 1500


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    proc, port = start_tandem("--engine-shard-high-keys", "64", "--engine-shard-low-keys", "8")
    yield port
    stop(proc)


def engine_info(client: redis.Redis) -> dict[str, int]:
    info = client.info("engine")
    return {k: int(v) for k, v in info.items()}


class Worker:
    """One client owning the keys `t<id>:<n>`; remembers its last acknowledged write per key."""

    def __init__(self, port: int, worker_id: int, barrier: threading.Barrier) -> None:
        self.client = redis.Redis(port=port, protocol=2)
        self.id = worker_id
        self.barrier = barrier
        self.rng = random.Random(worker_id)
        self.acked: dict[bytes, bytes | None] = {}
        self.counter = 0
        self.errors: list[str] = []
        self.checked = 0
        self.first_sent: dict[bytes, float] = {}  # wall time before each volatile key's SET

    def key(self, n: int) -> bytes:
        return b"t%d:%d" % (self.id, n)

    def check(self, keys: list[bytes], got: list[bytes | None]) -> None:
        for key, value in zip(keys, got, strict=True):
            self.checked += 1
            if value != self.acked.get(key):
                self.errors.append(f"{key!r}: read {value!r}, last acknowledged {self.acked.get(key)!r}")

    def write_and_verify(self, keys: list[bytes], tag: bytes) -> None:
        """SET each key (pipelined), then read back a random sample of this worker's keys."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, b"%s:%s" % (key, tag))
        for key, ok in zip(keys, pipe.execute(), strict=True):
            assert ok is True
            self.acked[key] = b"%s:%s" % (key, tag)
        self.verify_sample(60)

    def verify_sample(self, n: int) -> None:
        keys = self.rng.sample(sorted(self.acked), min(n, len(self.acked)))
        self.check(keys, self.client.mget(keys))

    def read_modify_write(self) -> None:
        self.counter += 1
        got = self.client.incr(b"t%d:counter" % self.id)
        if got != self.counter:
            self.errors.append(f"INCR returned {got}, expected {self.counter}")
        src, dst = b"t%d:ren:a" % self.id, b"t%d:ren:b" % self.id
        if self.counter % 2:
            src, dst = dst, src
        if self.counter == 1:
            self.client.set(src, b"travelling")
        self.client.rename(src, dst)
        if self.client.get(dst) != b"travelling" or self.client.exists(src):
            self.errors.append(f"RENAME {src!r} -> {dst!r} lost the value")

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the test, with the worker's other findings
            self.errors.append(f"worker {self.id} crashed: {exc!r}")
            self.barrier.abort()

    def _run(self) -> None:
        mine = [self.key(n) for n in range(KEYS_PER_THREAD)]
        # Phase 1: grow (all workers at once), then overwrite everything twice.
        for round_ in range(3):
            for start in range(0, len(mine), BATCH):
                self.write_and_verify(mine[start : start + BATCH], b"r%d" % round_)
                self.read_modify_write()
        self.barrier.wait()
        self.barrier.wait()  # the main thread looks at INFO between the phases
        # Phase 2: mass DEL, checking the survivors as the keyspace shrinks.
        order = list(mine)
        self.rng.shuffle(order)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            deleted = self.client.delete(*batch)
            if deleted != len(batch):
                self.errors.append(f"DEL removed {deleted} of {len(batch)} existing keys")
            for key in batch:
                self.acked[key] = None
            self.verify_sample(60)
            self.read_modify_write()
        self.check(mine, self.client.mget(mine))
        self.barrier.wait()
        self.barrier.wait()
        # Phase 3: grow again with short TTLs, read back, then let everything expire.
        for start in range(0, len(mine), BATCH):
            self.write_and_verify_volatile(mine[start : start + BATCH])
            self.read_modify_write()

    def write_and_verify_volatile(self, batch: list[bytes]) -> None:
        """SET PX each key, then read back every live key of this worker."""
        sent = time.time()
        pipe = self.client.pipeline(transaction=False)
        for key in batch:
            pipe.set(key, b"%s:ttl" % key, px=TTL_MS)
        pipe.execute()
        for key in batch:
            self.acked[key] = b"%s:ttl" % key
        keys = [k for k, v in self.acked.items() if v is not None]
        got = self.client.mget(keys)
        received = time.time()
        for key, value in zip(keys, got, strict=True):
            self.checked += 1
            if value == self.acked[key]:
                continue
            # None is legitimate only if the reply came back after the earliest possible
            # deadline (the server set it at or after `sent`); any other value is stale.
            if value is None and received >= self.first_sent.get(key, sent) + TTL_MS / 1000:
                continue
            self.errors.append(f"{key!r}: read {value!r}, acknowledged {self.acked[key]!r}")
        for key in batch:
            self.first_sent.setdefault(key, sent)


def test_concurrent_clients_never_lose_or_see_stale_values_across_steps(port: int) -> None:
    admin = redis.Redis(port=port, protocol=2)
    admin.flushall()
    before = engine_info(admin)
    barrier = threading.Barrier(THREADS + 1, timeout=120)
    workers = [Worker(port, i, barrier) for i in range(THREADS)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for thread in threads:
        thread.start()

    def errors() -> list[str]:
        return [e for w in workers for e in w.errors]

    try:
        barrier.wait()  # grown
        grown = engine_info(admin)
        # 2400 keys + counters at 64 per shard: at least 1 -> 2 -> 4 -> 8 -> 16 -> 32 shards.
        assert grown["steps_up"] - before["steps_up"] >= 5, grown
        assert admin.dbsize() == THREADS * (KEYS_PER_THREAD + 2)
        barrier.wait()
        barrier.wait()  # deleted
        shrunk = engine_info(admin)
        assert shrunk["steps_down"] - grown["steps_down"] >= 3, shrunk
        assert admin.dbsize() == THREADS * 2
        barrier.wait()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors(), errors()[:10]
        # Mass expiry: the timer deletes the volatile keys, the engine steps down again.
        deadline = time.monotonic() + 30
        while admin.dbsize() > THREADS * 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert admin.dbsize() == THREADS * 2
        for worker in workers:
            mine = [worker.key(n) for n in range(KEYS_PER_THREAD)]
            assert worker.client.mget(mine) == [None] * KEYS_PER_THREAD
            assert worker.client.get(b"t%d:counter" % worker.id) == b"%d" % worker.counter
        # Writes (and the server's tick) finish the steps down after the mass expiry.
        deadline = time.monotonic() + 30
        while engine_info(admin)["migrating"] and time.monotonic() < deadline:
            time.sleep(0.05)
        final = engine_info(admin)
        assert final["steps_up"] - shrunk["steps_up"] >= 3, final
        assert final["steps_down"] - shrunk["steps_down"] >= 3, final
        assert final["migrating"] == 0 and final["old_shards"] == 0
        assert final["keys"] == THREADS * 2
        assert sum(w.checked for w in workers) > 10_000
    finally:
        barrier.abort()
        for worker in workers:
            worker.client.close()
        admin.close()


def test_info_engine_fields(port: int) -> None:
    admin = redis.Redis(port=port, protocol=2)
    try:
        admin.flushall()
        info = engine_info(admin)
        for field in (
            "shards", "migrating", "old_shards", "migrated_shards", "keys", "steps_up",
            "steps_down", "gc_dropped_keys", "migration_time_ms_total", "last_migration_time_ms",
        ):
            assert field in info, field
        steps_up = info["steps_up"]
        pipe = admin.pipeline(transaction=False)
        for i in range(64 * 4 + 1):
            pipe.set(b"k%d" % i, b"v")
        pipe.execute()
        info = engine_info(admin)
        assert info["steps_up"] >= steps_up + 3 and info["keys"] == 64 * 4 + 1
        assert info["db0_shards"] >= 8
    finally:
        admin.close()
