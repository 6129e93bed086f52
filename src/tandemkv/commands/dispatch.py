"""The dispatcher: one command line in, one reply object out.

This is the only place that checks a command against the table (unknown, arity, subcommand),
against the session's user (authentication, ACL permissions) and state (RESP2 subscribed
mode), runs the declared converters, calls the
handler, turns CommandError into an error reply, and counts calls for INFO commandstats.
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

from tandemkv.commands.acl import redacted, toplevel_refusal
from tandemkv.commands.blocking import BLOCKED, Waiter
from tandemkv.commands.latency import record_latency
from tandemkv.commands.memory import oom_reply
from tandemkv.commands.monitoring import feed_monitors
from tandemkv.commands.pausing import pauses, postpone
from tandemkv.commands.session import Instance, Session
from tandemkv.commands.table import TABLE, CommandSpec
from tandemkv.errors import CommandError
from tandemkv.protocol import QUEUED, Error

_SUBSCRIBED_OK = frozenset(
    {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset"}
)
_resolve = TABLE.resolve
_plain = TABLE.plain


LOADING = "LOADING Redis is loading the dataset in memory"

# Commands that run at once inside MULTI instead of being queued (processCommand).
_RUN_IN_MULTI = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})


def execute(session: Session, argv: list[bytes]) -> Any:
    """Run one command for `session`; returns the reply object (errors included), QUEUED
    inside MULTI, or BLOCKED when the command waits (commands/blocking.py; its reply comes
    via Session.wake)."""
    instance = session.instance
    instance.stats.total_commands_processed += 1
    # Hot path: a top-level command with the right arity; anything else is resolved (and its
    # errors raised) by the table.
    spec = _plain.get(argv[0])
    if spec is None or not (spec.arity == len(argv) or 0 > spec.arity >= -len(argv)):
        try:
            spec = _resolve(argv)
        except CommandError as exc:
            if session.multi is not None:  # flagTransaction: EXEC will abort
                session.multi_error = True
            message = exc.message
            if argv[0].lower() == b"exec":  # its arity: a rejected EXEC aborts (execCommandAbort)
                session.discard_transaction()
                message = "EXECABORT Transaction discarded because of: " + message.removeprefix("ERR ")
            instance.stats.count_error(message)
            return Error(message)
    session.last_spec = spec
    session.argv = argv
    if not session.authenticated and "no_auth" not in spec.flags and instance.acl.auth_required:
        return _reject(session, spec, "NOAUTH Authentication required.")
    # ACL (commands/acl.py): a user allowed everything (the default user) costs this one test.
    user = session.user
    if not user.unrestricted and not user.permits(spec, argv):
        refusal = toplevel_refusal(session, spec, argv)
        if refusal is not None:
            return _reject(session, spec, refusal)
    in_multi = session.multi is not None
    if in_multi and "no_multi" in spec.flags:
        return _reject(session, spec, "ERR Command not allowed inside a transaction")
    memory = instance.memory
    # Memory bound: evict, or OOM (commands/memory.py); not while a busy script lets other
    # clients in (Redis does not evict then either), nor for a script's own commands (the
    # script runtime checks those: only a script's first write may be refused).
    if 0 < memory.limit_bytes < memory.used_bytes and instance.busy is None and not session.in_script:
        oom = oom_reply(session, spec)
        if oom is not None:
            return _reject(session, spec, oom)
    if (
        session.resp == 2
        and (session.channels or session.patterns or session.shard_channels)
        and (spec.name not in _SUBSCRIBED_OK or spec.container)
    ):
        return _reject(
            session,
            spec,
            f"ERR Can't execute '{spec.full_name}': only (P|S)SUBSCRIBE / "
            "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        )
    # A data file is loading (the server serves clients meanwhile): only `loading` commands,
    # and EXEC only if every queued command is one (processCommand's is_denyloading_command).
    if instance.loading is not None and _denied_while_loading(session, spec):
        return _reject(session, spec, LOADING)
    # A script past busy-reply-threshold is running (runtime.py): other clients may only run
    # allow_busy commands; the script's own commands come from its client.
    if instance.busy is not None and "allow_busy" not in spec.flags and not session.in_script:
        return _reject(session, spec, instance.busy)
    if instance.pause_type and pauses(session, spec, argv):  # CLIENT PAUSE: wait for its end
        return postpone(session, argv)
    if in_multi and (spec.container or spec.name not in _RUN_IN_MULTI):
        if not (session.multi_error or session.cas_dirty):  # an aborted one keeps nothing
            session.multi.append((spec, argv))  # type: ignore[union-attr]
        return QUEUED
    return call(session, spec, argv)


def call_from_script(session: Session, spec: CommandSpec, argv: list[bytes]) -> Any:
    """A command a script runs through its script client (Redis's scriptCall, which calls
    call() directly): the script runtime has made the checks a script's commands get instead
    of `execute`'s (unknown command and arity with the script's texts, noscript, the caller's
    ACL permissions, read-only scripts, the memory bound). None of `execute`'s per-client
    states can hold for the script client: it is authenticated as its caller, never in MULTI,
    subscribed, paused or blocked, and busy/OOM rejections do not apply to it."""
    session.instance.stats.total_commands_processed += 1
    session.last_spec = spec
    return call(session, spec, argv)


def call(session: Session, spec: CommandSpec, argv: list[bytes]) -> Any:
    """Run a resolved and checked command (Redis's call()): the handler, its statistics, a
    blocked command's registration, then the clients its writes made ready -- unless it runs
    inside an atomic unit (EXEC, a script), which serves them once it is over."""
    instance = session.instance
    session.argv = argv  # inside EXEC too: error texts quote the queued command (Redis's c->argv)
    if not instance.rdb.last_status_ok and _rdb_refuses(instance, spec):
        return _reject(session, spec, RDB_MISCONF)
    effects = instance.effects  # the effect stream (commands/effects.py), None without consumers
    if effects is not None:
        if effects.write_error and ("write" in spec.flags or spec.name == "ping"):
            # A consumer could not write (the AOF on a full disk): writes are refused until
            # it can again (Redis's writeCommandsDeniedByDiskError).
            return _reject(session, spec, "MISCONF Errors writing to the AOF file: " + effects.write_error)
        dirty_before = instance.rdb.dirty
        effects.depth += 1
    started = perf_counter_ns()
    try:
        if spec.converts:
            reply = spec.handler(session, *spec.convert(argv))  # type: ignore[misc]
        else:
            reply = spec.handler(session, *argv[1:])  # type: ignore[misc]
    except CommandError as exc:
        spec.failed_calls += 1
        instance.stats.count_error(exc.message)
        reply = Error(exc.message)
    finally:
        if effects is not None:
            effects.depth -= 1
    elapsed_ns = perf_counter_ns() - started
    if effects is not None:
        effects.after_call(session, spec, argv, reply, instance.rdb.dirty > dirty_before)
    spec.nsec += elapsed_ns
    spec.calls += 1
    if instance.latency_tracking:  # LATENCY HISTOGRAM: calls per whole microsecond, as Redis
        histogram = spec.latency_us
        micros = elapsed_ns // 1000
        histogram[micros] = histogram.get(micros, 0) + 1
    if elapsed_ns >= instance.watch_threshold_ns:  # the slow log's or the latency monitor's
        _watched(session, spec, argv, elapsed_ns)
    if instance.monitors and "admin" not in spec.flags and "skip_monitor" not in spec.flags:
        feed_monitors(instance, session, redacted(spec, argv))
    if reply.__class__ is Waiter:  # a blocking command that could not answer yet
        instance.blocking.add(reply)
        reply = BLOCKED
    if instance.blocking.ready and not instance.atomic_depth:  # keys readied: serve waiters now
        instance.blocking.serve_ready()
    return reply


RDB_MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report "
    "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
    "the Redis logs for details about the RDB error."
)


def _rdb_refuses(instance: Instance, spec: CommandSpec) -> bool:
    """The last background save failed (checked first, by the caller): writes and PING are
    refused while stop-writes-on-bgsave-error is on and a save schedule is set (Redis's
    writeCommandsDeniedByDiskError)."""
    config = instance.config
    return (
        ("write" in spec.flags or spec.name == "ping")
        and bool(config["stop-writes-on-bgsave-error"])
        and bool(config.str("save"))
    )


def _watched(session: Session, spec: CommandSpec, argv: list[bytes], elapsed_ns: int) -> None:
    """A command at or over a watch threshold: the slow log (Redis's slowlogPushCurrentCommand)
    and the latency monitor's `command` / `fast-command` events, as Redis's call()."""
    instance = session.instance
    threshold_ns = instance.slowlog_threshold_ns
    if threshold_ns is not None and elapsed_ns >= threshold_ns and "skip_slowlog" not in spec.flags:
        instance.slowlog.push(session, redacted(spec, argv), elapsed_ns // 1000, instance.config.int("slowlog-max-len"))
    record_latency(instance, b"fast-command" if "fast" in spec.flags else b"command", elapsed_ns)


def _denied_while_loading(session: Session, spec: CommandSpec) -> bool:
    if "loading" not in spec.flags:
        return True
    queued = session.multi
    return spec.name == "exec" and not spec.container and queued is not None and any(
        "loading" not in queued_spec.flags for queued_spec, _argv in queued
    )


def _reject(session: Session, spec: CommandSpec, message: str) -> Error:
    """Redis's rejectCommand: the error, and inside MULTI the transaction is flagged; a
    rejected EXEC aborts it, or answers EXECABORT outside MULTI too (execCommandAbort)."""
    spec.rejected_calls += 1
    if session.multi is not None:
        session.multi_error = True
    if spec.name == "exec" and not spec.container:  # in MULTI or not, as Redis
        session.discard_transaction()
        message = "EXECABORT Transaction discarded because of: " + message.removeprefix("-")
    session.instance.stats.count_error(message)
    return Error(message)
