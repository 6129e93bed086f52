"""Memory accounting (keyspace/memory.py) and the MEMORY command / INFO memory figures.

The central property: the bytes the Keyspace accounts as it goes always equal a recount from
scratch of what it holds, whatever mix of writes, overwrites, deadlines, expiry, deletes,
migration steps and flushes happened.
"""

from __future__ import annotations

from sys import getsizeof

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandemkv.clock import ManualClock
from tandemkv.errors import CommandError
from tandemkv.keyspace import Keyspace
from tandemkv.keyspace.memory import (
    DEADLINE_BYTES,
    DEADLINES_ENTRY_BYTES,
    DICT_ENTRY_BYTES,
    MemoryAccount,
    entry_bytes,
    measure_tables,
    object_bytes,
    value_bytes,
)
from tandemkv.store import Store


def recount(db: Keyspace) -> int:
    """What `db` holds, counted from scratch (expired keys not yet removed included)."""
    total = 0
    for values, deadlines in db.tandem.iter_pairs():
        for key, value in values.items():
            total += entry_bytes(key, value) + (DEADLINE_BYTES if key in deadlines else 0)
    return total


def test_sizes_follow_cpython_allocation() -> None:
    assert value_bytes(b"") == 48  # 33-byte header, 16-byte size class
    assert value_bytes(b"x" * 15) == 48
    assert value_bytes(b"x" * 16) == 64
    assert value_bytes(b"x" * 479) == 512  # the largest pymalloc object
    assert value_bytes(b"x" * 480) == object_bytes(513) == 528  # malloc: 8-byte header, 16-aligned
    assert entry_bytes(b"k" * 16, b"v" * 16) == 64 + 64 + DICT_ENTRY_BYTES
    assert value_bytes({b"f": b"v"}) > 2 * 48  # containers: the object and its elements


_KEYS = st.sampled_from([b"k%d" % i for i in range(40)])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, st.binary(max_size=600), st.sampled_from([None, 5, 50, 500]), st.booleans()),
        st.tuples(st.just("delete"), _KEYS),
        st.tuples(st.just("persist"), _KEYS),
        st.tuples(st.just("expire"), _KEYS, st.integers(1, 400)),
        st.tuples(st.just("read"), _KEYS),
        st.tuples(st.just("advance"), st.integers(1, 200)),
        st.tuples(st.just("migrate"), st.integers(1, 20)),
        st.tuples(st.just("flush")),
    ),
    max_size=120,
)


@settings(max_examples=80, deadline=None)
@given(ops=_OPS, policy=st.sampled_from(["noeviction", "allkeys-lru", "allkeys-lfu", "volatile-ttl"]))
def test_accounted_bytes_always_equal_a_recount(ops: list[tuple], policy: str) -> None:  # type: ignore[type-arg]
    clock = ManualClock()
    account = MemoryAccount(0, policy)
    db = Keyspace(0, clock, memory=account, high_keys=16, low_keys=4)
    for op in ops:
        name = op[0]
        if name == "set":
            _, key, value, ttl_ms, keep_ttl = op
            db.set(key, value, None if ttl_ms is None else clock.now_ms() + ttl_ms, keep_ttl=keep_ttl)
        elif name == "delete":
            db.delete(op[1])
        elif name == "persist":
            db.persist(op[1])
        elif name == "expire":
            if db.lookup(op[1]) is not None:
                db.set_deadline(op[1], clock.now_ms() + op[2])
        elif name == "read":
            db.lookup(op[1])
        elif name == "advance":
            clock.advance_ms(op[1])
            db.expire_due(clock.now_ms(), 5)
        elif name == "migrate":
            db.tandem.migrate_keys(op[1])
        else:
            db.flush()
        assert db.used_bytes == account.used_bytes == recount(db)
        assert (db.frequencies is not None) <= (policy == "allkeys-lfu")


def test_lru_order_survives_migration_steps() -> None:
    """Migration moves each old shard's keys oldest first, so a shard's dict order (the LRU
    order under LRU policies) carries over into the new shards. Keys written *during* a step
    land in their new shard before the old keys migrated after them: the order is then
    approximate until those keys are read or evicted (see keyspace/memory.py)."""
    account = MemoryAccount(0, "allkeys-lru")
    db = Keyspace(0, ManualClock(), memory=account, high_keys=64, low_keys=16)
    keys = [b"k%04d" % i for i in range(200)]
    for key in keys:
        db.set(key, b"v")
        while not db.tandem.migrate_keys(1000):
            pass
    read = keys[::3]
    for key in read:
        db.lookup(key)  # every third key becomes the most recently used, in this order
    recency = [k for k in keys if k not in set(read)] + read
    for i in range(200, 260):
        key = b"k%04d" % i
        db.set(key, b"v")  # the last of these starts a step, which nothing else interrupts
        recency.append(key)
        if db.tandem.migrating:
            break
    assert db.tandem.migrating
    while not db.tandem.migrate_keys(7):
        pass
    rank = {key: i for i, key in enumerate(recency)}
    assert db.tandem.stats.steps_up >= 3
    for values, _deadlines in db.tandem.iter_pairs():
        ranks = [rank[key] for key in values]
        assert ranks == sorted(ranks)


def test_flush_releases_the_account_at_once() -> None:
    store = Store()
    for i in range(100):
        store.execute("SET", f"k{i}", "v" * 50, "EX", 100)
    account = store.instance.memory
    assert account.used_bytes == 100 * (entry_bytes(b"k10", b"v" * 50) + DEADLINE_BYTES)  # k0..k9 too: same size class
    store.execute("FLUSHALL")
    assert account.used_bytes == 0
    assert store.instance.memory_info()["lazyfree_pending_objects"] == 100


