"""RDB snapshot files: SAVE, BGSAVE without fork, the `save` schedule, loading at start-up.

Every snapshot is written to `temp-<pid>.rdb` in `dir`, flushed and fsynced, renamed over
`dbfilename`, and the directory fsynced: a crash leaves either the old file or the new one.

SAVE writes the whole dataset at once. BGSAVE (and the `save` schedule under the server) takes
a point-in-time snapshot while serving, without fork, shard by shard (keyspace/engine.py):
- at the start, each database notes its shards as a flag per shard index of each engine
  (`_Pending`: a bytearray, microseconds even at 10 M keys and 32,768 shards; a dict of the
  shards took 7-12 ms there, and indexing every key 0.3 s and 42 MB per million keys);
- the server then runs slices (`step`, SLICE_BUDGET_US each) that write the pending shards'
  keys with their current values, after handing the bytes already serialized to the file
  FLUSH_CHUNK_BYTES at a time (the CRC-64 without anycrc is Python: 140 ns a byte, more than
  serializing costs); a shard is written over as many slices as it takes (`_Partial`: its
  key list when its writing begins, the clock read every KEYS_PER_CLOCK_CHECK keys; whole,
  a 512-key shard took 0.45 ms, over the slice's budget);
- copy-on-write: each database's `Keyspace.before_change` hook is called before any key's value
  or deadline can change or leave (lookup, peek, set, deadline, removal, expiry, eviction): a
  key still in a pending shard is written first, as it was, one entry, and noted in `skip`
  so that its shard passes over it later (a key of the shard being written that the
  writing has not reached is written first too, and leaves its `unwritten` set); a flush
  freezes the database's part: its engines, detached whole, are kept unfreed until the part
  is written (Keyspace.free_detached), so FLUSHDB costs the save nothing at once (writing a
  10 M-key database there took seconds);
- keys created after the start are not in any pending shard's start, so a write about to put
  a key in a pending shard (a new key, or one moved home by a write from a shard written
  already) notes it in `skip` too; databases keep the index they had at the start (SWAPDB
  moves Keyspace objects, the snapshot follows);
- a migration step moves keys between shards behind the hook's back: `Tandem.before_move`
  is called before keys leave an old shard, and the old shard and the new shards they go to
  are written first if pending, or finished if being written (so no key is lost or written
  twice);
- what the snapshot holds beyond the dataset is a flag per shard, the keys in `skip` (those
  changed or created during the save, in pending shards), the key list of the shard being
  written and the bytes serialized and not yet handed to the file (at most a shard's
  entries, plus one per key changed since);
- a stream of more than one node is held back when its shard is written, then serialized a
  node at a time (rdb_streams.py `StreamSlices`) into a buffer of its own, appended to the
  file once complete, so a big stream does not stall the loop; a held-back stream about to
  change is written whole first; before the stream being sliced is touched the rest is
  detached: it goes on from a copy of the stream taken then (a pause of a few tens of ms for
  a million entries, instead of serializing them);
- at the end, the fsync and the rename run where `SaveState.offload` says: in a thread under
  the server (a 10 M-key file's fsync takes seconds), at once without it.
A database selected again in the file repeats SELECTDB (loaders accept it anywhere).
Without a server (the embedded Store), BGSAVE runs the same job to completion at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator
from typing import BinaryIO

from tandemkv.commands.session import Instance, Session
from tandemkv.commands.table import command
from tandemkv.config import save_points
from tandemkv.errors import SYNTAX, CommandError
from tandemkv.keyspace import Engine, Keyspace
from tandemkv.keyspace.engine import shard_hash
from tandemkv.keyspace.memory import TRACK_FREQUENCY, TRACK_ORDER, idle_seconds, lfu_frequency
from tandemkv.persistence.loading import LOAD_BATCH, loading, run_to_end
from tandemkv.persistence.rdb import (
    TYPE_STREAM_LISTPACKS_2,
    AccessOf,
    DbSnapshot,
    FileWriter,
    Limits,
    RdbError,
    Writer,
    aux_fields,
    dump_payload,
    entry_header,
    read_records,
    write_file,
)
from tandemkv.persistence.rdb_streams import StreamSlices
from tandemkv.protocol import OK, Simple
from tandemkv.values.streams import StreamValue

log = logging.getLogger("tandemkv.persistence")

RETRY_DELAY_S = 5  # Redis's CONFIG_BGSAVE_RETRY_DELAY: a failed scheduled save waits this long
IN_PROGRESS = "ERR Background save already in progress"
# A background save hands its bytes to the file (through the CRC: about 140 ns a byte with the
# pure-Python fallback, far less with anycrc) this many at a time: about 0.15 ms at most, so a
# slice overruns its budget by at most that.
FLUSH_CHUNK_BYTES = 1024
# The time budget of one slice of a background save under the server (at most engine-slice-us):
# a request waits for at most one slice. Measured at 1 M keys under a steady load
# (bench/snapshot_load.py): 1 ms slices gave a p99 2.4x the one without a save, 250 us 1.2x.
SLICE_BUDGET_US = 250
# A shard is written a slice at a time, the clock read every this many keys (a shard holds up
# to engine-shard-high-keys, 512 by default: about 0.45 ms whole).
KEYS_PER_CLOCK_CHECK = 32
SKIP_MASK = (1 << 12) - 1  # KeySet: up to 4,096 small sets
# Under the server the file is written in a thread (`_Sink`), this many bytes at a time; no more
# is serialized while this many bytes wait for that thread (a slow disk slows the save, not
# the loop).
SINK_CHUNK_BYTES = 1 << 16
SINK_MAX_IN_FLIGHT_BYTES = 1 << 22

Offload = Callable[[Callable[[], None], Callable[[BaseException | None], None]], Callable[[], None]]


def limits(instance: Instance) -> Limits:
    """The thresholds loaded values take their encoding from (rdbLoadObject reads the same)."""
    config = instance.config
    extra = {name: config.int(name) for name in (
        "zset-max-listpack-entries", "zset-max-listpack-value", "hash-max-listpack-entries", "hash-max-listpack-value",
    )}
    return Limits(set_max_intset_entries=config.int("set-max-intset-entries"), extra=extra)


def rdb_path(instance: Instance) -> str:
    return os.path.join(instance.config.str("dir"), instance.config.str("dbfilename"))


def _temp_path(instance: Instance) -> str:
    return os.path.join(instance.config.str("dir"), f"temp-{os.getpid()}.rdb")


def _install(temp: str, path: str) -> None:
    """Rename the fsynced temp file over the RDB file and fsync the directory."""
    os.replace(temp, path)
    dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _unlink(temp: str) -> None:
    try:
        os.unlink(temp)
    except OSError:
        pass


def _succeeded(instance: Instance, dirty_before: int) -> None:
    state = instance.rdb
    state.dirty = max(0, state.dirty - dirty_before)
    state.last_save_s = int(time.time())
    state.saves += 1
    state.last_status_ok = True


def _codes(instance: Instance) -> list[bytes]:
    """The function libraries' codes, for the functions section of the file."""
    return instance.functions.codes() if instance.functions is not None else []


