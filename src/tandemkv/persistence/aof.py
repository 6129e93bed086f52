"""The append-only file, Redis 7.0's multi-part layout (aof.c), fed by the stream of effects.

In `dir`/`appenddirname`:

    appendonly.aof.manifest          which files make the dataset, one line each:
                                     "file <name> seq <n> type <b|h|i>"
    appendonly.aof.<n>.base.rdb      the base: an RDB image (aof-base aux field 1)
    appendonly.aof.<n>.base.aof      or a base of commands (aof-use-rdb-preamble no: aofbase.py)
    appendonly.aof.<n>.incr.aof      the effects since that base, as RESP command arrays
                                     (with aof-timestamp-enabled, a "#TS:<unix s>" line before
                                     the first command of each new second, as Redis writes)

Writing (`Aof`): each unit of effects (commands/effects.py) is encoded into `buffer`, with a
SELECT whenever the database changes; the server layer `flush`es the buffer to the open incr
file once per loop iteration and decides when to fsync (appendfsync: always, before the
replies of that iteration are sent; everysec, in a thread; no, never). Nothing here runs
threads or an event loop.

Rewriting (BGREWRITEAOF, the automatic rewrite, CONFIG SET appendonly yes): a new incr file is
opened at once and takes the writes from then on; the base is a fork-less snapshot of the same
moment (persistence/snapshot.py) written to a temp file; when it is complete, the manifest
is replaced atomically (write temp, fsync, rename, fsync the directory) naming the new base
and the new incr file, and the files it no longer names (history) are deleted.

Loading (`load`): the manifest's base, then each incr file, replayed through the dispatcher
with a session of its own. A truncated last file loads up to its last complete command when
aof-load-truncated is yes (the tail is cut off, as Redis does); any other damage refuses to
start with the file, the offset and what to do, and no file is changed.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

from hiredis import pack_command

from tandemkv.commands.dispatch import call
from tandemkv.commands.effects import Unit, subscribe, unsubscribe
from tandemkv.commands.monitoring import quoted
from tandemkv.commands.session import Instance, Session
from tandemkv.commands.table import TABLE, command
from tandemkv.errors import CommandError
from tandemkv.persistence.aofbase import CommandWriter, timestamp_annotation
from tandemkv.persistence.loading import LOAD_BATCH, loading, run_to_end
from tandemkv.persistence.rdb import FileWriter, RdbError, crc64
from tandemkv.persistence.snapshot import BackgroundSave, load_image_steps
from tandemkv.protocol import Simple
from tandemkv.protocol.parser import split_args

log = logging.getLogger("tandemkv.persistence")

BASE, HISTORY, INCR = "b", "h", "i"
CHECK_AOF_HINT = "make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
REWRITE_IN_PROGRESS = "ERR Background append only file rewriting already in progress"
REWRITE_FAILED = (
    "ERR Can't execute an AOF background rewriting. Please check the server logs for more information."
)


class AofError(Exception):
    """The append-only file cannot be loaded (the message says which file, where, and what to
    do) or written."""


# ------------------------------------------------------------------- the manifest

@dataclass
class AofFile:
    name: str
    seq: int
    kind: str  # b, h, i


@dataclass
class Manifest:
    base: AofFile | None = None
    history: list[AofFile] = field(default_factory=list)
    incrs: list[AofFile] = field(default_factory=list)

    def text(self) -> str:
        """The manifest as Redis writes it: base, history, incr files (getAofManifestAsString)."""
        files = ([self.base] if self.base else []) + self.history + self.incrs
        return "".join(f"file {_quoted(f.name)} seq {f.seq} type {f.kind}\n" for f in files)

    def next_incr(self, prefix: str) -> AofFile:
        seq = self.incrs[-1].seq + 1 if self.incrs else 1
        return AofFile(f"{prefix}.{seq}.incr.aof", seq, INCR)

    def next_base(self, prefix: str, rdb: bool) -> AofFile:
        """The next base file: an RDB image (`rdb`, aof-use-rdb-preamble yes) or commands."""
        seq = self.base.seq + 1 if self.base else 1
        return AofFile(f"{prefix}.{seq}.base.{'rdb' if rdb else 'aof'}", seq, BASE)


def _quoted(name: str) -> str:
    """As aofInfoFormat: sdscatrepr when sdsneedsrepr (a backslash, a double quote, a space
    or an unprintable byte), else the name as it is; unlike Redis, a single quote is quoted
    too (sdssplitargs could not read such a name back)."""
    if all(33 <= ord(ch) < 127 and ch not in "\"'\\" for ch in name):
        return name
    return quoted(name.encode("latin-1")).decode("latin-1")


MANIFEST_MAX_LINE = 1024


def parse_manifest(text: str, path: str) -> Manifest:
    """aofLoadManifestFromFile's checks, in its order, with its messages."""
    manifest = Manifest()
    last_incr = 0
    lines = text.split("\n")
    complete = lines[:-1]  # every line that ends with a newline; lines[-1] is what follows the last
    if not text:
        raise AofError(f"Found an empty AOF manifest ({path})")
    for number, line in enumerate([*complete, lines[-1]] if lines[-1] else complete, start=1):
        if line.startswith("#"):
            continue
        if number > len(complete) or len(line) + 1 > MANIFEST_MAX_LINE:
            raise AofError(f"The AOF manifest file contains too long line ({path}, line {number})")
        stripped = line.strip(" \t\r\n")
        bad = AofError(f"Invalid AOF manifest file format ({path}, line {number}: '{stripped}')")
        words = [word.decode("latin-1") for word in split_args(stripped.encode("latin-1")) or []]
        if len(words) < 6 or len(words) % 2:
            raise bad
        name, seq, kind = None, 0, ""
        for key, value in zip(words[::2], words[1::2], strict=True):
            key = key.lower()
            if key == "file":
                if "/" in value:
                    raise AofError(f"File can't be a path, just a filename ({path}, line {number})")
                name = value
            elif key == "seq":
                seq = _atoll(value)
            elif key == "type":
                kind = value[:1]
        if not name or not seq or not kind:
            raise bad
        entry = AofFile(name, seq, kind)
        if kind == BASE:
            if manifest.base is not None:
                raise AofError(f"Found duplicate base file information ({path}, line {number})")
            manifest.base = entry
        elif kind == HISTORY:
            manifest.history.append(entry)
        elif kind == INCR:
            if seq <= last_incr:
                raise AofError(f"Found a non-monotonic sequence number ({path}, line {number})")
            last_incr = seq
            manifest.incrs.append(entry)
        else:
            raise AofError(f"Unknown AOF file type ({path}, line {number})")
    return manifest


