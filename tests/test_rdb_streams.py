"""Streams in RDB (persistence/rdb_streams.py) against redis-server 7.0: DUMP payloads byte for
byte, RESTORE both ways with consumer groups and PELs (XINFO STREAM FULL compared), RDB files
both ways (redis-check-rdb on ours), version-1 (6.x) payloads, corrupt payloads, and the
background save of streams written during the save."""

from __future__ import annotations

import random
import shutil
import subprocess
import time

import pytest
import redis

from tandemkv.persistence import rdb, rdb_streams
from tandemkv.values.streams import StreamValue, make_id
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed"),
]


@pytest.fixture(scope="module")
def pair():
    servers = [start_tandem(), start_redis()]
    clients = [redis.Redis(port=port) for _proc, port in servers]
    yield clients
    for client in clients:
        client.close()
    for proc, _port in servers:
        stop(proc)


def _shapes(c: redis.Redis) -> list[str]:
    """Streams of every shape whose serialization does not depend on the clock: several
    nodes, changing field sets, integers of every listpack width, long strings, negative
    sequence deltas, deletions and trims (exact and approximate), empty streams."""
    c.flushall()
    for i in range(1, 260):
        if i % 7:
            fields = {"f": i, "g": "x" * (i % 70)}
        else:
            fields = {"other": "v", "n": -i * 100_000, "big": 2**40 + i}
        c.xadd("many", fields, id=f"{i}-{(i * 7) % 5}")
    c.xdel("many", "5-0", "6-2", "200-0", "1-2")
    for n, value in enumerate((0, 127, 128, -1, 4095, -4096, 4096, 32767, -32768, 2**23, -(2**23) - 1, 2**31, -(2**31) - 1,
                  2**63 - 1, -(2**63), 2**64, "007", "-0", "+5", "1.5", "9" * 20, "1" * 21), start=1):
        c.xadd("ints", {"v": value, str(value): "k"}, id=f"{n}-{n}")
    c.xadd("long", {"a": "x" * 63, "b": "y" * 64, "c": "z" * 4095, "d": "w" * 4096, "e": "q" * 20000}, id="1-0")
    c.xadd("long", {"a": "x" * 63, "b": "y" * 64, "c": "z" * 4095, "d": "w" * 4096, "e": "abc" * 9000}, id="2-0")
    for i in range(1, 400):
        c.xadd("trimmed", {"n": i}, id=f"{i}-0")
    c.xtrim("trimmed", maxlen=250, approximate=True)
    c.xtrim("trimmed", maxlen=180, approximate=False)
    c.xtrim("trimmed", minid="300-0")
    c.xadd("empty", {"a": 1}, id="5-5")
    c.xdel("empty", "5-5")
    c.xadd("emptied", {"a": 1}, id="7-0")
    c.xtrim("emptied", maxlen=0)
    c.xgroup_create("emptied", "g", id="$")
    c.xgroup_create("many", "zeta", id="0")
    c.xgroup_create("many", "alpha", id="100-0", entries_read=3)
    c.xgroup_create("many", "mid", id="$")
    c.execute_command("XSETID", "ints", "99999999999999-5", "ENTRIESADDED", 1000, "MAXDELETEDID", "3-0")
    c.xgroup_create("mk", "g", id="$", mkstream=True)
    return ["many", "ints", "long", "trimmed", "empty", "emptied", "mk"]


def _full(c: redis.Redis, key: str) -> object:
    return c.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", 0)


def test_dump_payload_is_redis_byte_for_byte(pair):
    tandem, real = pair
    keys = _shapes(tandem)
    assert _shapes(real) == keys
    for key in keys:
        assert tandem.dump(key) == real.dump(key), key
        assert _full(tandem, key) == _full(real, key), key


def test_node_byte_limit_and_entry_limit_settings(pair):
    tandem, real = pair
    for c in pair:
        c.flushall()
        c.config_set("stream-node-max-bytes", 300)
        c.config_set("stream-node-max-entries", 7)
        for i in range(200):
            c.xadd("s", {"f": "v" * (i % 40), "n": i}, id=f"{i + 1}-0")
        c.config_set("stream-node-max-bytes", 4096)
        c.config_set("stream-node-max-entries", 100)
    assert tandem.dump("s")[:0] == b""
    restored = rdb.load_payload(real.dump("s"), rdb.Limits())
    assert isinstance(restored, StreamValue) and restored.node_count() > 20
    tandem.restore("s2", 0, real.dump("s"))
    real.restore("s2", 0, real.dump("s"))
    assert tandem.dump("s2") == real.dump("s2")
    # New entries after a restore start new nodes where Redis does (node sizes carried over).
    for c in pair:
        for i in range(30):
            c.xadd("s2", {"f": "v" * i, "n": i}, id=f"{10**15 + i}-0")
    assert tandem.dump("s2") == real.dump("s2")


