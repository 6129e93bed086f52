"""The scenarios: seed, growth, expiry, pubsub and memory, each against one target.

Every scenario returns a run dict: scenario, target, params, phases (see loadgen.summarize)
and a scenario-specific `summary`. Keys are `key:<i>` (seed, growth, memory, resident keys of
expiry) and `exp:<i>` (expiring keys). Values are `<version>:<i>:` padded with `x` to the value
size, so every GET has one right answer: the last value this tool wrote to that key.

Connections own disjoint keys (connection g of C owns the keys i with i % C == g), so a
connection always knows the last value written to each of its keys, even when SETs and GETs
are mixed and pipelined.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tandemkv.cli.bench import stats
from tandemkv.cli.bench.loadgen import (
    Batch,
    BenchClient,
    Phase,
    Plan,
    ProgressUI,
    RequestClient,
    WorkerContext,
    run_phase,
    split,
)
from tandemkv.cli.bench.procinfo import process_rss_bytes
from tandemkv.cli.bench.resp import encode_command, is_error
from tandemkv.cli.bench.servers import Target

SET_VERSION = 1  # the version written by load phases; mixed phases count up from here
EXPIRED_CHANNEL = b"__keyevent@0__:expired"


# ------------------------------------------------------------------ commands and values


def set_command(key: bytes, value: bytes) -> bytes:
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(key), key, len(value), value)


def get_command(key: bytes) -> bytes:
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(key), key)


class Values:
    """Values of a given size that name their key and version."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pad = b"x" * size

    def __call__(self, version: int, index: int) -> bytes:
        prefix = b"%d:%d:" % (version, index)
        return prefix + self.pad[: self.size - len(prefix)]


def key_of(index: int, prefix: bytes = b"key:") -> bytes:
    return prefix + b"%d" % index


# ------------------------------------------------------------------ plans


class SetPlan(Plan):
    """SET each key owned by connection `conn` of `conns` once, in order."""

    def __init__(
        self,
        conn: int,
        conns: int,
        keys: int,
        values: Values,
        version: int = SET_VERSION,
        prefix: bytes = b"key:",
    ) -> None:
        self.indexes = iter(range(conn, keys, conns))
        self.values = values
        self.version = version
        self.prefix = prefix

    def next_batch(self, size: int) -> Batch:
        batch: Batch = []
        for index in self.indexes:
            batch.append(
                (
                    "SET",
                    set_command(self.prefix + b"%d" % index, self.values(self.version, index)),
                    None,
                )
            )
            if len(batch) == size:
                break
        return batch


class GetPlan(Plan):
    """GET each owned key once and expect the value of `version`."""

    def __init__(
        self, conn: int, conns: int, keys: int, values: Values, version: int = SET_VERSION
    ) -> None:
        self.indexes = iter(range(conn, keys, conns))
        self.values = values
        self.version = version

    def next_batch(self, size: int) -> Batch:
        batch: Batch = []
        for index in self.indexes:
            batch.append(("GET", get_command(b"key:%d" % index), self.values(self.version, index)))
            if len(batch) == size:
                break
        return batch


class MixedPlan(Plan):
    """`ops` random SETs (probability `set_ratio`) and GETs over the owned keys; None = until stopped.

    Keys start at version SET_VERSION; each SET writes the next version of its key, and each
    GET expects the latest version this connection wrote.
    """

    def __init__(
        self,
        conn: int,
        conns: int,
        keys: int,
        values: Values,
        ops: int | None,
        set_ratio: float,
        seed: int,
    ) -> None:
        self.conn = conn
        self.conns = conns
        self.owned = len(range(conn, keys, conns))
        self.values = values
        self.remaining = ops
        self.set_ratio = set_ratio
        self.random = random.Random(seed * 1_000_003 + conn)
        self.versions: dict[int, int] = {}

    def next_batch(self, size: int) -> Batch:
        if self.owned == 0:
            return []
        if self.remaining is not None:
            size = min(size, self.remaining)
            self.remaining -= size
        rand = self.random.random
        owned = self.owned
        batch: Batch = []
        for _ in range(size):
            index = self.conn + int(rand() * owned) * self.conns
            key = b"key:%d" % index
            if rand() < self.set_ratio:
                version = self.versions.get(index, SET_VERSION) + 1
                self.versions[index] = version
                batch.append(("SET", set_command(key, self.values(version, index)), None))
            else:
                batch.append(
                    (
                        "GET",
                        get_command(key),
                        self.values(self.versions.get(index, SET_VERSION), index),
                    )
                )
        return batch


