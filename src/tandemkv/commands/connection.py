"""Connection commands: PING, ECHO, SELECT, QUIT, HELLO, RESET, AUTH, CLIENT."""

from __future__ import annotations

from tandemkv.commands.args import Db
from tandemkv.commands.session import VERSION, Session
from tandemkv.commands.table import command
from tandemkv.errors import DB_INDEX_OUT_OF_RANGE, CommandError, printable, wrong_arity
from tandemkv.protocol import OK, PONG, Map, string2ll


@command("ping", -1, "fast sentinel", group="connection", since="1.0.0")
def ping(session: Session, *message: bytes) -> object:
    """Ping the server"""
    if len(message) > 1:
        raise wrong_arity("ping")
    if session.resp == 2 and session.subscriptions:
        return [b"pong", message[0] if message else b""]
    return message[0] if message else PONG


@command("echo", 2, "fast", group="connection", since="1.0.0")
def echo(session: Session, message: bytes) -> bytes:
    """Echo the given string"""
    return message


@command("select", 2, "loading stale fast", params=(Db,), group="connection", since="1.0.0")
def select(session: Session, index: int) -> object:
    """Change the selected database for the current connection"""
    if not 0 <= index < len(session.instance.dbs):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    session.select(index)
    return OK


@command("quit", -1, "allow_busy fast no_auth", group="connection", since="1.0.0")
def quit_(session: Session, *args: bytes) -> object:
    """Close the connection"""
    session.closing = True
    return OK


@command("hello", -1, "noscript loading stale fast no_auth sentinel allow_busy", group="connection", since="6.0.0")
def hello(session: Session, *args: bytes) -> object:
    """Handshake with Redis"""
    version = session.resp
    rest = list(args)
    if rest:
        number = string2ll(rest.pop(0))
        if number is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if number < 2 or number > 3:
            raise CommandError("NOPROTO unsupported protocol version")
        version = number
    name: bytes | None = None
    while rest:
        given = rest.pop(0)
        option = given.upper()
        if option == b"AUTH" and len(rest) >= 2:
            username, password = rest.pop(0), rest.pop(0)
            check_credentials(username, password)
        elif option == b"SETNAME" and rest:
            name = rest.pop(0)
            check_client_name(name)
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{printable(given)}'")
    if name is not None:
        session.name = name
    session.resp = version
    return Map(
        [
            (b"server", b"redis"),
            (b"version", VERSION.encode()),
            (b"proto", version),
            (b"id", session.id),
            (b"mode", b"standalone"),
            (b"role", b"master"),
            (b"modules", []),
        ]
    )


def check_credentials(username: bytes, password: bytes) -> None:
    """No password is configured: the default user takes any password, as in Redis."""
    if username != b"default":
        raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")


def check_client_name(name: bytes) -> None:
    if any(ch < 33 or ch > 126 for ch in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")