def save(instance: Instance) -> bool:
    """Write the whole dataset to the RDB file now (Redis's rdbSave); True on success."""
    path = rdb_path(instance)
    temp = _temp_path(instance)
    state = instance.rdb
    started = time.monotonic()
    state.last_try_s = int(time.time())
    dirty_before = state.dirty
    try:
        with open(temp, "wb") as out:
            dbs = [
                DbSnapshot(i, len(db), db.volatile_count, db.items(expired_too=True), access_of(db))
                for i, db in enumerate(instance.dbs)
            ]
            aux = aux_fields(int(time.time()), instance.memory.used_bytes)
            config = instance.config
            write_file(out, dbs, aux, compress=bool(config["rdbcompression"]), functions=_codes(instance),
                       checksum=bool(config["rdbchecksum"]))
            out.flush()
            os.fsync(out.fileno())
        _install(temp, path)
    except (OSError, RdbError) as exc:
        # As Redis's rdbSave in the foreground, a failure leaves rdb_last_bgsave_status (and
        # so stop-writes-on-bgsave-error) alone: only a background save sets it.
        log.warning("Failed saving the DB to %s: %s", path, exc)
        _unlink(temp)
        return False
    _succeeded(instance, dirty_before)
    log.info("DB saved on disk (%.3f seconds)", time.monotonic() - started)
    return True


def access_of(db: Keyspace) -> AccessOf | None:
    """What a file stores of `db`'s keys' accesses, as Redis: the idle seconds under an LRU
    policy, the LFU counter under an LFU one, nothing otherwise."""
    tracking = db.memory.tracking
    if tracking == TRACK_ORDER:
        return lambda key: (idle_seconds(db, key), None)
    if tracking == TRACK_FREQUENCY:
        return lambda key: (None, lfu_frequency(db, key))
    return None


class KeySet:
    """The keys a snapshot passes over (`_Pending.skip`), spread over up to SKIP_MASK + 1 small
    sets by the hash bits that choose shards (keyspace/engine.py `shard_hash`): a set's growth
    rehashes it whole, in one go (measured: 4.5 ms at 78,000 keys, 17 ms at 310,000, the size a
    long save under writes reaches), a small set's in microseconds. `h` is the key's
    shard_hash."""

    __slots__ = ("buckets", "count")

    def __init__(self) -> None:
        self.buckets: dict[int, set[bytes]] = {}
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def has(self, key: bytes, h: int) -> bool:
        bucket = self.buckets.get(h & SKIP_MASK)
        return bucket is not None and key in bucket

    def add(self, key: bytes, h: int) -> None:
        bucket = self.buckets.get(h & SKIP_MASK)
        if bucket is None:
            self.buckets[h & SKIP_MASK] = {key}
        elif key not in bucket:
            bucket.add(key)
        else:
            return
        self.count += 1

    def take(self, keys: set[bytes], index: int, mask: int) -> set[bytes]:
        """Remove and return those of `keys` (all in shard `index` of an engine of `mask`:
        their hashes' low bits are `index`) that are here."""
        if mask >= SKIP_MASK:
            numbers: range | tuple[int] = (index & SKIP_MASK,)
        else:
            numbers = range(index, SKIP_MASK + 1, mask + 1)
        taken: set[bytes] = set()
        for number in numbers:
            bucket = self.buckets.get(number)
            if bucket:
                found = bucket & keys
                if found:
                    bucket -= found
                    taken |= found
        self.count -= len(taken)
        return taken

    def keys(self) -> set[bytes]:
        """Every key here, as one set (for tests and checks)."""
        return set().union(*self.buckets.values())


