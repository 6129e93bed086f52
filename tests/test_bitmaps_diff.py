"""Bitmap commands against redis-server, byte for byte, in RESP2 and RESP3.

Hand-written cases and argument grids per command (valid and invalid arguments, every error in
bitops.c), seeded random SETBIT/BITFIELD/BITOP sequences compared reply for reply and value for
value, the offset bound under a lowered proto-max-bulk-len (an embedded instance beside
redis-server), keyspace events, and every string command on a string a bitmap command changed
in place (commands/bitmaps.py keeps it as a bytearray).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import hiredis
import pytest

from tandemkv.commands import Instance, execute
from tandemkv.protocol import encode
from tests.conftest import REDIS_SERVER
from tests.resp import RawClient

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")

LLONG_MAX = "9223372036854775807"
LLONG_MIN = "-9223372036854775808"


def _parse(raw: bytes) -> list:  # type: ignore[type-arg]
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()  # type: ignore[no-any-return]


# ------------------------------------------------------------------ SETBIT / GETBIT


def test_setbit_getbit(diff):
    diff("SETBIT", "bm", "7", "1")
    diff("GET", "bm")
    diff("SETBIT", "bm", "7", "1")  # unchanged: returns 1
    diff("SETBIT", "bm", "7", "0")
    diff("SETBIT", "bm", "100", "1")  # grows with zero bytes
    diff("GET", "bm")
    diff("STRLEN", "bm")
    for offset in ("0", "7", "99", "100", "101", "103", "104", "1000000"):
        diff("GETBIT", "bm", offset)
    diff("GETBIT", "missing", "5")
    diff("SETBIT", "new", "0", "0")  # creates a one-byte key
    diff("GET", "new")
    diff("EXISTS", "new")


def test_setbit_getbit_errors(diff):
    diff("SET", "s", "abc")
    for offset in ("-1", "x", "", "1.5", "+1", " 1", LLONG_MAX, LLONG_MIN, "4294967296", "99999999999999999999"):
        diff("SETBIT", "s", offset, "1")
        diff("GETBIT", "s", offset)
        diff("GETBIT", "missing", offset)
    for value in ("2", "-1", "x", "", "1.0", "01", "3", LLONG_MAX):
        diff("SETBIT", "s", "1", value)
    diff("SETBIT", "s", "-1", "2")  # the offset is checked first
    diff("RPUSH", "list", "x")
    diff("SETBIT", "list", "1", "1")
    diff("SETBIT", "list", "x", "1")  # argument errors before WRONGTYPE
    diff("SETBIT", "list", "1", "5")
    diff("GETBIT", "list", "1")
    diff("GETBIT", "list", "-1")
    diff("SETBIT", "s", "1")
    diff("SETBIT", "s", "1", "1", "1")
    diff("GETBIT", "s")
    diff("GETBIT", "s", "1", "2")
    diff("GET", "s")


def test_getbit_of_an_integer_string(diff):
    diff("SET", "n", "12345")
    for offset in range(0, 48, 3):
        diff("GETBIT", "n", str(offset))
    diff("SETBIT", "n", "1", "0")  # "1" becomes "q"... and the value is no longer an integer
    diff("GET", "n")
    diff("OBJECT", "ENCODING", "n")
    diff("INCR", "n")


def test_setbit_keeps_the_ttl(diff):
    diff("SET", "k", "v", "EX", "1000")
    diff("SETBIT", "k", "100", "1")
    diff.ttl("k")
    diff("SETBIT", "k", "3", "1")
    diff.ttl("k")


# ------------------------------------------------------------------------ BITCOUNT

RANGE_POINTS = ["0", "1", "2", "5", "7", "8", "9", "15", "16", "23", "24", "31", "100",
                "-1", "-2", "-7", "-8", "-9", "-16", "-17", "-100", LLONG_MAX, LLONG_MIN]


def test_bitcount_grid(diff):
    diff("SET", "s", b"\xff\x0f\xf0\xaa\x55\x01")
    diff("SET", "one", b"\x81")
    diff("SET", "empty", "")
    for key in ("s", "one", "empty"):
        diff("BITCOUNT", key)
        for start in RANGE_POINTS:
            for end in RANGE_POINTS:
                diff("BITCOUNT", key, start, end)
                diff("BITCOUNT", key, start, end, "BIT")
        for start in RANGE_POINTS[::3]:
            for end in RANGE_POINTS[::3]:
                diff("BITCOUNT", key, start, end, "byte")


def test_bitcount_errors(diff):
    diff("SET", "s", "foobar")
    diff("BITCOUNT", "s", "0")
    diff("BITCOUNT", "s", "0", "1", "BIT", "x")
    diff("BITCOUNT", "s", "a", "1")
    diff("BITCOUNT", "s", "0", "b")
    diff("BITCOUNT", "s", "0", "1", "BITS")
    diff("BITCOUNT", "s", "0", "1", "bit\x00x")  # compared as a C string
    diff("BITCOUNT", "s", "-1", "-5", "nonsense")  # an empty negative range answers 0 first
    diff("BITCOUNT", "missing", "0")  # a missing key answers 0 before any argument is read
    diff("BITCOUNT", "missing", "x", "y", "z", "w")
    diff("RPUSH", "list", "x")
    diff("BITCOUNT", "list")
    diff("BITCOUNT", "list", "x")
    diff("BITCOUNT")


def test_bitcount_big_bitmap(diff):
    rng = random.Random(7)
    value = bytes(rng.getrandbits(8) for _ in range(200_000))
    diff("SET", "big", value)
    diff("BITCOUNT", "big")
    diff("SETBIT", "big", "1599999", "1")  # now a bytearray on tandemkv
    diff("BITCOUNT", "big")
    for start, end in ((0, -1), (3, 150_000), (-70_000, -3), (12345, 12345)):
        diff("BITCOUNT", "big", str(start), str(end))
        diff("BITCOUNT", "big", str(start * 8 + 3), str(end * 8 - 2), "BIT")


# -------------------------------------------------------------------------- BITPOS


def test_bitpos_grid(diff):
    values = {
        "s": b"\xff\xf0\x00\x0f\xff",
        "zeros": b"\x00\x00\x00",
        "ones": b"\xff\xff\xff",
        "mixed": b"\x00\xff\x7f\x80",
        "empty": b"",
    }
    for key, value in values.items():
        diff("SET", key, value)
    points = ["0", "1", "2", "3", "7", "8", "9", "15", "17", "24", "39", "-1", "-2", "-9", "-30", LLONG_MAX, LLONG_MIN]
    for key in values:
        for bit in ("0", "1"):
            diff("BITPOS", key, bit)
            for start in points:
                diff("BITPOS", key, bit, start)
                for end in points:
                    diff("BITPOS", key, bit, start, end)
                    diff("BITPOS", key, bit, start, end, "BIT")
            diff("BITPOS", key, bit, "1", "2", "BYTE")


def test_bitpos_long_runs(diff):
    diff("SETBIT", "z", str(8 * 70_000 + 5), "1")  # 70000 zero bytes, then a set bit
    diff("BITPOS", "z", "1")
    diff("BITPOS", "z", "1", "5000", "-1")
    diff("BITPOS", "z", "1", "8", str(8 * 70_000 + 4), "BIT")
    diff("BITPOS", "z", "0", "5")
    diff("BITOP", "NOT", "o", "z")  # 70000 0xff bytes, then one clear bit
    diff("BITPOS", "o", "0")
    diff("BITPOS", "o", "0", "0", "69999")
    diff("BITPOS", "o", "0", "1")
    diff("BITPOS", "o", "1", "-3")


def test_bitpos_errors(diff):
    diff("SET", "s", "foo")
    for bit in ("2", "-1", "x", "", "1.0"):
        diff("BITPOS", "s", bit)
        diff("BITPOS", "missing", bit)
    diff("BITPOS", "missing", "1", "x")  # missing key: -1 / 0 before the range is read
    diff("BITPOS", "missing", "0", "x", "y", "z", "w")
    diff("BITPOS", "s", "1", "x")
    diff("BITPOS", "s", "1", "0", "y")
    diff("BITPOS", "s", "1", "x", "y", "z")
    diff("BITPOS", "s", "1", "0", "y", "z")  # the unit is checked before the end
    diff("BITPOS", "s", "1", "0", "1", "BITS")
    diff("BITPOS", "s", "1", "0", "1", "BIT", "x")
    diff("RPUSH", "list", "x")
    diff("BITPOS", "list", "1")
    diff("BITPOS", "list", "2")
    diff("BITPOS", "s")


# --------------------------------------------------------------------------- BITOP


def test_bitop_operations(diff):
    diff("SET", "a", b"\xff\x0f\x33")
    diff("SET", "b", b"\xf0\xff")
    diff("SET", "c", b"\x01\x02\x03\x04\x05")
    for op in ("AND", "OR", "XOR", "and", "Or", "xOr"):
        diff("BITOP", op, "dest", "a", "b", "c")
        diff("GET", "dest")
        diff("BITOP", op, "dest", "a", "missing")
        diff("GET", "dest")
        diff("BITOP", op, "dest", "a")
        diff("GET", "dest")
    diff("BITOP", "NOT", "dest", "c")
    diff("GET", "dest")
    diff("BITOP", "not", "dest", "dest")
    diff("GET", "dest")
    diff("BITOP", "AND\x00junk", "dest", "a")  # the operation is compared as a C string
    diff("GET", "dest")
    diff("OBJECT", "ENCODING", "dest")  # Redis stores the result raw, however short


def test_bitop_long_inputs(diff):
    rng = random.Random(3)
    lengths = (40, 33, 64, 100, 5000)
    for i, length in enumerate(lengths):
        diff("SET", f"k{i}", bytes(rng.getrandbits(8) for _ in range(length)))
    keys = [f"k{i}" for i in range(len(lengths))]
    for op in ("AND", "OR", "XOR"):
        diff("BITOP", op, "dest", *keys)
        diff("GET", "dest")
        diff("BITOP", op, "dest", *keys[:3])
        diff("GET", "dest")
    diff("BITOP", "NOT", "dest", "k4")
    diff("GET", "dest")


def test_bitop_destination(diff):
    diff("SET", "src", "abc")
    diff("SET", "dest", "old", "EX", "1000")
    diff("BITOP", "OR", "dest", "src")
    diff.ttl("dest")  # replaced: the TTL is gone
    diff("RPUSH", "dest2", "x")
    diff("BITOP", "OR", "dest2", "src")  # any type is replaced
    diff("TYPE", "dest2")
    diff("SET", "empty", "")
    diff("BITOP", "AND", "dest", "missing", "empty")  # every source empty: dest deleted
    diff("EXISTS", "dest")
    diff("BITOP", "AND", "dest", "missing")
    diff("BITOP", "NOT", "dest", "missing")


def test_bitop_errors(diff):
    diff("SET", "a", "x")
    diff("BITOP", "NAND", "dest", "a")
    diff("BITOP", "", "dest", "a")
    diff("BITOP", "NOT", "dest", "a", "a")
    diff("BITOP", "NOT\x00", "dest", "a", "b")
    diff("BITOP", "NOOP", "dest", "a", "a")
    diff("RPUSH", "list", "x")
    diff("BITOP", "AND", "dest", "a", "list")
    diff("BITOP", "AND", "list", "a")  # a destination of another type is replaced
    diff("TYPE", "list")
    diff("BITOP", "AND", "dest")
    diff("BITOP", "AND")
    diff("EXISTS", "dest")


# ------------------------------------------------------------------------ BITFIELD


def test_bitfield_basics(diff):
    diff("BITFIELD", "bf", "SET", "i8", "0", "100", "GET", "i8", "0", "INCRBY", "u4", "#3", "7", "GET", "u16", "0")
    diff("GET", "bf")
    diff("BITFIELD", "bf")
    diff("BITFIELD", "missing")
    diff("BITFIELD", "missing", "GET", "u8", "0", "GET", "i64", "100")
    diff("EXISTS", "missing")
    diff("BITFIELD", "bf", "get", "i5", "3", "Set", "u7", "#2", "200", "incrBY", "i64", "40", LLONG_MAX)
    diff("GET", "bf")
    diff("BITFIELD_RO", "bf", "GET", "i64", "0", "GET", "u63", "#1", "GET", "i1", "7")
    diff("BITFIELD_RO", "bf")
    diff("BITFIELD_RO", "missing", "GET", "u8", "0")


OVERFLOW_CASES = [
    ("u8", "250", "10"), ("u8", "5", "-10"), ("u8", "255", "1"), ("u8", "0", "-1"),
    ("i8", "120", "10"), ("i8", "-120", "-10"), ("i8", "127", "1"), ("i8", "-128", "-1"),
    ("u1", "1", "1"), ("i1", "0", "-1"), ("i1", "-1", "1"), ("i1", "0", "1"),
    ("u63", "9223372036854775806", "5"), ("u63", "3", LLONG_MIN),
    ("i64", LLONG_MAX, "1"), ("i64", LLONG_MIN, "-1"), ("i64", "-5", LLONG_MIN), ("i64", "5", LLONG_MAX),
    ("i64", "-1", LLONG_MAX), ("i64", "0", LLONG_MIN), ("i63", "-5", LLONG_MAX), ("i2", "1", LLONG_MIN),
    ("u13", "8191", LLONG_MAX), ("i13", "0", "-9000"),
]


@pytest.mark.parametrize("overflow", ["WRAP", "SAT", "FAIL", "sat"])
def test_bitfield_overflow(diff, overflow):
    for field, start, incr in OVERFLOW_CASES:
        diff("DEL", "bf")
        diff("BITFIELD", "bf", "OVERFLOW", overflow, "SET", field, "5", start, "INCRBY", field, "5", incr, "GET", field, "5")
        diff("GET", "bf")
        # SET itself checks the value against the field's range.
        diff("BITFIELD", "bf", "OVERFLOW", overflow, "SET", field, "5", incr, "GET", field, "5")
        diff("BITFIELD", "bf", "OVERFLOW", overflow, "SET", field, "5", LLONG_MIN, "SET", field, "0", "-1")
        diff("GET", "bf")


def test_bitfield_overflow_applies_to_later_operations_only(diff):
    diff("BITFIELD", "bf", "SET", "u8", "0", "255", "INCRBY", "u8", "0", "10", "OVERFLOW", "SAT",
         "INCRBY", "u8", "0", "300", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1", "OVERFLOW", "WRAP",
         "INCRBY", "u8", "0", "1")
    diff("GET", "bf")


def test_bitfield_offsets(diff):
    for offset in ("0", "1", "7", "8", "13", "#0", "#1", "#7", "#100", "100000"):
        diff("BITFIELD", "bf", "SET", "i13", offset, "-1234", "GET", "i13", offset, "GET", "u9", offset)
    diff("GET", "bf")
    for offset in ("-1", "#-1", "x", "#", "##1", "#x", "", LLONG_MAX, "#" + LLONG_MAX, "4294967296",
                   "#536870912", "#144115188075855872", "#1152921504606846976"):
        diff("BITFIELD", "bf", "GET", "u8", offset)
        diff("BITFIELD", "bf", "SET", "i64", offset, "1")
    diff("BITFIELD", "bf", "GET", "i64", "#2305843009213693952")  # 2**61 * 64 wraps to 0 in C
    diff("BITFIELD", "bf", "GET", "u2", "#4611686018427387904")  # 2**62 * 2 wraps negative


def test_bitfield_errors(diff):
    diff("SET", "s", "abc")
    for field in ("u64", "i65", "i0", "u0", "x8", "I8", "U8", "", "i", "u-1", "i 8", "i08", "u8\x00junk", "i1.5"):
        diff("BITFIELD", "s", "GET", field, "0")
        diff("BITFIELD_RO", "s", "GET", field, "0")
    diff("BITFIELD", "s", "SET", "i8", "0")
    diff("BITFIELD", "s", "SET", "i8", "0", "x")
    diff("BITFIELD", "s", "SET", "i8", "0", "1.5")
    diff("BITFIELD", "s", "INCRBY", "i8", "0", "99999999999999999999")
    diff("BITFIELD", "s", "GET", "i8")
    diff("BITFIELD", "s", "GET")
    diff("BITFIELD", "s", "FOO", "i8", "0")
    diff("BITFIELD", "s", "OVERFLOW")
    diff("BITFIELD", "s", "OVERFLOW", "SATURATE")
    diff("BITFIELD", "s", "OVERFLOW", "wrap\x00x", "GET", "u8", "0")
    diff("BITFIELD", "s", "GET", "u8", "0", "SET", "u8", "0")  # a bad tail fails the whole command
    diff("BITFIELD", "s", "SET", "u8", "0", "1", "GET", "x8", "0")
    diff("GET", "s")
    diff("BITFIELD_RO", "s", "SET", "u8", "0", "1")
    diff("BITFIELD_RO", "s", "INCRBY", "u8", "0", "1")
    diff("BITFIELD_RO", "s", "GET", "u8", "0", "OVERFLOW", "SAT")
    diff("BITFIELD_RO", "s", "SET", "u8", "0", "x")  # argument errors come first
    diff("BITFIELD_RO", "s", "FOO")
    diff("RPUSH", "list", "x")
    diff("BITFIELD", "list", "GET", "u8", "0")
    diff("BITFIELD", "list", "SET", "u8", "0", "1")
    diff("BITFIELD", "list")
    diff("BITFIELD_RO", "list", "GET", "u8", "0")
    diff("BITFIELD_RO", "list", "SET", "u8", "0", "1")
    diff("BITFIELD", "list", "GET", "u64", "0")
    diff("BITFIELD")
    diff("BITFIELD_RO")
    diff("GET", "s")


# ---------------------------------------------------------- random sequences


def _random_field(rng: random.Random) -> tuple[str, int]:
    if rng.random() < 0.5:
        bits = rng.randint(1, 64)
        return f"i{bits}", bits
    bits = rng.randint(1, 63)
    return f"u{bits}", bits


def _random_number(rng: random.Random, bits: int) -> str:
    choice = rng.random()
    if choice < 0.3:
        return str(rng.randint(-(2**63), 2**63 - 1))
    if choice < 0.5:
        return str(rng.choice([0, 1, -1, 2**bits - 1, 2**bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1]))
    return str(rng.randint(-(2 ** min(bits, 62)), 2 ** min(bits, 62)))


def _random_bitfield(rng: random.Random) -> list[str]:
    args: list[str] = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.15:
            args += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"])]
            continue
        field, bits = _random_field(rng)
        offset = f"#{rng.randint(0, 12)}" if rng.random() < 0.3 else str(rng.randint(0, 300))
        if kind < 0.4:
            args += ["GET", field, offset]
        elif kind < 0.7:
            args += ["SET", field, offset, _random_number(rng, bits)]
        else:
            args += ["INCRBY", field, offset, _random_number(rng, bits)]
    return args


@pytest.mark.parametrize("seed", range(4))
def test_random_bit_command_sequences(diff, seed):
    rng = random.Random(seed)
    keys = ["a", "b", "c"]
    for _ in range(400):
        key = rng.choice(keys)
        roll = rng.random()
        if roll < 0.35:
            diff("BITFIELD", key, *_random_bitfield(rng))
        elif roll < 0.55:
            diff("SETBIT", key, str(rng.randint(0, 400)), str(rng.randint(0, 1)))
        elif roll < 0.65:
            diff("BITOP", rng.choice(["AND", "OR", "XOR"]), key, *rng.sample(keys, rng.randint(1, 3)))
        elif roll < 0.7:
            diff("BITOP", "NOT", key, rng.choice(keys))
        elif roll < 0.75:
            diff("SETRANGE", key, str(rng.randint(0, 60)), bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 5))))
        elif roll < 0.8:
            diff("APPEND", key, bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 5))))
        elif roll < 0.85:
            diff("BITCOUNT", key, str(rng.randint(-60, 60)), str(rng.randint(-60, 60)), rng.choice(["BIT", "BYTE"]))
        elif roll < 0.9:
            diff("BITPOS", key, str(rng.randint(0, 1)), str(rng.randint(-60, 60)), str(rng.randint(-60, 60)), rng.choice(["BIT", "BYTE"]))
        elif roll < 0.93:
            diff("DEL", key)
        else:
            diff("BITFIELD_RO", key, "GET", *_random_field(rng)[:1], str(rng.randint(0, 500)))
    for key in keys:
        diff("GET", key)
        diff("BITCOUNT", key)


# ------------------------------------------------------------ offsets and limits


class EmbeddedPair:
    """redis-server and an embedded tandemkv instance, for a lowered proto-max-bulk-len (set
    with CONFIG SET on Redis and on the config object here)."""

    def __init__(self, redis_port: int, resp: int, max_bulk_len: int) -> None:
        self.client = RawClient(redis_port)
        self.client.call("HELLO", str(resp))
        self.client.call("FLUSHALL")
        self.client.call("CONFIG", "SET", "proto-max-bulk-len", str(max_bulk_len))
        self.instance = Instance()
        self.instance.config.set("proto-max-bulk-len", str(max_bulk_len).encode())
        self.session = self.instance.new_session()
        self.session.resp = resp
        self.resp = resp

    def __call__(self, *args: str) -> bytes:
        theirs = self.client.call(*args)
        ours = encode(execute(self.session, [a.encode() for a in args]), self.resp)
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def close(self) -> None:
        self.client.call("CONFIG", "SET", "proto-max-bulk-len", str(512 * 1024**2))
        self.client.call("FLUSHALL")
        self.client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def small_bulk(request: pytest.FixtureRequest, redis_port: int) -> Iterator[EmbeddedPair]:
    pair = EmbeddedPair(redis_port, request.param, 1024 * 1024)
    yield pair
    pair.close()


def test_offsets_are_bounded_by_proto_max_bulk_len(small_bulk):
    last_bit = 8 * 1024 * 1024 - 1
    small_bulk("SETBIT", "k", str(last_bit + 1), "1")
    small_bulk("GETBIT", "k", str(last_bit + 1))
    small_bulk("BITFIELD", "k", "GET", "u8", str(last_bit + 1))
    small_bulk("BITFIELD", "k", "SET", "u8", f"#{1024 * 1024}", "1")
    small_bulk("EXISTS", "k")
    small_bulk("SETBIT", "k", str(last_bit), "1")
    small_bulk("STRLEN", "k")
    small_bulk("GETBIT", "k", str(last_bit))
    small_bulk("BITFIELD", "k", "GET", "u8", str(last_bit - 7), "SET", "u8", f"#{1024 * 1024 - 1}", "3")
    small_bulk("BITFIELD", "k", "INCRBY", "i16", str(last_bit - 2), "1")  # reaches one byte further, as in Redis
    small_bulk("STRLEN", "k")
    small_bulk("BITCOUNT", "k")


# ------------------------------------------------------------------ keyspace events


def test_keyspace_events(events):
    events("SETBIT", "k", "3", "1")  # created
    events("SETBIT", "k", "3", "1")  # no change: no event
    events("SETBIT", "k", "3", "0")
    events("SETBIT", "k", "100", "0")  # grew
    events("BITFIELD", "b", "SET", "u8", "0", "5")  # created
    events("BITFIELD", "b", "SET", "u8", "0", "5")  # no change
    events("BITFIELD", "b", "INCRBY", "u8", "0", "0", "SET", "u8", "8", "1", "INCRBY", "u8", "0", "1")
    events("BITFIELD", "b", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000")
    events("BITFIELD", "b", "GET", "u8", "0")
    events("BITFIELD_RO", "b", "GET", "u8", "0")
    events("BITOP", "OR", "d", "k", "b")
    events("BITOP", "AND", "d", "missing")  # deleted
    events("BITOP", "AND", "d", "missing")  # nothing to delete
    events("BITOP", "NOT", "d2", "k")
    ours, theirs = events.events()
    assert ours == theirs


def test_dirty_counts_every_change(diff):
    def changes() -> int:
        ours, theirs = diff.both("INFO", "persistence")
        field = b"rdb_changes_since_last_save:"
        values = [int(reply.split(field)[1].split(b"\r\n")[0]) for reply in (ours, theirs)]
        return values[0] - values[1]

    base = changes()
    diff("BITFIELD", "b", "SET", "u8", "0", "5", "SET", "u8", "8", "5", "INCRBY", "u4", "0", "1")
    diff("BITFIELD", "b", "SET", "u8", "0", "6", "SET", "u8", "8", "5", "INCRBY", "u4", "0", "0")
    diff("SETBIT", "b", "0", "1")
    diff("SETBIT", "b", "0", "1")
    assert changes() == base


# ---------------------------------------- strings changed in place by bit commands


def test_string_commands_read_a_changed_bitmap(diff):
    diff("SET", "k", "hello world")
    diff("SETBIT", "k", "2", "0")
    diff("GET", "k")
    diff("STRLEN", "k")
    diff("GETRANGE", "k", "1", "4")
    diff("GETRANGE", "k", "-3", "-1")
    diff("SUBSTR", "k", "0", "100")
    diff("MGET", "k", "missing", "k")
    diff("TYPE", "k")
    diff("OBJECT", "ENCODING", "k")
    diff("EXISTS", "k")
    diff("SET", "other", "hollow word")
    diff("LCS", "k", "other")
    diff("LCS", "other", "k", "IDX", "WITHMATCHLEN")
    diff("GETEX", "k", "EX", "100")
    diff.ttl("k")
    diff("SET", "k", "new", "GET")
    diff("SETBIT", "k", "1", "1")
    diff("GETSET", "k", "v2")
    diff("SETBIT", "k", "1", "1")
    diff("GETDEL", "k")
    diff("EXISTS", "k")


def test_in_place_writes_of_other_string_commands(diff):
    diff("SETBIT", "k", "0", "1")
    diff("APPEND", "k", "abc")
    diff("GET", "k")
    diff("SETRANGE", "k", "2", "XY")
    diff("SETRANGE", "k", "10", "Z")
    diff("SETRANGE", "k", "1", "")
    diff("GET", "k")
    diff("OBJECT", "ENCODING", "k")
    diff("SETBIT", "n", "2", "1")
    diff("SETBIT", "n", "3", "1")
    diff("SETBIT", "n", "7", "1")  # "1"
    diff("INCR", "n")
    diff("GET", "n")
    diff("OBJECT", "ENCODING", "n")
    diff("SETBIT", "n", "15", "0")
    diff("INCRBYFLOAT", "n", "1.5")
    diff("SETBIT", "n", "0", "1")
    diff("INCRBY", "n", "1")
    diff("INCRBYFLOAT", "n", "1")


def test_append_and_setrange_leave_a_raw_string(diff):
    diff("SET", "k", "12")
    diff("APPEND", "k", "3")
    diff("OBJECT", "ENCODING", "k")
    diff("GET", "k")
    diff("APPEND", "new", "12")  # a new key: encoded by its content
    diff("OBJECT", "ENCODING", "new")
    diff("SETRANGE", "r", "0", "12")
    diff("OBJECT", "ENCODING", "r")
    diff("SET", "i", "1234")
    diff("SETRANGE", "i", "0", "")
    diff("OBJECT", "ENCODING", "i")
    diff("SETRANGE", "i", "5", "2")
    diff("OBJECT", "ENCODING", "i")
    diff("GET", "i")
    diff("SET", "e", "x", "EX", "1000")
    diff("APPEND", "e", "y" * 100)
    diff("SETRANGE", "e", "200", "z")
    diff.ttl("e")
    diff("GET", "e")
    diff("INCR", "r")
    diff("OBJECT", "ENCODING", "r")


def test_copy_does_not_share_a_bitmap(diff):
    diff("SETBIT", "src", "0", "1")
    diff("COPY", "src", "dst")
    diff("SETBIT", "src", "1", "1")
    diff("BITFIELD", "dst", "SET", "u8", "8", "255")
    diff("GET", "src")
    diff("GET", "dst")
    diff("OBJECT", "ENCODING", "dst")
    diff("RENAME", "dst", "renamed")
    diff("SETBIT", "renamed", "20", "1")
    diff("GET", "renamed")


def test_dump_restore_of_a_bitmap(diff):
    diff("SETBIT", "k", "300", "1")
    diff("BITFIELD", "k", "SET", "i32", "0", "-7")
    payload = diff("DUMP", "k")
    diff("DEL", "k")
    body = payload.split(b"\r\n", 1)[1][:-2]
    diff("RESTORE", "k", "0", body)
    diff("GET", "k")
    diff("SETBIT", "k", "2", "1")
    diff("GET", "k")


def test_sort_reads_bitmaps_by_pattern(diff):
    diff("RPUSH", "ids", "1", "2", "3")
    for i, weight in ((1, 0x33), (2, 0x31), (3, 0x32)):
        diff("SETBIT", f"w_{i}", "0", "0")
        diff("BITFIELD", f"w_{i}", "SET", "u8", "0", str(weight))
    diff("SORT", "ids", "BY", "w_*")
    diff("SORT", "ids", "BY", "w_*", "GET", "w_*", "GET", "#")


def test_transaction_replies_are_snapshots(diff):
    diff("SETBIT", "k", "0", "1")
    diff("MULTI")
    diff("GET", "k")
    diff("SETBIT", "k", "1", "1")
    diff("GETRANGE", "k", "0", "0")
    diff("MGET", "k")
    diff("APPEND", "k", "x")
    diff("GET", "k")
    diff("EXEC")


def test_scripts_read_a_bitmap(diff):
    diff("SETBIT", "k", "1", "1")
    diff("EVAL", "redis.call('SETBIT', KEYS[1], 7, 1); return redis.call('GET', KEYS[1])", "1", "k")
    diff("EVAL", "return redis.call('BITFIELD', KEYS[1], 'INCRBY', 'u8', 0, 10)", "1", "k")
    diff("EVAL", "return redis.call('STRLEN', KEYS[1])", "1", "k")


def test_watch_sees_bit_changes(diff, tandem_port, redis_port):
    others = (RawClient(tandem_port), RawClient(redis_port))
    try:
        for command in (("SETBIT", "w", "0", "1"), ("BITFIELD", "w", "INCRBY", "u8", "0", "1"), ("BITOP", "NOT", "w", "w")):
            diff("WATCH", "w")
            for other in others:
                other.call(*command)
            diff("MULTI")
            diff("GET", "w")
            diff("EXEC")
        diff("SETBIT", "w", "0", "0")
        diff("WATCH", "w")
        for other in others:
            other.call("SETBIT", "w", "0", "0")  # no change: EXEC runs
        diff("MULTI")
        diff("PING")
        diff("EXEC")
    finally:
        for other in others:
            other.close()


def test_command_info(diff):
    """Name, arity, flags, key positions, ACL categories and tips (tandemkv has no key specs)."""
    for name in ("setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro"):
        ours, theirs = (_parse(reply)[0][:8] for reply in diff.both("COMMAND", "INFO", name))
        assert ours == theirs
