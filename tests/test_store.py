"""The embedded Store: Pythonic API over the command table, settings, tick()."""

from __future__ import annotations

import pytest

import tandemkv
from tandemkv import Store
from tandemkv.clock import ManualClock
from tandemkv.config import Config
from tandemkv.errors import CommandError


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> Store:
    return Store(clock=clock, engine_shard_high_keys=16, engine_shard_low_keys=4)


def test_package_exports_store_and_version() -> None:
    assert tandemkv.Store is Store
    assert tandemkv.__version__ == "0.1.0"
    with pytest.raises(AttributeError):
        tandemkv.NoSuchThing  # noqa: B018


def test_set_get_with_str_bytes_and_numbers(store: Store) -> None:
    assert store.set("k", "v") is True
    assert store.get("k") == b"v" and store.get(b"k") == b"v"
    assert store.set(b"\x00bin", b"\xff\x00") is True
    assert store.get(b"\x00bin") == b"\xff\x00"
    assert store.set("n", 42) and store.get("n") == b"42"
    assert store.set("f", 1.5) and store.get("f") == b"1.5"
    assert store.set("é", "ü") and store.get("é") == "ü".encode()
    assert store.get("missing") is None
    with pytest.raises(TypeError):
        store.set("k", True)
    with pytest.raises(TypeError):
        store.set("k", None)  # type: ignore[arg-type]


def test_set_nx_xx_and_expiry(store: Store, clock: ManualClock) -> None:
    assert store.set("k", "1", nx=True) is True
    assert store.set("k", "2", nx=True) is False
    assert store.get("k") == b"1"
    assert store.set("other", "x", xx=True) is False and store.get("other") is None
    assert store.set("k", "3", xx=True) is True
    assert store.set("t", "v", ex=10) and store.ttl("t") == 10
    assert store.set("p", "v", px=1500) and store.execute("PTTL", "p") == 1500
    store.set("t", "w", keepttl=True)
    assert store.ttl("t") == 10
    clock.advance_ms(10_000)
    assert store.get("t") is None and store.ttl("t") == -2
    assert store.ttl("k") == -1


def test_delete_exists_expire_incr(store: Store, clock: ManualClock) -> None:
    store.set("a", "1")
    store.set("b", "2")
    assert store.exists("a", "b", "a", "c") == 3
    assert store.delete("a", "c") == 1
    assert store.exists("a") == 0
    assert store.expire("b", 5) is True and store.expire("nope", 5) is False
    clock.advance_ms(5000)
    assert store.exists("b") == 0
    assert store.incr("n") == 1 and store.incr("n", 10) == 11 and store.incr("n", -2) == 9


def test_errors_are_the_servers(store: Store) -> None:
    store.set("s", "abc")
    with pytest.raises(CommandError) as err:
        store.incr("s")
    assert err.value.message == "ERR value is not an integer or out of range"
    with pytest.raises(CommandError) as err:
        store.execute("GET")
    assert err.value.message == "ERR wrong number of arguments for 'get' command"
    with pytest.raises(CommandError) as err:
        store.execute("NOSUCH", "x")
    assert err.value.message.startswith("ERR unknown command 'NOSUCH'")


def test_execute_returns_plain_python(store: Store) -> None:
    assert store.execute("SET", "k", "v") == b"OK"
    assert store.execute("PING") == b"PONG"
    assert store.execute("MGET", "k", "nope") == [b"v", None]
    assert store.execute("INCRBYFLOAT", "f", "1.5") == b"1.5"
    assert store.execute("CONFIG", "GET", "engine-shard-high-keys") == {b"engine-shard-high-keys": b"16"}
    assert "set" in Store.commands() and "get" in Store.commands()


def test_keys_scan_iter_and_len(store: Store) -> None:
    names = {b"user:%d" % i for i in range(300)} | {b"other:%d" % i for i in range(20)}
    for name in names:
        store.set(name, "v")
    assert len(store) == 320
    assert set(store.keys("user:*")) == {n for n in names if n.startswith(b"user:")}
    assert set(store.keys()) == names
    seen = list(store.scan_iter())
    assert set(seen) == names
    assert set(store.scan_iter(match="other:*", count=5)) == {n for n in names if n.startswith(b"other:")}


def test_scan_iter_survives_steps_between_items(store: Store) -> None:
    stable = {b"stable:%d" % i for i in range(100)}
    for name in stable:
        store.set(name, "v")
    info_before = store.info()
    seen = set()
    extra = 0
    for i, name in enumerate(store.scan_iter(count=4)):
        seen.add(name)
        # Grow hard while iterating, then shrink: steps up and down between SCAN calls.
        if i < 200:
            for _ in range(20):
                store.set(b"churn:%d" % extra, "x")
                extra += 1
        elif i % 2 == 0 and extra:
            store.delete(*[b"churn:%d" % j for j in range(extra)])
            extra = 0
    assert stable <= seen
    info = store.info()
    assert info["steps_up"] > info_before["steps_up"]


