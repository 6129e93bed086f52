"""Differential tests of the hash commands against redis-server 7.0.15 (RESP2 and RESP3).

Listpack-encoded hashes answer in insertion order on both servers, so their replies are
compared byte for byte; hashtable-encoded hashes (and random picks) are compared as sets or
by their properties. Keyspace events are compared on servers started with
notify-keyspace-events KEA. Encoding thresholds are changed with CONFIG SET on both servers
and restored afterwards (the servers are shared by the whole session).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.resp import RawClient
from tests.test_keys_diff import parse

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def is_resp3(diff) -> bool:
    return diff.tandem.call("HGETALL", "no-such-key") == b"%0\r\n"


def both_parsed(diff, *args: object) -> tuple[object, object]:
    ours, theirs = diff.both(*args)
    return parse(ours), parse(theirs)


def as_pairs(reply: object) -> list[tuple[bytes, bytes]]:
    """HGETALL's reply (RESP2 flat array or RESP3 map) as a list of pairs."""
    if isinstance(reply, dict):
        return list(reply.items())
    assert isinstance(reply, list)
    return list(zip(reply[::2], reply[1::2], strict=True))


def same_pairs(diff, key: str) -> None:
    """HGETALL equal on both servers as sets of pairs (a hashtable has its own order)."""
    ours, theirs = both_parsed(diff, "HGETALL", key)
    assert sorted(as_pairs(ours)) == sorted(as_pairs(theirs))


def fill(diff, key: str, count: int, prefix: str = "f") -> None:
    for start in range(0, count, 100):
        pairs = []
        for i in range(start, min(count, start + 100)):
            pairs += [f"{prefix}{i}", f"v{i}"]
        diff("HSET", key, *pairs)


@pytest.fixture
def small_limits(diff) -> Iterator[None]:
    """hash-max-listpack-entries 4 and -value 8 on both servers, restored afterwards."""
    diff("CONFIG", "SET", "hash-max-listpack-entries", "4", "hash-max-listpack-value", "8")
    yield
    diff("CONFIG", "SET", "hash-max-listpack-entries", "512", "hash-max-listpack-value", "64")


# ------------------------------------------------------------------- writes


def test_hset_hget_hmset(diff):
    diff("HSET", "h", "a", "1")
    diff("HSET", "h", "a", "2", "b", "3", "c", "4")
    diff("HSET", "h", "d", "5", "d", "6")  # the same field twice counts once
    diff("HMSET", "h", "e", "7", "a", "8")
    diff("HGET", "h", "a")
    diff("HGET", "h", "d")
    diff("HGET", "h", "nofield")
    diff("HGET", "nokey", "a")
    diff("HGETALL", "h")
    diff("HMSET", "new", "x", "y")
    diff("HGETALL", "new")


def test_binary_and_empty_fields(diff):
    diff("HSET", "h", "", "empty field", "f\x00g", "nul\x00inside", "e", "")
    diff("HSET", "h", b"\xff\xfe", b"\r\n")
    diff("HGET", "h", "")
    diff("HGET", "h", "f\x00g")
    diff("HGET", "h", "f")
    diff("HSTRLEN", "h", "e")
    diff("HGETALL", "h")
    diff("HSET", "", "k", "v")
    diff("HGETALL", "")


def test_write_arity(diff):
    diff("HSET", "h")
    diff("HSET", "h", "f")
    diff("HSET", "h", "f", "v", "g")
    diff("HMSET", "h", "f")
    diff("HMSET", "h", "f", "v", "g")
    diff("HSETNX", "h", "f")
    diff("HSETNX", "h", "f", "v", "x")
    diff("HDEL", "h")
    diff("HINCRBY", "h", "f")
    diff("HINCRBYFLOAT", "h", "f", "1", "2")
    diff("EXISTS", "h")


def test_read_arity(diff):
    diff("HGET", "h")
    diff("HMGET", "h")
    diff("HLEN")
    diff("HLEN", "h", "x")
    diff("HSTRLEN", "h")
    diff("HEXISTS", "h")
    diff("HKEYS")
    diff("HVALS", "h", "x")
    diff("HGETALL")
    diff("HRANDFIELD")
    diff("HSCAN", "h")


