"""The latency monitor: LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR (Redis 7.0 latency.c).

With `latency-monitor-threshold` at N > 0 milliseconds, every event that took N ms or more is
recorded in its event's time series: one sample per second (the worst of that second), the
last LATENCY_TS_LEN seconds that had one, and the all-time worst. Events recorded here:
`command` and `fast-command` (by the dispatcher, for commands flagged fast or not) and the
server's background slices (`expire-cycle`, `eviction-cycle`), named as Redis names them.

Cost with the monitor off: none on the request path (the dispatcher compares a command's time
with one threshold that covers both the slow log and this monitor, see
Instance.watch_threshold_ns).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tandemkv.commands.table import TABLE, command, container, help_reply
from tandemkv.errors import CommandError
from tandemkv.protocol import Map, Verbatim

if TYPE_CHECKING:
    from tandemkv.commands.session import Instance, Session

LATENCY_TS_LEN = 160  # samples kept per event (Redis's LATENCY_TS_LEN)
GRAPH_COLUMNS = 80
GRAPH_ROWS = 4
_SPARK_FILL = "_o#"


@dataclass(slots=True)
class LatencySeries:
    """One event's samples, (time_s, latency_ms), oldest first, and its all-time worst."""

    samples: list[list[int]] = field(default_factory=list)
    max_ms: int = 0


class LatencyMonitor:
    """The time series of every event seen so far, in the order events first appeared."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: dict[bytes, LatencySeries] = {}

    def add(self, event: bytes, latency_ms: int, now_s: int) -> None:
        """Redis's latencyAddSample: a second keeps only its worst sample."""
        series = self.events.get(event)
        if series is None:
            series = self.events[event] = LatencySeries()
        series.max_ms = max(series.max_ms, latency_ms)
        samples = series.samples
        if samples and samples[-1][0] == now_s:
            samples[-1][1] = max(samples[-1][1], latency_ms)
            return
        samples.append([now_s, latency_ms])
        if len(samples) > LATENCY_TS_LEN:
            del samples[0]

    def reset(self, event: bytes | None) -> int:
        """Forget one event (matched without regard to case, as Redis) or all; how many."""
        if event is None:
            count = len(self.events)
            self.events.clear()
            return count
        wanted = event.lower()
        doomed = [name for name in self.events if name.lower() == wanted]
        for name in doomed:
            del self.events[name]
        return len(doomed)


def record_latency(instance: Instance, event: bytes, elapsed_ns: int) -> None:
    """latencyAddSampleIfNeeded: record `event` when it took the threshold or more."""
    threshold_ms = instance.latency_threshold_ms
    latency_ms = elapsed_ns // 1_000_000
    if threshold_ms and latency_ms >= threshold_ms:
        instance.latency.add(event, latency_ms, int(time.time()))


# ------------------------------------------------- per-command latency histograms
#
# With `latency-tracking yes` (Redis's default) the dispatcher counts each command's duration,
# in whole microseconds as Redis's call() measures it, in the spec's `latency_us` (one dict
# increment). LATENCY HISTOGRAM and INFO latencystats then read those counts the way Redis reads
# its per-command hdr_histogram (1 ns to 1 s, 2 significant digits): a value's bucket is its
# "equivalent range" there, so every figure printed is the one Redis prints for the same counts.

_HIST_MIN_NS, _HIST_MAX_NS = 1, 1_000_000_000
# The histogram's last range (covering 1 s) starts here: a level past it reports that range.
_LAST_RANGE_NS = 255 << 22


def _range_shift(value_ns: int) -> int:
    """log2 of the width of the equivalent range holding `value_ns` (256 sub-buckets)."""
    return max((value_ns | 255).bit_length() - 8, 0)


def _lowest_equivalent(value_ns: int) -> int:
    shift = _range_shift(value_ns)
    return value_ns >> shift << shift


def _highest_equivalent(value_ns: int) -> int:
    return _lowest_equivalent(value_ns) + (1 << _range_shift(value_ns)) - 1


