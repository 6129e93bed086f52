"""Differential tests of the set commands against redis-server 7.0 (RESP2 and RESP3).

Deterministic replies are compared byte for byte (errors, counts, and listings of intset-encoded
sets, which both servers give in ascending order); replies whose order Redis leaves undefined
are compared as multisets with the same reply type (`*` array, `~` set); random replies (SPOP,
SRANDMEMBER) by their properties on each server. Keyspace events are compared by subscribing to
`__key*__:*` on two servers started with notify-keyspace-events KEA.
"""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.resp import RawClient

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)


def parse(raw: bytes) -> object:
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


def unordered(diff, *args: object) -> list[bytes]:
    """Run a command whose reply is an unordered aggregate on both servers: same type, same
    members as a multiset (errors byte for byte). Returns the sorted members."""
    ours, theirs = diff.both(*args)
    assert ours[:1] == theirs[:1], f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
    if ours[:1] in (b"-", b":", b"$", b"_"):
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return []
    mine, reference = parse(ours), parse(theirs)
    assert sorted(mine) == sorted(reference), f"{args!r}: tandemkv {mine!r} != redis {reference!r}"
    return sorted(mine)


def both_members(diff, key: str) -> tuple[list[bytes], list[bytes]]:
    ours, theirs = diff.both("SMEMBERS", key)
    return sorted(parse(ours)), sorted(parse(theirs))


def same_set(diff, key: str) -> list[bytes]:
    """The set at `key` is equal on both servers (members, cardinality, encoding, type)."""
    members = unordered(diff, "SMEMBERS", key)
    diff("SCARD", key)
    diff("TYPE", key)
    diff("OBJECT", "ENCODING", key)
    return members


def big_set(diff, key: str, count: int, prefix: str = "m") -> None:
    """`count` members m0.. (non-integers: hashtable), added in batches."""
    for start in range(0, count, 500):
        diff("SADD", key, *(f"{prefix}{i}" for i in range(start, min(start + 500, count))))


# ----------------------------------------------------------- SADD / SREM / SCARD


def test_sadd_srem_scard(diff):
    diff("SADD", "s", "a", "b", "a", "c")
    diff("SADD", "s", "a")
    diff("SADD", "s", "d", "a")
    diff("SCARD", "s")
    diff("SCARD", "nokey")
    diff("SREM", "s", "a", "zz", "a")
    diff("SREM", "nokey", "a")
    diff("SREM", "s", "b", "c", "d", "more")
    diff("EXISTS", "s")
    diff("SADD", "", "")
    diff("SISMEMBER", "", "")
    same_set(diff, "")


def test_arity_and_wrongtype(diff):
    diff("SET", "str", "v")
    for args in (
        ["SADD", "str", "a"], ["SREM", "str", "a"], ["SCARD", "str"], ["SISMEMBER", "str", "a"],
        ["SMISMEMBER", "str", "a"], ["SMEMBERS", "str"], ["SINTER", "str"], ["SINTERCARD", "1", "str"],
        ["SINTERSTORE", "d", "str"], ["SUNION", "str"], ["SUNIONSTORE", "d", "str"], ["SDIFF", "str"],
        ["SDIFFSTORE", "d", "str"], ["SMOVE", "str", "d", "a"], ["SPOP", "str"], ["SPOP", "str", "2"],
        ["SRANDMEMBER", "str"], ["SRANDMEMBER", "str", "2"], ["SSCAN", "str", "0"],
    ):
        diff(*args)
    for args in (
        ["SADD", "s"], ["SREM", "s"], ["SCARD"], ["SCARD", "a", "b"], ["SISMEMBER", "s"],
        ["SMISMEMBER", "s"], ["SMEMBERS"], ["SINTER"], ["SINTERCARD", "1"], ["SINTERSTORE", "d"],
        ["SUNION"], ["SUNIONSTORE", "d"], ["SDIFF"], ["SDIFFSTORE", "d"], ["SMOVE", "a", "b"],
        ["SPOP"], ["SRANDMEMBER"], ["SSCAN", "s"],
    ):
        diff(*args)


