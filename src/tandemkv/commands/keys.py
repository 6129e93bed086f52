"""Generic key commands (Redis 7.0 db.c, expire.c, object.c semantics).

DEL UNLINK EXISTS TYPE TOUCH RANDOMKEY KEYS SCAN RENAME RENAMENX COPY MOVE; the expiry family
EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST TTL PTTL EXPIRETIME PEXPIRETIME; OBJECT ENCODING,
FREQ, IDLETIME, REFCOUNT and HELP.

Accesses (the key's idle time, LRU order and LFU counter): as in Redis, looking at a key is an
access except for EXISTS, TYPE, the TTL family, OBJECT and SCAN's TYPE filter, which use
`Keyspace.peek_read` (Redis's LOOKUP_NOTOUCH); KEYS, SCAN and RANDOMKEY never look values up.

Value types: what TYPE, SCAN TYPE, COPY and OBJECT ENCODING need to know about a kind of value
lives in one `ValueType` per Python class, in `VALUE_TYPES`. Strings (`bytes`, and the
`bytearray` of a string changed in place by a bitmap command) are declared here; a module that adds a type calls `register_type(cls, ValueType(...))` at import time.

Keyspace events follow Redis: `del` (DEL, UNLINK, an EXPIRE whose time already passed), `expire`,
`persist`, `rename_from`/`rename_to`, `move_from`/`move_to` (each in its own db), `copy_to`
(in the target db). Replacing a destination raises no `del`, as in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tandemkv.commands import effects
from tandemkv.commands.args import Db, Int
from tandemkv.commands.memory import key_frequency, key_idle_time
from tandemkv.commands.session import Session
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import (
    DB_INDEX_OUT_OF_RANGE,
    INVALID_EXPIRE,
    NO_SUCH_KEY,
    SYNTAX,
    CommandError,
    printable,
)
from tandemkv.glob import compile_glob
from tandemkv.keyspace import Keyspace
from tandemkv.protocol import OK, Simple, string2ll

_LLONG_MAX = 2**63 - 1
_ULONG_MAX = 2**64 - 1
SAME_OBJECT = "ERR source and destination objects are the same"
INVALID_CURSOR = "ERR invalid cursor"

# Redis shares the integer objects 0..9999 (OBJ_SHARED_INTEGERS); OBJECT REFCOUNT reports
# INT_MAX (OBJSHARED_REFCOUNT) for them, unless maxmemory with an LRU/LFU policy forbids sharing.
_SHARED_INTEGERS = 10000
SHARED_REFCOUNT = 2**31 - 1
# Longest string stored as one allocation with its header (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
_EMBSTR_SIZE_LIMIT = 44


def c_string(raw: bytes) -> bytes:
    """`raw` up to its first NUL: what Redis's strcasecmp compares when it checks an option."""
    return raw.split(b"\0", 1)[0]


# ------------------------------------------------------------------ value types


@dataclass(frozen=True, slots=True)
class ValueType:
    """What the generic commands need to know about one kind of stored value."""

    name: bytes  # TYPE's reply and SCAN's TYPE filter
    copy: Callable[[Any], Any]  # COPY: a value that shares nothing mutable with the original
    encoding: Callable[[Any], bytes]  # OBJECT ENCODING
    # SORT: the elements in the value's own order (None: SORT answers WRONGTYPE).
    elements: Callable[[Any], list[bytes]] | None = None
    # SORT's `->field` patterns: a field's value, or None (None: not a hash).
    field: Callable[[Any, bytes], bytes | None] | None = None


