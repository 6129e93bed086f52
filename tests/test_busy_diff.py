"""Differential tests of busy scripts against redis-server 7.0.15, in RESP2 and RESP3: a script
past busy-reply-threshold on one connection, other clients answered -BUSY, SCRIPT KILL and
FUNCTION KILL, FUNCTION STATS, transactions across the busy time, UNKILLABLE scripts and
SHUTDOWN NOSAVE. Error texts byte for byte.

Nothing here sleeps: a test knows the script is busy when another client's PING is answered
-BUSY (until then PING waits for the script, or runs before it and is retried)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import _flush, start_redis, start_tandem, stop
from tests.resp import RawClient, encode_command

THRESHOLD_MS = 100
BUSY_EVAL = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
BUSY_FUNCTION = b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
UNKILLABLE = (
    b"-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either "
    b"wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n"
)
LOOP_LIB = "#!lua name=busylib\nredis.register_function('loop', function() local a = 1 while true do a = a + 1 end end)"
PING_TRIES = 1000  # a PING that runs before the script starts is answered PONG: try again


def wait_busy(client: RawClient) -> bytes:
    """PING until the answer is -BUSY (the script is past the threshold); returns that answer."""
    for _ in range(PING_TRIES):
        reply = client.call("PING")
        if reply.startswith(b"-BUSY"):
            return reply
        assert reply == b"+PONG\r\n", reply
    raise AssertionError("the script never became busy")


def command_stats(info: bytes) -> list[str]:
    """INFO commandstats lines without their timings, sorted (the order is a hash's)."""
    lines = [line for line in info.decode().split("\r\n") if line.startswith("cmdstat_")]
    return sorted(re.sub(r"usec=\d+,usec_per_call=[\d.]+,", "", line) for line in lines)


class BusyPair:
    """On tandemkv and on redis-server: a `runner` connection that runs the script, and
    `other` connections that talk to the server meanwhile."""

    def __init__(self, ports: tuple[int, int], resp: int, others: int = 1) -> None:
        self.runners = [RawClient(port) for port in ports]
        self.others = [[RawClient(port) for port in ports] for _ in range(others)]
        for client in self.clients():
            if resp == 3:
                client.call("HELLO", "3")
        for client in self.runners:
            assert client.call("CONFIG", "SET", "busy-reply-threshold", THRESHOLD_MS) == b"+OK\r\n"
            assert client.call("CONFIG", "RESETSTAT") == b"+OK\r\n"

    def clients(self) -> list[RawClient]:
        return self.runners + [client for pair in self.others for client in pair]

    def start(self, *argv: str | int) -> bytes:
        """Send `argv` on the runners, wait until both servers are busy; returns the -BUSY."""
        for runner in self.runners:
            runner.send(encode_command(*argv))
        first = self.others[0]
        replies = [wait_busy(client) for client in first]
        assert replies[0] == replies[1]
        return replies[0]

    def __call__(self, *args: str | int, other: int = 0) -> bytes:
        """The same command on the `other` connection of each server; replies must be equal."""
        ours, theirs = (client.call(*args) for client in self.others[other])
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def runner_reply(self) -> bytes:
        ours, theirs = (runner.read_reply() for runner in self.runners)
        assert ours == theirs, f"runner: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def close(self) -> None:
        for client in self.clients():
            client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def busy(request: pytest.FixtureRequest, tandem_port: int, redis_port: int) -> Iterator[BusyPair]:
    _flush(tandem_port)
    _flush(redis_port)
    pair = BusyPair((tandem_port, redis_port), request.param, others=2)
    yield pair
    pair.close()
    for port in (tandem_port, redis_port):  # a failed test may leave a script running
        client = RawClient(port)
        for kill in (("SCRIPT", "KILL"), ("FUNCTION", "KILL")):
            client.call(*kill)
        client.call("CONFIG", "SET", "busy-reply-threshold", 5000)
        client.close()


def test_other_clients_get_busy_until_script_kill(busy):
    assert busy.start("EVAL", "while true do end", 0) == BUSY_EVAL
    for command in (("PING",), ("GET", "k"), ("SET", "k", "v"), ("SUBSCRIBE", "c"), ("CLIENT", "KILL", "ID", 1)):
        assert busy(*command) == BUSY_EVAL
    assert busy("FUNCTION", "STATS") == BUSY_EVAL  # a script (not a function) is running
    assert busy("FUNCTION", "KILL") == BUSY_EVAL
    assert busy("PING", other=1) == BUSY_EVAL
    assert busy("SCRIPT", "KILL") == b"+OK\r\n"
    assert busy.runner_reply().startswith(b"-ERR Script killed by user with SCRIPT KILL... script: ")
    assert busy("PING") == b"+PONG\r\n"
    assert busy("GET", "k") in (b"$-1\r\n", b"_\r\n")
    assert busy("SCRIPT", "KILL") == b"-NOTBUSY No scripts in execution right now.\r\n"
    busy("INFO", "errorstats")  # BUSY counted per refusal, the killed script as ERR
    stats = [command_stats(client.call("INFO", "commandstats")) for client in busy.others[0]]
    assert stats[0] == stats[1]
    assert "cmdstat_ping:calls=1,rejected_calls=3,failed_calls=0" in stats[0]


def test_kill_is_not_swallowed_by_pcall(busy):
    busy.start("EVAL", "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end", 0)
    assert busy("SCRIPT", "KILL") == b"+OK\r\n"
    assert b"killed by user" in busy.runner_reply()
    assert busy("PING") == b"+PONG\r\n"


def test_function_busy_stats_and_kill(busy):
    busy("FUNCTION", "LOAD", "REPLACE", LOOP_LIB)
    assert busy("FUNCTION", "STATS", other=1).count(b"libraries_count") == 1
    assert busy.start("FCALL", "loop", 0) == BUSY_FUNCTION
    assert busy("PING") == BUSY_FUNCTION
    assert busy("SCRIPT", "KILL") == BUSY_FUNCTION
    stats = [client.call("FUNCTION", "STATS") for client in busy.others[0]]
    masked = [re.sub(rb"duration_ms\r\n:\d+", b"duration_ms\r\n:N", reply) for reply in stats]
    assert masked[0] == masked[1]
    assert b"running_script" in masked[0] and b"FCALL" in masked[0]
    assert busy("FUNCTION", "KILL") == b"+OK\r\n"
    assert busy.runner_reply().startswith(b"-ERR Script killed by user with SCRIPT KILL... script: loop")
    assert busy("FUNCTION", "STATS") == busy("FUNCTION", "STATS", other=1)
    assert busy("FUNCTION", "KILL") == b"-NOTBUSY No scripts in execution right now.\r\n"
    busy("FUNCTION", "DELETE", "busylib")


def test_transaction_begun_before_the_script_is_aborted(busy):
    busy("SET", "xx", 1)
    assert busy("MULTI") == b"+OK\r\n"
    assert busy("INCR", "xx") == b"+QUEUED\r\n"
    busy.start("EVAL", "while true do end", 0)
    assert busy("INCR", "xx") == BUSY_EVAL
    busy("WATCH", "xx")  # allowed while busy: inside MULTI it is refused as usual
    assert busy("SCRIPT", "KILL", other=1) == b"+OK\r\n"
    busy.runner_reply()
    assert busy("EXEC").startswith(b"-EXECABORT Transaction discarded because of previous errors.")
    assert busy("GET", "xx") == busy("GET", "xx")
    assert busy("PING", "asdf") == b"$4\r\nasdf\r\n"


def test_exec_while_busy_aborts_the_transaction(busy):
    busy("SET", "xx", 1)
    busy("MULTI")
    busy("INCR", "xx")
    busy.start("EVAL", "while true do end", 0)
    assert busy("EXEC") == b"-EXECABORT Transaction discarded because of: " + BUSY_EVAL[1:]
    assert busy("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    assert busy("SCRIPT", "KILL") == b"+OK\r\n"
    busy.runner_reply()
    assert busy("GET", "xx") == b"$1\r\n1\r\n" or busy("GET", "xx") == b"$1\r\n1\r\n"


def test_multi_begun_while_busy(busy):
    busy("SET", "xx", 1)
    busy.start("EVAL", "while true do end", 0)
    assert busy("MULTI") == b"+OK\r\n"
    assert busy("INCR", "xx") == BUSY_EVAL
    assert busy("SCRIPT", "KILL") == b"+QUEUED\r\n"  # inside MULTI: queued, not run
    assert busy("SCRIPT", "KILL", other=1) == b"+OK\r\n"
    busy.runner_reply()
    assert busy("INCR", "xx") == b"+QUEUED\r\n"
    assert busy("EXEC").startswith(b"-EXECABORT")
    assert busy("GET", "xx") == b"$1\r\n1\r\n"


def test_callers_pipeline_waits_for_the_script(busy):
    for runner in busy.runners:
        runner.send(encode_command("EVAL", "while true do end", 0) + encode_command("SET", "k", "after"))
    for client in busy.others[0]:
        wait_busy(client)
    assert busy("GET", "k") == BUSY_EVAL
    assert busy("SCRIPT", "KILL") == b"+OK\r\n"
    assert busy.runner_reply().startswith(b"-ERR Script killed")
    assert busy.runner_reply() == b"+OK\r\n"
    assert busy("GET", "k") == b"$5\r\nafter\r\n"


def test_client_closing_while_busy(busy):
    busy.start("EVAL", "while true do end", 0)
    for client in busy.others[1]:
        client.send(encode_command("PING"))
        client.close()
    busy.others.pop()
    assert busy("PING") == BUSY_EVAL
    assert busy("SCRIPT", "KILL") == b"+OK\r\n"
    busy.runner_reply()
    assert busy("PING") == b"+PONG\r\n"


def test_new_connections_are_served_while_busy(busy, tandem_port, redis_port):
    busy.start("EVAL", "while true do end", 0)
    late = [RawClient(port) for port in (tandem_port, redis_port)]
    leaving = [RawClient(port) for port in (tandem_port, redis_port)]
    busy.others.append(late)
    for client in leaving:
        assert client.call("PING") == BUSY_EVAL
        client.send(encode_command("QUIT"))
        assert client.read_until_closed() == b"+OK\r\n"
        client.close()
    # a pipeline from a connection accepted during the busy time, answered in order
    for client in late:
        client.send(encode_command("PING") + encode_command("HELLO", "3") + encode_command("GET", "k"))
    assert [client.read_reply() for client in late] == [BUSY_EVAL, BUSY_EVAL]
    assert all(client.read_reply().startswith(b"%7") for client in late)
    assert [client.read_reply() for client in late] == [BUSY_EVAL, BUSY_EVAL]
    assert busy("GET", "k", other=2) == BUSY_EVAL
    assert busy("SCRIPT", "KILL", other=2) == b"+OK\r\n"
    assert busy.runner_reply().startswith(b"-ERR Script killed")
    # after the script the loop has taken the connection over: same session, RESP3 kept
    assert busy("SET", "k", "v", other=2) == b"+OK\r\n"
    assert busy("GET", "k", other=2) == b"$1\r\nv\r\n"
    assert busy("HGETALL", "nokey", other=2) == b"%0\r\n"
    names = [client.call("CLIENT", "SETNAME", "late") for client in late]
    assert names == [b"+OK\r\n"] * 2
    lists = [client.call("CLIENT", "LIST") for client in late]
    assert all(listing.count(b"name=late") == 1 for listing in lists)


def test_function_stats_when_idle(diff):
    diff("FUNCTION", "STATS")
    diff("FUNCTION", "LOAD", LOOP_LIB)
    diff("FUNCTION", "STATS")
    diff("FUNCTION", "STATS", "x")
    diff("FUNCTION", "KILL")
    diff("FUNCTION", "KILL", "x")
    diff("FUNCTION", "FLUSH")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def own_servers(request: pytest.FixtureRequest) -> Iterator[tuple[BusyPair, list]]:
    """A fresh tandemkv and redis-server (the test shuts them down)."""
    tandem, tandem_port = start_tandem()
    reference, redis_port = start_redis()
    pair = BusyPair((tandem_port, redis_port), request.param)
    yield pair, [tandem, reference]
    pair.close()
    stop(tandem)
    stop(reference)


def test_script_that_wrote_is_unkillable_until_shutdown_nosave(own_servers):
    busy, processes = own_servers
    busy.start("EVAL", "redis.call('set', KEYS[1], 'y') while true do end", 1, "x")
    assert busy("SCRIPT", "KILL") == UNKILLABLE
    assert busy("FUNCTION", "KILL") == UNKILLABLE
    assert busy("GET", "x") == BUSY_EVAL
    assert busy("SHUTDOWN") == BUSY_EVAL
    assert busy("SHUTDOWN", "SAVE") == BUSY_EVAL
    for client in busy.others[0]:
        client.send(encode_command("SHUTDOWN", "NOSAVE"))
        assert client.read_until_closed() == b""
    for process in processes:
        assert process.wait(timeout=10) == 0
