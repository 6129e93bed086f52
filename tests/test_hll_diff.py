"""HyperLogLog commands against redis-server, byte for byte, in RESP2 and RESP3.

Replies and errors of every command; random PFADD streams compared count for count and, with
GET, byte for byte across the sparse -> dense promotion (at several hll-sparse-max-bytes);
PFMERGE of every mix of sparse, dense, missing and existing keys; values copied from
redis-server's GET used here; corrupted values (random bytes, and hand-made cases) giving the
same replies and leaving the same bytes; keyspace events and WATCH.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import hiredis
import pytest

from tests.conftest import REDIS_SERVER, Diff

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")


@pytest.fixture
def sparse_max(diff: Diff) -> Iterator[None]:
    """Tests that change hll-sparse-max-bytes put Redis's default back on both servers."""
    yield
    diff("CONFIG", "SET", "hll-sparse-max-bytes", "3000")


def same_value(diff: Diff, key: str) -> bytes:
    """GET on both servers: the HLL strings must be identical."""
    return diff("GET", key)


def elements(rng: random.Random, n: int) -> list[str]:
    return [str(rng.random()) for _ in range(n)]


# ------------------------------------------------------------------ replies


def test_pfadd_pfcount_basics(diff):
    diff("PFADD", "h")  # creates the key: 1
    diff("PFADD", "h")  # nothing changes: 0
    diff("PFCOUNT", "h")
    diff("PFADD", "h", "a", "b", "c")
    diff("PFADD", "h", "a", "b", "c")
    diff("PFADD", "h", "")
    diff("PFCOUNT", "h")
    same_value(diff, "h")
    diff("PFCOUNT", "missing")
    diff("PFCOUNT", "h", "missing")
    diff("PFCOUNT", "missing", "missing2")
    diff("EXISTS", "missing")
    diff("PFADD", "bin", b"\x00\xff\r\n", b"x" * 1000)
    same_value(diff, "bin")
    diff("TYPE", "h")
    diff("STRLEN", "h")


def test_new_keys_of_one_element(diff):
    rng = random.Random("new")
    for i in range(150):
        key = f"n{i}"
        diff("PFADD", key, str(rng.random()))
        same_value(diff, key)
    diff("PFADD", "empty-element", "")
    same_value(diff, "empty-element")


def test_elements_of_every_length_up_to_40(diff):
    """Every tail length of MurmurHash64A's 8-byte blocks, one element per PFADD."""
    rng = random.Random("lengths")
    for length in range(41):
        for _ in range(3):
            element = bytes(rng.randrange(256) for _ in range(length))
            diff("PFADD", "h", element)
            diff("PFADD", f"new{length}-{_}", element)
            same_value(diff, f"new{length}-{_}")
    same_value(diff, "h")
    diff("PFCOUNT", "h")


def test_arity_and_unknown(diff):
    diff("PFADD")
    diff("PFCOUNT")
    diff("PFMERGE")
    diff("PFDEBUG", "encoding")
    diff("PFDEBUG", "encoding", "h", "x")
    diff("PFSELFTEST", "x")


def test_type_errors(diff):
    diff("SET", "str", "bar")
    diff("RPUSH", "list", "a")
    diff("SET", "short", "HYLL")
    diff("SET", "int", "12345")
    for key in ("str", "list", "short", "int"):
        diff("PFADD", key, "1")
        diff("PFADD", key)
        diff("PFCOUNT", key)
        diff("PFCOUNT", key, "other")
        diff("PFCOUNT", "other", key)
        diff("PFMERGE", key, "other")
        diff("PFMERGE", "other", key)
        diff("PFDEBUG", "encoding", key)
    diff("EXISTS", "other")


def test_cache_bytes_and_pfcount_write_back(diff):
    diff("PFADD", "h", "a", "b", "c")
    diff("GETRANGE", "h", "8", "15")  # cache invalid (bit 7 of byte 15)
    diff("PFCOUNT", "h")
    diff("GETRANGE", "h", "8", "15")  # the count, cached
    diff("PFADD", "h", "a", "b", "c")
    diff("GETRANGE", "h", "15", "15")
    diff("PFADD", "h", "1", "2", "3")
    diff("GETRANGE", "h", "15", "15")
    same_value(diff, "h")