# ------------------------------------------------------------------ common options


@dataclass
class LoadOptions:
    clients: int = 50
    workers: int = 2
    pipeline: int = 1
    value_size: int = 32
    seed: int = 1


def _request_phase(
    name: str,
    opts: LoadOptions,
    total_ops: int,
    plan_for: Callable[[int, int], Plan],
    clients: int | None = None,
    pipeline: int | None = None,
) -> Phase:
    """A phase of `clients` request/response connections spread over the workers."""
    conns = clients if clients is not None else opts.clients
    workers = max(1, min(opts.workers, conns))
    per_worker = split(conns, workers)
    depth = pipeline if pipeline is not None else opts.pipeline

    def make_clients(ctx: WorkerContext) -> list[BenchClient]:
        first = sum(per_worker[: ctx.worker_id])
        return [
            RequestClient(ctx, plan_for(g, conns), depth)
            for g in range(first, first + per_worker[ctx.worker_id])
        ]

    return Phase(
        name, workers, make_clients, total_ops=total_ops, info={"clients": conns, "pipeline": depth}
    )


def flush(target: Target) -> None:
    client = target.control()
    try:
        client.call("FLUSHALL")
    finally:
        client.close()


def _run(
    target: Target,
    scenario: str,
    params: dict[str, Any],
    phases: Sequence[Phase],
    progress: ProgressUI | None,
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "target": target.label,
        "address": target.address,
        "kind": target.kind,
        "params": params,
        "phases": [run_phase(target, phase, progress) for phase in phases],
    }


# ------------------------------------------------------------------ seed


@dataclass
class SeedOptions(LoadOptions):
    keys: int = 1_000_000
    mixed_ops: int | None = None  # default: as many as keys
    set_ratio: float = 0.5


def seed(target: Target, opts: SeedOptions, progress: ProgressUI | None = None) -> dict[str, Any]:
    """The seed's workload: SET N unique keys, GET them all back (checked), then a checked mix."""
    values = Values(opts.value_size)
    n = opts.keys
    mixed_ops = n if opts.mixed_ops is None else opts.mixed_ops
    mixed_split = split(mixed_ops, opts.clients)
    phases = [
        _request_phase("set", opts, n, lambda g, c: SetPlan(g, c, n, values)),
        _request_phase("get", opts, n, lambda g, c: GetPlan(g, c, n, values)),
        _request_phase(
            "mixed",
            opts,
            mixed_ops,
            lambda g, c: MixedPlan(g, c, n, values, mixed_split[g], opts.set_ratio, opts.seed),
        ),
    ]
    run = _run(target, "seed", asdict(opts), phases, progress)
    run["summary"] = {
        "wrong": sum(p["check"]["wrong"] for p in run["phases"]),
        "missing": sum(p["check"]["missing"] for p in run["phases"]),
        "checked": sum(p["check"]["checked"] for p in run["phases"]),
        "errors": sum(sum(p["errors"].values()) for p in run["phases"]),
    }
    return run


# ------------------------------------------------------------------ growth


@dataclass
class GrowthOptions(LoadOptions):
    keys: int = 1_000_000


def growth(
    target: Target, opts: GrowthOptions, progress: ProgressUI | None = None
) -> dict[str, Any]:
    """Grow the keyspace from its current size by N new keys; latency and stalls over time."""
    values = Values(opts.value_size)
    n = opts.keys
    run = _run(
        target,
        "growth",
        asdict(opts),
        [_request_phase("grow", opts, n, lambda g, c: SetPlan(g, c, n, values, prefix=b"grow:"))],
        progress,
    )
    phase = run["phases"][0]
    worst = sorted(
        (row for row in phase["timeline"] if row["ops"]), key=lambda row: -row["max_us"]
    )[:10]
    hist = phase["commands"].get("SET", {})
    run["summary"] = {
        "set": {
            k: hist.get(k) for k in ("count", "avg_us", "p50_us", "p99_us", "p999_us", "max_us")
        },
        "stalls": hist.get("over_ms", {}),
        "empty_intervals": sum(1 for row in phase["timeline"][:-1] if row["ops"] == 0),
        "worst_intervals": worst,
        "engine_events": phase["engine_events"],
    }
    return run