def _atoll(text: str) -> int:
    """C's atoll: the leading integer, 0 if none."""
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group()) if match else 0


def _fsync_dir(path: str) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ----------------------------------------------------------------------- writing

class Aof:
    """The append-only file of one instance while `appendonly` is yes."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        config = instance.config
        self.prefix = config.str("appendfilename")
        self.dir = os.path.join(config.str("dir"), config.str("appenddirname"))
        self.manifest_name = self.prefix + ".manifest"
        self.manifest = Manifest()
        self.buffer = bytearray()
        self.selected_db = -1
        self.timestamp_s = 0  # the last #TS annotation written (aof_cur_timestamp)
        self.fd = -1
        self.incr_size = 0  # bytes of the open incr file
        self.rotated_size = 0  # bytes of the incr files before it (a rewrite in progress)
        self.base_size = 0  # aof_rewrite_base_size: the AOF's size after the last rewrite
        self.unsynced = False  # written since the last fsync
        self.last_write_ok = True
        self.last_write_error = ""
        self.rewrite: BaseRewrite | None = None
        self.rewrite_scheduled = False
        # CONFIG SET appendonly yes (Redis's AOF_WAIT_REWRITE): until the first rewrite is
        # complete, writes go to a temp incr file that the manifest does not name yet.
        self.waiting_rewrite = False
        self.subscribed = False
        self.upgrade_from: str | None = None  # a pre-7.0 AOF in `dir`, loaded as the base
        self.retry_delay_min = 0  # aofRewriteLimited: after 3 failures in a row, wait 1, 2, 4 ... 60 min
        self.retry_at_s = 0.0
        self.rewrite_started = 0.0
        self.last_rewrite_s = -1
        self.last_rewrite_ok = True
        self.rewrites = 0
        self.rewrite_failures = 0
        self.delayed_fsync = 0
        self.pending_fsync = 0
        # The server's hooks: writes are waiting in `buffer`; a rewrite's slices should run.
        self.on_pending: Callable[[], None] = lambda: None
        self.schedule_rewrite: Callable[[], None] | None = None
        # Retire a file descriptor (fsync and close it off the loop); set by the server.
        self.retire_fd: Callable[[int], None] = _fsync_and_close

    # -------------------------------------------------------------- the stream

    def feed(self, unit: Unit) -> None:
        """Consume one unit of effects (commands/effects.py): encoded into the buffer."""
        buffer = self.buffer
        was_empty = not buffer
        if self.instance.config["aof-timestamp-enabled"]:
            now_s = self.instance.clock.now_ms() // 1000
            if now_s > self.timestamp_s:  # genAofTimestampAnnotationIfNeeded
                self.timestamp_s = now_s
                buffer += timestamp_annotation(now_s)
        for db_index, argv in unit:
            if db_index != self.selected_db:
                index = str(db_index).encode()
                buffer += b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%b\r\n" % (len(index), index)
                self.selected_db = db_index
            buffer += pack_command(tuple(argv))  # a RESP array of bulk strings, in C
        if was_empty and buffer:
            self.on_pending()

    def flush(self) -> int:
        """Write the buffer to the incr file (no fsync): the bytes written. Raises OSError
        (a short write keeps the rest in the buffer)."""
        buffer = self.buffer
        if not buffer or self.fd < 0:
            return 0
        if self.instance.aof_flush_sleep_us > 0:  # DEBUG AOF-FLUSH-SLEEP
            time.sleep(self.instance.aof_flush_sleep_us / 1_000_000)
        written = 0
        view = memoryview(buffer)
        try:
            while written < len(buffer):
                written += os.write(self.fd, view[written:])
        except OSError as exc:
            self._write_failed(exc.strerror or str(exc))
            raise
        finally:
            view.release()
            del buffer[:written]
            self.incr_size += written
            if written:
                self.unsynced = True
        if not self.last_write_ok:
            log.warning("AOF write error looks solved, Redis can write again.")
            self._write_failed("")
        return written

    def _write_failed(self, error: str) -> None:
        """Record the last write's outcome ("" when it succeeded); writes are refused with
        MISCONF while it failed (the effect stream carries the refusal to the dispatcher)."""
        self.last_write_ok = not error
        self.last_write_error = error
        effects = self.instance.effects
        if effects is not None and self.subscribed:
            effects.write_error = error

    def fsync(self) -> None:
        if self.fd >= 0 and self.unsynced:
            self.unsynced = False
            os.fsync(self.fd)

    @property
    def current_size(self) -> int:
        """aof_current_size: the base and every incr file named by the manifest."""
        return self.base_size + self.incr_size + self.rotated_size

    # ------------------------------------------------------------------ files

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def load_manifest(self) -> bool:
        """Read the manifest if there is one (False if not). Raises AofError."""
        path = self.path(self.manifest_name)
        try:
            with open(path, encoding="latin-1") as source:
                text = source.read()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise AofError(f"Fatal error: can't open the AOF manifest {self.manifest_name} for reading: {exc.strerror}") from exc
        self.manifest = parse_manifest(text, self.manifest_name)
        return True

    def persist_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest atomically: temp file, fsync, rename, fsync the directory."""
        temp = self.path("temp-" + self.manifest_name)
        with open(temp, "w", encoding="latin-1") as out:
            out.write(manifest.text())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path(self.manifest_name))
        _fsync_dir(self.dir)
        self.manifest = manifest

    def open_incr(self, name: str, truncate: bool = False) -> None:
        """Make `name` the file that takes the writes (the previous one is retired)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        fd = os.open(self.path(name), flags, 0o644)
        old = self.fd
        self.fd = fd
        self.incr_size = os.fstat(fd).st_size
        self.unsynced = False
        self.selected_db = -1  # a new file starts with a SELECT
        if old >= 0:
            self.retire_fd(old)

    def start(self) -> None:
        """Open for writing at start-up (aofOpenIfNeededOnServerStart): with nothing on disk
        a base of the current (loaded) dataset is written first, synchronously."""
        os.makedirs(self.dir, exist_ok=True)
        if self.upgrade_from is not None:
            os.replace(self.upgrade_from, self.path(self.prefix))
            self.upgrade_from = None
            log.info("Successfully migrated an old-style AOF %s into the AOF directory", self.prefix)
        manifest = self.manifest
        if manifest.base is None and not manifest.incrs:
            base = manifest.next_base(self.prefix, bool(self.instance.config["aof-use-rdb-preamble"]))
            job = BaseRewrite(self, base, None, at_once=True)
            while job.step(1.0):
                pass
            if not job.ok:
                raise AofError(f"Can't write the AOF base file {base.name}")
            log.info("Creating AOF base file %s on server start", base.name)
            manifest = self.manifest
        if not manifest.incrs:
            manifest = Manifest(manifest.base, list(manifest.history), [manifest.next_incr(self.prefix)])
        self.open_incr(manifest.incrs[-1].name)
        self.persist_manifest(manifest)
        self.rotated_size = sum(self._size(f.name) for f in manifest.incrs[:-1])
        self.base_size = self.current_size
        self._subscribe()

    def _subscribe(self) -> None:
        if not self.subscribed:
            subscribe(self.instance, self.feed)
            self.subscribed = True

    @property
    def temp_incr_name(self) -> str:
        return f"temp-{self.prefix}.incr"

    def _size(self, name: str) -> int:
        try:
            return os.stat(self.path(name)).st_size
        except OSError:
            return 0

    def stop(self) -> None:
        """appendonly no: stop consuming, write and fsync what is buffered, close."""
        if self.instance.effects is not None:
            self.instance.effects.write_error = ""
        unsubscribe(self.instance, self.feed)
        self.subscribed = False
        if self.rewrite is not None:
            self.rewrite.abort()
        try:
            self.flush()
            self.fsync()
        except OSError as exc:
            log.warning("Error writing the AOF on stop: %s", exc)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.waiting_rewrite:  # its writes are in no manifest: the file goes
            try:
                os.unlink(self.path(self.temp_incr_name))
            except OSError:
                pass

    # --------------------------------------------------------------- rewrite

    def start_rewrite(self) -> bool:
        """BGREWRITEAOF: a new incr file takes the writes now, the new base is written in the
        background (rewriteAppendOnlyFileBackground). Without an open AOF (appendonly no) the
        rewrite writes only a new base. False if it could not start."""
        alone = self.instance.aof_alone
        if self.rewrite is not None or self.instance.rdb.job is not None or (alone is not None and alone is not self):
            self.rewrite_scheduled = True
            return True
        self.rewrite_scheduled = False
        try:
            os.makedirs(self.dir, exist_ok=True)
            self.flush()
            previous = self.manifest
            base = previous.next_base(self.prefix, bool(self.instance.config["aof-use-rdb-preamble"]))
            incr = None
            if self.waiting_rewrite:
                # The files on disk are stale: the manifest changes only once the new base
                # is complete. The temp incr file takes the writes from the snapshot's
                # moment (emptied again if an earlier attempt failed: the new base holds
                # them), and becomes the new incr file when the base is complete.
                incr = previous.next_incr(self.prefix)
                self.open_incr(self.temp_incr_name, truncate=True)
                self._subscribe()
            elif self.fd >= 0:
                incr = previous.next_incr(self.prefix)
                self.open_incr(incr.name)
                # The new incr file joins the manifest at once, so a crash during the
                # rewrite still loads every write (Redis's INCR list grows the same way).
                self.persist_manifest(Manifest(previous.base, list(previous.history), [*previous.incrs, incr]))
                self.rotated_size = sum(self._size(f.name) for f in previous.incrs)
            BaseRewrite(self, base, incr)
        except OSError as exc:
            log.warning("Can't rewrite append only file in background: %s", exc)
            self.last_rewrite_ok = False
            self.rewrite_failures += 1
            return False
        self.rewrite_started = time.monotonic()
        log.info("Background append only file rewriting started")
        if self.schedule_rewrite is None:
            while self.rewrite is not None and self.rewrite.step(1.0):
                pass
        else:
            self.schedule_rewrite()
        return True

    def enable_at_runtime(self) -> None:
        """CONFIG SET appendonly yes (startAppendOnly): a rewrite writes the dataset as a new
        base, and the writes from that moment go to a new incr file; the manifest names
        them once the base is complete. Raises OSError."""
        os.makedirs(self.dir, exist_ok=True)
        self.waiting_rewrite = True
        if not self.start_rewrite():
            raise OSError("the AOF rewrite could not start")

    def rewrite_done(self, job: BaseRewrite, ok: bool) -> None:
        """The base of a rewrite is complete (or failed): swap the manifest, drop history."""
        self.rewrite = None
        if self.instance.aof_alone is self:
            self.instance.aof_alone = None
        background = self.rewrite_started > 0  # not the base written at start-up
        if background:
            self.last_rewrite_s = int(time.monotonic() - self.rewrite_started)
        if ok:
            try:
                if self.waiting_rewrite and job.incr is not None:
                    os.replace(self.path(self.temp_incr_name), self.path(job.incr.name))
                    self.waiting_rewrite = False
                old = self.manifest
                kept = [job.incr] if job.incr is not None else []
                # Redis's order: the rewritten incr files, the old base, the older history.
                history = [AofFile(f.name, f.seq, HISTORY) for f in old.incrs if f not in kept]
                history += [AofFile(f.name, f.seq, HISTORY) for f in ([old.base] if old.base else []) + old.history]
                self.persist_manifest(Manifest(job.base, history, kept))
                self.rotated_size = 0
                self.base_size = self._size(job.base.name) + (self.incr_size if kept else 0)
                self.delete_history()
            except OSError as exc:
                log.warning("Error trying to rename the temporary AOF base file: %s", exc)
                ok = False
        job.ok = ok
        if not background:
            return
        self.last_rewrite_ok = ok
        if ok:
            self.rewrites += 1
            self.rewrite_failures = 0
            log.info("Background AOF rewrite finished successfully")
        else:
            self.rewrite_failures += 1
            self.rewrite_scheduled = self.waiting_rewrite
            log.warning("Background AOF rewrite failed")

    def delete_history(self) -> None:
        """aofDelHistoryFiles: the files of earlier bases and incr files go, and the manifest
        stops naming them (not while aof-disable-auto-gc is yes)."""
        manifest = self.manifest
        if not manifest.history or self.instance.config["aof-disable-auto-gc"]:
            return
        for entry in manifest.history:
            try:
                os.unlink(self.path(entry.name))
            except FileNotFoundError:
                pass
            log.info("Removing the history file %s in the background", entry.name)
        self.persist_manifest(Manifest(manifest.base, [], list(manifest.incrs)))

    def rewrite_limited(self, now_s: float) -> bool:
        """aofRewriteLimited: after 3 failed rewrites in a row, automatic and scheduled ones
        wait 1 minute, then 2, 4 ... up to 60 between attempts."""
        if self.rewrite_failures < 3:
            self.retry_delay_min = 0
            self.retry_at_s = 0.0
            return False
        if self.retry_at_s:
            if now_s < self.retry_at_s:
                return True
            self.retry_at_s = 0.0
            return False
        self.retry_delay_min = min(self.retry_delay_min * 2 or 1, 60)
        self.retry_at_s = now_s + self.retry_delay_min * 60
        log.warning(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in %d minutes",
            self.retry_delay_min,
        )
        return True

    def rewrite_due(self) -> bool:
        """auto-aof-rewrite-percentage / -min-size (serverCron): the AOF grew that much over
        its size after the last rewrite (or at start)."""
        config = self.instance.config
        percentage = config.int("auto-aof-rewrite-percentage")
        if not percentage or self.rewrite is not None or self.instance.rdb.job is not None:
            return False
        size = self.current_size
        if size < config.int("auto-aof-rewrite-min-size"):
            return False
        base = self.base_size or 1
        return (size - base) * 100 // base >= percentage

    def info(self) -> list[str]:
        """INFO persistence's AOF fields while appendonly is yes (after the common ones)."""
        return [
            f"aof_current_size:{self.current_size}",
            f"aof_base_size:{self.base_size}",
            f"aof_pending_rewrite:{int(self.rewrite_scheduled)}",
            f"aof_buffer_length:{len(self.buffer)}",
            f"aof_pending_bio_fsync:{self.pending_fsync}",
            f"aof_delayed_fsync:{self.delayed_fsync}",
        ]


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BaseRewrite(BackgroundSave):
    """The base file of a rewrite: a fork-less snapshot to temp-rewriteaof-bg-<pid>.aof,
    renamed to the base's name once complete; `incr` is the file opened with it (None: no
    incr file, at start-up or with appendonly no). Its file I/O, the last writes, fsync and
    rename included, runs in the server's thread (`SaveState.offload`) unless `at_once`
    (the base written at start-up, before the AOF opens)."""

    def __init__(self, aof: Aof, base: AofFile, incr: AofFile | None, at_once: bool = False) -> None:
        self.aof = aof
        self.base = base
        self.incr = incr
        self.ok = False
        config = aof.instance.config
        writer: Callable[[BinaryIO, bool], FileWriter] = FileWriter
        if not config["aof-use-rdb-preamble"]:
            timestamp_s = aof.instance.clock.now_ms() // 1000 if config["aof-timestamp-enabled"] else None
            writer = partial(CommandWriter, timestamp_s=timestamp_s)
        super().__init__(
            aof.instance,
            path=aof.path(base.name),
            temp=aof.path(f"temp-rewriteaof-bg-{os.getpid()}.aof"),
            aof_base=True,
            writer=writer,
            offload=not at_once,
        )
        aof.rewrite = self

    def _detach(self) -> None:
        if self.aof.rewrite is self:
            self.aof.rewrite = None

    def _complete(self, exc: BaseException | None) -> None:
        """The base is written, fsynced and renamed into place (BackgroundSave._finish: in the
        server's thread, then here on the loop), or failed: the manifest follows."""
        if self.aof.rewrite is not self:  # aborted meanwhile (appendonly no, shutdown)
            return
        self.sync_wait = None
        self._detach()
        if exc is not None:
            log.warning("Error writing the AOF base file: %s", exc)
            self.abort()
            self.aof.rewrite_done(self, False)
            return
        self.aof.rewrite_done(self, True)

    def abort(self) -> None:
        """Stop: as BackgroundSave.abort, and a base already renamed into place by the thread
        goes too (no manifest names it)."""
        syncing = self.sync_wait is not None
        super().abort()
        if syncing:
            try:
                os.unlink(self.path)
            except OSError:
                pass


