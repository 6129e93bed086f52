"""Differential tests of SORT and SORT_RO against redis-server 7.0.15, RESP2 and RESP3: numeric
and ALPHA orders, ties, BY and GET patterns (missing keys, `#`, constant BY), LIMIT edges,
STORE (and the empty result that deletes), weight parsing errors, and WRONGTYPE."""

from __future__ import annotations

import pytest

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)

SCRIPTS = {
    "numeric": [
        ["RPUSH", "l", "3", "1", "2", "10", "-1.5", "1e2", "0x10", " 7"], ["SORT", "l"], ["SORT", "l", "DESC"],
        ["SORT_RO", "l"], ["RPUSH", "t", "1", "01", "1.0", "+1"], ["SORT", "t"], ["SORT", "t", "DESC"],
        ["RPUSH", "bad", "1", "x"], ["SORT", "bad"], ["RPUSH", "bad2", "1", "nan"], ["SORT", "bad2"],
        # Out-of-range weights (1e400) are refused through strtod's errno, which Redis never
        # resets: the SORTs after one fail too until something else sets errno. Not compared.
        ["RPUSH", "e", "", "2", "-1"], ["SORT", "e"],
        ["RPUSH", "sp", "   "], ["SORT", "sp"], ["RPUSH", "nul", b"1\x00junk", "0"], ["SORT", "nul"],
    ],
    "alpha": [
        ["RPUSH", "l", "b", "a", "c", "B", "", "aa", b"a\x00z", b"a\x00a", b"\xff", "10", "9"], ["SORT", "l", "ALPHA"],
        ["SORT", "l", "ALPHA", "DESC"], ["SORT", "l", "ALPHA", "STORE", "dst"], ["LRANGE", "dst", 0, -1],
        ["SORT", "l", "ALPHA", "DESC", "STORE", "dst"], ["LRANGE", "dst", 0, -1],
    ],
    "limit": [
        ["RPUSH", "l", *[str(i) for i in range(10)]], ["SORT", "l", "LIMIT", 0, 3], ["SORT", "l", "LIMIT", 8, 5],
        ["SORT", "l", "LIMIT", 10, 1], ["SORT", "l", "LIMIT", -5, 2], ["SORT", "l", "LIMIT", 2, -1],
        ["SORT", "l", "LIMIT", 2, 0], ["SORT", "l", "LIMIT", LLONG_MAX, LLONG_MAX], ["SORT", "l", "LIMIT", LLONG_MIN, 3],
        ["SORT", "l", "DESC", "LIMIT", 1, 2], ["SORT", "l", "LIMIT", "x", 1], ["SORT", "l", "LIMIT", 1],
        ["SORT", "nokey", "LIMIT", 0, 1], ["SORT", "l", "BY", "nosort", "LIMIT", 2, 3],
        ["SORT", "l", "BY", "nosort", "DESC", "LIMIT", 2, 3], ["SORT", "l", "BY", "nosort", "LIMIT", 20, 3],
    ],
    "by-and-get": [
        ["RPUSH", "ids", "1", "2", "3", "4"], ["MSET", "w_1", "40", "w_2", "30", "w_3", "x", "n_1", "one", "n_2", "two"],
        ["SORT", "ids", "BY", "w_*"], ["SET", "w_3", "20"], ["SORT", "ids", "BY", "w_*"], ["SORT", "ids", "BY", "w_*", "DESC"],
        ["SORT", "ids", "BY", "w_*", "GET", "n_*"], ["SORT", "ids", "BY", "w_*", "GET", "#", "GET", "n_*", "GET", "w_*"],
        ["SORT", "ids", "BY", "w_*", "ALPHA"], ["SORT", "ids", "BY", "w_*", "ALPHA", "DESC"],
        ["SORT", "ids", "BY", "nosort"], ["SORT", "ids", "BY", "nosort", "DESC"], ["SORT", "ids", "GET", "nostar"],
        ["SORT", "ids", "GET", "n_*->f"], ["SORT", "ids", "BY", "w_*", "GET", "n_*", "STORE", "out"],
        ["LRANGE", "out", 0, -1], ["SORT", "ids", "BY", "w_*", "LIMIT", 1, 2, "GET", "#"],
        ["RPUSH", "n_4", "a-list"], ["SORT", "ids", "GET", "n_*"], ["SORT", "ids", "BY", "n_*", "ALPHA"],
        ["HSET", "h_1", "f", "9", "name", "uno"], ["HSET", "h_2", "f", "1"], ["HSET", "h_3", "name", "tres"],
        ["SORT", "ids", "BY", "h_*->f"], ["SORT", "ids", "BY", "h_*->f", "GET", "h_*->name", "GET", "#"],
        ["SORT", "ids", "GET", "h_*->"], ["SORT", "ids", "GET", "h_*->nofield"], ["SORT", "ids", "GET", "n_*->f"],
        ["SORT", "h_1"], ["SADD", "sids", "3", "1", "2"], ["SORT", "sids"], ["SORT", "sids", "BY", "nosort", "STORE", "o"],
        ["LRANGE", "o", 0, -1], ["ZADD", "zids", "3", "1", "2", "2", "1", "3"], ["SORT", "zids", "BY", "nosort"],
        ["SORT", "zids", "BY", "nosort", "DESC", "LIMIT", 1, 1], ["SORT", "zids", "ALPHA", "DESC"],
        ["SORT", "ids", "GET"], ["SORT", "ids", "BY"], ["SORT", "ids", "FOO"],
    ],
    "store": [
        ["RPUSH", "l", "2", "1"], ["SET", "dst", "string"], ["SORT", "l", "STORE", "dst"], ["TYPE", "dst"],
        ["LRANGE", "dst", 0, -1], ["SORT", "nokey", "STORE", "dst"], ["EXISTS", "dst"], ["SORT", "nokey", "STORE", "dst"],
        ["EXPIRE", "l", 100], ["SORT", "l", "STORE", "l"], ["TTL", "l"], ["SORT_RO", "l", "STORE", "x"],
        ["SORT", "l", "STORE"],
    ],
    "types": [
        ["SET", "s", "v"], ["SORT", "s"], ["SORT_RO", "s"], ["SORT", "nokey"], ["SORT", "s", "FOO"],
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(diff, name: str) -> None:
    for args in SCRIPTS[name]:
        if args[0] == "TTL":
            diff.ttl(args[1])
        else:
            diff(*args)
    diff("FLUSHALL")


def test_sortstore_events(events) -> None:
    for args in (["RPUSH", "l", "2", "1"], ["SORT", "l", "STORE", "d"], ["SORT", "nokey", "STORE", "d"],
                 ["SORT", "nokey", "STORE", "d"]):
        events(*args)
    ours, theirs = events.events()
    assert ours == theirs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"1", 1.0), (b" 7", 7.0), (b"0x10", 16.0), (b"", 0.0), (b"1\x00junk", 1.0), (b"inf", float("inf")),
     (b"-Infinity", float("-inf")), (b"1.", 1.0), (b".5", 0.5),
     (b"x", None), (b"7 ", None), (b"   ", None), (b"nan", None), (b"1e400", None), (b"1e-400", None),
     (b"1e-310", None), (b"1_0", None)],
)
def test_weights_parse_as_strtod(raw: bytes, expected: float | None) -> None:
    from tandemkv.commands.sort import _strtod

    assert _strtod(raw) == expected
