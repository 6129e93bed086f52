"""Hashes in RDB (persistence/rdb_hashes.py) against redis-server 7.0: its DUMP payloads and
RDB files load into HashValue with the same fields, values and encoding, and tandemkv's
payloads RESTORE into it identically. Skipped until the hash type (values/hashes.py) is merged."""

from __future__ import annotations

import pytest
import redis

HashValue = pytest.importorskip("tandemkv.values.hashes").HashValue

from tandemkv.persistence import rdb, rdb_hashes  # noqa: E402, F401  (registers the hash pair)
from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop  # noqa: E402

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed"),
]

LIMITS = rdb.Limits(extra={"hash-max-listpack-entries": 512, "hash-max-listpack-value": 64})
CASES = {
    "small": {b"a": b"1", b"b": b"-300", b"c": b"", b"d": b"text"},
    "ints": {str(i).encode(): str(i * 1000).encode() for i in range(50)},
    "long-value": {b"f": b"v" * 100, b"g": b"short"},
    "big": {f"field:{i}".encode(): f"value-{i}".encode() * (1 + i % 5) for i in range(2000)},
    "lzf": {b"x": b"abcdefgh" * 500},
}


@pytest.fixture(scope="module")
def real():
    proc, port = start_redis()
    client = redis.Redis(port=port)
    yield client
    client.close()
    stop(proc)


def _fill(c: redis.Redis, key: str, fields: dict) -> None:
    c.delete(key)
    c.hset(key, mapping=fields)


def _value(fields: dict) -> HashValue:
    value = HashValue()
    for field, item in fields.items():
        value.set(field, item, 512, 64)
    return value


@pytest.mark.parametrize("case", sorted(CASES))
def test_redis_dump_loads_into_hash_value(real, case):
    _fill(real, "h", CASES[case])
    value = rdb.load_payload(real.dump("h"), LIMITS)
    assert isinstance(value, HashValue)
    assert dict(value.items()) == real.hgetall("h")
    assert value.encoding == real.object("encoding", "h")


@pytest.mark.parametrize("case", sorted(CASES))
def test_tandem_payload_restores_into_redis(real, case):
    value = _value(CASES[case])
    real.delete("h")
    real.restore("h", 0, rdb.dump_payload(value))
    assert real.hgetall("h") == dict(value.items())
    assert real.object("encoding", "h") == value.encoding


def test_redis_rdb_file_with_hashes_loads(tmp_path):
    proc, port = start_redis("--dir", str(tmp_path))
    try:
        c = redis.Redis(port=port)
        for case, fields in CASES.items():
            _fill(c, case, fields)
        expected = {case.encode(): c.hgetall(case) for case in CASES}
        c.save()
        c.close()
    finally:
        stop(proc)
    loaded = {k.key: dict(k.value.items()) for k in rdb.read_file((tmp_path / "dump.rdb").read_bytes(), LIMITS)}
    assert loaded == expected


def test_duplicate_fields_are_refused():
    body = b"\x04\x02\x01a\x011\x01a\x012\x0a\x00"
    with pytest.raises(rdb.RdbError, match="Duplicate"):
        rdb.load_payload(body + rdb.crc64(body).to_bytes(8, "little"), LIMITS)


def _zipmap(pairs: list[tuple[bytes, bytes]], count: int | None = None, free: int = 0) -> bytes:
    """A Redis 2.x zipmap: count byte, <len>field<len><free>value<free bytes> ..., 255."""

    def length(n: int) -> bytes:
        return bytes([n]) if n < 254 else b"\xfe" + n.to_bytes(4, "little")

    body = b"".join(
        length(len(f)) + f + length(len(v)) + bytes([free]) + v + b"\0" * free for f, v in pairs
    )
    return bytes([len(pairs) if count is None else count]) + body + b"\xff"


def _payload(blob: bytes) -> bytes:
    """A DUMP payload of RDB_TYPE_HASH_ZIPMAP holding `blob` (RDB version 10, CRC-64 footer)."""
    writer = rdb.Writer(compress=False)
    writer.string(blob)
    body = bytes([rdb.TYPE_HASH_ZIPMAP]) + bytes(writer.buf) + (10).to_bytes(2, "little")
    return body + rdb.crc64(body).to_bytes(8, "little")


ZIPMAPS = {
    "small": _zipmap([(b"f1", b"v1"), (b"f2", b"22")]),
    "free-space": _zipmap([(b"a", b"x"), (b"b", b"yy")], free=3),
    "long-value": _zipmap([(b"f", b"v" * 300)]),  # a 5-byte length; a hashtable (value > 64)
    "many": _zipmap([(b"f%d" % i, b"%d" % i) for i in range(600)], count=254),  # hashtable
    "empty": _zipmap([]),
    "bad-count": _zipmap([(b"a", b"1")], count=2),
    "no-end": _zipmap([(b"a", b"1")])[:-1] + b"\x00",
    "overrun": _zipmap([(b"a", b"1")])[:3] + b"\x40\x00\xff",
    "dup": _zipmap([(b"a", b"1"), (b"a", b"2")]),
}


@pytest.mark.parametrize("case", ZIPMAPS)
def test_zipmap_payload_restores_as_redis_does(real, tandem_port, case):
    """RESTORE of a zipmap hash: the same fields and encoding as redis-server, or an error on
    both for a corrupt one."""
    payload = _payload(ZIPMAPS[case])
    ours = redis.Redis(port=tandem_port)
    results = []
    for client in (ours, real):
        client.delete("zm")
        try:
            client.restore("zm", 0, payload)
        except redis.ResponseError as error:
            results.append(("error", str(error).split(":")[0]))
            continue
        results.append((client.hgetall("zm"), client.object("ENCODING", "zm")))
    ours.close()
    assert results[0] == results[1]


def test_restore_logs_why_a_payload_is_refused(tmp_path):
    """As Redis's rdbReportError in a RESTORE: the reason goes to the log at verbose level
    (Redis's corrupt-dump tests look for "integrity check failed" there)."""
    logfile = tmp_path / "server.log"
    proc, port = start_tandem("--loglevel", "verbose", "--logfile", str(logfile))
    try:
        client = redis.Redis(port=port)
        with pytest.raises(redis.ResponseError, match="Bad data format"):
            client.restore("zm", 0, _payload(ZIPMAPS["bad-count"]))
        client.close()
    finally:
        stop(proc)
    assert "-> Zipmap integrity check failed." in logfile.read_text()


def test_repeated_fields_in_a_listpack_are_reported_as_redis_words_it():
    from tests.test_rdb import _listpack

    lp = _listpack([b"\x81a", b"\x01", b"\x81a", b"\x02"])
    with pytest.raises(rdb.RdbError, match=r"^Hash listpack integrity check failed\.$"):
        rdb.read_object(rdb.Reader(rdb.encode_length(len(lp)) + lp), rdb.TYPE_HASH_LISTPACK, LIMITS)