# ----------------------------------------------------------------------- loading

class _Truncated(Exception):
    """The file ends inside a command."""


def _read_command(data: bytes, pos: int, filename: str) -> tuple[list[bytes] | None, int]:
    """One RESP command array from `data` at `pos`: (argv, the offset after it); (None, pos)
    for an annotation line. Raises _Truncated or AofError (bad format)."""
    end = data.find(b"\n", pos)
    if end < 0:
        raise _Truncated
    line = data[pos:end]
    if line.startswith(b"#"):
        return None, end + 1
    bad = AofError(f"Bad file format reading the append only file {filename} at offset {pos}: {CHECK_AOF_HINT}")
    if not line.startswith(b"*"):
        raise bad
    try:
        argc = int(line[1:].rstrip(b"\r"))
    except ValueError:
        raise bad from None
    if argc < 1:
        raise bad
    pos = end + 1
    argv = []
    for _ in range(argc):
        end = data.find(b"\n", pos)
        if end < 0:
            raise _Truncated
        if data[pos:pos + 1] != b"$":
            raise bad
        try:
            length = int(data[pos + 1:end].rstrip(b"\r"))
        except ValueError:
            raise bad from None
        pos = end + 1
        if pos + length + 2 > len(data):
            raise _Truncated
        argv.append(data[pos:pos + length])
        pos += length + 2
    return argv, pos


