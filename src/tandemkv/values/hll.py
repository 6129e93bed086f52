"""HyperLogLog strings, byte for byte as Redis 7.0 writes them (hyperloglog.c).

A HyperLogLog is an ordinary string value, so GET, SET, DUMP and RDB files carry it unchanged
between tandemkv and redis-server. Layout:

    "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | cached cardinality (8 bytes, little
    endian; bit 7 of the last byte set = cache invalid) | registers

- Dense: 16384 registers of 6 bits, packed from the least significant bit of each byte
  (12304 bytes in all).
- Sparse: run-length opcodes, ZERO `00xxxxxx` (1..64 zero registers), XZERO `01xxxxxx yyyyyyyy`
  (1..16384 zero registers), VAL `1vvvvvxx` (1..4 registers of value 1..32). A sparse HLL is
  promoted to dense when a register needs a value above 32 or an edit would grow the string
  past `hll-sparse-max-bytes`.

Every edit follows Redis's algorithm step by step (hllSparseSet's split and merge of opcodes,
the promotion points, which edits invalidate the cached cardinality), because the bytes are
observable. Corrupted values behave as in Redis too: the same checks, at the same points,
raise `CorruptHll`, and nothing here reads out of bounds or loops without end.

Speed, in pure Python: a command decodes sparse opcodes once into a list of their bytes with,
per byte, the first register of its opcode (bisect finds the opcode of a register), edits
the lists, and encodes once (`bytes(list)`). Dense registers are read and written two bytes
at a time; whole register sets are unpacked, packed, merged and counted with big-integer
lane arithmetic (`unpack_dense`, `pack_dense`, `max_registers`) instead of per-register loops.
"""

from __future__ import annotations

import math
import operator
import re
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate, islice
from random import Random

MAGIC = b"HYLL"
HEADER_BYTES = 16
REGISTERS = 16384
INDEX_MASK = REGISTERS - 1
DENSE_REGISTER_BYTES = REGISTERS * 6 // 8  # 12288
DENSE_BYTES = HEADER_BYTES + DENSE_REGISTER_BYTES  # 12304
DENSE = 0
SPARSE = 1
CACHE_INVALID = 0x80  # in the last byte of the cached cardinality (offset 15)
REGISTER_MAX = 63
SPARSE_VALUE_MAX = 32
_SPARSE_VAL_LEN_MAX = 4
_SPARSE_ZERO_LEN_MAX = 64
_XZERO_LEN_MAX = 16384
_Q = 50  # hash bits left for the run of zeros after the 14 index bits
_ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)

_SEED = 0xADC83B19
_M = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1

# A new HLL: sparse, one XZERO opcode covering all 16384 registers.
EMPTY = MAGIC + bytes([SPARSE]) + bytes(11) + bytes([0x40 | (_XZERO_LEN_MAX - 1) >> 8, (_XZERO_LEN_MAX - 1) & 0xFF])


class CorruptHll(Exception):
    """The value claims to be a HyperLogLog but its registers cannot be read
    (Redis's "-INVALIDOBJ Corrupted HLL object detected")."""


def is_hll(value: bytes | bytearray) -> bool:
    """Redis's isHLLObjectOrReply checks for a string: long enough, "HYLL", a known encoding,
    and a dense one exactly DENSE_BYTES long. (The opcodes are checked as they are read.)"""
    return (
        len(value) >= HEADER_BYTES
        and value[:4] == MAGIC
        and value[4] <= SPARSE
        and (value[4] == SPARSE or len(value) == DENSE_BYTES)
    )


# ------------------------------------------------------------------ hashing


_H0 = [_SEED ^ (length * _M & _MASK64) for length in range(16)]  # the seed mixed with short lengths


