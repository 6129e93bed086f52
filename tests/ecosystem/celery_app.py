"""The Celery application of the ecosystem suite: broker and result backend on the tandemkv
server named by TANDEMKV_URL. The test process and the worker it starts both import it."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery, Task

URL = os.environ.get("TANDEMKV_URL", "redis://127.0.0.1:6379/0")

app = Celery("tandemkv_ecosystem", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=4,
    result_expires=600,
)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def total(numbers: list[int]) -> int:
    return sum(numbers)


@app.task(bind=True, max_retries=5)
def flaky(self: Task, key: str, failures: int) -> int:
    """Fails `failures` times (counted in the server), retrying each time; returns the attempt."""
    attempt = redis.Redis.from_url(URL).incr(key)
    if attempt <= failures:
        raise self.retry(countdown=0.05, exc=RuntimeError(f"attempt {attempt} failed"))
    return attempt


@app.task
def now() -> float:
    """The wall-clock time at which the worker ran this task."""
    return time.time()
