"""HyperLogLog commands (Redis 7.0 hyperloglog.c semantics) on HLL strings (values/hll.py).

An HLL is an ordinary string key, so every handler first checks what Redis's
isHLLObjectOrReply checks: another type is WRONGTYPE, a string that is not an HLL gets
Redis's "-WRONGTYPE Key is not a valid HyperLogLog string value.", and opcodes that cannot be
read give "-INVALIDOBJ Corrupted HLL object detected" when they are read.

Writes follow Redis: PFADD and PFMERGE raise the `pfadd` event (PFMERGE too: "a mass-add of
elements"); PFCOUNT stores the cardinality it computed into the value's cache, which Redis
counts as a change of the key (WATCH, dirty) without an event; PFDEBUG GETREG / TODENSE
rewrite a sparse value as dense without either. In-place changes keep the key's TTL.
"""

from __future__ import annotations

from random import Random

from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.errors import WRONGTYPE, CommandError, printable
from tandemkv.protocol import OK, Simple
from tandemkv.values.hll import (
    DENSE,
    DENSE_BYTES,
    EMPTY,
    MAGIC,
    REGISTERS,
    CorruptHll,
    HllEdit,
    add_elements,
    cached_cardinality,
    count_one,
    dense_add_one,
    describe_sparse,
    estimate,
    histogram,
    is_hll,
    max_registers,
    merge_into,
    new_with_one,
    registers,
    selftest,
    unpack_dense,
    with_cardinality,
)

INVALID_HLL = "INVALIDOBJ Corrupted HLL object detected"
NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
_SPARSE_MAX = "hll-sparse-max-bytes"


def _checked(value: object) -> bytes | bytearray:
    """`value` if it is a string holding an HLL header (isHLLObjectOrReply)."""
    if not isinstance(value, (bytes, bytearray)):
        raise CommandError(WRONGTYPE)
    if not is_hll(value):
        raise CommandError(NOT_HLL)
    return value


def _registers(value: bytes | bytearray) -> bytes:
    try:
        return registers(value)
    except CorruptHll:
        raise CommandError(INVALID_HLL) from None


def _signed(cardinality: int) -> int:
    """A uint64 as Redis's addReplyLongLong prints it."""
    return cardinality - (1 << 64) if cardinality >= 1 << 63 else cardinality


@command("pfadd", -2, "write denyoom fast", keys=(1, 1, 1), group="hyperloglog", since="2.8.9")
def pfadd(session: Session, key: bytes, *elements: bytes) -> int:
    """Adds the specified elements to the specified HyperLogLog."""
    db = session.db
    value = db.lookup(key)
    if len(elements) == 1:  # the common case, without decoding
        if value is None:
            created = new_with_one(elements[0], session.instance.config.int(_SPARSE_MAX))
            if created is not None:
                db.set(key, created)
                session.notify("$", b"pfadd", key)
                session.instance.rdb.dirty += 1  # Redis counts the key and the register
                return 1
        elif value.__class__ is bytes and len(value) == DENSE_BYTES and value[4] == DENSE and value[:4] == MAGIC:
            changed = dense_add_one(value, elements[0])
            if changed is None:
                return 0
            db.put(key, changed)
            session.notify("$", b"pfadd", key)
            return 1
    if value is None:
        edit = HllEdit(EMPTY)
        updated = 1  # creating the key is a change
    else:
        value = _checked(value)
        edit = HllEdit(value)
        updated = 0
    try:
        updated += add_elements(edit, elements, session.instance.config.int(_SPARSE_MAX))
    except CorruptHll:
        changed = edit.to_bytes()
        if changed != value:  # Redis edits in place: what was added before the error stays
            db.put(key, changed)
        raise CommandError(INVALID_HLL) from None
    if not updated:
        return 0
    edit.invalidate_cache()
    if value is None:
        db.set(key, edit.to_bytes())
    else:
        db.put(key, edit.to_bytes())
    session.notify("$", b"pfadd", key)
    session.instance.rdb.dirty += updated - 1  # Redis counts every raised register
    return 1


