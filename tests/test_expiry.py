"""Expiry: the timer index and the one deletion path (manual clock), then a real server.

Unit tests drive Keyspace.expire_due by hand with a ManualClock and record the `expired`
events the keyspace raises. Integration tests use a real tandemkv server and a subscriber to
`__keyevent@0__:expired` (on by default: notify-keyspace-events is "xE").
"""

from __future__ import annotations

import time

import pytest

from tandemkv.clock import ManualClock
from tandemkv.keyspace import Keyspace
from tandemkv.keyspace.expiry import ExpiryIndex
from tandemkv.keyspace.keyspace import EXPIRY_SLACK_ENTRIES
from tests.conftest import start_tandem, stop
from tests.resp import RawClient, encode_command

NOW = 1_700_000_000_000


def new_keyspace(**kwargs: int) -> tuple[Keyspace, ManualClock, list[bytes]]:
    clock = ManualClock(NOW)
    events: list[bytes] = []

    def notify(event_class: str, event: bytes, key: bytes, db: int) -> None:
        assert (event_class, event, db) == ("x", b"expired", 0)
        events.append(key)

    return Keyspace(0, clock, notify=notify, **kwargs), clock, events


def drain(ks: Keyspace, now_ms: int, slice_keys: int = 7) -> None:
    """Run the timer the way the server does: slices until one comes back short."""
    while ks.expire_due(now_ms, slice_keys) == slice_keys:
        pass


# ------------------------------------------------------------------ ExpiryIndex


def test_index_pushes_only_for_new_or_earlier_deadlines():
    earliest: list[int] = []
    index = ExpiryIndex(earliest.append)
    index.schedule(b"a", 100, None)
    index.schedule(b"a", 200, 100)  # later: the entry at 100 still guards it
    index.schedule(b"b", 50, None)
    index.schedule(b"a", 10, 200)  # earlier: a new entry
    assert len(index) == 3
    assert earliest == [100, 50, 10]
    assert index.next_deadline_ms() == 10
    assert index.pop_due(9) is None
    assert index.pop_due(10) == b"a"
    assert index.pop_due(100) == b"b"


def test_due_count_prunes_at_the_first_future_entry():
    index = ExpiryIndex()
    for i in range(1000):
        index.schedule(b"k%d" % i, NOW + i, None)
    assert index.due_count(NOW - 1, 10_000) == 0
    assert index.due_count(NOW + 9, 10_000) == 10
    assert index.due_count(NOW + 999, 100) == 100  # capped


# -------------------------------------------------------------------- Keyspace


def test_key_is_never_returned_after_its_deadline():
    ks, clock, events = new_keyspace()
    ks.set(b"k", b"v", NOW + 10)
    clock.advance_ms(9)
    assert ks.lookup(b"k") == b"v"
    clock.advance_ms(1)  # deadline reached: expired, even before any timer ran
    assert ks.lookup(b"k") is None
    assert events == [b"k"]
    drain(ks, clock.now_ms())
    assert events == [b"k"]
    assert ks.stats.expired_keys == 1 and ks.stats.expired_lazily == 1


def test_timer_expires_due_keys_once_each():
    ks, _, events = new_keyspace()
    for i in range(100):
        ks.set(b"k%d" % i, b"v", NOW + 10 + i % 3)
    drain(ks, NOW + 11)
    assert sorted(events) == sorted(b"k%d" % i for i in range(100) if i % 3 < 2)
    assert ks.lookup(b"k2") == b"v"
    drain(ks, NOW + 12)
    drain(ks, NOW + 100)
    assert sorted(events) == sorted(b"k%d" % i for i in range(100))
    assert len(ks) == 0 and ks.volatile_count == 0
    assert len(ks.expiry) == 0
    assert ks.stats.expired_by_timer == 100


def test_no_event_for_keys_deleted_overwritten_or_persisted_before_the_deadline():
    ks, clock, events = new_keyspace()
    for name in (b"del", b"overwrite", b"persist", b"popped", b"stays"):
        ks.set(name, b"v", NOW + 10)
    assert ks.delete(b"del")
    ks.set(b"overwrite", b"new")
    assert ks.persist(b"persist")
    assert ks.pop(b"popped") == (b"v", NOW + 10)
    clock.advance_ms(10)
    drain(ks, clock.now_ms())
    assert events == [b"stays"]
    assert ks.lookup(b"overwrite") == b"new" and ks.lookup(b"persist") == b"v"
    assert ks.volatile_count == 0


