"""DUMP and RESTORE, with Redis's payload: the RDB serialization of the value, the RDB
version (2 bytes, little endian) and a CRC-64 of both (8 bytes, little endian); payloads
move both ways between redis-server 7.0 and tandemkv (rdb.py)."""

from __future__ import annotations

import logging
import struct

from tandemkv.commands.args import Int
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.config import VERBOSE
from tandemkv.errors import SYNTAX, CommandError
from tandemkv.keyspace.memory import TRACK_FREQUENCY, TRACK_NONE
from tandemkv.persistence.rdb import RdbError, dump_payload, load_payload, verify_payload
from tandemkv.persistence.snapshot import limits
from tandemkv.protocol import OK

log = logging.getLogger("tandemkv")

BUSYKEY = "BUSYKEY Target key name already exists."


@command("dump", 2, "readonly", keys=(1, 1, 1), group="generic", since="2.6.0", acl="keyspace",
         tips="nondeterministic_output")
def dump(session: Session, key: bytes) -> bytes | None:
    """Return a serialized version of the value stored at the specified key."""
    value = session.db.lookup_read(key)
    if value is None:
        return None
    try:
        return dump_payload(value, compress=bool(session.instance.config["rdbcompression"]))
    except RdbError as exc:  # a value type without its RDB pair yet (rdb.py's SAVERS)
        raise CommandError(f"ERR {exc}") from None


@command("restore", -4, "write denyoom", keys=(1, 1, 1), group="generic", since="2.6.0",
         acl="keyspace dangerous")
def restore(session: Session, key: bytes, ttl_arg: bytes, payload: bytes, *options: bytes) -> object:
    """Create a key using the provided serialized value, previously obtained using DUMP."""
    replace = absttl = False
    idle = freq = -1
    i = 0
    while i < len(options):
        option = options[i].lower()
        more = len(options) - i - 1
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more >= 1 and freq == -1:
            idle = Int(options[i + 1])
            if idle < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
            i += 1
        elif option == b"freq" and more >= 1 and idle == -1:
            freq = Int(options[i + 1])
            if not 0 <= freq <= 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    db = session.db
    if not replace and db.lookup(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = Int(ttl_arg)
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    if not verify_payload(payload, check_crc=not session.instance.skip_checksum_validation):
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    try:
        value = load_payload(payload, limits(session.instance))
    except (RdbError, ValueError, IndexError, struct.error) as exc:
        # Redis logs why at verbose level in a RESTORE (rdbReportError), e.g. "... integrity
        # check failed"; every payload is checked in full here (sanitize-dump-payload yes).
        log.log(VERBOSE, "Internal error in RDB reading offset 0, function at rdb.c:0 -> %s", exc)
        raise CommandError("ERR Bad data format") from None
    deleted = replace and db.delete(key)
    now_ms = session.instance.clock.now_ms()
    if ttl and not absttl:
        ttl += now_ms
    if ttl and ttl <= now_ms:
        if deleted:
            session.notify("g", b"del", key)
        return OK
    db.set(key, value, ttl or None)
    _set_access(session, key, idle, freq)
    session.notify("g", b"restore", key)
    return OK


def _set_access(session: Session, key: bytes, idle: int, freq: int) -> None:
    """objectSetLRUOrLFU: FREQ sets the LFU counter under an LFU policy; IDLETIME backdates the
    last access under the other policies. Under an LRU policy with a memory limit the access
    order is the shards' key order, which one key cannot be moved back in: IDLETIME is
    accepted and not applied then."""
    db = session.db
    tracking = session.instance.memory.tracking
    if tracking == TRACK_FREQUENCY:
        if freq >= 0:
            shard = db.tandem.locate(key)
            if shard is not None:
                shard[2][key] = db.access.lfu_records[freq]
    elif idle >= 0 and tracking == TRACK_NONE:
        shard = db.tandem.locate(key)
        if shard is not None:
            shard[2][key] = db.access.second - idle