class _Pending:
    """One database's part of the snapshot: its shards of the start not written yet, noted
    lazily as a flag per shard index of each engine that held keys at the start (the current
    one, and the old one from its migration cursor during a step) so that the start costs
    microseconds whatever the shard count; the keys in `skip`; big streams held back (written
    last, in slices); and its index then.

    A shard is named by (engine, index); its dicts are looked up when it is written, and only
    while the engine still holds them (current, or old at or past the migration cursor): a
    shard migrated since was written before it was (`before_move`), or was empty."""

    __slots__ = (
        "at", "db", "expires", "flags", "frozen", "held", "index", "left", "order", "partial", "selected", "size",
        "skip",
    )

    def __init__(self, db: Keyspace, index: int) -> None:
        self.db = db
        self.index = index
        tandem = db.tandem
        # id(engine) -> (engine, a flag a shard index, 1 while pending): holding the engines
        # keeps their ids unique.
        self.flags: dict[int, tuple[Engine, bytearray]] = {}
        self.left = 0  # pending shards
        if len(db):
            self._note(tandem.engine, 0)
            if tandem.old is not None:
                self._note(tandem.old, tandem.cursor)
        self.order = list(self.flags.values())  # written from the end
        self.at = 0  # the next index to look at in order[-1]
        # Keys a pending shard holds (or will) that its writing must pass over: written
        # already, before a change, or not in the snapshot (created since, or moved in by a
        # write from a shard written already).
        self.skip = KeySet()
        # Big streams held back: key -> (value, deadline_ms), as they were when their shard was
        # written (a change writes one first).
        self.held: dict[bytes, tuple[object, int | None]] = {}
        # Flushed during the save: its engines, detached whole, are kept by the keyspace while
        # the hook is set (Keyspace.free_detached), and no key of theirs can change any more.
        self.frozen = False
        self.partial: _Partial | None = None  # the shard being written, a slice at a time
        self.size = len(db)
        self.expires = db.volatile_count
        self.selected = False

    def _note(self, engine: Engine, first: int) -> None:
        flags = bytearray(first) + bytearray(b"\x01") * (engine.shards - first)
        self.flags[id(engine)] = (engine, flags)
        self.left += engine.shards - first

    def pending(self, engine: Engine | None, index: int) -> bool:
        """Whether shard `index` of `engine` is pending."""
        entry = self.flags.get(id(engine))
        return entry is not None and entry[1][index] == 1

    def take(self, engine: Engine, index: int) -> bool:
        """Mark shard `index` of `engine` written; False if it was not pending."""
        entry = self.flags.get(id(engine))
        if entry is None or not entry[1][index]:
            return False
        entry[1][index] = 0
        self.left -= 1
        return True

    def take_next(self) -> tuple[Engine, int] | None:
        """The next pending shard, marked written; None when none is left."""
        order = self.order
        while order:
            engine, flags = order[-1]
            index = flags.find(1, self.at)
            if index < 0:
                order.pop()
                self.at = 0
                continue
            flags[index] = 0
            self.left -= 1
            self.at = index + 1
            return engine, index
        return None

    @property
    def done(self) -> bool:
        return not self.left and not self.held and self.partial is None


class _Partial:
    """A shard being written a slice at a time: its dicts, its keys when its writing began
    (those created since are not in the snapshot), how far the writing is in that list, and
    the keys not written yet (one about to change is written first and leaves the set)."""

    __slots__ = ("at", "deadlines", "keys", "unwritten", "values")

    def __init__(self, values: dict[bytes, object], deadlines: dict[bytes, int], keys: list[bytes], unwritten: set[bytes]) -> None:
        self.values = values
        self.deadlines = deadlines
        self.keys = keys
        self.unwritten = unwritten
        self.at = 0


class _Slices:
    """A big value being serialized a slice at a time: its key, its database's part, the
    buffer it goes to and its StreamSlices."""

    __slots__ = ("buffer", "key", "part", "pieces")

    def __init__(self, part: _Pending, key: bytes, buffer: Writer, pieces: StreamSlices) -> None:
        self.part = part
        self.key = key
        self.buffer = buffer
        self.pieces = pieces


def _big_stream(value: object) -> bool:
    return value.__class__ is StreamValue and len(value.nodes) > 1  # type: ignore[attr-defined]


