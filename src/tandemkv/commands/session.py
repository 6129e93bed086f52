"""Session (one client's state) and Instance (the state every session shares).

Neither does I/O: the server layer gives a Session its `write` and `close` callbacks, and the
Instance its `shutdown` callback. The embedded Store uses them with no network at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tandemkv.clock import Clock
from tandemkv.commands.blocking import Blocking, Waiter
from tandemkv.commands.effects import Effects
from tandemkv.commands.eventstream import STREAM_DB, EventStream
from tandemkv.commands.latency import LatencyMonitor
from tandemkv.commands.memory import EVICTION_BUDGET_US, evict_slice, memory_info, process_rss_bytes
from tandemkv.commands.monitoring import Slowlog
from tandemkv.commands.table import CommandSpec
from tandemkv.commands.users import AccessControl, User
from tandemkv.commands.watching import Slot, Watches
from tandemkv.config import Config
from tandemkv.keyspace import Keyspace, KeyspaceStats, Tandem
from tandemkv.keyspace.expiry import ExpiryClock
from tandemkv.keyspace.memory import MemoryAccount, apply_settings
from tandemkv.pubsub import Hub

_NEVER_NS = 1 << 62  # no command takes this long: the dispatcher's threshold while nothing watches

VERSION = "7.0.15"
EVENT_STREAM_SETTINGS = (
    "keyspace-events-stream",
    "keyspace-events-stream-flags",
    "keyspace-events-stream-maxlen",
    "keyspace-events-stream-values",
)

# CLIENT REPLY states (Redis's CLIENT_REPLY_OFF, _SKIP, _SKIP_NEXT): replies are dropped while
# OFF; SKIP drops the reply of the command that runs while it is set; SKIP_NEXT (set by CLIENT
# REPLY SKIP) becomes SKIP once the command that set it is over. Pub/sub messages and
# subscription confirmations are always sent, as Redis sends them (CLIENT_PUSHING).
REPLY_OFF = 1
REPLY_SKIP = 2
REPLY_SKIP_NEXT = 4


def reply_dropped(session: Session) -> bool:
    """After a command: whether its reply is dropped (Redis drops it at addReply time if OFF or
    SKIP is set then: after the handler changed them; CLIENT REPLY SKIP itself answers nothing),
    then the states move on as Redis's resetClient moves them."""
    mode = session.reply_mode
    dropped = bool(mode)
    mode &= ~REPLY_SKIP
    if mode & REPLY_SKIP_NEXT:
        mode = (mode & ~REPLY_SKIP_NEXT) | REPLY_SKIP
    session.reply_mode = mode
    return dropped


TANDEMKV_VERSION = "0.1.0"


@dataclass(slots=True)
class ServerStats:
    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    total_net_input_bytes: int = 0
    total_net_output_bytes: int = 0
    total_error_replies: int = 0
    unexpected_error_replies: int = 0
    client_output_buffer_limit_disconnections: int = 0
    # The keyspace-event stream (commands/eventstream.py): entries appended, events dropped.
    event_stream_appended: int = 0
    event_stream_dropped: int = 0
    # INFO errorstats: error replies by their code (ERR, WRONGTYPE, ...).
    errors_by_code: dict[str, int] = field(default_factory=dict)

    def count_error(self, message: str) -> None:
        """One error reply (Redis's afterErrorReply): counted in total_error_replies and by
        its code, the first word if a space comes within 32 bytes, else ERR."""
        self.total_error_replies += 1
        space = message.find(" ", 0, 31)
        code = message[:space] if space > 0 else "ERR"
        self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1


@dataclass(slots=True)
class SaveState:
    """RDB snapshot bookkeeping that commands read (LASTSAVE, INFO persistence, SHUTDOWN);
    the persistence layer fills it and sets `save` (write a snapshot now; True on success).

    `dirty` is Redis's server.dirty: changes since the last successful save, counted as one
    per keyspace event (Instance.notify), expiry and eviction excepted."""

    last_save_s: int = 0
    dirty: int = 0
    saves: int = 0
    last_status_ok: bool = True
    last_save_duration_s: int = -1
    last_try_s: int = 0
    # The last data file loaded: keys loaded, keys skipped as already expired (INFO).
    last_load_keys_loaded: int = 0
    last_load_keys_expired: int = 0
    save: Callable[[], bool] = lambda: False
    # A background save in progress (persistence/snapshot.py), when it started (monotonic s),
    # and the server's way to run its slices (None: BGSAVE runs to completion at once).
    job: Any = None
    job_started: float = 0.0
    schedule: Callable[[], None] | None = None
    # The server's way to run a background save's file writes, fsync and rename in a thread
    # (one, so in order): called with the work and a callback the loop then calls with its
    # exception or None; returns a function that waits for the work. None: it runs at once.
    offload: Callable[[Callable[[], None], Callable[[BaseException | None], None]], Callable[[], None]] | None = None