# ------------------------------------------------------------------ expiry


@dataclass
class ExpiryOptions(LoadOptions):
    clients: int = 20  # background GET/SET clients (0 = no background load)
    expiring: int = 100_000
    spread_s: float = 10.0
    resident: int = 1_000_000
    lead_s: float = 1.0  # time between the start and the first deadline
    grace_s: float = 10.0  # how long to wait for late notifications after the last deadline


class ExpiryState:
    """Deadlines of the expiring keys: key i expires at base + lead + i * spread / n (Unix ms)."""

    def __init__(self, n: int, lead_ms: float, spread_ms: float) -> None:
        self.n = n
        self.lead_ms = lead_ms
        self.spread_ms = spread_ms
        self.base_ms = 0.0

    def deadline_ms(self, index: int) -> int:
        return int(self.base_ms + self.lead_ms + index * self.spread_ms / self.n)


class ExpirySetPlan(Plan):
    """SET exp:<i> with PXAT deadlines, in deadline order."""

    def __init__(self, state: ExpiryState, values: Values) -> None:
        self.state = state
        self.values = values
        self.indexes = iter(range(state.n))

    def next_batch(self, size: int) -> Batch:
        batch: Batch = []
        for index in self.indexes:
            deadline = b"%d" % self.state.deadline_ms(index)
            batch.append(
                (
                    "SET PXAT",
                    encode_command(
                        b"SET", b"exp:%d" % index, self.values(1, index), b"PXAT", deadline
                    ),
                    None,
                )
            )
            if len(batch) == size:
                break
        return batch


class Subscriber(BenchClient):
    """SUBSCRIBEs to one channel in `prepare` and hands each message to `on_message`."""

    def __init__(self, ctx: WorkerContext, channel: bytes) -> None:
        super().__init__(ctx)
        self.channel = channel
        self._subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.started = False

    async def prepare(self) -> None:
        assert self.transport is not None
        self.transport.write(encode_command(b"SUBSCRIBE", self.channel))
        await asyncio.wait_for(self._subscribed, 30)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.finish()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                self.on_message(reply[2])
            elif isinstance(reply, list) and reply and reply[0] == b"subscribe":
                self._subscribed.set_result(None)
            elif is_error(reply):
                if not self._subscribed.done():
                    self._subscribed.set_exception(RuntimeError(f"SUBSCRIBE failed: {reply}"))
                self.ctx.count_error("SUBSCRIBE", str(reply))

    def on_message(self, payload: bytes) -> None:
        raise NotImplementedError


class ExpirySubscriber(Subscriber):
    """Receives `expired` events and files each lag (receive time - deadline, ms)."""

    def __init__(self, ctx: WorkerContext, state: ExpiryState) -> None:
        super().__init__(ctx, EXPIRED_CHANNEL)
        self.state = state
        self.seen: set[int] = set()
        self.lags_ms: list[float] = []
        self.duplicates = 0
        self.others = 0
        ctx.extra.update(lags_ms=self.lags_ms, received=0, duplicates=0, other_keys=0)

    def on_message(self, key: bytes) -> None:
        now_ms = time.time_ns() / 1e6
        if not key.startswith(b"exp:"):
            self.ctx.extra["other_keys"] += 1
            return
        index = int(key[4:])
        if index in self.seen:
            self.ctx.extra["duplicates"] += 1
            return
        self.seen.add(index)
        lag_ms = now_ms - self.state.deadline_ms(index)
        self.lags_ms.append(round(lag_ms, 3))
        self.ctx.extra["received"] = len(self.seen)
        self.ctx.recorder.record("expired (lag)", max(0, int(lag_ms * 1e6)), time.monotonic_ns())
        self.ctx.progress.value += 1
        if len(self.seen) == self.state.n:
            self.finish()


