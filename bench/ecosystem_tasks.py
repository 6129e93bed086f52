"""Tasks and jobs of bench/ecosystem.py: a Celery app on the server named by ECOSYSTEM_URL
(for the worker process the benchmark starts) and the function RQ's work horses run."""

from __future__ import annotations

import os

from celery import Celery


def make_app(url: str) -> Celery:
    app = Celery("ecosystem_tasks", broker=url, backend=url)
    app.conf.update(broker_connection_retry_on_startup=True, worker_prefetch_multiplier=16)
    app.task(name="ecosystem_tasks.add")(add)
    return app


def add(x: int, y: int) -> int:
    return x + y


app = make_app(os.environ.get("ECOSYSTEM_URL", "redis://127.0.0.1:6379/0"))
