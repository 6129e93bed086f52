"""The memory bound's policies, in-process (Store) and through a dedicated server.

Bounds are small (tens of KB of accounted data), so every test runs in milliseconds. The
embedded Store evicts before each command, as the server does; the server also evicts in
background slices, which the last tests check.
"""

from __future__ import annotations

import random
import time

import pytest
import redis

from tandemkv.clock import ManualClock
from tandemkv.errors import OOM, CommandError
from tandemkv.keyspace import Keyspace
from tandemkv.keyspace.memory import (
    DEADLINE_BYTES,
    EVICTION_POOL,
    LFU_INIT_VAL,
    entry_bytes,
    offer_candidate,
)
from tandemkv.store import Store
from tests.conftest import start_tandem, stop

BOUND = 64 * 1024
VALUE = b"v" * 100


def make_store(policy: str, maxmemory: int = BOUND, samples: int = 5) -> Store:
    store = Store(clock=ManualClock(), maxmemory=maxmemory, maxmemory_policy=policy, maxmemory_samples=samples)
    events: list[tuple[str, bytes, bytes, int]] = []
    instance = store.instance
    notify = instance.notify

    def record(event_class: str, event: bytes, key: bytes, db: int) -> None:
        events.append((event_class, event, key, db))
        notify(event_class, event, key, db)

    for db in instance.dbs:
        db.notify = record
    store.events = events  # type: ignore[attr-defined]
    return store


def used(store: Store) -> int:
    return store.instance.memory.used_bytes


