"""Engine and Tandem: the staircase of steps, hysteresis, migration by writes alone, the SCAN
cursor across steps, INFO engine fields. `check_invariants` is shared with the keyspace tests
and the state machine."""

from __future__ import annotations

import pytest

from tandemkv.clock import ManualClock
from tandemkv.keyspace import Engine, Keyspace, Tandem
from tandemkv.keyspace.engine import CHORE_BATCH_UNITS, KEYS_PER_WRITE, _next_cursor, shard_hash

HIGH = 8
LOW = 2


def check_invariants(tandem: Tandem) -> None:
    """The invariants written at the top of keyspace/engine.py, checked exhaustively."""
    engine = tandem.engine
    total = volatile = 0
    homes: dict[bytes, str] = {}
    for index, (values, deadlines) in enumerate(engine.iter_pairs()):
        assert values is engine.values[index] and deadlines is engine.deadlines[index]
        for key in values:
            assert shard_hash(key) & engine.mask == index, f"{key!r} in the wrong new shard"
            homes[key] = "new"
        assert set(deadlines) <= set(values), "deadline without a value"
        total += len(values)
        volatile += len(deadlines)
    old = tandem.old
    if old is None:
        assert tandem.cursor == 0
    else:
        assert 0 <= tandem.cursor <= old.shards
        for index, (values, deadlines) in enumerate(old.iter_pairs()):
            if index < tandem.cursor:
                assert not values and not deadlines, "a migrated old shard still holds keys"
            for key in values:
                assert shard_hash(key) & old.mask == index, f"{key!r} in the wrong old shard"
                assert key not in homes, f"{key!r} lives in both engines"
            assert set(deadlines) <= set(values), "deadline without a value (old engine)"
            total += len(values)
            volatile += len(deadlines)
    assert tandem.count == total
    assert tandem.volatile == volatile


def new_keyspace(clock: ManualClock | None = None, events: list | None = None, **kwargs: int) -> Keyspace:
    def notify(event_class: str, event: bytes, key: bytes, db: int) -> None:
        if events is not None:
            events.append((event, key))

    settings = {"high_keys": HIGH, "low_keys": LOW, **kwargs}
    return Keyspace(0, clock or ManualClock(), notify=notify, **settings)


def key(i: int) -> bytes:
    return b"key:%d" % i


# ------------------------------------------------------------------ engine


def test_engine_is_a_power_of_two_array_of_empty_shards() -> None:
    engine = Engine(8)
    assert engine.shards == 8 and engine.mask == 7
    assert len(engine.values) == len(engine.deadlines) == len(engine.accessed) == 8
    assert engine.key_count() == 0
    with pytest.raises(AssertionError):
        Engine(6)


def test_min_shards_rounds_up_to_a_power_of_two() -> None:
    tandem = Tandem(ManualClock(), min_shards=5, high_keys=HIGH, low_keys=LOW)
    assert tandem.engine.shards == 8
    assert tandem.info()["steps_down"] == 0


def test_low_watermark_is_clamped_to_a_quarter_of_high() -> None:
    tandem = Tandem(ManualClock(), high_keys=64, low_keys=1000)
    assert tandem.low_keys == 16


# --------------------------------------------------------------- staircase


def test_steps_up_through_the_staircase_and_back_down() -> None:
    ks = new_keyspace()
    tandem = ks.tandem
    shard_counts = [tandem.engine.shards]
    for i in range(1000):
        ks.set(key(i), b"v")
        check_invariants(tandem)
        if tandem.engine.shards != shard_counts[-1]:
            shard_counts.append(tandem.engine.shards)
    assert shard_counts == [1, 2, 4, 8, 16, 32, 64, 128]
    assert tandem.info()["steps_up"] == 7
    # Keys per shard never exceed the high watermark by more than one step's worth of writes.
    assert len(ks) == 1000 and tandem.engine.shards * HIGH >= 1000
    for i in range(1000):
        assert ks.delete(key(i))
        check_invariants(tandem)
        if tandem.engine.shards != shard_counts[-1]:
            shard_counts.append(tandem.engine.shards)
    ks.migrate(10**9)
    assert [*shard_counts[7:], tandem.engine.shards] == [128, 64, 32, 16, 8, 4, 2, 1, 1]
    assert tandem.info()["steps_down"] == 7
    assert len(ks) == 0 and not tandem.migrating


