"""BZPOPMIN, BZPOPMAX and BZMPOP against redis-server 7.0.15, RESP2 and RESP3: answers when a
key has members, waiting otherwise, served in the order clients blocked, timeouts, errors,
inside MULTI, and the events they raise."""

from __future__ import annotations

import pytest

SCRIPT = [
    ["ZADD", "z", "1", "a", "2", "b", "3", "c"], ["BZPOPMIN", "nokey", "z", 0], ["BZPOPMAX", "z", 0],
    ["BZMPOP", 0, 2, "nokey", "z", "MIN", "COUNT", 5], ["EXISTS", "z"], ["SET", "s", "v"], ["BZPOPMIN", "s", 0],
    ["BZMPOP", 0, 1, "s", "MAX"], ["BZPOPMIN", "z", "x"], ["BZPOPMIN", "z", -1], ["BZMPOP", "x", 1, "z", "MIN"],
    ["BZMPOP", 0, 0, "z", "MIN"], ["BZMPOP", 0, 1, "z", "SIDE"], ["BZMPOP", 0, 1, "z", "MIN", "COUNT", 0],
    ["BZPOPMIN", "z"], ["MULTI"], ["BZPOPMIN", "z", 0], ["BZMPOP", 0, 1, "z", "MAX"], ["EXEC"],
    ["ZADD", "z", "-inf", "low", "inf", "high"], ["BZPOPMIN", "z", 0], ["BZPOPMAX", "z", 0],
]


@pytest.mark.parametrize("resp", [2, 3])
def test_script(tandem_port: int, redis_port: int, resp: int) -> None:
    from tests.resp import RawClient

    clients = [RawClient(tandem_port), RawClient(redis_port)]
    try:
        for client in clients:
            client.call("FLUSHALL")
            if resp == 3:
                client.call("HELLO", "3")
        for args in SCRIPT:
            ours, theirs = (client.call(*args) for client in clients)
            assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
    finally:
        for client in clients:
            client.close()


def test_waiters_served_in_order_and_timeouts(blocking) -> None:
    b = blocking(3)
    b.send(0, "BZPOPMIN", "z", "other", 0)
    b.wait_blocked(1)
    b.send(1, "BZMPOP", 0, 1, "z", "MAX", "COUNT", 2)
    b.wait_blocked(2)
    b.send(2, "BZPOPMAX", "z", "0.05")
    b.read(2)  # its timeout comes first: a null array
    b.call("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
    b.read(0)
    b.read(1)
    b.call("ZRANGE", "z", 0, -1, "WITHSCORES")


def test_a_push_to_a_list_leaves_zset_waiters_waiting(blocking) -> None:
    b = blocking(1)
    b.send(0, "BZPOPMIN", "k", 0)
    b.wait_blocked(1)
    b.call("RPUSH", "k", "x")
    b.nothing_yet(0)
    b.call("DEL", "k")
    b.call("ZADD", "k", "5", "m")
    b.read(0)


def test_bzpop_events(events) -> None:
    for args in (["ZADD", "z", "1", "a", "2", "b"], ["BZPOPMIN", "z", 0], ["BZMPOP", 0, 1, "z", "MAX"]):
        events(*args)
    ours, theirs = events.events()
    assert ours == theirs
