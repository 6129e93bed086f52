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

from tandemkv.clock import ManualClock
from tandemkv.keyspace import Keyspace
from tandemkv.keyspace.memory import (
    LFU_INIT_VAL,
    MemoryAccount,
    apply_settings,
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
    """Every access record of the live engines (the old one's below the cursor are empty)."""
    tandem = ks.tandem
    records: dict[bytes, int] = {}
    for engine in (tandem.engine, tandem.old):
        if engine is not None:
            for accessed in engine.accessed:
                for name, second in accessed.items():
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
    assert access_records(ks) == {}
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
