"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis 7.0 multi.c semantics).

Queueing is the dispatcher's (commands/dispatch.py): inside MULTI every command except EXEC,
DISCARD, MULTI, WATCH, QUIT and RESET is checked (unknown, arity, no_multi, OOM, subscribed
context: any failure flags the transaction so that EXEC answers EXECABORT) and queued.

EXEC runs the queued commands as one atomic unit, inside one call on the event loop: no
other client, background slice or expiry timer interleaves; blocking commands answer as on
timeout; clients blocked on keys the transaction readied are served after it (the dispatcher
serves ready keys only outside atomic units). Runtime errors of single commands are replies
in the array and leave the other commands' effects, as in Redis. WATCH is commands/watching.py.
"""

from __future__ import annotations

from typing import Any

from tandemkv.commands import effects
from tandemkv.commands.acl import exec_refusal
from tandemkv.commands.dispatch import call
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.errors import CommandError
from tandemkv.protocol import NULL_ARRAY, OK, Error

EXECABORT = "EXECABORT Transaction discarded because of previous errors."


@command("multi", 1, "noscript loading stale fast allow_busy", group="transactions", since="1.2.0")
def multi(session: Session) -> object:
    """Mark the start of a transaction block"""
    if session.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    session.multi = []
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions", since="1.2.0", effect=effects.none)
def exec_(session: Session) -> Any:
    """Execute all commands issued after MULTI"""
    queued = session.multi
    if queued is None:
        raise CommandError("ERR EXEC without MULTI")
    if not session.cas_dirty and session.watched and _watched_key_expired(session):
        session.cas_dirty = True
    if session.multi_error or session.cas_dirty:
        aborted = session.multi_error
        session.discard_transaction()
        if aborted:
            raise CommandError(EXECABORT)
        return NULL_ARRAY
    session.discard_transaction()  # leaves MULTI and unwatches before running, as Redis
    instance = session.instance
    denied = session.deny_blocking
    session.deny_blocking = True
    instance.atomic_depth += 1
    try:
        if session.user.unrestricted:
            return [call(session, spec, argv) for spec, argv in queued]
        # The rules may have changed since the commands were queued (execCommand).
        replies = []
        for spec, argv in queued:
            refusal = exec_refusal(session, spec, argv)
            if refusal is None:
                replies.append(call(session, spec, argv))
            else:
                instance.stats.count_error(refusal)
                replies.append(Error(refusal))
        return replies
    finally:
        instance.atomic_depth -= 1
        session.deny_blocking = denied


def _watched_key_expired(session: Session) -> bool:
    """Redis's isWatchedKeyExpired: a watched key that was live at WATCH is past its deadline
    now (even if nobody deleted it yet)."""
    dbs = session.instance.dbs
    return any(not expired and dbs[db].is_expired(key) for (db, key), expired in session.watched.items())


@command("discard", 1, "noscript loading stale fast allow_busy", group="transactions", since="2.0.0")
def discard(session: Session) -> object:
    """Discard all commands issued after MULTI"""
    if session.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    session.discard_transaction()
    return OK


@command("watch", -2, "noscript loading stale fast allow_busy", keys=(1, -1, 1), group="transactions", since="2.2.0")
def watch(session: Session, *keys: bytes) -> object:
    """Watch the given keys to determine execution of the MULTI/EXEC block"""
    if session.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    if session.cas_dirty:  # no point: EXEC fails anyway
        return OK
    watches, db, index = session.instance.watches, session.db, session.db_index
    for key in keys:
        watches.watch(session, (index, key), db.is_expired(key))
    return OK


@command("unwatch", 1, "noscript loading stale fast allow_busy", group="transactions", since="2.2.0")
def unwatch(session: Session) -> object:
    """Forget about all watched keys"""
    session.instance.watches.unwatch_all(session)
    session.cas_dirty = False
    return OK
