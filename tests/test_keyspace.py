"""Keyspace on the tandem: TTLs across migration, garbage collection of expired keys, deletes
that never resurrect, chores (spares and retired engines) in slices, flush."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from tandemkv.clock import ManualClock
from tandemkv.keyspace import Engine, Keyspace
from tandemkv.keyspace.engine import CHORE_BATCH_UNITS, KEYS_PER_DELETE, KEYS_PER_WRITE
from tests.test_engine import HIGH, check_invariants, key, new_keyspace


def grow_until_migrating(ks: Keyspace, start: int = 0, deadline_ms: int | None = None) -> int:
    """Add keys until a step is in progress; returns the next unused key number."""
    i = start
    while not ks.tandem.migrating:
        ks.set(key(i), b"v%d" % i, deadline_ms)
        i += 1
    return i


def old_keys(ks: Keyspace) -> list[bytes]:
    """Keys still in unmigrated shards of the old engine."""
    tandem = ks.tandem
    assert tandem.old is not None
    return [k for values, _ in tandem.old.iter_pairs(tandem.cursor) for k in values]


def test_lazy_expiry_hides_and_reports_once() -> None:
    clock = ManualClock()
    events: list = []
    ks = new_keyspace(clock, events)
    ks.set(b"k", b"v", clock.now_ms() + 100)
    assert ks.lookup(b"k") == b"v" and ks.volatile_count == 1
    clock.advance_ms(100)
    assert ks.lookup(b"k") is None
    assert ks.lookup(b"k") is None
    assert events == [(b"expired", b"k")]
    assert len(ks) == 0 and ks.volatile_count == 0


def test_migration_gc_drops_expired_keys_and_reports_each_once() -> None:
    clock = ManualClock()
    events: list = []
    ks = new_keyspace(clock, events)
    for i in range(64 * HIGH):
        ks.set(key(i), b"v", clock.now_ms() + 50 if i % 2 else None)
    ks.migrate(10**9)
    volatile = {key(i) for i in range(64 * HIGH) if i % 2}
    clock.advance_ms(50)
    # Start a step without touching any expired key: the lowest-threshold way is to add keys.
    n = grow_until_migrating(ks, 64 * HIGH)
    ks.migrate(10**9)
    check_invariants(ks.tandem)
    dropped = [k for event, k in events if event == b"expired"]
    assert len(dropped) == len(set(dropped)), "an expired key was reported twice"
    assert set(dropped) <= volatile and ks.tandem.stats.gc_dropped_keys == len(dropped)
    assert ks.stats.expired_by_migration == len(dropped) > 0
    # The rest expire through the timer; nobody is reported twice, and counts add up.
    while ks.expire_due(clock.now_ms(), 1000) == 1000:
        pass
    for k in volatile:
        assert ks.lookup(k) is None
    dropped = [k for event, k in events if event == b"expired"]
    assert sorted(dropped) == sorted(volatile)
    assert len(ks) == n - len(volatile) and ks.volatile_count == 0
    check_invariants(ks.tandem)


def test_ttls_survive_migration_exactly() -> None:
    clock = ManualClock()
    ks = new_keyspace(clock)
    deadlines = {}
    for i in range(3000):
        deadline = clock.now_ms() + 10_000 + i * 7 if i % 3 else None
        ks.set(key(i), b"v", deadline)
        deadlines[key(i)] = deadline
        if i % 97 == 0:
            for k, d in deadlines.items():
                assert ks.deadline_ms(k) == d
    ks.migrate(10**9)
    for i in range(3000):
        if i % 6 > 1:
            ks.delete(key(i))
            del deadlines[key(i)]
    ks.migrate(10**9)
    assert ks.tandem.stats.steps_down > 0
    for k, d in deadlines.items():
        assert ks.deadline_ms(k) == d
    assert ks.volatile_count == sum(d is not None for d in deadlines.values())


def test_deletes_during_migration_never_resurrect() -> None:
    ks = new_keyspace()
    n = grow_until_migrating(ks)
    victims = old_keys(ks)[: HIGH]
    assert victims
    for k in victims:
        assert ks.delete(k)
        check_invariants(ks.tandem)
    ks.migrate(10**9)
    for k in victims:
        assert ks.lookup(k) is None
    assert len(ks) == n - len(victims)


def test_overwrite_during_migration_wins_over_the_old_copy() -> None:
    clock = ManualClock()
    ks = new_keyspace(clock)
    grow_until_migrating(ks, deadline_ms=clock.now_ms() + 5000)
    waiting = old_keys(ks)
    cleared, kept = waiting[::2], waiting[1::2]
    for a, b in zip(cleared, kept, strict=False):
        ks.set(a, b"new")  # plain SET clears the deadline
        ks.put(b, b"kept-ttl")
        assert ks.deadline_ms(a) is None
        assert ks.deadline_ms(b) == clock.now_ms() + 5000
    ks.migrate(10**9)
    for a, b in zip(cleared, kept, strict=False):
        assert ks.lookup(a) == b"new" and ks.deadline_ms(a) is None
        assert ks.lookup(b) == b"kept-ttl" and ks.deadline_ms(b) == clock.now_ms() + 5000
    check_invariants(ks.tandem)


def test_pop_and_set_deadline_and_persist_during_migration() -> None:
    clock = ManualClock()
    ks = new_keyspace(clock)
    grow_until_migrating(ks)
    a, b, c = old_keys(ks)[:3]
    ks.set_deadline(a, clock.now_ms() + 1000)
    assert ks.deadline_ms(a) == clock.now_ms() + 1000 and ks.volatile_count == 1
    assert ks.persist(a) and ks.deadline_ms(a) is None and ks.volatile_count == 0
    assert not ks.persist(a)
    ks.set_deadline(b, clock.now_ms() + 2000)
    value, deadline = ks.pop(b)  # type: ignore[misc]
    ks.set(b"renamed", value, deadline)
    assert ks.lookup(b) is None and ks.deadline_ms(b"renamed") == clock.now_ms() + 2000
    assert ks.pop(b) is None
    ks.migrate(10**9)
    assert ks.lookup(c) is not None and ks.lookup(b) is None
    check_invariants(ks.tandem)


def test_keepttl_write_on_an_expired_key_expires_it_first() -> None:
    clock = ManualClock()
    events: list = []
    ks = new_keyspace(clock, events)
    ks.set(b"k", b"old", clock.now_ms() + 10)
    clock.advance_ms(10)
    ks.set(b"k", b"new", keep_ttl=True)
    assert events == [(b"expired", b"k")]
    assert ks.lookup(b"k") == b"new" and ks.deadline_ms(b"k") is None
    assert len(ks) == 1 and ks.volatile_count == 0


def test_expire_due_finds_keys_in_the_old_engine() -> None:
    clock = ManualClock()
    events: list = []
    ks = new_keyspace(clock, events)
    grow_until_migrating(ks, deadline_ms=clock.now_ms() + 10)
    n = len(ks)
    clock.advance_ms(10)
    assert ks.expire_due(clock.now_ms(), 10 * n) == n
    assert len(ks) == 0 and ks.volatile_count == 0 and len(events) == n
    check_invariants(ks.tandem)


def test_keys_items_random_key_see_both_engines() -> None:
    clock = ManualClock()
    ks = new_keyspace(clock)
    n = grow_until_migrating(ks)
    expected = {key(i) for i in range(n)}
    assert set(ks.keys()) == expected
    assert {k for k, _, _ in ks.items()} == expected
    for _ in range(50):
        assert ks.random_key() in expected


def test_writes_alone_do_every_chore_in_small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Growing and shrinking with writes only: no engine is ever allocated or freed in one go
    (writes and deletes spend their KEYS_PER_WRITE / KEYS_PER_DELETE units CHORE_BATCH_UNITS at
    a time, so one call allocates or frees at most that many shards, plus one write's units)."""
    biggest = {"build": 0, "free": 0}
    original_build, original_free = Engine.build, Engine.free

    def build(self: Engine, limit: int) -> bool:
        before = len(self.values)
        done = original_build(self, limit)
        biggest["build"] = max(biggest["build"], len(self.values) - before)
        return done

    def free(self: Engine, max_keys: int, release: Callable[[object], None]) -> int:
        before = len(self.values)
        freed = original_free(self, max_keys, release)
        biggest["free"] = max(biggest["free"], before - len(self.values))
        return freed

    ks = Keyspace(0, ManualClock(), high_keys=16, low_keys=4)
    monkeypatch.setattr(Engine, "build", build)
    monkeypatch.setattr(Engine, "free", free)
    for i in range(50_000):
        ks.set(key(i), b"v")
    assert ks.tandem.engine.shards == 4096
    for i in range(50_000):
        ks.delete(key(i))
    assert ks.tandem.stats.steps_down >= 10
    most = CHORE_BATCH_UNITS + max(KEYS_PER_WRITE, KEYS_PER_DELETE)
    assert 0 < biggest["build"] <= most
    assert 0 < biggest["free"] <= most
    ks.migrate(10**9)
    assert not ks.tandem.busy and not ks.tandem._retired
    assert ks.tandem._spare_up.complete and ks.tandem._spare_down.complete


