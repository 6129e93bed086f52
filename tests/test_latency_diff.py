"""LATENCY against redis-server 7.0.15: after the same slow command under the same threshold,
LATEST, HISTORY, GRAPH, DOCTOR and RESET give the same replies with the measured times masked
(timestamps and milliseconds differ between the servers); errors and HELP byte for byte."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.resp import RawClient

# A script that runs for several milliseconds on either server (a `command` event: EVAL is not fast).
SLOW_SCRIPT = "local i = 0 while i < 3000000 do i = i + 1 end return i"
_NUMBER = re.compile(rb"\d+")


def _mask(raw: bytes) -> bytes:
    return _NUMBER.sub(b"N", raw)


# A histogram's bucket count depends on how long each call took (two SETs may land in one
# power-of-two bucket on one server and in two on the other): compare around it.
_BUCKETS = re.compile(rb"histogram_usec\r\n[*%]N\r\n(?::N\r\n)*")


def _shape(raw: bytes) -> bytes:
    return _BUCKETS.sub(b"histogram_usec<buckets>", _mask(raw))


@pytest.fixture
def pair(tandem_port: int, redis_port: int) -> Iterator[tuple[RawClient, RawClient]]:
    clients = RawClient(tandem_port), RawClient(redis_port)
    for client in clients:
        client.call("LATENCY", "RESET")
        client.call("CONFIG", "SET", "latency-monitor-threshold", "0")
    yield clients
    for client in clients:
        client.call("CONFIG", "SET", "latency-monitor-threshold", "0")
        client.call("LATENCY", "RESET")
        client.close()


def _both(pair: tuple[RawClient, RawClient], *args: str) -> tuple[bytes, bytes]:
    return pair[0].call(*args), pair[1].call(*args)


@pytest.mark.parametrize("resp", [2, 3])
def test_disabled_monitor_reports_as_redis(pair: tuple[RawClient, RawClient], resp: int) -> None:
    for client in pair:
        client.call("HELLO", str(resp))
    ours, theirs = _both(pair, "LATENCY", "DOCTOR")
    assert ours == theirs
    assert b"Latency monitoring is disabled" in ours
    assert _both(pair, "LATENCY", "LATEST") == (b"*0\r\n", b"*0\r\n")
    assert _both(pair, "LATENCY", "HISTORY", "command") == (b"*0\r\n", b"*0\r\n")
    ours, theirs = _both(pair, "LATENCY", "GRAPH", "command")
    assert ours == theirs == b"-ERR No samples available for event 'command'\r\n"


@pytest.mark.parametrize("resp", [2, 3])
def test_slow_command_is_recorded_as_redis_records_it(pair: tuple[RawClient, RawClient], resp: int) -> None:
    for client in pair:
        client.call("HELLO", str(resp))
        assert client.call("CONFIG", "SET", "latency-monitor-threshold", "1") == b"+OK\r\n"
        # Fast commands under the threshold leave nothing.
        client.call("SET", "k", "v")
        client.call("GET", "k")
        assert client.call("EVAL", SLOW_SCRIPT, "0") == b":3000000\r\n"
    latest = _both(pair, "LATENCY", "LATEST")
    assert _mask(latest[0]) == _mask(latest[1])
    assert b"command" in latest[0] and b"fast-command" not in latest[0]
    history = _both(pair, "LATENCY", "HISTORY", "command")
    assert _mask(history[0]) == _mask(history[1])
    assert history[0].startswith(b"*1\r\n*2\r\n:")
    graph = _both(pair, "LATENCY", "GRAPH", "command")
    assert _mask(graph[0]) == _mask(graph[1])
    doctor = _both(pair, "LATENCY", "DOCTOR")
    assert _mask(doctor[0]) == _mask(doctor[1])
    assert b"1. command: 1 latency spikes" in doctor[0]
    # RESET counts the events it forgot, matching names without regard to case.
    assert _both(pair, "LATENCY", "RESET", "nosuch") == (b":0\r\n", b":0\r\n")
    assert _both(pair, "LATENCY", "RESET", "COMMAND", "command") == (b":1\r\n", b":1\r\n")
    assert _both(pair, "LATENCY", "LATEST") == (b"*0\r\n", b"*0\r\n")
    doctor = _both(pair, "LATENCY", "DOCTOR")
    assert doctor[0] == doctor[1]
    assert b"no latency spike was observed" in doctor[0]


def test_latency_errors_and_help(diff) -> None:
    diff("LATENCY")
    diff("LATENCY", "HELP")
    diff("LATENCY", "NOSUCH")
    diff("LATENCY", "LATEST", "extra")
    diff("LATENCY", "HISTORY")
    diff("LATENCY", "GRAPH")
    diff("LATENCY", "DOCTOR", "x")
    diff("CONFIG", "SET", "latency-monitor-threshold", "-1")
    diff("CONFIG", "SET", "latency-monitor-threshold", "abc")
    diff("CONFIG", "GET", "latency-monitor-threshold")
    diff("COMMAND", "INFO", "LATENCY|LATEST", "LATENCY|RESET", "LATENCY|HELP", "LATENCY|DOCTOR")


def test_histogram_figures_are_redis_hdr_figures() -> None:
    """Counts per whole microsecond read as Redis's hdr_histogram (1 ns .. 1 s, 2 significant
    digits) reads them: the figures redis-server 7.0.15 printed for these same counts."""
    from tandemkv.commands.latency import cumulative_histogram, value_at_percentile

    counts = {0: 18000, 1: 1940, 2: 42, 3: 9, 7: 7, 16: 1, 40: 1}
    assert cumulative_histogram(counts) == [1, 19940, 2, 19982, 4, 19991, 8, 19998, 16, 19999, 66, 20000]
    assert [value_at_percentile(counts, p) for p in (50.0, 99.0, 99.9)] == [1, 1003, 2007]
    assert cumulative_histogram({21102: 1}) == [33816, 1]
    assert value_at_percentile({21102: 1}, 50.0) == 21102591
    # Past 1 s a duration counts as 1 s, in the histogram's last range (DEBUG SLEEP 1.2 there).
    assert cumulative_histogram({1_200_000: 1}) == [1073741, 1]
    assert value_at_percentile({1_200_000: 1}, 50.0) == 1002438655


@pytest.mark.parametrize("resp", [2, 3])
def test_histogram_replies_as_redis(pair: tuple[RawClient, RawClient], resp: int) -> None:
    for client in pair:
        client.call("HELLO", str(resp))
        client.call("CONFIG", "RESETSTAT")
        client.call("SET", "a", "b")
        client.call("SET", "c", "d")
        client.call("CLIENT", "ID")
        client.call("GET", "a")
    # Durations differ between the servers; the shape, names and call counts may not.
    for args in (("SET",), ("set", "get", "blabla"), ("client",), ("client|id",), ("blabla",), ("config|resetstat",)):
        ours, theirs = _both(pair, "LATENCY", "HISTOGRAM", *args)
        assert _shape(ours) == _shape(theirs), args
    ours = pair[0].call("LATENCY", "HISTOGRAM", "set")
    assert b"calls" in ours and b":2\r\n" in ours and b"histogram_usec" in ours
    ours, theirs = _both(pair, "INFO", "latencystats")
    assert sorted(_mask(ours).split(b"\r\n")) == sorted(_mask(theirs).split(b"\r\n"))


def test_latency_tracking_settings(diff) -> None:
    diff("CONFIG", "GET", "latency-tracking")
    diff("CONFIG", "GET", "latency-tracking-info-percentiles")
    diff("CONFIG", "SET", "latency-tracking-info-percentiles", "1.50 20 100")
    diff("CONFIG", "GET", "latency-tracking-info-percentiles")
    diff("CONFIG", "SET", "latency-tracking-info-percentiles", "101")
    diff("CONFIG", "SET", "latency-tracking-info-percentiles", "abc")
    diff("CONFIG", "SET", "latency-tracking-info-percentiles", "")
    diff("CONFIG", "GET", "latency-tracking-info-percentiles")
    diff("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9")
    diff("CONFIG", "SET", "latency-tracking", "no")
    diff("CONFIG", "RESETSTAT")
    diff("SET", "k", "v")
    diff("LATENCY", "HISTOGRAM")
    diff("INFO", "latencystats")
    diff("CONFIG", "SET", "latency-tracking", "yes")
