"""Unit tests of values/streams.py: a hypothesis model against a sorted Python list, node
layout, trimming, consumer-group bookkeeping, nbytes, copy and free_slice."""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from tandemkv.clock import ManualClock
from tandemkv.store import Store
from tandemkv.values.streams import MAX_ID, DroppedNodes, StreamValue, format_id, make_id, split_id

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 3), st.integers(0, 2)),
        st.tuples(st.just("del"), st.integers(0, 60), st.integers(0, 2)),
        st.tuples(st.just("maxlen"), st.integers(0, 40), st.booleans()),
        st.tuples(st.just("minid"), st.integers(0, 60), st.booleans()),
    ),
    max_size=120,
)


class Model:
    """A stream as a sorted list of (id, fields), plus the counters."""

    def __init__(self) -> None:
        self.items: list[tuple[int, tuple[bytes, ...]]] = []
        self.last_id = 0


def _check(value: StreamValue, model: Model, node_max: int) -> None:
    assert value.length == len(model.items)
    assert list(value.range(0, MAX_ID)) == model.items
    assert list(value.revrange(0, MAX_ID)) == model.items[::-1]
    assert value.last_id == model.last_id
    assert sum(node.live for node in value.nodes) == value.length
    assert all(node.live > 0 for node in value.nodes)
    assert all(len(node.ids) <= node_max for node in value.nodes)
    assert value.firsts == [node.master_id for node in value.nodes]
    if model.items:
        assert value.first_id == model.items[0][0]
        ids = [entry_id for entry_id, _ in model.items]
        lo, hi = ids[len(ids) // 3], ids[2 * len(ids) // 3]
        expected = [item for item in model.items if lo <= item[0] <= hi]
        assert list(value.range(lo, hi)) == expected
        assert list(value.range(lo, hi, 2)) == expected[:2]
        assert list(value.revrange(lo, hi, 2)) == expected[::-1][:2]
        for entry_id, fields in model.items[:5]:
            assert value.get(entry_id) == fields
    else:
        assert value.first_id == 0


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(2, 6))
def test_model(operations, node_max: int) -> None:
    value = StreamValue()
    model = Model()
    ms = 0
    for op, a, b in operations:
        if op == "add":
            ms += a
            entry_id = make_id(ms, b)
            fields = (b"f", b"%d" % ms) if b else (b"g", b"x", b"h", b"y")
            value.append(entry_id, fields, 4096, node_max)
            model.items.append((entry_id, fields))
            model.last_id = entry_id
        elif op == "del":
            entry_id = make_id(a, b)
            present = any(entry_id == i for i, _ in model.items)
            assert value.delete(entry_id) == present
            model.items = [item for item in model.items if item[0] != entry_id]
            if present:  # XDEL's bookkeeping, done by the command
                value.first_id = value.first_live_id()
        elif op == "maxlen":
            removed, dropped = value.trim(a, 0, b, 0)
            if b:
                assert len(model.items) - removed >= min(a, len(model.items))
                model.items = model.items[removed:]
            else:
                keep = model.items[-a:] if a else []
                assert removed == len(model.items) - len(keep)
                model.items = keep
            assert isinstance(dropped, DroppedNodes)
        else:
            minid = make_id(a, 0)
            removed, _ = value.trim(None, minid, b, 0)
            below = [item for item in model.items if item[0] < minid]
            if b:
                assert removed <= len(below)
            else:
                assert removed == len(below)
            model.items = model.items[removed:]
        _check(value, model, node_max)
    clone = value.copy()
    _check(clone, model, node_max)
    assert clone.nbytes == value.nbytes


def test_ids() -> None:
    assert split_id(make_id(5, 7)) == (5, 7)
    assert format_id(make_id(2**64 - 1, 3)) == b"18446744073709551615-3"
    assert make_id(1, 2**64 - 1) + 1 == make_id(2, 0)


def test_next_id_never_goes_back() -> None:
    value = StreamValue()
    value.append(make_id(1000, 5), (b"f", b"v"), 4096, 100)
    assert value.next_id(500) == make_id(1000, 6)  # the clock went back
    assert value.next_id(2000) == make_id(2000, 0)
    value.last_id = make_id(7, 2**64 - 1)
    assert value.next_id(1) == make_id(8, 0)
    value.last_id = MAX_ID
    assert value.next_id(1) is None