def test_flush_detaches_and_frees_in_slices() -> None:
    ks = new_keyspace()
    for i in range(5000):
        ks.set(key(i), b"v")
    assert ks.flush() == 5000
    assert len(ks) == 0 and ks.lookup(key(1)) is None
    slices = 0
    while not ks.free_detached(500):
        slices += 1
    assert slices >= 5 and not ks.detached
    ks.set(b"again", b"v")
    assert ks.lookup(b"again") == b"v"
    check_invariants(ks.tandem)


def test_scan_skips_and_expires_dead_keys() -> None:
    clock = ManualClock()
    events: list = []
    ks = new_keyspace(clock, events)
    for i in range(100):
        ks.set(key(i), b"v", clock.now_ms() + 5 if i < 50 else None)
    clock.advance_ms(5)
    found: set[bytes] = set()
    cursor = 0
    while True:
        cursor, keys = ks.scan(cursor, 10)
        found.update(keys)
        if cursor == 0:
            break
    assert found == {key(i) for i in range(50, 100)}
    assert len(ks) == 50 and len(events) == 50


def test_random_workload_keeps_the_invariants() -> None:
    rng = random.Random(7)
    clock = ManualClock()
    ks = new_keyspace(clock)
    model: dict[bytes, bytes] = {}
    for step in range(20_000):
        k = key(rng.randrange(600))
        if rng.random() < (0.7 if step < 10_000 else 0.1):
            ks.set(k, b"%d" % step)
            model[k] = b"%d" % step
        else:
            assert ks.delete(k) == (k in model)
            model.pop(k, None)
        if step % 500 == 0:
            check_invariants(ks.tandem)
            assert all(ks.lookup(k) == v for k, v in model.items())
    assert ks.tandem.stats.steps_up >= 5 and ks.tandem.stats.steps_down >= 2
    assert len(ks) == len(model)


def test_freeing_an_engine_is_charged_by_its_emptied_tables() -> None:
    """A retired shard keeps the table its keys left: freeing it costs units by table size,
    so a write that frees one such shard pays for the writes after it too."""
    engine = Engine(4)
    for shard in engine.values:
        for i in range(2000):
            shard[key(i)] = b"v"
        for i in range(2000):
            shard.pop(key(i))
    units = engine.free(1, print)
    assert len(engine.values) == 3  # one shard per call at least...
    assert units > 10  # ...charged for its ~74 KB table, not as one unit
    assert engine.free(10**6, print) == 3 * units and not engine.values  # same tables, same cost
