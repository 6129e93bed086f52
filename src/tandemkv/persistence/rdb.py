"""Redis's RDB format, version 10 (Redis 7.0): snapshot files and DUMP payloads.

Pure format code: it reads a bytes buffer and writes to a bytearray or a binary file object
passed in; no paths, no sockets, no keyspace. Layout as Redis's rdb.c / rdb.h:

    file     "REDIS0010" aux* (SELECTDB db RESIZEDB size expires (EXPIRETIME_MS ms)? type key value)*
             EOF crc64(8 bytes, little endian, of everything before it)
    DUMP     type value rdb-version(2 bytes LE) crc64(8 bytes LE of everything before it)

Lengths: 6-bit (00), 14-bit big endian (01), 0x80 + 32-bit BE, 0x81 + 64-bit BE; 11xxxxxx marks
an encoded string: int8/int16/int32 (little endian) or LZF (compressed length, length, data).

Values: each type is one pair of functions, a saver chosen by the value's class (`SAVERS`)
and a loader chosen by the RDB type byte (`LOADERS`); a type added later registers its pair
with `register_saver` / `register_loader`.

Function libraries: one RDB_OPCODE_FUNCTION2 record (opcode, code) each, after the aux fields
(`write_functions`, `read_function`; the 7.0-rc FUNCTION record is read too).

Written: strings (int encodings for integers of up to 32 bits, LZF above 20 bytes when it
saves at least 4 bytes, as rdbSaveRawString), lists as RDB_TYPE_LIST (one string per element;
redis-server 7.0 loads it into a quicklist), sets as RDB_TYPE_SET_INTSET when intset-encoded
(as Redis; byte for byte the same) else RDB_TYPE_SET. Read: strings, lists
(LIST, LIST_ZIPLIST, LIST_QUICKLIST with ziplist nodes, LIST_QUICKLIST_2 with listpack or
plain nodes), sets (SET, SET_INTSET). Hashes, sorted sets and streams: rdb_<type>.py.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from tandemkv.values.lists import ListValue
from tandemkv.values.sets import SetValue

RDB_VERSION = 10
REDIS_VERSION = b"7.0.15"

# Value types (rdb.h).
TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19

# Opcodes.
OP_FUNCTION2 = 245
OP_FUNCTION = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

_ENC_INT8, _ENC_INT16, _ENC_INT32, _ENC_LZF = 0, 1, 2, 3
_DEADLINE = struct.Struct("<q")  # OP_EXPIRETIME_MS's milliseconds
_FLUSH_BYTES = 1 << 16  # a file writer hands its buffer to the file (and CRC) past this size
_QUICKLIST_PLAIN, _QUICKLIST_PACKED = 1, 2


class RdbError(Exception):
    """The data is not a valid RDB file or payload (or uses a feature not supported)."""


# A key's (LRU idle seconds, LFU counter), either None, as FileWriter.access gives them.
AccessOf = Callable[[bytes], tuple[int | None, int | None]]


class EmptyKey(RdbError):
    """A collection without elements: RESTORE refuses it; a file (Redis before 6.2 could write
    some, redis#8453) has it skipped, as rdbLoad does."""


# ---------------------------------------------------------------------------- CRC-64

def _crc64_table() -> list[int]:
    # Jones polynomial 0xad93d23594c935a9, reflected in and out, init 0, xorout 0 (crc64.c);
    # table for the reflected algorithm: the polynomial bit-reversed.
    poly = int(f"{0xAD93D23594C935A9:064b}"[::-1], 2)
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc64_table()


def _crc64_word_tables() -> list[list[int]]:
    # Slicing by 8: table k gives the effect of a byte at position k of an 8-byte word once
    # the whole word is processed (the CRC of zero bytes is linear in the state).
    def after_zero_bytes(state: int, count: int) -> int:
        for _ in range(count):
            state = _CRC_TABLE[state & 0xFF] ^ (state >> 8)
        return state

    return [[after_zero_bytes(byte << (8 * k), 8) for byte in range(256)] for k in range(8)]


_CRC_WORD_TABLES = _crc64_word_tables()
_LITTLE_ENDIAN = sys.byteorder == "little"  # words read in native order must be little endian
_WORDS_FROM = 64  # inputs this long are read a 64-bit word at a time (about 1.5x faster)


def crc64_reference(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Redis's crc64 (crc64.c) of `data`, continuing from `crc`, in pure Python: the
    reference `crc64` is tested against, and the fallback without anycrc."""
    table = _CRC_TABLE
    view = memoryview(data).cast("B")
    whole = len(view) // 8 * 8 if len(view) >= _WORDS_FROM and _LITTLE_ENDIAN else 0
    if whole:
        t0, t1, t2, t3, t4, t5, t6, t7 = _CRC_WORD_TABLES
        for word in view[:whole].cast("Q"):
            crc ^= word
            crc = (t0[crc & 0xFF] ^ t1[(crc >> 8) & 0xFF] ^ t2[(crc >> 16) & 0xFF] ^ t3[(crc >> 24) & 0xFF]
                   ^ t4[(crc >> 32) & 0xFF] ^ t5[(crc >> 40) & 0xFF] ^ t6[(crc >> 48) & 0xFF] ^ t7[crc >> 56])
    for byte in view[whole:]:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


# ------------------------------------------------------------------------------- LZF

_LZF_MAX_LIT = 32
_LZF_MAX_OFF = 1 << 13
_LZF_MAX_REF = (1 << 8) + (1 << 3)  # longest back reference, in bytes, less 2 (264)
_U32 = 0xFFFFFFFF


def lzf_compress_reference(data: bytes, max_out: int) -> bytes | None:
    """LZF-compress `data` as Redis's lzf_compress does (lzf_c.c built with HLOG 16, VERY_FAST,
    offsets), so a string compresses to the same bytes as in Redis's files and DUMP payloads;
    None when the output would not fit in `max_out` bytes (lzf_compress's 0).

    Gives up early (None) once the output runs ahead of `max_out` pro rata by more than 1 KB,
    so incompressible data costs little: such a string is then stored plain, which any
    reader accepts (Redis tries to the end; only that choice can differ)."""
    n = len(data)
    if n < 3 or not max_out:
        return None if not n or not max_out else _lzf_literals_only(data, max_out)
    table: dict[int, int] = {}
    out = bytearray(1)  # a literal run's length byte, reserved
    lit = 0
    ip = 0
    hval = (data[0] << 8) | data[1]
    while ip < n - 2:
        hval = ((hval << 8) | data[ip + 2]) & _U32
        slot = ((hval >> 8) - hval * 5) & 0xFFFF
        ref = table.get(slot, 0)
        table[slot] = ip
        if (ref and ref < ip and ip - ref - 1 < _LZF_MAX_OFF
                and data[ref] == data[ip] and data[ref + 1] == data[ip + 1] and data[ref + 2] == data[ip + 2]):
            off = ip - ref - 1
            length = 2
            maxlen = min(n - ip - length, _LZF_MAX_REF)
            op = len(out)
            if op + 4 >= max_out and op - (not lit) + 4 >= max_out:
                return None
            if lit:
                out[op - lit - 1] = lit - 1
            else:
                del out[-1]
            matched_all = True
            if maxlen > 16:
                for _ in range(16):
                    length += 1
                    if data[ref + length] != data[ip + length]:
                        matched_all = False
                        break
            if matched_all:
                length += 1
                while length < maxlen and data[ref + length] == data[ip + length]:
                    length += 1
            length -= 2
            ip += 1
            if length < 7:
                out.append((off >> 8) + (length << 5))
            else:
                out.append((off >> 8) + (7 << 5))
                out.append(length - 7)
            out.append(off & 0xFF)
            lit = 0
            out.append(0)
            ip += length + 1
            if ip >= n - 2:
                break
            ip -= 2
            hval = (data[ip] << 8) | data[ip + 1]
            for _ in range(2):
                hval = ((hval << 8) | data[ip + 2]) & _U32
                table[((hval >> 8) - hval * 5) & 0xFFFF] = ip
                ip += 1
        else:
            if len(out) >= max_out:
                return None
            lit += 1
            out.append(data[ip])
            ip += 1
            if lit == _LZF_MAX_LIT:
                out[len(out) - lit - 1] = lit - 1
                lit = 0
                out.append(0)
            if not ip & 4095 and len(out) * n > (max_out + 1024) * ip:
                return None
    if len(out) + 3 > max_out:
        return None
    while ip < n:
        lit += 1
        out.append(data[ip])
        ip += 1
        if lit == _LZF_MAX_LIT:
            out[len(out) - lit - 1] = lit - 1
            lit = 0
            out.append(0)
    if lit:
        out[len(out) - lit - 1] = lit - 1
    else:
        del out[-1]
    return bytes(out) if len(out) <= max_out else None


def _lzf_literals_only(data: bytes, max_out: int) -> bytes | None:
    # Inputs of 1 or 2 bytes: one literal run (lzf_compress's tail loop).
    out = bytes((len(data) - 1,)) + data
    return out if len(out) <= max_out else None


def lzf_decompress_reference(data: bytes, length: int) -> bytes:
    """Decompress LZF `data` (lzf_d.c) into exactly `length` bytes; RdbError if invalid. Pure
    Python: the reference for `lzf_decompress`, and the fallback without python-lzf."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            count = ctrl + 1
            if i + count > n:
                raise RdbError("LZF: literal run past the input")
            out += data[i : i + count]
            i += count
            continue
        count = ctrl >> 5
        if count == 7:
            if i >= n:
                raise RdbError("LZF: truncated back reference")
            count += data[i]
            i += 1
        if i >= n:
            raise RdbError("LZF: truncated back reference")
        start = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        count += 2
        if start < 0:
            raise RdbError("LZF: back reference before the output")
        if start + count <= len(out):
            out += out[start : start + count]
        else:
            for k in range(count):
                out.append(out[start + k])
    if len(out) != length:
        raise RdbError("LZF: wrong decompressed length")
    return bytes(out)


# ------------------------------------------------------------- C-backed CRC-64 and LZF
#
# anycrc (CRC-64/REDIS model, C) and python-lzf (liblzf, C) do the same work 100-1000x
# faster; the pure-Python functions above are the fallback when they are not installed (python-lzf
# is the optional `lzf` extra, which needs a C compiler), and
# tests check both give the same results on random inputs.

# liblzf's output bound checks are looser than Redis's lzf_c.c (which reserves room for the
# reference it is about to write, and 3 bytes at the end), so near `max_out` python-lzf may
# succeed where Redis gives up. Below this margin under `max_out` Redis's checks cannot fail
# and both produce the same bytes; within it the reference decides.
_LZF_BOUND_MARGIN = 6

try:
    from anycrc import Model as _CrcModel
except ImportError:  # pragma: no cover  (anycrc is a dependency; kept working without it)
    crc64 = crc64_reference
else:
    _CRC64_REDIS = _CrcModel("CRC64-REDIS")

    def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
        """Redis's crc64 (crc64.c) of `data`, continuing from `crc`."""
        return _CRC64_REDIS.calc(data, crc)  # type: ignore[no-any-return]

try:
    import lzf as _lzf
except ImportError:  # pragma: no cover  (python-lzf is the optional `lzf` extra: pure Python without it)
    lzf_compress = lzf_compress_reference
    lzf_decompress = lzf_decompress_reference
else:
    def lzf_compress(data: bytes, max_out: int) -> bytes | None:
        """Redis's LZF compression of `data` (see `lzf_compress_reference`): None when it
        would not fit in `max_out` bytes."""
        if len(data) < 3 or max_out <= _LZF_BOUND_MARGIN:
            return lzf_compress_reference(data, max_out)
        packed = _lzf.compress(data, max_out)
        if packed is None or len(packed) <= max_out - _LZF_BOUND_MARGIN:
            return packed  # type: ignore[no-any-return]
        return lzf_compress_reference(data, max_out)

    def lzf_decompress(data: bytes, length: int) -> bytes:
        """Decompress LZF `data` into exactly `length` bytes; RdbError if invalid."""
        if not length:
            return lzf_decompress_reference(data, length)
        try:
            out = _lzf.decompress(data, length)
        except ValueError:
            raise RdbError("LZF: invalid compressed data") from None
        if out is None or len(out) != length:
            raise RdbError("LZF: wrong decompressed length")
        return out  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- writing

def _int_encoding(raw: bytes) -> bytes | None:
    """rdbTryIntegerEncoding: the int8/16/32 form of a decimal that reads back identically."""
    if len(raw) > 11 or not (raw.isdigit() or (raw[:1] == b"-" and raw[1:].isdigit())):
        return None
    value = int(raw)
    if str(value).encode() != raw:
        return None
    if -(1 << 7) <= value < 1 << 7:
        return bytes((0xC0 | _ENC_INT8,)) + struct.pack("<b", value)
    if -(1 << 15) <= value < 1 << 15:
        return bytes((0xC0 | _ENC_INT16,)) + struct.pack("<h", value)
    if -(1 << 31) <= value < 1 << 31:
        return bytes((0xC0 | _ENC_INT32,)) + struct.pack("<i", value)
    return None


def encode_length(n: int) -> bytes:
    if n < 1 << 6:
        return bytes((n,))
    if n < 1 << 14:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


class Writer:
    """Appends RDB items to `buf`; `compress` is Redis's rdbcompression."""

    __slots__ = ("buf", "compress")

    def __init__(self, compress: bool = True) -> None:
        self.buf = bytearray()
        self.compress = compress

    def byte(self, value: int) -> None:
        self.buf.append(value)

    def length(self, n: int) -> None:
        self.buf += encode_length(n)

    def string(self, raw: bytes) -> None:
        """rdbSaveRawString: int encoding, else LZF (if it pays), else length + bytes."""
        buf = self.buf
        n = len(raw)
        if n <= 11 and (raw.isdigit() or raw[:1] == b"-"):
            encoded = _int_encoding(raw)
            if encoded is not None:
                buf += encoded
                return
        if n < 64 and (n <= 20 or not self.compress):  # short: no LZF (as Redis), 6-bit length
            buf.append(n)
            buf += raw
            return
        if self.compress and n > 20:
            packed = lzf_compress(raw, n - 4)
            if packed is not None:
                buf.append(0xC0 | _ENC_LZF)
                buf += encode_length(len(packed))
                buf += encode_length(n)
                buf += packed
                return
        buf += encode_length(n)
        buf += raw


def _save_string(w: Writer, value: bytes) -> None:
    w.string(value)


def _save_bytearray(w: Writer, value: bytearray) -> None:
    w.string(bytes(value))  # the same bytes as the string it holds, as Redis saves a raw sds


def _save_list(w: Writer, value: ListValue) -> None:
    w.length(len(value))
    for item in value:
        w.string(item)


def intset_blob(members: Iterable[bytes]) -> bytes:
    """An intset (intset.c): the narrowest width (2, 4 or 8 bytes) holding every integer,
    the count, then the integers ascending, little endian."""
    numbers = sorted(int(member) for member in members)
    if not numbers or (numbers[0] >= -(1 << 15) and numbers[-1] < 1 << 15):
        width, code = 2, "h"
    elif numbers[0] >= -(1 << 31) and numbers[-1] < 1 << 31:
        width, code = 4, "i"
    else:
        width, code = 8, "q"
    return struct.pack(f"<II{len(numbers)}{code}", width, len(numbers), *numbers)


def _save_set(w: Writer, value: SetValue) -> None:
    if value.intset:
        w.string(intset_blob(value.members))
        return
    w.length(len(value))
    for member in value.members:
        w.string(member)


def _set_type(value: SetValue) -> int:
    return TYPE_SET_INTSET if value.intset else TYPE_SET


SAVERS: dict[type, tuple[int | Callable[[Any], int], Callable[[Writer, Any], None]]] = {
    bytes: (TYPE_STRING, _save_string),
    bytearray: (TYPE_STRING, _save_bytearray),  # a string changed in place (commands/bitmaps.py)
    ListValue: (TYPE_LIST, _save_list),
    SetValue: (_set_type, _save_set),
}


def register_saver(cls: type, rdb_type: int | Callable[[Any], int], save: Callable[[Writer, Any], None]) -> None:
    """The type byte (or a function of the value giving it, for types with two encodings)
    and the writer of one value class."""
    SAVERS[cls] = (rdb_type, save)


def _type_byte(saver: tuple[int | Callable[[Any], int], Callable[[Writer, Any], None]], value: object) -> int:
    rdb_type = saver[0]
    return rdb_type if rdb_type.__class__ is int else rdb_type(value)  # type: ignore[operator,return-value]


def can_save(value: object) -> bool:
    return value.__class__ in SAVERS


def write_object(w: Writer, value: object) -> None:
    """The type byte and the serialized value (rdbSaveObjectType + rdbSaveObject)."""
    saver = SAVERS.get(value.__class__)
    if saver is None:
        raise RdbError(f"no RDB serialization for {value.__class__.__name__}")
    w.byte(_type_byte(saver, value))
    saver[1](w, value)


def dump_payload(value: object, compress: bool = True) -> bytes:
    """DUMP's payload: the object, the RDB version (2 bytes LE) and the CRC-64 (8 bytes LE)."""
    w = Writer(compress)
    write_object(w, value)
    w.buf += struct.pack("<H", RDB_VERSION)
    w.buf += struct.pack("<Q", crc64(w.buf))
    return bytes(w.buf)


@dataclass
class DbSnapshot:
    """One database to write: its index, key count, volatile count, (key, value, deadline)
    and, under an LRU or LFU policy, its keys' access figures (FileWriter.access)."""

    index: int
    size: int
    expires: int
    items: Iterable[tuple[bytes, object, int | None]]
    access: AccessOf | None = None


class FileWriter:
    """Writes an RDB file to `out` piece by piece, keeping the running CRC-64.

    Entries gather in `w.buf`, which goes to the file (and through the CRC) once it holds
    `flush_at` bytes; with `flush_at` None, only when the caller says (`flush_some`,
    `flush`): a background snapshot spends its time budget on the CRC a chunk at a time
    (crc64's pure-Python fallback, without anycrc, costs about 140 ns a byte: 9 ms for 64 KB).
    With `checksum` False (rdbchecksum no) no CRC is computed and the file ends with 0, as
    Redis writes it then."""

    def __init__(self, out: BinaryIO, compress: bool = True, flush_at: int | None = _FLUSH_BYTES) -> None:
        self.out = out
        self.checksum = True
        # Under an LRU or LFU policy, a key's (idle seconds, None) or (None, LFU counter) in the
        # database being written, which Redis stores before the key (OP_IDLE, OP_FREQ).
        self.access: AccessOf | None = None
        self.crc = 0
        self.w = Writer(compress)
        self.flush_at = flush_at
        self.written_bytes = 0  # bytes handed to `out` so far

    def flush(self) -> None:
        buf = self.w.buf
        if buf:
            if self.checksum:
                self.crc = crc64(buf, self.crc)
            self.out.write(buf)
            self.written_bytes += len(buf)
            self.w.buf = bytearray()

    def flush_some(self, limit: int) -> int:
        """Hand at most `limit` bytes of the buffer to `out`; returns how many."""
        buf = self.w.buf
        if len(buf) <= limit:
            count = len(buf)
            self.flush()
            return count
        with memoryview(buf) as view:
            chunk = view[:limit]
            if self.checksum:
                self.crc = crc64(chunk, self.crc)
            self.out.write(chunk)
            chunk.release()
        del buf[:limit]
        self.written_bytes += limit
        return limit

    def _flush_if_full(self) -> None:
        if self.flush_at is not None and len(self.w.buf) >= self.flush_at:
            self.flush()

    def header(self, aux: Iterable[tuple[bytes, bytes]]) -> None:
        w = self.w
        w.buf += b"REDIS%04d" % RDB_VERSION
        for name, value in aux:
            w.byte(OP_AUX)
            w.string(name)
            w.string(value)

    def functions(self, codes: Iterable[bytes]) -> None:
        """The function libraries, before the databases (rdbSaveFunctions)."""
        write_functions(self.w, codes)

    def select(self, index: int, size: int | None, expires: int = 0) -> None:
        """SELECTDB, then RESIZEDB unless `size` is None (a database selected again: a
        background snapshot interleaves databases; loaders accept SELECTDB anywhere)."""
        w = self.w
        w.byte(OP_SELECTDB)
        w.length(index)
        if size is not None:
            w.byte(OP_RESIZEDB)
            w.length(size)
            w.length(expires)

    def entry(self, key: bytes, value: object, deadline_ms: int | None) -> None:
        """One key: `entry_header` and the value, inlined for strings (most keys); its LRU
        idle time or LFU counter first when `access` says (rdbSaveKeyValuePair)."""
        w = self.w
        if self.access is not None:
            if deadline_ms is not None:
                w.byte(OP_EXPIRETIME_MS)
                w.buf += _DEADLINE.pack(deadline_ms)
                deadline_ms = None
            idle_s, freq = self.access(key)
            if idle_s is not None:
                w.byte(OP_IDLE)
                w.length(idle_s)
            if freq is not None:
                w.byte(OP_FREQ)
                w.byte(freq)
        if value.__class__ is bytes:
            buf = w.buf
            if deadline_ms is not None:
                buf.append(OP_EXPIRETIME_MS)
                buf += _DEADLINE.pack(deadline_ms)
            buf.append(TYPE_STRING)
            w.string(key)
            w.string(value)  # type: ignore[arg-type]
        else:
            saver = SAVERS.get(value.__class__)
            if saver is None:
                raise RdbError(f"no RDB serialization for {value.__class__.__name__}")
            entry_header(w, key, _type_byte(saver, value), deadline_ms)
            saver[1](w, value)
        self._flush_if_full()

    def raw(self, data: bytes | bytearray) -> None:
        """Bytes serialized elsewhere (an entry written in slices: persistence/snapshot.py)."""
        self.w.buf += data
        self._flush_if_full()

    def finish(self) -> None:
        self.w.byte(OP_EOF)
        self.flush()
        self.out.write(struct.pack("<Q", self.crc))


def write_functions(w: Writer, codes: Iterable[bytes]) -> None:
    """One RDB_OPCODE_FUNCTION2 record (the opcode and the code as a string) per library."""
    for code in codes:
        w.byte(OP_FUNCTION2)
        w.string(code)


def read_function(r: Reader, opcode: int) -> bytes:
    """The library code of a function record whose opcode was just read (rdbFunctionLoad):
    FUNCTION2 holds the code; FUNCTION (7.0 release candidates) name, engine, an optional
    description and the code without its shebang, which is rebuilt. RdbError with Redis's
    text when a part cannot be read."""
    if opcode == OP_FUNCTION2:
        return _read_part(r, "Failed loading library payload")
    name = _read_part(r, "Failed loading library name")
    engine = _read_part(r, "Failed loading engine name")
    try:
        has_description = r.length()
    except RdbError:
        raise RdbError("Failed loading library description indicator") from None
    if has_description:
        _read_part(r, "Failed loading library description")
    blob = _read_part(r, "Failed loading library blob")
    return b"#!%s name=%s\n%s" % (engine, name, blob)


def _read_part(r: Reader, failure: str) -> bytes:
    try:
        return r.string()
    except RdbError:
        raise RdbError(failure) from None


def entry_header(w: Writer, key: bytes, rdb_type: int, deadline_ms: int | None) -> None:
    """What precedes a key's value: its expire time (if any), type byte and name."""
    if deadline_ms is not None:
        w.byte(OP_EXPIRETIME_MS)
        w.buf += _DEADLINE.pack(deadline_ms)
    w.byte(rdb_type)
    w.string(key)


def aux_fields(ctime_s: int, used_mem: int) -> list[tuple[bytes, bytes]]:
    """The aux fields redis-server 7.0 writes first (rdbSaveInfoAuxFields)."""
    return [
        (b"redis-ver", REDIS_VERSION),
        (b"redis-bits", b"64"),
        (b"ctime", str(ctime_s).encode()),
        (b"used-mem", str(used_mem).encode()),
        (b"aof-base", b"0"),
    ]


def write_file(out: BinaryIO, dbs: Iterable[DbSnapshot], aux: Iterable[tuple[bytes, bytes]],
               compress: bool = True, functions: Iterable[bytes] = (), checksum: bool = True) -> None:
    """A whole RDB file: header, aux fields, function libraries, each non-empty db, EOF and
    checksum (0 unless `checksum`)."""
    writer = FileWriter(out, compress)
    writer.checksum = checksum
    writer.header(aux)
    writer.functions(functions)
    for db in dbs:
        if not db.size:
            continue
        writer.select(db.index, db.size, db.expires)
        writer.access = db.access
        for key, value, deadline in db.items:
            writer.entry(key, value, deadline)
    writer.finish()


# --------------------------------------------------------------------------- reading

@dataclass
class Limits:
    """The configuration a loaded value's encoding depends on."""

    set_max_intset_entries: int = 512
    extra: dict[str, int] = field(default_factory=dict)


class Reader:
    """Reads RDB items from a bytes buffer."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise RdbError("Unexpected EOF reading RDB file")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise RdbError("Unexpected EOF reading RDB file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def length_or_encoding(self) -> tuple[int, bool]:
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if first == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise RdbError(f"Unknown length encoding {first} in rdbLoadLen()")

    def length(self) -> int:
        n, encoded = self.length_or_encoding()
        if encoded:
            raise RdbError("Unexpected encoded length")
        return n

    def string(self) -> bytes:
        data, pos = self.data, self.pos
        if pos < len(data) and data[pos] < 0x40:  # the common case: a 6-bit length, plain bytes
            end = pos + 1 + data[pos]
            if end <= len(data):
                self.pos = end
                return data[pos + 1 : end]
        n, encoded = self.length_or_encoding()
        if not encoded:
            return self.take(n)
        if n == _ENC_INT8:
            return str(struct.unpack("<b", self.take(1))[0]).encode()
        if n == _ENC_INT16:
            return str(struct.unpack("<h", self.take(2))[0]).encode()
        if n == _ENC_INT32:
            return str(struct.unpack("<i", self.take(4))[0]).encode()
        if n == _ENC_LZF:
            packed_len = self.length()
            length = self.length()
            return lzf_decompress(self.take(packed_len), length)
        raise RdbError(f"Unknown RDB string encoding type {n}")


def _load_string(r: Reader, limits: Limits) -> object:
    return r.string()


def _load_list(r: Reader, limits: Limits) -> object:
    return ListValue([r.string() for _ in range(r.length())])


def _load_set(r: Reader, limits: Limits) -> object:
    count = r.length()
    members = [r.string() for _ in range(count)]
    value = SetValue(members, limits.set_max_intset_entries)
    if len(value) != count:
        raise RdbError("Duplicate set members detected")
    return value


def intset_members(blob: bytes) -> list[bytes]:
    """The integers of an intset (intset.c: encoding u32, length u32, sorted LE integers)."""
    if len(blob) < 8:
        raise RdbError("Intset integrity check failed.")
    width, count = struct.unpack_from("<II", blob)
    formats = {2: "h", 4: "i", 8: "q"}
    if width not in formats or len(blob) != 8 + width * count:
        raise RdbError("Intset integrity check failed.")
    return [str(v).encode() for v in struct.unpack_from(f"<{count}{formats[width]}", blob, 8)]


def _load_set_intset(r: Reader, limits: Limits) -> object:
    return SetValue(intset_members(r.string()), limits.set_max_intset_entries)


def ziplist_entries(blob: bytes, kind: str = "Ziplist") -> list[bytes]:
    """The entries of a ziplist (ziplist.c), integers as their decimal strings; checked as
    ziplistValidateIntegrity does deeply: the header's size, tail offset and count, and each
    entry's record of the previous entry's size. `kind` names it in the error, as
    rdbLoadObject does ("Zset ziplist integrity check failed.")."""
    corrupt = RdbError(f"{kind} integrity check failed.")
    if len(blob) < 11 or struct.unpack_from("<I", blob)[0] != len(blob) or blob[-1] != 0xFF:
        raise corrupt
    tail, header_count = struct.unpack_from("<IH", blob, 4)
    out: list[bytes] = []
    pos, end = 10, len(blob) - 1
    last = previous_size = 0
    try:
        while pos < end:
            last = pos
            if blob[pos] == 0xFE:
                recorded, pos = struct.unpack_from("<I", blob, pos + 1)[0], pos + 5
            else:
                recorded, pos = blob[pos], pos + 1
            if recorded != previous_size:
                raise corrupt
            enc = blob[pos]
            kind = enc >> 6
            if kind == 0:
                n, pos = enc & 0x3F, pos + 1
            elif kind == 1:
                n, pos = ((enc & 0x3F) << 8) | blob[pos + 1], pos + 2
            elif kind == 2:
                n, pos = struct.unpack_from(">I", blob, pos + 1)[0], pos + 5
            else:
                pos += 1
                if enc == 0xC0:
                    value, pos = struct.unpack_from("<h", blob, pos)[0], pos + 2
                elif enc == 0xD0:
                    value, pos = struct.unpack_from("<i", blob, pos)[0], pos + 4
                elif enc == 0xE0:
                    value, pos = struct.unpack_from("<q", blob, pos)[0], pos + 8
                elif enc == 0xF0:
                    value, pos = int.from_bytes(blob[pos : pos + 3], "little", signed=True), pos + 3
                elif enc == 0xFE:
                    value, pos = struct.unpack_from("<b", blob, pos)[0], pos + 1
                elif 0xF1 <= enc <= 0xFD:
                    value = (enc & 0x0F) - 1
                else:
                    raise corrupt
                if pos > end:
                    raise corrupt
                out.append(str(value).encode())
                previous_size = pos - last
                continue
            if pos + n > end:
                raise corrupt
            out.append(blob[pos : pos + n])
            pos += n
            previous_size = pos - last
    except (IndexError, struct.error):
        raise corrupt from None
    if pos != end or (out and tail != last) or (header_count != 0xFFFF and header_count != len(out)):
        raise corrupt
    return out


_SMALL_DECIMALS = [str(n).encode() for n in range(128)]  # listpack's 7-bit integers as read


def _backlen_size(n: int) -> int:
    return 1 if n <= 127 else 2 if n < 16383 else 3 if n < 2097151 else 4 if n < 268435455 else 5


def _backlen(n: int) -> bytes:
    """lpEncodeBacklen: an entry's size, written to be read backwards, 7 bits a byte."""
    size = _backlen_size(n)
    if size == 1:
        return bytes((n,))
    top = 7 * (size - 1)
    return bytes([n >> top, *[(n >> shift) & 127 | 128 for shift in range(top - 7, -1, -7)]])


def check_listpack(blob: bytes, corrupt: RdbError) -> int:
    """A listpack's total size and terminator (raises `corrupt` if wrong); its header's
    element count (0xFFFF: not counted)."""
    if len(blob) < 7 or struct.unpack_from("<I", blob)[0] != len(blob) or blob[-1] != 0xFF:
        raise corrupt
    return struct.unpack_from("<H", blob, 4)[0]  # type: ignore[no-any-return]


_LP_INT_WIDTHS = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}


def listpack_element(blob: bytes, pos: int) -> tuple[bytes | int, int]:
    """The listpack element at `pos` (an integer as an int) and the position after its
    back-length, checked as lpValidateIntegrity does (inside the blob, the back-length equal
    to the element's size). Raises IndexError (or struct.error) for an element that is not
    valid: callers turn it into their type's integrity error."""
    enc = blob[pos]
    value: bytes | int
    if enc < 0x80:
        value, size = enc, 1
    elif enc < 0xC0:
        n = enc & 0x3F
        value, size = blob[pos + 1 : pos + 1 + n], 1 + n
    elif enc < 0xE0:
        number = ((enc & 0x1F) << 8) | blob[pos + 1]
        value, size = number - (1 << 13) if number >= 1 << 12 else number, 2
    elif enc < 0xF0:
        n = ((enc & 0x0F) << 8) | blob[pos + 1]
        value, size = blob[pos + 2 : pos + 2 + n], 2 + n
    elif enc == 0xF0:
        n = struct.unpack_from("<I", blob, pos + 1)[0]
        value, size = blob[pos + 5 : pos + 5 + n], 5 + n
    elif enc in _LP_INT_WIDTHS:
        width = _LP_INT_WIDTHS[enc]
        value, size = int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True), 1 + width
    else:
        raise IndexError(pos)
    pos += size
    backlen = _backlen(size)
    if pos + len(backlen) >= len(blob) or blob[pos : pos + len(backlen)] != backlen:
        raise IndexError(pos)
    return value, pos + len(backlen)


