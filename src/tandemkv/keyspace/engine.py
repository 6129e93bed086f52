"""Engine: a power-of-two array of shards. Tandem: an engine plus, during a step, the old one.

The tandem invariants (the same ones Redis's dict.c keeps for its two tables and `rehashidx`):

1. While idle, `old is None` and every key lives in `engine.values[shard_hash(key) & engine.mask]`.
2. During a step, old shards with index < `cursor` are empty; a key lives either in its new
   shard or in its old shard if that shard's index is >= `cursor` -- never in both.
3. Every write first brings the key *home* (`home(key)`): out of an unmigrated old shard, with
   its deadline, into its new shard. Writes and deletes therefore only ever touch the new
   engine, and migration never overwrites a newer value with an older one.
4. Reads look in the new shard, then in the old shard only if its index is >= `cursor`.
5. Migration pops keys from the shard at `cursor`, oldest first so that shard order (LRU order
   under LRU/LFU policies) survives a step (all of a small shard, part of a large one
   within the time budget), drops the expired ones through `on_expired`, and advances the
   cursor when the shard is empty. When the cursor passes the last old shard, `old = None`
   retires the old engine in one assignment.

Deadlines (absolute Unix ms) live in a parallel array of dicts, so they move with their keys
and no flat dict of the whole keyspace ever has to be resized in one go. So do access records
(OBJECT IDLETIME, OBJECT FREQ, keyspace/memory.py): a third parallel array, moved with the keys
by `home` and by migration, and freed with the engine, so flushing them is lazy too.

Marks. Under an LRU policy a shard's dict order is its LRU order, and the keys' access seconds
rise along it, so they are kept as *marks* rather than one record per key: the accessed dict
holds the first key of each run of keys accessed in the same second, with that second, plus
the shard's last second under the key TAIL. A key's second is its nearest mark at or before it
(`run_second`); the first key of a shard is always a mark. A key put at the end of its shard is
`stamp`ed (a mark only if the second changed), and a mark that leaves its place passes its run
to the key after it (`unmark`). Finding that key is a walk unless the mark is first or last, so
an accessed mark does not move (`Tandem.touch_lru`): it is *deferred*, its own second kept in
`Tandem.deferred`, and moved later, by eviction when it comes first (a second chance: it is
not evicted) or by `settle_deferred` in the background; migration keeps it deferred, the first
key of its run in the new shard.
(Moving it at once cost a walk per access when keys are read in the same order again and
again: each key's run passed to the next key read.) Migration moves keys oldest first with
their run's second (stamped again in the new shard), so it takes each slice's keys from the
front of the shard as it is then, not as it was when the step started: LRU re-insertion moves
keys to the end of an old shard too. With shards of a few hundred keys accessed many times a
second, marks are a fraction of the keys: an LRU cache keeps one dict entry per key instead of
two.

Chores: allocating 2^k empty shards takes about 0.2 us each (1.5 ms for 8192 shards, 9 ms for
32768) and freeing a retired engine about 0.5 us a shard, so neither happens in one go.
Migration frees each old shard's tables as soon as it has drained the shard (about 5 us for a
shard of 512 keys, counted in its work): a dict keeps its table when its keys leave, and
keeping them until the step's end held two generations of tables at once, memory the process
kept afterwards (used_memory / RSS 0.75 just after a step at 5 M keys). While idle the
tandem keeps *spare* engines for the next step up and down, built a few shards at a time; a
finished step's old engine is *retired* and freed a few shards at a time. Chores run in the
same slices as migration (each write and delete, and `migrate`), migration first.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from tandemkv.clock import Clock
from tandemkv.keyspace.expiry import ExpiryClock

Shard = dict[bytes, object]
Deadlines = dict[bytes, int]
# key -> Unix second of its last access (under LFU: its LFU record; under LRU: marks, and TAIL)
Accessed = dict[bytes | None, int]
ShardTriple = tuple[Shard, Deadlines, Accessed]

# Shards are chosen by the *high* half of the key's hash. A dict places keys by the low bits of
# the same hash: choosing shards by the low bits would give every key of a shard the same low
# bits and turn each shard's table into long probe chains (measured: lookups 20% slower with
# 1024 shards than with one dict; with the high half, within 6%).
SHARD_HASH_SHIFT = sys.hash_info.width // 2


def shard_hash(key: bytes) -> int:
    """The hash whose low bits pick a key's shard (index = shard_hash(key) & engine.mask)."""
    return hash(key) >> SHARD_HASH_SHIFT


