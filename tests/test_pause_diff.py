"""CLIENT PAUSE / UNPAUSE / NO-EVICT against redis-server 7.0.15: which commands wait, in what
order the held commands answer once the pause ends, what the dataset looks like meanwhile
(expired keys hidden but not deleted), and the errors byte for byte. Each step waits for the
server's state (CLIENT LIST), never for time."""

from __future__ import annotations

import re
import select
import time
from collections.abc import Iterator

import pytest

from tests.resp import RawClient, encode_command

LONG_MS = "60000"  # a pause the test always ends itself with CLIENT UNPAUSE


@pytest.fixture(params=["tandemkv", "redis"])
def port(request: pytest.FixtureRequest, tandem_port: int, redis_port: int) -> Iterator[int]:
    chosen = tandem_port if request.param == "tandemkv" else redis_port
    admin = RawClient(chosen)
    admin.call("CLIENT", "UNPAUSE")
    admin.call("FLUSHALL")
    yield chosen
    admin.call("CLIENT", "UNPAUSE")
    admin.close()


def _wait_blocked(admin: RawClient, count: int) -> None:
    """Until `count` clients show flag b in CLIENT LIST (the held commands reached the server)."""
    for _ in range(500):
        listing = admin.call("CLIENT", "LIST")
        if len(re.findall(rb"flags=[a-zA-Z]*b", listing)) == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"expected {count} blocked clients: {listing!r}")


def _no_reply_yet(client: RawClient) -> bool:
    return not client.buf and not select.select([client.sock], [], [], 0)[0]


def _held_run(port: int, pause_mode: str, held: list[list[str]], free: list[list[str]]) -> tuple[list[bytes], list[bytes]]:
    """Pause, send `held` pipelined on one client, run `free` on another while paused, then
    unpause: the replies of `free` (during) and of `held` (after), in order."""
    admin, worker = RawClient(port), RawClient(port)
    try:
        assert admin.call("CLIENT", "PAUSE", LONG_MS, pause_mode) == b"+OK\r\n"
        worker.send(b"".join(encode_command(*args) for args in held))
        _wait_blocked(admin, 1)
        assert _no_reply_yet(worker)
        during = [admin.call(*args) for args in free]
        assert _no_reply_yet(worker)
        assert admin.call("CLIENT", "UNPAUSE") == b"+OK\r\n"
        after = [worker.read_reply() for _ in held]
        return during, after
    finally:
        admin.close()
        worker.close()


def test_write_pause_holds_writes_and_what_follows_them(port: int) -> None:
    during, after = _held_run(
        port, "WRITE",
        held=[["SET", "k", "v"], ["GET", "k"], ["INCR", "n"]],
        free=[["GET", "k"], ["EXISTS", "k"], ["PING"], ["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]],
    )
    assert during == [b"$-1\r\n", b":0\r\n", b"+PONG\r\n", b"$-1\r\n"]
    assert after == [b"+OK\r\n", b"$1\r\nv\r\n", b":1\r\n"]


def test_all_pause_holds_every_command_until_it_ends(port: int) -> None:
    # Under ALL even CLIENT LIST and UNPAUSE wait, so the pause ends by its own deadline; a
    # held reply cannot come before it (a lower bound on time, which no load can break).
    admin, worker = RawClient(port), RawClient(port)
    try:
        admin.call("SET", "k", "v")
        started = time.monotonic()
        assert admin.call("CLIENT", "PAUSE", "300", "ALL") == b"+OK\r\n"
        worker.send(encode_command("GET", "k") + encode_command("PING"))
        assert worker.read_reply() == b"$1\r\nv\r\n"
        assert worker.read_reply() == b"+PONG\r\n"
        assert time.monotonic() - started >= 0.3
    finally:
        admin.close()
        worker.close()


def test_exec_waits_only_when_the_transaction_writes(port: int) -> None:
    worker, admin = RawClient(port), RawClient(port)
    try:
        admin.call("SET", "k", "v")
        assert worker.call("MULTI") == b"+OK\r\n"
        assert worker.call("GET", "k") == b"+QUEUED\r\n"
        admin.call("CLIENT", "PAUSE", LONG_MS, "WRITE")
        assert worker.call("EXEC") == b"*1\r\n$1\r\nv\r\n"  # a read-only transaction runs
        assert worker.call("MULTI") == b"+OK\r\n"
        admin.call("CLIENT", "UNPAUSE")
        assert worker.call("DEL", "k") == b"+QUEUED\r\n"
        admin.call("CLIENT", "PAUSE", LONG_MS, "WRITE")
        worker.send(encode_command("EXEC"))
        _wait_blocked(admin, 1)
        assert admin.call("EXISTS", "k") == b":1\r\n"
        admin.call("CLIENT", "UNPAUSE")
        assert worker.read_reply() == b"*1\r\n:1\r\n"
    finally:
        worker.close()
        admin.close()


def test_expired_keys_are_hidden_but_kept_while_paused(port: int) -> None:
    admin = RawClient(port)
    try:
        admin.call("SET", "gone", "v", "PX", "50")
        admin.call("SET", "kept", "v")
        admin.call("CLIENT", "PAUSE", LONG_MS, "WRITE")
        time.sleep(0.1)  # past the deadline: the one wait on time, for the key to expire
        assert admin.call("GET", "gone") == b"$-1\r\n"
        assert admin.call("EXISTS", "gone") == b":0\r\n"
        assert admin.call("DBSIZE") == b":2\r\n"  # still there: nothing is deleted meanwhile
        assert admin.call("CLIENT", "UNPAUSE") == b"+OK\r\n"
        admin.call("GET", "gone")
        assert admin.call("DBSIZE") == b":1\r\n"
    finally:
        admin.close()


def test_a_pause_ends_by_itself(port: int) -> None:
    admin, worker = RawClient(port), RawClient(port)
    try:
        admin.call("CLIENT", "PAUSE", "100", "WRITE")
        assert worker.call("SET", "k", "v") == b"+OK\r\n"  # answered once the 100 ms are over
        assert admin.call("CLIENT", "PAUSE", "0") == b"+OK\r\n"  # a zero pause pauses nothing
        assert worker.call("SET", "k", "w") == b"+OK\r\n"
    finally:
        admin.close()
        worker.close()


def test_pause_errors_and_no_evict(diff) -> None:
    diff("CLIENT", "PAUSE")
    diff("CLIENT", "PAUSE", "-1")
    diff("CLIENT", "PAUSE", "abc")
    diff("CLIENT", "PAUSE", "10", "sometimes")
    diff("CLIENT", "PAUSE", "abc", "sometimes")
    diff("CLIENT", "PAUSE", "10", "WRITE", "extra")
    diff("CLIENT", "UNPAUSE", "extra")
    diff("CLIENT", "UNPAUSE")
    diff("CLIENT", "NO-EVICT")
    diff("CLIENT", "NO-EVICT", "maybe")
    diff("CLIENT", "NO-EVICT", "on")
    ours, theirs = diff.both("CLIENT", "INFO")
    assert b" flags=e " in ours and b" flags=e " in theirs
    diff("CLIENT", "NO-EVICT", "OFF")
    diff("COMMAND", "INFO", "CLIENT|PAUSE", "CLIENT|UNPAUSE", "CLIENT|NO-EVICT")
