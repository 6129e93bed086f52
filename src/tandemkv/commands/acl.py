"""The ACL command, authentication, and the permission check the dispatcher, EXEC and scripts
run (Redis 7.0's acl.c and processCommand). The users themselves are in commands/users.py.

- `denial` is the one permission check: it asks the session's user, writes an ACL LOG entry
  for a refusal and returns the refusal's kind and argument; callers word the error (each
  context has its own text in Redis: top level, EXEC, scripts).
- A deleted user's clients are disconnected (after their reply when one deletes its own
  user); a user whose channel permissions shrink loses its pub/sub clients that no longer fit.
"""

from __future__ import annotations

from tandemkv.commands.categories import ACL_CATEGORIES, acl_categories
from tandemkv.commands.clients import client_info_line
from tandemkv.commands.session import Session
from tandemkv.commands.table import TABLE, CommandSpec, command, container, help_reply
from tandemkv.commands.users import (
    ACL_OK,
    DENIED_AUTH,
    DENIED_CHANNEL,
    DENIED_CMD,
    DENIED_KEY,
    LOG_REASONS,
    LogEntry,
    Selector,
    SetUserError,
    User,
    catalog,
    generate_password_hex,
    has_spaces,
    merge_selectors,
    read_acl_file,
    write_acl_file,
)
from tandemkv.errors import SYNTAX, CommandError, printable
from tandemkv.protocol import OK, Double, Map, SetReply, string2ll

GENPASS_MAX_BITS = 4096

# processCommand's refusals, byte for byte.
NOPERM_KEY = "NOPERM this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNEL = "NOPERM this user has no permissions to access one of the channels used as arguments"
# EXEC's, when the rules changed after a command was queued (execCommand).
_EXEC_REASONS = {
    DENIED_CMD: "no permission to execute the command or subcommand",
    DENIED_KEY: "no permission to touch the specified keys",
    DENIED_CHANNEL: "no permission to access one of the channels used as arguments",
}
# Scripts' (getAclErrorMessage).
_SCRIPT_REASONS = {
    DENIED_CMD: "can't run this command or subcommand",
    DENIED_KEY: "can't access at least one of the keys mentioned in the command arguments",
    DENIED_CHANNEL: "can't publish to the channel mentioned in the command",
}


# --------------------------------------------------------------------------- checks


def denial(client: Session, user: User, spec: CommandSpec, argv: list[bytes], context: str) -> int:
    """Check `argv` for `user`; ACL_OK, or the refusal (logged on behalf of `client`)."""
    result, position = user.check(spec, argv)
    if result != ACL_OK:
        subject = spec.full_name.encode() if result == DENIED_CMD else argv[position]
        log_denial(client, result, context, subject, user.name)
    return result


def toplevel_refusal(session: Session, spec: CommandSpec, argv: list[bytes]) -> str | None:
    """processCommand's ACL check: None, or the NOPERM error text."""
    result = denial(session, session.user, spec, argv, "multi" if session.multi is not None else "toplevel")
    if result == ACL_OK:
        return None
    if result == DENIED_CMD:
        return f"NOPERM this user has no permissions to run the '{spec.full_name}' command"
    return NOPERM_KEY if result == DENIED_KEY else NOPERM_CHANNEL


def exec_refusal(session: Session, spec: CommandSpec, argv: list[bytes]) -> str | None:
    """execCommand's check of a queued command, with the rules as they are now."""
    result = denial(session, session.user, spec, argv, "multi")
    if result == ACL_OK:
        return None
    return (
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC "
        f"call. This command is no longer allowed for the following reason: {_EXEC_REASONS[result]}"
    )


def script_refusal(caller: Session, spec: CommandSpec, argv: list[bytes]) -> str | None:
    """scriptVerifyACL: None, or the text after ERR that redis.call raises."""
    result = denial(caller, caller.user, spec, argv, "lua")
    if result == ACL_OK:
        return None
    return f"The user executing the script {_SCRIPT_REASONS[result]}"


