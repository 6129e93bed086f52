"""ZSetValue (values/zsets.py) against a plain model: a dict of scores, sorted on demand.

A hypothesis state machine applies random operations to both and checks after each step the
order, ranks, score and member bounds, ZSCAN iterations, and that `nbytes` equals that of a
value rebuilt from the same members (the incremental accounting never drifts).
"""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tandemkv.values.zsets import ELEMENT_BYTES, ZSetValue

MEMBERS = st.binary(max_size=4)
SCORES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e300, -math.inf, math.inf, 3.0, 0.1])


def model_order(model: dict[bytes, float]) -> list[tuple[bytes, float]]:
    return [(member, score) for score, member in sorted((s, m) for m, s in model.items())]


class ZSetMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.value = ZSetValue()
        self.model: dict[bytes, float] = {}

    @rule(member=MEMBERS, score=SCORES)
    def add(self, member: bytes, score: float) -> None:
        new = self.value.add(member, score)
        assert new == (member not in self.model)
        current = self.model.get(member)
        if current is None or current != score:
            self.model[member] = 0.0 if self.value.listpack and not score else score

    @rule(member=MEMBERS)
    def remove(self, member: bytes) -> None:
        assert self.value.remove(member) == (self.model.pop(member, None) is not None)

    @rule(count=st.integers(0, 5), highest=st.booleans())
    def pop(self, count: int, highest: bool) -> None:
        expected = model_order(self.model)
        if highest:
            expected.reverse()
        expected = expected[:count]
        assert self.value.pop(count, highest) == expected
        for member, _score in expected:
            del self.model[member]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete_range(self, data: st.DataObject) -> None:
        n = len(self.model)
        start = data.draw(st.integers(0, n - 1))
        stop = data.draw(st.integers(start, n))
        doomed = model_order(self.model)[start:stop]
        assert self.value.delete_range(start, stop) == len(doomed)
        for member, _score in doomed:
            del self.model[member]

    @rule(entries=st.integers(0, 6), member_bytes=st.integers(0, 6))
    def fit_encoding(self, entries: int, member_bytes: int) -> None:
        was = self.value.listpack
        self.value.fit_encoding(entries, 4, member_bytes)
        assert self.value.listpack == (was and len(self.model) <= entries and member_bytes <= 4)

    @rule()
    def copy(self) -> None:
        clone = self.value.copy()
        clone.add(b"only in the copy", 1.0)
        assert b"only in the copy" not in self.value.scores or b"only in the copy" in self.model
        self.value = self.value.copy()

    @rule(member=MEMBERS, reverse=st.booleans())
    def rank(self, member: bytes, reverse: bool) -> None:
        order = [m for m, _s in model_order(self.model)]
        if reverse:
            order.reverse()
        expected = order.index(member) if member in self.model else None
        assert self.value.rank(member, reverse) == expected

    @rule(low=SCORES, high=SCORES, low_ex=st.booleans(), high_ex=st.booleans())
    def score_bounds(self, low: float, high: float, low_ex: bool, high_ex: bool) -> None:
        order = model_order(self.model)
        start = self.value.score_start(low, low_ex)
        stop = self.value.score_stop(high, high_ex)
        inside = [(m, s) for m, s in order if (s > low if low_ex else s >= low) and (s < high if high_ex else s <= high)]
        assert self.value.range(start, max(start, stop)) == inside

    @rule(member=MEMBERS, after=st.booleans())
    def member_bound(self, member: bytes, after: bool) -> None:
        if len(set(self.model.values())) > 1:
            return  # lexicographic searches assume one score, as in Redis
        members = [m for m, _s in model_order(self.model)]
        expected = sum(1 for m in members if m < member or (after and m == member))
        assert self.value.member_position(member, after) == expected

    @rule(count=st.integers(1, 4))
    def scan(self, count: int) -> None:
        """A whole ZSCAN iteration returns every element once, with its score."""
        seen: list[tuple[bytes, float]] = []
        cursor, batch = self.value.scan(0, count)
        seen += batch
        while cursor:
            cursor, batch = self.value.scan(cursor, count)
            seen += batch
        assert sorted(seen) == sorted(self.model.items())

    @invariant()
    def same_contents(self) -> None:
        order = model_order(self.model)
        assert list(self.value) == order
        assert len(self.value) == len(self.model)
        if order:
            assert self.value.at(0) == order[0] and self.value.at(-1) == order[-1]
            assert self.value.range(0, len(order), reverse=True) == order[::-1]

    @invariant()
    def nbytes_equals_rebuild(self) -> None:
        rebuilt = ZSetValue(self.model.items(), listpack=self.value.listpack)
        if self.value.scan_index is not None:
            rebuilt.scan(0, 1)  # builds the same ZSCAN index
        assert self.value.nbytes == rebuilt.nbytes