def test_wrongtype_after_other_checks(diff):
    """Which error wins: the order of checks in t_set.c."""
    diff("SET", "str", "v")
    diff("SADD", "s", "1")
    diff("SPOP", "str", "1", "2")  # syntax before the key
    diff("SPOP", "str", "-1")  # count before the key
    diff("SRANDMEMBER", "str", "1", "2")
    diff("SRANDMEMBER", "str", "x")
    diff("SSCAN", "str", "x")  # cursor before the key
    diff("SSCAN", "str", "0", "COUNT", "0")  # key type before the options
    diff("SSCAN", "nokey", "0", "COUNT", "0")  # a missing key answers before the options
    diff("SSCAN", "nokey", "0", "BADOPT")
    diff("SINTER", "s", "str")
    diff("SINTER", "nokey", "str")  # a missing key does not stop the type checks
    diff("SINTERCARD", "2", "nokey", "str")
    diff("SINTERCARD", "1", "str", "LIMIT", "x")  # options before the keys
    diff("SUNION", "s", "nokey", "str")
    diff("SDIFF", "nokey", "str")
    diff("SMOVE", "nokey", "str", "1")  # a missing source wins over a wrong destination
    diff("SMOVE", "s", "str", "1")
    diff("SMOVE", "str", "s", "1")
    diff("SINTERSTORE", "str", "s")  # the destination's type does not matter
    diff("TYPE", "str")


# ------------------------------------------------------------------ membership


def test_sismember_smismember(diff):
    diff("SADD", "ints", "1", "2", "-3")
    diff("SADD", "strs", "a", "b", "1")
    for key in ("ints", "strs", "nokey"):
        diff("SISMEMBER", key, "1")
        diff("SISMEMBER", key, "01")
        diff("SISMEMBER", key, "a")
        diff("SMISMEMBER", key, "1", "a", "x", "-3", "1")
    diff("SISMEMBER", "ints", "-3")
    diff("SISMEMBER", "ints", "+1")
    diff("SISMEMBER", "ints", "1 ")


# ------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "members",
    [["1"], ["0"], ["-0"], ["01"], ["+1"], [" 1"], ["1.0"], ["a"], ["1", "a"],
     [str(LLONG_MAX)], [str(LLONG_MIN)], [str(LLONG_MAX + 1)], [str(LLONG_MIN - 1)],
     ["18446744073709551615"], ["-9223372036854775807"], ["12345678901234567890"],
     ["123456789012345678"], ["1234567890123456789"], ["-"], [""], ["1\x00"]],
)
def test_intset_membership_rule(diff, members):
    diff("SADD", "s", *members)
    diff("OBJECT", "ENCODING", "s")
    unordered(diff, "SMEMBERS", "s")
    diff("SMISMEMBER", "s", *members, "1")


def test_intset_listing_is_sorted(diff):
    diff("SADD", "s", "5", "-1", "100", "3", str(LLONG_MIN), str(LLONG_MAX), "0")
    diff("OBJECT", "ENCODING", "s")
    diff("SMEMBERS", "s")  # byte for byte: ascending, as Redis iterates an intset
    diff("SSCAN", "s", "0")
    diff("SSCAN", "s", "0", "MATCH", "*0*")
    diff("SRANDMEMBER", "s", "100")
    diff("SUNION", "s", "nokey")
    diff("SINTER", "s", "s")
    diff("SDIFF", "s", "nokey")


def test_intset_threshold(diff):
    diff("SADD", "s", *range(512))
    diff("OBJECT", "ENCODING", "s")
    diff("SADD", "s", "511")
    diff("OBJECT", "ENCODING", "s")
    diff("SADD", "s", "512")
    diff("OBJECT", "ENCODING", "s")
    diff("SREM", "s", "1", "2", "3")
    diff("OBJECT", "ENCODING", "s")  # the encoding only grows
    diff("SADD", "t", "1", "x")
    diff("SREM", "t", "x")
    diff("OBJECT", "ENCODING", "t")


def test_intset_threshold_from_config(diff):
    try:
        diff("CONFIG", "SET", "set-max-intset-entries", "3")
        diff("SADD", "s", "1", "2", "3")
        diff("OBJECT", "ENCODING", "s")
        diff("SADD", "s", "4")
        diff("OBJECT", "ENCODING", "s")
        diff("SADD", "u", "1", "2", "3", "4")
        diff("OBJECT", "ENCODING", "u")
        diff("SINTERSTORE", "d", "s")
        diff("OBJECT", "ENCODING", "d")
        diff("SREM", "s", "4")
        diff("SUNIONSTORE", "d", "s")
        diff("OBJECT", "ENCODING", "d")
        diff("CONFIG", "SET", "set-max-intset-entries", "0")
        diff("SADD", "z", "1")
        diff("OBJECT", "ENCODING", "z")
        diff("CONFIG", "SET", "set-intset-max-entries", "5")  # no such alias: an error
        diff("CONFIG", "GET", "set-max-intset-entries")
    finally:
        diff("CONFIG", "SET", "set-max-intset-entries", "512")


