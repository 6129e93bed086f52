"""Memory accounting and eviction: the memory bound that makes tandemkv a cache or a database.

Accounting. Every entry is charged what CPython allocates for it, kept up to date by the
Keyspace as it goes (set, overwrite, delete, expiry, flush), never by walking the data:

- a bytes object (key or string value) of n bytes is a 33 + n byte object; pymalloc serves
  objects up to 512 bytes in 16-byte size classes, larger ones come from malloc (8-byte
  header, 16-byte alignment): `object_bytes`;
- each key's share of its shard's dicts: its values-dict entry (24-byte entry + index slot,
  dicts being 1/3 to 2/3 full; VALUES_ENTRY_BYTES, measured as the mean over shard sizes
  512..4096) and, except under LRU policies, its access record (ACCESS_ENTRY_BYTES, below):
  `MemoryAccount.record_bytes`;
- a key with a deadline adds its deadlines-dict entry, the int object and the expiry heap's
  (deadline, key) tuple and list slot: DEADLINE_BYTES.

Dict tables, measured. The per-key dict shares above (`key_dict_bytes` and the deadlines-dict
entry in DEADLINE_BYTES) are only an estimate: a CPython dict's table is a power of two of
slots, 2/3 usable, so its cost per entry runs from about 30 to about 60 bytes depending on how
full the shard is (and a dict never shrinks when keys are deleted; only freeing it returns the
table). With a fixed share, used_memory / RSS growth fell from 0.98 at 1 M keys to 0.82 at 5 M
and 10 M. So each Keyspace also carries `table_bytes`, a correction: the real table bytes
(sys.getsizeof of every shard dict, less an empty dict's) of every engine it holds (current,
old during a step, retired until freed, flushed until freed, as Redis counts
lazyfree_pending; spares never hold keys, so their tables are empty), minus the estimated
shares of its keys. `measure_tables` computes it in slices of
TABLE_SLICE_DICTS dicts (about 1 ms at 10 M keys, where most dicts are cache misses) from the
server's cron and Store.tick, one pass over a database after another, and applies it when a
pass completes: used_memory lags the real table sizes by at most one pass (about 2.5 s at 10 M
keys, hz 10). Between passes, keys are charged their estimated share, so MEMORY USAGE stays a
per-key figure as in Redis. Under a bound that lag is too long: when a keyspace fills up to
the bound, every shard's tables double within a few thousand writes, and used_memory was up
to ~1 MB over a 100 MB bound at the next pass. So while a bound is set, every insert into a
shard dict (Keyspace._insert_watched, engine.watched_put and migration, and a write's LRU
re-insertion) measures the dict before and after and charges a change at once
(Keyspace.table_grew, which also settles the shares of keys stored or removed since its last
charge); compaction and migration's freeing of drained shards report their shrinkage the same
way. A pass in progress keeps a change to a dict it has already measured (TableMeter.grew).
Reads are not measured (70-210 ns more per LRU lookup): a table grown by a read's LRU
re-insertion counts from the next pass, or is compacted before.
Measured (16-byte keys and values): used/RSS growth 0.97 at 1 M keys, 0.93 at 5 M and 0.94 at
10 M; the rest of the RSS is free memory glibc keeps (tables freed by dict resizes), which
used_memory leaves out as Redis leaves out fragmentation. (0.74 at 5 M until migration freed
each old shard's tables as it drained it, engine.py.)

Compaction. Each key deleted from a CPython dict (evicted, expired, or moved to the end by
LRU's re-insertion, below) leaves a dead slot that only a resize reclaims, and under churn
CPython resizes to 3x the live keys where a fresh copy of them takes 1.5x to 3x: a shard
churned by a memory bound settles at twice the table its keys need (measured, a Zipf read-
through cache bounded to 10% of 1 M keys: 117 table bytes a key instead of ~100, so 87 k keys
fitted where 92 k do with fresh tables). So `measure_tables` also compacts: a dict of the
current engine whose table is larger than a fresh copy of its keys would have
(`fresh_dict_bytes`, `compactable`) is replaced, in its engine's list, by that copy, `dict(d)`,
which keeps the order (the LRU order) and costs about 15 ns a key (COMPACT_KEYS_PER_UNIT: 10 us
for a shard of 700 keys), counted in the slice's budget; and eviction does the same for the
shard of one eviction in COMPACT_EVERY_EVICTIONS (`compact_shard`), so the shards that a bound
churns stay near their fresh size between passes and used_memory, which counts tables as
measured after compaction, stays what they occupy (measured on that workload: the real tables
averaged 1-2.5% above the charged ones between passes). A shard's dicts are replaced only
between commands (the cron, Store.tick, eviction before a command or in its own slices), never
while a Keyspace method holds them, and only in the current engine: the old engine of a step
only drains, and its migration cursor and key order are left alone.

`MemoryAccount.used_bytes` is the sum over every database. The bound (`maxmemory`) applies to
it: the interpreter's own footprint at startup (tens of MB, reported by the commands layer as
used_memory_startup) is not the operator's data and is left out, so `maxmemory 100mb` means
100 MB of data and RSS grows by about that much.

Eviction (`evict`), Redis's performEvictions in bounded slices: called before a command runs
while over the bound, and by the server's background slices; it removes keys chosen by the
policy until the account is back under the bound or the time budget is spent, and never
evicts a key more than needed.

Access records (OBJECT IDLETIME, OBJECT FREQ). Redis keeps a 24-bit field in every object: the
LRU clock, or under an LFU policy the LFU counter and its time (where Redis answers OBJECT
IDLETIME with an error). tandemkv keeps access records in each shard's `accessed` dict: under
noeviction, random and volatile-ttl policies, one per key, the Unix second of its last access
(engine.py: moved with the key by migration, freed with the engine). Every read or write that
Redis counts as an access (a lookup without LOOKUP_NOTOUCH) stores the current second,
`AccessClock.second`, which the command runners refresh once per batch of commands;
`Keyspace.peek` is the lookup that does not. All keys accessed in one second share one int
object, so an access record costs only its dict entry: ACCESS_ENTRY_BYTES, the same shape as a
values-dict entry (under LFU the record holds the key's counter, below). Measured with 1 M
keys of 16-byte keys and values: RSS 211 bytes a key instead of 171 (accounted: 208 instead of
168); an access costs about 30 ns more (its dict store). Under LRU policies the shard order
already ranks the keys by their last access, so only the first key of each second's run is
recorded (marks, engine.py): the access record costs a fraction of a dict entry per key and
is not charged per key (`record_bytes` 0; the marks' tables count as measured). OBJECT IDLETIME
then walks the key's shard (`run_second`). A key without a record (none since the policy
changed, below) has been idle since then.

Eviction metadata costs memory, so it is kept only while a policy needs it:

- LRU (allkeys-lru, volatile-lru) costs nothing per key: an accessed key is re-inserted at the
  end of its shard dict (`touch`, stamped as marks are), so each shard's dict order *is* its
  exact LRU order, and migration keeps that order (engine.py; keys written *during* a step
  land in their new shard ahead of older keys migrated after them, so the order is
  approximate there until they are read or evicted). Eviction takes the first (least recently used) key of the fullest of
  `maxmemory-samples` random shards. With shards of ~256-512 keys hashed uniformly, that
  key is among the oldest ~0.3% globally: measured, the hit ratio equals exact LRU's with
  the same number of keys.
- LFU (allkeys-lfu, volatile-lfu) keeps Redis's LFU field as the key's access record: the
  minute of its last access << 8 | an 8-bit logarithmic counter. A new key starts at
  LFU_INIT_VAL (Redis's createObject); an access decays the counter by the minutes elapsed
  and counts (`touch`: Redis's updateLFU, LFUDecrAndReturn then LFULogIncr); OBJECT FREQ and
  eviction read it decayed (`lfu_counter`). So an untouched key decays like any other, as in
  Redis (a counter table holding only touched keys, decayed in buckets, left new keys at
  LFU_INIT_VAL forever: at each minute boundary every key read once fell to the level of keys
  never read, and the read-through hit ratio dropped by up to 1.7 points). Records are ints
  shared per (minute, counter) (`AccessClock.lfu_records`), so a record costs its dict entry
  as a second does. Keys that existed before the policy was selected have no record and count
  as new (Redis: "LRU and LFU data will take some time to adjust"). Eviction offers
  `maxmemory-samples` neighbouring keys at a random place of a random shard (as
  dictGetSomeKeys takes neighbouring buckets) to Redis's eviction pool (evictionPoolPopulate):
  up to EVICTION_POOL candidates in order of their counter when sampled and, among equal
  counters, of their place in their shard (nearer the front, written longer ago, first:
  `_least_frequent`), then of arrival; a candidate no less frequent than every one of a full
  pool is dropped, else it pushes out the most frequent; the first candidate that still
  exists is evicted. Equal counters are the rule (most keys hold 5 to 7): taking them in
  arrival order rather than, as before, in key order was measured worth 0.6 points of hit
  ratio, and by their place first about 0.1 more (bench/README.md).
- random and volatile-ttl policies keep nothing: volatile-ttl pops the expiry heap, which
  yields the soonest deadline exactly.
"""

