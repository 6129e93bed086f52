"""DEBUG subcommands used by Redis's test tooling (Redis 7.0 debug.c semantics).

DEBUG is one command in Redis (not a container): it dispatches on its first argument itself and
answers Redis's subcommand-syntax error for names it does not know or wrong argument counts.
Only the subcommands below are implemented; DEBUG HELP lists exactly those, in Redis's words.
DIGEST and DIGEST-VALUE compute Redis's digests (debug.c xorObjectDigest): the same dataset
gives the same hex string in redis-server and tandemkv.
Unlike Redis 7.0 (enable-debug-command no), DEBUG is always enabled.
"""

from __future__ import annotations

import logging
import re
import time
from hashlib import sha1
from typing import Any

from tandemkv.commands.args import ranged
from tandemkv.commands.keys import SHARED_REFCOUNT, VALUE_TYPES, is_shared_integer, type_name
from tandemkv.commands.session import Instance, Session
from tandemkv.commands.table import command, help_reply
from tandemkv.errors import NOT_POSITIVE, CommandError, printable
from tandemkv.keyspace.memory import TRACK_FREQUENCY, idle_seconds
from tandemkv.protocol import OK, Simple, format_double

log = logging.getLogger("tandemkv")

_HELP = help_reply(
    "DEBUG",
    (
        "AOF-FLUSH-SLEEP <microsec>",
        "    Server will sleep before flushing the AOF, this is used for testing.",
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "LOADAOF",
        "    Flush the AOF buffers on disk and reload the AOF in memory.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
        "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
    ),
)

LONG_MAX = 2**63 - 1
LRU_CLOCK_MAX = (1 << 24) - 1  # Redis's 24-bit LRU clock, in seconds
_LEADING_INT = re.compile(rb"\s*([+-]?\d+)")
_LEADING_FLOAT = re.compile(rb"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


@command("debug", -2, "admin noscript loading stale", group="server", since="1.0.0")
def debug(session: Session, subcommand: bytes, *args: bytes) -> object:
    """A container for debugging commands"""
    name = subcommand.lower()
    if name == b"help" and not args:
        return _HELP
    if name == b"aof-flush-sleep" and len(args) == 1:
        session.instance.aof_flush_sleep_us = min(_atoi(args[0]), 2**31 - 1)  # C int
        return OK
    if name == b"log" and len(args) == 1:
        log.warning("DEBUG LOG: %s", args[0].split(b"\0", 1)[0].decode("utf-8", "replace"))
        return OK
    if name == b"object" and len(args) == 1:
        return _object(session, args[0])
    if name == b"populate" and 1 <= len(args) <= 3:
        return _populate(session, args)
    if name == b"digest" and not args:
        return Simple(_dataset_digest(session.instance).hex().encode())
    if name == b"digest-value":
        values = session.db.tandem
        digests = []
        for key in args:  # logically expired keys too, as Redis's dictFind
            shard = values.locate(key)
            digest = _object_digest(_ZERO, key, shard[0][key], shard[1]) if shard is not None else _ZERO
            digests.append(Simple(digest.hex().encode()))
        return digests
    if name == b"loadaof" and not args:
        reload_aof = session.instance.reload_aof
        if reload_aof is None:
            raise CommandError("ERR no append-only file to load")
        failure = reload_aof()
        if failure is not None:  # Redis exits here; we answer the reason
            raise CommandError(f"ERR DEBUG LOADAOF failed: {failure}")
        log.warning("Append Only File loaded by DEBUG LOADAOF")
        return OK
    if name == b"reload":
        return _reload(session, args)
    if name == b"set-active-expire" and len(args) == 1:
        return _set_active_expire(session, _atoi(args[0]) != 0)
    if name == b"set-skip-checksum-validation" and len(args) == 1:
        session.instance.skip_checksum_validation = _atoi(args[0]) != 0
        return OK
    if name == b"sleep" and len(args) == 1:
        # Stops the whole server, as in Redis: tests use it to simulate a busy server.
        seconds = _strtod(args[0])
        if seconds > 0:
            time.sleep(seconds)
        return OK
    raise CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{printable(subcommand[:128])}'. Try DEBUG HELP."
    )


def _object(session: Session, key: bytes) -> object:
    """DEBUG OBJECT key: the value's address, refcount, encoding, serialized length (its DUMP
    payload less the type byte and footer, as rdbSavedObjectLen: Redis's own figure for strings,
    intsets and streams; small lists, hashes and sorted sets are written as plain RDB types
    here, not listpack blobs) and LRU clock and idle time, found as Redis's dictFind (an
    expired key not deleted yet too). A list's quicklist figures (ql_nodes ...) are not given:
    tandemkv keeps no quicklist nodes."""
    shard = session.db.tandem.locate(key)
    if shard is None:
        raise CommandError("ERR no such key")
    value = shard[0][key]
    db = session.db
    refcount = SHARED_REFCOUNT if value.__class__ is bytes and is_shared_integer(session, value) else 1
    payload = session.instance.serialize(value)
    length = len(payload) - 11 if payload is not None else 0
    if db.memory.tracking == TRACK_FREQUENCY:
        lru, idle_s = shard[2].get(key, 0), 0  # Redis's field holds the LFU data then
    else:
        idle_s = idle_seconds(db, key)
        lru = (int(db.access.now_s()) - idle_s) & LRU_CLOCK_MAX
    encoding = VALUE_TYPES[value.__class__].encoding(value).decode()
    return Simple(
        f"Value at:0x{id(value):x} refcount:{refcount} encoding:{encoding} "
        f"serializedlength:{length} lru:{lru} lru_seconds_idle:{idle_s}".encode()
    )


