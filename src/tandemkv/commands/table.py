"""The command table: one declarative spec per command, and the dispatcher.

Rules:
- Every command has exactly one `CommandSpec`, declared next to its handler with `@command`.
- The dispatcher (`CommandTable.call`) alone checks unknown commands, arity, subcommands,
  flags that forbid a command in the session's state, and runs the declared argument
  converters. Handlers receive converted arguments and return reply objects, never bytes.
- Arity follows Redis: N means exactly N words (name included), -N means at least N.
- Flags have names and meanings (see FLAGS); COMMAND replies are generated from these specs.
- Key specs, complexity, argument trees and history live in docs.txt (commands/docs.py), one
  entry per full name, attached to the spec when it is added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tandemkv.commands.docs import DOCS, CommandDocs
from tandemkv.errors import unknown_command, unknown_subcommand, wrong_arity
from tandemkv.protocol import Simple

# Flag names, as COMMAND reports them, and what they mean here.
FLAGS = {
    "write": "may modify the keyspace",
    "readonly": "only reads",
    "denyoom": "may grow memory: refused with OOM over maxmemory under noeviction",
    "admin": "administrative",
    "pubsub": "pub/sub related",
    "noscript": "not allowed from scripts",
    "blocking": "may block the client",
    "loading": "allowed while loading",
    "stale": "allowed with stale data",
    "fast": "O(1) or O(log N)",
    "no_auth": "allowed before AUTH",
    "allow_busy": "allowed while a script is busy",
    "no_multi": "not allowed inside MULTI",
    "sentinel": "sentinel command",
    "skip_monitor": "not shown to MONITOR",
    "skip_slowlog": "not logged in the slow log",
    "may_replicate": "may replicate",
    "no_mandatory_keys": "keys are optional",
    "movablekeys": "key positions depend on the arguments (numkeys)",
    "allow_in_subscribed": "allowed in RESP2 subscribed mode (tandemkv-internal)",
}

Converter = Callable[[bytes], Any]
_UNSET = object()
Handler = Callable[..., Any]


@dataclass(slots=True)
class CommandSpec:
    """What the dispatcher needs to know about one command (or subcommand)."""

    name: str
    arity: int
    flags: frozenset[str]
    handler: Handler | None
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    # Converters for the positional arguments (None: passed as is), and one for the tail.
    params: tuple[Converter | None, ...] = ()
    rest: Converter | None = None
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    container: str = ""
    subcommands: dict[bytes, CommandSpec] = field(default_factory=dict)
    # ACL categories besides those implied by flags (COMMAND INFO); None: derived from group.
    acl: tuple[str, ...] | None = None
    tips: tuple[str, ...] = ()  # COMMAND INFO tips, e.g. "nondeterministic_output"
    # Flags that depend on the arguments (scripts declare theirs in a shebang): set by the
    # layer that knows them; read through `command_flags`, off the hot path.
    flags_of: Callable[[Any, list[bytes]], frozenset[str]] | None = None
    # What the command propagates when Redis rewrites it (commands/effects.py); None: its
    # command line as received, when it changed the dataset.
    effect: Handler | None = None
    # COMMAND DOCS and key specs (docs.txt), attached by CommandTable.add.
    docs: CommandDocs = field(default_factory=CommandDocs)
    full_name: str = field(init=False)  # "config|get" for subcommands
    converts: bool = field(init=False)
    _positional: list[tuple[int, Converter]] = field(init=False)
    # `rest` of an empty tail (SET k v: no options), converted once; _UNSET until first needed.
    _empty_tail: Any = field(init=False)
    # Statistics (INFO commandstats), kept on the spec so the hot path touches one object.
    calls: int = 0
    nsec: int = 0  # summed in nanoseconds: most calls take under a microsecond
    rejected_calls: int = 0
    failed_calls: int = 0
    # LATENCY HISTOGRAM / INFO latencystats (commands/latency.py): calls per whole microsecond.
    latency_us: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.full_name = f"{self.container}|{self.name}" if self.container else self.name
        # The dispatcher passes argv[1:] straight to handlers that declare no conversion.
        self.converts = bool(self.params or self.rest is not None or self.container)
        self._positional = [(i, c) for i, c in enumerate(self.params) if c is not None]
        self._empty_tail = _UNSET

    def convert(self, argv: list[bytes]) -> list[Any]:
        """Arguments after the name (and subcommand), converted as declared."""
        args: list[Any] = argv[2:] if self.container else argv[1:]
        for i, converter in self._positional:
            if i < len(args):
                args[i] = converter(args[i])
        if self.rest is not None:
            fixed = len(self.params)
            if len(args) > fixed:
                args[fixed:] = [self.rest(args[fixed:])]
            else:
                # The common case (no options): converters are pure, so one conversion serves.
                if self._empty_tail is _UNSET:
                    self._empty_tail = self.rest([])
                args.append(self._empty_tail)
        return args

    def key_positions(self, argc: int) -> list[int]:
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key >= 0 else argc + self.last_key
        return list(range(self.first_key, last + 1, self.key_step or 1))


class CommandTable:
    """All command specs by lower-case name; `lookup` resolves containers to subcommands."""

    def __init__(self) -> None:
        self.specs: dict[bytes, CommandSpec] = {}
        self._fast: dict[bytes, CommandSpec] = {}
        # Commands without subcommands, by lower- and upper-case name: the dispatcher's hot path.
        self.plain: dict[bytes, CommandSpec] = {}

    def add(self, spec: CommandSpec) -> None:
        spec.docs = DOCS.get(spec.full_name, spec.docs)
        if spec.container:
            parent = self.specs[spec.container.encode()]
            self.plain.pop(parent.name.encode(), None)
            self.plain.pop(parent.name.upper().encode(), None)
            key = spec.name.encode()
            assert key not in parent.subcommands, f"duplicate subcommand {spec.full_name}"
            parent.subcommands[key] = spec
            return
        key = spec.name.encode()
        assert key not in self.specs, f"duplicate command {spec.name}"
        self.specs[key] = spec
        self._fast[key] = spec
        self._fast[key.upper()] = spec
        self.plain[key] = spec
        self.plain[key.upper()] = spec

    def resolve(self, argv: Sequence[bytes]) -> CommandSpec:
        """The spec for this command line, with unknown-command and arity errors checked."""
        name = argv[0]
        spec = self._fast.get(name) or self.specs.get(name.lower())
        if spec is None:
            raise unknown_command(name, list(argv[1:]))
        argc = len(argv)
        if spec.subcommands and (argc > 1 or spec.handler is None):
            if argc == 1:
                raise wrong_arity(spec.name)
            sub = spec.subcommands.get(argv[1].lower())
            if sub is None:
                raise unknown_subcommand(argv[1], name)
            spec = sub
        arity = spec.arity
        if (arity > 0 and argc != arity) or argc < -arity:
            raise wrong_arity(spec.full_name)
        return spec

    def every(self) -> list[CommandSpec]:
        """Every command and subcommand."""
        specs = []
        for spec in self.specs.values():
            specs.append(spec)
            specs.extend(spec.subcommands.values())
        return specs

    def find(self, full_name: bytes) -> CommandSpec | None:
        """The spec named `get` or `client|list` (Redis's lookupCommandBySds), or None."""
        parts = full_name.lower().split(b"|")
        spec = self.specs.get(parts[0])
        if spec is None or len(parts) > 2:
            return None
        return spec.subcommands.get(parts[1]) if len(parts) == 2 else spec

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)