from __future__ import annotations

import random
import time
from bisect import insort_right
from collections.abc import Callable
from itertools import islice
from operator import itemgetter
from sys import getsizeof
from typing import TYPE_CHECKING

from tandemkv.clock import Clock
from tandemkv.config import MAXMEMORY_POLICIES
from tandemkv.keyspace.engine import SHARD_HASH_SHIFT, TAIL, run_second
from tandemkv.values import BYTES_SIZES as _BYTES_SIZES

if TYPE_CHECKING:
    from tandemkv.keyspace.engine import (
        Accessed,
        Deadlines,
        Engine,
        Shard,
        ShardTriple,
        TableGrowth,
    )
    from tandemkv.keyspace.keyspace import Keyspace

POLICIES = MAXMEMORY_POLICIES

# What a policy tracks per access (MemoryAccount.tracking).
TRACK_NONE = 0
TRACK_ORDER = 1  # re-insert accessed keys: shard order = LRU order
TRACK_FREQUENCY = 2  # an LFU counter per key, in its access record

VALUES_ENTRY_BYTES = 40
# A key's entry in its shard's access-seconds dict: a dict entry like the above (the int it
# points to is shared by every key accessed in the same second).
ACCESS_ENTRY_BYTES = 40
DEADLINES_ENTRY_BYTES = 40
# deadlines-dict entry 40 + int (> 2**30) 32 + heap tuple 64 + heap list slot 8.
DEADLINE_BYTES = DEADLINES_ENTRY_BYTES + 104
# sys.getsizeof of a dict without a table (never used, or cleared): the dict object alone.
EMPTY_DICT_BYTES = getsizeof({})
# Dicts measured per slice of `measure_tables`: 0.12 us each when cached, 0.3-0.5 us at 10 M
# keys (measured in the server's cron: 8192 dicts took 2-4 ms), so ~1 ms a slice.
TABLE_SLICE_DICTS = 2048
# Keys copied by compaction that count as one dict measured in that budget (a copy costs about
# 15 ns a key, a dict measured 0.12-0.5 us).
COMPACT_KEYS_PER_UNIT = 16
# Compaction copies a dict of n keys only if the copy leaves room for n / COMPACT_MIN_ROOM more
# before CPython grows it again: each copy is then paid for by that many inserts (at most
# COMPACT_MIN_ROOM keys copied per key inserted), and none is made that CPython would undo after
# a few inserts. Measured on the Zipf workload (LFU, bound at 10%): 4 kept 3% fewer keys than
# no limit, 32 about 1% fewer.
COMPACT_MIN_ROOM = 32
# Eviction checks the shard of one eviction in this many for compaction (about 0.5 us a check):
# under a bound each shard still gets checked many times a second.
COMPACT_EVERY_EVICTIONS = 8
# CPython's dict table (3.11, keys that are not all str): a 32-byte header, then an index of
# 2**k slots (1, 2, 4 or 8 bytes each by size), then 2/3 * 2**k entries of 24 bytes.
DICT_KEYS_HEADER_BYTES = 32
# A bytearray (a string changed in place by a bitmap command): its object, whose buffer
# (length + 1, rounded as the allocator does) is a separate allocation.
BYTEARRAY_OBJECT_BYTES = 56
DICT_ENTRY_SLOT_BYTES = 24

