"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis's eval.c), FUNCTION and FCALL
(functions.c), registered in the command table from this layer: their handlers need the Lua
runtime, which sits above commands/."""

from __future__ import annotations

import time
from typing import Any

from tandemkv.commands import TABLE, Session, effects
from tandemkv.commands.monitoring import feed_monitors
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import NOT_INTEGER, CommandError, printable
from tandemkv.glob import compile_glob
from tandemkv.protocol import OK, Map, SetReply, Simple, string2ll
from tandemkv.scripting.runtime import (
    BUSY_EVAL,
    NOSCRIPT,
    SCRIPT_FLAGS,
    functions_of,
    kill,
    running,
    scripting_of,
    sha1hex,
    shebang_flags,
)

_EVAL_FLAGS = "noscript skip_monitor may_replicate no_mandatory_keys stale movablekeys"
_EVAL_RO_FLAGS = "noscript skip_monitor no_mandatory_keys stale readonly movablekeys"


# numkeys as most calls give it, read without string2ll.
_SMALL_NUMKEYS = {b"%d" % n: n for n in range(10)}


def _split_keys(numkeys_raw: bytes, rest: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    numkeys = _SMALL_NUMKEYS.get(numkeys_raw)
    if numkeys is None:
        numkeys = string2ll(numkeys_raw)
    if numkeys is None:
        raise CommandError(NOT_INTEGER)
    if numkeys > len(rest):
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return rest[:numkeys], rest[numkeys:]


def _feed_monitors_first(session: Session) -> None:
    """EVAL, EVALSHA and FCALL are shown to MONITOR before the commands they run (Redis feeds
    them explicitly; their specs say skip_monitor so the dispatcher does not feed them again)."""
    if session.instance.monitors:
        feed_monitors(session.instance, session, session.argv)


def eval_generic(session: Session, body: bytes, numkeys: bytes, rest: tuple[bytes, ...], read_only: bool) -> Any:
    _feed_monitors_first(session)
    keys, args = _split_keys(numkeys, rest)
    scripting = scripting_of(session.instance)
    sha = sha1hex(body)
    if sha not in scripting.scripts:
        scripting.create(body)
    return scripting.eval(session, sha, keys, args, read_only)


def evalsha_generic(session: Session, sha_raw: bytes, numkeys: bytes, rest: tuple[bytes, ...], read_only: bool) -> Any:
    _feed_monitors_first(session)
    if len(sha_raw) != 40:
        raise CommandError(NOSCRIPT)
    keys, args = _split_keys(numkeys, rest)
    scripting = scripting_of(session.instance)
    sha = sha_raw.decode("latin-1").lower()
    if sha not in scripting.scripts:
        raise CommandError(NOSCRIPT)
    return scripting.eval(session, sha, keys, args, read_only)


@command("eval", -3, _EVAL_FLAGS, group="scripting", since="2.6.0", effect=effects.none)
def eval_(session: Session, body: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Execute a Lua script server side"""
    return eval_generic(session, body, numkeys, rest, False)