TABLE = CommandTable()


def command(
    name: str,
    arity: int,
    flags: str = "",
    *,
    keys: tuple[int, int, int] = (0, 0, 0),
    params: tuple[Converter | None, ...] = (),
    rest: Converter | None = None,
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    container: str = "",
    acl: str | None = None,
    tips: str = "",
    effect: Handler | None = None,
) -> Callable[[Handler], Handler]:
    """Declare a command: its spec goes into TABLE, the handler is returned unchanged."""

    def register(handler: Handler) -> Handler:
        TABLE.add(
            CommandSpec(
                name=name,
                arity=arity,
                flags=frozenset(flags.split()),
                handler=handler,
                first_key=keys[0],
                last_key=keys[1],
                key_step=keys[2],
                params=params,
                rest=rest,
                group=group,
                summary=summary or _first_line(handler.__doc__),
                since=since,
                container=container,
                acl=tuple(acl.split()) if acl is not None else None,
                tips=tuple(tips.split()),
                effect=effect,
            )
        )
        return handler

    return register


def command_flags(session: Any, spec: CommandSpec, argv: list[bytes]) -> frozenset[str]:
    """Redis's getCommandFlags: the spec's flags, or those the command's arguments declare
    (EVAL and FCALL of a script with flags). For the dispatcher's rare paths (CLIENT PAUSE)."""
    return spec.flags if spec.flags_of is None else spec.flags_of(session, argv)


def container(
    name: str,
    arity: int = -2,
    flags: str = "",
    *,
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    acl: str = "",
    handler: Handler | None = None,
    tips: str = "",
) -> None:
    """Declare a container command (CONFIG, CLIENT, ...) whose subcommands follow.

    `handler`, if given, runs when the container is called with no subcommand (COMMAND).
    """
    TABLE.add(
        CommandSpec(
            name=name,
            arity=arity,
            flags=frozenset(flags.split()),
            handler=handler,
            group=group,
            summary=summary,
            since=since,
            acl=tuple(acl.split()),  # containers show no group category, as in Redis
            tips=tuple(tips.split()),
        )
    )


def help_reply(name: str, body: tuple[str, ...]) -> list[Simple]:
    """A HELP reply as Redis's addReplyHelp builds it: the usage line, the container's own
    lines, then HELP itself; one status line each. Built once, at import."""
    lines = (
        f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        *body,
        "HELP",
        "    Prints this help.",
    )
    return [Simple(line.encode()) for line in lines]


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""
