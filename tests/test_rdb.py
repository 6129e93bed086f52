"""The RDB format units (persistence/rdb.py): CRC-64, LZF, lengths, string encodings, the
compact encodings Redis writes (ziplist, listpack, intset), files and DUMP payloads."""

from __future__ import annotations

import io
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandemkv.persistence import rdb
from tandemkv.values.lists import ListValue
from tandemkv.values.sets import SetValue


def test_crc64_test_vector():
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert rdb.crc64(b"56789", rdb.crc64(b"1234")) == 0xE9C6D914C4B8D9CA
    assert rdb.crc64(b"") == 0


def test_the_c_backed_crc64_and_lzf_are_in_use():
    # The dependencies are installed with the package: the fast paths are the ones running.
    assert rdb.crc64 is not rdb.crc64_reference
    assert rdb.lzf_compress is not rdb.lzf_compress_reference
    assert rdb.crc64_reference(b"123456789") == 0xE9C6D914C4B8D9CA


def _random_inputs(seed: int, count: int) -> list[bytes]:
    """Noise, text-like and repetitive inputs of every size class up to a few KB."""
    rng = random.Random(seed)
    inputs = []
    for _ in range(count):
        size = rng.choice([0, 1, 2, 3, 20, 21, 22, 30, 64, 100, 1000, rng.randint(0, 4000)])
        alphabet = rng.choice([b"ab", b"abcdefgh", b"value:0123456789", bytes(range(256))])
        inputs.append(bytes(rng.choice(alphabet) for _ in range(size)))
    return inputs


def test_c_backed_crc64_equals_the_reference_on_random_inputs():
    crc = 0
    for data in _random_inputs(1, 400):
        assert rdb.crc64(data) == rdb.crc64_reference(data)
        assert rdb.crc64(data, crc) == rdb.crc64_reference(data, crc)  # continued
        crc = rdb.crc64(data, crc)


def test_c_backed_lzf_equals_the_reference_on_random_inputs():
    # Byte for byte, near the output bound too (where liblzf's looser check differs from
    # Redis's and the reference decides); the reference gives up early only past 4 KB.
    for data in _random_inputs(2, 1500):
        n = len(data)
        for max_out in {max(n - 4, 0), n, n + 64, n // 2}:
            packed = rdb.lzf_compress(data, max_out)
            assert packed == rdb.lzf_compress_reference(data, max_out), (n, max_out)
            if packed is not None:
                assert rdb.lzf_decompress(packed, n) == rdb.lzf_decompress_reference(packed, n) == data


def test_c_backed_lzf_decompress_refuses_what_the_reference_refuses():
    rng = random.Random(3)
    for _ in range(2000):
        data, length = rng.randbytes(rng.randint(0, 12)), rng.randint(0, 40)
        try:
            expected = rdb.lzf_decompress_reference(data, length)
        except rdb.RdbError:
            with pytest.raises(rdb.RdbError):
                rdb.lzf_decompress(data, length)
        else:
            assert rdb.lzf_decompress(data, length) == expected


@given(st.binary(max_size=3000) | st.builds(lambda a, n: a * n, st.binary(min_size=1, max_size=6), st.integers(1, 800)))
@settings(max_examples=300)
def test_lzf_round_trip(data):
    packed = rdb.lzf_compress(data, len(data) + 64)
    if data:
        assert packed is not None
        assert rdb.lzf_decompress(packed, len(data)) == data
    tight = rdb.lzf_compress(data, max(len(data) - 4, 0))
    if tight is not None:
        assert len(tight) <= len(data) - 4
        assert rdb.lzf_decompress(tight, len(data)) == data


def test_lzf_compresses_repetitions_and_gives_up_on_noise():
    data = b"abcdefgh" * 5000
    packed = rdb.lzf_compress(data, len(data) - 4)
    assert packed is not None and len(packed) < len(data) // 20
    noise = random.Random(3).randbytes(50000)
    assert rdb.lzf_compress(noise, len(noise) - 4) is None


def test_lzf_decompress_rejects_corrupt_input():
    for bad, length in ((b"\x05ab", 6), (b"\x20\x00", 3), (b"\xe0", 10), (b"\x00a", 5)):
        with pytest.raises(rdb.RdbError):
            rdb.lzf_decompress(bad, length)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 16383, 16384, 2**32 - 1, 2**32, 2**40])
