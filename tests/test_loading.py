"""Loading data files (persistence/loading.py): the loading flag that stops expiry, LOADING
replies and INFO's loading fields while it is set, and a server that opens its port first and
loads in slices, answering LOADING until the data is there (RDB, AOF with an RDB base)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tandemkv.clock import ManualClock
from tandemkv.commands import Instance, execute
from tandemkv.commands.session import LoadingState, Session
from tandemkv.config import Config
from tandemkv.persistence import attach, snapshot
from tandemkv.persistence.loading import loading
from tandemkv.protocol import Error, Verbatim
from tests.conftest import free_port, stop


def _session(tmp_path: Path) -> Session:
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    instance = Instance(config, ManualClock())
    attach(instance)
    return Session(instance, 1)


def _run(session: Session, *argv: str | bytes) -> object:
    return execute(session, [a.encode() if isinstance(a, str) else a for a in argv])


def _info(session: Session) -> str:
    reply = _run(session, "INFO", "persistence")
    assert isinstance(reply, Verbatim)
    return reply.text.decode()


# --------------------------------------------------------------- the flag


def test_no_deadline_passes_while_loading_and_keys_expire_after(tmp_path):
    session = _session(tmp_path)
    instance = session.instance
    clock = instance.clock
    db = instance.dbs[0]
    now_ms = clock.now_ms()
    instance.expiry_clock.loading = True  # as `loading` sets it (its LOADING replies aside)
    try:
        _run(session, "SET", "a", "1", "PXAT", str(now_ms - 1000))  # already past: kept
        _run(session, "RPUSH", "list", "foo")
        _run(session, "PEXPIREAT", "list", str(now_ms - 1000))  # kept, with its deadline
        _run(session, "RPUSH", "list", "bar")  # the same list, not a new one
        assert db.lookup(b"list") is not None and len(db.lookup(b"list")) == 2  # type: ignore[arg-type]
        assert db.expire_due(clock.now_ms(), 100) == 0
        assert _run(session, "EXISTS", "a", "list") == 2
        assert db.deadline_ms(b"list") == now_ms - 1000
    finally:
        instance.expiry_clock.loading = False
    assert _run(session, "EXISTS", "a", "list") == 0  # expired at the first look after
    assert instance.keyspace_stats.expired_keys == 2


def test_migration_keeps_past_deadlines_while_loading(tmp_path):
    config = Config()
    config.set("engine-shard-high-keys", b"16", startup=True)
    instance = Instance(config, ManualClock())
    db = instance.dbs[0]
    past_ms = instance.clock.now_ms() - 1
    with loading(instance, 0):
        for i in range(400):  # several steps up; migration meets every key
            db.set(b"k%d" % i, b"v", past_ms)
        while db.tandem.busy:
            db.migrate(10_000)
        assert len(db) == 400
    assert db.keys() == []


# ------------------------------------------------------------ LOADING replies


def test_commands_without_the_loading_flag_get_loading_replies(tmp_path):
    session = _session(tmp_path)
    instance = session.instance
    instance.loading = LoadingState(start_time_s=int(time.time()), total_bytes=1000, loaded_bytes=250)
    refused = _run(session, "GET", "k")
    assert isinstance(refused, Error) and refused.message == "LOADING Redis is loading the dataset in memory"
    pong = _run(session, "PING")  # PING has no `loading` flag in Redis either
    assert isinstance(pong, Error) and pong.message.startswith("LOADING")
    text = _info(session)
    assert "loading:1" in text and "loading_total_bytes:1000" in text
    assert "loading_loaded_bytes:250" in text and "loading_loaded_perc:25.00" in text
    assert "loading_eta_seconds:1" in text  # in the first second, Redis's fake figure
    # MULTI is allowed, a command without the flag is refused inside it and EXEC aborts.
    assert _run(session, "MULTI") is not None
    assert isinstance(_run(session, "SET", "k", "v"), Error)
    aborted = _run(session, "EXEC")
    assert isinstance(aborted, Error) and aborted.message.startswith("EXECABORT")
    instance.loading = None
    assert _run(session, "GET", "k") is None
    text = _info(session)
    assert "loading:0" in text and "loading_total_bytes" not in text


def test_exec_of_commands_queued_before_loading_began_is_refused(tmp_path):
    session = _session(tmp_path)
    _run(session, "MULTI")
    _run(session, "SET", "k", "v")
    session.instance.loading = LoadingState(start_time_s=int(time.time()))
    aborted = _run(session, "EXEC")
    assert isinstance(aborted, Error) and aborted.message.startswith("EXECABORT") and "LOADING" in aborted.message


# ------------------------------------------------------------- the server


KEYS = 300_000  # a file that takes a good part of a second to load


def _big_rdb(directory: Path) -> None:
    config = Config()
    config.set("dir", str(directory).encode(), startup=True)
    instance = Instance(config)
    attach(instance)
    session = Session(instance, 1)
    for i in range(KEYS):
        execute(session, [b"SET", b"key:%d" % i, b"value:%d" % i])
    assert snapshot.save(instance)


def _start(directory: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), "--dir", str(directory), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return proc, port


def _connect_early(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    """A connection made as soon as the port accepts one (the server is then loading)."""
    for _ in range(5000):
        assert proc.poll() is None, "the server exited"
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            time.sleep(0.002)
    raise AssertionError("the port never opened")


def _ask(sock: socket.socket, *argv: bytes) -> bytes:
    sock.sendall(b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv))
    reply = sock.recv(65536)
    while not reply.endswith(b"\r\n"):
        reply += sock.recv(65536)
    return reply


def _loading_then_data(port: int, proc: subprocess.Popen[bytes]) -> None:
    sock = _connect_early(port, proc)
    try:
        info = _ask(sock, b"INFO", b"persistence")
        assert b"loading:1" in info and b"loading_total_bytes:" in info  # connected during loading
        replies = []
        while True:
            reply = _ask(sock, b"GET", b"key:123")
            replies.append(reply)
            if not reply.startswith(b"-LOADING"):
                break
        assert replies[0] == b"-LOADING Redis is loading the dataset in memory\r\n"
        assert replies[-1] == b"$9\r\nvalue:123\r\n"
        assert b"loading:0" in _ask(sock, b"INFO", b"persistence")
        assert _ask(sock, b"DBSIZE") == b":%d\r\n" % KEYS
    finally:
        sock.close()


@pytest.fixture(scope="module")
def big_rdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("big-rdb")
    _big_rdb(directory)
    return directory


def test_a_client_connected_while_an_rdb_loads_gets_loading_then_the_data(big_rdb):
    proc, port = _start(big_rdb)
    try:
        _loading_then_data(port, proc)
    finally:
        stop(proc)


def test_a_client_connected_while_an_aof_loads_gets_loading_then_the_data(big_rdb, tmp_path):
    # The AOF's base is the big RDB image; an incr file adds commands after it.
    directory = tmp_path / "appendonlydir"
    directory.mkdir()
    (directory / "appendonly.aof.1.base.rdb").write_bytes((big_rdb / "dump.rdb").read_bytes())
    (directory / "appendonly.aof.1.incr.aof").write_bytes(b"*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n1\r\n")
    (directory / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    proc, port = _start(tmp_path, "--appendonly", "yes")
    try:
        sock = _connect_early(port, proc)
        sock.close()
        client = redis.Redis(port=port)
        while True:
            try:
                assert client.get("after") == b"1"
                break
            except redis.exceptions.BusyLoadingError:
                time.sleep(0.01)
        assert client.dbsize() == KEYS + 1 and client.get("key:7") == b"value:7"
        client.set("written", "after loading")  # the AOF opened for writing once loaded
        client.close()
    finally:
        stop(proc)
    assert b"written" in (directory / "appendonly.aof.1.incr.aof").read_bytes()


def test_shutdown_while_loading_never_saves_over_the_file(big_rdb):
    before = (big_rdb / "dump.rdb").read_bytes()
    proc, port = _start(big_rdb, "--save", "3600 1")
    try:
        sock = _connect_early(port, proc)
        assert b"loading:1" in _ask(sock, b"INFO", b"persistence")
        sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n")
        assert proc.wait(timeout=30) == 0
        sock.close()
    finally:
        stop(proc)
    assert (big_rdb / "dump.rdb").read_bytes() == before


def test_a_file_that_fails_to_load_stops_the_server_with_status_1(tmp_path):
    (tmp_path / "dump.rdb").write_bytes(b"REDIS0010\xfa" + b"\x00" * 20)
    proc, _port = _start(tmp_path)
    assert proc.wait(timeout=30) == 1


def test_a_key_loaded_twice_keeps_the_last_value_and_is_counted_once(tmp_path):
    session = _session(tmp_path)
    db = session.instance.dbs[0]
    db.add_loaded(b"k", b"a", None)
    db.add_loaded(b"k", b"a", None)  # the same (cached one-byte) value object
    db.add_loaded(b"other", b"x" * 100, session.instance.clock.now_ms() + 10_000)
    db.add_loaded(b"other", b"y", None)
    assert len(db) == 2 and db.lookup(b"other") == b"y" and db.deadline_ms(b"other") is None
    fresh = _session(tmp_path).instance.dbs[0]
    fresh.add_loaded(b"k", b"a", None)
    fresh.add_loaded(b"other", b"y", None)
    assert fresh.used_bytes == db.used_bytes and fresh.volatile_count == db.volatile_count == 0
