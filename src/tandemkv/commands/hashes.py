"""Hash commands (Redis 7.0 t_hash.c semantics) on `values.hashes.HashValue`.

HSET HSETNX HMSET HGET HMGET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL HINCRBY
HINCRBYFLOAT HRANDFIELD HSCAN.

Each handler checks in t_hash.c's order, because the order decides which error a client sees:
arguments first where Redis parses them first (HINCRBY's increment, HRANDFIELD's count and
WITHVALUES, HSCAN's cursor), then the key's type, then the rest (HSCAN's options only once the
key is found). Writes look the key up with Redis's lookupKeyWrite (`read=False`), reads with
lookupKeyRead. The encoding thresholds are read from the configuration at each write.

Keyspace events, as Redis: `hset` (HSET, HMSET, and HSETNX when it sets), `hdel` (once per
HDEL that removed something) then `del` if the hash emptied, `hincrby`, `hincrbyfloat`.
"""

from __future__ import annotations

from typing import Any

from tandemkv.commands.args import Int
from tandemkv.commands.keys import (
    ValueType,
    c_string,
    parse_scan_cursor,
    parse_scan_options,
    register_type,
)
from tandemkv.commands.longdouble import (
    INFINITE,
    ZERO,
    add_long_double,
    format_long_double,
    parse_long_double,
)
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.commands.typed import charge, create, drop_if_empty, lookup_typed
from tandemkv.errors import NOT_FLOAT, OVERFLOW, SYNTAX, WRONGTYPE, CommandError, wrong_arity
from tandemkv.glob import compile_glob
from tandemkv.protocol import OK, Map, string2ll
from tandemkv.values.hashes import HashValue

_LLONG_MAX = 2**63 - 1
_LLONG_MIN = -(2**63)
_LONG_MAX = _LLONG_MAX  # a C long on x86-64
_HASH_NOT_INTEGER = "ERR hash value is not an integer"
_HASH_NOT_FLOAT = "ERR hash value is not a float"
_NAN_OR_INFINITY = "ERR value is NaN or Infinity"
_WOULD_BE_INFINITE = "ERR increment would produce NaN or Infinity"
_OUT_OF_RANGE = "ERR value is out of range"
_COUNT_RANGE = f"ERR value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}"

register_type(
    HashValue,
    ValueType(b"hash", copy=HashValue.copy, encoding=lambda value: value.encoding, field=HashValue.get),
)


def _limits(session: Session) -> tuple[int, int]:
    """hash-max-listpack-entries and hash-max-listpack-value, as configured now."""
    values = session.instance.config.values
    return values["hash-max-listpack-entries"], values["hash-max-listpack-value"]  # type: ignore[return-value]


def _hash_for_write(session: Session, key: bytes) -> HashValue:
    """Redis's hashTypeLookupWriteOrCreate: the hash at `key`, created empty if missing."""
    value = lookup_typed(session, key, HashValue)
    return create(session, key, HashValue()) if value is None else value


def _hash_for_read(session: Session, key: bytes) -> HashValue | None:
    return lookup_typed(session, key, HashValue, read=True)


# ------------------------------------------------------------------- writes


def _set_pairs(session: Session, name: str, key: bytes, args: tuple[bytes, ...]) -> int:
    """HSET / HMSET: set each field/value pair; the number of new fields.

    The hot path of the hash commands (redis-benchmark's HSET), so the typed lookup, the
    limits and the charge are inlined here (typed.py has them by name)."""
    if len(args) % 2:
        raise wrong_arity(name)
    db = session.db
    value = db.lookup(key)
    if value is None:
        value = create(session, key, HashValue())
    elif value.__class__ is not HashValue:
        raise CommandError(WRONGTYPE)
    config = session.instance.config.values
    max_entries: int = config["hash-max-listpack-entries"]  # type: ignore[assignment]
    max_value: int = config["hash-max-listpack-value"]  # type: ignore[assignment]
    before = value.nbytes  # type: ignore[attr-defined]
    if len(args) == 2:
        created = int(value.set(args[0], args[1], max_entries, max_value))  # type: ignore[attr-defined]
    else:
        created = 0
        for i in range(0, len(args), 2):
            created += value.set(args[i], args[i + 1], max_entries, max_value)  # type: ignore[attr-defined]
    if value.nbytes != before:  # type: ignore[attr-defined]
        db.charge(value.nbytes - before)  # type: ignore[attr-defined]
    session.notify("h", b"hset", key)
    return created