def test_lengths_round_trip(n):
    encoded = rdb.encode_length(n)
    assert len(encoded) == (1 if n < 64 else 2 if n < 16384 else 5 if n < 2**32 else 9)
    reader = rdb.Reader(encoded)
    assert reader.length() == n and reader.pos == len(encoded)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"0", b"\xc0\x00"),
        (b"-128", b"\xc0\x80"),
        (b"128", b"\xc1\x80\x00"),
        (b"-32768", b"\xc1\x00\x80"),
        (b"32768", b"\xc2\x00\x80\x00\x00"),
        (b"-2147483648", b"\xc2\x00\x00\x00\x80"),
        (b"2147483648", b"\x0a2147483648"),
        (b"007", b"\x03007"),
        (b"+1", b"\x02+1"),
        (b"-0", b"\x02-0"),
        (b"", b"\x00"),
        (b"abc", b"\x03abc"),
    ],
)
def test_string_encodings(raw, encoded):
    w = rdb.Writer()
    w.string(raw)
    assert bytes(w.buf) == encoded
    assert rdb.Reader(encoded).string() == raw


def test_long_strings_are_lzf_compressed_only_when_it_pays():
    w = rdb.Writer()
    w.string(b"x" * 21)
    assert w.buf[0] == 0xC3
    assert rdb.Reader(bytes(w.buf)).string() == b"x" * 21
    w = rdb.Writer()
    w.string(b"x" * 20)  # 20 bytes and less: never compressed
    assert bytes(w.buf) == b"\x14" + b"x" * 20
    w = rdb.Writer(compress=False)
    w.string(b"x" * 100)
    assert bytes(w.buf[:1]) == b"\x40" and w.buf[1] == 100


# ----------------------------------------------------------- compact encodings

def _ziplist(entries: list[bytes]) -> bytes:
    """A ziplist as ziplist.c lays it out, each entry given as its encoding + data."""
    body = bytearray()
    prev = 0
    tail = 10
    for entry in entries:
        prevlen = bytes((prev,)) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        tail = 10 + len(body)
        body += prevlen + entry
        prev = len(prevlen) + len(entry)
    total = 10 + len(body) + 1
    return struct.pack("<IIH", total, tail, len(entries)) + bytes(body) + b"\xff"


def test_ziplist_entries():
    long = b"L" * 300
    blob = _ziplist([
        b"\x01a",                                   # 6-bit length string
        b"\x41\x2c" + long,                         # 14-bit length string
        b"\x80" + struct.pack(">I", 3) + b"xyz",    # 32-bit length string
        b"\xf1", b"\xfd",                           # immediates 0 and 12
        b"\xfe\x80",                                # int8 -128
        b"\xc0" + struct.pack("<h", -300),          # int16
        b"\xf0" + (-70000).to_bytes(3, "little", signed=True),  # int24
        b"\xd0" + struct.pack("<i", 2**31 - 1),     # int32
        b"\xe0" + struct.pack("<q", -(2**63)),      # int64
    ])
    assert rdb.ziplist_entries(blob) == [
        b"a", long, b"xyz", b"0", b"12", b"-128", b"-300", b"-70000", b"2147483647", b"-9223372036854775808",
    ]
    with pytest.raises(rdb.RdbError):
        rdb.ziplist_entries(blob[:-1] + b"\x00")
    # Redis's deep check: the tail offset, the count and each entry's previous-size record.
    small = _ziplist([b"\x01a", b"\x02bc", b"\xf2"])
    assert rdb.ziplist_entries(small) == [b"a", b"bc", b"1"]
    for broken in (
        small[:4] + struct.pack("<I", 10) + small[8:],  # tail points at the first entry
        small[:8] + struct.pack("<H", 2) + small[10:],  # count 2 for 3 entries
        small[:13] + b"\x04" + small[14:],  # the second entry's previous size is 3
    ):
        with pytest.raises(rdb.RdbError):
            rdb.ziplist_entries(broken)
    assert rdb.ziplist_entries(small[:8] + b"\xff\xff" + small[10:]) == [b"a", b"bc", b"1"]  # unknown count
    with pytest.raises(rdb.RdbError):
        rdb.ziplist_entries(blob[:20] + b"\xff")


def _listpack(entries: list[bytes]) -> bytes:
    body = bytearray()
    for entry in entries:
        n = len(entry)
        if n < 128:
            backlen = bytes((n,))
        else:
            backlen = bytes((n >> 7, (n & 127) | 128))  # 2 bytes, big end first
        body += entry + backlen
    total = 6 + len(body) + 1
    return struct.pack("<IH", total, len(entries)) + bytes(body) + b"\xff"


