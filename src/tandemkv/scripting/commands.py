"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis's eval.c), registered in the command
table from this layer: their handlers need the Lua runtime, which sits above commands/."""

from __future__ import annotations

from typing import Any

from tandemkv.commands import Session
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import NOT_INTEGER, CommandError
from tandemkv.protocol import OK, Error, string2ll
from tandemkv.scripting.runtime import NOSCRIPT, scripting_of, sha1hex

_EVAL_FLAGS = "noscript skip_monitor may_replicate no_mandatory_keys stale movablekeys"
_EVAL_RO_FLAGS = "noscript skip_monitor no_mandatory_keys stale readonly movablekeys"


def _split_keys(numkeys_raw: bytes, rest: tuple[bytes, ...]) -> tuple[list[bytes], list[bytes]]:
    numkeys = string2ll(numkeys_raw)
    if numkeys is None:
        raise CommandError(NOT_INTEGER)
    if numkeys > len(rest):
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return list(rest[:numkeys]), list(rest[numkeys:])


def eval_generic(session: Session, body: bytes, numkeys: bytes, rest: tuple[bytes, ...], read_only: bool) -> Any:
    keys, args = _split_keys(numkeys, rest)
    scripting = scripting_of(session.instance)
    sha = sha1hex(body)
    if sha not in scripting.scripts:
        scripting.create(body)
    return scripting.eval(session, sha, keys, args, read_only)


def evalsha_generic(session: Session, sha_raw: bytes, numkeys: bytes, rest: tuple[bytes, ...], read_only: bool) -> Any:
    if len(sha_raw) != 40:
        return Error(NOSCRIPT)
    keys, args = _split_keys(numkeys, rest)
    scripting = scripting_of(session.instance)
    sha = sha_raw.decode("latin-1").lower()
    if sha not in scripting.scripts:
        return Error(NOSCRIPT)
    return scripting.eval(session, sha, keys, args, read_only)


@command("eval", -3, _EVAL_FLAGS, group="scripting", since="2.6.0")
def eval_(session: Session, body: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Execute a Lua script server side"""
    return eval_generic(session, body, numkeys, rest, False)


@command("eval_ro", -3, _EVAL_RO_FLAGS, group="scripting", since="7.0.0")
def eval_ro(session: Session, body: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Execute a read-only Lua script server side"""
    return eval_generic(session, body, numkeys, rest, True)


@command("evalsha", -3, _EVAL_FLAGS, group="scripting", since="2.6.0")
def evalsha(session: Session, sha: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Execute a Lua script server side"""
    return evalsha_generic(session, sha, numkeys, rest, False)


@command("evalsha_ro", -3, _EVAL_RO_FLAGS, group="scripting", since="7.0.0")
def evalsha_ro(session: Session, sha: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Execute a read-only Lua script server side"""
    return evalsha_generic(session, sha, numkeys, rest, True)


# ------------------------------------------------------------------------- SCRIPT

container("script", -2, group="scripting", since="2.6.0", summary="A container for Lua scripts management commands")

_SCRIPT_HELP = help_reply(
    "SCRIPT",
    (
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ),
)


@command("help", 2, "loading stale", group="scripting", since="5.0.0", container="script")
def script_help(session: Session) -> Any:
    """Show helpful text about the different subcommands"""
    return _SCRIPT_HELP


@command("load", 3, "noscript stale", group="scripting", since="2.6.0", container="script",
         tips="request_policy:all_nodes response_policy:all_succeeded")
def script_load(session: Session, body: bytes) -> Any:
    """Load the specified Lua script into the script cache."""
    return scripting_of(session.instance).create(body).encode()


@command("exists", -3, "noscript", group="scripting", since="2.6.0", container="script",
         tips="request_policy:all_shards response_policy:agg_logical_and")
def script_exists(session: Session, *shas: bytes) -> Any:
    """Check existence of scripts in the script cache."""
    scripts = scripting_of(session.instance).scripts
    return [int(sha.decode("latin-1").lower() in scripts) for sha in shas]


@command("flush", -2, "noscript", group="scripting", since="2.6.0", container="script",
         tips="request_policy:all_nodes response_policy:all_succeeded")
def script_flush(session: Session, *mode: bytes) -> Any:
    """Remove all the scripts from the script cache."""
    if len(mode) > 1 or (mode and mode[0].lower() not in (b"sync", b"async")):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    scripting_of(session.instance).flush()
    return OK


@command("kill", 2, "noscript allow_busy", group="scripting", since="2.6.0", container="script",
         tips="request_policy:all_shards response_policy:one_succeeded")
def script_kill(session: Session) -> Any:
    """Kill the script currently in execution."""
    refusal = scripting_of(session.instance).kill()
    return OK if refusal is None else refusal
