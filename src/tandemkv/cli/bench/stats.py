"""Latency statistics: exact percentiles, mergeable histograms, and 100 ms timelines.

A `Histogram` keeps latencies in microseconds with a relative precision of 1/1024 (values
below 2048 µs are exact): cheap to record in the load generator's hot path, cheap to send
between processes, and exact to merge. A `Recorder` keeps one histogram per command per
interval of the timeline; a phase's overall figures are the merge of its intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

SUB_BITS = 11  # values below 2**SUB_BITS µs are kept exactly; above, 10 significant bits
SUB_MASK = (1 << SUB_BITS) - 1


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (unsorted is fine); nan for an empty sequence.

    The p-th percentile is the smallest value such that at least p % of the values are
    less than or equal to it; p = 0 gives the minimum, p = 100 the maximum.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def bucket_of(value_us: int) -> int:
    """The histogram bucket of a latency in whole microseconds (negative counts as 0)."""
    if value_us < (1 << SUB_BITS):
        return max(value_us, 0)
    shift = value_us.bit_length() - SUB_BITS
    return (shift << SUB_BITS) | (value_us >> shift)


def bucket_value(bucket: int) -> float:
    """The value a bucket stands for: exact below 2048 µs, the bucket's midpoint above."""
    shift = bucket >> SUB_BITS
    if shift == 0:
        return float(bucket)
    low = (bucket & SUB_MASK) << shift
    return low + ((1 << shift) - 1) / 2


class Histogram:
    """Latency counts by bucket, with exact count, sum, minimum and maximum."""

    __slots__ = ("buckets", "count", "max_us", "min_us", "sum_us")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.sum_us = 0
        self.min_us = math.inf
        self.max_us = 0

    def record(self, value_us: int) -> None:
        bucket = value_us if value_us < 2048 else bucket_of(value_us)
        buckets = self.buckets
        buckets[bucket] = buckets.get(bucket, 0) + 1
        self.count += 1
        self.sum_us += value_us
        if value_us > self.max_us:
            self.max_us = value_us
        if value_us < self.min_us:
            self.min_us = value_us

    def merge(self, other: Histogram) -> Histogram:
        """Add `other`'s counts into this histogram; returns self."""
        buckets = self.buckets
        for bucket, n in other.buckets.items():
            buckets[bucket] = buckets.get(bucket, 0) + n
        self.count += other.count
        self.sum_us += other.sum_us
        self.max_us = max(self.max_us, other.max_us)
        self.min_us = min(self.min_us, other.min_us)
        return self

    @classmethod
    def merged(cls, parts: Iterable[Histogram]) -> Histogram:
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def mean(self) -> float:
        return self.sum_us / self.count if self.count else math.nan

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile in µs (as `percentile`), nan when empty; p100 is the max."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(pct / 100 * self.count))
        if rank >= self.count:
            return float(self.max_us)
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(bucket_value(bucket), float(self.max_us))
        return float(self.max_us)

    def count_above(self, threshold_us: float) -> int:
        """How many latencies fall in buckets wholly above `threshold_us`."""
        return sum(n for bucket, n in self.buckets.items() if bucket_value(bucket) > threshold_us)

    def summary(self) -> dict[str, float]:
        """count, avg, p50, p99, p99.9 and max (µs) as a plain dict for reports."""
        return {
            "count": self.count,
            "avg_us": round(self.mean(), 1),
            "p50_us": self.percentile(50),
            "p99_us": self.percentile(99),
            "p999_us": self.percentile(99.9),
            "max_us": float(self.max_us) if self.count else math.nan,
        }


class Recorder:
    """Per-interval, per-command latency histograms for one worker of one phase.

    `record(command, latency_ns, now_ns)` files a latency under the interval of its completion
    time, counted from `t0_ns` (time.monotonic_ns of the phase start, the same in every process).
    A worker creates its recorder before the phase starts, when the start time is not known yet:
    it then passes `t0_source`, read at the first record (a subscriber may receive its first
    message before its own worker has seen the start signal).
    """

    __slots__ = ("_current", "_current_index", "_t0_source", "interval_ns", "intervals", "t0_ns")

    def __init__(
        self, t0_ns: int | None, interval_ms: int = 100, t0_source: Callable[[], int] | None = None
    ) -> None:
        self.t0_ns = t0_ns
        self._t0_source = t0_source
        self.interval_ns = interval_ms * 1_000_000
        self.intervals: dict[int, dict[str, Histogram]] = {}
        self._current_index: int | None = None  # no interval cached yet
        self._current: dict[str, Histogram] = {}

    def record(self, command: str, latency_ns: int, now_ns: int) -> None:
        t0_ns = self.t0_ns
        if t0_ns is None:
            assert self._t0_source is not None
            t0_ns = self.t0_ns = self._t0_source()
        index = (now_ns - t0_ns) // self.interval_ns
        if index != self._current_index:
            self._current_index = index
            self._current = self.intervals.setdefault(index, {})
        hist = self._current.get(command)
        if hist is None:
            hist = self._current[command] = Histogram()
        hist.record(latency_ns // 1000)


def merge_intervals(
    parts: Iterable[dict[int, dict[str, Histogram]]],
) -> dict[int, dict[str, Histogram]]:
    """Merge the interval maps of several recorders (one per worker)."""
    total: dict[int, dict[str, Histogram]] = {}
    for intervals in parts:
        for index, by_command in intervals.items():
            slot = total.setdefault(index, {})
            for command, hist in by_command.items():
                if command in slot:
                    slot[command].merge(hist)
                else:
                    slot[command] = Histogram().merge(hist)
    return total


def by_command(intervals: dict[int, dict[str, Histogram]]) -> dict[str, Histogram]:
    """Whole-phase histogram of each command."""
    total: dict[str, Histogram] = {}
    for slot in intervals.values():
        for command, hist in slot.items():
            total.setdefault(command, Histogram()).merge(hist)
    return total


def timeline_rows(
    intervals: dict[int, dict[str, Histogram]], interval_ms: int, last_index: int | None = None
) -> list[dict[str, float]]:
    """One row per interval from 0 to the last (empty intervals included, as zero ops).

    Each row: t_s (interval start), ops, ops_per_s, and p50/p99/p99.9/max latency in µs over
    all commands of that interval (nan when the interval saw no completion).
    """
    if not intervals and last_index is None:
        return []
    end = max(intervals) if intervals else 0
    if last_index is not None:
        end = max(end, last_index)
    rows = []
    for index in range(end + 1):
        hist = Histogram.merged(intervals.get(index, {}).values())
        rows.append(
            {
                "t_s": round(index * interval_ms / 1000, 3),
                "ops": hist.count,
                "ops_per_s": hist.count * 1000 / interval_ms,
                "p50_us": hist.percentile(50),
                "p99_us": hist.percentile(99),
                "p999_us": hist.percentile(99.9),
                "max_us": float(hist.max_us) if hist.count else math.nan,
            }
        )
    return rows


def peak_rate(rows: Sequence[dict[str, float]], interval_ms: int, window_ms: int = 1000) -> float:
    """Highest ops/s over any window of `window_ms` (sliding by one interval)."""
    width = max(1, window_ms // interval_ms)
    counts = [row["ops"] for row in rows]
    if not counts:
        return 0.0
    if len(counts) < width:
        return sum(counts) * 1000 / (len(counts) * interval_ms)
    window = sum(counts[:width])
    best = window
    for i in range(width, len(counts)):
        window += counts[i] - counts[i - width]
        best = max(best, window)
    return best * 1000 / (width * interval_ms)
