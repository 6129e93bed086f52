"""Connection commands: PING, ECHO, SELECT, QUIT, HELLO, AUTH, RESET, CLIENT (Redis 7.0).

Authentication (AUTH is in commands/acl.py, with the users): while the default user needs
no password (no `requirepass`) connections start authenticated as it; otherwise connections
made from then on start unauthenticated and every command without the no_auth flag answers
NOAUTH (checked once, in the dispatcher) until AUTH or HELLO ... AUTH names a user and its
password. As in Redis, a connection authenticated before `requirepass` was set stays
authenticated. Closing another client goes
through its session's `close` callback; a client that kills itself is closed after its reply
(`session.closing`).
"""

from __future__ import annotations

from tandemkv.commands.acl import authenticate, set_default_auth
from tandemkv.commands.args import Db, Int
from tandemkv.commands.clients import client_info_line, client_type
from tandemkv.commands.session import REPLY_OFF, REPLY_SKIP, REPLY_SKIP_NEXT, VERSION, Session
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import DB_INDEX_OUT_OF_RANGE, SYNTAX, CommandError, printable, wrong_arity
from tandemkv.protocol import OK, PONG, Error, Map, Simple, Verbatim, string2ll

_LONG_MAX = 2**63 - 1


@command("ping", -1, "fast sentinel", group="connection", since="1.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded")
def ping(session: Session, *message: bytes) -> object:
    """Ping the server"""
    if len(message) > 1:
        raise wrong_arity("ping")
    if session.resp == 2 and session.subscriptions:
        return [b"pong", message[0] if message else b""]
    return message[0] if message else PONG


@command("echo", 2, "loading stale fast", group="connection", since="1.0.0")
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


@command("quit", -1, "noscript loading stale fast no_auth allow_busy", group="connection", since="1.0.0")
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
    # Redis 7.0 applies AUTH and SETNAME as it meets them, before later syntax errors.
    while rest:
        given = rest.pop(0)
        option = given.upper()
        if option == b"AUTH" and len(rest) >= 2:
            username, password = rest.pop(0), rest.pop(0)
            authenticate(session, username, password)
        elif option == b"SETNAME" and rest:
            name = rest.pop(0)
            check_client_name(name)
            session.name = name
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{printable(given)}'")
    if not session.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
            "the RESP protocol version at the same time"
        )
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


@command("reset", 1, "noscript loading stale fast no_auth sentinel allow_busy", group="connection", since="6.2.0")
def reset(session: Session) -> object:
    """Reset the connection"""
    session.discard_transaction()
    session.instance.monitors.pop(session, None)
    session.instance.hub.unsubscribe_all(session)
    session.select(0)
    session.resp = 2
    session.name = b""
    set_default_auth(session)
    return Simple(b"RESET")