def listpack_entries(blob: bytes, kind: str = "Listpack") -> list[bytes]:
    """The entries of a listpack (listpack.c), integers as their decimal strings; checked as
    lpValidateIntegrity does deeply: the header's size and count, each entry inside the blob
    and followed by its own size (the back-length)."""
    corrupt = RdbError(f"{kind} integrity check failed.")  # `kind`: as for ziplist_entries
    header_count = check_listpack(blob, corrupt)
    out: list[bytes] = []
    append = out.append
    decimals = _SMALL_DECIMALS
    pos, end = 6, len(blob) - 1
    try:
        while pos < end:
            enc = blob[pos]
            # The common elements in line: their back-length is one byte, their size.
            if enc < 0x80:  # 7-bit unsigned integer
                if blob[pos + 1] != 1:
                    raise corrupt
                append(decimals[enc])
                pos += 2
            elif enc < 0xC0:  # string of a 6-bit length
                n = enc & 0x3F
                if blob[pos + 1 + n] != 1 + n:
                    raise corrupt
                append(blob[pos + 1 : pos + 1 + n])
                pos += 2 + n
            else:
                value, pos = listpack_element(blob, pos)
                append(value if value.__class__ is bytes else b"%d" % value)  # type: ignore[str-bytes-safe]
    except (IndexError, struct.error):
        raise corrupt from None
    if pos != end or (header_count != 0xFFFF and header_count != len(out)):
        raise corrupt
    return out