def test_listpack_entries():
    blob = _listpack([
        b"\x05",                                    # 7-bit uint
        b"\x83abc",                                 # 6-bit length string
        bytes((0xC0 | 0x1F, 0xFF)),                 # 13-bit int -1
        bytes((0xC0 | 0x0F, 0xFF)),                 # 13-bit int 4095
        bytes((0xE0 | 1, 0x2C)) + b"s" * 300,       # 12-bit length string (300)
        b"\xf0" + struct.pack("<I", 5) + b"12345",  # 32-bit length string
        b"\xf1" + struct.pack("<h", -5000),
        b"\xf2" + (8_000_000).to_bytes(3, "little", signed=True),
        b"\xf3" + struct.pack("<i", -(2**31)),
        b"\xf4" + struct.pack("<q", 2**63 - 1),
    ])
    assert rdb.listpack_entries(blob) == [
        b"5", b"abc", b"-1", b"4095", b"s" * 300, b"12345", b"-5000", b"8000000", b"-2147483648",
        b"9223372036854775807",
    ]
    with pytest.raises(rdb.RdbError):
        rdb.listpack_entries(blob[:-3] + b"\xff")
    # Redis's deep check: each entry's back-length and the header's count.
    small = _listpack([b"\x05", b"\x83abc"])
    assert rdb.listpack_entries(small, "Stream listpack") == [b"5", b"abc"]
    assert rdb.listpack_entries(small[:4] + b"\xff\xff" + small[6:]) == [b"5", b"abc"]  # count unknown
    for broken in (
        small[:7] + b"\x07" + small[8:],  # the first entry's back-length says 7, not 1
        small[:4] + b"\x03\x00" + small[6:],  # count 3 for 2 entries
    ):
        with pytest.raises(rdb.RdbError, match=r"^Stream listpack integrity check failed\.$"):
            rdb.listpack_entries(broken, "Stream listpack")


def test_intset_members():
    blob = struct.pack("<II", 2, 3) + struct.pack("<3h", -1, 5, 300)
    assert rdb.intset_members(blob) == [b"-1", b"5", b"300"]
    blob = struct.pack("<II", 8, 1) + struct.pack("<q", 2**40)
    assert rdb.intset_members(blob) == [str(2**40).encode()]
    with pytest.raises(rdb.RdbError):
        rdb.intset_members(struct.pack("<II", 3, 1) + b"abc")


def _object(rdb_type: int, body: bytes) -> object:
    return rdb.read_object(rdb.Reader(body), rdb_type, rdb.Limits())


def test_every_list_and_set_type_is_read():
    def s(raw: bytes) -> bytes:
        return rdb.encode_length(len(raw)) + raw

    zl = _ziplist([b"\x01a", b"\xf3"])
    lp = _listpack([b"\x81b", b"\x07"])
    assert list(_object(rdb.TYPE_LIST, b"\x02" + s(b"a") + b"\xc0\x02")) == [b"a", b"2"]
    assert list(_object(rdb.TYPE_LIST_ZIPLIST, s(zl))) == [b"a", b"2"]
    with pytest.raises(rdb.RdbError):  # a quicklist node is never empty
        _object(rdb.TYPE_LIST_QUICKLIST_2, b"\x01\x01" + s(b""))
    assert list(_object(rdb.TYPE_LIST_QUICKLIST, b"\x02" + s(zl) + s(zl))) == [b"a", b"2"] * 2
    assert list(_object(rdb.TYPE_LIST_QUICKLIST_2, b"\x02\x02" + s(lp) + b"\x01" + s(b"plain"))) == [b"b", b"7", b"plain"]
    with pytest.raises(rdb.RdbError):
        _object(rdb.TYPE_LIST_QUICKLIST_2, b"\x01\x03" + s(lp))
    value = _object(rdb.TYPE_SET, b"\x02" + s(b"x") + s(b"y"))
    assert isinstance(value, SetValue) and sorted(value.members) == [b"x", b"y"]
    value = _object(rdb.TYPE_SET_INTSET, s(struct.pack("<II", 2, 2) + struct.pack("<2h", 1, 2)))
    assert isinstance(value, SetValue) and value.intset and value.ordered() == [b"1", b"2"]
    with pytest.raises(rdb.RdbError):
        _object(rdb.TYPE_SET, b"\x02" + s(b"x") + s(b"x"))
    with pytest.raises(rdb.RdbError):
        _object(rdb.TYPE_LIST, b"\x00")  # empty keys are refused
    with pytest.raises(rdb.RdbError):
        _object(rdb.TYPE_STREAM_LISTPACKS, b"\x00")


# ------------------------------------------------------------------ payloads

def test_dump_payload_layout_and_verification():
    payload = rdb.dump_payload(b"hello")
    assert payload[:7] == b"\x00\x05hello" and payload[7:9] == b"\x0a\x00"
    assert struct.unpack("<Q", payload[9:])[0] == rdb.crc64(payload[:9])
    assert rdb.verify_payload(payload)
    assert rdb.load_payload(payload, rdb.Limits()) == b"hello"
    assert not rdb.verify_payload(payload[:-1] + bytes([payload[-1] ^ 1]))
    future = b"\x00\x05hello\x0b\x00"
    assert not rdb.verify_payload(future + struct.pack("<Q", rdb.crc64(future)))
    assert not rdb.verify_payload(b"short")


