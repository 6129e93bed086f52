"""The effect stream (commands/effects.py) and the append-only file (persistence/aof.py,
server/appendonly.py): what each write propagates, byte for byte against redis-server's own
AOF; restarts, rewrites, crashes (kill -9) under appendfsync always and everysec; truncated
and corrupt files; AOF directories moving both ways between redis-server 7.0 and tandemkv."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

import tandemkv.persistence
import tandemkv.scripting  # noqa: F401  (registers EVAL)
from tandemkv.commands import execute
from tandemkv.commands.effects import subscribe
from tandemkv.commands.session import Instance
from tandemkv.config import Config
from tandemkv.persistence import aof as aof_module
from tandemkv.protocol import OK
from tests.conftest import REDIS_SERVER, free_port, start_redis, start_tandem, stop

# ------------------------------------------------------------ the effect stream


def _effects(*lines: str, config: Config | None = None) -> list[list[tuple[int, list[bytes]]]]:
    """Run command lines on an embedded instance; the units of effects they propagate."""
    instance = Instance(config)
    units: list[list[tuple[int, list[bytes]]]] = []
    subscribe(instance, units.append)
    session = instance.new_session()
    for line in lines:
        execute(session, [word.encode() for word in shlex.split(line)])
    return units


def _lines(units: list[list[tuple[int, list[bytes]]]]) -> list[str]:
    return [f"{db} " + " ".join(word.decode() for word in argv) for unit in units for db, argv in unit]


def test_writes_propagate_as_received_and_reads_or_no_ops_not_at_all():
    units = _effects("SET k v", "GET k", "SET k w NX", "RPUSH l a b", "LREM l 0 zz", "DEL nothing", "HSET h f v")
    assert _lines(units) == ["0 SET k v", "0 RPUSH l a b", "0 HSET h f v"]


def test_rewrites_redis_declares():
    units = _effects(
        "SET k v GET", "GETSET k x", "INCRBYFLOAT f 1.5", "INCRBYFLOAT f 1.5", "HINCRBYFLOAT h f 0.25",
        "SADD s only", "SPOP s", "SADD s a b c", "SPOP s 10", "GETDEL k",
        "RPUSH l a b c", "BLPOP l 0", "BRPOP l 0", "RPUSH l a b", "LMPOP 1 l LEFT COUNT 5", "RPUSH l x",
        "BLMOVE l l2 LEFT RIGHT 0", "BRPOPLPUSH l2 l 0", "ZADD z 1 a 2 b 3 c", "BZPOPMIN z 0", "ZMPOP 1 z MAX COUNT 9",
        "SET e v", "GETEX e PERSIST", "EXPIRE e -5",
    )
    assert _lines(units) == [
        "0 SET k v", "0 SET k x", "0 SET f 1.5 KEEPTTL", "0 SET f 3 KEEPTTL", "0 HSET h f 0.25",
        "0 SADD s only", "0 SREM s only", "0 SADD s a b c", "0 DEL s", "0 DEL k",
        "0 RPUSH l a b c", "0 LPOP l", "0 RPOP l", "0 RPUSH l a b", "0 LPOP l 3", "0 RPUSH l x",
        "0 LMOVE l l2 LEFT RIGHT", "0 RPOPLPUSH l2 l", "0 ZADD z 1 a 2 b 3 c", "0 ZPOPMIN z", "0 ZPOPMAX z 2",
        "0 SET e v", "0 DEL e",
    ]


def test_relative_expiries_become_absolute_and_lazyfree_chooses_unlink():
    config = Config()
    config.set("lazyfree-lazy-expire", b"yes")
    config.set("lazyfree-lazy-user-del", b"yes")
    units = _effects(
        "SET a 1 EX 100", "SETEX b 100 v", "PSETEX c 100000 v", "EXPIRE a 200 GT", "PEXPIREAT a 99999999999999",
        "GETEX a EX 10", "EXPIRE b 0", "GETDEL c", config=config,
    )
    lines = _lines(units)
    assert [re.sub(r" \d{13,}", " <ms>", line) for line in lines] == [
        "0 SET a 1 PXAT <ms>", "0 SET b v PXAT <ms>", "0 SET c v PXAT <ms>", "0 PEXPIREAT a <ms> GT",
        "0 PEXPIREAT a <ms>", "0 PEXPIREAT a <ms>", "0 UNLINK b", "0 UNLINK c",
    ]
    now_ms = int(time.time() * 1000)
    first = int(lines[0].split()[-1])
    assert now_ms + 90_000 < first <= now_ms + 100_000
    assert lines[4] == "0 PEXPIREAT a 99999999999999"


def test_transactions_and_scripts_wrap_their_effects_in_multi_exec():
    units = _effects(
        "MULTI", "SET a 1", "SET b 2", "EXEC",
        "MULTI", "SET c 3", "GET c", "EXEC",
        "EVAL \"redis.call('set', KEYS[1], 'x'); redis.call('incr', 'n')\" 1 k",
        "EVAL \"return redis.call('get', 'k')\" 0",
        "SELECT 5", "SET five 5",
    )
    assert units == [
        [(0, [b"MULTI"]), (0, [b"SET", b"a", b"1"]), (0, [b"SET", b"b", b"2"]), (0, [b"EXEC"])],
        [(0, [b"SET", b"c", b"3"])],
        [(0, [b"MULTI"]), (0, [b"set", b"k", b"x"]), (0, [b"incr", b"n"]), (0, [b"EXEC"])],
        [(5, [b"SET", b"five", b"5"])],
    ]


def test_expiry_propagates_a_deletion_of_its_own():
    instance = Instance()
    units: list = []
    subscribe(instance, units.append)
    session = instance.new_session()
    execute(session, [b"SET", b"k", b"v", b"PX", b"1"])
    units.clear()
    time.sleep(0.005)
    assert execute(session, [b"GET", b"k"]) is None  # lazy expiry: DEL, alone
    assert units == [[(0, [b"DEL", b"k"])]]


def test_stream_effects_name_ids_and_pending_entries():
    units = _effects(
        "XADD s 1-1 a 1", "XADD s MAXLEN ~ 1 * a 2", "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS s >", "XACK s g 1-1", "XACK s g 1-1",
        "XREADGROUP GROUP g bob NOACK STREAMS s >",
    )
    lines = [re.sub(r"\b\d{13,}\b", "<ms>", line) for line in _lines(units)]
    assert lines == [
        "0 XADD s 1-1 a 1", "0 XADD s MAXLEN = 2 <ms>-0 a 2", "0 XGROUP CREATE s g 0",
        "0 XCLAIM s g alice 0 1-1 TIME <ms> RETRYCOUNT 1 FORCE JUSTID LASTID 1-1", "0 XACK s g 1-1",
        "0 MULTI", "0 XGROUP CREATECONSUMER s g bob", "0 XGROUP SETID s g <ms>-0 ENTRIESREAD 2", "0 EXEC",
    ]


def test_a_full_disk_refuses_writes_with_misconf_until_the_aof_can_write_again(tmp_path):
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    instance = Instance(config)
    aof = aof_module.Aof(instance)
    aof.start()
    session = instance.new_session()
    execute(session, [b"SET", b"a", b"1"])
    aof.flush()
    good_fd, aof.fd = aof.fd, os.open("/dev/full", os.O_WRONLY)
    execute(session, [b"SET", b"b", b"2"])
    with pytest.raises(OSError):
        aof.flush()
    refused = execute(session, [b"SET", b"c", b"3"])
    assert refused.message == "MISCONF Errors writing to the AOF file: No space left on device"
    assert execute(session, [b"PING"]).message.startswith("MISCONF")
    assert execute(session, [b"GET", b"a"]) == b"1"  # reads go on
    os.close(aof.fd)
    aof.fd = good_fd
    aof.flush()  # the disk has room again: what was buffered is written, writes resume
    assert execute(session, [b"SET", b"c", b"3"]).__class__.__name__ != "Error"
    aof.flush()
    aof.stop()
    data = _incr_files(tmp_path)[0].read_bytes()
    assert data.count(b"SET") == 3 and b"$1\r\nb\r\n" in data


def test_a_rewrites_last_writes_fsync_and_rename_run_in_the_servers_thread(tmp_path):
    """BGREWRITEAOF under the server: the base's file I/O, its fsync and rename included, is
    handed to the server's thread (SaveState.offload); the rewrite stays in progress and the
    manifest unchanged until the thread is done. The base written at start-up (before the AOF
    opens) is written at once."""
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    instance = Instance(config)
    handed: list = []

    def run_handed() -> None:
        while handed:
            work, done = handed.pop(0)
            work()
            done(None)

    instance.rdb.offload = lambda work, done: handed.append((work, done)) or run_handed
    aof = aof_module.Aof(instance)
    aof.start()
    assert not handed  # start-up's base: at once
    first_base = aof.manifest.base
    aof.schedule_rewrite = lambda: None  # the test runs the slices
    session = instance.new_session()
    for i in range(300):
        execute(session, [b"SET", b"k%d" % i, b"v%d" % i])
    assert aof.start_rewrite()
    job = aof.rewrite
    while job.step(1.0):
        pass
    assert not job.step(1.0)  # serialized: nothing more to do on the loop
    assert handed and aof.rewrite is job and aof.manifest.base == first_base
    assert not (tmp_path / "appendonlydir" / job.base.name).exists()
    run_handed()
    assert aof.rewrite is None and job.ok and aof.manifest.base == job.base
    assert (tmp_path / "appendonlydir" / job.base.name).read_bytes().startswith(b"REDIS0010")
    # appendonly no while the thread fsyncs: it waits, and no base is left that no manifest names.
    assert aof.start_rewrite()
    job = aof.rewrite
    while job.step(1.0):
        pass
    assert handed
    aof.stop()
    assert not handed and aof.rewrite is None and not job.ok
    assert sorted(p.name for p in (tmp_path / "appendonlydir").iterdir() if "base" in p.name) == [
        aof.manifest.base.name
    ]


def test_debug_aof_flush_sleep_sleeps_before_each_write_of_the_buffer(tmp_path, monkeypatch):
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    instance = Instance(config)
    aof = aof_module.Aof(instance)
    aof.start()
    slept: list[float] = []
    monkeypatch.setattr(aof_module.time, "sleep", slept.append)
    session = instance.new_session()
    assert execute(session, [b"DEBUG", b"AOF-FLUSH-SLEEP", b"500000"]) is OK
    aof.flush()  # nothing buffered: no sleep
    execute(session, [b"SET", b"a", b"1"])
    aof.flush()
    assert slept == [0.5]
    execute(session, [b"DEBUG", b"aof-flush-sleep", b"0"])
    execute(session, [b"SET", b"a", b"2"])
    aof.flush()
    assert slept == [0.5]
    aof.stop()


def test_no_consumer_no_stream():
    instance = Instance()
    assert instance.effects is None
    execute(instance.new_session(), [b"SET", b"k", b"v"])
    assert instance.effects is None


# ------------------------------------------------------------------ files


def _incr_files(path: Path) -> list[Path]:
    manifest = (path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    names = re.findall(r"file (\S+) seq \d+ type i", manifest)
    return [path / "appendonlydir" / name for name in names]


def _normalized(data: bytes) -> bytes:
    """An AOF's commands with wall-clock values masked (absolute expiries, XCLAIM TIME)."""
    return re.sub(rb"\$13\r\n\d{13}\r\n", b"$13\r\n<ms>\r\n", data)