@pytest.fixture
def growth(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes charged by Keyspace.table_grew since the list was last cleared (a table's growth,
    with the estimated shares of the keys stored and removed since the last charge settled):
    what one write may add beyond its entry."""
    grown: list[int] = []
    table_grew = Keyspace.table_grew

    def spy(self: Keyspace, dicts: list[dict], index: int, delta: int) -> None:  # type: ignore[type-arg]
        before = self.table_bytes
        table_grew(self, dicts, index, delta)
        grown.append(max(0, self.table_bytes - before))

    monkeypatch.setattr(Keyspace, "table_grew", spy)
    return grown


def evicted(store: Store) -> list[bytes]:
    return [key for cls, event, key, _db in store.events if event == b"evicted"]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ noeviction


def test_noeviction_refuses_writes_with_redis_error_and_keeps_every_key() -> None:
    store = make_store("noeviction")
    stored = 0
    with pytest.raises(CommandError) as refused:
        for i in range(10_000):
            store.execute("SET", f"key:{i}", VALUE)
            stored += 1
    assert refused.value.message == OOM
    assert used(store) > BOUND
    assert store.execute("DBSIZE") == stored
    # Reads, deletes and non-growing commands keep working; nothing was lost.
    assert store.execute("GET", "key:0") == VALUE
    assert store.execute("EXISTS", *(f"key:{i}" for i in range(stored))) == stored
    with pytest.raises(CommandError, match="OOM"):
        store.execute("SET", "another", "x")
    assert store.execute("DBSIZE") == stored
    assert evicted(store) == []
    assert store.instance.memory.evicted_keys == 0
    # Deleting brings usage under the bound: writes are accepted again.
    assert store.execute("DEL", "key:0", "key:1", "key:2") == 3
    assert store.execute("SET", "another", "x") == b"OK"


def test_noeviction_counts_the_refusal_as_a_rejected_call() -> None:
    store = make_store("noeviction", maxmemory=1)
    store.execute("SET", "a", "b")  # under the bound before it runs: accepted
    with pytest.raises(CommandError):
        store.execute("SET", "c", "d")
    assert store.instance.stats.total_error_replies == 1
    assert store.execute("GET", "a") == b"b"


# ---------------------------------------------------------------- allkeys-*


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_allkeys_policies_hold_the_bound_and_report_each_eviction(policy: str, growth: list[int]) -> None:
    store = make_store(policy)
    entry = entry_bytes(b"key:1000", VALUE) + store.instance.memory.record_bytes
    for i in range(3000):
        growth.clear()
        store.execute("SET", f"key:{i}", VALUE)
        # Never more than one write over the bound (the next command evicts): its entry and
        # the growth of the shard's tables it caused, charged by the write itself.
        assert used(store) <= BOUND + entry + sum(growth)
    count = store.execute("DBSIZE")
    assert 0 < count < 3000
    gone = evicted(store)
    assert len(gone) == 3000 - count == store.instance.memory.evicted_keys
    assert len(set(gone)) == len(gone)
    assert all(store.execute("EXISTS", key) == 0 for key in gone)
    # Never more evicted than needed: eviction stops as soon as usage is under the bound.
    assert used(store) > BOUND - 2 * entry


@pytest.mark.parametrize("seed", range(20))
def test_allkeys_lru_keeps_recently_read_keys(seed: int) -> None:
    """Also during steps (the bound holds about 250 keys: several steps happen), where an old
    shard holds about twice the keys of a new one for the same share of the keyspace: comparing
    raw key counts evicted hot keys of the old engine (seed 3)."""
    random.seed(seed)  # eviction samples shards at random
    store = make_store("allkeys-lru")
    hot = [f"hot:{i}" for i in range(50)]
    for key in hot:
        store.execute("SET", key, VALUE)
    for i in range(3000):
        store.execute("SET", f"cold:{i}", VALUE)
        if i % 20 == 0:
            for key in hot:
                store.execute("GET", key)
    assert store.execute("EXISTS", *hot) == len(hot)
    assert not any(key.startswith(b"hot:") for key in evicted(store))


def test_allkeys_lru_evicts_the_least_recently_used_within_a_shard() -> None:
    # Below the first step, the database is one shard: eviction is exact LRU.
    store = make_store("allkeys-lru", maxmemory=0)
    for i in range(100):
        store.execute("SET", f"k{i}", VALUE)
    for i in range(0, 100, 2):
        store.execute("GET", f"k{i}")  # even keys become the most recent
    store.execute("CONFIG", "SET", "maxmemory", str(used(store) // 2))
    store.execute("PING")
    gone = evicted(store)
    assert gone and gone == [f"k{i}".encode() for i in range(1, 100, 2)][: len(gone)]  # exact LRU order


def test_allkeys_lfu_keeps_frequently_read_keys() -> None:
    store = make_store("allkeys-lfu")
    hot = [f"hot:{i}" for i in range(30)]
    for key in hot:
        store.execute("SET", key, VALUE)
        for _ in range(40):
            store.execute("GET", key)
    cold = [f"cold:{i}" for i in range(3000)]
    for key in cold:
        store.execute("SET", key, VALUE)
    # LFU is approximated by sampling (as in Redis), so a hot key may rarely be evicted; what
    # must hold is that hot keys survive far more often than cold ones.
    hot_kept = store.execute("EXISTS", *hot) / len(hot)
    cold_kept = store.execute("EXISTS", *cold) / len(cold)
    assert hot_kept >= 0.9
    assert cold_kept < 0.5 * hot_kept
    hot_left = next(key for key in hot if store.execute("EXISTS", key))
    assert store.execute("OBJECT", "FREQ", hot_left) > LFU_INIT_VAL
    assert store.execute("OBJECT", "FREQ", f"cold:{2999}") == LFU_INIT_VAL


def test_lfu_counters_decay_per_minute_idle() -> None:
    store = make_store("allkeys-lfu", maxmemory=0)
    store.execute("SET", "k", "v")
    for _ in range(30):
        store.execute("GET", "k")
    before = store.execute("OBJECT", "FREQ", "k")
    assert before > LFU_INIT_VAL
    store.instance.clock.advance_ms(3 * 60_000)  # type: ignore[attr-defined]
    assert store.execute("OBJECT", "FREQ", "k") == before - 3


def test_lfu_new_keys_decay_like_any_other() -> None:
    """Redis's createObject stamps a new key's counter with the time, so an untouched key decays
    by one a minute too (and reads as less frequent than a key read once, at any time)."""
    store = make_store("allkeys-lfu", maxmemory=0)
    store.execute("SET", "new", "v")
    store.execute("SET", "read", "v")
    store.execute("GET", "read")
    assert [store.execute("OBJECT", "FREQ", k) for k in ("new", "read")] == [LFU_INIT_VAL, LFU_INIT_VAL + 1]
    store.instance.clock.advance_ms(2 * 60_000)  # type: ignore[attr-defined]
    assert [store.execute("OBJECT", "FREQ", k) for k in ("new", "read")] == [LFU_INIT_VAL - 2, LFU_INIT_VAL - 1]
    store.execute("GET", "new")  # decayed, then counted (below LFU_INIT_VAL: always)
    assert store.execute("OBJECT", "FREQ", "new") == LFU_INIT_VAL - 1
    store.instance.clock.advance_ms(10 * 60_000)  # type: ignore[attr-defined]
    assert store.execute("OBJECT", "FREQ", "new") == 0


def test_lfu_records_are_shared_per_minute_and_counter() -> None:
    """An LFU record is an int; keys with the same minute and counter share one, so a record
    costs only its dict entry."""
    store = make_store("allkeys-lfu", maxmemory=0)
    for i in range(4):
        store.execute("SET", f"k{i}", "v")
    store.execute("GET", "k2")
    store.execute("GET", "k3")
    db = store.instance.dbs[0]
    records = [db.tandem.locate(b"k%d" % i)[2][b"k%d" % i] for i in range(4)]  # type: ignore[index]
    assert records[0] is records[1] and records[2] is records[3] and records[0] != records[2]


@pytest.mark.parametrize("seed", range(3))
def test_lfu_evicts_the_longer_standing_of_equal_counters(seed: int) -> None:
    """Keys written once and never read all hold LFU_INIT_VAL: LFU takes those written longer
    ago first (measured, mean index of the 40 evicted of 200: 27-46; in arrival order, 88-101)."""
    random.seed(seed)
    store = make_store("allkeys-lfu", maxmemory=0)
    for i in range(200):
        store.execute("SET", f"k{i:03d}", "v")
    store.execute("CONFIG", "SET", "maxmemory", str(used(store) * 3 // 4))
    store.execute("PING")
    gone = [int(key[1:]) for key in evicted(store)]
    assert len(gone) >= 20 and sum(gone) / len(gone) < 70


def test_eviction_pool_keeps_redis_order() -> None:
    """evictionPoolPopulate: least frequent first and, among equal counters, first come first;
    a full pool drops a candidate no less frequent than all it holds, else its most frequent."""
    db = make_store("allkeys-lfu").instance.dbs[0]
    pool: list = []  # type: ignore[type-arg]
    for counter, key in ((5, b"a"), (6, b"b"), (5, b"c"), (4, b"d"), (6, b"e")):
        offer_candidate(pool, counter, key, db)
    assert [key for _counter, key, _db in pool] == [b"d", b"a", b"c", b"b", b"e"]
    for i in range(EVICTION_POOL - len(pool)):
        offer_candidate(pool, 7, b"f%d" % i, db)
    assert len(pool) == EVICTION_POOL
    offer_candidate(pool, 7, b"late", db)  # no less frequent than every candidate: dropped
    offer_candidate(pool, 5, b"g", db)  # pushes out the most frequent (the last 7)
    keys = [key for _counter, key, _db in pool]
    assert len(pool) == EVICTION_POOL and b"late" not in keys
    assert keys[:4] == [b"d", b"a", b"c", b"g"] and keys[-1] == b"f%d" % (EVICTION_POOL - 7)


# ---------------------------------------------------------------- volatile-*


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_volatile_policies_only_evict_keys_with_a_deadline(policy: str) -> None:
    store = make_store(policy)
    persistent = [f"keep:{i}" for i in range(100)]
    for key in persistent:
        store.execute("SET", key, VALUE)
    for i in range(2000):
        try:
            store.execute("SET", f"tmp:{i}", VALUE, "EX", 1000 + i)
        except CommandError as exc:
            # Only when no key with a deadline is left to evict.
            assert exc.message == OOM
            break
    gone = evicted(store)
    assert gone and all(key.startswith(b"tmp:") for key in gone)
    assert store.execute("EXISTS", *persistent) == len(persistent)
    assert used(store) <= BOUND + 400


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_volatile_policies_refuse_writes_when_no_key_has_a_deadline(policy: str) -> None:
    store = make_store(policy)
    with pytest.raises(CommandError) as refused:
        for i in range(2000):
            store.execute("SET", f"keep:{i}", VALUE)
    assert refused.value.message == OOM
    assert evicted(store) == []


def test_volatile_ttl_evicts_the_soonest_deadlines_first() -> None:
    store = make_store("volatile-ttl", maxmemory=0)
    for i in range(200):
        # Deadlines in a scrambled order, so insertion order tells nothing.
        store.execute("SET", f"k{(i * 37) % 200}", VALUE, "PX", 10_000 + (i * 37) % 200)
    store.execute("SET", "forever", VALUE)
    store.execute("PEXPIRE", "k150", 1)  # shortened deadline: the heap has a stale entry too
    store.execute("CONFIG", "SET", "maxmemory", str(used(store) * 3 // 4))
    store.execute("PING")
    gone = evicted(store)
    assert gone[0] == b"k150"
    order = [int(key[1:]) for key in gone[1:]]
    assert order == sorted(order) and order[0] == 0
    assert store.execute("EXISTS", "forever") == 1


def test_volatile_lru_prefers_unread_keys() -> None:
    store = make_store("volatile-lru", maxmemory=0)
    for i in range(100):
        store.execute("SET", f"k{i}", VALUE, "EX", 1000)
    for i in range(50):
        store.execute("GET", f"k{i}")
    store.execute("CONFIG", "SET", "maxmemory", str(used(store) * 3 // 4))
    store.execute("PING")
    assert evicted(store)
    assert all(int(key[1:]) >= 50 for key in evicted(store))


# ------------------------------------------------------------- runtime bound


def test_config_set_maxmemory_lower_evicts_down_to_it() -> None:
    store = make_store("allkeys-lru", maxmemory=0)
    for i in range(2000):
        store.execute("SET", f"key:{i}", VALUE)
    full = used(store)
    store.execute("CONFIG", "SET", "maxmemory", str(full // 4))
    # The manual clock never runs out of budget: the CONFIG SET itself evicted enough.
    assert used(store) <= full // 4
    assert store.execute("DBSIZE") == 2000 - len(evicted(store))


def test_switching_to_noeviction_stops_evicting() -> None:
    store = make_store("allkeys-random")
    for i in range(2000):
        store.execute("SET", f"key:{i}", VALUE)
    store.execute("CONFIG", "SET", "maxmemory-policy", "noeviction")
    count = store.execute("DBSIZE")
    with pytest.raises(CommandError, match="OOM"):
        for i in range(2000):
            store.execute("SET", f"more:{i}", VALUE)
    assert store.execute("DBSIZE") >= count


def test_eviction_across_a_migration_step_keeps_accounts_right(growth: list[int]) -> None:
    store = Store(clock=ManualClock(), maxmemory=BOUND, maxmemory_policy="allkeys-lru", engine_shard_high_keys=64, engine_shard_low_keys=16)
    db = store.instance.dbs[0]
    for i in range(5000):
        growth.clear()
        store.execute("SET", f"key:{i}", VALUE, "EX", 100 + i % 7)
        # Over by at most one write: its entry and the table growth it (and its migration
        # chores) caused, charged in the write itself.
        record = store.instance.memory.record_bytes
        assert used(store) <= BOUND + entry_bytes(b"key:%d" % i, VALUE) + record + DEADLINE_BYTES + sum(growth)
    assert db.tandem.stats.steps_up > 0
    recount = sum(store.execute("MEMORY", "USAGE", key) for key in store.execute("KEYS", "*"))
    # No table measurement ran (no tick): the tables' growth is what writes reported.
    assert recount + db.table_bytes == db.used_bytes == used(store)


# --------------------------------------------------------- through a server


@pytest.fixture
def bounded_server() -> tuple[redis.Redis, redis.Redis]:
    proc, port = start_tandem("--maxmemory", "0", "--maxmemory-policy", "allkeys-lru", "--notify-keyspace-events", "Ee")
    client = redis.Redis(port=port)
    listener = redis.Redis(port=port)
    yield client, listener
    client.close()
    listener.close()
    stop(proc)


def _wait_for(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    # Polls rarely: each poll is a command, which evicts for 500 us itself; 20 polls cannot
    # evict the 18,000 keys that only background slices can.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_server_evicts_in_background_after_lowering_the_bound_and_publishes_evicted(bounded_server) -> None:  # type: ignore[no-untyped-def]
    client, listener = bounded_server
    pubsub = listener.pubsub()
    pubsub.subscribe("__keyevent@0__:evicted")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"key:{i}", VALUE)
    pipe.execute()
    client.config_set("maxmemory", "200kb")
    # No further command is needed: background slices bring the data under the bound.
    assert _wait_for(lambda: client.dbsize() < 2000)
    message = pubsub.get_message(timeout=5)
    assert message["channel"] == b"__keyevent@0__:evicted" and message["data"].startswith(b"key:")
    pubsub.close()
    assert client.info("stats")["evicted_keys"] == 20_000 - client.dbsize()
    info = client.info("memory")
    assert info["maxmemory"] == 200 * 1024 and info["maxmemory_policy"] == "allkeys-lru"
    assert info["used_memory"] - info["used_memory_startup"] <= 200 * 1024
    client.config_resetstat()
    assert client.info("stats")["evicted_keys"] == 0


def test_a_measurement_that_shows_the_bound_exceeded_evicts_in_the_same_tick(
    monkeypatch: pytest.MonkeyPatch, growth: list[int]
) -> None:
    """The table measurement can raise used_memory at once (every shard's table doubling near
    the same key count); the tick that applies it also evicts, before any command runs."""
    from tandemkv.commands import memory as commands_memory

    store = make_store("allkeys-lru")
    for i in range(1000):  # up to the bound: evicting already
        growth.clear()
        store.set(f"k{i}", VALUE)
    # Over by at most one write: its entry and the table growth it caused.
    assert BOUND - 4096 < used(store) <= BOUND + entry_bytes(b"k999", VALUE) + sum(growth)
    measure = commands_memory.measure_tables

    def measure_and_find_tables_grew(account, dbs, *args):  # type: ignore[no-untyped-def]
        measure(account, dbs, *args)
        account.used_bytes += 4096  # what a completed pass adds when the tables grew
        dbs[0].used_bytes += 4096

    monkeypatch.setattr(commands_memory, "measure_tables", measure_and_find_tables_grew)
    evicted_before = store.instance.memory.evicted_keys
    store.tick()
    assert used(store) <= BOUND
    assert store.instance.memory.evicted_keys > evicted_before
