"""Throughput of the Python libraries' own workloads on tandemkv and on redis-server, side by
side in one run (issue 17's measurements; the correctness suite is tests/ecosystem/).

    .venv/bin/python bench/ecosystem.py --rounds 5

(the libraries come with the `ecosystem` extra, which `make test`'s venv step installs).

Both servers are started here on free loopback ports and run for the whole benchmark; every
round runs each workload on both, alternating which goes first. Figures per workload: the
rate each server sustained (median over rounds), tandemkv / redis-server as a ratio with its
min-max over rounds, and the server's CPU per operation (all its threads, from /proc/<pid>/task/*/schedstat) with its
ratio, also divided by SET's ratio of the same round. The client side is the same Python
library for both, so a rate ratio near 1 says the library, not the server, is the bottleneck;
the CPU per operation says what the server spent, and is the figure least disturbed by a busy
machine.

- SET alone: the same redis-py client sending only SET, the baseline the others compare with.
- redis-py: one sync client (RESP3), a request/response mix of SET, GET, INCR, HSET, HGETALL,
  LPUSH, RPOP, ZADD, ZRANGE WITHSCORES, EXPIRE; operations/s.
- Celery: a worker process (threads pool, 4 threads) per server, started once for the whole
  run; tasks sent (`send_task`), results collected from the Redis result backend; tasks/s
  from the first send to the last result.
- RQ: jobs enqueued, then one burst Worker (a forked work horse per job, RQ's default) runs
  them all; tasks/s over enqueue + burst.
- django-redis: Django's cache API (set, get, incr, get_many/set_many of 10 keys, delete);
  cache operations/s (a *_many call counts once).
- limits: `hit` for 100 identifiers on a 1000/minute limit, per strategy; checks/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import ecosystem_tasks  # noqa: E402  (beside this file; the Celery worker imports it too)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    url: str
    pid: int

    def cpu_s(self) -> float:
        """CPU time of all the server's threads, in nanosecond resolution (schedstat's first
        field; /proc/<pid>/stat counts 10 ms ticks, too coarse for a 5 µs request)."""
        total_ns = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                total_ns += int((task / "schedstat").read_text().split()[0])
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
        return total_ns / 1e9


@contextmanager
def started(name: str) -> Iterator[Server]:
    port = free_port()
    if name == "tandemkv":
        command = [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port),
                   "--dir", tempfile.mkdtemp(prefix="tandemkv-bench-")]
    else:
        path = shutil.which("redis-server")
        assert path, "redis-server is not on PATH"
        command = [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(300):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield Server(name, f"redis://127.0.0.1:{port}/0", proc.pid)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=20)


def plain_set(server: Server, scale: float) -> int:
    client = redis.Redis.from_url(server.url)
    requests = int(20000 * scale)
    for i in range(requests):
        client.set(f"plain:{i % 1000}", i)
    client.close()
    return requests


def redis_py(server: Server, scale: float) -> int:
    client = redis.Redis.from_url(server.url)
    rounds = int(2000 * scale)
    for i in range(rounds):
        key = f"k:{i % 500}"
        client.set(key, i)
        client.get(key)
        client.incr("counter")
        client.hset(f"h:{i % 100}", mapping={"a": i, "b": "x"})
        client.hgetall(f"h:{i % 100}")
        client.lpush("list", i)
        client.rpop("list")
        client.zadd("board", {f"m{i % 200}": i})
        client.zrange("board", 0, 9, withscores=True)
        client.expire(key, 60)
    client.close()
    return rounds * 10


def django_cache(server: Server, scale: float) -> int:
    from django.core.cache import caches

    cache = caches[server.name]
    rounds = int(2000 * scale)
    batch = {f"many:{n}": {"n": n} for n in range(10)}
    for i in range(rounds):
        cache.set(f"page:{i % 500}", {"html": "x" * 200, "i": i}, timeout=300)
        cache.get(f"page:{(i * 7) % 500}")
        cache.get_or_set("counter", 0)
        cache.incr("counter")
        cache.set_many(batch, timeout=300)
        cache.get_many(list(batch))
        cache.delete(f"page:{(i * 3) % 500}")
    return rounds * 7


def limits_check(strategy_name: str) -> Callable[[Server, float], int]:
    def run(server: Server, scale: float) -> int:
        from limits import parse, storage, strategies

        strategy = getattr(strategies, strategy_name)(storage.storage_from_string(server.url))
        limit = parse("1000/minute")
        checks = int(5000 * scale)
        for i in range(checks):
            strategy.hit(limit, "api", f"user-{i % 100}")
        strategy.storage.reset()
        return checks

    return run


def rq_jobs(server: Server, scale: float) -> int:
    from rq import Queue, Worker

    connection = redis.Redis.from_url(server.url)
    queue = Queue("bench", connection=connection)
    jobs = int(150 * scale)
    finished_before = queue.finished_job_registry.count
    for i in range(jobs):
        queue.enqueue(ecosystem_tasks.add, i, i)
    Worker([queue], connection=connection).work(burst=True, logging_level="WARNING")
    finished = queue.finished_job_registry.count - finished_before
    assert finished == jobs, f"RQ finished {finished} of {jobs}"
    connection.close()
    return jobs


@dataclass
class CeleryWorkers:
    """One Celery worker process per server, started once for the whole benchmark."""

    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    apps: dict[str, object] = field(default_factory=dict)

    def start(self, server: Server) -> None:
        self.processes[server.name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ecosystem_tasks", "worker", "--pool", "threads",
             "--concurrency", "4", "--loglevel", "WARNING", "--hostname", f"{server.name}@%h"],
            cwd=BENCH_DIR,
            env={**os.environ, "ECOSYSTEM_URL": server.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        app = ecosystem_tasks.make_app(server.url)
        self.apps[server.name] = app
        # a broadcast reaches only workers already subscribed: ask until the new one answers
        for _ in range(30):
            if app.control.ping(timeout=1, limit=1):
                return
        raise RuntimeError(f"no Celery worker answered on {server.name}")

    def run(self, server: Server, scale: float) -> int:
        app = self.apps[server.name]
        tasks = int(300 * scale)
        results = [app.send_task("ecosystem_tasks.add", (i, i)) for i in range(tasks)]
        assert [result.get(timeout=120) for result in results] == [2 * i for i in range(tasks)]
        for result in results:
            result.forget()
        return tasks

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
            process.wait(timeout=30)


def configure_django(servers: list[Server]) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench",
        CACHES={server.name: {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url}
                for server in servers} | {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}},
    )
    django.setup()


@dataclass
class Figures:
    unit: str
    rate: dict[str, list[float]] = field(default_factory=dict)
    cpu_us: dict[str, list[float]] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running every workload on both servers")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every workload's size")
    options = parser.parse_args()

    with started("tandemkv") as tandem, started("redis") as reference:
        servers = [tandem, reference]
        configure_django(servers)
        celery = CeleryWorkers()
        for server in servers:
            celery.start(server)
        workloads: dict[str, tuple[str, Callable[[Server, float], int]]] = {
            "SET alone (the baseline)": ("ops/s", plain_set),
            "redis-py (request/response mix)": ("ops/s", redis_py),
            "Celery (threads worker, 4 threads)": ("tasks/s", celery.run),
            "RQ (burst worker, fork per job)": ("tasks/s", rq_jobs),
            "django-redis (cache API)": ("cache ops/s", django_cache),
            "limits fixed-window": ("checks/s", limits_check("FixedWindowRateLimiter")),
            "limits moving-window": ("checks/s", limits_check("MovingWindowRateLimiter")),
            "limits sliding-window": ("checks/s", limits_check("SlidingWindowCounterRateLimiter")),
        }
        figures = {name: Figures(unit) for name, (unit, _) in workloads.items()}
        try:
            for round_index in range(options.rounds):
                order = servers if round_index % 2 == 0 else servers[::-1]
                for name, (_, workload) in workloads.items():
                    for server in order:
                        cpu_before, started_at = server.cpu_s(), time.perf_counter()
                        operations = workload(server, options.scale)
                        elapsed_s = time.perf_counter() - started_at
                        cpu_s = server.cpu_s() - cpu_before
                        figures[name].rate.setdefault(server.name, []).append(operations / elapsed_s)
                        figures[name].cpu_us.setdefault(server.name, []).append(cpu_s / operations * 1e6)
                print(f"round {round_index + 1}/{options.rounds} done", file=sys.stderr)
        finally:
            celery.stop()

    baseline = figures["SET alone (the baseline)"]
    baseline_cpu = [a / b for a, b in zip(baseline.cpu_us["tandemkv"], baseline.cpu_us["redis"], strict=True)]
    print("| workload | unit | tandemkv | redis-server | rate ratio | server CPU µs/op | CPU ratio | CPU ratio / SET's |")
    print("|---|---|---|---|---|---|---|---|")
    for name, figure in figures.items():
        ours, theirs = figure.rate["tandemkv"], figure.rate["redis"]
        rate_ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        cpu_ratios = [a / b for a, b in zip(figure.cpu_us["tandemkv"], figure.cpu_us["redis"], strict=True)]
        versus_set = [a / b for a, b in zip(cpu_ratios, baseline_cpu, strict=True)]
        print(
            f"| {name} | {figure.unit} | {statistics.median(ours):.0f} | {statistics.median(theirs):.0f} "
            f"| {spread(rate_ratios)} "
            f"| {statistics.median(figure.cpu_us['tandemkv']):.0f} / {statistics.median(figure.cpu_us['redis']):.0f} "
            f"| {spread(cpu_ratios)} | {spread(versus_set)} |"
        )


def spread(values: list[float]) -> str:
    """The median and the min-max of a list of ratios."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

if __name__ == "__main__":
    main()
