"""AOF bases of commands (aof-use-rdb-preamble no, persistence/aofbase.py) and timestamp
annotations (aof-timestamp-enabled): the commands Redis's rewrite emits, loaded by
redis-server and redis-check-aof, and Redis's own files loaded by tandemkv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from tandemkv import Store
from tandemkv.clock import ManualClock
from tandemkv.config import parse_config_text
from tandemkv.persistence.aof import AofFile, Manifest, _read_command, parse_manifest
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop
from tests.test_aof import _dataset, _populate, _wait

NO_PREAMBLE = ("--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--aof-timestamp-enabled", "yes")


def _commands(path: Path) -> list[list[bytes]]:
    """The commands of an AOF file; annotations as ["#TS", <seconds>]."""
    data = path.read_bytes()
    out: list[list[bytes]] = []
    pos = 0
    while pos < len(data):
        argv, after = _read_command(data, pos, path.name)
        if argv is None:
            line = data[pos:after].rstrip(b"\r\n")
            assert re.fullmatch(rb"#TS:\d+", line), line
            out.append([b"#TS", line[4:]])
        else:
            out.append(argv)
        pos = after
    return out


def _base(directory: Path) -> Path:
    manifest = (directory / "appendonlydir" / "appendonly.aof.manifest").read_text()
    name = re.search(r"file (\S+) seq \d+ type b", manifest)
    assert name is not None
    return directory / "appendonlydir" / name.group(1)


def _rewritten(directory: Path, start, populate) -> tuple[Path, dict]:
    """A server with a base of commands: populated, rewritten, a write after; its dataset."""
    directory.mkdir(exist_ok=True)
    proc, port = start("--dir", str(directory), *NO_PREAMBLE)
    try:
        client = redis.Redis(port=port)
        populate(client)
        client.bgrewriteaof()
        _wait(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0)
        client.rpush("l", "after-rewrite")
        expected = _dataset(client)
        client.close()
    finally:
        stop(proc)
    return _base(directory), expected


def test_the_base_holds_redis_rewrite_commands_in_batches_of_64(tmp_path):
    base, expected = _rewritten(tmp_path, start_tandem, _populate)
    assert base.name == "appendonly.aof.2.base.aof"
    commands = _commands(base)
    assert commands[0][0] == b"#TS" and commands[1][:2] == [b"FUNCTION", b"LOAD"] and commands[2] == [b"SELECT", b"0"]
    by_key: dict[bytes, list[list[bytes]]] = {}
    for argv in commands[3:]:
        key = argv[2] if argv[0] == b"XGROUP" else argv[1]
        by_key.setdefault(key, []).append(argv)
    assert [len(argv) - 2 for argv in by_key[b"l"]] == [64, 64, 64, 64, 44]
    assert [argv[2:] for argv in by_key[b"l"]] == [[f"e{i}".encode() for i in range(j, min(j + 64, 300))] for j in range(0, 300, 64)]
    assert [argv[0] for argv in by_key[b"hbig"]] == [b"HMSET"] * 10 and len(by_key[b"hbig"][0]) == 2 + 128
    assert by_key[b"si"] == [[b"SADD", b"si", *[str(i).encode() for i in range(50)]]]  # an intset: ascending
    assert by_key[b"zs"] == [[b"ZADD", b"zs", b"1", b"a", b"2", b"b"]]
    assert by_key[b"z"][0][2:6] == [b"0", b"m0", b"0.33333333333333331", b"m1"]  # %.17g
    assert by_key[b"fl"] == [[b"SET", b"fl", b"1.1"]]
    assert by_key[b"ttl"][0] == [b"SET", b"ttl", b"v"] and by_key[b"ttl"][1][:2] == [b"PEXPIREAT", b"ttl"]
    stream = by_key[b"st"]
    assert stream[:4] == [
        [b"XADD", b"st", b"1-1", b"f", b"v"],
        [b"XADD", b"st", b"2-1", b"f", b"w"],
        [b"XSETID", b"st", b"2-1", b"ENTRIESADDED", b"2", b"MAXDELETEDID", b"0-0"],
        [b"XGROUP", b"CREATE", b"st", b"g", b"1-1", b"ENTRIESREAD", b"1"],
    ]
    assert stream[4][:6] == [b"XCLAIM", b"st", b"g", b"alice", b"0", b"1-1"] and stream[4][6] == b"TIME"
    assert stream[4][8:] == [b"RETRYCOUNT", b"1", b"JUSTID", b"FORCE"]
    proc, port = start_tandem("--dir", str(tmp_path), *NO_PREAMBLE)
    try:
        client = redis.Redis(port=port)
        assert _dataset(client) == expected
        client.close()
    finally:
        stop(proc)


def _populate_edges(client: redis.Redis) -> None:
    """Streams Redis rewrites specially: empty (XADD MAXLEN 0 trick), with a deleted last
    entry (XSETID), a consumer without pending entries (XGROUP CREATECONSUMER)."""
    client.xadd("empty", {"f": "v"}, id="5-1")
    client.xdel("empty", "5-1")
    client.xgroup_create("empty", "g", id="$")
    client.xadd("s2", {"a": "1"}, id="1-1")
    client.xadd("s2", {"a": "2"}, id="3-1")
    client.xdel("s2", "3-1")
    client.xgroup_create("s2", "g1", id="$")
    client.xgroup_createconsumer("s2", "g1", "bob")
    client.xgroup_create("s2", "g", id="0")
    client.xreadgroup("g", "carol", {"s2": ">"})
    client.select(5)
    client.set("db5", "x")
    client.pexpireat("db5", 99_999_999_999_000)
    client.select(0)


def test_stream_edge_cases_round_trip_through_a_base_of_commands(tmp_path):
    base, expected = _rewritten(tmp_path, start_tandem, lambda c: (_populate(c), _populate_edges(c)))
    commands = _commands(base)
    assert [b"XADD", b"empty", b"MAXLEN", b"0", b"0-1", b"x", b"y"] in commands
    assert [b"XSETID", b"empty", b"5-1", b"ENTRIESADDED", b"1", b"MAXDELETEDID", b"5-1"] in commands
    assert [b"XGROUP", b"CREATECONSUMER", b"s2", b"g1", b"bob"] in commands
    assert [b"SELECT", b"5"] in commands and [b"PEXPIREAT", b"db5", b"99999999999000"] in commands
    proc, port = start_tandem("--dir", str(tmp_path), *NO_PREAMBLE)
    try:
        client = redis.Redis(port=port)
        assert _dataset(client) == expected
        assert client.xinfo_stream("empty")["length"] == 0 and client.xinfo_stream("empty")["last-generated-id"] == b"5-1"
        assert [c["name"] for c in client.xinfo_consumers("s2", "g1")] == [b"bob"]
        client.close()
    finally:
        stop(proc)


def test_timestamps_mark_each_new_second_in_the_incr_file(tmp_path):
    clock = ManualClock()
    store = Store(dir=str(tmp_path), appendonly="yes", aof_timestamp_enabled="yes", clock=clock)
    second = clock.now_ms() // 1000
    store.set("a", "1")
    store.set("b", "2")
    clock.advance_ms(1000)
    store.execute("MULTI")
    store.set("c", "3")
    store.set("d", "4")
    store.execute("EXEC")
    store.close()
    incr = tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof"
    assert _commands(incr) == [
        [b"#TS", str(second).encode()], [b"SELECT", b"0"], [b"SET", b"a", b"1"], [b"SET", b"b", b"2"],
        [b"#TS", str(second + 1).encode()], [b"MULTI"], [b"SET", b"c", b"3"], [b"SET", b"d", b"4"], [b"EXEC"],
    ]
    reopened = Store(dir=str(tmp_path), appendonly="yes")
    assert [reopened.get(k) for k in ("a", "b", "c")] == [b"1", b"2", b"3"]


def test_the_base_kind_follows_the_setting_at_each_rewrite(tmp_path):
    store = Store(dir=str(tmp_path), appendonly="yes", aof_use_rdb_preamble="no")
    assert _base(tmp_path).name == "appendonly.aof.1.base.aof"
    store.set("k", "v")
    store.execute("CONFIG", "SET", "aof-use-rdb-preamble", "yes")
    store.bgrewriteaof()
    while store.tick():
        pass
    assert _base(tmp_path).name == "appendonly.aof.2.base.rdb"
    store.execute("CONFIG", "SET", "aof-use-rdb-preamble", "no")
    store.bgrewriteaof()
    while store.tick():
        pass
    store.close()
    assert _commands(_base(tmp_path)) == [[b"SELECT", b"0"], [b"SET", b"k", b"v"]]
    assert Store(dir=str(tmp_path), appendonly="yes").get("k") == b"v"


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_our_base_of_commands_loads_into_redis_and_passes_redis_check_aof(tmp_path):
    _base_path, expected = _rewritten(tmp_path, start_tandem, lambda c: (_populate(c), _populate_edges(c)))
    if shutil.which("redis-check-aof"):
        check = subprocess.run(
            ["redis-check-aof", str(tmp_path / "appendonlydir" / "appendonly.aof.manifest")], capture_output=True, text=True
        )
        assert check.returncode == 0 and "All AOF files and manifest are valid" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path), *NO_PREAMBLE)
    try:
        client = redis.Redis(port=port)
        assert _dataset(client) == expected
        client.close()
    finally:
        stop(proc)


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_redis_base_of_commands_matches_ours_and_loads_into_tandemkv(tmp_path):
    """redis-server's own base of commands (with #TS annotations): tandemkv loads it, and
    ours holds the same commands (order within a database aside; wall-clock values masked)."""
    ours, _ = _rewritten(tmp_path / "tandem", start_tandem, lambda c: (_populate(c), _populate_edges(c)))
    theirs, expected = _rewritten(tmp_path / "redis", start_redis, lambda c: (_populate(c), _populate_edges(c)))

    def normalized(path: Path) -> list[list[bytes]]:
        out = []
        for argv in _commands(path):
            if argv[0] == b"#TS":
                continue
            if argv[1:2] in ([b"ss"], [b"hbig"], [b"z"]):  # walked in hash-table order by Redis
                argv = [argv[0], argv[1], b"<%d items>" % (len(argv) - 2)]
            out.append([re.sub(rb"^\d{13}$", b"<ms>", word) for word in argv])
        return sorted(out)

    assert normalized(ours) == normalized(theirs)
    assert _commands(theirs)[0][0] == b"#TS"
    proc, port = start_tandem("--dir", str(tmp_path / "redis"), *NO_PREAMBLE)
    try:
        client = redis.Redis(port=port)
        assert _dataset(client) == expected
        client.close()
    finally:
        stop(proc)


# ------------------------------------------------------- names that need quoting


ODD_NAME = '" file seq \n\n.aof "'  # the name Redis's aof-multi-part unit uses


def test_config_lines_take_sdssplitargs_escapes():
    words = parse_config_text('appendfilename "\\" file seq \\n\\n.aof \\""\ndir \'it\\\'s\' "\\x41\\tb"\n')
    assert words == [("appendfilename", [ODD_NAME]), ("dir", ["it's", "A\tb"])]


def test_manifest_names_are_written_as_sdscatrepr_and_read_back():
    manifest = Manifest(AofFile(ODD_NAME + ".1.base.rdb", 1, "b"), [], [AofFile("it's.1.incr.aof", 1, "i")])
    assert manifest.text() == (
        'file "\\" file seq \\n\\n.aof \\".1.base.rdb" seq 1 type b\n'
        # Quoted, unlike Redis's sdsneedsrepr: unquoted, sdssplitargs could not read it back.
        'file "it\'s.1.incr.aof" seq 1 type i\n'
    )
    assert parse_manifest(manifest.text(), "m") == manifest


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_a_name_with_quotes_and_newlines_as_redis_writes_it(tmp_path):
    """The same name to both servers: the same manifest."""
    manifests = {}
    for name, start in (("redis", start_redis), ("tandem", start_tandem)):
        directory = tmp_path / name
        directory.mkdir()
        proc, port = start("--dir", str(directory), "--appendonly", "yes", "--appendfilename", ODD_NAME)
        try:
            client = redis.Redis(port=port)
            client.set("k", name)
            client.close()
        finally:
            stop(proc)
        manifests[name] = (directory / "appendonlydir" / (ODD_NAME + ".manifest")).read_bytes()
    assert manifests["tandem"] == manifests["redis"]


def test_aof_disable_auto_gc_keeps_history_in_redis_order_until_set_back(tmp_path):
    store = Store(dir=str(tmp_path), appendonly="yes", aof_disable_auto_gc="yes")
    for _ in range(2):
        store.set("k", "v")
        store.bgrewriteaof()
        while store.tick():
            pass
    manifest = tmp_path / "appendonlydir" / "appendonly.aof.manifest"
    assert manifest.read_text().splitlines() == [
        "file appendonly.aof.3.base.rdb seq 3 type b",
        "file appendonly.aof.2.incr.aof seq 2 type h",
        "file appendonly.aof.2.base.rdb seq 2 type h",
        "file appendonly.aof.1.incr.aof seq 1 type h",
        "file appendonly.aof.1.base.rdb seq 1 type h",
        "file appendonly.aof.3.incr.aof seq 3 type i",
    ]
    assert (tmp_path / "appendonlydir" / "appendonly.aof.1.base.rdb").exists()
    store.execute("CONFIG", "SET", "aof-disable-auto-gc", "no")
    assert manifest.read_text().splitlines() == [
        "file appendonly.aof.3.base.rdb seq 3 type b", "file appendonly.aof.3.incr.aof seq 3 type i",
    ]
    assert sorted(os.listdir(tmp_path / "appendonlydir")) == [
        "appendonly.aof.3.base.rdb", "appendonly.aof.3.incr.aof", "appendonly.aof.manifest",
    ]
    store.close()
