"""The keyspace-event stream (commands/eventstream.py): keyspace events appended to a stream
that consumer groups read at least once.

Through real sockets: the stream matches the pub/sub notifications 1:1 and in order (and
those match redis-server's, where Redis has the same notifications), inside MULTI/EXEC and
scripts, never about itself; blocked readers are woken by expiry; a consumer that was away
gets everything. Embedded (Store, manual clock): values of expired and evicted keys,
eviction exemption under every policy, MAXLEN, a wrong-typed key, migration's expiry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from tandemkv import Store
from tandemkv.clock import ManualClock
from tandemkv.commands.dispatch import execute
from tandemkv.config import Config
from tandemkv.keyspace.engine import CHORE_BATCH_UNITS, KEYS_PER_WRITE
from tandemkv.protocol import NULL_ARRAY
from tests.conftest import REDIS_SERVER, REQUIRE_REDIS, start_redis, start_tandem, stop

STREAM = "events"


@pytest.fixture(scope="module")
def stream_port() -> Iterator[int]:
    proc, port = start_tandem(
        "--notify-keyspace-events", "KEA", "--keyspace-events-stream", STREAM, "--keyspace-events-stream-flags", "A"
    )
    yield port
    stop(proc)


@pytest.fixture
def sr(stream_port: int) -> Iterator[redis.Redis]:
    client = redis.Redis(port=stream_port, protocol=2)
    client.flushall()
    yield client
    client.close()


def stream_events(client: redis.Redis, key: str = STREAM) -> list[tuple[int, bytes, bytes]]:
    """(db, event, key) of every entry of the stream, in order."""
    return [(int(f[b"db"]), f[b"event"], f[b"key"]) for _id, f in client.xrange(key)]


class Keyevents:
    """A `__keyevent@*__:*` subscriber: (db, event, key) of each notification, in order."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pubsub = client.pubsub()
        self.pubsub.psubscribe("__keyevent@*__:*")
        assert self.pubsub.get_message(timeout=5)["type"] == "psubscribe"

    def drain(self) -> list[tuple[int, bytes, bytes]]:
        """Every notification so far (a PUBLISH marker ends them)."""
        self.client.publish("__keyevent@0__:end-marker", "end")
        seen = []
        while True:
            message = self.pubsub.get_message(timeout=5)
            assert message is not None, "the marker never came"
            if message["type"] != "pmessage":
                continue
            channel = message["channel"]
            db_part, event = channel[len(b"__keyevent@") :].split(b"__:", 1)
            if event == b"end-marker":
                return seen
            seen.append((int(db_part), event, message["data"]))

    def close(self) -> None:
        self.pubsub.close()


# A mix of commands over several types and two databases (Redis raises the same events).
MIX: list[tuple[object, ...]] = [
    ("SET", "s", "1"),
    ("INCR", "s"),
    ("APPEND", "s", "0"),
    ("SETRANGE", "s", 0, "9"),
    ("LPUSH", "l", "a", "b"),
    ("RPOP", "l"),
    ("LPOP", "l"),
    ("HSET", "h", "f", "v", "g", "w"),
    ("HDEL", "h", "f"),
    ("HINCRBY", "h", "n", 2),
    ("SADD", "set", "x", "y"),
    ("SREM", "set", "x"),
    ("ZADD", "z", 1, "a", 2, "b"),
    ("ZINCRBY", "z", 3, "a"),
    ("ZPOPMIN", "z"),
    ("XADD", "other", "*", "f", "v"),
    ("XTRIM", "other", "MAXLEN", 0),
    ("EXPIRE", "s", 100),
    ("PERSIST", "s"),
    ("RENAME", "s", "s2"),
    ("COPY", "s2", "s3"),
    ("MOVE", "s3", 1),
    ("SELECT", 1),
    ("SET", "in-one", "v"),
    ("DEL", "in-one", "s3"),
    ("SELECT", 0),
    ("SET", "short", "v", "PX", 1),
    ("SLEEP",),
    ("GET", "short"),  # expired lazily, or by the timer before it
    ("GETDEL", "s2"),
    ("DEL", "h", "set", "z", "other"),
]


def _run_mix(client: redis.Redis) -> None:
    for command in MIX:
        if command == ("SLEEP",):
            time.sleep(0.05)
        else:
            client.execute_command(*command)


