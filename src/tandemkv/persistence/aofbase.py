"""An AOF base file of commands (aof-use-rdb-preamble no: `<prefix>.<n>.base.aof`), the
commands Redis 7.0's rewriteAppendOnlyFileRio emits, so that redis-server loads it:

    #TS:<unix seconds>                      first, with aof-timestamp-enabled yes
    FUNCTION LOAD <code>                    one per library
    SELECT <db>                             before the keys of a database (again whenever a
                                            background rewrite writes another database's key
                                            first, as its copy-on-write does)
    SET key value                           strings
    RPUSH / SADD key items...               at most AOF_REWRITE_ITEMS_PER_CMD (64) items per
    ZADD key score member ...               command; scores as %.17g
    HMSET key field value ...
    XADD key id field value ...             each live entry (an empty stream: XADD key MAXLEN
                                            0 0-1 x y), then XSETID key last ENTRIESADDED n
                                            MAXDELETEDID id, then per group XGROUP CREATE key
                                            group last ENTRIESREAD n, per consumer its pending
                                            entries as XCLAIM ... TIME RETRYCOUNT JUSTID FORCE
                                            or XGROUP CREATECONSUMER when it has none
    PEXPIREAT key ms                        after the value, when the key has a deadline

`CommandWriter` has FileWriter's interface, so the fork-less snapshot (snapshot.py) writes
either kind of base through the same copy-on-write job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from hiredis import pack_command

from tandemkv.persistence.rdb import FileWriter, RdbError
from tandemkv.protocol import format_double
from tandemkv.values import hashes, lists, sets, zsets
from tandemkv.values.streams import StreamValue, format_id

ITEMS_PER_COMMAND = 64  # Redis's AOF_REWRITE_ITEMS_PER_CMD
FLUSH_BYTES = 1 << 16


def timestamp_annotation(unix_s: int) -> bytes:
    """Redis's AOF timestamp annotation line."""
    return b"#TS:%d\r\n" % unix_s


class CommandWriter(FileWriter):
    """Writes a base of commands to `out` piece by piece; `timestamp_s`: the #TS annotation
    it starts with (None: aof-timestamp-enabled no)."""

    def __init__(self, out: BinaryIO, compress: bool = True, timestamp_s: int | None = None) -> None:
        super().__init__(out, compress)
        self.timestamp_s = timestamp_s

    def flush(self) -> None:
        buf = self.w.buf
        if buf:
            self.out.write(buf)
            self.w.buf = bytearray()

    def header(self, aux: Iterable[tuple[bytes, bytes]]) -> None:
        if self.timestamp_s is not None:
            self.w.buf += timestamp_annotation(self.timestamp_s)

    def functions(self, codes: Iterable[bytes]) -> None:
        for code in codes:
            self.w.buf += pack_command((b"FUNCTION", b"LOAD", code))

    def select(self, index: int, size: int | None, expires: int = 0) -> None:
        self.w.buf += pack_command((b"SELECT", str(index).encode()))

    def entry(self, key: bytes, value: object, deadline_ms: int | None) -> None:
        buf = self.w.buf
        if isinstance(value, bytes | bytearray):
            buf += pack_command((b"SET", key, bytes(value)))
        elif isinstance(value, lists.ListValue):
            _batches(buf, b"RPUSH", key, list(value))
        elif isinstance(value, sets.SetValue):
            # An intset is walked in ascending order, a hash table in its own.
            members = sorted(value.members, key=int) if value.intset else value.members
            _batches(buf, b"SADD", key, members)
        elif isinstance(value, zsets.ZSetValue):
            _batches(buf, b"ZADD", key, [item for member, score in value for item in (format_double(score), member)], 2)
        elif isinstance(value, hashes.HashValue):
            _batches(buf, b"HMSET", key, [item for pair in value.items() for item in pair], 2)
        elif isinstance(value, StreamValue):
            _stream(buf, key, value)
        else:
            raise RdbError(f"no AOF rewrite for {value.__class__.__name__}")
        if deadline_ms is not None:
            buf += pack_command((b"PEXPIREAT", key, str(deadline_ms).encode()))
        if len(buf) >= FLUSH_BYTES:
            self.flush()

    def raw(self, data: bytes | bytearray) -> None:
        raise RdbError("a base of commands takes no RDB bytes")

    def finish(self) -> None:
        self.flush()


def _batches(buf: bytearray, name: bytes, key: bytes, items: list[bytes], width: int = 1) -> None:
    """`name key items...`, ITEMS_PER_COMMAND items (of `width` words each) per command."""
    step = ITEMS_PER_COMMAND * width
    for start in range(0, len(items), step):
        buf += pack_command((name, key, *items[start:start + step]))


def _stream(buf: bytearray, key: bytes, value: StreamValue) -> None:
    """rewriteStreamObject: entries, XSETID, groups with their consumers' pending entries."""
    if value.length:
        for node in value.nodes:
            for entry_id, fields in zip(node.ids, node.entries, strict=True):
                if fields is not None:
                    buf += pack_command((b"XADD", key, format_id(entry_id), *fields))
    else:  # an empty stream: the XADD MAXLEN 0 trick
        buf += pack_command((b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"))
    buf += pack_command((
        b"XSETID", key, format_id(value.last_id), b"ENTRIESADDED", str(value.entries_added).encode(),
        b"MAXDELETEDID", format_id(value.max_deleted_id),
    ))
    for name in sorted(value.groups):  # Redis's radix tree: by name
        group = value.groups[name]
        buf += pack_command((
            b"XGROUP", b"CREATE", key, name, format_id(group.last_id), b"ENTRIESREAD", str(group.entries_read).encode(),
        ))
        for consumer_name in sorted(group.consumers):
            consumer = group.consumers[consumer_name]
            if not len(consumer.pending):
                buf += pack_command((b"XGROUP", b"CREATECONSUMER", key, name, consumer_name))
                continue
            for entry_id in consumer.pending.order:
                pending = group.pending.by_id[entry_id]
                buf += pack_command((
                    b"XCLAIM", key, name, consumer_name, b"0", format_id(entry_id), b"TIME",
                    str(pending.delivery_ms).encode(), b"RETRYCOUNT", str(pending.delivery_count).encode(),
                    b"JUSTID", b"FORCE",
                ))
