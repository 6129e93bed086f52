"""Keyspace notifications: flags, channels, and event streams compared with redis-server.

The differential tests start a dedicated tandemkv and redis-server, both with
`notify-keyspace-events KEA`, subscribe to every keyspace and keyevent channel with a pattern,
run the same commands on both, and compare every event frame, byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tandemkv.config import Config
from tandemkv.pubsub import Hub
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop
from tests.resp import RawClient
from tests.test_pubsub import FakeSubscriber

# (CONFIG SET value, what redis-server 7.0.15 shows on CONFIG GET)
NORMALIZED = [
    ("", ""),
    ("A", "A"),
    ("KEA", "AKE"),
    ("Ex", "xE"),
    ("g", "g"),
    ("K", "K"),
    ("gKE", "gKE"),
    ("$lshzxetdmn", "$lshzxetdnm"),
    ("Agmn", "Am"),
    ("mnK", "nKm"),
    ("Ad", "A"),
    ("ExK", "xKE"),
    ("g$lshzxet", "g$lshzxet"),
    ("g$lshzxetd", "A"),
    ("KEg$lshzxetdmn", "AKEm"),
]


@pytest.mark.parametrize(("given", "shown"), NORMALIZED)
def test_config_shows_flags_the_way_redis_does(given, shown):
    config = Config()
    config.set("notify-keyspace-events", given.encode())
    param = Config.param("notify-keyspace-events")
    assert param is not None
    assert param.format(config["notify-keyspace-events"]).decode() == shown  # what CONFIG GET prints


def test_default_is_expired_on_keyevent_channel():
    """A documented difference from Redis, whose default is "" (all off)."""
    assert Config()["notify-keyspace-events"] == "xE"


def test_hub_follows_runtime_changes_and_gates_by_class():
    config = Config()
    hub = Hub(config)
    sub = FakeSubscriber(3)
    hub.psubscribe(sub, b"__key*__:*")
    hub.notify_keyspace_event("x", b"expired", b"k", 0)
    hub.notify_keyspace_event("$", b"set", b"k", 0)  # '$' not enabled by default
    assert sub.received == [
        b">4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$22\r\n__keyevent@0__:expired\r\n$1\r\nk\r\n"
    ]
    config.set("notify-keyspace-events", b"K$")
    sub.received.clear()
    hub.notify_keyspace_event("x", b"expired", b"k", 0)
    hub.notify_keyspace_event("$", b"set", b"k", 5)
    assert sub.received == [
        b">4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$16\r\n__keyspace@5__:k\r\n$3\r\nset\r\n"
    ]
    config.set("notify-keyspace-events", b"A")  # classes without K or E: nothing is sent
    sub.received.clear()
    hub.notify_keyspace_event("$", b"set", b"k", 0)
    assert sub.received == []


def test_keyspace_channel_first_then_keyevent():
    config = Config()
    config.set("notify-keyspace-events", b"KEA")
    hub = Hub(config)
    sub = FakeSubscriber(2)
    hub.subscribe(sub, b"__keyspace@0__:key")
    hub.subscribe(sub, b"__keyevent@0__:del")
    hub.notify_keyspace_event("g", b"del", b"key", 0)
    assert sub.received == [
        b"*3\r\n$7\r\nmessage\r\n$18\r\n__keyspace@0__:key\r\n$3\r\ndel\r\n",
        b"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:del\r\n$3\r\nkey\r\n",
    ]


# -------------------------------------------------------- against redis-server


class EventPair:
    """One command connection and one pattern subscriber on each server."""

    def __init__(self, tandem_port: int, redis_port: int, resp: int) -> None:
        self.ports = (tandem_port, redis_port)
        self.cmd = [RawClient(port) for port in self.ports]
        self.sub = [RawClient(port) for port in self.ports]
        for sub in self.sub:
            if resp == 3:
                sub.call("HELLO", "3")
            sub.call("PSUBSCRIBE", "__key*@*__:*")

    def __call__(self, *args: str) -> None:
        """Run on both; the replies and every event frame the command raised must match."""
        ours, theirs = (client.call(*args) for client in self.cmd)
        assert ours == theirs, f"{args}: tandemkv {ours!r} != redis {theirs!r}"
        # A PING through the subscriber after each command: events raised by the command were
        # queued before it, so everything before the pong belongs to the command.
        events = []
        for sub in self.sub:
            sub.send(b"*2\r\n$4\r\nPING\r\n$4\r\nsync\r\n")
            frames = []
            while True:
                frame = sub.read_reply()
                if b"sync" in frame and b"pmessage" not in frame:
                    break
                frames.append(frame)
            events.append(frames)
        assert events[0] == events[1], f"{args}: tandemkv {events[0]!r} != redis {events[1]!r}"

    def close(self) -> None:
        for client in self.cmd + self.sub:
            client.close()


@pytest.fixture(scope="module")
def kea_ports() -> Iterator[tuple[int, int]]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    tandem, tandem_port = start_tandem("--notify-keyspace-events", "KEA")
    reference, redis_port = start_redis("--notify-keyspace-events", "KEA")
    yield tandem_port, redis_port
    stop(tandem)
    stop(reference)


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def events(request: pytest.FixtureRequest, kea_ports: tuple[int, int]) -> Iterator[EventPair]:
    pair = EventPair(*kea_ports, resp=request.param)
    pair("FLUSHALL")
    yield pair
    pair.close()


def test_string_and_generic_events(events):
    events("SET", "k", "v")
    events("SET", "k", "v", "EX", "100")
    events("SET", "k", "v", "NX")
    events("APPEND", "k", "w")
    events("INCR", "n")
    events("INCRBY", "n", "5")
    events("EXPIRE", "n", "100")
    events("PERSIST", "n")
    events("PERSIST", "n")
    events("DEL", "k", "n", "missing")
    events("SET", "gone", "v")
    events("PEXPIRE", "gone", "-1")  # a past deadline deletes at once
    events("SELECT", "2")
    events("SET", "in2", "v")


def test_expired_event_once_on_read(events):
    events("SET", "k", "v", "PX", "5")
    time.sleep(0.05)
    # Whichever of the timer and the read finds it first, exactly one `expired` follows.
    for sub in events.sub:
        frames = [sub.read_reply() for _ in range(2)]
        assert b"expired" in frames[0] and b"expired" in frames[1]
    events("GET", "k")
    events("EXISTS", "k")


# ------------------------------------------------------------- CONFIG at runtime


def test_config_get_and_set_match_redis(diff):
    try:
        for given, _shown in NORMALIZED:
            diff("CONFIG", "SET", "notify-keyspace-events", given)
            diff("CONFIG", "GET", "notify-keyspace-events")
        diff("CONFIG", "SET", "notify-keyspace-events", "KEQ")
        diff("CONFIG", "SET", "notify-keyspace-events", "k")
        diff("CONFIG", "GET", "notify-keyspace-events")
    finally:
        # Back to each server's default: tandemkv "xE", redis-server "".
        diff.both("CONFIG", "SET", "notify-keyspace-events", "xE")
        diff.redis.call("CONFIG", "SET", "notify-keyspace-events", "")


def test_runtime_change_takes_effect_at_once(tandem_port, raw):
    sub = RawClient(tandem_port)
    try:
        sub.call("HELLO", "3")
        sub.call("PSUBSCRIBE", "__key*__:*")
        assert raw.call("CONFIG", "SET", "notify-keyspace-events", "K$") == b"+OK\r\n"
        raw.call("SET", "k", "v")
        assert sub.read_reply() == (
            b">4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$16\r\n__keyspace@0__:k\r\n$3\r\nset\r\n"
        )
        assert raw.call("CONFIG", "SET", "notify-keyspace-events", "") == b"+OK\r\n"
        raw.call("SET", "k", "v", "PX", "1")
        time.sleep(0.05)
        assert raw.call("GET", "k") == b"$-1\r\n"
        assert sub.call("PING", "none") == b"$4\r\nnone\r\n"  # all off: not even `expired`
    finally:
        raw.call("CONFIG", "SET", "notify-keyspace-events", "xE")
        sub.close()


@pytest.mark.parametrize("flags", ["KEn", "KEAn", "KEA"])
def test_new_events_where_redis_raises_them(tandem_port: int, redis_port: int, flags: str) -> None:
    """Redis's `new` (class n) when a command creates a key, before the command's own event;
    with A it is still on although CONFIG GET does not print it."""
    from tests.conftest import EventPair

    controls = [RawClient(port) for port in (tandem_port, redis_port)]
    saved = [client.call("CONFIG", "GET", "notify-keyspace-events").split(b"\r\n")[-2] for client in controls]
    try:
        for client in controls:
            client.call("CONFIG", "SET", "notify-keyspace-events", flags)
        ours, theirs = (client.call("CONFIG", "GET", "notify-keyspace-events") for client in controls)
        assert ours == theirs
        pair = EventPair(tandem_port, redis_port)
        try:
            for args in (["SET", "a", "1"], ["SET", "a", "2"], ["RPUSH", "l", "x"], ["RPUSH", "l", "y"],
                         ["HSET", "h", "f", "v"], ["SADD", "s", "m"], ["ZADD", "z", "1", "m"], ["INCR", "n"],
                         ["RENAME", "a", "b"], ["COPY", "b", "c"], ["LMOVE", "l", "l2", "LEFT", "LEFT"],
                         ["XADD", "st", "1-1", "f", "v"], ["SETNX", "a", "x"], ["APPEND", "ap", "x"]):
                pair(*args)
            ours_events, theirs_events = pair.events()
            assert ours_events == theirs_events
        finally:
            pair.close()
    finally:
        for client, value in zip(controls, saved, strict=True):
            client.call("CONFIG", "SET", "notify-keyspace-events", value)
            client.close()