def _loading_session(instance: Instance) -> Session:
    session = Session(instance, 0)  # not listed among the clients (Redis's fake AOF client)
    session.authenticated = True
    return session


def replay(instance: Instance, session: Session, data: bytes, filename: str, truncated_ok: bool,
           offset: int = 0) -> Generator[None, None, tuple[int, int | None]]:
    """Run the commands of one AOF file (or the tail after an RDB preamble, found at `offset`
    of the files being loaded), a batch between yields: (commands run, the offset to truncate
    the file at, or None when it is whole). Raises AofError."""
    state = instance.loading
    pos = 0
    valid = 0
    before_multi = 0
    queued: list[tuple[object, list[bytes]]] | None = None
    count = 0
    size = len(data)
    while pos < size:
        try:
            argv, after = _read_command(data, pos, filename)
        except _Truncated:
            return count, _short_read(filename, valid if queued is None else before_multi, truncated_ok)
        pos = after
        if argv is None:
            continue
        try:
            spec = TABLE.resolve(argv)
        except CommandError:
            raise AofError(f"Unknown command '{argv[0].decode('latin-1')}' reading the append only file {filename}") from None
        name = spec.full_name
        if name == "multi":
            before_multi = valid
            queued = []
        elif name == "exec" and queued is not None:
            instance.atomic_depth += 1
            try:
                for queued_spec, queued_argv in queued:
                    call(session, queued_spec, queued_argv)  # type: ignore[arg-type]
            finally:
                instance.atomic_depth -= 1
            queued = None
        elif queued is not None:
            queued.append((spec, argv))
        else:
            call(session, spec, argv)
        count += 1
        valid = pos
        if not count % LOAD_BATCH:
            if state is not None:
                state.loaded_bytes = offset + pos
            yield
    if queued is not None:
        log.warning("Revert incomplete MULTI/EXEC transaction in AOF file %s", filename)
        return count, _short_read(filename, before_multi, truncated_ok)
    return count, None