def test_nodes_start_where_redis_does() -> None:
    value = StreamValue()
    for i in range(1, 251):
        value.append(make_id(i, 1), (b"f", b"v%d" % i), 4096, 100)
    assert [len(node.ids) for node in value.nodes] == [100, 100, 50]
    big = StreamValue()
    for i in range(1, 20):
        big.append(make_id(i, 0), (b"f", b"x" * 1000), 4096, 100)
    assert all(node.listpack_bytes() < 4096 + 1100 for node in big.nodes)
    assert [len(node.ids) for node in big.nodes][:2] == [4, 4]


def test_approx_trim_drops_whole_nodes_only() -> None:
    value = StreamValue()
    for i in range(1, 251):
        value.append(make_id(i, 1), (b"f", b"v"), 4096, 100)
    removed, dropped = value.trim(120, 0, True, 10000)
    assert removed == 100 and value.length == 150 and len(dropped) == 100
    assert dropped.free_slice(60) >= 60 or not dropped.nodes
    removed, _ = value.trim(10, 0, True, 50)  # LIMIT below a node's size: nothing
    assert removed == 0


def test_delete_empties_node_and_counts_bytes() -> None:
    value = StreamValue()
    empty = value.nbytes
    for i in range(1, 4):
        value.append(make_id(i, 0), (b"f", b"v"), 4096, 2)
    assert value.node_count() == 2
    assert value.delete(make_id(3, 0))
    assert value.node_count() == 1
    assert value.delete(make_id(1, 0)) and value.delete(make_id(2, 0))
    assert value.node_count() == 0 and value.length == 0
    assert value.nbytes == empty


def test_groups_pel_and_counters() -> None:
    value = StreamValue()
    for i in range(1, 6):
        value.append(make_id(i, 0), (b"f", b"v"), 4096, 100)
    base = value.nbytes
    group = value.add_group(b"g", 0, -1)
    assert group is not None and value.add_group(b"g", 0, -1) is None
    alice = value.add_consumer(group, b"alice", 10)
    bob = value.add_consumer(group, b"bob", 10)
    assert alice is not None and bob is not None
    for entry_id, _ in value.range(0, MAX_ID):
        value.advance_group(group, entry_id)
        value.deliver(group, alice, entry_id, 20)
    assert group.entries_read == 5 and value.lag(group) == 0
    value.claim(group, make_id(2, 0), bob)
    assert group.pending.order == [make_id(i, 0) for i in range(1, 6)]
    assert alice.pending.order == [make_id(i, 0) for i in (1, 3, 4, 5)]
    assert bob.pending.order == [make_id(2, 0)]
    assert value.acknowledge(group, make_id(3, 0)) and not value.acknowledge(group, make_id(3, 0))
    walked = [entry_id for entry_id, _ in group.pending.since(make_id(2, 0), make_id(4, 0))]
    assert walked == [make_id(2, 0), make_id(4, 0)]
    for entry_id, _ in group.pending.since(0):  # removing while walking
        value.acknowledge(group, entry_id)
    assert len(group.pending) == 0 and len(alice.pending) == 0
    value.delete_consumer(group, bob)
    value.delete_consumer(group, alice)
    assert value.destroy_group(b"g")
    assert value.nbytes == base


def test_estimate_entries_read() -> None:
    value = StreamValue()
    for i in range(1, 6):
        value.append(make_id(i, 0), (b"f", b"v"), 4096, 100)
    assert value.estimate_entries_read(make_id(5, 0)) == 5
    assert value.estimate_entries_read(make_id(1, 0)) == 1
    assert value.estimate_entries_read(make_id(0, 5)) == 0
    assert value.estimate_entries_read(make_id(3, 0)) == -1
    assert value.estimate_entries_read(make_id(9, 0)) == -1


def test_free_slice() -> None:
    value = StreamValue()
    for i in range(1, 1001):
        value.append(make_id(i, 0), (b"f", b"v"), 4096, 100)
    group = value.add_group(b"g", 0, -1)
    assert group is not None
    freed = 0
    while len(value):
        step = value.free_slice(250)
        assert 0 < step <= 300
        freed += step
    assert freed == 1000 and not value.nodes and not value.groups


