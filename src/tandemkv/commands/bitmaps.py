"""Bitmap commands (Redis 7.0 bitops.c semantics): SETBIT GETBIT BITCOUNT BITPOS BITOP
BITFIELD BITFIELD_RO.

A bitmap is a string: bit 0 is the most significant bit of the first byte, and the string
reads as zero bits past its end. Every check happens in bitops.c's order, because the order
decides which error a client sees (GETBIT parses the offset before it looks at the key;
BITCOUNT looks at the key first, so a missing key answers 0 whatever follows it).

Offsets: a bit offset is a 64-bit integer, not negative, whose byte (offset >> 3) is below
proto-max-bulk-len, exactly as getBitOffsetFromArgument bounds it, so no client makes the server
allocate more than Redis would. BITFIELD's `#N` offsets are N times the field width, multiplied
in C's 64-bit arithmetic (it wraps).

Why a mutable string. Strings are immutable `bytes` in the keyspace, so changing one bit of a
`bytes` value means copying all of it: measured here, about 540 us per SETBIT on a 1 MB bitmap
(one copy of the megabyte), where Redis changes one byte in place. So the first bit command
to write a string replaces it with a `bytearray` holding the same bytes (one copy, as Redis's
dbUnshareStringValue makes a shared or embedded string a private `raw` one), and every later
write changes that bytearray in place: SETBIT is O(1) again, BITFIELD O(width). APPEND to an
existing string and SETRANGE, the other commands after which Redis reports `raw`, do the same
(commands/strings.py `unshare_string`). The rules that keep this narrow:
- every reader of strings accepts both classes (commands/strings.py `lookup_string`, MGET, GET,
  SORT's BY/GET patterns, LCS, INCR*), and a reply always carries `bytes`, never the stored
  bytearray (a later command in the same pipeline or transaction may change it);
- TYPE says `string`; OBJECT ENCODING says `raw` (Redis's encoding after a bit command); COPY
  copies the bytearray; RDB and DUMP save it as the string it holds (commands/keys.py,
  persistence/rdb.py);
- memory accounting sizes a bytearray as its object plus its buffer (keyspace/memory.py), and a
  command that grows one in place charges the growth to the bound in the same write; deleting
  one is a single free(), so it is never queued for freeing in slices like a collection;
- BITOP stores its result as a bytearray too: Redis's result is `raw` whatever its length;
- a change in place happens only after `Keyspace.lookup` of the key, which runs the snapshot's
  copy-on-write hook first, so a background save still writes the value as it was.

Counting and searching use C-speed primitives on whole ranges: `int.from_bytes(...).bit_count()`
for BITCOUNT, Python's big-int AND/OR/XOR for BITOP, and chunk comparisons with `lstrip` for
BITPOS.

Keyspace events, as Redis raises them: `setbit` (class $) from SETBIT when the bit or the
length changed or the key was created, and from BITFIELD (Redis 7.0 raises `setbit` for it
too) when a SET or INCRBY changed a field, the length, or created the key (once per command,
with Redis's `dirty` counted per change); BITOP raises `set` on the destination, or
`del` when every source is empty and the destination existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import and_, or_, xor

from tandemkv.commands.args import Int
from tandemkv.commands.keys import c_string
from tandemkv.commands.session import Session
from tandemkv.commands.strings import lookup_string, unshare_string
from tandemkv.commands.table import command
from tandemkv.errors import NOT_INTEGER, SYNTAX, CommandError
from tandemkv.keyspace.memory import value_bytes
from tandemkv.protocol import string2ll

_BIT_OFFSET_ERROR = "ERR bit offset is not an integer or out of range"
_BIT_VALUE_ERROR = "ERR bit is not an integer or out of range"
_BIT_ARGUMENT_ERROR = "ERR The bit argument must be 1 or 0."
_BITOP_NOT_ERROR = "ERR BITOP NOT must be called with a single source key."
_BITFIELD_TYPE_ERROR = (
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
)
_OVERFLOW_TYPE_ERROR = "ERR Invalid OVERFLOW type specified"
_BITFIELD_RO_ERROR = "ERR BITFIELD_RO only supports the GET subcommand"

_UINT64 = 1 << 64
_INT64_MIN = -(1 << 63)


def _int64(value: int) -> int:
    """`value` as C's int64_t arithmetic leaves it (two's complement wrap-around)."""
    return (value - _INT64_MIN) % _UINT64 + _INT64_MIN


def _word(raw: bytes) -> bytes:
    """An option as strcasecmp sees it: upper-cased, cut at the first NUL."""
    return c_string(raw).upper()


def bit_offset(session: Session, raw: bytes, field_bits: int = 0) -> int:
    """A bit offset (getBitOffsetFromArgument): an integer, `#N` meaning N * `field_bits` for
    BITFIELD, not negative, its byte below proto-max-bulk-len; else Redis's error."""
    use_hash = field_bits > 0 and raw[:1] == b"#"
    offset = string2ll(raw[1:] if use_hash else raw)
    if offset is None:
        raise CommandError(_BIT_OFFSET_ERROR)
    if use_hash:
        offset = _int64(offset * field_bits)
    if offset < 0 or (offset >> 3) >= session.instance.config.int("proto-max-bulk-len"):
        raise CommandError(_BIT_OFFSET_ERROR)
    return offset