@dataclass
class LoadingState:
    """A data file being loaded while clients are served (Redis's server.loading and its
    loading_* figures, INFO persistence): commands without the `loading` flag are refused
    with LOADING meanwhile (commands/dispatch.py). `total_bytes`: the files' size;
    `rdb_used_mem`: the used-mem aux field of the RDB being read; `loaded_bytes`: how far."""

    start_time_s: int
    total_bytes: int = 0
    rdb_used_mem: int = 0
    loaded_bytes: int = 0


class FunctionLibraries(Protocol):
    """An instance's function libraries as persistence/ sees them (scripting/runtime.py's
    Scripting implements it and scripting's `attach` sets `Instance.functions`): FUNCTION DUMP
    and the RDB file's functions section read `codes`; FUNCTION RESTORE and loading at start-up
    call `restore`."""

    def codes(self) -> list[bytes]:
        """Each library's code (FUNCTION LOAD's payload), in load order."""
        ...

    def restore(self, codes: Iterable[bytes], policy: str) -> None:
        """Add the libraries of `codes` under FUNCTION RESTORE's `policy` (append, replace or
        flush), all or none; raises CommandError with Redis's text (errors `codes` raises
        while it is read pass through)."""
        ...


class Instance:
    """Everything a command may reach besides its own session."""

    def __init__(self, config: Config | None = None, clock: Clock | None = None) -> None:
        self.config = config or Config()
        self.clock = clock or Clock()
        self.stats = ServerStats()
        self.keyspace_stats = KeyspaceStats()
        self.hub = Hub(self.config)
        # Clients blocked on keys (commands/blocking.py), readied by keyspace events.
        self.blocking = Blocking()
        # > 0 while an atomic unit (EXEC, a script) runs its commands: ready keys are served
        # after the whole unit, not after each command inside it (commands/dispatch.py).
        self.atomic_depth = 0
        self.watches = Watches()  # WATCH (commands/watching.py)
        # The stream of effects (commands/effects.py): None while nothing consumes it.
        self.effects: Effects | None = None
        # The append-only file (persistence/aof.py) while appendonly is yes, else None.
        self.aof: Any = None
        # BGREWRITEAOF with appendonly no: the Aof writing a new base alone, while it runs.
        self.aof_alone: Any = None
        self.aof_alone_scheduled = False  # asked for while a BGSAVE ran: started after it
        # Starts that rewrite in the background (set by persistence/aofcontrol.py): True if
        # it started.
        self.rewrite_aof_alone: Callable[[], bool] | None = None
        # DEBUG LOADAOF: empty the databases and load the AOF again (set by persistence/
        # aofcontrol.py): None when done, else why it could not.
        self.reload_aof: Callable[[], str | None] | None = None
        # DEBUG RELOAD (save first?, flush first?) -> None or the error reply: persistence's.
        self.reload_rdb: Callable[[bool, bool], str | None] | None = None
        # ACL users (commands/users.py); the default user's password is `requirepass`.
        self.acl = AccessControl(self.config.str("acl-pubsub-default") == "allchannels")
        self.acl.set_default_password(self.config.str("requirepass").encode("latin-1"))
        self.config.watch("requirepass", lambda value: self.acl.set_default_password(str(value).encode("latin-1")))
        self.config.watch("acl-pubsub-default", self._pubsub_default)
        self.acl.load_at_startup(self.config.users, self.config.str("aclfile"), self.config.str("dir"))
        # MONITOR clients and the slow log (commands/monitoring.py); the threshold in ns,
        # None when the slow log is off.
        self.monitors: dict[Session, None] = {}
        self.slowlog = Slowlog()
        self.slowlog_threshold_ns: int | None = None
        self.latency = LatencyMonitor()
        self.latency_threshold_ms = 0
        self.latency_tracking = bool(self.config["latency-tracking"])
        self.config.watch("latency-tracking", lambda value: setattr(self, "latency_tracking", bool(value)))
        # The dispatcher's one comparison per command: the lower of the slow log's and the
        # latency monitor's thresholds (a value no command reaches while both are off).
        self.watch_threshold_ns = _NEVER_NS
        self._watch_settings(None)
        self.config.watch("slowlog-log-slower-than", self._watch_settings)
        self.config.watch("latency-monitor-threshold", self._watch_settings)
        self.started_ms = self.clock.now_ms()
        self.rdb = SaveState(last_save_s=self.started_ms // 1000)
        # Set while a data file loads (persistence/loading.py), None otherwise.
        self.loading: LoadingState | None = None
        self.functions: FunctionLibraries | None = None  # set by scripting's `attach`
        self.started_monotonic = time.monotonic()
        self.pid = os.getpid()
        self.run_id = os.urandom(20).hex()
        self.tcp_port = 0  # the listening port, set by the server layer once bound (INFO server)
        self.sessions: dict[int, Session] = {}
        self._next_id = 1
        # Memory bound (commands/memory.py, keyspace/memory.py): the account every db charges,
        # the process size before any data, and the server's hook for background eviction.
        self.memory = MemoryAccount(clock=self.clock)
        # Every database's "now" for deadlines; its `loading` stops expiry while a file loads.
        self.expiry_clock = ExpiryClock(self.clock)
        self.memory_startup_bytes = process_rss_bytes()
        self.on_over_bound: Callable[[], None] = lambda: None
        # CLIENT PAUSE (commands/pausing.py): the kind in force (0: none) and its end; clients
        # postponed meanwhile, in order; the server's hooks to time the end and to resume
        # expiry and eviction after it.
        self.pause_type = 0
        self.pause_end_ms = 0
        self.postponed: dict[Waiter, None] = {}
        self.on_pause: Callable[[int], None] = lambda end_ms: None
        self.on_unpause: Callable[[], None] = lambda: None
        self.dbs: list[Keyspace] = [self._new_db(i) for i in range(self.config.int("databases"))]
        # Keyspace events appended to a stream (commands/eventstream.py); None while off.
        # `serialize` gives DUMP's payload of a value (persistence/ sets it; None: no payload).
        self.event_stream: EventStream | None = None
        self.serialize: Callable[[object], bytes | None] = lambda value: None
        self._event_stream_settings(None)
        for name in EVENT_STREAM_SETTINGS:
            self.config.watch(name, self._event_stream_settings)
        self.config.watch("notify-keyspace-events", self._report_new)
        self._apply_memory_settings()
        for name in ("maxmemory", "maxmemory-policy", "maxmemory-samples"):
            self.config.watch(name, lambda _value: self._apply_memory_settings())
        self.step_log: list[tuple[str, int, int, int]] = []  # (event, db, shards, keys)
        # Hooks the server layer sets: a step started or ended; a new earliest deadline.
        self.on_step: Callable[[str, int, Tandem], None] = lambda event, db, tandem: None
        self.on_deadline: Callable[[int], None] = lambda deadline_ms: None
        self.shutdown: Callable[[], None] = lambda: None
        # A script past busy-reply-threshold (scripting/runtime.py): `busy` is the -BUSY error
        # every other client gets for a command without allow_busy (None: no busy script), and
        # `while_busy` is the server's way to serve those clients from inside the script's run
        # (server/busy.py); it is given the script's caller, whose own input waits.
        self.busy: str | None = None
        self.while_busy: Callable[[Session], None] = lambda caller: None
        # (cached scripts, functions, libraries) for INFO memory, given by the scripting layer.
        self.script_counts: Callable[[], tuple[int, int, int]] = lambda: (0, 0, 0)
        self.active_expire = True
        # DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE payloads are not CRC-checked (their
        # content still is, in full), as Redis's tests use to reach the parser with bad data.
        self.skip_checksum_validation = False
        # DEBUG AOF-FLUSH-SLEEP: the server sleeps this long before each write of the AOF's
        # buffer (a testing setting of Redis's: it stops the whole server, as there).
        self.aof_flush_sleep_us = 0
        for name in ("engine-min-shards", "engine-shard-high-keys", "engine-shard-low-keys"):
            self.config.watch(name, lambda _value: self._retune())

    def _pubsub_default(self, value: object) -> None:
        self.acl.pubsub_default_all = value == "allchannels"

    def _report_new(self, _value: object) -> None:
        """Keyspaces raise `new` only while notify-keyspace-events or the event stream has
        the n class."""
        stream = self.event_stream
        enabled = "n" in self.config.str("notify-keyspace-events") or (stream is not None and "n" in stream.classes)
        for db in self.dbs:
            db.report_new = enabled

    def _event_stream_settings(self, _value: object) -> None:
        """The keyspace-events-stream settings changed: the stream to append to, or None;
        keyspaces report values only if it wants them, and db 0 never evicts it."""
        cfg = self.config
        key = cfg.str("keyspace-events-stream").encode("latin-1")
        with_values = bool(cfg["keyspace-events-stream-values"])
        self.event_stream = None
        if key:
            self.event_stream = EventStream(
                self,
                key,
                cfg.str("keyspace-events-stream-flags"),
                cfg.int("keyspace-events-stream-maxlen"),
                with_values,
                lambda value: self.serialize(value),
            )
        for db in self.dbs:
            db.notify_value = self.notify if key and with_values else None
            db.unevictable = None
        self.dbs[STREAM_DB].unevictable = key or None
        self._report_new(None)

    def _watch_settings(self, _value: object) -> None:
        threshold_us = self.config.int("slowlog-log-slower-than")
        self.slowlog_threshold_ns = None if threshold_us < 0 else threshold_us * 1000
        self.latency_threshold_ms = self.config.int("latency-monitor-threshold")
        watched = [] if self.slowlog_threshold_ns is None else [self.slowlog_threshold_ns]
        if self.latency_threshold_ms:
            watched.append(self.latency_threshold_ms * 1_000_000)
        self.watch_threshold_ns = min(watched, default=_NEVER_NS)

    def notify(self, event_class: str, event: bytes, key: bytes, db: int, value: object = None) -> None:
        """The one entry point for keyspace events, commands and the keyspace alike: readies
        the key for blocked clients, counts the change for the save schedule (not expiry or
        eviction), publishes (pubsub/hub.py filters by the settings), then appends to the
        keyspace-event stream if one is set (`value`: an expired or evicted key's value)."""
        if event_class not in "xen":  # `new` comes with the command's own event
            self.rdb.dirty += 1
        elif self.effects is not None and event_class != "n":  # expired or evicted: DEL
            lazy = self.config["lazyfree-lazy-expire" if event_class == "x" else "lazyfree-lazy-eviction"]
            self.effects.deleted(db, key, bool(lazy))
        blocking = self.blocking
        if blocking.waiting and (db, key) in blocking.waiting:
            blocking.ready[(db, key)] = None
        watches = self.watches
        if watches.keys and (db, key) in watches.keys:
            watches.touch((db, key))
        self.hub.notify_keyspace_event(event_class, event, key, db)
        if self.event_stream is not None:
            self.event_stream.record(event_class, event, key, db, value)

    def serve_ready_keys(self) -> None:
        """After background work (an expiry, migration or eviction slice): serve the clients
        blocked on keys it readied -- XREAD / XREADGROUP on the keyspace-event stream, which
        expiry and eviction append to -- as Redis does before it sleeps."""
        if self.blocking.ready and not self.atomic_depth:
            self.blocking.serve_ready()

    def _new_db(self, index: int) -> Keyspace:
        cfg = self.config
        return Keyspace(
            index,
            self.clock,
            stats=self.keyspace_stats,
            notify=self.notify,
            min_shards=cfg.int("engine-min-shards"),
            high_keys=cfg.int("engine-shard-high-keys"),
            low_keys=cfg.int("engine-shard-low-keys"),
            on_step=lambda event, tandem: self.on_step(event, index, tandem),
            on_earliest_deadline=lambda deadline_ms: self.on_deadline(deadline_ms),
            memory=self.memory,
            expiry_clock=self.expiry_clock,
        )

    def _apply_memory_settings(self) -> None:
        """maxmemory settings changed: apply them; a lower bound evicts at once (one slice,
        then the server's background slices)."""
        cfg = self.config
        apply_settings(self.memory, self.dbs, cfg.int("maxmemory"), cfg.str("maxmemory-policy"), cfg.int("maxmemory-samples"))
        evict_slice(self, EVICTION_BUDGET_US)

    def memory_info(self) -> dict[str, str | int]:
        """The INFO memory fields, in Redis's order."""
        return memory_info(self)

    def _retune(self) -> None:
        cfg = self.config
        for db in self.dbs:
            db.tandem.retune(
                min_shards=cfg.int("engine-min-shards"),
                high_keys=cfg.int("engine-shard-high-keys"),
                low_keys=cfg.int("engine-shard-low-keys"),
            )

    @property
    def auth_not_required(self) -> bool:
        """The default user is on and needs no password (no `requirepass`): new connections
        start authenticated."""
        return not self.acl.auth_required

    def new_session(self, **kwargs: Any) -> Session:
        session = Session(self, self._next_id, **kwargs)
        session.authenticated = self.auth_not_required
        self._next_id += 1
        self.sessions[session.id] = session
        return session

    def drop_session(self, session: Session) -> None:
        if session.blocked is not None:  # a client that disconnects while blocked is forgotten
            self.postponed.pop(session.blocked, None)
            self.blocking.remove(session.blocked)
        self.watches.unwatch_all(session)
        self.monitors.pop(session, None)
        self.hub.unsubscribe_all(session)
        self.sessions.pop(session.id, None)

    def flushed(self, index: int) -> None:
        """Database `index` is about to be emptied: its watched keys are touched, and its
        waited keys readied (XREADGROUP waiters learn that their stream is gone, as Redis's
        FLUSHALL / FLUSHDB signal them)."""
        if self.watches.keys:
            self.watches.touch_db(index, self.dbs[index].holds, None)
        self.blocking.signal_db(index)

    def modified(self, key: bytes, db: int) -> None:
        """A change that raises no keyspace event (PFCOUNT caching the cardinality in the
        value): only Redis's signalModifiedKey (WATCH) and the change count."""
        self.rdb.dirty += 1
        watches = self.watches
        if watches.keys and (db, key) in watches.keys:
            watches.touch((db, key))

    def swap_dbs(self, a: int, b: int) -> None:
        dbs = self.dbs
        if self.watches.keys:
            self.watches.touch_db(a, dbs[a].holds, dbs[b].holds)
            self.watches.touch_db(b, dbs[b].holds, dbs[a].holds)
        dbs[a], dbs[b] = dbs[b], dbs[a]
        dbs[a].index, dbs[b].index = a, b
        if STREAM_DB in (a, b):  # the event stream's key is exempt from eviction in db 0 only
            dbs[a].unevictable, dbs[b].unevictable = dbs[b].unevictable, dbs[a].unevictable
        for session in self.sessions.values():
            session.db = dbs[session.db_index]
        self.blocking.signal_db(a)
        self.blocking.signal_db(b)


class Session:
    """One client: selected db, protocol version, name, subscriptions, connection facts."""

    def __init__(
        self,
        instance: Instance,
        session_id: int,
        *,
        addr: str = "",
        laddr: str = "",
        fd: int = -1,
        write: Callable[[bytes], None] = lambda data: None,
        close: Callable[[], None] = lambda: None,
        output_buffer_size: Callable[[], int] = lambda: 0,
        input_buffer_size: Callable[[], int] = lambda: 0,
        wake: Callable[[Any], None] | None = None,
    ) -> None:
        self.instance = instance
        self.id = session_id
        self.db_index = 0
        self.db: Keyspace = instance.dbs[0]
        self.resp = 2
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.created_ms = instance.clock.now_ms()
        self.last_interaction_ms = self.created_ms
        self.last_spec: CommandSpec | None = None  # CLIENT LIST cmd=
        self.argv: list[bytes] = []  # the command line being executed, as typed (error texts quote it)
        self.write = write
        self.close = close
        self.output_buffer_size = output_buffer_size
        self.input_buffer_size = input_buffer_size  # CLIENT LIST qbuf: bytes not parsed yet
        self.closing = False  # QUIT, CLIENT KILL, protocol error: close after the replies
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()
        # Blocking (commands/blocking.py): the command this client waits in, if any; `wake`
        # delivers its reply (the server layer's). Without a `wake` (the embedded Store)
        # blocking commands never block, as inside MULTI: they answer as on timeout.
        self.blocked: Waiter | None = None
        # MULTI (commands/transactions.py): the queued commands (None: not in MULTI), whether
        # queueing met an error (EXECABORT), whether a watched key changed (EXEC fails).
        self.multi: list[tuple[CommandSpec, list[bytes]]] | None = None
        self.multi_error = False
        self.cas_dirty = False
        self.no_evict = False  # CLIENT NO-EVICT: shown as flag e (no client is ever evicted here)
        self.watched: dict[Slot, bool] = {}  # watched (db, key) -> expired when watched
        self.in_script = False  # a script's commands show as "lua" to MONITOR
        # CLIENT REPLY (commands/connection.py): REPLY_* bits; 0 = every reply is sent.
        self.reply_mode = 0
        self.authenticated = True  # set by Instance.new_session from the default user
        self.user: User = instance.acl.default  # AUTH and HELLO change it (commands/acl.py)
        self.wake: Callable[[Any], None] = wake or (lambda reply: None)
        self.deny_blocking = wake is None

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns) + len(self.shard_channels)

    def select(self, index: int) -> None:
        self.db_index = index
        self.db = self.instance.dbs[index]

    def discard_transaction(self) -> None:
        """Leave MULTI (if in it) and forget every watched key (Redis's discardTransaction)."""
        self.multi = None
        self.multi_error = self.cas_dirty = False
        if self.watched:
            self.instance.watches.unwatch_all(self)

    def notify(self, event_class: str, event: bytes, key: bytes) -> None:
        """Raise a keyspace event for `key` in this session's database."""
        self.instance.notify(event_class, event, key, self.db_index)