def test_later_deadline_wins_and_earlier_deadline_fires_early():
    ks, _, events = new_keyspace()
    ks.set(b"later", b"v", NOW + 10)
    ks.set_deadline(b"later", NOW + 50)
    ks.set(b"earlier", b"v", NOW + 50)
    ks.set_deadline(b"earlier", NOW + 5)
    drain(ks, NOW + 10)
    assert events == [b"earlier"]
    assert ks.lookup(b"later") == b"v"
    assert ks.next_deadline_ms() == NOW + 50  # the stale entry was moved to the real deadline
    drain(ks, NOW + 50)
    assert events == [b"earlier", b"later"]


def test_recreated_key_gets_its_own_deadline():
    ks, _, events = new_keyspace()
    ks.set(b"k", b"v", NOW + 10)
    ks.delete(b"k")
    ks.set(b"k", b"v2", NOW + 30)
    drain(ks, NOW + 10)
    assert events == [] and ks.lookup(b"k") == b"v2"
    drain(ks, NOW + 30)
    assert events == [b"k"]


def test_deadline_churn_cannot_grow_the_timer_heap_without_bound():
    """DEL/re-SET and clear/re-set of deadlines leave stale entries; the heap is rebuilt from
    the live deadlines before they outnumber them two to one (plus a fixed slack)."""
    ks, clock, events = new_keyspace()
    for i in range(2000):
        ks.set(b"live%d" % i, b"v", NOW + 1000 + i)
    for round_ in range(20):
        for i in range(500):
            ks.set(b"churn%d" % i, b"v", NOW + 5000 + round_)
            ks.set(b"churn%d" % i, b"plain")  # the deadline is cleared, its entry stays
        assert len(ks.expiry) <= 2 * ks.volatile_count + EXPIRY_SLACK_ENTRIES + 1
    clock.advance_ms(10_000)
    drain(ks, clock.now_ms())
    assert sorted(events) == sorted(b"live%d" % i for i in range(2000))
    assert len(ks.expiry) == 0 and len(ks) == 500


def test_flush_drops_timers():
    ks, _, events = new_keyspace()
    for i in range(10):
        ks.set(b"k%d" % i, b"v", NOW + 10)
    ks.flush()
    assert ks.next_deadline_ms() is None
    drain(ks, NOW + 10)
    assert events == []


def test_migration_drops_expired_keys_with_one_event_each():
    """Keys met expired by a migration step are dropped and reported once; the timer that
    comes later finds them gone."""
    ks, clock, events = new_keyspace(high_keys=16, low_keys=4)
    for i in range(16):
        ks.set(b"k%d" % i, b"v", NOW + 5)
    clock.advance_ms(5)
    ks.set(b"trigger", b"v")  # passes the high watermark: a step starts
    assert ks.tandem.migrating
    while not ks.migrate(10_000):
        pass
    assert sorted(events) == sorted(b"k%d" % i for i in range(16))
    assert ks.stats.expired_by_migration == 16
    drain(ks, clock.now_ms())
    assert len(events) == 16
    assert ks.stats.expired_keys == 16 and ks.volatile_count == 0


def test_lazy_and_timer_expiry_together_raise_one_event_per_key():
    ks, clock, events = new_keyspace(high_keys=64, low_keys=16)
    for i in range(500):
        ks.set(b"k%d" % i, b"v", NOW + 1 + i % 5)
    clock.advance_ms(3)
    for i in range(0, 500, 2):
        ks.lookup(b"k%d" % i)
    ks.expire_due(clock.now_ms(), 50)
    ks.migrate(100)
    clock.advance_ms(10)
    for i in range(0, 500, 3):
        ks.lookup(b"k%d" % i)
    drain(ks, clock.now_ms())
    while not ks.migrate(10_000):
        pass
    assert sorted(events) == sorted(b"k%d" % i for i in range(500))
    assert len(ks) == 0