class _Sink:
    """Where a background save's bytes go (FileWriter's `out`): straight to the file, or with
    `offload` (the server's thread, SaveState.offload) to the file in that thread, in order,
    SINK_CHUNK_BYTES at a time. Appending to a file can block for tens of ms while the kernel
    writes its pages back (measured at 10 M keys: 50-95 ms stalls late in the save)."""

    __slots__ = ("error", "in_flight_bytes", "offload", "out", "pending", "wait_last")

    def __init__(self, out: BinaryIO, offload: Offload | None) -> None:
        self.out = out
        self.offload = offload
        self.pending = bytearray()
        self.in_flight_bytes = 0  # handed to the thread, not reported written yet
        self.error: Exception | None = None  # set by the thread: the first failed write
        self.wait_last: Callable[[], None] | None = None  # waits for the last write handed over

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.offload is None:
            self.out.write(data)
            return
        self.pending += data
        if len(self.pending) >= SINK_CHUNK_BYTES:
            self.hand_over()

    def hand_over(self) -> None:
        """Hand what is pending to the thread."""
        if self.offload is None or not self.pending:
            return
        chunk, self.pending = bytes(self.pending), bytearray()
        self.in_flight_bytes += len(chunk)
        self.wait_last = self.offload(lambda: self._write_in_thread(chunk), lambda exc: self._written(len(chunk)))

    def _write_in_thread(self, chunk: bytes) -> None:
        if self.error is None:
            try:
                self.out.write(chunk)
            except (OSError, ValueError) as exc:  # ValueError: closed by an abort
                self.error = exc

    def _written(self, size: int) -> None:
        self.in_flight_bytes -= size

    def wait(self) -> None:
        """Wait until every write handed over is done (the thread is FIFO)."""
        if self.wait_last is not None:
            wait, self.wait_last = self.wait_last, None
            wait()


