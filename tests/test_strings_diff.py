"""String commands against redis-server, byte for byte, in RESP2 and RESP3.

Hand-written cases per command (valid and invalid arguments), every SET option combination,
a hypothesis-generated sequence test over a small key space, INCRBYFLOAT over many generated
numbers, WRONGTYPE cases against an embedded instance, and the keyspace events of a command
sequence compared over PSUBSCRIBE on both servers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandemkv.commands import Instance, execute
from tandemkv.protocol import encode
from tandemkv.values import ListValue
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop
from tests.resp import RawClient

LLONG_MAX = "9223372036854775807"
LLONG_MIN = "-9223372036854775808"
FUTURE_S = "4102444800"  # 2100-01-01
FUTURE_MS = "4102444800000"

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")


# ------------------------------------------------------------------ GET / SET


def test_get_set_basics(diff):
    diff("GET", "k")
    diff("SET", "k", "v")
    diff("GET", "k")
    diff("SET", "k", "")
    diff("GET", "k")
    diff("SET", "bin", b"\x00\r\n\xff")
    diff("GET", "bin")
    diff("GET")
    diff("GET", "a", "b")
    diff("SET", "k")


SET_OPTIONS = [
    ("NX",),
    ("XX",),
    ("GET",),
    ("KEEPTTL",),
    ("EX", "100"),
    ("PX", "100000"),
    ("EXAT", FUTURE_S),
    ("PXAT", FUTURE_MS),
    ("EX", "0"),
    ("PERSIST",),
    ("ex", "abc"),
    ("EX",),
]


def test_set_every_option_combination(diff):
    """All ordered pairs of options (and each alone), on a missing, a plain and a volatile key."""
    combos = [()] + [(o,) for o in SET_OPTIONS] + list(itertools.permutations(SET_OPTIONS, 2))
    for combo in combos:
        args = [word for option in combo for word in option]
        for setup in ((), ("SET", "k", "old"), ("SET", "k", "old", "EX", "1000")):
            diff("DEL", "k")
            if setup:
                diff(*setup)
            diff("SET", "k", "new", *args)
            diff("GET", "k")
            diff.ttl("k")


def test_set_option_edge_cases(diff):
    diff("SET", "k", "v", "NX\x00junk")  # Redis compares options as C strings
    diff("SET", "k", "v", "xx", "get\x00")
    diff("SET", "k", "v", "EX", "10", "EX", "20")
    diff.ttl("k")
    diff("SET", "k", "v", "EX", "10", "PX", "20")
    diff("SET", "k", "v", "NX", "NX")
    diff("SET", "k", "v", "GET", "GET")
    diff("SET", "k", "v", "KEEPTTL", "KEEPTTL")
    diff("SET", "k", "v", "EX", "9223372036854775")
    diff("SET", "k", "v", "EX", "9223372036854776")
    diff("SET", "k", "v", "PX", LLONG_MAX)
    diff("SET", "k", "v", "PXAT", LLONG_MAX)
    diff("SET", "k", "v", "EXAT", "9223372036854775")
    diff("SET", "k", "v", "EX", "-1")
    diff("SET", "k", "v", "PX", "1.5")
    diff("SET", "k", "v", "EX", " 1")
    diff("SET", "k", "v", "EXTRA")
    diff("SET", "k", "v", "EX", "100")
    diff("SET", "k", "v2", "KEEPTTL")
    diff.ttl("k")
    diff("SET", "k", "v3")
    diff.ttl("k")
    diff("SET", "k", "v", "NX", "GET")
    diff("SET", "k2", "v", "NX", "GET")
    diff("SET", "k3", "v", "XX", "GET")
    diff("GET", "k3")


def test_set_past_absolute_deadline(diff):
    diff("SET", "k", "v", "EXAT", "1")
    diff("GET", "k")
    diff("SET", "k", "v", "PXAT", "1")
    diff("EXISTS", "k")


# ----------------------------------------------------- SETNX, SETEX, PSETEX


def test_setnx(diff):
    diff("SETNX", "k", "v")
    diff("SETNX", "k", "w")
    diff("GET", "k")
    diff("SETNX", "k")
    diff("SETNX", "k", "v", "x")


def test_setex_psetex(diff):
    diff("SETEX", "k", "100", "v")
    diff("GET", "k")
    diff.ttl("k")
    diff("PSETEX", "p", "100000", "v")
    diff.ttl("p")
    for name in ("SETEX", "PSETEX"):
        diff(name, "k", "0", "v")
        diff(name, "k", "-5", "v")
        diff(name, "k", "abc", "v")
        diff(name, "k", "1.5", "v")
        diff(name, "k", "", "v")
        diff(name, "k", LLONG_MAX, "v")
        diff(name, "k", LLONG_MIN, "v")
        diff(name, "k", "100")
        diff(name, "k", "100", "v", "x")
    diff("SETEX", "k", "9223372036854775", "v")
    diff("SETEX", "k", "9223372036854776", "v")
    diff("GET", "k")


# ------------------------------------------------- GETSET, GETDEL, GETEX


def test_getset(diff):
    diff("GETSET", "k", "v")
    diff("GETSET", "k", "w")
    diff("GET", "k")
    diff("SET", "t", "v", "EX", "100")
    diff("GETSET", "t", "w")
    diff.ttl("t")
    diff("GETSET", "k")


def test_getdel(diff):
    diff("GETDEL", "k")
    diff("SET", "k", "v")
    diff("GETDEL", "k")
    diff("EXISTS", "k")
    diff("GETDEL", "k", "x")


def test_getex(diff):
    diff("GETEX", "missing")
    diff("GETEX", "missing", "EX", "abc")  # the value is checked only once the key is found
    diff("GETEX", "missing", "EX", "0")
    diff("GETEX", "missing", "BADOPT")  # ...but the syntax before the lookup
    diff("SET", "k", "v")
    diff("GETEX", "k")
    diff.ttl("k")
    diff("GETEX", "k", "EX", "100")
    diff.ttl("k")
    diff("GETEX", "k", "PX", "200000")
    diff.ttl("k")
    diff("GETEX", "k", "EXAT", FUTURE_S)
    diff.ttl("k")
    diff("GETEX", "k", "PXAT", FUTURE_MS)
    diff.ttl("k")
    diff("GETEX", "k", "PERSIST")
    diff.ttl("k")
    diff("GETEX", "k", "PERSIST")
    diff("GETEX", "k", "EX", "0")
    diff("GETEX", "k", "EX", "-1")
    diff("GETEX", "k", "EX", "abc")
    diff("GETEX", "k", "EX", "9223372036854776")
    diff("GETEX", "k", "PX", LLONG_MAX)
    diff("GETEX", "k", "EX")
    diff("GETEX", "k", "EX", "10", "PX", "10")
    diff("GETEX", "k", "EX", "10", "EX", "20")
    diff.ttl("k")
    diff("GETEX", "k", "PERSIST", "EX", "10")
    diff("GETEX", "k", "EX", "10", "PERSIST")
    diff("GETEX", "k", "KEEPTTL")
    diff("GETEX", "k", "NX")
    diff("GETEX", "k", "GET")
    diff("GETEX", "k", "persist\x00x")
    diff("GETEX", "k", "EXAT", "1")  # already past: the key is deleted
    diff("EXISTS", "k")
    diff("SET", "k", "v")
    diff("GETEX", "k", "PXAT", "1")
    diff("EXISTS", "k")
    diff("GETEX")


# --------------------------------------------------------- MGET, MSET, MSETNX


def test_mget_mset_msetnx(diff):
    diff("MGET", "a", "b")
    diff("MSET", "a", "1", "b", "2")
    diff("MGET", "a", "b", "c", "a")
    diff("MSET", "a", "x", "a", "y")
    diff("GET", "a")
    diff("MSET", "a")
    diff("MSET", "a", "1", "b")
    diff("MSET")
    diff("MGET")
    diff("MSETNX", "a", "1", "z", "2")
    diff("EXISTS", "z")
    diff("MSETNX", "y", "1", "z", "2")
    diff("MGET", "y", "z")
    diff("MSETNX", "n", "1", "n", "2")
    diff("GET", "n")
    diff("MSETNX", "q")
    diff("MSETNX", "q", "1", "r")
    diff("SET", "t", "v", "EX", "100")
    diff("MSET", "t", "w")
    diff.ttl("t")


# ---------------------------------------------------------- APPEND, STRLEN


def test_append_strlen(diff):
    diff("STRLEN", "k")
    diff("APPEND", "k", "hello")
    diff("APPEND", "k", " world")
    diff("GET", "k")
    diff("STRLEN", "k")
    diff("APPEND", "k", "")
    diff("APPEND", "e", "")
    diff("EXISTS", "e")
    diff("STRLEN", "e")
    diff("SET", "t", "v", "EX", "100")
    diff("APPEND", "t", "w")
    diff.ttl("t")
    diff("SET", "n", "12")
    diff("APPEND", "n", "34")
    diff("INCR", "n")
    diff("APPEND", "k")
    diff("STRLEN")
    diff("STRLEN", "a", "b")


# ------------------------------------------------------- GETRANGE, SUBSTR


def test_getrange_substr(diff):
    diff("SET", "k", "Hello World")
    diff("SET", "e", "")
    for name in ("GETRANGE", "SUBSTR"):
        for start, end in itertools.product(
            ["0", "1", "3", "-1", "-3", "-100", "100", LLONG_MIN, LLONG_MAX], repeat=2
        ):
            diff(name, "k", start, end)
        diff(name, "e", "0", "-1")
        diff(name, "e", "-1", "0")
        diff(name, "missing", "0", "-1")
        diff(name, "missing", "x", "-1")
        diff(name, "k", "1.5", "2")
        diff(name, "k", "0", "9223372036854775808")
        diff(name, "k", "0")


# ---------------------------------------------------------------- SETRANGE


def test_setrange(diff):
    diff("SETRANGE", "k", "0", "")
    diff("EXISTS", "k")
    diff("SETRANGE", "k", "5", "abc")
    diff("GET", "k")
    diff("SETRANGE", "k", "0", "XY")
    diff("SETRANGE", "k", "7", "long tail")
    diff("SETRANGE", "k", "20", "z")
    diff("GET", "k")
    diff("SETRANGE", "k", "3", "")
    diff("SETRANGE", "k", "-1", "x")
    diff("SETRANGE", "k", "-1", "")
    diff("SETRANGE", "k", "x", "y")
    diff("SETRANGE", "k", LLONG_MAX, "y")
    diff("SETRANGE", "k", "536870911", "ab")
    diff("SETRANGE", "new", "536870911", "ab")
    diff("SETRANGE", "new", "536870911", "")
    diff("SETRANGE", "new", "536870912", "")
    diff("SET", "t", "v", "EX", "100")
    diff("SETRANGE", "t", "1", "w")
    diff.ttl("t")
    diff("SET", "n", "100")
    diff("SETRANGE", "n", "0", "2")
    diff("INCR", "n")
    diff("SETRANGE", "k", "0")


# --------------------------------------------------------------- counters


def test_incr_decr(diff):
    diff("INCR", "n")
    diff("INCR", "n")
    diff("DECR", "n")
    diff("DECR", "m")
    diff("INCRBY", "n", "10")
    diff("INCRBY", "n", "-25")
    diff("DECRBY", "n", "7")
    diff("DECRBY", "n", "-7")
    diff("GET", "n")
    diff("SET", "t", "5", "EX", "100")
    diff("INCR", "t")
    diff.ttl("t")
    diff("INCR")
    diff("INCR", "a", "b")
    diff("INCRBY", "n")
    diff("DECRBY", "n")


def test_incr_on_non_integers(diff):
    for value in [
        " 12",
        "12 ",
        "012",
        "+12",
        "-0",
        "1.5",
        "1e3",
        "",
        "abc",
        "0x10",
        "12\x00",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "\uff11\uff12",
    ]:
        diff("SET", "v", value)
        diff("INCR", "v")
        diff("DECRBY", "v", "1")
        diff("GET", "v")


def test_incr_overflow(diff):
    diff("SET", "n", LLONG_MAX)
    diff("INCR", "n")
    diff("INCRBY", "n", "0")
    diff("DECR", "n")
    diff("INCRBY", "n", "2")
    diff("SET", "n", LLONG_MIN)
    diff("DECR", "n")
    diff("DECRBY", "n", "1")
    diff("INCRBY", "n", LLONG_MIN)
    diff("INCRBY", "n", LLONG_MAX)
    diff("DECRBY", "n", LLONG_MIN)
    diff("DECRBY", "missing", LLONG_MIN)
    diff("EXISTS", "missing")
    diff("DECRBY", "missing", LLONG_MAX)
    diff("INCRBY", "x", LLONG_MIN)
    diff("DECRBY", "x", "1")


def test_incrby_bad_increments(diff):
    for increment in [
        "1.5",
        "",
        " 1",
        "1 ",
        "+1",
        "01",
        "-0",
        "abc",
        "9223372036854775808",
        "-9223372036854775809",
        "1e2",
    ]:
        diff("INCRBY", "n", increment)
        diff("DECRBY", "n", increment)
    diff("EXISTS", "n")


# ------------------------------------------------------------- INCRBYFLOAT


def test_incrbyfloat_documented_cases(diff):
    diff("SET", "f", "10.50")
    diff("INCRBYFLOAT", "f", "0.1")
    diff("INCRBYFLOAT", "f", "-5")
    diff("SET", "f", "5.0e3")
    diff("INCRBYFLOAT", "f", "2.0e2")
    diff("SET", "f", "10.5")
    diff("INCRBYFLOAT", "f", "0.1")
    diff("INCRBYFLOAT", "f", "3.0e3")
    diff("INCRBYFLOAT", "f", "-3010.6")
    diff("GET", "f")
    diff("INCRBYFLOAT", "new", "1")
    diff("SET", "t", "1", "EX", "100")
    diff("INCRBYFLOAT", "t", "1")
    diff.ttl("t")


def test_incrbyfloat_limits(diff):
    diff("SET", "f", "1e308")
    diff("INCRBYFLOAT", "f", "1e308")  # fine in a long double
    diff("SET", "f", "1e4932")
    diff("INCRBYFLOAT", "f", "1e4932")
    diff("GET", "f")
    diff("INCRBYFLOAT", "f", "1")
    diff("SET", "f", "1")
    for increment in [
        "inf",
        "-inf",
        "Infinity",
        "+INF",
        "nan",
        "-nan",
        "1e5000",
        "-1e5000",
        "1e-5000",
        "0e-5000",
        "1.2e4932",
        "1e4932",
        "0x1p-18",
        "-0x1p-18",
        "0x1.8p3",
        "0x.8",
        "0x",
        "0x1p",
        "1e",
        ".",
        ".5",
        "5.",
        " 1",
        "1 ",
        "1\x00",
        "",
        "+5",
        "-0",
        "1_0",
        "1e-4951",
        "3.6e-4951",
        "0x1p-16445",
        "0x1p-16446",
        "1" * 5119,
        "1" * 5120,
        "0." + "0" * 4000 + "1",
        "5e-18",
        "1.5e-17",
    ]:
        diff("INCRBYFLOAT", "f", increment)
        diff("SET", "f", "1")
    for value in ["inf", "nan", "abc", "", " 1", "0x10", "1e400"]:
        diff("SET", "f", value)
        diff("INCRBYFLOAT", "f", "1")
    diff("INCRBYFLOAT", "f")
    diff("INCRBYFLOAT", "f", "1", "2")


NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: f"{x:.6f}"),
    st.integers(-(10**30), 10**30).map(str),
    st.tuples(st.integers(-(10**6), 10**6), st.integers(-40, 40)).map(lambda p: f"{p[0]}e{p[1]}"),
    st.tuples(st.integers(0, 10**20), st.integers(0, 10**20)).map(lambda p: f"{p[0]}.{p[1]}"),
    st.sampled_from(
        [
            "0.1",
            "0.2",
            "0.3",
            "-0.1",
            "1e-17",
            "5e-18",
            "3.0e3",
            "10.5",
            "1e20",
            "123456789.987654321",
        ]
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(["f", "g"]), NUMBER_TEXT), min_size=1, max_size=12))
def test_incrbyfloat_generated(diff, steps):
    diff("DEL", "f", "g")
    for key, increment in steps:
        diff("INCRBYFLOAT", key, increment)


# -------------------------------------------------------------------- LCS


def test_lcs(diff):
    diff("MSET", "k1", "ohmytext", "k2", "mynewtext")
    diff("LCS", "k1", "k2")
    diff("LCS", "k1", "k2", "LEN")
    diff("LCS", "k1", "k2", "IDX")
    diff("LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4")
    diff("LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")
    diff("LCS", "k1", "k2", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "-3")
    diff("LCS", "k1", "k2", "WITHMATCHLEN")
    diff("LCS", "k1", "k2", "LEN", "WITHMATCHLEN", "MINMATCHLEN", "2")
    diff("LCS", "k1", "k2", "LEN", "IDX")
    diff("LCS", "k1", "k2", "idx", "len")
    diff("LCS", "k1", "k2", "len\x00", "idx")
    diff("LCS", "k1", "k2", "MINMATCHLEN")
    diff("LCS", "k1", "k2", "MINMATCHLEN", "x")
    diff("LCS", "k1", "k2", "MINMATCHLEN", "1.5", "LEN")
    diff("LCS", "k1", "k2", "BAD")
    diff("LCS", "k1", "k2", "LEN", "BAD", "IDX")
    diff("LCS", "k1", "missing")
    diff("LCS", "missing", "missing2", "IDX")
    diff("LCS", "k1", "k1", "IDX", "WITHMATCHLEN")
    diff("MSET", "n1", "12345", "n2", "2345")
    diff("LCS", "n1", "n2", "IDX")
    diff("LCS", "k1")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=24).map(lambda b: bytes(97 + x % 4 for x in b)),
    st.binary(max_size=24).map(lambda b: bytes(97 + x % 4 for x in b)),
    st.integers(0, 4),
)
def test_lcs_generated(diff, a, b, min_match_len):
    diff("MSET", "a", a, "b", b)
    diff("LCS", "a", "b")
    diff("LCS", "a", "b", "LEN")
    diff("LCS", "a", "b", "IDX", "WITHMATCHLEN", "MINMATCHLEN", str(min_match_len))


# --------------------------------------------------- generated sequences

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.one_of(
    st.sampled_from(
        ["", "0", "1", "-1", "10", "abc", "3.5", "1e3", " 1", "01", LLONG_MAX, LLONG_MIN]
    ),
    st.binary(max_size=6),
)
INTS = st.one_of(
    st.integers(-20, 20).map(str), st.sampled_from(["x", "1.5", "", LLONG_MAX, LLONG_MIN])
)
SET_OPTS = st.lists(
    st.sampled_from([("NX",), ("XX",), ("GET",), ("KEEPTTL",), ("EX", "100"), ("PX", "200000")]),
    max_size=2,
).map(lambda opts: [w for o in opts for w in o])
GETEX_OPTS = st.sampled_from([[], ["PERSIST"], ["EX", "100"], ["PXAT", FUTURE_MS], ["EXAT", "1"]])
LCS_OPTS = st.sampled_from([[], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN", "MINMATCHLEN", "2"]])

COMMANDS = st.one_of(
    st.tuples(st.just("SET"), KEYS, VALUES, SET_OPTS).map(lambda t: (*t[:3], *t[3])),
    st.tuples(st.sampled_from(["GET", "GETDEL", "STRLEN", "INCR", "DECR", "TTL"]), KEYS),
    st.tuples(st.sampled_from(["SETNX", "GETSET", "APPEND"]), KEYS, VALUES),
    st.tuples(st.just("SETEX"), KEYS, st.sampled_from(["100", "0"]), VALUES),
    st.tuples(st.just("GETEX"), KEYS, GETEX_OPTS).map(lambda t: (*t[:2], *t[2])),
    st.tuples(st.sampled_from(["INCRBY", "DECRBY"]), KEYS, INTS),
    st.tuples(st.just("INCRBYFLOAT"), KEYS, st.sampled_from(["0.1", "-2.5", "1e3", "x", "3"])),
    st.tuples(st.sampled_from(["GETRANGE", "SUBSTR"]), KEYS, INTS, INTS),
    st.tuples(st.just("SETRANGE"), KEYS, st.sampled_from(["0", "2", "7", "-1", "x"]), VALUES),
    st.lists(KEYS, min_size=1, max_size=4).map(lambda keys: ("MGET", *keys)),
    st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3).map(
        lambda pairs: ("MSET", *[w for p in pairs for w in p])
    ),
    st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3).map(
        lambda pairs: ("MSETNX", *[w for p in pairs for w in p])
    ),
    st.tuples(st.just("LCS"), KEYS, KEYS, LCS_OPTS).map(lambda t: (*t[:3], *t[3])),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(COMMANDS, min_size=1, max_size=25))
def test_generated_sequences(diff, commands):
    diff("FLUSHALL")
    for args in commands:
        diff(*args)
    diff("MGET", "a", "b", "c")


# ------------------------------------------------ against an embedded instance


class EmbeddedPair:
    """redis-server and an embedded tandemkv instance side by side, for states the wire cannot
    set up on tandemkv: a key of another type (planted directly in the keyspace) or a lowered
    proto-max-bulk-len (CONFIG SET on Redis, the config object here)."""

    def __init__(self, redis_port: int, resp: int) -> None:
        self.client = RawClient(redis_port)
        self.client.call("HELLO", str(resp))
        self.client.call("FLUSHALL")
        self.instance = Instance()
        self.session = self.instance.new_session()
        self.session.resp = resp
        self.resp = resp

    def __call__(self, *args: str) -> bytes:
        theirs = self.client.call(*args)
        ours = encode(execute(self.session, [a.encode() for a in args]), self.resp)
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def plant_list(self, key: str) -> None:
        self.client.call("DEL", key)
        self.client.call("LPUSH", key, "x")
        self.session.db.set(key.encode(), ListValue([b"x"]))

    def set_max_bulk_len(self, size: int) -> None:
        self.client.call("CONFIG", "SET", "proto-max-bulk-len", str(size))
        self.instance.config.set("proto-max-bulk-len", str(size).encode())

    def close(self) -> None:
        self.client.call("CONFIG", "SET", "proto-max-bulk-len", str(512 * 1024**2))
        self.client.call("FLUSHALL")
        self.client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def embedded(request: pytest.FixtureRequest, redis_port: int) -> Iterator[EmbeddedPair]:
    pair = EmbeddedPair(redis_port, request.param)
    yield pair
    pair.close()


def test_wrongtype(embedded):
    for args in [
        ("GET", "w"),
        ("SET", "w", "v", "GET"),
        ("SET", "w", "v", "EX", "0", "GET"),
        ("SET", "w", "v", "NX", "GET"),
        ("SET", "w", "v"),
        ("SET", "w", "v", "XX"),
        ("SET", "w", "v", "NX"),
        ("SETNX", "w", "v"),
        ("SETEX", "w", "10", "v"),
        ("PSETEX", "w", "10", "v"),
        ("GETSET", "w", "v"),
        ("GETDEL", "w"),
        ("GETEX", "w"),
        ("GETEX", "w", "EX", "0"),
        ("GETEX", "w", "BAD"),
        ("MGET", "w", "nope"),
        ("MSET", "w", "v"),
        ("MSETNX", "w", "v"),
        ("APPEND", "w", "v"),
        ("STRLEN", "w"),
        ("INCR", "w"),
        ("DECR", "w"),
        ("INCRBY", "w", "1"),
        ("INCRBY", "w", "x"),
        ("DECRBY", "w", "1"),
        ("DECRBY", "w", LLONG_MIN),
        ("INCRBYFLOAT", "w", "1"),
        ("INCRBYFLOAT", "w", "x"),
        ("GETRANGE", "w", "0", "1"),
        ("GETRANGE", "w", "x", "1"),
        ("SUBSTR", "w", "0", "1"),
        ("SETRANGE", "w", "0", "v"),
        ("SETRANGE", "w", "0", ""),
        ("SETRANGE", "w", "-1", "v"),
        ("LCS", "w", "nope"),
        ("LCS", "nope", "w"),
        ("LCS", "w", "nope", "BAD"),
    ]:
        embedded.plant_list("w")
        embedded(*args)


def test_size_limit_at_the_boundary(embedded):
    limit = 1024 * 1024  # the smallest proto-max-bulk-len Redis accepts
    embedded.set_max_bulk_len(limit)
    embedded("SETRANGE", "s", str(limit - 2), "ab")
    embedded("SETRANGE", "s", str(limit - 1), "ab")
    embedded("SETRANGE", "s", str(limit - 1), "")
    embedded("APPEND", "s", "c")
    embedded("SETRANGE", "t", str(limit - 1), "ab")
    embedded("EXISTS", "t")
    embedded("SET", "u", "x" * (limit - 1))
    embedded("APPEND", "u", "y")
    embedded("APPEND", "u", "z")
    embedded("STRLEN", "u")


def test_lcs_transient_memory_bound(embedded):
    # Redis refuses when (len(a)+1) * (len(b)+1) * 4 bytes exceed proto-max-bulk-len.
    embedded.set_max_bulk_len(1024 * 1024)
    embedded("SET", "a", "x" * 511)
    embedded("SET", "b", "y" * 511)
    embedded("LCS", "a", "b", "LEN")
    embedded("SET", "b", "y" * 512)
    embedded("LCS", "a", "b", "LEN")
    embedded("LCS", "a", "b", "IDX")


# ---------------------------------------------------------- keyspace events

EVENT_SEQUENCE = [
    ("SET", "a", "1", "EX", "100"),
    ("GETEX", "a", "PERSIST"),
    ("GETEX", "a", "PERSIST"),
    ("GETEX", "a", "EXAT", "1"),
    ("GET", "a"),
    ("SET", "b", "x", "EXAT", "1"),
    ("GET", "b"),
    ("SET", "c", "1"),
    ("GETEX", "c", "PX", "100000"),
    ("GETEX", "c"),
    ("GETEX", "c", "EX", "0"),
    ("SETRANGE", "c", "0", ""),
    ("SETRANGE", "c", "1", "zz"),
    ("SETRANGE", "nn", "0", ""),
    ("APPEND", "c", "q"),
    ("APPEND", "d", "q"),
    ("INCR", "i"),
    ("DECRBY", "i", "3"),
    ("INCRBY", "i", "x"),
    ("INCRBYFLOAT", "i", "1.5"),
    ("INCRBYFLOAT", "i", "x"),
    ("GETSET", "i", "5"),
    ("GETDEL", "i"),
    ("GETDEL", "i"),
    ("MSET", "a", "1", "b", "2"),
    ("MSETNX", "a", "1", "z", "2"),
    ("MSETNX", "y", "1", "z", "2"),
    ("SETNX", "y", "1"),
    ("SETNX", "x", "1"),
    ("SETEX", "y", "10", "v"),
    ("PSETEX", "y", "10000", "v"),
    ("SET", "y", "v", "KEEPTTL"),
    ("SET", "y", "v", "NX"),
    ("SET", "y", "v", "XX", "GET"),
    ("SET", "x", "v", "XX", "GET"),
    ("SET", "n", "v", "XX"),
    ("SETRANGE", "s", "2", "x"),
    ("GETEX", "s", "PXAT", "1"),
    ("SET", "s", "v", "PX", "100000", "GET"),
    ("GETEX", "s", "EX", "100"),
    ("LCS", "a", "b"),
    ("MGET", "a", "b"),
    ("STRLEN", "a"),
    ("GETRANGE", "a", "0", "-1"),
    ("DECR", "a"),
]


@pytest.fixture(scope="module")
def notifying_servers() -> Iterator[tuple[int, int]]:
    """A tandemkv and a redis-server of their own, both started with notify-keyspace-events KEA."""
    tandem, tandem_port = start_tandem("--notify-keyspace-events", "KEA")
    redis_proc, redis_port = start_redis("--notify-keyspace-events", "KEA")
    yield tandem_port, redis_port
    stop(tandem)
    stop(redis_proc)


def _events(port: int, resp: int) -> tuple[list[bytes], list[bytes]]:
    """Replies to EVENT_SEQUENCE and every frame a PSUBSCRIBE '__key*__:*' client received."""
    subscriber = RawClient(port)
    client = RawClient(port)
    client.call("FLUSHALL")
    if resp == 3:
        subscriber.call("HELLO", "3")
    subscriber.call("PSUBSCRIBE", "__key*__:*")
    replies = [client.call(*args) for args in EVENT_SEQUENCE]
    client.call("PUBLISH", "__keyevent@0__:marker", "end-of-sequence")
    frames = []
    while not frames or not frames[-1].endswith(b"$15\r\nend-of-sequence\r\n"):
        frames.append(subscriber.read_reply())
    subscriber.close()
    client.close()
    return replies, frames


@pytest.mark.parametrize("resp", [2, 3])
def test_keyspace_events(notifying_servers, resp):
    tandem_port, redis_port = notifying_servers
    ours, theirs = _events(tandem_port, resp), _events(redis_port, resp)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
