"""String commands: long double arithmetic of INCRBYFLOAT, redis-py usage over RESP2 and RESP3,
TTL preservation, and keyspace hit/miss accounting compared with redis-server.

Byte-for-byte comparisons of every command live in test_strings_diff.py.
"""

from __future__ import annotations

import pytest
import redis

from tandemkv.commands import Instance, execute
from tandemkv.commands.longdouble import (
    add_long_double,
    format_long_double,
    parse_long_double,
)
from tests.conftest import REDIS_SERVER


def incrbyfloat(value: bytes, increment: bytes) -> bytes | None:
    current = parse_long_double(value)
    delta = parse_long_double(increment)
    assert current is not None and delta is not None
    total = add_long_double(current, delta)
    return None if total is None else format_long_double(total)


# Expected texts recorded from redis-server 7.0.15 on x86-64 (80-bit long double).
@pytest.mark.parametrize(
    ("value", "increment", "expected"),
    [
        (b"10.5", b"0.1", b"10.6"),
        (b"10.6", b"3.0e3", b"3010.60000000000000009"),
        (b"3010.60000000000000009", b"-3010.6", b"0"),
        (b"0", b"0x1p-18", b"0.00000381469726562"),  # a tie at the 17th decimal: to even
        (b"0", b"-0x1p-18", b"-0.00000381469726562"),
        (b"0", b"0x3p-18", b"0.00001144409179688"),
        (b"0", b"-0.000000000000000001", b"0"),  # "-0" is written "0"
        (b"0", b"5e-18", b"0"),
        (b"0", b"1.5e-17", b"0.00000000000000002"),
        (b"0.1", b"0.2", b"0.3"),
        (b"9223372036854775807", b"1", b"9223372036854775808"),
        (b"1", b"0x1.8p3", b"13"),
        (b"1", b"0X1P-2", b"1.25"),
        (b"1", b".5", b"1.5"),
        (b"1", b"5.", b"6"),
        (b"1", b"+5", b"6"),
        (b"1", b"0e-99999999999", b"1"),
        (b"1", b"0x1p-16445", b"1"),  # the smallest subnormal
    ],
)
def test_incrbyfloat_arithmetic(value, increment, expected):
    assert incrbyfloat(value, increment) == expected


def test_incrbyfloat_huge_values_print_every_digit():
    assert incrbyfloat(b"1e308", b"1e308") == (
        b"199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777"
        b"078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213"
        b"335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905"
        b"456510092687857156096"
    )
    text = incrbyfloat(b"0", b"1e4932")
    assert text is not None and len(text) == 4933 and text.startswith(b"10000000000000000000060189")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b" 1",
        b"1 ",
        b"\t5",
        b"5\n",
        b"1\x00",
        b"nan",
        b"-nan",
        b"nan(1)",
        b"infinit",
        b"1e",
        b".",
        b"0x",
        b"0x1p",
        b"1_0",
        b"1e5000",
        b"-1e5000",
        b"1.2e4932",
        b"1e-5000",
        b"1e-4951",
        b"0x1p-16446",
        b"1" * 5119,
        b"1" * 5120,
        b"abc",
    ],
)
def test_parse_refuses_what_redis_refuses(raw):
    assert parse_long_double(raw) is None


@pytest.mark.parametrize("raw", [b"inf", b"-INF", b"Infinity", b"+inf"])
def test_infinities_parse_but_cannot_be_added(raw):
    parsed = parse_long_double(raw)
    assert parsed is not None
    assert add_long_double(parsed, (1, 0)) is None


def test_sum_overflowing_to_infinity_is_refused():
    largest = parse_long_double(b"1.18e4932")
    assert largest is not None
    assert add_long_double(largest, largest) is None


# ------------------------------------------------------------- redis-py use


