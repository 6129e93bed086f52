"""A hypothesis state machine: a Keyspace with tiny watermarks (8 keys per shard up, 2 down),
so steps up and down happen all the time, against a plain dict model with deadlines.

Operations: SET (with or without a deadline, KEEPTTL), DEL, INCR-style read-modify-write,
EXPIRE (set_deadline), PERSIST, RENAME (pop + set), clock advances, a full SCAN iteration
interleaved with writes and steps, migration slices of random size, active expiry, FLUSH.
After every operation the tandem's invariants hold and every key reads as the model says.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tandemkv.clock import ManualClock
from tandemkv.keyspace import Keyspace
from tests.test_engine import check_invariants

N_KEYS = 100
KEYS = st.integers(min_value=0, max_value=N_KEYS - 1).map(lambda i: b"k%d" % i)
TTL_MS = st.integers(min_value=1, max_value=50)


class TandemMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.clock = ManualClock()
        # Keys whose deadline passed (per the model) and whose `expired` event has not come
        # yet; the keyspace may still hold them physically until lazy expiry, the timer or
        # migration's garbage collection removes them -- each must be reported exactly once.
        self.zombies: set[bytes] = set()
        self.ks = Keyspace(0, self.clock, notify=self._notify, high_keys=8, low_keys=2)
        # key -> (value, deadline_ms or None); entries past their deadline are dead.
        self.model: dict[bytes, tuple[bytes, int | None]] = {}

    def _notify(self, event_class: str, event: bytes, key: bytes, db: int) -> None:
        if event == b"expired":
            assert key in self.zombies, f"{key!r} reported expired while alive or twice"
            self.zombies.remove(key)

    # ------------------------------------------------------------- model

    def live(self, key: bytes) -> tuple[bytes, int | None] | None:
        entry = self.model.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= self.clock.now_ms():
            return None
        return entry

    def live_keys(self) -> set[bytes]:
        return {k for k in self.model if self.live(k) is not None}

    # ------------------------------------------------------------- rules

    @rule(key=KEYS, value=st.binary(max_size=3), ttl=st.none() | TTL_MS, keep_ttl=st.booleans())
    def set(self, key: bytes, value: bytes, ttl: int | None, keep_ttl: bool) -> None:
        deadline = None if ttl is None else self.clock.now_ms() + ttl
        if deadline is not None:
            keep_ttl = False
        self.ks.set(key, value, deadline, keep_ttl=keep_ttl)
        previous = self.live(key)
        if keep_ttl and previous is not None:
            deadline = previous[1]
        self.model[key] = (value, deadline)

    @rule(start=st.integers(0, N_KEYS - 1), n=st.integers(1, 60), ttl=st.none() | TTL_MS)
    def bulk_set(self, start: int, n: int, ttl: int | None) -> None:
        """Many keys at once, so steps up happen (8 keys per shard)."""
        for i in range(start, start + n):
            self.set(b"k%d" % (i % N_KEYS), b"b", ttl, False)

    @rule(start=st.integers(0, N_KEYS - 1), n=st.integers(1, 100))
    def bulk_delete(self, start: int, n: int) -> None:
        """Many deletes at once, so steps down happen (2 keys per shard)."""
        for i in range(start, start + n):
            self.delete(b"k%d" % (i % N_KEYS))

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        assert self.ks.delete(key) == (self.live(key) is not None)
        self.model.pop(key, None)

    @rule(key=KEYS)
    def incr(self, key: bytes) -> None:
        """INCR: read, compute, write back keeping the TTL (as the command does)."""
        current = self.ks.lookup(key)
        entry = self.live(key)
        assert current == (entry[0] if entry else None)
        number = int(current) + 1 if current is not None and current.isdigit() else 1
        self.ks.put(key, b"%d" % number)
        self.model[key] = (b"%d" % number, entry[1] if entry else None)

    @rule(key=KEYS, ttl=TTL_MS)
    def expire(self, key: bytes, ttl: int) -> None:
        if self.ks.lookup(key) is None:
            assert self.live(key) is None
            return
        deadline = self.clock.now_ms() + ttl
        self.ks.set_deadline(key, deadline)
        self.model[key] = (self.model[key][0], deadline)

    @rule(key=KEYS)
    def persist(self, key: bytes) -> None:
        entry = self.live(key)
        assert self.ks.persist(key) == (entry is not None and entry[1] is not None)
        if entry is not None:
            self.model[key] = (entry[0], None)

    @rule(src=KEYS, dst=KEYS)
    def rename(self, src: bytes, dst: bytes) -> None:
        popped = self.ks.pop(src)
        entry = self.live(src)
        if entry is None:
            assert popped is None
            return
        assert popped == entry
        self.model.pop(src)
        self.ks.set(dst, popped[0], popped[1])
        self.model[dst] = entry

    @rule(ms=st.integers(min_value=1, max_value=30))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance_ms(ms)

    @rule(limit=st.integers(min_value=1, max_value=40))
    def migrate(self, limit: int) -> None:
        self.ks.tandem.migrate_keys(limit)

    @rule()
    def migrate_all(self) -> None:
        self.ks.migrate(10**9)
        assert not self.ks.tandem.busy

    @rule(limit=st.integers(min_value=1, max_value=20))
    def expire_due(self, limit: int) -> None:
        self.ks.expire_due(self.clock.now_ms(), limit)

    @rule()
    def flush(self) -> None:
        self.ks.flush()
        self.model.clear()
        self.zombies.clear()

    @rule(
        count=st.integers(min_value=1, max_value=12),
        writes=st.lists(st.tuples(KEYS, st.booleans(), st.integers(0, 30)), max_size=60),
    )
    def scan_full_iteration(self, count: int, writes: list[tuple[bytes, bool, int]]) -> None:
        """SCAN to the end with writes (growing and shrinking), expiries and migration slices
        between calls: every key present throughout is returned."""
        before = self.live_keys()
        touched: set[bytes] = set()
        found: set[bytes] = set()
        cursor = 0
        pending = list(writes)
        calls = 0
        while True:
            cursor, keys = self.ks.scan(cursor, count)
            calls += 1
            found.update(keys)
            if cursor == 0:
                break
            # Between calls: a burst of writes and deletes to force steps.
            for _ in range(min(len(pending), 8)):
                key, add, extra = pending.pop()
                for i in range(extra):
                    bulk = b"%s:%d" % (key, i)
                    if add:
                        self.ks.set(bulk, b"x")
                        self.model[bulk] = (b"x", None)
                    else:
                        self.ks.delete(bulk)
                        self.model.pop(bulk, None)
                    touched.add(bulk)
            self.ks.tandem.migrate_keys(calls % 7 + 1)
            assert calls < 10_000
        stable = before - touched
        dead = {k for k in stable if self.live(k) is None}  # expired meanwhile: not "present"
        assert stable - dead <= found
        for k in found:
            assert self.live(k) is not None or k in touched or k in before

    # -------------------------------------------------------- invariants

    @invariant()
    def matches_the_model(self) -> None:
        """Live keys read as modelled; dead keys are never served, and are left in place
        (no lookup) so that migration's garbage collection gets to drop some of them."""
        ks = self.ks
        tandem = ks.tandem
        check_invariants(tandem)
        now_ms = self.clock.now_ms()
        for key in list(self.model):
            if self.live(key) is None:
                del self.model[key]
                self.zombies.add(key)
        for key, (value, deadline) in self.model.items():
            assert ks.lookup(key) == value
            assert ks.deadline_ms(key) == deadline
        present_zombies = 0
        for key in self.zombies:
            pair = tandem.locate(key)
            if pair is not None:
                assert pair[1][key] <= now_ms, f"dead {key!r} is alive in the keyspace"
                present_zombies += 1
        assert len(ks) == len(self.model) + present_zombies
        volatile = sum(1 for _, d in self.model.values() if d is not None)
        assert ks.volatile_count == volatile + present_zombies

    def teardown(self) -> None:
        """Active expiry and migration to the end: every dead key has been reported."""
        if not hasattr(self, "ks"):
            return
        while self.ks.expire_due(self.clock.now_ms(), 1000) == 1000:
            pass
        self.ks.migrate(10**9)
        assert not self.zombies, f"never reported as expired: {sorted(self.zombies)!r}"
        check_invariants(self.ks.tandem)


TandemMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTandem = TandemMachine.TestCase
