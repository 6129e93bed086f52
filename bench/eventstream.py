"""Reliable expiry events: the keyspace-event stream against pub/sub, with a consumer that
goes away (not part of the test suite; figures in bench/README.md).

N keys (default 100,000) get PXAT deadlines spread over T seconds (default 10); one in ten is
deleted, persisted or overwritten right after it is set (no `expired` may come for those).
Meanwhile:

- a pub/sub subscriber of `__keyevent@0__:expired` stays connected throughout;
- a consumer of the group `bench` on the event stream (XREADGROUP COUNT 100 BLOCK 100, XACK
  after each batch) disconnects in the middle of the expiry window, without acknowledging its
  last batch (a crash), stays away `--away` seconds (default 3), then restarts: XAUTOCLAIM of
  what is pending, then XREADGROUP `>` until every deadline has passed and nothing is left.

Checked: every key that expired is delivered to the consumer at least once (duplicates
counted), none of the spared keys; the subscriber's count. Reported: the lag from deadline to
XADD (the entry ID's milliseconds: the server's clock when it appended), the subscriber's lag
from deadline to receipt, and the consumer's from deadline to receipt for the events whose
deadline fell before it left; p50 / p99 / max in ms (whole ms: IDs have ms resolution).

    .venv/bin/python bench/eventstream.py                  # starts its own tandemkv-server
    .venv/bin/python bench/eventstream.py --port 6379      # a server you started with
                                                           # --keyspace-events-stream events
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection

import redis

STREAM = "events"
GROUP = "bench"
# Entries per XREADGROUP / XAUTOCLAIM (and IDs per XACK). A catch-up batch is one command the
# loop runs whole: at 500, XACK took ~16 ms and XREADGROUP ~9 ms here, and expiry waited.
BATCH = 100


def _now_ms() -> int:
    return int(time.time() * 1000)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "p50 - p99 - max -"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"p50 {at(0.50):.1f}  p99 {at(0.99):.1f}  max {ordered[-1]:.1f}"


def _subscriber(port: int, expected: int, stop_ms: int, out: Connection) -> None:
    """Receipt time of each `expired` notification, by key."""
    client = redis.Redis(port=port)
    pubsub = client.pubsub()
    pubsub.subscribe("__keyevent@0__:expired")
    received: dict[bytes, int] = {}
    out.send("ready")
    while len(received) < expected and _now_ms() < stop_ms:
        message = pubsub.get_message(timeout=0.1)
        if message is not None and message["type"] == "message":
            received.setdefault(message["data"], _now_ms())
    out.send(received)


def _consume(port: int, until_ms: int, received: dict[bytes, int], *, crash: bool, expected: int) -> tuple[int, int]:
    """Read the group until `until_ms` (or everything expected arrived); returns (entries
    read, duplicates). With `crash`, the last batch is left unacknowledged."""
    client = redis.Redis(port=port)
    read = duplicates = 0
    start = "0-0"
    while True:  # a restart first takes back what it left pending
        start, entries, _deleted = client.xautoclaim(STREAM, GROUP, "c1", 0, start, count=BATCH)
        now_ms = _now_ms()
        for _entry_id, fields in entries:
            read += 1
            duplicates += fields[b"key"] in received
            received.setdefault(fields[b"key"], now_ms)
        if entries:
            client.xack(STREAM, GROUP, *(entry_id for entry_id, _f in entries))
        if start in (b"0-0", "0-0"):
            break
    while _now_ms() < until_ms and len(received) < expected:
        reply = client.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=BATCH, block=100)
        for _stream, entries in reply:
            now_ms = _now_ms()
            for _entry_id, fields in entries:
                read += 1
                duplicates += fields[b"key"] in received
                received.setdefault(fields[b"key"], now_ms)
            if crash and _now_ms() >= until_ms - 150:
                client.close()  # gone without acknowledging this batch
                return read, duplicates
            client.xack(STREAM, GROUP, *(entry_id for entry_id, _f in entries))
    client.close()
    return read, duplicates


def _consumer(port: int, leave_ms: int, back_ms: int, stop_ms: int, expected: int, out: Connection) -> None:
    received: dict[bytes, int] = {}
    out.send("ready")
    first = _consume(port, leave_ms, received, crash=True, expected=expected)
    time.sleep(max(0.0, (back_ms - _now_ms()) / 1000))
    second = _consume(port, stop_ms, received, crash=False, expected=expected)
    out.send((received, first[0] + second[0], first[1] + second[1]))


def _start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), "--dir", tempfile.mkdtemp()],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.02)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, help="a running server (default: start one)")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="deadlines spread over this")
    parser.add_argument("--away", type=float, default=3.0, help="seconds the consumer is away")
    parser.add_argument("--without-stream", action="store_true", help="pub/sub only: the stream's cost")
    parser.add_argument("--append-cost", action="store_true", help="only the append's CPU, embedded (no server)")
    args = parser.parse_args()
    if args.append_cost:
        append_cost(args.keys)
        return
    proc = None
    port = args.port
    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = _start_server(port)
    try:
        run(port, args.keys, args.seconds, args.away, not args.without_stream)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()


def append_cost(keys: int) -> None:
    """CPU per expired key of the expiry itself, embedded (Store, manual clock): without the
    stream, with it, and with values; best of 3."""
    from tandemkv import Store
    from tandemkv.clock import ManualClock

    variants: list[tuple[str, dict[str, object]]] = [
        ("off", {}),
        ("stream", {"keyspace_events_stream": STREAM}),
        ("stream+values", {"keyspace_events_stream": STREAM, "keyspace_events_stream_values": True}),
    ]
    for label, settings in variants:
        best_s = float("inf")
        for _ in range(3):
            clock = ManualClock(1_000_000)
            store = Store(clock=clock, **settings)
            for i in range(keys):
                store.execute("SET", f"k{i}", "v", "PX", 100)
            clock.advance_ms(200)
            started = time.process_time()
            while store.tick(budget_us=10**9):
                pass
            best_s = min(best_s, time.process_time() - started)
        print(f"{label}: {best_s * 1e6 / keys:.2f} us per expired key (Store.tick, best of 3)")


def _cpu_s(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def run(port: int, keys: int, seconds: float, away: float, with_stream: bool) -> None:
    client = redis.Redis(port=port)
    client.flushall()
    client.config_set("notify-keyspace-events", "xE")
    client.config_set("keyspace-events-stream", STREAM if with_stream else "")
    client.config_set("keyspace-events-stream-flags", "x")
    client.config_set("keyspace-events-stream-maxlen", 0)
    client.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    # Setting the keys takes a while: deadlines start once they are all set.
    setup_ms = max(2000, keys // 20)
    first_ms = _now_ms() + setup_ms
    span_ms = int(seconds * 1000)
    deadlines = {f"k:{i}".encode(): first_ms + i * span_ms // keys for i in range(keys)}
    middle_ms = first_ms + span_ms // 2
    leave_ms, back_ms = middle_ms - int(away * 500), middle_ms + int(away * 500)
    stop_ms = first_ms + span_ms + 30_000
    sub_pipe, sub_end = multiprocessing.Pipe()
    con_pipe, con_end = multiprocessing.Pipe()
    expected = keys - len(range(0, keys, 10))
    subscriber = multiprocessing.Process(target=_subscriber, args=(port, expected, stop_ms, sub_end))
    consumer = multiprocessing.Process(target=_consumer, args=(port, leave_ms, back_ms, stop_ms, expected, con_end))
    subscriber.start()
    assert sub_pipe.recv() == "ready"
    if with_stream:
        consumer.start()
        assert con_pipe.recv() == "ready"
    spared: set[bytes] = set()
    pipe = client.pipeline(transaction=False)
    for n, (key, deadline_ms) in enumerate(deadlines.items()):
        pipe.set(key, b"v", pxat=deadline_ms)
        if n % 10 == 0:  # deleted, persisted or overwritten before its deadline
            spared.add(key)
            (pipe.delete, pipe.persist, lambda k: pipe.set(k, b"new"))[n // 10 % 3](key)
        if n % 1000 == 999:
            pipe.execute()
    pipe.execute()
    if _now_ms() >= first_ms:
        print(f"warning: setting the keys overran the first deadline by {_now_ms() - first_ms} ms")
    cpu_s = _cpu_s(client)  # from here: expiry, notifications and the stream's readers
    received_sub = sub_pipe.recv()
    subscriber.join()
    cpu_s = _cpu_s(client) - cpu_s
    if with_stream:
        received, read, duplicates = con_pipe.recv()
        consumer.join()
    else:
        received, read, duplicates = {key: 0 for key in received_sub}, 0, 0
    expired = {key for key in deadlines if key not in spared}
    add_lags = []
    for entry_id, fields in client.xrange(STREAM):
        add_lags.append(int(entry_id.split(b"-")[0]) - deadlines[fields[b"key"]])
    info = client.info("stats")
    pid = client.info("server")["process_id"]
    client.close()
    before_leaving = [received[k] - deadlines[k] for k in expired & set(received) if deadlines[k] < leave_ms - 200]
    print(f"tandemkv pid {pid}: {keys} keys over {seconds:g} s, {len(spared)} deleted/persisted/overwritten first, "
          f"consumer away {away:g} s")
    print(f"server CPU from the first deadline to the last notification: {cpu_s:.2f} s "
          f"({cpu_s * 1e6 / max(1, len(received_sub)):.1f} us per expired key)")
    if not with_stream:
        print(f"subscriber: {len(received_sub)}/{len(expired)} received")
        print(f"lag deadline -> pub/sub receipt (ms):      {_percentiles([received_sub[k] - deadlines[k] for k in received_sub])}")
        return
    print(f"stream: {len(add_lags)} entries appended (INFO {info['keyspace_events_stream_appended']})")
    print(f"consumer: {len(set(received) & expired)}/{len(expired)} expired keys delivered, "
          f"{len(set(received) & spared)} spared keys delivered (must be 0), {read} entries read, "
          f"{duplicates} duplicates (the unacknowledged batch), missing {len(expired - set(received))}")
    print(f"subscriber: {len(received_sub)}/{len(expired)} received (connected throughout)")
    print(f"lag deadline -> XADD (ms):                 {_percentiles(add_lags)}")
    print(f"lag deadline -> pub/sub receipt (ms):      {_percentiles([received_sub[k] - deadlines[k] for k in received_sub])}")
    print(f"lag deadline -> consumer receipt (ms), before it left: {_percentiles(before_leaving)}")
    ok = expired <= set(received) and not set(received) & spared
    print("OK: every expired key delivered at least once, none spared" if ok else "FAILED")
    if not ok:
        os._exit(1)


if __name__ == "__main__":
    main()