@pytest.mark.parametrize("client", ["r", "r3"])
def test_redis_py_round_trip(client, request):
    c: redis.Redis = request.getfixturevalue(client)
    assert c.set("k", "v") is True
    assert c.get("k") == b"v"
    assert c.set("k", "w", get=True) == b"v"
    assert c.set("k", "x", nx=True) is None
    assert c.setnx("n", 1) is True
    assert c.setnx("n", 2) is False
    assert c.getset("n", 3) == b"1"
    assert c.getdel("n") == b"3"
    assert c.getdel("n") is None
    assert c.mset({"a": "1", "b": "2"}) is True
    assert c.mget("a", "b", "zz") == [b"1", b"2", None]
    assert c.msetnx({"a": "9", "c": "3"}) is False
    assert c.msetnx({"d": "4", "e": "5"}) is True
    assert c.incr("a") == 2
    assert c.decr("a") == 1
    assert c.incrby("a", 10) == 11
    assert c.decrby("a", 20) == -9
    assert c.incrbyfloat("f", 10.5) == 10.5
    assert c.incrbyfloat("f", 0.1) == pytest.approx(10.6)
    assert c.append("s", "hello") == 5
    assert c.setrange("s", 1, "a") == 5
    assert c.getrange("s", 0, -1) == b"hallo"
    assert c.substr("s", 1, 2) == b"al"
    assert c.strlen("s") == 5
    assert c.getex("s", ex=100) == b"hallo"
    assert 0 < c.ttl("s") <= 100
    assert c.getex("s", persist=True) == b"hallo"
    assert c.ttl("s") == -1
    assert c.execute_command("SETEX", "t", 100, "v") in (True, b"OK")
    assert c.execute_command("PSETEX", "p", 100000, "v") in (True, b"OK")
    assert 0 < c.pttl("p") <= 100000
    assert c.set("k1", "ohmytext") and c.set("k2", "mynewtext")
    assert c.lcs("k1", "k2") == b"mytext"
    assert c.lcs("k1", "k2", len=True) == 6
    with pytest.raises(redis.ResponseError, match="not an integer"):
        c.incr("s")
    c.set("a", 2**63 - 1)
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        c.incr("a")


def test_lcs_idx_reply_types(r, r3):
    for c in (r, r3):
        c.set("k1", "ohmytext")
        c.set("k2", "mynewtext")
    as_list = r.execute_command("LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")
    assert as_list == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]
    as_map = r3.execute_command("LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")
    assert as_map == {b"matches": [[[4, 7], [5, 8], 4]], b"len": 6}


def test_in_place_changes_keep_the_ttl(r):
    for name, call in [
        ("append", lambda: r.append("k", "x")),
        ("incr", lambda: r.incr("k")),
        ("incrbyfloat", lambda: r.incrbyfloat("k", 1.5)),
        ("setrange", lambda: r.setrange("k", 0, "9")),
        ("getex", lambda: r.getex("k")),
    ]:
        r.set("k", "1", ex=1000)
        call()
        assert 0 < r.ttl("k") <= 1000, name
    for name, call in [
        ("set", lambda: r.set("k", "1")),
        ("getset", lambda: r.getset("k", "1")),
        ("mset", lambda: r.mset({"k": "1"})),
    ]:
        r.set("k", "1", ex=1000)
        call()
        assert r.ttl("k") == -1, name


# ------------------------------------------------------ keyspace hits/misses


