"""Server commands: FLUSHDB, FLUSHALL, DBSIZE, INFO, CONFIG, TIME, SWAPDB, SHUTDOWN, ..."""

from __future__ import annotations

from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.errors import SYNTAX, CommandError
from tandemkv.protocol import OK


def _flush_mode(args: tuple[bytes, ...]) -> None:
    if len(args) > 1 or (args and args[0].upper() not in (b"SYNC", b"ASYNC")):
        raise CommandError(SYNTAX)


@command("flushdb", -1, "write", group="server", since="1.0.0")
def flushdb(session: Session, *mode: bytes) -> object:
    """Remove all keys from the current database"""
    _flush_mode(mode)
    session.db.flush()
    return OK


@command("flushall", -1, "write", group="server", since="1.0.0")
def flushall(session: Session, *mode: bytes) -> object:
    """Remove all keys from all databases"""
    _flush_mode(mode)
    for db in session.instance.dbs:
        db.flush()
    return OK


@command("dbsize", 1, "readonly fast", group="server", since="1.0.0")
def dbsize(session: Session) -> int:
    """Return the number of keys in the selected database"""
    return len(session.db)
