"""COMMAND and its subcommands, generated from the table, compared with redis-server."""

from __future__ import annotations

import pytest
import redis

from tandemkv.commands import TABLE
from tandemkv.server import app  # noqa: F401  (the whole table, as the server has it: scripting, persistence)

# Commands without keys whose whole COMMAND INFO entry matches Redis byte for byte.
KEYLESS = [
    "ping", "echo", "select", "hello", "auth", "quit", "reset", "dbsize", "flushdb", "flushall",
    "swapdb", "time", "lastsave", "role", "shutdown", "info", "config|get", "config|set",
    "config|help", "config|resetstat", "client|id", "client|setname", "client|getname",
    "client|list", "client|info", "client|kill", "client|help", "command|count", "command|info",
    "command|docs", "command|list", "command|getkeys", "command|help", "function|flush",
]


@pytest.mark.parametrize("name", KEYLESS)
def test_command_info_keyless_exact(diff, name):
    diff("COMMAND", "INFO", name)


def _unparsed(client: redis.Redis, *args: str) -> object:
    """A reply without redis-py's COMMAND callback, which assumes every reply is COMMAND's."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


def _entries(port: int, names: list[str]) -> list[list[object]]:
    client = redis.Redis(port=port, protocol=2)
    try:
        return _unparsed(client, "COMMAND", "INFO", *names)
    finally:
        client.close()


def _common_commands(tandem_port: int, redis_port: int) -> list[str]:
    names = sorted(spec.name for spec in TABLE)
    theirs = _entries(redis_port, names)
    return [name for name, entry in zip(names, theirs, strict=True) if entry is not None]


def test_command_info_all_common_commands(tandem_port, redis_port):
    """Name, arity, flags, legacy key positions, categories and tips of every shared command."""
    names = _common_commands(tandem_port, redis_port)
    assert "get" in names and "set" in names
    ours = _entries(tandem_port, names)
    theirs = _entries(redis_port, names)
    mismatches = []
    for name, mine, reference in zip(names, ours, theirs, strict=True):
        if mine[:7] != reference[:7]:
            mismatches.append((name, mine[:7], reference[:7]))
        for sub_mine, sub_ref in zip(sorted(mine[9]), sorted(reference[9]), strict=False):
            if sub_mine[0] == sub_ref[0] and sub_mine[:7] != sub_ref[:7]:
                mismatches.append((sub_mine[0], sub_mine[:7], sub_ref[:7]))
    assert not mismatches


def test_command_info_unknown_and_errors(diff):
    diff("COMMAND", "INFO", "nosuch")
    diff("COMMAND", "INFO", "nosuch", "config|nosuch", "nosuch|get")
    diff("COMMAND", "FOO")
    diff("COMMAND", "COUNT", "x")
    diff("COMMAND", "HELP")
    diff("COMMAND", "HELP", "x")
    diff("COMMAND", "DOCS", "nosuch")


def test_command_getkeys(diff):
    for args in (
        ("COMMAND", "GETKEYS"),
        ("COMMAND", "GETKEYS", "get"),
        ("COMMAND", "GETKEYS", "get", "a"),
        ("COMMAND", "GETKEYS", "GET", "a"),
        ("COMMAND", "GETKEYS", "get", "a", "b"),
        ("COMMAND", "GETKEYS", "set", "a", "b", "EX", "10"),
        ("COMMAND", "GETKEYS", "nosuch", "a"),
        ("COMMAND", "GETKEYS", "ping", "a"),
        ("COMMAND", "GETKEYS", "config", "get"),
        ("COMMAND", "GETKEYS", "config", "get", "x"),
        ("COMMAND", "GETKEYS", "config", "nosuch", "x"),
    ):
        diff(*args)


def test_command_list(diff):
    for args in (
        ("COMMAND", "LIST", "x"),
        ("COMMAND", "LIST", "FILTERBY"),
        ("COMMAND", "LIST", "FILTERBY", "foo", "x"),
        ("COMMAND", "LIST", "FILTERBY", "MODULE", "x"),
        ("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"),
        ("COMMAND", "LIST", "FILTERBY", "PATTERN", "nosuch*"),
        ("COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG|G*"),
        ("COMMAND", "LIST", "FILTERBY", "PATTERN", "client|setn?me"),
    ):
        diff(*args)


def test_command_list_and_count_agree(r):
    names = _unparsed(r, "COMMAND", "LIST")
    assert b"get" in names and b"config|get" in names and b"client|list" in names
    top = [name for name in names if b"|" not in name]
    assert r.command_count() == len(top) == len(TABLE)
    connection = _unparsed(r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection")
    assert b"ping" in connection and b"client|id" in connection and b"get" not in connection
    assert len(_unparsed(r, "COMMAND")) == len(TABLE)


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_docs_and_redis_py(tandem_port, protocol):
    client = redis.Redis(port=tandem_port, protocol=protocol)
    docs = _unparsed(client, "COMMAND", "DOCS", "get", "config")
    if protocol == 2:
        docs = dict(zip(docs[0::2], docs[1::2], strict=True))
        get_doc = dict(zip(docs[b"get"][0::2], docs[b"get"][1::2], strict=True))
    else:
        get_doc = docs[b"get"]
    assert get_doc[b"group"] == b"string" and get_doc[b"since"] == b"1.0.0"
    assert get_doc[b"summary"]
    commands = client.command()
    assert commands["get"]["arity"] == 2
    assert commands["get"]["first_key_pos"] == 1
    assert "readonly" in commands["get"]["flags"]
    assert client.command_getkeys("SET", "k", "v") in (["k"], [b"k"])
    client.close()


def test_command_docs_shape_matches_redis(diff):
    ours, theirs = diff.both("COMMAND", "DOCS", "ping")
    assert ours.split(b"\r\n")[:3] == theirs.split(b"\r\n")[:3]


def test_command_getkeys_of_movable_key_commands(diff):
    for args in (
        ["SORT", "abc", "STORE", "def"], ["SORT", "abc", "LIMIT", "0", "1", "GET", "store", "STORE", "d"],
        ["SORT_RO", "abc", "BY", "w_*"], ["LMPOP", "2", "a", "b", "LEFT"], ["BLMPOP", "0", "2", "a", "b", "LEFT"],
        ["ZMPOP", "1", "z", "MIN"], ["BZMPOP", "0", "2", "y", "z", "MAX"], ["SINTERCARD", "2", "a", "b"],
        ["ZUNION", "2", "a", "b"], ["ZINTER", "1", "a", "WITHSCORES"], ["ZDIFF", "2", "a", "b"],
        ["ZUNIONSTORE", "d", "2", "a", "b"], ["ZINTERSTORE", "d", "1", "a"], ["ZDIFFSTORE", "d", "2", "a", "b"],
        ["ZINTERCARD", "2", "a", "b", "LIMIT", "1"], ["EVAL", "return 1", "0"], ["EVAL", "return 1", "2", "k1", "k2", "a"],
        ["EVALSHA_RO", "x" * 40, "1", "k"], ["FCALL", "f", "1", "k", "arg"], ["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"],
        ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], ["LMPOP", "x", "a", "LEFT"], ["LMPOP", "5", "a", "LEFT"],
        ["XREAD", "STREAMS", "a", "b", "0"], ["GET", "k"], ["MSET", "a", "1", "b", "2"],
    ):
        diff("COMMAND", "GETKEYS", *args)
