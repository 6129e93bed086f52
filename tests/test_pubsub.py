"""Pub/sub: the Hub in-process, redis-py clients over both protocols, and slow subscribers."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tandemkv.commands import Instance, execute
from tandemkv.config import Config
from tandemkv.protocol import Frames, Push, encode
from tandemkv.pubsub import Hub
from tests.conftest import start_tandem, stop
from tests.resp import RawClient, encode_command


class FakeSubscriber:
    def __init__(self, resp: int = 2) -> None:
        self.resp = resp
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()
        self.received: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.received.append(data)


# ------------------------------------------------------------------------ Hub


def test_hub_index_is_two_way_and_cleans_up():
    hub = Hub(Config())
    a, b = FakeSubscriber(), FakeSubscriber(3)
    assert hub.subscribe(a, b"c") and not hub.subscribe(a, b"c")
    hub.subscribe(b, b"c")
    hub.psubscribe(a, b"c*")
    hub.ssubscribe(b, b"s")
    assert hub.subscriber_count(b"c") == 2 and hub.pattern_count() == 1
    hub.unsubscribe_all(a)
    assert a.channels == a.patterns == set()
    assert hub.subscriber_count(b"c") == 1 and hub.pattern_count() == 0
    hub.unsubscribe_all(b)
    assert hub.channels == {} and hub.patterns == {} and hub.shard_channels == {}


def test_publish_order_encoding_and_sharding():
    hub = Hub(Config())
    a, b = FakeSubscriber(2), FakeSubscriber(3)
    hub.psubscribe(a, b"n*")
    hub.subscribe(a, b"news")
    hub.subscribe(b, b"news")
    hub.ssubscribe(b, b"news")
    assert hub.publish(b"news", b"hi") == 3
    assert a.received == [
        encode(Push([b"message", b"news", b"hi"]), 2),
        encode(Push([b"pmessage", b"n*", b"news", b"hi"]), 2),
    ]
    assert b.received == [b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"]
    # Sharded publish reaches shard subscribers only, never patterns.
    assert hub.publish(b"news", b"s", sharded=True) == 1
    assert b.received[-1] == b">3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$1\r\ns\r\n"
    assert len(a.received) == 2


def test_patterns_use_redis_glob_rules():
    hub = Hub(Config())
    sub = FakeSubscriber()
    hub.psubscribe(sub, b"h[^e]llo")
    hub.psubscribe(sub, b"a\\*b")
    assert hub.publish(b"hallo", b"x") == 1
    assert hub.publish(b"hello", b"x") == 0
    assert hub.publish(b"a*b", b"x") == 1
    assert hub.publish(b"aXb", b"x") == 0


def test_subscribe_replies_one_frame_per_channel():
    instance = Instance()
    session = instance.new_session()
    reply = execute(session, [b"SUBSCRIBE", b"a", b"b", b"a"])
    assert isinstance(reply, Frames)
    assert encode(reply, 2) == (
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"
    )
    assert (
        encode(execute(session, [b"UNSUBSCRIBE", b"zz"]), 3)
        == b">3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:2\r\n"
    )


# ------------------------------------------------------------------ redis-py


def _wait_message(pubsub: redis.client.PubSub) -> dict:
    for _ in range(200):
        message = pubsub.get_message(timeout=0.05)
        if message is not None and message["type"] in ("message", "pmessage", "smessage"):
            return message
    raise AssertionError("no message")


def test_redis_py_resp2_and_resp3(r, r3):
    for client in (r, r3):
        pubsub = client.pubsub()
        pubsub.subscribe("chan")
        pubsub.psubscribe("ch*")
        assert client.publish("chan", "hello") == 2
        first, second = _wait_message(pubsub), _wait_message(pubsub)
        assert (first["type"], first["channel"], first["data"]) == ("message", b"chan", b"hello")
        assert (second["type"], second["pattern"], second["data"]) == ("pmessage", b"ch*", b"hello")
        assert client.pubsub_numsub("chan") == [(b"chan", 1)]
        assert client.pubsub_numpat() == 1
        assert client.pubsub_channels() == [b"chan"]
        pubsub.close()


def test_redis_py_sharded(r3):
    pubsub = r3.pubsub()
    pubsub.ssubscribe("shard")
    assert r3.spublish("shard", "m") == 1
    message = _wait_message(pubsub)
    assert (message["type"], message["data"]) == ("smessage", b"m")
    assert r3.pubsub_shardchannels() == [b"shard"]
    assert r3.pubsub_shardnumsub("shard") == [(b"shard", 1)]
    pubsub.close()


def test_resp3_client_can_run_commands_while_subscribed(raw):
    raw.call("HELLO", "3")
    raw.call("SUBSCRIBE", "c")
    assert raw.call("SET", "k", "v") == b"+OK\r\n"
    # Its own publish: as in Redis, the message is queued while PUBLISH runs, before the reply.
    raw.send(encode_command("PUBLISH", "c", "self"))
    assert raw.read_reply() == b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\nself\r\n"
    assert raw.read_reply() == b":1\r\n"


def test_reset_unsubscribes(tandem_port, raw):
    raw.call("SUBSCRIBE", "c")
    raw.send(encode_command("PSUBSCRIBE", "p*"))
    raw.read_reply()
    assert raw.call("RESET") == b"+RESET\r\n"
    assert raw.call("GET", "k") == b"$-1\r\n"
    other = RawClient(tandem_port)
    assert other.call("PUBLISH", "c", "x") == b":0\r\n"
    assert other.call("PUBSUB", "NUMPAT") == b":0\r\n"
    other.close()


# ----------------------------------------------------------- slow subscribers


@pytest.fixture(scope="module")
def limited_server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A dedicated server with a small pubsub output-buffer limit, for speed."""
    proc, port = start_tandem(
        "--client-output-buffer-limit", "pubsub 1mb 512kb 60", "--notify-keyspace-events", "KE$"
    )
    yield proc, port
    stop(proc)