HIT_MISS_SEQUENCE = [
    ("SET", "a", "1"),
    ("GET", "a"),
    ("GET", "nope"),
    ("MGET", "a", "nope", "a"),
    ("STRLEN", "a"),
    ("STRLEN", "nope"),
    ("GETRANGE", "a", "0", "-1"),
    ("SUBSTR", "nope", "0", "1"),
    ("GETEX", "a"),
    ("GETEX", "nope", "PERSIST"),
    ("SET", "a", "2", "GET"),
    ("SET", "b", "2", "NX"),
    ("SETNX", "c", "1"),
    ("GETSET", "a", "3"),
    ("GETSET", "z", "3"),
    ("GETDEL", "z"),
    ("GETDEL", "z"),
    ("INCR", "a"),
    ("INCRBY", "q", "1"),
    ("INCRBYFLOAT", "a", "1"),
    ("APPEND", "a", "x"),
    ("SETRANGE", "a", "0", "y"),
    ("MSETNX", "a", "1", "r", "2"),
    ("LCS", "a", "nope"),
    ("LCS", "a", "b", "LEN"),
]


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_keyspace_hits_and_misses_count_like_redis(redis_port):
    """Read commands count hits and misses (lookupKeyRead), writes do not (lookupKeyWrite)."""
    reference = redis.Redis(port=redis_port, protocol=2)
    reference.flushall()
    reference.config_resetstat()
    instance = Instance()
    session = instance.new_session()
    for args in HIT_MISS_SEQUENCE:
        reference.execute_command(*args)
        execute(session, [a.encode() for a in args])
    stats = reference.info("stats")
    reference.close()
    counted = instance.keyspace_stats
    assert (counted.keyspace_hits, counted.keyspace_misses) == (
        stats["keyspace_hits"],
        stats["keyspace_misses"],
    )


# ------------------------------------------------- overwriting a stale key

STALE_KEY_COMMANDS = [
    ("SET", "k", "v"),
    ("SET", "k", "v", "NX"),
    ("SET", "k", "v", "XX"),
    ("SET", "k", "v", "GET"),
    ("SET", "k", "v", "EX", "100"),
    ("SETNX", "k", "v"),
    ("SETEX", "k", "100", "v"),
    ("PSETEX", "k", "100000", "v"),
    ("GETSET", "k", "v"),
    ("MSET", "k", "v"),
    ("MSETNX", "k", "v"),
    ("APPEND", "k", "v"),
    ("INCR", "k"),
    ("INCRBYFLOAT", "k", "1"),
    ("SETRANGE", "k", "1", "v"),
    ("GETDEL", "k"),
    ("GETEX", "k", "PERSIST"),
    ("STRLEN", "k"),
    ("LCS", "k", "k"),
]


@pytest.fixture(scope="module")
def redis_without_active_expiry():
    from tests.conftest import start_redis, stop

    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    proc, port = start_redis("--enable-debug-command", "yes", "--notify-keyspace-events", "KEA")
    client = redis.Redis(port=port, protocol=2)
    client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    yield client
    client.close()
    stop(proc)


def test_commands_on_a_key_past_its_deadline_raise_expired_first(redis_without_active_expiry):
    """A key whose deadline passed but that no timer removed yet (the loop was busy): every
    command expires it first, with its `expired` event, exactly as Redis does lazily."""
    import time

    from tandemkv.clock import ManualClock

    reference = redis_without_active_expiry
    pubsub = reference.pubsub()
    pubsub.psubscribe("__keyevent@0__:*")
    pubsub.get_message(timeout=1)
    clock = ManualClock()
    instance = Instance(clock=clock)
    session = instance.new_session()
    ours: list[tuple[bytes, bytes]] = []
    def record(event_class: str, event: bytes, key: bytes, db: int) -> None:
        ours.append((event, key))

    instance.notify = record  # events of commands
    for db in instance.dbs:
        db.notify = record  # events of the keyspace (expired)
    for args in STALE_KEY_COMMANDS:
        reference.execute_command("SET", "k", "1", "PX", "1")
        time.sleep(0.005)
        reference.execute_command(*args)
        execute(session, [b"SET", b"k", b"1", b"PX", b"1"])
        clock.advance_ms(5)
        execute(session, [a.encode() for a in args])
    reference.publish("__keyevent@0__:marker", "end")
    theirs: list[tuple[bytes, bytes]] = []
    while True:
        message = pubsub.get_message(timeout=2)
        assert message is not None
        event = message["channel"].split(b":", 1)[1]
        if event == b"marker":
            break
        theirs.append((event, message["data"]))
    pubsub.close()
    assert ours == theirs
