"""The durable embedded Store (store.py over persistence/aofcontrol.py): it loads its `dir` as
the server does at start, logs every write's effect to the AOF under each appendfsync policy,
runs the save schedule, BGSAVE and the AOF rewrite from tick(), and closes as SHUTDOWN does;
its directories load into tandemkv-server and redis-server with the same data, and theirs
into it."""

from __future__ import annotations

import os
import shutil
import types
from pathlib import Path

import pytest
import redis

from tandemkv import Store
from tandemkv.errors import CommandError
from tandemkv.persistence import aofcontrol
from tandemkv.persistence.aof import AofError
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop
from tests.test_aof import _dataset, _populate

FUNCTION = "#!lua name=lib\nredis.register_function('f', function() return 1 end)"


def _populate_store(store: Store) -> None:
    """The dataset of test_aof._populate, written through the Store."""
    store.set("s", "v")
    store.set("n", 12345)
    store.set("ttl", "v", px=600_000)
    store.execute("RPUSH", "l", *[f"e{i}" for i in range(300)])
    store.execute("SADD", "si", *range(50))
    store.execute("SADD", "ss", "a", "b", "c")
    store.execute("HSET", "h", *[x for i in range(20) for x in (f"f{i}", f"v{i}")])
    store.execute("HSET", "hbig", *[x for i in range(600) for x in (f"f{i}", "x" * 100)])
    store.execute("ZADD", "z", *[x for i in range(200) for x in (repr(i / 3), f"m{i}")])
    store.execute("ZADD", "zs", 1, "a", 2, "b")
    store.execute("INCRBYFLOAT", "fl", "1.1")
    store.execute("SELECT", 2)
    store.set("in-db2", "2")
    store.execute("SELECT", 0)
    store.execute("XADD", "st", "1-1", "f", "v")
    store.execute("XADD", "st", "2-1", "f", "w")
    store.execute("XGROUP", "CREATE", "st", "g", "0")
    store.execute("XREADGROUP", "GROUP", "g", "alice", "COUNT", 1, "STREAMS", "st", ">")
    store.execute("FUNCTION", "LOAD", FUNCTION)


def _served_dataset(directory: Path, start, *args: str) -> dict:
    """_dataset of a server started on a copy of `directory`."""
    copy = directory.parent / f"copy-{start.__name__}-{len(os.listdir(directory.parent))}"
    shutil.copytree(directory, copy)
    proc, port = start("--dir", str(copy), *args)
    try:
        client = redis.Redis(port=port)
        data = _dataset(client)
        client.close()
    finally:
        stop(proc)
    return data


def _tick_until_idle(store: Store, limit: int = 100_000) -> int:
    """tick() until no work remains; the number of ticks it took."""
    for count in range(1, limit):
        if not store.tick():
            return count
    raise AssertionError("tick() never ran out of work")


# ---------------------------------------------------------------- in-process


def test_a_store_without_a_dir_loads_nothing_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dump.rdb").write_bytes(b"not an rdb")  # would raise if it were loaded
    store = Store()
    store.set("k", "v")
    store.close()
    assert sorted(os.listdir(tmp_path)) == ["dump.rdb"]


def test_appendfsync_always_puts_each_write_on_disk_before_it_returns(tmp_path, monkeypatch):
    store = Store(dir=str(tmp_path), appendonly="yes", appendfsync="always")
    aof = store.appendonly.aof
    assert aof is not None
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store.set("a", "1")
    assert synced == [aof.fd] and not aof.buffer
    store.execute("INCR", "n")
    store.get("a")  # a read writes nothing
    assert synced == [aof.fd, aof.fd]
    # Without close: what a crash leaves is enough.
    other = Store(dir=str(tmp_path), appendonly="yes")
    assert other.get("a") == b"1" and other.get("n") == b"1"
    other.close()
    store.close()


def test_everysec_fsyncs_on_the_first_write_or_tick_a_second_after_the_last(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(aofcontrol, "time", types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0]))
    store = Store(dir=str(tmp_path), appendonly="yes", appendfsync="everysec")
    aof = store.appendonly.aof
    assert aof is not None
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store.set("a", "1")
    store.set("b", "2")
    assert synced == [] and not aof.buffer and aof.unsynced  # written, not fsynced
    now[0] += 1.0
    store.set("c", "3")
    assert synced == [aof.fd] and not aof.unsynced
    store.set("d", "4")
    store.tick()
    assert synced == [aof.fd]
    now[0] += 1.0
    store.tick()
    assert synced == [aof.fd, aof.fd]
    store.tick()  # nothing written since
    assert synced == [aof.fd, aof.fd]
    store.close()