# Redis's defaults (lfu-log-factor 10, lfu-decay-time 1 minute, LFU_INIT_VAL 5).
LFU_LOG_FACTOR = 10
LFU_DECAY_MINUTES = 1
LFU_INIT_VAL = 5

# How many keys volatile-lru / volatile-lfu look at from the front of a shard for keys with a
# deadline before falling back to the shard's deadlines (bounded work per eviction).
VOLATILE_SCAN_KEYS = 64
# Candidates LFU eviction remembers between evictions (Redis's EVPOOL_SIZE).
EVICTION_POOL = 16
# Deferred LRU marks moved per slice of `measure_tables`, all databases together (each move finds
# the key after it: about 3 us in a shard of 500 keys, so up to about 0.8 ms).
DEFERRED_SLICE_KEYS = 256
# Keys evicted between two looks at the clock.
KEYS_PER_CLOCK_CHECK = 16

EVICT_OK = 0  # under the bound (or no bound)
EVICT_RUNNING = 1  # still over: the time budget ran out, more slices will follow
EVICT_FAIL = 2  # still over and nothing can be evicted (noeviction, or no candidate keys)


def value_bytes(value: object, _sizes: tuple[int, ...] = _BYTES_SIZES, _small: int = len(_BYTES_SIZES)) -> int:
    """Bytes held by a stored value: strings exactly, collections as they keep count
    (`nbytes`, values/__init__.py)."""
    cls = value.__class__
    if cls is bytes:
        n = len(value)  # type: ignore[arg-type]
        return _sizes[n] if n < _small else (n + 33 + 8 + 15) & ~15
    if cls is bytearray:  # a bitmap changed in place: the object, and its buffer apart
        return BYTEARRAY_OBJECT_BYTES + ((len(value) + 1 + 15) & ~15)  # type: ignore[arg-type]
    return value.nbytes  # type: ignore[attr-defined,no-any-return]


def entry_bytes(key: bytes, value: object, _sizes: tuple[int, ...] = _BYTES_SIZES, _small: int = len(_BYTES_SIZES)) -> int:
    """Bytes charged for a key without a deadline: key, value and the key's values-dict entry
    (its access record is charged apart: `MemoryAccount.record_bytes`)."""
    n = len(key)
    return (_sizes[n] if n < _small else value_bytes(key)) + value_bytes(value) + VALUES_ENTRY_BYTES