def _bitmap_for_write(session: Session, key: bytes, last_byte: int) -> tuple[bytearray, bool]:
    """The string at `key` as a bytearray long enough to hold byte `last_byte`, created or
    zero-padded as needed (lookupStringForBitCommand); and whether it was created or grew
    (Redis's `dirty`). WRONGTYPE for other types."""
    value = lookup_string(session, key, read=False)
    size = last_byte + 1
    if value is None:
        bitmap = bytearray(size)
        session.db.set(key, bitmap)
        return bitmap, True
    bitmap = unshare_string(session, key, value)
    if len(bitmap) >= size:
        return bitmap, False
    before_bytes = value_bytes(bitmap)
    bitmap += bytes(size - len(bitmap))
    session.db.charge(value_bytes(bitmap) - before_bytes)
    return bitmap, True


# ------------------------------------------------------------------ SETBIT / GETBIT


@command("setbit", 4, "write denyoom", keys=(1, 1, 1), group="bitmap", since="2.2.0")
def setbit(session: Session, key: bytes, offset: bytes, value: bytes) -> int:
    """Sets or clears the bit at offset in the string value stored at key

    Returns the old bit.
    """
    bit_index = bit_offset(session, offset)
    on = string2ll(value)
    if on is None or on & ~1:
        raise CommandError(_BIT_VALUE_ERROR)
    bitmap, grew = _bitmap_for_write(session, key, bit_index >> 3)
    byte = bit_index >> 3
    mask = 0x80 >> (bit_index & 7)
    old = bitmap[byte] & mask
    if grew or bool(old) != on:
        bitmap[byte] = bitmap[byte] | mask if on else bitmap[byte] & ~mask
        session.notify("$", b"setbit", key)
    return 1 if old else 0


@command("getbit", 3, "readonly fast", keys=(1, 1, 1), group="bitmap", since="2.2.0")
def getbit(session: Session, key: bytes, offset: bytes) -> int:
    """Returns the bit value at offset in the string value stored at key"""
    bit_index = bit_offset(session, offset)
    value = lookup_string(session, key)
    byte = bit_index >> 3
    if value is None or byte >= len(value):
        return 0
    return 1 if value[byte] & (0x80 >> (bit_index & 7)) else 0


# ---------------------------------------------------------------- BITCOUNT / BITPOS

# Popcounts are taken this many bytes at a time: int.from_bytes copies a bytearray first, and
# a slice this size stays in the CPU cache.
_COUNT_CHUNK_BYTES = 1 << 16