class BackgroundSave:
    """A fork-less snapshot in progress (see the module doc)."""

    def __init__(
        self,
        instance: Instance,
        path: str | None = None,
        temp: str | None = None,
        aof_base: bool = False,
        writer: Callable[[BinaryIO, bool], FileWriter] = FileWriter,
        offload: bool = True,
    ) -> None:
        """A snapshot of `instance` into `path` (the RDB file unless given) through `temp`;
        `aof_base`: the base file of an append-only file (aux field aof-base 1); `writer`:
        what writes the file (an RDB image unless given; aofbase.CommandWriter writes
        commands, every value at once); `offload`: the file's I/O goes where
        `SaveState.offload` says (else it is done at once, in the caller)."""
        self.instance = instance
        self.path = path or rdb_path(instance)
        self.temp = temp or _temp_path(instance)
        self.dirty_before = instance.rdb.dirty
        self.out: BinaryIO = open(self.temp, "wb")  # noqa: SIM115  (closed in finish/abort)
        self.sink = _Sink(self.out, instance.rdb.offload if offload else None)
        self.writer = writer(self.sink, bool(instance.config["rdbcompression"]))  # type: ignore[arg-type]
        self.writer.checksum = bool(instance.config["rdbchecksum"])
        self.writer.flush_at = None  # `step` hands the bytes over, a chunk at a time
        self.slice_streams = writer is FileWriter
        aux = aux_fields(int(time.time()), instance.memory.used_bytes)
        if aof_base:
            aux = [(name, b"1" if name == b"aof-base" else value) for name, value in aux]
        self.writer.header(aux)
        self.writer.functions(_codes(instance))  # a handful of small strings: written at once
        self.current: _Pending | None = None
        self.slicing: _Slices | None = None
        self.error: Exception | None = None
        self.shards_written = 0  # shards of the start written (by slices, or before a migration or flush)
        self.keys_written_early = 0  # keys written before a change, ahead of their shard
        # INFO's current_save_keys_total / _processed: the keys at the start, and those of the
        # shards written since (keys changed meanwhile were written early, within them).
        self.keys_total = sum(len(db) for db in instance.dbs)
        self.keys_processed = 0
        # rdb-key-save-delay (a testing setting of Redis's, microseconds a key): here the save
        # is paced, a shard at a time, to take that long; the loop is never put to sleep.
        self.key_delay_us = max(0, instance.config.int("rdb-key-save-delay"))
        self.started = time.monotonic()
        self.sync_wait: Callable[[], None] | None = None  # set while the file is fsynced off the loop
        # The last `step` stopped to wait (for the disk, or rdb-key-save-delay's pace), not for
        # its budget: the next slice is better run a little later than at once.
        self.waiting = False
        self.pending: list[_Pending] = []
        for index, db in enumerate(instance.dbs):
            part = _Pending(db, index)
            if part.left:
                self.pending.append(part)
                db.before_change = self._hook(part)
                db.tandem.before_move = self._move_hook(part)
        self.pending.reverse()  # taken from the end: database 0 first, as Redis writes them

    # ------------------------------------------------------------ copy-on-write

    def _hook(self, part: _Pending):  # type: ignore[no-untyped-def]
        """Keyspace.before_change: a key still in a pending shard is written first, as it is
        (then passed over when its shard is written); a key about to enter a pending shard
        (created, or moved home by the write) is passed over too; a held-back big stream is
        written first. A flush freezes the part (`_freeze`)."""
        skip = part.skip
        held = part.held
        tandem = part.db.tandem
        pending = part.pending

        def before_change(key: bytes | None) -> None:
            slicing = self.slicing
            if key is None:
                self._freeze(part)
                return
            if slicing is not None and slicing.part is part and key == slicing.key:
                slicing.pieces.detach()
            if (part.left or part.partial is not None) and not part.frozen and not skip.has(key, h := shard_hash(key)):
                engine = tandem.engine
                index = h & engine.mask
                values = engine.values[index]
                if key in values:
                    self._save_first(part, engine, index, values, key, h)
                else:
                    old = tandem.old
                    if old is not None and (old_index := h & old.mask) >= tandem.cursor:
                        old_values = old.values[old_index]
                        if key in old_values:
                            self._save_first(part, old, old_index, old_values, key, h)
                    if pending(engine, index):
                        skip.add(key, h)
            if key in held:
                self._write(part, key, *held.pop(key))
            if part.done:
                self._release(part)

        return before_change

    def _save_first(
        self, part: _Pending, engine: Engine, index: int, values: dict[bytes, object], key: bytes, h: int
    ) -> None:
        """`key` (whose shard_hash is `h`), in shard `index` of `engine` (whose keys are
        `values`), is about to change: written first, as it is, if that shard is pending (and
        noted in `skip`) or being written and not reached yet."""
        if part.pending(engine, index):
            part.skip.add(key, h)
        else:
            partial = part.partial
            if partial is None or partial.values is not values or key not in partial.unwritten:
                return
            partial.unwritten.remove(key)
        self._write_early(part, key, values[key], engine.deadlines[index].get(key))

    def _move_hook(self, part: _Pending):  # type: ignore[no-untyped-def]
        """Tandem.before_move: the old shard `index` and the new shards its keys go to are
        written first if pending (keys must neither be lost nor written twice)."""
        tandem = part.db.tandem

        def before_move(index: int) -> None:
            old, engine = tandem.old, tandem.engine
            assert old is not None
            if engine.mask >= old.mask:
                targets: range | tuple[int] = range(index & engine.mask, engine.mask + 1, old.mask + 1)
            else:
                targets = (index & engine.mask,)
            for shard_engine, shard_index in ((old, index), *((engine, target) for target in targets)):
                partial = part.partial
                if partial is not None and partial.values is shard_engine.values[shard_index]:
                    self._continue(part, None)
                if part.take(shard_engine, shard_index):
                    self._write_shard(part, shard_engine, shard_index)
            if part.done:
                self._release(part)

        return before_move

    def _release(self, part: _Pending) -> None:
        """Every key of `part` is written: its hooks go (the slice in progress keeps its own)."""
        if part.db.before_change is not None and (self.slicing is None or self.slicing.part is not part):
            part.db.before_change = None
        part.db.tandem.before_move = None

    # ------------------------------------------------------------ serializing

    def _select(self, part: _Pending) -> None:
        if self.current is not part:
            self.writer.select(part.index, None if part.selected else part.size, part.expires)
            self.writer.access = access_of(part.db)
            part.selected = True
            self.current = part

    def _write_shard(self, part: _Pending, engine: Engine, index: int) -> None:
        """Write shard `index` of `engine` (just marked written) whole, now."""
        self._begin(part, engine, index)
        if part.partial is not None:
            self._continue(part, None)

    def _begin(self, part: _Pending, engine: Engine, index: int) -> None:
        """Start writing shard `index` of `engine` (just marked written): its keys now, less
        those in `skip` (passed over and forgotten), become `part.partial`; nothing in it
        changed since the start but those. A shard its engine no longer holds (migrated, or
        the engine retired) has nothing left to write."""
        self.shards_written += 1
        tandem = part.db.tandem
        if not part.frozen and engine is not tandem.engine and (engine is not tandem.old or index < tandem.cursor):
            return
        values = engine.values[index]
        self.keys_processed += len(values)
        if self.error is not None or not values:
            return
        keys = list(values)
        unwritten = set(keys)
        if part.skip:
            passed = part.skip.take(unwritten, index, engine.mask)
            if passed:
                unwritten -= passed
        part.partial = _Partial(values, engine.deadlines[index], keys, unwritten)

    def _continue(self, part: _Pending, deadline: float | None) -> None:
        """Write the shard in progress (`part.partial`) until `deadline` (perf_counter
        seconds, read every KEYS_PER_CLOCK_CHECK keys; None: to its end). Big streams are
        held back, to be written last in slices."""
        partial = part.partial
        assert partial is not None
        if self.error is not None:
            part.partial = None
            return
        self._select(part)
        entry = self.writer.entry
        values, deadlines, keys, unwritten = partial.values, partial.deadlines, partial.keys, partial.unwritten
        at, end = partial.at, len(keys)
        try:
            while at < end:
                for key in keys[at : at + KEYS_PER_CLOCK_CHECK]:
                    if key in unwritten:
                        unwritten.remove(key)
                        value = values[key]
                        if _big_stream(value):
                            part.held[key] = (value, deadlines.get(key) if deadlines else None)
                        else:
                            entry(key, value, deadlines.get(key) if deadlines else None)
                at += KEYS_PER_CLOCK_CHECK
                if deadline is not None and time.perf_counter() >= deadline:
                    break
        except (OSError, RdbError) as exc:
            self.error = exc
        partial.at = at
        if at >= end or self.error is not None:
            part.partial = None

    def _write_early(self, part: _Pending, key: bytes, value: object, deadline_ms: int | None) -> None:
        """Write one key of a pending shard before it changes (a big stream whole)."""
        self.keys_written_early += 1
        if self.error is None:
            self._entry(part, key, value, deadline_ms)

    def _entry(self, part: _Pending, key: bytes, value: object, deadline_ms: int | None) -> None:
        """One key of `part`'s database into the file (an error stops the snapshot)."""
        self._select(part)
        try:
            self.writer.entry(key, value, deadline_ms)
        except (OSError, RdbError) as exc:
            self.error = exc

    def _write(self, part: _Pending, key: bytes, value: object, deadline_ms: int | None, sliced: bool = False) -> None:
        """Write one held-back key; with `sliced`, a big stream is only started (`slicing`)."""
        if self.error is not None:
            return
        if sliced and _big_stream(value) and self.slice_streams:
            buffer = Writer(self.writer.w.compress)
            entry_header(buffer, key, TYPE_STREAM_LISTPACKS_2, deadline_ms)
            self.slicing = _Slices(part, key, buffer, StreamSlices(buffer, value))  # type: ignore[arg-type]
            return
        self._entry(part, key, value, deadline_ms)

    def _advance_slices(self, deadline: float) -> None:
        """Serialize the big value in progress until `deadline` (perf_counter s); once
        complete it goes into the file."""
        job = self.slicing
        assert job is not None
        while not job.pieces.step():
            if time.perf_counter() >= deadline:
                return
        self.slicing = None
        if job.part.done:
            self._release(job.part)
        self._select(job.part)
        try:
            self.writer.raw(job.buffer.buf)
        except OSError as exc:
            self.error = exc

    def _freeze(self, part: _Pending) -> None:
        """The database is about to be flushed: its engines are detached whole (Tandem.clear)
        and kept unfreed while the hook stays set, so its pending shards and held-back streams
        are written from them in later slices, as they were; keys created after the flush are
        in none of them."""
        part.frozen = True
        part.db.tandem.before_move = None

    def step(self, budget_s: float, chunk_bytes: int = FLUSH_CHUNK_BYTES) -> bool:
        """Work for about `budget_s` seconds: bytes serialized go to the file (through the
        CRC) `chunk_bytes` at a time, before anything more is serialized; then pending shards
        a whole shard at a time, then held-back big streams in slices. False once the
        snapshot is over (finished or failed)."""
        if self.sync_wait is not None:
            return False  # serialized: the file's last writes and fsync are in the thread
        self.waiting = False
        deadline = time.perf_counter() + budget_s
        writer = self.writer
        sink = self.sink
        while self.error is None:
            if sink.error is not None:
                self.error = sink.error
                break
            if sink.in_flight_bytes > SINK_MAX_IN_FLIGHT_BYTES:
                self.waiting = True
                return True  # the disk is behind: serialize no more until it catches up
            if writer.w.buf:
                try:
                    writer.flush_some(chunk_bytes)
                except OSError as exc:
                    self.error = exc
            elif self.slicing is not None:
                self._advance_slices(deadline)
            elif not self.pending:
                break
            else:
                part = self.pending[-1]
                if self.key_delay_us and self.keys_processed * self.key_delay_us > (time.monotonic() - self.started) * 1e6:
                    self.waiting = True
                    return True  # rdb-key-save-delay: the keys so far have not had their time yet
                if part.partial is not None:
                    self._continue(part, deadline)
                elif (shard := part.take_next()) is not None:
                    self._begin(part, *shard)
                elif part.held:
                    key, (value, deadline_ms) = part.held.popitem()
                    self._write(part, key, value, deadline_ms, sliced=True)
                if part.done:
                    self._release(part)
                    self.pending.pop()
            if time.perf_counter() >= deadline:
                return True
        self._finish()
        return False

    # ------------------------------------------------------------ the end

    def _detach(self) -> None:
        """The job is over: the instance forgets it (and any stream it was writing in slices)."""
        self.slicing = None
        self.instance.rdb.job = None

    def _finish(self) -> None:
        """Everything is serialized: EOF and checksum, then the last writes, the fsync and the
        rename, in the server's thread when it offers one (`SaveState.offload`: after the
        writes handed to it before, in order)."""
        if self.error is None:
            try:
                self.writer.finish()
            except (OSError, RdbError) as exc:
                self.error = exc
        offload = self.sink.offload
        if offload is not None and self.error is None:
            self.sink.hand_over()
            self.sync_wait = offload(self._sync_and_install, self._complete)
            return
        try:
            if self.error is None:
                self._sync_and_install()
        except OSError as exc:
            self._complete(exc)
            return
        self._complete(self.error)

    def _sync_and_install(self) -> None:
        """The blocking part: flush, fsync, close, rename over the RDB file, fsync the
        directory. Raises a write's error from the thread first."""
        if self.sink.error is not None:
            raise self.sink.error
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        _install(self.temp, self.path)

    def _complete(self, exc: BaseException | None) -> None:
        instance = self.instance
        state = instance.rdb
        if state.job is not self:  # aborted meanwhile (SHUTDOWN)
            return
        self.sync_wait = None
        self._detach()
        state.last_save_duration_s = int(time.monotonic() - state.job_started)
        state.last_try_s = int(time.time())
        if exc is not None:
            log.warning("Background saving error: %s", exc)
            self.abort()
            state.last_status_ok = False
            return
        _succeeded(instance, self.dirty_before)
        log.info("Background saving terminated with success")

    def abort(self) -> None:
        """Stop without a file: hooks removed, temp file closed and deleted. While the file is
        being fsynced in a thread, waits for it first (the snapshot is then complete)."""
        if self.sync_wait is not None:
            wait, self.sync_wait = self.sync_wait, None
            self._detach()
            wait()
            return
        for part in self.pending:
            self._release(part)
            part.db.before_change = None
        self.pending = []
        self._detach()
        self.sink.wait()  # writes in the thread end before the file is closed
        if not self.out.closed:
            self.out.close()
        _unlink(self.temp)


