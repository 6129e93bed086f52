"""COMMAND and its subcommands, generated from the command table (Redis 7.0 reply formats).

Every entry comes from a CommandSpec: name, arity, flags (in Redis's order, internal ones
hidden), legacy key positions, ACL categories (implied by flags as Redis's
setImplicitACLCategories does, plus the spec's own or its group's), tips and subcommands.
Key specs are reported empty: specs carry key positions but not Redis's per-key access flags,
and an empty list is what clients already handle for commands without specs.
COMMAND DOCS gives summary, since and group (no complexity or argument tree).
"""

from __future__ import annotations

from tandemkv.commands.categories import acl_categories
from tandemkv.commands.keyfinders import key_finder
from tandemkv.commands.session import Session
from tandemkv.commands.table import TABLE, CommandSpec, command, container, help_reply
from tandemkv.errors import SYNTAX, CommandError
from tandemkv.glob import compile_glob
from tandemkv.protocol import Map, SetReply, Simple

# Flags COMMAND shows, in the order Redis 7.0 prints them (addReplyCommandFlags); the others
# (sentinel, may_replicate, tandemkv-internal ones) are hidden, as in Redis.
_SHOWN_FLAGS = (
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "no_mandatory_keys", "no_async_loading", "no_multi", "movablekeys", "allow_busy",
)

def command_entry(spec: CommandSpec) -> list[object]:
    """One COMMAND INFO entry (ten fields, Redis 7.0)."""
    return [
        spec.full_name.encode(),
        spec.arity,
        SetReply([Simple(flag.encode()) for flag in _SHOWN_FLAGS if flag in spec.flags]),
        spec.first_key,
        spec.last_key,
        spec.key_step,
        SetReply([Simple(b"@" + name.encode()) for name in acl_categories(spec)]),
        SetReply([tip.encode() for tip in spec.tips]),
        SetReply([]),
        SetReply([command_entry(sub) for sub in spec.subcommands.values()]),
    ]


def _docs_entry(spec: CommandSpec) -> Map:
    items: list[tuple[bytes, object]] = [
        (b"summary", spec.summary.encode()),
        (b"since", spec.since.encode()),
        (b"group", spec.group.encode()),
    ]
    if spec.subcommands:
        items.append((b"subcommands", Map([(sub.full_name.encode(), _docs_entry(sub)) for sub in spec.subcommands.values()])))
    return Map(items)


def find_spec(name: bytes) -> CommandSpec | None:
    """A command by name, or a subcommand by its full name ('config|get'), any case."""
    base, _, sub = name.lower().partition(b"|")
    spec = TABLE.specs.get(base)
    if spec is None or not sub:
        return spec
    return spec.subcommands.get(sub)


def every_spec() -> list[CommandSpec]:
    """Every command and subcommand in the table."""
    return TABLE.every()


def command_all(session: Session) -> list[object]:
    """Get array of Redis command details"""
    return [command_entry(spec) for spec in TABLE]


container(
    "command", -1, "loading stale", group="server", since="2.8.13", acl="connection",
    summary="Get array of Redis command details", handler=command_all, tips="nondeterministic_output_order",
)


@command("count", 2, "loading stale", group="server", since="2.8.13", container="command", acl="connection")
def command_count(session: Session) -> int:
    """Get total number of Redis commands"""
    return len(TABLE)


@command("info", -2, "loading stale", group="server", since="2.8.13", container="command", acl="connection",
         tips="nondeterministic_output_order")
def command_info(session: Session, *names: bytes) -> list[object]:
    """Get array of specific Redis command details, or all when no argument is given"""
    if not names:
        return command_all(session)
    entries: list[object] = []
    for name in names:
        spec = find_spec(name)
        entries.append(None if spec is None else command_entry(spec))
    return entries


@command("docs", -2, "loading stale", group="server", since="7.0.0", container="command", acl="connection",
         tips="nondeterministic_output_order")
def command_docs(session: Session, *names: bytes) -> Map:
    """Get array of specific Redis command documentation"""
    if not names:
        return Map([(spec.name.encode(), _docs_entry(spec)) for spec in TABLE])
    items = []
    for name in names:
        spec = find_spec(name)
        if spec is not None:
            items.append((spec.full_name.encode(), _docs_entry(spec)))
    return Map(items)


@command("list", -2, "loading stale", group="server", since="7.0.0", container="command", acl="connection",
         tips="nondeterministic_output_order")
def command_list(session: Session, *args: bytes) -> list[bytes]:
    """Get an array of Redis command names"""
    specs = every_spec()
    if not args:
        return [spec.full_name.encode() for spec in specs]
    if len(args) != 3 or args[0].upper() != b"FILTERBY":
        raise CommandError(SYNTAX)
    kind, value = args[1].upper(), args[2]
    if kind == b"MODULE":
        return []
    if kind == b"ACLCAT":
        category = value.decode("latin-1").lower()
        return [spec.full_name.encode() for spec in specs if category in acl_categories(spec)]
    if kind == b"PATTERN":
        regex = compile_glob(value, nocase=True)
        return [spec.full_name.encode() for spec in specs if regex.fullmatch(spec.full_name.encode())]
    raise CommandError(SYNTAX)


@command("getkeys", -4, "loading stale", group="server", since="2.8.13", container="command", acl="connection")
def command_getkeys(session: Session, name: bytes, *args: bytes) -> list[bytes]:
    """Extract keys given a full Redis command"""
    argv = [name, *args]
    spec = TABLE.specs.get(name.lower())
    if spec is not None and spec.subcommands and args:
        spec = spec.subcommands.get(args[0].lower())
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    finder = key_finder(spec.full_name)
    if spec.first_key == 0 and finder is None:
        raise CommandError("ERR The command has no key arguments")
    argc = len(argv)
    if (spec.arity > 0 and spec.arity != argc) or argc < -spec.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    if finder is not None:
        positions = [i for i in finder(argv) if i < argc]
    else:
        positions = [i for i in spec.key_positions(argc) if i < argc]
    if not positions and "no_mandatory_keys" not in spec.flags:
        raise CommandError("ERR Invalid arguments specified for command")
    return [argv[i] for i in positions]


_COMMAND_HELP = help_reply(
    "COMMAND",
    (
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ),
)


@command("help", 2, "loading stale", group="server", since="5.0.0", container="command", acl="connection")
def command_help(session: Session) -> list[Simple]:
    """Show helpful text about the different subcommands"""
    # Redis 7.0's text, verbatim; GETKEYSANDFLAGS is not implemented (unknown subcommand).
    return _COMMAND_HELP
