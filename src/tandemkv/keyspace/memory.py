"""Memory accounting and eviction: the memory bound that makes tandemkv a cache or a database.

Accounting. Every entry is charged what CPython allocates for it, kept up to date by the
Keyspace as it goes (set, overwrite, delete, expiry, flush), never by walking the data:

- a bytes object (key or string value) of n bytes is a 33 + n byte object; pymalloc serves
  objects up to 512 bytes in 16-byte size classes, larger ones come from malloc (8-byte
  header, 16-byte alignment): `object_bytes`;
- each key's share of its shard's dicts: its values-dict entry (24-byte entry + index slot,
  dicts being 1/3 to 2/3 full; VALUES_ENTRY_BYTES, measured as the mean over shard sizes
  512..4096) and its access record (ACCESS_ENTRY_BYTES, below): DICT_ENTRY_BYTES;
- a key with a deadline adds its deadlines-dict entry, the int object and the expiry heap's
  (deadline, key) tuple and list slot: DEADLINE_BYTES.

Dict tables, measured. The per-key dict shares above (DICT_ENTRY_BYTES and the deadlines-dict
entry in DEADLINE_BYTES) are only an estimate: a CPython dict's table is a power of two of
slots, 2/3 usable, so its cost per entry runs from about 30 to about 60 bytes depending on how
full the shard is (and a dict never shrinks when keys are deleted; only freeing it returns the
table). With a fixed share, used_memory / RSS growth fell from 0.98 at 1 M keys to 0.82 at 5 M
and 10 M. So each Keyspace also carries `table_bytes`, a correction: the real table bytes
(sys.getsizeof of every shard dict, less an empty dict's) of every engine it holds (current,
old during a step, retired until freed, flushed until freed, as Redis counts
lazyfree_pending; spares never hold keys, so their tables are empty) and of its LFU counter
buckets, minus the estimated shares of its keys. `measure_tables` computes it in slices of
TABLE_SLICE_DICTS dicts (about 1 ms at 10 M keys, where most dicts are cache misses) from the
server's cron and Store.tick, one pass over a database after another, and applies it when a
pass completes: used_memory lags the real table sizes by at most one pass (about 2.5 s at 10 M
keys, hz 10), which is acceptable for the bound since tables change by at most a doubling per shard in that time. Between passes, keys are
charged their estimated share, so MEMORY USAGE stays a per-key figure as in Redis.
Measured (16-byte keys and values): used/RSS growth 0.97 at 1 M keys; at 5 M, 0.74 as loaded
but 0.98 after MEMORY PURGE: the rest of the RSS is free memory glibc keeps (the tables freed
by dict resizes and migration steps), which used_memory leaves out as Redis leaves out
fragmentation.

`MemoryAccount.used_bytes` is the sum over every database. The bound (`maxmemory`) applies to
it: the interpreter's own footprint at startup (tens of MB, reported by the commands layer as
used_memory_startup) is not the operator's data and is left out, so `maxmemory 100mb` means
100 MB of data and RSS grows by about that much.

Eviction (`evict`), Redis's performEvictions in bounded slices: called before a command runs
while over the bound, and by the server's background slices; it removes keys chosen by the
policy until the account is back under the bound or the time budget is spent, and never
evicts a key more than needed.

Access seconds (OBJECT IDLETIME). Redis keeps a 24-bit LRU clock in every object whatever the
policy; tandemkv keeps, under every policy but LFU (where Redis answers OBJECT IDLETIME with an
error and the LFU counter takes the place of the time), the Unix second of each key's last
access in its shard's `accessed` dict (engine.py: moved with the key by migration, freed with
the engine). Every read or write that Redis counts as an access (a lookup without
LOOKUP_NOTOUCH) stores the current second, `AccessClock.second`, which the command runners
refresh once per batch of commands; `Keyspace.peek` is the lookup that does not. All keys
accessed in one second share one int object, so an access record costs only its dict entry: ACCESS_ENTRY_BYTES, the same shape as a values-dict entry, charged to every
key (under LFU it stands for the key's FrequencyTable counter). Measured with 1 M keys of 16-byte
keys and values: RSS 211 bytes a key instead of 171 (accounted: 208 instead of 168); an access
costs about 30 ns more (its dict store).

Eviction metadata costs memory, so it is kept only while a policy needs it:

- LRU (allkeys-lru, volatile-lru) costs nothing per key: an accessed key is re-inserted at the
  end of its shard dict (`touch`), so each shard's dict order *is* its exact LRU order, and
  migration keeps that order (engine.py; keys written *during* a step land in their new shard
  ahead of older keys migrated after them, so the order is approximate there until they are
  read or evicted). Eviction takes the first (least recently used) key of the fullest of
  `maxmemory-samples` random shards. With shards of ~1000-4000 keys hashed uniformly, that
  key is among the oldest ~0.05% globally: measured, the hit ratio equals exact LRU's.
- LFU (allkeys-lfu, volatile-lfu) keeps Redis's 8-bit logarithmic counter per key that was
  read or written since the policy was selected (`FrequencyTable`); the others count as new
  (LFU_INIT_VAL). Counters are small ints (0..255), which CPython shares, so a counter costs
  only its dict entry. Eviction takes `maxmemory-samples` neighbouring keys at a random place
  of a random shard into a pool of the EVICTION_POOL least frequent candidates (Redis's
  eviction pool) and evicts the least frequent. Decay is per bucket (`FrequencyTable`).
- random and volatile-ttl policies keep nothing: volatile-ttl pops the expiry heap, which
  yields the soonest deadline exactly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from itertools import islice
from sys import getsizeof
from typing import TYPE_CHECKING

from tandemkv.clock import Clock
from tandemkv.config import MAXMEMORY_POLICIES

if TYPE_CHECKING:
    from tandemkv.keyspace.engine import Deadlines, Shard
    from tandemkv.keyspace.keyspace import Keyspace

POLICIES = MAXMEMORY_POLICIES

# What a policy tracks per access (MemoryAccount.tracking).
TRACK_NONE = 0
TRACK_ORDER = 1  # re-insert accessed keys: shard order = LRU order
TRACK_FREQUENCY = 2  # the order, plus an LFU counter per key

VALUES_ENTRY_BYTES = 40
# A key's entry in its shard's access-seconds dict: a dict entry like the above (the int it
# points to is shared by every key accessed in the same second).
ACCESS_ENTRY_BYTES = 40
DICT_ENTRY_BYTES = VALUES_ENTRY_BYTES + ACCESS_ENTRY_BYTES
DEADLINES_ENTRY_BYTES = 40
# deadlines-dict entry 40 + int (> 2**30) 32 + heap tuple 64 + heap list slot 8.
DEADLINE_BYTES = DEADLINES_ENTRY_BYTES + 104
# sys.getsizeof of a dict without a table (never used, or cleared): the dict object alone.
EMPTY_DICT_BYTES = getsizeof({})
# Dicts measured per slice of `measure_tables`: 0.12 us each when cached, 0.3-0.5 us at 10 M
# keys (measured in the server's cron: 8192 dicts took 2-4 ms), so ~1 ms a slice.
TABLE_SLICE_DICTS = 2048
_PYMALLOC_MAX = 512

# Redis's defaults (lfu-log-factor 10, lfu-decay-time 1 minute, LFU_INIT_VAL 5).
LFU_LOG_FACTOR = 10
LFU_DECAY_MINUTES = 1
LFU_INIT_VAL = 5
DECAY_PERIOD_MS = 60_000 * LFU_DECAY_MINUTES
FREQUENCY_BUCKETS = 1024

# How many keys volatile-lru / volatile-lfu look at from the front of a shard for keys with a
# deadline before falling back to the shard's deadlines (bounded work per eviction).
VOLATILE_SCAN_KEYS = 64
# Candidates LFU eviction remembers between evictions (Redis's EVPOOL_SIZE).
EVICTION_POOL = 16
# Keys evicted between two looks at the clock.
KEYS_PER_CLOCK_CHECK = 16

EVICT_OK = 0  # under the bound (or no bound)
EVICT_RUNNING = 1  # still over: the time budget ran out, more slices will follow
EVICT_FAIL = 2  # still over and nothing can be evicted (noeviction, or no candidate keys)


def object_bytes(size: int) -> int:
    """Bytes allocated for a CPython object whose sys.getsizeof is `size`."""
    if size <= _PYMALLOC_MAX:
        return (size + 15) & ~15
    return (size + 8 + 15) & ~15


# object_bytes(33 + n) for the bytes objects pymalloc serves (n < 480), looked up on the hot path.
_BYTES_SIZES = tuple(object_bytes(33 + n) for n in range(_PYMALLOC_MAX - 32))


def value_bytes(value: object, _sizes: tuple[int, ...] = _BYTES_SIZES, _small: int = len(_BYTES_SIZES)) -> int:
    """Bytes held by a stored value (strings exactly, containers by their elements)."""
    if value.__class__ is bytes:
        n = len(value)  # type: ignore[arg-type]
        return _sizes[n] if n < _small else (n + 33 + 8 + 15) & ~15
    return _container_bytes(value)


def _container_bytes(value: object) -> int:
    total = object_bytes(getsizeof(value))
    if isinstance(value, dict):
        for field, item in value.items():
            total += value_bytes(field) + value_bytes(item)
    elif isinstance(value, list | tuple | set | frozenset) or hasattr(value, "__iter__"):
        for item in value:  # type: ignore[attr-defined]
            total += value_bytes(item)
    return total


def entry_bytes(key: bytes, value: object, _sizes: tuple[int, ...] = _BYTES_SIZES, _small: int = len(_BYTES_SIZES)) -> int:
    """Bytes charged for a key without a deadline: key, value and the key's dict entry."""
    n = len(key)
    return (_sizes[n] if n < _small else value_bytes(key)) + value_bytes(value) + DICT_ENTRY_BYTES