def murmurhash64a(
    data: bytes, _m: int = _M, _mask: int = _MASK64, _from_bytes=int.from_bytes, _h0: list[int] = _H0
) -> int:
    """MurmurHash64A with Redis's seed (little-endian 8-byte blocks). The defaults are
    constants bound as locals: this runs once per PFADD element.

    A multiplication modulo 2**64 depends only on its operand modulo 2**64, so the mask is
    applied only before a right shift."""
    length = len(data)
    if length < 16:  # most elements: no loop
        if length >= 8:
            k = _from_bytes(data[:8], "little") * _m & _mask
            h = (_h0[length] ^ (k ^ k >> 47) * _m) * _m
            if length > 8:
                h = (h ^ _from_bytes(data[8:], "little")) * _m
            h &= _mask
        elif length:
            h = (_h0[length] ^ _from_bytes(data, "little")) * _m & _mask
        else:
            h = _h0[0]
    else:
        h = _SEED ^ (length * _m & _mask)
        tail = length & ~7
        for offset in range(0, tail, 8):
            k = _from_bytes(data[offset : offset + 8], "little") * _m & _mask
            h = (h ^ (k ^ k >> 47) * _m) * _m & _mask
        if length & 7:
            h = (h ^ _from_bytes(data[tail:], "little")) * _m & _mask
    h ^= h >> 47
    h = h * _m & _mask
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """Redis's hllPatLen: (register index, length of the 0...01 run after the index bits)."""
    h = murmurhash64a(element)
    run = h >> 14 | 1 << _Q
    return h & INDEX_MASK, (run & -run).bit_length()


# ------------------------------------------------------------ dense registers


def dense_get(value: bytes | bytearray, index: int) -> int:
    """Register `index` of a dense HLL (header included in `value`)."""
    offset = HEADER_BYTES + (index * 6 >> 3)
    shift = index * 6 & 7
    if shift <= 2:  # the register lies in one byte (the last register always does)
        return value[offset] >> shift & REGISTER_MAX
    return (value[offset] | value[offset + 1] << 8) >> shift & REGISTER_MAX


def dense_set(value: bytearray, index: int, count: int) -> bool:
    """Redis's hllDenseSet: raise register `index` to `count` if lower; True if it changed."""
    offset = HEADER_BYTES + (index * 6 >> 3)
    shift = index * 6 & 7
    if shift <= 2:
        byte = value[offset]
        if count <= byte >> shift & REGISTER_MAX:
            return False
        value[offset] = byte & ~(REGISTER_MAX << shift) & 0xFF | count << shift
        return True
    word = value[offset] | value[offset + 1] << 8
    if count <= word >> shift & REGISTER_MAX:
        return False
    word = word & ~(REGISTER_MAX << shift) | count << shift
    value[offset] = word & 0xFF
    value[offset + 1] = word >> 8
    return True


def dense_add_one(value: bytes | bytearray, element: bytes) -> bytes | None:
    """PFADD of one element to a dense HLL: the new value (cache invalidated), or None if no
    register changed. The hot path of PFADD on a big HLL."""
    h = murmurhash64a(element)
    run = h >> 14 | 1 << _Q
    count = (run & -run).bit_length()
    index = h & INDEX_MASK
    offset = HEADER_BYTES + (index * 6 >> 3)
    shift = index * 6 & 7
    if shift <= 2:
        if count <= value[offset] >> shift & REGISTER_MAX:
            return None
    elif count <= (value[offset] | value[offset + 1] << 8) >> shift & REGISTER_MAX:
        return None
    changed = bytearray(value)
    dense_set(changed, index, count)
    changed[15] |= CACHE_INVALID
    return bytes(changed)


def new_with_one(element: bytes, sparse_max_bytes: int) -> bytes | None:
    """PFADD of one element to a key that does not exist: the new sparse HLL, as Redis's
    split of the single XZERO builds it; None when Redis would make it dense (a run above
    32, or a string longer than `sparse_max_bytes`)."""
    index, count = pattern(element)
    if count > SPARSE_VALUE_MAX:
        return None
    ops = _zero_run(index) if index else []
    ops.append(_val(count, 1))
    if index != INDEX_MASK:
        ops += _zero_run(INDEX_MASK - index)
    if HEADER_BYTES + len(ops) > sparse_max_bytes:  # the split always grows the string
        return None
    return _NEW_HEADER + bytes(ops)