def test_appendfsync_no_never_fsyncs_until_close(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(aofcontrol, "time", types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0]))
    store = Store(dir=str(tmp_path), appendonly="yes", appendfsync="no")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store.set("a", "1")
    now[0] += 5.0
    store.set("b", "1")
    store.tick()
    assert synced == []
    store.close()
    assert synced  # close fsyncs
    assert Store(dir=str(tmp_path), appendonly="yes").get("b") == b"1"


def test_a_failing_fsync_under_always_raises_from_the_write(tmp_path, monkeypatch):
    store = Store(dir=str(tmp_path), appendonly="yes", appendfsync="always")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output error"):
        store.set("k", "v")
    monkeypatch.undo()
    store.close()


def test_a_failing_write_refuses_writes_with_misconf_until_it_can_write(tmp_path):
    store = Store(dir=str(tmp_path), appendonly="yes", appendfsync="everysec")
    aof = store.appendonly.aof
    assert aof is not None
    good_fd = aof.fd
    aof.fd = os.open(os.devnull, os.O_RDONLY)  # writes fail with EBADF
    store.set("k", "v")  # accepted: not written yet, the write fails after it
    assert aof.buffer
    with pytest.raises(CommandError, match=r"^MISCONF Errors writing to the AOF file"):
        store.set("k2", "v")
    os.close(aof.fd)
    aof.fd = good_fd
    store.tick()  # the retry writes the buffer
    assert not aof.buffer
    store.set("k2", "v")
    store.close()
    reopened = Store(dir=str(tmp_path), appendonly="yes")
    assert reopened.get("k") == b"v" and reopened.get("k2") == b"v"


def test_the_save_schedule_runs_a_bgsave_in_slices_from_tick(tmp_path):
    store = Store(dir=str(tmp_path), save="100 5")
    for i in range(2000):
        store.set(f"k{i}", i)
    state = store.instance.rdb
    assert state.job is None and not (tmp_path / "dump.rdb").exists()
    state.last_save_s -= 101  # the schedule's seconds have passed
    store.tick(budget_us=1)
    assert state.job is not None  # started, not finished by the first slice
    store.set("after", "start")  # not in the point-in-time image
    ticks = _tick_until_idle(store, limit=10_000)
    assert ticks > 1 and state.job is None and state.last_status_ok and state.dirty == 1
    reloaded = Store(dir=str(tmp_path))
    assert len(reloaded) == 2000 and reloaded.get("k1999") == b"1999" and reloaded.get("after") is None


def test_bgsave_and_save_methods_and_close_finishes_a_running_bgsave(tmp_path):
    store = Store(dir=str(tmp_path), dbfilename="x.rdb")
    for i in range(500):
        store.set(f"k{i}", i)
    store.save()
    assert Store(dir=str(tmp_path), dbfilename="x.rdb").get("k499") == b"499"
    store.set("k0", "changed")
    store.bgsave()
    assert store.instance.rdb.job is not None
    store.close()
    assert store.instance.rdb.job is None
    assert Store(dir=str(tmp_path), dbfilename="x.rdb").get("k0") == b"changed"


def test_close_saves_when_a_schedule_is_set_and_the_context_manager_closes(tmp_path):
    with Store(dir=str(tmp_path), save="3600 1") as store:
        store.set("k", "v")
    assert store.closed and (tmp_path / "dump.rdb").exists()
    with pytest.raises(ValueError, match="closed Store"):
        store.get("k")
    assert store.tick() is False
    store.close()  # twice: nothing
    assert Store(dir=str(tmp_path)).get("k") == b"v"


def test_shutdown_closes_the_store(tmp_path):
    store = Store(dir=str(tmp_path), appendonly="yes")
    store.set("k", "v")
    assert store.execute("SHUTDOWN", "SAVE") is None
    assert store.closed and (tmp_path / "dump.rdb").exists()
    assert store.appendonly.aof is not None and store.appendonly.aof.fd == -1
    assert Store(dir=str(tmp_path), appendonly="yes").get("k") == b"v"


