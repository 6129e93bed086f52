"""String commands (Redis 7.0 t_string.c semantics)."""

from __future__ import annotations

from dataclasses import dataclass

from tandemkv.commands.args import Int
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.errors import INVALID_EXPIRE, SYNTAX, WRONGTYPE, CommandError
from tandemkv.protocol import OK

_LLONG_MAX = 2**63 - 1


def get_string(session: Session, key: bytes) -> bytes | None:
    """The string at `key` (None if missing); WRONGTYPE for other types. Counts hits/misses."""
    value = session.db.lookup_read(key)
    if value is None or value.__class__ is bytes:
        return value  # type: ignore[return-value]
    raise CommandError(WRONGTYPE)


@dataclass(slots=True)
class SetOptions:
    nx: bool = False
    xx: bool = False
    get: bool = False
    keep_ttl: bool = False
    persist: bool = False
    unit: str = ""  # EX, PX, EXAT or PXAT
    expire: bytes = b""


def parse_set_options(args: list[bytes], *, for_getex: bool = False) -> SetOptions:
    """SET/GETEX options, with Redis's rules for which combinations are a syntax error."""
    opts = SetOptions()
    i = 0
    n = len(args)
    while i < n:
        opt = args[i].upper()
        has_next = i + 1 < n
        timed = opts.unit != ""
        if opt == b"NX" and not for_getex and not opts.xx:
            opts.nx = True
        elif opt == b"XX" and not for_getex and not opts.nx:
            opts.xx = True
        elif opt == b"GET" and not for_getex:
            opts.get = True
        elif opt == b"KEEPTTL" and not for_getex and not opts.persist and not timed:
            opts.keep_ttl = True
        elif opt == b"PERSIST" and for_getex and not timed and not opts.keep_ttl:
            opts.persist = True
        elif (
            opt in (b"EX", b"PX", b"EXAT", b"PXAT")
            and not opts.keep_ttl
            and not opts.persist
            and opts.unit in ("", opt.decode())
            and has_next
        ):
            opts.unit = opt.decode()
            opts.expire = args[i + 1]
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return opts


def SetTail(args: list[bytes]) -> SetOptions:
    return parse_set_options(args)


def expire_deadline_ms(session: Session, opts: SetOptions, command_name: str) -> int | None:
    """The absolute deadline an EX/PX/EXAT/PXAT option asks for (Redis getExpireMillisecondsOrReply)."""
    if not opts.unit:
        return None
    amount = Int(opts.expire)
    seconds = opts.unit in ("EX", "EXAT")
    if amount <= 0 or (seconds and amount > _LLONG_MAX // 1000):
        raise CommandError(INVALID_EXPIRE.format(command_name))
    deadline = amount * 1000 if seconds else amount
    if opts.unit in ("EX", "PX"):
        deadline += session.instance.clock.now_ms()
    if deadline <= 0 or deadline > _LLONG_MAX:
        raise CommandError(INVALID_EXPIRE.format(command_name))
    return deadline


@command("get", 2, "readonly fast", keys=(1, 1, 1), group="string", since="1.0.0")
def get(session: Session, key: bytes) -> bytes | None:
    """Get the value of a key"""
    return get_string(session, key)


@command("set", -3, "write denyoom", keys=(1, 1, 1), params=(None, None), rest=SetTail, group="string", since="1.0.0")
def set_(session: Session, key: bytes, value: bytes, opts: SetOptions) -> object:
    """Set the string value of a key"""
    deadline = expire_deadline_ms(session, opts, "set") if opts.unit else None
    db = session.db
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
