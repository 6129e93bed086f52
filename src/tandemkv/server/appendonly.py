"""The server's side of the append-only file (persistence/aof.py): when its buffer is written,
when it is fsynced, and when replies may leave.

- Writes of one loop iteration gather in the AOF's buffer; one callback (`_commit`, scheduled
  when the buffer stops being empty) writes them at the start of the next iteration, before
  any new request is read. While the buffer or held replies are pending, every connection
  hands its outgoing bytes to `hold` instead of its transport, and `_commit` releases them in
  order once the buffer is written: as in Redis (beforeSleep writes the AOF, then the
  replies), a reply never leaves before the write it acknowledges is in the file, so killing
  the process loses no acknowledged write under any policy.
- appendfsync always: group commit. `_commit` also fsyncs before releasing the replies: a
  reply never leaves before its write is on disk, and all the writes of an iteration
  (pipelined or from many clients) share one fsync. A failed write or fsync stops the server,
  as Redis does under `always` (acknowledged writes must not be lost silently).
- appendfsync everysec: fsync once a second in a worker thread; while one is still running,
  the write waits (up to 2 s, then goes ahead and counts aof_delayed_fsync) and the replies
  leave without it, as Redis's, so a slow disk stalls neither the loop nor, through the
  file's lock, its writes. no: the kernel decides when to write back.
- The rewrite's base is written in slices on the loop, as a background save's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from tandemkv.persistence.aof import Aof, AofError
from tandemkv.persistence.aof import load_steps as load_aof_steps

if TYPE_CHECKING:
    from tandemkv.server.app import Server

log = logging.getLogger("tandemkv")

FSYNC_PERIOD_S = 1.0
MAX_WRITE_DELAY_S = 2.0  # everysec: how long a write waits for a running fsync (Redis: 2 s)
POSTPONE_RETRY_S = 0.01
WRITE_ERROR_LOG_PERIOD_S = 30.0


class AppendOnly:
    """Drives the instance's Aof from the event loop."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.instance = server.instance
        self.aof: Aof | None = None
        # Bytes for transports held until the next commit (appendfsync always); None as the
        # data means "close this transport" (QUIT after a write).
        self.held: list[tuple[asyncio.Transport, bytes | None]] = []
        self.hold_replies = False  # the AOF is on: connections check this
        self._commit_scheduled = False
        self._executor: ThreadPoolExecutor | None = None
        self._fsync: Future[None] | None = None
        self._last_fsync = time.monotonic()
        self._postponed_since = 0.0
        self._error_logged_at = -WRITE_ERROR_LOG_PERIOD_S
        config = self.instance.config
        config.watch("appendonly", self._on_appendonly)

    # ------------------------------------------------------------- lifecycle

    def load_steps(self) -> Generator[None, None, int | None]:
        """At start-up with appendonly yes: load the AOF (None if there is none), a batch of
        commands between yields (persistence/loading.py). Raises AofError (or OSError)."""
        self.aof = self._new_aof()
        return load_aof_steps(self.instance, self.aof)

    def open(self) -> None:
        """Start writing (after loading): raises AofError or OSError if it cannot."""
        aof = self.aof or self._new_aof()
        try:
            if self.aof is None:
                aof.load_manifest()
            aof.start()
        except OSError as exc:
            raise AofError(f"Can't open or create the append-only file in {aof.dir}: {exc}") from exc
        self._enabled(aof)

    def _new_aof(self) -> Aof:
        aof = Aof(self.instance)
        aof.on_pending = self._schedule_commit
        aof.schedule_rewrite = self._schedule_rewrite
        aof.retire_fd = self._retire_fd
        return aof

    def _enabled(self, aof: Aof) -> None:
        self.aof = aof
        self.instance.aof = aof
        self._apply_hold()

    def _on_appendonly(self, value: object) -> None:
        """CONFIG SET appendonly: yes starts a rewrite whose base is the dataset now and
        whose incr file takes the writes from now (startAppendOnly); no stops writing."""
        if value and self.aof is None:
            aof = self._new_aof()
            try:
                try:
                    aof.load_manifest()
                except AofError as exc:
                    log.warning("Ignoring the AOF manifest: %s", exc)
                aof.enable_at_runtime()
            except OSError as exc:
                log.warning("Unable to turn on AOF: %s", exc)
                self.instance.config.values["appendonly"] = False
                return
            self._enabled(aof)
        elif not value and self.aof is not None:
            self._commit()
            self.aof.stop()
            self.aof = None
            self.instance.aof = None
            self._apply_hold()

    def close(self) -> None:
        """Shutdown: everything buffered is written and fsynced."""
        if self.aof is not None:
            self._commit()
            self.aof.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _apply_hold(self) -> None:
        self.hold_replies = self.aof is not None
        if not self.hold_replies:
            self._release()

    # --------------------------------------------------------- group commit

    def hold(self, transport: asyncio.Transport, data: bytes | None) -> None:
        self.held.append((transport, data))
        self._schedule_commit()

    def _schedule_commit(self) -> None:
        if not self._commit_scheduled and self.server.loop is not None:
            self._commit_scheduled = True
            self.server.loop.call_soon(self._commit)

    def _commit(self) -> None:
        """Write the buffer (and fsync under `always`), then release held replies."""
        self._commit_scheduled = False
        aof = self.aof
        if aof is None:
            self._release()
            return
        policy = self.instance.config.str("appendfsync")
        if policy == "everysec" and self._fsync is not None and not self._fsync.done():
            now = time.monotonic()
            if not self._postponed_since:
                self._postponed_since = now
            if now - self._postponed_since < MAX_WRITE_DELAY_S:
                self._retry_later()
                self._release()
                return
            aof.delayed_fsync += 1
            log.warning(
                "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer "
                "without waiting for fsync to complete, this may slow down Redis."
            )
        self._postponed_since = 0.0
        try:
            aof.flush()
            if policy == "always" and not self._fsync_paused():
                aof.fsync()
        except OSError as exc:
            if policy == "always":
                log.critical(
                    "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... (%s)", exc
                )
                os._exit(1)
            now = time.monotonic()
            if now - self._error_logged_at >= WRITE_ERROR_LOG_PERIOD_S:  # Redis's AOF_WRITE_LOG_ERROR_RATE
                self._error_logged_at = now
                log.warning("Error writing to the AOF file: %s", exc)
            self._retry_later()
            self._release()
            return
        self._release()

    def _retry_later(self) -> None:
        loop = self.server.loop
        if loop is not None and not self._commit_scheduled:
            self._commit_scheduled = True
            loop.call_later(POSTPONE_RETRY_S, self._commit)

    def _release(self) -> None:
        held, self.held = self.held, []
        for transport, data in held:
            if transport.is_closing():
                continue
            if data is None:
                transport.close()
            else:
                transport.write(data)

    def _fsync_paused(self) -> bool:
        """no-appendfsync-on-rewrite: no fsync while a rewrite writes its base."""
        aof = self.aof
        return bool(self.instance.config["no-appendfsync-on-rewrite"]) and aof is not None and aof.rewrite is not None

    # ------------------------------------------------------------- threads

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aof-fsync")
        return self._executor

    def _retire_fd(self, fd: int) -> None:
        """A file the AOF no longer writes: fsynced and closed by the worker, after any fsync
        already queued (one worker: in order)."""
        self._worker().submit(_fsync_and_close, fd)

    def cron(self) -> None:
        """From the server's cron: everysec's fsync, scheduled and automatic rewrites."""
        aof = self.aof
        if aof is None:
            return
        now = time.monotonic()
        if (
            self.instance.config.str("appendfsync") == "everysec"
            and aof.unsynced
            and now - self._last_fsync >= FSYNC_PERIOD_S
            and (self._fsync is None or self._fsync.done())
            and not self._fsync_paused()
        ):
            aof.unsynced = False
            self._last_fsync = now
            aof.pending_fsync = 1
            self._fsync = self._worker().submit(_fsync_quietly, aof.fd)
            self._fsync.add_done_callback(lambda _future: setattr(aof, "pending_fsync", 0))
        if (
            aof.rewrite is None
            and self.instance.rdb.job is None
            and (aof.rewrite_scheduled or aof.rewrite_due())
            and not aof.rewrite_limited(time.time())
        ):
            if not aof.rewrite_scheduled:
                log.info("Starting automatic rewriting of AOF on %d%% growth", self.instance.config.int("auto-aof-rewrite-percentage"))
            aof.start_rewrite()

    def _schedule_rewrite(self) -> None:
        loop = self.server.loop
        if loop is not None:
            loop.call_soon(self._rewrite_slice)

    def _rewrite_slice(self) -> None:
        aof = self.aof
        job = aof.rewrite if aof is not None else None
        if job is None:
            return
        budget_s = self.instance.config.int("engine-slice-us") / 1_000_000
        if job.step(budget_s):
            assert self.server.loop is not None
            self.server.loop.call_soon(self._rewrite_slice)


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        log.warning("Error fsyncing a retired AOF file: %s", exc)
    finally:
        os.close(fd)


def _fsync_quietly(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        log.warning("Error fsyncing the AOF: %s", exc)
