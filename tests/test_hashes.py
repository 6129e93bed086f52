"""HashValue (values/hashes.py) against a plain dict model: contents, order while listpack-
encoded, the encoding flag, `nbytes` against a walk of the structure, HSCAN's guarantee
across splits and merges, random picks, copy and free_slice."""

from __future__ import annotations

from sys import getsizeof

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tandemkv.values import bytes_size, object_bytes
from tandemkv.values.hashes import HashValue

MAX_ENTRIES = 512
MAX_VALUE = 64


def measured_bytes(value: HashValue) -> int:
    """nbytes rebuilt from scratch: the object, its bucket list, each bucket dict as CPython
    reports it, and every field and value."""
    total = object_bytes(getsizeof(value)) + getsizeof(value.buckets)
    for bucket in value.buckets:
        total += getsizeof(bucket)
        total += sum(bytes_size(field) + bytes_size(item) for field, item in bucket.items())
    return total


def check_structure(value: HashValue) -> None:
    """Every field sits in the bucket its hash addresses; the counters agree."""
    buckets = value.buckets
    assert value.mask == (1 << len(buckets).bit_length()) - 1
    for index, bucket in enumerate(buckets):
        for field in bucket:
            address = hash(field) & value.mask
            if address >= len(buckets):
                address &= value.mask >> 1
            assert address == index
    assert len(value) == sum(len(bucket) for bucket in buckets)
    assert value.nbytes == measured_bytes(value)


def fill(count: int, prefix: bytes = b"f") -> HashValue:
    value = HashValue()
    for i in range(count):
        value.set(prefix + b"%d" % i, b"v%d" % i, MAX_ENTRIES, MAX_VALUE)
    return value


FIELDS = st.binary(max_size=3) | st.sampled_from([b"x" * 70, b"f%d" % 7])
VALUES = st.binary(max_size=6) | st.just(b"y" * 65)


