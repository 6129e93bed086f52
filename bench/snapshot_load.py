"""A background save under load (issue #16): request latency, stalls and peak RSS, tandemkv and
redis-server side by side.

    python bench/snapshot_load.py [--keys 10000000] [--servers tandemkv,redis] [--rate 4000]

For each server (each on its own port and directory, started here, stopped at the end):
1. the RSS of the empty server is read;
2. KEYS string keys are written (`key:N` -> a 3-byte value, redis-benchmark's default size)
   with pipelined MSET batches; the server is then left to settle (tandemkv finishes its
   background chores) and its RSS read again: dataset = that RSS - the empty server's;
3. a steady load runs: CLIENTS connections share RATE requests a second, half GET and half
   SET on random keys, each request sent at its slot and timed from send to reply; beside them a
   probe connection sends a PING every millisecond and counts replies slower than 5 ms
   (stalls); the load runs WINDOW seconds without a save (the baseline), then BGSAVE is sent
   and the same figures are taken until INFO persistence says the save is over;
4. all along, every 100 ms, the server's RSS is sampled (/proc/PID/status VmRSS) and, for
   redis-server, its fork child's private dirty memory (/proc/CHILD/smaps_rollup): the peak
   is the largest parent RSS + child private dirty seen. redis-server's fork pause
   (INFO stats latest_fork_usec) and copy-on-write size (rdb_last_cow_size) are read after.

Everything runs in this one process (asyncio for the load, a thread for the RSS samples) so
that the client stays light on a 2-core machine. The report is printed and, with --out, written
as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hiredis

from tandemkv.cli.bench.procinfo import process_cpu_s, run_delay_s

ROOT = Path(__file__).resolve().parent.parent
VALUE = b"xxx"  # redis-benchmark's default 3-byte value
MSET_KEYS = 1000  # keys per MSET while filling
FILL_PIPELINE = 8  # MSETs in flight while filling
PROBE_INTERVAL_S = 0.001
STALL_MS = 5.0
SAMPLE_INTERVAL_S = 0.1
PAGE_KB = 4


def encode(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Connection:
    """A minimal RESP connection over asyncio streams, hiredis-parsed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = hiredis.Reader()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def reply(self) -> Any:
        while True:
            reply = self.parser.gets()
            if reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise RuntimeError(f"server error: {reply}")
                return reply
            data = await self.reader.read(1 << 16)
            if not data:
                raise ConnectionError("server closed the connection")
            self.parser.feed(data)

    async def call(self, *args: bytes) -> Any:
        self.writer.write(encode(*args))
        return await self.reply()

    def close(self) -> None:
        self.writer.close()


def info(port: int, section: str) -> dict[str, str]:
    """INFO `section` over a short-lived blocking socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(encode(b"INFO", section.encode()))
        parser = hiredis.Reader()
        while (reply := parser.gets()) is False:
            parser.feed(sock.recv(1 << 16))
    fields: dict[str, str] = {}
    for line in reply.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            name, _, value = line.partition(":")
            fields[name] = value
    return fields


# ------------------------------------------------------------------ memory samples


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found.extend(int(child) for child in listing.read().split())
    except OSError:
        pass
    return found


def private_dirty_kb(pid: int) -> int:
    """A fork child's private dirty memory: the pages copy-on-write gave it."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Private_Dirty:"):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


@dataclass
class MemorySampler:
    """Samples the server (and its fork child) every 100 ms in a thread while `running`."""

    pid: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss kB, child kB)
    running: bool = True

    def run(self) -> None:
        while self.running:
            try:
                parent = rss_kb(self.pid)
            except OSError:
                return
            child = sum(private_dirty_kb(child) for child in children(self.pid))
            self.samples.append((time.monotonic(), parent, child))
            time.sleep(SAMPLE_INTERVAL_S)

    def peak_kb(self, since: float, until: float) -> tuple[int, int, int]:
        """(peak total, parent RSS at it, child private dirty at it) between two instants."""
        window = [s for s in self.samples if since <= s[0] <= until] or self.samples[-1:]
        _t, parent, child = max(window, key=lambda s: s[1] + s[2])
        return parent + child, parent, child


