"""OBJECT IDLETIME and which commands are accesses (Redis 7.0's LOOKUP_NOTOUCH semantics).

Differential where the reply is deterministic (errors, nil, arity, LFU counters after
non-touching commands); idle times themselves against both servers after one real sleep
(Redis's LRU clock has a 1 s resolution), checking which commands reset them. In-process tests
with a manual clock cover the bookkeeping: migration carries access seconds, deletes and
flushes drop them, policy switches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
import redis
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tandemkv.clock import ManualClock
from tandemkv.keyspace import Keyspace
from tandemkv.keyspace import engine as engine_module
from tandemkv.keyspace.engine import TAIL
from tandemkv.keyspace.memory import (
    LFU_INIT_VAL,
    TRACK_ORDER,
    MemoryAccount,
    apply_settings,
    evict,
    idle_seconds,
    lfu_frequency,
)
from tandemkv.store import Store
from tests.conftest import REDIS_SERVER, Diff, start_redis, start_tandem, stop

LFU_ERROR = (
    b"-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
    b"switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
)

# ------------------------------------------------------------- differential


def test_missing_key_and_arity(diff: Diff) -> None:
    diff("OBJECT", "IDLETIME", "missing")
    diff("OBJECT", "IDLETIME")
    diff("OBJECT", "IDLETIME", "a", "b")
    diff("object", "idletime", "missing")
    diff("SET", "k", "v")
    diff("PEXPIREAT", "k", "1")  # already past: the key is gone
    diff("OBJECT", "IDLETIME", "k")


def test_fresh_key_is_not_idle(diff: Diff) -> None:
    diff("SET", "k", "v")
    ours, theirs = diff.both("OBJECT", "IDLETIME", "k")
    # 0, or 1 if a second boundary fell between the two commands.
    assert ours in (b":0\r\n", b":1\r\n") and theirs in (b":0\r\n", b":1\r\n")


def test_object_freq_is_an_error_outside_lfu(diff: Diff) -> None:
    diff("OBJECT", "FREQ", "missing")
    diff("SET", "k", "v")
    diff("OBJECT", "FREQ", "k")


def _hits_misses(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("stats")
    return stats["keyspace_hits"], stats["keyspace_misses"]


@pytest.mark.parametrize(
    "command",
    [
        ("OBJECT", "IDLETIME"),
        ("OBJECT", "FREQ"),
        ("OBJECT", "ENCODING"),
        ("EXISTS",),
        ("TYPE",),
        ("TTL",),
        ("TOUCH",),
    ],
)
def test_non_touching_lookups_still_count_hits_and_misses(
    command: tuple[str, ...], tandem_port: int, redis_port: int
) -> None:
    deltas = []
    for port in (tandem_port, redis_port):
        client = redis.Redis(port=port)
        client.flushall()
        client.set("k", "v")
        before = _hits_misses(client)
        for key in ("k", "missing"):
            try:
                client.execute_command(*command, key)
            except redis.ResponseError:
                pass  # OBJECT FREQ outside LFU: an error, still a hit
        after = _hits_misses(client)
        deltas.append((after[0] - before[0], after[1] - before[1]))
        client.close()
    assert deltas[0] == deltas[1] == (1, 1)


# ------------------------------------------------------------- LFU servers


@pytest.fixture(scope="module")
def lfu_diff() -> Iterator[Diff]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    tandem, tandem_port = start_tandem("--maxmemory-policy", "allkeys-lfu")
    reference, redis_port = start_redis("--maxmemory-policy", "allkeys-lfu")
    pair = Diff(tandem_port, redis_port)
    yield pair
    pair.close()
    stop(tandem)
    stop(reference)


def test_idletime_under_lfu_is_an_error(lfu_diff: Diff) -> None:
    lfu_diff("FLUSHALL")
    lfu_diff("OBJECT", "IDLETIME", "missing")  # nil: the key is looked up first
    lfu_diff("SET", "k", "v")
    assert lfu_diff("OBJECT", "IDLETIME", "k") == LFU_ERROR
    lfu_diff("OBJECT", "IDLETIME")


def _away_from_minute_boundary() -> None:
    """LFU counters decay once a minute; keep a short test from straddling that moment."""
    into_minute = time.time() % 60
    if into_minute > 58:
        time.sleep(60.2 - into_minute)


def test_lfu_counts_only_touching_commands(lfu_diff: Diff) -> None:
    """A new key's counter is LFU_INIT_VAL (5) and the first access raises it to 6 with
    certainty, so the counter shows exactly whether a command touched the key."""
    _away_from_minute_boundary()
    lfu_diff("FLUSHALL")
    lfu_diff("SET", "k", "v")
    for command in (
        ("EXISTS", "k"), ("TYPE", "k"), ("TTL", "k"), ("PTTL", "k"), ("EXPIRETIME", "k"),
        ("PEXPIRETIME", "k"), ("OBJECT", "ENCODING", "k"), ("OBJECT", "REFCOUNT", "k"),
        ("OBJECT", "IDLETIME", "k"), ("OBJECT", "FREQ", "k"), ("SCAN", "0", "TYPE", "string"),
    ):
        lfu_diff(*command)
    assert lfu_diff("OBJECT", "FREQ", "k") == b":5\r\n"
    lfu_diff("TOUCH", "k")
    assert lfu_diff("OBJECT", "FREQ", "k") == b":6\r\n"
    lfu_diff("SET", "g", "v")
    lfu_diff("GET", "g")
    assert lfu_diff("OBJECT", "FREQ", "g") == b":6\r\n"


# ------------------------------------------------------- idle times, one sleep

# (command, the key whose idle time shows the effect, touched?) -- each on its own key.
ACCESS_CASES: list[tuple[tuple[str, ...], str, bool]] = [
    (("EXISTS", "exists"), "exists", False),
    (("TYPE", "type"), "type", False),
    (("TTL", "ttl"), "ttl", False),
    (("PTTL", "pttl"), "pttl", False),
    (("EXPIRETIME", "expiretime"), "expiretime", False),
    (("PEXPIRETIME", "pexpiretime"), "pexpiretime", False),
    (("OBJECT", "ENCODING", "encoding"), "encoding", False),
    (("OBJECT", "REFCOUNT", "refcount"), "refcount", False),
    (("OBJECT", "IDLETIME", "idletime"), "idletime", False),
    (("OBJECT", "FREQ", "freq"), "freq", False),
    (("MEMORY", "USAGE", "usage"), "usage", False),
    (("SCAN", "0", "TYPE", "string", "COUNT", "1000"), "exists", False),
    (("KEYS", "*"), "exists", False),
    (("RANDOMKEY",), "exists", False),
    (("GET", "get"), "get", True),
    (("MGET", "mget"), "mget", True),
    (("TOUCH", "touch"), "touch", True),
    (("STRLEN", "strlen"), "strlen", True),
    (("GETRANGE", "getrange", "0", "1"), "getrange", True),
    (("LCS", "lcs", "lcs"), "lcs", True),
    (("APPEND", "append", "x"), "append", True),
    (("SETRANGE", "setrange", "0", "x"), "setrange", True),
    (("SET", "set", "w"), "set", True),
    (("SET", "setnx", "w", "NX"), "setnx", True),  # not written, but looked up for writing
    (("SETNX", "setnx2", "w"), "setnx2", True),
    (("GETSET", "getset", "w"), "getset", True),
    (("GETEX", "getex"), "getex", True),
    (("INCR", "incr"), "incr", True),  # fails (not an integer) after the lookup
    (("EXPIRE", "expire", "1000"), "expire", True),
    (("EXPIRE", "expiregt", "1000", "GT"), "expiregt", True),  # condition fails
    (("PERSIST", "persist"), "persist", True),
    (("COPY", "copy", "copy-target"), "copy", True),
    (("RENAME", "rename", "renamed"), "renamed", True),
]


# Keys set before the sleep: each case's key, the RENAME source instead of its destination.
SETUP_KEYS = sorted({key for _command, key, _touched in ACCESS_CASES} - {"renamed"} | {"rename"})


def test_which_commands_reset_idle_time(tandem_port: int, redis_port: int) -> None:
    clients = [redis.Redis(port=tandem_port), redis.Redis(port=redis_port)]
    for client in clients:
        client.flushall()
        for name in SETUP_KEYS:
            client.set(name, "value")
    # One sleep for every case: long enough that untouched keys are idle >= 1 s (Redis's LRU
    # clock lags real time by up to 1/hz = 100 ms), ending 0.3 s into a second so that the
    # commands and queries below (well under 0.7 s) see no second boundary: a touched key is
    # then idle exactly 0 s on both servers.
    start = time.time()
    time.sleep(math.ceil(start + 1.15) + 0.3 - start)
    results = []
    for client in clients:
        observed = {}
        for command, key, _touched in ACCESS_CASES:
            try:
                client.execute_command(*command)
            except redis.ResponseError:
                pass  # OBJECT FREQ outside LFU, INCR of a non-integer: errors after the lookup
            observed[command] = client.execute_command("OBJECT", "IDLETIME", key)
        results.append(observed)
        client.close()
    for command, _key, touched in ACCESS_CASES:
        ours, theirs = results[0][command], results[1][command]
        if touched:
            assert ours == theirs == 0, (command, ours, theirs)
        else:
            assert ours >= 1 and theirs >= 1, (command, ours, theirs)


# ------------------------------------------------------------ bookkeeping


def small_keyspace(clock: ManualClock, memory: MemoryAccount | None = None) -> Keyspace:
    return Keyspace(0, clock, high_keys=16, low_keys=4, memory=memory)


def advance(ks: Keyspace, clock: ManualClock, delta_ms: int) -> None:
    """Time passes; the access clock is refreshed as a command runner would."""
    clock.advance_ms(delta_ms)
    ks.access.refresh()


def key(i: int) -> bytes:
    return b"key:%d" % i


def access_records(ks: Keyspace) -> dict[bytes, int]:
    """Every access record of the live engines (the old one's below the cursor are empty), the
    LRU shards' TAIL entries left out."""
    tandem = ks.tandem
    records: dict[bytes, int] = {}
    for engine in (tandem.engine, tandem.old):
        if engine is not None:
            for accessed in engine.accessed:
                for name, second in accessed.items():
                    if name is TAIL:
                        continue
                    assert name not in records, f"{name!r} recorded twice"
                    records[name] = second
    return records


def test_access_seconds_follow_keys_through_steps_up_and_down() -> None:
    clock = ManualClock()
    ks = small_keyspace(clock)
    written_s = {}
    for i in range(200):  # several steps up
        ks.set(key(i), b"v")
        written_s[key(i)] = clock.now_ms() // 1000
        advance(ks, clock, 100)
    advance(ks, clock, 5000)
    for i in range(0, 200, 7):
        ks.lookup(key(i))  # an access: now
        written_s[key(i)] = clock.now_ms() // 1000
    for i in range(0, 200, 5):
        ks.peek(key(i))  # not one
    assert ks.tandem.stats.steps_up >= 3
    for i in range(200):
        assert idle_seconds(ks, key(i)) == clock.now_ms() // 1000 - written_s[key(i)]
    for i in range(150):  # steps down: migration moves the survivors' records
        ks.delete(key(i))
    ks.migrate(10**9)
    assert ks.tandem.stats.steps_down >= 1
    assert access_records(ks) == {key(i): written_s[key(i)] for i in range(150, 200)}
    ks.flush()
    assert access_records(ks) == {}


def test_expired_keys_lose_their_access_records() -> None:
    clock = ManualClock()
    ks = small_keyspace(clock)
    for i in range(100):
        ks.set(key(i), b"v", deadline_ms=clock.now_ms() + 1000 if i % 2 else None)
    advance(ks, clock, 2000)
    ks.expire_due(clock.now_ms(), 1000)
    ks.migrate(10**9)
    assert set(access_records(ks)) == {key(i) for i in range(0, 100, 2)}


def test_idle_time_ignores_non_touching_reads() -> None:
    clock = ManualClock()
    ks = small_keyspace(clock)
    ks.set(b"k", b"v", deadline_ms=clock.now_ms() + 100_000)
    advance(ks, clock, 3000)
    ks.peek(b"k")
    ks.peek_read(b"k")
    ks.exists(b"k")
    ks.deadline_ms(b"k")
    assert idle_seconds(ks, b"k") == 3
    ks.lookup_read(b"k")
    assert idle_seconds(ks, b"k") == 0
    advance(ks, clock, 2000)
    ks.set(b"k", b"w")  # a write is an access
    advance(ks, clock, 1000)
    assert idle_seconds(ks, b"k") == 1


def test_policy_switches() -> None:
    """Under LFU access records hold counters, not seconds: records are dropped at each switch.
    Keys without a record count as new under LFU; back from LFU, as idle since the switch."""
    clock = ManualClock()
    memory = MemoryAccount(clock=clock)
    ks = small_keyspace(clock, memory)
    for i in range(50):
        ks.set(key(i), b"v")
    advance(ks, clock, 10_000)
    apply_settings(memory, [ks], 0, "allkeys-lfu", 5)
    assert access_records(ks) == {}
    ks.lookup(key(0))
    ks.set(key(99), b"v")
    assert set(access_records(ks)) == {key(0), key(99)}
    assert [lfu_frequency(ks, key(i)) for i in (0, 99, 1)] == [LFU_INIT_VAL + 1, LFU_INIT_VAL, LFU_INIT_VAL]
    advance(ks, clock, 4000)
    apply_settings(memory, [ks], 0, "allkeys-lru", 5)
    # LRU keeps marks (engine.py): each shard's first key is marked idle since the switch.
    firsts = {next(iter(values)) for values, _deadlines in ks.tandem.iter_pairs() if values}
    assert access_records(ks) == dict.fromkeys(firsts, memory.access.since_s)
    advance(ks, clock, 3000)
    ks.lookup(key(1))
    assert idle_seconds(ks, key(0)) == 3
    assert idle_seconds(ks, key(99)) == 3
    assert idle_seconds(ks, key(1)) == 0


def test_access_clock_shares_one_int_per_second() -> None:
    clock = ManualClock(start_ms=1_700_000_000_400)
    ks = small_keyspace(clock)
    for i in range(3):
        ks.set(key(i), b"v")
        advance(ks, clock, 100)
    records = access_records(ks)
    assert len({id(second) for second in records.values()}) == 1
    advance(ks, clock, 600)  # into the next second
    ks.set(key(3), b"v")
    assert ks.access.second == 1_700_000_001
    assert idle_seconds(ks, key(0)) == 1 and idle_seconds(ks, key(3)) == 0


def test_store_object_idletime() -> None:
    store = Store()
    assert store.execute("OBJECT", "IDLETIME", "k") is None
    store.set("k", "v")
    assert store.execute("OBJECT", "IDLETIME", "k") in (0, 1)
    store.execute("CONFIG", "SET", "maxmemory-policy", "volatile-lfu")
    with pytest.raises(Exception, match="An LFU maxmemory policy is selected"):
        store.execute("OBJECT", "IDLETIME", "k")


def lru_keyspace_in_a_step(clock: ManualClock) -> Keyspace:
    """An LRU keyspace of 4 keys a shard, a step up just started: k0, k1 written at second 1,
    k2-k4 at second 3, all still in the old engine's one shard."""
    ks = Keyspace(0, clock, memory=MemoryAccount(0, "allkeys-lru", clock=clock), high_keys=4, low_keys=1)
    advance(ks, clock, 1000)
    for i in range(5):
        ks.set(key(i), b"v")
        if i == 1:
            advance(ks, clock, 2000)
    assert ks.tandem.migrating and ks.tandem.cursor == 0
    return ks


def test_migration_slices_keep_each_keys_second() -> None:
    """A slice that ends within a shard marks the shard's new first key with its run's second."""
    clock = ManualClock()
    ks = lru_keyspace_in_a_step(clock)
    ks.tandem.migrate_keys(1)  # k0 moves; k1 (written with k0, not a mark) is now first
    advance(ks, clock, 3000)
    assert [idle_seconds(ks, key(i)) for i in range(5)] == [5, 5, 3, 3, 3]
    ks.tandem.migrate_keys(10**6)
    assert [idle_seconds(ks, key(i)) for i in range(5)] == [5, 5, 3, 3, 3]


def test_a_key_brought_home_by_a_write_is_stamped() -> None:
    """EXPIRE reads a key (an access: moved to the end of its old shard) then brings it home:
    it lands at the end of its new shard accessed now."""
    clock = ManualClock()
    ks = lru_keyspace_in_a_step(clock)
    ks.set(key(5), b"v")  # a new shard's last key, second 3
    advance(ks, clock, 1000)
    assert ks.lookup(key(1)) is not None
    ks.set_deadline(key(1), clock.now_ms() + 60_000)
    advance(ks, clock, 1000)
    assert [idle_seconds(ks, key(i)) for i in range(6)] == [4, 1, 2, 2, 2, 2]


def test_an_accessed_mark_keeps_its_place_until_it_is_moved() -> None:
    """A mark read in the middle of its shard is deferred (engine.py): it keeps its place, the
    first key of its run, with its own second aside, through migration too; eviction moves it
    to the end instead of evicting it, and so do the background slices; a switch away from LRU
    records its second."""
    clock = ManualClock()
    memory = MemoryAccount(0, "allkeys-lru", clock=clock)
    ks = Keyspace(0, clock, memory=memory, high_keys=8, low_keys=2)
    advance(ks, clock, 1000)
    for i in range(4):
        ks.set(key(i), b"v")  # k0, k1 at second 1; k2, k3 at second 3
        if i == 1:
            advance(ks, clock, 2000)
    advance(ks, clock, 1000)
    (values,) = ks.tandem.engine.values
    assert ks.lookup(key(2)) is not None  # a mark, neither first nor last: deferred
    assert list(ks.tandem.deferred) == [key(2)] and list(values) == [key(i) for i in range(4)]
    advance(ks, clock, 1000)
    assert [idle_seconds(ks, key(i)) for i in range(4)] == [4, 4, 1, 2]
    ks.delete(key(1))
    memory.limit_bytes = memory.used_bytes - 1
    evict(memory, [ks], clock, 10**6)  # k0 goes
    assert list(values) == [key(2), key(3)]
    memory.limit_bytes = memory.used_bytes - 1
    evict(memory, [ks], clock, 10**6)  # k2 first and deferred: moved to the end; k3 goes
    memory.limit_bytes = 0
    assert list(values) == [key(2)] and not ks.tandem.deferred
    assert idle_seconds(ks, key(2)) == 1
    for i in range(3, 11):  # k3-k10 at second 5 (k3 a mark); a step up (8 keys a shard)
        ks.set(key(i), b"v")
    advance(ks, clock, 1000)
    assert ks.tandem.migrating
    assert ks.lookup(key(3)) is not None  # deferred, in the old engine
    assert list(ks.tandem.deferred) == [key(3)]
    ks.set(key(3), b"w")  # a write brings it home: no longer deferred
    assert not ks.tandem.deferred
    assert ks.lookup(key(4)) is not None  # the first of the run of second 5 now: deferred
    assert list(ks.tandem.deferred) == [key(4)]
    advance(ks, clock, 1000)
    ks.tandem.migrate_keys(10**6)  # moves it, still deferred: the first key of its run
    assert not ks.tandem.migrating and list(ks.tandem.deferred) == [key(4)]
    assert key(4) in access_records(ks)
    assert [idle_seconds(ks, key(i)) for i in range(2, 11)] == [3, 1, 1, 2, 2, 2, 2, 2, 2]
    ks.tandem.settle_deferred(10)
    assert not ks.tandem.deferred
    assert [idle_seconds(ks, key(i)) for i in range(2, 11)] == [3, 1, 1, 2, 2, 2, 2, 2, 2]
    advance(ks, clock, 1000)
    records = access_records(ks)
    middle = {name for values in ks.tandem.engine.values for name in list(values)[1:-1] if name in records}
    assert middle  # k3 (its own second) and the key after it (the run of second 5) are marks
    for name in middle:
        ks.lookup(name)
    deferred = set(ks.tandem.deferred)
    assert deferred == middle
    ks.tandem.settle_deferred(1)
    assert len(ks.tandem.deferred) == len(deferred) - 1
    advance(ks, clock, 1000)
    before = {key(i): idle_seconds(ks, key(i)) for i in range(2, 11)}
    marks = set(access_records(ks))
    apply_settings(memory, [ks], 0, "noeviction", 5)  # deferred: their own seconds recorded
    assert not ks.tandem.deferred
    # Marks keep their keys' seconds; the other keys count as idle since the switch.
    assert {key(i): idle_seconds(ks, key(i)) for i in range(2, 11)} == {
        name: before[name] if name in marks else 0 for name in before
    }


def test_a_deferred_mark_that_becomes_last_is_accessed_in_place() -> None:
    clock = ManualClock()
    ks = Keyspace(0, clock, memory=MemoryAccount(0, "allkeys-lru", clock=clock))
    ks.set(key(0), b"v")
    advance(ks, clock, 1000)
    ks.set(key(1), b"v")  # a mark
    ks.set(key(2), b"v")
    advance(ks, clock, 1000)
    ks.lookup(key(1))
    assert list(ks.tandem.deferred) == [key(1)]
    ks.delete(key(2))
    advance(ks, clock, 1000)
    ks.lookup(key(1))  # the last key now: a run of its own, in place
    assert not ks.tandem.deferred
    advance(ks, clock, 1000)
    assert [idle_seconds(ks, key(i)) for i in range(2)] == [4, 1]


_MARK_KEYS = st.sampled_from([key(i) for i in range(10)])
_MARK_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _MARK_KEYS, st.sampled_from([None, 500, 5000])),
        st.tuples(st.just("set"), _MARK_KEYS, st.just(None)),
        st.tuples(st.just("set"), _MARK_KEYS, st.just(None)),
        st.tuples(st.just("read"), _MARK_KEYS),
        st.tuples(st.just("read"), _MARK_KEYS),
        st.tuples(st.just("read"), _MARK_KEYS),
        st.tuples(st.just("read"), _MARK_KEYS),
        st.tuples(st.just("delete"), _MARK_KEYS),
        st.tuples(st.just("expire"), _MARK_KEYS, st.integers(1, 3000)),
        st.tuples(st.just("persist"), _MARK_KEYS),
        st.tuples(st.just("evict"), st.integers(1, 5)),
        st.tuples(st.just("advance"), st.integers(1, 2500)),
        st.tuples(st.just("advance"), st.integers(500, 1500)),
        st.tuples(st.just("migrate"), st.integers(1, 30)),
        st.tuples(st.just("settle"), st.integers(1, 5)),
        st.tuples(st.just("policy"), st.sampled_from(["allkeys-lru", "volatile-lru", "noeviction"])),
    ),
    min_size=40,
    max_size=150,
)