class HashModel(RuleBasedStateMachine):
    """Random writes with small limits (so conversions and splits happen) against a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.value = HashValue()
        self.model: dict[bytes, bytes] = {}
        self.listpack = True
        self.max_entries = 20

    @rule(field=FIELDS, item=VALUES)
    def set(self, field: bytes, item: bytes) -> None:
        new = self.value.set(field, item, self.max_entries, MAX_VALUE)
        assert new == (field not in self.model)
        self.model[field] = item
        if len(field) > MAX_VALUE or len(item) > MAX_VALUE or len(self.model) > self.max_entries:
            self.listpack = False

    @rule(count=st.integers(1, 300))
    def set_many(self, count: int) -> None:
        for i in range(count):
            self.set(b"n%d" % i, b"%d" % i)

    @rule(field=FIELDS)
    def delete(self, field: bytes) -> None:
        assert self.value.delete(field) == (field in self.model)
        self.model.pop(field, None)

    @rule(count=st.integers(1, 300))
    def delete_many(self, count: int) -> None:
        for i in range(count):
            self.delete(b"n%d" % i)

    @rule(limit=st.integers(0, 40))
    def change_limit(self, limit: int) -> None:
        self.max_entries = limit

    @precondition(lambda self: self.model)
    @rule(count=st.integers(1, 50))
    def random_picks(self, count: int) -> None:
        field, item = self.value.random_item()
        assert self.model[field] == item
        picks = self.value.random_items(count)
        assert len(picks) == count and all(self.model[f] == v for f, v in picks)
        if count < len(self.model):
            distinct = self.value.random_distinct(count)
            assert len({f for f, _ in distinct}) == count
            assert all(self.model[f] == v for f, v in distinct)

    @rule()
    def copy(self) -> None:
        clone = self.value.copy()
        check_structure(clone)
        assert dict(clone.items()) == self.model and clone.encoding == self.value.encoding
        clone.set(b"only-in-copy", b"1", MAX_ENTRIES, MAX_VALUE)
        assert self.value.get(b"only-in-copy") is None

    @invariant()
    def same_contents(self) -> None:
        value = self.value
        assert len(value) == len(self.model)
        assert value.encoding == (b"listpack" if self.listpack else b"hashtable")
        if self.listpack:
            assert list(value.items()) == list(self.model.items())  # insertion order
        else:
            assert dict(value.items()) == self.model
        assert value.fields() == [f for f, _ in value.items()]
        assert value.values() == [v for _, v in value.items()]
        for field, item in self.model.items():
            assert value.get(field) == item and field in value
        check_structure(value)


TestHashModel = HashModel.TestCase
TestHashModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_encoding_only_grows():
    value = fill(MAX_ENTRIES)
    assert value.encoding == b"listpack" and len(value.buckets) == 1
    value.set(b"one more", b"x", MAX_ENTRIES, MAX_VALUE)
    assert value.encoding == b"hashtable" and len(value.buckets) > 1
    for i in range(MAX_ENTRIES):
        value.delete(b"f%d" % i)
    assert value.encoding == b"hashtable" and len(value) == 1 and len(value.buckets) == 1
    check_structure(value)


def test_long_field_or_value_converts_before_storing():
    value = fill(3)
    value.set(b"f", b"x" * (MAX_VALUE + 1), MAX_ENTRIES, MAX_VALUE)
    assert value.encoding == b"hashtable"
    value = fill(3)
    value.set(b"x" * MAX_VALUE, b"y" * MAX_VALUE, MAX_ENTRIES, MAX_VALUE)
    assert value.encoding == b"listpack"


def test_buckets_stay_small():
    value = fill(20000)
    sizes = [len(bucket) for bucket in value.buckets]
    assert max(sizes) < 64 and 20000 / len(sizes) <= 16
    for i in range(19000):
        value.delete(b"f%d" % i)
    assert len(value.buckets) <= 1000 / 4 + 1
    check_structure(value)


def full_scan(value: HashValue, count: int, between=None) -> tuple[list[bytes], int]:
    found: list[bytes] = []
    cursor = 0
    calls = 0
    while True:
        cursor, pairs = value.scan(cursor, count)
        found += [field for field, _ in pairs]
        calls += 1
        if between is not None:
            between(calls)
        if cursor == 0:
            return found, calls


def test_scan_small_hash_in_one_call():
    value = fill(100)
    cursor, pairs = value.scan(12345, 1)
    assert cursor == 0 and pairs == list(value.items())


def test_scan_costs_linear():
    """A full scan of a stable hash returns each field once, in about n / count calls."""
    value = fill(50000)
    for count in (1, 10, 100, 1000):
        found, calls = full_scan(value, count)
        assert sorted(found) == sorted(value.fields())
        assert calls <= len(value.buckets)
        if count >= 100:
            assert calls <= 2 * 50000 / count + 1


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(600, 3000),
    changes=st.lists(st.tuples(st.booleans(), st.integers(1, 400)), min_size=1, max_size=30),
    count=st.integers(1, 40),
)
def test_scan_guarantee_across_splits_and_merges(start, changes, count):
    """Fields present for the whole scan come back, however the table grows or shrinks
    (splits and merges) between calls."""
    value = fill(start)
    steady = set(value.fields()[: start // 2])
    transient = [f for f in value.fields() if f not in steady]
    added = 0

    def between(call: int) -> None:
        # One change per call while the list lasts (a hash growing faster than the scan
        # advances would keep the scan going for ever, in Redis too).
        nonlocal added
        if call > len(changes):
            return
        grow, amount = changes[call - 1]
        if grow:
            for i in range(amount):
                value.set(b"new%d" % (added + i), b"x", MAX_ENTRIES, MAX_VALUE)
            added += amount
        else:
            for _ in range(min(amount, len(transient))):
                value.delete(transient.pop())

    found, _ = full_scan(value, count, between)
    assert steady <= set(found)
    check_structure(value)


def test_random_item_is_uniform_over_buckets():
    value = fill(2000)
    seen: dict[bytes, int] = {}
    for field, _ in value.random_items(200000):
        seen[field] = seen.get(field, 0) + 1
    assert len(seen) == 2000
    assert max(seen.values()) < 170 and min(seen.values()) > 40  # about 100 each


def test_random_distinct_keeps_listpack_order():
    value = fill(300)
    order = {field: i for i, field in enumerate(value.fields())}
    picked = value.random_distinct(50)
    positions = [order[field] for field, _ in picked]
    assert positions == sorted(positions) and len(set(positions)) == 50


def test_free_slice():
    value = fill(5000)
    freed = 0
    while len(value):
        done = value.free_slice(700)
        assert 0 < done <= 700
        freed += done
        check_structure(value)
    assert freed == 5000 and value.free_slice(10) == 0
    assert value.nbytes == measured_bytes(value)


def test_empty_hash_bytes():
    assert HashValue().nbytes == measured_bytes(HashValue())


def test_commands_charge_every_change():
    """Every hash command charges its change in the same write: after any sequence, deleting
    the keys brings used_memory back exactly to where it started (no drift either way)."""
    from tandemkv import Store

    store = Store()
    memory = store.instance.memory
    start = memory.used_bytes
    run = store.execute
    run("HSET", "h", "a", "1", "b", "2")
    run("HSETNX", "h", "c", "3")
    run("HINCRBY", "h", "a", "1000000")
    run("HINCRBYFLOAT", "h", "b", "1.5")
    run("HINCRBYFLOAT", "h", "b", "1e100")  # a long value: converts to the hashtable encoding
    for i in range(3000):
        run("HSET", "h", f"f{i}", "x" * (i % 90))
    for i in range(0, 3000, 2):
        run("HDEL", "h", f"f{i}", "nofield")
    run("HSET", "small", "x", "1")
    run("HDEL", "small", "x")  # emptied: the key goes, with its charge
    run("COPY", "h", "h2")
    run("HDEL", "h2", "f1", "f3")
    assert memory.used_bytes > start
    run("DEL", "h", "h2")
    assert memory.used_bytes == start


def test_big_hash_is_freed_in_slices():
    """A deleted hash past the lazy-free size waits in `lazy_values` and background ticks
    free it a slice at a time."""
    from tandemkv import Store

    store = Store()
    for start in range(0, 20000, 1000):
        store.execute("HSET", "big", *[part for i in range(start, start + 1000) for part in (f"f{i}", "v")])
    value = store.instance.dbs[0].peek(b"big")
    store.execute("DEL", "big")
    db = store.instance.dbs[0]
    assert db.lazy_values == [value] and len(value) == 20000
    ticks = 0
    while store.tick():
        ticks += 1
    assert not db.lazy_values and len(value) == 0 and ticks >= 1
