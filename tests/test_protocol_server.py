"""The protocol layer on a real tandemkv server: pipelining, inline commands, clients that
misbehave (disconnect mid-command, send garbage, announce huge bulks, never read), RESP3, big
values. Each test also checks that other clients are unaffected.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import start_tandem, stop
from tests.resp import RawClient, encode_command
from tests.test_parser import mb


def rss_bytes(client: RawClient) -> int:
    """Resident size of the server process (from INFO's process_id and /proc)."""
    info = client.call("INFO", "server").decode()
    pid = int(info.split("process_id:")[1].split("\r\n")[0])
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def assert_responsive(port: int) -> None:
    client = RawClient(port)
    assert client.call("PING") == b"+PONG\r\n"
    client.close()


@pytest.fixture
def server() -> Iterator[int]:
    """A tandemkv server of its own, for tests that measure its memory or exhaust a client."""
    proc, port = start_tandem()
    yield port
    stop(proc)


def test_pipeline_of_10000_commands_in_one_write(raw: RawClient) -> None:
    commands = []
    expected = []
    for i in range(10_000):
        kind = i % 4
        if kind == 0:
            commands.append(encode_command("SET", f"key:{i % 97}", f"value:{i}"))
            expected.append(b"+OK\r\n")
        elif kind == 1:
            commands.append(encode_command("GET", f"key:{(i - 1) % 97}"))
            value = f"value:{i - 1}".encode()
            expected.append(b"$%d\r\n%b\r\n" % (len(value), value))
        elif kind == 2:
            commands.append(encode_command("INCR", "counter"))
            expected.append(b":%d\r\n" % (i // 4 + 1))
        else:
            commands.append(encode_command("ECHO", f"echo:{i}"))
            value = f"echo:{i}".encode()
            expected.append(b"$%d\r\n%b\r\n" % (len(value), value))
    raw.send(b"".join(commands))
    replies = [raw.read_reply() for _ in range(10_000)]
    assert replies == expected
    assert raw.call("PING") == b"+PONG\r\n"


def test_inline_commands_as_telnet(raw: RawClient) -> None:
    for line, reply in [
        (b"SET greeting \"hello world\"\r\n", b"+OK\r\n"),
        (b"GET greeting\n", b"$11\r\nhello world\r\n"),
        (b"\r\n", None),
        (b"   \r\n", None),
        (b"APPEND greeting '!'\r\n", b":12\r\n"),
        (b"STRLEN   greeting\r\n", b":12\r\n"),
        (b"ECHO \"tab\\there\\x21\"\r\n", b"$9\r\ntab\there!\r\n"),
        (b"nosuch arg\r\n", b"-ERR unknown command 'nosuch', with args beginning with: 'arg' \r\n"),
    ]:
        for byte in range(len(line)):  # typed one key at a time
            raw.send(line[byte : byte + 1])
        if reply is not None:
            assert raw.read_reply() == reply
    assert raw.call("PING") == b"+PONG\r\n"


def test_disconnect_mid_command_leaves_others_working(tandem_port: int, raw: RawClient) -> None:
    assert raw.call("SET", "other", "1") == b"+OK\r\n"
    for partial in [
        b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\nabc",
        b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$1",
        b"*3\r\n$3\r\nSET\r\n",
        b"SET half inline",
    ]:
        quitter = RawClient(tandem_port)
        quitter.send(partial)
        quitter.close()
        assert raw.call("INCR", "other") is not None
    assert raw.call("EXISTS", "half") == b":0\r\n"
    assert raw.call("GET", "other") == b"$1\r\n5\r\n"


def test_malformed_client_is_closed_others_unaffected(tandem_port: int, raw: RawClient) -> None:
    # `raw` is in the middle of a command when the bad client arrives.
    raw.send(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")
    bad = RawClient(tandem_port, timeout=5)
    bad.send(b"PING\r\n*1\r\n$x\r\nPING\r\n")
    assert bad.read_until_closed() == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
    bad.close()
    raw.send(b"lo\r\n")
    assert raw.read_reply() == b"$5\r\nhello\r\n"
    assert raw.call("PING") == b"+PONG\r\n"


def test_huge_bulk_header_then_disconnect_frees_memory(server: int) -> None:
    probe = RawClient(server)
    before = rss_bytes(probe)
    hog = RawClient(server)
    hog.send(b"*3\r\n$3\r\nSET\r\n$3\r\nhog\r\n$104857600\r\n")
    chunk = b"x" * (1024 * 1024)
    for _ in range(60):
        hog.send(chunk)
    assert probe.call("PING") == b"+PONG\r\n"  # the server read it all and still serves others
    during = rss_bytes(probe)
    hog.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert probe.call("PING") == b"+PONG\r\n"
        after = rss_bytes(probe)
        if after < before + 20 * 1024 * 1024:
            break
        time.sleep(0.05)
    assert during > before + 30 * 1024 * 1024  # the test did make the server buffer it
    assert after < before + 20 * 1024 * 1024
    assert probe.call("EXISTS", "hog") == b":0\r\n"
    probe.close()


def test_client_that_never_reads_is_paused(server: int) -> None:
    """2000 GETs of a 100 KB value (200 MB of replies) sent without reading: the server stops
    reading from that client instead of buffering its replies, other clients are served, and
    once the client reads, every reply arrives intact and in order."""
    value = bytes(range(256)) * 400  # 100 KB
    probe = RawClient(server)
    assert probe.call("SET", "big", value) == b"+OK\r\n"
    before = rss_bytes(probe)

    slow = socket.create_connection(("127.0.0.1", server))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    get = encode_command("GET", "big")
    slow.sendall(get * 2000)  # 44 KB of requests: one read for the server
    for _ in range(20):
        assert probe.call("PING") == b"+PONG\r\n"
    during = rss_bytes(probe)
    assert during < before + 60 * 1024 * 1024

    # A client that keeps writing without reading is blocked by TCP once the server stops
    # reading: bounded, however much it tries to send.
    slow.settimeout(2)
    sent = 0
    try:
        while sent < 50 * 1024 * 1024:
            sent += slow.send(get * 5000)
    except TimeoutError:
        pass
    assert sent < 50 * 1024 * 1024
    assert probe.call("PING") == b"+PONG\r\n"
    assert rss_bytes(probe) < before + 100 * 1024 * 1024

    # Now read: the first 2000 replies are all intact.
    slow.settimeout(30)
    reply = b"$%d\r\n%b\r\n" % (len(value), value)
    expected = reply * 2000
    received = bytearray()
    while len(received) < len(expected):
        data = slow.recv(1 << 20)
        assert data
        received += data
    assert bytes(received[: len(expected)]) == expected
    slow.close()
    assert_responsive(server)
    probe.close()


def test_resp3_replies_after_hello_3(raw: RawClient) -> None:
    hello = raw.call("HELLO", "3")
    assert hello.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n")
    assert raw.call("GET", "missing") == b"_\r\n"
    assert raw.call("SET", "k", "v") == b"+OK\r\n"
    assert raw.call("GET", "k") == b"$1\r\nv\r\n"
    assert raw.call("INCRBYFLOAT", "f", "1.5") == b"$3\r\n1.5\r\n"  # a bulk string in RESP3 too
    assert raw.call("NOSUCH") == b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
    hello2 = raw.call("HELLO", "2")
    assert hello2.startswith(b"*14\r\n")
    assert raw.call("GET", "missing") == b"$-1\r\n"


def test_resp3_with_redis_py(r3: redis.Redis) -> None:
    r3.set("k", "v")
    assert r3.get("k") == b"v"
    assert r3.get("missing") is None
    assert r3.mget("k", "missing") == [b"v", None]


@pytest.mark.parametrize("resp", [2, 3])
def test_large_value_intact(tandem_port: int, resp: int) -> None:
    client = RawClient(tandem_port, timeout=30)
    if resp == 3:
        client.call("HELLO", "3")
    value = bytes(range(256)) * (10 * 4096)  # 10 MB, every byte value
    assert client.call("SET", "large", value) == b"+OK\r\n"
    assert client.call("GET", "large") == b"$%d\r\n%b\r\n" % (len(value), value)
    assert client.call("STRLEN", "large") == b":%d\r\n" % len(value)
    assert client.call("DEL", "large") == b":1\r\n"
    client.close()


def test_large_value_with_redis_py(r: redis.Redis) -> None:
    value = b"\x00\r\n$*" * (2 * 1024 * 1024)
    r.set("large", value)
    assert r.get("large") == value


def test_protocol_error_text_is_one_line(tandem_port: int) -> None:
    client = RawClient(tandem_port, timeout=5)
    client.send(mb(b"PING") + b"*1\r\n\r\n")
    assert client.read_until_closed() == b"+PONG\r\n-ERR Protocol error: expected '$', got ' '\r\n"
    client.close()