def test_stream_matches_pubsub_one_to_one_in_order(sr: redis.Redis) -> None:
    events = Keyevents(sr)
    try:
        _run_mix(sr)
        published = events.drain()
    finally:
        events.close()
    appended = stream_events(sr)
    assert len(published) > 30
    assert appended == published


@pytest.fixture(scope="module")
def redis_port_kea() -> Iterator[int]:
    if REDIS_SERVER is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (TANDEMKV_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server not installed")
    proc, port = start_redis("--notify-keyspace-events", "KEA")
    yield port
    stop(proc)


def test_stream_order_is_redis_notification_order(sr: redis.Redis, redis_port_kea: int) -> None:
    """Differential: redis-server's keyevent notifications for the mix, in order, are what
    tandemkv appends to the stream."""
    reference = redis.Redis(port=redis_port_kea, protocol=2)
    reference.flushall()
    events = Keyevents(reference)
    try:
        _run_mix(reference)
        redis_published = events.drain()
    finally:
        events.close()
        reference.close()
    _run_mix(sr)
    assert stream_events(sr) == redis_published


def _run_mix_in_multi(client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=True)
    for command in MIX:
        if "short" not in command and command != ("SLEEP",):
            pipe.execute_command(*command)
    pipe.execute()


def test_stream_order_inside_multi_is_redis_notification_order(sr: redis.Redis, redis_port_kea: int) -> None:
    """Differential: the same mix as one MULTI/EXEC (without the short-lived key: Redis
    freezes the clock for a whole EXEC, where tandemkv reads it per command)."""
    reference = redis.Redis(port=redis_port_kea, protocol=3)
    reference.flushall()
    events = Keyevents(reference)
    try:
        _run_mix_in_multi(reference)
        redis_published = events.drain()
    finally:
        events.close()
        reference.close()
    _run_mix_in_multi(sr)
    assert len(redis_published) > 30
    assert stream_events(sr) == redis_published


def test_multi_exec_and_scripts_see_their_own_events(sr: redis.Redis) -> None:
    """The entries are appended inside the atomic unit: a later command of the same
    transaction or script already reads them."""
    pipe = sr.pipeline(transaction=True)
    pipe.set("a", "1").xlen(STREAM).delete("a").xlen(STREAM)
    assert pipe.execute() == [True, 1, 1, 2]
    script = "redis.call('SET', KEYS[1], 'x'); local n = redis.call('XLEN', KEYS[2]); redis.call('DEL', KEYS[1]); return {n, redis.call('XLEN', KEYS[2])}"
    assert sr.eval(script, 2, "b", STREAM) == [3, 4]
    assert stream_events(sr)[-4:] == [(0, b"set", b"a"), (0, b"del", b"a"), (0, b"set", b"b"), (0, b"del", b"b")]


def test_the_stream_never_reports_on_itself(sr: redis.Redis) -> None:
    events = Keyevents(sr)
    try:
        sr.set("k", "v")  # creates the stream: no `new` / `xadd` for it
        sr.xgroup_create(STREAM, "g", id="0")
        sr.xreadgroup("g", "c", {STREAM: ">"})
        sr.xadd(STREAM, {"by": "hand"})
        sr.xtrim(STREAM, maxlen=5)
        sr.expire(STREAM, 100)
        sr.persist(STREAM)
        published = events.drain()
    finally:
        events.close()
    # Pub/sub still carries the commands' events on the stream key ...
    assert [e for e in published if e[2] == STREAM.encode()] == [
        (0, b"xgroup-create", b"events"),
        (0, b"xgroup-createconsumer", b"events"),
        (0, b"xadd", b"events"),
        (0, b"expire", b"events"),
        (0, b"persist", b"events"),
    ]
    # ... the stream holds only the others (and the entry added by hand).
    assert [f for _id, f in sr.xrange(STREAM)] == [
        {b"db": b"0", b"event": b"set", b"key": b"k"},
        {b"by": b"hand"},
    ]
    # Deleted, it comes back with the next event, still without events of its own.
    sr.delete(STREAM)
    sr.set("k2", "v")
    assert stream_events(sr) == [(0, b"set", b"k2")]


def test_same_key_name_in_another_db_is_recorded(sr: redis.Redis) -> None:
    sr.execute_command("SELECT", 1)
    sr.set(STREAM, "not the stream")
    sr.execute_command("SELECT", 0)
    assert stream_events(sr) == [(1, b"set", STREAM.encode())]


def test_expiry_wakes_a_reader_blocked_on_the_stream(sr: redis.Redis, stream_port: int) -> None:
    """The timer's expiry runs between commands: the blocked reader is served right after it."""
    sr.xgroup_create(STREAM, "g", id="$", mkstream=True)
    sr.set("session:1", "alice", px=200)
    first = sr.xreadgroup("g", "c", {STREAM: ">"}, count=2)  # the `set` and `expire`, out of the way
    assert [f[b"event"] for _id, f in first[0][1]] == [b"set", b"expire"]  # SET PX raises `expire`, as Redis
    for protocol in (2, 3):
        reader = redis.Redis(port=stream_port, protocol=protocol)
        reply = reader.xreadgroup("g", "c", {STREAM: ">"}, block=10000)  # blocks: nothing new yet
        reader.close()
        if protocol == 2:
            [[_key, entries]] = reply
        else:
            [[entries]] = reply.values()
        assert [(f[b"event"], f[b"key"]) for _id, f in entries] == [(b"expired", b"session:1")]
        sr.set("session:1", "alice", px=100)
        sr.xreadgroup("g", "c", {STREAM: ">"}, count=2)  # its `set` and `expire`


def test_wrong_type_at_the_key_drops_events_and_counts_them(sr: redis.Redis) -> None:
    sr.set(STREAM, "oops")  # its own event is not appended (and could not be)
    sr.set("a", "1")
    sr.set("b", "1")
    assert sr.get(STREAM) == b"oops"
    assert sr.info("stats")["keyspace_events_stream_dropped"] >= 2
    sr.delete(STREAM)
    sr.set("c", "1")
    assert stream_events(sr) == [(0, b"set", b"c")]


def test_consumer_away_mid_way_gets_every_expiry(sr: redis.Redis, stream_port: int) -> None:
    """2,000 keys expiring over 2 s; the consumer leaves after 300 events without
    acknowledging the batch it read last, is away 0.5 s, then reconnects: XAUTOCLAIM and
    XREADGROUP give it every `expired` event, and none for keys deleted, persisted or
    overwritten first."""
    sr.config_set("keyspace-events-stream-flags", "x")
    try:
        sr.xgroup_create(STREAM, "workers", id="$", mkstream=True)
        spared = {f"k{i}" for i in range(0, 2000, 10)}  # deleted, persisted or overwritten
        # One transaction: a spared key is spoiled before any expiry can run, however slow
        # the machine; deadlines 1-3 s after it.
        pipe = sr.pipeline(transaction=True)
        for i in range(2000):
            key = f"k{i}"
            pipe.set(key, "v", px=1000 + i)
            if key in spared:
                (pipe.delete, pipe.persist, lambda k: pipe.set(k, "new"))[i // 10 % 3](key)
        pipe.execute()
        expected = {f"k{i}" for i in range(2000)} - spared

        seen: set[str] = set()

        def consume(target: int, *, leave_last_unacknowledged: bool) -> None:
            """Read batches until `target` keys were seen (or a generous safety deadline)."""
            client = redis.Redis(port=stream_port, protocol=2)
            give_up_s = time.monotonic() + 20
            while len(seen) < target and time.monotonic() < give_up_s:
                reply = client.xreadgroup("workers", "w1", {STREAM: ">"}, count=100, block=100)
                for _stream, entries in reply:
                    seen.update(f[b"key"].decode() for _id, f in entries)
                    if leave_last_unacknowledged and len(seen) >= target:
                        break  # gone: this batch read, never acknowledged
                    client.xack(STREAM, "workers", *(entry_id for entry_id, _f in entries))
            client.close()

        consume(300, leave_last_unacknowledged=True)  # about a third of the way through
        time.sleep(0.5)  # away while more keys expire
        restarted = redis.Redis(port=stream_port, protocol=2)
        _next, claimed, _deleted = restarted.xautoclaim(STREAM, "workers", "w1", min_idle_time=0, count=10000)
        assert claimed  # what it had not acknowledged is still pending for the group
        restarted.xack(STREAM, "workers", *(entry_id for entry_id, _f in claimed))
        restarted.close()
        consume(len(expected), leave_last_unacknowledged=False)
        assert seen == expected
        assert sr.xpending(STREAM, "workers")["pending"] == 0
        assert not [f for _id, f in sr.xrange(STREAM) if f[b"key"].decode() in spared]
    finally:
        sr.config_set("keyspace-events-stream-flags", "A")


# ------------------------------------------------------------------- settings


def test_settings_defaults_and_config_set(sr: redis.Redis) -> None:
    config = Config()
    assert config["keyspace-events-stream"] == ""
    assert config["keyspace-events-stream-flags"] == "x"
    assert config["keyspace-events-stream-maxlen"] == 100_000
    assert config["keyspace-events-stream-values"] is False
    assert sr.config_get("keyspace-events-stream*") == {
        "keyspace-events-stream": "events",
        "keyspace-events-stream-flags": "A",
        "keyspace-events-stream-maxlen": "100000",
        "keyspace-events-stream-values": "no",
    }
    with pytest.raises(redis.ResponseError, match="Invalid event class character"):
        sr.config_set("keyspace-events-stream-flags", "xq")
    sr.config_set("keyspace-events-stream-flags", "KEg$lshzxetd")
    assert sr.config_get("keyspace-events-stream-flags") == {"keyspace-events-stream-flags": "AKE"}
    sr.config_set("keyspace-events-stream-flags", "A")


def test_off_creates_nothing() -> None:
    store = Store()
    assert store.instance.event_stream is None
    store.execute("SET", "k", "v", "PX", 1)
    assert store.execute("DBSIZE") == 1
    assert _info(store, "keyspace_events_stream_appended") == 0


# ----------------------------------------------------------------- embedded


def _store(**settings: object) -> tuple[Store, ManualClock]:
    clock = ManualClock(1_000_000)
    store = Store(clock=clock, keyspace_events_stream="ev", **settings)
    return store, clock


def _info(store: Store, field: str) -> int:
    for line in store.execute("INFO").decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise KeyError(field)


def _fields(store: Store) -> list[dict[bytes, bytes]]:
    return [dict(zip(f[::2], f[1::2], strict=True)) for _id, f in store.execute("XRANGE", "ev", "-", "+")]


def test_flags_select_classes_independently_of_pubsub() -> None:
    store, clock = _store(notify_keyspace_events="", keyspace_events_stream_flags="gn")
    store.execute("SET", "a", "1")  # `new` only: `set` is class $
    store.execute("DEL", "a")
    store.execute("SET", "b", "1", "PX", 5)
    clock.advance_ms(10)
    store.tick()  # `expired` is class x: not selected
    assert [(f[b"event"], f[b"key"]) for f in _fields(store)] == [
        (b"new", b"a"),
        (b"del", b"a"),
        (b"new", b"b"),
        (b"expire", b"b"),  # SET PX: class g
    ]


def test_values_of_expired_keys() -> None:
    store, clock = _store(keyspace_events_stream_values=True)
    store.execute("SET", "s", "alice", "PX", 5)
    store.execute("HSET", "h", "f", "v")
    store.execute("PEXPIRE", "h", 5)
    store.execute("SET", "plain", "x", "PX", 50)
    store.execute("SETBIT", "bits", 7, 1)  # a string changed in place (a bytearray)
    store.execute("PEXPIRE", "bits", 7)  # after h
    clock.advance_ms(10)
    store.execute("GET", "s")  # expired lazily
    store.tick()  # the timer: h
    store.execute("CONFIG", "SET", "keyspace-events-stream-values", "no")
    clock.advance_ms(50)
    store.tick()  # plain, without its value
    entries = _fields(store)
    assert entries[0] == {b"db": b"0", b"event": b"expired", b"key": b"s", b"value": b"alice"}
    assert entries[1][b"key"] == b"h" and set(entries[1]) == {b"db", b"event", b"key", b"dump"}
    store.execute("RESTORE", "h-again", 0, entries[1][b"dump"])  # a DUMP payload
    assert store.execute("HGETALL", "h-again") == {b"f": b"v"}
    assert entries[2] == {b"db": b"0", b"event": b"expired", b"key": b"bits", b"value": b"\x01"}
    assert entries[3:] == [{b"db": b"0", b"event": b"expired", b"key": b"plain"}]


@pytest.mark.parametrize(
    "policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-random", "volatile-ttl"]
)
def test_the_stream_is_never_evicted(policy: str) -> None:
    store, _clock = _store(keyspace_events_stream_flags="e")
    store.execute("SET", "first", "value")  # creates nothing: `set` is not selected
    store.execute("XADD", "ev", "*", "created", "by hand")
    store.execute("PEXPIRE", "ev", 10_000_000)  # volatile policies may choose it too
    for i in range(300):
        store.execute("SET", f"key{i}", "x" * 2000, "PX", 20_000_000 + i)
    used = store.instance.memory.used_bytes  # what maxmemory bounds (the data)
    store.execute("CONFIG", "SET", "maxmemory-policy", policy)
    store.execute("CONFIG", "SET", "maxmemory", used - 200_000)
    for i in range(300, 600):
        store.execute("SET", f"key{i}", "x" * 2000, "PX", 20_000_000 + i)
    assert store.execute("TYPE", "ev") == b"stream"
    evicted = [f for f in _fields(store) if f.get(b"event") == b"evicted"]
    assert len(evicted) == _info(store, "evicted_keys") > 100
    # Only the stream left to evict: eviction gives up (OOM) rather than take it.
    store.execute("CONFIG", "SET", "maxmemory", 1)
    with pytest.raises(Exception, match="OOM"):
        store.execute("SET", "more", "x")
    assert store.execute("TYPE", "ev") == b"stream"


def test_values_of_evicted_keys() -> None:
    """With values, an evicted value moves into the stream: eviction frees only the rest of
    the key (README: bound the stream with its MAXLEN)."""
    store, _clock = _store(keyspace_events_stream_values=True, keyspace_events_stream_flags="e")
    for i in range(100):
        store.execute("SET", f"key{i}", "x" * 10 + str(i))
    store.execute("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    store.execute("CONFIG", "SET", "maxmemory", store.instance.memory.used_bytes - 1000)
    evicted = _fields(store)
    assert len(evicted) == _info(store, "evicted_keys") > 0
    assert all(f[b"value"] == b"x" * 10 + f[b"key"][3:] for f in evicted)
    assert store.execute("TYPE", "ev") == b"stream"


def test_maxlen_trims_approximately() -> None:
    store, _clock = _store(keyspace_events_stream_flags="A", keyspace_events_stream_maxlen=250)
    for i in range(1000):
        store.execute("SET", f"k{i}", "v")
    length = store.execute("XLEN", "ev")
    assert 250 <= length < 250 + 100  # whole nodes of 100 entries, as XADD MAXLEN ~
    assert store.instance.dbs[0].lookup(b"ev").entries_added == 1000  # type: ignore[union-attr]
    store.execute("CONFIG", "SET", "keyspace-events-stream-maxlen", 0)
    for i in range(1000):
        store.execute("DEL", f"k{i}")
    assert store.execute("XLEN", "ev") == length + 1000


def test_migration_expiry_and_stream_creation_inside_it() -> None:
    """Expired keys that migration drops are appended too, the first of them creating the
    stream in the middle of the migration chore (no nested chore: Tandem._do_chores)."""
    store, clock = _store(engine_shard_high_keys=16, engine_shard_low_keys=4)
    for i in range(2100):  # past 128 shards x 16 keys: a step up starts, and is under way
        store.execute("SET", f"k{i}", "v", "PX", 100)
    tandem = store.instance.dbs[0].tandem
    assert tandem.migrating
    # Writes earn migration credit, spent every CHORE_BATCH_UNITS: the stream's creation is
    # the write that reaches it (the case that must not start a chore inside the chore).
    tandem._credit = CHORE_BATCH_UNITS - KEYS_PER_WRITE
    clock.advance_ms(200)
    while store.tick(budget_us=10_000_000):
        pass
    assert tandem.stats.gc_dropped_keys > 0  # migration met expired keys first
    assert store.execute("DBSIZE") == 1
    keys = [f[b"key"] for f in _fields(store)]
    assert sorted(keys) == sorted(f"k{i}".encode() for i in range(2100))
    assert _info(store, "expired_keys") == 2100 == _info(store, "keyspace_events_stream_appended")


def test_watch_of_the_stream_is_touched_by_an_append() -> None:
    store, clock = _store()
    session = store.instance.new_session()
    store.execute("XADD", "ev", "*", "f", "v")
    store.execute("SET", "k", "v", "PX", 5)
    execute(session, [b"WATCH", b"ev"])
    execute(session, [b"MULTI"])
    execute(session, [b"XLEN", b"ev"])
    clock.advance_ms(10)
    store.tick()  # k expires: an entry is appended to the watched stream
    assert execute(session, [b"EXEC"]) is NULL_ARRAY


def test_swapdb_moves_the_exemption_with_db_0() -> None:
    store, _clock = _store(keyspace_events_stream_flags="g")
    store.execute("SET", "k", "v")
    store.execute("DEL", "k")  # creates the stream in db 0
    store.execute("SWAPDB", 0, 1)  # the old stream is now an ordinary key of db 1
    dbs = store.instance.dbs
    assert dbs[0].unevictable == b"ev" and dbs[1].unevictable is None
    store.execute("SELECT", 1)
    assert store.execute("XLEN", "ev") == 1
    store.execute("DEL", "ev")  # recorded: db 1's `ev` is not the stream
    store.execute("SELECT", 0)
    assert [(f[b"db"], f[b"event"], f[b"key"]) for f in _fields(store)] == [(b"1", b"del", b"ev")]


def test_loading_a_snapshot_appends_no_new_events(tmp_path) -> None:
    """Redis raises no `new` for keys an RDB file brings (dbAddRDBLoad)."""
    args = ("--dir", str(tmp_path), "--keyspace-events-stream", STREAM, "--keyspace-events-stream-flags", "n")
    proc, port = start_tandem(*args)
    try:
        client = redis.Redis(port=port)
        client.set("a", "1")
        client.set("b", "2")
        assert stream_events(client) == [(0, b"new", b"a"), (0, b"new", b"b")]
        client.save()
        client.close()
    finally:
        stop(proc)
    proc, port = start_tandem(*args)
    try:
        client = redis.Redis(port=port)
        assert client.dbsize() == 3  # a, b and the stream, as saved
        client.set("c", "3")
        assert stream_events(client) == [(0, b"new", b"a"), (0, b"new", b"b"), (0, b"new", b"c")]
        client.close()
    finally:
        stop(proc)


def test_the_stream_survives_a_restart_in_the_aof_and_the_rdb(tmp_path) -> None:
    """The AOF holds each entry as an XADD with its ID; replaying it appends nothing more. The
    RDB holds the stream like any key. Either way the group's pending entries survive."""
    for persistence in (("--appendonly", "yes"), ("--save", "")):
        directory = tmp_path / persistence[0].strip("-")
        directory.mkdir()
        args = ("--dir", str(directory), *persistence, "--keyspace-events-stream", STREAM,
                "--keyspace-events-stream-flags", "xg", "--keyspace-events-stream-maxlen", "150")
        proc, port = start_tandem(*args)
        try:
            client = redis.Redis(port=port)
            client.xgroup_create(STREAM, "g", id="0", mkstream=True)
            for i in range(300):
                client.set(f"k{i}", "v", px=1 + i % 7)
            client.delete("k299")
            keys = [f"k{i}" for i in range(300)]
            while client.exists(*keys):  # the timer expires the rest
                time.sleep(0.01)
            client.xreadgroup("g", "c", {STREAM: ">"}, count=40)
            before = client.xrange(STREAM)
            pending = client.xpending(STREAM, "g")
            if persistence[0] == "--save":
                client.save()
            client.close()
        finally:
            stop(proc)
        assert 150 <= len(before) < 300  # trimmed as MAXLEN ~ 150
        proc, port = start_tandem(*args)
        try:
            client = redis.Redis(port=port)
            assert client.xrange(STREAM) == before
            assert client.xpending(STREAM, "g") == pending
            assert client.dbsize() == 1
            client.close()
        finally:
            stop(proc)