SEQUENCE = [
    "SET a 1", "SET b 2 EX 100", "SETEX c 100 v", "PSETEX d 100000 v", "GETSET a 3", "SET a 4 GET", "GETDEL a",
    "SET e v", "GETEX e EX 100", "GETEX e PERSIST", "GETEX e", "INCRBYFLOAT f 10.5", "INCRBYFLOAT f 0.1",
    "HINCRBYFLOAT h x 1.25", "EXPIRE e 100", "PEXPIRE e 100000 XX", "EXPIREAT e 99999999999", "EXPIRE e -1",
    "SADD s m", "SPOP s", "SADD t a b", "SPOP t 5", "RPUSH l a b c d", "BLPOP l 0", "BRPOP l 0", "LMPOP 1 l RIGHT COUNT 9",
    "RPUSH l x y", "BLMOVE l l2 LEFT LEFT 0", "BRPOPLPUSH l l2 0", "BLMPOP 0 1 l2 LEFT COUNT 1",
    "ZADD z 1 a 2 b 3 c 4 d", "BZPOPMIN z 0", "BZPOPMAX z 0", "ZMPOP 1 z MIN COUNT 1", "BZMPOP 0 1 z MAX COUNT 5",
    "MULTI", "SET m1 1", "INCR m2", "EXEC", "MULTI", "SET m3 1", "EXEC",
    "EVAL \"redis.call('set', 'e1', '1'); redis.call('rpush', 'e2', 'x')\" 0",
    "SET nx 1 NX", "SET nx 2 NX", "SELECT 3", "SET in3 v", "SELECT 0", "SET back 0",
    "XADD st 1-1 f v", "XADD st 1-2 f v", "XGROUP CREATE st g 0", "XACK st g 1-1", "XDEL st 1-2",
    "SWAPDB 0 1", "SWAPDB 0 1", "FLUSHDB", "SET last 1",
]


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_the_incr_file_is_redis_byte_for_byte(tmp_path):
    """The same command lines against redis-server and tandemkv, both with appendonly yes:
    their incr files are equal once wall-clock values are masked."""
    files = {}
    for name, start in (("redis", start_redis), ("tandem", start_tandem)):
        directory = tmp_path / name
        directory.mkdir()
        proc, port = start("--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always")
        try:
            client = redis.Redis(port=port)
            for line in SEQUENCE:
                try:
                    client.execute_command(*shlex.split(line))
                except redis.ResponseError:
                    pass
            client.close()
        finally:
            stop(proc)
        files[name] = b"".join(path.read_bytes() for path in _incr_files(directory))
    assert _normalized(files["tandem"]) == _normalized(files["redis"])


