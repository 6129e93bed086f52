"""CLIENT PAUSE / UNPAUSE (Redis 7.0 networking.c pauseClients, server.c processCommand).

While clients are paused (WRITE: commands that may write, EXEC of a transaction that would; ALL:
every command), the dispatcher postpones such a command instead of running it: the client
blocks with a keyless Waiter whose "timeout reply" is `Replay(argv)`, so the command and those
pipelined behind it wait, in order, and run again when the pause ends (they may be postponed
anew if another pause began). The dataset stays still meanwhile, as in Redis: keys past their
deadline are not served but not deleted either (the keyspaces' `deletions_paused`), and
neither the expiry timer nor eviction runs; both resume when the pause ends.

The pause ends at its deadline (the server arms a timer through `Instance.on_pause`) or on
CLIENT UNPAUSE. Sessions without a way to wait (scripts, the embedded Store) are never paused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandemkv.commands.args import Int
from tandemkv.commands.blocking import BLOCKED, Blocked, Waiter
from tandemkv.commands.table import command, command_flags
from tandemkv.errors import CommandError, printable
from tandemkv.protocol import OK

if TYPE_CHECKING:
    from tandemkv.commands.session import Instance, Session
    from tandemkv.commands.table import CommandSpec

PAUSE_OFF, PAUSE_WRITE, PAUSE_ALL = 0, 1, 2
_MAY_WRITE = frozenset({"write", "may_replicate"})


class Replay:
    """What wakes a postponed client: run `argv` again, ahead of what waited behind it."""

    __slots__ = ("argv",)

    def __init__(self, argv: list[bytes]) -> None:
        self.argv = argv


def pauses(session: Session, spec: CommandSpec, argv: list[bytes]) -> bool:
    """True if the current pause holds this command back (the dispatcher asks only while
    `instance.pause_type` is set). A script's flags are those its shebang declares."""
    if session.deny_blocking:
        return False
    if session.instance.pause_type == PAUSE_ALL or not _MAY_WRITE.isdisjoint(command_flags(session, spec, argv)):
        return True
    if spec.name == "exec" and not spec.container and session.multi:
        return any(
            not _MAY_WRITE.isdisjoint(command_flags(session, queued, queued_argv))
            for queued, queued_argv in session.multi
        )
    return False


def postpone(session: Session, argv: list[bytes]) -> Blocked:
    """Redis's blockPostponeClient: the command waits, with no key and no timeout."""
    waiter = Waiter(session, (), _never_served, Replay(argv), 0)
    instance = session.instance
    instance.postponed[waiter] = None
    instance.blocking.add(waiter)
    return BLOCKED


def _never_served(_key: bytes) -> None:
    return None


def pause_clients(instance: Instance, kind: int, end_ms: int) -> None:
    """pauseClients for CLIENT PAUSE: the stricter kind and the later end of the pause in
    force and this one."""
    check_pause(instance)
    if instance.pause_type:
        kind = max(kind, instance.pause_type)
        end_ms = max(end_ms, instance.pause_end_ms)
    _set_pause(instance, kind, end_ms)


def check_pause(instance: Instance) -> None:
    """The pause's deadline may have passed (the server's timer): end it if so."""
    if instance.pause_type:
        _set_pause(instance, instance.pause_type, instance.pause_end_ms)


def _set_pause(instance: Instance, kind: int, end_ms: int) -> None:
    """updateClientPauseTypeAndEndTime: a pause whose end is past is no pause; a pause less
    strict than before lets every postponed client run its command again."""
    if kind and end_ms < instance.clock.now_ms():
        kind, end_ms = PAUSE_OFF, 0
    before = instance.pause_type
    instance.pause_type, instance.pause_end_ms = kind, end_ms
    for db in instance.dbs:
        db.deletions_paused = kind != PAUSE_OFF
    if kind:
        instance.on_pause(end_ms)
    if kind < before:
        postponed, instance.postponed = instance.postponed, {}
        for waiter in postponed:
            instance.blocking.time_out(waiter)  # wakes it with its Replay
    if before and not kind:
        instance.on_unpause()


@command("pause", -3, "admin noscript loading stale", group="connection", since="2.9.50", container="client",
         acl="connection dangerous")
def client_pause(session: Session, raw_timeout: bytes, *mode: bytes) -> object:
    """Stop processing commands from clients for some time"""
    if len(mode) > 1:  # Redis's subcommand fallback
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{printable(session.argv[1])}'. Try CLIENT HELP."
        )
    kind = PAUSE_ALL
    if mode:
        word = mode[0].lower()
        if word not in (b"write", b"all"):
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
        kind = PAUSE_WRITE if word == b"write" else PAUSE_ALL
    try:
        timeout_ms = Int(raw_timeout)
    except CommandError:
        raise CommandError("ERR timeout is not an integer or out of range") from None
    if timeout_ms < 0:
        raise CommandError("ERR timeout is negative")
    end_ms = timeout_ms + session.instance.clock.now_ms() if timeout_ms else 0
    pause_clients(session.instance, kind, end_ms)
    return OK


@command("unpause", 2, "admin noscript loading stale", group="connection", since="6.2.0", container="client",
         acl="connection dangerous")
def client_unpause(session: Session) -> object:
    """Resume processing of clients that were paused"""
    if session.instance.pause_type:
        _set_pause(session.instance, PAUSE_OFF, 0)
    return OK