class MemoryAccount:
    """The memory bound shared by every database: settings, accounted bytes, eviction stats."""

    __slots__ = (
        "access",
        "evicted_keys",
        "limit_bytes",
        "peak_bytes",
        "policy",
        "pool",
        "record_bytes",
        "records_complete",
        "samples",
        "table_db",
        "tracking",
        "used_bytes",
    )

    def __init__(
        self, limit_bytes: int = 0, policy: str = "noeviction", samples: int = 5, *, clock: Clock | None = None
    ) -> None:
        # The second every database's accesses record (OBJECT IDLETIME); `clock` is theirs.
        self.access = AccessClock(clock or Clock())
        self.used_bytes = 0
        self.peak_bytes = 0
        self.evicted_keys = 0
        self.limit_bytes = limit_bytes
        self.samples = samples
        self.policy = policy
        self.tracking = TRACK_NONE
        self.record_bytes = ACCESS_ENTRY_BYTES  # a key's access record, charged per key
        # Every key has a record (policies without LRU or LFU, apply_settings): until a switch
        # from LRU or LFU leaves keys without one.
        self.records_complete = True
        # LFU eviction candidates: (score when sampled, key, db), best first (offer_candidate).
        self.pool: list[tuple[float, bytes, Keyspace]] = []
        self.table_db = 0  # the database whose dict tables `measure_tables` is measuring
        self.configure(limit_bytes, policy, samples)

    def configure(self, limit_bytes: int, policy: str, samples: int) -> None:
        assert policy in POLICIES, policy
        self.limit_bytes = limit_bytes
        self.policy = policy
        self.samples = samples
        self.pool = []
        if policy.endswith("-lfu"):
            self.tracking = TRACK_FREQUENCY
        elif policy.endswith("-lru"):
            self.tracking = TRACK_ORDER
        else:
            self.tracking = TRACK_NONE
        # Under LRU, marks (engine.py): no record per key.
        self.record_bytes = 0 if self.tracking == TRACK_ORDER else ACCESS_ENTRY_BYTES

    @property
    def key_dict_bytes(self) -> int:
        """A key's estimated share of its shard's dicts: values entry and access record."""
        return VALUES_ENTRY_BYTES + self.record_bytes

    @property
    def over(self) -> bool:
        """True when a bound is set and the accounted bytes exceed it."""
        return 0 < self.limit_bytes < self.used_bytes

    def note_peak(self) -> int:
        """Record the current usage in the peak; returns the peak."""
        if self.used_bytes > self.peak_bytes:
            self.peak_bytes = self.used_bytes
        return self.peak_bytes


def _dict_bytes(log2: int) -> int:
    """sys.getsizeof of a dict (keys not all str) whose table has 2**log2 slots."""
    index_bytes = 1 if log2 < 8 else 2 if log2 < 16 else 4 if log2 < 32 else 8
    slots = 1 << log2
    entries = 2 * slots // 3
    return EMPTY_DICT_BYTES + DICT_KEYS_HEADER_BYTES + slots * index_bytes + entries * DICT_ENTRY_SLOT_BYTES