def _populate(c: redis.Redis) -> None:
    c.set("s", "v")
    c.set("n", 12345)
    c.set("ttl", "v", px=600_000)
    c.rpush("l", *[f"e{i}" for i in range(300)])
    c.sadd("si", *range(50))
    c.sadd("ss", "a", "b", "c")
    c.hset("h", mapping={f"f{i}": f"v{i}" for i in range(20)})
    c.hset("hbig", mapping={f"f{i}": "x" * 100 for i in range(600)})
    c.zadd("z", {f"m{i}": i / 3 for i in range(200)})
    c.zadd("zs", {"a": 1, "b": 2})
    c.incrbyfloat("fl", 1.1)
    c.select(2)
    c.set("in-db2", "2")
    c.select(0)
    c.xadd("st", {"f": "v"}, id="1-1")
    c.xadd("st", {"f": "w"}, id="2-1")
    c.xgroup_create("st", "g", id="0")
    c.xreadgroup("g", "alice", {"st": ">"}, count=1)
    c.function_load("#!lua name=lib\nredis.register_function('f', function() return 1 end)")


def _dataset(c: redis.Redis) -> dict:
    """Every key of db 0 and 2: type, value read with the type's commands, and whether it
    has a deadline (and roughly which)."""
    out = {}
    for db in (0, 2):
        c.select(db)
        for key in c.keys("*"):
            kind = c.type(key)
            if kind == b"string":
                value: object = c.get(key)
            elif kind == b"list":
                value = c.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(c.smembers(key))
            elif kind == b"hash":
                value = sorted(c.hgetall(key).items())
            elif kind == b"zset":
                value = c.zrange(key, 0, -1, withscores=True)
            elif kind == b"stream":
                groups = c.xinfo_groups(key)
                pending = [(p["message_id"], p["consumer"], p["times_delivered"]) for p in c.xpending_range(key, "g", "-", "+", 100)]
                value = (c.xrange(key), [(g["name"], g["last-delivered-id"], g["pending"]) for g in groups], pending)
            else:
                raise AssertionError(kind)
            pttl = c.pttl(key)
            out[(db, key)] = (kind, value, pttl > 500_000 if pttl > 0 else pttl)
    c.select(0)
    out["functions"] = c.function_list(withcode=True)
    return out