# ------------------------------------------------------------------ load


@dataclass
class Window:
    """Latencies (ms) of one window: load requests and probe PINGs."""

    requests: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    probe_times: list[float] = field(default_factory=list)  # monotonic s each probe was sent
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def worst_probes(self, count: int = 5) -> list[tuple[float, float]]:
        """The slowest probes: (seconds into the window, ms)."""
        worst = sorted(zip(self.probes, self.probe_times, strict=True), reverse=True)[:count]
        return [(round(t - self.started, 2), round(ms, 1)) for ms, t in worst]

    def summary(self) -> dict[str, Any]:
        req = sorted(self.requests)
        probes = sorted(self.probes)

        def pct(values: list[float], p: float) -> float | None:
            return round(values[min(len(values) - 1, int(len(values) * p))], 3) if values else None

        return {
            "requests": len(req),
            "p50_ms": pct(req, 0.50),
            "p99_ms": pct(req, 0.99),
            "p999_ms": pct(req, 0.999),
            "max_ms": round(req[-1], 3) if req else None,
            "probes": len(probes),
            "probe_p99_ms": pct(probes, 0.99),
            "probe_max_ms": round(probes[-1], 3) if probes else None,
            "stalls_over_5ms": sum(1 for v in probes if v > STALL_MS),
            "requests_over_5ms": sum(1 for v in req if v > STALL_MS),
            "worst_probes_at_s_ms": self.worst_probes(),
            "errors": self.errors,
        }


class Load:
    """CLIENTS paced connections (RATE requests a second in all) and one PING probe."""

    def __init__(self, port: int, keys: int, clients: int, rate: int) -> None:
        self.port = port
        self.keys = keys
        self.clients = clients
        self.interval_s = clients / rate
        self.window = Window()
        self.stopping = False

    async def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = await Connection.open(self.port)
        loop = asyncio.get_running_loop()
        slot = loop.time() + rng.random() * self.interval_s
        try:
            while not self.stopping:
                delay = slot - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                key = b"key:%d" % rng.randrange(self.keys)
                command = encode(b"GET", key) if rng.random() < 0.5 else encode(b"SET", key, VALUE)
                started = time.perf_counter()
                conn.writer.write(command)
                try:
                    await conn.reply()
                except RuntimeError:
                    self.window.errors += 1
                self.window.requests.append((time.perf_counter() - started) * 1000)
                slot = max(slot + self.interval_s, loop.time() - self.interval_s)
        finally:
            conn.close()

    async def _probe(self) -> None:
        conn = await Connection.open(self.port)
        try:
            while not self.stopping:
                started = time.perf_counter()
                sent = time.monotonic()
                await conn.call(b"PING")
                window = self.window
                window.probes.append((time.perf_counter() - started) * 1000)
                window.probe_times.append(sent)
                await asyncio.sleep(PROBE_INTERVAL_S)
        finally:
            conn.close()

    def next_window(self) -> Window:
        done, self.window = self.window, Window()
        return done

    async def run(self) -> None:
        await asyncio.gather(self._probe(), *(self._client(i) for i in range(self.clients)))


async def _bgsave_and_wait(port: int) -> dict[str, str]:
    conn = await Connection.open(port)
    try:
        await conn.call(b"BGSAVE")
        while True:
            await asyncio.sleep(0.1)
            fields = _parse(await conn.call(b"INFO", b"persistence"))
            if fields.get("rdb_bgsave_in_progress") == "0":
                return fields
    finally:
        conn.close()


def _parse(text: bytes) -> dict[str, str]:
    return {
        name: value
        for line in text.decode().splitlines()
        if ":" in line and not line.startswith("#")
        for name, _, value in [line.partition(":")]
    }