def test_no_flapping_at_a_boundary() -> None:
    ks = new_keyspace()
    tandem = ks.tandem
    n = 0
    while tandem.engine.shards < 16 or tandem.migrating:
        ks.set(key(n), b"v")
        n += 1
    # Sit exactly on the high watermark of 16 shards, then cross it back and forth.
    while len(ks) < 16 * HIGH:
        ks.set(key(n), b"v")
        n += 1
    steps_before = tandem.stats.steps_up + tandem.stats.steps_down
    for i in range(2000):
        ks.set(key(n + i % 3), b"v")
        ks.delete(key(n + i % 3))
    steps_after = tandem.stats.steps_up + tandem.stats.steps_down
    assert steps_after - steps_before <= 1
    check_invariants(tandem)


def test_no_flapping_at_the_low_watermark() -> None:
    ks = new_keyspace()
    tandem = ks.tandem
    for i in range(64 * HIGH):
        ks.set(key(i), b"v")
    ks.migrate(10**9)
    shards = tandem.engine.shards
    # Delete down to just above the low watermark, then oscillate across it.
    n = len(ks)
    while len(ks) > shards * LOW:
        n -= 1
        ks.delete(key(n))
    steps_before = tandem.stats.steps_up + tandem.stats.steps_down
    for _ in range(2000):
        ks.delete(key(n - 1))
        ks.set(key(n - 1), b"v")
    assert tandem.stats.steps_up + tandem.stats.steps_down - steps_before <= 1
    check_invariants(tandem)


def test_migration_completes_by_writes_alone_before_the_next_doubling() -> None:
    """No migrate() call: each write moves KEYS_PER_WRITE keys, so every step has finished by
    the time the next one is due, and each step starts exactly at its threshold."""
    started: list[tuple[int, int]] = []
    ended: list[int] = []

    def on_step(event: str, tandem: Tandem) -> None:
        if event == "start-up":
            started.append((tandem.count, tandem.old.shards if tandem.old else 0))
        elif event == "end":
            ended.append(tandem.count)

    ks = Keyspace(0, ManualClock(), high_keys=64, low_keys=8, on_step=on_step)
    for i in range(40_000):
        ks.set(key(i), b"v")
    assert len(started) == 10
    for count, old_shards in started:
        assert count == old_shards * 64 + 1, "a step started late: the previous one was unfinished"
    for (count, old_shards), end_count in zip(started, ended, strict=False):
        # Moving count keys, and freeing each drained old shard's tables (here 2 dicts of 64-85
        # keys, 4.6 KB: one unit of work each), at KEYS_PER_WRITE units per write, spent
        # CHORE_BATCH_UNITS at a time.
        assert end_count <= count + (count + old_shards + CHORE_BATCH_UNITS) // KEYS_PER_WRITE + 1
    check_invariants(ks.tandem)


def test_min_shards_change_steps_up_without_writes() -> None:
    ks = new_keyspace()
    ks.tandem.retune(min_shards=4, high_keys=HIGH, low_keys=LOW)
    ks.migrate(10**9)
    ks.migrate(10**9)
    assert ks.tandem.engine.shards == 4
    for i in range(10):
        ks.set(key(i), b"v")
    for i in range(10):
        ks.delete(key(i))
    ks.migrate(10**9)
    assert ks.tandem.engine.shards == 4, "never below min_shards"


def test_one_step_at_a_time() -> None:
    ks = new_keyspace()
    tandem = ks.tandem
    for i in range(HIGH + 1):
        ks.tandem.home(key(i))[0][key(i)] = b"v"
        tandem.added()
    assert tandem.migrating and tandem.engine.shards == 2
    # Far past the next threshold without a single write-driven move: still one step.
    for i in range(HIGH + 1, 10 * HIGH):
        values = tandem.engine.values[shard_hash(key(i)) & tandem.engine.mask]
        values[key(i)] = b"v"
        tandem.added()
    assert tandem.engine.shards == 2 and tandem.old is not None and tandem.old.shards == 1
    assert tandem.migrate_keys(10**6) is False  # finished, then the next step started at once
    assert tandem.old is not None and tandem.engine.shards == 4


# -------------------------------------------------------------------- scan


def test_reverse_binary_cursor_visits_every_index_once() -> None:
    for mask in (0, 1, 3, 7, 255):
        seen = []
        cursor = 0
        while True:
            seen.append(cursor & mask)
            cursor = _next_cursor(cursor, mask)
            if cursor == 0:
                break
        assert sorted(seen) == list(range(mask + 1))


