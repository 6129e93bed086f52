"""MONITOR and SLOWLOG against redis-server 7.0.15: the same commands give the same monitor
lines (timestamps and client ports aside) and the same slow-log entries (ids, times and
durations aside), in RESP2 and RESP3; errors and HELP byte for byte."""

from __future__ import annotations

import re

import hiredis
import pytest

from tests.resp import RawClient

_LINE = re.compile(rb"\+(\d+)\.(\d{6}) \[(\d+) ([^\]]+)\] (.*)\r\n")


def _parse(raw: bytes) -> object:
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


def _monitor_lines(port: int, resp: int, commands: list[list[object]]) -> list[tuple[bytes, bytes]]:
    watcher, worker = RawClient(port), RawClient(port)
    try:
        if resp == 3:
            watcher.call("HELLO", "3")
        assert watcher.call("MONITOR") == b"+OK\r\n"
        for args in commands:
            worker.call(*args)
        worker.call("ECHO", "end-of-test")
        lines = []
        while True:
            raw = watcher.read_reply()
            match = _LINE.fullmatch(raw)
            assert match is not None, raw
            lines.append((match.group(3), match.group(5)))
            if b"end-of-test" in raw:
                return lines
    finally:
        watcher.close()
        worker.close()


COMMANDS: list[list[object]] = [
    ["SET", "k", b'a "quoted" \\ \n\r\t\x07\x08\x00\xff value'], ["GET", "k"], ["CONFIG", "GET", "port"],
    ["SELECT", "3"], ["RPUSH", "l", "1"], ["MULTI"], ["INCR", "n"], ["LPOP", "l"], ["EXEC"], ["NOSUCH", "x"],
    ["SET", "k"], ["DEBUG", "HELP"], ["SLOWLOG", "LEN"], ["PING"],
]


@pytest.mark.parametrize("resp", [2, 3])
def test_monitor_lines_match_redis(tandem_port: int, redis_port: int, resp: int) -> None:
    ours = _monitor_lines(tandem_port, resp, COMMANDS)
    theirs = _monitor_lines(redis_port, resp, COMMANDS)
    assert ours == theirs


def test_monitor_refused_inside_multi(diff) -> None:
    diff("MULTI")
    diff("MONITOR")
    diff("EXEC")


def _slowlog(client: RawClient) -> list[tuple[object, object]]:
    entries = _parse(client.call("SLOWLOG", "GET", "-1"))
    assert isinstance(entries, list)
    return [(entry[3], entry[5]) for entry in entries]  # argv, client name


def test_slowlog_entries_match_redis(tandem_port: int, redis_port: int) -> None:
    clients = [RawClient(tandem_port), RawClient(redis_port)]
    try:
        for client in clients:
            client.call("SLOWLOG", "RESET")
            client.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
            client.call("CONFIG", "SET", "slowlog-max-len", "5")
            client.call("CLIENT", "SETNAME", "slow-one")
            client.call("SET", "k", "x" * 200)
            client.call("RPUSH", "l", *[str(i) for i in range(40)])
            client.call("EXEC")  # an error: not logged by Redis either (rejected)
            client.call("GET", "k")
            client.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
            client.call("GET", "k")  # off: not logged
        ours, theirs = (_slowlog(client) for client in clients)
        assert ours == theirs
        lens = [client.call("SLOWLOG", "LEN") for client in clients]
        assert lens[0] == lens[1]
        for args in (["SLOWLOG", "GET", "1"], ["SLOWLOG", "GET", "-2"], ["SLOWLOG", "GET", "x"],
                     ["SLOWLOG", "GET", "1", "2"], ["SLOWLOG", "HELP"], ["SLOWLOG", "FOO"], ["SLOWLOG"],
                     ["SLOWLOG", "RESET"], ["SLOWLOG", "LEN"], ["SLOWLOG", "GET"]):
            replies = [client.call(*args) for client in clients]
            if args == ["SLOWLOG", "GET", "1"]:
                replies = [len(_parse(reply)) for reply in replies]  # type: ignore[arg-type]
            assert replies[0] == replies[1], args
    finally:
        for client in clients:
            client.call("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            client.call("CONFIG", "SET", "slowlog-max-len", "128")
            client.close()


def test_errorstats_match_redis(diff) -> None:
    diff("CONFIG", "RESETSTAT")
    for args in (["NOSUCH"], ["SET", "a"], ["RPUSH", "l", "x"], ["GET", "l"], ["INCR", "l"], ["MULTI"],
                 ["NOSUCH"], ["EXEC"], ["EXEC"], ["LPOS", "l", "x", "RANK", 0], ["CLIENT", "UNBLOCK", "x"]):
        diff(*args)
    diff("INFO", "errorstats")
    diff("CONFIG", "RESETSTAT")
    diff("INFO", "errorstats")


def test_script_commands_show_as_lua(tandem_port: int, redis_port: int) -> None:
    script = [["EVAL", "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", 1, "k", "v"]]
    ours, theirs = (_monitor_lines(port, 2, script) for port in (tandem_port, redis_port))
    assert ours == theirs and any(line[1].startswith(b'"set"') for line in ours)