def test_copy_rename_keep_the_encoding(diff):
    diff("SADD", "i", "1", "2")
    diff("SADD", "h", "1", "a")
    diff("SREM", "h", "a")
    diff("COPY", "i", "i2")
    diff("COPY", "h", "h2")
    diff("OBJECT", "ENCODING", "i2")
    diff("OBJECT", "ENCODING", "h2")
    diff("SADD", "i2", "x")  # the copy is independent
    diff("SCARD", "i")
    same_set(diff, "i")
    diff("RENAME", "h2", "h3")
    same_set(diff, "h3")
    diff("TYPE", "h3")
    ours, theirs = diff.both("SCAN", "0", "TYPE", "set")
    assert sorted(parse(ours)[1]) == sorted(parse(theirs)[1]) == [b"h", b"h3", b"i", b"i2"]


# -------------------------------------------------------------------------- SMOVE


def test_smove(diff):
    diff("SADD", "a", "1", "2", "x")
    diff("SADD", "b", "3")
    diff("SMOVE", "a", "b", "1")
    diff("SMOVE", "a", "b", "nomember")
    diff("SMOVE", "a", "a", "2")
    diff("SMOVE", "a", "a", "nomember")
    diff("SMOVE", "a", "new", "x")
    diff("OBJECT", "ENCODING", "new")
    diff("SMOVE", "a", "new2", "2")  # empties a: deleted
    diff("EXISTS", "a")
    diff("OBJECT", "ENCODING", "new2")
    diff("SMOVE", "b", "new2", "3")
    diff("SMOVE", "nokey", "b", "1")
    diff("SADD", "c", "1")
    diff("SMOVE", "b", "c", "1")  # already in the destination
    same_set(diff, "c")
    diff("EXISTS", "b")


# -------------------------------------------------------------- set algebra


@pytest.fixture
def algebra(diff):
    diff("SADD", "ints1", "1", "2", "3", "4", "5")
    diff("SADD", "ints2", "4", "5", "6")
    diff("SADD", "mixed", "1", "a", "b", "5")
    diff("SADD", "strs", "a", "b", "c")
    big_set(diff, "big", 700, prefix="")  # integers past 512: a hashtable
    diff("SET", "str", "v")
    return diff


ALGEBRA_KEYS = [
    ["ints1"], ["ints1", "ints2"], ["ints2", "ints1"], ["ints1", "mixed"], ["mixed", "strs"],
    ["strs", "mixed", "ints1"], ["ints1", "nokey"], ["nokey", "ints1"], ["ints1", "ints1"],
    ["ints1", "ints2", "ints1"], ["big", "ints1"], ["ints1", "big"], ["big"], ["big", "big"],
    ["nokey"], ["mixed", "mixed", "strs"], ["big", "mixed", "ints2"],
]


@pytest.mark.parametrize("keys", ALGEBRA_KEYS, ids=["-".join(k) for k in ALGEBRA_KEYS])
@pytest.mark.parametrize("op", ["SINTER", "SUNION", "SDIFF"])
def test_algebra(algebra, op, keys):
    diff = algebra
    unordered(diff, op, *keys)
    diff(op + "STORE", "dest", *keys)
    same_set(diff, "dest")
    diff("TTL", "dest")
    if op == "SINTER":
        diff("SINTERCARD", len(keys), *keys)
        for limit in ("0", "1", "2", "3", "1000"):
            diff("SINTERCARD", len(keys), *keys, "LIMIT", limit)


@pytest.mark.parametrize("op", ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])
def test_store_replaces_and_deletes(diff, op):
    diff("SADD", "a", "1", "2")
    diff("SET", "dest", "string", "EX", "1000")
    diff(op, "dest", "a")
    diff("TTL", "dest")  # setKey drops the old deadline
    same_set(diff, "dest")
    diff(op, "dest", "nokey")  # empty result: the destination is deleted
    diff("EXISTS", "dest")
    diff(op, "dest", "nokey")
    diff(op, "a", "a", "a")  # destination among the sources
    same_set(diff, "a")


