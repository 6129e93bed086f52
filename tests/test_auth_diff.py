"""requirepass, AUTH, HELLO ... AUTH and protected mode against redis-server 7.0.15 started
with the same options: replies byte for byte, NOAUTH before authentication (MULTI flagged),
RESET deauthenticating, and the DENIED answer to a non-loopback peer."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import REDIS_SERVER, REQUIRE_REDIS, start_redis, start_tandem, stop
from tests.resp import RawClient


@pytest.fixture(scope="module")
def password_ports() -> Iterator[tuple[int, int]]:
    if REDIS_SERVER is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (TANDEMKV_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server not installed")
    tandem, tandem_port = start_tandem("--requirepass", "s3cret")
    reference, redis_port = start_redis("--requirepass", "s3cret")
    yield tandem_port, redis_port
    stop(tandem)
    stop(reference)


_CLIENT_ID = re.compile(rb"\$2\r\nid\r\n:\d+\r\n")


def _both(clients: list[RawClient], *args: object) -> bytes:
    # HELLO's client id differs between the servers: compared with it masked.
    ours, theirs = (_CLIENT_ID.sub(b"<id>", client.call(*args)) for client in clients)  # type: ignore[arg-type]
    assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
    return ours


SCRIPT = [
    ["PING"], ["GET", "k"], ["NOSUCH"], ["SET", "k"], ["ECHO", "x"],
    ["MULTI"], ["AUTH"], ["AUTH", "wrong"], ["AUTH", "default", "wrong"], ["AUTH", "nobody", "s3cret"],
    ["AUTH", "a", "b", "c"], ["HELLO", "3"], ["HELLO", "3", "AUTH", "default", "wrong"],
    ["HELLO", "2", "SETNAME", "early", "FOO"], ["HELLO", "2", "SETNAME", "named"],
    ["AUTH", "s3cret"], ["CLIENT", "GETNAME"], ["PING"], ["SET", "k", "v"], ["GET", "k"],
    ["RESET"], ["GET", "k"], ["HELLO", "3", "AUTH", "default", "s3cret"], ["GET", "k"],
    ["RESET"], ["AUTH", "default", "s3cret"], ["MULTI"], ["GET", "k"], ["EXEC"],
    ["CONFIG", "GET", "requirepass"], ["CONFIG", "GET", "protected-mode"],
]


def test_password_script(password_ports: tuple[int, int]) -> None:
    clients = [RawClient(port) for port in password_ports]
    try:
        for args in SCRIPT:
            _both(clients, *args)
    finally:
        for client in clients:
            client.close()


def test_requirepass_set_at_runtime_spares_existing_connections(tandem_port: int, redis_port: int) -> None:
    before = [RawClient(port) for port in (tandem_port, redis_port)]
    try:
        _both(before, "CONFIG", "SET", "requirepass", "later")
        after = [RawClient(port) for port in (tandem_port, redis_port)]
        try:
            _both(before, "PING")  # authenticated while there was no password: stays so
            _both(after, "PING")  # NOAUTH
            _both(after, "AUTH", "later")
            _both(after, "CONFIG", "SET", "requirepass", "")
        finally:
            for client in after:
                client.close()
        _both(before, "AUTH", "x")
    finally:
        for client in before:
            client.close()


def _ping_from_127_0_0_2(port: int) -> bytes:
    """PING from a client whose address is 127.0.0.2; the first answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"PING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        return reply
    finally:
        sock.close()


def test_protected_mode_denies_non_loopback_peers(tandem_port: int, redis_port: int) -> None:
    # 127.0.0.2 is a loopback address, but not one Redis counts as local: it stands in for a
    # remote client without leaving this machine.
    ours, theirs = _ping_from_127_0_0_2(tandem_port), _ping_from_127_0_0_2(redis_port)
    assert ours == theirs and ours.startswith(b"-DENIED Redis is running in protected mode")
    controls = [RawClient(port) for port in (tandem_port, redis_port)]
    try:
        _both(controls, "CONFIG", "SET", "protected-mode", "no")
        assert _ping_from_127_0_0_2(tandem_port) == _ping_from_127_0_0_2(redis_port) == b"+PONG\r\n"
    finally:
        _both(controls, "CONFIG", "SET", "protected-mode", "yes")
        for client in controls:
            client.close()


def test_a_password_lets_non_loopback_peers_in(password_ports: tuple[int, int]) -> None:
    ours, theirs = (_ping_from_127_0_0_2(port) for port in password_ports)
    assert ours == theirs == b"-NOAUTH Authentication required.\r\n"
