"""The embedded Store: tandemkv's keyspace and commands in-process, no sockets.

    from tandemkv import Store
    store = Store()                         # or Store(config) / Store(engine_shard_high_keys=1024)
    store.set("k", "v", ex=10)              # True
    store.get("k")                          # b'v'
    store.execute("INCRBY", "n", 5)         # 5 -- any command in the table

Keys and values are bytes; str arguments are encoded as UTF-8, ints and floats written out as
Redis clients write them. Every method runs through the same command table and handlers as the
server, so semantics and error texts are the server's; an error reply raises `CommandError`
(its `message` is Redis's error line, e.g. "WRONGTYPE Operation against ...").

Threads: none. Like the server, the Store is single-threaded and not thread-safe; use it from
one thread (or guard it with your own lock). Background work needs no thread either:

- each write moves a few keys of a running step (enough for a step to finish before the next
  one is due, whatever the load), and reads never return an expired key (lazy expiry);
- `tick()` runs one time-budgeted slice of migration, active expiry and freeing of flushed
  data. Call it from your own loop or timer (for example every 100 ms) to finish steps sooner
  and to reclaim memory of keys that expire but are never touched again.

Durability: a Store given a `dir` (a keyword, or a Config whose `dir` is not "."), `appendonly="yes"`
or a `save` schedule persists as the server does, with the server's settings and file formats:

    with Store(dir="/var/lib/app", appendonly="yes", appendfsync="always", save="3600 1 300 100") as store:
        store.set("k", "v")                 # in the AOF, fsynced, before set() returns

- at construction the RDB file or, with appendonly yes, the AOF directory is loaded exactly as
  tandemkv-server loads it at start (a directory of either one loads into the other, and into
  redis-server); a file that cannot be loaded raises AofError / RdbError / OSError;
- every write's effect goes to the AOF before the call returns; appendfsync always: fsynced
  too (if the write or fsync fails, the call raises OSError and the write may be in memory
  only: treat the Store as failed); everysec: fsynced by the first write or tick() a second
  or more after the last fsync; no: the OS decides;
- tick() also runs the `save` schedule, the automatic AOF rewrite, and a slice of a running
  BGSAVE or AOF rewrite (point-in-time snapshots, written while the Store keeps serving);
- `close()` (or leaving the `with` block, or SHUTDOWN) does what SHUTDOWN does: a final SAVE
  when a `save` schedule is set, the AOF flushed and fsynced; a BGSAVE still running is
  finished first. A closed Store raises ValueError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from tandemkv.clock import Clock
from tandemkv.commands import TABLE, Instance, execute
from tandemkv.commands.memory import measure_slice
from tandemkv.config import Config, ConfigError
from tandemkv.errors import CommandError
from tandemkv.keyspace import Tandem
from tandemkv.persistence import attach as attach_persistence
from tandemkv.persistence import cron as persistence_cron
from tandemkv.persistence import save_for_shutdown
from tandemkv.persistence import step as snapshot_step
from tandemkv.persistence.aofcontrol import AofControl, load_from_disk
from tandemkv.protocol import (
    BigNumber,
    Bulks,
    Double,
    Error,
    Map,
    NullArray,
    Push,
    SetReply,
    Simple,
    Verbatim,
)
from tandemkv.scripting import attach as attach_scripting  # (importing registers EVAL, SCRIPT, ...)

log = logging.getLogger("tandemkv")

Arg = bytes | str | int | float | bytearray | memoryview

# What one tick() may do besides migration (the server uses the same sizes per slice).
TICK_EXPIRE_KEYS = 1000
TICK_FREE_KEYS = 20_000


def _arg(value: Arg) -> bytes:
    cls = value.__class__
    if cls is bytes:
        return value  # type: ignore[return-value]
    if cls is str:
        return value.encode()  # type: ignore[union-attr]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, bool):
        raise TypeError("bool is not a valid key or value: use 0/1 or bytes")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"expected bytes, str, int or float, got {type(value).__name__}")


def to_python(reply: Any) -> Any:
    """A reply object as plain Python: status -> bytes, map -> dict, set -> set,
    double -> float, big number -> int, null array -> None, arrays -> lists (recursively)."""
    cls = reply.__class__
    if cls is bytes or cls is int or reply is None or cls is bool:
        return reply
    if cls is list or cls is tuple or cls is Bulks:
        return [to_python(item) for item in reply]
    if cls is Simple:
        return reply.text
    if cls is Map:
        return {to_python(k): to_python(v) for k, v in reply.items}
    if cls is SetReply:
        return {to_python(item) for item in reply.items}
    if cls is Double:
        return reply.value
    if cls is NullArray:
        return None
    if cls is Verbatim:
        return reply.text
    if cls is BigNumber:  # only scripts return them
        return int(reply.text)
    if cls is Push:
        return [to_python(item) for item in reply.items]
    return reply


class Store:
    """An in-process tandemkv: 16 databases (db 0 selected), the server's commands.

    `config`: a Config to start from; `settings`: parameters as keywords with `_` for `-`
    (`Store(engine_shard_high_keys=1024, databases=1)`); `clock`: a Clock (tests use
    tandemkv.clock.ManualClock). Unknown settings raise TypeError, invalid values ValueError.
    """

    def __init__(self, config: Config | None = None, *, clock: Clock | None = None, **settings: Any) -> None:
        config = config or Config()
        for name, value in settings.items():
            param_name = name.replace("_", "-")
            if Config.param(param_name) is None:
                raise TypeError(f"Store() got an unknown setting {name!r}")
            raw = _config_value(value)
            try:
                config.set(param_name, raw, startup=True)
            except ConfigError as exc:
                raise ValueError(f"{name}={value!r}: {exc.reason}") from None
        self.instance = instance = Instance(config, clock)
        attach_persistence(instance)  # SAVE/BGSAVE/SHUTDOWN SAVE write `dir`/`dbfilename`
        attach_scripting(instance)  # the function libraries persistence saves and loads
        instance.on_step = _log_step
        instance.rdb.schedule = _stepped_by_tick  # a BGSAVE's slices run from tick()
        instance.shutdown = self._release_files  # SHUTDOWN closes the Store
        self.appendonly = AofControl(instance)
        self.closed = False
        if "dir" in settings or config.str("dir") != "." or config["appendonly"] or config.str("save"):
            os.makedirs(config.str("dir"), exist_ok=True)
            load_from_disk(instance, self.appendonly)  # the server's start-up, same code
            if config["appendonly"]:
                self.appendonly.open()
        self.session = instance.new_session(addr="embedded")

    # ------------------------------------------------------------- commands

    def execute(self, *args: Arg) -> Any:
        """Run any command in the table; returns its reply as plain Python (see `to_python`).

        Raises CommandError for error replies; OSError if the append-only file cannot take
        the write under appendfsync always; ValueError once the Store is closed."""
        if self.closed:
            raise ValueError("operation on a closed Store")
        self.instance.memory.access.refresh()  # the second accesses record (OBJECT IDLETIME)
        reply = execute(self.session, [_arg(a) for a in args])
        if self.instance.aof is not None:
            self.appendonly.commit()  # the write's effect in the AOF (and on disk, by appendfsync)
        if self.closed:  # SHUTDOWN
            return None
        if reply.__class__ is Error:
            raise CommandError(reply.message)
        return to_python(reply)

    def set(
        self,
        key: Arg,
        value: Arg,
        ex: int | None = None,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
    ) -> bool:
        """SET; True if the value was stored, False if NX/XX prevented it."""
        args: list[Arg] = ["SET", key, value]
        if ex is not None:
            args += ["EX", ex]
        if px is not None:
            args += ["PX", px]
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        if keepttl:
            args.append("KEEPTTL")
        return self.execute(*args) is not None

    def get(self, key: Arg) -> bytes | None:
        """The string value of `key`, or None."""
        return self.execute("GET", key)  # type: ignore[no-any-return]

    def delete(self, *keys: Arg) -> int:
        """DEL; how many of `keys` existed."""
        return self.execute("DEL", *keys)  # type: ignore[no-any-return]

    def exists(self, *keys: Arg) -> int:
        """EXISTS; how many of `keys` exist (a key named twice counts twice)."""
        return self.execute("EXISTS", *keys)  # type: ignore[no-any-return]

    def expire(self, key: Arg, seconds: int) -> bool:
        """EXPIRE; True if the key exists and got the timeout."""
        return bool(self.execute("EXPIRE", key, seconds))

    def ttl(self, key: Arg) -> int:
        """TTL in seconds; -1 without a timeout, -2 if the key does not exist."""
        return self.execute("TTL", key)  # type: ignore[no-any-return]

    def incr(self, key: Arg, amount: int = 1) -> int:
        """INCRBY; the new value."""
        return self.execute("INCRBY", key, amount)  # type: ignore[no-any-return]

    def keys(self, pattern: Arg = "*") -> list[bytes]:
        """KEYS: every key matching the glob `pattern` (Redis's rules). O(n): prefer scan_iter."""
        return self.execute("KEYS", pattern)  # type: ignore[no-any-return]

    def scan_iter(self, match: Arg | None = None, count: int | None = None) -> Iterator[bytes]:
        """Keys by SCAN: every key present for the whole iteration comes at least once (maybe
        twice); the store may change between items, steps included."""
        options: list[Arg] = []
        if match is not None:
            options += ["MATCH", match]
        if count is not None:
            options += ["COUNT", count]
        cursor = b"0"
        while True:
            cursor, keys = self.execute("SCAN", cursor, *options)
            yield from keys
            if cursor == b"0":
                return

    def __len__(self) -> int:
        """DBSIZE of the selected database."""
        return self.execute("DBSIZE")  # type: ignore[no-any-return]

    # ----------------------------------------------------------- background

    def tick(self, budget_us: int | None = None) -> bool:
        """One slice of background work; returns True while work remains (call again soon).

        Moves keys of running steps for about `budget_us` (default: the `engine-slice-us`
        setting, 1000), expires up to TICK_EXPIRE_KEYS due keys, and frees up to
        TICK_FREE_KEYS keys of flushed databases; brings the accounted dict-table bytes up to date
        (used_memory) a slice at a time; persistence: starts a BGSAVE when a `save` point is
        due, fsyncs under everysec, starts the automatic AOF rewrite, and writes a slice of
        about `budget_us` of a running BGSAVE and of a running AOF rewrite.
        """
        instance = self.instance
        if self.closed:
            return False
        if budget_us is None:
            budget_us = instance.config.int("engine-slice-us")
        clock = instance.clock
        stop_us = clock.monotonic_us() + budget_us
        work_left = False
        expire_budget = TICK_EXPIRE_KEYS
        now_ms = clock.now_ms()
        for db in instance.dbs:
            if db.tandem.busy:
                remaining_us = stop_us - clock.monotonic_us()
                if remaining_us <= 0 or not db.migrate(remaining_us):
                    work_left = True
            if expire_budget > 0 and instance.active_expire and db.next_deadline_ms() is not None:
                expire_budget -= db.expire_due(now_ms, expire_budget)
                if expire_budget <= 0:
                    work_left = True
            if db.has_garbage and not db.free_detached(TICK_FREE_KEYS):
                work_left = True
            db.sample_ttl(now_ms)
        # Memory bound: a slice of the dict-table measurement, eviction if it shows us over.
        measure_slice(instance)
        instance.serve_ready_keys()
        # Persistence: the `save` schedule, everysec's fsync and the automatic AOF rewrite,
        # then a slice of a running BGSAVE and of a running AOF rewrite.
        persistence_cron(instance)
        self.appendonly.cron()
        budget_s = budget_us / 1_000_000
        if snapshot_step(instance, budget_s):
            work_left = True
        if self.appendonly.step(budget_s):
            work_left = True
        self.appendonly.commit()  # expiry and eviction deletions: their DELs
        return work_left

    def info(self, db: int = 0) -> dict[str, int]:
        """The engine figures of database `db` (the fields of INFO engine)."""
        return self.instance.dbs[db].tandem.info()

    @staticmethod
    def commands() -> list[str]:
        """Names of every command `execute` knows."""
        return sorted(spec.name for spec in TABLE)

    # ----------------------------------------------------------- persistence

    def save(self) -> None:
        """SAVE: the whole dataset to `dir`/`dbfilename` now."""
        self.execute("SAVE")

    def bgsave(self) -> None:
        """BGSAVE: a point-in-time snapshot, written a slice per tick() while the Store serves."""
        self.execute("BGSAVE")

    def bgrewriteaof(self) -> None:
        """BGREWRITEAOF: a new base of the AOF, written a slice per tick()."""
        self.execute("BGREWRITEAOF")

    def close(self) -> None:
        """What SHUTDOWN does: a final SAVE when a `save` schedule is set (a running BGSAVE is
        finished otherwise), the AOF flushed, fsynced and closed. Raises OSError if the final
        save fails (the Store stays open then). Closing twice does nothing."""
        if self.closed:
            return
        instance = self.instance
        if instance.config.str("save"):
            if not save_for_shutdown(instance):
                raise OSError("Errors trying to SHUTDOWN: the final save failed (see the log)")
        else:
            budget_s = instance.config.int("engine-slice-us") / 1_000_000
            while snapshot_step(instance, budget_s):
                pass
        self._release_files()

    def _release_files(self) -> None:
        self.appendonly.close()
        self.closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def _stepped_by_tick() -> None:
    """A background save started: nothing to schedule, tick() runs its slices."""


def _config_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"yes" if value else b"no"
    return _arg(value)


def _log_step(event: str, db: int, tandem: Tandem) -> None:
    info = tandem.info()
    if event.startswith("start"):
        log.info("db %d: step %s started: %d -> %d shards, %d keys", db, event.removeprefix("start-"), info["old_shards"], info["shards"], info["keys"])
    else:
        log.info("db %d: step finished in %d ms: %d shards, %d keys", db, info["last_migration_time_ms"], info["shards"], info["keys"])
