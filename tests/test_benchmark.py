"""tandemkv-benchmark: statistics, the correctness check, and every scenario at tiny size.

The smoke tests run the real command-line entry point against servers started here, with
one worker and a few clients, and check the JSON, CSV and PNG it writes. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import random
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandemkv.cli import benchmark
from tandemkv.cli.bench import stats
from tandemkv.cli.bench.scenarios import SeedOptions, seed
from tandemkv.cli.bench.servers import Target
from tests.conftest import REDIS_SERVER, start_tandem, stop

# ------------------------------------------------------------------ statistics


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    random.Random(3).shuffle(values)
    assert stats.percentile(values, 50) == 50
    assert stats.percentile(values, 99) == 99
    assert stats.percentile(values, 99.9) == 100
    assert stats.percentile(values, 100) == 100
    assert stats.percentile(values, 0) == 1
    assert stats.percentile([7.0], 99) == 7
    assert math.isnan(stats.percentile([], 50))


def test_histogram_exact_below_2048us() -> None:
    hist = stats.Histogram()
    for value in [5, 1, 3, 2, 4, 100, 2047, 0, 9, 6]:
        hist.record(value)
    assert hist.count == 10
    assert hist.percentile(50) == 4
    assert hist.percentile(90) == 100
    assert hist.percentile(100) == 2047
    assert hist.mean() == pytest.approx(2177 / 10)
    assert hist.summary()["max_us"] == 2047


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=300),
    st.sampled_from([0, 1, 50, 90, 99, 99.9, 100]),
)
def test_histogram_percentile_matches_exact_within_precision(values: list[int], pct: float) -> None:
    hist = stats.Histogram()
    for value in values:
        hist.record(value)
    exact = stats.percentile(values, pct)
    assert abs(hist.percentile(pct) - exact) <= exact / 1024 + 1e-9
    assert hist.max_us == max(values)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2**40))
def test_bucket_roundtrip(value: int) -> None:
    bucket = stats.bucket_of(value)
    assert abs(stats.bucket_value(bucket) - value) <= value / 1024
    assert stats.bucket_of(value + 1) >= bucket  # buckets are ordered like the values


def test_histogram_merge_equals_recording_everything() -> None:
    rng = random.Random(5)
    values = [rng.randrange(0, 50_000) for _ in range(2000)]
    whole, left, right = stats.Histogram(), stats.Histogram(), stats.Histogram()
    for i, value in enumerate(values):
        whole.record(value)
        (left if i % 2 else right).record(value)
    merged = stats.Histogram.merged([left, right])
    assert merged.buckets == whole.buckets
    assert (merged.count, merged.sum_us, merged.max_us) == (whole.count, whole.sum_us, whole.max_us)
    for pct in (50, 99, 99.9):
        assert merged.percentile(pct) == whole.percentile(pct)


def test_timeline_bucketing() -> None:
    t0 = 1_000_000_000
    rec = stats.Recorder(t0, interval_ms=100)
    ms = 1_000_000
    rec.record("GET", 100_000, t0 + 5 * ms)  # interval 0, 100 µs
    rec.record("SET", 300_000, t0 + 99 * ms)  # interval 0
    rec.record("GET", 2_000_000, t0 + 100 * ms)  # interval 1 (boundary belongs to the next)
    rec.record("GET", 50_000, t0 + 350 * ms)  # interval 3; interval 2 stays empty
    assert sorted(rec.intervals) == [0, 1, 3]
    assert set(rec.intervals[0]) == {"GET", "SET"}
    rows = stats.timeline_rows(rec.intervals, 100, last_index=4)
    assert [row["t_s"] for row in rows] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert [row["ops"] for row in rows] == [2, 1, 0, 1, 0]
    assert rows[0]["ops_per_s"] == 20
    assert rows[0]["max_us"] == 300 and rows[1]["p99_us"] == 2000
    assert math.isnan(rows[2]["p99_us"])
    merged = stats.merge_intervals([rec.intervals, rec.intervals])
    assert merged[0]["GET"].count == 2 and rec.intervals[0]["GET"].count == 1  # inputs untouched
    assert stats.by_command(merged)["GET"].count == 6


def test_recorder_keeps_every_sample() -> None:
    """No sample is lost: not one filed just before t0 (interval -1), not one recorded before
    the worker knew the phase's start time (it reads t0 at the first record)."""
    t0 = 1_000_000_000
    ms = 1_000_000
    rec = stats.Recorder(t0, interval_ms=100)
    rec.record("deliver", 1_000, t0 - 50 * ms)
    assert rec.intervals[-1]["deliver"].count == 1
    shared_t0 = {"value": 0}
    late = stats.Recorder(None, interval_ms=100, t0_source=lambda: shared_t0["value"])
    shared_t0["value"] = t0  # the coordinator sets t0 before the start signal
    late.record("deliver", 1_000, t0 + 5 * ms)
    late.record("deliver", 1_000, t0 + 150 * ms)
    assert late.t0_ns == t0
    assert {index: slot["deliver"].count for index, slot in late.intervals.items()} == {0: 1, 1: 1}