# --------------------------------------------------------------------- files

values = st.one_of(
    st.binary(max_size=40) | st.integers(-(2**63), 2**63 - 1).map(lambda n: str(n).encode()),
    st.lists(st.binary(max_size=30), min_size=1, max_size=20).map(ListValue),
    st.sets(st.binary(max_size=12) | st.integers(-1000, 10**12).map(lambda n: str(n).encode()),
            min_size=1, max_size=20).map(lambda members: SetValue(members)),
)
keyspaces = st.dictionaries(
    st.integers(0, 15),
    st.dictionaries(st.binary(max_size=12), st.tuples(values, st.none() | st.integers(1, 2**45)), max_size=8),
    max_size=3,
)


def _plain(value: object) -> object:
    if isinstance(value, ListValue):
        return ("list", list(value))
    if isinstance(value, SetValue):
        return ("set", sorted(value.members), value.encoding)
    return value


def _write(keyspace: dict, compress: bool = True) -> bytes:
    out = io.BytesIO()
    dbs = [
        rdb.DbSnapshot(index, len(keys), sum(d is not None for _v, d in keys.values()),
                       [(k, v, d) for k, (v, d) in keys.items()])
        for index, keys in sorted(keyspace.items())
    ]
    rdb.write_file(out, dbs, rdb.aux_fields(1700000000, 123456), compress=compress)
    return out.getvalue()


@given(keyspaces, st.booleans())
@settings(max_examples=150, deadline=None)
def test_files_round_trip(keyspace, compress):
    data = _write(keyspace, compress)
    aux: dict[bytes, bytes] = {}
    loaded = list(rdb.read_file(data, rdb.Limits(), aux))
    assert aux[b"redis-ver"] == b"7.0.15" and aux[b"redis-bits"] == b"64" and aux[b"ctime"] == b"1700000000"
    got = {(item.db, item.key): (_plain(item.value), item.deadline_ms) for item in loaded}
    expected = {(db, k): (_plain(v), d) for db, keys in keyspace.items() for k, (v, d) in keys.items()}
    assert got == expected


def test_file_layout_and_errors():
    data = _write({0: {b"k": (b"v", 1234)}, 2: {b"l": (ListValue([b"a"]), None)}})
    assert data.startswith(b"REDIS0010\xfa")
    assert data[-9] == rdb.OP_EOF
    assert struct.unpack("<Q", data[-8:])[0] == rdb.crc64(data[:-8])
    assert b"\xfe\x00\xfb\x01\x01\xfc" + struct.pack("<q", 1234) + b"\x00\x01k\x01v" in data
    assert b"\xfe\x02\xfb\x01\x00\x01\x01l\x01\x01a" in data
    with pytest.raises(rdb.RdbError, match="checksum"):
        list(rdb.read_file(data[:-1] + bytes([data[-1] ^ 1]), rdb.Limits()))
    unchecked = data[:-8] + b"\x00" * 8  # rdbchecksum no
    assert len(list(rdb.read_file(unchecked, rdb.Limits()))) == 2
    with pytest.raises(rdb.RdbError, match="signature"):
        list(rdb.read_file(b"RADIS0010", rdb.Limits()))
    with pytest.raises(rdb.RdbError, match="version"):
        list(rdb.read_file(b"REDIS0011" + data[9:], rdb.Limits()))
    with pytest.raises(rdb.RdbError):
        list(rdb.read_file(data[:30] + struct.pack("<Q", rdb.crc64(data[:30])), rdb.Limits()))


def test_unknown_value_class_is_refused():
    with pytest.raises(rdb.RdbError):
        rdb.dump_payload(object())


@given(st.sets(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50))
def test_intset_blob_round_trip(numbers):
    members = [str(n).encode() for n in numbers]
    blob = rdb.intset_blob(members)
    width = struct.unpack_from("<I", blob)[0]
    assert width == (2 if all(-(2**15) <= n < 2**15 for n in numbers) else 4 if all(-(2**31) <= n < 2**31 for n in numbers) else 8)
    assert rdb.intset_members(blob) == [str(n).encode() for n in sorted(numbers)]
    value = SetValue(members)
    if value.intset:
        w = rdb.Writer()
        rdb.write_object(w, value)
        assert w.buf[0] == rdb.TYPE_SET_INTSET
        loaded = rdb.read_object(rdb.Reader(bytes(w.buf), 1), w.buf[0], rdb.Limits())
        assert sorted(loaded.members) == sorted(members) and loaded.intset