@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hset(session: Session, key: bytes, *pairs: bytes) -> int:
    """Set the string value of a hash field"""
    return _set_pairs(session, "hset", key, pairs)


@command("hmset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hmset(session: Session, key: bytes, *pairs: bytes) -> Any:
    """Set multiple hash fields to multiple values"""
    _set_pairs(session, "hmset", key, pairs)
    return OK


@command("hsetnx", 4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hsetnx(session: Session, key: bytes, field: bytes, new: bytes) -> int:
    """Set the value of a hash field, only if the field does not exist"""
    value = _hash_for_write(session, key)
    if field in value:
        return 0
    before = value.nbytes
    value.set(field, new, *_limits(session))
    charge(session, value, before)
    session.notify("h", b"hset", key)
    return 1


@command("hdel", -3, "write fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hdel(session: Session, key: bytes, *fields: bytes) -> int:
    """Delete one or more hash fields"""
    value = lookup_typed(session, key, HashValue)
    if value is None:
        return 0
    before = value.nbytes
    deleted = 0
    for field in fields:
        if value.delete(field):
            deleted += 1
            if not len(value):
                break  # Redis stops here: the key is gone
    if deleted:
        charge(session, value, before)
        session.notify("h", b"hdel", key)
        drop_if_empty(session, key, value)
    return deleted


@command(
    "hincrby",
    4,
    "write denyoom fast",
    keys=(1, 1, 1),
    params=(None, None, Int),
    group="hash",
    since="2.0.0",
)
def hincrby(session: Session, key: bytes, field: bytes, increment: int) -> int:
    """Increment the integer value of a hash field by the given number"""
    value = _hash_for_write(session, key)
    old = value.get(field)
    if old is None:
        current = 0
    else:
        parsed = string2ll(old)
        if parsed is None:
            raise CommandError(_HASH_NOT_INTEGER)
        current = parsed
    result = current + increment
    if result > _LLONG_MAX or result < _LLONG_MIN:
        raise CommandError(OVERFLOW)
    before = value.nbytes
    value.set(field, b"%d" % result, *_limits(session))
    charge(session, value, before)
    session.notify("h", b"hincrby", key)
    return result


@command("hincrbyfloat", 4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.6.0",
         effect=lambda session, argv, reply, changed: [[b"HSET", argv[1], argv[2], reply]])
def hincrbyfloat(session: Session, key: bytes, field: bytes, increment: bytes) -> bytes:
    """Increment the float value of a hash field by the given amount"""
    delta = parse_long_double(increment)
    if delta is None:
        raise CommandError(NOT_FLOAT)
    if delta == INFINITE:
        raise CommandError(_NAN_OR_INFINITY)
    value = _hash_for_write(session, key)
    old = value.get(field)
    current = ZERO if old is None else parse_long_double(old)
    if current is None:
        raise CommandError(_HASH_NOT_FLOAT)
    total = add_long_double(current, delta)
    if total is None:
        raise CommandError(_WOULD_BE_INFINITE)
    new = format_long_double(total)
    before = value.nbytes
    value.set(field, new, *_limits(session))
    charge(session, value, before)
    session.notify("h", b"hincrbyfloat", key)
    return new


# -------------------------------------------------------------------- reads


@command("hget", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hget(session: Session, key: bytes, field: bytes) -> bytes | None:
    """Get the value of a hash field"""
    value = _hash_for_read(session, key)
    return None if value is None else value.get(field)


@command("hmget", -3, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hmget(session: Session, key: bytes, *fields: bytes) -> list[bytes | None]:
    """Get the values of all the given hash fields"""
    value = _hash_for_read(session, key)
    if value is None:
        return [None] * len(fields)
    get = value.get
    return [get(field) for field in fields]


@command("hlen", 2, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hlen(session: Session, key: bytes) -> int:
    """Get the number of fields in a hash"""
    value = _hash_for_read(session, key)
    return 0 if value is None else len(value)


@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="3.2.0")
def hstrlen(session: Session, key: bytes, field: bytes) -> int:
    """Get the length of the value of a hash field"""
    value = _hash_for_read(session, key)
    found = None if value is None else value.get(field)
    return 0 if found is None else len(found)


@command("hexists", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hexists(session: Session, key: bytes, field: bytes) -> int:
    """Determine if a hash field exists"""
    value = _hash_for_read(session, key)
    return int(value is not None and field in value)


@command("hkeys", 2, "readonly", keys=(1, 1, 1), group="hash", since="2.0.0",
         tips="nondeterministic_output_order")
def hkeys(session: Session, key: bytes) -> list[bytes]:
    """Get all the fields in a hash"""
    value = _hash_for_read(session, key)
    return [] if value is None else value.fields()


@command("hvals", 2, "readonly", keys=(1, 1, 1), group="hash", since="2.0.0",
         tips="nondeterministic_output_order")
def hvals(session: Session, key: bytes) -> list[bytes]:
    """Get all the values in a hash"""
    value = _hash_for_read(session, key)
    return [] if value is None else value.values()


@command("hgetall", 2, "readonly", keys=(1, 1, 1), group="hash", since="2.0.0",
         tips="nondeterministic_output_order")
def hgetall(session: Session, key: bytes) -> Map:
    """Get all the fields and values in a hash"""
    value = _hash_for_read(session, key)
    return Map([] if value is None else value.items())


# ------------------------------------------------------------ HRANDFIELD


def _pairs_reply(session: Session, pairs: list[tuple[bytes, bytes]], with_values: bool) -> list[Any]:
    """Fields only; or, WITHVALUES, flat field/value in RESP2 and [field, value] pairs in RESP3."""
    if not with_values:
        return [field for field, _ in pairs]
    if session.resp == 3:
        return [[field, value] for field, value in pairs]
    return [part for pair in pairs for part in pair]


@command("hrandfield", -2, "readonly", keys=(1, 1, 1), group="hash", since="6.2.0",
         tips="nondeterministic_output")
def hrandfield(session: Session, key: bytes, *args: bytes) -> Any:
    """Get one or multiple random fields from a hash"""
    if not args:
        value = _hash_for_read(session, key)
        return None if value is None else value.random_item()[0]
    count = Int(args[0])
    if count < -_LONG_MAX:
        raise CommandError(_COUNT_RANGE)
    if len(args) > 2 or (len(args) == 2 and c_string(args[1]).lower() != b"withvalues"):
        raise CommandError(SYNTAX)
    with_values = len(args) == 2
    if with_values and not -(_LONG_MAX // 2) <= count <= _LONG_MAX // 2:  # C division
        raise CommandError(_OUT_OF_RANGE)
    value = _hash_for_read(session, key)
    if value is None or count == 0:
        return []
    if count < 0 or count == 1:
        return _pairs_reply(session, value.random_items(abs(count)), with_values)
    if count >= len(value):
        return _pairs_reply(session, list(value.items()), with_values)
    return _pairs_reply(session, value.random_distinct(count), with_values)


# ------------------------------------------------------------------ HSCAN


@command("hscan", -3, "readonly", keys=(1, 1, 1), group="hash", since="2.8.0",
         tips="nondeterministic_output")
def hscan(session: Session, key: bytes, cursor: bytes, *options: bytes) -> list[Any]:
    """Incrementally iterate hash fields and associated values"""
    position = parse_scan_cursor(cursor)
    value = _hash_for_read(session, key)
    if value is None:
        return [b"0", []]
    parsed = parse_scan_options(options, allow_type=False)
    next_position, pairs = value.scan(position, parsed.count)
    # The pattern filters what the step collected, as in Redis: COUNT bounds the work.
    if parsed.pattern is not None:
        match = compile_glob(parsed.pattern).fullmatch
        pairs = [pair for pair in pairs if match(pair[0]) is not None]
    return [str(next_position).encode(), [part for pair in pairs for part in pair]]

