"""CONFIG GET/SET/RESETSTAT/HELP against redis-server, and the Config table itself."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tandemkv.config import Config, ConfigError, UnknownParameter
from tests.conftest import start_tandem, stop


def _restore(diff):
    diff("CONFIG", "SET", "maxmemory", "0", "hz", "10", "maxmemory-policy", "noeviction", "maxmemory-samples", "5")
    diff("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
    diff.tandem.call("CONFIG", "SET", "notify-keyspace-events", "Ex")
    diff.redis.call("CONFIG", "SET", "notify-keyspace-events", "")


def test_config_get(diff):
    for args in (
        ("CONFIG",),
        ("CONFIG", "GET"),
        ("CONFIG", "GET", "nosuch"),
        ("CONFIG", "GET", "maxmemory"),
        ("CONFIG", "GET", "MAXMEMORY"),
        ("CONFIG", "GET", "maxmemory", "nosuch"),
        ("CONFIG", "GET", "maxmemory", "maxmemory"),
        ("CONFIG", "GET", "MAXMEMORY", "maxmemory"),
        ("CONFIG", "GET", "save"),
        ("CONFIG", "GET", "appendonly"),
        ("CONFIG", "GET", "hz"),
        ("CONFIG", "GET", "maxmemory-polic?"),
        ("CONFIG", "GET", "client-output-buffer-limit"),
        ("CONFIG", "GET", "databases"),
        ("CONFIG", "GET", "maxclients"),
        ("CONFIG", "FOO"),
        ("CONFIG", "HELP"),
        ("CONFIG", "HELP", "x"),
        ("CONFIG", "RESETSTAT", "x"),
    ):
        diff(*args)


def test_config_set_errors(diff):
    try:
        for args in (
            ("CONFIG", "SET", "maxmemory"),
            ("CONFIG", "SET", "maxmemory", "1", "hz"),
            ("CONFIG", "SET", "maxmemory", "abc"),
            ("CONFIG", "SET", "maxmemory", "-1"),
            ("CONFIG", "SET", "maxmemory", " 5"),
            ("CONFIG", "SET", "maxmemory", "1.5gb"),
            ("CONFIG", "SET", "nosuch", "1"),
            ("CONFIG", "SET", "maxmemory", "10", "nosuch", "1"),
            ("CONFIG", "SET", "maxmemory", "10", "maxmemory", "20"),
            ("CONFIG", "SET", "maxmemory", "10", "MAXMEMORY", "20"),
            ("CONFIG", "SET", "databases", "3"),
            ("CONFIG", "SET", "DATABASES", "3", "nosuch", "1"),
            ("CONFIG", "SET", "maxmemory", "10", "hz", "abc"),
            ("CONFIG", "GET", "maxmemory"),  # the failed multi-set left maxmemory alone
            ("CONFIG", "SET", "hz", "-1"),
            ("CONFIG", "SET", "hz", "05"),
            ("CONFIG", "SET", "hz", "+5"),
            ("CONFIG", "SET", "hz", "1e1"),
            ("CONFIG", "SET", "maxmemory-policy", "foo"),
            ("CONFIG", "SET", "maxclients", "0"),
            ("CONFIG", "SET", "maxclients", "4294967296"),
            ("CONFIG", "SET", "maxclients", "abc"),
            ("CONFIG", "SET", "maxmemory-samples", "0"),
            ("CONFIG", "SET", "notify-keyspace-events", "Q"),
            ("CONFIG", "SET", "loglevel", "foo"),
            ("CONFIG", "SET", "proto-max-bulk-len", "10"),
            ("CONFIG", "SET", "client-output-buffer-limit", "foo 1 2 3"),
            ("CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"),
            ("CONFIG", "SET", "client-output-buffer-limit", "normal a 2 3"),
            ("CONFIG", "SET", "logfile", "x"),
            ("CONFIG", "SET", "appendonly", "maybe"),
        ):
            diff(*args)
    finally:
        _restore(diff)


def test_config_set_values(diff):
    try:
        for args in (
            ("CONFIG", "SET", "maxmemory", "1GB", "hz", "20"),
            ("CONFIG", "GET", "maxmemory"),
            ("CONFIG", "GET", "hz"),
            ("CONFIG", "SET", "maxmemory", "5B"),
            ("CONFIG", "GET", "maxmemory"),
            ("CONFIG", "SET", "maxmemory", "05"),
            ("CONFIG", "GET", "maxmemory"),
            ("CONFIG", "SET", "hz", "0"),
            ("CONFIG", "GET", "hz"),
            ("CONFIG", "SET", "hz", "1000"),
            ("CONFIG", "GET", "hz"),
            ("CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LRU"),
            ("CONFIG", "GET", "maxmemory-policy"),
            ("CONFIG", "SET", "maxmemory-samples", "65"),
            ("CONFIG", "GET", "maxmemory-samples"),
            ("CONFIG", "SET", "notify-keyspace-events", "KEA"),
            ("CONFIG", "GET", "notify-keyspace-events"),
            ("CONFIG", "SET", "notify-keyspace-events", "$gK"),
            ("CONFIG", "GET", "notify-keyspace-events"),
            ("CONFIG", "SET", "notify-keyspace-events", "Exm"),
            ("CONFIG", "GET", "notify-keyspace-events"),
            ("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 2mb 3"),
            ("CONFIG", "GET", "client-output-buffer-limit"),
            ("CONFIG", "SET", "client-output-buffer-limit", "NORMAL 1k 1K 0 replica 1 2 3"),
            ("CONFIG", "GET", "client-output-buffer-limit"),
            ("CONFIG", "SET", "save", ""),
            ("CONFIG", "SET", "appendonly", "no"),
            ("CONFIG", "GET", "save"),
            ("CONFIG", "GET", "appendonly"),
            ("CONFIG", "GET", "sanitize-dump-payload"),
            ("CONFIG", "SET", "sanitize-dump-payload", "YES"),
            ("CONFIG", "GET", "sanitize-dump-payload"),
            ("CONFIG", "SET", "sanitize-dump-payload", "clients"),
            ("CONFIG", "GET", "sanitize-dump-payload"),
            ("CONFIG", "SET", "sanitize-dump-payload", "maybe"),
            ("CONFIG", "SET", "sanitize-dump-payload", "no"),
            ("CONFIG", "RESETSTAT"),
        ):
            diff(*args)
    finally:
        _restore(diff)


def _pairs(reply: bytes) -> set[tuple[bytes, bytes]]:
    lines = reply.split(b"\r\n")[1:-1]
    values = lines[1::2]
    return set(zip(values[0::2], values[1::2], strict=True))


def test_config_get_globs_compare_as_maps(diff):
    # Redis answers glob matches in hash order: compare the pairs, not their order.
    ours, theirs = diff.both("CONFIG", "GET", "maxmemory-p*", "hz", "maxmemory")
    assert ours[:1] == theirs[:1]
    assert _pairs(ours) == _pairs(theirs)
    ours, theirs = diff.both("CONFIG", "GET", "MAXMEMORY-POL[i]CY", "max*-samples")
    assert _pairs(ours) == _pairs(theirs)


def test_persistence_settings_are_checked_as_redis_does(raw):
    assert raw.call("CONFIG", "SET", "save", "900").startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"
    )
    for name in ("aof-use-rdb-preamble", "aof-timestamp-enabled"):
        assert raw.call("CONFIG", "SET", name, "maybe") == (
            b"-ERR CONFIG SET failed (possibly related to argument '%b') - argument must be 'yes' or 'no'\r\n" % name.encode()
        )
        before = raw.call("CONFIG", "GET", name)
        flipped = b"no" if before.endswith(b"yes\r\n") else b"yes"
        assert raw.call("CONFIG", "SET", name, flipped) == b"+OK\r\n"
        assert raw.call("CONFIG", "GET", name).endswith(flipped + b"\r\n")
        raw.call("CONFIG", "SET", name, b"no" if flipped == b"yes" else b"yes")
    assert raw.call("CONFIG", "GET", "engine-*").startswith(b"*8\r\n")


def test_config_set_is_atomic_and_notifies():
    config = Config()
    seen = []
    config.watch("hz", seen.append)
    with pytest.raises(ConfigError) as caught:
        config.set_many([(b"hz", b"20"), (b"maxmemory", b"lots")])
    assert caught.value.name == "maxmemory"
    assert config.int("hz") == 10 and seen == []
    with pytest.raises(UnknownParameter):
        config.set_many([(b"hz", b"20"), (b"nope", b"1")])
    config.set_many([(b"HZ", b"20"), (b"maxmemory", b"1mb")])
    assert config.int("hz") == 20 and config.int("maxmemory") == 1024 * 1024 and seen == [20]
    config.set("notify-keyspace-events", b"AKE", startup=True)
    assert config.get_many([b"notify-keyspace-events"]) == [(b"notify-keyspace-events", b"AKE")]


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark not installed")
def test_redis_benchmark_reads_config():
    proc, port = start_tandem()
    try:
        result = subprocess.run(
            ["redis-benchmark", "-p", str(port), "-n", "20", "-c", "1", "-t", "ping", "-q"],
            capture_output=True,
            timeout=60,
        )
        output = result.stdout + result.stderr
        assert b"Could not fetch server CONFIG" not in output
        assert b"PING" in output
    finally:
        stop(proc)


def test_every_parameter_is_described_for_help() -> None:
    from tandemkv.config import MEANINGS, PARAMS, describe_parameters

    assert {param.name for param in PARAMS} == set(MEANINGS)
    text = describe_parameters()
    assert all(f"--{param.name} " in text for param in PARAMS)


def test_the_example_config_file_loads() -> None:
    from pathlib import Path

    from tandemkv.cli.server import build_config, parse_args

    path = Path(__file__).resolve().parent.parent / "tandemkv.conf"
    config = build_config(parse_args([str(path), "--port", "6390"]))
    assert config.int("port") == 6390  # the command line overrides the file
    assert config.str("notify-keyspace-events") == "xE"
    assert config.str("client-output-buffer-limit").startswith("normal 0 0 0 slave 268435456")
