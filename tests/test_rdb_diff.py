"""RDB data moving both ways between redis-server 7.0 and tandemkv: DUMP payloads
(RESTORE on the other server), RDB files (SAVE on one, load at start-up on the other), and
redis-check-rdb on tandemkv's files. Values are compared with each type's read commands,
plus TYPE, OBJECT ENCODING and PTTL."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time

import pytest
import redis

from tandemkv.persistence import rdb
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed"),
]

_rng = random.Random(7)
INTS = [b"0", b"-1", b"127", b"-128", b"128", b"-129", b"32767", b"-32768", b"32768", b"2147483647",
        b"-2147483648", b"2147483648", b"12345678901", b"9223372036854775807", b"007", b"+5", b"1.5"]
COMPRESSIBLE = b"abcdefgh" * 5000
RANDOM_BIG = bytes(_rng.getrandbits(8) for _ in range(20000))


def _populate(c: redis.Redis) -> None:
    """Every supported type and encoding, written with ordinary commands."""
    for i, value in enumerate(INTS):
        c.set(f"int:{i}", value)
    c.set("empty", b"")
    c.set("short", b"hello")
    c.set("twentyone", b"x" * 21)
    c.set("lzf", COMPRESSIBLE)
    c.set("random", RANDOM_BIG)
    c.set("ttl", b"v", px=500_000)
    c.rpush("list:small", b"a", b"1", b"-70000", b"x" * 100, b"")
    c.rpush("list:ints", *[str(n).encode() for n in (0, 12, 13, 127, 128, -4096, -4097, 8191, 70000,
                                                      2**31, -(2**40), 2**63 - 1, -(2**63))])
    c.rpush("list:long", *[f"item-{i}".encode() * (1 + i % 7) for i in range(3000)])
    c.rpush("list:big", COMPRESSIBLE, RANDOM_BIG, b"tail")
    c.rpush("list:ttl", b"a")
    c.pexpire("list:ttl", 600_000)
    c.sadd("set:intset", *[str(n).encode() for n in (1, -5, 300, 70000, 2**40, -(2**62))])
    c.sadd("set:big-intset", *[str(n).encode() for n in range(1000)])
    c.sadd("set:strings", b"a", b"b", b"12", COMPRESSIBLE)
    c.sadd("set:small-int-only", b"1")


def _snapshot(c: redis.Redis) -> dict[bytes, tuple]:
    out = {}
    for db in (0, 3):
        c.select(db)
        for key in c.keys("*"):
            kind = c.type(key)
            if kind == b"string":
                value: object = c.get(key)
            elif kind == b"list":
                value = c.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(c.smembers(key))
            else:
                raise AssertionError(kind)
            pttl = c.pttl(key)
            out[(db, key)] = (kind, c.object("encoding", key), value, pttl > 0, abs(pttl - 500_000) < 60_000 or abs(pttl - 600_000) < 60_000 if pttl > 0 else pttl)
    c.select(0)
    return out


@pytest.fixture(scope="module")
def pair():
    servers = [start_tandem(), start_redis()]
    clients = [redis.Redis(port=port) for _proc, port in servers]
    yield clients
    for client in clients:
        client.close()
    for proc, _port in servers:
        stop(proc)


@pytest.mark.parametrize("direction", ["redis->tandem", "tandem->redis"])
def test_dump_restore_every_type_both_ways(pair, direction):
    tandem, real = pair
    source, target = (real, tandem) if direction == "redis->tandem" else (tandem, real)
    for c in pair:
        c.flushall()
    _populate(source)
    keys = source.keys("*")
    assert len(keys) > 25
    for key in keys:
        payload = source.dump(key)
        ttl = source.pttl(key)
        assert target.restore(key, max(ttl, 0), payload) in (True, b"OK")
    assert _snapshot(target) == _snapshot(source)
    # The payload of a restored value restores again on the first server, identically.
    for key in keys:
        source.restore(b"copy:" + key, 0, target.dump(key))
        assert source.dump(b"copy:" + key)[:1] == source.dump(key)[:1]


def test_dump_restore_keeps_big_lists_with_many_quicklist_nodes(pair):
    tandem, real = pair
    real.delete("q")
    real.rpush("q", *[str(i).encode() for i in range(20000)], *[b"s" * (i % 50) for i in range(5000)])
    tandem.delete("q")
    tandem.restore("q", 0, real.dump("q"))
    assert tandem.lrange("q", 0, -1) == real.lrange("q", 0, -1)


def test_dump_payload_of_a_string_is_redis_byte_for_byte(pair):
    tandem, real = pair
    words = [bytes(_rng.choice(b"abcdefghij") for _ in range(_rng.randrange(1, 9))) for _ in range(300)]
    text = b" ".join(_rng.choice(words) for _ in range(3000))
    for value in (*INTS, b"", b"hello", b"x" * 21, b"x" * 200, b"ab" * 11, COMPRESSIBLE, RANDOM_BIG,
                  text, text[:25], text[:100], b"abcabcabcabcabcabcabcab" + RANDOM_BIG[:40]):
        for c in pair:
            c.set("s", value)
        assert tandem.dump("s") == real.dump("s"), value


def test_dump_payload_of_an_intset_is_redis_byte_for_byte(pair):
    tandem, real = pair
    for members in ([b"1"], [b"-5", b"300", b"7"], [b"70000", b"-1"], [str(2**40).encode(), b"0"],
                    [str(n).encode() for n in range(100)]):
        for c in pair:
            c.delete("s")
            c.sadd("s", *members)
        assert tandem.object("encoding", "s") == real.object("encoding", "s") == b"intset"
        assert tandem.dump("s") == real.dump("s"), members


def test_restore_errors(diff):
    # A payload valid on both servers (a string DUMPed by this same code is Redis's own).
    payload = rdb.dump_payload(b"value")
    diff("RESTORE", "k", "0", payload)
    diff("GET", "k")
    diff("RESTORE", "k", "0", payload)  # BUSYKEY
    diff("RESTORE", "k", "0", payload, "REPLACE")
    diff("RESTORE", "k", "-1", payload, "REPLACE")
    diff("RESTORE", "k", "x", payload, "REPLACE")
    diff("RESTORE", "k2", "0", payload[:-1] + bytes([payload[-1] ^ 1]))
    diff("RESTORE", "k2", "0", b"short")
    diff("RESTORE", "k2", "0", b"\x00\x03abc\x0b\x00" + rdb.crc64(b"\x00\x03abc\x0b\x00").to_bytes(8, "little"))
    bad = b"\x00\x09abc\x0a\x00"
    diff("RESTORE", "k2", "0", bad + rdb.crc64(bad).to_bytes(8, "little"))
    bad = b"\x05abc\x0a\x00"
    diff("RESTORE", "k2", "0", bad + rdb.crc64(bad).to_bytes(8, "little"))
    diff("RESTORE", "k2", "0", payload, "FOO")
    diff("RESTORE", "k2", "0", payload, "IDLETIME")
    diff("RESTORE", "k2", "0", payload, "IDLETIME", "-1")
    diff("RESTORE", "k2", "0", payload, "IDLETIME", "x")
    diff("RESTORE", "k2", "0", payload, "FREQ", "256")
    diff("RESTORE", "k2", "0", payload, "FREQ", "-1")
    diff("RESTORE", "k2", "0", payload, "FREQ", "5", "IDLETIME", "5")
    diff("RESTORE", "k2", "0", payload, "IDLETIME", "5", "FREQ", "5")
    diff("RESTORE", "k2", "0", payload, "IDLETIME", "5", "REPLACE", "ABSTTL")
    diff("RESTORE", "k3", "1000", payload, "ABSTTL")  # already expired: OK, nothing stored
    diff("EXISTS", "k3")
    diff("RESTORE", "k2", "1000", payload, "ABSTTL", "REPLACE")  # deletes the old value
    diff("EXISTS", "k2")
    diff("RESTORE", "k4", str(int(time.time() * 1000) + 100_000), payload, "ABSTTL")
    diff("RESTORE", "k4", "0", payload, "REPLACE")
    diff("TTL", "k4")
    diff("DUMP", "nosuch")
    diff("RESTORE", "k")
    diff("DUMP")


def test_restore_events(events):
    payload = rdb.dump_payload(b"v")
    events("RESTORE", "k", "0", payload)
    events("RESTORE", "k", "0", payload, "REPLACE")
    events("RESTORE", "k", "1", payload, "REPLACE", "ABSTTL")
    ours, theirs = events.events()
    assert ours == theirs
    assert [channel for channel, _m in ours if channel.startswith(b"__keyevent")] == [
        b"__keyevent@0__:restore", b"__keyevent@0__:restore", b"__keyevent@0__:del"]


def _wait_bgsave(c: redis.Redis) -> dict:
    deadline = time.time() + 60
    while True:
        info = c.info("persistence")
        if not info["rdb_bgsave_in_progress"] or time.time() > deadline:
            return info
        time.sleep(0.02)


def _wait_exit(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stop(proc)


def _fill_dbs(c: redis.Redis) -> None:
    _populate(c)
    c.select(3)
    c.set("in-db3", b"3")
    c.rpush("list-db3", b"x", b"y")
    c.set("gone", b"x", px=1)  # expires before the save: never written
    c.select(0)
    time.sleep(0.01)


def test_redis_rdb_file_loads_into_tandem(tmp_path):
    proc, port = start_redis("--dir", str(tmp_path), "--dbfilename", "r.rdb")
    try:
        c = redis.Redis(port=port)
        _fill_dbs(c)
        expected = _snapshot(c)
        assert c.save() is True
        c.close()
    finally:
        stop(proc)
    proc, port = start_tandem("--dir", str(tmp_path), "--dbfilename", "r.rdb")
    try:
        c = redis.Redis(port=port)
        assert _snapshot(c) == expected
        assert c.dbsize() == len([k for k in expected if k[0] == 0])
        c.close()
    finally:
        stop(proc)


def test_tandem_rdb_file_loads_into_redis(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--dbfilename", "t.rdb")
    try:
        c = redis.Redis(port=port)
        _fill_dbs(c)
        expected = _snapshot(c)
        before = c.lastsave()
        assert c.info("persistence")["rdb_changes_since_last_save"] > 0
        assert c.save() is True
        info = c.info("persistence")
        assert info["rdb_changes_since_last_save"] == 0 and info["rdb_saves"] == 1
        assert c.lastsave() >= before
        c.close()
    finally:
        stop(proc)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("temp-")]
    if shutil.which("redis-check-rdb"):
        check = subprocess.run(["redis-check-rdb", str(tmp_path / "t.rdb")], capture_output=True, text=True)
        assert check.returncode == 0 and "RDB looks OK!" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path), "--dbfilename", "t.rdb")
    try:
        c = redis.Redis(port=port)
        assert _snapshot(c) == expected
        c.close()
    finally:
        stop(proc)


def test_shutdown_save_and_bgsave_write_the_file(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path))
    c = redis.Redis(port=port)
    c.set("a", b"1")
    assert c.bgsave() is True
    assert _wait_bgsave(c)["rdb_last_bgsave_status"] == "ok"
    c.set("b", b"2")
    c.shutdown(save=True)  # redis-py swallows the closed connection
    c.close()
    _wait_exit(proc)
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        assert sorted(c.keys("*")) == [b"a", b"b"]
        c.set("c", b"3")
        c.shutdown(nosave=True)
        c.close()
        _wait_exit(proc)
    finally:
        if proc.poll() is None:
            stop(proc)
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        assert sorted(c.keys("*")) == [b"a", b"b"]
        c.close()
    finally:
        stop(proc)


def test_save_schedule_writes_after_enough_changes(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--save", "1 3")
    try:
        c = redis.Redis(port=port)
        assert c.config_get("save") == {"save": "1 3"}
        c.set("a", b"1")
        time.sleep(2.5)
        assert not (tmp_path / "dump.rdb").exists()  # 1 change < 3
        c.set("b", b"1")
        c.set("c", b"1")
        deadline = time.time() + 5
        while not (tmp_path / "dump.rdb").exists() and time.time() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "dump.rdb").exists()
        assert c.info("persistence")["rdb_changes_since_last_save"] == 0
        c.close()
    finally:
        stop(proc)


def test_corrupt_file_stops_the_start(tmp_path):
    (tmp_path / "dump.rdb").write_bytes(b"REDIS0010\xff" + b"\x00" * 7 + b"\x01")
    proc = subprocess.Popen(
        [os.sys.executable, "-m", "tandemkv.cli.server", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 1
    assert "Wrong RDB checksum" in out


def test_bgsave_while_serving_writes_a_point_in_time_file_redis_loads(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        _fill_dbs(c)
        pipe = c.pipeline(transaction=False)
        for i in range(30000):
            pipe.set(f"bulk:{i}", i)
            if i % 3 == 0:
                pipe.rpush(f"bulkl:{i}", i, i + 1)
        pipe.execute()
        expected = _snapshot(c)
        bulk = {k: c.get(k) for k in c.keys("bulk:1*")}
        assert c.bgsave() is True
        # Served while the snapshot runs: none of it may reach the file.
        assert c.info("persistence")["rdb_bgsave_in_progress"] == 1
        c.flushdb()
        c.set("late", b"x")
        c.select(3)
        c.set("in-db3", b"changed")
        c.select(0)
        info = _wait_bgsave(c)
        assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_bgsave_in_progress"] == 0
        c.close()
    finally:
        stop(proc)
    if shutil.which("redis-check-rdb"):
        check = subprocess.run(["redis-check-rdb", str(tmp_path / "dump.rdb")], capture_output=True, text=True)
        assert check.returncode == 0 and "RDB looks OK!" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        assert c.dbsize() == 30000 + 10000 + len([k for k in expected if k[0] == 0 and not k[1].startswith(b"bulk")])
        assert {k: c.get(k) for k in bulk} == bulk
        c.delete(*c.keys("bulk*"))
        assert _snapshot(c) == {k: v for k, v in expected.items() if not k[1].startswith(b"bulk")}
        c.close()
    finally:
        stop(proc)


def test_sigterm_saves_when_save_points_are_set(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--save", "3600 1")
    c = redis.Redis(port=port)
    c.set("kept", b"1")
    c.close()
    stop(proc)  # SIGTERM
    assert (tmp_path / "dump.rdb").exists()
    proc, port = start_tandem("--dir", str(tmp_path), "--save", "")
    try:
        c = redis.Redis(port=port)
        assert c.get("kept") == b"1"
        c.set("lost", b"1")
        c.close()
    finally:
        stop(proc)  # no save points: nothing written
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        assert c.keys("*") == [b"kept"]
        c.close()
    finally:
        stop(proc)


def _rdb_file(entries: bytes, checksum: bool = True) -> bytes:
    """An RDB version 10 file of database 0 holding `entries` (already serialized)."""
    body = b"REDIS0010" + bytes([rdb.OP_SELECTDB, 0]) + entries + bytes([rdb.OP_EOF])
    return body + (rdb.crc64(body) if checksum else 0).to_bytes(8, "little")


def _s(raw: bytes) -> bytes:
    return rdb.encode_length(len(raw)) + raw


def _load_both(tmp_path, data: bytes, *args: str) -> list[tuple[dict, dict, str]]:
    """Start tandemkv and redis-server on a directory holding `data` as dump.rdb: for each,
    (its keys and values, its INFO persistence, its log)."""
    results = []
    for name, start in (("tandem", start_tandem), ("redis", start_redis)):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "dump.rdb").write_bytes(data)
        logfile = directory / "log"
        proc, port = start("--dir", str(directory), "--logfile", str(logfile), *args)
        try:
            c = redis.Redis(port=port)
            keys = {k: c.dump(k) is not None and c.type(k) for k in c.keys("*")}
            results.append((keys, c.info("persistence"), logfile.read_text()))
            c.close()
        finally:
            stop(proc)
    return results


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_a_file_with_empty_and_expired_keys_loads_as_in_redis(tmp_path):
    """Empty collections (redis#8453) are skipped and named in the log, keys already expired
    are skipped and counted (INFO rdb_last_load_keys_*), as redis-server does."""
    past = (1_000_000).to_bytes(8, "little", signed=True)
    entries = (
        bytes([rdb.TYPE_STRING]) + _s(b"alive") + _s(b"v")
        + bytes([rdb.TYPE_SET]) + _s(b"empty_set") + rdb.encode_length(0)
        + bytes([rdb.TYPE_LIST]) + _s(b"empty_list") + rdb.encode_length(0)
        + bytes([rdb.OP_EXPIRETIME_MS]) + past + bytes([rdb.TYPE_STRING]) + _s(b"gone") + _s(b"v")
        + bytes([rdb.TYPE_SET]) + _s(b"set") + rdb.encode_length(1) + _s(b"m")
    )
    (ours, our_info, our_log), (theirs, their_info, their_log) = _load_both(tmp_path, _rdb_file(entries))
    assert ours == theirs == {b"alive": b"string", b"set": b"set"}
    for field in ("rdb_last_load_keys_loaded", "rdb_last_load_keys_expired"):
        assert our_info[field] == their_info[field], field
    assert (our_info["rdb_last_load_keys_loaded"], our_info["rdb_last_load_keys_expired"]) == (2, 1)
    for log in (our_log, their_log):
        assert "skipping empty key: empty_set" in log and "skipping empty key: empty_list" in log
        assert "Done loading RDB, keys loaded: 2, keys expired: 1, empty keys skipped: 2." in log


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_rdbchecksum_no_loads_a_file_whose_checksum_is_wrong(tmp_path):
    data = _rdb_file(bytes([rdb.TYPE_STRING]) + _s(b"k") + _s(b"v"))
    broken = data[:-8] + b"foobar00"
    (ours, _, _), (theirs, _, _) = _load_both(tmp_path, broken, "--rdbchecksum", "no")
    assert ours == theirs == {b"k": b"string"}


def test_a_wrong_checksum_is_reported_as_redis_reports_it(tmp_path):
    data = _rdb_file(bytes([rdb.TYPE_STRING]) + _s(b"k") + _s(b"v"))
    (tmp_path / "dump.rdb").write_bytes(data[:-8] + b"foobar00")
    proc = subprocess.Popen(
        [os.sys.executable, "-m", "tandemkv.cli.server", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 1
    assert "Wrong RDB checksum expected: (" in out and "RDB CRC error" in out
    assert out.count("Terminating server after rdb file reading failure.") == 1


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_a_failed_bgsave_stops_writes_as_in_redis(tmp_path):
    """stop-writes-on-bgsave-error: once a background save fails (the directory removed under
    the server), writes and PING get MISCONF while a schedule is set, reads still work, and
    turning the option off (or the schedule) lets writes in again; a foreground SAVE's failure
    does not count."""
    pair = []
    for name, start in (("tandem", start_tandem), ("redis", start_redis)):
        directory = tmp_path / name
        directory.mkdir()
        proc, port = start("--dir", str(directory), "--save", "3600 1")
        pair.append((proc, redis.Redis(port=port), directory))
    try:
        for _proc, c, directory in pair:
            c.set("k", "v")
            shutil.rmtree(directory)
            with pytest.raises(redis.ResponseError):
                c.save()
            c.set("after-save", "1")  # a failed SAVE stops nothing
            c.bgsave()
            deadline = time.time() + 10
            while c.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
                time.sleep(0.05)
            assert c.info("persistence")["rdb_last_bgsave_status"] == "err"
        replies = []
        for _proc, c, _directory in pair:
            got = []
            for command in (("SET", "k", "w"), ("PING",), ("GET", "k"), ("INCR", "n")):
                try:
                    got.append(c.execute_command(*command))
                except redis.ResponseError as exc:
                    got.append(str(exc))
            c.config_set("stop-writes-on-bgsave-error", "no")
            got.append(c.set("k", "x"))
            c.config_set("stop-writes-on-bgsave-error", "yes")
            c.config_set("save", "")
            got.append(c.set("k", "y"))
            replies.append(got)
        assert replies[0] == replies[1]
        assert replies[0][0].startswith("MISCONF Redis is configured to save RDB snapshots")
    finally:
        for proc, c, _directory in pair:
            c.close()
            proc.kill()
            proc.wait()


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_rdbchecksum_no_writes_a_zero_checksum_redis_loads(tmp_path):
    """rdbchecksum no: SAVE and BGSAVE end the file with a zero checksum, as Redis writes it,
    and redis-server loads it."""
    for command in ("SAVE", "BGSAVE"):
        directory = tmp_path / command
        directory.mkdir()
        proc, port = start_tandem("--dir", str(directory), "--rdbchecksum", "no")
        try:
            c = redis.Redis(port=port)
            c.set("k", "v")
            c.rpush("l", "a", "b")
            c.execute_command(command)
            if command == "BGSAVE":
                _wait_bgsave(c)
            c.close()
        finally:
            stop(proc)
        data = (directory / "dump.rdb").read_bytes()
        assert data[-8:] == bytes(8)
        proc, port = start_redis("--dir", str(directory))
        try:
            c = redis.Redis(port=port)
            assert c.get("k") == b"v" and c.lrange("l", 0, -1) == [b"a", b"b"]
            c.close()
        finally:
            stop(proc)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
@pytest.mark.parametrize("policy", ["allkeys-lfu", "allkeys-lru", "noeviction"])
def test_lru_and_lfu_figures_are_in_the_file_as_redis_stores_them(tmp_path, policy):
    """Under an LFU policy each key's counter is saved (redis-server loads the same OBJECT FREQ),
    under an LRU policy its idle seconds, under neither nothing (rdbSaveKeyValuePair)."""
    proc, port = start_tandem("--dir", str(tmp_path), "--maxmemory-policy", policy)
    try:
        c = redis.Redis(port=port)
        c.set("hot", "v", ex=1000)
        c.rpush("cold", "a")
        for _ in range(200):
            c.get("hot")
        freqs = {k: c.object("freq", k) for k in ("hot", "cold")} if policy.endswith("lfu") else None
        c.save()
        c.close()
    finally:
        stop(proc)
    keys = {k.key: k for k in rdb.read_file((tmp_path / "dump.rdb").read_bytes(), rdb.Limits())}
    assert all((k.idle_s is not None) == policy.endswith("lru") for k in keys.values())
    assert all((k.freq is not None) == policy.endswith("lfu") for k in keys.values())
    proc, port = start_redis("--dir", str(tmp_path), "--maxmemory-policy", policy)
    try:
        c = redis.Redis(port=port)
        if freqs is not None:  # before any access (OBJECT itself does not count as one)
            assert freqs["hot"] > freqs["cold"]
            assert {k: c.object("freq", k) for k in ("hot", "cold")} == freqs
        assert c.get("hot") == b"v" and c.ttl("hot") > 900 and c.lrange("cold", 0, -1) == [b"a"]
        c.close()
    finally:
        stop(proc)


def test_info_persistence_has_redis_fields_in_redis_order(pair):
    """INFO persistence names the fields redis-server 7.0 names, in its order (the AOF's own
    fields appear only while appendonly is on, on both)."""
    ours, theirs = (list(c.info("persistence")) for c in pair)
    assert ours == theirs


def test_a_background_save_reports_its_keys_and_progress(tmp_path):
    from tandemkv.commands import Instance, execute
    from tandemkv.config import Config
    from tandemkv.persistence import attach, step

    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    instance = Instance(config)
    attach(instance)
    instance.rdb.schedule = lambda: None  # slices run by hand below
    session = instance.new_session()
    for i in range(5000):
        execute(session, [b"SET", b"k%d" % i, b"v"])
    assert execute(session, [b"BGSAVE"]).text == b"Background saving started"
    info = execute(session, [b"INFO", b"persistence"]).text
    assert b"current_save_keys_total:5000\r\n" in info and b"current_fork_perc:0.00\r\n" in info
    step(instance, 0.0005)
    info = execute(session, [b"INFO", b"persistence"]).text
    processed = int(info.split(b"current_save_keys_processed:")[1].split(b"\r\n")[0])
    assert 0 < processed <= 5000
    while step(instance, 1.0):
        pass
    assert b"current_save_keys_total:0\r\n" in execute(session, [b"INFO", b"persistence"]).text


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_save_writes_keys_expired_but_not_deleted_as_redis(tmp_path):
    """SAVE writes every stored key, expired ones not yet deleted too (rdbSave); loading the
    file counts them in rdb_last_load_keys_expired (Redis's integration/rdb "RDB load info")."""
    counts = []
    for name, start, extra in (("tandem", start_tandem, ()), ("redis", start_redis, ("--enable-debug-command", "yes"))):
        directory = tmp_path / name
        directory.mkdir()
        proc, port = start("--dir", str(directory), *extra)
        try:
            c = redis.Redis(port=port)
            c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
            c.set("stays", "v")
            for i in range(20):
                c.set(f"short{i}", "v", px=10)
            time.sleep(0.1)
            c.save()
            c.close()
        finally:
            stop(proc)
        proc, port = start("--dir", str(directory), *extra)
        try:
            c = redis.Redis(port=port)
            info = c.info("persistence")
            counts.append((info["rdb_last_load_keys_loaded"], info["rdb_last_load_keys_expired"], c.dbsize()))
            c.close()
        finally:
            stop(proc)
    assert counts[0] == counts[1] == (1, 20, 1)
