"""The Lua 5.1 runtime of one instance: the sandboxed state, the script cache, and script runs.

One `Scripting` per Instance (`scripting_of`). It owns a Lua state (lupa's Lua 5.1) set up by
sandbox.lua, the cache of compiled scripts by SHA1 (EVAL caches what it runs, as SCRIPT LOAD
does), and the script client: a Session that is never registered (no CLIENT LIST entry) whose
db and protocol are set for each run, and which never blocks (blocking commands answer as on
timeout, as Redis's CLIENT_DENY_BLOCKING).

`redis.call` runs through the dispatcher (commands/dispatch.py `execute`) after Redis's script
checks (scriptCall in script.c): unknown command, arity, `noscript`, writes from read-only
scripts. A run is one atomic unit: `instance.atomic_depth` is raised so clients blocked on keys
are served after the whole script.

Busy scripts: Redis re-enters its event loop from a Lua count hook to answer other clients with
BUSY and to accept SCRIPT KILL. A script here runs inside one callback of the server's asyncio
loop, which cannot be re-entered, so the hook is a hard cap instead: past busy-reply-threshold
(lua-time-limit) a script that has not written yet is stopped with Redis's SCRIPT KILL error; one
that has written runs to its end, as Redis's UNKILLABLE script would.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lupa import lua51

from tandemkv.commands import TABLE, Instance, Session, execute
from tandemkv.errors import CommandError
from tandemkv.protocol import Error
from tandemkv.scripting.convert import LuaTable, LuaValues
from tandemkv.scripting.libs import install_libs

log = logging.getLogger("tandemkv.scripting")

# Lua count hook period (instructions), as Redis's luaMaskCountHook.
HOOK_INSTRUCTIONS = 100_000
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
# Redis's script shebang flags.
SCRIPT_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")
# Log levels of redis.log, as Python logging levels.
_LOG_LEVELS = (logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)


@dataclass(slots=True)
class Script:
    """A cached script: its compiled function, body and shebang flags (None: no shebang)."""

    function: Any
    body: bytes
    flags: frozenset[str] | None


@dataclass(slots=True)
class Run:
    """The state of the script being run (Redis's scriptRunCtx)."""

    sha: str
    read_only: bool
    started: float
    limit_s: float
    dirty: bool = False  # a write command ran: the script can no longer be killed
    repl: int = 3


class ScriptError(CommandError):
    """An error reply for the caller of EVAL (compile errors, shebang errors, NOSCRIPT)."""


def sha1hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class Scripting:
    """The Lua state, script cache and script client of one instance."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.client = Session(instance, 0)
        self.run: Run | None = None
        self.rand48 = 0x1234ABCD330E  # rand48 state; SCRIPT FLUSH keeps it, as Redis does
        self.scripts: dict[str, Script] = {}
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
        self.values = LuaValues(lua.table, lua.eval("rawget"), lambda t: t.items())
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
            ("timed_out", self._timed_out),
            ("unwrap", _unwrap),
        ):
            api[name.encode()] = fn
        libs = lua.table()
        install_libs(lua, libs, self._raise_at)
        self._internal = loader(api, libs)

    def flush(self) -> None:
        """SCRIPT FLUSH: forget every script and start a fresh Lua state."""
        self.scripts.clear()
        self._new_state()

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

    def eval(self, caller: Session, sha: str, keys: list[bytes], args: list[bytes], read_only: bool) -> Any:
        """Run the cached script `sha` for `caller`; returns the reply (errors included)."""
        script = self.scripts[sha]
        flags = script.flags
        if flags is not None and "no-writes" not in flags and read_only:
            return Error("ERR Can not execute a script with write flag using *_ro command.")
        instance = self.instance
        limit_ms = instance.config.int("busy-reply-threshold")
        client = self.client
        client.select(caller.db_index)
        client.resp = 2
        run = Run(
            sha=sha,
            read_only=read_only or (flags is not None and "no-writes" in flags),
            started=time.monotonic(),
            limit_s=limit_ms / 1000,
        )
        self.run = run
        lua = self.lua
        instance.atomic_depth += 1
        try:
            ok, result = self._internal.run(
                script.function,
                lua.table(*keys),
                lua.table(*args),
                HOOK_INSTRUCTIONS if limit_ms > 0 else 0,
            )
            if ok:
                reply = self.values.lua_to_reply(result, client.resp)
            else:
                reply = self._failure(result, sha)
        finally:
            instance.atomic_depth -= 1
            self.run = None
        if instance.blocking.ready and not instance.atomic_depth:
            instance.blocking.serve_ready()
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

    def kill(self) -> Error | None:
        """SCRIPT KILL from another client; None: killed."""
        if self.run is None:
            return Error("NOTBUSY No scripts in execution right now.")
        if self.run.dirty:
            return Error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. "
                "You can either wait the script termination or kill the server in a hard way using "
                "the SHUTDOWN NOSAVE command."
            )
        self.run.limit_s = 0
        return None

    # ------------------------------------------------------------------ callbacks from Lua

    def _raise(self, message: str) -> LuaRaise:
        """The exception that raises Redis's {err = "ERR message"} table (luaPushError)."""
        return LuaRaise(self.values.error_table(f"ERR {message}"))

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
        """Run redis.call's command; (the reply as a Lua value, whether it is an error)."""
        values = self.values
        if not argv:
            return values.error_table("ERR Please specify at least one argument for this redis lib call"), True
        words = _command_words(argv)
        if words is None:
            return values.error_table("ERR Lua redis lib command arguments must be strings or integers"), True
        refusal = self._refusal(words)
        if refusal is not None:
            return values.error_table(f"ERR {refusal}"), True
        client = self.client
        reply = execute(client, words)
        return values.reply_to_lua(reply, client.resp), reply.__class__ is Error

    def _refusal(self, argv: list[bytes]) -> str | None:
        """Why a script may not run this command line (scriptCall's checks), or None."""
        spec = _lookup(argv)
        if spec is None:
            return "Unknown Redis command called from script"
        argc = len(argv)
        if (spec.arity > 0 and spec.arity != argc) or argc < -spec.arity:
            return "Wrong number of args calling Redis command from script"
        flags = spec.flags
        if "noscript" in flags:
            return "This Redis command is not allowed from script"
        run = self.run
        if run is not None:
            if run.read_only and ("write" in flags or "may_replicate" in flags):
                return "Write commands are not allowed from read-only scripts."
            if "write" in flags:
                run.dirty = True
        return None

    def _acl_check_cmd(self, *argv: Any) -> bool:
        """redis.acl_check_cmd: every user may run every command here (no ACL yet)."""
        if not argv:
            raise self._raise("Please specify at least one argument for this redis lib call")
        words = _command_words(argv)
        if words is None:
            raise self._raise("Lua redis lib command arguments must be strings or integers")
        if _lookup(words) is None:
            raise self._raise("Invalid command passed to redis.acl_check_cmd()")
        return True

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

    def _timed_out(self) -> bool:
        run = self.run
        if run is None or run.dirty:
            return False
        if time.monotonic() - run.started < run.limit_s:
            return False
        log.warning("Lua script %s stopped after busy-reply-threshold (%d ms).", run.sha, int(run.limit_s * 1000))
        return True


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


def scripting_of(instance: Instance) -> Scripting:
    """The instance's scripting state, made on first use."""
    engine = _ENGINES.get(instance)
    if engine is None:
        engine = _ENGINES[instance] = Scripting(instance)
    return engine


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