_NEW_HEADER = EMPTY[:15] + bytes([CACHE_INVALID])


# Byte-lane masks for the 4096-byte integers of `unpack_dense` / `pack_dense`.
def _lanes(byte: int, count: int) -> int:
    return int.from_bytes(bytes([byte]) * count, "little")


_THIRD = DENSE_REGISTER_BYTES // 3  # 4096: bytes of each of the three byte columns
_L03, _L0F, _L3F, _L30, _L3C, _LC0, _LF0, _LFC = (
    _lanes(b, _THIRD) for b in (0x03, 0x0F, 0x3F, 0x30, 0x3C, 0xC0, 0xF0, 0xFC)
)


def unpack_dense(registers: bytes | bytearray | memoryview) -> bytearray:
    """The 12288 packed bytes of dense registers as 16384 bytes, one register each.

    Every 3 bytes hold 4 registers; the three byte columns are turned into integers and the
    four register columns cut out of them with shifts and per-byte masks."""
    b0 = int.from_bytes(registers[0::3], "little")
    b1 = int.from_bytes(registers[1::3], "little")
    b2 = int.from_bytes(registers[2::3], "little")
    raw = bytearray(REGISTERS)
    raw[0::4] = (b0 & _L3F).to_bytes(_THIRD, "little")
    raw[1::4] = (b0 >> 6 & _L03 | b1 << 2 & _L3C).to_bytes(_THIRD, "little")
    raw[2::4] = (b1 >> 4 & _L0F | b2 << 4 & _L30).to_bytes(_THIRD, "little")
    raw[3::4] = (b2 >> 2 & _L3F).to_bytes(_THIRD, "little")
    return raw


def pack_dense(raw: bytes | bytearray) -> bytearray:
    """16384 one-byte registers (each at most 63) packed into the 12288 dense bytes."""
    r0 = int.from_bytes(raw[0::4], "little") & _L3F
    r1 = int.from_bytes(raw[1::4], "little") & _L3F
    r2 = int.from_bytes(raw[2::4], "little") & _L3F
    r3 = int.from_bytes(raw[3::4], "little") & _L3F
    packed = bytearray(DENSE_REGISTER_BYTES)
    packed[0::3] = (r0 | r1 << 6 & _LC0).to_bytes(_THIRD, "little")
    packed[1::3] = (r1 >> 2 & _L0F | r2 << 4 & _LF0).to_bytes(_THIRD, "little")
    packed[2::3] = (r2 >> 4 & _L03 | r3 << 2 & _LFC).to_bytes(_THIRD, "little")
    return packed


_HIGH = _lanes(0x80, REGISTERS)
_LOW7 = _lanes(0x7F, REGISTERS)