def _popcount(data: bytes | bytearray, start: int, stop: int) -> int:
    """Set bits in data[start:stop]."""
    if start == 0 and stop == len(data) and data.__class__ is bytes:
        return int.from_bytes(data, "little").bit_count()
    view = memoryview(data)
    total = 0
    for i in range(start, stop, _COUNT_CHUNK_BYTES):
        total += int.from_bytes(view[i : min(i + _COUNT_CHUNK_BYTES, stop)], "little").bit_count()
    return total


@dataclass(slots=True)
class _Range:
    """A BITCOUNT/BITPOS range in bytes, with bitops.c's masks of the bits outside it in its
    first and last byte (non-zero only for a BIT range that starts or ends inside a byte)."""

    start: int
    end: int
    first_mask: int = 0
    last_mask: int = 0


def _resolve_range(start: int, end: int, size: int, in_bits: bool) -> _Range:
    """Negative indexes counted from the end, clamped to the string, as bitops.c does."""
    total = size << 3 if in_bits else size
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    end = min(end, total - 1)
    if in_bits and start <= end:
        return _Range(start >> 3, end >> 3, ~((1 << (8 - (start & 7))) - 1) & 0xFF, (1 << (7 - (end & 7))) - 1)
    return _Range(start, end)


def _unit(raw: bytes) -> bool:
    """BIT or BYTE: True for BIT."""
    word = _word(raw)
    if word == b"BIT":
        return True
    if word == b"BYTE":
        return False
    raise CommandError(SYNTAX)


@command("bitcount", -2, "readonly", keys=(1, 1, 1), group="bitmap", since="2.6.0")
def bitcount(session: Session, key: bytes, *args: bytes) -> int:
    """Count set bits in a string

    In a range of bytes or bits.
    """
    value = lookup_string(session, key)
    if value is None:
        return 0
    if not args:
        span = _Range(0, len(value) - 1)
    elif len(args) in (2, 3):
        start, end = Int(args[0]), Int(args[1])
        if start < 0 and end < 0 and start > end:
            return 0
        in_bits = len(args) == 3 and _unit(args[2])
        span = _resolve_range(start, end, len(value), in_bits)
    else:
        raise CommandError(SYNTAX)
    if span.start > span.end:
        return 0
    count = _popcount(value, span.start, span.end + 1)
    if span.first_mask:
        count -= (value[span.start] & span.first_mask).bit_count()
    if span.last_mask:
        count -= (value[span.end] & span.last_mask).bit_count()
    return count


# Bytes BITPOS compares at once against a run of bytes holding no sought bit.
_SCAN_CHUNK_BYTES = 4096
_SKIPPED_CHUNK = {1: bytes(_SCAN_CHUNK_BYTES), 0: b"\xff" * _SCAN_CHUNK_BYTES}
_SKIPPED_BYTE = {1: b"\x00", 0: b"\xff"}


def _first_bit(data: bytes | bytearray, start: int, stop: int, bit: int) -> int:
    """Redis's redisBitpos over data[start:stop]: the position of the first `bit` counted from
    bit 0 of data[start]; if there is none, -1 when looking for 1, and the first bit past the
    range when looking for 0 (the string reads as zero-padded)."""
    skipped_chunk = _SKIPPED_CHUNK[bit]
    i = start
    while stop - i >= _SCAN_CHUNK_BYTES and data[i : i + _SCAN_CHUNK_BYTES] == skipped_chunk:
        i += _SCAN_CHUNK_BYTES
    chunk = bytes(data[i : min(i + _SCAN_CHUNK_BYTES, stop)])
    i += len(chunk) - len(chunk.lstrip(_SKIPPED_BYTE[bit]))
    if i == stop:
        return -1 if bit else (stop - start) << 3
    byte = data[i] if bit else data[i] ^ 0xFF
    return ((i - start) << 3) + 8 - byte.bit_length()