def _load_list_ziplist(r: Reader, limits: Limits) -> object:
    return ListValue(ziplist_entries(r.string(), "List ziplist"))


def _load_quicklist(r: Reader, limits: Limits) -> object:
    items: list[bytes] = []
    for _ in range(r.length()):
        items += ziplist_entries(r.string())
    return ListValue(items)


def _load_quicklist_2(r: Reader, limits: Limits) -> object:
    items: list[bytes] = []
    for _ in range(r.length()):
        container = r.length()
        blob = r.string()
        if not blob:  # a node is never empty (rdbLoadObject refuses encoded_len 0)
            raise RdbError("Quicklist integrity check failed.")
        if container == _QUICKLIST_PLAIN:
            items.append(blob)
        elif container == _QUICKLIST_PACKED:
            items += listpack_entries(blob)
        else:
            raise RdbError("Quicklist integrity check failed.")
    return ListValue(items)


LOADERS: dict[int, Callable[[Reader, Limits], object]] = {
    TYPE_STRING: _load_string,
    TYPE_LIST: _load_list,
    TYPE_SET: _load_set,
    TYPE_SET_INTSET: _load_set_intset,
    TYPE_LIST_ZIPLIST: _load_list_ziplist,
    TYPE_LIST_QUICKLIST: _load_quicklist,
    TYPE_LIST_QUICKLIST_2: _load_quicklist_2,
}