def log_denial(session: Session, reason: int, context: str, subject: bytes, username: bytes) -> None:
    """addACLLogEntry, on behalf of `session` (a script's caller for a script)."""
    instance = session.instance
    now_ms = instance.clock.now_ms()
    entry = LogEntry(1, reason, context, subject, username, now_ms, client_info_line(session, now_ms, session))
    instance.acl.add_log(entry, instance.config.int("acllog-max-len"))


# --------------------------------------------------------------------------- redaction

REDACTED = b"(redacted)"
_SENSITIVE_CONFIGS = frozenset({b"requirepass", b"masterauth"})


def redacted(spec: CommandSpec, argv: list[bytes]) -> list[bytes]:
    """The command line as the slow log and MONITOR show it: user names, passwords and rules
    replaced by "(redacted)", as Redis's redactClientCommandArgument leaves them."""
    name = spec.full_name
    if name == "auth":
        return [argv[0], *[REDACTED] * (len(argv) - 1)]
    if name == "acl|setuser":
        return [*argv[:2], *[REDACTED] * (len(argv) - 2)]
    if name == "hello":
        shown = list(argv)
        i = 2
        while i < len(shown):
            if shown[i].upper() == b"AUTH" and i + 2 < len(shown):
                shown[i + 1] = shown[i + 2] = REDACTED
                i += 2
            elif shown[i].upper() == b"SETNAME":
                i += 1
            i += 1
        return shown
    if name == "config|set":
        shown = list(argv)
        for i in range(2, len(shown) - 1, 2):
            if shown[i].lower() in _SENSITIVE_CONFIGS:
                shown[i + 1] = REDACTED
        return shown
    return argv


# --------------------------------------------------------------------------- authentication


def authenticate(session: Session, username: bytes, password: bytes) -> None:
    """ACLAuthenticateUser: the session runs as `username` from now on, or WRONGPASS (and
    an ACL LOG entry)."""
    user = session.instance.acl.users.get(username)
    if user is None or not user.check_password(password):
        # AUTH is refused in scripts: an atomic unit here is EXEC, still MULTI to Redis.
        context = "multi" if session.multi is not None or session.instance.atomic_depth else "toplevel"
        log_denial(session, DENIED_AUTH, context, session.argv[0], username)
        raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
    session.authenticated = True
    session.user = user


def set_default_auth(session: Session) -> None:
    """clientSetDefaultAuth (RESET): the default user, authenticated only if it needs no
    password."""
    session.user = session.instance.acl.default
    session.authenticated = session.instance.auth_not_required


def _disconnect_users(session: Session, users: list[User]) -> None:
    """ACLFreeUserAndKillClients: clients of these users lose them and are closed (the caller
    itself after its reply)."""
    if not users:
        return
    gone = {id(user) for user in users}
    instance = session.instance
    for other in list(instance.sessions.values()):
        if id(other.user) in gone:
            other.user = instance.acl.default
            other.authenticated = False
            if other is session:
                session.closing = True
            else:
                other.close()


def _kill_pubsub_clients(session: Session, user: User, before: User) -> None:
    """ACLKillPubsubClientsIfNeeded: when the user's channels no longer cover what it had,
    its pub/sub clients with a channel or pattern outside them are disconnected."""
    if any(selector.allchannels for selector in user.selectors):
        return
    upcoming = [pattern for selector in user.selectors for pattern in selector.channels]
    if not any(selector.allchannels for selector in before.selectors) and all(
        pattern in upcoming for selector in before.selectors for pattern in selector.channels
    ):
        return
    root = Selector(channels=upcoming)
    for other in list(session.instance.sessions.values()):
        if other.user is not user or not other.subscriptions:
            continue
        if any(not root.channel_allowed(pattern, True) for pattern in other.patterns) or any(
            not root.channel_allowed(channel, False) for channel in (*other.channels, *other.shard_channels)
        ):
            if other is session:
                session.closing = True
            else:
                other.close()


# --------------------------------------------------------------------------- ACL

container("acl", -2, "sentinel", group="server", since="6.0.0", summary="A container for Access List Control commands ")

_ACL_HELP = help_reply(
    "ACL",
    (
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
    ),
)