# By log2 of the slots of a table: sys.getsizeof of a dict with it, and the most keys a copy
# into it is made for (it must leave room for 1/COMPACT_MIN_ROOM as many new keys).
_DICT_BYTES = tuple(_dict_bytes(log2) for log2 in range(64))
_COPY_MAX_KEYS = tuple((2 << log2) // 3 * COMPACT_MIN_ROOM // (COMPACT_MIN_ROOM + 1) for log2 in range(64))


def _copy_log2(n: int) -> int:
    """log2 of the slots CPython gives `dict(d)` for a dict `d` of `n` keys whose table is
    larger than they need (estimate_log2_keysize: the smallest power of two >= 1.5 n, or twice
    that when 1.5 n is one); at least 16 slots, as smaller tables are not worth a copy."""
    return ((3 * n + 1) >> 1 | 15).bit_length()


def fresh_dict_bytes(n: int) -> int:
    """sys.getsizeof of a fresh copy of a dict of `n` keys (for up to 5 keys: of 5 keys)."""
    return _DICT_BYTES[_copy_log2(n)]


def compactable(d: dict) -> bool:  # type: ignore[type-arg]
    """True if compaction would replace `d`: its table is larger than a fresh copy of its keys
    would have, and that copy would leave room for new keys (COMPACT_MIN_ROOM)."""
    log2 = _copy_log2(len(d))
    return getsizeof(d) > _DICT_BYTES[log2] and len(d) <= _COPY_MAX_KEYS[log2]


def compact_dicts(
    dicts: list[dict],  # type: ignore[type-arg]
    start: int,
    stop: int,
    max_units: int,
    shrank: TableGrowth,
) -> tuple[int, int, int]:
    """Replace each `compactable` dict of dicts[start:stop] by a copy (same items, same order,
    a table sized for them), stopping once `max_units` units of work are done (a dict looked
    at is one, a copy one more per COMPACT_KEYS_PER_UNIT keys), and report each copy's change
    of table bytes to `shrank` (Keyspace.table_grew). Only for dicts no caller holds (see the
    module docstring). Returns (the table bytes of the dicts looked at, afterwards; the units
    done; the index after the last dict looked at)."""
    total = 0
    units = 0
    sizes = _DICT_BYTES
    max_keys = _COPY_MAX_KEYS
    index = start
    while index < stop and units < max_units:
        d = dicts[index]
        size = getsizeof(d)
        n = len(d)
        log2 = ((3 * n + 1) >> 1 | 15).bit_length()  # compactable(d), inlined: measured per dict
        if size > sizes[log2] and n <= max_keys[log2]:
            d = dicts[index] = dict(d)
            before, size = size, getsizeof(d)
            shrank(dicts, index, size - before)
            units += n // COMPACT_KEYS_PER_UNIT
        total += size - EMPTY_DICT_BYTES
        units += 1
        index += 1
    return total, units, index


def compact_shard(engine: Engine, index: int, shrank: TableGrowth) -> None:
    """Compact those of the values, deadlines and access dicts of shard `index` of `engine` that
    are larger than their keys need (`compact_dicts`): after an eviction, between commands."""
    for dicts in (engine.values, engine.deadlines, engine.accessed):
        compact_dicts(dicts, index, index + 1, 1, shrank)


def table_bytes(dicts: list[dict]) -> int:  # type: ignore[type-arg]
    """Bytes of the tables of `dicts` (each dict's size less that of a dict without a table)."""
    return sum(map(getsizeof, dicts)) - len(dicts) * EMPTY_DICT_BYTES


class TableMeter:
    """One database's pass over its dicts for `table_bytes` (see the module docstring): the
    lists of dicts still to measure (taken when the pass starts: engines that appear later are
    measured by the next pass), the place in the last one, and the bytes found so far. The
    pass compacts the dicts of the lists it is told are the current engine's."""

    __slots__ = ("found_bytes", "index", "todo")

    def __init__(self) -> None:
        self.todo: list[list[dict]] = []  # type: ignore[type-arg]
        self.index = 0
        self.found_bytes = 0

    def measure(
        self,
        lists: Callable[[], list[list[dict]]],  # type: ignore[type-arg]
        max_dicts: int,
        compactable: tuple[list[dict], ...],  # type: ignore[type-arg]
        shrank: TableGrowth,
    ) -> tuple[int, int | None]:
        """Measure up to about `max_dicts` dicts (a pass starts with `lists()` if none is
        running), compacting those of the lists in `compactable` first (`compact_dicts`: keys
        copied count against `max_dicts` too, one dict's copy may go past it; each copy's
        change is reported to `shrank` at once); returns (dicts
        measured plus copy units, the table bytes found if the pass completed, else None)."""
        if not self.todo:
            self.todo = lists()[::-1]
            self.index = 0
            self.found_bytes = 0
        measured = 0
        todo = self.todo
        while todo and measured < max_dicts:
            dicts = todo[-1]
            start = self.index
            # Freeing pops dicts from the end of an engine's lists: never read past the end.
            stop = max(start, min(len(dicts), start + max_dicts - measured))
            if any(dicts is current for current in compactable):
                found, units, stop = compact_dicts(dicts, start, stop, max_dicts - measured, shrank)
                measured += units
            else:
                found = table_bytes(dicts[start:stop])
                measured += stop - start
            self.found_bytes += found
            self.index = stop
            if self.index >= len(dicts):
                todo.pop()
                self.index = 0
        return measured, None if todo else self.found_bytes

    def reset(self) -> None:
        """Drop the pass in progress (its figures are stale, e.g. after a flush)."""
        self.todo = []

    def grew(self, dicts: list[dict], index: int, delta: int) -> None:  # type: ignore[type-arg]
        """dicts[index] grew by `delta` bytes, charged as it happened: the pass in progress
        adds it unless it has yet to measure that dict (and so will see the growth itself)."""
        todo = self.todo
        if not todo:
            return  # no pass in progress: the next one measures every dict afresh
        if todo[-1] is dicts:
            if index >= self.index:
                return
        elif any(pending is dicts for pending in todo):
            return
        self.found_bytes += delta


def measure_tables(account: MemoryAccount, dbs: list[Keyspace], max_dicts: int = TABLE_SLICE_DICTS) -> None:
    """One slice of the dict-table measurement: continue the pass over the database at
    `account.table_db`, then the next ones, measuring at most about `max_dicts` dicts. Moves
    up to DEFERRED_SLICE_KEYS deferred LRU marks first, of all databases (engine.py)."""
    budget = DEFERRED_SLICE_KEYS
    for db in dbs:
        if db.tandem.deferred and budget > 0:
            budget -= db.tandem.settle_deferred(budget)
    for _ in range(len(dbs)):
        db = dbs[account.table_db % len(dbs)]
        measured, done = db.measure_tables(max_dicts)
        max_dicts -= measured
        if not done:
            return
        account.table_db = (account.table_db + 1) % len(dbs)
        if max_dicts <= 0:
            return


def touch(
    db: Keyspace,
    values: Shard,
    accessed: Accessed,
    key: bytes,
    value: object,
    _random: Callable[[], float] = random.random,
) -> None:
    """An access to live `key` (now holding `value`) under an LRU or LFU policy, by the Keyspace
    on reads and writes. LRU moves the key to the end of its shard (most recently used),
    stamped with the second (engine.py, marks); LFU updates its record as Redis's updateLFU does: the counter decayed
    by the minutes since the last access (`lfu_counter`), then LFULogIncr (probabilistic,
    saturating at 255), stamped with the current minute."""
    access = db.access
    if db.memory.tracking == TRACK_ORDER:
        db.tandem.touch_lru(values, accessed, key, value, access.second)
        return
    values[key] = value
    counter = lfu_counter(accessed.get(key), access.minute)
    if counter < 255:
        base = counter - LFU_INIT_VAL
        if base <= 0 or _random() * (base * LFU_LOG_FACTOR + 1) < 1.0:
            counter += 1
    accessed[key] = access.lfu_records[counter]


def lfu_counter(record: int | None, minute: int) -> int:
    """The LFU counter in an access record (minute << 8 | counter), less one per
    LFU_DECAY_MINUTES since that minute (Redis's LFUDecrAndReturn, never below 0; no decay if
    the clock went back); a key without a record counts as new, LFU_INIT_VAL."""
    if record is None:
        return LFU_INIT_VAL
    counter = record & 255
    periods = (minute - (record >> 8)) // LFU_DECAY_MINUTES
    if periods > 0:
        return counter - periods if counter > periods else 0
    return counter


def lfu_frequency(db: Keyspace, key: bytes) -> int:
    """OBJECT FREQ of live `key` under an LFU policy: its decayed counter."""
    shard = db.tandem.locate(key)
    assert shard is not None
    return lfu_counter(shard[2].get(key), db.access.minute)


class AccessClock:
    """The Unix second that accesses record, shared by every database of a MemoryAccount: one
    int object per second, so that every key accessed in that second points to the same int.
    Under LFU, records are `lfu_records[counter]`: minute << 8 | counter, one int object per
    (minute, counter) for the same reason.

    Like Redis's LRU clock (server.lruclock, refreshed by serverCron rather than read on every
    access), `second` is read on the hot path and refreshed by whoever runs commands, once per
    batch of them: `refresh()` (server/connection.py per read from a client, store.py per
    command). Reading the wall clock on every access instead was measured at 8-14% of pipelined
    GET/SET throughput."""

    __slots__ = ("ends_s", "lfu_records", "minute", "now_s", "second", "since_s")

    def __init__(self, clock: Clock) -> None:
        self.now_s: Callable[[], float] = (
            time.time if type(clock).now_ms is Clock.now_ms else lambda: clock.now_ms() / 1000
        )
        self.second = 0
        self.ends_s = 0
        self.minute = -1
        self.lfu_records: list[int] = []
        self.refresh()
        # When access records (re)started: a key without one has been idle since then.
        self.since_s = self.second

    def refresh(self, now_s: float | None = None) -> None:
        """Bring `second` up to date (a new int object only when the second changed); `now_s`
        is the caller's own reading of the clock, when it already has one."""
        if now_s is None:
            now_s = self.now_s()
        if not self.second <= now_s < self.ends_s:
            self.second = second = int(now_s)
            self.ends_s = second + 1
            if second // 60 != self.minute:
                self.minute = minute = second // 60
                self.lfu_records = [minute << 8 | counter for counter in range(256)]


def idle_seconds(db: Keyspace, key: bytes) -> int:
    """OBJECT IDLETIME of live `key` under a policy other than LFU: whole seconds since its last
    access (never negative, should the wall clock step back)."""
    shard = db.tandem.locate(key)
    assert shard is not None
    values, _deadlines, accessed = shard
    access = db.access
    if db.memory.tracking != TRACK_ORDER:
        second = accessed.get(key)
    else:
        second = db.tandem.deferred.get(key)
        if second is None:
            second = run_second(values, accessed, key)
    return max(0, int(access.now_s()) - (access.since_s if second is None else second))


def apply_settings(account: MemoryAccount, dbs: list[Keyspace], limit_bytes: int, policy: str, samples: int) -> None:
    """New maxmemory settings. Access records change meaning with the tracking:

    - LFU records are counters, so they are dropped when an LFU policy starts or stops: keys
      then count as new (LFU) or as idle since the switch, as Redis's reinterpreted LRU field
      needs "some time to adjust";
    - an LRU policy's marks stay as the seconds of their keys when it stops, the other keys
      counting as idle since the switch (`records_complete` is then False);
    - per-key seconds become marks when an LRU policy starts, each key its own mark, if every
      key has one; if not, they are dropped, keys counting as idle since the switch (a key
      without a record after a mark would count as accessed when the mark was). Each shard's
      first key is marked.

    The per-key charge for a record (`record_bytes`) moves to the measured tables."""
    was_tracking, was_record_bytes = account.tracking, account.record_bytes
    account.configure(limit_bytes, policy, samples)
    tracking = account.tracking
    drop = TRACK_FREQUENCY in (was_tracking, tracking) and was_tracking != tracking
    if tracking == TRACK_ORDER and was_tracking == TRACK_NONE and not account.records_complete:
        drop = True
    for db in dbs:
        tandem = db.tandem
        if was_tracking == TRACK_ORDER and tracking != TRACK_ORDER:
            for key, second in tandem.deferred.items():  # marks, their own seconds now
                found = tandem.locate(key)
                assert found is not None
                found[2][key] = second
            tandem.deferred = {}
        tandem.marks = account.access if tracking == TRACK_ORDER else None
        # Used memory is unchanged: the keys' shares move between the entries and the tables.
        db.table_bytes -= len(db) * (account.record_bytes - was_record_bytes)
    if was_tracking == tracking:
        return
    account.records_complete = tracking != TRACK_NONE or was_tracking == TRACK_NONE
    access = account.access
    if drop or was_tracking == TRACK_ORDER:
        access.since_s = int(access.now_s())
    for db in dbs:
        tandem = db.tandem
        for engine in (tandem.engine, tandem.old):
            if engine is None:
                continue
            for values, accessed in zip(engine.values, engine.accessed, strict=True):
                if drop:
                    accessed.clear()
                if tracking == TRACK_ORDER:
                    accessed.pop(TAIL, None)
                    if values:
                        first = next(iter(values))
                        if first not in accessed:
                            accessed[first] = access.since_s
                else:
                    accessed.pop(TAIL, None)


# ------------------------------------------------------------------ eviction


def evict(account: MemoryAccount, dbs: list[Keyspace], clock: Clock, budget_us: int) -> int:
    """Evict keys by the policy until under the bound, for at most about `budget_us`.

    Returns EVICT_OK (under the bound), EVICT_RUNNING (budget spent, still over) or
    EVICT_FAIL (still over, nothing evictable: noeviction, or no key the policy may take).
    Call only between commands: it may compact the shards it evicts from (`compact_shard`).
    """
    if not 0 < account.limit_bytes < account.used_bytes:
        return EVICT_OK
    if account.policy == "noeviction":
        return EVICT_FAIL
    stop_us = clock.monotonic_us() + budget_us
    while True:
        for _ in range(KEYS_PER_CLOCK_CHECK):
            victim = _choose(account, dbs)
            if victim is None:
                return EVICT_FAIL
            db, key = victim
            if key == db.unevictable:
                # The keyspace-event stream is never evicted: treated as just used (LRU and
                # LFU then look past it), and the other keys are tried, if there are any.
                if not _others_evictable(account, dbs, db, key):
                    return EVICT_FAIL
                db.lookup(key)
                continue
            db.evict(key)
            account.evicted_keys += 1
            if not account.evicted_keys % COMPACT_EVERY_EVICTIONS:
                engine = db.tandem.engine
                compact_shard(engine, (hash(key) >> SHARD_HASH_SHIFT) & engine.mask, db.table_grew)
            if account.used_bytes <= account.limit_bytes:
                return EVICT_OK
        if clock.monotonic_us() >= stop_us:
            return EVICT_RUNNING


def _choose(account: MemoryAccount, dbs: list[Keyspace]) -> tuple[Keyspace, bytes] | None:
    """The next (database, key) the policy gives up, or None if there is none."""
    policy = account.policy
    if policy == "volatile-ttl":
        return _soonest_deadline(dbs)
    side = 1 if policy.startswith("volatile-") else 0
    db = _weighted_db(dbs, side)
    if db is None:
        return None
    if account.tracking == TRACK_ORDER:
        # The fullest of `samples` shards: keeping shard sizes even makes each shard's least
        # recently used key about as old as any other's.
        best = _lru_shard(db, side, account.samples)
        key = _front_keys(best[0], best[1], 1, side == 1)[0]
        # A deferred mark was accessed since it took its place: moved to the end, not evicted.
        while db.tandem.settle(key):
            key = _front_keys(best[0], best[1], 1, side == 1)[0]
        return db, key
    if account.tracking == TRACK_FREQUENCY:
        return _least_frequent(account, db, side)
    return db, _keys_at_random_place(_random_shard(db, side)[side], 1)[0]


def _others_evictable(account: MemoryAccount, dbs: list[Keyspace], db: Keyspace, key: bytes) -> bool:
    """Whether the policy may take a key other than `db`'s unevictable `key`."""
    if account.policy.startswith("volatile-"):
        total = sum(d.tandem.volatile for d in dbs)
        return total > (1 if db.deadline_ms(key) is not None else 0)
    return sum(d.tandem.count for d in dbs) > 1


def _keys_at_random_place(keys: Shard | Deadlines, count: int) -> list[bytes]:
    """`count` neighbouring keys at a uniformly random place of a non-empty shard dict."""
    return [key for key, _age in _aged_keys_at_random_place(keys, count)]


def _aged_keys_at_random_place(keys: Shard | Deadlines, count: int) -> list[tuple[bytes, float]]:
    """`count` neighbouring keys at a uniformly random place of a non-empty shard dict, each
    with its place as a fraction of the shard (0 first: the longest in the shard).

    A dict has no random access: reaching a place costs a walk (about 10 ns a key), from the
    nearer end, so at most half the shard (~2000 keys, ~20 us worst, ~5 us typical)."""
    size = len(keys)
    place = int(random.random() * size)
    if place < size // 2:
        return [(key, (place + i) / size) for i, key in enumerate(islice(keys, place, place + count))]
    return [(key, (place - i) / size) for i, key in enumerate(islice(reversed(keys), size - 1 - place, size - 1 - place + count))]


def _least_frequent(account: MemoryAccount, db: Keyspace, side: int) -> tuple[Keyspace, bytes] | None:
    """LFU, Redis's way (evictionPoolPopulate, performEvictions): `samples` neighbouring keys
    from a random place of a random shard, scored by their decayed counter, are offered to the
    eviction pool (see the module docstring), and the first candidate that still exists goes,
    with the score it had when sampled. The pool keeps a sample of only hot keys from costing a
    hot key its place. Among equal counters the key longer in its shard (nearer its front:
    under LFU a shard's order is the order its keys were written) scores lower: it had more
    time to be read and was not."""
    minute = db.access.minute
    pool = account.pool
    shard = _random_shard(db, side)
    accessed = shard[2]
    for key, age in _aged_keys_at_random_place(shard[side], account.samples):
        offer_candidate(pool, lfu_counter(accessed.get(key), minute) + age, key, db)
    while pool:
        _counter, key, entry_db = pool.pop(0)
        found = entry_db.tandem.locate(key)
        if found is not None and (not side or key in found[1]):
            return entry_db, key
        # Deleted since it was sampled, or lost its deadline (volatile-lfu): next candidate.
    return None


def offer_candidate(pool: list[tuple[float, bytes, Keyspace]], score: float, key: bytes, db: Keyspace) -> None:
    """Offer `key` (LFU `score`: its counter, plus less than 1 for its place) to the eviction
    pool, kept as Redis's evictionPoolPopulate keeps it: in order of score and, among equal
    scores, of arrival (the candidate goes after its equals); a full pool drops a candidate no
    less frequent than all it holds, else makes room by dropping its most frequent."""
    if len(pool) >= EVICTION_POOL:
        if score >= pool[-1][0]:
            return
        pool.pop()
    insort_right(pool, (score, key, db), key=_score_of)


_score_of = itemgetter(0)


def _weighted_db(dbs: list[Keyspace], side: int) -> Keyspace | None:
    """A database picked with probability proportional to its key count (side 0) or count of
    keys with a deadline (side 1), in one pass (weighted reservoir sampling)."""
    chosen = None
    total = 0
    for db in dbs:
        weight = db.tandem.volatile if side else db.tandem.count
        if weight:
            total += weight
            if random.random() * total < weight:
                chosen = db
    return chosen


def _live_shards(db: Keyspace) -> int:
    """How many shards may hold keys: the current engine's, and the old engine's not migrated."""
    tandem = db.tandem
    old = tandem.old
    return len(tandem.engine.values) + (len(old.values) - tandem.cursor if old is not None else 0)


def _live_shard(db: Keyspace, index: int) -> tuple[ShardTriple, int]:
    """Shard `index` of `_live_shards` (the current engine's first), and the shard count of its
    engine (during a step an old shard covers the hash range of two new ones, or half of one)."""
    tandem = db.tandem
    engine = tandem.engine
    if index < len(engine.values):
        return engine.triple(index), engine.shards
    old = tandem.old
    assert old is not None
    return old.triple(tandem.cursor + index - len(engine.values)), old.shards


def _random_shard(db: Keyspace, side: int) -> ShardTriple:
    """A random shard (values, deadlines, accessed) of `db` whose values (side 0) or deadlines
    (side 1) are not empty.

    The caller knows there is one. Random picks first (shards fill evenly under hashing), then
    a full look when the keys are few and most shards empty."""
    total = _live_shards(db)
    for _ in range(8):
        shard = _live_shard(db, int(random.random() * total))[0]
        if shard[side]:
            return shard
    return random.choice([shard for index in range(total) if (shard := _live_shard(db, index)[0])[side]])


def _lru_shard(db: Keyspace, side: int, count: int) -> ShardTriple:
    """LRU eviction's shard: the fullest of `count` distinct random shards with keys (side 0)
    or keys with a deadline (side 1). Fullness is keys times the shards of the shard's engine:
    during a step an old shard covers the hash range of two new ones (or half of one), and
    comparing key counts alone evicted the old engine's recent keys. (Ranking by the second of
    each shard's first key first cost a walk past each table's deleted front entries: 15% more
    per eviction.)"""
    total = _live_shards(db)
    # Distinct shards (consecutive ones from a random place: keys are hashed, neighbours are
    # as independent as any): drawn at random, the few shards of a small keyspace were
    # sometimes all one, perhaps an old shard that migration has drained to its newest keys.
    if total <= count:
        picks = range(total)
    else:
        start = int(random.random() * total)
        picks = range(start, start + count)
    best = None
    best_load = 0
    for place in picks:
        shard, shards = _live_shard(db, place % total)
        load = len(shard[side]) * shards
        if load > best_load:
            best, best_load = shard, load
    return best if best is not None else _random_shard(db, side)


def _front_keys(values: Shard, deadlines: Deadlines, count: int, volatile: bool) -> list[bytes]:
    """Up to `count` keys from the front (least recently used end) of a non-empty shard."""
    if not volatile:
        return list(islice(values, count))
    found = [key for key in islice(values, VOLATILE_SCAN_KEYS) if key in deadlines][:count]
    # None among the least recently used: the key that got its deadline longest ago.
    return found or list(islice(deadlines, count))


def _soonest_deadline(dbs: list[Keyspace]) -> tuple[Keyspace, bytes] | None:
    """volatile-ttl: the key with the soonest deadline, from the expiry heaps (exact); an
    unevictable key (the keyspace-event stream) is passed over, its timer put back after."""
    spared: tuple[Keyspace, bytes, int] | None = None
    try:
        while True:
            best: Keyspace | None = None
            best_ms = 0
            for db in dbs:
                if db.volatile_count:
                    deadline = db.expiry.next_deadline_ms()
                    if deadline is not None and (best is None or deadline < best_ms):
                        best, best_ms = db, deadline
            if best is None:
                return None
            key = best.expiry.pop_due(best_ms)
            assert key is not None
            pair = best.tandem.locate(key)
            real_ms = pair[1].get(key) if pair is not None else None
            if real_ms is None:
                continue  # a stale heap entry: the key is gone or lost its deadline
            if real_ms != best_ms:
                best.expiry.reschedule(key, real_ms)
                continue
            if key == best.unevictable:
                spared = (best, key, real_ms)
                continue
            return best, key
    finally:
        if spared is not None:
            spared[0].expiry.reschedule(spared[1], spared[2])