def test_peak_rate_uses_a_sliding_one_second_window() -> None:
    rows = [{"ops": n} for n in [10] * 10 + [100] * 10 + [10] * 5]
    assert stats.peak_rate(rows, 100) == 1000  # the ten 100-op intervals
    assert stats.peak_rate([{"ops": 5}, {"ops": 5}], 100) == 50
    assert stats.peak_rate([], 100) == 0


# ------------------------------------------------------------------ correctness check


class FakeServer:
    """A tiny RESP server that stores SETs but answers GET of key:7 with a stale value and
    GET of key:8 with nil; anything else but SET/GET is an unknown command."""

    def __init__(self) -> None:
        self.port = 0
        self.data: dict[bytes, bytes] = {}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = self.data
        parser = hiredis.Reader()
        while chunk := await reader.read(65536):
            parser.feed(chunk)
            out = []
            while (request := parser.gets()) is not False:
                name = request[0].upper()
                if name == b"SET":
                    data[request[1]] = request[2]
                    out.append(b"+OK\r\n")
                elif name == b"GET" and request[1] == b"key:7":
                    out.append(b"$5\r\nstale\r\n")
                elif name == b"GET" and request[1] != b"key:8" and request[1] in data:
                    value = data[request[1]]
                    out.append(b"$%d\r\n%b\r\n" % (len(value), value))
                elif name == b"GET":
                    out.append(b"$-1\r\n")
                else:
                    out.append(b"-ERR unknown command\r\n")
            writer.write(b"".join(out))
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def test_stale_and_missing_values_are_counted(fake_server: FakeServer) -> None:
    target = Target("fake", "127.0.0.1", fake_server.port)
    # One client owns every key, so all of a key's SETs and GETs are on one connection.
    run = seed(target, SeedOptions(keys=200, clients=1, workers=1, pipeline=4, mixed_ops=400))
    by_phase = {phase["phase"]: phase for phase in run["phases"]}
    assert by_phase["set"]["check"]["checked"] == 0
    assert by_phase["get"]["check"] == {
        **by_phase["get"]["check"],
        "checked": 200,
        "wrong": 1,
        "missing": 1,
    }
    assert "key:7" in " ".join(by_phase["get"]["check"]["samples"])
    mixed = by_phase["mixed"]
    gets = mixed["commands"]["GET"]["count"]
    assert mixed["check"]["checked"] == gets
    assert run["summary"]["wrong"] >= 1 and run["summary"]["missing"] >= 1
    assert not any(phase["errors"] for phase in run["phases"])


def test_correct_server_passes_the_check(fake_server: FakeServer) -> None:
    """The same fake server: keys other than key:7 and key:8 all check out, none is missed."""
    target = Target("fake", "127.0.0.1", fake_server.port)
    run = seed(target, SeedOptions(keys=7, clients=3, workers=1, mixed_ops=50))
    assert run["summary"]["wrong"] == 0 and run["summary"]["missing"] == 0
    assert run["summary"]["checked"] > 7


# ------------------------------------------------------------------ scenarios, end to end


@pytest.fixture(scope="module")
def bench_server() -> Iterator[int]:
    proc, port = start_tandem()
    yield port
    stop(proc)


TINY = ["--clients", "4", "--workers", "1", "--quiet"]


