"""Bitmaps in the embedded instance: the mutable-string representation (commands/bitmaps.py)
and what it must not break -- changes in place without copying, memory accounting, BGSAVE's
copy-on-write, lazy freeing, RDB round trips, the embedded Store API.

Byte-for-byte comparisons with redis-server live in test_bitmaps_diff.py.
"""

from __future__ import annotations

import random

from tandemkv.commands import Instance, execute
from tandemkv.config import Config
from tandemkv.keyspace import Keyspace
from tandemkv.keyspace.memory import DEADLINE_BYTES, entry_bytes, value_bytes
from tandemkv.persistence import attach, step
from tandemkv.persistence.rdb import Limits, read_file
from tandemkv.store import Store


def _run(session, *args: bytes | str) -> object:
    return execute(session, [a if isinstance(a, bytes) else a.encode() for a in args])


def recount(db: Keyspace) -> int:
    """What `db` holds, counted from scratch."""
    total = 0
    for values, deadlines in db.tandem.iter_pairs():
        for key, value in values.items():
            total += entry_bytes(key, value) + db.memory.record_bytes + (DEADLINE_BYTES if key in deadlines else 0)
    return total


def test_setbit_changes_a_big_bitmap_in_place():
    instance = Instance()
    session = instance.new_session()
    _run(session, "SET", "bm", b"\x00" * (1 << 20))
    _run(session, "SETBIT", "bm", "5", "1")  # the one copy: bytes become a bytearray
    stored = session.db.lookup(b"bm")
    assert stored.__class__ is bytearray
    for offset in range(0, 8 * (1 << 20), 999_983):
        _run(session, "SETBIT", "bm", str(offset), "1")
        _run(session, "BITFIELD", "bm", "INCRBY", "u8", str(offset), "1")
    assert session.db.lookup(b"bm") is stored  # never replaced by a copy
    assert len(stored) == 1 << 20
    assert _run(session, "GETBIT", "bm", "5") == 1


def test_append_and_setrange_change_a_string_in_place():
    instance = Instance()
    session = instance.new_session()
    _run(session, "SET", "log", b"x" * 100_000)
    _run(session, "APPEND", "log", "first")  # the one copy: bytes become a bytearray
    stored = session.db.lookup(b"log")
    for i in range(200):
        _run(session, "APPEND", "log", f"line {i}")
        _run(session, "SETRANGE", "log", str(i), "y")
    assert session.db.lookup(b"log") is stored
    assert _run(session, "GETRANGE", "log", "0", "2") == b"yyy"


def test_replies_never_carry_the_stored_bytearray():
    instance = Instance()
    session = instance.new_session()
    _run(session, "SETBIT", "k", "0", "1")
    for command in (("GET", "k"), ("GETRANGE", "k", "0", "-1"), ("GETSET", "k", "x")):
        _run(session, "SETBIT", "k", "0", "1")
        reply = _run(session, *command)
        assert reply.__class__ is bytes
    _run(session, "SETBIT", "k", "0", "1")
    assert all(item.__class__ is bytes for item in _run(session, "MGET", "k", "k"))  # type: ignore[attr-defined]


def test_memory_account_follows_in_place_growth():
    instance = Instance()
    session = instance.new_session()
    db = session.db
    rng = random.Random(5)
    commands = [
        lambda: ("SETBIT", f"k{rng.randrange(6)}", str(rng.randrange(20_000)), str(rng.randrange(2))),
        lambda: ("BITFIELD", f"k{rng.randrange(6)}", "SET", "u16", str(rng.randrange(30_000)), "7"),
        lambda: ("APPEND", f"k{rng.randrange(6)}", "x" * rng.randrange(100)),
        lambda: ("SETRANGE", f"k{rng.randrange(6)}", str(rng.randrange(5000)), "abc"),
        lambda: ("BITOP", "OR", f"k{rng.randrange(6)}", f"k{rng.randrange(6)}", f"k{rng.randrange(6)}"),
        lambda: ("COPY", f"k{rng.randrange(6)}", f"k{rng.randrange(6)}", "REPLACE"),
        lambda: ("SET", f"k{rng.randrange(6)}", "plain"),
        lambda: ("INCR", f"k{rng.randrange(6)}"),
        lambda: ("DEL", f"k{rng.randrange(6)}"),
        lambda: ("EXPIRE", f"k{rng.randrange(6)}", "100"),
    ]
    for _ in range(600):
        _run(session, *rng.choice(commands)())
        assert db.used_bytes == instance.memory.used_bytes == recount(db)
    assert any(value.__class__ is bytearray for _key, value, _deadline in db.items())


