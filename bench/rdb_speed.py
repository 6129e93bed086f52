"""SAVE and load time of an RDB file, tandemkv and redis-server side by side.

    python bench/rdb_speed.py [KEYS] [STREAM_ENTRIES]

Each server gets KEYS string keys (`key:N` -> `value:N`, what redis-benchmark's keyspace looks
like) and one stream of STREAM_ENTRIES entries (two fields each), written with pipelines; then
SAVE is timed (the command's round trip), and the server is restarted on the file and the load
time read from its log line ("DB loaded from disk"). Figures go to bench/README.md.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time

import redis

CHUNK = 10_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server on port {port} did not start")


def _start(kind: str, directory: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "tandemkv":
        argv = [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), "--dir", directory]
    else:
        argv = ["redis-server", "--port", str(port), "--dir", directory, "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for_port(port, proc, timeout=600)
    return proc, port


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    return proc.communicate(timeout=600)[0].decode(errors="replace")


def _fill(c: redis.Redis, keys: int, entries: int) -> None:
    for start in range(0, keys, CHUNK):
        pipe = c.pipeline(transaction=False)
        for i in range(start, min(keys, start + CHUNK)):
            pipe.set(b"key:%d" % i, b"value:%d" % i)
        pipe.execute()
    for start in range(0, entries, CHUNK):
        pipe = c.pipeline(transaction=False)
        for i in range(start, min(entries, start + CHUNK)):
            pipe.xadd("stream", {"user": b"user:%d" % (i % 1000), "n": i}, id=f"{i + 1}-0")
        pipe.execute()


def measure(kind: str, keys: int, entries: int) -> tuple[float, float]:
    """(SAVE seconds, load seconds) for one server."""
    directory = tempfile.mkdtemp(prefix=f"rdb-speed-{kind}-")
    proc, port = _start(kind, directory)
    c = redis.Redis(port=port, socket_timeout=600)
    _fill(c, keys, entries)
    started = time.perf_counter()
    c.save()
    save_s = time.perf_counter() - started
    c.close()
    _stop(proc)
    proc, port = _start(kind, directory)
    c = redis.Redis(port=port, socket_timeout=600)
    while True:  # both servers listen while they load and answer LOADING until done
        try:
            c.ping()
            break
        except redis.exceptions.BusyLoadingError:
            time.sleep(0.05)
    c.close()
    log = _stop(proc)
    found = re.search(r"DB loaded from disk:.*?([0-9.]+) seconds", log)
    if found is None:
        raise RuntimeError(f"{kind}: no load line in its log:\n{log}")
    return save_s, float(found.group(1))


def main() -> None:
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    entries = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    results = {kind: measure(kind, keys, entries) for kind in ("redis-server", "tandemkv")}
    per = 1_000_000 / max(keys + entries, 1)
    print(f"{keys} string keys, a stream of {entries} entries")
    print(f"{'server':14} {'SAVE s':>8} {'load s':>8} {'SAVE s/M':>9} {'load s/M':>9}")
    for kind, (save_s, load_s) in results.items():
        print(f"{kind:14} {save_s:8.2f} {load_s:8.2f} {save_s * per:9.2f} {load_s * per:9.2f}")
    (r_save, r_load), (t_save, t_load) = results["redis-server"], results["tandemkv"]
    print(f"ratio tandemkv/redis: SAVE {t_save / r_save:.0f}x, load {t_load / r_load:.0f}x")


if __name__ == "__main__":
    main()
