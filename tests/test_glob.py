"""Redis glob rules (tandemkv.glob): a table of cases recorded from redis-server 7.0.15, a
line-by-line Python port of util.c stringmatchlen as an oracle for hypothesis, and a
differential KEYS test against a real redis-server with keys made of tricky bytes."""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandemkv.glob import compile_glob, glob_match


def stringmatchlen(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Redis 7.0 util.c stringmatchlen, transcribed: signed chars, NUL-terminated pattern."""
    pat = pattern + b"\0"
    skip_longer = [False]

    def signed(c: int) -> int:
        return c - 256 if c >= 128 else c

    def lower(c: int) -> int:
        return c + 32 if 65 <= c <= 90 else c

    def impl(p: int, plen: int, s: int, slen: int) -> bool:
        while plen and slen:
            ch = pat[p]
            if ch == ord("*"):
                while plen and pat[p + 1] == ord("*"):
                    p += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, plen - 1, s, slen):
                        return True
                    if skip_longer[0]:
                        return False
                    s += 1
                    slen -= 1
                skip_longer[0] = True
                return False
            elif ch == ord("?"):
                s += 1
                slen -= 1
            elif ch == ord("["):
                p += 1
                plen -= 1
                negate = pat[p] == ord("^")
                if negate:
                    p += 1
                    plen -= 1
                match = False
                while True:
                    if pat[p] == ord("\\") and plen >= 2:
                        p += 1
                        plen -= 1
                        if pat[p] == string[s]:
                            match = True
                    elif pat[p] == ord("]"):
                        break
                    elif plen == 0:
                        p -= 1
                        plen += 1
                        break
                    elif plen >= 3 and pat[p + 1] == ord("-"):
                        start, end, c = signed(pat[p]), signed(pat[p + 2]), signed(string[s])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, c = lower(start), lower(end), lower(c)
                        p += 2
                        plen -= 2
                        if start <= c <= end:
                            match = True
                    elif nocase:
                        if lower(pat[p]) == lower(string[s]):
                            match = True
                    elif pat[p] == string[s]:
                        match = True
                    p += 1
                    plen -= 1
                if negate:
                    match = not match
                if not match:
                    return False
                s += 1
                slen -= 1
            else:
                if ch == ord("\\") and plen >= 2:
                    p += 1
                    plen -= 1
                a, b = pat[p], string[s]
                if (lower(a) != lower(b)) if nocase else (a != b):
                    return False
                s += 1
                slen -= 1
            p += 1
            plen -= 1
            if slen == 0:
                while pat[p] == ord("*"):
                    p += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(string))


# (pattern, subject, matches) -- each checked against redis-server 7.0.15 with KEYS.
CASES = [
    (b"*", b"", False),  # KEYS special-cases exactly "*"; the matcher itself says no
    (b"**", b"", False),
    (b"", b"", True),
    (b"", b"a", False),
    (b"?", b"a", True),
    (b"?", b"", False),
    (b"a*", b"a", True),
    (b"a*b", b"axxb", True),
    (b"a\\*", b"a*", True),
    (b"a\\*", b"ab", False),
    (b"a\\", b"a\\", True),  # a trailing backslash is literal
    (b"[abc]", b"b", True),
    (b"[^abc]", b"b", False),
    (b"[^abc]", b"d", True),
    (b"[a-c]", b"b", True),
    (b"[c-a]", b"b", True),  # reversed range
    (b"[Z-a]", b"\\", True),
    (b"[Z-a]", b"b", False),
    (b"[a-]", b"]", True),  # "a-]" is the range ]..a, and the class is unterminated
    (b"[a-]", b"\\", False),
    (b"[]", b"]", False),  # ']' right after '[' closes an empty class
    (b"[]a]", b"a]", False),
    (b"[]a]", b"a", False),
    (b"[^]", b"x", True),
    (b"[^]a", b"xa", True),
    (b"[", b"[", False),
    (b"[", b"a", False),
    (b"[^", b"a", True),  # unterminated, negated, empty: any byte
    (b"[ab", b"b", True),  # unterminated class keeps what it listed
    (b"[ab", b"ab", False),
    (b"[\\]]", b"]", True),
    (b"[\\", b"\\", True),
    (b"[\\-a]", b"-", True),
    (b"[\\-a]", b"b", False),
    (b"[a-\xff]", b"\x00", True),  # signed chars: the range runs -1..97
    (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"b", False),
    (b"[a-\xff]", b"\x80", False),
    (b"[\xff-\x80]", b"\x90", True),
    (b"[\xff-\x80]", b"a", False),
    (b"\n", b"\n", True),  # DOTALL: newline bytes are ordinary bytes
    (b"?", b"\n", True),
    (b"*", b"a\nb", True),
    (b"[^a]", b"\n", True),
    (b"a.b", b"axb", False),  # regex metacharacters are literal
    (b"(a|b)", b"(a|b)", True),
    (b"a+", b"aa", False),
    (b"${x}", b"${x}", True),
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), CASES)
def test_cases(pattern: bytes, subject: bytes, expected: bool) -> None:
    assert glob_match(pattern, subject) is expected
    assert stringmatchlen(pattern, subject) is expected


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        (b"ABC", b"abc", True),
        (b"a?C", b"AbC", True),
        (b"[A-C]", b"b", True),
        (b"[a-c]", b"B", True),
        (b"[Z-a]", b"z", False),  # tolower after the swap: z..a is empty
        (b"[Z-a]", b"a", False),
        (b"[\\A]", b"a", False),  # an escaped byte in a class compares exactly
        (b"[\\A]", b"A", True),
        (b"\\A", b"a", True),  # outside a class it does not
        (b"[^x]", b"X", False),
        (b"maxmemory*", b"MAXMEMORY-policy", True),
    ],
)
def test_nocase(pattern: bytes, subject: bytes, expected: bool) -> None:
    assert glob_match(pattern, subject, nocase=True) is expected
    assert stringmatchlen(pattern, subject, nocase=True) is expected


def test_compiled_once() -> None:
    assert compile_glob(b"user:[0-9]*") is compile_glob(b"user:[0-9]*")


_PATTERN_BYTES = [b"a", b"b", b"A", b"z", b"*", b"?", b"[", b"]", b"^", b"-", b"\\", b"\x00", b"\x80", b"\xff", b"\n"]
_SUBJECT_BYTES = [b"a", b"b", b"A", b"B", b"z", b"[", b"]", b"^", b"-", b"\\", b"*", b"?", b"\x00", b"\x80", b"\xff", b"\n"]
patterns = st.lists(st.sampled_from(_PATTERN_BYTES), max_size=9).map(b"".join)
subjects = st.lists(st.sampled_from(_SUBJECT_BYTES), max_size=7).map(b"".join)


@settings(max_examples=1000, deadline=None)
@given(patterns, subjects, st.booleans())
def test_matches_stringmatchlen(pattern: bytes, subject: bytes, nocase: bool) -> None:
    assert glob_match(pattern, subject, nocase) is stringmatchlen(pattern, subject, nocase)


# Keys with the bytes that make globs tricky; KEYS patterns built from glob tokens so that
# classes, ranges (signed ones included) and escapes come up often.
_KEY_BYTES = [b"a", b"b", b"A", b"[", b"]", b"^", b"-", b"\\", b"*", b"?", b"\xff"]
_BASE_KEYS = {b"", b"a", b"b]", b"\xff", b"-", b"\\", b"A[b", b"a*b", b"^a"}
tricky_keys = st.lists(st.sampled_from(_KEY_BYTES), max_size=4).map(b"".join)
_class_item = st.sampled_from([b"a", b"b", b"A", b"]", b"^", b"-", b"\\", b"\\]", b"\\-"]) | st.builds(
    lambda start, end: start + b"-" + end,
    st.sampled_from([b"a", b"Z", b"]", b"\\", b"\xff", b"\x80"]),
    st.sampled_from([b"a", b"b", b"^", b"]", b"\xff"]),
)
_glob_class = st.builds(
    lambda negate, items, closed: b"[" + negate + b"".join(items) + closed,
    st.sampled_from([b"", b"^"]),
    st.lists(_class_item, max_size=3),
    st.sampled_from([b"]", b"]", b""]),
)
_glob_token = st.sampled_from([b"a", b"b", b"A", b"z", b"*", b"?", b"\\", b"\\*", b"\\[", b"]", b"-", b"^", b"\xff"]) | _glob_class
tricky_patterns = st.lists(_glob_token, min_size=1, max_size=4).map(b"".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(tricky_keys, max_size=6), st.lists(tricky_patterns, min_size=1, max_size=4))
def test_keys_differential(tandem_port: int, redis_port: int, extra_keys: set[bytes], globs: list[bytes]) -> None:
    keys = _BASE_KEYS | extra_keys
    ours = redis.Redis(port=tandem_port, protocol=2)
    theirs = redis.Redis(port=redis_port, protocol=2)
    try:
        for client in (ours, theirs):
            client.execute_command("FLUSHALL")
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.execute_command("SET", key, b"v")
            pipe.execute()
        # "*" is special-cased by KEYS and SCAN, "**" is not: the empty key tells them apart.
        for pattern in [b"*", b"**", *globs]:
            got = sorted(ours.execute_command("KEYS", pattern))
            want = sorted(theirs.execute_command("KEYS", pattern))
            assert got == want, f"KEYS {pattern!r} over {sorted(keys)!r}"
            scanned = _scan_all(ours, pattern)
            assert sorted(set(scanned)) == want, f"SCAN MATCH {pattern!r} over {sorted(keys)!r}"
    finally:
        ours.close()
        theirs.close()


def _scan_all(client: redis.Redis, pattern: bytes) -> list[bytes]:
    found: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = client.execute_command("SCAN", cursor, "MATCH", pattern, "COUNT", 3)
        found.extend(batch)
        if int(cursor) == 0:
            return found


# Patterns that make a backtracking matcher exponential (CVE-2022-36021): before Redis 7.0.9
# and in tandemkv before its fix, one KEYS with such a pattern held the server for minutes.
_HOSTILE = [
    (b"a*" * 20 + b"b", b"a" * 40),
    (b"*a" * 30 + b"*b", b"a" * 200),
    (b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*[^a]", b"a" * 300),
    (b"*?" * 25 + b"x", b"y" * 300),
    (b"*[a-c]" * 12 + b"*d", b"abc" * 100),
]


@pytest.mark.parametrize(("pattern", "subject"), _HOSTILE)
def test_hostile_patterns_are_polynomial(pattern: bytes, subject: bytes) -> None:
    # The oracle's skip_longer rule agrees, so the answers are Redis's; the compiled pattern
    # places each middle segment once (atomic groups): no nested backtracking to time out on.
    assert glob_match(pattern, subject) is stringmatchlen(pattern, subject) is False
    assert compile_glob(pattern).pattern.count(b"(?>") == pattern.count(b"*") - 1
    matching = subject + pattern[-1:]
    assert glob_match(pattern, matching) is stringmatchlen(pattern, matching)


def test_hostile_keys_leaves_the_server_responsive(r: redis.Redis) -> None:
    r.set(b"a" * 40, b"v")
    hostile = b"a*" * 20 + b"b"
    # A fixed byte budget rather than a clock: the whole exchange must finish in one socket
    # timeout that a backtracking matcher (minutes) cannot meet on any machine.
    client = redis.Redis(port=r.connection_pool.connection_kwargs["port"], socket_timeout=20)
    try:
        assert client.keys(hostile) == []
        assert client.keys(b"a*" * 20) == [b"a" * 40]
        assert client.ping()
    finally:
        client.close()