def _scan_all(ks: Keyspace, between_calls, count: int = 3) -> set[bytes]:
    found: set[bytes] = set()
    cursor = 0
    calls = 0
    while True:
        cursor, keys = ks.scan(cursor, count)
        found.update(keys)
        calls += 1
        if cursor == 0:
            return found
        between_calls(calls)
        assert calls < 100_000


@pytest.mark.parametrize("seed", range(6))
def test_scan_returns_every_stable_key_while_steps_happen(seed: int) -> None:
    import random

    rng = random.Random(seed)
    ks = new_keyspace()
    stable = {b"stable:%d" % i for i in range(200)}
    for k in stable:
        ks.set(k, b"v")
    churn: list[bytes] = []
    next_id = [0]

    def between_calls(calls: int) -> None:
        # Grow or shrink hard between SCAN calls, so steps up and down run mid-iteration.
        if rng.random() < 0.5:
            for _ in range(rng.randrange(1, 400)):
                k = b"churn:%d" % next_id[0]
                next_id[0] += 1
                ks.set(k, b"v")
                churn.append(k)
        else:
            for _ in range(min(len(churn), rng.randrange(1, 400))):
                ks.delete(churn.pop(rng.randrange(len(churn))))
        if rng.random() < 0.3:
            ks.tandem.migrate_keys(rng.randrange(1, 200))
        check_invariants(ks.tandem)

    steps_before = ks.tandem.stats.steps_up + ks.tandem.stats.steps_down
    found = _scan_all(ks, between_calls)
    assert stable <= found
    assert ks.tandem.stats.steps_up + ks.tandem.stats.steps_down > steps_before


def test_scan_shards_during_a_step_covers_both_engines() -> None:
    ks = new_keyspace()
    for i in range(16 * HIGH + 1):
        ks.set(key(i), b"v")
    tandem = ks.tandem
    assert tandem.migrating
    seen: list[bytes] = []
    cursor = 0
    while True:
        pairs, cursor = tandem.scan_shards(cursor)
        for values, _ in pairs:
            seen.extend(values)
        if cursor == 0:
            break
    assert sorted(seen) == sorted(key(i) for i in range(16 * HIGH + 1))


# -------------------------------------------------------------------- info


def test_info_engine_fields() -> None:
    clock = ManualClock()
    ks = new_keyspace(clock)
    info = ks.tandem.info()
    assert info == {
        "shards": 1,
        "migrating": 0,
        "old_shards": 0,
        "migrated_shards": 0,
        "keys": 0,
        "volatile_keys": 0,
        "steps_up": 0,
        "steps_down": 0,
        "gc_dropped_keys": 0,
        "migrated_keys": 0,
        "migration_time_ms_total": 0,
        "last_migration_time_ms": 0,
    }
    for i in range(4 * HIGH + 1):
        ks.set(key(i), b"v", deadline_ms=clock.now_ms() + 1000 if i % 2 else None)
    info = ks.tandem.info()
    assert info["shards"] == 8 and info["migrating"] == 1 and info["old_shards"] == 4
    assert info["keys"] == 4 * HIGH + 1 and info["volatile_keys"] == 2 * HIGH
    assert info["steps_up"] == 3
    # Move keys one at a time until the first old shard is done (how many keys that takes
    # depends on the hash seed): progress shows while the step is still running.
    for _ in range(4 * HIGH):
        if ks.tandem.info()["migrated_shards"]:
            break
        ks.tandem.migrate_keys(1)
    info = ks.tandem.info()
    assert info["migrating"] == 1 and 1 <= info["migrated_shards"] < info["old_shards"]
    clock.advance_ms(7)
    ks.migrate(10**9)
    info = ks.tandem.info()
    assert info["migrating"] == 0 and info["old_shards"] == 0 and info["migrated_shards"] == 0
    assert info["last_migration_time_ms"] == 7
    assert info["migration_time_ms_total"] == 7
    assert info["migrated_keys"] > 4 * HIGH
    clock.advance_ms(2000)
    for i in range(4 * HIGH + 1):
        ks.delete(key(i))
    ks.migrate(10**9)
    info = ks.tandem.info()
    assert info["keys"] == 0 and info["volatile_keys"] == 0 and info["steps_down"] >= 1
    assert info["shards"] == 1
