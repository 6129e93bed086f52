"""django-redis as Django's cache backend on tandemkv (Django configured here, no project):
the cache API, django-redis's extensions (ttl, delete_pattern, locks, iter_keys), and Django's
session framework (cache backend) on top of it."""

from __future__ import annotations

from collections.abc import Iterator

import django
import pytest
from django.conf import settings


@pytest.fixture(scope="module")
def cache(tandem_url: str) -> Iterator[object]:
    settings.configure(
        SECRET_KEY="tandemkv-ecosystem-suite",
        INSTALLED_APPS=["django.contrib.sessions"],
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        USE_TZ=True,
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": tandem_url,
                "KEY_PREFIX": "site",
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            },
            "compressed": {  # zlib-compressed pickles: arbitrary bytes in keys' values
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": tandem_url,
                "KEY_PREFIX": "z",
                "OPTIONS": {"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"},
            },
        },
    )
    django.setup()
    from django.core.cache import cache as default_cache

    yield default_cache
    default_cache.close()


@pytest.fixture
def empty_cache(cache, flushed: str):
    return cache


def test_get_set_add_and_defaults(empty_cache) -> None:
    cache = empty_cache
    cache.set("greeting", {"text": "hello", "n": [1, 2]}, timeout=60)
    assert cache.get("greeting") == {"text": "hello", "n": [1, 2]}
    assert cache.get("missing", default="fallback") == "fallback"
    assert not cache.add("greeting", "other")  # SET NX
    assert cache.add("fresh", "value")
    assert cache.get_or_set("computed", lambda: 41 + 1) == 42
    assert cache.has_key("computed")
    cache.set("forever", "x", timeout=None)
    assert cache.ttl("forever") is None
    assert cache.delete("fresh") and cache.get("fresh") is None


def test_ttl_expire_persist_touch(empty_cache) -> None:
    cache = empty_cache
    cache.set("session-ish", "v", timeout=100)
    assert 90 <= cache.ttl("session-ish") <= 100
    assert 90_000 <= cache.pttl("session-ish") <= 100_000
    assert cache.expire("session-ish", 500) and 490 <= cache.ttl("session-ish") <= 500
    assert cache.persist("session-ish") and cache.ttl("session-ish") is None
    assert cache.touch("session-ish", 30) and 20 <= cache.ttl("session-ish") <= 30
    assert cache.ttl("missing") == 0
    cache.set("gone", "v", timeout=0)  # Django: a zero timeout does not store
    assert cache.get("gone") is None


def test_incr_decr(empty_cache) -> None:
    cache = empty_cache
    cache.set("hits", 10)
    assert cache.incr("hits") == 11
    assert cache.incr("hits", 5) == 16
    assert cache.decr("hits", 6) == 10
    assert cache.get("hits") == 10
    with pytest.raises(ValueError):
        cache.incr("no-such-counter")
    cache.set("big", 2**63 - 1)
    assert cache.incr("big") == 2**63  # past int64: django-redis falls back to a Lua script


def test_many_and_patterns(empty_cache) -> None:
    cache = empty_cache
    cache.set_many({f"user:{i}": {"id": i} for i in range(30)} | {"other:1": 1}, timeout=60)
    assert cache.get_many(["user:3", "user:7", "nope"]) == {"user:3": {"id": 3}, "user:7": {"id": 7}}
    assert sorted(cache.keys("user:2*")) == ["user:2", *(f"user:2{i}" for i in range(10))]
    assert len(list(cache.iter_keys("user:*", itersize=7))) == 30
    assert cache.delete_pattern("user:*", itersize=4) == 30
    assert cache.get_many([f"user:{i}" for i in range(30)]) == {}
    assert cache.get("other:1") == 1
    cache.delete_many(["other:1"])
    assert cache.get("other:1") is None


def test_versions(empty_cache) -> None:
    cache = empty_cache
    cache.set("config", "v1")
    assert cache.incr_version("config") == 2
    assert cache.get("config") is None and cache.get("config", version=2) == "v1"


def test_lock(empty_cache) -> None:
    cache = empty_cache
    lock = cache.lock("rebuild", timeout=10, blocking_timeout=0.05)
    assert lock.acquire()
    assert not cache.lock("rebuild", timeout=10, blocking_timeout=0.05).acquire()
    lock.release()
    with cache.lock("rebuild", timeout=10):
        assert cache.lock("rebuild", blocking_timeout=0.05).acquire() is False


def test_sessions_on_the_cache(empty_cache) -> None:
    from django.contrib.sessions.backends.cache import SessionStore

    session = SessionStore()
    session["user_id"] = 42
    session["cart"] = ["apple", "pear"]
    session.set_expiry(300)
    session.save()
    key = session.session_key
    assert key and SessionStore().exists(key)

    loaded = SessionStore(session_key=key)
    assert loaded["user_id"] == 42 and loaded["cart"] == ["apple", "pear"]
    assert 290 <= empty_cache.ttl(f"django.contrib.sessions.cache{key}") <= 300

    loaded.cycle_key()  # a new key, the data moved, the old key gone
    assert loaded.session_key != key and not SessionStore().exists(key)
    assert SessionStore(session_key=loaded.session_key)["user_id"] == 42

    loaded.flush()
    assert SessionStore(session_key=loaded.session_key).get("user_id") is None
    assert SessionStore(session_key="no-such-session").load() == {}


def test_compressed_values(empty_cache) -> None:
    from django.core.cache import caches

    compressed = caches["compressed"]
    document = {"body": "lorem ipsum " * 2000, "raw": bytes(range(256)) * 4}
    compressed.set("doc", document, timeout=60)
    assert compressed.get("doc") == document
    stored = compressed.client.get_client().get(compressed.make_key("doc"))
    assert len(stored) < 2000  # zlib did its work on the server's copy
