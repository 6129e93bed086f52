"""Generic key commands in-process (manual clock, small shards) and through a real socket.

In-process tests call the dispatcher on an Instance whose clock moves only when told, so TTLs
are exact, and whose shards are tiny, so SCAN crosses many tandem steps in a few hundred keys.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tandemkv.clock import ManualClock
from tandemkv.commands import Instance, Session, execute
from tandemkv.commands.keys import VALUE_TYPES, ValueType, register_type, string_encoding, type_name
from tandemkv.config import Config
from tandemkv.protocol import OK, Error, Simple


def make_session(**settings: str) -> Session:
    config = Config()
    for name, value in settings.items():
        config.set(name.replace("_", "-"), value.encode(), startup=True)
    return Instance(config, ManualClock()).new_session()


def call(session: Session, *args: Any) -> Any:
    return execute(session, [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args])


def clock_of(session: Session) -> ManualClock:
    clock = session.instance.clock
    assert isinstance(clock, ManualClock)
    return clock


class Recorder:
    """A pattern subscriber on the Hub that keeps every keyspace event."""

    resp = 2

    def __init__(self, session: Session) -> None:
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()
        self.frames: list[bytes] = []
        session.instance.config.set("notify-keyspace-events", b"KEA")
        session.instance.hub.psubscribe(self, b"__keyevent@*")

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def events(self) -> list[tuple[bytes, bytes]]:
        """(channel, key) per event, then forgets them."""
        out = []
        for frame in self.frames:
            parts = frame.split(b"\r\n")
            out.append((parts[6], parts[8]))
        self.frames.clear()
        return out


# ------------------------------------------------------------------- value types


def test_type_name_and_string_encoding() -> None:
    assert type_name(None) == b"none"
    assert type_name(b"") == b"string"
    assert string_encoding(b"123") == b"int"
    assert string_encoding(b"-9223372036854775808") == b"int"
    assert string_encoding(b"9223372036854775808") == b"embstr"
    assert string_encoding(b"007") == b"embstr"
    assert string_encoding(b"x" * 44) == b"embstr"
    assert string_encoding(b"x" * 45) == b"raw"


class Box(list):  # a stand-in for a value type: a list that keeps its bytes (values/)
    @property
    def nbytes(self) -> int:
        return 64 * len(self)


def test_registered_type_reaches_type_scan_copy_and_object() -> None:
    register_type(Box, ValueType(b"box", copy=lambda value: Box(value), encoding=lambda value: b"boxed"))
    try:
        session = make_session()
        original = Box([1, 2])
        session.db.set(b"b", original)
        session.db.set(b"s", b"v")
        assert call(session, "TYPE", "b").text == b"box"
        assert call(session, "SCAN", "0", "TYPE", "BOX") == [b"0", [b"b"]]
        assert call(session, "OBJECT", "ENCODING", "b") == b"boxed"
        assert call(session, "OBJECT", "REFCOUNT", "b") == 1
        assert call(session, "COPY", "b", "b2") == 1
        copied = session.db.lookup(b"b2")
        assert copied == original and copied is not original and copied.__class__ is Box
        with pytest.raises(AssertionError):
            register_type(Box, ValueType(b"box", copy=list, encoding=lambda value: b""))
    finally:
        del VALUE_TYPES[Box]


# ----------------------------------------------------------------------- expiry


def test_ttl_exact_with_manual_clock() -> None:
    session = make_session()
    clock = clock_of(session)
    call(session, "SET", "k", "v")
    assert call(session, "PEXPIRE", "k", "1500") == 1
    assert call(session, "PTTL", "k") == 1500
    assert call(session, "TTL", "k") == 2  # rounded to nearest: 1.5 s -> 2
    assert call(session, "PEXPIRETIME", "k") == clock.now_ms() + 1500
    clock.advance_ms(1001)
    assert call(session, "PTTL", "k") == 499
    assert call(session, "TTL", "k") == 0
    clock.advance_ms(498)
    assert call(session, "PTTL", "k") == 1
    clock.advance_ms(1)
    assert call(session, "PTTL", "k") == -2  # at the deadline the key is gone
    assert call(session, "EXISTS", "k") == 0


def test_expire_events_with_manual_clock() -> None:
    session = make_session()
    recorder = Recorder(session)
    clock = clock_of(session)
    call(session, "SET", "k", "v")
    call(session, "EXPIRE", "k", "10")
    call(session, "EXPIRE", "k", "5", "GT")  # condition not met: no event
    call(session, "PERSIST", "k")
    call(session, "PERSIST", "k")
    call(session, "PEXPIREAT", "k", clock.now_ms())  # a deadline now is already past
    call(session, "SET", "k", "v", "PX", "10")
    clock.advance_ms(10)
    assert call(session, "EXPIRE", "k", "100") == 0  # the write meets an expired key
    assert recorder.events() == [
        (b"__keyevent@0__:set", b"k"),
        (b"__keyevent@0__:expire", b"k"),
        (b"__keyevent@0__:persist", b"k"),
        (b"__keyevent@0__:del", b"k"),
        (b"__keyevent@0__:set", b"k"),
        (b"__keyevent@0__:expire", b"k"),
        (b"__keyevent@0__:expired", b"k"),
    ]


def test_move_and_copy_events_name_their_databases() -> None:
    session = make_session()
    recorder = Recorder(session)
    call(session, "SET", "k", "v")
    recorder.events()
    assert call(session, "MOVE", "k", "3") == 1
    call(session, "SELECT", "3")
    assert call(session, "COPY", "k", "k", "DB", "5") == 1
    assert call(session, "RENAME", "k", "j") is OK
    assert recorder.events() == [
        (b"__keyevent@0__:move_from", b"k"),
        (b"__keyevent@3__:move_to", b"k"),
        (b"__keyevent@5__:copy_to", b"k"),
        (b"__keyevent@3__:rename_from", b"k"),
        (b"__keyevent@3__:rename_to", b"j"),
    ]


def test_move_copy_rename_keep_deadlines() -> None:
    session = make_session()
    deadline = clock_of(session).now_ms() + 60_000
    call(session, "SET", "k", "v")
    call(session, "PEXPIREAT", "k", deadline)
    call(session, "COPY", "k", "c", "DB", "1")
    call(session, "RENAME", "k", "r")
    call(session, "MOVE", "r", "2")
    assert call(session, "PEXPIRETIME", "r") == -2
    for db in (1, 2):
        call(session, "SELECT", db)
        key = "c" if db == 1 else "r"
        assert call(session, "PEXPIRETIME", key) == deadline
    assert session.instance.dbs[0].volatile_count == 0
    assert session.instance.dbs[1].volatile_count == 1


def test_shared_integers_follow_maxmemory_policy() -> None:
    session = make_session()
    call(session, "SET", "n", "42")
    assert call(session, "OBJECT", "REFCOUNT", "n") == 2**31 - 1
    config = session.instance.config
    config.set("maxmemory", b"100mb")
    config.set("maxmemory-policy", b"allkeys-lru")
    assert call(session, "OBJECT", "REFCOUNT", "n") == 1
    config.set("maxmemory-policy", b"volatile-ttl")
    assert call(session, "OBJECT", "REFCOUNT", "n") == 2**31 - 1
    config.set("maxmemory", b"0")
    config.set("maxmemory-policy", b"allkeys-lfu")
    assert call(session, "OBJECT", "REFCOUNT", "n") == 2**31 - 1


def test_object_unknown_subcommand_and_help() -> None:
    session = make_session()
    reply = call(session, "OBJECT", "FOO")
    assert isinstance(reply, Error) and reply.message == "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    help_lines = call(session, "OBJECT", "HELP")
    assert all(isinstance(line, Simple) for line in help_lines) and len(help_lines) == 15


# ----------------------------------------------------------- SCAN across steps


def _scan_iteration(session: Session, between_calls: Any, count: int = 5) -> list[bytes]:
    found: list[bytes] = []
    cursor = b"0"
    calls = 0
    while True:
        cursor, batch = call(session, "SCAN", cursor, "COUNT", count)
        found.extend(batch)
        calls += 1
        assert calls < 100_000, "SCAN does not terminate"
        if cursor == b"0":
            return found
        between_calls()


@pytest.mark.parametrize("seed", range(4))
def test_scan_guarantee_across_steps(seed: int) -> None:
    """Keys present for the whole iteration are all returned while the keyspace grows and
    shrinks between SCAN calls, steps start and finish, and migration is half done."""
    rng = random.Random(seed)
    session = make_session(engine_shard_high_keys="16", engine_shard_low_keys="4")
    db = session.db
    stable = {b"stable:%d" % i for i in range(60)}
    for key in stable:
        db.set(key, b"v")
    ever: set[bytes] = set(stable)
    churn: list[bytes] = []
    counter = 0
    growing = True

    def between_calls() -> None:
        # The churn swings between about 0 and 600 keys, so the shard count climbs and
        # descends the staircase over and over.
        nonlocal counter, growing
        if growing:
            for _ in range(rng.randrange(1, 150)):
                counter += 1
                key = b"churn:%d" % counter
                db.set(key, b"v")
                churn.append(key)
                ever.add(key)
            growing = len(churn) < 600
        else:
            rng.shuffle(churn)
            for _ in range(min(len(churn), rng.randrange(1, 150))):
                db.delete(churn.pop())
            growing = not churn
        if db.tandem.migrating and rng.random() < 0.5:
            db.tandem.migrate_keys(rng.randrange(1, 64))

    for _ in range(30):
        found = _scan_iteration(session, between_calls, count=rng.choice([1, 2, 5, 20]))
        assert stable <= set(found)
        assert set(found) <= ever
    stats = db.tandem.stats
    assert stats.steps_up > 3 and stats.steps_down > 3


def test_scan_filters_and_expired_keys_in_process() -> None:
    session = make_session(engine_shard_high_keys="16")
    clock = clock_of(session)
    for i in range(100):
        call(session, "SET", f"k:{i}", "v")
    for i in range(10):
        call(session, "PEXPIRE", f"k:{i}", "5")
    clock.advance_ms(5)
    found = _scan_iteration(session, lambda: None, count=7)
    assert set(found) == {b"k:%d" % i for i in range(10, 100)}
    matched = set()
    cursor = b"0"
    while True:
        cursor, batch = call(session, "SCAN", cursor, "MATCH", "k:?", "TYPE", "string")
        matched.update(batch)
        if cursor == b"0":
            break
    assert matched == set()  # k:0..k:9 expired


def test_scan_huge_cursor_is_accepted() -> None:
    session = make_session(engine_shard_high_keys="16")
    for i in range(100):
        call(session, "SET", f"k:{i}", "v")
    next_cursor, _batch = call(session, "SCAN", str(2**64 - 1))
    assert 0 <= int(next_cursor) < 2**64
    assert call(session, "SCAN", "-1")[0] == next_cursor  # -1 wraps around to 2**64 - 1


# ------------------------------------------------------------- through a socket


def test_scan_guarantee_over_the_network(r) -> None:
    """Enough keys for the server's default shard size: SCAN crosses a real step."""
    stable = [b"stable:%d" % i for i in range(5000)]
    pipe = r.pipeline(transaction=False)
    for key in stable:
        pipe.set(key, b"v")
    pipe.execute()
    added = 0
    found: set[bytes] = set()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, count=200)
        found.update(batch)
        if cursor == 0:
            break
        if added:
            continue
        # 5000 keys sit in 2 shards; 4000 more pass 2 * 4096 and start a step mid-scan.
        pipe = r.pipeline(transaction=False)
        for _ in range(4000):
            added += 1
            pipe.set(b"churn:%d" % added, b"v")
        pipe.execute()
    assert set(stable) <= found
    assert r.dbsize() > 2 * 4096


def test_expiry_over_the_network(r, r3) -> None:
    r.set("k", "v")
    deadline_ms = int(time.time() * 1000) + 150
    assert r.pexpireat("k", deadline_ms)
    assert r.pexpiretime("k") == deadline_ms
    assert r3.pexpiretime("k") == deadline_ms
    assert 0 <= r.pttl("k") <= 150
    while r.exists("k") and time.time() * 1000 < deadline_ms + 5000:
        time.sleep(0.02)
    assert r.exists("k") == 0
    assert r.ttl("k") == -2