def start_background_save(instance: Instance) -> None:
    """Start a BGSAVE: its slices run from the server (`instance.rdb.schedule`), or at once
    without one. A temp file that cannot be created ends it at once as failed, as Redis's
    child failing to open it does (rdb_last_bgsave_status err; BGSAVE still answers that it
    started)."""
    state = instance.rdb
    state.job_started = time.monotonic()
    log.info("Background saving started")
    try:
        job = BackgroundSave(instance)
    except OSError as exc:
        log.warning("Background saving error: %s", exc)
        state.last_status_ok = False
        state.last_try_s = int(time.time())
        state.last_save_duration_s = 0
        return
    state.job = job
    if state.schedule is None:
        while job.step(1.0):
            pass
    else:
        state.schedule()


def step(instance: Instance, budget_s: float, chunk_bytes: int = FLUSH_CHUNK_BYTES) -> bool:
    """One slice of the background save in progress; True while there is more to do."""
    job = instance.rdb.job
    return job is not None and job.step(budget_s, chunk_bytes)


def load(instance: Instance) -> int | None:
    """Load the RDB file into the (empty) databases at once: `load_steps` run to its end."""
    return run_to_end(load_steps(instance))


def load_steps(instance: Instance) -> Generator[None, None, int | None]:
    """Load the RDB file into the (empty) databases, a batch of keys between yields
    (persistence/loading.py), the instance marked loading meanwhile: the number of keys
    loaded, or None if there is no file. Keys already expired are skipped, as a Redis master
    does. Raises RdbError (or OSError) for a file that cannot be read."""
    try:
        with open(rdb_path(instance), "rb") as source:
            data = source.read()
    except FileNotFoundError:
        return None
    with loading(instance, len(data)):
        return (yield from load_image_steps(instance, data))