def test_big_stream_trim_and_delete_are_sliced() -> None:
    value = StreamValue()
    n = 200_000
    fields = (b"f", b"v")
    for i in range(1, n + 1):
        value.append(make_id(i, 0), fields, 4096, 100)
    ids = [entry_id for entry_id, _ in value.range(make_id(n // 2, 0), make_id(n // 2 + 10, 0))]
    assert len(ids) == 11 and bisect_left(ids, make_id(n // 2 + 5, 0)) == 5
    removed, dropped = value.trim(0, 0, True, 0)
    assert removed == n and value.length == 0 and len(dropped) == n
    while len(dropped):
        assert dropped.free_slice(1000) <= 1100


def test_len_counts_pending_entries_and_free_slice_frees_them() -> None:
    value = StreamValue()
    for i in range(1, 301):
        value.append(make_id(i, 0), (b"f", b"v"), 4096, 100)
    group = value.add_group(b"g", 0, -1)
    assert group is not None
    alice = value.add_consumer(group, b"alice", 0)
    assert alice is not None
    for entry_id, _ in value.range(0, MAX_ID):
        value.deliver(group, alice, entry_id, 0)
    assert len(value) == 600 and value.length == 300
    value.claim(group, make_id(999, 0), alice)  # XCLAIM FORCE of an unknown ID
    assert len(value) == 601
    assert value.acknowledge(group, make_id(999, 0))
    clone = value.copy()
    assert len(clone) == 600
    steps = 0
    while len(value):
        assert value.free_slice(64) <= 164
        steps += 1
    assert steps >= 600 // 164 and not value.groups and value.pending_total == 0
    clone.destroy_group(b"g")
    assert len(clone) == 300


# ----------------------------------------------- commands on the embedded store


def _store() -> tuple[Store, ManualClock]:
    clock = ManualClock(start_ms=1_000_000)
    return Store(clock=clock), clock


def test_auto_ids_stay_monotonic_when_the_clock_goes_back() -> None:
    store, clock = _store()
    assert store.execute("XADD", "s", "*", "f", "v") == b"1000000-0"
    assert store.execute("XADD", "s", "*", "f", "v") == b"1000000-1"
    clock.advance_ms(-500)
    assert store.execute("XADD", "s", "*", "f", "v") == b"1000000-2"
    clock.advance_ms(600)
    assert store.execute("XADD", "s", "*", "f", "v") == b"1000100-0"
    assert store.execute("XADD", "s", "1000100-*", "f", "v") == b"1000100-1"


def test_idle_times_follow_the_keyspace_clock() -> None:
    store, clock = _store()
    for i in range(1, 4):
        store.execute("XADD", "s", f"{i}-0", "f", "v")
    store.execute("XGROUP", "CREATE", "s", "g", "0")
    store.execute("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    clock.advance_ms(250)
    rows = store.execute("XPENDING", "s", "g", "-", "+", 10)
    assert [row[2] for row in rows] == [250, 250, 250]
    assert store.execute("XPENDING", "s", "g", "IDLE", 251, "-", "+", 10) == []
    assert store.execute("XCLAIM", "s", "g", "bob", 300, "1-0", "JUSTID") == []
    assert store.execute("XCLAIM", "s", "g", "bob", 200, "1-0", "JUSTID") == [b"1-0"]
    assert store.execute("XCLAIM", "s", "g", "bob", 0, "2-0", "IDLE", 100, "JUSTID") == [b"2-0"]
    clock.advance_ms(50)
    assert [row[2] for row in store.execute("XPENDING", "s", "g", "-", "+", 10)] == [50, 150, 300]
    consumers = store.execute("XINFO", "CONSUMERS", "s", "g")
    assert [(c[b"name"], c[b"pending"], c[b"idle"]) for c in consumers] == [(b"alice", 1, 300), (b"bob", 2, 50)]
    next_id, claimed, deleted = store.execute("XAUTOCLAIM", "s", "g", "carol", 299, "0", "JUSTID")
    assert (next_id, claimed, deleted) == (b"0-0", [b"3-0"], [])
    full = store.execute("XINFO", "STREAM", "s", "FULL")
    group = full[b"groups"][0]
    assert group[b"pending"][0][2] == clock.now_ms() - 50  # delivery times are absolute ms


def test_trimming_a_big_stream_is_freed_in_slices() -> None:
    store, _ = _store()
    db = store.session.db
    for i in range(1, 20_001):
        store.execute("XADD", "s", f"{i}-0", "f", "v")
    used = db.used_bytes
    assert store.execute("XTRIM", "s", "MAXLEN", 0) == 20_000
    assert [type(v).__name__ for v in db.lazy_values] == ["DroppedNodes"]
    assert db.used_bytes < used - 20_000 * 100
    while db.has_garbage:
        db.free_detached(1000)
    assert store.execute("XLEN", "s") == 0 and store.execute("EXISTS", "s") == 1
