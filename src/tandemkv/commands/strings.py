"""String commands (Redis 7.0 t_string.c semantics).

Every handler follows t_string.c step by step, because the order of checks decides which error
a client sees: option syntax, then the key's type, then the option values (GETEX), and so on.
Reads that Redis does with lookupKeyRead use `Keyspace.lookup_read` (counted in
keyspace_hits/misses); writes use `Keyspace.lookup`. In-place changes (APPEND, INCR*,
SETRANGE) keep the key's TTL with `Keyspace.put`; SET-like commands replace it.

A stored string is `bytes`, or a `bytearray` once a command changed it in place: SETBIT and
BITFIELD (the reasons are in commands/bitmaps.py), APPEND to an existing string and SETRANGE,
the commands that leave Redis's `raw` encoding behind (`unshare_string`, as Redis's
dbUnshareStringValue). So APPEND is amortized O(appended bytes) instead of a copy of the whole
string, and OBJECT ENCODING says `raw` after them, as Redis does. Every reader here accepts both;
a reply carries `bytes`, never the stored bytearray (a later command may change it); a change in
place charges its growth to the memory bound in the same write.

INCRBYFLOAT computes in Redis's C `long double`, which on x86-64 is the 80-bit extended format
(64-bit significand): commands/longdouble.py, shared with HINCRBYFLOAT.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandemkv.commands import effects
from tandemkv.commands.args import Int
from tandemkv.commands.longdouble import (
    ZERO,
    add_long_double,
    format_long_double,
    parse_long_double,
)
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.errors import (
    INVALID_EXPIRE,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    SYNTAX,
    WRONGTYPE,
    CommandError,
    wrong_arity,
)
from tandemkv.keyspace.memory import value_bytes
from tandemkv.protocol import OK, Map, string2ll

_LLONG_MAX = 2**63 - 1
_LLONG_MIN = -(2**63)
_STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
_LCS_WRONGTYPE = "ERR The specified keys must contain string values"
# A stored string: `bytes`, or the `bytearray` of a bitmap changed in place (commands/bitmaps.py).
_STRING_CLASSES = (bytes, bytearray)


def lookup_string(session: Session, key: bytes, *, read: bool = True) -> bytes | bytearray | None:
    """The string at `key` as stored (None if missing): `bytes`, or the `bytearray` a bitmap
    command changes in place (commands/bitmaps.py); WRONGTYPE for other types. `read`: Redis's
    lookupKeyRead (counted in keyspace_hits/misses), else lookupKeyWrite. A caller that replies
    with the value must reply with `bytes(value)`: the bytearray may change after the call."""
    db = session.db
    value = db.lookup_read(key) if read else db.lookup(key)
    if value is None:
        return None
    cls = value.__class__
    if cls is bytes or cls is bytearray:
        return value  # type: ignore[return-value]
    raise CommandError(WRONGTYPE)


def get_string(session: Session, key: bytes) -> bytes | None:
    """The string at `key` (None if missing), as `bytes` a reply may hold; WRONGTYPE for other
    types. Counts hits/misses."""
    value = lookup_string(session, key)
    return value if value is None or value.__class__ is bytes else bytes(value)


def _string_for_write(session: Session, key: bytes) -> bytes | bytearray | None:
    """The string at `key` for a command that will change it (Redis's lookupKeyWrite)."""
    return lookup_string(session, key, read=False)


def unshare_string(session: Session, key: bytes, value: bytes | bytearray) -> bytearray:
    """The string `value` stored at `key` as a bytearray that the caller may change in place
    (Redis's dbUnshareStringValue, which leaves a `raw` string): `bytes` are replaced by a
    bytearray copy, the key's TTL kept. The caller charges what it then grows the bytearray by."""
    if value.__class__ is bytearray:
        return value  # type: ignore[return-value]
    raw = bytearray(value)
    session.db.put(key, raw)
    return raw


def _option_word(raw: bytes) -> bytes:
    """An option as Redis's C-string comparisons see it: upper-cased, cut at the first NUL."""
    nul = raw.find(b"\0")
    return (raw if nul < 0 else raw[:nul]).upper()


def _check_length(session: Session, size: int) -> None:
    """Redis's checkStringLength: a string may not grow past proto-max-bulk-len."""
    if size > session.instance.config.int("proto-max-bulk-len"):
        raise CommandError(_STRING_TOO_LONG)


# ----------------------------------------------------------------- SET family


@dataclass(slots=True)
class SetOptions:
    """The parsed options of SET or GETEX; `expire` is the raw amount for `unit`."""

    nx: bool = False
    xx: bool = False
    get: bool = False
    keep_ttl: bool = False
    persist: bool = False
    unit: bytes = b""  # EX, PX, EXAT or PXAT
    expire: bytes = b""


# SET with no options (the benchmarked case) shares this one instance; nobody mutates it.
_PLAIN_SET = SetOptions()
_TIMED = (b"EX", b"PX", b"EXAT", b"PXAT")


def parse_set_options(args: list[bytes], *, for_getex: bool = False) -> SetOptions:
    """SET/GETEX options, with Redis's rules for which combinations are a syntax error
    (parseExtendedStringArgumentsOrReply): a timed option may repeat but not mix with
    another unit, KEEPTTL or PERSIST; NX and XX exclude each other."""
    opts = SetOptions()
    i = 0
    n = len(args)
    while i < n:
        opt = _option_word(args[i])
        if opt == b"NX" and not for_getex and not opts.xx:
            opts.nx = True
        elif opt == b"XX" and not for_getex and not opts.nx:
            opts.xx = True
        elif opt == b"GET" and not for_getex:
            opts.get = True
        elif opt == b"KEEPTTL" and not for_getex and not opts.unit:
            opts.keep_ttl = True
        elif opt == b"PERSIST" and for_getex and not opts.unit:
            opts.persist = True
        elif (
            opt in _TIMED
            and not opts.keep_ttl
            and not opts.persist
            and opts.unit in (b"", opt)
            and i + 1 < n
        ):
            opts.unit = opt
            opts.expire = args[i + 1]
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return opts


def SetTail(args: list[bytes]) -> SetOptions:
    """Converter for SET's options."""
    return parse_set_options(args) if args else _PLAIN_SET


def GetexTail(args: list[bytes]) -> SetOptions:
    """Converter for GETEX's options."""
    return parse_set_options(args, for_getex=True)


def expire_deadline_ms(session: Session, raw: bytes, unit: bytes, command_name: str) -> int:
    """The absolute deadline that `raw` in `unit` (EX, PX, EXAT, PXAT) asks for, with Redis's
    errors (getExpireMillisecondsOrReply): not an integer, not positive, or overflowing."""
    amount = Int(raw)
    seconds = unit == b"EX" or unit == b"EXAT"
    if amount <= 0 or (seconds and amount > _LLONG_MAX // 1000):
        raise CommandError(INVALID_EXPIRE.format(command_name))
    deadline = amount * 1000 if seconds else amount
    if unit == b"EX" or unit == b"PX":
        deadline += session.instance.clock.now_ms()
        if deadline > _LLONG_MAX:  # C wraps to a negative number here
            raise CommandError(INVALID_EXPIRE.format(command_name))
    return deadline


@command("get", 2, "readonly fast", keys=(1, 1, 1), group="string", since="1.0.0")
def get(session: Session, key: bytes) -> bytes | None:
    """Get the value of a key"""
    # get_string inlined: GET is the most frequent command.
    value = session.db.lookup_read(key)
    if value is None or value.__class__ is bytes:
        return value  # type: ignore[return-value]
    if value.__class__ is bytearray:  # a bitmap changed in place: reply with a snapshot
        return bytes(value)  # type: ignore[arg-type]
    raise CommandError(WRONGTYPE)


def _set_effect(session: Session, argv: list[bytes], reply: object, changed: bool) -> list[list[bytes]]:
    """SET with a TTL propagates as SET key value PXAT <ms> (SETEX and PSETEX too); SET ...
    GET without one, without GET (setGenericCommand)."""
    if len(argv) == 3:  # SET key value: as received
        return [argv]
    name = argv[0].lower()
    if name == b"set":
        opts, value = parse_set_options(argv[3:]), argv[2]
    else:  # SETEX key seconds value, PSETEX key milliseconds value
        opts, value = SetOptions(unit=b"EX" if name == b"setex" else b"PX", expire=argv[2]), argv[3]
    key = argv[1]
    if opts.unit:
        deadline = effects.stored_deadline(session, key)
        if deadline is None:  # already gone (a deadline in the past): the same arithmetic again
            deadline = expire_deadline_ms(session, opts.expire, opts.unit, name.decode())
        return [[b"SET", key, value, b"PXAT", str(deadline).encode()]]
    if opts.get:
        return [argv[:3] + [word for word in argv[3:] if word.upper() != b"GET"]]
    return [argv]


@command(
    "set",
    -3,
    "write denyoom",
    keys=(1, 1, 1),
    params=(None, None),
    rest=SetTail,
    group="string",
    since="1.0.0",
    effect=_set_effect,
)
def set_(session: Session, key: bytes, value: bytes, opts: SetOptions) -> object:
    """Set the string value of a key"""
    db = session.db
    if opts is _PLAIN_SET:
        db.set(key, value)
        session.notify("$", b"set", key)
        return OK
    deadline = expire_deadline_ms(session, opts.expire, opts.unit, "set") if opts.unit else None
    if opts.get:
        old = get_string(session, key)
        found = old is not None
    else:
        old = None
        found = (opts.nx or opts.xx) and db.lookup(key) is not None
    if (opts.nx and found) or (opts.xx and not found):
        return old
    db.set(key, value, deadline, keep_ttl=opts.keep_ttl)
    session.notify("$", b"set", key)
    if deadline is not None:
        session.notify("g", b"expire", key)
    return old if opts.get else OK


@command("setnx", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="1.0.0")
def setnx(session: Session, key: bytes, value: bytes) -> int:
    """Set the value of a key, only if the key does not exist"""
    db = session.db
    if db.lookup(key) is not None:
        return 0
    db.set(key, value)
    session.notify("$", b"set", key)
    return 1


def _set_with_expire(
    session: Session, key: bytes, raw: bytes, value: bytes, unit: bytes, name: str
) -> object:
    deadline = expire_deadline_ms(session, raw, unit, name)
    session.db.set(key, value, deadline)
    session.notify("$", b"set", key)
    session.notify("g", b"expire", key)
    return OK


@command("setex", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.0.0", effect=_set_effect)
def setex(session: Session, key: bytes, seconds: bytes, value: bytes) -> object:
    """Set the value and expiration of a key"""
    return _set_with_expire(session, key, seconds, value, b"EX", "setex")


@command("psetex", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.6.0", effect=_set_effect)
def psetex(session: Session, key: bytes, milliseconds: bytes, value: bytes) -> object:
    """Set the value and expiration in milliseconds of a key"""
    return _set_with_expire(session, key, milliseconds, value, b"PX", "psetex")


@command("getset", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="1.0.0",
         effect=lambda session, argv, reply, changed: [[b"SET", argv[1], argv[2]]])
def getset(session: Session, key: bytes, value: bytes) -> bytes | None:
    """Set the string value of a key and return its old value"""
    old = get_string(session, key)
    session.db.set(key, value)
    session.notify("$", b"set", key)
    return old


@command("getdel", 2, "write fast", keys=(1, 1, 1), group="string", since="6.2.0",
         effect=lambda session, argv, reply, changed: [effects.deletion(session, argv[1], "lazyfree-lazy-user-del")])
def getdel(session: Session, key: bytes) -> bytes | None:
    """Get the value of a key and delete the key"""
    old = get_string(session, key)
    if old is not None:
        session.db.delete(key)
        session.notify("g", b"del", key)
    return old


def _getex_effect(session: Session, argv: list[bytes], reply: object, changed: bool) -> list[list[bytes]]:
    """GETEX propagates as PEXPIREAT, DEL/UNLINK (a past EXAT/PXAT) or PERSIST (getexCommand)."""
    if parse_set_options(argv[2:], for_getex=True).persist:
        return [[b"PERSIST", argv[1]]]
    return effects.pexpireat(session, [b"PEXPIREAT", argv[1], b""], reply, changed)


@command(
    "getex",
    -2,
    "write fast",
    keys=(1, 1, 1),
    params=(None,),
    rest=GetexTail,
    group="string",
    since="6.2.0",
    effect=_getex_effect,
)
def getex(session: Session, key: bytes, opts: SetOptions) -> bytes | None:
    """Get the value of a key and optionally set its expiration"""
    value = get_string(session, key)
    if value is None:
        return None
    db = session.db
    unit = opts.unit
    if unit:
        deadline = expire_deadline_ms(session, opts.expire, unit, "getex")
        # Only an absolute time can already have passed: then the key goes at once, as a DEL.
        if (unit == b"EXAT" or unit == b"PXAT") and deadline <= db.expiry_clock.now_ms():
            db.delete(key)
            session.notify("g", b"del", key)
        else:
            db.set_deadline(key, deadline)
            session.notify("g", b"expire", key)
    elif opts.persist and db.persist(key):
        session.notify("g", b"persist", key)
    return value


@command(
    "mget",
    -2,
    "readonly fast",
    keys=(1, -1, 1),
    group="string",
    since="1.0.0",
    tips="request_policy:multi_shard",
)
def mget(session: Session, *keys: bytes) -> list[bytes | None]:
    """Get the values of all the given keys

    Null for missing keys and keys of other types.
    """
    lookup_read = session.db.lookup_read
    values: list[bytes | None] = []
    for key in keys:
        value = lookup_read(key)
        cls = value.__class__
        if cls is bytes:
            values.append(value)  # type: ignore[arg-type]
        else:
            values.append(bytes(value) if cls is bytearray else None)  # type: ignore[call-overload]
    return values


def mset_generic(session: Session, name: str, args: tuple[bytes, ...], *, only_new: bool) -> bool:
    """MSET / MSETNX (Redis's msetGenericCommand); False if `only_new` and a key exists.

    Keys and values must pair up; Redis checks it in the command (so the call counts as
    failed, not rejected), with the arity error text."""
    if len(args) % 2:
        raise wrong_arity(name)
    db = session.db
    if only_new and any(db.lookup(args[i]) is not None for i in range(0, len(args), 2)):
        return False
    for i in range(0, len(args), 2):
        db.set(args[i], args[i + 1])
        session.notify("$", b"set", args[i])
    return True


@command(
    "mset",
    -3,
    "write denyoom",
    keys=(1, -1, 2),
    group="string",
    since="1.0.1",
    tips="request_policy:multi_shard response_policy:all_succeeded",
)
def mset(session: Session, *args: bytes) -> object:
    """Set multiple keys to multiple values"""
    mset_generic(session, "mset", args, only_new=False)
    return OK


@command(
    "msetnx",
    -3,
    "write denyoom",
    keys=(1, -1, 2),
    group="string",
    since="1.0.1",
    tips="request_policy:multi_shard response_policy:agg_min",
)
def msetnx(session: Session, *args: bytes) -> int:
    """Set multiple keys to multiple values, only if none of the keys exist"""
    return int(mset_generic(session, "msetnx", args, only_new=True))


# ------------------------------------------------------------ in-place changes


@command("append", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="2.0.0")
def append(session: Session, key: bytes, suffix: bytes) -> int:
    """Append a value to a key

    Returns the new length.
    """
    old = _string_for_write(session, key)
    if old is None:
        session.db.set(key, suffix)
        size = len(suffix)
    else:
        _check_length(session, len(old) + len(suffix))
        raw = unshare_string(session, key, old)
        before_bytes = value_bytes(raw)
        raw += suffix
        session.db.charge(value_bytes(raw) - before_bytes)
        size = len(raw)
    session.notify("$", b"append", key)
    return size


@command("strlen", 2, "readonly fast", keys=(1, 1, 1), group="string", since="2.2.0")
def strlen(session: Session, key: bytes) -> int:
    """Get the length of the value stored in a key"""
    value = lookup_string(session, key)
    return 0 if value is None else len(value)


def _getrange(session: Session, key: bytes, start: int, end: int) -> bytes:
    value = lookup_string(session, key)
    if value is None:
        return b""
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    if start > end or size == 0:
        return b""
    return bytes(memoryview(value)[start : end + 1]) if value.__class__ is bytearray else value[start : end + 1]


@command(
    "getrange",
    4,
    "readonly",
    keys=(1, 1, 1),
    params=(None, Int, Int),
    group="string",
    since="2.4.0",
)
def getrange(session: Session, key: bytes, start: int, end: int) -> bytes:
    """Get a substring of the string stored at a key"""
    return _getrange(session, key, start, end)


@command(
    "substr", 4, "readonly", keys=(1, 1, 1), params=(None, Int, Int), group="string", since="1.0.0"
)
def substr(session: Session, key: bytes, start: int, end: int) -> bytes:
    """Get a substring of the string stored at a key"""
    return _getrange(session, key, start, end)


@command(
    "setrange",
    4,
    "write denyoom",
    keys=(1, 1, 1),
    params=(None, Int, None),
    group="string",
    since="2.2.0",
)
def setrange(session: Session, key: bytes, offset: int, patch: bytes) -> int:
    """Overwrite part of a string at key starting at the specified offset

    Returns the new length.
    """
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    old = _string_for_write(session, key)
    if not patch:
        return 0 if old is None else len(old)
    _check_length(session, offset + len(patch))
    if old is None:
        raw = bytearray(offset)
        raw += patch
        session.db.set(key, raw)
    else:
        raw = unshare_string(session, key, old)
        before_bytes = value_bytes(raw)
        if offset > len(raw):
            raw += bytes(offset - len(raw))
        raw[offset : offset + len(patch)] = patch
        session.db.charge(value_bytes(raw) - before_bytes)
    session.notify("$", b"setrange", key)
    return len(raw)


# ------------------------------------------------------------------- counters


def _incr_by(session: Session, key: bytes, delta: int) -> int:
    """Redis's incrDecrCommand: add `delta` to the integer at `key` (0 if missing), keep TTL."""
    db = session.db
    value = db.lookup(key)
    if value is None:
        current = 0
    elif value.__class__ is bytes or value.__class__ is bytearray:
        current = string2ll(value)  # type: ignore[arg-type]
        if current is None:
            raise CommandError(NOT_INTEGER)
    else:
        raise CommandError(WRONGTYPE)
    result = current + delta
    if result > _LLONG_MAX or result < _LLONG_MIN:
        raise CommandError(OVERFLOW)
    db.put(key, b"%d" % result)
    session.notify("$", b"incrby", key)
    return result


@command("incr", 2, "write denyoom fast", keys=(1, 1, 1), group="string", since="1.0.0")
def incr(session: Session, key: bytes) -> int:
    """Increment the integer value of a key by one"""
    return _incr_by(session, key, 1)


@command("decr", 2, "write denyoom fast", keys=(1, 1, 1), group="string", since="1.0.0")
def decr(session: Session, key: bytes) -> int:
    """Decrement the integer value of a key by one"""
    return _incr_by(session, key, -1)


@command(
    "incrby",
    3,
    "write denyoom fast",
    keys=(1, 1, 1),
    params=(None, Int),
    group="string",
    since="1.0.0",
)
def incrby(session: Session, key: bytes, increment: int) -> int:
    """Increment the integer value of a key by the given amount"""
    return _incr_by(session, key, increment)


@command(
    "decrby",
    3,
    "write denyoom fast",
    keys=(1, 1, 1),
    params=(None, Int),
    group="string",
    since="1.0.0",
)
def decrby(session: Session, key: bytes, decrement: int) -> int:
    """Decrement the integer value of a key by the given number"""
    if decrement == _LLONG_MIN:  # -LLONG_MIN does not exist in C
        raise CommandError("ERR decrement would overflow")
    return _incr_by(session, key, -decrement)


@command("incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="2.6.0",
         effect=lambda session, argv, reply, changed: [[b"SET", argv[1], reply, b"KEEPTTL"]])
def incrbyfloat(session: Session, key: bytes, increment: bytes) -> bytes:
    """Increment the float value of a key by the given amount

    Returns the new value.
    """
    old = _string_for_write(session, key)
    current = ZERO if old is None else parse_long_double(bytes(old))
    delta = parse_long_double(increment)
    if current is None or delta is None:
        raise CommandError(NOT_FLOAT)
    total = add_long_double(current, delta)
    if total is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    new = format_long_double(total)
    session.db.put(key, new)
    session.notify("$", b"incrbyfloat", key)
    return new


# ------------------------------------------------------------------------ LCS


@command("lcs", -3, "readonly", keys=(1, 2, 1), group="string", since="7.0.0")
def lcs(session: Session, key1: bytes, key2: bytes, *options: bytes) -> object:
    """Find longest common substring

    With LEN its length, with IDX the matching ranges.
    """
    db = session.db
    a = db.lookup_read(key1)
    b = db.lookup_read(key2)
    if (a is not None and a.__class__ not in _STRING_CLASSES) or (
        b is not None and b.__class__ not in _STRING_CLASSES
    ):
        raise CommandError(_LCS_WRONGTYPE)
    a = a or b""
    b = b or b""
    want_len = want_idx = with_match_len = False
    min_match_len = 0
    i = 0
    while i < len(options):
        opt = _option_word(options[i])
        if opt == b"IDX":
            want_idx = True
        elif opt == b"LEN":
            want_len = True
        elif opt == b"WITHMATCHLEN":
            with_match_len = True
        elif opt == b"MINMATCHLEN" and i + 1 < len(options):
            min_match_len = max(Int(options[i + 1]), 0)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if want_len and want_idx:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    # Redis allocates a (len(a)+1) x (len(b)+1) table of uint32 and refuses past this bound.
    if (len(a) + 1) * (len(b) + 1) * 4 > session.instance.config.int("proto-max-bulk-len"):
        raise CommandError(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        )
    return _lcs_reply(a, b, want_len, want_idx, with_match_len, min_match_len)  # type: ignore[arg-type]


def _lcs_rows(a: bytes, b: bytes) -> list[int]:
    """The LCS table, one bit vector per row (Hyyro's bit-parallel algorithm): in row i, bit j
    is 0 exactly when LCS(a[:i], b[:j+1]) = LCS(a[:i], b[:j]) + 1."""
    mask = (1 << len(b)) - 1
    positions: dict[int, int] = {}
    for j, byte in enumerate(b):
        positions[byte] = positions.get(byte, 0) | (1 << j)
    row = mask
    rows = [row]
    for byte in a:
        matched = row & positions.get(byte, 0)
        row = ((row + matched) | (row - matched)) & mask
        rows.append(row)
    return rows


def _lcs_reply(
    a: bytes, b: bytes, want_len: bool, want_idx: bool, with_match_len: bool, min_match_len: int
) -> object:
    """Walk the table back from the end exactly as Redis's lcsCommand does, so that ties pick
    the same common subsequence and the ranges come out in the same order."""
    rows = _lcs_rows(a, b)

    def table(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    total = table(len(a), len(b))
    if want_len:
        return total
    result = bytearray(total)
    matches: list[list[object]] = []
    pos = total
    i, j = len(a), len(b)
    no_range = len(a)  # Redis marks "no range open" with alen
    a_start = no_range
    a_end = b_start = b_end = 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[pos - 1] = a[i - 1]
            if a_start == no_range:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            pos -= 1
            i -= 1
            j -= 1
        else:
            if table(i - 1, j) > table(i, j - 1):
                i -= 1
            else:
                j -= 1
            if a_start != no_range:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if want_idx and (min_match_len == 0 or match_len >= min_match_len):
                match: list[object] = [[a_start, a_end], [b_start, b_end]]
                if with_match_len:
                    match.append(match_len)
                matches.append(match)
            a_start = no_range
    if want_idx:
        return Map([(b"matches", matches), (b"len", total)])
    return bytes(result)