@command(
    "pfcount",
    -2,
    "readonly may_replicate",
    keys=(1, -1, 1),
    group="hyperloglog",
    since="2.8.9",
)
def pfcount(session: Session, *keys: bytes) -> int:
    """Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s)."""
    db = session.db
    if len(keys) > 1:
        # The union: register-wise maxima of all the HLLs, counted, nothing stored.
        merged: bytes | None = None
        for key in keys:
            value = db.lookup_read(key)
            if value is None:
                continue
            raw = _registers(_checked(value))
            merged = raw if merged is None else max_registers(merged, raw)
        return _signed(estimate(histogram(merged if merged is not None else bytes(REGISTERS))))
    key = keys[0]
    value = db.lookup_read(key)
    if value is None:
        return 0
    value = _checked(value)
    cached = cached_cardinality(value)
    if cached is not None:
        return cached  # below 2**63: the cache is valid only with the top bit clear
    try:
        cardinality = count_one(value)
    except CorruptHll:
        raise CommandError(INVALID_HLL) from None
    db.put(key, with_cardinality(value, cardinality))
    session.instance.modified(key, session.db_index)
    return _signed(cardinality)


@command("pfmerge", -2, "write denyoom", keys=(1, -1, 1), group="hyperloglog", since="2.8.9")
def pfmerge(session: Session, destination: bytes, *sources: bytes) -> object:
    """Merge N different HyperLogLogs into a single one."""
    db = session.db
    merged: bytes | None = None
    use_dense = False
    for key in (destination, *sources):  # the destination's own registers count too
        value = db.lookup_read(key)
        if value is None:
            continue
        value = _checked(value)
        use_dense = use_dense or value[4] == DENSE
        raw = _registers(value)
        merged = raw if merged is None else max_registers(merged, raw)
    target = db.lookup(destination)
    edit = HllEdit(EMPTY if target is None else target)  # type: ignore[arg-type]
    merge_into(edit, merged if merged is not None else bytes(REGISTERS), use_dense, session.instance.config.int(_SPARSE_MAX))
    if target is None:
        db.set(destination, edit.to_bytes())
    else:
        db.put(destination, edit.to_bytes())
    session.notify("$", b"pfadd", destination)
    return OK


@command("pfselftest", 1, "admin", group="hyperloglog", since="2.8.9")
def pfselftest(session: Session) -> object:
    """An internal command for testing HyperLogLog values"""
    failure = selftest(Random(), session.instance.config.int(_SPARSE_MAX))
    if failure is not None:
        raise CommandError(failure)
    return OK


@command("pfdebug", 3, "write denyoom admin", keys=(2, 2, 1), group="hyperloglog", since="2.8.9")
def pfdebug(session: Session, subcommand: bytes, key: bytes) -> object:
    """Internal commands for debugging HyperLogLog values"""
    db = session.db
    value = db.lookup(key)
    if value is None:
        raise CommandError("ERR The specified key does not exist")
    value = _checked(value)
    name = subcommand.split(b"\0", 1)[0].lower()  # strcasecmp on a C string
    if name in (b"getreg", b"todense"):
        edit = HllEdit(value)
        try:
            converted = edit.to_dense()
        except CorruptHll:
            raise CommandError(INVALID_HLL) from None
        if converted:
            db.put(key, edit.to_bytes())
            session.instance.rdb.dirty += 1  # Redis forces propagation, with no event
        if name == b"todense":
            return int(converted)
        assert edit.dense is not None
        return list(unpack_dense(memoryview(edit.dense)[16:]))
    if name == b"decode":
        if value[4] == DENSE:
            raise CommandError("ERR HLL encoding is not sparse")
        return describe_sparse(value)
    if name == b"encoding":
        return Simple(b"dense" if value[4] == DENSE else b"sparse")
    raise CommandError(f"ERR Unknown PFDEBUG subcommand '{printable(subcommand)}'")