def test_write_over_an_expired_key_expires_it_first():
    ks, clock, events = new_keyspace()
    ks.set(b"k", b"v", NOW + 5)
    clock.advance_ms(5)
    ks.set(b"k", b"new", keep_ttl=True)
    assert events == [b"k"]
    assert ks.lookup(b"k") == b"new"
    assert ks.deadline_ms(b"k") is None


# ---------------------------------------------------------------- real server


class Subscriber:
    """A RESP3 connection subscribed to __keyevent@<db>__:expired; it can still run commands."""

    def __init__(self, port: int, db: int = 0) -> None:
        self.client = RawClient(port)
        self.client.call("HELLO", "3")
        confirm = self.client.call("SUBSCRIBE", f"__keyevent@{db}__:expired")
        assert confirm.startswith(b">3\r\n$9\r\nsubscribe")

    def next_key(self) -> bytes:
        frame = self.client.read_reply()
        assert frame.startswith(b">3\r\n$7\r\nmessage\r\n"), frame
        return frame.rsplit(b"\r\n", 2)[-2]

    def keys(self, count: int) -> list[bytes]:
        return [self.next_key() for _ in range(count)]

    def close(self) -> None:
        self.client.close()


def pipeline(client: RawClient, commands: list[tuple[bytes | str | int, ...]]) -> list[bytes]:
    client.send(b"".join(encode_command(*cmd) for cmd in commands))
    return [client.read_reply() for _ in commands]


def test_exactly_once_for_10000_keys_sharing_three_deadlines(tandem_port, raw):
    """10,000 keys at 3 deadlines, raced by lazy reads: each expired key is announced exactly
    once; keys deleted, overwritten or persisted before their deadline are never announced."""
    sub = Subscriber(tandem_port)
    reader = RawClient(tandem_port)
    try:
        keys = [b"key:%d" % i for i in range(10_000)]
        assert set(pipeline(raw, [("SET", k, "v") for k in keys])) == {b"+OK\r\n"}
        base = int(time.time() * 1000) + 400
        deadlines = [base, base + 100, base + 200]
        replies = pipeline(raw, [("PEXPIREAT", k, deadlines[i % 3]) for i, k in enumerate(keys)])
        assert set(replies) == {b":1\r\n"}
        deleted, overwritten, persisted = keys[:100], keys[100:200], keys[200:300]
        # On a loaded machine a deadline may pass before these run: the replies say whether
        # the key was still there (then it must never be announced) or already expired.
        saved = {
            k
            for k, reply in zip(deleted, pipeline(raw, [("DEL", k) for k in deleted]), strict=True)
            if reply == b":1\r\n"
        }
        replies = pipeline(raw, [("SET", k, "kept", "GET") for k in overwritten])
        saved |= {
            k for k, reply in zip(overwritten, replies, strict=True) if reply == b"$1\r\nv\r\n"
        }
        replies = pipeline(raw, [("PERSIST", k) for k in persisted])
        saved |= {k for k, reply in zip(persisted, replies, strict=True) if reply == b":1\r\n"}
        # Race the timer: reads of every key right around the deadlines expire them lazily.
        while int(time.time() * 1000) < base + 100:
            time.sleep(0.01)
        gets = pipeline(reader, [("GET", k) for k in keys[300:]])
        assert set(gets) <= {b"$1\r\nv\r\n", b"$-1\r\n"}
        # A marker key with the latest deadline: the timer works in deadline order, so once its
        # event arrives every earlier key has been dealt with.
        raw.call("SET", "marker", "v", "PXAT", base + 300)
        expected = (set(keys) - saved) | {b"marker"}
        received = sub.keys(len(expected))
        assert len(received) == len(set(received)) == len(expected)
        assert set(received) == expected
        assert sub.client.call("PING", "done") == b"$4\r\ndone\r\n"  # nothing else was sent
        assert raw.call("DBSIZE") == b":%d\r\n" % len(saved - set(deleted))
    finally:
        sub.close()
        reader.close()


def test_active_expiry_announces_without_any_read(tandem_port, raw):
    sub = Subscriber(tandem_port)
    try:
        raw.call("SET", "soon", "v", "PX", "50")
        raw.call("SET", "later", "v", "PX", "150")
        raw.call("SET", "never", "v")
        # No client touches the keys: only the timer can produce these, in deadline order.
        assert sub.keys(2) == [b"soon", b"later"]
        assert raw.call("DBSIZE") == b":1\r\n"
    finally:
        sub.close()