# Found by hypothesis: a deferred key that expires and is dropped by a migration (not by a
# delete) must stop being deferred, or the new key of that name is taken for a deferred mark.
_DROPPED_WHILE_DEFERRED = [
    ("set", b"key:0", None), ("set", b"key:4", None), ("read", b"key:0"),
    *[("advance", 1)] * 4, ("advance", 1995), ("set", b"key:1", None), ("advance", 1),
    ("read", b"key:0"), ("set", b"key:3", None), *[("read", b"key:0")] * 5,
    ("expire", b"key:0", 2), ("set", b"key:2", None), ("expire", b"key:1", 1), ("advance", 2),
    *[("set", b"key:0", None)] * 19,
]


@settings(max_examples=300, deadline=None)
@given(ops=_MARK_OPS, high_keys=st.sampled_from([4, 64]), deferred_min=st.sampled_from([0, engine_module.DEFERRED_MIN]))
@example(ops=_DROPPED_WHILE_DEFERRED, high_keys=4, deferred_min=engine_module.DEFERRED_MIN)
def test_lru_marks_give_every_key_its_access_second(ops: list[tuple], high_keys: int, deferred_min: int) -> None:  # type: ignore[type-arg]
    """Under LRU policies access seconds are marks (engine.py): whatever the reads, writes,
    deletes, evictions, expiries, steps (4 keys a shard; or one shard), deferred marks moved and switches to
    and from noeviction, OBJECT IDLETIME is the time since each key's last access, as a model
    of it says; the first key of every shard is a mark, deferred keys are marks, and TAIL holds
    the second of the last key's run. Also with no room for deferred marks (moved at once)."""
    saved_min = engine_module.DEFERRED_MIN
    engine_module.DEFERRED_MIN = deferred_min
    try:
        _check_marks(ops, high_keys)
    finally:
        engine_module.DEFERRED_MIN = saved_min


