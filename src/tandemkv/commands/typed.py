"""What every collection type's commands share: typed lookups (WRONGTYPE from one place),
charging a collection's growth to the memory bound, and deleting a collection that empties.

A command on a collection follows Redis's t_*.c shape:

    value = lookup_typed(session, key, ListValue)          # None, or WRONGTYPE raised
    if value is None: value = create(session, key, ListValue())
    before = value.nbytes
    ... change value ...
    charge(session, value, before)                        # the growth, in the same write
    session.notify("l", b"lpush", key)
    drop_if_empty(session, key, value)                    # `del` event, as Redis

Reads that Redis does with lookupKeyRead pass `read=True` (keyspace_hits/misses counted).
"""

from __future__ import annotations

from typing import Any, TypeVar

from tandemkv.commands.session import Session
from tandemkv.errors import WRONGTYPE, CommandError

T = TypeVar("T")


def lookup_typed(session: Session, key: bytes, cls: type[T], *, read: bool = False) -> T | None:
    """The live value at `key` if it is a `cls` (None if missing); WRONGTYPE otherwise.
    `read`: Redis's lookupKeyRead (counted in keyspace_hits/misses), else lookupKeyWrite."""
    db = session.db
    value = db.lookup_read(key) if read else db.lookup(key)
    if value is None or value.__class__ is cls:
        return value  # type: ignore[return-value]
    raise CommandError(WRONGTYPE)


def create(session: Session, key: bytes, value: T) -> T:
    """Store a new (empty) collection at a key that holds none; returns it."""
    session.db.set(key, value)
    return value


def charge(session: Session, value: Any, before_bytes: int) -> None:
    """Charge the memory bound for a collection changed in place (`before_bytes`: its
    `nbytes` before the change)."""
    delta = value.nbytes - before_bytes
    if delta:
        session.db.charge(delta)


def drop_if_empty(session: Session, key: bytes, value: Any) -> bool:
    """Delete the key of a collection left empty, with Redis's `del` event; True if it was."""
    if len(value):
        return False
    session.db.delete(key)
    session.notify("g", b"del", key)
    return True