class ServerClock:
    """The server's CPU seconds and its main thread's run delay (runnable, waiting for a CPU:
    other processes' contention), read at the start and end of a window."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mark()

    def mark(self) -> None:
        self.at = time.monotonic()
        self.cpu_s = process_cpu_s(self.pid) or 0.0
        self.delay_s = run_delay_s(self.pid) or 0.0
        self.own_delay_s = run_delay_s() or 0.0

    def since(self) -> dict[str, float]:
        """Shares of the window's wall time: server CPU, server and client (this process)
        waiting for a CPU. A client that waits inflates every latency it measures then."""
        wall = time.monotonic() - self.at
        cpu = (process_cpu_s(self.pid) or 0.0) - self.cpu_s
        delay = (run_delay_s(self.pid) or 0.0) - self.delay_s
        own_delay = (run_delay_s() or 0.0) - self.own_delay_s
        self.mark()
        return {
            "server_cpu_share": round(cpu / wall, 2),
            "server_run_delay_share": round(delay / wall, 3),
            "client_run_delay_share": round(own_delay / wall, 3),
        }


def _loadavg() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


async def measure_load(port: int, pid: int, keys: int, clients: int, rate: int, window_s: float) -> dict[str, Any]:
    load = Load(port, keys, clients, rate)
    runner = asyncio.ensure_future(load.run())
    await asyncio.sleep(1.0)  # warm-up, not counted
    load.next_window()
    clock = ServerClock(pid)
    base_started = time.monotonic()
    load_before = _loadavg()
    await asyncio.sleep(window_s)
    baseline = load.next_window()
    base_cpu = clock.since()
    base_ended = time.monotonic()
    save_started = time.monotonic()
    persistence = await _bgsave_and_wait(port)
    save_ended = time.monotonic()
    during = load.next_window()
    save_cpu = clock.since()
    load.stopping = True
    await runner
    return {
        "loadavg_before_after": (load_before, _loadavg()),
        "baseline": baseline.summary() | base_cpu,
        "during_save": during.summary() | save_cpu,
        "baseline_span": (base_started, base_ended),
        "save_span": (save_started, save_ended),
        "save_s": round(save_ended - save_started, 2),
        "persistence": {k: persistence.get(k) for k in ("rdb_last_bgsave_status", "rdb_last_cow_size")},
    }


# ------------------------------------------------------------------ servers


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Wait for the server started as `proc` to answer on `port`; refuses a port some other
    process answers on (never fill someone else's server)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} (port {port} taken?)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(encode(b"PING"))
                if sock.recv(64).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        raise TimeoutError(f"no server on port {port}")
    if int(info(port, "server")["process_id"]) != proc.pid:
        raise RuntimeError(f"port {port} is another process's server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(kind: str, port: int, directory: str, extra: list[str], watch_loop: Path | None = None) -> subprocess.Popen[bytes]:
    if kind == "tandemkv":
        server = [shutil.which("tandemkv-server", path=str(Path(sys.executable).parent)) or "tandemkv-server"]
        if watch_loop is not None:
            server = [sys.executable, str(ROOT / "bench" / "loop_watch.py"), str(watch_loop)]
        argv = [*server, "--port", str(port), "--dir", directory, "--save", "", *extra]
    else:
        argv = ["redis-server", "--port", str(port), "--dir", directory, "--save", "", "--appendonly", "no"]
    log = open(os.path.join(directory, "server.log"), "wb")  # noqa: SIM115  (the child keeps it)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    wait_ready(port, proc)
    return proc


def fill(port: int, keys: int) -> float:
    """KEYS keys by pipelined MSETs; returns the seconds taken."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        parser = hiredis.Reader()
        in_flight = 0
        for first in range(0, keys, MSET_KEYS):
            args = [b"MSET"]
            for i in range(first, min(keys, first + MSET_KEYS)):
                args += (b"key:%d" % i, VALUE)
            sock.sendall(encode(*args))
            in_flight += 1
            while in_flight >= FILL_PIPELINE:
                while (reply := parser.gets()) is False:
                    parser.feed(sock.recv(1 << 16))
                if isinstance(reply, hiredis.ReplyError):
                    raise RuntimeError(f"MSET failed: {reply}")
                in_flight -= 1
        while in_flight:
            while parser.gets() is False:
                parser.feed(sock.recv(1 << 16))
            in_flight -= 1
    return time.perf_counter() - started