# Units of chores (keys moved, shards freed or built) paid by each write and each delete, so
# that steps finish even with no tick at all (embedded use). A step up is paid by the writes
# that double the keys: 2 each covers its migration (one move per key) and the freeing and
# spares after it. A step down is paid by the deletes that halve them: half as many writes for
# the same moves, so 4 each. Fewer units per write keep a pipelined write burst short during
# a step (measured: 4 per write made a loop iteration of 800 SETs 8.3 ms instead of 6.3 ms).
KEYS_PER_WRITE = 2
KEYS_PER_DELETE = 4
# Writes and deletes earn their units and spend them this many at a time: one call into the
# chores per 8 writes rather than per write (the calls cost about as much as moving a key).
CHORE_BATCH_UNITS = 16
# The key, in an LRU shard's accessed dict, of the access second of the shard's last key.
TAIL = None
# At most DEFERRED_MIN + count >> DEFERRED_SHARE_SHIFT marks are deferred at once (Tandem.touch_lru):
# keys read in one order over minutes make a mark per shard per second, and the background
# moves only so many (memory.DEFERRED_SLICE_KEYS a slice); past the cap a mark moves at once.
DEFERRED_MIN = 4096
DEFERRED_SHARE_SHIFT = 6
# Bytes of dict table whose freeing costs about as much as moving one key (Engine.free).
FREE_UNIT_BYTES = 4096
# How many keys migration moves between two looks at the clock.
KEYS_PER_CLOCK_CHECK = 128
# sys.getsizeof less the constant GC header, at a fifth of the cost (16 ns): table growth only.
dict_sizeof = dict.__sizeof__
_EMPTY_SIZEOF = dict_sizeof({})
# Called with (list of dicts, index, bytes) when the dict at that index grew its table.
TableGrowth = Callable[[list[dict], int, int], None]  # type: ignore[type-arg]


def _put(dicts: list[dict], index: int, key: bytes, value: object) -> None:  # type: ignore[type-arg]
    dicts[index][key] = value


def watched_put(dicts: list[dict], index: int, key: bytes, value: object, grew: TableGrowth) -> None:  # type: ignore[type-arg]
    """`dicts[index][key] = value`, reporting the table growth it causes to `grew` (memory bound:
    a growth is charged in the write that makes it, not at the next table measurement).

    Every insert is measured: CPython grows a table when an insert finds no free entry, and in
    a dict that had keys deleted (eviction, expiry, LRU's re-insertion) that happens at no
    length that could be predicted from outside (measured: predicting it for dicts without
    deleted entries alone left a 100 MB bound up to 0.94 MB over)."""
    d = dicts[index]
    before = dict_sizeof(d)
    d[key] = value
    if dict_sizeof(d) != before:
        grew(dicts, index, dict_sizeof(d) - before)


class Seconds(Protocol):
    """What marks are stamped from: the current access second (memory.AccessClock)."""

    second: int


def _mark(accessed: Accessed, key: bytes, second: int) -> None:
    """`key`, put at the end of its LRU shard, starts a run of `second`."""
    accessed[key] = accessed[TAIL] = second


def stamp(accessed: Accessed, key: bytes, second: int) -> None:
    """`key` was just put at the end of its LRU shard, accessed at `second`: a mark if the
    shard's last key was accessed in another second."""
    if accessed.get(TAIL) != second:
        _mark(accessed, key, second)


def unmark(values: Shard, accessed: Accessed, key: bytes) -> None:
    """Mark `key` is about to leave its place in its LRU shard: its run passes to the key
    after it (the last key's second is then unknown, and the next `stamp` marks)."""
    second = accessed.pop(key)
    after = _key_after(values, key)
    if after is None:
        accessed.pop(TAIL, None)
    elif after not in accessed:
        accessed[after] = second


