"""Growth stall benchmark: grow a keyspace from empty to N keys, one SET at a time.

    .venv/bin/python bench/growth.py --keys 10000000            # store, keyspace and dict
    .venv/bin/python bench/growth.py --keys 1000000 --modes dict
    .venv/bin/python bench/growth.py --throughput --keys 1000000 # steady-state GET/SET

Growth modes (each in its own process, so memory and collector state do not leak between them):

- `store`: the embedded Store, `store.set(key, value)` (command table, dispatcher, keyspace:
  what an in-process user pays);
- `keyspace`: `Keyspace.set(key, value)` directly (the engine without the command layer);
- `dict`: `d[key] = value` on one plain dict, the baseline that stalls for each resize.

Every operation is timed with perf_counter_ns (wall) and thread_time_ns (CPU of this thread).
Latencies go into 1 µs histograms (wall and on-CPU); percentiles come from them. On a shared
machine the wall figures include time the OS gave to other processes; the on-CPU figures are
the work this process did. Each operation over 2 ms on CPU is listed with its cause:

- `gc genN`: CPython's cyclic collector ran during the operation (gc.callbacks);
- `step start` / `step end`: a tandem step began (new engine allocated) or finished (old engine
  freed) during the operation;
- `dict resize`: the plain dict, or the key's shard, grew its table during the operation;
- `descheduled`: wall time exceeded CPU time by more than 1 ms: the OS ran another process
  (the machine is shared), not our work;
- `unattributed`: none of the above (allocator, page faults).

`--throughput` fills N keys, then times random GETs and SETs of existing keys through the Store
with the default tandem settings against the same Store with one shard that never steps
(`engine-shard-high-keys` 2^30: a single plain dict), and the same at the Keyspace level.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
from array import array
from typing import Any

HIST_US = 20_000  # histogram resolution: 1 µs up to 20 ms; slower operations are kept exactly
STALL_MS = (1, 2, 5)
VALUE = b"v" * 16


def _resize_points(limit: int) -> set[int]:
    """Sizes at which CPython 3.11 grows a dict's table (insert when len == usable size)."""
    points = set()
    size = 8
    while size <= limit * 2:
        points.add((size << 1) // 3)
        size <<= 1
    return points


def run_growth(mode: str, n: int, high_keys: int, low_keys: int) -> dict[str, Any]:
    from tandemkv.clock import Clock
    from tandemkv.keyspace import Keyspace, Tandem
    from tandemkv.keyspace.engine import shard_hash

    events: list[tuple[int, str]] = []  # (perf_counter_ns, what) of gc and steps
    gc_state: dict[str, int] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            gc_state["start"] = now
        else:
            events.append((now, f"gc gen{info['generation']} {(now - gc_state.get('start', now)) / 1e6:.2f} ms"))

    def on_step(event: str, *args: Any) -> None:
        tandem: Tandem = args[-1]
        label = "step start" if event.startswith("start") else "step end"
        events.append((time.perf_counter_ns(), f"{label} ({tandem.info()['shards']} shards)"))

    store = keyspace = plain = None
    if mode == "store":
        from tandemkv import Store

        store = Store(engine_shard_high_keys=high_keys, engine_shard_low_keys=low_keys, databases=1)
        store.instance.on_step = on_step
        op = store.set
        tandem = store.instance.dbs[0].tandem
    elif mode == "keyspace":
        keyspace = Keyspace(0, Clock(), high_keys=high_keys, low_keys=low_keys, on_step=on_step)
        op = keyspace.set
        tandem = keyspace.tandem
    else:
        plain = {}
        op = plain.__setitem__
        tandem = None
    gc.callbacks.append(on_gc)

    hist = array("q", bytes(8 * HIST_US))
    hist_cpu = array("q", bytes(8 * HIST_US))
    slow: list[tuple[int, int, int, int]] = []  # (index, wall_ns, cpu_ns, end_ns)
    resize_points = _resize_points(max(n, 16))
    perf = time.perf_counter_ns
    cpu = time.thread_time_ns
    value = VALUE
    started = time.perf_counter()
    for i in range(n):
        key = b"key:%d" % i
        c0 = cpu()
        t0 = perf()
        op(key, value)
        t1 = perf()
        c1 = cpu()
        wall = t1 - t0
        us = wall // 1000
        if us < HIST_US:
            hist[us] += 1
        us = (c1 - c0) // 1000
        if us < HIST_US:
            hist_cpu[us] += 1
        if wall > 1_000_000:
            slow.append((i, wall, c1 - c0, t1))
    elapsed = time.perf_counter() - started
    gc.callbacks.remove(on_gc)

    stalls = []
    for index, wall, cpu_ns, end_ns in slow:
        start_ns = end_ns - wall
        causes = [what for at, what in events if start_ns <= at <= end_ns]
        key = b"key:%d" % index
        if plain is not None:
            if index in resize_points:
                causes.append(f"dict resize ({index} keys)")
        else:
            assert tandem is not None
            engine = tandem.engine
            shard_len = len(engine.values[shard_hash(key) & engine.mask])
            if shard_len - 1 in resize_points:
                causes.append(f"shard resize ({shard_len - 1} keys)")
        if wall - cpu_ns > 1_000_000:
            causes.append(f"descheduled ({(wall - cpu_ns) / 1e6:.1f} ms off-CPU)")
        stalls.append({"keys": index, "ms": round(wall / 1e6, 2), "cpu_ms": round(cpu_ns / 1e6, 2),
                       "causes": causes or ["unattributed"]})
    over_hist = sorted(w // 1000 for _, w, _, _ in slow if w // 1000 >= HIST_US)
    over_hist_cpu = sorted(c // 1000 for _, _, c, _ in slow if c // 1000 >= HIST_US)
    result: dict[str, Any] = {
        "mode": mode,
        "keys": n,
        "seconds": round(elapsed, 1),
        "ops_per_s": round(n / elapsed),
        "percentiles_us": _percentiles(hist, over_hist, n),
        "cpu_percentiles_us": _percentiles(hist_cpu, over_hist_cpu, n),
        "stalls": {f">{ms}ms": sum(1 for _, w, _, _ in slow if w > ms * 1_000_000) for ms in STALL_MS},
        "cpu_stalls": {f">{ms}ms": sum(1 for _, _, c, _ in slow if c > ms * 1_000_000) for ms in STALL_MS},
        # On-CPU stalls are ours (or the runtime's); the others the OS scheduler's.
        "stalls_over_2ms": [s for s in stalls if s["cpu_ms"] > 2],
        "descheduled_over_2ms": sum(1 for s in stalls if s["ms"] > 2 and s["cpu_ms"] <= 2),
        "rss_mb": _rss_mb(),
    }
    if tandem is not None:
        result["engine"] = tandem.info()
    return result


def _percentiles(hist: array, over: list[int], n: int) -> dict[str, float]:
    wanted = {"p50": 0.5, "p99": 0.99, "p99.9": 0.999, "p99.99": 0.9999}
    out: dict[str, float] = {}
    targets = sorted((q * n, name) for name, q in wanted.items())
    seen = 0
    t = 0
    for us, count in enumerate(hist):
        seen += count
        while t < len(targets) and seen >= targets[t][0]:
            out[targets[t][1]] = us
            t += 1
    for us in over:
        seen += 1
        while t < len(targets) and seen >= targets[t][0]:
            out[targets[t][1]] = us
            t += 1
    top = max([us for us, c in enumerate(hist) if c] + over)
    out["max"] = top
    return {name: out.get(name, top) for name in [*wanted, "max"]}


def _rss_mb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def run_throughput(n: int, ops: int, rounds: int) -> dict[str, Any]:
    """Steady-state GET/SET ops/s: tandem (default settings) vs one never-stepping shard."""
    from tandemkv import Store
    from tandemkv.clock import Clock
    from tandemkv.keyspace import Keyspace

    keys = [b"key:%d" % i for i in range(n)]
    rng = random.Random(1)
    picks = [keys[rng.randrange(n)] for _ in range(ops)]
    variants: dict[str, dict[str, Any]] = {
        "store tandem": {"store": Store(databases=1)},
        "store one dict": {"store": Store(databases=1, engine_shard_high_keys=1 << 30)},
        "keyspace tandem": {"keyspace": Keyspace(0, Clock())},
        "keyspace one dict": {"keyspace": Keyspace(0, Clock(), high_keys=1 << 30)},
    }
    for variant in variants.values():
        target = variant["store"] if "store" in variant else variant["keyspace"]
        for key in keys:
            target.set(key, VALUE)
        if "store" in variant:
            while variant["store"].tick(100_000):
                pass
        else:
            target.migrate(10_000_000)
    results: dict[str, dict[str, float]] = {name: {"get": 0.0, "set": 0.0} for name in variants}
    for _ in range(rounds):
        for name, variant in variants.items():
            target = variant["store"] if "store" in variant else variant["keyspace"]
            get = target.get if "store" in variant else target.lookup_read
            put = target.set
            t = time.perf_counter()
            for key in picks:
                get(key)
            get_rate = ops / (time.perf_counter() - t)
            t = time.perf_counter()
            for key in picks:
                put(key, VALUE)
            set_rate = ops / (time.perf_counter() - t)
            best = results[name]
            best["get"] = max(best["get"], round(get_rate))
            best["set"] = max(best["set"], round(set_rate))
    shards = {name: (v["store"].instance.dbs[0].tandem if "store" in v else v["keyspace"].tandem).engine.shards
              for name, v in variants.items()}
    ratios = {
        f"{level} {op} tandem/one-dict": round(results[f"{level} tandem"][op] / results[f"{level} one dict"][op], 3)
        for level in ("store", "keyspace")
        for op in ("get", "set")
    }
    return {"keys": n, "ops": ops, "ops_per_s_best_of": rounds, "results": results, "shards": shards, "ratios": ratios}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--modes", default="store,keyspace,dict", help="comma-separated: store,keyspace,dict")
    parser.add_argument("--high-keys", type=int, default=None, help="engine-shard-high-keys (default: config)")
    parser.add_argument("--low-keys", type=int, default=None, help="engine-shard-low-keys (default: config)")
    parser.add_argument("--throughput", action="store_true", help="steady-state GET/SET instead of growth")
    parser.add_argument("--ops", type=int, default=1_000_000, help="operations per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object per mode")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from tandemkv.config import Config

    defaults = Config()
    high = args.high_keys or defaults.int("engine-shard-high-keys")
    low = args.low_keys or defaults.int("engine-shard-low-keys")
    if args.throughput:
        _report(run_throughput(args.keys, args.ops, args.rounds), args.json)
        return 0
    if args.child:
        print(json.dumps(run_growth(args.child, args.keys, high, low)))
        return 0
    for mode in args.modes.split(","):
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child", mode, "--keys", str(args.keys),
             "--high-keys", str(high), "--low-keys", str(low)],
            capture_output=True, text=True, check=False,
        )
        if child.returncode != 0:
            print(f"{mode}: failed\n{child.stderr}", file=sys.stderr)
            return 1
        _report(json.loads(child.stdout), args.json)
    return 0


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result), flush=True)
        return
    if "mode" not in result:
        print(json.dumps(result, indent=2), flush=True)
        return
    p = result["percentiles_us"]
    print(f"== {result['mode']}: {result['keys']:,} keys in {result['seconds']} s "
          f"({result['ops_per_s']:,} ops/s), peak RSS {result['rss_mb']} MB")
    print("   latency µs (wall):   " + "  ".join(f"{name} {value}" for name, value in p.items()))
    print("   latency µs (on-CPU): " + "  ".join(f"{name} {value}" for name, value in result["cpu_percentiles_us"].items()))
    print("   stalls (wall):   " + "  ".join(f"{name} {count}" for name, count in result["stalls"].items()))
    print("   stalls (on-CPU): " + "  ".join(f"{name} {count}" for name, count in result["cpu_stalls"].items()))
    print(f"   wall stalls > 2 ms while descheduled by the OS (machine load, not ours): {result['descheduled_over_2ms']}")
    for stall in result["stalls_over_2ms"]:
        print(f"   stall {stall['ms']} ms (cpu {stall['cpu_ms']} ms) at {stall['keys']:,} keys: {', '.join(stall['causes'])}")
    if "engine" in result:
        e = result["engine"]
        print(f"   engine: {e['shards']} shards, steps up {e['steps_up']}, "
              f"migration total {e['migration_time_ms_total']} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