def _short_read(filename: str, valid: int, truncated_ok: bool) -> int:
    if not truncated_ok:
        raise AofError(
            f"Unexpected end of file reading the append only file {filename} (last complete command ends at "
            f"offset {valid}). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
            "<filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option "
            "to yes and restart the server."
        )
    log.warning("!!! Warning: short read while loading the AOF file %s!!!", filename)
    log.warning("!!! Truncating the AOF %s at offset %d !!!", filename, valid)
    return valid


def load(instance: Instance, aof: Aof) -> int | None:
    """Load the AOF at once: `load_steps` run to its end."""
    return run_to_end(load_steps(instance, aof))


def load_steps(instance: Instance, aof: Aof) -> Generator[None, None, int | None]:
    """Load the AOF named by the manifest (loadAppendOnlyFiles), a batch of commands between
    yields (persistence/loading.py), the instance marked loading meanwhile: the keys loaded,
    or None when there is no AOF. Raises AofError with a message that names the file and
    offset."""
    legacy = os.path.join(instance.config.str("dir"), aof.prefix)
    if not aof.load_manifest():
        if not os.path.isfile(legacy):
            return None
        # An AOF of Redis before 7.0 (one file in `dir`): the base of a new manifest, moved
        # into the AOF directory when writing starts (aofUpgradePrepare).
        aof.manifest = Manifest(AofFile(aof.prefix, 1, BASE))
        aof.upgrade_from = legacy
    manifest = aof.manifest
    base = manifest.base
    if base is not None and base.name == aof.prefix and not os.path.exists(aof.path(base.name)) and os.path.isfile(legacy):
        aof.upgrade_from = legacy  # an upgrade interrupted before the file was moved
    files = ([base] if base else []) + manifest.incrs
    session = _loading_session(instance)
    truncated_ok = bool(instance.config["aof-load-truncated"])
    # The file holds the keyspace-event stream's own XADDs: replayed commands append nothing.
    event_stream, instance.event_stream = instance.event_stream, None
    try:
        with loading(instance, sum(_size(_path_of(aof, entry)) for entry in files)):
            yield from _load_files(instance, aof, files, session, truncated_ok)
    finally:
        instance.event_stream = event_stream
    instance.rdb.dirty = 0
    return sum(len(db) for db in instance.dbs)


