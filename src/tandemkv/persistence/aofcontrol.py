"""Everything about driving the append-only file that needs no event loop, shared by the server
(server/appendonly.py subclasses `AofControl` with group commit, held replies and an fsync
thread) and the embedded Store (which uses it as it is, synchronously):

- `load_from_disk`: what is loaded at start (loadDataFromDisk): the AOF when appendonly is
  yes, else the RDB file;
- `AofControl`: the instance's Aof turned on at start (`open`) and by CONFIG SET appendonly,
  off by CONFIG SET appendonly no and at close; `commit` writes the buffer and fsyncs as
  appendfsync says (always: before returning; everysec: once a second has passed since the
  last fsync; no: never); `cron` runs everysec's fsync and the automatic rewrite. Without a
  loop the rewrite's and the snapshot's slices are stepped by the owner (`step`). Also DEBUG
  LOADAOF (`reload`) and CONFIG SET aof-disable-auto-gc no (the history files go).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Generator

from tandemkv.commands.effects import subscribe, unsubscribe
from tandemkv.commands.session import Instance
from tandemkv.persistence.aof import Aof, AofError, BaseRewrite
from tandemkv.persistence.aof import load as load_aof
from tandemkv.persistence.aof import load_steps as load_aof_steps
from tandemkv.persistence.loading import run_to_end
from tandemkv.persistence.rdb import RdbError
from tandemkv.persistence.snapshot import load_steps as load_snapshot_steps

log = logging.getLogger("tandemkv")

FSYNC_PERIOD_S = 1.0
WRITE_ERROR_LOG_PERIOD_S = 30.0  # Redis's AOF_WRITE_LOG_ERROR_RATE


class AofControl:
    """Drives the instance's Aof (None while appendonly is no)."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.aof: Aof | None = None
        self._last_fsync = time.monotonic()
        self._error_logged_at = -WRITE_ERROR_LOG_PERIOD_S
        instance.config.watch("appendonly", self._on_appendonly)
        instance.reload_aof = self.reload
        instance.rewrite_aof_alone = self.rewrite_alone
        instance.config.watch("aof-disable-auto-gc", self._on_auto_gc)

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
        """An Aof with this driver's hooks (the server's reach its loop and threads)."""
        aof = Aof(self.instance)
        aof.schedule_rewrite = self._schedule_rewrite
        return aof

    def _schedule_rewrite(self) -> None:
        """A rewrite started: its slices run from `step`, called by the owner."""

    def _enabled(self, aof: Aof) -> None:
        self.aof = aof
        self.instance.aof = aof
        self._switched()

    def _on_auto_gc(self, disabled: object) -> None:
        """CONFIG SET aof-disable-auto-gc no: the history files kept meanwhile go now."""
        if not disabled and self.aof is not None:
            try:
                self.aof.delete_history()
            except OSError as exc:
                log.warning("Can't delete the AOF history files: %s", exc)

    def _switched(self) -> None:
        """The AOF was turned on or off (the server holds replies while it is on)."""

    def _on_appendonly(self, value: object) -> None:
        """CONFIG SET appendonly: yes starts a rewrite whose base is the dataset now and
        whose incr file takes the writes from now (startAppendOnly); no stops writing."""
        if value and self.aof is None:
            self._drop_alone(
                "AOF was enabled but there is already an AOF rewriting in background. "
                "Stopping background AOF and starting a rewrite now."
            )
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
            self.commit()
            self.aof.stop()
            self.aof = None
            self.instance.aof = None
            self._switched()

    def close(self) -> None:
        """Shutdown: everything buffered is written and fsynced, the file closed; a rewrite
        with appendonly no is dropped (as Redis kills its child)."""
        self._drop_alone()
        if self.aof is not None:
            self.commit()
            self.aof.stop()

    def _drop_alone(self, warning: str = "") -> None:
        """A rewrite with appendonly no, running or scheduled, is dropped (as Redis kills its
        child): at shutdown, and when appendonly turns on (whose own rewrite replaces it)."""
        self.instance.aof_alone_scheduled = False
        alone = self.instance.aof_alone
        if alone is not None and alone.rewrite is not None:
            if warning:
                log.warning("%s", warning)
            job = alone.rewrite
            job.abort()
            alone.rewrite_done(job, False)

    def rewrite_alone(self) -> bool:
        """BGREWRITEAOF with appendonly no: a new base (and a manifest naming it) written in
        the background as any rewrite, the Aof kept in `instance.aof_alone` meanwhile.
        Raises AofError for a manifest that cannot be read."""
        aof = self._new_aof()
        aof.load_manifest()
        self.instance.aof_alone = aof
        if not aof.start_rewrite():
            self.instance.aof_alone = None
            return False
        return True

    # ---------------------------------------------------------------- writing

    def fsync_paused(self) -> bool:
        """no-appendfsync-on-rewrite: no fsync while a rewrite writes its base."""
        aof = self.aof
        return bool(self.instance.config["no-appendfsync-on-rewrite"]) and aof is not None and aof.rewrite is not None

    def commit(self) -> None:
        """Write the buffer to the file and fsync as appendfsync says (everysec: if a second
        has passed since the last fsync). Raises OSError under `always` (the caller must not
        acknowledge the write); under the others a failure is logged (at most every 30 s),
        the unwritten bytes wait for the next commit, and writes are refused with MISCONF
        meanwhile."""
        aof = self.aof
        if aof is None:
            return
        policy = self.instance.config.str("appendfsync")
        try:
            self.write_out(aof, policy)
        except OSError as exc:
            if policy == "always":
                raise
            self.log_write_error(exc)
            return
        now = time.monotonic()
        if self._fsync_due(aof, now):
            self._periodic_fsync(aof, now)

    def write_out(self, aof: Aof, policy: str) -> None:
        """The buffer written to the file, and fsynced under `always` (unless a rewrite pauses
        fsyncs); raises OSError. What a failure means is the caller's (the Store raises, the
        server stops under `always`)."""
        aof.flush()
        if policy == "always" and not self.fsync_paused():
            aof.fsync()

    def log_write_error(self, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._error_logged_at >= WRITE_ERROR_LOG_PERIOD_S:
            self._error_logged_at = now
            log.warning("Error writing to the AOF file: %s", exc)

    def _fsync_due(self, aof: Aof, now: float) -> bool:
        """everysec: written since the last fsync, and that was a second ago or more."""
        return (
            self.instance.config.str("appendfsync") == "everysec"
            and aof.unsynced
            and now - self._last_fsync >= FSYNC_PERIOD_S
            and not self.fsync_paused()
        )

    def _periodic_fsync(self, aof: Aof, now: float) -> None:
        """everysec's fsync, here and now (the server runs it in a thread)."""
        aof.unsynced = False
        self._last_fsync = now
        fsync_quietly(aof.fd)

    def cron(self) -> None:
        """Periodically: everysec's fsync, scheduled and automatic rewrites."""
        aof = self.aof
        instance = self.instance
        if aof is None:
            if instance.aof_alone_scheduled and instance.rdb.job is None and instance.aof_alone is None:
                instance.aof_alone_scheduled = False  # BGREWRITEAOF with appendonly no, after a BGSAVE
                try:
                    self.rewrite_alone()
                except (AofError, OSError) as exc:
                    log.warning("Can't rewrite append only file in background: %s", exc)
            return
        now = time.monotonic()
        if self._fsync_due(aof, now):
            self._periodic_fsync(aof, now)
        if (
            aof.rewrite is None
            and self.instance.rdb.job is None
            and self.instance.aof_alone is None
            and (aof.rewrite_scheduled or aof.rewrite_due())
            and not aof.rewrite_limited(time.time())
        ):
            if not aof.rewrite_scheduled:
                log.info("Starting automatic rewriting of AOF on %d%% growth", self.instance.config.int("auto-aof-rewrite-percentage"))
            aof.start_rewrite()

    def reload(self) -> str | None:
        """DEBUG LOADAOF: the buffer written and fsynced, every database emptied, the AOF
        named by the manifest on disk loaded again (history files deleted first), nothing
        of it fed back to the AOF. None when done, else the reason (Redis exits then)."""
        aof = self.aof
        loader = aof or Aof(self.instance)  # appendonly no: the files on disk all the same
        try:
            if aof is not None:
                self.commit()
                aof.fsync()
            for db in self.instance.dbs:
                db.flush()
            if loader.load_manifest():
                loader.delete_history()
            if aof is not None:
                unsubscribe(self.instance, aof.feed)
            try:
                if load_aof(self.instance, loader) is None:
                    return "no append-only file"
            finally:
                if aof is not None:
                    subscribe(self.instance, aof.feed)
        except (AofError, RdbError, OSError) as exc:
            log.warning("DEBUG LOADAOF failed: %s", exc)
            return str(exc)
        return None

    def step(self, budget_s: float) -> bool:
        """One slice of the rewrite in progress (its base file); True while more remains."""
        job = self._rewrite_job()
        return job is not None and job.step(budget_s)

    def rewrite_waiting(self) -> bool:
        """The rewrite's last slice stopped to wait (for the disk, or rdb-key-save-delay's
        pace): its next one is better run a little later than at once."""
        job = self._rewrite_job()
        return job is not None and job.waiting

    def _rewrite_job(self) -> BaseRewrite | None:
        aof = self.aof or self.instance.aof_alone
        return aof.rewrite if aof is not None else None


def fsync_quietly(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        log.warning("Error fsyncing the AOF: %s", exc)


def load_from_disk_steps(instance: Instance, control: AofControl) -> Generator[None, None, int | None]:
    """Load the append-only file when appendonly is yes, else the RDB file (`dir`/
    `dbfilename`), as Redis's loadDataFromDisk, a batch between yields (the server runs them
    in slices): the keys loaded, None if there is nothing to load. Raises AofError, RdbError
    or OSError."""
    if instance.config["appendonly"]:
        return (yield from control.load_steps())
    return (yield from load_snapshot_steps(instance))


def load_from_disk(instance: Instance, control: AofControl) -> int | None:
    """`load_from_disk_steps` run to its end at once (the embedded Store), the keys loaded
    logged as the server logs them."""
    started = time.monotonic()
    count = run_to_end(load_from_disk_steps(instance, control))
    if count is not None:
        log.info("DB loaded from disk: %d keys in %.3f seconds", count, time.monotonic() - started)
    return count