def test_sdiffstore_encoding_follows_redis_algorithm(diff):
    """SDIFF's second algorithm copies the first set before removing: a first set that could
    not be an intset leaves a hashtable result even when the result is small integers."""
    diff("SADD", "first", "1", "2", "3", "x")
    diff("SADD", "other1", "x")
    big_set(diff, "other2", 20)
    diff("SDIFFSTORE", "d1", "first", "other1")  # algorithm one: the result decides
    diff("OBJECT", "ENCODING", "d1")
    diff("SADD", "small", "x")
    diff("SDIFFSTORE", "d2", "first", "small", "small", "small", "small")  # algorithm two
    diff("OBJECT", "ENCODING", "d2")
    same_set(diff, "d2")
    diff("SDIFFSTORE", "d3", "first", "other2", "other1")
    diff("OBJECT", "ENCODING", "d3")
    big_set(diff, "bigints", 600, prefix="")
    diff("SADD", "few", "1")
    diff("SDIFFSTORE", "d4", "bigints", "few", "few", "few")
    diff("OBJECT", "ENCODING", "d4")
    diff("SCARD", "d4")


def test_sintercard_options(diff):
    diff("SADD", "a", "1", "2", "3")
    diff("SADD", "b", "2", "3", "4")
    for args in (
        ["0", "a"], ["-1", "a"], ["x", "a"], ["3", "a", "b"], [str(LLONG_MAX), "a"],
        ["99999999999999999999", "a"], ["1", "a", "LIMIT"], ["1", "a", "LIMIT", "-1"],
        ["1", "a", "LIMIT", "x"], ["1", "a", "LIMIT", "1", "LIMIT", "2"], ["1", "a", "limit", "2"],
        ["1", "a", "LIMIT\x00x", "2"], ["1", "a", "FOO", "1"], ["1", "a", "b"], ["2", "a", "b", "LIMIT", "1"],
        ["2", "a", "nokey", "LIMIT", "1"], ["1", "a", "LIMIT", str(LLONG_MAX)],
    ):
        diff("SINTERCARD", *args)


# --------------------------------------------------------------------- SPOP


def test_spop_single(diff):
    diff("SPOP", "nokey")
    diff("SADD", "s", "only")
    diff("SPOP", "s")
    diff("EXISTS", "s")
    diff("SADD", "s", "a", "b", "c")
    ours, theirs = diff.both("SPOP", "s")
    assert parse(ours) in (b"a", b"b", b"c") and parse(theirs) in (b"a", b"b", b"c")
    diff("SCARD", "s")


def test_spop_count_errors_and_edges(diff):
    diff("SPOP", "nokey", "3")
    diff("SPOP", "nokey", "0")
    diff("SADD", "s", "1", "2", "3")
    for count in ("-1", "x", "1.5", str(LLONG_MIN), "99999999999999999999", " 1"):
        diff("SPOP", "s", count)
    diff("SPOP", "s", "0")
    diff("SPOP", "s", "1", "2")
    diff("SPOP", "s", "3")  # the whole intset: ascending
    diff("EXISTS", "s")
    diff("SADD", "s", "a", "b")
    unordered(diff, "SPOP", "s", str(LLONG_MAX))
    diff("EXISTS", "s")


@pytest.mark.parametrize("size,count", [(10, 1), (10, 3), (10, 8), (10, 9), (600, 100), (600, 590), (600, 599)])
@pytest.mark.parametrize("prefix", ["", "m"])
def test_spop_count_properties(diff, size, count, prefix):
    big_set(diff, "s", size, prefix=prefix)
    original = set(parse(diff.tandem.call("SMEMBERS", "s")))
    ours, theirs = diff.both("SPOP", "s", count)
    assert ours[:1] == theirs[:1]  # `*` in RESP2, `~` in RESP3 on both
    for client, reply in ((diff.tandem, ours), (diff.redis, theirs)):
        popped = parse(reply)
        assert len(popped) == len(set(popped)) == count
        left = set(parse(client.call("SMEMBERS", "s")))
        assert left | set(popped) == original and not left & set(popped)
    diff("SCARD", "s")
    # Redis rebuilds a set that few members are left in: its encoding is a fresh set's.
    diff("OBJECT", "ENCODING", "s")


# -------------------------------------------------------------- SRANDMEMBER