def _load_rdb_part(instance: Instance, data: bytes, filename: str, offset: int) -> Generator[None, None, int]:
    """Load the RDB image a file starts with (a whole base, or the preamble of a pre-7.0
    AOF); the offset where the commands after it start. Raises AofError."""
    try:
        yield from load_image_steps(instance, data, offset)
        return len(data)
    except RdbError as exc:
        end = _preamble_end(data)
        if not end:
            raise AofError(f"Error reading the RDB base file {filename}, AOF loading aborted: {exc}") from exc
    try:
        yield from load_image_steps(instance, data[:end], offset)
    except RdbError as exc:
        raise AofError(f"Error reading the RDB preamble of the AOF file {filename}, AOF loading aborted: {exc}") from exc
    return end


def _preamble_end(data: bytes) -> int:
    """Where the RDB image at the start of an AOF file ends: after an EOF opcode and its
    checksum, followed by the end of the file (a base) or by commands (the preamble of a
    pre-7.0 AOF), the first such place whose checksum holds (0: not computed). 0 if none."""
    for match in re.finditer(rb"(?=\xff[\s\S]{8}(?:\*\d|\Z))", data):  # overlapping candidates
        end = match.start() + 9
        stored = int.from_bytes(data[end - 8:end], "little")
        if not stored or stored == crc64(memoryview(data)[:end - 8]):
            return end
    return 0


