"""Job functions of the RQ tests (RQ imports them by name in its work horse)."""

from __future__ import annotations

from rq import get_current_job
from rq.job import Job


def multiply(x: int, y: int) -> int:
    return x * y


def divide(x: int, y: int) -> float:
    return x / y


def fail_twice() -> int:
    """Raises on its first two runs (counted in the job's own Redis); returns the run number."""
    job = get_current_job()
    assert job is not None
    run = job.connection.incr(f"runs:{job.id}")
    if run <= 2:
        raise RuntimeError(f"run {run} failed")
    return run


def total_of(*job_ids: str) -> int:
    """Sums the return values of the jobs this one depends on."""
    job = get_current_job()
    assert job is not None
    return sum(Job.fetch(job_id, connection=job.connection).return_value() for job_id in job_ids)