def expiry(
    target: Target, opts: ExpiryOptions, progress: ProgressUI | None = None
) -> dict[str, Any]:
    """Notification lag of `expiring` keys with deadlines spread over `spread_s` seconds,
    `resident` other keys, and background GET/SET load from `clients` connections."""
    values = Values(opts.value_size)
    client = target.control()
    try:
        config_reply = client.call("CONFIG", "SET", "notify-keyspace-events", "Ex")
    finally:
        client.close()
    resident = opts.resident
    load = _request_phase(
        "load resident",
        opts,
        resident,
        lambda g, c: SetPlan(g, c, resident, values),
        clients=8,
        pipeline=64,
    )
    state = ExpiryState(opts.expiring, opts.lead_s * 1000, opts.spread_s * 1000)
    background = opts.clients
    load_workers = max(1, opts.workers - 1) if background else 0
    per_worker = split(background, load_workers) if load_workers else []

    def make_clients(ctx: WorkerContext) -> list[BenchClient]:
        if ctx.worker_id == 0:
            subscriber = ExpirySubscriber(ctx, state)
            setter = _ExpirySetter(ctx, ExpirySetPlan(state, values), state)
            return [subscriber, setter]
        w = ctx.worker_id - 1
        first = sum(per_worker[:w])
        return [
            RequestClient(
                ctx, MixedPlan(g, background, resident, values, None, 0.5, opts.seed), opts.pipeline
            )
            for g in range(first, first + per_worker[w])
        ]

    phase = Phase(
        "expiry",
        1 + load_workers,
        make_clients,
        total_ops=opts.expiring,
        primary={0},
        timeout_s=opts.lead_s + opts.spread_s + opts.grace_s + 5,
        info={"clients": background, "pipeline": opts.pipeline},
    )
    phases = [load, phase] if resident else [phase]
    run = _run(target, "expiry", asdict(opts), phases, progress)
    extra = run["phases"][-1]["extra"][0] if run["phases"][-1]["extra"] else {}
    lags = extra.get("lags_ms", [])
    run["summary"] = {
        "config_set_reply": str(config_reply) if is_error(config_reply) else "OK",
        "expected": opts.expiring,
        "received": len(lags),
        "duplicates": extra.get("duplicates", 0),
        "early": sum(1 for lag in lags if lag < 0),
        "lag_ms": _lag_summary(lags),
    }
    for phase_result in run["phases"]:
        for item in phase_result["extra"]:
            item.pop("lags_ms", None)
    run["lags_ms"] = lags
    return run


class _ExpirySetter(RequestClient):
    """Sets the expiring keys, pipelined 100 at a time, with deadlines counted from start."""

    def __init__(self, ctx: WorkerContext, plan: Plan, state: ExpiryState) -> None:
        super().__init__(ctx, plan, 100)
        self.state = state

    def start(self) -> None:
        self.state.base_ms = time.time_ns() / 1e6
        super().start()

    def finish(self) -> None:
        # The subscriber ends the phase; the setter just stops sending.
        if not self.finished.done():
            self.finished.set_result(None)

    def data_received(self, data: bytes) -> None:
        before = self.ctx.progress.value
        super().data_received(data)
        self.ctx.progress.value = before  # progress counts notifications, not SETs


def _lag_summary(lags: list[float]) -> dict[str, float | None]:
    if not lags:
        return {"p50": None, "p99": None, "p999": None, "max": None}
    ordered = sorted(lags)
    return {
        "p50": stats.percentile(ordered, 50),
        "p99": stats.percentile(ordered, 99),
        "p999": stats.percentile(ordered, 99.9),
        "max": ordered[-1],
        "min": ordered[0],
    }


# ------------------------------------------------------------------ pubsub


@dataclass
class PubsubOptions(LoadOptions):
    subscribers: int = 100
    messages: int = 20_000
    message_size: int = 64
    grace_s: float = 5.0


class DeliverySubscriber(Subscriber):
    """Files the delivery latency of each message (payload starts with its send time, ns)."""

    def __init__(self, ctx: WorkerContext, channel: bytes, expected: int) -> None:
        super().__init__(ctx, channel)
        self.expected = expected
        self.received = 0

    def on_message(self, payload: bytes) -> None:
        now = time.monotonic_ns()
        sent = int(payload[: payload.index(b":")])
        self.ctx.recorder.record("deliver", now - sent, now)
        self.received += 1
        if self.received == self.expected:
            self.ctx.progress.value += self.expected
            self.finish()