def _path_of(aof: Aof, entry: AofFile) -> str:
    """Where a file of the manifest is read from (a pre-7.0 AOF being upgraded: in `dir`)."""
    return aof.upgrade_from if aof.upgrade_from and entry is aof.manifest.base else aof.path(entry.name)


def _size(path: str) -> int:
    """A file's size for the loading figures (0 if it cannot be read: loading says why)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _load_files(instance: Instance, aof: Aof, files: list[AofFile], session: Session,
                truncated_ok: bool) -> Generator[None, None, None]:
    manifest = aof.manifest
    offset = 0  # of this file in all of them (INFO's loading_loaded_bytes)
    for i, entry in enumerate(files):
        path = _path_of(aof, entry)
        try:
            with open(path, "rb") as source:
                data = source.read()
        except FileNotFoundError:
            raise AofError(f"The append log file {entry.name} doesn't exist: No such file or directory") from None
        except OSError as exc:
            raise AofError(f"Fatal error: can't open the append log file {entry.name} for reading: {exc.strerror}") from exc
        started = time.monotonic()
        last = i == len(files) - 1
        preamble = (yield from _load_rdb_part(instance, data, entry.name, offset)) if data.startswith(b"REDIS") else 0
        _, cut = yield from replay(instance, session, data[preamble:], entry.name, truncated_ok, offset + preamble)
        offset += len(data)
        if cut is not None:
            cut += preamble
        if cut is not None:
            if not last:
                raise AofError(f"Fatal error: the truncated file is not the last file ({entry.name})")
            os.truncate(path, cut)
            log.warning("AOF %s loaded anyway because aof-load-truncated is enabled", entry.name)
        kind = "base" if entry is manifest.base else "incr"
        log.info("DB loaded from %s file %s: %.3f seconds", kind, entry.name, time.monotonic() - started)


# ----------------------------------------------------------------------- command

@command("bgrewriteaof", 1, "admin noscript no_async_loading", group="server", since="1.0.0",
         acl="admin dangerous")
def bgrewriteaof(session: Session) -> object:
    """Asynchronously rewrite the append-only file"""
    instance = session.instance
    aof = instance.aof
    if aof is not None and aof.rewrite is not None:
        raise CommandError(REWRITE_IN_PROGRESS)
    if instance.rdb.job is not None:
        if aof is not None:
            aof.rewrite_scheduled = True
        else:
            instance.aof_alone_scheduled = True
        return Simple(b"Background append only file rewriting scheduled")
    if aof is None:  # appendonly no: a new base alone
        if instance.aof_alone is not None:
            raise CommandError(REWRITE_IN_PROGRESS)
        try:  # in the background, driven by persistence/aofcontrol.py (the server's, the Store's)
            started = instance.rewrite_aof_alone is not None and instance.rewrite_aof_alone()
        except AofError as exc:
            raise CommandError(f"ERR {exc}") from None
        if not started:
            raise CommandError(REWRITE_FAILED)
        return Simple(b"Background append only file rewriting started")
    if not aof.start_rewrite():
        raise CommandError(REWRITE_FAILED)
    return Simple(b"Background append only file rewriting started")