def test_set_active_expire_off_leaves_lazy_expiry(tandem_port, raw):
    sub = Subscriber(tandem_port)
    try:
        assert raw.call("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"+OK\r\n"
        raw.call("SET", "a", "v", "PX", "30")
        raw.call("SET", "b", "v", "PX", "30")
        time.sleep(0.15)
        # The timer is off: nothing was announced, yet no expired key is served.
        assert sub.client.call("PING", "quiet") == b"$5\r\nquiet\r\n"
        assert raw.call("GET", "a") == b"$-1\r\n"
        assert sub.next_key() == b"a"
        assert raw.call("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"+OK\r\n"
        assert sub.next_key() == b"b"
        assert raw.call("DBSIZE") == b":0\r\n"
    finally:
        raw.call("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        sub.close()


def test_events_carry_the_database_number(tandem_port, raw):
    sub = Subscriber(tandem_port, db=3)
    try:
        raw.call("SELECT", "3")
        raw.call("SET", "in3", "v", "PX", "20")
        raw.call("SELECT", "0")
        raw.call("SET", "in0", "v", "PX", "10")
        assert sub.next_key() == b"in3"
        assert sub.client.call("PING", "x") == b"$1\r\nx\r\n"
    finally:
        sub.close()


def test_debug_command(diff_debug):
    d = diff_debug
    d("DEBUG")
    d("DEBUG", "nope")
    d("DEBUG", "NOPE", "x")
    d("DEBUG", "set-active-expire")
    d("DEBUG", "SET-ACTIVE-EXPIRE", "1", "2")
    d("DEBUG", "set-active-expire", "abc")
    d("DEBUG", "set-active-expire", "1")
    d("DEBUG", "sleep")
    d("DEBUG", "sleep", "0")
    d("DEBUG", "sleep", "0.001")
    d("DEBUG", "sleep", "x")
    d("DEBUG", "help", "x")


def test_debug_help_lists_only_what_is_implemented(tandem_port, debug_redis_port):
    """DEBUG HELP keeps Redis's wording, but only for the subcommands tandemkv has."""
    clients = RawClient(tandem_port), RawClient(debug_redis_port)
    ours, theirs = (c.call("DEBUG", "HELP").split(b"\r\n")[1:-1] for c in clients)
    for client in clients:
        client.close()
    assert ours[0] == theirs[0]
    assert set(ours) <= set(theirs)
    names = [line[1:].split()[0] for line in ours[1:] if not line.startswith(b"+ ")]
    assert names == [
        b"AOF-FLUSH-SLEEP", b"DIGEST", b"DIGEST-VALUE", b"LOG", b"LOADAOF", b"OBJECT", b"POPULATE", b"RELOAD",
        b"SET-ACTIVE-EXPIRE",
        b"SET-SKIP-CHECKSUM-VALIDATION", b"SLEEP", b"HELP",
    ]


@pytest.fixture
def diff_debug(tandem_port, debug_redis_port):
    ours, theirs = RawClient(tandem_port), RawClient(debug_redis_port)

    def call(*args: str) -> None:
        a, b = ours.call(*args), theirs.call(*args)
        assert a == b, f"{args}: tandemkv {a!r} != redis {b!r}"

    yield call
    ours.call("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    ours.close()
    theirs.close()


def test_dedicated_server_expires_at_startup_config():
    """notify-keyspace-events given at startup: expired events on the keyspace channel too."""
    proc, port = start_tandem("--notify-keyspace-events", "KEx")
    try:
        client = RawClient(port)
        client.call("HELLO", "3")
        client.call("SUBSCRIBE", "__keyspace@0__:k", "__keyevent@0__:expired")
        client.read_reply()
        other = RawClient(port)
        other.call("SET", "k", "v", "PX", "10")
        assert (
            client.read_reply()
            == b">3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:k\r\n$7\r\nexpired\r\n"
        )
        assert (
            client.read_reply()
            == b">3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$1\r\nk\r\n"
        )
        client.close()
        other.close()
    finally:
        stop(proc)
