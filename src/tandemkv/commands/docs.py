"""Command documentation: key specs, complexity, argument trees and history (docs.txt).

docs.txt declares, in a small indented notation described at its top, what Redis 7.0 reports
in COMMAND DOCS and in COMMAND INFO's key specs. `DOCS` holds one `CommandDocs` per full
command name; the command table attaches it to the spec of that name when the spec is added,
so each command keeps exactly one spec and handlers' decorators stay as they are.
Read once at import (about 2,000 lines; see `load`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Redis's orders, which COMMAND prints flags in.
KEY_FLAGS = (
    "RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key", "incomplete",
    "variable_flags",
)
ARG_FLAGS = ("optional", "multiple", "multiple_token")
DOC_FLAGS = ("deprecated", "syscmd")
ARG_TYPES = (
    "string", "integer", "double", "key", "pattern", "unix-time", "pure-token", "oneof", "block",
)


@dataclass(frozen=True, slots=True)
class IndexSearch:
    """Keys begin at a fixed argument index."""

    pos: int


@dataclass(frozen=True, slots=True)
class KeywordSearch:
    """Keys begin after WORD, searched from `startfrom` (negative: from the end, backwards)."""

    keyword: str
    startfrom: int


@dataclass(frozen=True, slots=True)
class RangeKeys:
    """Keys from the beginning to `lastkey` (relative; negative: from the end), every `keystep`;
    with a `limit`, lastkey -1 means 1/limit of the remaining arguments."""

    lastkey: int
    keystep: int
    limit: int


@dataclass(frozen=True, slots=True)
class KeynumKeys:
    """A key count at `keynumidx` (relative to the beginning), the keys from `firstkey` on."""

    keynumidx: int
    firstkey: int
    keystep: int


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key spec; None for a search or find step Redis reports as 'unknown'."""

    flags: tuple[str, ...]
    begin: IndexSearch | KeywordSearch | None
    find: RangeKeys | KeynumKeys | None
    notes: str = ""


@dataclass(slots=True)
class Argument:
    """One node of a command's argument tree (COMMAND DOCS 'arguments')."""

    name: str
    type: str
    key_spec_index: int = -1
    token: str | None = None
    since: str = ""
    deprecated_since: str = ""
    flags: tuple[str, ...] = ()
    arguments: list[Argument] = field(default_factory=list)  # of a oneof or block


@dataclass(slots=True)
class CommandDocs:
    """Everything docs.txt says about one command or subcommand."""

    complexity: str = ""
    doc_flags: tuple[str, ...] = ()
    deprecated_since: str = ""
    replaced_by: str = ""
    history: list[tuple[str, str]] = field(default_factory=list)
    key_specs: list[KeySpec] = field(default_factory=list)
    arguments: list[Argument] = field(default_factory=list)


class DocsSyntaxError(ValueError):
    """docs.txt does not follow its notation (a bug in the file, found at import)."""


def _ordered(words: list[str], known: tuple[str, ...], line: str) -> tuple[str, ...]:
    unknown = set(words) - set(known)
    if unknown:
        raise DocsSyntaxError(f"unknown flags {sorted(unknown)} in {line!r}")
    return tuple(flag for flag in known if flag in words)


def _key_spec(text: str, line: str) -> KeySpec:
    parts = text.split("; ", 3)
    if len(parts) < 3:
        raise DocsSyntaxError(f"key spec needs FLAGS; BEGIN; FIND: {line!r}")
    flags, begin_text, find_text = parts[0].split(), parts[1].split(), parts[2].split()
    begin: IndexSearch | KeywordSearch | None
    if begin_text[0] == "index":
        begin = IndexSearch(int(begin_text[1]))
    elif begin_text[0] == "keyword":
        begin = KeywordSearch(begin_text[1], int(begin_text[2]))
    elif begin_text == ["unknown"]:
        begin = None
    else:
        raise DocsSyntaxError(f"bad begin_search in {line!r}")
    find: RangeKeys | KeynumKeys | None
    if find_text[0] == "range":
        find = RangeKeys(*map(int, find_text[1:4]))
    elif find_text[0] == "keynum":
        find = KeynumKeys(*map(int, find_text[1:4]))
    elif find_text == ["unknown"]:
        find = None
    else:
        raise DocsSyntaxError(f"bad find_keys in {line!r}")
    return KeySpec(_ordered(flags, KEY_FLAGS, line), begin, find, parts[3] if len(parts) == 4 else "")


def _argument(text: str, line: str) -> Argument:
    name, arg_type, *rest = text.split(" ")
    if arg_type not in ARG_TYPES:
        raise DocsSyntaxError(f"unknown argument type in {line!r}")
    attributes: dict[str, str] = {}
    flags = []
    for word in rest:
        key, equals, value = word.partition("=")
        if equals:
            attributes[key] = "" if value == '""' else value
        else:
            flags.append(word)
    unknown = set(attributes) - {"key_spec", "token", "since", "deprecated_since"}
    if unknown:
        raise DocsSyntaxError(f"unknown attributes {sorted(unknown)} in {line!r}")
    return Argument(
        name=name,
        type=arg_type,
        key_spec_index=int(attributes.get("key_spec", -1)),
        token=attributes.get("token"),
        since=attributes.get("since", ""),
        deprecated_since=attributes.get("deprecated_since", ""),
        flags=_ordered(flags, ARG_FLAGS, line),
    )


def parse(text: str) -> dict[str, CommandDocs]:
    """The entries of a docs.txt text by full command name; DocsSyntaxError if malformed."""
    docs: dict[str, CommandDocs] = {}
    current: CommandDocs | None = None
    path: list[Argument] = []  # the last argument read at each depth, outermost first
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            if line in docs:
                raise DocsSyntaxError(f"duplicate entry {line!r}")
            current = docs[line] = CommandDocs()
            path = []
            continue
        if current is None:
            raise DocsSyntaxError(f"{line!r} before any command")
        stripped = line.lstrip(" ")
        if stripped.startswith("- "):
            depth = (len(line) - len(stripped)) // 2 - 1
            if depth > len(path):
                raise DocsSyntaxError(f"argument nested too deep: {line!r}")
            del path[depth:]
            argument = _argument(stripped[2:], line)
            (path[-1].arguments if path else current.arguments).append(argument)
            path.append(argument)
            continue
        path = []
        keyword, _, value = stripped.partition(" ")
        if keyword == "complexity":
            current.complexity = value
        elif keyword == "doc_flags":
            current.doc_flags = _ordered(value.split(), DOC_FLAGS, line)
        elif keyword == "deprecated_since":
            current.deprecated_since = value
        elif keyword == "replaced_by":
            current.replaced_by = value
        elif keyword == "history":
            version, _, change = value.partition(" ")
            current.history.append((version, change))
        elif keyword == "key":
            current.key_specs.append(_key_spec(value, line))
        else:
            raise DocsSyntaxError(f"unknown line {line!r}")
    return docs


def load() -> dict[str, CommandDocs]:
    """docs.txt, parsed."""
    return parse(Path(__file__).with_name("docs.txt").read_text(encoding="utf-8"))


DOCS = load()
