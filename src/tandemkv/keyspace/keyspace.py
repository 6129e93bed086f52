"""Keyspace: one database's keys, values and deadlines, on top of a Tandem.

Knows nothing of the network or pub/sub: key events it raises itself (`expired`) go to the
`notify(event_class, event, key, db)` callback it was given -- the same entry point that
commands use for their events.

Expiry: a key is never returned after its deadline. Reads check the deadline (lazy expiry);
`expire_due` deletes keys whose deadline passed, driven by the server's timer (active expiry).
Both delete through `expire_key`, the one deletion path, which raises exactly one `expired`
event per key. Migration drops expired keys it meets and reports them through the same event.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tandemkv.clock import Clock
from tandemkv.keyspace.engine import (
    Engine,
    Tandem,
    dict_sizeof,
    shard_hash,
    stamp,
    unmark,
    watched_put,
)
from tandemkv.keyspace.expiry import ExpiryClock, ExpiryIndex
from tandemkv.keyspace.memory import (  # memory bound (keyspace/memory.py)
    DEADLINE_BYTES,
    DEADLINES_ENTRY_BYTES,
    LFU_INIT_VAL,
    TRACK_FREQUENCY,
    TRACK_ORDER,
    MemoryAccount,
    TableMeter,
    entry_bytes,
    touch,
    value_bytes,
)

Notify = Callable[[str, bytes, bytes, int], None]
# `notify` with the value of the key that left (expired or evicted), for event consumers that
# keep values (the keyspace-event stream).
NotifyValue = Callable[[str, bytes, bytes, int, object], None]

# Timer entries allowed beyond two per key with a deadline before stale ones are dropped.
EXPIRY_SLACK_ENTRIES = 1024
# Collections with more elements than this are freed in slices rather than at once (about
# 40 ns an element: 0.3 ms).
LAZYFREE_MIN_ITEMS = 8192
# Keys with a deadline sampled per `sample_ttl` (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
TTL_SAMPLES = 20


@dataclass(slots=True)
class KeyspaceStats:
    """Counters shared by all databases (INFO stats)."""

    expired_keys: int = 0
    expired_by_timer: int = 0
    expired_lazily: int = 0
    expired_by_migration: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0


def _no_events(event_class: str, event: bytes, key: bytes, db: int) -> None:
    return None


class Keyspace:
    __slots__ = (
        "access",
        "avg_ttl_ms",
        "before_change",
        "clock",
        "deletions_paused",
        "detached",
        "expiry",
        "expiry_clock",
        "index",
        "lazy_values",
        "memory",
        "notify",
        "notify_value",
        "report_new",
        "stats",
        "table_basis",
        "table_bytes",
        "table_meter",
        "tandem",
        "unevictable",
        "used_bytes",
    )

    def __init__(
        self,
        index: int,
        clock: Clock,
        *,
        stats: KeyspaceStats | None = None,
        notify: Notify = _no_events,
        min_shards: int = 1,
        high_keys: int = 512,
        low_keys: int = 64,
        on_step: Callable[[str, Tandem], None] | None = None,
        on_earliest_deadline: Callable[[int], None] | None = None,
        memory: MemoryAccount | None = None,
        expiry_clock: ExpiryClock | None = None,
    ) -> None:
        self.index = index
        # Memory bound: this db's accounted bytes, the account shared by all dbs, LFU counters.
        self.memory = memory or MemoryAccount(clock=clock)
        self.used_bytes = 0
        # Real dict-table bytes less the keys' estimated shares, included in used_bytes and
        # refreshed by `measure_tables` (keyspace/memory.py).
        self.table_bytes = 0
        self.table_meter = TableMeter()
        # (keys, keys with a deadline) whose estimated shares `table_bytes` last allowed for.
        self.table_basis = (0, 0)
        # OBJECT IDLETIME / OBJECT FREQ: the second (or LFU counter) stored in a shard's access
        # dict on each access, shared by every database and refreshed by the command runners
        # (keyspace/memory.py).
        self.access = self.memory.access
        self.clock = clock
        # Deadlines are judged against this clock (shared by the instance's databases; it
        # knows whether a file is loading); `clock` gives the time for everything else.
        self.expiry_clock = expiry_clock or ExpiryClock(clock)
        self.stats = stats or KeyspaceStats()
        self.notify = notify
        # Redis's `new` event (class n) when a key is created: raised only while enabled, so a
        # SET of a new key pays nothing for it otherwise (Instance keeps it in step).
        self.report_new = False
        # Set while expired and evicted keys are reported with their value (instead of
        # through `notify`); None otherwise, at the cost of one attribute check per key.
        self.notify_value: NotifyValue | None = None
        # A key eviction never takes (the keyspace-event stream), or None.
        self.unevictable: bytes | None = None
        # Fork-less snapshots (persistence/snapshot.py): while one runs, called with a key
        # before its value or deadline may change or leave (every lookup, peek, set, deadline
        # change and removal), and with None before the whole database is flushed (whose
        # detached engines are then kept unfreed while it stays set: `free_detached`).
        self.before_change: Callable[[bytes | None], None] | None = None
        self.tandem = Tandem(
            clock,
            self.expiry_clock,
            min_shards=min_shards,
            high_keys=high_keys,
            low_keys=low_keys,
            on_expired=self._dropped_by_migration,
            on_step=on_step,
        )
        # Under an LRU policy, access seconds are marks (engine.py), stamped from this clock.
        self.tandem.marks = self.access if self.memory.tracking == TRACK_ORDER else None
        self.expiry = ExpiryIndex(on_earliest_deadline)
        self.avg_ttl_ms = 0  # INFO keyspace avg_ttl (`sample_ttl`)
        # Engines detached by FLUSHDB, freed a slice at a time by `free_detached`.
        self.detached: list[Engine] = []
        # Big collections deleted, expired, evicted, overwritten or flushed: freed a slice at a
        # time by `free_detached` too (Redis's lazyfree), so no single command stalls the loop.
        self.lazy_values: list[Any] = []
        self.deletions_paused = False  # CLIENT PAUSE: expired keys are hidden, not deleted

    # ------------------------------------------------------------------ reads

    def lookup(self, key: bytes) -> object | None:
        """The live value of `key` or None; expires it first if its deadline passed. An access:
        records `access.second` for OBJECT IDLETIME (under LRU and LFU policies, `touch`: the
        LRU order and second, or the LFU counter)."""
        if self.before_change is not None:
            self.before_change(key)
        shard = self.tandem.locate(key)
        if shard is None:
            return None
        values, deadlines, accessed = shard
        if deadlines:
            deadline = deadlines.get(key)
            if deadline is not None and deadline <= self.expiry_clock.now_ms():
                self.expire_key(key, lazily=True)
                return None
        value = values[key]
        if self.memory.tracking:  # memory bound: LRU order / LFU counter
            touch(self, values, accessed, key, value)
        else:
            accessed[key] = self.access.second
        return value

    def peek(self, key: bytes) -> object | None:
        """`lookup` that is not an access (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL, OBJECT):
        the live value of `key` or None, expiring it first if its deadline passed."""
        if self.before_change is not None:
            self.before_change(key)
        shard = self.tandem.locate(key)
        if shard is None:
            return None
        deadlines = shard[1]
        if deadlines:
            deadline = deadlines.get(key)
            if deadline is not None and deadline <= self.expiry_clock.now_ms():
                self.expire_key(key, lazily=True)
                return None
        return shard[0][key]

    def lookup_read(self, key: bytes) -> object | None:
        """`lookup`, counted in keyspace_hits / keyspace_misses (Redis's lookupKeyRead)."""
        value = self.lookup(key)
        if value is None:
            self.stats.keyspace_misses += 1
        else:
            self.stats.keyspace_hits += 1
        return value

    def peek_read(self, key: bytes) -> object | None:
        """`peek`, counted in keyspace_hits / keyspace_misses (lookupKeyRead with NOTOUCH)."""
        value = self.peek(key)
        if value is None:
            self.stats.keyspace_misses += 1
        else:
            self.stats.keyspace_hits += 1
        return value

    def exists(self, key: bytes) -> bool:
        """True if `key` is live (not an access)."""
        return self.peek(key) is not None

    def deadline_ms(self, key: bytes) -> int | None:
        """The deadline of a live key, or None (no key, or no deadline). Not an access."""
        if self.peek(key) is None:
            return None
        pair = self.tandem.locate(key)
        assert pair is not None
        return pair[1].get(key)

    def holds(self, key: bytes) -> bool:
        """True if `key` is stored, even past its deadline (not yet deleted). Not an access."""
        return self.tandem.locate(key) is not None

    def is_expired(self, key: bytes) -> bool:
        """True if `key` is stored but past its deadline (WATCH, EXEC). Deletes nothing."""
        shard = self.tandem.locate(key)
        if shard is None or not shard[1]:
            return False
        deadline = shard[1].get(key)
        return deadline is not None and deadline <= self.expiry_clock.now_ms()

    def __len__(self) -> int:
        return self.tandem.count

    @property
    def volatile_count(self) -> int:
        return self.tandem.volatile

    # ----------------------------------------------------------------- writes

    def set(self, key: bytes, value: object, deadline_ms: int | None = None, keep_ttl: bool = False) -> None:
        """Store `value`; the deadline becomes `deadline_ms`, or is kept (`keep_ttl`), or cleared."""
        if self.before_change is not None:
            self.before_change(key)
        tandem = self.tandem
        values, deadlines, accessed = tandem.home(key)
        if deadlines:
            previous = deadlines.get(key)
            if previous is not None and previous <= self.expiry_clock.now_ms():
                # A write meets an expired key: expire it first (event included), as Redis's
                # lookupKeyWrite does, so KEEPTTL cannot revive a past deadline.
                self.expire_key(key, lazily=True)
                values, deadlines, accessed = tandem.home(key)
        old = values.get(key)
        if old is not None and old.__class__ is not bytes:
            self.release(old)
        # Memory bound: charge the entry (or the value's change); under LRU/LFU a write is an access.
        memory = self.memory
        charge = entry_bytes(key, value) + memory.record_bytes if old is None else value_bytes(value) - value_bytes(old)
        tracking = memory.tracking
        if tracking and old is not None:
            if memory.limit_bytes:  # LRU's re-insertion can grow a churned table: charged at once
                before, accessed_before = dict_sizeof(values), dict_sizeof(accessed)
                touch(self, values, accessed, key, value)
                if dict_sizeof(values) != before:
                    self.shard_table_grew(values, key, dict_sizeof(values) - before)
                if dict_sizeof(accessed) != accessed_before:  # LRU marks
                    self.shard_table_grew(accessed, key, dict_sizeof(accessed) - accessed_before)
            else:
                touch(self, values, accessed, key, value)
        else:
            # A write is an access (OBJECT IDLETIME); a new key's LFU counter is LFU_INIT_VAL.
            access = self.access
            record = access.lfu_records[LFU_INIT_VAL] if tracking == TRACK_FREQUENCY else access.second
            if old is None and memory.limit_bytes:
                self._insert_watched(key, value, record)
            else:
                values[key] = value
                if tracking == TRACK_ORDER:
                    stamp(accessed, key, record)
                else:
                    accessed[key] = record
        if deadline_ms is not None:
            self._set_deadline_at_home(key, deadlines, deadline_ms)
        elif not keep_ttl and deadlines and deadlines.pop(key, None) is not None:
            tandem.volatile -= 1
            charge -= DEADLINE_BYTES
        self.used_bytes += charge
        memory.used_bytes += charge
        if old is None:
            tandem.added()
            if self.report_new:  # Redis's dbAdd: before the command's own event
                self.notify("n", b"new", key, self.index)

    def add_loaded(self, key: bytes, value: object, deadline_ms: int | None) -> None:
        """Store a key read from a data file: `set`, with what loading a new key into a
        database that no snapshot is writing rules out left out (the expired-key check, the
        old value). Under a memory bound or an LRU policy, or for a key already there, it is
        `set` itself (those need its table watching, marks and release)."""
        memory = self.memory
        tracking = memory.tracking
        if memory.limit_bytes or tracking == TRACK_ORDER or self.before_change is not None:
            self.set(key, value, deadline_ms)
            return
        values, deadlines, accessed = self.tandem.home(key)
        size = len(values)
        values.setdefault(key, value)
        if len(values) == size:  # the key was there: set() replaces it
            self.set(key, value, deadline_ms)
            return
        access = self.access
        accessed[key] = access.lfu_records[LFU_INIT_VAL] if tracking == TRACK_FREQUENCY else access.second
        charge = entry_bytes(key, value) + memory.record_bytes
        self.used_bytes += charge
        memory.used_bytes += charge
        if deadline_ms is not None:
            self._set_deadline_at_home(key, deadlines, deadline_ms)
        self.tandem.added()
        if self.report_new:
            self.notify("n", b"new", key, self.index)

    def reserve(self, keys: int) -> None:
        """An empty database about to receive `keys` keys (loading a file): sized for them."""
        self.tandem.reserve(keys)

    def put(self, key: bytes, value: object) -> None:
        """Store `value` keeping the key's deadline (in-place changes: APPEND, INCR, ...)."""
        self.set(key, value, keep_ttl=True)

    def delete(self, key: bytes) -> bool:
        """Remove a live key; True if it existed. Expired keys count as absent."""
        if self.peek(key) is None:
            return False
        self._remove(key)
        return True

    def pop(self, key: bytes) -> tuple[object, int | None] | None:
        """Remove a live key and return (value, deadline_ms), for RENAME/MOVE/GETDEL."""
        value = self.lookup(key)
        if value is None:
            return None
        pair = self.tandem.locate(key)
        assert pair is not None
        deadline = pair[1].get(key)
        self._remove(key, release=False)
        return value, deadline

    def set_deadline(self, key: bytes, deadline_ms: int) -> None:
        """Give an existing key a deadline (callers delete keys whose deadline already passed)."""
        if self.before_change is not None:
            self.before_change(key)
        values, deadlines, _accessed = self.tandem.home(key)
        if key in values:  # the migration step in `home` may have just dropped it as expired
            self._set_deadline_at_home(key, deadlines, deadline_ms)

    def persist(self, key: bytes) -> bool:
        """Clear the deadline of a live key; True if it had one."""
        if self.lookup(key) is None:
            return False
        deadlines = self.tandem.home(key)[1]
        if deadlines.pop(key, None) is None:
            return False
        self.tandem.volatile -= 1
        self.charge(-DEADLINE_BYTES)
        return True

    def flush(self) -> int:
        """Remove every key; returns how many there were. Memory is freed later, in slices."""
        if self.before_change is not None:
            self.before_change(None)
        removed = len(self)
        self.detached.extend(self.tandem.clear())
        self.expiry.clear()
        self.charge(-self.used_bytes)  # memory bound: accounted at once, freed in slices
        # The detached engines' tables count again from the next measurement until freed.
        self.table_bytes = 0
        self.table_basis = (0, 0)
        self.table_meter.reset()
        return removed

    def measure_tables(self, max_dicts: int) -> tuple[int, bool]:
        """Measure up to `max_dicts` of this database's dicts (keyspace/memory.py); when a
        pass completes, bring `table_bytes` (and used_bytes) up to date. Returns (dicts
        measured, True if a pass completed)."""
        engine = self.tandem.engine  # its dicts are compacted as they are measured
        # Migration reports table growth while a bound is set (Keyspace._insert_watched).
        self.tandem.on_table_growth = self.table_grew if self.memory.limit_bytes else None
        measured, found = self.table_meter.measure(
            self._table_dicts, max_dicts, (engine.values, engine.deadlines, engine.accessed), self.table_grew
        )
        if found is None:
            return measured, False
        tandem = self.tandem
        correction = found - tandem.count * self.memory.key_dict_bytes - tandem.volatile * DEADLINES_ENTRY_BYTES
        self.table_basis = (tandem.count, tandem.volatile)
        self.charge(correction - self.table_bytes)
        self.table_bytes = correction
        return measured, True

    def _table_dicts(self) -> list[list[dict]]:  # type: ignore[type-arg]
        """Every list of dicts whose tables this database holds."""
        lists: list[list[dict]] = [[self.tandem.deferred]]  # type: ignore[type-arg]
        for engine in (*self.tandem.engines_holding_keys(), *self.detached):
            lists += (engine.values, engine.deadlines, engine.accessed)
        return lists

    def charge(self, delta: int) -> None:
        """Memory bound: `delta` bytes more (or fewer) held by this database. Commands that
        change a collection in place charge its `nbytes` difference here, in the same write."""
        self.used_bytes += delta
        self.memory.used_bytes += delta

    def _insert_watched(self, key: bytes, value: object, record: int) -> None:
        """Store a new key and its access record in its shard (the current engine's: `home`),
        charging any table growth at once, and have migration do the same: under a memory
        bound, used_memory must not lag the tables (keyspace/memory.py, "Dict tables")."""
        self.tandem.on_table_growth = self.table_grew
        engine = self.tandem.engine
        index = shard_hash(key) & engine.mask
        values, accessed = engine.values[index], engine.accessed[index]
        values_before, accessed_before = dict_sizeof(values), dict_sizeof(accessed)  # watched_put, inlined
        values[key] = value
        if self.memory.tracking == TRACK_ORDER:
            stamp(accessed, key, record)
        else:
            accessed[key] = record
        if dict_sizeof(values) != values_before:
            self.table_grew(engine.values, index, dict_sizeof(values) - values_before)
        if dict_sizeof(accessed) != accessed_before:
            self.table_grew(engine.accessed, index, dict_sizeof(accessed) - accessed_before)

    def shard_table_grew(self, d: dict, key: bytes, delta: int) -> None:  # type: ignore[type-arg]
        """`table_grew` for the values or access dict `d` of `key`'s shard, in whichever engine
        holds it."""
        h = shard_hash(key)
        for engine in (self.tandem.engine, self.tandem.old):
            if engine is not None:
                index = h & engine.mask
                for dicts in (engine.values, engine.accessed):
                    if dicts[index] is d:
                        self.table_grew(dicts, index, delta)
                        return

    def table_grew(self, dicts: list[dict], index: int, delta: int) -> None:  # type: ignore[type-arg]
        """The table of dicts[index] grew by `delta` bytes: charged now, and kept in the
        measurement pass in progress if that pass has measured the dict already.

        `table_bytes` is the real tables less the keys' estimated shares; the keys stored or
        removed since it was last brought up to date changed those shares (each key's entry
        charge carries its share), so they are settled here too: right after a growth,
        used_memory counts the tables as they are."""
        tandem = self.tandem
        keys, volatile = self.table_basis
        settle = (
            delta
            - (tandem.count - keys) * self.memory.key_dict_bytes
            - (tandem.volatile - volatile) * DEADLINES_ENTRY_BYTES
        )
        self.table_basis = (tandem.count, tandem.volatile)
        self.table_bytes += settle
        self.charge(settle)
        self.table_meter.grew(dicts, index, delta)

    def _set_deadline_at_home(self, key: bytes, deadlines: dict[bytes, int], deadline_ms: int) -> None:
        previous = deadlines.get(key)
        if previous is None and self.memory.limit_bytes:
            engine = self.tandem.engine
            watched_put(engine.deadlines, shard_hash(key) & engine.mask, key, deadline_ms, self.table_grew)
        else:
            deadlines[key] = deadline_ms
        if previous is None:
            self.tandem.volatile += 1
            self.charge(DEADLINE_BYTES)
        self.expiry.schedule(key, deadline_ms, previous)
        if len(self.expiry) > 2 * self.tandem.volatile + EXPIRY_SLACK_ENTRIES:
            self._compact_expiry()

    def _compact_expiry(self) -> None:
        """Drop stale timers (see keyspace/expiry.py): one entry per key with a deadline."""
        self.expiry.rebuild(
            (deadline, key)
            for _values, deadlines in self.tandem.iter_pairs()
            for key, deadline in deadlines.items()
        )

    def _remove(self, key: bytes, release: bool = True) -> object:
        """Delete a stored key; returns its value (freed later if big: `release`)."""
        if self.before_change is not None:
            self.before_change(key)
        shard = self.tandem.locate(key)
        assert shard is not None
        values, deadlines, accessed = shard
        if accessed and key in accessed:
            if self.memory.tracking != TRACK_ORDER:
                del accessed[key]
            elif self.memory.limit_bytes:  # the next key's new mark may grow the table
                before = dict_sizeof(accessed)
                unmark(values, accessed, key)
                if dict_sizeof(accessed) != before:
                    self.shard_table_grew(accessed, key, dict_sizeof(accessed) - before)
            else:
                unmark(values, accessed, key)  # before the key leaves: its run passes on
        if self.tandem.deferred:
            self.tandem.deferred.pop(key, None)
        value = values.pop(key)
        if release and value.__class__ is not bytes:
            self.release(value)
        had_deadline = bool(deadlines) and deadlines.pop(key, None) is not None
        self.charge(-entry_bytes(key, value) - self.memory.record_bytes - (DEADLINE_BYTES if had_deadline else 0))
        self.tandem.removed(had_deadline)
        return value

    # ----------------------------------------------------------------- expiry

    def expire_key(self, key: bytes, *, lazily: bool = False) -> None:
        """The one deletion path for expired keys: remove, count, raise `expired` -- unless
        deletions are paused (CLIENT PAUSE keeps the dataset still: the key is not served,
        and is deleted after the pause)."""
        if self.deletions_paused:
            return
        value = self._remove(key)
        if lazily:
            self.stats.expired_lazily += 1
        else:
            self.stats.expired_by_timer += 1
        self._report_expired(key, value)

    def evict(self, key: bytes) -> None:
        """Remove `key` for the memory bound (keyspace/memory.py) and raise `evicted`."""
        value = self._remove(key)
        if self.notify_value is not None:
            self.notify_value("e", b"evicted", key, self.index, value)
        else:
            self.notify("e", b"evicted", key, self.index)

    def release(self, value: Any) -> None:
        """A collection leaves the keyspace (deleted, expired, evicted, overwritten): a big one
        is kept in `lazy_values` and freed in slices by `free_detached`."""
        if len(value) > LAZYFREE_MIN_ITEMS and value.__class__ is not bytearray:  # one free() for a string
            self.lazy_values.append(value)

    def _dropped_by_migration(self, key: bytes, value: object) -> None:
        if value.__class__ is not bytes:
            self.release(value)
        self.charge(-entry_bytes(key, value) - self.memory.record_bytes - DEADLINE_BYTES)
        self.stats.expired_by_migration += 1
        self._report_expired(key, value)

    def _report_expired(self, key: bytes, value: object) -> None:
        self.stats.expired_keys += 1
        if self.notify_value is not None:
            self.notify_value("x", b"expired", key, self.index, value)
        else:
            self.notify("x", b"expired", key, self.index)

    def expire_due(self, now_ms: int, max_entries: int) -> int:
        """Expire keys whose deadline is <= now_ms, looking at most at `max_entries` timers.

        Returns how many timers were looked at (equal to `max_entries` means: call again).
        Looks at none while loading (`ExpiryClock.loading`).
        """
        if self.expiry_clock.loading:
            return 0
        expiry = self.expiry
        seen = 0
        while seen < max_entries:
            key = expiry.pop_due(now_ms)
            if key is None:
                break
            seen += 1
            pair = self.tandem.locate(key)
            if pair is None:
                continue
            deadline = pair[1].get(key)
            if deadline is None:
                continue
            if deadline > now_ms:
                expiry.reschedule(key, deadline)
                continue
            self.expire_key(key)
        return seen

    def next_deadline_ms(self) -> int | None:
        return self.expiry.next_deadline_ms()

    def sample_ttl(self, now_ms: int) -> None:
        """INFO keyspace's avg_ttl as Redis's expire cycle estimates it: the mean time to live
        of up to TTL_SAMPLES random keys with a deadline, folded into a running average (49/50
        the old figure, 1/50 the new; the first taken as is); 0 when no key has a deadline.
        Called by the server's cron and Store.tick. Not an access, never expires a key."""
        if not self.tandem.volatile:
            self.avg_ttl_ms = 0
            return
        heap = self.expiry.heap  # every key with a deadline has an entry at or before it
        total = count = 0
        for _ in range(min(TTL_SAMPLES, len(heap))):
            entry_ms, key = heap[random.randrange(len(heap))]
            if entry_ms > now_ms and (deadline := self.deadline_ms(key)) is not None:
                total += deadline - now_ms
                count += 1
        if count:
            average = total // count
            previous = self.avg_ttl_ms or average
            self.avg_ttl_ms = previous // 50 * 49 + average // 50

    # -------------------------------------------------------------- iteration

    def keys(self, regex: re.Pattern[bytes] | None = None) -> list[bytes]:
        """Every live key (matching `regex` if given). O(n), as KEYS is in Redis."""
        now_ms = self.expiry_clock.now_ms()
        found = []
        for values, deadlines in list(self.tandem.iter_pairs()):
            for key in values:
                if regex is not None and regex.fullmatch(key) is None:
                    continue
                if deadlines:
                    deadline = deadlines.get(key)
                    if deadline is not None and deadline <= now_ms:
                        continue
                found.append(key)
        return found

    def items(self, expired_too: bool = False) -> Iterator[tuple[bytes, object, int | None]]:
        """(key, value, deadline_ms) of every live key, or of every stored key with
        `expired_too` (as Redis's SAVE writes them: a loader then counts them expired); do not
        mutate while iterating."""
        now_ms = self.expiry_clock.now_ms()
        for values, deadlines in self.tandem.iter_pairs():
            for key, value in values.items():
                deadline = deadlines.get(key) if deadlines else None
                if expired_too or deadline is None or deadline > now_ms:
                    yield key, value, deadline

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SCAN step: (next cursor, live keys of the shards visited). Visits whole shards
        until about `count` keys were gathered; see Tandem.scan_shards for the guarantee."""
        found: list[bytes] = []
        now_ms = self.expiry_clock.now_ms()
        expired: list[bytes] = []
        visits = 0
        while True:
            pairs, cursor = self.tandem.scan_shards(cursor)
            visits += 1
            for values, deadlines in pairs:
                for key in values:
                    if deadlines:
                        deadline = deadlines.get(key)
                        if deadline is not None and deadline <= now_ms:
                            expired.append(key)
                            continue
                    found.append(key)
            if cursor == 0 or len(found) >= count or visits >= 10 * count:
                break
        for key in expired:
            if self.tandem.locate(key) is not None:
                self.expire_key(key, lazily=True)
        return cursor, found

    def random_key(self) -> bytes | None:
        """A random live key, or None; expired keys met on the way are deleted."""
        for _ in range(100):
            if self.tandem.count == 0:
                return None
            values, deadlines = self._random_shard()
            key = random.choice(list(values))
            deadline = deadlines.get(key) if deadlines else None
            if deadline is not None and deadline <= self.expiry_clock.now_ms():
                self.expire_key(key, lazily=True)
                continue
            return key
        return None

    def _random_shard(self) -> tuple[dict[bytes, object], dict[bytes, int]]:
        """A random non-empty shard pair (the keyspace holds keys): a few random probes over
        both engines' shards, O(1) when shards are well filled; a full list when sparse."""
        tandem = self.tandem
        engine, old = tandem.engine, tandem.old
        new_shards = engine.mask + 1
        old_shards = old.mask + 1 - tandem.cursor if old is not None else 0
        for _ in range(16):
            index = random.randrange(new_shards + old_shards)
            if index < new_shards:
                pair = engine.pair(index)
            else:
                assert old is not None
                pair = old.pair(tandem.cursor + index - new_shards)
            if pair[0]:
                return pair
        return random.choice([pair for pair in tandem.iter_pairs() if pair[0]])

    # ------------------------------------------------------------ background

    def migrate(self, budget_us: int) -> bool:
        """Run migration and the engine's other chores for about `budget_us`; True when no
        background work is left (see Tandem.busy)."""
        return self.tandem.migrate(budget_us)

    @property
    def has_garbage(self) -> bool:
        """Flushed engines or big deleted values wait to be freed (`free_detached`)."""
        return bool(self.detached or self.lazy_values)

    def free_detached(self, max_keys: int) -> bool:
        """Free flushed engines a shard at a time and big deleted values a slice at a time,
        about `max_keys` keys or elements in all; True when nothing is left to free. Flushed
        engines are kept while `before_change` is set: a snapshot in progress may still write
        their keys (persistence/snapshot.py)."""
        freed = 0
        lazy = self.lazy_values
        while lazy and freed < max_keys:
            freed += lazy[-1].free_slice(max_keys - freed)
            if not lazy[-1]:
                lazy.pop()
        while self.detached and freed < max_keys and self.before_change is None:
            engine = self.detached[-1]
            freed += engine.free(max_keys - freed, self.release)
            if not engine.values:
                self.detached.pop()
        return not self.has_garbage