@command("bitpos", -3, "readonly", keys=(1, 1, 1), group="bitmap", since="2.8.7")
def bitpos(session: Session, key: bytes, bit_raw: bytes, *args: bytes) -> int:
    """Find first bit set or clear in a string

    In a range of bytes or bits.
    """
    bit = Int(bit_raw)
    if bit != 0 and bit != 1:
        raise CommandError(_BIT_ARGUMENT_ERROR)
    value = lookup_string(session, key)
    if value is None:
        return -1 if bit else 0
    size = len(value)
    end_given = False
    if 1 <= len(args) <= 3:
        start = Int(args[0])
        in_bits = len(args) == 3 and _unit(args[2])
        if len(args) >= 2:
            end = Int(args[1])
            end_given = True
        else:
            end = size - 1
        span = _resolve_range(start, end, size, in_bits)
    elif not args:
        span = _Range(0, size - 1)
    else:
        raise CommandError(SYNTAX)
    if span.start > span.end:
        return -1
    pos, first_byte, nbytes = _bitpos_in_range(value, bit, span)
    # Looking for a clear bit within an explicit end: the zero padding past it does not count.
    if end_given and bit == 0 and pos == nbytes << 3:
        return -1
    return pos if pos == -1 else pos + (first_byte << 3)


def _bitpos_in_range(value: bytes | bytearray, bit: int, span: _Range) -> tuple[int, int, int]:
    """bitposCommand's scan: the partial first byte, the whole bytes, the partial last byte.
    Returns (position relative to the byte the scan stopped in, that byte, bytes left)."""
    start, end = span.start, span.end
    nbytes = end - start + 1
    first_mask, last_mask = span.first_mask, span.last_mask
    if first_mask:
        edge = value[start] & ~first_mask & 0xFF if bit else value[start] | first_mask
        if last_mask and nbytes == 1:
            edge = edge & ~last_mask & 0xFF if bit else edge | last_mask
        pos = _first_bit(bytes((edge,)), 0, 1, bit)
        if nbytes == 1 or (pos != -1 and pos != 8):
            return pos, start, nbytes
        start += 1
        nbytes -= 1
    whole = nbytes - (1 if last_mask else 0)
    if whole > 0:
        pos = _first_bit(value, start, start + whole, bit)
        if nbytes == whole or (pos != -1 and pos != whole << 3):
            return pos, start, nbytes
        start += whole
        nbytes -= whole
    edge = value[end] & ~last_mask & 0xFF if bit else value[end] | last_mask
    return _first_bit(bytes((edge,)), 0, 1, bit), start, nbytes


# --------------------------------------------------------------------------- BITOP


@command("bitop", -4, "write denyoom", keys=(2, -1, 1), group="bitmap", since="2.6.0")
def bitop(session: Session, operation: bytes, destkey: bytes, *keys: bytes) -> int:
    """Perform bitwise operations between strings

    Returns the destination's length.
    """
    op = _word(operation)
    if op not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise CommandError(SYNTAX)
    if op == b"NOT" and len(keys) != 1:
        raise CommandError(_BITOP_NOT_ERROR)
    sources = [lookup_string(session, key) or b"" for key in keys]
    size = max(len(source) for source in sources)
    db = session.db
    if not size:
        if db.delete(destkey):
            session.notify("g", b"del", destkey)
        return 0
    # Each source as one big integer, its first byte most significant, padded with zero bytes
    # on the right to the longest source's length; folded one at a time, so that no more than
    # two of them exist at once.
    numbers = (int.from_bytes(source, "big") << ((size - len(source)) << 3) for source in sources)
    if op == b"NOT":
        result = next(numbers) ^ ((1 << (size << 3)) - 1)
    else:
        result = reduce({b"AND": and_, b"OR": or_, b"XOR": xor}[op], numbers)
    # Stored as Redis stores it: a `raw` string (OBJECT ENCODING), whatever its length.
    db.set(destkey, bytearray(result.to_bytes(size, "big")))
    session.notify("$", b"set", destkey)
    return size


# ------------------------------------------------------------------------ BITFIELD