def test_srandmember_errors_and_edges(diff):
    diff("SRANDMEMBER", "nokey")
    diff("SRANDMEMBER", "nokey", "5")
    diff("SRANDMEMBER", "nokey", "-5")
    diff("SRANDMEMBER", "nokey", "x")
    diff("SADD", "s", "1", "2", "3")
    for count in ("x", "1.5", str(LLONG_MIN), "99999999999999999999", "+1"):
        diff("SRANDMEMBER", "s", count)
    diff("SRANDMEMBER", "s", "0")
    diff("SRANDMEMBER", "s", "-0")
    diff("SRANDMEMBER", "s", "1", "2")
    diff("SRANDMEMBER", "s", "3")
    diff("SRANDMEMBER", "s", str(LLONG_MAX))
    diff("SADD", "h", "a", "b", "c")
    unordered(diff, "SRANDMEMBER", "h", "3")
    unordered(diff, "SRANDMEMBER", "h", "10")


@pytest.mark.parametrize("count", [1, 2, 5, 9, 10, 11, -1, -5, -30])
@pytest.mark.parametrize("prefix", ["", "m"])
def test_srandmember_properties(diff, count, prefix):
    big_set(diff, "s", 10, prefix=prefix)
    members = set(parse(diff.tandem.call("SMEMBERS", "s")))
    ours, theirs = diff.both("SRANDMEMBER", "s", count)
    assert ours[:1] == theirs[:1] == b"*"  # an array in RESP3 too
    for reply in (ours, theirs):
        picked = parse(reply)
        assert set(picked) <= members
        if count > 0:
            assert len(picked) == len(set(picked)) == min(count, len(members))
        else:
            assert len(picked) == -count
    ours, theirs = diff.both("SRANDMEMBER", "s")
    assert parse(ours) in members and parse(theirs) in members
    same_set(diff, "s")


def test_srandmember_with_repeats_covers_the_set(diff):
    big_set(diff, "s", 20)
    picked = parse(diff.tandem.call("SRANDMEMBER", "s", "-2000"))
    assert set(picked) == set(parse(diff.tandem.call("SMEMBERS", "s")))


# --------------------------------------------------------------------- SSCAN


def test_sscan_errors(diff):
    diff("SADD", "s", "a", "b")
    for args in (
        ["x"], ["-"], [" 1"], ["1x"], ["18446744073709551616"], ["0", "COUNT"], ["0", "COUNT", "0"],
        ["0", "COUNT", "-1"], ["0", "COUNT", "x"], ["0", "MATCH"], ["0", "TYPE", "set"],
        ["0", "FOO", "bar"], ["0", "COUNT", "10", "MATCH", "a", "EXTRA"],
    ):
        diff("SSCAN", "s", *args)


def test_sscan_small_sets_whole(diff):
    diff("SADD", "ints", *range(100))
    diff("SSCAN", "ints", "0")
    diff("SSCAN", "ints", "12345", "COUNT", "1")  # an intset ignores the cursor
    diff("SSCAN", "ints", "0", "MATCH", "1*", "COUNT", "5")
    diff("SSCAN", "ints", "0", "match", "*", "count", "1")
    diff("SADD", "h", "a", "b", "c")
    reply = parse(diff.tandem.call("SSCAN", "h", "0", "COUNT", "100"))
    assert reply[0] == b"0" and sorted(reply[1]) == [b"a", b"b", b"c"]


def _scan_all(client: RawClient, key: str, *options: object) -> list[bytes]:
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, batch = parse(client.call("SSCAN", key, cursor, *options))
        found.extend(batch)
        if cursor == b"0":
            return found


@pytest.mark.parametrize("count", ["1", "7", "100", "5000"])
def test_sscan_hashtable_full_scan(diff, count):
    big_set(diff, "s", 1000)
    for client in (diff.tandem, diff.redis):
        found = _scan_all(client, "s", "COUNT", count)
        assert set(found) == {f"m{i}".encode() for i in range(1000)}
        matched = _scan_all(client, "s", "COUNT", count, "MATCH", "m1?")
        assert set(matched) == {f"m1{i}".encode() for i in range(10)}