# A stream may be empty (its groups and IDs are still state); other types never are.
_MAY_BE_EMPTY = (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2)


def register_loader(rdb_type: int, load: Callable[[Reader, Limits], object]) -> None:
    LOADERS[rdb_type] = load


def read_object(r: Reader, rdb_type: int, limits: Limits) -> object:
    loader = LOADERS.get(rdb_type)
    if loader is None:
        raise RdbError(f"Unsupported RDB object type {rdb_type}")
    value = loader(r, limits)
    if value.__class__ is not bytes and not len(value) and rdb_type not in _MAY_BE_EMPTY:  # type: ignore[arg-type]
        raise EmptyKey("Empty keys skipped")
    return value


def verify_payload(payload: bytes, check_crc: bool = True) -> bool:
    """verifyDumpPayload: a known RDB version and (unless not `check_crc`) a matching CRC-64
    footer."""
    if len(payload) < 10:
        return False
    version = struct.unpack_from("<H", payload, len(payload) - 10)[0]
    if version > RDB_VERSION:
        return False
    if not check_crc:
        return True
    return struct.unpack_from("<Q", payload, len(payload) - 8)[0] == crc64(memoryview(payload)[:-8])


def load_payload(payload: bytes, limits: Limits) -> object:
    """The value of a verified DUMP payload. As Redis's RESTORE, the value is read from the
    start of the whole payload (footer included) and bytes left over are not an error."""
    r = Reader(payload)
    return read_object(r, r.byte(), limits)


