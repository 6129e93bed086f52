"""Session (one client's state) and Instance (the state every session shares).

Neither does I/O: the server layer gives a Session its `write` and `close` callbacks, and the
Instance its `shutdown` callback. The embedded Store uses them with no network at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tandemkv.clock import Clock
from tandemkv.commands.blocking import Blocking, Waiter
from tandemkv.commands.memory import EVICTION_BUDGET_US, evict_slice, memory_info, process_rss_bytes
from tandemkv.commands.monitoring import Slowlog
from tandemkv.commands.table import CommandSpec
from tandemkv.commands.users import AccessControl, User
from tandemkv.commands.watching import Slot, Watches
from tandemkv.config import Config
from tandemkv.keyspace import Keyspace, KeyspaceStats, Tandem
from tandemkv.keyspace.memory import MemoryAccount, apply_settings
from tandemkv.pubsub import Hub

VERSION = "7.0.15"

# CLIENT REPLY states (Redis's CLIENT_REPLY_OFF, _SKIP, _SKIP_NEXT): replies are dropped while
# OFF; SKIP drops the reply of the command that runs while it is set; SKIP_NEXT (set by CLIENT
# REPLY SKIP) becomes SKIP once the command that set it is over. Pub/sub messages and
# subscription confirmations are always sent, as Redis sends them (CLIENT_PUSHING).
REPLY_OFF = 1
REPLY_SKIP = 2
REPLY_SKIP_NEXT = 4


def reply_dropped(session: Session, mode_before: int) -> bool:
    """After a command: whether its reply is dropped, with the states moved on."""
    mode = session.reply_mode
    if mode & REPLY_SKIP_NEXT:
        session.reply_mode = (mode & REPLY_OFF) | REPLY_SKIP
        return True
    if mode_before & REPLY_SKIP:
        session.reply_mode = mode & ~REPLY_SKIP
        return True
    return bool(mode & REPLY_OFF)
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
    save: Callable[[], bool] = lambda: False
    # A background save in progress (persistence/snapshot.py), when it started (monotonic s),
    # and the server's way to run its slices (None: BGSAVE runs to completion at once).
    job: Any = None
    job_started: float = 0.0
    schedule: Callable[[], None] | None = None


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
        self._slowlog_settings(None)
        self.config.watch("slowlog-log-slower-than", self._slowlog_settings)
        self.started_ms = self.clock.now_ms()
        self.rdb = SaveState(last_save_s=self.started_ms // 1000)
        self.started_monotonic = time.monotonic()
        self.pid = os.getpid()
        self.run_id = os.urandom(20).hex()
        self.tcp_port = 0  # the listening port, set by the server layer once bound (INFO server)
        self.sessions: dict[int, Session] = {}
        self._next_id = 1
        # Memory bound (commands/memory.py, keyspace/memory.py): the account every db charges,
        # the process size before any data, and the server's hook for background eviction.
        self.memory = MemoryAccount(clock=self.clock)
        self.memory_startup_bytes = process_rss_bytes()
        self.on_over_bound: Callable[[], None] = lambda: None
        self.dbs: list[Keyspace] = [self._new_db(i) for i in range(self.config.int("databases"))]
        self._report_new(None)
        self.config.watch("notify-keyspace-events", self._report_new)
        self._apply_memory_settings()
        for name in ("maxmemory", "maxmemory-policy", "maxmemory-samples"):
            self.config.watch(name, lambda _value: self._apply_memory_settings())
        self.step_log: list[tuple[str, int, int, int]] = []  # (event, db, shards, keys)
        # Hooks the server layer sets: a step started or ended; a new earliest deadline.
        self.on_step: Callable[[str, int, Tandem], None] = lambda event, db, tandem: None
        self.on_deadline: Callable[[int], None] = lambda deadline_ms: None
        self.shutdown: Callable[[], None] = lambda: None
        self.active_expire = True
        for name in ("engine-min-shards", "engine-shard-high-keys", "engine-shard-low-keys"):
            self.config.watch(name, lambda _value: self._retune())

    def _pubsub_default(self, value: object) -> None:
        self.acl.pubsub_default_all = value == "allchannels"

    def _report_new(self, _value: object) -> None:
        """Keyspaces raise `new` only while notify-keyspace-events has the n class."""
        enabled = "n" in self.config.str("notify-keyspace-events")
        for db in self.dbs:
            db.report_new = enabled

    def _slowlog_settings(self, _value: object) -> None:
        threshold_us = self.config.int("slowlog-log-slower-than")
        self.slowlog_threshold_ns = None if threshold_us < 0 else threshold_us * 1000

    def notify(self, event_class: str, event: bytes, key: bytes, db: int) -> None:
        """The one entry point for keyspace events, commands and the keyspace alike: readies
        the key for blocked clients, counts the change for the save schedule (not expiry or
        eviction), then publishes (pubsub/hub.py filters by the settings)."""
        if event_class not in "xen":  # `new` comes with the command's own event
            self.rdb.dirty += 1
        blocking = self.blocking
        if blocking.waiting and (db, key) in blocking.waiting:
            blocking.ready[(db, key)] = None
        watches = self.watches
        if watches.keys and (db, key) in watches.keys:
            watches.touch((db, key))
        self.hub.notify_keyspace_event(event_class, event, key, db)

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

    def swap_dbs(self, a: int, b: int) -> None:
        dbs = self.dbs
        if self.watches.keys:
            self.watches.touch_db(a, dbs[a].holds, dbs[b].holds)
            self.watches.touch_db(b, dbs[b].holds, dbs[a].holds)
        dbs[a], dbs[b] = dbs[b], dbs[a]
        dbs[a].index, dbs[b].index = a, b
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
