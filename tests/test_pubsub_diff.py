"""Pub/sub against redis-server, byte for byte, in RESP2 and RESP3.

Pub/sub needs several connections per server (subscribers and a publisher) and commands that
answer with several frames, so these tests use `Pair`: the same clients opened on tandemkv and
on redis-server, each command sent to both, every frame compared. Where Redis's order is
undefined (UNSUBSCRIBE without arguments walks a dict; PUBSUB CHANNELS) the frames are
compared after sorting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.resp import RawClient, encode_command


class Pair:
    """`clients` connections on each server; `resp` is the protocol every client speaks."""

    def __init__(self, tandem_port: int, redis_port: int, clients: int, resp: int) -> None:
        self.ours = [RawClient(tandem_port) for _ in range(clients)]
        self.theirs = [RawClient(redis_port) for _ in range(clients)]
        self.resp = resp
        if resp == 3:
            for client in self.ours + self.theirs:
                client.call("HELLO", "3")

    def send(self, who: int, *args: bytes | str | int) -> None:
        self.ours[who].send(encode_command(*args))
        self.theirs[who].send(encode_command(*args))

    def frames(self, who: int, count: int) -> tuple[list[bytes], list[bytes]]:
        ours = [self.ours[who].read_reply() for _ in range(count)]
        theirs = [self.theirs[who].read_reply() for _ in range(count)]
        return ours, theirs

    def __call__(self, who: int, *args: bytes | str | int, frames: int = 1) -> list[bytes]:
        """Send to both, read `frames` frames from each, assert they are identical."""
        self.send(who, *args)
        ours, theirs = self.frames(who, frames)
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def nothing_pending(self, who: int) -> None:
        """Neither server sent `who` anything unasked (checked with a PING round trip)."""
        self(who, "PING", "sync")

    def close(self) -> None:
        for client in self.ours + self.theirs:
            client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(
    request: pytest.FixtureRequest, tandem_port: int, redis_port: int
) -> Iterator[Callable[[int], Pair]]:
    """A factory: `pair(n)` opens n clients on each server, speaking the parametrized RESP."""
    made: list[Pair] = []

    def make(clients: int = 2) -> Pair:
        p = Pair(tandem_port, redis_port, clients, request.param)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def _unsubscribe_frames(frames: list[bytes]) -> list[bytes]:
    """The channel part of unsubscribe frames, sorted, plus the counts in order."""
    return sorted(frame.rsplit(b"\r\n:", 1)[0] for frame in frames) + [
        frame.rsplit(b"\r\n:", 1)[1] for frame in frames
    ]


def test_subscribe_confirmations(pair):
    p = pair(1)
    p(0, "UNSUBSCRIBE")
    p(0, "PUNSUBSCRIBE")
    p(0, "SUNSUBSCRIBE")
    p(0, "SUBSCRIBE", "a", "b", "a", frames=3)
    p(0, "PSUBSCRIBE", "p*", "q?", "p*", frames=3)
    p(0, "SSUBSCRIBE", "s1", "s2", frames=2)
    p(0, "UNSUBSCRIBE", "b", "zz", "b", frames=3)
    p(0, "PUNSUBSCRIBE", "q?", "nope", frames=2)
    p(0, "SUNSUBSCRIBE", "zz", frames=1)
    p(0, "PING")
    p(0, "PING", "hello")
    p(0, "UNSUBSCRIBE", frames=1)
    p(0, "PUNSUBSCRIBE", frames=1)
    p(0, "UNSUBSCRIBE")  # none left: a null channel, count = channels + patterns
    p.send(0, "SUNSUBSCRIBE")
    ours, theirs = p.frames(0, 2)
    assert _unsubscribe_frames(ours) == _unsubscribe_frames(theirs)
    p(0, "SUNSUBSCRIBE")
    p(0, "PING")
    p(0, "GET", "x")


def test_unsubscribe_all_counts(pair):
    p = pair(1)
    p(0, "SUBSCRIBE", "c1", "c2", "c3", frames=3)
    p(0, "PSUBSCRIBE", "x*", frames=1)
    p.send(0, "UNSUBSCRIBE")
    ours, theirs = p.frames(0, 3)
    assert _unsubscribe_frames(ours) == _unsubscribe_frames(theirs)
    p(0, "PUNSUBSCRIBE", "x*")
    p(0, "PUNSUBSCRIBE")
    p(0, "SUNSUBSCRIBE")


def test_resp2_subscribed_mode(pair):
    p = pair(1)
    p(0, "SUBSCRIBE", "c")
    p(0, "GET", "x")
    p(0, "SET", "x", "1")
    p(0, "PUBLISH", "c", "m")
    p(0, "PUBSUB", "NUMPAT")
    p(0, "GET")  # arity is checked before the subscribed-mode rule
    p(0, "NOSUCH")
    p(0, "PING")
    p(0, "PING", "a", "b")
    p(0, "UNSUBSCRIBE", "c")
    p(0, "GET", "x")
    # Shard channels alone keep the client in subscribed mode; they are counted apart.
    p(0, "SSUBSCRIBE", "s")
    p(0, "GET", "x")
    p(0, "SUBSCRIBE", "c")
    p(0, "UNSUBSCRIBE", "c")
    p(0, "GET", "x")
    p(0, "SUNSUBSCRIBE", "s")
    p(0, "GET", "x")
    p(0, "PSUBSCRIBE", "*")
    p(0, "QUIT")


def test_reset_leaves_subscribed_mode(pair):
    p = pair(2)
    p(0, "SUBSCRIBE", "c", "d", frames=2)
    p(0, "PSUBSCRIBE", "c*")
    p(0, "SSUBSCRIBE", "s")
    p(1, "PUBSUB", "NUMSUB", "c", "d")
    p(0, "RESET")
    p(0, "GET", "x")
    p(1, "PUBSUB", "NUMSUB", "c", "d")
    p(1, "PUBSUB", "NUMPAT")
    p(1, "PUBSUB", "SHARDNUMSUB", "s")
    p(1, "PUBLISH", "c", "after reset")
    p.nothing_pending(0)


def test_delivery_channel_then_pattern(pair):
    p = pair(3)
    p(0, "SUBSCRIBE", "news.tech", "other", frames=2)
    p(0, "PSUBSCRIBE", "news.*", "*tech", "nomatch*", frames=3)
    p(1, "PSUBSCRIBE", "news.*")
    p(2, "PUBLISH", "news.tech", "hello")
    # Client 0: the channel message first, then one pmessage per matching pattern (the
    # patterns' order is Redis's dict order, so those are compared sorted).
    ours, theirs = p.frames(0, 3)
    assert ours[0] == theirs[0] and b"pmessage" not in ours[0]
    assert sorted(ours[1:]) == sorted(theirs[1:])
    _same(p.frames(1, 1))
    p(2, "PUBLISH", "nobody", "x")
    p(2, "PUBLISH", "other", "")
    _same(p.frames(0, 1))
    p(2, "PUBLISH", "news.sport", "binary\x00\r\nbytes")
    _same(p.frames(0, 1))
    _same(p.frames(1, 1))
    p.nothing_pending(0)
    p.nothing_pending(1)


def _same(frames: tuple[list[bytes], list[bytes]]) -> None:
    assert frames[0] == frames[1]


def test_messages_arrive_in_order(pair):
    p = pair(2)
    p(0, "SUBSCRIBE", "c")
    for i in range(20):
        p(1, "PUBLISH", "c", f"m{i}")
    ours, theirs = p.frames(0, 20)
    assert ours == theirs


def test_sharded_publish_skips_patterns(pair):
    p = pair(3)
    p(0, "SSUBSCRIBE", "orders")
    p(1, "PSUBSCRIBE", "*")
    p(1, "SUBSCRIBE", "orders")
    p(2, "SPUBLISH", "orders", "o1")
    _same(p.frames(0, 1))
    p.nothing_pending(1)
    p(2, "PUBLISH", "orders", "plain")
    _same(p.frames(1, 2))
    p.nothing_pending(0)
    p(2, "SPUBLISH", "nobody", "x")
    p(2, "SPUBLISH", "a")
    p(2, "SPUBLISH", "a", "b", "c")


def test_publish_counts_and_errors(pair):
    p = pair(3)
    p(0, "SUBSCRIBE", "c")
    p(1, "PSUBSCRIBE", "c*", "?")
    p(2, "PUBLISH", "c", "m")
    p.frames(0, 1)
    p.frames(1, 2)
    p(2, "PUBLISH", "c")
    p(2, "PUBLISH")
    p(2, "PUBLISH", "c", "m", "extra")
    p(2, "SUBSCRIBE")
    p(2, "PSUBSCRIBE")
    p(2, "SSUBSCRIBE")


def test_pubsub_introspection(pair):
    p = pair(4)
    p(0, "SUBSCRIBE", "alpha", "beta", "gamma", frames=3)
    p(1, "SUBSCRIBE", "alpha")
    p(1, "PSUBSCRIBE", "a*", "b*", frames=2)
    p(2, "PSUBSCRIBE", "a*")
    p(2, "SSUBSCRIBE", "s1", "s2", frames=2)
    p(3, "PUBSUB", "NUMSUB")
    p(3, "PUBSUB", "NUMSUB", "alpha", "beta", "nope", "alpha")
    p(3, "PUBSUB", "numsub", "a*")
    p(3, "PUBSUB", "NUMPAT")
    p(3, "PUBSUB", "SHARDNUMSUB", "s1", "alpha")
    p(3, "PUBSUB", "SHARDNUMSUB")
    for args in (
        ("CHANNELS",),
        ("CHANNELS", "*a"),
        ("channels", "[ab]*"),
        ("SHARDCHANNELS",),
        ("SHARDCHANNELS", "s?"),
    ):
        ours = p.ours[3].call("PUBSUB", *args)
        theirs = p.theirs[3].call("PUBSUB", *args)
        assert sorted(ours.split(b"\r\n")) == sorted(theirs.split(b"\r\n")), args
    p(3, "PUBSUB", "CHANNELS", "nomatch")
    p(3, "PUBSUB", "CHANNELS", "a", "b")
    p(3, "PUBSUB", "channels", "a", "b")
    p(3, "PUBSUB", "SHARDCHANNELS", "a", "b")
    p(3, "PUBSUB", "NUMPAT", "x")
    p(3, "PUBSUB", "nope")
    p(3, "PUBSUB", "NOPE", "x")
    p(3, "PUBSUB")
    p(3, "PUBSUB", "HELP")
    p(3, "PUBSUB", "help", "x")
    # Disconnecting removes every subscription of that client.
    p.ours[1].close()
    p.theirs[1].close()
    p.ours[2].close()
    p.theirs[2].close()
    _settle(p)
    p(3, "PUBSUB", "NUMSUB", "alpha")
    p(3, "PUBSUB", "NUMPAT")
    p(3, "PUBSUB", "SHARDCHANNELS")


def _settle(p: Pair) -> None:
    """Wait until both servers processed the disconnects (PUBSUB NUMPAT reaches its final value)."""
    for _ in range(500):
        if p.ours[3].call("PUBSUB", "NUMPAT") == p.theirs[3].call("PUBSUB", "NUMPAT") == b":0\r\n":
            return
        time.sleep(0.01)
    raise AssertionError("disconnects not processed")


_names = st.sampled_from(["a", "b", "ab", "a*", "*", "b?", "[ab]"])
_ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "SUBSCRIBE",
                "UNSUBSCRIBE",
                "PSUBSCRIBE",
                "PUNSUBSCRIBE",
                "SSUBSCRIBE",
                "SUNSUBSCRIBE",
                "PUBLISH",
                "SPUBLISH",
            ]
        ),
        st.lists(_names, min_size=1, max_size=3),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(ops=_ops, resp=st.sampled_from([2, 3]))
def test_random_subscription_sequences(tandem_port, redis_port, ops, resp):
    """Subscriber 0 runs random (un)subscribe commands with explicit names; client 1 publishes.
    Every confirmation and delivered message must match Redis, byte for byte."""
    p = Pair(tandem_port, redis_port, 2, resp)
    try:
        for name, args in ops:
            if name in ("PUBLISH", "SPUBLISH"):
                ours = p.ours[1].call(name, args[0], "msg")
                theirs = p.theirs[1].call(name, args[0], "msg")
                assert ours == theirs, (name, args)
                count = int(ours[1:-2])
                # Only subscriber 0 exists: every receipt is a frame for it.
                o, t = p.frames(0, count)
                assert sorted(o) == sorted(t), (name, args)
                # Channel subscribers first, then patterns (whose order is Redis's dict order).
                assert o == sorted(o, key=lambda frame: b"pmessage" in frame), (name, args)
            else:
                p(0, name, *args, frames=len(args))
        p(0, "PING", "end")
    finally:
        p.close()