def test_bytearray_size_counts_the_object_and_its_buffer():
    assert value_bytes(bytearray(1000)) >= len(bytearray(1000)) + 56
    assert value_bytes(bytearray(1000)) < value_bytes(bytearray(1100))


def test_a_deleted_big_bitmap_is_freed_at_once():
    instance = Instance()
    session = instance.new_session()
    _run(session, "SETBIT", "bm", str(8 * 100_000), "1")
    _run(session, "DEL", "bm")
    assert not session.db.lazy_values  # one free(), not freed in slices like a collection
    _run(session, "SETBIT", "bm", str(8 * 100_000), "1")
    _run(session, "FLUSHALL")
    assert session.db.free_detached(1000)


def test_bitmaps_round_trip_through_rdb_and_dump():
    instance = Instance()
    session = instance.new_session()
    _run(session, "SETBIT", "bm", "1000", "1")
    _run(session, "BITFIELD", "bm", "SET", "i32", "#3", "-77")
    expected = bytes(session.db.lookup(b"bm"))  # type: ignore[arg-type]
    payload = _run(session, "DUMP", "bm")
    _run(session, "RESTORE", "copy", "0", payload)  # type: ignore[arg-type]
    assert _run(session, "GET", "copy") == expected
    assert _run(session, "DEBUG", "RELOAD") is not None
    assert _run(session, "GET", "bm") == expected
    assert _run(session, "BITFIELD", "bm", "GET", "i32", "#3") == [-77]


def _snapshot_state(instance: Instance) -> dict:
    return {(key, bytes(value)): deadline for key, value, deadline in instance.dbs[0].items()}  # type: ignore[call-overload]


def test_bgsave_writes_bitmaps_as_they_were_at_the_start(tmp_path):
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    config.set("engine-shard-high-keys", b"16", startup=True)  # many shards: copy-on-write per shard
    instance = Instance(config)
    attach(instance)
    instance.rdb.schedule = lambda: None  # the test runs the slices itself
    session = instance.new_session()
    rng = random.Random(9)
    for i in range(150):
        _run(session, "SETBIT", f"b{i}", str(rng.randrange(2000)), "1")
    expected = _snapshot_state(instance)
    _run(session, "BGSAVE")
    slices = 0
    while step(instance, 0.0, chunk_bytes=64):
        slices += 1
        for _ in range(3):
            key = f"b{rng.randrange(150)}"
            _run(session, *rng.choice([
                ("SETBIT", key, str(rng.randrange(3000)), "1"),
                ("BITFIELD", key, "INCRBY", "u8", str(rng.randrange(3000)), "9"),
                ("APPEND", key, "tail"),
                ("SETRANGE", key, "2", "xy"),
            ]))
    assert slices > 20
    assert _snapshot_state(instance) != expected
    saved = {(k.key, k.value): k.deadline_ms for k in read_file((tmp_path / "dump.rdb").read_bytes(), Limits())}
    assert saved == expected


def test_store_api_reads_bitmaps():
    store = Store()
    store.execute("SETBIT", "bm", 9, 1)
    assert store.get("bm") == b"\x00\x40"
    assert store.execute("BITCOUNT", "bm") == 1
    assert store.execute("BITFIELD", "bm", "GET", "u16", 0) == [64]
