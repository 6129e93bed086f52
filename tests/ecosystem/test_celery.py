"""Celery with tandemkv as broker and result backend: a worker process started here (threads
pool) runs plain tasks, a chord, a task that retries, and a countdown (ETA) task; every result
comes back through the result backend."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from celery import chord, group

from tests.ecosystem import celery_app as module

ROOT = Path(__file__).resolve().parents[2]
RESULT_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def celery_app(tandem_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    module.app.conf.broker_url = module.app.conf.result_backend = tandem_url
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    log_file = log_path.open("wb")  # a file, not a pipe: a full pipe would stall the worker
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.ecosystem.celery_app", "worker",
         "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO", "--hostname", "eco@%h"],
        cwd=ROOT,
        env={**os.environ, "TANDEMKV_URL": tandem_url},
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    yield module
    worker.terminate()  # warm shutdown
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    log_file.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log


def test_tasks_return_results(celery_app) -> None:
    results = [celery_app.add.delay(i, i) for i in range(20)]
    assert [result.get(timeout=RESULT_TIMEOUT_S) for result in results] == [2 * i for i in range(20)]
    assert all(result.successful() for result in results)


def test_chord(celery_app) -> None:
    result = chord(celery_app.add.s(i, 1) for i in range(10))(celery_app.total.s())
    assert result.get(timeout=RESULT_TIMEOUT_S) == sum(range(1, 11))


def test_retry(celery_app) -> None:
    result = celery_app.flaky.delay("flaky:attempts", 2)
    assert result.get(timeout=RESULT_TIMEOUT_S) == 3  # two failures, each retried


def test_countdown_task_is_delivered_at_its_eta(celery_app) -> None:
    sent_at = time.time()
    result = celery_app.now.apply_async(countdown=1)
    ran_at = result.get(timeout=RESULT_TIMEOUT_S)
    assert ran_at >= sent_at + 1


def test_group_and_remote_control(celery_app) -> None:
    assert group(celery_app.add.s(i, i) for i in range(5))().get(timeout=RESULT_TIMEOUT_S) == [0, 2, 4, 6, 8]
    # a broadcast over the pidbox (pub/sub fanout); the worker's reply comes back on a queue
    replies = celery_app.app.control.ping(timeout=10, limit=1)
    assert [next(iter(reply.values())) for reply in replies] == [{"ok": "pong"}]