TestZSetMachine = ZSetMachine.TestCase
TestZSetMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_listpack_stores_negative_zero_as_zero():
    small = ZSetValue()
    small.add(b"a", -0.0)
    assert math.copysign(1.0, small.scores[b"a"]) == 1.0
    big = ZSetValue(listpack=False)
    big.add(b"a", -0.0)
    assert math.copysign(1.0, big.scores[b"a"]) == -1.0
    assert math.copysign(1.0, ZSetValue([(b"a", -0.0)]).scores[b"a"]) == 1.0


def test_encoding_only_grows():
    value = ZSetValue([(b"a", 1.0), (b"b", 2.0)])
    assert value.encoding == b"listpack"
    value.fit_encoding(2, 64, 1)
    assert value.encoding == b"listpack"
    value.fit_encoding(2, 64, 1, adding=1)
    assert value.encoding == b"skiplist"
    value.remove(b"a")
    value.fit_encoding(128, 64, 1)
    assert value.encoding == b"skiplist"
    assert value.copy().encoding == b"skiplist"


def test_nbytes_counts_members():
    empty = ZSetValue().nbytes
    value = ZSetValue()
    value.add(b"x" * 100, 1.0)
    grown = value.nbytes - empty
    assert grown > ELEMENT_BYTES + 100
    value.add(b"x" * 100, 2.0)  # an update changes no size
    assert value.nbytes - empty == grown
    value.remove(b"x" * 100)
    assert value.nbytes == empty


def test_free_slice_empties_in_slices():
    value = ZSetValue((b"m%d" % i, float(i)) for i in range(1000))
    freed = 0
    while len(value):
        done = value.free_slice(300)
        assert 0 < done <= 300
        freed += done
    assert freed == 1000 and list(value) == [] and value.free_slice(10) == 0


def test_random_element_is_a_member():
    value = ZSetValue((b"m%d" % i, float(i)) for i in range(50))
    for _ in range(100):
        member, score = value.random_element()
        assert value.scores[member] == score


def test_commands_charge_the_memory_bound_in_the_same_write():
    """Every write charges the value's growth; emptying the set gives it all back."""
    from tandemkv import Store

    store = Store()
    db = store.session.db
    baseline = db.used_bytes
    store.execute("ZADD", "z", *[x for i in range(300) for x in (i, f"member{i}")])
    value = db.peek(b"z")
    assert isinstance(value, ZSetValue)
    grown = db.used_bytes - baseline
    assert grown >= value.nbytes > 300 * ELEMENT_BYTES
    store.execute("ZINCRBY", "z", 5, "member1")
    before = value.nbytes
    store.execute("ZSCAN", "z", 0)  # builds the scan index: charged too
    assert value.nbytes > before and db.used_bytes - baseline == grown + value.nbytes - before
    store.execute("ZUNIONSTORE", "u", 1, "z")
    store.execute("ZREMRANGEBYRANK", "z", 0, 99)
    store.execute("ZPOPMIN", "z", 50)
    store.execute("ZREM", "z", *[f"member{i}" for i in range(150, 300)])
    store.execute("DEL", "u")
    assert store.execute("EXISTS", "z") == 0
    assert db.used_bytes == baseline


def test_member_position_with_mixed_scores():
    """Members ordered like their scores: the member-only search still finds the bounds."""
    value = ZSetValue([(b"a", 1.0), (b"b", 2.0), (b"c", 2.0), (b"d", 5.0)])
    assert [value.member_position(m, after=False) for m in (b"", b"a", b"b", b"bb", b"d", b"e")] == [0, 0, 1, 2, 3, 4]
    assert [value.member_position(m, after=True) for m in (b"", b"a", b"b", b"bb", b"d", b"e")] == [0, 1, 2, 2, 4, 4]