def _check_marks(ops: list[tuple], high_keys: int) -> None:  # type: ignore[type-arg]
    clock = ManualClock()
    memory = MemoryAccount(0, "allkeys-lru", clock=clock)
    ks = Keyspace(0, clock, memory=memory, high_keys=high_keys, low_keys=1)
    last_s: dict[bytes, int] = {}  # the model: each key's last access second

    def accessed(name: bytes) -> None:
        last_s[name] = ks.access.second

    for op in ops:
        name = op[0]
        if name == "set":
            ks.set(op[1], b"v", None if op[2] is None else clock.now_ms() + op[2])
            accessed(op[1])
        elif name == "read":
            if ks.lookup(op[1]) is not None:
                accessed(op[1])
        elif name == "delete":
            ks.delete(op[1])
        elif name == "expire":
            if ks.lookup(op[1]) is not None:
                accessed(op[1])
                ks.set_deadline(op[1], clock.now_ms() + op[2])
        elif name == "persist":
            if ks.lookup(op[1]) is not None:
                accessed(op[1])
            ks.persist(op[1])
        elif name == "evict":
            memory.limit_bytes = max(1, memory.used_bytes - op[1] * 100)
            evict(memory, [ks], clock, 10**6)
            memory.limit_bytes = 0
        elif name == "advance":
            advance(ks, clock, op[1])
            ks.expire_due(clock.now_ms(), 10)
        elif name == "migrate":
            ks.tandem.migrate_keys(op[1])
        elif name == "settle":
            ks.tandem.settle_deferred(op[1])
        else:
            if memory.tracking == TRACK_ORDER and op[1] == "noeviction":
                # The marks stay as their keys' seconds; the other keys: idle since the switch.
                marked = set(access_records(ks))
                for each in last_s:
                    if each not in marked:
                        last_s[each] = int(memory.access.now_s())
            elif memory.tracking != TRACK_ORDER and op[1] != "noeviction" and not memory.records_complete:
                # Some keys have no record (since the switch above): all idle since this one.
                last_s = dict.fromkeys(last_s, int(memory.access.now_s()))
            apply_settings(memory, [ks], 0, op[1], 5)
        now_s = int(memory.access.now_s())
        for values, _deadlines in ks.tandem.iter_pairs():
            for each in values:
                assert idle_seconds(ks, each) == now_s - last_s[each], each
        if memory.tracking == TRACK_ORDER:
            marks = set(access_records(ks))
            assert set(ks.tandem.deferred) <= marks
            for engine in (ks.tandem.engine, ks.tandem.old):
                for values, records in zip(engine.values if engine else [], engine.accessed if engine else [], strict=True):
                    assert set(records) - {TAIL} <= values.keys()
                    if values:
                        assert next(iter(values)) in records
                        last = next(reversed(values))
                        if TAIL in records:  # the second of the last key's run
                            assert records[TAIL] == (records[last] if last in ks.tandem.deferred else last_s[last])
        else:
            assert not ks.tandem.deferred
