"""Fixtures: a tandemkv server and (when installed) a reference redis-server, on free ports.

- `tandem_port` / `redis_port`: one server process each per test session, loopback only.
- `r` (redis-py, RESP2), `r3` (RESP3), `raw` (RawClient): clients of tandemkv; every test
  starts on a flushed server.
- `diff`: runs the same command against both servers and asserts the raw replies are equal.
- Differential tests skip when redis-server is missing, unless TANDEMKV_REQUIRE_REDIS=1
  (set by .ci/run), where its absence is an error.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import hiredis
import pytest
import redis

from tests.resp import RawClient, encode_command

REDIS_SERVER = shutil.which("redis-server")
REQUIRE_REDIS = os.environ.get("TANDEMKV_REQUIRE_REDIS") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Wait until the server accepts connections and is done loading its data files (both
    servers open their port first and answer LOADING until then; what a TLS port or an
    authenticating server answers to a plain PING is taken as "done")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if not sock.recv(64).startswith(b"-LOADING"):
                    return
        except TimeoutError:
            return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"server on port {port} did not start")


def start_tandem(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start a tandemkv-server on a free port; returns (process, port). Caller stops it."""
    port = free_port()
    if "--dir" not in args:  # snapshots of test servers never land in (or load from) the checkout
        args = ("--dir", tempfile.mkdtemp(prefix="tandemkv-test-"), *args)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, proc)
    return proc, port