def test_restart_loads_every_type_and_a_rewrite_keeps_it(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        _populate(c)
        assert c.bgrewriteaof() in (True, b"Background append only file rewriting started")
        _wait(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0)
        c.rpush("l", "after-rewrite")
        c.xadd("st2", {"f": "v"}, id="1-1")
        c.xgroup_create("st2", "g", id="0")
        c.xreadgroup("g", "alice", {"st2": ">"})
        expected = _dataset(c)
        info = c.info("persistence")
        assert info["aof_enabled"] == 1 and info["aof_rewrites"] == 1 and info["aof_last_bgrewrite_status"] == "ok"
        c.close()
    finally:
        stop(proc)
    names = sorted(os.listdir(tmp_path / "appendonlydir"))
    assert names == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert _dataset(c) == expected
        c.close()
    finally:
        stop(proc)


def _wait(condition, attempts: int = 1000) -> None:
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def _set_keys(c: redis.Redis, count: int) -> None:
    """k0 .. k<count - 1>, each its number, in one pipeline."""
    pipe = c.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"k{i}", i)
    pipe.execute()


def test_bgrewriteaof_with_appendonly_no_runs_in_the_background(tmp_path):
    """With appendonly no, BGREWRITEAOF writes a new base (and a manifest) as any rewrite: in
    the background, one snapshot at a time, INFO showing it; a restart with appendonly yes
    loads it. (rdb-key-save-delay paces it: 10,000 keys at 200 us a key take 2 s.)"""
    proc, port = start_tandem("--dir", str(tmp_path), "--rdb-key-save-delay", "200")
    try:
        c = redis.Redis(port=port)
        _set_keys(c, 10_000)
        assert c.bgrewriteaof() in (True, b"Background append only file rewriting started")
        assert c.ping()  # served meanwhile
        assert c.info("persistence")["aof_rewrite_in_progress"] == 1
        with pytest.raises(redis.ResponseError, match="already in progress"):
            c.bgrewriteaof()
        with pytest.raises(redis.ResponseError, match="Another child process is active"):
            c.bgsave()
        c.set("after", "not in the base")
        c.config_set("rdb-key-save-delay", 0)
        _wait(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0)
        assert c.info("persistence")["aof_enabled"] == 0
        c.close()
    finally:
        stop(proc)
    manifest = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert "type b" in manifest and "type i" not in manifest
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.dbsize() == 10_000 and c.get("k9999") == b"9999" and c.get("after") is None
        c.close()
    finally:
        stop(proc)


