"""The load generator: worker processes, each an event loop driving many connections.

Layout of one phase:

- the coordinating process forks `workers` processes (before it runs any event loop), each of
  which opens its connections, prepares them (e.g. SUBSCRIBE), reports ready and waits;
- the coordinator notes t0 (time.monotonic_ns, one clock for all processes on Linux) and the
  server's CPU time, then releases every worker at once;
- each connection is an `asyncio.Protocol` (uvloop when installed) with a hiredis reader: a
  closed loop that sends a batch of `pipeline` commands, waits for all their replies, files
  each reply's latency (reply time - batch send time) in the worker's `Recorder` and checks it;
- while the workers run, the coordinator polls `INFO engine` every 100 ms, drives the progress
  bar, and sets the stop flag when the phase's primary workers are done or its time is up;
- each worker sends back its histograms, check counts, errors and own CPU time.

Nothing here knows about tandemkv: any RESP server will do.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis

from tandemkv.cli.bench import stats
from tandemkv.cli.bench.procinfo import cpu_count, own_cpu_s, run_delay_s
from tandemkv.cli.bench.resp import ControlClient
from tandemkv.cli.bench.servers import Target

INTERVAL_MS = 100
STOP_POLL_S = 0.05
READY_TIMEOUT_S = 120.0
SATURATED_FRACTION = 0.9  # a worker above 90 % of one core may be limiting the numbers
STALL_THRESHOLDS_MS = (1, 2, 5, 10, 50, 100)  # operations slower than these are counted as stalls
CONTENDED_FRACTION = 0.2  # runnable but not running 20 % of the time: the machine is oversubscribed
ENGINE_FIELDS = (
    "shards",
    "migrating",
    "old_shards",
    "migrated_shards",
    "keys",
    "steps_up",
    "steps_down",
)

Batch = list[tuple[str, bytes, bytes | None]]  # (command name, encoded command, expected reply)


def new_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when installed, else None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class WorkerContext:
    """What one worker process shares among its connections."""

    def __init__(self, worker_id: int, workers: int, progress: Any, stop: Any, t0: Any) -> None:
        self.worker_id = worker_id
        self.workers = workers
        self.progress = progress  # multiprocessing.Value('q'): operations completed
        self.stop = stop  # multiprocessing.Value('b'): set by the coordinator to end the phase
        # t0 (multiprocessing.Value('q')) is set by the coordinator before the start signal,
        # so it is known by the time anything is recorded.
        self.recorder = stats.Recorder(None, INTERVAL_MS, t0_source=lambda: t0.value)
        self.checked = 0
        self.wrong = 0
        self.missing = 0
        self.wrong_samples: list[str] = []
        self.errors: dict[str, int] = {}
        self.extra: dict[str, Any] = {}

    def count_error(self, command: str, message: str) -> None:
        key = f"{command}: {message[:120]}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def check_failed(self, command: bytes, expected: bytes, reply: object) -> None:
        if reply is None:
            self.missing += 1
        else:
            self.wrong += 1
        if len(self.wrong_samples) < 5:
            self.wrong_samples.append(
                f"{command[:80]!r}: expected {expected[:40]!r}, got {reply!r:.60}"
            )


class BenchClient(asyncio.Protocol):
    """One connection. Subclasses send in `start` and resolve `finished` when done."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stopping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.ctx.count_error("connection", f"lost: {exc}")
            self.finished.set_result(None)

    async def prepare(self) -> None:
        """Work before t0 (e.g. SUBSCRIBE and wait for the confirmation); nothing by default."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """The coordinator ended the phase: finish at the next opportunity."""
        self.stopping = True

    def finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
        if self.transport is not None:
            self.transport.close()


class Plan:
    """The commands of one request/response connection, batch by batch."""

    def next_batch(self, size: int) -> Batch:
        """Up to `size` commands to send together; empty when the connection is done."""
        raise NotImplementedError


class RequestClient(BenchClient):
    """Closed loop: send a batch of `pipeline` commands, wait for every reply, repeat."""

    def __init__(self, ctx: WorkerContext, plan: Plan, pipeline: int = 1) -> None:
        super().__init__(ctx)
        self.plan = plan
        self.pipeline = pipeline
        self.batch: Batch = []
        self.received = 0
        self.sent_ns = 0

    def start(self) -> None:
        self._record = self.ctx.recorder.record
        self._send()

    def stop(self) -> None:
        self.stopping = True
        if self.received == len(self.batch):
            self.finish()

    def _send(self) -> None:
        batch = [] if self.stopping else self.plan.next_batch(self.pipeline)
        if not batch:
            self.batch = []
            self.finish()
            return
        self.batch = batch
        self.received = 0
        self.sent_ns = time.monotonic_ns()
        assert self.transport is not None
        self.transport.write(
            batch[0][1] if len(batch) == 1 else b"".join([item[1] for item in batch])
        )

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        batch = self.batch
        i = self.received
        record = self._record
        sent_ns = self.sent_ns
        ctx = self.ctx
        while True:
            reply = reader.gets()
            if reply is False:
                break
            now = time.monotonic_ns()
            command, encoded, expected = batch[i]
            i += 1
            record(command, now - sent_ns, now)
            if reply.__class__ is hiredis.ReplyError:
                ctx.count_error(command, str(reply))
            elif expected is not None:
                ctx.checked += 1
                if reply != expected:
                    ctx.check_failed(encoded, expected, reply)
        self.received = i
        if i == len(batch):
            ctx.progress.value += i
            self._send()


@dataclass
class Phase:
    """One measured phase: how many workers, and which connections each one runs.

    `make_clients(ctx)` builds the connections of worker `ctx.worker_id`; it runs inside the
    worker, after the fork. Workers listed in `primary` end the phase: when they are all done
    the others are told to stop. `timeout_s` stops everything regardless. `collect(ctx)` can
    return scenario-specific results from a worker (in ctx.extra by default).
    """

    name: str
    workers: int
    make_clients: Callable[[WorkerContext], Sequence[BenchClient]]
    total_ops: int | None = None
    primary: set[int] | None = None
    timeout_s: float | None = None
    grace_s: float = 0.0  # after the primary workers are done, before stopping the others
    info: dict[str, Any] = field(default_factory=dict)


def run_phase(target: Target, phase: Phase, progress: ProgressUI | None = None) -> dict[str, Any]:
    """Run `phase` against `target`; returns the phase's figures as a plain dict (see report)."""
    mp = multiprocessing.get_context("fork")
    start_event = mp.Event()
    ready_q: Any = mp.Queue()
    result_q: Any = mp.Queue()
    t0 = mp.Value("q", 0, lock=False)
    stop = mp.Value("b", 0, lock=False)
    counters = [mp.Value("q", 0, lock=False) for _ in range(phase.workers)]
    procs = [
        mp.Process(
            target=_worker_main,
            args=(
                target.host,
                target.port,
                phase,
                worker_id,
                t0,
                start_event,
                ready_q,
                result_q,
                counters[worker_id],
                stop,
            ),
            daemon=True,
        )
        for worker_id in range(phase.workers)
    ]
    for proc in procs:
        proc.start()
    results: dict[int, dict[str, Any]] = {}
    try:
        _wait_ready(procs, ready_q, result_q, results)
        monitor = EngineMonitor(target)
        cpu_before, cpu_source = target.cpu_s()
        wall_before = time.monotonic()
        t0.value = time.monotonic_ns()
        start_event.set()
        if progress is not None:
            progress.begin(phase.name, phase.total_ops)
        primary = phase.primary if phase.primary is not None else set(range(phase.workers))
        primary_done_at: float | None = None
        next_tick = time.monotonic()
        while len(results) < phase.workers:
            now = time.monotonic()
            if now >= next_tick:
                monitor.sample((time.monotonic_ns() - t0.value) / 1e9)
                if progress is not None:
                    progress.update(sum(counter.value for counter in counters))
                next_tick = now + INTERVAL_MS / 1000
                _check_alive(procs, results)
            if primary_done_at is None and primary <= results.keys():
                primary_done_at = now
            if not stop.value and (
                (primary_done_at is not None and now - primary_done_at >= phase.grace_s)
                or (phase.timeout_s is not None and now - wall_before >= phase.timeout_s)
            ):
                stop.value = 1
            try:
                item = result_q.get(timeout=max(0.005, min(next_tick - time.monotonic(), 0.1)))
            except queue.Empty:
                continue
            results[item["worker_id"]] = item
        cpu_after, _ = target.cpu_s()
        monitor.close()
        if progress is not None:
            progress.update(sum(counter.value for counter in counters))
    finally:
        stop.value = 1
        start_event.set()
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        if progress is not None:
            progress.end()
    failures = [r["error"] for r in results.values() if "error" in r]
    if failures:
        raise RuntimeError(f"phase {phase.name}: worker failed:\n{failures[0]}")
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return summarize(
        phase, list(results.values()), t0.value, server_cpu, cpu_source, monitor.samples
    )