class PublishPlan(Plan):
    def __init__(self, channel: bytes, messages: int, size: int, receivers: int) -> None:
        self.channel = channel
        self.remaining = messages
        self.pad = b"p" * size
        self.receivers = receivers

    def next_batch(self, size: int) -> Batch:
        size = min(size, self.remaining)
        self.remaining -= size
        batch: Batch = []
        for _ in range(size):
            payload = b"%d:" % time.monotonic_ns()
            payload += self.pad[: len(self.pad) - len(payload)]
            batch.append(
                ("PUBLISH", encode_command(b"PUBLISH", self.channel, payload), self.receivers)
            )  # type: ignore[arg-type]
        return batch


def pubsub(
    target: Target, opts: PubsubOptions, progress: ProgressUI | None = None
) -> dict[str, Any]:
    """1 publisher, S subscribers of one channel: deliveries per second and delivery latency."""
    channel = b"bench:fanout"
    sub_workers = max(1, min(opts.workers, opts.subscribers))
    per_worker = split(opts.subscribers, sub_workers)

    def make_clients(ctx: WorkerContext) -> list[BenchClient]:
        if ctx.worker_id == sub_workers:
            return [
                RequestClient(
                    ctx,
                    PublishPlan(channel, opts.messages, opts.message_size, opts.subscribers),
                    opts.pipeline,
                )
            ]
        return [
            DeliverySubscriber(ctx, channel, opts.messages)
            for _ in range(per_worker[ctx.worker_id])
        ]

    phase = Phase(
        "fan-out",
        sub_workers + 1,
        make_clients,
        total_ops=opts.messages * opts.subscribers,
        primary={sub_workers},
        grace_s=opts.grace_s,
        info={"clients": opts.subscribers + 1, "pipeline": opts.pipeline},
    )
    run = _run(target, "pubsub", asdict(opts), [phase], progress)
    result = run["phases"][0]
    deliver = result["commands"].get("deliver", {})
    publish = result["commands"].get("PUBLISH", {})
    delivered = deliver.get("count", 0)
    run["summary"] = {
        "published": publish.get("count", 0),
        "delivered": delivered,
        "expected_deliveries": opts.messages * opts.subscribers,
        "delivered_per_s": round(delivered / result["elapsed_s"], 1),
        "delivery_p50_us": deliver.get("p50_us"),
        "delivery_p99_us": deliver.get("p99_us"),
        "delivery_max_us": deliver.get("max_us"),
        "publish_wrong_receivers": result["check"]["wrong"],
    }
    return run


# ------------------------------------------------------------------- queue


@dataclass
class QueueOptions(LoadOptions):
    items: int = 200_000
    producers: int = 4
    consumers: int = 4
    pipeline: int = 1
    value_size: int = 64
    grace_s: float = 2.0


class NumberedPlan(Plan):
    """Items numbered first..first+count-1, one command each (`command(payload)`: the command's
    name and encoding); each payload starts "<number>:<send ns>:", padded to `size` bytes."""

    def __init__(self, command: Callable[[bytes], tuple[str, bytes]], first: int, count: int, size: int) -> None:
        self.command = command
        self.next = first
        self.end = first + count
        self.size = size

    def next_batch(self, size: int) -> Batch:
        batch: Batch = []
        while len(batch) < size and self.next < self.end:
            payload = b"%d:%d:" % (self.next, time.monotonic_ns())
            payload += b"p" * max(0, self.size - len(payload))
            name, encoded = self.command(payload)
            batch.append((name, encoded, None))  # type: ignore[arg-type]
            self.next += 1
        return batch


def _count_delivery(ctx: WorkerContext, payload: bytes, now_ns: int) -> None:
    """File one delivered item: its latency, and its number in the worker's count and
    checksums (`_delivery_summary` checks them)."""
    number, sent, _rest = payload.split(b":", 2)
    ctx.recorder.record("deliver", now_ns - int(sent), now_ns)
    extra = ctx.extra
    extra["received"] = extra.get("received", 0) + 1
    extra["sum"] = extra.get("sum", 0) + int(number)
    extra["sum_squares"] = extra.get("sum_squares", 0) + int(number) ** 2
    ctx.progress.value += 1


