"""Differential tests of the list commands against redis-server 7.0.15, RESP2 and RESP3:
every command and option, error replies, keyspace events, blocking wake-up order, timeouts,
pipelining behind a blocked command, CLIENT UNBLOCK, and random operation sequences."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)

SCRIPTS = {
    "push": [
        ["LPUSH", "l", "a"], ["LPUSH", "l", "b", "c"], ["RPUSH", "l", "d", "e"], ["LRANGE", "l", 0, -1],
        ["LPUSHX", "nokey", "a"], ["RPUSHX", "nokey", "a"], ["EXISTS", "nokey"], ["LPUSHX", "l", "x", "y"],
        ["RPUSHX", "l", "z"], ["LRANGE", "l", 0, -1], ["LLEN", "l"], ["LLEN", "nokey"], ["LPUSH", "l"],
        ["RPUSH", "l"], ["LPUSHX", "l"], ["RPUSH", "bin", b"\x00\xff\r\n", b""], ["LRANGE", "bin", 0, -1],
        ["TYPE", "l"], ["OBJECT", "ENCODING", "l"],
    ],
    "index-set": [
        ["RPUSH", "l", "a", "b", "c", "d"], ["LINDEX", "l", 0], ["LINDEX", "l", -1], ["LINDEX", "l", 3],
        ["LINDEX", "l", 4], ["LINDEX", "l", -5], ["LINDEX", "l", "x"], ["LINDEX", "nokey", "x"],
        ["LINDEX", "l", LLONG_MAX], ["LINDEX", "l", LLONG_MIN], ["LINDEX", "l", "99999999999999999999"],
        ["LSET", "l", 0, "A"], ["LSET", "l", -1, "D"], ["LSET", "l", 4, "x"], ["LSET", "l", -5, "x"],
        ["LSET", "nokey", 0, "x"], ["LSET", "l", "x", "y"], ["LSET", "nokey", "x", "y"], ["LRANGE", "l", 0, -1],
    ],
    "insert": [
        ["RPUSH", "l", "a", "b", "a"], ["LINSERT", "l", "BEFORE", "a", "x"], ["LINSERT", "l", "after", "a", "y"],
        ["LINSERT", "l", "AFTER", "zz", "y"], ["LINSERT", "nokey", "BEFORE", "a", "x"],
        ["LINSERT", "l", "middle", "a", "x"], ["LINSERT", "nokey", "middle", "a", "x"], ["LRANGE", "l", 0, -1],
    ],
    "range": [
        ["RPUSH", "l", *"abcdefghij"], ["LRANGE", "l", 0, 2], ["LRANGE", "l", -3, -1], ["LRANGE", "l", 5, 2],
        ["LRANGE", "l", -100, 100], ["LRANGE", "l", 10, 20], ["LRANGE", "l", -1, -2], ["LRANGE", "l", 8, -1],
        ["LRANGE", "nokey", 0, -1], ["LRANGE", "l", "a", 1], ["LRANGE", "l", 0, "b"], ["LRANGE", "nokey", "a", 1],
        ["LRANGE", "l", LLONG_MIN, LLONG_MAX],
    ],
    "trim": [
        ["RPUSH", "l", *"abcdefghij"], ["LTRIM", "l", 1, -2], ["LRANGE", "l", 0, -1], ["LTRIM", "l", -3, 100],
        ["LRANGE", "l", 0, -1], ["LTRIM", "nokey", 0, 1], ["LTRIM", "l", "x", 1], ["LTRIM", "l", 5, 1],
        ["EXISTS", "l"], ["RPUSH", "m", "a"], ["LTRIM", "m", 0, 0], ["LRANGE", "m", 0, -1],
    ],
    "rem": [
        ["RPUSH", "l", *"abacabaca"], ["LREM", "l", 2, "a"], ["LRANGE", "l", 0, -1], ["LREM", "l", -1, "a"],
        ["LRANGE", "l", 0, -1], ["LREM", "l", 0, "a"], ["LRANGE", "l", 0, -1], ["LREM", "l", 0, "zz"],
        ["LREM", "nokey", 0, "a"], ["LREM", "l", "x", "a"], ["LREM", "l", 0, "b"], ["LREM", "l", 0, "c"],
        ["EXISTS", "l"],
    ],
    "pop": [
        ["RPUSH", "l", *"abcdef"], ["LPOP", "l"], ["RPOP", "l"], ["LPOP", "l", 2], ["RPOP", "l", 0],
        ["LPOP", "l", "x"], ["LPOP", "l", -1], ["RPOP", "l", 10], ["EXISTS", "l"], ["LPOP", "nokey"],
        ["LPOP", "nokey", 2], ["LPOP", "nokey", 0], ["RPOP", "nokey", "x"], ["LPOP", "l", 1, 2],
        ["RPUSH", "l", "a"], ["RPOP", "l", LLONG_MAX], ["LPOP", "l", LLONG_MIN],
    ],
    "pos": [
        ["RPUSH", "l", *"abcabcabc"], ["LPOS", "l", "c"], ["LPOS", "l", "c", "RANK", 2], ["LPOS", "l", "c", "RANK", -1],
        ["LPOS", "l", "c", "RANK", -2, "COUNT", 0], ["LPOS", "l", "c", "COUNT", 2], ["LPOS", "l", "c", "COUNT", 0],
        ["LPOS", "l", "c", "MAXLEN", 3], ["LPOS", "l", "c", "MAXLEN", 2], ["LPOS", "l", "c", "COUNT", 0, "MAXLEN", 6],
        ["LPOS", "l", "z"], ["LPOS", "l", "z", "COUNT", 1], ["LPOS", "nokey", "a"], ["LPOS", "nokey", "a", "COUNT", 1],
        ["LPOS", "l", "c", "RANK", 0], ["LPOS", "l", "c", "COUNT", -1], ["LPOS", "l", "c", "MAXLEN", -1],
        ["LPOS", "l", "c", "RANK", "x"], ["LPOS", "l", "c", "COUNT", "x"], ["LPOS", "l", "c", "MAXLEN", "x"],
        ["LPOS", "l", "c", "RANK"], ["LPOS", "l", "c", "FOO", 1], ["LPOS", "l", "c", "RANK", 10],
        ["LPOS", "l", "c", "RANK", LLONG_MIN], ["LPOS", "l", "c", "RANK", LLONG_MIN, "COUNT", 1],
        ["LPOS", "l", "c", "RANK", 2, "RANK", 1, "COUNT", 5, "COUNT", 1],
    ],
    "move": [
        ["RPUSH", "a", "1", "2", "3"], ["LMOVE", "a", "b", "LEFT", "RIGHT"], ["LMOVE", "a", "b", "right", "left"],
        ["LRANGE", "a", 0, -1], ["LRANGE", "b", 0, -1], ["RPOPLPUSH", "a", "b"], ["EXISTS", "a"],
        ["RPOPLPUSH", "a", "b"], ["LMOVE", "nokey", "b", "LEFT", "LEFT"], ["LMOVE", "b", "b", "LEFT", "RIGHT"],
        ["LRANGE", "b", 0, -1], ["LMOVE", "b", "c", "UP", "LEFT"], ["LMOVE", "b", "c", "LEFT", "UP"],
        ["LMOVE", "nokey", "c", "UP", "LEFT"], ["SET", "s", "v"], ["LMOVE", "b", "s", "LEFT", "LEFT"],
        ["RPOPLPUSH", "s", "b"], ["RPOPLPUSH", "b", "s"], ["LRANGE", "b", 0, -1], ["RPUSH", "one", "x"],
        ["RPOPLPUSH", "one", "one"], ["LRANGE", "one", 0, -1],
    ],
    "mpop": [
        ["RPUSH", "a", *"abcde"], ["LMPOP", 2, "nokey", "a", "LEFT"], ["LMPOP", 2, "nokey", "a", "RIGHT", "COUNT", 2],
        ["LMPOP", 1, "a", "LEFT", "COUNT", 10], ["LMPOP", 1, "a", "LEFT"], ["LMPOP", 0, "a", "LEFT"],
        ["LMPOP", -1, "a", "LEFT"], ["LMPOP", "x", "a", "LEFT"], ["LMPOP", 2, "a", "LEFT"], ["LMPOP", 1, "a", "UP"],
        ["LMPOP", 1, "a", "LEFT", "COUNT", 0], ["LMPOP", 1, "a", "LEFT", "COUNT", "x"],
        ["LMPOP", 1, "a", "LEFT", "COUNT", 1, "COUNT", 1], ["LMPOP", 1, "a", "LEFT", "FOO"],
        ["LMPOP", 1, "a", "LEFT", "COUNT"], ["SET", "s", "v"], ["LMPOP", 2, "s", "a", "LEFT"],
        ["RPUSH", "b", "x"], ["LMPOP", 2, "b", "s", "LEFT"], ["LMPOP", 5, "a", "LEFT"],
    ],
    "nonblocking-forms-when-data-is-there": [
        ["RPUSH", "a", "1", "2"], ["BLPOP", "nokey", "a", 0], ["BRPOP", "a", 0], ["EXISTS", "a"],
        ["RPUSH", "a", "1", "2"], ["BLMOVE", "a", "b", "LEFT", "LEFT", 0], ["BRPOPLPUSH", "a", "b", 0],
        ["LRANGE", "b", 0, -1], ["BLMPOP", 0, 1, "b", "RIGHT", "COUNT", 5],
        ["BLPOP", "a", "x"], ["BLPOP", "a", -1], ["BLPOP", "a", "-1.5"], ["BLPOP", "a", " 1"],
        ["BLPOP", "a", "1 "], ["BLPOP", "a", "nan"], ["BLPOP", "a", "inf"], ["BLPOP", "a", "1e400"],
        ["BLMPOP", "x", 1, "a", "LEFT"], ["BLMPOP", 0, 0, "a", "LEFT"], ["BLMPOP", "x", 0, "a", "LEFT"],
        ["BLMOVE", "a", "b", "UP", "LEFT", "x"], ["BLMOVE", "a", "b", "LEFT", "LEFT", "x"],
        ["BRPOPLPUSH", "a", "b", "x"], ["SET", "s", "v"], ["BLPOP", "s", 0], ["BLMOVE", "s", "b", "LEFT", "LEFT", 0],
        ["RPUSH", "c", "1"], ["BLMOVE", "c", "s", "LEFT", "LEFT", 0],
    ],
    "wrongtype": [
        ["SET", "s", "v"], ["LPUSH", "s", "a"], ["RPUSH", "s", "a"], ["LPUSHX", "s", "a"], ["LINSERT", "s", "BEFORE", "a", "b"],
        ["LLEN", "s"], ["LINDEX", "s", 0], ["LSET", "s", 0, "a"], ["LRANGE", "s", 0, -1], ["LTRIM", "s", 0, 1],
        ["LREM", "s", 0, "a"], ["LPOP", "s"], ["RPOP", "s", 2], ["LPOS", "s", "a"], ["LMPOP", 1, "s", "LEFT"],
        ["RPUSH", "l", "a"], ["GET", "l"], ["APPEND", "l", "x"], ["INCR", "l"], ["STRLEN", "l"], ["SETRANGE", "l", 0, "x"],
        ["GETDEL", "l"], ["LCS", "l", "s"], ["TYPE", "l"], ["SET", "l", "now-a-string"], ["TYPE", "l"],
    ],
    "generic": [
        ["RPUSH", "l", "a", "b"], ["COPY", "l", "c"], ["RPUSH", "c", "x"], ["LRANGE", "l", 0, -1], ["LRANGE", "c", 0, -1],
        ["RENAME", "c", "d"], ["LRANGE", "d", 0, -1], ["MOVE", "d", 1], ["SELECT", 1], ["LRANGE", "d", 0, -1],
        ["SELECT", 0], ["EXPIRE", "l", 100], ["LPUSH", "l", "z"], ["TTL", "l"], ["DEL", "l"], ["EXISTS", "l"],
        ["RPUSH", "l", "x"], ["SCAN", 0, "TYPE", "list"], ["SCAN", 0, "TYPE", "string"],
        ["CONFIG", "GET", "list-max-ziplist-size"], ["CONFIG", "SET", "list-max-ziplist-size", "-1"],
        ["CONFIG", "GET", "list-max-listpack-size"], ["CONFIG", "SET", "list-max-listpack-size", "-2"],
        ["CONFIG", "GET", "list-compress-depth"], ["CONFIG", "SET", "list-compress-depth", "x"],
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(diff, name: str) -> None:
    for args in SCRIPTS[name]:
        diff(*args)
    diff("FLUSHALL")


# The events each command raises, in Redis's order.
EVENT_SCRIPTS = [
    ["RPUSH", "l", "a", "b", "c"], ["LPUSH", "l", "x"], ["LPUSHX", "l", "y"], ["RPUSHX", "nokey", "y"],
    ["LINSERT", "l", "BEFORE", "a", "q"], ["LINSERT", "l", "BEFORE", "zz", "q"], ["LSET", "l", 0, "w"],
    ["LREM", "l", 1, "q"], ["LREM", "l", 1, "zz"], ["LTRIM", "l", 0, 10], ["LPOP", "l"], ["RPOP", "l", 2],
    ["LMOVE", "l", "m", "LEFT", "RIGHT"], ["RPOPLPUSH", "l", "m"], ["RPOPLPUSH", "m", "m"], ["LMPOP", 1, "m", "LEFT", "COUNT", 5],
    ["RPUSH", "t", "a"], ["LTRIM", "t", 1, 0], ["RPUSH", "r", "a"], ["LREM", "r", 0, "a"], ["RPUSH", "p", "a"],
    ["BLPOP", "p", 0], ["RPUSH", "p", "a", "b"], ["BRPOPLPUSH", "p", "p2", 0], ["BLMPOP", 0, 1, "p", "RIGHT"],
]


def test_keyspace_events(events) -> None:
    for args in EVENT_SCRIPTS:
        events(*args)
    ours, theirs = events.events()
    assert ours == theirs


# ----------------------------------------------------------------- blocking


def test_waiters_are_served_in_the_order_they_blocked(blocking) -> None:
    b = blocking(3)
    for i in range(3):
        b.send(i, "BLPOP", "q", "other", 0)
        b.wait_blocked(i + 1)
    b.call("RPUSH", "q", "1", "2")  # two elements: the first two waiters, the third keeps waiting
    assert b.read(0).endswith(b"1\r\n")
    assert b.read(1).endswith(b"2\r\n")
    b.nothing_yet(2)
    b.call("LPUSH", "other", "x")
    b.read(2)
    b.call("EXISTS", "q", "other")


def test_one_waiter_takes_a_count_the_next_keeps_waiting(blocking) -> None:
    b = blocking(2)
    b.send(0, "BLMPOP", 0, 2, "a", "q", "RIGHT", "COUNT", 5)
    b.wait_blocked(1)
    b.send(1, "BRPOP", "q", 0)
    b.wait_blocked(2)
    b.call("RPUSH", "q", "1", "2", "3")
    b.read(0)
    b.nothing_yet(1)
    b.call("RPUSH", "q", "4")
    b.read(1)


def test_timeouts_and_pipelined_commands_wait_behind(blocking) -> None:
    b = blocking(2)
    b.send(0, "BLPOP", "q", "0.05")
    b.send(0, "PING")  # pipelined behind the blocked command
    b.read(0)  # the timeout: a null array
    b.read(0)  # then PONG
    b.send(1, "BLMOVE", "q", "d", "LEFT", "RIGHT", "0.05")
    b.read(1)  # a null bulk
    b.send(1, "BRPOPLPUSH", "q", "d", "0")
    b.send(1, "LLEN", "d")
    b.wait_blocked(1)
    b.nothing_yet(1)
    b.call("LPUSH", "q", "x")
    b.read(1)
    b.read(1)  # LLEN d ran after the move: 1
    b.call("LRANGE", "d", 0, -1)


def test_blmove_served_onto_a_wrong_type_destination_gets_the_error(blocking) -> None:
    b = blocking(1)
    b.send(0, "BLMOVE", "q", "d", "LEFT", "RIGHT", 0)
    b.wait_blocked(1)
    b.call("SET", "d", "string")
    b.call("RPUSH", "q", "x")
    b.read(0)  # WRONGTYPE, and unblocked
    b.call("LRANGE", "q", 0, -1)


def test_blmove_chain_readies_the_destination(blocking) -> None:
    b = blocking(2)
    b.send(0, "BLMOVE", "a", "b", "LEFT", "RIGHT", 0)
    b.wait_blocked(1)
    b.send(1, "BLPOP", "b", 0)
    b.wait_blocked(2)
    b.call("RPUSH", "a", "x")
    b.read(0)
    b.read(1)
    b.call("EXISTS", "a", "b")


def test_a_string_write_leaves_list_waiters_blocked(blocking) -> None:
    b = blocking(1)
    b.send(0, "BLPOP", "k", 0)
    b.wait_blocked(1)
    b.call("SET", "k", "v")
    b.nothing_yet(0)
    b.call("DEL", "k")
    b.call("RPUSH", "k", "now")
    b.read(0)


def test_client_unblock(blocking) -> None:
    b = blocking(2)
    ids = []
    for index in range(2):
        b.send(index, "CLIENT", "ID")
        ids.append([int(client.read_reply()[1:-2]) for client in b.clients[index]])
    b.send(0, "BLPOP", "q", 0)
    b.send(1, "BLPOP", "q", 0)
    b.wait_blocked(2)
    for client, client_id in zip(b.control, ids[0], strict=True):
        assert client.call("CLIENT", "UNBLOCK", client_id, "TIMEOUT") == b":1\r\n"
    b.read(0)
    for client, client_id in zip(b.control, ids[1], strict=True):
        assert client.call("CLIENT", "UNBLOCK", client_id, "ERROR") == b":1\r\n"
    b.read(1)
    for client, client_id in zip(b.control, ids[1], strict=True):
        assert client.call("CLIENT", "UNBLOCK", client_id) == b":0\r\n"
    b.call("CLIENT", "UNBLOCK", "x")
    b.call("CLIENT", "UNBLOCK", 1, "FOO")
    b.call("CLIENT", "UNBLOCK", "x", "FOO")
    b.call("CLIENT", "UNBLOCK", 1, "TIMEOUT", "extra")


def test_a_client_that_disconnects_while_blocked_is_forgotten(blocking) -> None:
    b = blocking(2)
    b.send(0, "BLPOP", "q", 0)
    b.wait_blocked(1)
    for client in b.clients[0]:
        client.close()
    b.wait_blocked(0)
    b.send(1, "BLPOP", "q", 0)
    b.wait_blocked(1)
    b.call("RPUSH", "q", "x")
    b.read(1)
    b.call("LLEN", "q")


# ------------------------------------------------------------------ random

_KEYS = st.sampled_from(["a", "b", "c"])
_ELEMENTS = st.sampled_from(["x", "y", "z", "1", ""])
_INDEX = st.integers(-6, 6)
_OPS = st.one_of(
    st.tuples(st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), _KEYS, _ELEMENTS, _ELEMENTS),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), _KEYS),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), _KEYS, st.integers(0, 4)),
    st.tuples(st.just("LINDEX"), _KEYS, _INDEX),
    st.tuples(st.just("LSET"), _KEYS, _INDEX, _ELEMENTS),
    st.tuples(st.sampled_from(["LRANGE", "LTRIM"]), _KEYS, _INDEX, _INDEX),
    st.tuples(st.just("LREM"), _KEYS, _INDEX, _ELEMENTS),
    st.tuples(st.just("LINSERT"), _KEYS, st.sampled_from(["BEFORE", "AFTER"]), _ELEMENTS, _ELEMENTS),
    st.tuples(st.just("LPOS"), _KEYS, _ELEMENTS, st.just("RANK"), st.sampled_from([1, 2, -1, -2]),
              st.just("COUNT"), st.integers(0, 3)),
    st.tuples(st.just("LMOVE"), _KEYS, _KEYS, st.sampled_from(["LEFT", "RIGHT"]), st.sampled_from(["LEFT", "RIGHT"])),
    st.tuples(st.just("LMPOP"), st.just(2), _KEYS, _KEYS, st.sampled_from(["LEFT", "RIGHT"]), st.just("COUNT"),
              st.integers(1, 3)),
    st.tuples(st.just("LLEN"), _KEYS),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_OPS, max_size=30))
def test_random_sequences(diff, ops) -> None:
    diff("FLUSHALL")
    for op in ops:
        diff(*op)
    for key in ("a", "b", "c"):
        diff("LRANGE", key, 0, -1)