@dataclass(slots=True)
class LoadedKey:
    """A key read from a file; `end` is the offset in the file just after it (progress)."""

    db: int
    key: bytes
    value: object
    deadline_ms: int | None
    idle_s: int | None = None
    freq: int | None = None
    end: int = 0


def read_file(data: bytes, limits: Limits, aux: dict[bytes, bytes] | None = None,
              functions: list[bytes] | None = None,
              on_resize: Callable[[int, int], None] | None = None) -> Iterator[LoadedKey]:
    """Every key of an RDB file in order (`read_records` as LoadedKey objects)."""
    for record in read_records(data, limits, aux, functions, on_resize):
        yield LoadedKey(*record)


# What `read_records` yields for a key: (db, key, value, deadline_ms, idle_s, freq, end), the
# fields of a LoadedKey as a plain tuple (no Python-level constructor per key).
KeyRecord = tuple[int, bytes, object, int | None, int | None, int | None, int]


def read_records(data: bytes, limits: Limits, aux: dict[bytes, bytes] | None = None,
                 functions: list[bytes] | None = None,
                 on_resize: Callable[[int, int], None] | None = None,
                 on_empty: Callable[[bytes], None] | None = None,
                 check_crc: bool = True) -> Iterator[KeyRecord]:
    """Every key of an RDB file in order. Checks the magic, the version and (with
    `check_crc`: rdbchecksum yes and no DEBUG SET-SKIP-CHECKSUM-VALIDATION) the checksum first
    (a stored checksum of 0 means "not computed", as rdbchecksum no), so nothing is yielded
    from a corrupt file. Aux fields go to `aux`, function libraries' codes to `functions`
    (RdbError if the file has some and `functions` is None), each RESIZEDB's (db, key count)
    to `on_resize`, the name of each empty collection skipped to `on_empty` (without it, an
    empty collection is an error)."""
    if len(data) < 9 or data[:5] != b"REDIS" or not data[5:9].isdigit():
        raise RdbError("Wrong signature trying to load DB from file")
    version = int(data[5:9])
    if version < 1 or version > RDB_VERSION:
        raise RdbError(f"Can't handle RDB format version {version}")
    if version >= 5:
        if len(data) < 18:
            raise RdbError("Unexpected EOF reading RDB file")
        stored = struct.unpack_from("<Q", data, len(data) - 8)[0]
        if stored and check_crc and stored != (computed := crc64(memoryview(data)[:-8])):
            raise RdbError(f"Wrong RDB checksum expected: ({computed:x}) but got ({stored:x}): RDB CRC error")
    r = Reader(data[:-8] if version >= 5 else data, 9)
    db = 0
    deadline: int | None = None
    idle: int | None = None
    freq: int | None = None
    body = r.data
    end = len(body)
    while True:
        pos = r.pos
        if pos >= end:
            raise RdbError("Unexpected EOF reading RDB file")
        op = body[pos]
        r.pos = pos + 1
        if op < OP_FUNCTION2:  # a value's type byte: the common case first
            # Most keys are strings of a 6-bit length, and so are the values of most strings:
            # read in line; anything else by the Reader (short input included: it raises).
            n = body[pos + 1] if pos + 1 < end else 0xFF
            if n < 0x40 and pos + 2 + n <= end:
                key = body[pos + 2 : pos + 2 + n]
                r.pos = pos + 2 + n
            else:
                key = r.string()
            if op == TYPE_STRING:
                pos = r.pos
                n = body[pos] if pos < end else 0xFF
                if n < 0x40 and pos + 1 + n <= end:
                    value = body[pos + 1 : pos + 1 + n]
                    r.pos = pos + 1 + n
                else:
                    value = r.string()
            else:
                try:
                    value = read_object(r, op, limits)
                except EmptyKey:
                    if on_empty is None:
                        raise
                    on_empty(key)
                    deadline = idle = freq = None
                    continue
            yield db, key, value, deadline, idle, freq, r.pos
            deadline = idle = freq = None
        elif op == OP_EOF:
            break
        elif op == OP_AUX:
            name, value = r.string(), r.string()
            if aux is not None:
                aux[name] = value
        elif op == OP_SELECTDB:
            db = r.length()
        elif op == OP_RESIZEDB:
            keys = r.length()
            r.length()
            if on_resize is not None:
                on_resize(db, keys)
        elif op == OP_EXPIRETIME_MS:
            deadline = struct.unpack("<q", r.take(8))[0]
        elif op == OP_EXPIRETIME:
            deadline = struct.unpack("<i", r.take(4))[0] * 1000
        elif op == OP_IDLE:
            idle = r.length()
        elif op == OP_FREQ:
            freq = r.byte()
        elif op in (OP_FUNCTION, OP_FUNCTION2):
            code = read_function(r, op)
            if functions is None:
                raise RdbError("this RDB file holds functions, which are not loaded here")
            functions.append(code)
        else:
            raise RdbError("modules in RDB files are not supported")
    if r.pos != len(r.data):
        raise RdbError("Unexpected data after the end of the RDB file")