def test_ttl_is_kept_by_in_place_changes(diff):
    diff("PFADD", "h", "a")
    diff("EXPIRE", "h", "1000")
    diff("PFADD", "h", "b", "c")
    diff.ttl("h")
    diff("PFCOUNT", "h")
    diff.ttl("h")
    diff("PFMERGE", "h", "other")
    diff.ttl("h")
    diff("PFDEBUG", "TODENSE", "h")
    diff.ttl("h")


# -------------------------------------------------------- random streams


@pytest.mark.parametrize("max_bytes", ["3000", "200", "6000"])
def test_random_pfadd_streams_byte_for_byte(diff, sparse_max, max_bytes):
    diff("CONFIG", "SET", "hll-sparse-max-bytes", max_bytes)
    rng = random.Random(f"stream-{max_bytes}")
    for trial in range(3):
        key = f"h{trial}"
        added = 0
        while added < 4000:
            batch = elements(rng, rng.choice([1, 1, 2, 7, 40]))
            added += len(batch)
            diff("PFADD", key, *batch)
            if rng.random() < 0.2:
                diff("PFCOUNT", key)
            if rng.random() < 0.3 or added < 200:
                same_value(diff, key)
        diff("PFDEBUG", "ENCODING", key)
        diff("PFCOUNT", key)
        same_value(diff, key)


def test_values_from_redis_work_here(diff):
    rng = random.Random("copied")
    tandem, reference = diff.tandem, diff.redis
    for n in (0, 5, 300, 3000):
        reference.call("DEL", "src")
        reference.call("PFADD", "src", *elements(rng, n))
        value = reference.call("GET", "src")
        body = value.split(b"\r\n", 1)[1][:-2]  # the bulk string's bytes
        assert tandem.call("SET", "copy", body) == b"+OK\r\n"
        assert reference.call("SET", "copy", body) == b"+OK\r\n"
        diff("PFCOUNT", "copy")
        diff("PFDEBUG", "ENCODING", "copy")
        more = elements(rng, 50)
        diff("PFADD", "copy", *more)
        same_value(diff, "copy")
        diff("PFCOUNT", "copy", "src")


# ------------------------------------------------------------------ PFMERGE


def test_pfmerge_mixes(diff, sparse_max):
    rng = random.Random("merge")
    diff("PFADD", "s1", *elements(rng, 20))
    diff("PFADD", "s2", *elements(rng, 200))
    diff("PFADD", "d1", *elements(rng, 5000))
    diff("PFADD", "d2", "x")
    diff("PFDEBUG", "TODENSE", "d2")
    cases = [
        ("new1", "s1"),
        ("new2", "s1", "s2"),
        ("new3", "s1", "d1"),
        ("new4", "missing"),
        ("new5",),
        ("s1", "s2"),
        ("s2", "d2"),
        ("d2", "s1"),
        ("d1", "d2", "s2", "missing"),
    ]
    for keys in cases:
        diff("PFMERGE", *keys)
        diff("PFDEBUG", "ENCODING", keys[0])
        diff("PFCOUNT", keys[0])
        same_value(diff, keys[0])
    diff("PFCOUNT", "s1", "s2", "d1", "d2", "missing")
    # A sparse merge that outgrows a small limit part-way and turns dense.
    diff("CONFIG", "SET", "hll-sparse-max-bytes", "120")
    diff("PFADD", "a", *elements(rng, 25))
    diff("PFADD", "b", *elements(rng, 25))
    diff("PFMERGE", "c", "a", "b")
    diff("PFDEBUG", "ENCODING", "c")
    same_value(diff, "c")
    diff("PFMERGE", "a", "b")
    same_value(diff, "a")


def test_pfcount_of_several_keys(diff):
    rng = random.Random("union")
    for key, n in (("a", 10), ("b", 1000), ("c", 20000)):
        diff("PFADD", key, *elements(rng, n))
    diff("PFCOUNT", "a", "b")
    diff("PFCOUNT", "a", "b", "c")
    diff("PFCOUNT", "c", "c")
    same_value(diff, "a")  # nothing written: the caches stay as they were
    same_value(diff, "c")


