"""SetValue (values/sets.py) against a plain Python set: members, encoding flag, nbytes kept
incrementally equal to a rebuild from scratch, random choice, scans and freeing."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tandemkv.keyspace.memory import DEADLINE_BYTES, entry_bytes
from tandemkv.protocol import string2ll
from tandemkv.store import Store
from tandemkv.values.sets import INTSET_HARD_MAX, SetValue, is_intset_member
from tandemkv.values.sizes import bytes_size, object_bytes

MEMBERS = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64).map(lambda i: str(i).encode()),
    st.sampled_from([b"", b"-", b"-0", b"00", b"+1", b" 1", b"1 ", b"x", b"\x00", b"01", b"1.0"]),
    st.binary(max_size=30),
)


def rebuilt_nbytes(members: list[bytes]) -> int:
    """nbytes computed from scratch: containers, members, per-member slots, position ints."""
    n = len(members)
    containers = object_bytes(64) + object_bytes(56)  # an empty dict and an empty list
    ints = 32 * max(0, n - 257)
    return containers + sum(bytes_size(m) for m in members) + 48 * n + ints


@given(st.one_of(MEMBERS, st.binary(max_size=22)))
def test_intset_member_rule_is_string2ll(member):
    assert is_intset_member(member) == (string2ll(member) is not None)


def test_intset_member_edges():
    assert is_intset_member(b"0") and is_intset_member(b"-1") and is_intset_member(b"9")
    assert is_intset_member(str(2**63 - 1).encode()) and is_intset_member(str(-(2**63)).encode())
    for bad in (b"", b"-", b"-0", b"01", b"+1", b" 1", str(2**63).encode(), str(-(2**63) - 1).encode(), b"1e3"):
        assert not is_intset_member(bad), bad


class SetMachine(RuleBasedStateMachine):
    """Random operations on a SetValue and on a Python set model."""

    def __init__(self) -> None:
        super().__init__()
        self.value = SetValue()
        self.model: set[bytes] = set()
        self.intset = True  # Redis's encoding, modelled: flips once on writes
        self.max_intset = 8

    @rule(member=MEMBERS)
    def add(self, member):
        assert self.value.add(member, self.max_intset) == (member not in self.model)
        if member not in self.model:
            self.model.add(member)
            if len(self.model) > self.max_intset or string2ll(member) is None:
                self.intset = False

    @rule(members=st.lists(MEMBERS, max_size=5))
    def add_many(self, members):
        expected = len(set(members) - self.model)
        assert self.value.add_many(members, self.max_intset) == expected
        for member in members:
            if member not in self.model:
                self.model.add(member)
                if len(self.model) > self.max_intset or string2ll(member) is None:
                    self.intset = False

    @rule(member=MEMBERS)
    def remove(self, member):
        assert self.value.remove(member) == (member in self.model)
        self.model.discard(member)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove_existing(self, data):
        member = data.draw(st.sampled_from(sorted(self.model)))
        assert self.value.remove(member)
        self.model.discard(member)

    @precondition(lambda self: self.model)
    @rule()
    def pop_random(self):
        member = self.value.pop_random()
        assert member in self.model
        self.model.remove(member)

    @precondition(lambda self: len(self.model) > 1)
    @rule(data=st.data())
    def pop_random_many(self, data):
        count = data.draw(st.integers(min_value=1, max_value=len(self.model) - 1))
        popped = self.value.pop_random_many(count, self.max_intset)
        assert len(popped) == len(set(popped)) == count and set(popped) <= self.model
        self.model -= set(popped)
        if len(self.model) * 5 <= count:  # Redis rebuilds the set from the members left
            self.intset = len(self.model) <= self.max_intset and all(string2ll(m) is not None for m in self.model)

    @rule(max_intset=st.integers(min_value=0, max_value=20))
    def reconfigure(self, max_intset):
        self.max_intset = max_intset

    @precondition(lambda self: self.model)
    @rule(count=st.integers(min_value=1, max_value=30))
    def samples(self, count):
        unique = self.value.sample_unique(min(count, len(self.model)))
        assert len(unique) == len(set(unique)) == min(count, len(self.model)) and set(unique) <= self.model
        repeats = self.value.sample_with_repeats(count)
        assert len(repeats) == count and set(repeats) <= self.model
        assert self.value.random_member() in self.model

    @rule()
    def copy_is_independent(self):
        clone = self.value.copy()
        clone.add(b"only in the copy", self.max_intset)
        assert b"only in the copy" not in self.value or b"only in the copy" in self.model
        assert clone.nbytes == rebuilt_nbytes(clone.members)

    @invariant()
    def same_members(self):
        value = self.value
        assert len(value) == len(self.model)
        assert set(value.members) == self.model and len(value.members) == len(self.model)
        assert all(value.members[i] == m for m, i in value.positions.items())
        assert all(m in value for m in self.model)

    @invariant()
    def same_encoding(self):
        assert self.value.intset == self.intset
        assert self.value.encoding == (b"intset" if self.intset else b"hashtable")

    @invariant()
    def nbytes_equals_a_rebuild(self):
        assert self.value.nbytes == rebuilt_nbytes(self.value.members)
        assert self.value.nbytes == SetValue(self.value.members).nbytes

    @invariant()
    def listing(self):
        ordered = self.value.ordered()
        assert sorted(ordered) == sorted(self.model)
        if self.intset:
            assert ordered == sorted(self.model, key=int)


TestSetMachine = SetMachine.TestCase
TestSetMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_encoding_from_construction():
    assert SetValue([b"1", b"2"]).encoding == b"intset"
    assert SetValue([b"1", b"a"]).encoding == b"hashtable"
    assert SetValue([str(i).encode() for i in range(512)]).encoding == b"intset"
    assert SetValue([str(i).encode() for i in range(513)]).encoding == b"hashtable"
    assert SetValue([b"1"], max_intset=0).encoding == b"hashtable"
    big = SetValue([b"1", b"2"], max_intset=2**40)  # Redis caps the setting at 2^30
    assert big.intset and INTSET_HARD_MAX == 1 << 30
    value = SetValue([b"1"])
    value.to_hashtable()
    assert value.encoding == b"hashtable"


def test_nbytes_counts_position_ints_past_the_shared_ones():
    value = SetValue(str(i).encode() for i in range(1000))
    assert value.nbytes == rebuilt_nbytes(value.members)
    for i in range(0, 1000, 3):
        value.remove(str(i).encode())
    assert value.nbytes == rebuilt_nbytes(value.members)


def _full_scan(value: SetValue, count: int, between=None) -> tuple[list[bytes], int]:
    found: list[bytes] = []
    cursor, calls = 0, 0
    while True:
        cursor, batch = value.scan(cursor, count)
        found.extend(batch)
        calls += 1
        if between is not None:
            between(calls)
        if cursor == 0:
            return found, calls


@given(size=st.integers(min_value=0, max_value=300), count=st.integers(min_value=1, max_value=50))
def test_scan_visits_everything_once_when_unchanged(size, count):
    value = SetValue(b"m%d" % i for i in range(size))
    found, calls = _full_scan(value, count)
    assert sorted(found) == sorted(value.members) and len(found) == size
    assert calls == max(1, -(-size // count))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), count=st.integers(min_value=1, max_value=40))
def test_scan_returns_members_present_throughout(seed, count):
    rng = random.Random(seed)
    value = SetValue(b"m%d" % i for i in range(500))
    original = set(value.members)
    removed: set[bytes] = set()

    def churn(call: int) -> None:
        for _ in range(rng.randrange(6)):
            if rng.random() < 0.5 and len(value):
                victim = value.members[rng.randrange(len(value))]
                value.remove(victim)
                removed.add(victim)
            else:
                value.add(b"new%d-%d" % (call, rng.randrange(10**6)), 512)
        if rng.random() < 0.2 and len(value) > 1:
            removed.update(value.pop_random_many(rng.randrange(1, len(value)), 512))

    found, calls = _full_scan(value, count, churn)
    assert original - removed <= set(found)
    assert calls <= -(-500 // count) + 1  # the cursor only moves down: O(n / count) calls


def test_random_choice_is_spread():
    value = SetValue(b"m%d" % i for i in range(10))
    seen = {value.random_member() for _ in range(2000)}
    assert len(seen) == 10
    popped = {SetValue(value.members).pop_random() for _ in range(500)}
    assert len(popped) == 10


def test_free_slice():
    value = SetValue(b"m%d" % i for i in range(25))
    assert value.free_slice(10) == 10 and len(value) == 15
    assert value.free_slice(100) == 15 and len(value) == 0 and not value.positions
    assert value.free_slice(5) == 0


_COMMANDS = st.one_of(
    st.builds(lambda k, m: ("SADD", k, *m), st.sampled_from(["a", "b"]), st.lists(MEMBERS, min_size=1, max_size=6)),
    st.builds(lambda k, m: ("SREM", k, *m), st.sampled_from(["a", "b"]), st.lists(MEMBERS, min_size=1, max_size=6)),
    st.tuples(st.just("SPOP"), st.sampled_from(["a", "b"]), st.sampled_from(["1", "3", "100"])),
    st.tuples(st.just("SPOP"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("SMOVE"), st.sampled_from(["a", "b"]), st.sampled_from(["a", "b", "c"]), MEMBERS),
    st.tuples(st.sampled_from(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), st.sampled_from(["a", "c"]),
              st.sampled_from(["a", "b"]), st.sampled_from(["b", "c"])),
    st.tuples(st.just("COPY"), st.sampled_from(["a", "b"]), st.just("c"), st.just("REPLACE")),
    st.tuples(st.just("DEL"), st.sampled_from(["a", "b", "c"])),
)


@settings(max_examples=80, deadline=None)
@given(commands=st.lists(_COMMANDS, max_size=40))
def test_commands_keep_the_memory_account_exact(commands):
    """Every set command charges its change in the same write: the account equals a recount
    of what the database holds, each set counted by a rebuild of its nbytes."""
    store = Store()
    db = store.instance.dbs[0]
    for command in commands:
        store.execute(*command)
        total = 0
        for values, deadlines in db.tandem.iter_pairs():
            for key, value in values.items():
                if isinstance(value, SetValue):
                    assert value.nbytes == rebuilt_nbytes(value.members)
                total += entry_bytes(key, value) + db.memory.record_bytes + (DEADLINE_BYTES if key in deadlines else 0)
        assert db.used_bytes == store.instance.memory.used_bytes == total