def summarize(
    phase: Phase,
    results: list[dict[str, Any]],
    t0_ns: int,
    server_cpu_s: float | None,
    cpu_source: str,
    engine_samples: list[dict[str, Any]],
) -> dict[str, Any]:
    """Merge the workers' results into the phase's figures."""
    intervals = stats.merge_intervals(r["intervals"] for r in results)
    end_ns = max(r["end_ns"] for r in results)
    elapsed_s = max((end_ns - t0_ns) / 1e9, 1e-9)
    last_index = int((end_ns - t0_ns) // (INTERVAL_MS * 1_000_000))
    rows = stats.timeline_rows(intervals, INTERVAL_MS, last_index)
    _attach_engine(rows, engine_samples)
    histograms = stats.by_command(intervals)
    commands: dict[str, dict[str, Any]] = {
        name: hist.summary() for name, hist in sorted(histograms.items())
    }
    for name, hist in histograms.items():
        commands[name]["over_ms"] = {
            f"over_{ms}ms": hist.count_above(ms * 1000) for ms in STALL_THRESHOLDS_MS
        }
    ops = sum(row["ops"] for row in rows)
    errors: dict[str, int] = {}
    for r in results:
        for key, n in r["errors"].items():
            errors[key] = errors.get(key, 0) + n
    workers = sorted(results, key=lambda r: r["worker_id"])
    client_cpu = [r["cpu_s"] for r in workers]
    client_busy = [r["cpu_s"] / r["wall_s"] if r["wall_s"] > 0 else 0.0 for r in workers]
    warnings = []
    for r, busy in zip(workers, client_busy, strict=True):
        if busy >= SATURATED_FRACTION:
            warnings.append(
                f"load generator worker {r['worker_id']} used {busy:.0%} of a core: it may be what limits these numbers"
            )
    waits = [
        r["cpu_wait_s"] / r["wall_s"]
        for r in workers
        if r.get("cpu_wait_s") is not None and r["wall_s"] > 0
    ]
    if waits and max(waits) >= CONTENDED_FRACTION:
        warnings.append(
            f"load generator workers waited for a CPU {max(waits):.0%} of the time: the machine is "
            "oversubscribed (other processes, or server + load generator on too few cores)"
        )
    cores = cpu_count()
    machine_busy = ((server_cpu_s or 0.0) + sum(client_cpu)) / (elapsed_s * cores)
    if machine_busy >= SATURATED_FRACTION:
        warnings.append(
            f"the machine's {cores} cores were {machine_busy:.0%} busy with server + load generator: "
            "server and client compete for CPU (figures are for this machine, not the server alone)"
        )
    result: dict[str, Any] = {
        "phase": phase.name,
        "workers": phase.workers,
        **phase.info,
        "elapsed_s": round(elapsed_s, 3),
        "ops": ops,
        "ops_per_s_avg": round(ops / elapsed_s, 1),
        # A phase shorter than the 1 s window has no peak second: its average stands in.
        "ops_per_s_peak": round(
            stats.peak_rate(rows, INTERVAL_MS) if elapsed_s >= 1 else ops / elapsed_s, 1
        ),
        "commands": commands,
        "check": {
            "checked": sum(r["checked"] for r in results),
            "wrong": sum(r["wrong"] for r in results),
            "missing": sum(r["missing"] for r in results),
            "samples": [s for r in results for s in r["wrong_samples"]][:5],
        },
        "errors": errors,
        "server_cpu_s": None if server_cpu_s is None else round(server_cpu_s, 3),
        "server_cpu_source": cpu_source,
        "server_cpu_us_per_request": None
        if server_cpu_s is None or not ops
        else round(server_cpu_s * 1e6 / ops, 2),
        "client_cpu_s": round(sum(client_cpu), 3),
        "client_cpu_per_worker": [round(b, 3) for b in client_busy],
        "client_cpu_wait_fraction": [round(w, 3) for w in waits],
        "machine_cpu_busy": round(machine_busy, 3),
        "warnings": warnings,
        "engine_events": engine_events(engine_samples),
        "timeline": rows,
        "extra": [r["extra"] for r in workers if r["extra"]],
    }
    return result


def _attach_engine(rows: list[dict[str, Any]], samples: list[dict[str, Any]]) -> None:
    """Copy the latest INFO engine sample taken within each interval into its row."""
    if not samples:
        return
    j = 0
    last: dict[str, Any] = {}
    for row in rows:
        end = row["t_s"] + INTERVAL_MS / 1000
        while j < len(samples) and samples[j]["t_s"] < end:
            last = samples[j]
            j += 1
        for name in ENGINE_FIELDS:
            if name in last:
                row[name] = last[name]


def engine_events(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Migration start/end and steps up/down seen between consecutive INFO engine samples."""
    events: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for sample in samples:
        if previous is not None:
            t = sample["t_s"]
            if sample.get("migrating") == 1 and previous.get("migrating") != 1:
                events.append(
                    {"t_s": t, "event": "migration_start", "shards": sample.get("shards")}
                )
            if sample.get("migrating") == 0 and previous.get("migrating") == 1:
                events.append({"t_s": t, "event": "migration_end", "shards": sample.get("shards")})
            for name, event in (("steps_up", "step_up"), ("steps_down", "step_down")):
                if name in sample and name in previous and sample[name] > previous[name]:
                    events.append(
                        {
                            "t_s": t,
                            "event": event,
                            "count": sample[name] - previous[name],
                            "shards": sample.get("shards"),
                        }
                    )
        previous = sample
    return events


class EngineMonitor:
    """Polls `INFO engine` (tandemkv's engine section) and keeps the known fields.

    Servers without that section (redis-server answers an empty reply) or without INFO are
    polled once and then left alone.
    """

    def __init__(self, target: Target) -> None:
        self.samples: list[dict[str, Any]] = []
        self.client: ControlClient | None
        try:
            self.client = target.control()
        except OSError:
            self.client = None

    def sample(self, t_s: float) -> None:
        if self.client is None:
            return
        try:
            info = self.client.info("engine")
        except (OSError, ConnectionError):
            info = None
        fields: dict[str, Any] = {}
        for name, value in (info or {}).items():
            if name in ENGINE_FIELDS:
                try:
                    fields[name] = int(value)
                except ValueError:
                    continue
        if not fields:
            self.close()
            return
        self.samples.append({"t_s": round(t_s, 3), **fields})

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class ProgressUI:
    """A rich progress bar, one task per phase (rich is imported only when this is used)."""

    def __init__(self, title: str) -> None:
        from tandemkv.cli.bench.report import require

        progress_mod = require("rich.progress")
        self.progress = progress_mod.Progress(
            progress_mod.TextColumn("[bold]{task.description}"),
            progress_mod.BarColumn(),
            progress_mod.MofNCompleteColumn(),
            progress_mod.TextColumn("{task.fields[rate]}"),
            progress_mod.TimeElapsedColumn(),
            transient=False,
        )
        self.title = title
        self.task: Any = None
        self._started = 0.0

    def begin(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.progress.start()
        self._started = time.monotonic()
        self.task = self.progress.add_task(f"{self.title} {name}", total=total, rate="")

    def update(self, done: int) -> None:
        rate = done / max(time.monotonic() - self._started, 1e-9)
        self.progress.update(self.task, completed=done, rate=f"{rate:,.0f} ops/s")

    def end(self) -> None:
        """Stop the display, leaving the phase's last line (a new `begin` starts it again)."""
        self.progress.stop()


def _wait_ready(
    procs: list[Any], ready_q: Any, result_q: Any, results: dict[int, dict[str, Any]]
) -> None:
    ready = 0
    deadline = time.monotonic() + READY_TIMEOUT_S
    while ready < len(procs):
        try:
            ready_q.get(timeout=0.1)
            ready += 1
        except queue.Empty:
            try:
                item = result_q.get_nowait()
                raise RuntimeError(
                    f"worker {item['worker_id']} failed before start:\n{item.get('error')}"
                )
            except queue.Empty:
                pass
            _check_alive(procs, results)
            if time.monotonic() > deadline:
                raise TimeoutError("load generator workers did not connect in time") from None


def _check_alive(procs: list[Any], results: dict[int, dict[str, Any]]) -> None:
    for worker_id, proc in enumerate(procs):
        if worker_id not in results and proc.exitcode not in (None, 0):
            raise RuntimeError(
                f"load generator worker {worker_id} died (exit code {proc.exitcode})"
            )


def _worker_main(
    host: str,
    port: int,
    phase: Phase,
    worker_id: int,
    t0: Any,
    start_event: Any,
    ready_q: Any,
    result_q: Any,
    progress: Any,
    stop: Any,
) -> None:
    try:
        with asyncio.Runner(loop_factory=new_loop_factory()) as runner:
            result = runner.run(
                _worker(host, port, phase, worker_id, t0, start_event, ready_q, progress, stop)
            )
    except BaseException:
        result = {"worker_id": worker_id, "error": traceback.format_exc()}
    result_q.put(result)
    result_q.close()
    result_q.join_thread()
    os._exit(0)  # skip inherited atexit handlers of the coordinating process


async def _worker(
    host: str,
    port: int,
    phase: Phase,
    worker_id: int,
    t0: Any,
    start_event: Any,
    ready_q: Any,
    progress: Any,
    stop: Any,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ctx = WorkerContext(worker_id, phase.workers, progress, stop, t0)
    clients = list(phase.make_clients(ctx))
    await asyncio.gather(*(loop.create_connection(lambda c=c: c, host, port) for c in clients))
    await asyncio.gather(*(c.prepare() for c in clients))
    ready_q.put(worker_id)
    await loop.run_in_executor(None, start_event.wait)
    if stop.value:
        return {"worker_id": worker_id, "error": "stopped before start"}
    cpu_before = own_cpu_s()
    delay_before = run_delay_s()
    wall_before = time.monotonic()
    for client in clients:
        client.start()
    pending = {c.finished for c in clients}
    while pending:
        _done, pending = await asyncio.wait(pending, timeout=STOP_POLL_S)
        if stop.value:
            for client in clients:
                if not client.finished.done():
                    client.stop()
    end_ns = time.monotonic_ns()
    wall_s = time.monotonic() - wall_before
    cpu_s = own_cpu_s() - cpu_before
    delay_after = run_delay_s()
    waited_s = None if delay_before is None or delay_after is None else delay_after - delay_before
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    return {
        "worker_id": worker_id,
        "intervals": ctx.recorder.intervals,
        "checked": ctx.checked,
        "wrong": ctx.wrong,
        "missing": ctx.missing,
        "wrong_samples": ctx.wrong_samples,
        "errors": ctx.errors,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "cpu_wait_s": waited_s,
        "end_ns": end_ns,
        "extra": ctx.extra,
    }


def split(total: int, parts: int) -> list[int]:
    """`total` items over `parts` as evenly as possible (the first ones get the remainder)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