def test_hsetnx(diff):
    diff("HSETNX", "h", "a", "1")
    diff("HSETNX", "h", "a", "2")
    diff("HSETNX", "h", "b", "3")
    diff("HGETALL", "h")


def test_hdel(diff):
    diff("HDEL", "nokey", "a")
    diff("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
    diff("HDEL", "h", "a", "a", "nofield")
    diff("HDEL", "h", "nofield")
    diff("HGETALL", "h")
    # The hash empties at "b": Redis stops there (the key is gone), so "x" is not counted.
    diff("HSET", "h", "x", "9")
    diff("HDEL", "h", "c", "d", "x")
    diff("EXISTS", "h")
    diff("HSET", "h", "a", "1")
    diff("HDEL", "h", "a", "a")
    diff("EXISTS", "h")


def test_wrong_type_everywhere(diff):
    diff("SET", "s", "string")
    for args in (
        ("HSET", "s", "f", "v"), ("HMSET", "s", "f", "v"), ("HSETNX", "s", "f", "v"),
        ("HGET", "s", "f"), ("HMGET", "s", "f", "g"), ("HDEL", "s", "f"), ("HLEN", "s"),
        ("HSTRLEN", "s", "f"), ("HEXISTS", "s", "f"), ("HKEYS", "s"), ("HVALS", "s"),
        ("HGETALL", "s"), ("HINCRBY", "s", "f", "1"), ("HINCRBYFLOAT", "s", "f", "1"),
        ("HRANDFIELD", "s"), ("HRANDFIELD", "s", "0"), ("HRANDFIELD", "s", "-3", "WITHVALUES"),
        ("HSCAN", "s", "0"), ("HSCAN", "s", "0", "COUNT", "0"), ("HSCAN", "s", "0", "BOGUS"),
    ):
        assert diff(*args) == WRONGTYPE, args
    # Arguments Redis parses before the lookup fail first.
    diff("HSET", "s", "f")
    diff("HINCRBY", "s", "f", "x")
    diff("HINCRBYFLOAT", "s", "f", "x")
    diff("HINCRBYFLOAT", "s", "f", "inf")
    diff("HRANDFIELD", "s", "x")
    diff("HRANDFIELD", "s", "1", "BOGUS")
    diff("HSCAN", "s", "x")
    diff("HSET", "h", "f", "v")
    diff("GET", "h")
    diff("INCR", "h")


# -------------------------------------------------------------------- reads


def test_hmget_hlen_hstrlen_hexists(diff):
    diff("HSET", "h", "a", "1", "b", "hello", "c", "-12345", "d", "")
    diff("HMGET", "h", "a", "nofield", "b", "a", "d")
    diff("HMGET", "nokey", "a", "b")
    diff("HLEN", "h")
    diff("HLEN", "nokey")
    for field in ("a", "b", "c", "d", "nofield"):
        diff("HSTRLEN", "h", field)
        diff("HEXISTS", "h", field)
    diff("HSTRLEN", "nokey", "a")
    diff("HEXISTS", "nokey", "a")


def test_hkeys_hvals_hgetall_small(diff):
    diff("HKEYS", "nokey")
    diff("HVALS", "nokey")
    diff("HGETALL", "nokey")
    diff("HSET", "h", "z", "1", "a", "2", "m", "3")
    diff("HSET", "h", "a", "22")  # an update keeps the field's place
    diff("HDEL", "h", "z")
    diff("HSET", "h", "z", "4")  # set again: at the end
    diff("HKEYS", "h")
    diff("HVALS", "h")
    diff("HGETALL", "h")


def test_big_hash_as_sets(diff):
    fill(diff, "big", 1000)
    diff("OBJECT", "ENCODING", "big")
    diff("HLEN", "big")
    same_pairs(diff, "big")
    ours, theirs = both_parsed(diff, "HKEYS", "big")
    assert sorted(ours) == sorted(theirs)
    ours, theirs = both_parsed(diff, "HVALS", "big")
    assert sorted(ours) == sorted(theirs)
    for i in range(0, 1000, 3):
        diff("HDEL", "big", f"f{i}")
    diff("HLEN", "big")
    diff("HMGET", "big", "f0", "f1", "f2", "f999")
    same_pairs(diff, "big")
    diff("OBJECT", "ENCODING", "big")


# ---------------------------------------------------------------- counters


def test_hincrby(diff):
    diff("HINCRBY", "h", "n", "5")
    diff("HINCRBY", "h", "n", "-7")
    diff("HINCRBY", "h", "n", "0")
    diff("HSET", "h", "max", str(LLONG_MAX), "min", str(LLONG_MIN), "text", "abc",
         "spaced", " 1", "plus", "+1", "big", "99999999999999999999", "float", "1.5", "empty", "")
    diff("HINCRBY", "h", "max", "1")
    diff("HINCRBY", "h", "max", "0")
    diff("HINCRBY", "h", "min", "-1")
    diff("HINCRBY", "h", "min", str(LLONG_MAX))
    for field in ("text", "spaced", "plus", "big", "float", "empty"):
        diff("HINCRBY", "h", field, "1")
    diff("HINCRBY", "h", "n", "x")
    diff("HINCRBY", "h", "n", "1.0")
    diff("HINCRBY", "h", "n", str(LLONG_MAX + 1))
    diff("HINCRBY", "h", "n", str(LLONG_MIN))
    diff("HINCRBY", "new", "n", str(LLONG_MIN))
    diff("HGETALL", "h")
    diff("HGETALL", "new")


@pytest.mark.parametrize(
    "start,increment",
    [
        ("10.5", "0.1"), ("5", "3"), ("5.0e3", "2.0e2"), ("0.1", "0.2"), ("-1", "1"),
        ("1", "-1.5"), ("0x1p3", "1"), ("1", "0x10"), ("3", "1e-20"), ("1e300", "1"),
        ("1.7976931348623157e308", "1e308"), ("1e4932", "1e4932"), ("-1e4932", "-1e4932"),
        ("inf", "1"), ("abc", "1"), ("1 ", "1"), ("", "1"), ("1", "abc"), ("1", "inf"),
        ("1", "-inf"), ("1", "nan"), ("1", ""), ("1", " 1"), ("1", "1e5000"), ("1", "1e-5000"),
    ],
)
def test_hincrbyfloat(diff, start, increment):
    diff("HSET", "h", "f", start)
    diff("HINCRBYFLOAT", "h", "f", increment)
    diff("HGET", "h", "f")
    diff("HINCRBYFLOAT", "h", "new", increment)
    diff("HINCRBYFLOAT", "fresh", "f", increment)
    diff("EXISTS", "fresh")
    diff("OBJECT", "ENCODING", "h")


def test_hincrbyfloat_repeated(diff):
    for _ in range(10):
        diff("HINCRBYFLOAT", "h", "f", "0.1")
    diff("HINCRBYFLOAT", "h", "f", "-1")
    diff("HINCRBYFLOAT", "h", "i", "1")
    diff("HINCRBY", "h", "i", "1")
    diff("HINCRBY", "h", "f", "1")
    diff("HGETALL", "h")


# ---------------------------------------------------------------- encodings


def test_encoding_by_entries(diff, small_limits):
    diff("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
    diff("OBJECT", "ENCODING", "h")
    diff("HSETNX", "h", "e", "5")
    diff("OBJECT", "ENCODING", "h")
    diff("HDEL", "h", "a", "b", "c", "d")
    diff("OBJECT", "ENCODING", "h")  # an encoding never goes back
    diff("HSET", "many", "1", "1", "2", "2", "3", "3", "4", "4", "5", "5")
    diff("OBJECT", "ENCODING", "many")


@pytest.mark.parametrize(
    "args",
    [
        ("HSET", "h", "f", "123456789"), ("HSET", "h", "123456789", "v"),
        ("HSET", "h", "f", "12345678"), ("HSETNX", "h", "g", "123456789"),
        ("HMSET", "h", "f", "1", "g", "123456789"), ("HINCRBYFLOAT", "h", "f", "1e20"),
        ("HINCRBYFLOAT", "h", "f", "1.25"), ("HINCRBY", "h", "f", "1000000000"),
        ("HINCRBY", "h", "longfield", "1"),
    ],
)
def test_encoding_by_length(diff, small_limits, args):
    diff("HSET", "h", "f", "1")
    diff(*args)
    diff("OBJECT", "ENCODING", "h")
    same_pairs(diff, "h")


def test_encoding_limits_read_at_write_time(diff):
    try:
        diff("CONFIG", "SET", "hash-max-ziplist-entries", "2")
        diff("HSET", "h", "a", "1", "b", "2")
        diff("OBJECT", "ENCODING", "h")
        diff("CONFIG", "SET", "hash-max-ziplist-entries", "1")
        diff("OBJECT", "ENCODING", "h")  # no conversion until a write
        diff("HSET", "h", "a", "3")  # an update adds nothing: still listpack
        diff("OBJECT", "ENCODING", "h")
        diff("HSET", "h", "c", "3")
        diff("OBJECT", "ENCODING", "h")
        diff("CONFIG", "SET", "hash-max-listpack-entries", "0")
        diff("HSET", "z", "a", "1")
        diff("OBJECT", "ENCODING", "z")
    finally:
        diff("CONFIG", "SET", "hash-max-listpack-entries", "512")


def test_default_thresholds(diff):
    fill(diff, "h", 512)
    diff("OBJECT", "ENCODING", "h")
    diff("HSET", "h", "one-more", "x")
    diff("OBJECT", "ENCODING", "h")
    diff("HSET", "v", "f", "x" * 64)
    diff("OBJECT", "ENCODING", "v")
    diff("HSET", "v", "g", "x" * 65)
    diff("OBJECT", "ENCODING", "v")


def test_generic_commands_on_hashes(diff):
    diff("HSET", "h", "a", "1", "b", "2")
    diff("TYPE", "h")
    diff("COPY", "h", "c")
    diff("HSET", "c", "a", "changed")
    diff("HGETALL", "h")
    diff("HGETALL", "c")
    diff("RENAME", "c", "d")
    diff("HGETALL", "d")
    diff("MOVE", "d", "1")
    diff("SELECT", "1")
    diff("HGETALL", "d")
    diff("SELECT", "0")
    fill(diff, "big", 600)
    diff("COPY", "big", "big2")
    diff("OBJECT", "ENCODING", "big2")
    diff("HDEL", "big2", "f1")
    diff("HLEN", "big")
    diff("HLEN", "big2")
    ours, theirs = both_parsed(diff, "SCAN", "0", "TYPE", "hash", "COUNT", "100")
    assert sorted(ours[1]) == sorted(theirs[1]) == [b"big", b"big2", b"h"]
    diff("EXPIRE", "h", "100")
    diff("HSET", "h", "c", "3")
    diff.ttl("h")
    diff("DEL", "big", "big2")


# --------------------------------------------------------------- HRANDFIELD


def test_hrandfield_errors_and_missing_key(diff):
    diff("HRANDFIELD", "nokey")
    diff("HRANDFIELD", "nokey", "0")
    diff("HRANDFIELD", "nokey", "5")
    diff("HRANDFIELD", "nokey", "-5", "WITHVALUES")
    diff("HSET", "h", "a", "1")
    diff("HRANDFIELD", "h", "0")
    diff("HRANDFIELD", "h", "0", "WITHVALUES")
    diff("HRANDFIELD", "h", "x")
    diff("HRANDFIELD", "h", "1.5")
    diff("HRANDFIELD", "h", str(LLONG_MIN))
    diff("HRANDFIELD", "nokey", str(LLONG_MIN + 1))  # on a hash: 2^63 - 1 fields to send
    diff("HRANDFIELD", "h", str(LLONG_MAX), "x")
    diff("HRANDFIELD", "h", "1", "WITHVALUES", "x")
    diff("HRANDFIELD", "h", "1", "withvalues")
    diff("HRANDFIELD", "h", "1", "WITHVALUES\x00junk")
    diff("HRANDFIELD", "h", str(LLONG_MAX // 2 + 1), "WITHVALUES")
    diff("HRANDFIELD", "h", str(-(LLONG_MAX // 2) - 1), "WITHVALUES")
    diff("HRANDFIELD", "h", str(-(LLONG_MAX // 2)), "x")
    diff("HRANDFIELD", "h")
    diff("HRANDFIELD", "h", "1")
    diff("HRANDFIELD", "h", "-3")
    diff("HRANDFIELD", "h", "-3", "WITHVALUES")


@pytest.mark.parametrize("size", [5, 700])
def test_hrandfield_whole_hash(diff, size):
    fill(diff, "h", size)
    for count in (size, size + 1, 10_000):
        for extra in ((), ("WITHVALUES",)):
            ours, theirs = diff.both("HRANDFIELD", "h", count, *extra)
            if size <= 512:
                assert ours == theirs  # listpack: the whole hash in order
            else:
                assert sorted(map(repr, parse(ours))) == sorted(map(repr, parse(theirs)))


@pytest.mark.parametrize("size", [10, 30, 700])
def test_hrandfield_properties(diff, size):
    fill(diff, "h", size)
    fields = {f"f{i}".encode(): f"v{i}".encode() for i in range(size)}
    resp3 = is_resp3(diff)
    for count in (1, 2, 3, 9, size - 1, -1, -5, -(3 * size)):
        if abs(count) > 3 * size or count == 0:
            continue
        for reply in both_parsed(diff, "HRANDFIELD", "h", count):
            assert isinstance(reply, list) and len(reply) == abs(count)
            assert set(reply) <= set(fields)
            if count > 0:
                assert len(set(reply)) == count
        for reply in both_parsed(diff, "HRANDFIELD", "h", count, "WITHVALUES"):
            assert isinstance(reply, list)
            if resp3:
                assert all(isinstance(pair, list) and len(pair) == 2 for pair in reply)
                pairs = [tuple(pair) for pair in reply]
            else:
                pairs = list(zip(reply[::2], reply[1::2], strict=True))
            assert len(pairs) == abs(count)
            assert all(fields[field] == value for field, value in pairs)
            if count > 0:
                assert len({field for field, _ in pairs}) == count
    single = both_parsed(diff, "HRANDFIELD", "h")
    assert all(reply in fields for reply in single)


def test_hrandfield_is_spread(diff):
    """Each of 40 fields comes up in 8000 draws with repetition (2000 x -4): about 200 times
    each; a field missing or drawn more than 350 times means the draw is not uniform."""
    fill(diff, "h", 40)
    ours = Counter()
    for _ in range(2000 // 100):
        ours.update(parse(diff.tandem.call("HRANDFIELD", "h", "-400")))
    assert len(ours) == 40 and max(ours.values()) < 350 and min(ours.values()) > 90


def test_hrandfield_is_spread_hashtable(diff):
    fill(diff, "h", 1000)
    ours = Counter()
    for _ in range(50):
        ours.update(parse(diff.tandem.call("HRANDFIELD", "h", "-2000")))
    # 100000 draws over 1000 fields: about 100 each.
    assert len(ours) == 1000 and max(ours.values()) < 180 and min(ours.values()) > 40


# -------------------------------------------------------------------- HSCAN


def scan_all(client: RawClient, key: str, *options: object) -> tuple[list[tuple[bytes, bytes]], int]:
    """Every pair a full HSCAN returns, and the number of calls it took."""
    found: list[tuple[bytes, bytes]] = []
    cursor = b"0"
    calls = 0
    while True:
        reply = parse(client.call("HSCAN", key, cursor, *options))
        assert isinstance(reply, list), reply
        cursor, batch = reply
        found += list(zip(batch[::2], batch[1::2], strict=True))
        calls += 1
        if cursor == b"0":
            return found, calls


@pytest.mark.parametrize("cursor", ["0", "1", "-1", "18446744073709551615", "18446744073709551616",
                                    "x", "", " 1", "1 ", "+5", "0\x00x", "1.0"])
def test_hscan_cursor_parsing(diff, cursor):
    diff("HSET", "h", "a", "1")
    diff("HSCAN", "h", cursor)
    diff("HSCAN", "nokey", cursor)


def test_hscan_options(diff):
    diff("HSET", "h", "a1", "1", "b1", "2", "a2", "3", "x", "4")
    diff("HSCAN", "h", "0")
    diff("HSCAN", "h", "7")  # a listpack returns everything, whatever the cursor
    diff("HSCAN", "h", "0", "COUNT", "1")
    diff("HSCAN", "h", "0", "MATCH", "a*")
    diff("HSCAN", "h", "0", "match", "*1", "count", "2")
    diff("HSCAN", "h", "0", "MATCH", "*")
    diff("HSCAN", "h", "0", "MATCH", "a*", "MATCH", "x")
    diff("HSCAN", "h", "0", "COUNT", "0")
    diff("HSCAN", "h", "0", "COUNT", "-1")
    diff("HSCAN", "h", "0", "COUNT", "x")
    diff("HSCAN", "h", "0", "COUNT")
    diff("HSCAN", "h", "0", "MATCH")
    diff("HSCAN", "h", "0", "TYPE", "hash")
    diff("HSCAN", "h", "0", "BOGUS", "1")
    diff("HSCAN", "h", "0", "COUNT\x00x", "1")
    diff("HSCAN", "nokey", "0", "COUNT", "0")  # no key: the options are never read


@pytest.mark.parametrize("options", [(), ("COUNT", "1"), ("COUNT", "50"), ("MATCH", "f1*"),
                                     ("MATCH", "f1*", "COUNT", "1000")])
def test_hscan_full_iteration(diff, options):
    fill(diff, "big", 1000)
    ours, calls = scan_all(diff.tandem, "big", *options)
    theirs, _ = scan_all(diff.redis, "big", *options)
    assert set(ours) == set(theirs)
    assert len(set(ours)) == len(ours)  # no resize during the scan: no duplicates
    count = int(options[options.index("COUNT") + 1]) if "COUNT" in options else 10
    if "MATCH" not in options:
        # O(n) in all: about n / count calls, each returning about count fields.
        assert calls <= 2 * 1000 / min(count, 16) + 2


def test_hscan_guarantee_under_changes(diff):
    """Fields present during the whole scan come back at least once while the hash grows
    and shrinks between calls (which splits and merges buckets)."""
    fill(diff, "big", 2000)
    client = diff.tandem
    found: set[bytes] = set()
    cursor = b"0"
    step = 0
    while True:
        cursor, batch = parse(client.call("HSCAN", "big", cursor, "COUNT", "20"))
        found.update(batch[::2])
        step += 1
        if step < 60:
            pairs: list[str] = []
            for i in range(40):
                pairs += [f"new{step}-{i}", "x"]
            client.call("HSET", "big", *pairs)
        else:
            client.call("HDEL", "big", *[f"new{(step - 59)}-{i}" for i in range(40)])
        if cursor == b"0":
            break
    assert {f"f{i}".encode() for i in range(2000)} <= found


# ---------------------------------------------------------------- COMMAND INFO


@pytest.mark.parametrize(
    "name",
    ["hset", "hsetnx", "hmset", "hget", "hmget", "hdel", "hlen", "hstrlen", "hexists", "hkeys",
     "hvals", "hgetall", "hincrby", "hincrbyfloat", "hrandfield", "hscan"],
)
def test_command_info(diff, name):
    ours, theirs = diff.both("COMMAND", "INFO", name)
    assert parse(ours)[0][:8] == parse(theirs)[0][:8]


# --------------------------------------------------------------- keyspace events


EVENT_SCRIPTS = {
    "hset": [["HSET", "h", "a", "1", "b", "2"], ["HSET", "h", "a", "3"], ["HMSET", "h", "c", "4"],
             ["HSETNX", "h", "a", "5"], ["HSETNX", "h", "d", "6"], ["HSET", "h", "x"]],
    "hdel": [["HSET", "h", "a", "1", "b", "2"], ["HDEL", "h", "nofield"], ["HDEL", "h", "a", "x"],
             ["HDEL", "h", "b", "c"], ["HDEL", "h", "b"], ["HDEL", "nokey", "a"]],
    "incr": [["HINCRBY", "h", "n", "1"], ["HINCRBY", "h", "n", "x"], ["HINCRBYFLOAT", "h", "f", "1.5"],
             ["HSET", "h", "s", "abc"], ["HINCRBY", "h", "s", "1"], ["HINCRBYFLOAT", "h", "s", "1"],
             ["HINCRBYFLOAT", "h", "f", "inf"], ["HINCRBY", "h", "n", str(LLONG_MAX)]],
    "reads": [["HSET", "h", "a", "1"], ["HGET", "h", "a"], ["HMGET", "h", "a"], ["HLEN", "h"],
              ["HGETALL", "h"], ["HKEYS", "h"], ["HVALS", "h"], ["HEXISTS", "h", "a"],
              ["HSTRLEN", "h", "a"], ["HRANDFIELD", "h"], ["HSCAN", "h", "0"]],
    "generic": [["HSET", "h", "a", "1"], ["COPY", "h", "c"], ["RENAME", "c", "d"], ["DEL", "d"],
                ["EXPIRE", "h", "100"], ["HDEL", "h", "a"]],
}


@pytest.mark.parametrize("script", sorted(EVENT_SCRIPTS))
def test_keyspace_events(events, script):
    for args in EVENT_SCRIPTS[script]:
        events(*args)
    ours, theirs = events.events()
    assert theirs
    assert ours == theirs


# ------------------------------------------------------- random command sequences

_KEY = st.sampled_from(["h", "g"])
_FIELD = st.sampled_from(["a", "b", "c", "d", "e", ""])
_NUMBER = st.sampled_from(["1", "-3", "0", "10.5", "x", str(LLONG_MAX), "1e3"])
_COMMAND = st.one_of(
    st.tuples(st.sampled_from(["HSET", "HMSET", "HSETNX"]), _KEY, _FIELD, _NUMBER),
    st.tuples(st.just("HSET"), _KEY, _FIELD, _NUMBER, _FIELD, st.sampled_from(["v", "x" * 70])),
    st.tuples(st.just("HDEL"), _KEY, _FIELD, _FIELD),
    st.tuples(st.sampled_from(["HGET", "HSTRLEN", "HEXISTS"]), _KEY, _FIELD),
    st.tuples(st.sampled_from(["HINCRBY", "HINCRBYFLOAT"]), _KEY, _FIELD, _NUMBER),
    st.tuples(st.sampled_from(["HLEN", "HKEYS", "HVALS", "HGETALL", "TYPE"]), _KEY),
    st.tuples(st.just("HMGET"), _KEY, _FIELD, _FIELD),
    st.tuples(st.just("HSCAN"), _KEY, st.just("0")),
    st.tuples(st.just("RENAME"), _KEY, _KEY),
    st.tuples(st.just("SET"), _KEY, st.just("string")),
)


def _unordered(reply: object) -> object:
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):  # HSCAN
        return reply[0], sorted(reply[1])
    return sorted(reply.items()) if isinstance(reply, dict) else sorted(reply)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_COMMAND, min_size=1, max_size=30))
def test_random_sequences(tandem_port: int, redis_port: int, commands: list[tuple]) -> None:
    pair = [RawClient(tandem_port), RawClient(redis_port)]
    try:
        for client in pair:
            assert client.call("FLUSHALL") == b"+OK\r\n"
        for args in [*commands, ("OBJECT", "ENCODING", "h"), ("OBJECT", "ENCODING", "g")]:
            ours, theirs = (client.call(*args) for client in pair)
            if ours != theirs and args[0] in ("HKEYS", "HVALS", "HGETALL", "HSCAN"):
                # A hashtable's order is its own: the same elements, in any order.
                assert pair[0].call("OBJECT", "ENCODING", args[1]) == b"$9\r\nhashtable\r\n"
                ours, theirs = (_unordered(parse(reply)) for reply in (ours, theirs))
            assert ours == theirs, f"{args!r} after {commands!r}"
    finally:
        for client in pair:
            client.close()