def _delivery_summary(result: dict[str, Any], n: int) -> dict[str, Any]:
    """Delivered count, rate and latency, and whether items 0..n-1 each came exactly once
    (the count and the sums of the numbers and of their squares all match)."""
    extras = result["extra"]
    received = sum(e.get("received", 0) for e in extras)
    deliver = result["commands"].get("deliver", {})
    return {
        "delivered": received,
        "exactly_once": received == n
        and sum(e.get("sum", 0) for e in extras) == n * (n - 1) // 2
        and sum(e.get("sum_squares", 0) for e in extras) == (n - 1) * n * (2 * n - 1) // 6,
        "delivered_per_s": round(received / result["elapsed_s"], 1),
        "delivery_p50_us": deliver.get("p50_us"),
        "delivery_p99_us": deliver.get("p99_us"),
        "delivery_max_us": deliver.get("max_us"),
    }


def _producers_consumers_phase(
    name: str,
    opts: LoadOptions,
    producers: int,
    consumers: int,
    items: int,
    produce: Callable[[bytes], tuple[str, bytes]],
    consumer: Callable[[WorkerContext, int], BenchClient],
    size: int,
    grace_s: float,
) -> Phase:
    """Producer connections (NumberedPlan over `items`, split between them) on the first
    workers, consumer connections (`consumer(ctx, index)`) on the others; the phase ends a
    grace period after the producers are done."""
    producer_workers = max(1, min(opts.workers, producers))
    consumer_workers = max(1, min(opts.workers, consumers))
    producers_of = split(producers, producer_workers)
    consumers_of = split(consumers, consumer_workers)
    items_of = split(items, producers)
    firsts = [sum(items_of[:i]) for i in range(producers)]

    def make_clients(ctx: WorkerContext) -> list[BenchClient]:
        if ctx.worker_id < producer_workers:
            start = sum(producers_of[: ctx.worker_id])
            return [
                RequestClient(ctx, NumberedPlan(produce, firsts[p], items_of[p], size), opts.pipeline)
                for p in range(start, start + producers_of[ctx.worker_id])
            ]
        index = ctx.worker_id - producer_workers
        first = sum(consumers_of[:index])
        return [consumer(ctx, first + c) for c in range(consumers_of[index])]

    return Phase(
        name,
        producer_workers + consumer_workers,
        make_clients,
        total_ops=2 * items,
        primary=set(range(producer_workers)),
        grace_s=grace_s,
        info={"clients": producers + consumers, "pipeline": opts.pipeline},
    )


class Consumer(BenchClient):
    """BRPOP in a loop; files each item's delivery latency and a checksum of the numbers
    received, so the coordinator can tell that every item arrived exactly once."""

    TIMEOUT = b"0.2"

    def __init__(self, ctx: WorkerContext, queue: bytes) -> None:
        super().__init__(ctx)
        self.queue = queue

    def start(self) -> None:
        self._ask()

    def stop(self) -> None:
        self.stopping = True  # ends at the next empty BRPOP

    def _ask(self) -> None:
        assert self.transport is not None
        self.transport.write(encode_command(b"BRPOP", self.queue, self.TIMEOUT))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if is_error(reply):
                self.ctx.count_error("BRPOP", str(reply))
                self.finish()
                return
            if reply is None:
                if self.stopping:
                    self.finish()
                    return
            else:
                _count_delivery(self.ctx, reply[1], time.monotonic_ns())
            self._ask()


def queue(target: Target, opts: QueueOptions, progress: ProgressUI | None = None) -> dict[str, Any]:
    """P producers LPUSH, C consumers BRPOP one list: items delivered per second, delivery
    latency, and a check that every item was delivered exactly once."""
    name = b"bench:queue"
    phase = _producers_consumers_phase(
        "queue", opts, opts.producers, opts.consumers, opts.items,
        lambda payload: ("LPUSH", encode_command(b"LPUSH", name, payload)),
        lambda ctx, index: Consumer(ctx, name),
        opts.value_size, opts.grace_s,
    )
    run = _run(target, "queue", asdict(opts), [phase], progress)
    run["summary"] = {"items": opts.items, **_delivery_summary(run["phases"][0], opts.items)}
    return run


# ------------------------------------------------------------------ streams


@dataclass
class StreamOptions(LoadOptions):
    entries: int = 100_000
    producers: int = 4
    consumers: int = 4
    batch: int = 16  # XREADGROUP COUNT
    value_size: int = 64
    grace_s: float = 2.0


