"""COMMAND INFO (key specs), COMMAND DOCS (argument trees) and COMMAND GETKEYS[ANDFLAGS],
generated from docs.txt, compared with redis-server byte for byte, RESP2 and RESP3."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import tandemkv.server  # noqa: F401  (registers every command, scripting and persistence too)
from tandemkv.commands import TABLE
from tandemkv.commands.docs import DOCS, DocsSyntaxError, parse
from tests.resp import RawClient

# Where tandemkv deliberately differs from redis-server 7.0.15, and why.
DIFFERENT = {
    # Redis 7.2's command, which redis-py 8 sends on connect; 7.0 does not know it, so there is
    # no 7.0 reply to compare (its docs follow 7.2's client-setinfo.json).
    "client|setinfo",
}


def test_every_command_has_docs():
    missing = [spec.full_name for spec in TABLE.every() if spec.full_name not in DOCS]
    assert not missing


def test_every_docs_entry_names_a_command():
    names = {spec.full_name for spec in TABLE.every()}
    dead = sorted(set(DOCS) - names)
    assert not dead


def test_docs_notation_errors():
    with pytest.raises(DocsSyntaxError, match="unknown flags"):
        parse("get\n  key RO sometimes; index 1; range 0 1 0\n")
    with pytest.raises(DocsSyntaxError, match="nested too deep"):
        parse("get\n  - a block\n      - b string\n")
    with pytest.raises(DocsSyntaxError, match="duplicate"):
        parse("get\nget\n")
    with pytest.raises(DocsSyntaxError, match="unknown argument type"):
        parse("get\n  - a strin\n")
    with pytest.raises(DocsSyntaxError, match="before any command"):
        parse("  complexity O(1)\n")


def test_docs_notation_nesting():
    docs = parse(
        "x\n  - a oneof optional\n    - b block token=B\n      - c key key_spec=0 multiple\n"
        "    - d pure-token token=\"\"\n  - e integer\n"
    )["x"]
    (a, e) = docs.arguments
    assert [sub.name for sub in a.arguments] == ["b", "d"]
    assert a.arguments[0].arguments[0].key_spec_index == 0
    assert a.arguments[0].arguments[0].flags == ("multiple",)
    assert a.arguments[1].token == ""
    assert e.name == "e" and not e.arguments


# ------------------------------------------------------------------ RESP trees
#
# Redis keeps subcommands in a dict whose order changes with each process's hash seed, so a
# container's subcommands are compared as a set; everything else, byte for byte.

Tree = tuple[bytes, list["Tree"] | None]  # (the element's own line or bulk, children)


def _tree(raw: bytes, pos: int = 0) -> tuple[Tree, int]:
    line_end = raw.index(b"\r\n", pos)
    kind, header = raw[pos:pos + 1], raw[pos + 1:line_end]
    after = line_end + 2
    if kind in b"$=!" and int(header) >= 0:
        end = after + int(header) + 2
        return (raw[pos:end], None), end
    if kind in b"*~%|>" and int(header) >= 0:
        children = []
        for _ in range(int(header) * (2 if kind in b"%|" else 1)):
            child, after = _tree(raw, after)
            children.append(child)
        return (raw[pos:line_end + 2], children), after
    return (raw[pos:after], None), after


def _encode(tree: Tree) -> bytes:
    head, children = tree
    return head + b"".join(_encode(child) for child in children or ())


def _bulk(tree: Tree) -> bytes:
    return tree[0].split(b"\r\n")[1]


def _without_subcommands(tree: Tree, names: set[bytes] | None, docs: bool) -> Tree:
    """One COMMAND INFO/DOCS reply element with its subcommands sorted, keeping only `names`
    (None: all)."""
    head, children = tree
    assert children is not None
    if not docs:  # an INFO entry: field 10 is the subcommand array
        subs = [sub for sub in children[9][1] or () if names is None or _bulk(sub[1][0]) in names]
        subs.sort(key=_encode)
        return head, [*children[:9], (b"*%d\r\n" % len(subs), subs)]
    fields = list(zip(children[0::2], children[1::2], strict=True))
    out = []
    for key, value in fields:
        if _bulk(key) == b"subcommands":
            pairs = [
                (name, doc) for name, doc in zip(value[1][0::2], value[1][1::2], strict=True)
                if names is None or _bulk(name) in names
            ]
            pairs.sort(key=lambda pair: _encode(pair[0]))
            kind = value[0][:1]
            value = (kind + b"%d\r\n" % (len(pairs) * (2 if kind == b"*" else 1)),
                     [part for pair in pairs for part in pair])
        out += [key, value]
    return head, out


def _normalised(raw: bytes, names: set[bytes] | None, docs: bool) -> bytes:
    tree, end = _tree(raw)
    assert end == len(raw)
    head, children = tree
    if docs:  # name, entry pairs
        children = [
            child if i % 2 == 0 else _without_subcommands(child, names, docs=True)
            for i, child in enumerate(children or ())
        ]
    else:
        children = [_without_subcommands(child, names, docs=False) for child in children or ()]
    return _encode((head, children))


def _compared_names() -> list[str]:
    return sorted(spec.full_name for spec in TABLE.every() if spec.full_name not in DIFFERENT)


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("subcommand", ["INFO", "DOCS"])
def test_every_command_matches_redis(tandem_port, redis_port, resp, subcommand):
    """COMMAND INFO / COMMAND DOCS of each command and subcommand tandemkv has, as Redis's.
    A container's subcommands that only one server has are left out of both replies (COMMAND
    LIST tells which those are; they are not this module's subject)."""
    ours_client, redis_client = RawClient(tandem_port), RawClient(redis_port)
    if resp == 3:
        ours_client.call("HELLO", "3")
        redis_client.call("HELLO", "3")
    names = _compared_names()
    compared = {name.encode() for name in names}
    mismatches = []
    for name in names:
        mine = ours_client.call("COMMAND", subcommand, name)
        reference = redis_client.call("COMMAND", subcommand, name)
        docs = subcommand == "DOCS"
        if _normalised(mine, compared, docs) != _normalised(reference, compared, docs):
            mismatches.append((name, mine, reference))
    ours_client.close()
    redis_client.close()
    assert [name for name, _, _ in mismatches] == [], mismatches[:2]


