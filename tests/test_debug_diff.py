"""DEBUG subcommands Redis's own test suites rely on, against a redis-server with the DEBUG
command enabled: POPULATE (keys, values, sizes, existing keys, errors, WATCH) and
SET-SKIP-CHECKSUM-VALIDATION (RESTORE of a payload whose CRC is wrong)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RawClient


@pytest.fixture
def both(tandem_port: int, debug_redis_port: int) -> Iterator[tuple[RawClient, RawClient]]:
    pair = (RawClient(tandem_port), RawClient(debug_redis_port))
    for client in pair:
        assert client.call("FLUSHALL") == b"+OK\r\n"
    yield pair
    for client in pair:
        client.close()


def same(both: tuple[RawClient, RawClient], *args: bytes | str | int) -> bytes:
    ours, theirs = (client.call(*args) for client in both)
    assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
    return ours


@pytest.mark.parametrize(
    "args",
    [
        ("5",),
        ("3", "item"),
        ("4", "p", "3"),  # values cut to 3 bytes
        ("4", "p", "12"),  # values padded with NUL bytes
        ("2", "a\x00b"),  # the prefix ends at a NUL
        ("2", "x" * 200),  # names cut at 127 bytes
        ("0",),
    ],
)
def test_populate_keys_and_values(both: tuple[RawClient, RawClient], args: tuple[str, ...]) -> None:
    assert same(both, "DEBUG", "POPULATE", *args) == b"+OK\r\n"
    same(both, "DBSIZE")
    ours, theirs = (set(client.call("KEYS", "*").split(b"\r\n")) for client in both)
    assert ours == theirs
    prefix = args[1].split("\x00")[0] if len(args) > 1 else "key"
    for j in range(int(args[0])):
        name = f"{prefix}:{j}"[:127]
        assert name.encode() in ours
        same(both, "GET", name)
        same(both, "TTL", name)


def test_existing_keys_are_kept(both: tuple[RawClient, RawClient]) -> None:
    same(both, "SET", "key:1", "mine")
    same(both, "RPUSH", "key:2", "a")
    same(both, "DEBUG", "POPULATE", "4")
    same(both, "GET", "key:1")
    same(both, "TYPE", "key:2")
    same(both, "GET", "key:3")
    same(both, "DBSIZE")


@pytest.mark.parametrize(
    "args",
    [("-1",), ("x",), ("2", "k", "-3"), ("2", "k", "1.5"), ("1", "k", "3", "extra"), ()],
)
def test_errors(both: tuple[RawClient, RawClient], args: tuple[str, ...]) -> None:
    assert same(both, "DEBUG", "POPULATE", *args).startswith(b"-")
    same(both, "DBSIZE")


def test_watch_sees_populated_keys(both: tuple[RawClient, RawClient]) -> None:
    for client in both:
        assert client.call("WATCH", "key:0") == b"+OK\r\n"
        assert client.call("MULTI") == b"+OK\r\n"
        client.call("SET", "other", "1")
    same(both, "DEBUG", "POPULATE", "1")
    same(both, "EXEC")


def test_skip_checksum_validation_lets_restore_read_the_payload(both: tuple[RawClient, RawClient]) -> None:
    same(both, "SET", "src", "value")
    payload = both[1].call("DUMP", "src").split(b"\r\n")[1]
    broken = payload[:-8] + bytes(8)  # the CRC-64 footer zeroed
    same(both, "RESTORE", "a", "0", broken)  # refused: the checksum
    same(both, "DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1")
    try:
        same(both, "RESTORE", "a", "0", broken)
        same(both, "GET", "a")
        same(both, "RESTORE", "b", "0", b"\x00\x05v" + broken[-10:])  # bad content: still refused
    finally:
        same(both, "DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "0")
    same(both, "RESTORE", "c", "0", broken)


def test_reload_saves_flushes_and_loads_as_redis(tmp_path) -> None:
    """DEBUG RELOAD (and its NOSAVE, NOFLUSH and MERGE options) against redis-server, each on
    its own directory: the same data, TTLs and digest afterwards, and the same errors."""
    from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop

    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    servers = []
    for name, start, extra in (("tandem", start_tandem, ()), ("redis", start_redis, ("--enable-debug-command", "yes"))):
        (tmp_path / name).mkdir()
        servers.append(start("--dir", str(tmp_path / name), *extra))
    pair = tuple(RawClient(port) for _proc, port in servers)
    try:
        same(pair, "RPUSH", "list", "a", "b", "c")
        same(pair, "HSET", "hash", "f", "v")
        same(pair, "ZADD", "zset", "1.5", "m")
        same(pair, "SET", "ttl", "v", "EX", "1000")
        same(pair, "XADD", "stream", "1-1", "f", "v")
        same(pair, "DEBUG", "RELOAD")
        same(pair, "DEBUG", "DIGEST")
        same(pair, "TTL", "ttl")
        same(pair, "SET", "later", "1")  # not in the file: gone after a NOSAVE reload
        same(pair, "DEL", "list")
        same(pair, "DEBUG", "RELOAD", "NOSAVE")
        same(pair, "EXISTS", "later", "list")
        same(pair, "SET", "extra", "1")
        same(pair, "SET", "hash", "overwritten")
        same(pair, "DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE")
        same(pair, "GET", "extra")
        same(pair, "TYPE", "hash")
        same(pair, "DEBUG", "DIGEST")
        same(pair, "DEBUG", "RELOAD", "BOGUS")
    finally:
        for client in pair:
            client.close()
        for proc, _port in servers:
            stop(proc)


def test_debug_log_writes_to_the_server_log(tmp_path) -> None:
    from tests.conftest import start_tandem, stop

    logfile = tmp_path / "log"
    proc, port = start_tandem("--logfile", str(logfile))
    client = RawClient(port)
    try:
        assert client.call("DEBUG", "LOG", "hello there") == b"+OK\r\n"
        assert client.call("DEBUG", "LOG").startswith(b"-ERR unknown subcommand or wrong number of arguments for 'LOG'")
    finally:
        client.close()
        stop(proc)
    assert "# DEBUG LOG: hello there" in logfile.read_text()


def test_object_reports_encoding_length_and_refcount_as_redis(both: tuple[RawClient, RawClient]) -> None:
    """DEBUG OBJECT: the same encoding, serialized length and refcount as redis-server (the
    address, LRU clock and idle time are the server's own), and Redis's error without a key."""
    same(both, "SET", "int", "12")
    same(both, "SET", "str", "hello world")
    same(both, "HSET", "hash", "f", "v")
    same(both, "ZADD", "zset", "1", "a", "2", "b")
    same(both, "SADD", "set", "1", "2", "3")
    same(both, "XADD", "stream", "1-1", "f", "v")
    for key in ("int", "str", "hash", "zset", "set", "stream"):
        ours, theirs = (client.call("DEBUG", "OBJECT", key) for client in both)
        fields = [dict(word.split(b":", 1) for word in reply[1:-2].split(b" ")[1:]) for reply in (ours, theirs)]
        # serializedlength: tandemkv writes small hashes and sorted sets as plain RDB types,
        # not listpack blobs (README), so only the types written byte for byte compare there.
        names = (b"refcount", b"encoding") + ((b"serializedlength",) if key not in ("hash", "zset") else ())
        for name in names:
            assert fields[0][name] == fields[1][name], (key, name, ours, theirs)
        assert ours.startswith(b"+Value at:0x") and b"lru_seconds_idle:" in ours
    same(both, "DEBUG", "OBJECT", "missing")
