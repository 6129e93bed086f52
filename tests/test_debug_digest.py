"""DEBUG DIGEST and DIGEST-VALUE (Redis's debug.c digests, compared with redis-server's on the
same dataset) and DEBUG LOADAOF (the AOF loaded again: the same digest)."""

from __future__ import annotations

import pytest
import redis

from tests.conftest import REDIS_SERVER, start_redis, start_tandem, stop
from tests.test_aof import _populate

pytestmark = [pytest.mark.redis, pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")]


@pytest.fixture(scope="module")
def pair():
    procs = []
    clients = []
    for start, args in ((start_tandem, ()), (start_redis, ("--enable-debug-command", "yes"))):
        proc, port = start(*args)
        procs.append(proc)
        clients.append(redis.Redis(port=port))
    yield clients
    for client in clients:
        client.close()
    for proc in procs:
        stop(proc)


def _both(clients, *args):
    ours, theirs = (client.execute_command(*args) for client in clients)
    assert ours == theirs, args
    return ours


def test_the_dataset_digest_is_redis_s(pair):
    for client in pair:
        client.flushall()
        client.function_flush()
    assert _both(pair, "DEBUG", "DIGEST") == b"0" * 40
    for client in pair:
        _populate(client)  # every type, a deadline, two databases, a stream with a group
        client.sadd("bigset", *[f"m{i}" for i in range(600)])  # a hash table
        client.zadd("bigz", {f"m{i}": i * 1.5 for i in range(300)})  # a skiplist
        client.zadd("inf", {"a": float("inf"), "b": float("-inf")})
        client.xadd("st", {"f": "x"}, id="3-1")
        client.xdel("st", "2-1")
        client.pexpireat("s", 99_999_999_999_000)
    digest = _both(pair, "DEBUG", "DIGEST")
    assert digest != b"0" * 40
    _both(pair, "DEBUG", "DIGEST-VALUE", "s", "l", "si", "ss", "h", "hbig", "z", "zs", "st", "bigset", "bigz", "inf", "missing")
    _both(pair, "DEBUG", "DIGEST-VALUE")
    for client in pair:
        client.rpush("l", "one-more")
    assert _both(pair, "DEBUG", "DIGEST") != digest


def test_loadaof_reloads_the_same_dataset(tmp_path):
    proc, port = start_tandem("--dir", str(tmp_path), "--appendonly", "yes", "--aof-use-rdb-preamble", "no")
    try:
        client = redis.Redis(port=port)
        _populate(client)
        client.bgrewriteaof()
        while client.info("persistence")["aof_rewrite_in_progress"]:
            pass
        client.rpush("l", "tail")
        before = client.execute_command("DEBUG", "DIGEST")
        assert client.execute_command("DEBUG", "LOADAOF") == b"OK"
        assert client.execute_command("DEBUG", "DIGEST") == before
        assert client.lrange("l", -1, -1) == [b"tail"] and client.dbsize() == 12
        client.set("after", "reload")
        assert client.execute_command("DEBUG", "LOADAOF") == b"OK"
        assert client.get("after") == b"reload" and client.llen("l") == 301  # nothing doubled
        client.config_set("appendonly", "no")
        assert client.execute_command("DEBUG", "LOADAOF") == b"OK"  # the files on disk
        assert client.get("after") == b"reload"
        client.close()
    finally:
        stop(proc)
