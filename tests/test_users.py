"""commands/users.py without a server: key pattern matchers agree with the glob module (which
follows Redis's stringmatchlen), selector words split and merge as Redis's do, and a user's
key plan gives each key the access Redis's key specs give it."""

from __future__ import annotations

import itertools

import pytest

import tandemkv.commands  # noqa: F401  (registers every command)
from tandemkv.commands.table import TABLE
from tandemkv.commands.users import (
    READ,
    READ_WRITE,
    WRITE,
    RuleError,
    _bitfield_access,
    _matcher,
    key_plan,
    merge_selectors,
    split_args,
)
from tandemkv.glob import compile_glob

PATTERNS = [b"*", b"**", b"a*", b"a**", b"ab*", b"a\\*", b"a?*", b"[a]*", b"a", b"", b"a*b", b"*a"]
KEYS = [b"", b"a", b"ab", b"abc", b"a*", b"b", b"ba", b"aab"]


@pytest.mark.parametrize(("pattern", "key"), list(itertools.product(PATTERNS, KEYS)))
def test_matchers_agree_with_glob(pattern: bytes, key: bytes) -> None:
    assert _matcher(pattern)(key) == (compile_glob(pattern).fullmatch(key) is not None)


def test_split_args_as_sdssplitargs() -> None:
    assert split_args(b" ~x  +get ") == [b"~x", b"+get"]
    assert split_args(b'"a b" \'c d\' "\\n"') == [b"a b", b"c d", b"\n"]
    for bad in (b'"open', b"'open", b'"a"b'):
        with pytest.raises(RuleError):
            split_args(bad)


def test_merge_selectors() -> None:
    assert merge_selectors([b"on", b"(~x", b"+get)", b"(+set)"]) == [b"on", b"(~x +get)", b"(+set)"]
    with pytest.raises(ValueError, match="~x"):
        merge_selectors([b"(~x", b"+get"])


def _plan(*argv: bytes) -> tuple[tuple[int, int], ...]:
    spec = TABLE.specs[argv[0]]
    plan = key_plan(spec)
    assert plan is not None
    return plan if isinstance(plan, tuple) else plan(list(argv))


def test_key_plans_follow_redis_key_specs() -> None:
    assert _plan(b"get", b"k") == ((1, READ),)
    assert _plan(b"set", b"k", b"v") == ((1, WRITE),)
    assert _plan(b"set", b"k", b"v", b"GET") == ((1, READ_WRITE),)
    assert _plan(b"incr", b"k") == ((1, READ_WRITE),)
    assert _plan(b"lmove", b"a", b"b", b"left", b"left") == ((1, READ_WRITE), (2, WRITE))
    assert _plan(b"zunionstore", b"d", b"2", b"a", b"b") == ((1, WRITE), (3, READ), (4, READ))
    assert _plan(b"sort", b"k", b"store", b"d") == ((1, READ), (3, WRITE))
    assert _plan(b"exists", b"a", b"b") == ((1, 0), (2, 0))
    assert key_plan(TABLE.specs[b"spublish"]) is None
    assert key_plan(TABLE.specs[b"ping"]) is None


def test_bitfield_reads_only_with_gets_alone() -> None:
    assert _bitfield_access([b"bitfield", b"k", b"GET", b"u4", b"0"]) == ((1, READ),)
    assert _bitfield_access([b"bitfield", b"k", b"OVERFLOW", b"SAT", b"GET", b"u4", b"0"]) == ((1, READ),)
    assert _bitfield_access([b"bitfield", b"k", b"GET", b"u4", b"0", b"SET", b"u4", b"0", b"1"]) == ((1, READ_WRITE),)
    assert _bitfield_access([b"bitfield", b"k", b"INCRBY", b"u4", b"0", b"1"]) == ((1, READ_WRITE),)
    assert _bitfield_access([b"bitfield", b"k", b"GET", b"u4"]) == ((1, READ_WRITE),)
