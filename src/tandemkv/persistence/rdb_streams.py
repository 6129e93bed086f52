"""Streams in RDB files and DUMP payloads (the type pair for rdb.py), as Redis 7.0's rdb.c.

Written as RDB_TYPE_STREAM_LISTPACKS_2; read: STREAM_LISTPACKS_2 and STREAM_LISTPACKS (6.x).

    nodes      count, then per node: its master ID (16 bytes, big endian ms then seq) and its
               listpack, both as RDB strings
    metadata   length, last ID (ms, seq), [v2: first ID, max deleted ID, entries added]
    groups     count, then per group (by name, as Redis's radix tree orders them): name, last
               ID, [v2: entries read, -1 as 2^64-1], the PEL (count, then per entry: ID as 16
               raw bytes, delivery time as 8 bytes LE ms, delivery count), consumers (count,
               then per consumer: name, seen time as 8 bytes LE ms, its PEL as raw IDs)

A node's listpack is rebuilt exactly as Redis's streamAppendItem made it, deleted entries
included (values/streams.py keeps their fields), so a DUMP payload is byte for byte Redis's:

    master     count, deleted, field count, fields..., 0
    entry      flags (1 deleted, 2 same fields as the master), ms delta, seq delta,
               [field count, field, value ...] or [value ...] with same fields, element count

Loading a version-1 stream derives what 6.x did not store as Redis does: first ID from the
first live entry, no max deleted ID, entries added = length, each group's entries read by
streamEstimateDistanceFromFirstEverEntry.

`StreamSlices` writes a big stream a node at a time for the background snapshot.
"""

from __future__ import annotations

import struct

from tandemkv.persistence.rdb import (
    TYPE_STREAM_LISTPACKS,
    TYPE_STREAM_LISTPACKS_2,
    Limits,
    RdbError,
    Reader,
    Writer,
    check_listpack,
    listpack_element,
    register_loader,
    register_saver,
)
from tandemkv.values.streams import (
    INVALID_ENTRIES_READ,
    MAX_ID,
    U64,
    Fields,
    StreamNode,
    StreamValue,
)

_FLAG_DELETED = 1
_FLAG_SAMEFIELDS = 2
_INT64 = struct.Struct("<q")
_NUMELE_UNKNOWN = 0xFFFF
# The first bytes of a string that may read as an integer ('-' and the digits): a string of
# under 64 bytes starting otherwise is a plain string element.
_INT_STARTS = frozenset(b"-0123456789")


# ------------------------------------------------------------------- listpack writing


def _backlen(size: int) -> bytes:
    """lpEncodeBacklen: an element's size, 7 bits a byte, most significant first, every byte
    but the first with its high bit set."""
    if size <= 127:
        return bytes((size,))
    width = 2 if size < 16383 else 3 if size < 2097151 else 4 if size < 268435455 else 5
    return bytes([size >> 7 * (width - 1)] + [((size >> 7 * k) & 127) | 128 for k in range(width - 2, -1, -1)])