def _groups(c: redis.Redis) -> None:
    """Consumer groups with PELs, several consumers, acks, claims and deleted entries."""
    c.flushall()
    for i in range(1, 301):
        c.xadd("s", {"n": i}, id=f"{i}-1")
    c.xgroup_create("s", "g1", id="0")
    c.xgroup_create("s", "g2", id="150-0")
    c.xreadgroup("g1", "alice", {"s": ">"}, count=40)
    c.xreadgroup("g1", "bob", {"s": ">"}, count=20)
    c.xreadgroup("g2", "carol", {"s": ">"}, count=5)
    c.xreadgroup("g2", "dave", {"s": ">"}, count=5, noack=True)
    c.xack("s", "g1", "2-1", "3-1", "50-1")
    c.xclaim("s", "g1", "bob", 0, ["4-1", "5-1"])
    c.xclaim("s", "g1", "erin", 0, ["6-1"], retrycount=7)
    c.execute_command("XGROUP", "CREATECONSUMER", "s", "g2", "idle")
    c.xdel("s", "10-1", "11-1", "160-1")
    c.xgroup_create("s", "empty-group", id="$")


@pytest.mark.parametrize("direction", ["redis->tandem", "tandem->redis"])
def test_restore_with_groups_both_ways(pair, direction):
    tandem, real = pair
    source, target = (real, tandem) if direction == "redis->tandem" else (tandem, real)
    _groups(source)
    target.flushall()
    payload = source.dump("s")
    target.restore("s", 0, payload)
    assert _full(target, "s") == _full(source, "s")
    assert target.xinfo_groups("s") == source.xinfo_groups("s")
    assert target.dump("s") == payload
    # The restored groups keep working the same way.
    for c in pair:
        c.xreadgroup("g1", "alice", {"s": "0"}, count=3)
        c.xautoclaim("s", "g2", "frank", 0, count=2)
    assert target.xpending("s", "g1") == source.xpending("s", "g1")
    untimed = [[{k: v for k, v in row.items() if k != "time_since_delivered"}
                for row in c.xpending_range("s", "g2", "-", "+", 10)] for c in (target, source)]
    assert untimed[0] == untimed[1]


def _v1_payload(value: StreamValue) -> bytes:
    """A STREAM_LISTPACKS payload as Redis 6.x wrote it: no first ID, max deleted ID,
    entries added nor groups' entries read."""
    w = rdb.Writer()
    w.byte(rdb.TYPE_STREAM_LISTPACKS)
    w.length(len(value.nodes))
    for node in value.nodes:
        w.string(node.master_id.to_bytes(16, "big"))
        w.string(rdb_streams.node_listpack(node))
    w.length(value.length)
    w.length(value.last_id >> 64)
    w.length(value.last_id & (2**64 - 1))
    w.length(len(value.groups))
    for name, group in sorted(value.groups.items()):
        w.string(name)
        w.length(group.last_id >> 64)
        w.length(group.last_id & (2**64 - 1))
        w.length(len(group.pending))
        for entry_id in group.pending.order:
            w.buf += entry_id.to_bytes(16, "big") + group.pending.by_id[entry_id].delivery_ms.to_bytes(8, "little")
            w.length(group.pending.by_id[entry_id].delivery_count)
        w.length(len(group.consumers))
        for cname, consumer in sorted(group.consumers.items()):
            w.string(cname)
            w.buf += consumer.seen_ms.to_bytes(8, "little")
            w.length(len(consumer.pending))
            for entry_id in consumer.pending.order:
                w.buf += entry_id.to_bytes(16, "big")
    w.buf += (9).to_bytes(2, "little")
    w.buf += rdb.crc64(w.buf).to_bytes(8, "little")
    return bytes(w.buf)


@pytest.mark.parametrize("shape", ["groups", "empty", "deleted-head"])
def test_version_1_payload_loads_as_redis_loads_it(pair, shape):
    tandem, real = pair
    for c in pair:
        c.flushall()
    if shape == "groups":
        _groups(real)
    elif shape == "empty":
        real.xadd("s", {"a": 1}, id="3-3")
        real.xdel("s", "3-3")
        real.xgroup_create("s", "g", id="0")
    else:
        for i in range(1, 20):
            real.xadd("s", {"a": i}, id=f"{i}-0")
        real.xdel("s", "1-0", "2-0")
        real.xgroup_create("s", "g", id="5-0")
        real.xgroup_create("s", "h", id="0")
    value = rdb.load_payload(real.dump("s"), rdb.Limits())
    assert isinstance(value, StreamValue)
    payload = _v1_payload(value)
    for c in pair:
        c.restore("v1", 0, payload)
    assert _full(tandem, "v1") == _full(real, "v1")
    assert tandem.xinfo_groups("v1") == real.xinfo_groups("v1")
    assert tandem.dump("v1") == real.dump("v1")