def _key_after(values: Shard, key: bytes) -> bytes | None:
    """The key after `key` in its shard's order, or None. Marks leave mostly from the front
    (eviction, migration) or near the end (a recently accessed key accessed again), so both
    are looked at first; elsewhere the shard's keys are listed (about 3 ns a key)."""
    keys = iter(values)
    if next(keys) == key:
        return next(keys, None)
    last = list(islice(reversed(values), 8))
    if key in last:
        place = last.index(key)
        return last[place - 1] if place else None
    ordered = list(values)
    place = ordered.index(key) + 1
    return ordered[place] if place < len(ordered) else None


def run_second(values: Shard, accessed: Accessed, key: bytes) -> int | None:
    """The access second of `key` in an LRU shard: its nearest mark at or before it (None if
    no mark precedes it). A walk of the shard: for OBJECT IDLETIME, not the request path."""
    second = None
    for each in values:
        mark = accessed.get(each)
        if mark is not None:
            second = mark
        if each == key:
            return second
    raise KeyError(key)


class Engine:
    """2^k shards of values, their deadlines and access seconds, in three parallel lists.

    No per-shard tuple is stored: each would be an object the cyclic garbage collector walks
    on every full collection (tens of thousands of them at 10 M keys: a 6-10 ms pause), while
    the three lists are three objects whatever the shard count. `pair(i)` and `triple(i)`
    build the tuples on demand.

    `Engine(n, built=False)` starts with no shard allocated: `build` adds them in slices, and
    the engine may serve keys only once `complete`."""

    __slots__ = ("accessed", "deadlines", "mask", "values")

    def __init__(self, shards: int, *, built: bool = True) -> None:
        assert shards > 0 and shards & (shards - 1) == 0, "shards must be a power of two"
        self.values: list[Shard] = []
        self.deadlines: list[Deadlines] = []
        self.accessed: list[Accessed] = []
        self.mask = shards - 1
        if built:
            self.build(shards)

    @property
    def shards(self) -> int:
        return self.mask + 1

    @property
    def complete(self) -> bool:
        return len(self.values) > self.mask

    def pair(self, index: int) -> tuple[Shard, Deadlines]:
        return self.values[index], self.deadlines[index]

    def triple(self, index: int) -> ShardTriple:
        return self.values[index], self.deadlines[index], self.accessed[index]

    def iter_pairs(self, start: int = 0, step: int = 1) -> Iterator[tuple[Shard, Deadlines]]:
        return zip(self.values[start::step], self.deadlines[start::step], strict=True)

    def key_count(self) -> int:
        return sum(map(len, self.values))

    def build(self, limit: int) -> bool:
        """Allocate up to `limit` more shards; True when all are there."""
        values, deadlines, accessed = self.values, self.deadlines, self.accessed
        for _ in range(min(limit, self.mask + 1 - len(values))):
            # An empty dict allocates no table: a shard's access dict costs memory once used.
            values.append({})
            deadlines.append({})
            accessed.append({})
        return len(values) > self.mask

    def free(self, max_units: int, release: Callable[[Any], None]) -> int:
        """Drop shards (and their keys) from the end until about `max_units` units of work were
        done or none is left; returns the units done. A unit is about the cost of moving one key:
        a shard costs one, plus one per key it still holds, plus one per FREE_UNIT_BYTES of its
        dict tables (freeing a table walks its entry slots even when every key has left it:
        an emptied table of 1,365 entries, 37 KB, takes about 2.8 us). Collections are handed
        to `release` first, which keeps the big ones to free in slices."""
        done = 0
        values, deadlines, accessed = self.values, self.deadlines, self.accessed
        while values and done < max_units:
            tables = sys.getsizeof(values[-1]) + sys.getsizeof(deadlines.pop()) + sys.getsizeof(accessed.pop())
            shard = values.pop()
            for value in shard.values():
                if value.__class__ is not bytes:
                    release(value)
            done += 1 + len(shard) + tables // FREE_UNIT_BYTES
        return done


def _keep_nothing(value: Any) -> None:
    """A retired engine holds no keys: nothing of it is freed later."""


@dataclass(slots=True)
class TandemStats:
    steps_up: int = 0
    steps_down: int = 0
    gc_dropped_keys: int = 0
    migrated_keys: int = 0
    migration_time_us_total: int = 0
    last_migration_time_us: int = 0