def load_data(instance: Instance, data: bytes) -> int:
    """Load a whole RDB image (a file's bytes) at once: `load_image_steps` run to its end."""
    return run_to_end(load_image_steps(instance, data))


def load_image_steps(instance: Instance, data: bytes, offset: int = 0) -> Generator[None, None, int]:
    """Load an RDB image (a file's bytes, found at `offset` of the files being loaded) into
    the databases, its function libraries last, a batch of keys between yields: the number
    of keys loaded. Raises RdbError, before loading any key if the checksum is wrong; a file
    that is damaged further on (or unchecked: checksum 0) may leave the keys before the damage
    loaded, as Redis does (the server then refuses to start)."""
    codes: list[bytes] = []
    aux: dict[bytes, bytes] = {}
    dbs = instance.dbs
    count = len(dbs)
    now_ms = instance.clock.now_ms()
    with_freq = instance.memory.tracking == TRACK_FREQUENCY
    lfu_records = dbs[0].access.lfu_records
    state = instance.loading
    added = expired = 0
    empty: list[bytes] = []

    def reserve(index: int, keys: int) -> None:
        if index < count:
            dbs[index].reserve(keys)

    def skip_empty(key: bytes) -> None:
        if len(empty) < 10:  # as rdbLoad: the first ten named
            log.warning("rdbLoadObject skipping empty key: %s", key.decode("utf-8", "replace"))
        empty.append(key)

    # Loading raises no `new` events (Redis's dbAddRDBLoad): none published, none appended to
    # the keyspace-event stream.
    report_new = [db.report_new for db in dbs]
    for db in dbs:
        db.report_new = False
    try:
        check_crc = bool(instance.config["rdbchecksum"]) and not instance.skip_checksum_validation
        records = read_records(data, limits(instance), aux, codes, reserve, skip_empty, check_crc)
        for index, key, value, deadline_ms, _idle_s, freq, end in records:
            if index >= count:
                raise RdbError(
                    f"FATAL: Data file was created with a Redis server configured to handle more than {count} databases."
                )
            if deadline_ms is not None and deadline_ms <= now_ms:
                expired += 1
                continue
            db = dbs[index]
            db.add_loaded(key, value, deadline_ms)
            if freq is not None and with_freq:
                shard = db.tandem.locate(key)
                if shard is not None:
                    shard[2][key] = lfu_records[freq]
            added += 1
            if not added % LOAD_BATCH:
                if state is not None:
                    state.loaded_bytes = offset + end
                    if not state.rdb_used_mem and b"used-mem" in aux:
                        state.rdb_used_mem = int(aux[b"used-mem"]) if aux[b"used-mem"].isdigit() else 0
                yield
    finally:
        for db, enabled in zip(dbs, report_new, strict=True):
            db.report_new = enabled
    if codes:
        if instance.functions is None:
            raise RdbError("the RDB file holds functions and no function engine is attached")
        try:
            instance.functions.restore(codes, "append")
        except CommandError as exc:
            raise RdbError(f"Failed loading library, {exc.message.removeprefix('ERR ')}") from None
    if state is not None:
        state.loaded_bytes = offset + len(data)
    rdb = instance.rdb
    rdb.last_load_keys_loaded, rdb.last_load_keys_expired = added, expired
    skipped = f", empty keys skipped: {len(empty)}" if empty else ""
    log.info("Done loading RDB, keys loaded: %d, keys expired: %d%s.", added, expired, skipped)
    return added