class MemoryAccount:
    """The memory bound shared by every database: settings, accounted bytes, eviction stats."""

    __slots__ = (
        "access",
        "evicted_keys",
        "limit_bytes",
        "peak_bytes",
        "policy",
        "pool",
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
        # LFU eviction candidates: (counter when sampled, id of db, key, db), best first.
        self.pool: list[tuple[int, int, bytes, Keyspace]] = []
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

    @property
    def over(self) -> bool:
        """True when a bound is set and the accounted bytes exceed it."""
        return 0 < self.limit_bytes < self.used_bytes

    def note_peak(self) -> int:
        """Record the current usage in the peak; returns the peak."""
        if self.used_bytes > self.peak_bytes:
            self.peak_bytes = self.used_bytes
        return self.peak_bytes


def table_bytes(dicts: list[dict]) -> int:  # type: ignore[type-arg]
    """Bytes of the tables of `dicts` (each dict's size less that of a dict without a table)."""
    return sum(map(getsizeof, dicts)) - len(dicts) * EMPTY_DICT_BYTES


class TableMeter:
    """One database's pass over its dicts for `table_bytes` (see the module docstring): the
    lists of dicts still to measure (taken when the pass starts: engines that appear later are
    measured by the next pass), the place in the last one, and the bytes found so far."""

    __slots__ = ("found_bytes", "index", "todo")

    def __init__(self) -> None:
        self.todo: list[list[dict]] = []  # type: ignore[type-arg]
        self.index = 0
        self.found_bytes = 0

    def measure(self, lists: Callable[[], list[list[dict]]], max_dicts: int) -> tuple[int, int | None]:  # type: ignore[type-arg]
        """Measure up to `max_dicts` dicts (a pass starts with `lists()` if none is running);
        returns (dicts measured, the table bytes found if the pass completed, else None)."""
        if not self.todo:
            self.todo = lists()[::-1]
            self.index = 0
            self.found_bytes = 0
        measured = 0
        todo = self.todo
        while todo and measured < max_dicts:
            dicts = todo[-1]
            # Freeing pops dicts from the end of an engine's lists: never read past the end.
            chunk = dicts[self.index : self.index + max_dicts - measured]
            self.found_bytes += table_bytes(chunk)
            measured += len(chunk)
            self.index += len(chunk)
            if self.index >= len(dicts):
                todo.pop()
                self.index = 0
        return measured, None if todo else self.found_bytes

    def reset(self) -> None:
        """Drop the pass in progress (its figures are stale, e.g. after a flush)."""
        self.todo = []


def measure_tables(account: MemoryAccount, dbs: list[Keyspace], max_dicts: int = TABLE_SLICE_DICTS) -> None:
    """One slice of the dict-table measurement: continue the pass over the database at
    `account.table_db`, then the next ones, measuring at most about `max_dicts` dicts."""
    for _ in range(len(dbs)):
        db = dbs[account.table_db % len(dbs)]
        measured, done = db.measure_tables(max_dicts)
        max_dicts -= measured
        if not done:
            return
        account.table_db = (account.table_db + 1) % len(dbs)
        if max_dicts <= 0:
            return


class FrequencyTable:
    """Redis's LFU counters (8-bit, logarithmic) for one database, beside the engine.

    The counters live in FREQUENCY_BUCKETS fixed dicts keyed by hash, independent of the
    engine's shards, so migration never has to move them and no dict grows past
    keys/FREQUENCY_BUCKETS entries. A key without a counter has LFU_INIT_VAL (new keys start
    there, as in Redis). Decay is applied per bucket: the first touch of a bucket in a new
    period lowers all its counters by the periods elapsed (Redis lowers each key's counter by
    its own idle periods; the per-bucket sweep costs no per-key timestamp).
    """

    __slots__ = ("buckets", "periods")

    def __init__(self) -> None:
        self.buckets: list[dict[bytes, int]] = [{} for _ in range(FREQUENCY_BUCKETS)]
        self.periods = [0] * FREQUENCY_BUCKETS

    def _bucket(self, key: bytes, now_ms: int) -> dict[bytes, int]:
        """The bucket of `key`, decayed first if a new period began since it was last used."""
        index = hash(key) & (FREQUENCY_BUCKETS - 1)
        period = now_ms // DECAY_PERIOD_MS
        if self.periods[index] == period:
            return self.buckets[index]
        elapsed = period - self.periods[index]
        self.periods[index] = period
        bucket = self.buckets[index]
        if bucket and elapsed > 0:
            bucket = self.buckets[index] = {k: c - elapsed for k, c in bucket.items() if c > elapsed}
        return bucket

    def touch(self, key: bytes, now_ms: int, _random: Callable[[], float] = random.random) -> None:
        """One access: Redis's LFULogIncr (probabilistic, saturating at 255)."""
        bucket = self._bucket(key, now_ms)
        counter = bucket.get(key, LFU_INIT_VAL)
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base <= 0 or _random() * (base * LFU_LOG_FACTOR + 1) < 1.0:
                bucket[key] = counter + 1

    def get(self, key: bytes, now_ms: int) -> int:
        """The decayed counter of `key` (OBJECT FREQ)."""
        return self._bucket(key, now_ms).get(key, LFU_INIT_VAL)

    def discard(self, key: bytes) -> None:
        self.buckets[hash(key) & (FREQUENCY_BUCKETS - 1)].pop(key, None)

    def __len__(self) -> int:
        return sum(map(len, self.buckets))


def touch(db: Keyspace, values: Shard, key: bytes, value: object) -> None:
    """An access to `key` (now holding `value`) under an LRU or LFU policy, by the Keyspace on
    reads and writes: LRU moves the key to the end of its shard (most recently used), LFU
    counts it."""
    if db.memory.tracking == TRACK_ORDER:
        del values[key]
        values[key] = value
        return
    values[key] = value
    table = db.frequencies
    if table is None:
        table = db.frequencies = FrequencyTable()
    table.touch(key, db.clock.now_ms())


class AccessClock:
    """The Unix second that accesses record, shared by every database of a MemoryAccount: one
    int object per second, so that every key accessed in that second points to the same int.

    Like Redis's LRU clock (server.lruclock, refreshed by serverCron rather than read on every
    access), `second` is read on the hot path and refreshed by whoever runs commands, once per
    batch of them: `refresh()` (server/connection.py per read from a client, store.py per
    command). Reading the wall clock on every access instead was measured at 8-14% of pipelined
    GET/SET throughput."""

    __slots__ = ("ends_s", "now_s", "second", "since_s")

    def __init__(self, clock: Clock) -> None:
        self.now_s: Callable[[], float] = (
            time.time if type(clock).now_ms is Clock.now_ms else lambda: clock.now_ms() / 1000
        )
        self.second = 0
        self.ends_s = 0
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


def idle_seconds(db: Keyspace, key: bytes) -> int:
    """OBJECT IDLETIME of live `key` under a policy other than LFU: whole seconds since its last
    access (never negative, should the wall clock step back)."""
    shard = db.tandem.locate(key)
    assert shard is not None
    access = db.access
    return max(0, int(access.now_s()) - shard[2].get(key, access.since_s))


def apply_settings(account: MemoryAccount, dbs: list[Keyspace], limit_bytes: int, policy: str, samples: int) -> None:
    """New maxmemory settings. LFU counters are dropped when the policy stops using them; access
    seconds when an LFU policy starts (they would be stale when it stops: keys then count as
    idle since the switch, as Redis's reinterpreted LRU field needs "some time to adjust")."""
    was_frequency = account.tracking == TRACK_FREQUENCY
    account.configure(limit_bytes, policy, samples)
    if account.tracking != TRACK_FREQUENCY:
        for db in dbs:
            db.frequencies = None
        if was_frequency:
            account.access.since_s = int(account.access.now_s())
    elif not was_frequency:
        for db in dbs:
            tandem = db.tandem
            for engine in (tandem.engine, tandem.old):
                if engine is not None:
                    for accessed in engine.accessed:
                        accessed.clear()


# ------------------------------------------------------------------ eviction


def evict(account: MemoryAccount, dbs: list[Keyspace], clock: Clock, budget_us: int) -> int:
    """Evict keys by the policy until under the bound, for at most about `budget_us`.

    Returns EVICT_OK (under the bound), EVICT_RUNNING (budget spent, still over) or
    EVICT_FAIL (still over, nothing evictable: noeviction, or no key the policy may take).
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
            db.evict(key)
            account.evicted_keys += 1
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
        # The fullest of `samples` shards: keeps shard sizes even, so that each shard's least
        # recently used key is about as old as any other's.
        best = _random_pair(db, side)
        for _ in range(account.samples - 1):
            pair = _random_pair(db, side)
            if len(pair[side]) > len(best[side]):
                best = pair
        return db, _front_keys(best[0], best[1], 1, side == 1)[0]
    if account.tracking == TRACK_FREQUENCY:
        return _least_frequent(account, db, side)
    return db, _keys_at_random_place(_random_pair(db, side)[side], 1)[0]


def _keys_at_random_place(keys: Shard | Deadlines, count: int) -> list[bytes]:
    """`count` neighbouring keys at a uniformly random place of a non-empty shard dict.

    A dict has no random access: reaching a place costs a walk (about 10 ns a key), from the
    nearer end, so at most half the shard (~2000 keys, ~20 us worst, ~5 us typical)."""
    size = len(keys)
    place = int(random.random() * size)
    if place < size // 2:
        return list(islice(keys, place, place + count))
    return list(islice(reversed(keys), size - 1 - place, size - 1 - place + count))


def _least_frequent(account: MemoryAccount, db: Keyspace, side: int) -> tuple[Keyspace, bytes] | None:
    """LFU, Redis's way: `samples` neighbouring keys from a random place of a random shard (as
    dictGetSomeKeys takes neighbouring buckets) join the eviction pool, which keeps the
    EVICTION_POOL least frequently used candidates seen so far, scored when sampled; the
    least frequent of the pool that still exists goes. The pool keeps a sample of only hot
    keys from costing a hot key its place."""
    table = db.frequencies
    now_ms = db.clock.now_ms()
    pool = account.pool
    for key in _keys_at_random_place(_random_pair(db, side)[side], account.samples):
        counter = table.get(key, now_ms) if table is not None else LFU_INIT_VAL
        pool.append((counter, id(db), key, db))
    pool.sort(key=_score)
    del pool[EVICTION_POOL:]
    while pool:
        _counter, _id, key, entry_db = pool.pop(0)
        pair = entry_db.tandem.locate(key)
        if pair is not None and (not side or key in pair[1]):
            return entry_db, key
        # Deleted since it was sampled, or lost its deadline (volatile-lfu): next candidate.
    return None


def _score(entry: tuple[int, int, bytes, Keyspace]) -> tuple[int, int, bytes]:
    return entry[0], entry[1], entry[2]


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


def _random_pair(db: Keyspace, side: int) -> tuple[Shard, Deadlines]:
    """A random shard pair of `db` whose values (side 0) or deadlines (side 1) are not empty.

    The caller knows there is one. Random picks first (shards fill evenly under hashing), then
    a full look when the keys are few and most shards empty."""
    tandem = db.tandem
    engine = tandem.engine
    old = tandem.old
    new_shards = len(engine.values)
    old_shards = len(old.values) - tandem.cursor if old is not None else 0
    count = new_shards + old_shards
    for _ in range(8):
        index = int(random.random() * count)
        pair = engine.pair(index) if index < new_shards else old.pair(tandem.cursor + index - new_shards)  # type: ignore[union-attr]
        if pair[side]:
            return pair
    return random.choice([pair for pair in tandem.iter_pairs() if pair[side]])


def _front_keys(values: Shard, deadlines: Deadlines, count: int, volatile: bool) -> list[bytes]:
    """Up to `count` keys from the front (least recently used end) of a non-empty shard."""
    if not volatile:
        return list(islice(values, count))
    found = [key for key in islice(values, VOLATILE_SCAN_KEYS) if key in deadlines][:count]
    # None among the least recently used: the key that got its deadline longest ago.
    return found or list(islice(deadlines, count))


def _soonest_deadline(dbs: list[Keyspace]) -> tuple[Keyspace, bytes] | None:
    """volatile-ttl: the key with the soonest deadline, from the expiry heaps (exact)."""
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
        return best, key