def test_the_automatic_rewrite_runs_from_tick(tmp_path):
    store = Store(dir=str(tmp_path), appendonly="yes", auto_aof_rewrite_min_size=4096, auto_aof_rewrite_percentage=100)
    for i in range(300):
        store.set(f"k{i % 10}", "x" * 50)  # the file grows, the dataset does not
    aof = store.appendonly.aof
    assert aof is not None and aof.rewrites == 0
    _tick_until_idle(store)
    assert aof.rewrites == 1 and aof.rewrite is None
    store.set("after", "rewrite")
    store.close()
    names = sorted(os.listdir(tmp_path / "appendonlydir"))
    assert names == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
    reopened = Store(dir=str(tmp_path), appendonly="yes")
    assert len(reopened) == 11 and reopened.get("after") == b"rewrite"


def test_config_set_appendonly_yes_at_runtime_writes_a_base_through_tick(tmp_path):
    store = Store(dir=str(tmp_path))
    store.set("before", "1")
    store.execute("CONFIG", "SET", "appendonly", "yes")
    store.set("during", "2")
    _tick_until_idle(store)
    store.set("after", "3")
    store.close()
    reopened = Store(dir=str(tmp_path), appendonly="yes")
    assert [reopened.get(k) for k in ("before", "during", "after")] == [b"1", b"2", b"3"]


def test_a_corrupt_aof_is_refused_at_construction_and_left_alone(tmp_path):
    store = Store(dir=str(tmp_path), appendonly="yes")
    store.set("k", "v")
    store.close()
    incr = tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof"
    incr.write_bytes(incr.read_bytes() + b"garbage\r\n")
    before = incr.read_bytes()
    with pytest.raises(AofError, match=r"Bad file format reading the append only file appendonly\.aof\.1\.incr\.aof"):
        Store(dir=str(tmp_path), appendonly="yes")
    assert incr.read_bytes() == before


# ---------------------------------------------------------------- with servers


def test_a_store_aof_dir_starts_tandemkv_server_with_the_same_data(tmp_path):
    directory = tmp_path / "store"
    store = Store(dir=str(directory), appendonly="yes", appendfsync="always")
    _populate_store(store)
    store.bgrewriteaof()
    _tick_until_idle(store)
    store.execute("RPUSH", "l", "after-rewrite")
    store.close()
    data = _served_dataset(directory, start_tandem, "--appendonly", "yes")
    assert data[(0, b"l")][1][-1] == b"after-rewrite" and len(data[(0, b"l")][1]) == 301
    assert data[(2, b"in-db2")][1] == b"2" and data[(0, b"ttl")][2] is True
    assert b"lib" in data["functions"][0]


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_store_dirs_load_into_redis_and_tandemkv_alike(tmp_path):
    """An AOF directory (after a rewrite, with a tail) and an RDB file written by the Store:
    redis-server and tandemkv-server started on them hold the same data."""
    aof_dir = tmp_path / "aof"
    store = Store(dir=str(aof_dir), appendonly="yes")
    _populate_store(store)
    store.bgrewriteaof()
    _tick_until_idle(store)
    store.execute("RPUSH", "l", "tail")
    store.execute("SPOP", "ss")
    store.close()
    expected = _served_dataset(aof_dir, start_tandem, "--appendonly", "yes")
    assert _served_dataset(aof_dir, start_redis, "--appendonly", "yes") == expected
    rdb_dir = tmp_path / "rdb"
    with Store(dir=str(rdb_dir), save="3600 1") as store:
        _populate_store(store)
    expected = _served_dataset(rdb_dir, start_tandem)
    assert _served_dataset(rdb_dir, start_redis) == expected


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_redis_dirs_load_into_the_store_and_back(tmp_path):
    """redis-server's AOF directory and RDB file load into the Store; what the Store then
    writes loads back into redis-server with the same data plus the Store's write."""
    for kind, args in (("aof", ("--appendonly", "yes")), ("rdb", ("--save", "3600 1"))):
        directory = tmp_path / kind
        directory.mkdir()
        proc, port = start_redis("--dir", str(directory), *args)
        try:
            client = redis.Redis(port=port)
            _populate(client)
            client.expire("s", 1000)
            expected = _dataset(client)
            client.close()
        finally:
            stop(proc)  # SIGTERM: redis-server saves with a schedule set
        settings = {"appendonly": "yes"} if kind == "aof" else {"save": "3600 1"}
        with Store(dir=str(directory), **settings) as store:
            assert store.execute("LRANGE", "l", 0, -1) == [f"e{i}".encode() for i in range(300)]
            assert store.execute("FCALL", "f", 0) == 1
            store.set("from-store", "yes")
        expected[(0, b"from-store")] = (b"string", b"yes", -1)
        assert _served_dataset(directory, start_redis, *args) == expected, kind