def start_redis(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    assert REDIS_SERVER is not None
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_and_read(proc: subprocess.Popen[bytes]) -> str:
    """Stop a server started with stdout=PIPE and return what it printed; a server that does
    not exit within 10 s is killed (the test then fails, leaving nothing behind)."""
    proc.terminate()
    try:
        return proc.communicate(timeout=10)[0].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


@pytest.fixture(scope="session")
def tandem_port() -> Iterator[int]:
    proc, port = start_tandem()
    yield port
    stop(proc)


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    if REDIS_SERVER is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (TANDEMKV_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server not installed: apt-get install redis-server to run differential tests")
    proc, port = start_redis()
    yield port
    stop(proc)


@pytest.fixture(scope="session")
def debug_redis_port() -> Iterator[int]:
    """A reference redis-server with the DEBUG command enabled (off by default in Redis 7.0)."""
    if REDIS_SERVER is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (TANDEMKV_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server not installed")
    proc, port = start_redis("--enable-debug-command", "yes")
    yield port
    stop(proc)


def _flush(port: int) -> None:
    client = redis.Redis(port=port, protocol=2)
    client.execute_command("FLUSHALL")
    client.close()


@pytest.fixture
def r(tandem_port: int) -> Iterator[redis.Redis]:
    _flush(tandem_port)
    client = redis.Redis(port=tandem_port, protocol=2)
    yield client
    client.close()


@pytest.fixture
def r3(tandem_port: int) -> Iterator[redis.Redis]:
    _flush(tandem_port)
    client = redis.Redis(port=tandem_port, protocol=3)
    yield client
    client.close()


@pytest.fixture
def raw(tandem_port: int) -> Iterator[RawClient]:
    _flush(tandem_port)
    client = RawClient(tandem_port)
    yield client
    client.close()


class Diff:
    """The same commands against tandemkv and redis-server; raw replies must be equal."""

    def __init__(self, tandem_port: int, redis_port: int, resp: int = 2) -> None:
        self.tandem = RawClient(tandem_port)
        self.redis = RawClient(redis_port)
        if resp == 3:
            self.tandem.call("HELLO", "3")
            self.redis.call("HELLO", "3")

    def __call__(self, *args: bytes | str | int) -> bytes:
        ours = self.tandem.call(*args)
        theirs = self.redis.call(*args)
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def ttl(self, key: bytes | str) -> bytes:
        """TTL on both servers: -2 / -1 must be equal; a positive TTL may differ by one second,
        because Redis rounds (deadline - now) to the nearest second and the two servers read
        their clocks a moment apart (an absolute EXAT deadline can straddle the rounding)."""
        ours, theirs = self.both("TTL", key)
        assert ours[:1] == theirs[:1] == b":", f"TTL {key!r}: tandemkv {ours!r}, redis {theirs!r}"
        mine, reference = int(ours[1:-2]), int(theirs[1:-2])
        if min(mine, reference) < 0:
            assert mine == reference, f"TTL {key!r}: tandemkv {mine}, redis {reference}"
        else:
            assert abs(mine - reference) <= 1, f"TTL {key!r}: tandemkv {mine}, redis {reference}"
        return ours

    def both(self, *args: bytes | str | int) -> tuple[bytes, bytes]:
        """Run on both without comparing (for replies that legitimately differ)."""
        return self.tandem.call(*args), self.redis.call(*args)

    def close(self) -> None:
        self.tandem.close()
        self.redis.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def diff(request: pytest.FixtureRequest, tandem_port: int, redis_port: int) -> Iterator[Diff]:
    _flush(tandem_port)
    _flush(redis_port)
    pair = Diff(tandem_port, redis_port, resp=request.param)
    yield pair
    pair.close()


class EventPair:
    """A command client and a `__key*__:*` subscriber on each server."""

    def __init__(self, tandem_port: int, redis_port: int) -> None:
        self.commands = (RawClient(tandem_port), RawClient(redis_port))
        self.subscribers = (RawClient(tandem_port), RawClient(redis_port))
        for client in self.commands:
            assert client.call("FLUSHALL") == b"+OK\r\n"
        for sub in self.subscribers:
            sub.call("PSUBSCRIBE", "__key*__:*")

    def __call__(self, *args: object) -> bytes:
        ours, theirs = (client.call(*args) for client in self.commands)
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def events(self) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        """(channel, message) of every event so far on each server, ended by a marker message."""
        result = []
        for client, sub in zip(self.commands, self.subscribers, strict=True):
            client.call("PUBLISH", "__key__:end", "marker")
            seen = []
            while True:
                kind, _pattern, channel, message = _parse(sub.read_reply())
                assert kind == b"pmessage"
                if channel == b"__key__:end":
                    break
                seen.append((channel, message))
            result.append(seen)
        return result[0], result[1]

    def close(self) -> None:
        for client in (*self.commands, *self.subscribers):
            client.close()


@pytest.fixture(scope="module")
def event_ports() -> Iterator[tuple[int, int]]:
    if REDIS_SERVER is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (TANDEMKV_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server not installed")
    tandem, tandem_port = start_tandem("--notify-keyspace-events", "KEA")
    reference, redis_port = start_redis("--notify-keyspace-events", "KEA")
    yield tandem_port, redis_port
    stop(tandem)
    stop(reference)


@pytest.fixture
def events(event_ports: tuple[int, int]) -> Iterator[EventPair]:
    pair = EventPair(*event_ports)
    yield pair
    pair.close()


def _parse(raw: bytes) -> object:
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


class BlockingPair:
    """Matching raw clients on both servers; blocking commands are sent, not awaited."""

    def __init__(self, tandem_port: int, redis_port: int, clients: int, resp: int) -> None:
        self.ports = (tandem_port, redis_port)
        self.clients = [tuple(RawClient(port) for port in self.ports) for _ in range(clients)]
        if resp == 3:
            for pair in self.clients:
                for client in pair:
                    client.call("HELLO", "3")
        self.control = tuple(RawClient(port) for port in self.ports)
        for client in self.control:
            client.call("FLUSHALL")

    def send(self, index: int, *args: object) -> None:
        for client in self.clients[index]:
            client.send(encode_command(*args))

    def read(self, index: int) -> bytes:
        ours, theirs = (client.read_reply() for client in self.clients[index])
        assert ours == theirs, f"client {index}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def nothing_yet(self, index: int, wait_s: float = 0.1) -> None:
        """Neither server has answered client `index` (it is still blocked)."""
        for client in self.clients[index]:
            client.sock.settimeout(wait_s)
            try:
                data = client.sock.recv(1, socket.MSG_PEEK)
            except TimeoutError:
                data = b""
            finally:
                client.sock.settimeout(10)
            assert data == b"" and client.buf == b"", f"client {index} was answered: {data!r}"

    def call(self, *args: object) -> bytes:
        ours, theirs = (client.call(*args) for client in self.control)
        assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        return ours

    def wait_blocked(self, count: int) -> None:
        """Until both servers report `count` blocked clients."""
        for client in self.control:
            for _ in range(200):
                info = client.call("INFO", "clients")
                if f"blocked_clients:{count}\r\n".encode() in info:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError(f"never saw {count} blocked clients: {info!r}")

    def close(self) -> None:
        for pair in (*self.clients, self.control):
            for client in pair:
                client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def blocking(request: pytest.FixtureRequest, tandem_port: int, redis_port: int):
    pairs: list[BlockingPair] = []

    def make(clients: int) -> BlockingPair:
        pair = BlockingPair(tandem_port, redis_port, clients, request.param)
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:
        pair.close()