def check_client_name(name: bytes) -> None:
    if any(ch < 33 or ch > 126 for ch in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


# --------------------------------------------------------------------------- CLIENT

container("client", -2, group="connection", since="2.4.0", acl="", summary="A container for client connection commands")

_CLIENT_HELP = help_reply(
    "CLIENT",
    (
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
    ),
)


@command("help", 2, "loading stale", group="connection", since="5.0.0", container="client")
def client_help(session: Session) -> list[Simple]:
    """Show helpful text about the different subcommands"""
    # Redis 7.0's text, verbatim (clients parse it); it lists subcommands tandemkv lacks too.
    return _CLIENT_HELP


@command("id", 2, "noscript loading stale", group="connection", since="5.0.0", container="client")
def client_id(session: Session) -> int:
    """Returns the client ID for the current connection"""
    return session.id


@command("setname", 3, "noscript loading stale", group="connection", since="2.6.9", container="client")
def client_setname(session: Session, name: bytes) -> object:
    """Set the current connection name"""
    check_client_name(name)
    session.name = name
    return OK


@command("getname", 2, "noscript loading stale", group="connection", since="2.6.9", container="client")
def client_getname(session: Session) -> bytes | None:
    """Get the current connection name"""
    return session.name or None


# Redis 7.0.15 has no CLIENT SETINFO (it arrived in 7.2). redis-py 5+ sends it on every connect
# and ignores an error, but answering OK keeps its log clean and records what the library is;
# it follows 7.2's rules. Differential tests cannot compare it.
@command("setinfo", 4, "noscript loading stale", group="connection", since="7.2.0", container="client")
def client_setinfo(session: Session, attribute: bytes, value: bytes) -> object:
    """Set client or connection specific info"""
    option = attribute.lower()
    if option not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{printable(attribute)}'")
    if any(ch < 33 or ch > 126 for ch in value):
        raise CommandError(f"ERR {printable(attribute)} cannot contain spaces, newlines or special characters.")
    if option == b"lib-name":
        session.lib_name = value
    else:
        session.lib_ver = value
    return OK


_CLIENT_TYPES = {b"normal": "normal", b"master": "master", b"slave": "slave", b"replica": "slave", b"pubsub": "pubsub"}


def _client_type(name: bytes) -> str:
    kind = _CLIENT_TYPES.get(name.lower())
    if kind is None:
        raise CommandError(f"ERR Unknown client type '{printable(name)}'")
    return kind


@command("list", -2, "admin noscript loading stale", group="connection", since="2.4.0", container="client", acl="connection dangerous",
         tips="nondeterministic_output")
def client_list(session: Session, *args: bytes) -> Verbatim:
    """Get the list of client connections"""
    sessions = session.instance.sessions
    if len(args) == 2 and args[0].lower() == b"type":
        kind = _client_type(args[1])
        chosen = [s for s in sessions.values() if client_type(s) == kind]
    elif len(args) > 1 and args[0].lower() == b"id":
        chosen = []
        for raw in args[1:]:
            client_id = string2ll(raw)
            if client_id is None:
                raise CommandError("ERR Invalid client ID")
            found = sessions.get(client_id)
            if found is not None:
                chosen.append(found)
    elif args:
        raise CommandError(SYNTAX)
    else:
        chosen = list(sessions.values())
    now_ms = session.instance.clock.now_ms()
    text = "".join(client_info_line(s, now_ms, session) + "\n" for s in chosen)
    return Verbatim(text.encode("latin-1"))


@command("reply", 3, "noscript loading stale", group="connection", since="3.2.0", container="client")
def client_reply(session: Session, mode: bytes) -> object:
    """Instruct the server whether to reply to commands"""
    word = mode.lower()
    if word == b"on":
        session.reply_mode &= ~(REPLY_OFF | REPLY_SKIP)
        return OK
    if word == b"off":
        session.reply_mode |= REPLY_OFF
        return OK  # dropped: the server layer sends nothing while OFF
    if word == b"skip":
        if not session.reply_mode & REPLY_OFF:
            session.reply_mode |= REPLY_SKIP_NEXT
        return OK  # dropped, and so is the next command's reply
    raise CommandError(SYNTAX)


@command("unblock", -3, "admin noscript loading stale", group="connection", since="5.0.0", container="client",
         acl="connection dangerous")
def client_unblock(session: Session, raw_id: bytes, *reason: bytes) -> int:
    """Unblock a client blocked in a blocking command from a different connection"""
    if len(reason) > 1:  # Redis's subcommand fallback (addReplySubcommandSyntaxError)
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{printable(session.argv[1])}'. Try CLIENT HELP."
        )
    as_error = False
    if reason:
        word = reason[0].lower()
        if word not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        as_error = word == b"error"
    client_id = Int(raw_id)
    target = session.instance.sessions.get(client_id)
    if target is None or target.blocked is None:
        return 0
    error = Error("UNBLOCKED client unblocked via CLIENT UNBLOCK") if as_error else None
    session.instance.blocking.time_out(target.blocked, error)
    return 1


@command("no-evict", 3, "admin noscript loading stale sentinel", group="connection", since="7.0.0",
         container="client", acl="connection dangerous")
def client_no_evict(session: Session, switch: bytes) -> object:
    """Set client eviction mode for the current connection"""
    word = switch.lower()
    if word not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    session.no_evict = word == b"on"
    return OK


@command("info", 2, "noscript loading stale", group="connection", since="6.2.0", container="client",
         tips="nondeterministic_output")
def client_info(session: Session) -> Verbatim:
    """Returns information about the current client connection."""
    return Verbatim((client_info_line(session, session.instance.clock.now_ms(), session) + "\n").encode("latin-1"))


@command("kill", -3, "admin noscript loading stale", group="connection", since="2.4.0", container="client", acl="connection dangerous")
def client_kill(session: Session, *args: bytes) -> object:
    """Kill the connection of a client"""
    addr = laddr = None
    user = None
    kind = None
    client_id = 0
    skipme = True
    if len(args) == 1:
        addr, skipme = args[0], False  # the old form may kill the caller itself
    else:
        for i in range(0, len(args), 2):
            if i + 1 >= len(args):
                raise CommandError(SYNTAX)
            option, value = args[i].lower(), args[i + 1]
            if option == b"id":
                number = string2ll(value)
                if number is None or not 1 <= number <= _LONG_MAX:
                    raise CommandError("ERR client-id should be greater than 0")
                client_id = number
            elif option == b"type":
                kind = _client_type(value)
            elif option == b"addr":
                addr = value
            elif option == b"laddr":
                laddr = value
            elif option == b"user":
                user = session.instance.acl.users.get(value)
                if user is None:
                    raise CommandError(f"ERR No such user '{printable(value)}'")
            elif option == b"skipme" and value.lower() in (b"yes", b"no"):
                skipme = value.lower() == b"yes"
            else:
                raise CommandError(SYNTAX)
    killed = 0
    for other in list(session.instance.sessions.values()):
        if addr is not None and other.addr.encode("latin-1") != addr:
            continue
        if laddr is not None and other.laddr.encode("latin-1") != laddr:
            continue
        if kind is not None and client_type(other) != kind:
            continue
        if client_id and other.id != client_id:
            continue
        if user is not None and other.user is not user:
            continue
        if other is session:
            if skipme:
                continue
            session.closing = True
        else:
            other.close()
        killed += 1
    if len(args) == 1:
        if not killed:
            raise CommandError("ERR No such client")
        return OK
    return killed