class GroupConsumer(BenchClient):
    """XREADGROUP ... BLOCK in a loop, XACK of every batch read; files each entry's delivery
    latency and a checksum of the numbers received (exactly-once check, as `Consumer`)."""

    def __init__(self, ctx: WorkerContext, stream: bytes, name: bytes, batch: int) -> None:
        super().__init__(ctx)
        self.stream = stream
        self.read = encode_command(b"XREADGROUP", b"GROUP", b"bench", name, b"COUNT", b"%d" % batch,
                                   b"BLOCK", b"200", b"STREAMS", stream, b">")
        self.acking = False

    def start(self) -> None:
        self._ask()

    def stop(self) -> None:
        self.stopping = True  # ends at the next empty read

    def _ask(self) -> None:
        assert self.transport is not None
        self.acking = False
        self.transport.write(self.read)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if is_error(reply):
                self.ctx.count_error("XREADGROUP", str(reply))
                self.finish()
                return
            if self.acking:  # the XACK's count
                self._ask()
                continue
            if not reply:  # timed out: nothing new
                if self.stopping:
                    self.finish()
                    return
                self._ask()
                continue
            now = time.monotonic_ns()
            ids = []
            for entry_id, fields in reply[0][1]:
                _count_delivery(self.ctx, fields[1], now)
                ids.append(entry_id)
            assert self.transport is not None
            self.acking = True
            self.transport.write(encode_command(b"XACK", self.stream, b"bench", *ids))


def streams(target: Target, opts: StreamOptions, progress: ProgressUI | None = None) -> dict[str, Any]:
    """P producers XADD to one stream, C consumers of one group XREADGROUP and XACK: entries
    per second, delivery latency, server CPU per entry, and an exactly-once check."""
    name = b"bench:stream"
    control = target.control()
    try:
        control.call("XGROUP", "CREATE", name, "bench", "$", "MKSTREAM")
    finally:
        control.close()
    phase = _producers_consumers_phase(
        "streams", opts, opts.producers, opts.consumers, opts.entries,
        lambda payload: ("XADD", encode_command(b"XADD", name, b"*", b"v", payload)),
        lambda ctx, index: GroupConsumer(ctx, name, b"c%d" % index, opts.batch),
        opts.value_size, opts.grace_s,
    )
    run = _run(target, "streams", asdict(opts), [phase], progress)
    result = run["phases"][0]
    cpu_us = result.get("server_cpu_us_per_request")
    run["summary"] = {
        "entries": opts.entries,
        **_delivery_summary(result, opts.entries),
        "server_cpu_us_per_entry": None if cpu_us is None else round(cpu_us * result["ops"] / max(opts.entries, 1), 2),
    }
    return run


# --------------------------------------------------------------- leaderboard


@dataclass
class LeaderboardOptions(LoadOptions):
    members: int = 1_000_000
    ops: int = 200_000
    incr_ratio: float = 0.6  # the rest split evenly between top-10 reads and rank lookups
    load_pipeline: int = 64


class ZaddPlan(Plan):
    """ZADD members conn, conn+conns, ... of the board, one per command, score = member number."""

    def __init__(self, board: bytes, conn: int, conns: int, members: int) -> None:
        self.board = board
        self.next = conn
        self.step = conns
        self.members = members

    def next_batch(self, size: int) -> Batch:
        batch: Batch = []
        while len(batch) < size and self.next < self.members:
            member = b"player:%d" % self.next
            batch.append(("ZADD", encode_command(b"ZADD", self.board, b"%d" % self.next, member), 1))  # type: ignore[arg-type]
            self.next += self.step
        return batch


class LeaderboardPlan(Plan):
    """`ops` random ZINCRBY (probability `incr_ratio`), ZREVRANGE 0 9 WITHSCORES and ZRANK."""

    def __init__(self, board: bytes, members: int, ops: int, incr_ratio: float, seed: int) -> None:
        self.board = board
        self.members = members
        self.remaining = ops
        self.incr_ratio = incr_ratio
        self.random = random.Random(seed)

    def next_batch(self, size: int) -> Batch:
        size = min(size, self.remaining)
        self.remaining -= size
        rand = self.random.random
        batch: Batch = []
        for _ in range(size):
            member = b"player:%d" % int(rand() * self.members)
            roll = rand()
            if roll < self.incr_ratio:
                batch.append(("ZINCRBY", encode_command(b"ZINCRBY", self.board, b"%d" % int(rand() * 100), member), None))
            elif roll < self.incr_ratio + (1 - self.incr_ratio) / 2:
                batch.append(("ZREVRANGE", encode_command(b"ZREVRANGE", self.board, b"0", b"9", b"WITHSCORES"), None))
            else:
                batch.append(("ZRANK", encode_command(b"ZRANK", self.board, member), None))
        return batch  # type: ignore[return-value]