def _rewriting_aof(instance: Instance) -> bool:
    """An AOF rewrite writes its base (persistence/aof.py), with appendonly yes or no: one
    snapshot at a time."""
    return instance.aof_alone is not None or (instance.aof is not None and instance.aof.rewrite is not None)


def save_due(instance: Instance, now_s: int) -> bool:
    """True when a `save` point is reached (serverCron's test): enough changes and more
    seconds than the point's since the last save; after a failure, retry only every 5 s."""
    state = instance.rdb
    if state.job is not None or _rewriting_aof(instance):
        return False
    if not state.last_status_ok and now_s - state.last_try_s <= RETRY_DELAY_S:
        return False
    return any(
        state.dirty >= changes and now_s - state.last_save_s > seconds
        for seconds, changes in save_points(instance.config.str("save"))
    )


def cron(instance: Instance) -> None:
    """Called by the server's cron: start a background save when a `save` point is due."""
    if instance.rdb.dirty and save_due(instance, int(time.time())):
        log.info("%d changes since the last save: saving...", instance.rdb.dirty)
        start_background_save(instance)


def save_for_shutdown(instance: Instance) -> bool:
    """SHUTDOWN's save: a background save in progress is dropped, then a synchronous one."""
    job = instance.rdb.job
    if job is not None:
        job.abort()
    return save(instance)


def debug_reload(instance: Instance, save_first: bool, flush: bool) -> str | None:
    """DEBUG RELOAD: the dataset saved to the RDB file (unless not `save_first`), every
    database and function library emptied (if `flush`), the file loaded back; None when done,
    else the error reply. Keys in the file replace those still in memory (Redis does so with
    MERGE, and stops the server without it)."""
    if save_first and not save(instance):
        return "ERR"
    if flush:
        for index, db in enumerate(instance.dbs):
            instance.flushed(index)
            db.flush()
        if instance.functions is not None:
            instance.functions.restore((), "flush")
    try:
        if load(instance) is None:
            return "ERR Error trying to load the RDB dump"
    except (OSError, RdbError) as exc:
        log.warning("DEBUG RELOAD failed: %s", exc)
        return "ERR Error trying to load the RDB dump"
    log.warning("DB reloaded by DEBUG RELOAD")
    return None


def attach(instance: Instance) -> None:
    """Give the commands layer its way to save (SHUTDOWN SAVE), to reload (DEBUG RELOAD) and
    to serialize a value (the keyspace-event stream's `dump` field)."""
    instance.rdb.save = lambda: save_for_shutdown(instance)
    instance.reload_rdb = lambda save_first, flush: debug_reload(instance, save_first, flush)
    instance.serialize = lambda value: _dump_or_none(value, bool(instance.config["rdbcompression"]))


def _dump_or_none(value: object, compress: bool) -> bytes | None:
    """DUMP's payload of `value`, or None for a type without an RDB serialization yet."""
    try:
        return dump_payload(value, compress=compress)
    except RdbError:
        return None


@command("save", 1, "admin noscript no_async_loading no_multi", group="server", since="1.0.0",
         acl="admin dangerous")
def save_command(session: Session) -> object:
    """Synchronously save the dataset to disk"""
    if session.instance.rdb.job is not None:
        raise CommandError(IN_PROGRESS)
    if not save(session.instance):
        raise CommandError("ERR")
    return OK


@command("bgsave", -1, "admin noscript no_async_loading", group="server", since="1.0.0",
         acl="admin dangerous")
def bgsave(session: Session, *args: bytes) -> object:
    """Asynchronously save the dataset to disk"""
    if args and (len(args) > 1 or args[0].lower() != b"schedule"):
        raise CommandError(SYNTAX)
    if session.instance.rdb.job is not None:
        raise CommandError(IN_PROGRESS)
    if _rewriting_aof(session.instance):
        raise CommandError(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. "
            "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
        )
    start_background_save(session.instance)
    return Simple(b"Background saving started")