def _reload(session: Session, options: tuple[bytes, ...]) -> object:
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] (persistence's `reload_rdb`)."""
    save_first = flush = True
    for option in options:
        word = option.lower()
        if word == b"noflush":
            flush = False
        elif word == b"nosave":
            save_first = False
        elif word != b"merge":
            raise CommandError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    reload_rdb = session.instance.reload_rdb
    if reload_rdb is None:
        raise CommandError("ERR Error trying to load the RDB dump")
    failure = reload_rdb(save_first, flush)
    if failure is not None:
        raise CommandError(failure)
    return OK


def _populate(session: Session, args: tuple[bytes, ...]) -> object:
    """DEBUG POPULATE count [prefix] [size]: string keys prefix:0 .. prefix:count-1 (a name cut
    at 127 bytes, the prefix at a NUL, as Redis's snprintf does) holding value:N, or value:N cut
    or padded with NUL bytes to `size`; keys that exist are left alone. As in Redis: no
    keyspace event, not a change for SAVE's counter nor the AOF, only WATCH sees the keys."""
    count = ranged(args[0], 0, LONG_MAX, NOT_POSITIVE)  # getPositiveLongFromObjectOrReply
    size = ranged(args[2], 0, LONG_MAX, NOT_POSITIVE) if len(args) == 3 else 0
    prefix = args[1].split(b"\0", 1)[0] if len(args) >= 2 else b"key"
    db = session.db
    watches = session.instance.watches
    for j in range(count):
        key = (b"%b:%d" % (prefix, j))[:127]
        if db.exists(key):
            continue
        value = b"value:%d" % j
        db.set(key, value[:size].ljust(size, b"\0") if size else value)
        watches.touch((session.db_index, key))
    return OK


def _set_active_expire(session: Session, enabled: bool) -> object:
    """Turn the expiry timer and migration's garbage collection off or on; lazy expiry on
    reads stays on either way."""
    instance = session.instance
    instance.active_expire = enabled
    instance.expiry_clock.background = enabled
    if enabled:
        deadlines = [d for db in instance.dbs if (d := db.next_deadline_ms()) is not None]
        if deadlines:
            instance.on_deadline(min(deadlines))
    return OK


def _atoi(raw: bytes) -> int:
    """C's atoi: the leading integer, 0 when there is none."""
    match = _LEADING_INT.match(raw)
    return int(match.group(1)) if match else 0


def _strtod(raw: bytes) -> float:
    """C's strtod for plain decimals: the leading number, 0 when there is none."""
    match = _LEADING_FLOAT.match(raw)
    return float(match.group(1)) if match else 0.0


# ------------------------------------------------------------------ DIGEST (debug.c)

_ZERO = bytes(20)
_TYPE_CODES = {b"string": 0, b"list": 1, b"set": 2, b"zset": 3, b"hash": 4, b"stream": 6}  # OBJ_*


def _xor(digest: bytes, data: bytes) -> bytes:
    """xorDigest: `digest` XOR SHA1(data) (order-free: sets, hash fields, keys)."""
    hashed = int.from_bytes(sha1(data).digest(), "big")
    return (int.from_bytes(digest, "big") ^ hashed).to_bytes(20, "big")


def _mix(digest: bytes, data: bytes) -> bytes:
    """mixDigest: SHA1(digest XOR SHA1(data)) (order matters: lists, stream entries)."""
    return sha1(_xor(digest, data)).digest()


def _object_digest(digest: bytes, key: bytes, value: Any, deadlines: dict[bytes, int] | None) -> bytes:
    """xorObjectDigest of `value` stored at `key` (`deadlines`: its shard's)."""
    kind = type_name(value)
    digest = _mix(digest, _TYPE_CODES[kind].to_bytes(4, "big"))
    if kind == b"string":
        digest = _mix(digest, bytes(value))
    elif kind == b"list":
        for item in value:
            digest = _mix(digest, item)
    elif kind == b"set":
        for member in value.members:
            digest = _xor(digest, member)
    elif kind == b"zset":
        for member, score in value:
            digest = _xor(digest, _mix(_mix(_ZERO, member), format_double(score)))
    elif kind == b"hash":
        for field, item in value.items():
            digest = _xor(digest, _mix(_mix(_ZERO, field), item))
    else:  # a stream: each entry's ID ("ms.seq") and its fields and values, in order
        for node in value.nodes:
            for entry_id, fields in zip(node.ids, node.entries, strict=True):
                if fields is None:
                    continue
                digest = _mix(digest, b"%d.%d" % (entry_id >> 64, entry_id & 0xFFFFFFFFFFFFFFFF))
                for word in fields:
                    digest = _mix(digest, word)
    if deadlines and key in deadlines:
        digest = _xor(digest, b"!!expire!!")
    return digest


def _dataset_digest(instance: Instance) -> bytes:
    """computeDatasetDigest: per non-empty database its index mixed in, then every key's
    digest (key mixed, then its value) XORed in; logically expired keys count until removed."""
    final = _ZERO
    for index, db in enumerate(instance.dbs):
        pairs = [(values, deadlines) for values, deadlines in db.tandem.iter_pairs() if values]
        if not pairs:
            continue
        final = _mix(final, index.to_bytes(4, "big"))
        for values, deadlines in pairs:
            for key in values:
                final = _xor(final, _object_digest(_mix(_ZERO, key), key, values[key], deadlines))
    return final
