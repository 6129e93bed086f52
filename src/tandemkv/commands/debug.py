"""DEBUG subcommands used by Redis's test tooling (Redis 7.0 debug.c semantics).

DEBUG is one command in Redis (not a container): it dispatches on its first argument itself and
answers Redis's subcommand-syntax error for names it does not know or wrong argument counts.
Only the subcommands below are implemented; DEBUG HELP lists exactly those, in Redis's words.
Unlike Redis 7.0 (enable-debug-command no), DEBUG is always enabled.
"""

from __future__ import annotations

import re
import time

from tandemkv.commands.args import ranged
from tandemkv.commands.session import Session
from tandemkv.commands.table import command, help_reply
from tandemkv.errors import NOT_POSITIVE, CommandError, printable
from tandemkv.protocol import OK

_HELP = help_reply(
    "DEBUG",
    (
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
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
_LEADING_INT = re.compile(rb"\s*([+-]?\d+)")
_LEADING_FLOAT = re.compile(rb"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


@command("debug", -2, "admin noscript loading stale", group="server", since="1.0.0")
def debug(session: Session, subcommand: bytes, *args: bytes) -> object:
    """A container for debugging commands"""
    name = subcommand.lower()
    if name == b"help" and not args:
        return _HELP
    if name == b"populate" and 1 <= len(args) <= 3:
        return _populate(session, args)
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
        if watches.keys and (session.db_index, key) in watches.keys:
            watches.touch((session.db_index, key))
    return OK


def _set_active_expire(session: Session, enabled: bool) -> object:
    """Turn the expiry timer off or on; lazy expiry on reads stays on either way."""
    instance = session.instance
    instance.active_expire = enabled
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