def leaderboard(target: Target, opts: LeaderboardOptions, progress: ProgressUI | None = None) -> dict[str, Any]:
    """One sorted set of M members: ZADD them all, then C clients run ZINCRBY, ZREVRANGE
    0 9 WITHSCORES and ZRANK on random members; per-command latency and server CPU."""
    board = b"bench:leaderboard"
    load = _request_phase(
        "load",
        opts,
        opts.members,
        lambda conn, conns: ZaddPlan(board, conn, conns, opts.members),
        clients=min(opts.clients, 8),
        pipeline=opts.load_pipeline,
    )
    per_client = split(opts.ops, opts.clients)
    play = _request_phase(
        "play",
        opts,
        opts.ops,
        lambda conn, conns: LeaderboardPlan(board, opts.members, per_client[conn], opts.incr_ratio, opts.seed * 7919 + conn),
    )
    run = _run(target, "leaderboard", asdict(opts), [load, play], progress)
    result = run["phases"][1]
    commands = result["commands"]
    run["summary"] = {
        "members": opts.members,
        "ops_per_s": round(result["ops"] / result["elapsed_s"], 1) if result.get("elapsed_s") else None,
        **{f"{name.lower()}_p50_us": commands.get(name, {}).get("p50_us") for name in ("ZINCRBY", "ZREVRANGE", "ZRANK")},
        **{f"{name.lower()}_p99_us": commands.get(name, {}).get("p99_us") for name in ("ZINCRBY", "ZREVRANGE", "ZRANK")},
        "server_cpu_us_per_request": result.get("server_cpu_us_per_request"),
    }
    return run


# ------------------------------------------------------------------ memory


@dataclass
class MemoryOptions(LoadOptions):
    keys: int = 1_000_000
    pipeline: int = 16
    clients: int = 8


def _memory_snapshot(target: Target) -> dict[str, int | None]:
    client = target.control()
    try:
        info = client.info("memory") or {}
        dbsize = client.call("DBSIZE")
    finally:
        client.close()
    used = info.get("used_memory", "")
    return {
        "used_memory": int(used) if used.isdigit() else None,
        "rss_bytes": process_rss_bytes(target.pid) if target.pid is not None else None,
        "dbsize": dbsize if isinstance(dbsize, int) else None,
    }


def memory(
    target: Target, opts: MemoryOptions, progress: ProgressUI | None = None
) -> dict[str, Any]:
    """Load K keys; compare the growth of INFO used_memory with the growth of the process RSS."""
    values = Values(opts.value_size)
    n = opts.keys
    before = _memory_snapshot(target)
    run = _run(
        target,
        "memory",
        asdict(opts),
        [_request_phase("load", opts, n, lambda g, c: SetPlan(g, c, n, values, prefix=b"mem:"))],
        progress,
    )
    after = _memory_snapshot(target)

    def delta(name: str) -> int | None:
        a, b = after[name], before[name]
        return None if a is None or b is None else a - b

    used, rss, keys = delta("used_memory"), delta("rss_bytes"), delta("dbsize") or n
    run["summary"] = {
        "before": before,
        "after": after,
        "keys_added": keys,
        "used_memory_growth": used,
        "rss_growth": rss,
        "used_memory_per_key": None if used is None else round(used / keys, 1),
        "rss_per_key": None if rss is None else round(rss / keys, 1),
        "used_over_rss": None if used is None or not rss else round(used / rss, 3),
    }
    return run


SCENARIOS: dict[str, tuple[type[LoadOptions], Callable[..., dict[str, Any]]]] = {
    "seed": (SeedOptions, seed),
    "growth": (GrowthOptions, growth),
    "expiry": (ExpiryOptions, expiry),
    "pubsub": (PubsubOptions, pubsub),
    "memory": (MemoryOptions, memory),
    "queue": (QueueOptions, queue),
    "leaderboard": (LeaderboardOptions, leaderboard),
    "streams": (StreamOptions, streams),
}