def max_registers(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """The register-wise maximum of two 16384-byte register sets (values below 128).

    Per byte lane: (a | 0x80) - b keeps bit 7 exactly where a >= b, and no lane borrows from
    the next; that bit, widened to a byte mask, picks a or b."""
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    ge = ((x | _HIGH) - y) & _HIGH
    pick_x = ge - (ge >> 7)  # 0x80 -> 0x7f per lane ...
    pick_x |= ge  # ... -> 0xff
    return (y ^ ((x ^ y) & pick_x)).to_bytes(REGISTERS, "little")


def histogram(raw: bytes | bytearray) -> list[int]:
    """How many registers hold each value 0..63, for one-byte registers."""
    counts = [0] * 64
    seen = 0
    for value in range(64):
        n = raw.count(value)
        counts[value] = n
        seen += n
        if seen == REGISTERS:
            break
    return counts


# ----------------------------------------------------------------- estimate


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        z_prime = z
        z += x * y
        y += y
        if z_prime == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        z_prime = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if z_prime == z:
            return z / 3


def estimate(counts: list[int]) -> int:
    """Redis's hllCount estimator (Ertl's improved estimator) from a register histogram,
    as the unsigned 64-bit number Redis computes: same double operations in the same order,
    then llroundl (halves away from zero)."""
    m = float(REGISTERS)
    z = m * _tau((m - counts[_Q + 1]) / m)
    for j in range(_Q, 0, -1):
        z += counts[j]
        z *= 0.5
    z += m * _sigma(counts[0] / m)
    if z == 0.0:
        # Only registers above 51 (a corrupted dense value): C divides by zero and converts
        # the infinite quotient to LLONG_MIN, which becomes 2**63 as uint64.
        return 1 << 63
    e = _ALPHA_INF * m * m / z
    whole = math.floor(e)
    return int(whole) + (1 if e - whole >= 0.5 else 0)


def cached_cardinality(value: bytes | bytearray) -> int | None:
    """The cached cardinality of an HLL, or None if the cache is marked invalid."""
    if value[15] & CACHE_INVALID:
        return None
    return int.from_bytes(value[8:16], "little")


def with_cardinality(value: bytes | bytearray, cardinality: int) -> bytes:
    """`value` with `cardinality` (uint64) written into the cache, marked valid as it comes."""
    return bytes(value[:8]) + cardinality.to_bytes(8, "little") + bytes(value[16:])


def count_one(value: bytes | bytearray) -> int:
    """PFCOUNT's computation for one HLL whose cache is invalid (hllCount); CorruptHll if
    sparse opcodes do not cover exactly the registers."""
    return estimate(histogram(registers(value)))


# ----------------------------------------------------------- sparse opcodes
#
# A sparse HLL being read or edited is a list of its opcode bytes (`ops`, one entry per byte,
# so `bytes(ops)` is the encoding) and, per byte, the first register of the opcode starting
# there (`starts`, one entry more: the registers covered in all). The second byte of an XZERO
# covers no register: its start is where the next opcode starts. `bisect_right(starts, i) - 1`
# is then the first byte of the opcode covering register i, for every i below `starts[-1]`.
#
# A value may end with the first byte of an XZERO alone (corruption). Redis reads the missing
# byte from just past the string's end (`hidden`): normally the NUL terminator, but an edit of
# that very opcode leaves its last byte there.

_XZERO_OPCODE = re.compile(rb"[\x40-\x7f][\x00-\xff]?")
# The registers a ZERO or VAL opcode byte covers (XZERO bytes are filled in by `_spans`).
_BYTE_SPAN = [(op & 0x3F) + 1 if op < 0x40 else (op & 3) + 1 if op >= 0x80 else 0 for op in range(256)]
# The register value an opcode byte gives each register it covers (ZERO, XZERO: 0).
_BYTE_VALUE = [bytes([(op >> 2 & 31) + 1]) if op >= 0x80 else b"\x00" for op in range(256)]


def _spans(ops: list[int], data: bytes | bytearray, offset: int, hidden: int) -> tuple[list[int], bool]:
    """Registers covered by the opcode starting at each byte of `ops` (= data[offset:]), and
    whether the last opcode is a lone XZERO byte."""
    spans = list(map(_BYTE_SPAN.__getitem__, ops))
    truncated = False
    for match in _XZERO_OPCODE.finditer(data, offset):
        k = match.start() - offset
        if match.end() - match.start() == 2:
            spans[k] = ((ops[k] & 0x3F) << 8 | ops[k + 1]) + 1
            spans[k + 1] = 0
        else:
            spans[k] = ((ops[k] & 0x3F) << 8 | hidden) + 1
            truncated = True
    return spans, truncated


def _val(value: int, length: int) -> int:
    return 0x80 | (value - 1) << 2 | (length - 1)


def _zero_run(length: int) -> list[int]:
    """The opcode bytes for `length` zero registers: ZERO up to 64, XZERO above."""
    if length <= _SPARSE_ZERO_LEN_MAX:
        return [length - 1]
    return [0x40 | (length - 1) >> 8, (length - 1) & 0xFF]


def _sparse_registers(ops: list[int], starts: list[int]) -> bytes | None:
    """One-byte registers of sparse opcodes, or None unless they cover exactly the 16384
    registers. (Redis 7.0.15 as shipped with the CVE-2025-32023 fix: hllSparseToDense,
    hllMerge and hllSparseRegHisto all reject an opcode that runs past the last register.)"""
    if starts[-1] != REGISTERS:
        return None
    spans = map(operator.sub, islice(starts, 1, None), starts)
    return b"".join(map(operator.mul, map(_BYTE_VALUE.__getitem__, ops), spans))


def registers(value: bytes | bytearray) -> bytes:
    """The 16384 registers of an HLL, one byte each (hllMerge's reading); CorruptHll if the
    sparse opcodes do not cover exactly the registers."""
    if value[4] == DENSE:
        return bytes(unpack_dense(memoryview(value)[HEADER_BYTES:]))
    ops = list(value[HEADER_BYTES:])
    spans, _ = _spans(ops, value, HEADER_BYTES, 0)
    raw = _sparse_registers(ops, list(accumulate(spans, initial=0)))
    if raw is None:
        raise CorruptHll
    return raw


def describe_sparse(value: bytes | bytearray) -> bytes:
    """PFDEBUG DECODE: the opcodes as "z:len", "Z:len", "v:value,len", space separated."""
    words = []
    ops = value[HEADER_BYTES:]
    k = 0
    while k < len(ops):
        op = ops[k]
        if op < 0x40:
            words.append(b"z:%d" % (op + 1))
        elif op < 0x80:
            low = ops[k + 1] if k + 1 < len(ops) else 0
            words.append(b"Z:%d" % (((op & 0x3F) << 8 | low) + 1))
            k += 1
        else:
            words.append(b"v:%d,%d" % ((op >> 2 & 31) + 1, (op & 3) + 1))
        k += 1
    return b" ".join(words)


class HllEdit:
    """One command's changes to an HLL: decoded once, edited, `to_bytes()` once.

    Sparse HLLs are edited as opcode byte lists (see above); `dense` holds the whole value
    (header included) once the HLL is or becomes dense."""

    __slots__ = ("dense", "header", "hidden", "ops", "starts", "truncated")

    def __init__(self, value: bytes | bytearray) -> None:
        self.header = bytearray(value[:HEADER_BYTES])
        self.dense: bytearray | None = None
        self.hidden = 0  # the byte just past the end of the sparse string
        self.ops: list[int] = []
        self.starts: list[int] = [0]
        self.truncated = False
        if value[4] == DENSE:
            self.dense = bytearray(value)
        else:
            self.ops = list(value[HEADER_BYTES:])
            spans, self.truncated = _spans(self.ops, value, HEADER_BYTES, 0)
            self.starts = list(accumulate(spans, initial=0))

    def to_bytes(self) -> bytes:
        if self.dense is not None:
            return bytes(self.dense)
        return bytes(self.header) + bytes(self.ops)

    def invalidate_cache(self) -> None:
        if self.dense is not None:
            self.dense[15] |= CACHE_INVALID
        else:
            self.header[15] |= CACHE_INVALID

    def to_dense(self) -> bool:
        """Redis's hllSparseToDense; False if already dense. CorruptHll if the opcodes do not
        cover exactly the registers (the value is then unchanged)."""
        if self.dense is not None:
            return False
        raw = _sparse_registers(self.ops, self.starts)
        if raw is None:
            raise CorruptHll
        dense = bytearray(self.header)
        dense[4] = DENSE
        dense += pack_dense(raw)
        self.dense = dense
        return True

    def set_register(self, index: int, count: int, sparse_max_bytes: int) -> int:
        """Redis's hllDenseSet / hllSparseSet: 1 if register `index` was raised to `count`,
        0 if it was already as high, -1 if sparse opcodes are corrupted."""
        if self.dense is not None:
            return 1 if dense_set(self.dense, index, count) else 0
        return self.set_sparse(index, count, sparse_max_bytes)

    def set_sparse(self, index: int, count: int, sparse_max_bytes: int) -> int:
        """hllSparseSet, step by step; may promote the HLL to dense."""
        if count > SPARSE_VALUE_MAX:
            return self._promote(index, count)
        ops = self.ops
        starts = self.starts
        if index >= starts[-1]:
            return -1  # no opcode covers the register
        i = bisect_right(starts, index) - 1
        op = ops[i]
        first = starts[i]
        # The opcode before (Redis's `prev`), where step 4 starts merging.
        prev = bisect_right(starts, first - 1) - 1 if first else 0
        if op >= 0x80:  # VAL
            if (op >> 2 & 31) + 1 >= count:
                return 0
            if op & 3 == 0:  # covers this register alone
                ops[i] = _val(count, 1)
                return self._updated(prev)
        elif op == 0:  # a ZERO of one register
            ops[i] = _val(count, 1)
            return self._updated(prev)
        # The general case: split the opcode into up to three around the register.
        is_xzero = 0x40 <= op < 0x80
        if is_xzero:
            low = ops[i + 1] if i + 1 < len(ops) else self.hidden
            span = ((op & 0x3F) << 8 | low) + 1
        else:
            span = _BYTE_SPAN[op]
        last = first + span - 1
        seq: list[int] = []
        seq_starts: list[int] = []
        if is_xzero or op < 0x40:
            if index != first:
                run = _zero_run(index - first)
                seq += run
                seq_starts += [first, index][: len(run)]
            seq.append(_val(count, 1))
            seq_starts.append(index)
            if index != last:
                run = _zero_run(last - index)
                seq += run
                seq_starts += [index + 1, last + 1][: len(run)]
        else:
            current = (op >> 2 & 31) + 1
            if index != first:
                seq.append(_val(current, index - first))
                seq_starts.append(first)
            seq.append(_val(count, 1))
            seq_starts.append(index)
            if index != last:
                seq.append(_val(current, last - index))
                seq_starts.append(index + 1)
        old_bytes = 2 if is_xzero else 1
        delta = len(seq) - old_bytes
        if delta > 0 and HEADER_BYTES + len(ops) + delta > sparse_max_bytes:
            return self._promote(index, count)
        if is_xzero and i + 1 == len(ops):
            # The lone XZERO byte at the end: Redis writes the sequence over it but keeps one
            # byte less, so the sequence's last byte ends up just past the string's end.
            self.hidden = seq.pop()
            ops[i:] = seq
            self._rescan()
        else:
            ops[i : i + old_bytes] = seq
            starts[i : i + old_bytes] = seq_starts
            self._terminate()  # sdsIncrLen wrote the NUL terminator
        return self._updated(prev)

    def _updated(self, p: int) -> int:
        """Step 4 of hllSparseSet: merge adjacent VAL opcodes of equal value, scanning up to
        5 opcodes from `p`, the opcode before the edited one; then invalidate the cache."""
        ops = self.ops
        budget = 5
        while p < len(ops) and budget:
            budget -= 1
            op = ops[p]
            if op < 0x80:  # ZERO or XZERO
                p += 2 if op >= 0x40 else 1
                continue
            if p + 1 < len(ops):
                nxt = ops[p + 1]
                if nxt >= 0x80 and (op ^ nxt) & 0x7C == 0:
                    length = (op & 3) + (nxt & 3) + 2
                    if length <= _SPARSE_VAL_LEN_MAX:
                        ops[p : p + 2] = [_val((op >> 2 & 31) + 1, length)]
                        del self.starts[p + 1]
                        self._terminate()
                        continue
            p += 1
        self.header[15] |= CACHE_INVALID
        return 1

    def _terminate(self) -> None:
        """Redis wrote a NUL just past the string's end (sdsIncrLen): a lone XZERO byte at
        the end now reads a zero low byte."""
        self.hidden = 0
        if self.truncated:
            self._rescan()

    def _rescan(self) -> None:
        """Recompute `starts` from the bytes (after edits at a lone XZERO byte: rare)."""
        data = bytes(self.ops)
        spans, self.truncated = _spans(self.ops, data, 0, self.hidden)
        self.starts = list(accumulate(spans, initial=0))

    def _promote(self, index: int, count: int) -> int:
        try:
            self.to_dense()
        except CorruptHll:
            return -1
        assert self.dense is not None
        dense_set(self.dense, index, count)
        return 1


def add_elements(edit: HllEdit, elements: Iterable[bytes], sparse_max_bytes: int) -> int:
    """PFADD's loop (pfaddCommand): how many elements raised a register; CorruptHll at the
    first element that meets corrupted sparse opcodes (earlier changes stay, as in Redis)."""
    updated = 0
    for element in elements:
        index, count = pattern(element)
        result = edit.set_register(index, count, sparse_max_bytes)
        if result < 0:
            raise CorruptHll
        updated += result
    return updated


def merge_into(edit: HllEdit, raw: bytes, use_dense: bool, sparse_max_bytes: int) -> None:
    """PFMERGE's write (pfmergeCommand): raise the destination's registers to the merged
    maxima `raw`, which include the destination's own registers. Dense (or made dense
    because a source was): the maxima packed. Sparse: every non-zero register set in index
    order, exactly as Redis does, until an edit promotes it; from then on the registers
    are again the maxima."""
    if use_dense:
        edit.to_dense()
    if edit.dense is None:
        for index, register in enumerate(raw):
            if register:
                edit.set_sparse(index, register, sparse_max_bytes)
                if edit.dense is not None:
                    break
        else:
            edit.invalidate_cache()
            return
    assert edit.dense is not None
    edit.dense[HEADER_BYTES:] = pack_dense(raw)
    edit.invalidate_cache()


# ----------------------------------------------------------------- self test


def _lanes64(values: array, count: int) -> int:  # type: ignore[type-arg]
    """`count` uint64 values as one integer of 128-bit lanes (the upper half of each zero)."""
    spread = array("Q", bytes(16 * count))
    spread[0::2] = values
    return int.from_bytes(spread.tobytes(), "little")


def selftest(rng: Random, sparse_max_bytes: int) -> str | None:
    """PFSELFTEST: None if the registers and the estimator work, else Redis's TESTFAILED text.

    As Redis: (1) registers set to random values read back unchanged, 1000 times over all
    16384 registers; (2) 10 million distinct elements added to a dense HLL and a new (sparse)
    one, checking at 1, 10, 100, ... elements that small HLLs stay sparse, that both give the
    same count, and that the error is within 6 standard errors (1 at cardinality 10)."""
    for cycle in range(1000):
        raw = rng.randbytes(REGISTERS).translate(_LOW6)
        packed = bytearray(MAGIC + bytes(12)) + pack_dense(raw)
        if cycle == 0:  # the one-register accessors too, on every register
            single = bytearray(DENSE_BYTES)
            for index, register in enumerate(raw):
                dense_set(single, index, register)
            if single[HEADER_BYTES:] != packed[HEADER_BYTES:]:
                return "TESTFAILED Register packing disagrees with register setting"
        back = unpack_dense(memoryview(packed)[HEADER_BYTES:])
        if back != raw:
            index = next(i for i in range(REGISTERS) if back[i] != raw[i])
            return f"TESTFAILED Register {index} should be {raw[index]} but is {back[index]}"
        index = rng.randrange(REGISTERS)
        if dense_get(packed, index) != raw[index]:
            return f"TESTFAILED Register {index} should be {raw[index]} but is {dense_get(packed, index)}"
    dense = HllEdit(MAGIC + bytes(12) + bytes(DENSE_REGISTER_BYTES))
    sparse = HllEdit(EMPTY)
    relative_error = 1.04 / math.sqrt(REGISTERS)
    seed = rng.getrandbits(64)
    checkpoint = 1
    added = 0
    while checkpoint <= 10_000_000:
        _add_numbers(dense, sparse, seed, added + 1, checkpoint + 1, sparse_max_bytes)
        added = checkpoint
        if checkpoint < sparse_max_bytes // 2 and sparse.dense is not None:
            return "TESTFAILED sparse encoding not used"
        dense_count = count_one(dense.to_bytes())
        if dense_count != count_one(sparse.to_bytes()):
            return "TESTFAILED dense/sparse disagree"
        max_error = 1 if checkpoint == 10 else math.ceil(relative_error * 6 * checkpoint)
        if abs(checkpoint - dense_count) > max_error:
            return f"TESTFAILED Too big error. card:{checkpoint} abserr:{abs(checkpoint - dense_count)}"
        checkpoint *= 10
    return None


_LOW6 = bytes(b & REGISTER_MAX for b in range(256))
# Elements hashed together: integers of 2048 128-bit lanes (32 KB) stay in the CPU caches,
# where big-integer arithmetic costs about 10 ns a lane (ten times less than at 1 MB).
_BATCH = 2048
_ONE = re.compile(b"\\x01")


def _lanes_of(value: int, count: int) -> int:
    """`value` (below 2**128) repeated in `count` 128-bit lanes."""
    return int.from_bytes(value.to_bytes(16, "little") * count, "little")


def _add_numbers(dense: HllEdit, sparse: HllEdit, seed: int, first: int, stop: int, max_bytes: int) -> None:
    """Add the 8-byte little-endian elements j ^ seed for j in [first, stop) to both HLLs.

    Hashing runs on many elements at once: each element is a 128-bit lane of one big
    integer, and MurmurHash64A's multiplications, shifts and xors act on all lanes together
    (a lane's product never reaches the next lane; the upper halves are masked off). Once
    every register of an HLL is at least t, an element whose run is at most t changes
    nothing, so only the others (found with the same lane arithmetic) are added one by one:
    the registers are those of adding every element."""
    h0 = _SEED ^ (8 * _M & _MASK64)
    constants: dict[int, tuple[int, int, int, int, int]] = {}
    low_masks: dict[tuple[int, int], int] = {}
    floors = [0, 0]
    for batch_number, batch_first in enumerate(range(first, stop, _BATCH)):
        n = min(_BATCH, stop - batch_first)
        if n not in constants:
            constants[n] = (
                _lanes_of(_MASK64, n),  # the lower halves
                _lanes_of(1, n),
                _lanes64(array("Q", range(n)), n),  # 0, 1, 2, ... one per lane
                _lanes_of(h0, n),
                _lanes_of(1 << 64, n),  # the lowest bit of the upper halves
            )
        ones, unit, iota, h0_lanes, carry = constants[n]
        k = (iota + batch_first * unit) ^ seed * unit
        k = k * _M & ones
        k ^= k >> 47 & ones
        h = (k * _M & ones) ^ h0_lanes
        h = h * _M & ones
        h ^= h >> 47 & ones
        h = h * _M & ones
        h ^= h >> 47 & ones
        spread = array("Q")
        spread.frombytes(h.to_bytes(16 * n, "little"))
        hashes = spread[0::2]
        if batch_number % 16 == 0:  # registers only grow: a floor a little stale stays true
            floors = [_lowest_register(dense), _lowest_register(sparse)]
        for target, floor in zip((dense, sparse), floors, strict=True):
            if floor:
                low_mask = low_masks.get((floor, n))
                if low_mask is None:
                    low_mask = low_masks[(floor, n)] = _lanes_of((1 << floor) - 1, n)
                wanted = (((h >> 14 & low_mask) + ones) & carry ^ carry).to_bytes(16 * n, "little")[8::16]
                chosen: Iterable[int] = [hashes[m.start()] for m in _ONE.finditer(wanted)]
            else:
                chosen = hashes
            registers = target.dense
            for value in chosen:
                run = value >> 14 | 1 << _Q
                if registers is None:
                    target.set_register(value & INDEX_MASK, (run & -run).bit_length(), max_bytes)
                    registers = target.dense
                else:
                    dense_set(registers, value & INDEX_MASK, (run & -run).bit_length())


def _lowest_register(edit: HllEdit) -> int:
    """The smallest register value of an HLL being edited (0 if its opcodes are corrupt)."""
    if edit.dense is not None:
        return min(unpack_dense(memoryview(edit.dense)[HEADER_BYTES:]))
    raw = _sparse_registers(edit.ops, edit.starts)
    return min(raw) if raw is not None else 0
