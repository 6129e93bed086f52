"""The server: event loop, listener, expiry timer, background slices, shutdown.

One event loop owns all data; nothing here takes a lock. Background work runs on the same loop
in short slices so that no request waits long:

- expiry: a timer armed at the earliest deadline (millisecond resolution); when it fires, due
  keys are expired in slices of at most EXPIRE_SLICE_KEYS timers, the loop serving I/O between
  slices, then the timer is armed again at the next deadline;
- migration: while any database is stepping, one slice of `engine-slice-us` per loop iteration;
- cron (`hz` times a second): freeing flushed engines in slices, re-arming the expiry timer
  if it is not armed (after DEBUG SET-ACTIVE-EXPIRE 1, or a failed slice);
- loading at start-up: the listeners open first, then the data files load in slices of
  LOAD_SLICE_US (persistence/loading.py); meanwhile commands without the `loading` flag get
  LOADING, no deadline passes, and the save schedule and AOF wait; then the AOF opens.

Output-buffer limits for pub/sub clients are checked as each message is queued (as in Redis),
in `check_output_limit`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from time import perf_counter_ns

from tandemkv.commands import Instance
from tandemkv.commands.latency import record_latency
from tandemkv.commands.memory import EVICTION_BUDGET_US, evict_slice, measure_slice
from tandemkv.commands.pausing import check_pause
from tandemkv.commands.session import TANDEMKV_VERSION
from tandemkv.config import VERBOSE, Config, ConfigError, parse_memory
from tandemkv.keyspace import Tandem
from tandemkv.persistence import attach as attach_persistence
from tandemkv.persistence import cron as persistence_cron
from tandemkv.persistence import save_for_shutdown
from tandemkv.persistence import step as snapshot_step
from tandemkv.persistence.aof import AofError
from tandemkv.persistence.aofcontrol import load_from_disk_steps
from tandemkv.persistence.rdb import RdbError
from tandemkv.persistence.snapshot import SLICE_BUDGET_US as SNAPSHOT_SLICE_BUDGET_US
from tandemkv.scripting import attach as attach_scripting  # (importing registers EVAL, SCRIPT, ...)
from tandemkv.server.appendonly import AppendOnly
from tandemkv.server.busy import BusyPoller
from tandemkv.server.connection import Connection
from tandemkv.server.tls import TLS_SETTINGS, TlsError, checked_context, server_context

log = logging.getLogger("tandemkv")

# loglevel -> logging level (CONFIG SET loglevel applies at once).
LOG_LEVELS = {"debug": logging.DEBUG, "verbose": VERBOSE, "notice": logging.INFO, "warning": logging.WARNING}
SLOW_GC_MS = 2.0  # cyclic collections at least this long are logged
EXPIRE_SLICE_KEYS = 250  # timers looked at per expiry slice (~1 ms when each raises an event)
FREE_SLICE_KEYS = 20_000  # keys of flushed engines freed per cron tick
LOAD_SLICE_US = 5_000  # loading the data files: the loop serves clients between such slices
# While clients send commands, a background save runs a slice per SNAPSHOT_REST_S at most
# (a timer: the loop serves clients meanwhile), so the server keeps using little CPU and the
# kernel's scheduler keeps waking it at once on a busy machine; idle, slices run back to back.
# Measured at 1 M keys, 4,000 requests/s, CPU pressure 65-80 % on 2 cores
# (bench/snapshot_load.py): request p99 during the save 0.75-1.07x the one without a save and
# a stall rate as without, against 1.7-2.0x back to back; the save took 1.5x as long.
SNAPSHOT_REST_S = 0.001


class Server:
    def __init__(self, config: Config | None = None) -> None:
        self.instance = Instance(config)
        self.instance.shutdown = self.request_shutdown
        self.instance.on_step = self._on_step
        self.instance.on_deadline = self._on_deadline
        self.instance.on_pause = self._on_pause
        self.instance.on_unpause = self._on_unpause
        self._pause_handle: asyncio.TimerHandle | None = None
        self.instance.on_over_bound = self._schedule_eviction  # memory bound: background slices
        self.instance.while_busy = BusyPoller(self)  # clients served during a busy script
        self.connections: set[Connection] = set()
        attach_persistence(self.instance)
        attach_scripting(self.instance)  # the function libraries persistence saves and loads
        self.instance.rdb.schedule = self._schedule_snapshot  # BGSAVE's slices
        self.instance.rdb.offload = self._offload_save_io  # its writes, fsync and rename: a thread
        self._save_executor: ThreadPoolExecutor | None = None
        self._commands_at_slice = 0  # total_commands_processed when the last snapshot slice ran
        self.appendonly = AppendOnly(self)  # the append-only file's writes, fsyncs, rewrites
        self._eviction_scheduled = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listener: asyncio.base_events.Server | None = None
        self.tls_listener: asyncio.base_events.Server | None = None
        # Set by SHUTDOWN or a signal, which may come before `start` has finished.
        self._stopping = asyncio.Event()
        self._expiry_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._expiry_at_ms: int | None = None
        self._migration_scheduled = False
        self._cron_handle: asyncio.TimerHandle | None = None
        self.port = 0
        # Loading the data files (`_start_loading`): the loader while it runs; whether it is
        # done (and the AOF open for writing); the exit status `run` returns (1: it failed).
        self._loader: Generator[None, None, int | None] | None = None
        self._load_started = 0.0
        self._loading_done = False
        self.exit_status = 0
        self._idle_checked_ms = 0
        self._gc_started = 0.0
        self.instance.config.watch("loglevel", lambda level: log.setLevel(LOG_LEVELS[str(level)]))
        # (hard, soft, soft seconds) of the pubsub class, parsed once per CONFIG SET.
        self._pubsub_limit = self._pubsub_limits()
        self.instance.config.watch("client-output-buffer-limit", self._reload_pubsub_limit)

    # ------------------------------------------------------------------ start

    def _start_loading(self) -> None:
        """Load the data files in slices of LOAD_SLICE_US on the loop, clients connected
        meanwhile getting LOADING replies (Redis answers them from its loading callback)."""
        assert self.loop is not None
        self._loader = load_from_disk_steps(self.instance, self.appendonly)
        self._load_started = time.monotonic()
        self.loop.call_soon(self._load_slice)

    def _load_slice(self) -> None:
        loader = self._loader
        if loader is None:  # shut down while loading
            return
        assert self.loop is not None
        deadline_ns = perf_counter_ns() + LOAD_SLICE_US * 1000
        try:
            while perf_counter_ns() < deadline_ns:
                next(loader)
        except StopIteration as done:
            self._loader = None
            self._loaded(done.value)
            return
        except (OSError, RdbError, AofError) as exc:
            self._loader = None
            if isinstance(exc, RdbError):  # rdbReportError's lines
                log.error("Internal error in RDB reading offset 0, function at rdb.c:0 -> %s", exc)
                log.error("Terminating server after rdb file reading failure.")
            else:
                log.error("Fatal error loading the DB: %s. Exiting.", exc)
            self.exit_status = 1
            self._stopping.set()
            return
        self.loop.call_soon(self._load_slice)

    def _loaded(self, count: int | None) -> None:
        """Loading is over: the AOF opens for writing, expiry and eviction resume, and the
        loaded objects are frozen out of the cyclic collector's way (see `start`)."""
        if count is not None:
            log.info("DB loaded from disk: %d keys in %.3f seconds", count, time.monotonic() - self._load_started)
        if self.instance.config["appendonly"]:
            try:
                self.appendonly.open()
            except (AofError, OSError) as exc:
                log.error("Can't open the append-only file: %s", exc)
                self.exit_status = 1
                self._stopping.set()
                return
        self._loading_done = True
        gc.freeze()
        self.rearm_expiry()
        self._schedule_eviction()
        log.info("Ready to accept connections")

    async def start(self) -> None:
        """Open the listeners, then load the data files in slices (`_start_loading`)."""
        self.loop = asyncio.get_running_loop()
        config = self.instance.config
        hosts = self._hosts()
        tls_port = config.int("tls-port")
        if tls_port:  # TLS beside the TCP port, or alone with `port 0` (as Redis)
            self.tls_listener = await self._listen_tls(server_context(config))
            for name in TLS_SETTINGS:
                config.watch(name, self._reload_tls)
        if config.int("port") or not tls_port:
            self.listener = await self.loop.create_server(
                lambda: Connection(self), host=hosts, port=config.int("port"), backlog=511, reuse_address=True
            )
            sockets = self.listener.sockets or []
            self.port = sockets[0].getsockname()[1] if sockets else config.int("port")
        self.instance.tcp_port = self.port
        self._cron_handle = self.loop.call_later(1 / config.int("hz"), self._cron)
        # The cyclic collector: string keys and values are not tracked at all (bytes, and dicts
        # holding only bytes and ints), but the shard tuples and lists are, and a full
        # collection walks them. Start-up objects (the loaded data too, once loaded) are
        # frozen out of its way, full collections are made rare, and any collection that
        # stalls the loop is logged with its cost.
        gc.freeze()
        gc.set_threshold(50_000, 50, 1000)
        gc.callbacks.append(self._time_gc)
        # "PID: N" as in Redis's start-up logo: tools that start a server and wait for its
        # port (Redis's own test suite) look for it.
        log.info(
            "tandemkv %s (Redis 7.0.15 compatible) ready: %s port %d%s, PID: %d, event loop %s",
            TANDEMKV_VERSION,
            " ".join(hosts),
            self.port,
            f", TLS port {tls_port}" if tls_port else "",
            self.instance.pid,
            type(self.loop).__module__.split(".")[0],
        )
        self._start_loading()

    def _hosts(self) -> list[str]:
        """The addresses `bind` names (both listeners use them)."""
        return self.instance.config.str("bind").split() or ["127.0.0.1"]

    async def _listen_tls(self, context: ssl.SSLContext) -> asyncio.base_events.Server:
        assert self.loop is not None
        config = self.instance.config
        return await self.loop.create_server(
            lambda: Connection(self),
            host=self._hosts(),
            port=config.int("tls-port"),
            backlog=511,
            reuse_address=True,
            ssl=context,
        )

    def _reload_tls(self, _value: object) -> None:
        """CONFIG SET tls-*: a context from the new settings (or the CONFIG SET fails), then the
        TLS listener reopened with it; open TLS connections are not touched."""
        context = checked_context(self.instance.config)
        assert self.loop is not None
        self.loop.create_task(self._reopen_tls(context))

    async def _reopen_tls(self, context: ssl.SSLContext) -> None:
        if self.tls_listener is not None:
            self.tls_listener.close()
        self.tls_listener = await self._listen_tls(context)
        log.info("TLS configuration reloaded")

    def _time_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        elapsed_ms = (time.perf_counter() - self._gc_started) * 1000
        if elapsed_ms >= SLOW_GC_MS:
            log.warning(
                "Cyclic GC generation %d took %.1f ms (%d objects collected)",
                info["generation"],
                elapsed_ms,
                info["collected"],
            )

    async def serve_until_stopped(self) -> None:
        await self._stopping.wait()
        await self.stop()

    def request_shutdown(self) -> None:
        log.info("Received shutdown request, closing")
        if self.instance.busy is not None:
            # SHUTDOWN NOSAVE during a busy script, which never returns to the loop: exit from
            # here, as Redis exits from inside its script (nothing to save: NOSAVE).
            log.warning("Shutting down while a script is busy: exiting now.")
            log.info("tandemkv is now ready to exit, bye bye...")
            logging.shutdown()
            os._exit(0)
        self._stopping.set()

    def shutdown_on_signal(self) -> None:
        """SIGINT/SIGTERM: save first when save points are configured, as Redis does (never
        while loading: the file would be overwritten by a half-loaded dataset)."""
        saving = self.instance.config.str("save") and self.instance.loading is None
        if saving and not save_for_shutdown(self.instance):
            log.warning("Error trying to save the DB, can't exit.")
            return
        self.request_shutdown()

    async def stop(self) -> None:
        if self._time_gc in gc.callbacks:
            gc.callbacks.remove(self._time_gc)
        for listener in (self.listener, self.tls_listener):
            if listener is not None:
                listener.close()
        for handle in (self._expiry_handle, self._cron_handle):
            if handle is not None:
                handle.cancel()
        for session in list(self.instance.sessions.values()):
            session.close()
        for listener in (self.listener, self.tls_listener):
            if listener is not None:
                await listener.wait_closed()
        if self._loader is not None:  # shut down while loading: the loader is dropped
            self._loader.close()
            self._loader = None
        if self._loading_done:
            self.appendonly.close()
        if not self.exit_status:  # a failed start ends on its error line, as Redis's exit(1)
            log.info("tandemkv is now ready to exit, bye bye...")

    # ------------------------------------------------------------------ expiry

    def _on_deadline(self, deadline_ms: int) -> None:
        """A deadline earlier than any armed one was set: wake up for it."""
        if not self.instance.active_expire or self.loop is None:
            return
        if self._expiry_at_ms is None or deadline_ms < self._expiry_at_ms:
            self._arm_expiry(deadline_ms)

    def _arm_expiry(self, deadline_ms: int) -> None:
        assert self.loop is not None
        if self._expiry_handle is not None:
            self._expiry_handle.cancel()
        delay_s = max(0.0, (deadline_ms - self.instance.clock.now_ms()) / 1000)
        self._expiry_at_ms = deadline_ms
        self._expiry_handle = self.loop.call_later(delay_s, self._expire_slice)

    def _expire_slice(self) -> None:
        """Expire due keys, at most EXPIRE_SLICE_KEYS timers, then yield to I/O or re-arm."""
        self._expiry_handle = None
        self._expiry_at_ms = None
        instance = self.instance
        # CLIENT PAUSE, loading: re-armed after (no deadline passes while loading).
        if not instance.active_expire or instance.pause_type or instance.loading is not None:
            return
        now_ms = instance.clock.now_ms()
        budget = EXPIRE_SLICE_KEYS
        started_ns = perf_counter_ns()
        for db in instance.dbs:
            if budget <= 0:
                break
            budget -= db.expire_due(now_ms, budget)
        record_latency(instance, b"expire-cycle", perf_counter_ns() - started_ns)
        instance.serve_ready_keys()
        if budget <= 0:
            assert self.loop is not None
            self._expiry_at_ms = now_ms
            self._expiry_handle = self.loop.call_soon(self._expire_slice)
            return
        self.rearm_expiry()

    def rearm_expiry(self) -> None:
        """Arm the timer at the earliest deadline of any database (after FLUSH, DEBUG, ...)."""
        deadlines = [d for db in self.instance.dbs if (d := db.next_deadline_ms()) is not None]
        if deadlines and self.instance.active_expire:
            self._arm_expiry(min(deadlines))

    # --------------------------------------------------------------- migration

    def _on_step(self, event: str, db: int, tandem: Tandem) -> None:
        info = tandem.info()
        if event.startswith("start"):
            log.info(
                "db %d: step %s started: %d -> %d shards, %d keys",
                db,
                event.removeprefix("start-"),
                info["old_shards"],
                info["shards"],
                info["keys"],
            )
            self._schedule_migration()
        else:
            log.info(
                "db %d: step finished in %d ms: %d shards, %d keys",
                db,
                info["last_migration_time_ms"],
                info["shards"],
                info["keys"],
            )

    def _schedule_migration(self) -> None:
        if not self._migration_scheduled and self.loop is not None:
            self._migration_scheduled = True
            self.loop.call_soon(self._migration_slice)

    def _migration_slice(self) -> None:
        self._migration_scheduled = False
        budget_us = self.instance.config.int("engine-slice-us")
        busy = False
        for db in self.instance.dbs:
            if db.tandem.busy:  # migrating, or freeing a retired engine / building spares
                busy = not db.migrate(budget_us) or busy
        self.instance.serve_ready_keys()  # migration drops expired keys: their events
        if busy:
            self._schedule_migration()

    # ------------------------------------------------------------ CLIENT PAUSE

    def _on_pause(self, end_ms: int) -> None:
        """A pause is in force until end_ms: check it just after (commands/pausing.py)."""
        assert self.loop is not None
        if self._pause_handle is not None:
            self._pause_handle.cancel()
        delay_s = max(0, end_ms + 1 - self.instance.clock.now_ms()) / 1000
        self._pause_handle = self.loop.call_later(delay_s, check_pause, self.instance)

    def _on_unpause(self) -> None:
        """The pause ended: expiry and eviction resume."""
        if self._pause_handle is not None:
            self._pause_handle.cancel()
            self._pause_handle = None
        self.rearm_expiry()
        self._schedule_eviction()

    # -------------------------------------------------------------------- cron

    def _cron(self) -> None:
        instance = self.instance
        assert self.loop is not None
        budget = FREE_SLICE_KEYS
        now_ms = instance.clock.now_ms()
        for db in instance.dbs:
            if db.has_garbage:
                db.free_detached(budget)
            db.sample_ttl(now_ms)  # INFO keyspace avg_ttl
        if instance.active_expire and self._expiry_handle is None:
            self.rearm_expiry()
        self._close_idle_clients()
        instance.memory.note_peak()
        if instance.loading is None:  # no eviction, saves or AOF work while a file loads
            # Memory bound: a slice of the dict-table measurement; over the bound (the tables
            # grew, or keys grew in place), a slice of eviction at once, more in background.
            measure_slice(instance)
            instance.serve_ready_keys()  # the measurement may have evicted
            persistence_cron(instance)  # the `save` schedule
            self.appendonly.cron()  # everysec's fsync, AOF rewrites
        self._cron_handle = self.loop.call_later(1 / instance.config.int("hz"), self._cron)

    def _schedule_snapshot(self) -> None:
        assert self.loop is not None
        self.loop.call_soon(self._snapshot_slice)

    def _snapshot_slice(self) -> None:
        """One slice of a background save (persistence/snapshot.py), then yield to clients:
        the next slice runs at once if no command came since the last one and the save is
        not waiting (for the disk, or rdb-key-save-delay's pace: no busy loop), else after
        SNAPSHOT_REST_S (the loop serves clients meanwhile)."""
        budget_us = min(SNAPSHOT_SLICE_BUDGET_US, self.instance.config.int("engine-slice-us"))
        if snapshot_step(self.instance, budget_us / 1_000_000):
            assert self.loop is not None
            commands = self.instance.stats.total_commands_processed
            job = self.instance.rdb.job
            if commands == self._commands_at_slice and not (job is not None and job.waiting):
                self.loop.call_soon(self._snapshot_slice)
            else:
                self._commands_at_slice = commands
                self.loop.call_later(SNAPSHOT_REST_S, self._snapshot_slice)

    def _offload_save_io(
        self, work: Callable[[], None], done: Callable[[BaseException | None], None]
    ) -> Callable[[], None]:
        """Run a background save's blocking I/O (`work`: a chunk's write, or the fsync and
        rename at the end) in a thread, one piece at a time in order, then `done` on the loop
        with its exception or None; returns a function that waits for `work` (SHUTDOWN stops
        the save and writes its own file)."""
        loop = self.loop
        if loop is None:  # not serving (yet): nothing to keep responsive
            try:
                work()
            except OSError as exc:
                done(exc)
            else:
                done(None)
            return lambda: None
        if self._save_executor is None:
            self._save_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rdb-fsync")
        future = self._save_executor.submit(work)

        def finished(future: Future[None]) -> None:
            loop.call_soon_threadsafe(done, future.exception())

        future.add_done_callback(finished)
        return lambda: wait([future])

    def _close_idle_clients(self) -> None:
        """`timeout`: close clients idle longer than that many seconds, pub/sub clients
        excepted (Redis's clientsCronHandleTimeout). Checked about once a second."""
        timeout_s = self.instance.config.int("timeout")
        now_ms = self.instance.clock.now_ms()
        if not timeout_s or now_ms - self._idle_checked_ms < 1000:
            return
        self._idle_checked_ms = now_ms
        for session in list(self.instance.sessions.values()):
            if (
                not session.subscriptions
                and session.blocked is None  # Redis times blocked clients out by their own timeout
                and now_ms - session.last_interaction_ms > timeout_s * 1000
            ):
                log.info("Closing idle client id=%d addr=%s", session.id, session.addr)
                session.close()

    # ---------------------------------------------------------------- eviction

    def _schedule_eviction(self) -> None:
        """Over the memory bound with more to evict: one slice per loop iteration until under
        it (commands/memory.py), serving I/O between slices."""
        if not self._eviction_scheduled and self.loop is not None:
            self._eviction_scheduled = True
            self.loop.call_soon(self._eviction_slice)

    def _eviction_slice(self) -> None:
        self._eviction_scheduled = False
        # CLIENT PAUSE keeps the dataset still, and nothing is evicted while a file loads (as
        # Redis, which evicts before commands): resumed after either.
        if self.instance.pause_type or self.instance.loading is not None:
            return
        started_ns = perf_counter_ns()
        evict_slice(self.instance, EVICTION_BUDGET_US)
        record_latency(self.instance, b"eviction-cycle", perf_counter_ns() - started_ns)
        self.instance.serve_ready_keys()

    # ------------------------------------------------------- output buffers

    def check_output_limit(self, conn: Connection, buffered: int) -> None:
        """Redis's client-output-buffer-limit for pub/sub clients: hard, or soft for N s."""
        hard, soft, soft_seconds = self._pubsub_limit
        now = time.monotonic()
        over_hard = hard and buffered > hard
        if soft and buffered > soft:
            if not conn.over_soft_since:
                conn.over_soft_since = now
            over_soft = now - conn.over_soft_since > soft_seconds
        else:
            conn.over_soft_since = 0.0
            over_soft = False
        if over_hard or over_soft:
            session = conn.session
            assert session is not None
            self.instance.stats.client_output_buffer_limit_disconnections += 1
            log.warning(
                "Client id=%d addr=%s closed for overcoming of output buffer limits (%d bytes buffered).",
                session.id,
                session.addr,
                buffered,
            )
            conn.abort()

    def _reload_pubsub_limit(self, _value: object) -> None:
        self._pubsub_limit = self._pubsub_limits()

    def _pubsub_limits(self) -> tuple[int, int, int]:
        words = self.instance.config.str("client-output-buffer-limit").split()
        for i in range(0, len(words), 4):
            if words[i].lower() == "pubsub":
                return parse_memory(words[i + 1].encode()), parse_memory(words[i + 2].encode()), int(words[i + 3])
        return 0, 0, 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where available (Linux/macOS), the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(config: Config) -> int:
    """Run a server until SIGINT/SIGTERM or SHUTDOWN; returns the exit status."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server = Server(config)
    except ConfigError as exc:  # ACL users of the config file or the aclfile
        log.error("%s", exc.reason)
        loop.close()
        return 1
    # Before the port opens: a signal sent as soon as clients can connect is never lost.
    if sys.platform != "win32":
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _on_signal, server, signum)
    try:
        loop.run_until_complete(server.start())
    except TlsError as exc:
        log.error("Failed to configure TLS: %s", exc)
        return 1
    except OSError as exc:
        log.error("Could not create server TCP listening socket %s:%d: %s", config.str("bind"), config.int("port"), exc)
        log.error("Failed listening on port %d (TCP), aborting.", config.int("port"))  # Redis's line
        return 1
    try:
        loop.run_until_complete(server.serve_until_stopped())
    finally:
        loop.close()
    return server.exit_status


def _on_signal(server: Server, signum: int) -> None:
    log.warning("Received %s scheduling shutdown...", signal.Signals(signum).name)
    server.shutdown_on_signal()
