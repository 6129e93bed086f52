"""Benchmark targets: a host:port given by the user, or a server this tool starts and stops.

The tool starts tandemkv as a subprocess (`python -m tandemkv.cli.server`) and redis-server
from PATH, both on a free loopback port with persistence off. A started server's pid is known,
so its CPU time and RSS are read from /proc; for a given host:port the pid comes from
`--pid`, or from INFO's process_id when the host is local.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from tandemkv.cli.bench.procinfo import process_cpu_s
from tandemkv.cli.bench.resp import ControlClient

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Target:
    """A server to measure. `kind` is tandemkv, redis or external; `proc` is set if we started it."""

    label: str
    host: str
    port: int
    kind: str = "external"
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    start_args: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def control(self) -> ControlClient:
        return ControlClient(self.host, self.port)

    def resolve_pid(self) -> None:
        """Learn the pid from INFO server when the server is on this machine and pid unknown."""
        if self.pid is not None or self.host not in LOCAL_HOSTS:
            return
        try:
            client = self.control()
        except OSError:
            return
        try:
            info = client.info("server") or {}
        finally:
            client.close()
        pid = info.get("process_id", "")
        if pid.isdigit() and process_cpu_s(int(pid)) is not None:
            self.pid = int(pid)

    def cpu_s(self) -> tuple[float | None, str]:
        """(server CPU seconds so far, where it came from): /proc when the pid is known, else INFO cpu."""
        if self.pid is not None:
            seconds = process_cpu_s(self.pid)
            if seconds is not None:
                return seconds, "/proc"
        try:
            client = self.control()
            try:
                info = client.info("cpu") or {}
            finally:
                client.close()
        except OSError:
            return None, "unavailable"
        try:
            return float(info["used_cpu_sys"]) + float(info["used_cpu_user"]), "INFO cpu"
        except (KeyError, ValueError):
            return None, "unavailable"


def parse_target(text: str) -> Target:
    """`host:port`, `:port` or `port` as an external target labelled with its address."""
    host, _, port = text.rpartition(":")
    host = host or "127.0.0.1"
    return Target(label=f"{host}:{port}", host=host, port=int(port))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def start_tandemkv(*args: str, label: str = "tandemkv") -> Target:
    """Start a tandemkv server on a free loopback port; stop it with `stop`."""
    port = free_port()
    command = [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), *args]
    return _start(Target(label, "127.0.0.1", port, kind="tandemkv", start_args=args), command)


def start_redis(*args: str, label: str = "redis") -> Target:
    """Start redis-server from PATH on a free loopback port, persistence off; stop it with `stop`."""
    path = redis_server_path()
    if path is None:
        raise RuntimeError("redis-server is not on PATH")
    port = free_port()
    command = [
        path,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        *args,
    ]
    return _start(Target(label, "127.0.0.1", port, kind="redis", start_args=args), command)


def restart(target: Target) -> Target:
    """A fresh server of the same kind and arguments (for started targets; others unchanged)."""
    if target.proc is None:
        return target
    stop(target)
    if target.kind == "tandemkv":
        return start_tandemkv(*target.start_args, label=target.label)
    return start_redis(*target.start_args, label=target.label)


def stop(target: Target) -> None:
    """Stop a server this tool started (no-op for external targets)."""
    proc = target.proc
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    target.proc = None


def _start(target: Target, command: list[str], timeout_s: float = 20.0) -> Target:
    with tempfile.TemporaryFile() as log:  # the server's early output, shown if it fails to start
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}: {output}")
            try:
                with socket.create_connection((target.host, target.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise TimeoutError(
                        f"{' '.join(command)} did not listen within {timeout_s} s"
                    ) from None
                time.sleep(0.02)
    target.proc = proc
    target.pid = proc.pid
    return target
