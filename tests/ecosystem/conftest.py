"""The ecosystem suite: real Python libraries (redis-py, Celery, RQ, django-redis, limits)
driving their own workloads against a tandemkv server started here, nothing mocked.

Each test module gets its own server (`tandem_url`), so a library's leftovers (Celery's
bindings, RQ's registries) never meet another library's test.

`TANDEMKV_ECOSYSTEM_TARGET=redis` runs the same suite against a redis-server instead: a test
that fails on tandemkv and passes there points at tandemkv, not at the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import start_redis, start_tandem, stop

TARGET = os.environ.get("TANDEMKV_ECOSYSTEM_TARGET", "tandemkv")


@pytest.fixture(scope="module")
def tandem_url() -> Iterator[str]:
    proc, port = start_redis() if TARGET == "redis" else start_tandem()
    yield f"redis://127.0.0.1:{port}/0"
    stop(proc)


@pytest.fixture
def flushed(tandem_url: str) -> str:
    """The module's server, emptied before the test; returns its URL."""
    client = redis.Redis.from_url(tandem_url, protocol=2)
    client.flushall()
    client.close()
    return tandem_url