_GET, _SET, _INCRBY = 0, 1, 2
_OPCODES = {b"GET": (_GET, 2), b"SET": (_SET, 3), b"INCRBY": (_INCRBY, 3)}
_WRAP, _SAT, _FAIL = 0, 1, 2
_OVERFLOWS = {b"WRAP": _WRAP, b"SAT": _SAT, b"FAIL": _FAIL}
# The usual spellings, found without normalizing the word first (any other goes through `_word`).
_OPCODES.update({name.lower(): spec for name, spec in _OPCODES.items()})
_OVERFLOWS.update({name.lower(): kind for name, kind in _OVERFLOWS.items()})
# Every field type in its plain spelling ("i8", "u63"); others ("u8\0x") are parsed.
_FIELD_TYPES = {b"i%d" % bits: (True, bits) for bits in range(1, 65)} | {
    b"u%d" % bits: (False, bits) for bits in range(1, 64)
}


@dataclass(slots=True)
class _FieldOp:
    opcode: int
    signed: bool
    bits: int
    offset: int
    operand: int  # SET's value or INCRBY's increment
    overflow: int


def _field_type(raw: bytes) -> tuple[bool, int]:
    """A field type `i1`..`i64` or `u1`..`u63` (getBitfieldTypeFromArgument): (signed, bits)."""
    known = _FIELD_TYPES.get(raw)
    if known is not None:
        return known
    text = c_string(raw)
    signed = text[:1] == b"i"
    bits = string2ll(text[1:]) if signed or text[:1] == b"u" else None
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(_BITFIELD_TYPE_ERROR)
    return signed, bits


def _parse_bitfield(session: Session, args: tuple[bytes, ...]) -> tuple[list[_FieldOp], int]:
    """The operations in order, and the highest bit a SET or INCRBY writes (-1: none)."""
    ops: list[_FieldOp] = []
    overflow = _WRAP
    highest_bit = -1
    j = 0
    while j < len(args):
        remaining = len(args) - j - 1
        name = args[j]
        spec = _OPCODES.get(name) or _OPCODES.get(_word(name))
        if spec is None:
            if _word(name) != b"OVERFLOW" or remaining < 1:
                raise CommandError(SYNTAX)
            kind = args[j + 1]
            overflow = _OVERFLOWS.get(kind, -1)
            if overflow < 0:
                overflow = _OVERFLOWS.get(_word(kind), -1)
                if overflow < 0:
                    raise CommandError(_OVERFLOW_TYPE_ERROR)
            j += 2
            continue
        opcode, needed = spec
        if remaining < needed:
            raise CommandError(SYNTAX)
        signed, bits = _field_type(args[j + 1])
        offset = bit_offset(session, args[j + 2], bits)
        operand = 0
        if opcode != _GET:
            operand = string2ll(args[j + 3])  # type: ignore[assignment]
            if operand is None:
                raise CommandError(NOT_INTEGER)
            highest_bit = max(highest_bit, offset + bits - 1)
        ops.append(_FieldOp(opcode, signed, bits, offset, operand, overflow))
        j += 1 + needed
    return ops, highest_bit


def _read_field(data: bytes | bytearray | None, offset: int, bits: int) -> int:
    """The `bits` bits at bit `offset` as an unsigned number; bits past the end read as 0."""
    if data is None:
        return 0
    first = offset >> 3
    nbytes = ((offset + bits - 1) >> 3) - first + 1
    chunk = data[first : first + nbytes]
    word = int.from_bytes(chunk, "big") << ((nbytes - len(chunk)) << 3)
    return (word >> ((nbytes << 3) - (offset & 7) - bits)) & ((1 << bits) - 1)


def _as_signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def _unsigned_overflow(value: int, incr: int, bits: int, overflow: int) -> tuple[int, int]:
    """checkUnsignedBitfieldOverflow: (1 overflow, -1 underflow or 0; the value to store on
    overflow under WRAP or SAT). `value` is a uint64, `incr` an int64."""
    top = (1 << bits) - 1
    # Past the first test value <= top < 2**63, so C's int64 `top - value` and `-value` are exact.
    if value > top or (incr > 0 and incr > top - value):
        return 1, top if overflow == _SAT else (value + incr) & top
    if incr < 0 and incr < -value:
        return -1, 0 if overflow == _SAT else (value + incr) & top
    return 0, 0