@command("eval_ro", -3, _EVAL_RO_FLAGS, group="scripting", since="7.0.0")
def eval_ro(session: Session, body: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Execute a read-only Lua script server side"""
    return eval_generic(session, body, numkeys, rest, True)


@command("evalsha", -3, _EVAL_FLAGS, group="scripting", since="2.6.0", effect=effects.none)
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
    kill(session.instance, eval_mode=True)
    return OK


# ------------------------------------------------------------------------- FUNCTION, FCALL

# The FUNCTION container is declared in commands/server.py (persistence/ registers DUMP and
# RESTORE into it too).


_FUNCTION_HELP = help_reply(
    "FUNCTION",
    (
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
    ),
)


@command("help", 2, "loading stale", group="scripting", since="7.0.0", container="function")
def function_help(session: Session) -> Any:
    """Show helpful text about the different subcommands"""
    return _FUNCTION_HELP


@command("load", -3, "noscript write denyoom", group="scripting", since="7.0.0", container="function",
         effect=effects.always, tips="request_policy:all_shards response_policy:all_succeeded")
def function_load(session: Session, *args: bytes) -> Any:
    """Create a function with the given arguments (name, code, description)"""
    replace = False
    for option in args[:-1]:
        if option.lower() != b"replace":
            raise CommandError(f"ERR Unknown option given: {printable(option)}")
        replace = True
    return functions_of(session.instance).load_library(args[-1], replace).encode()


@command("delete", 3, "noscript write", group="scripting", since="7.0.0", container="function",
         effect=effects.always, tips="request_policy:all_shards response_policy:all_succeeded")
def function_delete(session: Session, name: bytes) -> Any:
    """Delete a function by name"""
    engine = functions_of(session.instance)
    library = name.decode("latin-1")
    if library not in engine.libraries:
        raise CommandError("ERR Library not found")
    engine.delete_library(library)
    return OK


@command("flush", -2, "noscript write", group="scripting", since="7.0.0", container="function",
         effect=effects.always, tips="request_policy:all_shards response_policy:all_succeeded")
def function_flush(session: Session, *mode: bytes) -> Any:
    """Deleting all functions"""
    if len(mode) > 1:
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{printable(session.argv[1][:128])}'. "
            "Try FUNCTION HELP."
        )
    if mode and mode[0].lower() not in (b"sync", b"async"):
        raise CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    functions_of(session.instance).flush()
    return OK


@command("list", -2, "noscript", group="scripting", since="7.0.0", container="function",
         tips="nondeterministic_output_order")
def function_list(session: Session, *args: bytes) -> Any:
    """List information about all the functions"""
    with_code = False
    pattern: bytes | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if not with_code and arg.lower() == b"withcode":
            with_code = True
        elif pattern is None and arg.lower() == b"libraryname":
            if i >= len(args) - 1:
                raise CommandError("ERR library name argument was not given")
            i += 1
            pattern = args[i]
        else:
            raise CommandError(f"ERR Unknown argument {printable(arg)}")
        i += 1
    matches = compile_glob(pattern).fullmatch if pattern is not None else None
    reply = []
    for library in functions_of(session.instance).libraries.values():
        name = library.name.encode("latin-1")
        if matches is not None and matches(name) is None:
            continue
        functions = [
            Map([
                (b"name", function.name.encode("latin-1")),
                (b"description", None if function.description is None else function.description.encode("latin-1")),
                (b"flags", SetReply([Simple(flag.encode()) for flag in SCRIPT_FLAGS if flag in function.flags])),
            ])
            for function in library.functions.values()
        ]
        entry = [(b"library_name", name), (b"engine", b"LUA"), (b"functions", functions)]
        if with_code:
            entry.append((b"library_code", library.code))
        reply.append(Map(entry))
    return reply


@command("kill", 2, "noscript allow_busy", group="scripting", since="7.0.0", container="function",
         tips="request_policy:all_shards response_policy:one_succeeded")
def function_kill(session: Session) -> Any:
    """Kill the function currently in execution."""
    kill(session.instance, eval_mode=False)
    return OK


@command("stats", 2, "noscript allow_busy", group="scripting", since="7.0.0", container="function",
         tips="nondeterministic_output request_policy:all_shards response_policy:special")
def function_stats(session: Session) -> Any:
    """Return information about the function currently running (name, description, duration)"""
    instance = session.instance
    run = running(instance)
    if run is not None and run.eval_mode:
        raise CommandError(BUSY_EVAL)
    script = None
    if run is not None:
        script = Map([
            (b"name", run.sha.encode("latin-1")),
            (b"command", list(run.caller.argv)),
            (b"duration_ms", int((time.monotonic() - run.started) * 1000)),
        ])
    engine = functions_of(instance)
    functions = sum(len(library.functions) for library in engine.libraries.values())
    counts = Map([(b"libraries_count", len(engine.libraries)), (b"functions_count", functions)])
    return Map([(b"running_script", script), (b"engines", Map([(b"LUA", counts)]))])


def fcall_generic(session: Session, name: bytes, numkeys_raw: bytes, rest: tuple[bytes, ...], read_only: bool) -> Any:
    _feed_monitors_first(session)
    engine = functions_of(session.instance)
    function = engine.functions.get(name.decode("latin-1").lower())
    if function is None:
        raise CommandError("ERR Function not found")
    numkeys = string2ll(numkeys_raw)
    if numkeys is None:
        raise CommandError("ERR Bad number of keys provided")
    keys, args = _split_keys(numkeys_raw, rest)
    return engine.fcall(session, function, keys, args, read_only)


@command("fcall", -3, _EVAL_FLAGS, group="scripting", since="7.0.0", effect=effects.none)
def fcall(session: Session, name: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Invoke a function"""
    return fcall_generic(session, name, numkeys, rest, False)


@command("fcall_ro", -3, _EVAL_RO_FLAGS, group="scripting", since="7.0.0")
def fcall_ro(session: Session, name: bytes, numkeys: bytes, *rest: bytes) -> Any:
    """Invoke a read-only function"""
    return fcall_generic(session, name, numkeys, rest, True)


# ------------------------------------------------------- flags a script declares


def _as_command_flags(spec_flags: frozenset[str], script_flags: frozenset[str] | None) -> frozenset[str]:
    """Redis's scriptFlagsToCmdFlags: a script with a shebang writes, may grow memory and runs
    on stale data only as its flags say (no-writes implies allow-oom); no shebang: as the spec."""
    if script_flags is None:
        return spec_flags
    flags = set(spec_flags) - {"stale", "denyoom", "write", "may_replicate"}
    if not script_flags & {"allow-oom", "no-writes"}:
        flags.add("denyoom")
    if "no-writes" not in script_flags:
        flags.add("write")
    if "allow-stale" in script_flags:
        flags.add("stale")
    return frozenset(flags)


def _eval_flags(session: Session, argv: list[bytes]) -> frozenset[str]:
    """evalGetCommandFlags: the cached script's flags, else those of the body's shebang."""
    spec_flags = TABLE.resolve(argv).flags
    script = scripting_of(session.instance).scripts.get(sha1hex(argv[1]))
    if script is not None:
        return _as_command_flags(spec_flags, script.flags)
    try:
        return _as_command_flags(spec_flags, shebang_flags(argv[1])[0])
    except CommandError:  # a bad shebang: the command fails later, with its error
        return spec_flags


def _evalsha_flags(session: Session, argv: list[bytes]) -> frozenset[str]:
    spec_flags = TABLE.resolve(argv).flags
    script = scripting_of(session.instance).scripts.get(argv[1].decode("latin-1").lower())
    return spec_flags if script is None else _as_command_flags(spec_flags, script.flags)


def _fcall_flags(session: Session, argv: list[bytes]) -> frozenset[str]:
    """fcallGetCommandFlags: the function's registered flags."""
    spec_flags = TABLE.resolve(argv).flags
    function = functions_of(session.instance).functions.get(argv[1].decode("latin-1"))
    return spec_flags if function is None else _as_command_flags(spec_flags, function.flags)


for _name, _flags_of in (
    (b"eval", _eval_flags), (b"eval_ro", _eval_flags), (b"evalsha", _evalsha_flags),
    (b"evalsha_ro", _evalsha_flags), (b"fcall", _fcall_flags), (b"fcall_ro", _fcall_flags),
):
    TABLE.resolve([_name, b"", b"0"]).flags_of = _flags_of