def test_memory_usage_reports_the_accounted_entry() -> None:
    store = Store()
    store.execute("SET", "k", "v" * 100)
    assert store.execute("MEMORY", "USAGE", "k") == entry_bytes(b"k", b"v" * 100)
    store.execute("EXPIRE", "k", 100)
    assert store.execute("MEMORY", "USAGE", "k", "SAMPLES", "0") == entry_bytes(b"k", b"v" * 100) + DEADLINE_BYTES
    assert store.execute("MEMORY", "USAGE", "missing") is None
    for bad, error in ((["SAMPLES"], "syntax"), (["SAMPLES", "-1"], "syntax"), (["SAMPLES", "x"], "not an integer"), (["FOO", "1"], "syntax")):
        with pytest.raises(CommandError, match=error):
            store.execute("MEMORY", "USAGE", "k", *bad)


def test_info_memory_figures_follow_the_account() -> None:
    store = Store(maxmemory="10mb", maxmemory_policy="allkeys-lfu")
    info = store.instance.memory_info()
    startup = info["used_memory_startup"]
    assert info["used_memory"] == startup
    store.execute("SET", "k", "v" * 1000)
    info = store.instance.memory_info()
    assert info["used_memory"] == startup + entry_bytes(b"k", b"v" * 1000)
    assert info["used_memory_dataset"] == entry_bytes(b"k", b"v" * 1000) - DICT_ENTRY_BYTES
    assert info["maxmemory"] == 10 * 1024 * 1024
    assert info["maxmemory_human"] == "10.00M"
    assert info["maxmemory_policy"] == "allkeys-lfu"
    assert float(info["mem_fragmentation_ratio"]) > 0
    stats = store.execute("MEMORY", "STATS")
    assert stats[b"keys.count"] == 1
    assert stats[b"db.0"][b"overhead.hashtable.main"] == DICT_ENTRY_BYTES
    assert stats[b"total.allocated"] == store.instance.memory_info()["used_memory"]


def test_memory_help_malloc_stats_and_purge() -> None:
    store = Store()
    assert store.execute("MEMORY", "HELP")[0] == b"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert store.execute("MEMORY", "MALLOC-STATS") == b"Stats not supported for the current allocator"
    assert store.execute("MEMORY", "PURGE") == b"OK"


def test_object_freq_only_under_lfu() -> None:
    store = Store()
    store.execute("SET", "k", "v")
    with pytest.raises(CommandError, match="An LFU maxmemory policy is not selected"):
        store.execute("OBJECT", "FREQ", "k")
    assert store.execute("OBJECT", "FREQ", "missing") is None
    store.execute("CONFIG", "SET", "maxmemory-policy", "volatile-lfu")
    assert store.execute("OBJECT", "FREQ", "k") == 5
    store.execute("GET", "k")
    assert store.execute("OBJECT", "FREQ", "k") == 6
    assert store.execute("OBJECT", "FREQ", "k") == 6  # OBJECT itself does not count as an access


def real_bytes(db: Keyspace) -> int:
    """What `db` holds, measured directly: its objects (as accounted) plus the real size of
    every table of every dict it holds, detached engines included."""
    objects = 0
    for values, deadlines in db.tandem.iter_pairs():
        for key, value in values.items():
            objects += entry_bytes(key, value) - DICT_ENTRY_BYTES
            if key in deadlines:
                objects += DEADLINE_BYTES - DEADLINES_ENTRY_BYTES
    tables = 0
    for engine in (*db.tandem.engines_holding_keys(), *db.detached):
        for dicts in (engine.values, engine.deadlines, engine.accessed):
            tables += sum(getsizeof(d) - getsizeof({}) for d in dicts)
    return objects + tables


def measure_all(store: Store) -> None:
    """Complete a measurement pass over every database (a few slices)."""
    account = store.instance.memory
    for _ in range(len(store.instance.dbs) + 1):
        measure_tables(account, store.instance.dbs, 10)
    for db in store.instance.dbs:
        while not db.measure_tables(10)[1]:
            pass


@pytest.mark.parametrize("shards", [1, 64])
def test_used_memory_follows_the_real_dict_tables(shards: int) -> None:
    """Between ~30 and ~60 bytes a key depending on how full the tables are: the estimate is
    off, the measured figure is exact (within a few percent: none here)."""
    store = Store(clock=ManualClock(), engine_min_shards=shards)
    db = store.instance.dbs[0]
    for count in (700, 1400, 5000):
        for i in range(count):
            store.execute("SET", f"key:{i:08d}", "v" * 16, *(("EX", 100) if i % 3 == 0 else ()))
        while store.tick(10_000):
            pass
        measure_all(store)
        assert db.used_bytes == store.instance.memory.used_bytes == real_bytes(db)
        assert db.table_bytes != 0
        assert db.used_bytes != recount(db)  # the fixed estimate alone would be off


def test_flushed_tables_count_until_freed() -> None:
    store = Store(clock=ManualClock())
    for i in range(3000):
        store.execute("SET", f"k{i}", "v")
    measure_all(store)
    account = store.instance.memory
    db = store.instance.dbs[0]
    store.execute("FLUSHALL")
    assert account.used_bytes == 0  # at once, like the entries
    measure_all(store)
    assert account.used_bytes == real_bytes(db) > 0  # lazyfree pending: the tables are not freed yet
    while store.tick(10_000):
        pass
    measure_all(store)
    assert not db.detached
    assert account.used_bytes == real_bytes(db) == 0