class Tandem:
    """One database's keys: the current engine and, while a step runs, the old one."""

    __slots__ = (
        "_chores",
        "_credit",
        "_free_credit",
        "_grow_at",
        "_in_chores",
        "_retired",
        "_shrink_at",
        "_spare_down",
        "_spare_up",
        "_step_started_us",
        "before_move",
        "clock",
        "count",
        "cursor",
        "deferred",
        "engine",
        "expiry_clock",
        "high_keys",
        "low_keys",
        "marks",
        "min_shards",
        "old",
        "on_expired",
        "on_step",
        "on_table_growth",
        "stats",
        "volatile",
    )

    def __init__(
        self,
        clock: Clock,
        expiry_clock: ExpiryClock | None = None,
        *,
        min_shards: int = 1,
        high_keys: int = 512,
        low_keys: int = 64,
        on_expired: Callable[[bytes, object], None] | None = None,
        on_step: Callable[[str, Tandem], None] | None = None,
    ) -> None:
        self.clock = clock
        self.expiry_clock = expiry_clock or ExpiryClock(clock)  # migration drops keys past it
        self.min_shards = _power_of_two_at_least(min_shards)
        self.high_keys = high_keys
        self.low_keys = min(low_keys, high_keys // 4)
        self.engine = Engine(self.min_shards)
        self.old: Engine | None = None
        self.cursor = 0
        self.count = 0  # keys in both engines
        self.volatile = 0  # keys with a deadline
        self.stats = TandemStats()
        self.on_expired = on_expired or (lambda key, value: None)
        # Under an LRU policy (set by the Keyspace): access seconds are kept as marks, stamped
        # from this clock on keys that `home` or migration moves.
        self.marks: Seconds | None = None
        # Marks accessed but not moved yet (see the module docstring): key -> its access second.
        self.deferred: dict[bytes, int] = {}
        self.on_step = on_step or (lambda event, tandem: None)
        # Memory bound: set (by the Keyspace) while a bound is set, so that the dict tables
        # keys are moved into report their growth as it happens (watched_put).
        self.on_table_growth: TableGrowth | None = None
        # Fork-less snapshots (persistence/snapshot.py): while one runs, called with the old
        # shard's index before migration moves keys out of it (into the new shards it maps to).
        self.before_move: Callable[[int], None] | None = None
        self._step_started_us = 0
        self._retired: list[Engine] = []
        self._free_credit = 0  # units of freeing owed (< 0) by chores, see _do_chores
        self._spare_up = self._spare_down = self.engine
        self._chores = False  # migration, retired engines or spares left to do
        # A chore is running: the keys it expires are reported (on_expired) from inside it, and
        # a write made by that report (the keyspace-event stream) must not start another.
        self._in_chores = False
        self._credit = 0  # units earned by writes and deletes, not spent yet (CHORE_BATCH_UNITS)
        self._set_thresholds()

    # ----------------------------------------------------------------- lookups

    def locate(self, key: bytes) -> ShardTriple | None:
        """The (values, deadlines, accessed) of the shard holding `key`, or None. Never moves
        anything."""
        h = hash(key) >> SHARD_HASH_SHIFT
        engine = self.engine
        index = h & engine.mask
        if key in engine.values[index]:
            return engine.values[index], engine.deadlines[index], engine.accessed[index]
        old = self.old
        if old is not None:
            index = h & old.mask
            if index >= self.cursor and key in old.values[index]:
                return old.values[index], old.deadlines[index], old.accessed[index]
        return None

    def home(self, key: bytes) -> ShardTriple:
        """The new engine's (values, deadlines, accessed) for `key`, after moving the key there
        (with its deadline and access second) if it was old.

        Every write goes through here (invariant 3), and pays for a little migration.
        """
        if self._chores:
            self._credit += KEYS_PER_WRITE
            if self._credit >= CHORE_BATCH_UNITS:
                self._spend_credit()
        h = hash(key) >> SHARD_HASH_SHIFT
        engine = self.engine
        triple = engine.triple(h & engine.mask)
        old = self.old
        if old is not None:
            index = h & old.mask
            if index >= self.cursor:
                old_values, old_deadlines, old_accessed = old.triple(index)
                if key in old_values:
                    grew = self.on_table_growth
                    if grew is not None or self.marks is not None:
                        self._move_slowly(key, h & engine.mask, old_values, old_deadlines, old_accessed, grew)
                        return triple
                    triple[0][key] = old_values.pop(key)
                    if old_deadlines and key in old_deadlines:
                        triple[1][key] = old_deadlines.pop(key)
                    if old_accessed and key in old_accessed:
                        triple[2][key] = old_accessed.pop(key)
        return triple

    def _move_slowly(
        self,
        key: bytes,
        index: int,
        old_values: Shard,
        old_deadlines: Deadlines,
        old_accessed: Accessed,
        grew: TableGrowth | None,
    ) -> None:
        """`home`'s move of `key` into new shard `index` while a bound is set (reporting table
        growth to `grew`) or under an LRU policy (marks: the key is a write's, accessed now)."""
        engine = self.engine
        put = _put if grew is None else lambda dicts, i, k, v: watched_put(dicts, i, k, v, grew)
        marks = self.marks
        if marks is not None and old_accessed and key in old_accessed:
            old = self.old
            assert old is not None
            self._watched(old.accessed, shard_hash(key) & old.mask, unmark, old_values, old_accessed, key)
            self.deferred.pop(key, None)  # a write's: stamped now below
        put(engine.values, index, key, old_values.pop(key))
        if old_deadlines and key in old_deadlines:
            put(engine.deadlines, index, key, old_deadlines.pop(key))
        if marks is not None:
            accessed = engine.accessed[index]
            before = dict_sizeof(accessed)
            stamp(accessed, key, marks.second)
            if grew is not None and dict_sizeof(accessed) != before:
                grew(engine.accessed, index, dict_sizeof(accessed) - before)
        elif old_accessed and key in old_accessed:
            put(engine.accessed, index, key, old_accessed.pop(key))

    # ------------------------------------------------------------------ marks

    def touch_lru(self, values: Shard, accessed: Accessed, key: bytes, value: object, second: int) -> None:
        """An access to `key` (now holding `value`) at `second` under an LRU policy: to the end
        of its shard (values, accessed), stamped; a mark other than the first or last key of its
        shard is deferred instead (see the module docstring), up to a share of the keys."""
        if key in accessed:
            if next(iter(values)) == key:
                unmark(values, accessed, key)  # the first key: the next one is at hand
            elif next(reversed(values)) == key:
                _mark(accessed, key, second)  # the last key: a run of its own
                self.deferred.pop(key, None)
                values[key] = value
                return
            elif key in self.deferred or len(self.deferred) < DEFERRED_MIN + (self.count >> DEFERRED_SHARE_SHIFT):
                self.deferred[key] = second
                values[key] = value
                return
            else:  # too many deferred already (keys scanned in one order, slowly): moved now
                unmark(values, accessed, key)
            self.deferred.pop(key, None)
        del values[key]
        values[key] = value
        stamp(accessed, key, second)

    def settle(self, key: bytes) -> bool:
        """Move deferred `key` to the end of its shard with its own second; False if it was not
        deferred (nothing done)."""
        second = self.deferred.pop(key, None)
        if second is None:
            return False
        h = shard_hash(key)
        engine = self.engine
        if key not in engine.values[h & engine.mask]:
            engine = self.old  # type: ignore[assignment]
            assert engine is not None and key in engine.values[h & engine.mask], "a deferred key is live"
        index = h & engine.mask
        values, accessed = engine.values[index], engine.accessed[index]
        grew = self.on_table_growth
        before = (dict_sizeof(values), dict_sizeof(accessed)) if grew is not None else None
        if key in accessed:
            unmark(values, accessed, key)
        values[key] = values.pop(key)
        stamp(accessed, key, second)
        if grew is not None and before is not None:  # memory bound: growth charged at once
            for dicts, size in ((engine.values, before[0]), (engine.accessed, before[1])):
                if dict_sizeof(dicts[index]) != size:
                    grew(dicts, index, dict_sizeof(dicts[index]) - size)  # type: ignore[arg-type]
        return True

    def settle_deferred(self, limit: int) -> int:
        """Move up to `limit` deferred keys, longest deferred first; returns how many."""
        keys = list(islice(self.deferred, limit))
        for key in keys:
            self.settle(key)
        return len(keys)

    # ------------------------------------------------------------ bookkeeping

    def added(self) -> None:
        """A key was stored that did not exist; may start a step up."""
        self.count += 1
        if self.count > self._grow_at:
            self._maybe_step()

    def removed(self, had_deadline: bool) -> None:
        """A key was deleted; pays for a little migration, or may start a step down.

        Deletes move keys too, so a delete-only workload (mass DEL, mass expiry) finishes each
        step down before the next is due, with no tick at all."""
        self.count -= 1
        if had_deadline:
            self.volatile -= 1
        if self._chores:
            self._credit += KEYS_PER_DELETE
            if self._credit >= CHORE_BATCH_UNITS:
                self._spend_credit()
        if self.count < self._shrink_at:
            self._maybe_step()

    def clear(self) -> list[Engine]:
        """Empty the tandem; returns the detached engines so the caller can free them lazily."""
        detached = [self.engine, *self._retired, self._spare_up, self._spare_down]
        if self.old is not None:
            detached.append(self.old)
        self.engine = Engine(self.min_shards)
        self.old = None
        self.cursor = 0
        self.count = 0
        self.volatile = 0
        self.deferred = {}
        self._retired = []
        self._set_thresholds()
        return detached

    def reserve(self, keys: int) -> None:
        """Size an empty tandem for `keys` keys at once, instead of growing through steps as
        they arrive (loading a file whose RESIZEDB tells how many); nothing if it holds keys
        or is stepping."""
        if self.count or self.old is not None:
            return
        shards = self.min_shards
        while shards * self.high_keys < keys:
            shards *= 2
        if shards != self.engine.shards:
            self.engine = Engine(shards)
            self._set_thresholds()

    # ----------------------------------------------------------------- stepping

    @property
    def migrating(self) -> bool:
        """A step is in progress (two engines)."""
        return self.old is not None

    @property
    def busy(self) -> bool:
        """Background work is left: migration, freeing a retired engine, or building spares."""
        return self._chores

    def _set_thresholds(self) -> None:
        """Thresholds and spare engines for the current engine (at start, step start, retune)."""
        shards = self.engine.shards
        self._grow_at = shards * self.high_keys
        self._shrink_at = shards * self.low_keys if shards > self.min_shards else -1
        self._spare_up = Engine(shards * 2, built=False)
        self._spare_down = Engine(max(1, shards // 2), built=False)
        self._chores = True

    def retune(self, *, min_shards: int, high_keys: int, low_keys: int) -> None:
        self.min_shards = _power_of_two_at_least(min_shards)
        self.high_keys = high_keys
        self.low_keys = min(low_keys, high_keys // 4)
        self._set_thresholds()
        self._maybe_step()

    def _maybe_step(self) -> None:
        """Start one step up or down if the key count calls for it and no step is running."""
        if self.old is not None:
            return
        shards = self.engine.shards
        if self.count > self._grow_at or shards < self.min_shards:
            target = self._spare_up
            self.stats.steps_up += 1
            event = "up"
        elif self.count < self._shrink_at:
            target = self._spare_down
            self.stats.steps_down += 1
            event = "down"
        else:
            return
        # Normally complete already; if writes outran the chores, finish it now.
        target.build(target.shards)
        self.old = self.engine
        self.engine = target
        self.cursor = 0
        self._step_started_us = self.clock.monotonic_us()
        self._set_thresholds()
        self.on_step(f"start-{event}", self)

    def migrate(self, budget_us: int) -> bool:
        """Move keys (then free retired shards, build spares) for about `budget_us`;
        True when no background work is left (`busy` is False)."""
        if not self._chores:
            return True
        stop_us = self.clock.monotonic_us() + budget_us
        while self._chores:
            self._do_chores(KEYS_PER_CLOCK_CHECK)
            if self.clock.monotonic_us() >= stop_us:
                break
        return not self._chores

    def migrate_keys(self, limit: int) -> bool:
        """Do up to `limit` units of background work whatever the time (a unit: one key moved,
        one shard freed or allocated); True when none is left. For callers that count work
        rather than time (tests)."""
        if self._chores:
            self._do_chores(limit)
        return not self._chores

    def _spend_credit(self) -> None:
        """Do the chore units writes and deletes have earned (CHORE_BATCH_UNITS or a few more)."""
        credit, self._credit = self._credit, 0
        self._do_chores(credit)

    def _do_chores(self, limit: int) -> None:
        """Up to `limit` units of one chore: migration first, then retired engines, then spares.
        Never nested: inside a chore, writes and deletes only earn credit."""
        if self._in_chores:
            return
        self._in_chores = True
        try:
            self._one_chore(limit)
        finally:
            self._in_chores = False

    def _one_chore(self, limit: int) -> None:
        if self.old is not None:
            self._migrate_keys(limit)
        elif self._retired:
            # A shard can cost more units than one call brings: the excess is paid by the
            # calls that follow, so each write's share of the freeing stays about `limit`.
            self._free_credit += limit
            if self._free_credit > 0:
                engine = self._retired[-1]
                # Never a surplus: what an emptied engine left unused is not carried over.
                self._free_credit = min(0, self._free_credit - engine.free(self._free_credit, _keep_nothing))
                if not engine.values:
                    self._retired.pop()
        elif not self._spare_up.build(limit):
            return
        elif self._spare_down.build(limit):
            self._chores = False

    def _migrate_keys(self, limit: int) -> None:
        """Move up to `limit` keys from the old engine (invariant 5)."""
        old = self.old
        assert old is not None
        engine = self.engine
        values, deadlines, accessed, mask = engine.values, engine.deadlines, engine.accessed, engine.mask
        grew = self.on_table_growth
        marks = self.marks is not None
        now_ms: int | None = None  # read once, at the first deadline met
        moved = migrated = 0
        while moved < limit:
            cursor = self.cursor
            if cursor > old.mask:
                self.stats.migrated_keys += migrated
                self._finish_step()
                return
            old_values = old.values[cursor]
            if not old_values:
                moved += self._drop_drained(old, cursor)
                self.cursor = cursor + 1
                continue
            if self.before_move is not None:
                self.before_move(cursor)
            old_deadlines, old_accessed = old.deadlines[cursor], old.accessed[cursor]
            # Oldest keys first, so the new shard keeps the old one's order: under LRU/LFU
            # policies that order is the LRU order (keyspace/memory.py). Taken afresh each
            # slice: keys deleted, written or accessed since have left the front.
            order = list(islice(old_values, limit - moved))
            moved += len(order)
            second = None  # marks: the second of the run being moved
            for key in order:
                value = old_values.pop(key)
                index = (hash(key) >> SHARD_HASH_SHIFT) & mask
                if old_accessed:
                    record = old_accessed.pop(key, None)
                    if marks and record is not None:
                        second = record
                else:
                    record = None
                if old_deadlines:
                    deadline = old_deadlines.pop(key, None)
                    if deadline is not None:
                        if now_ms is None:
                            now_ms = self.expiry_clock.now_ms()
                        if deadline <= now_ms and self.expiry_clock.background:
                            # Garbage collection: an expired key is dropped, not copied
                            # (and forgotten as deferred: a new key of that name is not).
                            self.count -= 1
                            self.volatile -= 1
                            self.stats.gc_dropped_keys += 1
                            if self.deferred:
                                self.deferred.pop(key, None)
                            self.on_expired(key, value)
                            continue
                        if grew is None:
                            deadlines[index][key] = deadline
                        else:
                            watched_put(deadlines, index, key, deadline, grew)
                # A deferred mark stays one, and deferred: it keeps its run's first place.
                mark_it = stamp if record is None or not self.deferred or key not in self.deferred else _mark
                if grew is None:
                    values[index][key] = value
                    if marks:
                        if second is not None:
                            mark_it(accessed[index], key, second)
                    elif record is not None:
                        accessed[index][key] = record
                else:  # watched_put, inlined: about one move per write while a bound fills up
                    before = dict_sizeof(d := values[index])
                    d[key] = value
                    if dict_sizeof(d) != before:
                        grew(values, index, dict_sizeof(d) - before)
                    if marks or record is not None:
                        before = dict_sizeof(d := accessed[index])
                        if not marks:
                            d[key] = record
                        elif second is not None:
                            mark_it(d, key, second)
                        if dict_sizeof(d) != before:
                            grew(accessed, index, dict_sizeof(d) - before)
                migrated += 1
            if marks and old_values and second is not None:
                # The shard's new first key starts a run: it must be a mark.
                first = next(iter(old_values))
                if first not in old_accessed:
                    self._watched(old.accessed, cursor, old_accessed.__setitem__, first, second)
        self.stats.migrated_keys += migrated

    def _watched(self, dicts: list[Accessed], index: int, change: Callable[..., None], *args: object) -> None:
        """`change(*args)`, a change of access dict `dicts[index]`, its table growth reported
        while a bound is set."""
        grew = self.on_table_growth
        if grew is None:
            change(*args)
            return
        before = dict_sizeof(dicts[index])
        change(*args)
        if dict_sizeof(dicts[index]) != before:
            grew(dicts, index, dict_sizeof(dicts[index]) - before)  # type: ignore[arg-type]

    def _drop_drained(self, old: Engine, index: int) -> int:
        """Free the tables of old shard `index`, just drained (a dict keeps its table when its
        keys leave), so the new engine's tables, growing during the step, reuse their memory
        (reported as negative growth while a bound is set); returns the units of work done (as
        Engine.free counts them)."""
        freed = 0
        grew = self.on_table_growth
        for dicts in (old.values, old.deadlines, old.accessed):
            table = dict_sizeof(dicts[index]) - _EMPTY_SIZEOF
            dicts[index] = {}
            if table and grew is not None:
                grew(dicts, index, -table)
            freed += table
        return freed // FREE_UNIT_BYTES

    def _finish_step(self) -> None:
        assert self.old is not None
        self._retired.append(self.old)
        self.old = None
        self.cursor = 0
        elapsed_us = self.clock.monotonic_us() - self._step_started_us
        self.stats.last_migration_time_us = elapsed_us
        self.stats.migration_time_us_total += elapsed_us
        self.on_step("end", self)
        self._maybe_step()

    def engines_holding_keys(self) -> list[Engine]:
        """The engines that hold keys or did (their dict tables stay until freed): current,
        old during a step, retired ones not yet freed. Spares never held any."""
        engines = [self.engine, *self._retired]
        if self.old is not None:
            engines.append(self.old)
        return engines

    # ------------------------------------------------------------ iteration

    def iter_pairs(self) -> Iterator[tuple[Shard, Deadlines]]:
        """Every shard pair that may hold keys (new engine, then unmigrated old shards)."""
        yield from self.engine.iter_pairs()
        if self.old is not None:
            yield from self.old.iter_pairs(self.cursor)

    def scan_shards(self, cursor: int) -> tuple[list[tuple[Shard, Deadlines]], int]:
        """The shard pairs covering scan position `cursor`, and the next cursor (0 = done).

        SCAN's guarantee across steps comes from Redis's reverse-binary cursor (dict.c
        dictScan): the cursor counts over the *smaller* engine's shard indices with its bits
        reversed, and visits every shard of the larger engine that expands that index. A key
        present for the whole iteration is returned at least once whatever steps happen
        between calls; keys may be returned twice.
        """
        small = self.engine
        large = self.old
        if large is not None and large.mask < small.mask:
            small, large = large, small
        index = cursor & small.mask
        pairs = [small.pair(index)]
        if large is not None:
            pairs.extend(large.iter_pairs(index, small.mask + 1))
        # The old engine's shards below the migration cursor are empty; visiting them is cheap.
        return pairs, _next_cursor(cursor, small.mask)

    def info(self) -> dict[str, int]:
        stats = self.stats
        return {
            "shards": self.engine.shards,
            "migrating": int(self.old is not None),
            "old_shards": self.old.shards if self.old is not None else 0,
            "migrated_shards": self.cursor if self.old is not None else 0,
            "keys": self.count,
            "volatile_keys": self.volatile,
            "steps_up": stats.steps_up,
            "steps_down": stats.steps_down,
            "gc_dropped_keys": stats.gc_dropped_keys,
            "migrated_keys": stats.migrated_keys,
            "migration_time_ms_total": stats.migration_time_us_total // 1000,
            "last_migration_time_ms": stats.last_migration_time_us // 1000,
        }


def _next_cursor(cursor: int, mask: int) -> int:
    """Redis's reverse-binary increment of `cursor` over the bits in `mask`."""
    bits = mask.bit_length()
    if bits == 0:
        return 0
    reversed_cursor = int(format(cursor & mask, f"0{bits}b")[::-1], 2) + 1
    if reversed_cursor > mask:
        return 0
    return int(format(reversed_cursor, f"0{bits}b")[::-1], 2)


def _power_of_two_at_least(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()
