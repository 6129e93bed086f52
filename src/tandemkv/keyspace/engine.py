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
and no flat dict of the whole keyspace ever has to be resized in one go. So do access seconds
(OBJECT IDLETIME, keyspace/memory.py): a third parallel array, moved with the keys by `home` and
by migration, and freed with the engine, so flushing them is lazy too.

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

from tandemkv.clock import Clock

Shard = dict[bytes, object]
Deadlines = dict[bytes, int]
Accessed = dict[bytes, int]  # key -> Unix second of its last access (under LFU: its LFU record)
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
# Marks a key that left the old shard before migration reached it.
_MOVED = object()
# Bytes of dict table whose freeing costs about as much as moving one key (Engine.free).
FREE_UNIT_BYTES = 4096
# How many keys migration moves between two looks at the clock.
KEYS_PER_CLOCK_CHECK = 128
# sys.getsizeof less the constant GC header, at a fifth of the cost (16 ns): table growth only.
dict_sizeof = dict.__sizeof__
_EMPTY_SIZEOF = dict_sizeof({})
# Called with (list of dicts, index, bytes) when the dict at that index grew its table.
TableGrowth = Callable[[list[dict], int, int], None]  # type: ignore[type-arg]


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

    def free(self, max_units: int) -> int:
        """Drop shards (and their keys) from the end until about `max_units` units of work were
        done or none is left; returns the units done. A unit is about the cost of moving one key:
        a shard costs one, plus one per key it still holds, plus one per FREE_UNIT_BYTES of its
        dict tables (freeing a table walks its entry slots even when every key has left it:
        an emptied table of 1,365 entries, 37 KB, takes about 2.8 us)."""
        done = 0
        values, deadlines, accessed = self.values, self.deadlines, self.accessed
        while values and done < max_units:
            tables = sys.getsizeof(values[-1]) + sys.getsizeof(deadlines.pop()) + sys.getsizeof(accessed.pop())
            done += 1 + len(values.pop()) + tables // FREE_UNIT_BYTES
        return done


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
        "_order",
        "_retired",
        "_shrink_at",
        "_spare_down",
        "_spare_up",
        "_step_started_us",
        "clock",
        "count",
        "cursor",
        "engine",
        "high_keys",
        "low_keys",
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
        *,
        min_shards: int = 1,
        high_keys: int = 512,
        low_keys: int = 64,
        on_expired: Callable[[bytes, object], None] | None = None,
        on_step: Callable[[str, Tandem], None] | None = None,
    ) -> None:
        self.clock = clock
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
        self._order: list[bytes] = []  # keys of the old shard being migrated, newest first
        self.on_step = on_step or (lambda event, tandem: None)
        # Memory bound: set (by the Keyspace) while a bound is set, so that the dict tables
        # keys are moved into report their growth as it happens (watched_put).
        self.on_table_growth: TableGrowth | None = None
        self._step_started_us = 0
        self._retired: list[Engine] = []
        self._free_credit = 0  # units of freeing owed (< 0) by chores, see _do_chores
        self._spare_up = self._spare_down = self.engine
        self._chores = False  # migration, retired engines or spares left to do
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
                    if grew is not None:
                        self._move_watched(key, h & engine.mask, old_values, old_deadlines, old_accessed, grew)
                        return triple
                    triple[0][key] = old_values.pop(key)
                    if old_deadlines and key in old_deadlines:
                        triple[1][key] = old_deadlines.pop(key)
                    if old_accessed and key in old_accessed:
                        triple[2][key] = old_accessed.pop(key)
        return triple

    def _move_watched(
        self, key: bytes, index: int, old_values: Shard, old_deadlines: Deadlines, old_accessed: Accessed, grew: TableGrowth
    ) -> None:
        """`home`'s move of `key` into new shard `index`, reporting table growth (memory bound)."""
        engine = self.engine
        watched_put(engine.values, index, key, old_values.pop(key), grew)
        if old_deadlines and key in old_deadlines:
            watched_put(engine.deadlines, index, key, old_deadlines.pop(key), grew)
        if old_accessed and key in old_accessed:
            watched_put(engine.accessed, index, key, old_accessed.pop(key), grew)

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
        self._order = []
        self.count = 0
        self.volatile = 0
        self._retired = []
        self._set_thresholds()
        return detached

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
        """Up to `limit` units of one chore: migration first, then retired engines, then spares."""
        if self.old is not None:
            self._migrate_keys(limit)
        elif self._retired:
            # A shard can cost more units than one call brings: the excess is paid by the
            # calls that follow, so each write's share of the freeing stays about `limit`.
            self._free_credit += limit
            if self._free_credit > 0:
                engine = self._retired[-1]
                # Never a surplus: what an emptied engine left unused is not carried over.
                self._free_credit = min(0, self._free_credit - engine.free(self._free_credit))
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
        now_ms = -1
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
                self._order = []
                continue
            old_deadlines, old_accessed = old.deadlines[cursor], old.accessed[cursor]
            order = self._order
            if not order:
                # Oldest key first, so the new shard keeps the old one's insertion order: under
                # LRU/LFU policies that order is the LRU order (keyspace/memory.py).
                order = self._order = list(old_values)[::-1]
            take = min(limit - moved, len(order))
            moved += take
            for _ in range(take):
                key = order.pop()
                value = old_values.pop(key, _MOVED)
                if value is _MOVED:
                    continue  # written (moved home) or deleted since the shard's order was taken
                index = (hash(key) >> SHARD_HASH_SHIFT) & mask
                if old_deadlines:
                    deadline = old_deadlines.pop(key, None)
                    if deadline is not None:
                        if now_ms < 0:
                            now_ms = self.clock.now_ms()
                        if deadline <= now_ms:
                            # Garbage collection: an expired key is dropped, not copied.
                            if old_accessed:
                                old_accessed.pop(key, None)
                            self.count -= 1
                            self.volatile -= 1
                            self.stats.gc_dropped_keys += 1
                            self.on_expired(key, value)
                            continue
                        if grew is None:
                            deadlines[index][key] = deadline
                        else:
                            watched_put(deadlines, index, key, deadline, grew)
                second = old_accessed.pop(key, None) if old_accessed else None
                if grew is None:
                    if second is not None:
                        accessed[index][key] = second
                    values[index][key] = value
                else:  # watched_put, inlined: about one move per write while a bound fills up
                    if second is not None:
                        before = dict_sizeof(d := accessed[index])
                        d[key] = second
                        if dict_sizeof(d) != before:
                            grew(accessed, index, dict_sizeof(d) - before)
                    before = dict_sizeof(d := values[index])
                    d[key] = value
                    if dict_sizeof(d) != before:
                        grew(values, index, dict_sizeof(d) - before)
                migrated += 1
        self.stats.migrated_keys += migrated

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
