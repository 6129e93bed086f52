"""The server's side of the append-only file (persistence/aof.py): when its buffer is written,
when it is fsynced, and when replies may leave.

- Writes of one loop iteration gather in the AOF's buffer; one callback (`commit`, scheduled
  when the buffer stops being empty) writes them at the start of the next iteration, before
  any new request is read. While the buffer or held replies are pending, every connection
  hands its outgoing bytes to `hold` instead of its transport, and `commit` releases them in
  order once the buffer is written: as in Redis (beforeSleep writes the AOF, then the
  replies), a reply never leaves before the write it acknowledges is in the file, so killing
  the process loses no acknowledged write under any policy.
- appendfsync always: group commit. `commit` also fsyncs before releasing the replies: a
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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from tandemkv.persistence.aof import Aof
from tandemkv.persistence.aofcontrol import AofControl, fsync_quietly

if TYPE_CHECKING:
    from tandemkv.server.app import Server

log = logging.getLogger("tandemkv")

MAX_WRITE_DELAY_S = 2.0  # everysec: how long a write waits for a running fsync (Redis: 2 s)
REWRITE_WAIT_S = 0.001  # a rewrite waiting for the disk (or its pace) looks again this much later
POSTPONE_RETRY_S = 0.01


class AppendOnly(AofControl):
    """Drives the instance's Aof from the event loop (loading, turning it on and off, the
    automatic rewrite: persistence/aofcontrol.py)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        # Bytes for transports held until the next commit (appendfsync always); None as the
        # data means "close this transport" (QUIT after a write).
        self.held: list[tuple[asyncio.Transport, bytes | None]] = []
        self.hold_replies = False  # the AOF is on: connections check this
        self._commit_scheduled = False
        self._executor: ThreadPoolExecutor | None = None
        self._fsync: Future[None] | None = None
        self._postponed_since = 0.0
        super().__init__(server.instance)

    # ------------------------------------------------------------- lifecycle

    def _new_aof(self) -> Aof:
        aof = super()._new_aof()
        aof.on_pending = self._schedule_commit
        aof.retire_fd = self._retire_fd
        return aof

    def close(self) -> None:
        """Shutdown: everything buffered is written and fsynced."""
        super().close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _switched(self) -> None:
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
            self.server.loop.call_soon(self.commit)

    def commit(self) -> None:
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
            self.write_out(aof, policy)
        except OSError as exc:
            if policy == "always":
                log.critical(
                    "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... (%s)", exc
                )
                os._exit(1)
            self.log_write_error(exc)
            self._retry_later()
        self._release()

    def _retry_later(self) -> None:
        loop = self.server.loop
        if loop is not None and not self._commit_scheduled:
            self._commit_scheduled = True
            loop.call_later(POSTPONE_RETRY_S, self.commit)

    def _release(self) -> None:
        held, self.held = self.held, []
        for transport, data in held:
            if transport.is_closing():
                continue
            if data is None:
                transport.close()
            else:
                transport.write(data)

    # ------------------------------------------------------------- threads

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aof-fsync")
        return self._executor

    def _retire_fd(self, fd: int) -> None:
        """A file the AOF no longer writes: fsynced and closed by the worker, after any fsync
        already queued (one worker: in order)."""
        self._worker().submit(_fsync_and_close, fd)

    def _fsync_due(self, aof: Aof, now: float) -> bool:
        return super()._fsync_due(aof, now) and (self._fsync is None or self._fsync.done())

    def _periodic_fsync(self, aof: Aof, now: float) -> None:
        """everysec: in the worker thread, so a slow disk does not stall the loop."""
        aof.unsynced = False
        self._last_fsync = now
        aof.pending_fsync = 1
        self._fsync = self._worker().submit(fsync_quietly, aof.fd)
        self._fsync.add_done_callback(lambda _future: setattr(aof, "pending_fsync", 0))

    def _schedule_rewrite(self) -> None:
        loop = self.server.loop
        if loop is not None:
            loop.call_soon(self._rewrite_slice)

    def _rewrite_slice(self) -> None:
        budget_s = self.instance.config.int("engine-slice-us") / 1_000_000
        if self.step(budget_s):
            assert self.server.loop is not None
            if self.rewrite_waiting():  # for the disk or rdb-key-save-delay: no busy loop
                self.server.loop.call_later(REWRITE_WAIT_S, self._rewrite_slice)
            else:
                self.server.loop.call_soon(self._rewrite_slice)


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        log.warning("Error fsyncing a retired AOF file: %s", exc)
    finally:
        os.close(fd)