def _never_reading_subscriber(port: int, *command: str) -> socket.socket:
    """A client with a tiny receive buffer that subscribes and then never reads again."""
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", port))
    slow.sendall(encode_command(*command))
    return slow


def _closed_by_server(slow: socket.socket) -> bool:
    """Drain what the server sent; True once it closed the connection."""
    slow.settimeout(10)
    try:
        while slow.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def _run_batches(client: RawClient, command: bytes, total: int, batch: int = 5000) -> list[bytes]:
    replies = []
    for _ in range(total // batch):
        client.send(command * batch)
        replies += [client.read_reply() for _ in range(batch)]
    return replies


def test_slow_subscriber_is_disconnected_and_publishers_never_wait(limited_server):
    """A subscriber that never reads, while another client publishes 100,000 messages of 1 KB
    to its channel: every publish gets its reply, the subscriber is disconnected at the
    pubsub output-buffer limit, and the server keeps serving everyone else."""
    proc, port = limited_server
    slow = _never_reading_subscriber(port, "SUBSCRIBE", "feed")
    bystander = RawClient(port)
    publisher = RawClient(port)
    try:
        for _ in range(500):  # wait for the subscription (no reading: ask someone else)
            if bystander.call("PUBSUB", "NUMSUB", "feed").endswith(b":1\r\n"):
                break
            time.sleep(0.01)
        bystander.call("SET", "probe", "1")
        replies = _run_batches(publisher, encode_command("PUBLISH", "feed", b"x" * 1024), 100_000)
        assert len(replies) == 100_000
        assert set(replies) <= {b":1\r\n", b":0\r\n"} and replies[0] == b":1\r\n"
        assert replies[-1] == b":0\r\n"  # the subscriber is gone
        assert bystander.call("GET", "probe") == b"$1\r\n1\r\n"
        assert bystander.call("PUBSUB", "NUMSUB", "feed") == b"*2\r\n$4\r\nfeed\r\n:0\r\n"
        assert _closed_by_server(slow)
        # Memory stayed bounded: 100 MB were published, the server's peak is a fraction of it.
        peak_kb = _peak_rss_kb(proc.pid)
        assert peak_kb < 80_000, f"server peak RSS {peak_kb} kB"
    finally:
        slow.close()
        bystander.close()
        publisher.close()


def test_slow_keyspace_subscriber_never_blocks_sets(limited_server):
    """The same with keyspace events: 100,000 SETs of 1 KB values all complete while the
    subscriber to their events stops reading and is disconnected at the limit."""
    _proc, port = limited_server
    slow = _never_reading_subscriber(port, "PSUBSCRIBE", "__key*__:*")
    other = RawClient(port)
    try:
        other.call("FLUSHALL")
        for _ in range(500):
            if other.call("PUBSUB", "NUMPAT") == b":1\r\n":
                break
            time.sleep(0.01)
        replies = []
        for i in range(20):
            commands = b"".join(
                encode_command("SET", f"key:{i}:{j}", b"v" * 1024) for j in range(5000)
            )
            other.send(commands)
            replies += [other.read_reply() for _ in range(5000)]
        assert replies == [b"+OK\r\n"] * 100_000
        assert other.call("DBSIZE") == b":100000\r\n"
        assert other.call("PUBSUB", "NUMPAT") == b":0\r\n"
        assert _closed_by_server(slow)
        assert b"client_output_buffer_limit_disconnections:" in other.call("INFO", "stats")
    finally:
        slow.close()
        other.close()


def _peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")
