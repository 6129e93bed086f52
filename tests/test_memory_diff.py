"""Differential tests of the memory bound against redis-server: the OOM refusal, MEMORY and
OBJECT FREQ replies and errors, and the INFO memory field names (values differ by nature).

The shared servers get their memory settings back in `finally`, so other tests see defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Diff
from tests.resp import RawClient


def _restore(tandem_port: int, redis_port: int) -> None:
    """Default memory settings on both servers, on fresh connections (the test's own may be
    in subscribed mode)."""
    for port in (tandem_port, redis_port):
        client = RawClient(port)
        client.call("CONFIG", "SET", "maxmemory", "0")
        client.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
        client.close()


@pytest.fixture
def bounded(diff: Diff, tandem_port: int, redis_port: int) -> Iterator[Diff]:
    """Both servers over a 1-byte bound with noeviction (a key is stored first: tandemkv's
    bound leaves out the interpreter's startup footprint, Redis's does not)."""
    diff("SET", "stored", "value")
    diff("CONFIG", "SET", "maxmemory", "1")
    try:
        yield diff
    finally:
        _restore(tandem_port, redis_port)


@pytest.fixture
def lfu(diff: Diff, tandem_port: int, redis_port: int) -> Iterator[Diff]:
    diff("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    try:
        yield diff
    finally:
        _restore(tandem_port, redis_port)


def test_oom_refuses_growing_commands_only(bounded: Diff) -> None:
    diff = bounded
    diff("SET", "k", "v")
    diff("SET", "stored", "other")
    diff("INCR", "counter")
    diff("APPEND", "stored", "more")
    diff("MSET", "a", "1", "b", "2")
    diff("SETNX", "k", "v")
    # Reads, deletes and commands that cannot grow memory still run.
    diff("GET", "stored")
    diff("EXISTS", "stored", "k")
    diff("STRLEN", "stored")
    diff("EXPIRE", "stored", "100")
    diff("PERSIST", "stored")
    diff("MEMORY", "USAGE", "nokey")
    diff("DEL", "stored")
    diff("DBSIZE")
    diff("PING")


def test_oom_comes_after_arity_and_unknown_command_checks(bounded: Diff) -> None:
    diff = bounded
    diff("SET", "k")
    diff("SET")
    diff("NOSUCHCOMMAND", "x")
    diff("SET", "k", "v", "BADOPTION")  # the OOM check comes before the command's own parsing


def test_oom_comes_before_the_subscribed_context_check(bounded: Diff) -> None:
    diff = bounded
    diff("SUBSCRIBE", "channel")
    diff("SET", "k", "v")
    diff("GET", "k")


def test_noeviction_lifted_when_bound_is_raised(bounded: Diff) -> None:
    diff = bounded
    diff("SET", "k", "v")
    diff("CONFIG", "SET", "maxmemory", "0")
    diff("SET", "k", "v")
    diff("GET", "k")


def test_memory_command_errors_and_help(diff: Diff) -> None:
    diff("SET", "k", "v")
    diff("MEMORY", "HELP")
    diff("MEMORY", "help")
    diff("MEMORY")
    diff("MEMORY", "NOSUCH")
    diff("MEMORY", "USAGE")
    diff("MEMORY", "USAGE", "missing")
    diff("MEMORY", "USAGE", "missing", "SAMPLES", "x")
    diff("MEMORY", "USAGE", "k", "SAMPLES")
    diff("MEMORY", "USAGE", "k", "SAMPLES", "x")
    diff("MEMORY", "USAGE", "k", "SAMPLES", "-1")
    diff("MEMORY", "USAGE", "k", "FOO", "1")
    diff("MEMORY", "USAGE", "k", "SAMPLES", "5", "EXTRA")
    diff("MEMORY", "STATS", "extra")
    diff("MEMORY", "PURGE")
    diff("MEMORY", "PURGE", "extra")
    diff("MEMORY", "MALLOC-STATS", "extra")
    ours, theirs = diff.both("MEMORY", "USAGE", "k", "SAMPLES", "0")
    assert ours[:1] == theirs[:1] == b":"


def test_memory_stats_has_redis_fields(diff: Diff) -> None:
    diff("SET", "k", "v")
    ours, theirs = diff.both("MEMORY", "STATS")
    assert ours[:1] == theirs[:1]
    for field in (b"peak.allocated", b"total.allocated", b"startup.allocated", b"db.0", b"keys.count",
                  b"keys.bytes-per-key", b"dataset.bytes", b"dataset.percentage", b"fragmentation.bytes"):
        assert field in ours and field in theirs


def test_object_freq_needs_an_lfu_policy(diff: Diff) -> None:
    diff("SET", "k", "v")
    diff("OBJECT", "FREQ", "k")
    diff("OBJECT", "FREQ", "missing")
    diff("OBJECT", "FREQ")
    diff("OBJECT", "FREQ", "k", "extra")


def test_object_freq_under_lfu(lfu: Diff) -> None:
    diff = lfu
    diff("SET", "fresh", "v")
    diff("OBJECT", "FREQ", "fresh")  # LFU_INIT_VAL
    diff("GET", "fresh")  # from 5 the first increment is certain
    diff("OBJECT", "FREQ", "fresh")
    diff("OBJECT", "FREQ", "missing")


def _field_names(info: bytes) -> list[bytes]:
    body = info.split(b"\r\n", 1)[1]  # the bulk / verbatim length line
    if body.startswith(b"txt:"):
        body = body[4:]
    return [line.split(b":", 1)[0] for line in body.split(b"\r\n") if b":" in line and not line.startswith(b"#")]


def test_info_memory_field_names_match_redis(diff: Diff) -> None:
    ours, theirs = diff.both("INFO", "memory")
    assert _field_names(ours) == _field_names(theirs)
