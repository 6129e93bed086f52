"""redis-py's own workloads against tandemkv: sync and asyncio clients, over RESP3 (redis-py's
default) and RESP2. Transactional pipelines, WATCH transactions, Lock, register_script,
pub/sub with run_in_thread, scan iterators, hashes, BRPOP, sorted sets, streams with groups."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.exceptions import LockError

PROTOCOLS = pytest.mark.parametrize("protocol", [3, 2], ids=["resp3", "resp2"])


@pytest.fixture(params=[3, 2], ids=["resp3", "resp2"])
def client(request: pytest.FixtureRequest, flushed: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(flushed, protocol=request.param)
    yield connection
    connection.close()


def test_transactional_pipeline(client: redis.Redis) -> None:
    with client.pipeline() as pipe:  # transaction=True: MULTI ... EXEC in one round trip
        pipe.set("counter", 10).incrby("counter", 5).get("counter").rpush("log", "a", "b")
        assert pipe.execute() == [True, 15, b"15", 2]
    with client.pipeline(transaction=False) as pipe:
        pipe.get("counter").llen("log").hset("h", "f", "v")
        assert pipe.execute() == [b"15", 2, 1]


def test_pipeline_error_is_raised_after_the_whole_transaction(client: redis.Redis) -> None:
    client.set("text", "abc")
    with client.pipeline() as pipe:
        pipe.incr("text").set("after", "1")
        with pytest.raises(redis.ResponseError, match="not an integer"):
            pipe.execute()
    assert client.get("after") == b"1"  # EXEC ran the rest, as Redis does


def test_watch_transaction_retries_after_a_concurrent_write(client: redis.Redis) -> None:
    client.set("balance", 100)
    other = redis.Redis(connection_pool=client.connection_pool)
    attempts = []

    def withdraw(pipe: redis.client.Pipeline) -> None:
        balance = int(pipe.get("balance"))
        attempts.append(balance)
        if len(attempts) == 1:
            other.set("balance", 50)  # a concurrent writer: EXEC must abort and redis-py retry
        pipe.multi()
        pipe.set("balance", balance - 30)

    assert client.transaction(withdraw, "balance") == [True]
    assert attempts == [100, 50]
    assert client.get("balance") == b"20"


def test_lock_acquire_extend_release_and_blocking_timeout(client: redis.Redis) -> None:
    lock = client.lock("resource", timeout=10)
    assert lock.acquire(blocking=False)
    assert lock.locked() and lock.owned()
    assert 0 < client.pttl("resource") <= 10_000
    assert lock.extend(20)  # adds to the remaining time
    assert 10_000 < client.pttl("resource") <= 30_000
    assert lock.extend(5, replace_ttl=True)
    assert client.pttl("resource") <= 5_000

    rival = client.lock("resource", timeout=10, blocking_timeout=0.05)
    assert not rival.acquire()  # blocks up to blocking_timeout, then gives up
    with pytest.raises(LockError):
        rival.release()

    lock.release()
    assert not lock.locked()
    assert rival.acquire()
    rival.release()


def test_lock_blocked_acquire_succeeds_when_released(client: redis.Redis) -> None:
    holder = client.lock("job", timeout=10)
    assert holder.acquire()
    waiting = client.lock(
        "job", timeout=10, sleep=0.01, blocking_timeout=10, thread_local=False
    )
    acquired = threading.Event()

    def wait_for_lock() -> None:
        if waiting.acquire():
            acquired.set()

    thread = threading.Thread(target=wait_for_lock)
    thread.start()
    assert not acquired.is_set()
    holder.release()
    thread.join(timeout=10)
    assert acquired.is_set() and waiting.owned()
    waiting.release()


def test_register_script_survives_script_flush(client: redis.Redis) -> None:
    add = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert add(keys=["total"], args=[5]) == 5
    client.script_flush()  # EVALSHA gets NOSCRIPT; redis-py loads the script and retries
    assert add(keys=["total"], args=[7]) == 12
    with client.pipeline() as pipe:
        add(keys=["total"], args=[1], client=pipe)
        pipe.get("total")
        assert pipe.execute() == [13, b"13"]


def test_pubsub_run_in_thread(client: redis.Redis) -> None:
    received: list[tuple[bytes, bytes]] = []
    all_in = threading.Event()

    def on_message(message: dict) -> None:
        received.append((message["channel"], message["data"]))
        if len(received) == 3:
            all_in.set()

    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(orders=on_message)
    pubsub.psubscribe(**{"audit.*": on_message})
    worker = pubsub.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        for _ in range(500):  # until both subscriptions are registered server-side
            if client.pubsub_numsub("orders")[0][1] == 1 and client.pubsub_numpat() == 1:
                break
            threading.Event().wait(0.01)
        assert client.publish("orders", "o-1") == 1
        assert client.publish("audit.login", "alice") == 1
        assert client.publish("orders", "o-2") == 1
        assert all_in.wait(10)
    finally:
        worker.stop()
        worker.join(timeout=10)
        pubsub.close()
    assert received == [(b"orders", b"o-1"), (b"audit.login", b"alice"), (b"orders", b"o-2")]


def test_pubsub_get_message(client: redis.Redis) -> None:
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    client.publish("news", "hello")
    message = pubsub.get_message(timeout=5)
    assert (message["type"], message["channel"], message["data"]) == ("message", b"news", b"hello")
    pubsub.unsubscribe("news")
    assert pubsub.get_message(timeout=5)["type"] == "unsubscribe"
    pubsub.close()


def test_scan_iterators(client: redis.Redis) -> None:
    client.mset({f"user:{i}": i for i in range(300)} | {f"other:{i}": i for i in range(50)})
    client.hset("h", mapping={f"f{i}": i for i in range(200)})
    client.sadd("s", *range(200))
    client.zadd("z", {f"m{i}": i for i in range(200)})
    assert set(client.scan_iter(match="user:*", count=20)) == {f"user:{i}".encode() for i in range(300)}
    assert len(set(client.scan_iter(count=7))) == 353
    assert dict(client.hscan_iter("h", match="f1*")) == {
        f"f{i}".encode(): str(i).encode() for i in range(200) if str(i).startswith("1")
    }
    assert {int(m) for m in client.sscan_iter("s", count=10)} == set(range(200))
    assert dict(client.zscan_iter("z")) == {f"m{i}".encode(): float(i) for i in range(200)}


def test_hashes(client: redis.Redis) -> None:
    assert client.hset("user:1", mapping={"name": "ada", "visits": 1, "score": "1.5"}) == 3
    assert client.hincrby("user:1", "visits", 4) == 5
    assert client.hincrbyfloat("user:1", "score", 0.25) == 1.75
    assert client.hgetall("user:1") == {b"name": b"ada", b"visits": b"5", b"score": b"1.75"}
    assert client.hmget("user:1", "name", "missing") == [b"ada", None]
    assert client.hsetnx("user:1", "name", "bob") == 0
    assert sorted(client.hkeys("user:1")) == [b"name", b"score", b"visits"]
    assert client.hdel("user:1", "score", "missing") == 1
    assert client.hlen("user:1") == 2 and client.hexists("user:1", "name")


def test_lists_with_brpop(client: redis.Redis) -> None:
    assert client.brpop(["empty"], timeout=0.05) is None  # times out with a nil
    client.rpush("jobs", "j1", "j2")
    assert client.brpop(["none", "jobs"], timeout=1) == (b"jobs", b"j2") or [b"jobs", b"j2"]
    popped: list = []
    consumer = redis.Redis(connection_pool=client.connection_pool)
    thread = threading.Thread(target=lambda: popped.append(consumer.brpop(["queue"], timeout=10)))
    thread.start()
    for _ in range(500):  # until the consumer is blocked server-side
        if client.info("clients")["blocked_clients"] == 1:
            break
        threading.Event().wait(0.01)
    client.lpush("queue", "task")
    thread.join(timeout=10)
    assert [list(item) for item in popped] == [[b"queue", b"task"]]
    assert client.lmove("jobs", "done", "LEFT", "RIGHT") == b"j1"
    assert client.lrange("done", 0, -1) == [b"j1"]


def test_sorted_sets(client: redis.Redis) -> None:
    assert client.zadd("board", {"ann": 10, "bob": 20, "cy": 15}) == 3
    assert client.zincrby("board", 7.5, "ann") == 17.5
    ranked = client.zrange("board", 0, -1, withscores=True)  # pairs: tuples (RESP2), lists (RESP3)
    assert [tuple(pair) for pair in ranked] == [(b"cy", 15.0), (b"ann", 17.5), (b"bob", 20.0)]
    assert [tuple(pair) for pair in client.zrevrange("board", 0, 0, withscores=True)] == [(b"bob", 20.0)]
    assert client.zrangebyscore("board", 16, "+inf") == [b"ann", b"bob"]
    assert client.zscore("board", "cy") == 15.0 and client.zrank("board", "bob") == 2
    assert client.zpopmin("board") in ([(b"cy", 15.0)], [b"cy", 15.0])  # RESP2, RESP3
    assert client.bzpopmax(["board"], timeout=1) in ((b"board", b"bob", 20.0), [b"board", b"bob", 20.0])
    assert client.zcard("board") == 1


def test_streams_with_consumer_groups(client: redis.Redis) -> None:
    assert client.xgroup_create("events", "workers", id="0", mkstream=True)
    ids = [client.xadd("events", {"n": str(i)}) for i in range(5)]
    batch = client.xreadgroup("workers", "w1", {"events": ">"}, count=3)
    entries = batch[b"events"][0] if isinstance(batch, dict) else batch[0][1]
    assert [entry_id for entry_id, _ in entries] == ids[:3]
    assert entries[0][1] == {b"n": b"0"}
    assert client.xack("events", "workers", ids[0]) == 1
    pending = client.xpending("events", "workers")
    assert pending["pending"] == 2 and pending["consumers"] == [{"name": b"w1", "pending": 2}]
    detail = client.xpending_range("events", "workers", min="-", max="+", count=10)
    assert [item["message_id"] for item in detail] == ids[1:3]
    claimed = client.xautoclaim("events", "workers", "w2", min_idle_time=0, start_id="0-0")
    assert [entry_id for entry_id, _ in claimed[1]] == ids[1:3]
    groups = client.xinfo_groups("events")
    assert groups[0]["name"] == b"workers" and groups[0]["pending"] == 2
    assert client.xlen("events") == 5
    assert [entry_id for entry_id, _ in client.xrange("events", count=2)] == ids[:2]
    assert client.xtrim("events", maxlen=2, approximate=False) == 3


@PROTOCOLS
def test_asyncio_client(flushed: str, protocol: int) -> None:
    async def workload() -> None:
        client = redis.asyncio.Redis.from_url(flushed, protocol=protocol)
        async with client.pipeline() as pipe:
            pipe.set("a", 1).incr("a").get("a")
            assert await pipe.execute() == [True, 2, b"2"]

        async def bump(pipe: redis.asyncio.client.Pipeline) -> None:
            value = int(await pipe.get("a"))
            pipe.multi()
            pipe.set("a", value * 10)

        assert await client.transaction(bump, "a") == [True]
        assert await client.get("a") == b"20"

        lock = client.lock("alock", timeout=5, blocking_timeout=0.05)
        assert await lock.acquire()
        assert await lock.extend(5)
        assert not await client.lock("alock", blocking_timeout=0.05).acquire()
        await lock.release()

        script = client.register_script("return #KEYS + #ARGV")
        assert await script(keys=["k1", "k2"], args=[1]) == 3

        await client.mset({f"item:{i}": i for i in range(100)})
        assert len([key async for key in client.scan_iter(match="item:*", count=9)]) == 100

        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe("chan")
        assert await client.publish("chan", "payload") == 1
        for _ in range(3):  # None for the (ignored) subscribe confirmation, then the message
            message = await pubsub.get_message(timeout=5)
            if message is not None:
                break
        assert message is not None and message["data"] == b"payload"
        await pubsub.aclose()

        waiter = asyncio.create_task(client.brpop(["aq"], timeout=10))
        other = redis.asyncio.Redis.from_url(flushed, protocol=protocol)
        for _ in range(500):  # until BRPOP is blocked server-side
            if (await other.info("clients"))["blocked_clients"] == 1:
                break
            await asyncio.sleep(0.01)
        await other.rpush("aq", "x")
        assert list(await waiter) == [b"aq", b"x"]

        await other.xgroup_create("as", "g", id="$", mkstream=True)
        entry_id = await other.xadd("as", {"k": "v"})
        batch = await client.xreadgroup("g", "c", {"as": ">"}, count=1, block=1000)
        entries = batch[b"as"][0] if isinstance(batch, dict) else batch[0][1]
        assert entries == [(entry_id, {b"k": b"v"})]
        assert await client.xack("as", "g", entry_id) == 1
        await other.aclose()
        await client.aclose()

    asyncio.run(workload())