def _recorded(latency_us: dict[int, int]) -> list[tuple[int, int]]:
    """(lowest equivalent value in ns, count) per occupied range, in order: the histogram."""
    ranges: dict[int, int] = {}
    for micros, count in latency_us.items():
        value_ns = min(max(micros * 1000, _HIST_MIN_NS), _HIST_MAX_NS)
        start = _lowest_equivalent(value_ns)
        ranges[start] = ranges.get(start, 0) + count
    return sorted(ranges.items())


def cumulative_histogram(latency_us: dict[int, int]) -> list[int]:
    """fillCommandCDF's pairs, flattened: at each power-of-2 level from 1024 ns, the level's
    highest equivalent value in us and the count up to it, where that count grew."""
    pairs: list[int] = []
    recorded = _recorded(latency_us)
    total = sum(count for _, count in recorded)
    level, cumulative, previous, index = 1024, 0, 0, 0
    while previous < total:
        top = min(_lowest_equivalent(level), _LAST_RANGE_NS)
        while index < len(recorded) and recorded[index][0] <= top:
            cumulative += recorded[index][1]
            index += 1
        if cumulative > previous:
            pairs += [_highest_equivalent(top) // 1000, cumulative]
        previous = cumulative
        level *= 2
    return pairs


def value_at_percentile(latency_us: dict[int, int], percentile: float) -> int:
    """hdr_value_at_percentile: the highest equivalent value (ns) of the value reached."""
    recorded = _recorded(latency_us)
    total = sum(count for _, count in recorded)
    wanted = max(int(min(percentile, 100.0) / 100 * total + 0.5), 1)
    seen = 0
    for start, count in recorded:
        seen += count
        if seen >= wanted:
            return start if percentile == 0.0 else _highest_equivalent(start)
    return 0


# ------------------------------------------------------------------- LATENCY

container("latency", -2, group="server", since="2.8.13", summary="A container for latency diagnostics commands")

_LATENCY_HELP = help_reply(
    "LATENCY",
    (
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
    ),
)

_ADMIN = "admin noscript loading stale"
_TIPS = "nondeterministic_output request_policy:all_nodes response_policy:special"


@command("latest", 2, _ADMIN, group="server", since="2.8.13", container="latency", tips=_TIPS)
def latency_latest(session: Session) -> list[object]:
    """Return the latest latency samples for all events."""
    return [
        [event, series.samples[-1][0], series.samples[-1][1], series.max_ms]
        for event, series in session.instance.latency.events.items()
    ]


@command("history", 3, _ADMIN, group="server", since="2.8.13", container="latency", tips=_TIPS)
def latency_history(session: Session, event: bytes) -> list[object]:
    """Return timestamp-latency samples for the event."""
    series = session.instance.latency.events.get(event)
    return [] if series is None else [list(sample) for sample in series.samples]


@command("reset", -2, _ADMIN, group="server", since="2.8.13", container="latency",
         tips="request_policy:all_nodes response_policy:all_succeeded")
def latency_reset(session: Session, *events: bytes) -> int:
    """Reset latency data for one or more events."""
    monitor = session.instance.latency
    if not events:
        return monitor.reset(None)
    return sum(monitor.reset(event) for event in events)


@command("graph", 3, _ADMIN, group="server", since="2.8.13", container="latency", tips=_TIPS)
def latency_graph(session: Session, event: bytes) -> Verbatim:
    """Return a latency graph for the event."""
    series = session.instance.latency.events.get(event)
    if series is None:
        raise CommandError(f"ERR No samples available for event '{event.decode('latin-1')}'")
    return Verbatim(_graph(event.decode("latin-1"), series, int(time.time())).encode("latin-1"))


@command("doctor", 2, _ADMIN, group="server", since="2.8.13", container="latency", tips=_TIPS)
def latency_doctor(session: Session) -> Verbatim:
    """Return a human readable latency analysis report."""
    return Verbatim(_report(session.instance, int(time.time())).encode("latin-1"))


@command("histogram", -2, _ADMIN, group="server", since="7.0.0", container="latency", tips=_TIPS)
def latency_histogram(session: Session, *names: bytes) -> Map:
    """Return the cumulative distribution of latencies of a subset of commands or all."""
    if not names:
        chosen = [spec for spec in TABLE.every() if spec.latency_us]
    else:
        chosen = []
        for name in names:
            spec = TABLE.find(name)
            if spec is None:
                continue  # an unknown name is skipped, as Redis
            family = [spec, *spec.subcommands.values()]
            chosen += [each for each in family if each.latency_us]
    return Map([
        (spec.full_name.encode(), Map([(b"calls", sum(spec.latency_us.values())),
                                       (b"histogram_usec", Map(_pairs(cumulative_histogram(spec.latency_us))))]))
        for spec in chosen
    ])


def _pairs(flat: list[int]) -> list[tuple[int, int]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


@command("help", 2, "loading stale", group="server", since="2.8.13", container="latency")
def latency_help(session: Session) -> list[object]:
    """Show helpful text about the different subcommands."""
    return _LATENCY_HELP  # type: ignore[return-value]


# --------------------------------------------------------------------- GRAPH


def _age_label(elapsed_s: int) -> str:
    if elapsed_s < 60:
        return f"{elapsed_s}s"
    if elapsed_s < 3600:
        return f"{elapsed_s // 60}m"
    if elapsed_s < 3600 * 24:
        return f"{elapsed_s // 3600}h"
    return f"{elapsed_s // (3600 * 24)}d"


def _graph(event: str, series: LatencySeries, now_s: int) -> str:
    """latencyCommandGenSparkeline: a header, a rule, and the filled sparkline in rows of 80."""
    values = [latency for _, latency in series.samples]
    labels = [_age_label(now_s - time_s) for time_s, _ in series.samples]
    low, high = min(values), max(values)
    out = [f"{event} - high {high} ms, low {low} ms (all time high {series.max_ms} ms)\n", "-" * GRAPH_COLUMNS + "\n"]
    for start in range(0, len(values), GRAPH_COLUMNS):
        if start:
            out.append("\n")
        out.append(_spark_rows(values[start : start + GRAPH_COLUMNS], labels[start : start + GRAPH_COLUMNS], low, high))
    return "".join(out)


def _spark_rows(values: list[int], labels: list[str], low: int, high: int) -> str:
    """sparklineRenderRange with SPARKLINE_FILL: GRAPH_ROWS rows of bars, a blank margin row,
    then the labels written downwards, one character per row."""
    span = (high - low) or 1
    steps = len(_SPARK_FILL) * GRAPH_ROWS
    step_of = [min(max(int((value - low) * steps / span), 0), steps - 1) for value in values]
    rows = []
    for row in range(GRAPH_ROWS):
        line = []
        for step in step_of:
            index = step - (GRAPH_ROWS - row - 1) * len(_SPARK_FILL)
            line.append(_SPARK_FILL[index] if 0 <= index < len(_SPARK_FILL) else "|" if index >= len(_SPARK_FILL) else " ")
        rows.append("".join(line))
    rows.append(" " * len(values))  # label_margin_top
    for depth in range(max(len(label) for label in labels)):
        rows.append("".join(label[depth] if depth < len(label) else " " for label in labels))
    return "".join(row + "\n" for row in rows)


# -------------------------------------------------------------------- DOCTOR

_NOT_ENABLED = (
    "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use "
    '"CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it. If we weren\'t in a deep '
    "space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
)
_NO_SPIKES = (
    "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. "
    "I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
)
_NO_FIX = (
    "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis "
    "community to get some help, providing this report in your help request.\n"
)
_ADVICE = {
    "slowlog_inspect": "- Check your Slow Log to understand what are the commands you are running which are too "
    "slow to execute. Please check https://redis.io/commands/slowlog for more information.\n",
    "scheduler": "- The system is slow to execute Redis code paths not containing system calls. This usually "
    "means the system does not provide Redis CPU time to run for long periods. You should try to:\n"
    "  1) Lower the system load.\n"
    "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"
    '  3) Check if you have a "noisy neighbour" problem.\n'
    "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n"
    "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using "
    "Jemalloc. However this may create fragmentation problems.\n",
    "hz": "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration "
    "parameter to 100 using 'CONFIG SET hz 100'.\n",
    "large_objects": "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking "
    "operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those "
    "objects into multiple smaller objects.\n",
    "mass_eviction": "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects "
    "via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE "
    "command), may create sudden memory pressure forcing the server to block trying to evict keys. \n",
    "disable_thp": "- I detected a non zero amount of anonymous huge pages used by your process. This creates very "
    "serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP "
    "support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it "
    "into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have "
    "already disabled THP, you still need to restart the Redis process to get rid of the huge pages already "
    "created.\n",
}


def _anon_huge_pages_bytes() -> int:
    """AnonHugePages of this process (Redis's THPGetAnonHugePagesSize); 0 if unreadable."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _report(instance: Instance, now_s: int) -> str:
    """createLatencyReport, for the events this server records."""
    monitor = instance.latency
    threshold_ms = instance.latency_threshold_ms
    if not monitor.events and not threshold_ms:
        return _NOT_ENABLED
    out: list[str] = []
    advice: set[str] = set()
    advices = 0
    slowlog_us = instance.config.int("slowlog-log-slower-than")
    for number, (name, series) in enumerate(monitor.events.items(), 1):
        if number == 1:
            out.append("Dave, I have observed latency spikes in this Redis instance. "
                       "You don't mind talking about it, do you Dave?\n\n")
        values = [latency for _, latency in series.samples]
        average = sum(values) // len(values)
        deviation = sum(abs(average - value) for value in values) // len(values)
        period_s = max(now_s - min(time_s for time_s, _ in series.samples), 1)
        event = name.decode("latin-1")
        out.append(
            f"{number}. {event}: {len(values)} latency spikes (average {average}ms, mean deviation "
            f"{deviation}ms, period {period_s / len(values):.2f} sec). Worst all time event {series.max_ms}ms."
        )
        kind = event.lower()
        if kind == "command":
            if slowlog_us < 0:
                advice.add("slowlog_enabled")
                advices += 1
            elif slowlog_us // 1000 > threshold_ms:
                advice.add("slowlog_tuning")
                advices += 1
            advice.update(("slowlog_inspect", "large_objects"))
            advices += 2
        elif kind == "fast-command":
            advice.add("scheduler")
            advices += 1
        elif kind == "expire-cycle":
            advice.update(("hz", "large_objects"))
            advices += 2
        elif kind == "eviction-del":
            advice.add("large_objects")
            advices += 1
        elif kind == "eviction-cycle":
            advice.add("mass_eviction")
            advices += 1
        out.append("\n")
    if _anon_huge_pages_bytes() > 0:
        advice.add("disable_thp")
        advices += 1
    if not monitor.events and not advices:
        out.append(_NO_SPIKES)
    elif not advices:
        out.append(_NO_FIX)
    else:
        out.append("\nI have a few advices for you:\n\n")
        threshold_us = threshold_ms * 1000
        if "slowlog_enabled" in advice:
            out.append(
                "- There are latency issues with potentially slow commands you are using. Try to enable the Slow "
                f"Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the "
                "Slow log is disabled Redis is not able to log slow commands execution for you.\n"
            )
        if "slowlog_tuning" in advice:
            out.append(
                "- Your current Slow Log configuration only logs events that are slower than your configured "
                f"latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.\n"
            )
        for key in ("slowlog_inspect", "scheduler"):
            if key in advice:
                out.append(_ADVICE[key])
        if "hz" in advice and instance.config.int("hz") < 100:
            out.append(_ADVICE["hz"])
        for key in ("large_objects", "mass_eviction", "disable_thp"):
            if key in advice:
                out.append(_ADVICE[key])
    return "".join(out)