# ------------------------------------------------------------------ PFDEBUG


def test_pfdebug(diff):
    diff("PFDEBUG", "ENCODING", "missing")
    diff("PFADD", "h", "a", "b", "c", "d")
    diff("PFDEBUG", "DECODE", "h")
    diff("PFDEBUG", "encoding", "h")
    diff("PFDEBUG", "nosuch", "h")
    diff("PFDEBUG", "GETREG", "h")  # converts to dense as a side effect
    diff("PFDEBUG", "ENCODING", "h")
    diff("PFDEBUG", "DECODE", "h")
    diff("PFDEBUG", "TODENSE", "h")
    diff("PFADD", "h2", *(str(i) for i in range(300)))
    diff("PFDEBUG", "DECODE", "h2")
    diff("PFDEBUG", "TODENSE", "h2")
    same_value(diff, "h2")
    diff("PFDEBUG", "GETREG", "h2")


def test_pfselftest(diff):
    # Ten million elements hashed in Python take seconds on a loaded machine: the socket
    # timeout only guards against a hang.
    diff.tandem.sock.settimeout(300)
    diff("PFSELFTEST")


def test_config(diff, sparse_max):
    diff("CONFIG", "GET", "hll-sparse-max-bytes")
    diff("CONFIG", "SET", "hll-sparse-max-bytes", "3kb")
    diff("CONFIG", "GET", "hll-sparse-max-bytes")
    diff("CONFIG", "SET", "hll-sparse-max-bytes", "-1")
    diff("CONFIG", "SET", "hll-sparse-max-bytes", "abc")
    diff("CONFIG", "SET", "hll-sparse-max-bytes", "0")
    diff("PFADD", "h", "a")  # every edit that grows the string now promotes
    diff("PFDEBUG", "ENCODING", "h")
    same_value(diff, "h")


def test_command_info(diff):
    """Name, arity, flags, key positions, ACL categories and tips (tandemkv's COMMAND INFO
    has no key specifications or subcommands for any command yet)."""
    for name in ("pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest"):
        ours, theirs = (_parse(reply)[0][:8] for reply in diff.both("COMMAND", "INFO", name))
        assert ours == theirs, name


def _parse(raw: bytes) -> list:  # type: ignore[type-arg]
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


# ------------------------------------------------------------- corruption


def corrupt_both(diff: Diff, key: str, value: bytes) -> None:
    for client in (diff.tandem, diff.redis):
        assert client.call("SET", key, value) == b"+OK\r\n"


def test_hand_made_corruptions(diff):
    header = b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80"
    xzero_all = b"\x7f\xff"
    cases = [
        header + xzero_all + b"hello",  # opcodes past the last register
        header + b"\x7f\xfe",  # one register short
        header,  # no opcodes
        header + b"\x7f",  # a lone XZERO byte: Redis reads its NUL terminator
        header + b"\x7f\xfe\x80",  # ... and a VAL for the last register
        header + b"\x7f\xff\x80",  # a VAL past the end: merges stop there
        header + b"\x7f\xfe\x40",  # a lone XZERO byte after a valid prefix
        header + b"\x7f\xff\x00",  # a ZERO past the end
        b"HYLL\x00" + bytes(11) + b"\xff" * 12288,  # dense, every register 63: no estimate
        b"HYLL\x00" + bytes(11) + b"\x33\xcf\x3c" * 4096,  # dense, every register 51
        b"HYLL\x00" + bytes(10) + b"\x01\x00" + bytes(12288),  # a valid cached count
        b"HYLL\x02" + bytes(11) + xzero_all,  # unknown encoding
        b"HYLX\x01" + bytes(11) + xzero_all,  # broken magic
        b"HYLL\x00" + bytes(11) + xzero_all,  # dense of the wrong length
    ]
    for value in cases:
        corrupt_both(diff, "bad", value)
        diff("PFCOUNT", "bad")
        same_value(diff, "bad")
        for command in (("PFADD", "bad", "a", "b", "c"), ("PFADD", "bad", *map(str, range(200)))):
            corrupt_both(diff, "bad", value)
            diff(*command)
            same_value(diff, "bad")
            diff("PFCOUNT", "bad")
        corrupt_both(diff, "bad", value)
        diff("PFCOUNT", "bad", "missing")
        diff("PFMERGE", "dest", "bad")
        diff("PFMERGE", "bad")
        same_value(diff, "bad")
        for sub in ("DECODE", "ENCODING", "TODENSE", "GETREG"):
            corrupt_both(diff, "bad", value)
            diff("PFDEBUG", sub, "bad")
            same_value(diff, "bad")