def test_bgrewriteaof_with_appendonly_no_during_bgsave_runs_after_it(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--rdb-key-save-delay", "1000")
    try:
        c = redis.Redis(port=port)
        _set_keys(c, 3000)
        assert c.bgsave()
        assert c.bgrewriteaof() in (True, b"Background append only file rewriting scheduled")
        info = c.info("persistence")
        assert (info["rdb_bgsave_in_progress"], info["aof_rewrite_scheduled"], info["aof_rewrite_in_progress"]) == (1, 1, 0)
        c.config_set("rdb-key-save-delay", 0)
        _wait(lambda: c.info("persistence")["rdb_bgsave_in_progress"] == 0)
        _wait(lambda: (tmp_path / "appendonlydir" / "appendonly.aof.manifest").exists())
        _wait(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0)
        assert c.info("persistence")["aof_rewrite_scheduled"] == 0
        c.close()
    finally:
        stop(proc)
    assert "type b" in (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()


def test_appendonly_yes_replaces_a_running_rewrite_of_appendonly_no(tmp_path):
    """As Redis's startAppendOnly: the rewrite started with appendonly no is stopped and the
    AOF's own rewrite starts at once; the manifest then names its base and incr file."""
    proc, port = start_tandem("--dir", str(tmp_path), "--rdb-key-save-delay", "1000")
    try:
        c = redis.Redis(port=port)
        _set_keys(c, 3000)
        c.bgrewriteaof()
        assert c.info("persistence")["aof_rewrite_in_progress"] == 1
        assert c.config_set("appendonly", "yes")
        info = c.info("persistence")
        assert (info["aof_enabled"], info["aof_rewrite_in_progress"]) == (1, 1)
        c.set("after", "1")
        c.config_set("rdb-key-save-delay", 0)
        _wait(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0)
        assert c.info("persistence")["aof_last_bgrewrite_status"] == "ok"
        c.close()
    finally:
        stop(proc)
    manifest = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert "type b" in manifest and "type i" in manifest
    bases = [p.name for p in (tmp_path / "appendonlydir").iterdir() if ".base." in p.name]
    assert len(bases) == 1 and bases[0] in manifest
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.dbsize() == 3001 and c.get("after") == b"1"
        c.close()
    finally:
        stop(proc)


def test_config_set_appendonly_yes_writes_the_dataset_and_no_stops(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        _populate(c)
        assert c.config_set("appendonly", "yes")
        _wait(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0)
        c.set("later", "1")
        expected = _dataset(c)
        assert c.config_set("appendonly", "no")
        c.set("not-logged", "1")
        assert c.info("persistence")["aof_enabled"] == 0
        c.close()
    finally:
        stop(proc)
    assert sorted(os.listdir(tmp_path / "appendonlydir")) == [
        "appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest",
    ]
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert _dataset(c) == expected
        c.close()
    finally:
        stop(proc)


def test_automatic_rewrite_when_the_file_doubles(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes", "--auto-aof-rewrite-min-size", "4kb")
    try:
        c = redis.Redis(port=port)
        for i in range(200):
            c.set(f"key:{i}", "x" * 50)
        _wait(lambda: c.info("persistence")["aof_rewrites"] >= 1)
        expected = _dataset(c)
        c.close()
    finally:
        stop(proc)
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert _dataset(c) == expected
        c.close()
    finally:
        stop(proc)


# ------------------------------------------------------------------ crashes


def _crash_under_load(tmp_path: Path, policy: str) -> None:
    """Writers INCR their own counters, each remembering the last value acknowledged; the
    server is killed (-9) after a number of acknowledged writes; after a restart every counter
    holds its last acknowledged value, or one more (the write in flight), nothing else."""
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes", "--appendfsync", policy)
    writers = 8
    acked = [0] * writers
    stop_writing = threading.Event()

    def write(index: int) -> None:
        client = redis.Redis(port=port, socket_timeout=5)
        try:
            while not stop_writing.is_set():
                acked[index] = client.incr(f"counter:{index}")
        except (redis.ConnectionError, redis.TimeoutError):
            pass

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    _wait(lambda: sum(acked) >= 3000, attempts=6000)
    proc.kill()
    proc.wait()
    stop_writing.set()
    for thread in threads:
        thread.join()
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        for index in range(writers):
            value = int(c.get(f"counter:{index}") or 0)
            assert acked[index] <= value <= acked[index] + 1, (index, acked[index], value)
        assert c.dbsize() == writers
        c.close()
    finally:
        stop(proc)


def test_kill_9_under_load_with_appendfsync_always_loses_no_acknowledged_write(tmp_path):
    _crash_under_load(tmp_path, "always")


def test_kill_9_under_load_with_appendfsync_everysec_loses_no_acknowledged_write(tmp_path):
    # Killing the process (not the machine) keeps what reached the kernel: the reply leaves
    # only after the write(2), so nothing acknowledged is lost; everysec bounds what a power
    # loss could take (the fsync period), which a test cannot simulate.
    _crash_under_load(tmp_path, "everysec")


# -------------------------------------------------------------- bad files


def _start_expecting_failure(tmp_path: Path, *args: str) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(free_port()), "--dir", str(tmp_path),
         "--appendonly", "yes", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 1, out
    return out


def _write_some(tmp_path: Path) -> Path:
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        for i in range(10):
            c.set(f"k{i}", i)
        c.close()
    finally:
        stop(proc)
    return _incr_files(tmp_path)[-1]


def test_a_truncated_tail_loads_with_aof_load_truncated_and_is_cut(tmp_path):
    incr = _write_some(tmp_path)
    whole = incr.read_bytes()
    incr.write_bytes(whole + b"*3\r\n$3\r\nSET\r\n$2\r\nk1")
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.dbsize() == 10
        c.set("after", "1")
        c.close()
    finally:
        stop(proc)
    assert incr.read_bytes().startswith(whole) and b"after" in incr.read_bytes()
    assert b"$2\r\nk1*" not in incr.read_bytes()


def test_a_truncated_file_is_refused_without_aof_load_truncated_and_left_alone(tmp_path):
    incr = _write_some(tmp_path)
    damaged = incr.read_bytes() + b"*2\r\n$3\r\nDEL\r\n"
    incr.write_bytes(damaged)
    out = _start_expecting_failure(tmp_path, "--aof-load-truncated", "no")
    assert incr.name in out and "redis-check-aof --fix" in out and "offset" in out
    assert incr.read_bytes() == damaged


def test_a_corrupt_file_is_refused_with_its_name_and_offset(tmp_path):
    incr = _write_some(tmp_path)
    good = incr.read_bytes()
    damaged = good + b"GARBAGE\r\n"
    incr.write_bytes(damaged)
    out = _start_expecting_failure(tmp_path)
    assert f"Bad file format reading the append only file {incr.name} at offset {len(good)}" in out
    # The error is the last line, as Redis's exit(1) leaves it (tools read the log's tail).
    assert "redis-check-aof --fix" in out.strip().splitlines()[-1]
    assert incr.read_bytes() == damaged


def test_an_unfinished_transaction_at_the_end_is_reverted(tmp_path):
    incr = _write_some(tmp_path)
    incr.write_bytes(incr.read_bytes() + b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nz\r\n$1\r\n1\r\n")
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.dbsize() == 10 and c.get("z") is None
        c.close()
    finally:
        stop(proc)


def _resp(*argv: str) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in argv)


def test_nothing_expires_while_loading_so_a_past_deadline_takes_later_writes_with_it(tmp_path):
    # Redis's "AOF+EXPIRE" case: the list gets both elements and its past deadline, and is gone
    # after loading, rather than being deleted at PEXPIREAT and recreated by the second RPUSH.
    directory = tmp_path / "appendonlydir"
    directory.mkdir()
    (directory / "appendonly.aof.manifest").write_text("file appendonly.aof.1.incr.aof seq 1 type i\n")
    (directory / "appendonly.aof.1.incr.aof").write_bytes(
        _resp("RPUSH", "list", "foo") + _resp("PEXPIREAT", "list", "1000") + _resp("RPUSH", "list", "bar")
        + _resp("SET", "live", "1")
    )
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.llen("list") == 0 and c.get("live") == b"1"
        c.close()
    finally:
        stop(proc)


def test_a_pre_7_aof_with_an_rdb_preamble_is_loaded_and_moved_into_the_directory(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        c.set("from-rdb", "1")
        c.rpush("list", "a")
        assert c.save()
        c.close()
    finally:
        stop(proc)
    legacy = (tmp_path / "dump.rdb").read_bytes() + _resp("SELECT", "0") + _resp("RPUSH", "list", "b")
    (tmp_path / "dump.rdb").unlink()
    (tmp_path / "appendonly.aof").write_bytes(legacy)
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.get("from-rdb") == b"1" and c.lrange("list", 0, -1) == [b"a", b"b"]
        c.set("after", "1")
        c.close()
    finally:
        stop(proc)
    assert not (tmp_path / "appendonly.aof").exists()
    assert (tmp_path / "appendonlydir" / "appendonly.aof").read_bytes() == legacy
    assert (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text() == (
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert c.get("after") == b"1" and c.lrange("list", 0, -1) == [b"a", b"b"]
        c.close()
    finally:
        stop(proc)


def test_a_bad_manifest_is_refused(tmp_path):
    _write_some(tmp_path)
    (tmp_path / "appendonlydir" / "appendonly.aof.manifest").write_text("file x seq\n")
    assert "Invalid AOF manifest file format" in _start_expecting_failure(tmp_path)


def test_manifest_names_round_trip():
    manifest = aof_module.parse_manifest(
        'file appendonly.aof.1.base.rdb seq 1 type b\nfile "a b" seq 2 type h\nfile appendonly.aof.3.incr.aof seq 3 type i\n', "m"
    )
    assert aof_module.parse_manifest(manifest.text(), "m") == manifest
    assert manifest.text().splitlines()[1] == 'file "a b" seq 2 type h'


# ------------------------------------------------------------ with redis-server


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_tandem_aof_dir_loads_into_redis_and_passes_redis_check_aof(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        _populate(c)
        c.bgrewriteaof()
        _wait(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0)
        c.rpush("l", "tail")
        c.xadd("st2", {"f": "v"}, id="1-1")
        c.xgroup_create("st2", "g", id="0")
        c.xreadgroup("g", "alice", {"st2": ">"})
        expected = _dataset(c)
        c.close()
    finally:
        stop(proc)
    if shutil.which("redis-check-aof"):
        check = subprocess.run(
            ["redis-check-aof", str(tmp_path / "appendonlydir" / "appendonly.aof.manifest")], capture_output=True, text=True
        )
        assert check.returncode == 0 and "All AOF files and manifest are valid" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert _dataset(c) == expected
        c.close()
    finally:
        stop(proc)


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_redis_aof_dir_loads_into_tandem(tmp_path):
    proc, port = start_redis("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        _populate(c)
        c.spop("ss")
        c.expire("s", 1000)
        expected = _dataset(c)
        c.close()
    finally:
        stop(proc)
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = redis.Redis(port=port)
        assert _dataset(c) == expected
        c.close()
    finally:
        stop(proc)
