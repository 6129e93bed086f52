"""The Lua 5.1 runtime of one instance: the sandboxed state, the script cache, and script runs.

One `Scripting` per Instance (`scripting_of`). It owns a Lua state (lupa's Lua 5.1) set up by
sandbox.lua, the cache of compiled scripts by SHA1 (EVAL caches what it runs, as SCRIPT LOAD
does), and the script client: a Session that is never registered (no CLIENT LIST entry) whose
db and protocol are set for each run, and which never blocks (blocking commands answer as on
timeout, as Redis's CLIENT_DENY_BLOCKING).

`redis.call` runs Redis's script checks (scriptCall in script.c: unknown command, arity,
`noscript`, the caller's ACL permissions, writes from read-only scripts, the memory bound) and
then the dispatcher's `call_from_script` (commands/dispatch.py), which is call() as for EXEC's
commands: as in Redis, a script's commands skip processCommand's per-client checks. A run is
one atomic unit: `instance.atomic_depth` is raised so clients blocked on keys are served after
the whole script.

Cost (bench/README.md, issue 14): a redis.call is a Lua -> Python -> Lua crossing through lupa,
so the path is kept short: KEYS and ARGV are built in Lua from the run's arguments, a status
reply ({ok = ...}) returned by the script is recognised in Lua, the run functions are looked up
once per Lua state, and `_command` handles the common case inline.

Busy scripts (Redis's scriptInterrupt in script.c). A script runs inside one callback of the
server's loop, which cannot be re-entered, yet Redis's rules need other clients served while a
long script runs. So the split is:

- here, a Lua count hook every HOOK_INSTRUCTIONS instructions (Redis's period) looks at the
  clock; past busy-reply-threshold (alias lua-time-limit; 0: no hook at all) the run is *timed
  out*: the slow-script warning is logged once, `instance.busy` is set to the -BUSY error (the
  EVAL or the FUNCTION text), and from then on every hook calls `instance.while_busy(caller)`;
- the dispatcher answers that error to any command without the allow_busy flag from any
  client but the script's own (commands/dispatch.py), so only SCRIPT KILL, FUNCTION KILL,
  FUNCTION STATS, SHUTDOWN NOSAVE and the connection and transaction bookkeeping commands run;
- the server layer's `while_busy` (server/busy.py) polls the other clients' sockets without
  blocking and feeds what arrived through their usual connection path; the caller's socket is
  left alone, so its further input waits for the script, as Redis protects that client;
- SCRIPT KILL / FUNCTION KILL (`kill`) mark the run killed; the next hook raises Redis's kill
  error and turns into a line hook, so pcall cannot swallow it. A script that has written
  cannot be killed (-UNKILLABLE): only SHUTDOWN NOSAVE, which exits the process, stops it.

Without a server (the embedded Store) nobody else can be served or send SCRIPT KILL, so a timed
out script simply runs to its end.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lupa import lua51

from tandemkv.commands import TABLE, Instance, Session
from tandemkv.commands.acl import script_refusal
from tandemkv.commands.dispatch import call_from_script
from tandemkv.commands.users import ACL_OK
from tandemkv.errors import OOM, CommandError
from tandemkv.protocol import Error, Simple, split_args
from tandemkv.scripting.convert import LuaTable, LuaValues, status_text
from tandemkv.scripting.libs import install_libs

log = logging.getLogger("tandemkv.scripting")

# Lua count hook period (instructions), as Redis's luaMaskCountHook.
HOOK_INSTRUCTIONS = 100_000
# KEYS and ARGV up to this many values in all go to Lua as the run's arguments (Lua 5.1's C
# functions get at most LUAI_MAXCSTACK = 8000 stack slots); more go as two tables.
VARARGS_MAX = 64
LOAD_TIMEOUT_S = 0.5  # FUNCTION LOAD stops a library's code after this (Redis's 500 ms)
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
# Redis's script shebang flags.
SCRIPT_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")
# The -BUSY errors of a timed-out script (Redis's shared.slowevalerr and slowscripterr).
BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
UNKILLABLE = (
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either "
    "wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
)
# Log levels of redis.log, as Python logging levels.
_LOG_LEVELS = (logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)


@dataclass(slots=True)
class Script:
    """A cached script: its compiled function, body and shebang flags (None: no shebang)."""

    function: Any
    body: bytes
    flags: frozenset[str] | None


@dataclass(slots=True)
class Function:
    """A function registered by a library (FUNCTION LOAD)."""

    name: str
    callback: Any
    flags: frozenset[str]
    description: str | None
    library: str = ""


@dataclass(slots=True)
class Library:
    name: str
    code: bytes
    functions: dict[str, Function]


@dataclass(slots=True)
class Run:
    """The state of the script being run (Redis's scriptRunCtx)."""

    sha: str  # the script's SHA1, or the function's name
    read_only: bool
    caller: Session  # whose user's ACL permissions the script's commands need
    eval_mode: bool  # EVAL family (False: FCALL)
    started: float  # time.monotonic() at the start
    limit_s: float  # busy-reply-threshold
    oom_at_start: bool = False  # over the memory bound when the script started
    allow_oom: bool = False  # shebang flag allow-oom: writes may grow memory over the bound
    dirty: bool = False  # a write command ran: the script can no longer be killed
    timed_out: bool = False  # past limit_s: other clients are being served (instance.busy)
    killed: bool = False  # SCRIPT KILL / FUNCTION KILL: stop at the next hook
    repl: int = 3

    @property
    def busy_error(self) -> str:
        return BUSY_EVAL if self.eval_mode else BUSY_FUNCTION


class ScriptError(CommandError):
    """An error reply for the caller of EVAL (compile errors, shebang errors, NOSCRIPT)."""


def sha1hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class Scripting:
    """The Lua state, script cache and script client of one instance."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.client = Session(instance, 0)
        self.client.in_script = True  # shown as "lua" to MONITOR
        self.run: Run | None = None
        self.rand48 = 0x1234ABCD330E  # rand48 state; SCRIPT FLUSH keeps it, as Redis does
        self.scripts: dict[str, Script] = {}
        # Functions (FUNCTION LOAD, FCALL): libraries by name, their functions by name, and the
        # functions registered by the library being loaded.
        self.libraries: dict[str, Library] = {}
        self.functions: dict[str, Function] = {}  # by lowercased name: FCALL ignores case
        self.loading: dict[str, Function] | None = None
        self._load_started = 0.0  # time.monotonic() when FUNCTION LOAD started running code
        instance.script_counts = lambda: script_counts(instance)
        self._new_state()

    # ------------------------------------------------------------------ state

    def _new_state(self) -> None:
        lua = lua51.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
        )
        self.lua = lua
        self.values = LuaValues(lua.table, lua.table_from, lua.eval("rawget"), lambda t: t.items())
        source = resources.files("tandemkv.scripting").joinpath("sandbox.lua").read_bytes()
        loader = lua.eval("loadstring")(source, b"=[tandemkv]")
        api = lua.table()
        for name, fn in (
            ("call", self._redis_call),
            ("pcall", self._redis_pcall),
            ("sha1hex", self._sha1hex),
            ("log", self._log),
            ("setresp", self._setresp),
            ("set_repl", self._set_repl),
            ("acl_check_cmd", self._acl_check_cmd),
            ("random", self._random),
            ("randomseed", self._randomseed),
            ("interrupt", self._interrupt),
            ("load_timed_out", self._load_timed_out),
            ("unwrap", _unwrap),
            ("register_function", self._register_function),
        ):
            api[name.encode()] = fn
        libs = lua.table()
        install_libs(lua, libs, self._raise_at)
        self._internal = loader(api, libs)
        # The run functions, looked up once: each look-up in a Lua table from Python makes a
        # new wrapper object (and a Lua registry reference).
        internal = self._internal
        self._runs = {
            (True, False): internal.run_eval,
            (False, False): internal.run_fcall,
            (True, True): internal.run_eval_tables,
            (False, True): internal.run_fcall_tables,
        }

    def flush(self) -> None:
        """SCRIPT FLUSH / FUNCTION FLUSH: forget every script or library, new Lua state."""
        self.scripts.clear()
        self.libraries.clear()
        self.functions.clear()
        self._new_state()

    # ------------------------------------------------------------------ libraries

    def load_library(self, code: bytes, replace: bool) -> str:
        """FUNCTION LOAD (functionsCreateWithLibraryCtx); returns the library name, raises
        ScriptError with Redis's text."""
        name, body = library_metadata(code)
        if not _valid_name(name):
            raise ScriptError(f"ERR {_BAD_NAME}")
        old = self.libraries.get(name)
        if old is not None and not replace:
            raise ScriptError(f"ERR Library '{name}' already exists")
        self.loading = {}
        self._load_started = time.monotonic()
        try:
            ok, stage, error = self._internal.load_library(body)
            registered = self.loading
        finally:
            self.loading = None
        if not ok:
            if stage == b"compile":
                raise ScriptError(f"ERR Error compiling function: {error.decode('latin-1')}")
            raise ScriptError(f"ERR Error registering functions: {self._error_message(error)}")
        if not registered:
            raise ScriptError("ERR No functions registered")
        for fname in registered:
            existing = self.functions.get(fname.lower())
            if existing is not None and existing.library != name:
                raise ScriptError(f"ERR Function {fname} already exists")
        if old is not None:
            self.delete_library(name)
        library = Library(name, code, registered)
        self.libraries[name] = library
        for function in registered.values():
            function.library = name
            self.functions[function.name.lower()] = function
        return name

    def codes(self) -> list[bytes]:
        """Each library's code, in load order (FUNCTION DUMP, the RDB file's functions)."""
        return [library.code for library in self.libraries.values()]

    def restore(self, codes: Iterable[bytes], policy: str) -> None:
        """FUNCTION RESTORE with `policy` append, replace or flush (functionRestoreCommand),
        and loading an RDB file's functions (append): the libraries are first loaded into a
        state of their own (Redis's new functionsLibCtx: a duplicate inside `codes` fails as
        FUNCTION LOAD would), then joined with the current ones as libraryJoin does: an
        existing library is an error unless `policy` is replace, a function of another
        library is always one. All or nothing; raises ScriptError."""
        staging = Scripting(self.instance)
        staged = []
        for code in codes:
            staging.load_library(code, False)
            staged.append(code)
        if policy == "flush":
            self.flush()
        else:
            replaced = [name for name in staging.libraries if name in self.libraries]
            if replaced and policy != "replace":
                raise ScriptError(f"ERR Library {replaced[0]} already exists")
            for fname in staging.functions:
                owner = self.functions.get(fname)
                if owner is not None and owner.library not in replaced:
                    raise ScriptError(f"ERR Function {fname} already exists")
            for name in replaced:
                self.delete_library(name)
        for code in staged:
            self.load_library(code, False)

    def delete_library(self, name: str) -> None:
        library = self.libraries.pop(name)
        for fname in library.functions:
            self.functions.pop(fname.lower(), None)

    def _register_function(self, *args: Any) -> None:
        """redis.register_function(name, callback) or ({function_name=, callback=, flags=,
        description=}), during FUNCTION LOAD only."""
        if self.loading is None:
            raise self._raise("redis.register_function can only be called on FUNCTION LOAD command")
        if not 1 <= len(args) <= 2:
            raise self._raise("wrong number of arguments to redis.register_function")
        description = None
        flags: set[str] = set()
        if len(args) == 2:
            name, callback = args
            if name.__class__ not in (bytes, int, float):
                raise self._raise("first argument to redis.register_function must be a string")
            if lua51.lua_type(callback) != "function":
                raise self._raise("second argument to redis.register_function must be a function")
        else:
            named = args[0]
            if named.__class__ is not LuaTable:
                raise self._raise(
                    "calling redis.register_function with a single argument is only applicable to "
                    "Lua table (representing named arguments)."
                )
            name = callback = None
            for key, value in named.items():
                if key.__class__ not in (bytes, int, float):
                    raise self._raise("named argument key given to redis.register_function is not a string")
                field = (_lua_string(key) or "").lower()
                if field == "function_name":
                    if value.__class__ not in (bytes, int, float):
                        raise self._raise("function_name argument given to redis.register_function must be a string")
                    name = value
                elif field == "description":
                    if value.__class__ not in (bytes, int, float):
                        raise self._raise("description argument given to redis.register_function must be a string")
                    description = _lua_string(value)
                elif field == "callback":
                    if lua51.lua_type(value) != "function":
                        raise self._raise("callback argument given to redis.register_function must be a function")
                    callback = value
                elif field == "flags":
                    if value.__class__ is not LuaTable:
                        raise self._raise(
                            "flags argument to redis.register_function must be a table representing function flags"
                        )
                    read = _function_flags(value)
                    if read is None:
                        raise self._raise("unknown flag given")
                    flags = read
                else:
                    raise self._raise("unknown argument given to redis.register_function")
            if name is None:
                raise self._raise("redis.register_function must get a function name argument")
            if callback is None:
                raise self._raise("redis.register_function must get a callback argument")
        text = _lua_string(name) or ""
        if not _valid_name(text):
            raise self._raise(_BAD_NAME)
        if text in self.loading:
            raise self._raise("Function already exists in the library")
        self.loading[text] = Function(text, callback, frozenset(flags), description)

    def _error_message(self, error: Any) -> str:
        """luaExtractErrorInformation's message of a raised error value."""
        if error.__class__ is bytes:
            return "ERR " + error.decode("latin-1")
        if error.__class__ is LuaTable:
            return _lua_string(self._internal.rawget(error, b"err")) or "(null)"
        return "(null)"

    # ------------------------------------------------------------------ cache

    def create(self, body: bytes) -> str:
        """Compile and cache `body` (luaCreateFunction); returns its SHA1. Raises ScriptError."""
        sha = sha1hex(body)
        if sha in self.scripts:
            return sha
        flags, shebang_len = shebang_flags(body)
        function, message = self._internal.compile(body[shebang_len:])
        if function is None:
            raise ScriptError(f"ERR Error compiling script (new function): {message.decode('latin-1')}")
        self.scripts[sha] = Script(function, body, flags)
        return sha

    # ------------------------------------------------------------------ runs

    def eval(self, caller: Session, sha: str, keys: Sequence[bytes], args: Sequence[bytes], read_only: bool) -> Any:
        """Run the cached script `sha` for `caller`; returns the reply (errors included)."""
        script = self.scripts[sha]
        return self._execute(caller, sha, script.flags, read_only, True, script.function, keys, args)

    def fcall(
        self, caller: Session, function: Function, keys: Sequence[bytes], args: Sequence[bytes], read_only: bool
    ) -> Any:
        """Run a library function (FCALL): KEYS and ARGV are its two arguments."""
        return self._execute(caller, function.name, function.flags, read_only, False, function.callback, keys, args)

    def _execute(
        self,
        caller: Session,
        name: str,
        flags: frozenset[str] | None,
        read_only: bool,
        eval_mode: bool,
        function: Any,
        keys: Sequence[bytes],
        args: Sequence[bytes],
    ) -> Any:
        """One script run as one atomic unit (scriptPrepareForRun, luaCallFunction)."""
        instance = self.instance
        memory = instance.memory
        # The dispatcher has evicted what it could for this EVAL / FCALL: still over the bound
        # is Redis's pre_command_oom_state. A script with flags that may write is refused then,
        # as Redis refuses it before it runs (evalGetCommandFlags: deny-oom).
        oom_at_start = 0 < memory.limit_bytes < memory.used_bytes
        if oom_at_start and flags is not None and not flags & {"allow-oom", "no-writes"}:
            raise CommandError(OOM)
        if flags is not None and "no-writes" not in flags and read_only:
            raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
        limit_ms = instance.config.int("busy-reply-threshold")
        client = self.client
        client.select(caller.db_index)
        # The script runs as its caller's user (scriptPrepareForRun): redis.call checks its
        # permissions with the script's error texts (_refusal), SORT BY/GET with them too.
        client.user = caller.user
        client.resp = 2
        run = self.run = Run(
            name,
            read_only or (flags is not None and "no-writes" in flags),
            caller,
            eval_mode,
            time.monotonic(),
            limit_ms / 1000,
            oom_at_start,
            flags is not None and "allow-oom" in flags,
        )
        hook_count = HOOK_INSTRUCTIONS if limit_ms > 0 else 0
        instance.atomic_depth += 1
        try:
            # KEYS and ARGV are made on the Lua side from the call's arguments (one crossing
            # into Lua instead of three); past VARARGS_MAX they go as tables (Lua's C stack).
            if len(keys) + len(args) <= VARARGS_MAX:
                run_with = self._runs[eval_mode, False]
                ok, result, status = run_with(function, hook_count, len(keys), *keys, *args)
            else:
                lua = self.lua
                run_with = self._runs[eval_mode, True]
                ok, result, status = run_with(function, hook_count, lua.table_from(keys), lua.table_from(args))
            if status is not None:  # an {ok = "..."} table, recognised in Lua (result is nil)
                reply = Simple(status_text(status))
            elif ok:
                reply = self.values.lua_to_reply(result, client.resp)
            else:
                reply = self._failure(result, name)
            # An error reply is counted in INFO errorstats unless it is a command's error that
            # was counted when the command failed (luaExtractErrorInformation's flag).
            counted = (
                reply.__class__ is Error
                and result.__class__ is LuaTable
                and self._internal.rawget(result, b"ignore_error_stats_update") is True
            )
        finally:
            instance.atomic_depth -= 1
            self.run = None
            if run.timed_out:
                instance.busy = None
        if instance.blocking.ready and not instance.atomic_depth:
            instance.blocking.serve_ready()
        if reply.__class__ is Error:
            if not counted:
                raise CommandError(reply.message)  # counted by the dispatcher, as a failed call
            spec = _lookup(caller.argv)
            if spec is not None:
                spec.failed_calls += 1
        return reply

    def _failure(self, error: Any, sha: str) -> Error:
        """The error reply of a failed run (luaCallFunction's error branch)."""
        rawget = self._internal.rawget
        if error.__class__ is not LuaTable:
            text = error.decode("latin-1") if error.__class__ is bytes else "execution failure"
            return Error(f"ERR Error running script {sha}, {text[:100]}")
        msg = rawget(error, b"err")
        source = rawget(error, b"source")
        line = rawget(error, b"line")
        text = _lua_string(msg)
        if text is None:
            text = "(null)"
        if source.__class__ is bytes and line is not None and _lua_string(line) is not None:
            return Error(f"{text} script: {sha}, on {source.decode('latin-1')}:{_lua_string(line)}.")
        return Error(text)

    def _load_timed_out(self) -> bool:
        """FUNCTION LOAD's hook: whether the library's code has run past LOAD_TIMEOUT_S."""
        return time.monotonic() - self._load_started > LOAD_TIMEOUT_S

    def _interrupt(self) -> bool:
        """The count hook (scriptInterrupt): whether the script must stop now (killed). Past
        busy-reply-threshold the run is timed out and other clients are served from here."""
        run = self.run
        if run is None:
            return False
        if not run.timed_out:
            elapsed_s = time.monotonic() - run.started
            if elapsed_s < run.limit_s:
                return False
            log.warning(
                "Slow script detected: still in execution after %d milliseconds. You can try killing "
                "the script using the %s command. Script name is: %s.",
                int(elapsed_s * 1000),
                "SCRIPT KILL" if run.eval_mode else "FUNCTION KILL",
                run.sha,
            )
            run.timed_out = True
            self.instance.busy = run.busy_error
        self.instance.while_busy(run.caller)
        if run.killed:
            log.warning("Lua script killed by user with SCRIPT KILL.")
        return run.killed

    # ------------------------------------------------------------------ callbacks from Lua

    def _raise(self, message: str) -> LuaRaise:
        """The exception that raises Redis's {err = "ERR message"} table (luaPushError)."""
        return LuaRaise(self.values.error_table(f"ERR {message}", counted=False))

    def _raise_at(self, message: str) -> LuaRaise:
        """The exception that raises `message` at the calling user line (luaL_error)."""
        return LuaRaise(self._internal.where() + message.encode("latin-1", "replace"))

    def _redis_call(self, *argv: Any) -> Any:
        reply, failed = self._command(argv)
        if failed:
            raise LuaRaise(reply)
        return reply

    def _redis_pcall(self, *argv: Any) -> Any:
        return self._command(argv)[0]

    def _command(self, argv: tuple[Any, ...]) -> tuple[Any, bool]:
        """Run redis.call's command; (the reply as a Lua value, whether it is an error).

        The common case (string arguments, a command without subcommands named in lower or
        upper case, bulk / integer / status replies) is written out here: a script's
        redis.call is its hot path, and every function call on it costs."""
        values = self.values
        for arg in argv:
            if arg.__class__ is not bytes:
                words = _command_words(argv)
                if words is None:
                    message = "ERR Lua redis lib command arguments must be strings or integers"
                    return values.error_table(message, False), True
                break
        else:
            if not argv:
                return values.error_table("ERR Please specify at least one argument for this redis lib call", False), True
            words = list(argv)
        spec = _PLAIN.get(words[0]) or _lookup(words)
        refusal = self._refusal(spec, words)
        if refusal is not None:  # counted as the dispatcher counts a rejected command
            self.instance.stats.count_error(refusal)
            if spec is not None:
                spec.rejected_calls += 1
            return values.error_table(refusal), True
        client = self.client
        reply = call_from_script(client, spec, words)
        cls = reply.__class__
        if cls is bytes or cls is int:  # bulk and integer replies are Lua values as they are
            return reply, False
        if cls is Simple:
            return values.status_table(reply.text), False
        return values.reply_to_lua(reply, client.resp), cls is Error

    def _refusal(self, spec: Any, argv: list[bytes]) -> str | None:
        """The error that refuses this command line to the script (scriptCall's checks), or
        None: it may run. `spec` is the command's (None: unknown)."""
        if spec is None:
            return "ERR Unknown Redis command called from script"
        argc = len(argv)
        if (spec.arity > 0 and spec.arity != argc) or argc < -spec.arity:
            return "ERR Wrong number of args calling Redis command from script"
        flags = spec.flags
        if "noscript" in flags:
            return "ERR This Redis command is not allowed from script"
        run = self.run
        if run is not None:
            caller = run.caller
            if not caller.user.unrestricted:
                refusal = script_refusal(caller, spec, argv)
                if refusal is not None:
                    return f"ERR {refusal}"
            if run.read_only and ("write" in flags or "may_replicate" in flags):
                return "ERR Write commands are not allowed from read-only scripts."
            # scriptVerifyOOM: over the memory bound when the script started, only its first
            # write may be refused; once it wrote, it must be able to finish.
            if run.oom_at_start and not run.dirty and not run.allow_oom and "denyoom" in flags:
                return OOM
            if "write" in flags:
                run.dirty = True
        return None

    def _acl_check_cmd(self, *argv: Any) -> bool:
        """redis.acl_check_cmd: whether the script's caller may run this command line."""
        if not argv:
            raise self._raise("Please specify at least one argument for this redis lib call")
        words = _command_words(argv)
        if words is None:
            raise self._raise("Lua redis lib command arguments must be strings or integers")
        spec = _lookup(words)
        if spec is None:
            raise self._raise("Invalid command passed to redis.acl_check_cmd()")
        run = self.run
        return run is None or run.caller.user.check(spec, words)[0] == ACL_OK

    def _sha1hex(self, *args: Any) -> bytes:
        if len(args) != 1:
            raise self._raise("wrong number of arguments")
        data = args[0]
        if data.__class__ is int or data.__class__ is float:
            data = b"%.14g" % data
        return sha1hex(data if data.__class__ is bytes else b"").encode()

    def _log(self, *args: Any) -> None:
        if len(args) < 2:
            raise self._raise("redis.log() requires two arguments or more.")
        level = _to_number(args[0])
        if level is None:
            raise self._raise("First argument must be a number (log level).")
        if not 0 <= int(level) <= 3:
            raise self._raise("Invalid debug level.")
        parts = [_lua_string(arg) for arg in args[1:]]
        text = " ".join(part for part in parts if part is not None)
        log.log(_LOG_LEVELS[int(level)], "%s", text)

    def _setresp(self, *args: Any) -> None:
        if len(args) != 1:
            raise self._raise("redis.setresp() requires one argument.")
        resp = int(_to_number(args[0]) or 0)
        if resp not in (2, 3):
            raise self._raise("RESP version must be 2 or 3.")
        self.client.resp = resp

    def _set_repl(self, *args: Any) -> None:
        if len(args) != 1:
            raise self._raise("redis.set_repl() requires two arguments.")
        flags = int(_to_number(args[0]) or 0)
        if flags & ~3:
            raise self._raise("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
        if self.run is not None:
            self.run.repl = flags

    def _checkint(self, fname: str, args: tuple[Any, ...], index: int) -> int:
        """luaL_checkint."""
        present = len(args) >= index
        number = _to_number(args[index - 1]) if present else None
        if number is None:
            got = _lua_type_name(args[index - 1]) if present else "no value"
            raise self._raise_at(f"bad argument #{index} to '{fname}' (number expected, got {got})")
        return int(number)

    def _random(self, *args: Any) -> float | int:
        """math.random on Redis's rand48 generator (the same sequence on every platform)."""
        if len(args) > 2:
            raise self._raise_at("wrong number of arguments")
        bounds = [self._checkint("random", args, i) for i in range(1, len(args) + 1)]
        self.rand48 = (0x5DEECE66D * self.rand48 + 0xB) & 0xFFFFFFFFFFFF
        r = ((self.rand48 >> 17) % 0x7FFFFFFF) / 0x7FFFFFFF
        if not bounds:
            return r
        if len(bounds) == 1:
            if bounds[0] < 1:
                raise self._raise_at("bad argument #1 to 'random' (interval is empty)")
            return math.floor(r * bounds[0]) + 1
        low, high = bounds
        if low > high:
            raise self._raise_at("bad argument #2 to 'random' (interval is empty)")
        return math.floor(r * (high - low + 1)) + low

    def _randomseed(self, *args: Any) -> None:
        seed = self._checkint("randomseed", args, 1) & 0xFFFFFFFF
        self.rand48 = (seed << 16) | 0x330E



class LuaRaise(Exception):
    """Raised by a Python function called from Lua: Lua receives this exception as the error
    object, and sandbox.lua's `unwrap` gives back `value` (a string or an {err = ...} table)."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def _unwrap(error: Any) -> Any:
    if isinstance(error, LuaRaise):
        return error.value
    log.error("Python error inside a script: %r", error)
    return f"internal error: {error!r}".encode("latin-1", "replace")


_PLAIN = TABLE.plain


def _lookup(argv: list[bytes]) -> Any:
    """The spec of a command line as Redis's lookupCommand finds it (None: unknown)."""
    spec = TABLE.specs.get(argv[0].lower())
    if spec is not None and spec.subcommands and len(argv) > 1:
        spec = spec.subcommands.get(argv[1].lower())
    return spec


def _to_number(value: Any) -> float | int | None:
    """lua_tonumber: numbers, and strings that read as numbers."""
    cls = value.__class__
    if cls is int or cls is float:
        return value
    if cls is bytes:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _lua_type_name(value: Any) -> str:
    if value is None:
        return "nil"
    return {bool: "boolean", bytes: "string", int: "number", float: "number"}.get(value.__class__) or lua51.lua_type(value) or "userdata"


_ENGINES: weakref.WeakKeyDictionary[Instance, Scripting] = weakref.WeakKeyDictionary()
_FUNCTION_ENGINES: weakref.WeakKeyDictionary[Instance, Scripting] = weakref.WeakKeyDictionary()


def running(instance: Instance) -> Run | None:
    """The script or function being run (Redis's curr_run_ctx), if any."""
    for engines in (_ENGINES, _FUNCTION_ENGINES):
        engine = engines.get(instance)
        if engine is not None and engine.run is not None:
            return engine.run
    return None


def script_counts(instance: Instance) -> tuple[int, int, int]:
    """(cached scripts, functions, libraries): INFO memory's number_of_* fields."""
    scripts = _ENGINES.get(instance)
    functions = _FUNCTION_ENGINES.get(instance)
    return (
        len(scripts.scripts) if scripts is not None else 0,
        len(functions.functions) if functions is not None else 0,
        len(functions.libraries) if functions is not None else 0,
    )


def kill(instance: Instance, eval_mode: bool) -> None:
    """SCRIPT KILL (eval_mode) or FUNCTION KILL (scriptKill): the running script stops at its
    next hook. Raises CommandError with Redis's reply when it cannot be killed."""
    run = running(instance)
    if run is None:
        raise CommandError("NOTBUSY No scripts in execution right now.")
    if run.dirty:
        raise CommandError(UNKILLABLE)
    if run.eval_mode != eval_mode:  # SCRIPT KILL cannot stop a function, nor FUNCTION KILL a script
        raise CommandError(run.busy_error)
    run.killed = True


def scripting_of(instance: Instance) -> Scripting:
    """The instance's EVAL state, made on first use."""
    engine = _ENGINES.get(instance)
    if engine is None:
        engine = _ENGINES[instance] = Scripting(instance)
    return engine


def attach(instance: Instance) -> None:
    """Give persistence/ the instance's function libraries (`Instance.functions`: FUNCTION
    DUMP/RESTORE, the RDB file's functions section); the server and the Store call it."""
    instance.functions = functions_of(instance)


def functions_of(instance: Instance) -> Scripting:
    """The instance's functions state (a Lua state of its own, as in Redis: SCRIPT FLUSH
    keeps the functions, FUNCTION FLUSH keeps the scripts)."""
    engine = _FUNCTION_ENGINES.get(instance)
    if engine is None:
        engine = _FUNCTION_ENGINES[instance] = Scripting(instance)
    return engine


_BAD_NAME = (
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
)


def _valid_name(name: str) -> bool:
    return bool(name) and all(c.isascii() and (c.isalnum() or c == "_") for c in name)


def _function_flags(table: Any) -> set[str] | None:
    """The flags of register_function's `flags` table; None if one is unknown."""
    flags = set()
    index = 1
    while True:
        value = table[index]
        if value is None:
            return flags
        text = _lua_string(value)
        if text is None or text.lower() not in SCRIPT_FLAGS:
            return None
        flags.add(text.lower())
        index += 1


def library_metadata(code: bytes) -> tuple[str, bytes]:
    """(library name, code after the shebang line) of FUNCTION LOAD's payload
    (functionExtractLibMetaData); raises ScriptError."""
    if not code.startswith(b"#!"):
        raise ScriptError("ERR Missing library metadata")
    end = code.find(b"\n")
    if end < 0:
        raise ScriptError("ERR Invalid library metadata")
    parts = split_args(code[:end])  # as sdssplitargs: name="foo" is name=foo
    if not parts:
        raise ScriptError("ERR Invalid library metadata")
    engine = parts[0][2:].decode("latin-1")
    name = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise ScriptError("ERR Invalid metadata value, name argument was given multiple times")
            name = part[5:].decode("latin-1")
        else:
            raise ScriptError(f"ERR Invalid metadata value given: {part.decode('latin-1')}")
    if name is None:
        raise ScriptError("ERR Library name was not given")
    if not _valid_name(name):
        raise ScriptError(f"ERR {_BAD_NAME}")
    if engine.lower() != "lua":
        raise ScriptError(f"ERR Engine '{engine}' not found")
    return name, code[end:]


def shebang_flags(body: bytes) -> tuple[frozenset[str] | None, int]:
    """(flags, length of the shebang line) of a script body (evalExtractShebangFlags); flags is
    None for a script without a shebang (Redis's EVAL compatibility mode)."""
    if not body.startswith(b"#!"):
        return None, 0
    end = body.find(b"\n")
    if end < 0:
        raise ScriptError("ERR Invalid script shebang")
    parts = body[:end].split()
    if parts[0] != b"#!lua":
        raise ScriptError(f"ERR Unexpected engine in script shebang: {parts[0].decode('latin-1')}")
    flags: set[str] = set()
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise ScriptError(f"ERR Unknown lua shebang option: {part.decode('latin-1')}")
        names = part[6:].split(b",") if len(part) > 6 else []
        for name in names:
            text = name.decode("latin-1")
            if text not in SCRIPT_FLAGS:
                raise ScriptError(f"ERR Unexpected flag in script shebang: {text}")
            flags.add(text)
    return frozenset(flags), end


def _command_words(argv: tuple[Any, ...]) -> list[bytes] | None:
    """redis.call's arguments as a command line: strings as they are, numbers as %.17g."""
    words = []
    for arg in argv:
        cls = arg.__class__
        if cls is bytes:
            words.append(arg)
        elif cls is int or cls is float:
            words.append(b"%.17g" % arg)
        else:
            return None
    return words


def _lua_string(value: Any) -> str | None:
    """lua_tostring of a string or number; None for other types."""
    if value.__class__ is bytes:
        return value.decode("latin-1")
    if value.__class__ is int:
        return str(value)
    if value.__class__ is float:
        return f"{value:.14g}"
    return None


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    """Lua code never reaches into Python objects (lupa's attribute filter)."""
    raise AttributeError("not accessible from Lua")