def test_sscan_returns_members_present_throughout(r):
    """Members present for the whole scan are returned, whatever is removed or added
    between the calls (tandemkv only: Redis gives the same guarantee)."""
    r.sadd("s", *(f"m{i}" for i in range(2000)))
    removed: set[bytes] = set()
    found: set[bytes] = set()
    cursor = 0
    step = 0
    while True:
        cursor, batch = r.sscan("s", cursor, count=37)
        found.update(batch)
        step += 1
        victims = [f"m{(step * 131 + j * 17) % 2000}".encode() for j in range(5)]
        removed.update(v for v in victims if r.srem("s", v))
        r.sadd("s", *(f"new{step}-{j}" for j in range(5)))
        if cursor == 0:
            break
    kept = {f"m{i}".encode() for i in range(2000)} - removed
    assert kept <= found
    assert step <= 2000 // 37 + 2  # each call advances: O(n / count) calls


# ------------------------------------------------------------- RESP3 types


def test_reply_types(diff):
    diff("SADD", "a", "x", "y")
    diff("SADD", "b", "y")
    diff("SINTER", "a", "b")
    diff("SINTER", "a", "nokey")
    diff("SUNION", "nokey")
    diff("SDIFF", "a", "a")
    diff("SMEMBERS", "nokey")
    diff("SMEMBERS", "b")
    diff("SPOP", "b", "5")
    diff("SRANDMEMBER", "a", "0")
    diff("SMISMEMBER", "a", "x", "z")
    diff("SSCAN", "nokey", "0")


def test_command_info(diff):
    for name in ("sadd", "srem", "scard", "sismember", "smismember", "smembers", "sinter",
                 "sintercard", "sinterstore", "sunion", "sunionstore", "sdiff", "sdiffstore",
                 "smove", "spop", "srandmember", "sscan"):
        ours, theirs = diff.both("COMMAND", "INFO", name)
        assert parse(ours)[0][:8] == parse(theirs)[0][:8], name


# --------------------------------------------------------------- keyspace events


EVENT_SCRIPTS = {
    "sadd-srem": [["SADD", "s", "a", "b"], ["SADD", "s", "a"], ["SREM", "s", "zz"], ["SREM", "s", "a", "zz"],
                  ["SREM", "s", "b", "a"], ["SREM", "s", "b"], ["SADD", "s", "1"], ["SREM", "nokey", "1"]],
    "smove": [["SADD", "a", "1", "2"], ["SMOVE", "a", "b", "1"], ["SMOVE", "a", "b", "9"],
              ["SMOVE", "a", "a", "2"], ["SADD", "b", "2"], ["SMOVE", "a", "b", "2"], ["SMOVE", "b", "c", "1"],
              ["SMOVE", "nokey", "c", "1"]],
    "spop": [["SADD", "s", "1", "2", "3", "4"], ["SPOP", "s"], ["SPOP", "s", "0"], ["SPOP", "s", "1"],
             ["SPOP", "s", "5"], ["SPOP", "s"], ["SPOP", "s", "2"], ["SADD", "t", "x"], ["SPOP", "t"]],
    "store": [["SADD", "a", "1", "2"], ["SADD", "b", "2", "3"], ["SINTERSTORE", "d", "a", "b"],
              ["SUNIONSTORE", "d", "a", "b"], ["SDIFFSTORE", "d", "a", "b"], ["SDIFFSTORE", "d", "a", "a"],
              ["SDIFFSTORE", "d", "a", "a"], ["SINTERSTORE", "e", "a", "nokey"], ["SET", "e", "v"],
              ["SINTERSTORE", "e", "a", "nokey"], ["SUNIONSTORE", "e", "nokey"], ["SET", "e", "v"],
              ["SUNIONSTORE", "e", "a"], ["SINTERSTORE", "e", "a", "b"], ["SINTERSTORE", "e", "b", "a"]],
    "reads": [["SADD", "s", "1"], ["SCARD", "s"], ["SISMEMBER", "s", "1"], ["SMISMEMBER", "s", "1"],
              ["SMEMBERS", "s"], ["SINTER", "s"], ["SINTERCARD", "1", "s"], ["SUNION", "s"], ["SDIFF", "s"],
              ["SRANDMEMBER", "s"], ["SRANDMEMBER", "s", "-3"], ["SSCAN", "s", "0"]],
}


# Replies that differ between the servers (random members, undefined order): both are run,
# only the events are compared.
_RANDOM_REPLIES = ("SPOP", "SRANDMEMBER", "SMEMBERS", "SUNION", "SINTER", "SDIFF")