def settle(kind: str, port: int, keys: int) -> None:
    """Wait until the key count is there and (tandemkv) no background chore is left."""
    for _ in range(600):
        fields = info(port, "keyspace")
        count = int(fields.get("db0", "keys=0").split(",")[0].split("=")[1])
        busy = kind == "tandemkv" and info(port, "engine").get("migrating", "0") != "0"
        if count >= keys and not busy:
            time.sleep(2.0)
            return
        time.sleep(0.5)
    raise TimeoutError("the server did not settle")


def run_server(
    kind: str, port: int, keys: int, clients: int, rate: int, window_s: float, extra: list[str],
    watch_loop: Path | None = None,
) -> dict[str, Any]:
    directory = tempfile.mkdtemp(prefix=f"snapshot-load-{kind}-")
    proc = start(kind, port, directory, extra, watch_loop)
    sampler = MemorySampler(proc.pid)
    thread = threading.Thread(target=sampler.run, daemon=True)
    try:
        time.sleep(0.5)
        empty_kb = rss_kb(proc.pid)
        fill_s = fill(port, keys)
        settle(kind, port, keys)
        filled_kb = rss_kb(proc.pid)
        thread.start()
        result = asyncio.run(measure_load(port, proc.pid, keys, clients, rate, window_s))
        sampler.running = False
        thread.join()
        base_peak = sampler.peak_kb(*result.pop("baseline_span"))
        save_peak, parent_kb, child_kb = sampler.peak_kb(*result.pop("save_span"))
        dataset_kb = filled_kb - empty_kb
        result.update(
            server=kind,
            keys=keys,
            fill_s=round(fill_s, 1),
            empty_rss_mb=round(empty_kb / 1024, 1),
            rss_before_save_mb=round(filled_kb / 1024, 1),
            dataset_mb=round(dataset_kb / 1024, 1),
            baseline_peak_rss_mb=round(base_peak[0] / 1024, 1),
            save_peak_mb=round(save_peak / 1024, 1),
            save_peak_parent_rss_mb=round(parent_kb / 1024, 1),
            save_peak_child_dirty_mb=round(child_kb / 1024, 1),
            # peak growth over the dataset, both measured from the empty server's RSS
            peak_over_dataset=round((save_peak - empty_kb) / dataset_kb, 3),
            peak_over_rss_before=round(save_peak / filled_kb, 3),
            rdb_bytes=os.path.getsize(os.path.join(directory, "dump.rdb")),
        )
        with open(os.path.join(directory, "server.log"), errors="replace") as log:
            result["server_log_warnings"] = [line.strip() for line in log if " # " in line or "GC" in line][-20:]
        if kind == "redis":
            stats = info(port, "stats")
            result["fork_usec"] = int(stats["latest_fork_usec"])
        base, during = result["baseline"], result["during_save"]
        if base["p99_ms"]:
            result["p99_ratio"] = round(during["p99_ms"] / base["p99_ms"], 2)
        return result
    finally:
        sampler.running = False
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--servers", default="tandemkv,redis")
    parser.add_argument("--port", type=int, default=0, help="tandemkv's port (default: a free one; redis-server gets a free one)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=int, default=4000, help="load requests a second, all clients together")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of the baseline window")
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    parser.add_argument("--tandemkv-args", default="", help="more options for tandemkv-server, space-separated")
    parser.add_argument(
        "--watch-loop", type=Path,
        help="run tandemkv under bench/loop_watch.py, its late loop ticks (with stacks) appended to this file",
    )
    args = parser.parse_args()
    results = []
    for kind in args.servers.split(","):
        port = args.port if kind == "tandemkv" and args.port else free_port()
        extra = args.tandemkv_args.split() if kind == "tandemkv" else []
        watch = args.watch_loop if kind == "tandemkv" else None
        result = run_server(kind, port, args.keys, args.clients, args.rate, args.window, extra, watch)
        print(json.dumps(result, indent=1), flush=True)
        results.append(result)
    if args.out:
        args.out.write_text(json.dumps({"argv": sys.argv[1:], "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