def _signed_overflow(value: int, incr: int, bits: int, overflow: int) -> tuple[int, int]:
    """checkSignedBitfieldOverflow, with C's int64 wrap-around where bitops.c relies on it
    (SET of a value far outside the field's range)."""
    top = (1 << (bits - 1)) - 1
    bottom = -top - 1
    max_incr = _int64(top - value)
    min_incr = _int64(bottom - value)
    if value > top or (bits != 64 and incr > max_incr) or (value >= 0 and incr > 0 and incr > max_incr):
        status, limit = 1, top
    elif value < bottom or (bits != 64 and incr < min_incr) or (value < 0 and incr < 0 and incr < min_incr):
        status, limit = -1, bottom
    else:
        return 0, 0
    if overflow == _SAT:
        return status, limit
    wrapped = (value + incr) % _UINT64
    return status, _as_signed(wrapped & ((1 << bits) - 1), bits) if bits < 64 else _int64(wrapped)


def _apply(bitmap: bytearray, op: _FieldOp) -> tuple[int | None, bool]:
    """Run a SET or INCRBY on the bytes that hold the field (they exist): (the reply, None when
    FAIL refused it; whether the field changed)."""
    bits = op.bits
    first = op.offset >> 3
    nbytes = ((op.offset + bits - 1) >> 3) - first + 1
    shift = (nbytes << 3) - (op.offset & 7) - bits
    mask = (1 << bits) - 1
    word = int.from_bytes(bitmap[first : first + nbytes], "big")
    stored = (word >> shift) & mask
    if op.signed:
        old = _as_signed(stored, bits)
        check = _signed_overflow
        value = op.operand
    else:
        old = stored
        check = _unsigned_overflow
        value = op.operand % _UINT64  # SET's int64 as C's uint64_t
    if op.opcode == _INCRBY:
        status, limit = check(old, op.operand, bits, op.overflow)
        new = limit if status else old + op.operand
        reply = new
    else:
        status, limit = check(value, 0, bits, op.overflow)
        new = limit if status else value
        reply = old
    if status and op.overflow == _FAIL:
        return None, False
    word = (word & ~(mask << shift)) | ((new & mask) << shift)
    bitmap[first : first + nbytes] = word.to_bytes(nbytes, "big")
    return reply, old != new


def _bitfield(session: Session, key: bytes, args: tuple[bytes, ...], *, readonly: bool) -> list[int | None]:
    ops, highest_bit = _parse_bitfield(session, args)
    if highest_bit < 0:  # GETs only
        value = lookup_string(session, key)
        return [_get_field(value, op) for op in ops]
    if readonly:
        raise CommandError(_BITFIELD_RO_ERROR)
    bitmap, grew = _bitmap_for_write(session, key, highest_bit >> 3)
    replies: list[int | None] = []
    changes = 0
    for op in ops:
        if op.opcode == _GET:
            replies.append(_get_field(bitmap, op))
            continue
        reply, changed = _apply(bitmap, op)
        replies.append(reply)
        if reply is not None and (grew or changed):
            changes += 1
    if changes:
        session.notify("$", b"setbit", key)
        session.instance.rdb.dirty += changes - 1  # Redis counts every change; notify counted one
    return replies


def _get_field(value: bytes | bytearray | None, op: _FieldOp) -> int:
    stored = _read_field(value, op.offset, op.bits)
    return _as_signed(stored, op.bits) if op.signed else stored


@command("bitfield", -2, "write denyoom", keys=(1, 1, 1), group="bitmap", since="3.2.0")
def bitfield(session: Session, key: bytes, *args: bytes) -> list[int | None]:
    """Perform arbitrary bitfield integer operations on strings"""
    return _bitfield(session, key, args, readonly=False)


@command("bitfield_ro", -2, "readonly fast", keys=(1, 1, 1), group="bitmap", since="6.0.0")
def bitfield_ro(session: Session, key: bytes, *args: bytes) -> list[int | None]:
    """Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD"""
    return _bitfield(session, key, args, readonly=True)