def test_corrupt_stream_payloads_are_refused_without_harm(pair):
    tandem, real = pair
    _groups(real)
    payload = real.dump("s")
    body = payload[:-10]
    rng = random.Random(3)
    refused = 0
    for i in range(300):
        broken = bytearray(body)
        if i % 3 == 0:
            broken = broken[: rng.randrange(1, len(broken))]
        else:
            for _ in range(rng.randrange(1, 4)):
                broken[rng.randrange(1, len(broken))] = rng.randrange(256)
        broken += payload[-10:-8]
        broken += rdb.crc64(broken).to_bytes(8, "little")
        try:
            tandem.restore(f"bad{i}", 0, bytes(broken))
        except redis.ResponseError as exc:
            assert str(exc) == "Bad data format"
            refused += 1
    assert refused > 200 and tandem.ping()
    for key in tandem.keys("bad*"):  # whatever was accepted is a consistent stream
        tandem.xinfo_stream(key, full=True)
        tandem.dump(key)


def _files_snapshot(c: redis.Redis) -> dict[bytes, object]:
    return {key: _full(c, key.decode()) for key in sorted(c.keys("*"))}


def test_rdb_files_both_ways(tmp_path):
    proc, port = start_redis("--dir", str(tmp_path), "--dbfilename", "r.rdb")
    try:
        c = redis.Redis(port=port)
        _shapes(c)
        _groups_in(c, "grouped")
        expected = _files_snapshot(c)
        assert c.save()
        c.close()
    finally:
        stop(proc)
    (tmp_path / "t.rdb").write_bytes((tmp_path / "r.rdb").read_bytes())
    proc, port = start_tandem("--dir", str(tmp_path), "--dbfilename", "t.rdb")
    try:
        c = redis.Redis(port=port)
        assert _files_snapshot(c) == expected
        c.xadd("grouped", {"after": "load"}, id="999-0")
        expected = _files_snapshot(c)
        assert c.save()
        c.close()
    finally:
        stop(proc)
    if shutil.which("redis-check-rdb"):
        check = subprocess.run(["redis-check-rdb", str(tmp_path / "t.rdb")], capture_output=True, text=True)
        assert check.returncode == 0 and "RDB looks OK!" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path), "--dbfilename", "t.rdb")
    try:
        c = redis.Redis(port=port)
        assert _files_snapshot(c) == expected
        c.close()
    finally:
        stop(proc)


def _groups_in(c: redis.Redis, key: str) -> None:
    for i in range(1, 120):
        c.xadd(key, {"n": i}, id=f"{i}-0")
    c.xgroup_create(key, "g", id="0")
    c.xreadgroup("g", "a", {key: ">"}, count=30)
    c.xreadgroup("g", "b", {key: ">"}, count=30)
    c.xack(key, "g", "7-0")
    c.xdel(key, "8-0")


def test_bgsave_slices_big_streams_and_keeps_the_point_in_time(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        pipe = c.pipeline(transaction=False)
        for i in range(1, 30_001):
            pipe.xadd("big", {"n": i, "payload": "p" * (i % 50)}, id=f"{i}-0")
            if i % 10 == 0:
                pipe.xadd(f"small:{i}", {"n": i}, id="1-1")
            if i % 2000 == 0:  # short pipelines: redis-py re-sends one that outlasts its timeout
                pipe.execute()
        _groups_in(c, "grouped")
        expected = _files_snapshot(c)
        c.xadd("other", {"created": "after"})  # not pending: created before the save, kept
        expected[b"other"] = _full(c, "other")
        assert c.bgsave()
        # Changes while saving: none may reach the file.
        c.xadd("big", {"late": 1}, id="999999-0")
        c.xreadgroup("g", "a", {"grouped": ">"}, count=5)
        c.xdel("small:10", "1-1")
        c.xtrim("small:20", maxlen=0)
        c.delete("small:30")
        c.xadd("new-during-save", {"a": 1})
        deadline = time.time() + 120
        while c.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
            time.sleep(0.02)
        assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        c.close()
    finally:
        stop(proc)
    if shutil.which("redis-check-rdb"):
        check = subprocess.run(["redis-check-rdb", str(tmp_path / "dump.rdb")], capture_output=True, text=True)
        assert check.returncode == 0 and "RDB looks OK!" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        assert _files_snapshot(c) == expected
        c.close()
    finally:
        stop(proc)


def test_sliced_serialization_writes_the_same_bytes():
    value = StreamValue()
    for i in range(1, 1001):
        value.append(make_id(i, 0), (b"n", b"%d" % i), 4096, 100)
    whole = rdb.Writer()
    rdb.write_object(whole, value)
    sliced = rdb.Writer()
    sliced.byte(rdb.TYPE_STREAM_LISTPACKS_2)
    pieces = rdb_streams.StreamSlices(sliced, value)
    steps = 1
    while not pieces.step():
        steps += 1
        if steps == 4:  # the stream changes after 3 nodes: the rest comes from a copy
            pieces.detach()
            group = value.add_group(b"late", 0, -1)
            assert group is not None
            value.delete(make_id(500, 0))
            value.append(make_id(2000, 0), (b"n", b"late"), 4096, 100)
            value.trim(100, 0, False, 0)
    assert steps == 11  # ten nodes, then the metadata and groups
    assert sliced.buf == whole.buf
