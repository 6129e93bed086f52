"""Raw bytes, malformed or unusual, sent to tandemkv and to redis-server over fresh connections:
everything each server sends back, and whether it closes the connection, must be identical.

Many inputs are sent at once (one connection per input and server) and read together, so a
whole table costs one short quiet period instead of one per input.
"""

from __future__ import annotations

import random
import selectors
import socket
import time

import pytest

from tests.test_parser import CASES, mb

QUIET_S = 0.3  # no more bytes for this long after the sync ping: the server is done
PATIENCE_S = 5.0  # how long a side that lags behind the other may take to catch up


class Probe:
    """One connection carrying one input; what came back and whether the server closed."""

    def __init__(self, port: int, pieces: list[bytes]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pieces = pieces
        self.received = bytearray()
        self.closed = False

    def send(self, index: int) -> None:
        if index < len(self.pieces):
            try:
                self.sock.sendall(self.pieces[index])
            except (BrokenPipeError, ConnectionResetError):
                self.pieces = []  # closed by the server mid-input; what it sent is still readable

    def read_available(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except (ConnectionResetError, TimeoutError):
            data = b""
        if data:
            self.received += data
        else:
            self.closed = True

    def result(self) -> tuple[bytes, bool]:
        return bytes(self.received), self.closed


def sync(port: int) -> None:
    """A round trip on another connection: input sent before it has been read by the server."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"


def collect(probes: list[Probe], until: float) -> None:
    """Read all probes until each is closed or `until` (monotonic) passes with nothing new."""
    selector = selectors.DefaultSelector()
    for probe in probes:
        if not probe.closed:
            probe.sock.setblocking(False)
            selector.register(probe.sock, selectors.EVENT_READ, probe)
    deadline = until
    while selector.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for key, _ in selector.select(remaining):
            probe = key.data
            probe.read_available()
            if probe.closed:
                selector.unregister(probe.sock)
            deadline = max(deadline, time.monotonic() + QUIET_S)
    selector.close()


def run_inputs(tandem_port: int, redis_port: int, inputs: list[list[bytes]]) -> list[tuple[tuple[bytes, bool], tuple[bytes, bool]]]:
    """Each input (a list of pieces) on a fresh connection to both servers: both results."""
    pairs = [(Probe(tandem_port, pieces), Probe(redis_port, pieces)) for pieces in inputs]
    try:
        rounds = max(len(pieces) for pieces in inputs)
        for index in range(rounds):  # piece i of every input, then a pause: separate reads
            for ours, theirs in pairs:
                ours.send(index)
                theirs.send(index)
            if rounds > 1:
                time.sleep(0.002)
        sync(tandem_port)
        sync(redis_port)
        collect([p for pair in pairs for p in pair], time.monotonic() + QUIET_S)
        # A side behind the other (still open, or fewer bytes) gets more time to catch up.
        laggards = []
        for ours, theirs in pairs:
            if ours.result() != theirs.result():
                for probe, other in ((ours, theirs), (theirs, ours)):
                    if not probe.closed and (other.closed or len(probe.received) < len(other.received)):
                        laggards.append(probe)
        if laggards:
            collect(laggards, time.monotonic() + PATIENCE_S)
        return [(ours.result(), theirs.result()) for ours, theirs in pairs]
    finally:
        for pair in pairs:
            for probe in pair:
                probe.sock.close()


def assert_same(tandem_port: int, redis_port: int, named_inputs: list[tuple[str, list[bytes]]]) -> None:
    results = run_inputs(tandem_port, redis_port, [pieces for _, pieces in named_inputs])
    mismatches = [
        f"{name}: tandemkv {ours!r} != redis {theirs!r}"
        for (name, _), (ours, theirs) in zip(named_inputs, results, strict=True)
        if ours != theirs
    ]
    assert not mismatches, "\n".join(mismatches)


# Inputs from the parser's table, made executable: every command in them is sent as-is, so
# they also check how the dispatcher answers odd commands (unknown names, wrong arity).
TABLE_INPUTS = [(case.id, [case.data]) for case in CASES if len(case.data) < 200_000]


@pytest.mark.redis
def test_parser_table_against_redis(tandem_port: int, redis_port: int) -> None:
    assert_same(tandem_port, redis_port, TABLE_INPUTS)


@pytest.mark.redis
def test_parser_table_byte_by_byte_against_redis(tandem_port: int, redis_port: int) -> None:
    inputs = [(name, [data[i : i + 1] for i in range(len(data))]) for name, (data,) in TABLE_INPUTS if len(data) < 120]
    assert_same(tandem_port, redis_port, inputs)


EDGE_INPUTS: list[tuple[str, list[bytes]]] = [
    ("star-zero", [b"*0\r\n"]),
    ("star-minus-one", [b"*-1\r\n"]),
    ("star-zero-then-ping", [b"*0\r\n*-1\r\nPING\r\n"]),
    ("inline-quotes", [b'SET "k 1" "v\\x00\\n"\r\nGET "k 1"\r\nSTRLEN \'k 1\'\r\n']),
    ("inline-unknown", [b"NOSUCH a 'b c'\r\n"]),
    ("inline-wrong-arity", [b"GET\r\n"]),
    ("inline-case", [b"pInG hello\r\n"]),
    ("inline-only-spaces", [b"    \r\n\r\nPING\r\n"]),
    ("mixed-pipeline", [mb(b"SET", b"a", b"1") + b"INCR a\r\n" + mb(b"GET", b"a") + b"ECHO x\n" + mb(b"DEL", b"a")]),
    ("pipeline-then-error", [mb(b"SET", b"b", b"1") + b"GET b\r\n*1\r\n$x\r\n" + mb(b"GET", b"b")]),
    ("nested-array", [b"*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n"]),
    ("integer-element", [b"*2\r\n$4\r\nECHO\r\n:1\r\n"]),
    ("status-element", [b"*2\r\n$4\r\nECHO\r\n+hi\r\n"]),
    ("resp3-set", [b"~2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"]),
    ("bulk-split-many-packets", [mb(b"ECHO", b"0123456789" * 30)[i : i + 7] for i in range(0, 331, 7)]),
    ("header-split", [b"*", b"2\r", b"\n$", b"4\r\nEC", b"HO\r\n$", b"3\r\nab", b"c\r", b"\n"]),
    ("inline-split", [b"EC", b"HO \"a", b" b\"\r", b"\nPING\n"]),
    ("error-split", [b"*1\r\n$", b"-", b"5\r\n"]),
    ("cr-in-expected-dollar", [b"*1\r\n\r\n"]),
    ("lf-in-expected-dollar", [b"*1\r\n\n\r\n"]),
    ("high-byte-in-expected-dollar", [b"*1\r\n\xe9\r\n"]),
    ("quit-stops-pipeline", [b"PING\r\nQUIT\r\nPING\r\n"]),
    ("quit-before-error", [mb(b"QUIT") + b"*x\r\n"]),
    ("big-count-then-close", [b"*1000000\r\n$1\r\na\r\n*x\r\n"]),
    ("bulk-100mb-header-then-garbage", [b"*1\r\n$104857600\r\nabc"]),
    ("inline-64k-then-newline", [b"ECHO " + b"x" * 65000 + b"\r\n"]),
    ("inline-over-64k", [b"ECHO " + b"x" * 66000 + b"\r\n"]),
    ("mbulk-count-over-64k", [b"*" + b"1" * 66000 + b"\r\n"]),
    ("unknown-command-long-args", [mb(b"NOPE", b"a" * 200, b"b" * 10)]),
    ("empty-command-name", [mb(b"", b"x")]),
]


@pytest.mark.redis
def test_edge_inputs_against_redis(tandem_port: int, redis_port: int) -> None:
    assert_same(tandem_port, redis_port, EDGE_INPUTS)


@pytest.mark.redis
def test_random_protocol_inputs_against_redis(tandem_port: int, redis_port: int) -> None:
    """200 seeded random inputs built from protocol fragments; only commands whose replies do not
    depend on the keyspace (PING, ECHO) can be formed, so connections can run side by side."""
    rng = random.Random(7015)
    fragments = [b"*", b"$", b"\r\n", b"\r", b"\n", b"\0", b"1", b"2", b"4", b"0", b"-", b"+", b":",
                 b"=", b"~", b"|", b"#f", b"_", b",", b"%", b">", b'"', b"'", b"\\", b" ", b"\t", b"\v", b"x", b"\\x4", b"PING", b"ECHO ",
                 b"*1\r\n", b"*2\r\n", b"$4\r\n", b"$1\r\n", b"ECHO", b"PING\r\n"]
    inputs = []
    for index in range(200):
        data = b"".join(rng.choice(fragments) for _ in range(rng.randint(1, 40)))
        cut = rng.randint(0, len(data))
        inputs.append((f"random-{index}: {data!r}", [data[:cut], data[cut:]] if 0 < cut < len(data) else [data]))
    assert_same(tandem_port, redis_port, inputs)


@pytest.mark.redis
def test_query_buffer_limit_against_redis(tandem_port: int, redis_port: int) -> None:
    """A pending bulk over client-query-buffer-limit: closed without a reply, by both."""
    from tests.resp import RawClient

    limit = 1024 * 1024
    for port in (tandem_port, redis_port):
        admin = RawClient(port)
        old = admin.call("CONFIG", "GET", "client-query-buffer-limit")
        try:
            assert admin.call("CONFIG", "SET", "client-query-buffer-limit", str(limit)) == b"+OK\r\n"
            client = RawClient(port, timeout=10)
            client.send(mb(b"PING") + b"*2\r\n$4\r\nECHO\r\n$2000000\r\n")
            for _ in range(12):
                try:
                    client.send(b"x" * 100_000)
                except (BrokenPipeError, ConnectionResetError):
                    break
            assert client.read_until_closed() == b"+PONG\r\n", port
            client.close()
        finally:
            value = old.split(b"\r\n")[-2]
            admin.call("CONFIG", "SET", "client-query-buffer-limit", value)
            admin.close()