def _outputs(out: Path, stem: str) -> tuple[dict, list[dict]]:
    run = json.loads((out / f"{stem}.json").read_text())
    with (out / f"{stem}.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    png = (out / f"{stem}.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert rows and rows[0]["scenario"] == run["scenario"]
    return run, rows


def test_seed_scenario(bench_server: int, tmp_path: Path) -> None:
    code = benchmark.main(
        ["seed", "--port", str(bench_server), "--keys", "2000", "--out", str(tmp_path), *TINY]
    )
    assert code == 0
    run, rows = _outputs(tmp_path, f"seed-127.0.0.1_{bench_server}")
    assert [p["phase"] for p in run["phases"]] == ["set", "get", "mixed"]
    assert run["summary"]["wrong"] == 0 and run["summary"]["missing"] == 0
    assert run["phases"][1]["check"]["checked"] == 2000
    assert run["phases"][0]["commands"]["SET"]["count"] == 2000
    assert sum(int(row["ops"]) for row in rows) == 6000
    assert run["phases"][0]["server_cpu_source"] == "/proc"  # pid found through INFO server


def test_growth_scenario_reads_engine_info(bench_server: int, tmp_path: Path) -> None:
    assert (
        benchmark.main(
            ["growth", "--port", str(bench_server), "--keys", "3000", "--out", str(tmp_path), *TINY]
        )
        == 0
    )
    run, rows = _outputs(tmp_path, f"growth-127.0.0.1_{bench_server}")
    assert run["summary"]["set"]["count"] == 3000
    assert set(run["summary"]["stalls"]) == {
        "over_1ms",
        "over_2ms",
        "over_5ms",
        "over_10ms",
        "over_50ms",
        "over_100ms",
    }
    assert any(row["shards"] for row in rows)  # INFO engine polled into the timeline


def test_expiry_scenario(bench_server: int, tmp_path: Path) -> None:
    args = [
        "expiry",
        "--port",
        str(bench_server),
        "--expiring",
        "300",
        "--resident",
        "500",
        "--spread",
        "0.5",
        "--lead",
        "0.3",
        "--grace",
        "5",
    ]
    assert benchmark.main([*args, "--out", str(tmp_path), *TINY]) == 0
    run, _rows = _outputs(tmp_path, f"expiry-127.0.0.1_{bench_server}")
    summary = run["summary"]
    assert summary["received"] == 300 and summary["duplicates"] == 0 and summary["early"] == 0
    assert len(run["lags_ms"]) == 300
    assert summary["lag_ms"]["max"] >= summary["lag_ms"]["p99"] >= summary["lag_ms"]["p50"]


def test_pubsub_scenario(bench_server: int, tmp_path: Path) -> None:
    assert (
        benchmark.main(
            [
                "pubsub",
                "--port",
                str(bench_server),
                "--subscribers",
                "5",
                "--messages",
                "300",
                "--out",
                str(tmp_path),
                *TINY,
            ]
        )
        == 0
    )
    run, _rows = _outputs(tmp_path, f"pubsub-127.0.0.1_{bench_server}")
    assert run["summary"]["delivered"] == 1500
    assert run["summary"]["publish_wrong_receivers"] == 0  # every PUBLISH reached 5 subscribers


def test_queue_scenario_delivers_every_item_exactly_once(bench_server: int, tmp_path: Path) -> None:
    argv = ["queue", "--port", str(bench_server), "--items", "600", "--producers", "3", "--consumers", "4"]
    assert benchmark.main([*argv, "--grace", "0.5", "--out", str(tmp_path), *TINY]) == 0
    run, _rows = _outputs(tmp_path, f"queue-127.0.0.1_{bench_server}")
    assert run["summary"]["delivered"] == 600
    assert run["summary"]["exactly_once"] is True


def test_streams_scenario_delivers_every_entry_exactly_once(bench_server: int, tmp_path: Path) -> None:
    argv = ["streams", "--port", str(bench_server), "--entries", "500", "--producers", "2", "--consumers", "3"]
    assert benchmark.main([*argv, "--grace", "0.5", "--out", str(tmp_path), *TINY]) == 0
    run, _rows = _outputs(tmp_path, f"streams-127.0.0.1_{bench_server}")
    assert run["summary"]["delivered"] == 500
    assert run["summary"]["exactly_once"] is True


def test_leaderboard_scenario(bench_server: int, tmp_path: Path) -> None:
    argv = ["leaderboard", "--port", str(bench_server), "--members", "500", "--ops", "600", "--clients", "3"]
    assert benchmark.main([*argv, "--out", str(tmp_path), *TINY]) == 0
    run, _rows = _outputs(tmp_path, f"leaderboard-127.0.0.1_{bench_server}")
    load, play = run["phases"]
    assert load["ops"] == 500 and load["check"]["wrong"] == 0  # every ZADD added a member
    assert play["ops"] == 600
    assert {"ZINCRBY", "ZREVRANGE", "ZRANK"} <= set(play["commands"])


def test_memory_scenario(tmp_path: Path) -> None:
    """Started by the tool itself (--start), so the pid and RSS are known."""
    assert (
        benchmark.main(
            ["memory", "--start", "tandemkv", "--keys", "2000", "--out", str(tmp_path), *TINY]
        )
        == 0
    )
    run, _rows = _outputs(tmp_path, "memory-tandemkv")
    summary = run["summary"]
    assert summary["keys_added"] == 2000
    assert summary["rss_growth"] is not None
    assert summary["after"]["dbsize"] == 2000


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_compare_seed_interleaves_and_gives_ratios(tmp_path: Path) -> None:
    args = [
        "compare",
        "seed",
        "--targets",
        "tandemkv",
        "redis",
        "--reps",
        "2",
        "--keys",
        "1000",
        "--no-plot",
    ]
    assert benchmark.main([*args, "--out", str(tmp_path), *TINY]) == 0
    result = json.loads((tmp_path / "compare-seed.json").read_text())
    assert [(r["target"], r["rep"]) for r in result["runs"]] == [
        ("tandemkv", 0),
        ("redis", 0),
        ("tandemkv", 1),
        ("redis", 1),
    ]
    rows = {row["figure"]: row for row in result["figures"]}
    ratio = rows["set.ops_per_s_avg"]["tandemkv/redis"]
    assert ratio["min"] <= ratio["median"] <= ratio["max"]
    assert "| set.ops_per_s_avg |" in (tmp_path / "compare-seed.md").read_text()


@pytest.mark.skipif(
    REDIS_SERVER is None or shutil.which("redis-benchmark") is None,
    reason="redis-server/redis-benchmark not installed",
)
def test_compare_with_redis_benchmark(tmp_path: Path) -> None:
    args = [
        "compare",
        "redis-benchmark",
        "--targets",
        "tandemkv",
        "redis",
        "--reps",
        "1",
        "-n",
        "2000",
        "-r",
        "2000",
        "-c",
        "4",
        "-P",
        "1",
        "4",
    ]
    assert benchmark.main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    result = json.loads((tmp_path / "compare-redis-benchmark.json").read_text())
    assert {(r["target"], r["pipeline"], r["test"]) for r in result["runs"]} == {
        (t, p, c) for t in ("tandemkv", "redis") for p in (1, 4) for c in ("SET", "GET")
    }
    assert all(r["server_cpu_us_per_request"] is not None for r in result["runs"])


@pytest.mark.skipif(
    REDIS_SERVER is None or shutil.which("redis-benchmark") is None,
    reason="redis-server/redis-benchmark not installed",
)
def test_redis_benchmark_default_run_completes_every_test(tandem_port: int, redis_port: int) -> None:
    """`redis-benchmark` with no -t: every default test runs to the end on tandemkv, the same
    tests as on redis-server, and none is answered with an error."""

    def tests_run(port: int) -> list[str]:
        out = subprocess.run(
            ["redis-benchmark", "-p", str(port), "-n", "200", "-c", "2", "-r", "100", "-q"],
            capture_output=True, timeout=300, check=True,
        ).stdout.decode().replace("\r", "\n")
        assert "ERR" not in out and "WRONGTYPE" not in out, out
        return [line.split(":")[0] for line in out.splitlines() if "requests per second" in line]

    ours = tests_run(tandem_port)
    assert ours == tests_run(redis_port)
    assert {"PING_INLINE", "SET", "LPUSH", "ZPOPMIN", "LRANGE_600 (first 600 elements)", "MSET (10 keys)"} <= set(ours)
