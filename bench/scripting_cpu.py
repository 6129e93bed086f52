"""Server CPU per operation of scripts and transactions, tandemkv and redis-server side by side.

    .venv/bin/python bench/scripting_cpu.py [--ops 20000] [--rounds 2]

Operations (each one request/reply round trip on one of 8 connections, no pipelining):
  set       SET k v                                  (the reference: SET's ratio)
  get+set   GET k, then SET k v                      (two plain commands: what the script does)
  evalsha   EVALSHA of `redis.call('get', KEYS[1]); return redis.call('set', KEYS[1], ARGV[1])`
  multi     MULTI / SET k v / INCR n / EXEC          (sent as one write, four replies)
Server CPU comes from /proc/<pid>/task/*/schedstat (nanoseconds), read before and after each
operation's run; both servers run at once, the operations alternate between them.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import hiredis

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = b"redis.call('get', KEYS[1]); return redis.call('set', KEYS[1], ARGV[1])"
CONNECTIONS = 8


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """CPU time of every thread of `pid`, in seconds, from schedstat (nanoseconds)."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total_ns / 1e9


def _start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*argv, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{argv[0]} did not start")


def _drive(port: int, payload: bytes, replies: int, count: int) -> None:
    """Send `payload` `count` times on one connection, reading `replies` replies each time."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = hiredis.Reader()
        for _ in range(count):
            sock.sendall(payload)
            got = 0
            while got < replies:
                reply = reader.gets()
                if reply is False:
                    reader.feed(sock.recv(65536))
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    raise SystemExit(f"error reply: {reply}")
                got += 1


def _measure(pid: int, port: int, payload: bytes, replies: int, ops: int) -> float:
    """Server CPU in microseconds per operation."""
    per_connection = ops // CONNECTIONS
    threads = [threading.Thread(target=_drive, args=(port, payload, replies, per_connection)) for _ in range(CONNECTIONS)]
    before = _cpu_s(pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.2)  # the server's last replies and bookkeeping
    return (_cpu_s(pid) - before) / (per_connection * CONNECTIONS) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server is not installed")
    servers = {
        "tandemkv": ([sys.executable, "-m", "tandemkv.cli.server", "--dir", tempfile.mkdtemp()], _free_port()),
        "redis": ([redis_server, "--save", "", "--appendonly", "no"], _free_port()),
    }
    procs = {name: _start(argv, port) for name, (argv, port) in servers.items()}
    try:
        sha = b""
        for _name, (_argv, port) in servers.items():
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(_command(b"SCRIPT", b"LOAD", SCRIPT))
                sha = sock.recv(1024).split(b"\r\n")[1]
        operations = {
            "set": (_command(b"SET", b"k", b"v"), 1),
            "get+set": (_command(b"GET", b"k") + _command(b"SET", b"k", b"v"), 2),
            "evalsha": (_command(b"EVALSHA", sha, b"1", b"k", b"v"), 1),
            "multi": (_command(b"MULTI") + _command(b"SET", b"k", b"v") + _command(b"INCR", b"n") + _command(b"EXEC"), 4),
        }
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for op, (payload, replies) in operations.items():
                for name, (_argv, port) in servers.items():
                    results.setdefault((name, op), []).append(_measure(procs[name].pid, port, payload, replies, args.ops))
        set_ratios = [ours / theirs for ours, theirs in zip(results[("tandemkv", "set")], results[("redis", "set")], strict=True)]
        print("operation   tandemkv us   redis us   ratio     ratio / SET's   (min-max over rounds)")
        for op in operations:
            ours, theirs = results[("tandemkv", op)], results[("redis", op)]
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            over_set = [r / s for r, s in zip(ratios, set_ratios, strict=True)]
            print(f"{op:10} {min(ours):6.1f}-{max(ours):<6.1f} {min(theirs):5.1f}-{max(theirs):<5.1f} "
                  f"{min(ratios):4.2f}-{max(ratios):<4.2f}  {min(over_set):4.2f}-{max(over_set):4.2f}")
        script = [a / b for a, b in zip(results[("tandemkv", "evalsha")], results[("tandemkv", "get+set")], strict=True)]
        print(f"tandemkv EVALSHA / its two commands sent plainly: {min(script):.2f}-{max(script):.2f}")
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