_ADMIN = "admin noscript loading stale sentinel"
_PLAIN = "noscript loading stale sentinel"


def _subcommand_syntax_error(session: Session) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{printable(session.argv[1])}'. Try ACL HELP."
    )


@command("help", 2, "loading stale sentinel", group="server", since="6.0.0", container="acl")
def acl_help(session: Session) -> object:
    """Show helpful text about the different subcommands"""
    return _ACL_HELP


@command("setuser", -3, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_setuser(session: Session, username: bytes, *rules: bytes) -> object:
    """Modify or create the rules for a specific ACL user"""
    if has_spaces(username):
        raise CommandError("ERR Usernames can't contain spaces or null characters")
    acl = session.instance.acl
    try:
        ops = merge_selectors(list(rules))
    except ValueError as exc:
        raise CommandError(
            f"ERR Unmatched parenthesis in acl selector starting at '{printable(exc.args[0])}'."
        ) from None
    existing = acl.users.get(username)
    try:
        staged = acl.staged(existing, username, ops)
    except SetUserError as exc:
        raise CommandError(f"ERR Error in ACL SETUSER modifier '{printable(exc.op)}': {exc.reason}") from None
    user, before = acl.commit(username, staged)
    if before is not None:
        _kill_pubsub_clients(session, user, before)
    return OK


@command("deluser", -3, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_deluser(session: Session, *usernames: bytes) -> int:
    """Remove the specified ACL users and the associated rules"""
    if b"default" in usernames:
        raise CommandError("ERR The 'default' user cannot be removed")
    users = session.instance.acl.users
    deleted = [users.pop(name) for name in usernames if name in users]
    _disconnect_users(session, deleted)
    return len(deleted)


@command("getuser", 3, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_getuser(session: Session, username: bytes) -> object:
    """Get the rules for a specific ACL user"""
    user = session.instance.acl.users.get(username)
    if user is None:
        return None
    root = user.root
    return Map(
        [
            (b"flags", SetReply(user.flags())),
            (b"passwords", list(user.passwords)),
            (b"commands", root.describe_commands()),
            (b"keys", root.describe_keys()),
            (b"channels", root.describe_channels()),
            (
                b"selectors",
                [
                    Map([
                        (b"commands", selector.describe_commands()),
                        (b"keys", selector.describe_keys()),
                        (b"channels", selector.describe_channels()),
                    ])
                    for selector in user.selectors[1:]
                ],
            ),
        ]
    )


@command("list", 2, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_list(session: Session) -> list[bytes]:
    """List the current ACL rules in ACL config file format"""
    users = session.instance.acl.users
    return [b"user " + name + b" " + users[name].describe() for name in sorted(users)]


@command("users", 2, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_users(session: Session) -> list[bytes]:
    """List the username of all the configured ACL rules"""
    return sorted(session.instance.acl.users)


@command("whoami", 2, _PLAIN, group="server", since="6.0.0", container="acl")
def acl_whoami(session: Session) -> bytes:
    """Return the name of the user associated to the current connection"""
    return session.user.name


def _aclfile(session: Session) -> str:
    filename = session.instance.config.str("aclfile")
    if not filename:
        raise CommandError(
            "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the "
            "ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) "
            "in order to store users in the Redis configuration."
        )
    return filename


@command("load", 2, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_load(session: Session) -> object:
    """Reload the ACLs from the configured ACL file"""
    filename = _aclfile(session)
    acl = session.instance.acl
    try:
        users = acl.parse_file(read_acl_file(filename, session.instance.config.str("dir")), filename)
    except ValueError as exc:
        raise CommandError(f"ERR {exc}") from None
    _disconnect_users(session, acl.replace_users(users))
    return OK


@command("save", 2, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_save(session: Session) -> object:
    """Save the current ACL rules in the configured ACL file"""
    filename = _aclfile(session)
    if not write_acl_file(filename, session.instance.config.str("dir"), session.instance.acl.config_text()):
        raise CommandError(
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information"
        )
    return OK


@command("cat", -2, _PLAIN, group="server", since="6.0.0", container="acl")
def acl_cat(session: Session, *args: bytes) -> list[bytes]:
    """List the ACL categories or the commands inside a category"""
    if len(args) > 1:
        raise _subcommand_syntax_error(session)
    if not args:
        return [name.encode() for name in ACL_CATEGORIES]
    category = args[0].decode("latin-1").lower()
    if category not in ACL_CATEGORIES:
        raise CommandError(f"ERR Unknown category '{printable(args[0][:128])}'")
    return [spec.full_name.encode() for spec in catalog().specs if category in acl_categories(spec)]


@command("genpass", -2, _PLAIN, group="server", since="6.0.0", container="acl")
def acl_genpass(session: Session, *args: bytes) -> bytes:
    """Generate a pseudorandom secure password to use for ACL users"""
    if len(args) > 1:
        raise _subcommand_syntax_error(session)
    bits = 256
    if args:
        number = string2ll(args[0])
        if number is None:
            raise CommandError("ERR value is not an integer or out of range")
        bits = number
    if bits <= 0 or bits > GENPASS_MAX_BITS:
        raise CommandError(
            "ERR ACL GENPASS argument must be the number of bits for the output password, "
            f"a positive number up to {GENPASS_MAX_BITS}"
        )
    return generate_password_hex(bits).encode()


@command("log", -2, _ADMIN, group="server", since="6.0.0", container="acl")
def acl_log(session: Session, *args: bytes) -> object:
    """List latest events denied because of ACLs in place"""
    if len(args) > 1:
        raise _subcommand_syntax_error(session)
    acl = session.instance.acl
    count = 10
    if args:
        if args[0].lower() == b"reset":
            acl.log.clear()
            return OK
        number = string2ll(args[0])
        if number is None:
            raise CommandError("ERR value is not an integer or out of range")
        count = max(number, 0)
    now_ms = session.instance.clock.now_ms()
    return [
        Map(
            [
                (b"count", entry.count),
                (b"reason", LOG_REASONS[entry.reason].encode()),
                (b"context", entry.context.encode()),
                (b"object", entry.object),
                (b"username", entry.username),
                (b"age-seconds", Double((now_ms - entry.ctime_ms) / 1000)),
                (b"client-info", entry.client_info.encode("latin-1")),
            ]
        )
        for entry in acl.log[:count]
    ]


@command("dryrun", -4, _ADMIN, group="server", since="7.0.0", container="acl")
def acl_dryrun(session: Session, username: bytes, *argv: bytes) -> object:
    """Returns whether the user can execute the given command without executing the command."""
    user = session.instance.acl.users.get(username)
    if user is None:
        raise CommandError(f"ERR User '{printable(username)}' not found")
    words = list(argv)
    spec = TABLE.specs.get(words[0].lower())
    if spec is not None and spec.subcommands and len(words) > 1:
        spec = spec.subcommands.get(words[1].lower())
    if spec is None:
        raise CommandError(f"ERR Command '{printable(words[0])}' not found")
    argc = len(words)
    if (spec.arity > 0 and spec.arity != argc) or argc < -spec.arity:
        raise CommandError(f"ERR wrong number of arguments for '{spec.full_name}' command")
    result, position = user.check(spec, words)
    if result == DENIED_CMD:
        return f"This user has no permissions to run the '{spec.full_name}' command".encode()
    if result == DENIED_KEY:
        return b"This user has no permissions to access the '" + words[position] + b"' key"
    if result == DENIED_CHANNEL:
        return b"This user has no permissions to access the '" + words[position] + b"' channel"
    return OK


# --------------------------------------------------------------------------- AUTH


@command("auth", -2, "noscript loading stale fast no_auth sentinel allow_busy", group="connection", since="1.0.0")
def auth(session: Session, *args: bytes) -> object:
    """Authenticate to the server"""
    if len(args) > 2:
        raise CommandError(SYNTAX)
    if len(args) == 1:
        if session.instance.acl.default.nopass:
            raise CommandError(
                "ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?"
            )
        authenticate(session, b"default", args[0])
    else:
        authenticate(session, args[0], args[1])
    return OK
