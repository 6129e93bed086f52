"""Differential tests of MULTI/EXEC/DISCARD/WATCH/UNWATCH against redis-server 7.0.15, RESP2
and RESP3: queueing, EXECABORT, runtime errors inside EXEC, nesting, WATCH invalidated by
other clients (writes, DEL, expiry, FLUSHDB, FLUSHALL, SWAPDB, RENAME, MOVE) and not by
reads, blocked clients served after a whole transaction, and the OOM rules inside MULTI."""

from __future__ import annotations

import time

import pytest

from tests.resp import RawClient

SCRIPTS = {
    "basic": [
        ["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["GET", "a"], ["EXEC"], ["GET", "a"],
        ["MULTI"], ["EXEC"], ["MULTI"], ["DISCARD"], ["EXEC"], ["DISCARD"],
    ],
    "runtime-errors-keep-the-rest": [
        ["SET", "s", "v"], ["MULTI"], ["LPUSH", "s", "x"], ["INCR", "n"], ["INCR", "s"], ["SET", "t", "1"],
        ["EXEC"], ["GET", "n"], ["GET", "t"],
    ],
    "queue-time-errors-abort": [
        ["MULTI"], ["SET", "a", "1"], ["NOSUCHCOMMAND", "x"], ["SET", "b"], ["INCR", "a"], ["EXEC"],
        ["EXISTS", "a"], ["MULTI"], ["GET", "a", "b"], ["EXEC"],
    ],
    "nesting-and-watch-inside": [
        ["MULTI"], ["MULTI"], ["WATCH", "a"], ["SET", "a", "1"], ["EXEC"], ["GET", "a"],
        ["MULTI"], ["SHUTDOWN"], ["EXEC"],
    ],
    "watch-own-writes": [
        ["WATCH", "a"], ["SET", "a", "1"], ["MULTI"], ["GET", "a"], ["EXEC"],
        ["WATCH", "a"], ["MULTI"], ["SET", "a", "2"], ["EXEC"], ["GET", "a"],
        ["WATCH", "a"], ["SET", "a", "3"], ["UNWATCH"], ["MULTI"], ["GET", "a"], ["EXEC"],
        ["WATCH", "nokey"], ["GET", "nokey"], ["MULTI"], ["PING"], ["EXEC"],
        ["WATCH", "a", "b"], ["WATCH", "c"], ["DEL", "c"], ["MULTI"], ["PING"], ["EXEC"],
    ],
    "blocking-inside-multi-does-not-block": [
        ["MULTI"], ["BLPOP", "q", 0], ["BRPOP", "q", 0], ["BLMOVE", "q", "d", "LEFT", "LEFT", 0],
        ["BRPOPLPUSH", "q", "d", 0], ["BLMPOP", 0, 1, "q", "LEFT"], ["EXEC"],
        ["MULTI"], ["RPUSH", "q", "a"], ["BLPOP", "q", 0], ["EXEC"],
    ],
    "select-inside": [
        ["MULTI"], ["SELECT", 2], ["SET", "x", "in2"], ["EXEC"], ["GET", "x"], ["SELECT", 0], ["GET", "x"],
        ["SELECT", 2], ["FLUSHDB"], ["SELECT", 0],
    ],
    "reset-and-client-list-fields": [
        ["WATCH", "a"], ["MULTI"], ["SET", "a", "1"], ["RESET"], ["EXEC"], ["GET", "a"],
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(diff, name: str) -> None:
    for args in SCRIPTS[name]:
        diff(*args)
    diff("FLUSHALL")


class Pair:
    """Two clients on each server: `me` runs the transaction, `other` interferes."""

    def __init__(self, tandem_port: int, redis_port: int) -> None:
        self.me = (RawClient(tandem_port), RawClient(redis_port))
        self.other = (RawClient(tandem_port), RawClient(redis_port))
        for client in self.me:
            client.call("FLUSHALL")

    def __call__(self, *args: object) -> bytes:
        return self._both(self.me, args)

    def by_other(self, *args: object) -> bytes:
        return self._both(self.other, args)

    @staticmethod
    def _both(clients: tuple[RawClient, RawClient], args: tuple[object, ...]) -> bytes:
        ours, theirs = (client.call(*args) for client in clients)  # type: ignore[arg-type]
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def close(self) -> None:
        for client in (*self.me, *self.other):
            client.close()


@pytest.fixture
def pair(tandem_port: int, redis_port: int):
    p = Pair(tandem_port, redis_port)
    yield p
    p.close()


INTERFERENCE = {
    "write": [["SET", "w", "2"]],
    "write-same-value": [["SET", "w", "1"]],
    "del": [["DEL", "w"]],
    "expire": [["EXPIRE", "w", 100]],
    "persist-without-ttl": [["PERSIST", "w"]],
    "append": [["APPEND", "w", "x"]],
    "rename-onto": [["SET", "z", "v"], ["RENAME", "z", "w"]],
    "rename-away": [["RENAME", "w", "z"]],
    "move-away": [["MOVE", "w", 3]],
    "flushdb": [["FLUSHDB"]],
    "flushall": [["FLUSHALL"]],
    "flushdb-other-db": [["SELECT", 5], ["FLUSHDB"], ["SELECT", 0]],
    "swapdb": [["SWAPDB", 0, 1]],
    "read": [["GET", "w"], ["EXISTS", "w"], ["TTL", "w"]],
    "lpush-to-watched-list": [["DEL", "w"], ["LPUSH", "w", "a"]],
    "failed-write": [["LPUSH", "w", "a"]],
}


@pytest.mark.parametrize("name", sorted(INTERFERENCE))
def test_watch_is_invalidated_where_redis_invalidates_it(pair, name: str) -> None:
    pair("SET", "w", "1")
    pair("WATCH", "w", "never-touched")
    for args in INTERFERENCE[name]:
        pair.by_other(*args)
    pair("MULTI")
    pair("SET", "result", "ran")
    pair("EXEC")
    pair("SELECT", 0)
    pair("GET", "result")
    pair("FLUSHALL")


def test_watched_key_that_expires_fails_the_transaction(pair) -> None:
    pair("SET", "w", "1", "PX", 50)
    pair("WATCH", "w")
    time.sleep(0.12)
    pair("MULTI")
    pair("PING")
    pair("EXEC")


def test_watching_an_already_expired_key_then_it_is_gone(pair) -> None:
    pair("WATCH", "gone")
    pair("SET", "t", "1", "PX", 20)
    time.sleep(0.05)
    pair("WATCH", "t")  # expired (maybe not deleted yet) when watched
    pair("MULTI")
    pair("PING")
    pair("EXEC")


def test_transaction_is_isolated_from_blocked_clients(tandem_port: int, redis_port: int) -> None:
    """A blocked BLPOP is served after EXEC, once, with what the whole transaction left:
    LPUSH then DEL inside one transaction wakes nobody (Redis's list.tcl)."""
    waiters = [RawClient(tandem_port), RawClient(redis_port)]
    runners = [RawClient(tandem_port), RawClient(redis_port)]
    try:
        for waiter, runner in zip(waiters, runners, strict=True):
            runner.call("FLUSHALL")
            waiter.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
        for runner in runners:
            for _ in range(100):
                if b"blocked_clients:1\r\n" in runner.call("INFO", "clients"):
                    break
                time.sleep(0.01)
        for args in (["MULTI"], ["LPUSH", "q", "a"], ["DEL", "q"], ["EXEC"], ["MULTI"], ["LPUSH", "q", "b"],
                     ["LPUSH", "q", "c"], ["EXEC"]):
            ours, theirs = (runner.call(*args) for runner in runners)
            assert ours == theirs, args
        ours, theirs = (waiter.read_reply() for waiter in waiters)
        assert ours == theirs == b"*2\r\n$1\r\nq\r\n$1\r\nc\r\n"
        ours, theirs = (runner.call("LRANGE", "q", 0, -1) for runner in runners)
        assert ours == theirs
    finally:
        for client in (*waiters, *runners):
            client.close()


def test_oom_inside_multi(pair) -> None:
    pair("SET", "big", "x" * 200_000)
    pair("CONFIG", "SET", "maxmemory", "1")  # below what is held: noeviction refuses writes
    try:
        pair("MULTI")
        pair("GET", "big")  # not denyoom, but queueing itself is refused over the bound
        pair("EXEC")
        pair("DISCARD")
        pair("CONFIG", "SET", "maxmemory", "0")
        pair("MULTI")
        pair("SET", "a", "1")
        pair("CONFIG", "SET", "maxmemory", "1")
        pair("EXEC")  # holds a denyoom command: the whole EXEC is aborted
        pair("EXISTS", "a")
        pair("DISCARD")
    finally:
        pair("CONFIG", "SET", "maxmemory", "0")


def test_client_list_shows_multi(pair) -> None:
    pair("MULTI")
    pair("SET", "a", "1")
    pair("PING")
    for client in pair.other:
        listing = client.call("CLIENT", "LIST")
        assert b" flags=x " in listing and b" multi=2 " in listing
    assert pair("EXEC") == b"*2\r\n+OK\r\n+PONG\r\n"
