"""What operators watch: MONITOR and the slow log (Redis 7.0 replication.c
replicationFeedMonitors, slowlog.c).

Both are fed by the dispatcher's `call` (commands/dispatch.py) after a command ran, the way
Redis's call() feeds them: queued MULTI commands when EXEC runs them, before EXEC itself;
administrative commands (and those flagged skip_monitor) are never shown to monitors, and
commands flagged skip_slowlog never logged. With no monitor and the slow log off or not
reached, each costs the dispatcher one comparison per command.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tandemkv.commands.args import ranged
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import CommandError, printable
from tandemkv.protocol import OK

if TYPE_CHECKING:
    from tandemkv.commands.session import Instance, Session

SLOWLOG_ENTRY_MAX_ARGC = 32
SLOWLOG_ENTRY_MAX_STRING = 128
_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r", ord("\t"): b"\\t",
            7: b"\\a", 8: b"\\b"}
# sdscatrepr's rendering of every byte: itself if isprint (C locale), else an escape.
_REPR = [_ESCAPES.get(byte, bytes([byte]) if 32 <= byte < 127 else b"\\x%02x" % byte) for byte in range(256)]


def quoted(raw: bytes) -> bytes:
    """Redis's sdscatrepr: the bytes in double quotes, with C escapes."""
    return b'"' + b"".join(_REPR[byte] for byte in raw) + b'"'


def feed_monitors(instance: Instance, session: Session, argv: list[bytes]) -> None:
    """Send one executed command to every MONITOR client, in Redis's line format."""
    now = time.time()
    seconds = int(now)
    source = "lua" if session.in_script else session.addr
    line = b"+%d.%06d [%d %s] %b\r\n" % (
        seconds,
        int((now - seconds) * 1_000_000),
        session.db_index,
        source.encode("latin-1"),
        b" ".join(quoted(arg) for arg in argv),
    )
    for monitor in instance.monitors:
        monitor.write(line)


@dataclass(slots=True)
class SlowlogEntry:
    id: int
    time_s: int
    duration_us: int
    argv: list[bytes]
    peer: bytes
    name: bytes


class Slowlog:
    """The slow log: newest first, at most `slowlog-max-len` entries."""

    __slots__ = ("entries", "next_id")

    def __init__(self) -> None:
        self.entries: deque[SlowlogEntry] = deque()
        self.next_id = 0

    def push(self, session: Session, argv: list[bytes], duration_us: int, max_len: int) -> None:
        shown = argv
        if len(argv) > SLOWLOG_ENTRY_MAX_ARGC:
            shown = [*argv[: SLOWLOG_ENTRY_MAX_ARGC - 1], b"... (%d more arguments)" % (len(argv) - SLOWLOG_ENTRY_MAX_ARGC + 1)]
        shown = [
            arg if len(arg) <= SLOWLOG_ENTRY_MAX_STRING
            else arg[:SLOWLOG_ENTRY_MAX_STRING] + b"... (%d more bytes)" % (len(arg) - SLOWLOG_ENTRY_MAX_STRING)
            for arg in shown
        ]
        self.entries.appendleft(
            SlowlogEntry(self.next_id, int(time.time()), duration_us, shown, session.addr.encode("latin-1"), session.name)
        )
        self.next_id += 1
        while len(self.entries) > max_len:
            self.entries.pop()


# -------------------------------------------------------------------- MONITOR


@command("monitor", 1, "admin noscript loading stale", group="server", since="1.0.0")
def monitor(session: Session) -> object:
    """Listen for all requests received by the server in real time"""
    if session.deny_blocking:  # it expects a reply per command: inside MULTI, embedded
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    session.instance.monitors[session] = None
    return OK


# -------------------------------------------------------------------- SLOWLOG

container("slowlog", -2, group="server", since="2.2.12", summary="A container for slow log commands")

_SLOWLOG_HELP = help_reply(
    "SLOWLOG",
    (
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ),
)


@command("get", -2, "admin loading stale", group="server", since="2.2.12", container="slowlog",
         tips="request_policy:all_nodes nondeterministic_output")
def slowlog_get(session: Session, *count: bytes) -> list[object]:
    """Get the slow log's entries"""
    entries = session.instance.slowlog.entries
    if len(count) > 1:  # Redis's subcommand fallback
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{printable(session.argv[1])}'. Try SLOWLOG HELP."
        )
    wanted = 10
    if count:
        wanted = ranged(count[0], -1, 2**63 - 1, "ERR count should be greater than or equal to -1")
        if wanted == -1:
            wanted = len(entries)
    return [
        [entry.id, entry.time_s, entry.duration_us, list(entry.argv), entry.peer, entry.name]
        for entry, _ in zip(entries, range(wanted), strict=False)
    ]


@command("len", 2, "admin loading stale", group="server", since="2.2.12", container="slowlog",
         tips="request_policy:all_nodes response_policy:agg_sum nondeterministic_output")
def slowlog_len(session: Session) -> int:
    """Get the slow log's length"""
    return len(session.instance.slowlog.entries)


@command("reset", 2, "admin loading stale", group="server", since="2.2.12", container="slowlog",
         tips="request_policy:all_nodes response_policy:all_succeeded")
def slowlog_reset(session: Session) -> object:
    """Clear all entries from the slow log"""
    session.instance.slowlog.entries.clear()
    return OK


@command("help", 2, "loading stale", group="server", since="6.2.0", container="slowlog")
def slowlog_help(session: Session) -> list[object]:
    """Show helpful text about the different subcommands"""
    return _SLOWLOG_HELP  # type: ignore[return-value]