def string_encoding(value: bytes) -> bytes:
    """OBJECT ENCODING of a string stored as `bytes`, as Redis's tryObjectEncoding would leave
    a SET value.

    Redis also keeps the history of a value: SETBIT, BITFIELD, APPEND and SETRANGE leave `raw`,
    which tandemkv stores as a bytearray (`_raw_encoding`); INCRBYFLOAT leaves `embstr` even for
    "3", where the answer here depends on the bytes only.
    """
    if len(value) <= 20 and string2ll(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= _EMBSTR_SIZE_LIMIT else b"raw"


def _immutable(value: Any) -> Any:
    return value


def _raw_encoding(value: bytearray) -> bytes:
    return b"raw"


VALUE_TYPES: dict[type, ValueType] = {
    bytes: ValueType(b"string", copy=_immutable, encoding=string_encoding),
    # A string a bitmap command changed in place (commands/bitmaps.py): Redis's unshared `raw`
    # sds, whatever it holds; COPY must not share it.
    bytearray: ValueType(b"string", copy=bytearray, encoding=_raw_encoding),
}


def register_type(cls: type, value_type: ValueType) -> None:
    """Declare a stored value class (hash, list, ...) to TYPE, SCAN TYPE, COPY and OBJECT."""
    assert cls not in VALUE_TYPES, f"value type {cls.__name__} registered twice"
    VALUE_TYPES[cls] = value_type


def type_name(value: object | None) -> bytes:
    """TYPE's answer for a stored value: b"string", ..., or b"none" for a missing key."""
    if value is None:
        return b"none"
    return VALUE_TYPES[value.__class__].name


# ------------------------------------------------------------ existence, deletion


def _delete_keys(session: Session, keys: tuple[bytes, ...]) -> int:
    delete = session.db.delete
    removed = 0
    for key in keys:
        if delete(key):
            session.notify("g", b"del", key)
            removed += 1
    return removed


@command("del", -2, "write", keys=(1, -1, 1), group="generic", since="1.0.0",
         tips="request_policy:multi_shard response_policy:agg_sum")
def del_(session: Session, *keys: bytes) -> int:
    """Delete a key"""
    return _delete_keys(session, keys)


@command("unlink", -2, "write fast", keys=(1, -1, 1), group="generic", since="4.0.0",
         tips="request_policy:multi_shard response_policy:agg_sum")
def unlink(session: Session, *keys: bytes) -> int:
    """Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking."""
    return _delete_keys(session, keys)


@command("exists", -2, "readonly fast", keys=(1, -1, 1), group="generic", since="1.0.0",
         tips="request_policy:multi_shard response_policy:agg_sum")
def exists(session: Session, *keys: bytes) -> int:
    """Determine if a key exists"""
    peek = session.db.peek_read  # not an access
    return sum(1 for key in keys if peek(key) is not None)


@command("touch", -2, "readonly fast", keys=(1, -1, 1), group="generic", since="3.2.1",
         tips="request_policy:multi_shard response_policy:agg_sum")
def touch(session: Session, *keys: bytes) -> int:
    """Alters the last access time of a key(s). Returns the number of existing keys specified."""
    lookup = session.db.lookup_read
    return sum(1 for key in keys if lookup(key) is not None)


@command("type", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="1.0.0")
def type_(session: Session, key: bytes) -> Simple:
    """Determine the type stored at key"""
    return Simple(type_name(session.db.peek_read(key)))


@command("randomkey", 1, "readonly", group="generic", since="1.0.0",
         tips="request_policy:all_shards nondeterministic_output")
def randomkey(session: Session) -> bytes | None:
    """Return a random key from the keyspace"""
    return session.db.random_key()


# ----------------------------------------------------------------------- expiry


_EXPIRE_NX, _EXPIRE_XX, _EXPIRE_GT, _EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_FLAGS = {b"NX": _EXPIRE_NX, b"XX": _EXPIRE_XX, b"GT": _EXPIRE_GT, b"LT": _EXPIRE_LT}


def parse_expire_flags(options: tuple[bytes, ...]) -> int:
    """NX/XX/GT/LT as bits, with Redis's errors for unknown and incompatible options."""
    flags = 0
    for option in options:
        flag = _EXPIRE_FLAGS.get(c_string(option).upper())
        if flag is None:
            raise CommandError(f"ERR Unsupported option {printable(option)}")
        flags |= flag
    if flags & _EXPIRE_NX and flags & (_EXPIRE_XX | _EXPIRE_GT | _EXPIRE_LT):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & _EXPIRE_GT and flags & _EXPIRE_LT:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def expire_generic(
    session: Session,
    key: bytes,
    raw_when: bytes,
    options: tuple[bytes, ...],
    *,
    relative: bool,
    unit_ms: int,
    name: str,
) -> int:
    """The EXPIRE family (Redis expireGenericCommand): 1 if the deadline was set or the key was
    deleted because the deadline already passed, 0 if the key is missing or a condition failed."""
    flags = parse_expire_flags(options)
    when = Int(raw_when)
    # Detect overflow of the unit conversion and of the base time addition, as Redis does
    # (C division truncates, so the lower bound is -(LLONG_MAX // 1000)).
    if unit_ms == 1000:
        if not -(_LLONG_MAX // 1000) <= when <= _LLONG_MAX // 1000:
            raise CommandError(INVALID_EXPIRE.format(name))
        when *= 1000
    now_ms = session.instance.clock.now_ms()
    base_ms = now_ms if relative else 0
    if when > _LLONG_MAX - base_ms:
        raise CommandError(INVALID_EXPIRE.format(name))
    when += base_ms
    db = session.db
    if db.lookup(key) is None:
        return 0
    if flags:
        current = db.deadline_ms(key)
        if flags & _EXPIRE_NX and current is not None:
            return 0
        if flags & _EXPIRE_XX and current is None:
            return 0
        # No deadline counts as an infinite one: GT always fails, LT always succeeds.
        if flags & _EXPIRE_GT and (current is None or when <= current):
            return 0
        if flags & _EXPIRE_LT and current is not None and when >= current:
            return 0
    if when <= session.db.expiry_clock.now_ms():  # never while loading (checkAlreadyExpired)
        db.delete(key)
        session.notify("g", b"del", key)
    else:
        db.set_deadline(key, when)
        session.notify("g", b"expire", key)
    return 1


@command("expire", -3, "write fast", keys=(1, 1, 1), group="generic", since="1.0.0", effect=effects.pexpireat)
def expire(session: Session, key: bytes, seconds: bytes, *options: bytes) -> int:
    """Set a key's time to live in seconds"""
    return expire_generic(session, key, seconds, options, relative=True, unit_ms=1000, name="expire")


@command("pexpire", -3, "write fast", keys=(1, 1, 1), group="generic", since="2.6.0", effect=effects.pexpireat)
def pexpire(session: Session, key: bytes, milliseconds: bytes, *options: bytes) -> int:
    """Set a key's time to live in milliseconds"""
    return expire_generic(session, key, milliseconds, options, relative=True, unit_ms=1, name="pexpire")


@command("expireat", -3, "write fast", keys=(1, 1, 1), group="generic", since="1.2.0", effect=effects.pexpireat)
def expireat(session: Session, key: bytes, unix_seconds: bytes, *options: bytes) -> int:
    """Set the expiration for a key as a UNIX timestamp"""
    return expire_generic(session, key, unix_seconds, options, relative=False, unit_ms=1000, name="expireat")


@command("pexpireat", -3, "write fast", keys=(1, 1, 1), group="generic", since="2.6.0", effect=effects.pexpireat)
def pexpireat(session: Session, key: bytes, unix_ms: bytes, *options: bytes) -> int:
    """Set the expiration for a key as a UNIX timestamp specified in milliseconds"""
    return expire_generic(session, key, unix_ms, options, relative=False, unit_ms=1, name="pexpireat")


def ttl_generic(session: Session, key: bytes, *, in_ms: bool, absolute: bool) -> int:
    """The TTL family (Redis ttlGenericCommand): -2 for a missing key, -1 for no deadline,
    else the time left (or the deadline), never negative; seconds are rounded to nearest."""
    db = session.db
    if db.peek_read(key) is None:
        return -2
    deadline = db.deadline_ms(key)
    if deadline is None:
        return -1
    ttl = max(deadline if absolute else deadline - session.instance.clock.now_ms(), 0)
    return ttl if in_ms else (ttl + 500) // 1000


@command("ttl", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="1.0.0",
         tips="nondeterministic_output")
def ttl(session: Session, key: bytes) -> int:
    """Get the time to live for a key in seconds"""
    return ttl_generic(session, key, in_ms=False, absolute=False)


@command("pttl", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="2.6.0",
         tips="nondeterministic_output")
def pttl(session: Session, key: bytes) -> int:
    """Get the time to live for a key in milliseconds"""
    return ttl_generic(session, key, in_ms=True, absolute=False)


@command("expiretime", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="7.0.0")
def expiretime(session: Session, key: bytes) -> int:
    """Get the expiration Unix timestamp for a key"""
    return ttl_generic(session, key, in_ms=False, absolute=True)


@command("pexpiretime", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="7.0.0")
def pexpiretime(session: Session, key: bytes) -> int:
    """Get the expiration Unix timestamp for a key in milliseconds"""
    return ttl_generic(session, key, in_ms=True, absolute=True)


@command("persist", 2, "write fast", keys=(1, 1, 1), group="generic", since="2.2.0")
def persist(session: Session, key: bytes) -> int:
    """Remove the expiration from a key"""
    if not session.db.persist(key):
        return 0
    session.notify("g", b"persist", key)
    return 1


# -------------------------------------------------------------------- iteration


@command("keys", 2, "readonly", group="generic", since="1.0.0", acl="keyspace dangerous",
         tips="request_policy:all_shards nondeterministic_output_order")
def keys(session: Session, pattern: bytes) -> list[bytes]:
    """Find all keys matching the given pattern"""
    # Exactly "*" matches every key, the empty one included (which stringmatchlen would not).
    return session.db.keys(None if pattern == b"*" else compile_glob(pattern))


def parse_scan_cursor(raw: bytes) -> int:
    """A SCAN cursor as Redis reads it with strtoul: an unsigned 64-bit number with an optional
    sign ('-1' wraps around), read up to the first NUL; empty means 0; anything else is
    'ERR invalid cursor'."""
    text = c_string(raw)
    if not text:
        return 0
    sign = text[:1]
    digits = text[1:] if sign in (b"+", b"-") else text
    if not digits or not digits.isdigit():
        raise CommandError(INVALID_CURSOR)
    value = int(digits)
    if value > _ULONG_MAX:
        raise CommandError(INVALID_CURSOR)
    return (-value) & _ULONG_MAX if sign == b"-" else value


@dataclass(slots=True)
class ScanOptions:
    count: int = 10
    pattern: bytes | None = None  # None: every element (MATCH * is the same)
    type_name: bytes | None = None  # lower case


def parse_scan_options(options: tuple[bytes, ...], *, allow_type: bool) -> ScanOptions:
    """COUNT, MATCH and (for SCAN) TYPE, with Redis's errors: COUNT below 1, an unknown option
    or a missing value is a syntax error; later options override earlier ones."""
    parsed = ScanOptions()
    i, n = 0, len(options)
    while i < n:
        option = c_string(options[i]).lower()
        if n - i < 2:
            raise CommandError(SYNTAX)
        value = options[i + 1]
        if option == b"count":
            parsed.count = Int(value)
            if parsed.count < 1:
                raise CommandError(SYNTAX)
        elif option == b"match":
            parsed.pattern = None if value == b"*" else value
        elif option == b"type" and allow_type:
            parsed.type_name = c_string(value).lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    return parsed


@command("scan", -2, "readonly", group="generic", since="2.8.0",
         tips="nondeterministic_output request_policy:special")
def scan(session: Session, cursor: bytes, *options: bytes) -> list[Any]:
    """Incrementally iterate the keys space"""
    position = parse_scan_cursor(cursor)
    parsed = parse_scan_options(options, allow_type=True)
    db = session.db
    next_position, found = db.scan(position, parsed.count)
    # Filters apply after collecting, as in Redis: COUNT bounds the work, not the reply.
    if parsed.pattern is not None:
        regex = compile_glob(parsed.pattern)
        found = [key for key in found if regex.fullmatch(key) is not None]
    if parsed.type_name is not None:
        wanted = parsed.type_name
        found = [key for key in found if type_name(db.peek_read(key)) == wanted]
    return [str(next_position).encode(), found]


# --------------------------------------------------------- renaming and moving


def _rename(session: Session, source: bytes, destination: bytes, *, nx: bool) -> Any:
    db = session.db
    if db.lookup(source) is None:
        raise CommandError(NO_SUCH_KEY)
    if source == destination:
        return 0 if nx else OK
    # Looked up even without NX: an expired destination is expired (and reported) first.
    if db.lookup(destination) is not None and nx:
        return 0
    popped = db.pop(source)
    assert popped is not None
    value, deadline_ms = popped
    db.set(destination, value, deadline_ms)
    session.notify("g", b"rename_from", source)
    session.notify("g", b"rename_to", destination)
    return 1 if nx else OK


@command("rename", 3, "write", keys=(1, 2, 1), group="generic", since="1.0.0")
def rename(session: Session, source: bytes, destination: bytes) -> Any:
    """Rename a key"""
    return _rename(session, source, destination, nx=False)


@command("renamenx", 3, "write fast", keys=(1, 2, 1), group="generic", since="1.0.0")
def renamenx(session: Session, source: bytes, destination: bytes) -> Any:
    """Rename a key, only if the new key does not exist"""
    return _rename(session, source, destination, nx=True)


def _other_db(session: Session, index: int) -> Keyspace:
    dbs = session.instance.dbs
    if not 0 <= index < len(dbs):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    return dbs[index]


@command("move", 3, "write fast", keys=(1, 1, 1), params=(None, Db), group="generic", since="1.0.0")
def move(session: Session, key: bytes, index: int) -> int:
    """Move a key to another database"""
    source = session.db
    target = _other_db(session, index)
    if target is source:
        raise CommandError(SAME_OBJECT)
    if source.lookup(key) is None or target.lookup(key) is not None:
        return 0
    popped = source.pop(key)
    assert popped is not None
    value, deadline_ms = popped
    target.set(key, value, deadline_ms)
    session.notify("g", b"move_from", key)
    session.instance.notify("g", b"move_to", key, index)
    return 1


@command("copy", -3, "write denyoom", keys=(1, 2, 1), group="generic", since="6.2.0")
def copy(session: Session, source_key: bytes, destination_key: bytes, *options: bytes) -> int:
    """Copy a key"""
    source = session.db
    target, target_index = source, session.db_index
    replace = False
    i, n = 0, len(options)
    while i < n:
        option = c_string(options[i]).lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and i + 1 < n:
            target_index = Db(options[i + 1])
            target = _other_db(session, target_index)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if target is source and source_key == destination_key:
        raise CommandError(SAME_OBJECT)
    value = source.lookup_read(source_key)
    if value is None:
        return 0
    deadline_ms = source.deadline_ms(source_key)
    if target.lookup(destination_key) is not None and not replace:
        return 0
    target.set(destination_key, VALUE_TYPES[value.__class__].copy(value), deadline_ms)
    session.instance.notify("g", b"copy_to", destination_key, target_index)
    return 1


# ----------------------------------------------------------------------- OBJECT

container("object", -2, group="generic", summary="A container for object introspection commands", since="2.2.3")

_OBJECT_HELP = help_reply(
    "OBJECT",
    (
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
    ),
)


@command("help", 2, "loading stale", container="object", group="generic", since="6.2.0")
def object_help(session: Session) -> list[Simple]:
    """Show helpful text about the different subcommands"""
    return _OBJECT_HELP


@command("encoding", 3, "readonly", keys=(2, 2, 1), container="object", group="generic", since="2.2.3",
         tips="nondeterministic_output")
def object_encoding(session: Session, key: bytes) -> bytes | None:
    """Inspect the internal encoding of a Redis object"""
    value = session.db.peek_read(key)
    if value is None:
        return None
    return VALUE_TYPES[value.__class__].encoding(value)


@command("freq", 3, "readonly", keys=(2, 2, 1), container="object", group="generic", since="4.0.0",
         tips="nondeterministic_output")
def object_freq(session: Session, key: bytes) -> int | None:
    """Get the logarithmic access frequency counter of a Redis object"""
    return key_frequency(session, key)  # memory bound: LFU counters live in keyspace/memory.py


@command("idletime", 3, "readonly", keys=(2, 2, 1), container="object", group="generic", since="2.2.3",
         tips="nondeterministic_output")
def object_idletime(session: Session, key: bytes) -> int | None:
    """Get the time since a Redis object was last accessed"""
    return key_idle_time(session, key)  # access seconds live in keyspace/memory.py


@command("refcount", 3, "readonly", keys=(2, 2, 1), container="object", group="generic", since="2.2.3",
         tips="nondeterministic_output")
def object_refcount(session: Session, key: bytes) -> int | None:
    """Get the number of references to the value of the key"""
    value = session.db.peek_read(key)
    if value is None:
        return None
    if value.__class__ is bytes and is_shared_integer(session, value):
        return SHARED_REFCOUNT
    return 1


def is_shared_integer(session: Session, value: bytes) -> bool:
    number = string2ll(value) if len(value) <= 20 else None
    if number is None or not 0 <= number < _SHARED_INTEGERS:
        return False
    config = session.instance.config
    # Redis stops sharing integers when maxmemory is set with a policy that keeps per-object
    # LRU/LFU data (MAXMEMORY_FLAG_NO_SHARED_INTEGERS).
    policy = config.str("maxmemory-policy")
    return config.int("maxmemory") == 0 or not policy.endswith(("-lru", "-lfu"))
