"""RQ on tandemkv: jobs enqueued, run by a burst worker (forking a work horse per job, as RQ
does by default), results and the failed-job registry read back, and scheduled jobs
(`enqueue_in`) moved to the queue by the worker's scheduler and run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from rq import Queue, Retry, Worker
from rq.job import JobStatus

from tests.ecosystem.rq_jobs import divide, fail_twice, multiply, total_of


@pytest.fixture
def connection(flushed: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(flushed)
    yield client
    client.close()


def test_enqueue_burst_worker_results_and_failures(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    jobs = [queue.enqueue(multiply, i, 3) for i in range(5)]
    failing = queue.enqueue(divide, 1, 0)
    assert queue.count == 6

    assert Worker([queue], connection=connection).work(burst=True)

    assert [job.return_value() for job in jobs] == [0, 3, 6, 9, 12]
    assert all(job.get_status() == JobStatus.FINISHED for job in jobs)
    assert queue.finished_job_registry.get_job_ids() and queue.count == 0
    assert failing.get_status() == JobStatus.FAILED
    assert queue.failed_job_registry.get_job_ids() == [failing.id]
    assert "ZeroDivisionError" in failing.latest_result().exc_string

    queue.failed_job_registry.requeue(failing.id)  # back on the queue; fails again
    assert queue.count == 1
    Worker([queue], connection=connection).work(burst=True)
    assert failing.get_status() == JobStatus.FAILED
    assert len(failing.results()) == 2


def test_enqueue_in_runs_through_the_scheduler(connection: redis.Redis) -> None:
    queue = Queue("timed", connection=connection)
    soon = queue.enqueue_in(timedelta(seconds=1), multiply, 6, 7)
    later = queue.enqueue_in(timedelta(hours=1), multiply, 1, 1)
    assert soon.get_status() == JobStatus.SCHEDULED
    assert set(queue.scheduled_job_registry.get_job_ids()) == {soon.id, later.id}

    tick = threading.Event()
    for _ in range(50):  # burst workers with a scheduler, until `soon` is due and has run
        Worker([queue], connection=connection).work(burst=True, with_scheduler=True)
        if soon.get_status() == JobStatus.FINISHED:
            break
        tick.wait(0.1)
    assert soon.return_value() == 42
    assert later.get_status() == JobStatus.SCHEDULED
    assert queue.scheduled_job_registry.get_job_ids() == [later.id]


def test_dependencies_and_retries(connection: redis.Redis) -> None:
    queue = Queue("flow", connection=connection)
    parts = [queue.enqueue(multiply, i, 10) for i in range(1, 4)]
    summary = queue.enqueue(total_of, *(job.id for job in parts), depends_on=parts)
    assert summary.get_status() == JobStatus.DEFERRED
    assert queue.deferred_job_registry.get_job_ids() == [summary.id]
    retried = queue.enqueue(fail_twice, retry=Retry(max=3))

    assert Worker([queue], connection=connection).work(burst=True)
    assert summary.return_value() == 60  # ran after its three dependencies, in the same burst
    retried.refresh()
    assert retried.return_value() == 3 and retried.retries_left == 1
    assert queue.failed_job_registry.get_job_ids() == []