def test_random_corruptions(diff, sparse_max):
    """As Redis's fuzzing test, but every reply and the bytes left behind are compared."""
    rng = random.Random("fuzz")
    for _ in range(150):
        diff("CONFIG", "SET", "hll-sparse-max-bytes", rng.choice(["3000", "3000", "300"]))
        diff("DEL", "h")
        diff("PFADD", "h", *elements(rng, rng.choice([0, 3, 30, 300, 3000])))
        value = bytearray(diff("GET", "h").split(b"\r\n", 1)[1][:-2])
        for _ in range(rng.choice([1, 1, 2, 5])):
            value[rng.randrange(len(value))] = rng.randrange(256)
        if rng.random() < 0.2:  # cut or extend the opcodes too
            value = value[: rng.randrange(16, len(value) + 1)] + bytes(rng.randrange(256) for _ in range(rng.randrange(3)))
        corrupt_both(diff, "h", bytes(value))
        diff(*rng.choice([("PFCOUNT", "h"), ("PFADD", "h", *elements(rng, 20)), ("PFMERGE", "d", "h"), ("PFCOUNT", "h", "d")]))
        # Set again: Redis may have left a byte past the end of its string that a lone
        # XZERO byte at the end reads next time; a value that was just SET has a NUL there.
        corrupt_both(diff, "h", same_value(diff, "h").split(b"\r\n", 1)[1][:-2])
        diff("PFADD", "h", *elements(rng, 5))
        same_value(diff, "h")
        diff("PFCOUNT", "h")
        same_value(diff, "h")


# ------------------------------------------------------ events and WATCH


def test_keyspace_events(events):
    events("PFADD", "h", "a")
    events("PFADD", "h", "a")  # no change: no event
    events("PFCOUNT", "h")  # caches the count: no event
    events("PFMERGE", "m", "h")
    events("PFMERGE", "m", "h")
    events("PFDEBUG", "TODENSE", "h")
    ours, theirs = events.events()
    assert ours == theirs


def _changes(diff: Diff) -> tuple[int, int]:
    ours, theirs = diff.both("INFO", "persistence")
    return tuple(  # type: ignore[return-value]
        int(reply.split(b"rdb_changes_since_last_save:")[1].split(b"\r\n")[0]) for reply in (ours, theirs)
    )


def test_changes_counted_as_redis_counts_them(diff):
    """rdb_changes_since_last_save: PFADD counts the key and every raised register; PFCOUNT
    that caches, PFMERGE, and PFDEBUG's conversions count one."""
    commands = [
        ("PFADD", "h", "a"),
        ("PFADD", "h", "b", "c", "d"),
        ("PFADD", "h", "b"),
        ("PFADD", "n", "x", "y"),
        ("PFADD", "e"),
        ("PFCOUNT", "h"),
        ("PFCOUNT", "h"),
        ("PFCOUNT", "h", "n"),
        ("PFMERGE", "m", "h", "n"),
        ("PFDEBUG", "TODENSE", "h"),
        ("PFDEBUG", "GETREG", "n"),
        ("PFDEBUG", "TODENSE", "h"),
        ("PFADD", "h", "z"),
    ]
    for command in commands:
        before = _changes(diff)
        diff(*command)
        after = _changes(diff)
        assert after[0] - before[0] == after[1] - before[1], command


def test_pfcount_that_caches_touches_watch(diff):
    diff("PFADD", "h", "a")
    diff("WATCH", "h")
    diff("PFCOUNT", "h")  # computes and stores the count: a change of the key
    diff("MULTI")
    diff("PING")
    diff("EXEC")
    diff("WATCH", "h")
    diff("PFCOUNT", "h")  # cached: no change
    diff("MULTI")
    diff("PING")
    diff("EXEC")