@pytest.mark.parametrize("script", sorted(EVENT_SCRIPTS))
def test_keyspace_events(events, script):
    for args in EVENT_SCRIPTS[script]:
        if args[0] in _RANDOM_REPLIES:
            ours, theirs = (client.call(*args) for client in events.commands)
            assert ours[:1] == theirs[:1] and len(parse(ours) or ()) == len(parse(theirs) or ()), args
        else:
            events(*args)
    ours, theirs = events.events()
    assert theirs
    assert ours == theirs


# ------------------------------------------------------- random command sequences

_KEY = st.sampled_from(["a", "b", "c"])
_MEMBER = st.sampled_from(["1", "2", "3", "-7", "10", "x", "y", "01", ""])
_MEMBERS = st.lists(_MEMBER, min_size=1, max_size=4)
_COMMAND = st.one_of(
    st.builds(lambda k, m: ("SADD", k, *m), _KEY, _MEMBERS),
    st.builds(lambda k, m: ("SREM", k, *m), _KEY, _MEMBERS),
    st.builds(lambda k, m: ("SMISMEMBER", k, *m), _KEY, _MEMBERS),
    st.tuples(st.sampled_from(["SCARD", "OBJECT ENCODING", "TYPE", "EXISTS"]), _KEY),
    st.tuples(st.just("SMOVE"), _KEY, _KEY, _MEMBER),
    st.builds(lambda op, d, ks: (op, d, *ks), st.sampled_from(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
              _KEY, st.lists(_KEY, min_size=1, max_size=3)),
    st.builds(lambda ks: ("SINTERCARD", len(ks), *ks), st.lists(_KEY, min_size=1, max_size=3)),
    st.tuples(st.just("SPOP"), _KEY, st.sampled_from(["0", "100"])),
    st.tuples(st.sampled_from(["SMEMBERS", "SSCAN", "SRANDMEMBER"]), _KEY).map(
        lambda c: (*c, "0") if c[0] == "SSCAN" else (*c, "100") if c[0] == "SRANDMEMBER" else c
    ),
    st.tuples(st.just("SET"), _KEY, st.just("v")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(_COMMAND, min_size=1, max_size=25), resp=st.sampled_from(["2", "3"]))
def test_random_sequences(tandem_port, redis_port, script, resp):
    pair = [RawClient(tandem_port), RawClient(redis_port)]
    try:
        for client in pair:
            client.call("HELLO", resp)
            client.call("FLUSHALL")
        for command in script:
            args = [*command[0].split(), *command[1:]]
            ours, theirs = (client.call(*args) for client in pair)
            if args[0] in ("SPOP", "SMEMBERS", "SRANDMEMBER") and ours[:1] in (b"*", b"~"):
                assert ours[:1] == theirs[:1] and sorted(parse(ours)) == sorted(parse(theirs)), args
            elif args[0] == "SSCAN" and ours[:1] == b"*":
                mine, reference = parse(ours), parse(theirs)
                assert mine[0] == reference[0] == b"0" and sorted(mine[1]) == sorted(reference[1]), args
            else:
                assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        for key in ("a", "b", "c"):
            ours, theirs = (client.call("SMEMBERS", key) for client in pair)
            if ours[:1] == b"-":
                assert ours == theirs
            else:
                assert sorted(parse(ours)) == sorted(parse(theirs)), key
    finally:
        for client in pair:
            client.close()


def test_sort_a_set(diff):
    diff("SADD", "ints", "3", "-1", "20", "7")
    diff("SADD", "strs", "b", "a", "c", "10")
    for member, weight in (("a", "3"), ("b", "1"), ("c", "4"), ("10", "2")):
        diff("SET", f"w_{member}", weight)
    for key in ("ints", "strs"):
        diff("SORT", key, "ALPHA")
        diff("SORT", key, "ALPHA", "DESC", "LIMIT", "1", "2")
        diff("SORT_RO", key, "ALPHA")
        diff("SORT", key, "BY", "nosort", "STORE", "dest")  # sorted: a stored result is deterministic
        diff("LRANGE", "dest", "0", "-1")
        unordered(diff, "SORT", key, "BY", "nosort")
    diff("SORT", "ints")
    diff("SORT", "ints", "BY", "nosort")  # an intset's own order: ascending
    diff("SORT", "strs")  # not numbers: an error
    diff("SORT", "strs", "BY", "w_*", "ALPHA")