def _lp_int(value: int) -> bytes:
    """An integer element with its backlen (lpEncodeIntegerGetType)."""
    if 0 <= value <= 127:
        return bytes((value, 1))
    if -4096 <= value <= 4095:
        value &= 0x1FFF
        return bytes((0xC0 | (value >> 8), value & 0xFF, 2))
    if -(1 << 15) <= value < 1 << 15:
        return b"\xf1" + (value & 0xFFFF).to_bytes(2, "little") + b"\x03"
    if -(1 << 23) <= value < 1 << 23:
        return b"\xf2" + (value & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -(1 << 31) <= value < 1 << 31:
        return b"\xf3" + (value & 0xFFFFFFFF).to_bytes(4, "little") + b"\x05"
    return b"\xf4" + _INT64.pack(value) + b"\x09"


# 0..4095 as listpack elements (7-bit, then 13-bit integers), and as the decimal strings a
# node's fields and values read back as: counters and small numbers are common stream values.
_INTS_4K = [_lp_int(i) for i in range(4096)]
_SMALL_INTS = _INTS_4K[:128]
_DECIMALS_4K = [b"%d" % i for i in range(4096)]
# A string element of under 64 bytes: its header byte by length, and its backlen (one byte:
# header and string are at most 64 bytes).
_SHORT_HEADERS = [bytes((0x80 | n,)) for n in range(64)]
_SHORT_BACKLENS = [bytes((n + 1,)) for n in range(64)]


def _lp_string(item: bytes) -> bytes:
    """A string element (lpAppend): as an integer when it reads as one (lpStringToInt64:
    at most 20 bytes, an optional minus, no leading zero, within 64 bits)."""
    n = len(item)
    if 0 < n <= 20 and (item.isdigit() or (item[0] == 45 and item[1:].isdigit())):
        body_first = item[1] if item[0] == 45 else item[0]
        if body_first != 48 or item == b"0":
            value = int(item)
            if -(1 << 63) <= value < 1 << 63:
                return _SMALL_INTS[value] if 0 <= value <= 127 else _lp_int(value)
    if n < 64:
        return _SHORT_HEADERS[n] + item + _SHORT_BACKLENS[n]
    if n < 4096:
        header = bytes((0xE0 | (n >> 8), n & 0xFF))
    else:
        header = b"\xf0" + n.to_bytes(4, "little")
    return header + item + _backlen(len(header) + n)


def _delta(a: int, b: int) -> int:
    """a - b as the int64 Redis appends (the uint64 difference, read signed)."""
    d = (a - b) & U64
    return d - (1 << 64) if d >= 1 << 63 else d


def node_listpack(node: StreamNode) -> bytes:
    """The listpack Redis holds for `node` (see the module doc). Strings under 64 bytes that
    cannot read as integers, and small deltas, are encoded in line: most elements of most
    streams."""
    lp_int, lp_string, small, ints = _lp_int, _lp_string, _SMALL_INTS, _INTS_4K
    headers, backlens = _SHORT_HEADERS, _SHORT_BACKLENS
    master_fields = node.master_fields
    out = bytearray(6)  # total bytes and element count, filled in at the end
    out += lp_int(node.live)
    out += lp_int(node.deleted)
    out += lp_int(len(master_fields))
    for item in master_fields:
        out += lp_string(item)
    out += small[0]
    master_ms, master_seq = node.master_id >> 64, node.master_id & U64
    graves = node.graves
    count = 4 + len(master_fields)
    for position, (entry_id, fields) in enumerate(zip(node.ids, node.entries, strict=True)):
        flags = 0
        if fields is None:
            assert graves is not None
            fields = graves[position]
            flags = _FLAG_DELETED
        names = fields[0::2]
        ms_delta = (entry_id >> 64) - master_ms
        if not 0 <= ms_delta <= 127:
            ms_delta = _delta(entry_id >> 64, master_ms)
        seq_delta = (entry_id & U64) - master_seq
        if not 0 <= seq_delta <= 127:
            seq_delta = _delta(entry_id & U64, master_seq)
        if names == master_fields:
            flags |= _FLAG_SAMEFIELDS
            items = fields[1::2]
            elements = len(names) + 3
        else:
            items = fields
            elements = 2 * len(names) + 4
        out += small[flags]
        out += small[ms_delta] if 0 <= ms_delta <= 127 else lp_int(ms_delta)
        out += small[seq_delta] if 0 <= seq_delta <= 127 else lp_int(seq_delta)
        if not flags & _FLAG_SAMEFIELDS:
            out += lp_int(len(names))
        for item in items:
            n = len(item)
            if 0 < n < 64 and item[0] not in _INT_STARTS:
                out += headers[n]
                out += item
                out += backlens[n]
            elif 0 < n <= 18 and item.isdigit() and (item[0] != 48 or n == 1):  # below 2^63
                number = int(item)
                out += ints[number] if number < 4096 else lp_int(number)
            else:
                out += lp_string(item)
        out += small[elements] if elements <= 127 else lp_int(elements)
        count += elements + 1
    out.append(0xFF)
    struct.pack_into("<IH", out, 0, len(out), min(count, _NUMELE_UNKNOWN))
    return bytes(out)


# ---------------------------------------------------------------------- saving


def _raw_id(entry_id: int) -> bytes:
    return entry_id.to_bytes(16, "big")


def _save_nodes(w: Writer, nodes: list[StreamNode]) -> None:
    for node in nodes:
        w.string(_raw_id(node.master_id))
        w.string(node_listpack(node))


def _save_tail(w: Writer, value: StreamValue) -> None:
    """Everything after the nodes: metadata and consumer groups."""
    w.length(value.length)
    w.length(value.last_id >> 64)
    w.length(value.last_id & U64)
    w.length(value.first_id >> 64)
    w.length(value.first_id & U64)
    w.length(value.max_deleted_id >> 64)
    w.length(value.max_deleted_id & U64)
    w.length(value.entries_added)
    w.length(len(value.groups))
    buf = w.buf
    for name in sorted(value.groups):
        group = value.groups[name]
        w.string(name)
        w.length(group.last_id >> 64)
        w.length(group.last_id & U64)
        w.length(group.entries_read & U64)  # -1 (unknown) as Redis writes it: 2^64 - 1
        pel = group.pending
        w.length(len(pel))
        for entry_id in pel.order:
            pending = pel.by_id[entry_id]
            buf += _raw_id(entry_id)
            buf += _INT64.pack(pending.delivery_ms)
            w.length(pending.delivery_count)
        w.length(len(group.consumers))
        for consumer_name in sorted(group.consumers):
            consumer = group.consumers[consumer_name]
            w.string(consumer_name)
            buf += _INT64.pack(consumer.seen_ms)
            w.length(len(consumer.pending))
            for entry_id in consumer.pending.order:
                buf += _raw_id(entry_id)


def _save_stream(w: Writer, value: StreamValue) -> None:
    w.length(len(value.nodes))
    _save_nodes(w, value.nodes)
    _save_tail(w, value)


class StreamSlices:
    """One stream written to `w` a node at a time (the same bytes as `_save_stream`), for the
    background save: `step` writes the next node (a node of 100 small entries takes about
    0.2 ms, 0.8 ms with LZF), or the metadata and groups last, and says whether it is done.
    Before the stream changes, `detach` makes the rest read from a copy taken then (nodes and
    groups: list copies at C speed plus a few Python steps per node and per pending entry, far
    less than serializing the rest), so a write to a big stream does not wait for it."""

    __slots__ = ("detached", "next_node", "value", "w")

    def __init__(self, w: Writer, value: StreamValue) -> None:
        self.w = w
        self.value = value
        self.next_node = 0
        self.detached = False
        w.length(len(value.nodes))

    def step(self) -> bool:
        """Write the next piece; True once the whole stream is written."""
        nodes = self.value.nodes
        if self.next_node < len(nodes):
            _save_nodes(self.w, [nodes[self.next_node]])
            self.next_node += 1
            return False
        _save_tail(self.w, self.value)
        return True

    def detach(self) -> None:
        if not self.detached:
            self.value = self.value.copy()
            self.detached = True


# --------------------------------------------------------------------- loading


def _corrupt() -> RdbError:
    return RdbError("Stream listpack integrity check failed.")


def _number(blob: bytes, pos: int) -> tuple[int, int]:
    """The integer element at `pos` and the position after it (the element must be one)."""
    value, pos = listpack_element(blob, pos)
    if value.__class__ is not int:
        raise _corrupt()
    return value, pos  # type: ignore[return-value]


def _text(blob: bytes, pos: int) -> tuple[bytes, int]:
    """The element at `pos` as a field or value (an integer as its decimal string)."""
    value, pos = listpack_element(blob, pos)
    return (value if value.__class__ is bytes else b"%d" % value), pos  # type: ignore[return-value,str-bytes-safe]


def _node_from_listpack(master_id: int, blob: bytes) -> StreamNode:
    """A StreamNode from a node's listpack (checked as streamValidateListpackIntegrity).

    Decoded in one pass, the common elements in line (7-bit integers: flags, ID deltas and
    counts; strings of a 6-bit length and non-negative 13-bit integers: most fields and
    values; their back-lengths are one byte, checked), the others by `listpack_element`; the
    header's count checked."""
    header_count = check_listpack(blob, _corrupt())
    end = len(blob) - 1
    try:
        live, pos = _number(blob, 6)
        deleted, pos = _number(blob, pos)
        field_count, pos = _number(blob, pos)
        if field_count < 0 or live < 0 or deleted < 0:
            raise _corrupt()
        names = []
        for _ in range(field_count):
            name, pos = _text(blob, pos)
            names.append(name)
        master_fields: Fields = tuple(names)
        terminator, pos = _number(blob, pos)
        if terminator != 0:
            raise _corrupt()
        node = StreamNode(master_id, master_fields)
        ids, entries = node.ids, node.entries
        master_ms, master_seq = master_id >> 64, master_id & U64
        graves: dict[int, Fields] = {}
        pairs: list[bytes] = [b""] * (2 * field_count)  # a same-fields entry's names and values
        pairs[0::2] = master_fields
        values: list[bytes] = [b""] * field_count
        decimals = _DECIMALS_4K
        elements_seen = 4 + field_count  # live, deleted, field count, fields, terminator
        previous = -1
        while pos < end:
            enc = blob[pos]
            if enc < 0x80 and blob[pos + 1] == 1:
                flags, pos = enc, pos + 2
            else:
                flags, pos = _number(blob, pos)
            enc = blob[pos]
            if enc < 0x80 and blob[pos + 1] == 1:
                ms_delta, pos = enc, pos + 2
            else:
                ms_delta, pos = _number(blob, pos)
            enc = blob[pos]
            if enc < 0x80 and blob[pos + 1] == 1:
                seq_delta, pos = enc, pos + 2
            else:
                seq_delta, pos = _number(blob, pos)
            if flags & _FLAG_SAMEFIELDS:
                count = field_count
                elements = field_count + 3
            else:
                count, pos = _number(blob, pos)
                if count < 1:
                    raise _corrupt()
                count *= 2
                elements = count + 4
            items = values if flags & _FLAG_SAMEFIELDS else [b""] * count
            for i in range(count):
                enc = blob[pos]
                if 0x80 <= enc < 0xC0 and blob[pos + 1 + (enc & 0x3F)] == 1 + (enc & 0x3F):
                    n = enc & 0x3F
                    items[i] = blob[pos + 1 : pos + 1 + n]
                    pos += 2 + n
                elif enc < 0x80 and blob[pos + 1] == 1:
                    items[i] = decimals[enc]
                    pos += 2
                elif 0xC0 <= enc < 0xD0 and blob[pos + 2] == 2:  # 13-bit, not negative
                    items[i] = decimals[((enc & 0x0F) << 8) | blob[pos + 1]]
                    pos += 3
                else:
                    items[i], pos = _text(blob, pos)
            if flags & _FLAG_SAMEFIELDS:
                pairs[1::2] = items  # names in place from the master
                fields: Fields = tuple(pairs)
            else:
                fields = tuple(items)
            enc = blob[pos]
            if enc < 0x80 and blob[pos + 1] == 1:
                total, pos = enc, pos + 2
            else:
                total, pos = _number(blob, pos)
            if total != elements:
                raise _corrupt()
            elements_seen += elements + 1
            entry_id = ((master_ms + ms_delta) & U64) << 64 | ((master_seq + seq_delta) & U64)
            if entry_id <= previous or entry_id < master_id:
                raise _corrupt()
            previous = entry_id
            if flags & _FLAG_DELETED:
                graves[len(ids)] = fields
                entries.append(None)
            else:
                entries.append(fields)
            ids.append(entry_id)
    except (IndexError, struct.error):
        raise _corrupt() from None
    if pos != end or (header_count != 0xFFFF and header_count != elements_seen):
        raise _corrupt()
    node.live = len(ids) - len(graves)
    node.deleted = len(graves)
    if node.live != live or node.deleted != deleted or not ids:
        raise _corrupt()
    node.graves = graves or None
    node.lp_bytes = len(blob) - len(_lp_int(live)) - len(_lp_int(deleted))
    return node


def _read_ms(r: Reader) -> int:
    return _INT64.unpack(r.take(8))[0]


def _read_id(r: Reader) -> int:
    return int.from_bytes(r.take(16), "big")


def _load(r: Reader, version_2: bool) -> StreamValue:
    value = StreamValue()
    previous = -1
    for _ in range(r.length()):
        key = r.string()
        if len(key) != 16:
            raise RdbError("Stream node key entry is not the size of a stream ID")
        master_id = int.from_bytes(key, "big")
        blob = r.string()
        if len(blob) <= 7:
            raise RdbError("Empty listpack inside stream")
        node = _node_from_listpack(master_id, blob)
        if master_id <= previous or node.ids[0] != master_id:
            raise _corrupt()
        previous = node.ids[-1]
        value.add_node(node)
    value.length = r.length()
    if value.length != sum(node.live for node in value.nodes):
        raise RdbError("Stream length inconsistent with rax entries")
    value.last_id = r.length() << 64 | r.length()
    if version_2:
        value.first_id = r.length() << 64 | r.length()
        value.max_deleted_id = r.length() << 64 | r.length()
        value.entries_added = r.length()
    else:
        value.entries_added = value.length
        value.first_id = value.first_live_id() if value.length else MAX_ID  # streamGetEdgeID's "none"
    if value.last_id > U64 << 64 | U64 or (value.nodes and value.nodes[-1].ids[-1] > value.last_id):
        raise _corrupt()
    for _ in range(r.length()):
        name = r.string()
        group_last = r.length() << 64 | r.length()
        if version_2:
            entries_read = r.length()
            if entries_read > 1 << 63:
                entries_read -= 1 << 64
            if entries_read < INVALID_ENTRIES_READ:
                raise _corrupt()
        else:
            entries_read = value.estimate_entries_read(group_last)
        group = value.add_group(name, group_last, entries_read)
        if group is None:
            raise RdbError(f"Duplicated consumer group name {name.decode('latin-1')}")
        for _ in range(r.length()):
            entry_id = _read_id(r)
            delivery_ms = _read_ms(r)
            if not value.add_pending(group, entry_id, delivery_ms, r.length()):
                raise RdbError("Duplicated global PEL entry loading stream consumer group")
        for _ in range(r.length()):
            consumer_name = r.string()
            consumer = value.add_consumer(group, consumer_name, 0)
            if consumer is None:
                raise RdbError("Duplicate stream consumer detected.")
            consumer.seen_ms = _read_ms(r)
            for _ in range(r.length()):
                entry_id = _read_id(r)
                pending = group.pending.get(entry_id)
                if pending is None:
                    raise RdbError("Consumer entry not found in group global PEL")
                if pending.consumer is not None:
                    raise RdbError("Duplicated consumer PEL entry  loading a stream consumer group")
                value.claim(group, entry_id, consumer)
        if any(pending.consumer is None for pending in group.pending.by_id.values()):
            raise RdbError("Stream CG PEL entry without consumer")
    return value


def _load_stream_2(r: Reader, limits: Limits) -> object:
    return _load(r, True)


def _load_stream_1(r: Reader, limits: Limits) -> object:
    return _load(r, False)


register_saver(StreamValue, TYPE_STREAM_LISTPACKS_2, _save_stream)
register_loader(TYPE_STREAM_LISTPACKS_2, _load_stream_2)
register_loader(TYPE_STREAM_LISTPACKS, _load_stream_1)
