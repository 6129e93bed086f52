"""Function libraries in RDB (persistence/functions.py, rdb.py, scripting's `restore`) against
redis-server 7.0: FUNCTION DUMP payloads byte for byte, FUNCTION RESTORE both ways with every
policy and Redis's error texts (RESP2 and RESP3), the 7.0-rc record format, and the functions
section of RDB files both ways (redis-check-rdb on ours, SAVE and BGSAVE)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest
import redis

from tandemkv.persistence import rdb
from tandemkv.persistence.functions import functions_payload
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed"),
]

LIB = "#!lua name=mylib\nredis.register_function('echo', function(keys, args) return args[1] end)\n"
LIB_LONG = (
    "#!lua name=long\n"
    + "".join(f"redis.register_function('f{i}', function(keys, args) return {i} end)\n" for i in range(30))
)
LIB_FLAGS = (
    "#!lua name=flagged\nredis.register_function{function_name='ro', callback=function() return 1 end,"
    " flags={'no-writes', 'allow-stale'}, description='read only'}\n"
)
LIB_CLASH = "#!lua name=clash\nredis.register_function('echo', function() return 'clash' end)\n"
LIB_V2 = "#!lua name=mylib\nredis.register_function('echo2', function(keys, args) return args[1] end)\n"


def _payload(*codes: str) -> bytes:
    return functions_payload([code.encode() for code in codes], compress=True)


def _footer(body: bytes) -> bytes:
    body += (10).to_bytes(2, "little")
    return body + rdb.crc64(body).to_bytes(8, "little")


def _string(data: bytes) -> bytes:
    w = rdb.Writer(compress=False)
    w.string(data)
    return bytes(w.buf)


@pytest.fixture
def fdiff(diff):
    diff("FUNCTION", "FLUSH")
    yield diff
    diff("FUNCTION", "FLUSH")


@pytest.mark.parametrize("code", [LIB, LIB_LONG, LIB_FLAGS])
def test_function_dump_is_redis_byte_for_byte(fdiff, code):
    fdiff("FUNCTION", "LOAD", code)
    payload = fdiff("FUNCTION", "DUMP")
    assert payload.startswith(b"$")
    fdiff("FUNCTION", "FLUSH")
    fdiff("FUNCTION", "DUMP")  # no libraries: the footer alone


def test_function_restore_policies_and_errors(fdiff):
    fdiff("FUNCTION", "LOAD", LIB)
    fdiff("FUNCTION", "RESTORE", _payload(LIB))  # APPEND by default: the library exists
    fdiff("FUNCTION", "RESTORE", _payload(LIB), "APPEND")
    fdiff("FUNCTION", "RESTORE", _payload(LIB_CLASH), "REPLACE")  # a function of another library
    fdiff("FUNCTION", "RESTORE", _payload(LIB_V2), "replace")
    fdiff("FCALL", "echo2", "0", "x")
    fdiff("FCALL", "echo", "0", "x")
    fdiff("FUNCTION", "RESTORE", _payload(LIB_FLAGS, LIB_LONG))
    fdiff("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "flagged")
    fdiff("FUNCTION", "RESTORE", _payload(LIB), "FLUSH")
    fdiff("FUNCTION", "LIST", "WITHCODE")
    fdiff("FUNCTION", "RESTORE", _payload(LIB), "BAD")
    fdiff("FUNCTION", "RESTORE", _payload(LIB), "FLUSH", "extra")
    fdiff("FUNCTION", "RESTORE")
    fdiff("FUNCTION", "RESTORE", b"short")
    good = _payload(LIB_FLAGS)
    fdiff("FUNCTION", "RESTORE", good[:-1] + bytes([good[-1] ^ 1]))
    fdiff("FUNCTION", "RESTORE", _payload(LIB_LONG, LIB_LONG))  # twice in one payload
    fdiff("FUNCTION", "RESTORE", _payload(LIB_CLASH, LIB_FLAGS))  # `echo` is mylib's
    fdiff("FUNCTION", "RESTORE", _payload("#!lua name=bad\nthis is not lua"))
    fdiff("FUNCTION", "RESTORE", _payload("#!lua name=nofunc\nlocal x = 1"))
    fdiff("FUNCTION", "RESTORE", _payload("no shebang"))
    fdiff("FUNCTION", "RESTORE", _payload("#!js name=x\n"))
    fdiff("FUNCTION", "RESTORE", _footer(b"\x00" + _string(b"key") + _string(b"value")))  # a key, not a function
    fdiff("FUNCTION", "RESTORE", _footer(b"\xf5\x85abc"))  # a record cut short
    fdiff("FUNCTION", "LIST")


def test_function_restore_of_the_7_0_rc_record(fdiff):
    body = b"\xf6" + _string(b"rclib") + _string(b"LUA") + b"\x01" + _string(b"a description")
    body += _string(b"redis.register_function('rc', function() return 'rc' end)")
    fdiff("FUNCTION", "RESTORE", _footer(body))
    fdiff("FCALL", "rc", "0")
    fdiff("FUNCTION", "LIST", "WITHCODE")
    no_description = b"\xf6" + _string(b"rc2") + _string(b"LUA") + b"\x00"
    no_description += _string(b"redis.register_function('rc2', function() return 2 end)")
    fdiff("FUNCTION", "RESTORE", _footer(no_description))
    fdiff("FCALL", "rc2", "0")
    fdiff("FUNCTION", "RESTORE", _footer(b"\xf6" + _string(b"cut")))


def _libraries(c: redis.Redis) -> list[str]:
    """FUNCTION LIST WITHCODE in a stable order (Redis lists in its dicts' order)."""
    out = []
    for entry in c.function_list(withcode=True):
        library = dict(zip(entry[::2], entry[1::2], strict=True))
        library[b"functions"] = sorted(map(str, library[b"functions"]))
        out.append(str(sorted(library.items())))
    return sorted(out)


def test_function_dump_restores_across_servers():
    servers = [start_tandem(), start_redis()]
    try:
        tandem, real = (redis.Redis(port=port) for _proc, port in servers)
        for source, target in ((real, tandem), (tandem, real)):
            for c in (source, target):
                c.function_flush()
            for code in (LIB, LIB_LONG, LIB_FLAGS):
                source.function_load(code)
            assert target.function_restore(source.function_dump())
            assert _libraries(target) == _libraries(source)
            assert target.fcall("echo", 0, "hi") == b"hi" and target.fcall("f29", 0) == 29
        tandem.close()
        real.close()
    finally:
        for proc, _port in servers:
            stop(proc)


def test_rdb_files_with_functions_both_ways(tmp_path):
    proc, port = start_redis("--dir", str(tmp_path), "--dbfilename", "r.rdb")
    try:
        c = redis.Redis(port=port)
        for code in (LIB, LIB_LONG, LIB_FLAGS):
            c.function_load(code)
        c.set("k", "v")
        expected = _libraries(c)
        assert c.save()
        c.close()
    finally:
        stop(proc)
    proc, port = start_tandem("--dir", str(tmp_path), "--dbfilename", "r.rdb")
    try:
        c = redis.Redis(port=port)
        assert _libraries(c) == expected and c.get("k") == b"v"
        assert c.fcall("echo", 0, "loaded") == b"loaded"
        c.function_delete("long")
        expected = _libraries(c)
        c.config_set("dbfilename", "t.rdb")
        assert c.save()
        c.function_load(LIB_CLASH.replace("'echo'", "'other'"))  # after the save: not in the file
        assert c.bgsave()
        c.function_flush()  # during or after the background save: the file keeps the libraries
        deadline = time.time() + 30
        while c.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
            time.sleep(0.02)
        c.close()
    finally:
        stop(proc)
    if shutil.which("redis-check-rdb"):
        check = subprocess.run(["redis-check-rdb", str(tmp_path / "t.rdb")], capture_output=True, text=True)
        assert check.returncode == 0 and "RDB looks OK!" in check.stdout, check.stdout
    proc, port = start_redis("--dir", str(tmp_path), "--dbfilename", "t.rdb")
    try:
        c = redis.Redis(port=port)
        assert len(_libraries(c)) == 3 and c.fcall("other", 0) == b"clash"
        c.function_delete("clash")
        assert _libraries(c) == expected
        c.close()
    finally:
        stop(proc)


def test_a_file_whose_library_fails_stops_the_start(tmp_path):
    with open(tmp_path / "dump.rdb", "wb") as out:
        rdb.write_file(out, [], rdb.aux_fields(0, 0), functions=[LIB.encode(), LIB.encode()])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 1
    assert "Failed loading library, Library 'mylib' already exists" in out