def test_settings_as_keywords_or_config() -> None:
    config = Config()
    config.set("engine-shard-high-keys", b"32")
    assert Store(config).execute("CONFIG", "GET", "engine-shard-high-keys") == {b"engine-shard-high-keys": b"32"}
    store = Store(databases=2, engine_min_shards=4)
    assert store.info()["shards"] == 4
    with pytest.raises(CommandError):
        store.execute("SELECT", "2")
    with pytest.raises(TypeError):
        Store(no_such_setting=1)
    with pytest.raises(ValueError):
        Store(engine_shard_high_keys="lots")


def test_writes_alone_finish_every_step(store: Store) -> None:
    """No tick(): the steps still complete, up and down, by the writes themselves."""
    for i in range(5000):
        store.set(b"k%d" % i, "v")
    info = store.info()
    assert info["steps_up"] >= 8 and info["keys"] == 5000
    for start in range(0, 5000, 100):
        store.delete(*[b"k%d" % i for i in range(start, start + 100)])
    info = store.info()
    assert info["keys"] == 0 and info["steps_down"] >= 8 and info["shards"] <= 2


def test_tick_finishes_migration_expires_keys_and_frees_flushed_data(store: Store, clock: ManualClock) -> None:
    for i in range(16 * 64 + 1):
        store.set(b"k%d" % i, "v", px=1000 if i % 2 else None)
    assert store.info()["migrating"] == 1
    while store.tick(budget_us=100):
        pass
    info = store.info()
    assert info["migrating"] == 0 and not store.instance.dbs[0].tandem.busy
    clock.advance_ms(1000)
    expired_before = store.instance.keyspace_stats.expired_keys
    while store.tick():
        pass
    assert store.info()["keys"] == 16 * 32 + 1
    assert store.instance.keyspace_stats.expired_keys - expired_before == 16 * 32
    store.execute("FLUSHALL")
    assert store.instance.dbs[0].detached
    while store.tick():
        pass
    assert not store.instance.dbs[0].detached
    assert store.tick() is False


def test_migration_gc_drops_expired_keys(store: Store, clock: ManualClock) -> None:
    for i in range(16 * 8):
        store.set(b"t%d" % i, "v", px=10)
    clock.advance_ms(10)
    for i in range(16 * 8 + 1):  # force a step up; migration meets the expired keys
        store.set(b"k%d" % i, "v")
    while store.tick():
        pass
    assert store.info()["gc_dropped_keys"] > 0
    assert len(store) == 16 * 8 + 1


def test_migration_gc_waits_while_active_expiry_is_off(store: Store, clock: ManualClock) -> None:
    """DEBUG SET-ACTIVE-EXPIRE 0 stops every background expiry, migration's GC included: the
    expired keys are copied, then deleted by the first active expiry once it is back on."""
    store.execute("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    for i in range(16 * 8):
        store.set(b"t%d" % i, "v", px=10)
    clock.advance_ms(10)
    for i in range(16 * 8 + 1):
        store.set(b"k%d" % i, "v")
    while store.tick():
        pass
    assert store.info()["gc_dropped_keys"] == 0
    assert store.info()["keys"] == 2 * 16 * 8 + 1  # stored, not yet deleted (DBSIZE counts them)
    store.execute("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    while store.tick():
        pass
    assert len(store) == 16 * 8 + 1


def test_info_keyspace_avg_ttl_is_sampled_as_redis_does(store: Store, clock: ManualClock) -> None:
    """avg_ttl (ms): 0 until a tick samples the keys with a deadline, then the sampled mean
    folded 49/50 into the previous figure (Redis's activeExpireCycle); 0 again without any."""

    def avg_ttl() -> int:
        line = next(x for x in store.execute("INFO", "keyspace").decode().split("\r\n") if x.startswith("db0:"))
        return int(line.rsplit("avg_ttl=", 1)[1])

    for i in range(10):
        store.execute("SET", f"k{i}", "v", "EX", 100)
    store.execute("SET", "plain", "v")
    assert avg_ttl() == 0
    store.tick()
    assert avg_ttl() == 100_000  # the first sample is taken as is
    clock.advance_ms(10_000)
    store.tick()
    assert avg_ttl() == 100_000 // 50 * 49 + 90_000 // 50
    for i in range(10):
        store.execute("PERSIST", f"k{i}")
    store.tick()
    assert avg_ttl() == 0