def test_getkeys_of_every_keyspec_kind(diff):
    """COMMAND GETKEYS and GETKEYSANDFLAGS for commands covering each key-spec kind and
    Redis's own finders (index/range, keyword/range with limit, keynum, not_key, unknown,
    variable flags, numkeys that string2ll refuses but atoi reads)."""
    for args in (
        ("get", "a"),
        ("mset", "a", "1", "b", "2"),
        ("mset", "a", "1", "b"),
        ("del", "a", "b", "c"),
        ("blpop", "a", "b", "0"),
        ("lmove", "a", "b", "LEFT", "RIGHT"),
        ("rename", "a", "b"),
        ("copy", "a", "b", "DB", "1"),
        ("xread", "STREAMS", "a", "b", "0", "0"),
        ("xread", "COUNT", "2", "STREAMS", "a", "b", "0"),
        ("xread", "STREAMS", "a"),
        ("xread", "COUNT", "2", "a"),
        ("xreadgroup", "GROUP", "g", "c", "STREAMS", "a", "0"),
        ("georadius", "a", "0", "0", "1", "km", "STORE", "b"),
        ("georadius", "a", "0", "0", "1", "km", "STORE", "b", "STOREDIST", "c"),
        ("georadiusbymember", "a", "m", "1", "km", "STOREDIST", "c"),
        ("zunionstore", "d", "2", "a", "b"),
        ("zunionstore", "d", "01", "a", "b"),
        ("zunionstore", "d", "3", "a", "b"),
        ("zunionstore", "d", "x", "a", "b"),
        ("zunion", "2", "a", "b", "WITHSCORES"),
        ("zunion", "0", "a"),
        ("zdiff", "1 ", "a"),
        ("sintercard", "2", "a", "b", "LIMIT", "1"),
        ("lmpop", "2", "a", "b", "LEFT"),
        ("blmpop", "0", "2", "a", "b", "LEFT"),
        ("bzmpop", "0", "1", "a", "MIN"),
        ("eval", "return 1", "2", "a", "b", "c"),
        ("eval", "return 1", "0"),
        ("eval", "return 1", "-1"),
        ("eval_ro", "return 1", "1", "a"),
        ("fcall", "f", "1", "a"),
        ("sort", "a"),
        ("sort", "a", "BY", "w_*", "STORE", "d"),
        ("sort", "a", "STORE", "d", "GET", "#", "STORE", "e"),
        ("sort", "a", "LIMIT", "0", "1", "STORE"),
        ("sort_ro", "a", "BY", "w_*"),
        ("set", "a", "1"),
        ("set", "a", "1", "GET"),
        ("set", "a", "1", "EX", "10", "get"),
        ("bitfield", "a", "GET", "u8", "0"),
        ("bitfield", "a", "GET", "u8", "0", "SET", "u8", "0", "1"),
        ("bitfield", "a", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "1"),
        ("bitfield", "a", "nosuch"),
        ("bitfield_ro", "a", "GET", "u8", "0"),
        ("spublish", "ch", "m"),
        ("ssubscribe", "a", "b"),
        ("publish", "ch", "m"),
        ("object", "encoding", "a"),
        ("memory", "usage", "a"),
        ("xinfo", "stream", "a"),
        ("lcs", "a", "b"),
        ("restore", "a", "0", "x"),
        ("ping",),
        ("command", "getkeys", "get", "a"),
    ):
        diff("COMMAND", "GETKEYS", *args)
        diff("COMMAND", "GETKEYSANDFLAGS", *args)


def test_getkeysandflags_errors(diff):
    for args in (
        ("COMMAND", "GETKEYSANDFLAGS"),
        ("COMMAND", "GETKEYSANDFLAGS", "get"),
        ("COMMAND", "GETKEYSANDFLAGS", "nosuch", "a"),
        ("COMMAND", "GETKEYSANDFLAGS", "ping", "a"),
        ("COMMAND", "GETKEYSANDFLAGS", "get", "a", "b"),
        ("COMMAND", "GETKEYSANDFLAGS", "config", "get", "x"),
        ("COMMAND", "GETKEYSANDFLAGS", "memory", "usage"),
        ("COMMAND", "INFO", "command|getkeysandflags"),
    ):
        diff(*args)


def test_table_and_docs_agree_on_key_specs():
    """Every command with legacy key positions has a key spec, and the other way round for
    commands whose keys are not movable (Redis derives the legacy triple from the specs)."""
    for spec in TABLE:
        if spec.first_key:
            assert spec.docs.key_specs, spec.full_name


REDIS_CLI = shutil.which("redis-cli")


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli not installed")
@pytest.mark.parametrize(
    "topic",
    ["set", "xreadgroup", "client kill", "zadd", "geosearch", "bitfield", "@sorted-set", "@string", "@stream"],
)
def test_redis_cli_help_as_against_redis(tandem_port, redis_port, topic):
    """redis-cli builds its help, and the hints it shows while typing, from COMMAND DOCS."""

    def help_text(port: int) -> str:
        argv = [REDIS_CLI, "-p", str(port), "help", *topic.split()]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout

    ours = help_text(tandem_port)
    assert "summary:" in ours
    assert ours == help_text(redis_port)
