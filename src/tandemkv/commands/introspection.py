"""COMMAND and its subcommands, generated from the command table (Redis 7.0 reply formats).

Every entry comes from a CommandSpec: name, arity, flags (in Redis's order, internal ones
hidden), legacy key positions, ACL categories (implied by flags as Redis's
setImplicitACLCategories does, plus the spec's own or its group's), tips, key specs and
subcommands. COMMAND DOCS gives summary, since and group from the spec and the rest (complexity,
history, argument tree, ...) from its docs (docs.txt). COMMAND GETKEYS[ANDFLAGS] finds keys with
the key specs, as Redis's getKeysUsingKeySpecs, and with Redis's own finders where specs cannot
tell (SORT's STORE, SET's and BITFIELD's access flags, a numkeys string2ll refuses).
"""

from __future__ import annotations

from tandemkv.commands.categories import acl_categories
from tandemkv.commands.docs import (
    Argument,
    IndexSearch,
    KeynumKeys,
    KeySpec,
    KeywordSearch,
    RangeKeys,
)
from tandemkv.commands.keyfinders import KeyRefs, command_keys, has_keys
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
        SetReply([_key_spec_reply(key_spec) for key_spec in spec.docs.key_specs]),
        # Redis: an empty set without subcommands, an array of them otherwise.
        [command_entry(sub) for sub in spec.subcommands.values()] if spec.subcommands else SetReply([]),
    ]


def _flag_set(flags: tuple[str, ...]) -> SetReply:
    return SetReply([Simple(flag.encode()) for flag in flags])


def _key_spec_reply(key_spec: KeySpec) -> Map:
    """One key spec as Redis's addReplyCommandKeySpecs."""
    begin, find = key_spec.begin, key_spec.find
    begin_reply: tuple[bytes, Map]
    if isinstance(begin, IndexSearch):
        begin_reply = (b"index", Map([(b"index", begin.pos)]))
    elif isinstance(begin, KeywordSearch):
        begin_reply = (b"keyword", Map([(b"keyword", begin.keyword.encode()), (b"startfrom", begin.startfrom)]))
    else:
        begin_reply = (b"unknown", Map([]))
    find_reply: tuple[bytes, Map]
    if isinstance(find, RangeKeys):
        find_reply = (b"range", Map([(b"lastkey", find.lastkey), (b"keystep", find.keystep), (b"limit", find.limit)]))
    elif isinstance(find, KeynumKeys):
        find_reply = (b"keynum", Map([(b"keynumidx", find.keynumidx), (b"firstkey", find.firstkey), (b"keystep", find.keystep)]))
    else:
        find_reply = (b"unknown", Map([]))
    items: list[tuple[bytes, object]] = [(b"notes", key_spec.notes.encode())] if key_spec.notes else []
    items += [
        (b"flags", _flag_set(key_spec.flags)),
        (b"begin_search", Map([(b"type", begin_reply[0]), (b"spec", begin_reply[1])])),
        (b"find_keys", Map([(b"type", find_reply[0]), (b"spec", find_reply[1])])),
    ]
    return Map(items)


def _argument_reply(argument: Argument) -> Map:
    """One node of an argument tree as Redis's addReplyCommandArgList."""
    items: list[tuple[bytes, object]] = [(b"name", argument.name.encode()), (b"type", argument.type.encode())]
    if argument.key_spec_index >= 0:
        items.append((b"key_spec_index", argument.key_spec_index))
    if argument.token is not None:
        items.append((b"token", argument.token.encode()))
    if argument.since:
        items.append((b"since", argument.since.encode()))
    if argument.deprecated_since:
        items.append((b"deprecated_since", argument.deprecated_since.encode()))
    if argument.flags:
        items.append((b"flags", _flag_set(argument.flags)))
    if argument.type in ("oneof", "block"):
        items.append((b"arguments", [_argument_reply(sub) for sub in argument.arguments]))
    return Map(items)


def _docs_entry(spec: CommandSpec) -> Map:
    """One COMMAND DOCS entry, fields in Redis's order (addReplyCommandDocs)."""
    docs = spec.docs
    items: list[tuple[bytes, object]] = [
        (b"summary", spec.summary.encode()),
        (b"since", spec.since.encode()),
        (b"group", spec.group.replace("_", "-").encode()),  # sorted_set is 'sorted-set' here
    ]
    if docs.complexity:
        items.append((b"complexity", docs.complexity.encode()))
    if docs.doc_flags:
        items.append((b"doc_flags", _flag_set(docs.doc_flags)))
    if docs.deprecated_since:
        items.append((b"deprecated_since", docs.deprecated_since.encode()))
    if docs.replaced_by:
        items.append((b"replaced_by", docs.replaced_by.encode()))
    if docs.history:
        items.append((b"history", SetReply([[version.encode(), change.encode()] for version, change in docs.history])))
    if docs.arguments:
        items.append((b"arguments", [_argument_reply(argument) for argument in docs.arguments]))
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
    """Get array of specific Redis command details, or all when no argument is given."""
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
    specs = TABLE.every()
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


def _getkeys(name: bytes, args: tuple[bytes, ...]) -> tuple[list[bytes], KeyRefs]:
    """The command line and its keys, with COMMAND GETKEYS's errors (getKeysSubcommandImpl)."""
    argv = [name, *args]
    spec = TABLE.specs.get(name.lower())
    if spec is not None and spec.subcommands and args:
        spec = spec.subcommands.get(args[0].lower())
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    if not has_keys(spec):
        raise CommandError("ERR The command has no key arguments")
    argc = len(argv)
    if (spec.arity > 0 and spec.arity != argc) or argc < -spec.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    keys = command_keys(spec, argv)
    if not keys and "no_mandatory_keys" not in spec.flags:
        raise CommandError("ERR Invalid arguments specified for command")
    return argv, keys


@command("getkeys", -4, "loading stale", group="server", since="2.8.13", container="command", acl="connection")
def command_getkeys(session: Session, name: bytes, *args: bytes) -> list[bytes]:
    """Extract keys given a full Redis command"""
    argv, keys = _getkeys(name, args)
    return [argv[i] for i, _ in keys]


@command("getkeysandflags", -4, "loading stale", group="server", since="7.0.0", container="command",
         acl="connection")
def command_getkeysandflags(session: Session, name: bytes, *args: bytes) -> list[list[object]]:
    """Extract keys and access flags given a full Redis command"""
    argv, keys = _getkeys(name, args)
    return [[argv[i], _flag_set(flags)] for i, flags in keys]


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
    # Redis 7.0's text, verbatim.
    return _COMMAND_HELP
