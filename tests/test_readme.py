"""README promises: the command table lists exactly the registered commands, and the two
commands (`make serve`, `make test`) are the ones .ci/run and the Makefile provide."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

import tandemkv.persistence
import tandemkv.scripting  # noqa: F401  (registers the scripting commands)
from tandemkv import Store
from tandemkv.commands import TABLE
from tests.conftest import start_tandem, stop

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| group") or line.startswith("|---"):
            continue
        listed = line.split("|")[2]
        for match in re.finditer(r"([A-Z][A-Z_-]*)(?: \(([^)]*)\))?", listed):
            name = match.group(1).lower()
            names.add(name)
            if match.group(2):
                names.update(f"{name}|{sub.strip().lower()}" for sub in match.group(2).split(","))
    return names


def _registered_commands() -> set[str]:
    names: set[str] = set()
    for spec in TABLE:
        names.add(spec.name)
        names.update(f"{spec.name}|{sub.decode()}" for sub in spec.subcommands)
    return names


def test_readme_command_table_matches_the_command_table():
    listed = _readme_commands()
    registered = _registered_commands()
    assert listed - registered == set(), "README lists commands the server does not have"
    assert registered - listed == set(), "commands missing from README's table"


def test_readme_names_the_two_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "    make serve\n" in readme and "    make test\n" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def _readme_worker_code() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Example: a worker for expired sessions", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _wait_for_expiry(client: redis.Redis, keys: list[str]) -> None:
    """Until none of `keys` is left (the server's timer deletes them at their deadlines)."""
    for _ in range(1000):
        if not client.exists(*keys):
            return
        time.sleep(0.01)
    raise AssertionError("keys did not expire")


def test_readme_event_stream_worker_survives_its_restart() -> None:
    """The README's worker: stopped by an exception in the middle of a batch, started again
    while more sessions expire, it handles every expired session; only the entry it was
    handling when it stopped comes twice."""
    proc, port = start_tandem("--keyspace-events-stream", "keyspace-events")
    try:
        client = redis.Redis(port=port)
        worker: dict[str, object] = {"__name__": "readme_worker"}
        exec(compile(_readme_worker_code(), "README.md", "exec"), worker)
        handled: list[bytes] = []

        def crash_at_twentieth(key: bytes) -> None:
            handled.append(key)
            if len(handled) == 20:
                raise RuntimeError("the worker stops here")

        first = [f"session:{i}" for i in range(60)]
        for i, key in enumerate(first):
            client.set(key, "user", px=20 + i)
        client.set("cart:1", "x", px=20)  # expires too; not a session
        _wait_for_expiry(client, [*first, "cart:1"])
        worker["on_session_expired"] = crash_at_twentieth
        with pytest.raises(RuntimeError, match="stops here"):
            worker["run"](client, block_ms=100, forever=False)  # type: ignore[operator]
        assert len(handled) == 20

        second = [f"session:{i}" for i in range(60, 100)]  # expire while no worker runs
        for key in second:
            client.set(key, "user", px=20)
        _wait_for_expiry(client, second)
        worker["on_session_expired"] = handled.append
        for protocol in (3, 2):  # the second run finds nothing new: both reply shapes read
            restarted = redis.Redis(port=port, protocol=protocol)
            worker["run"](restarted, block_ms=100, forever=False)  # type: ignore[operator]
            restarted.close()
        assert sorted(set(handled)) == sorted(key.encode() for key in first + second)
        assert len(handled) == len(first) + len(second) + 1  # the 20th, handled again
        assert handled.count(handled[19]) == 2
        assert client.xpending("keyspace-events", "session-reaper")["pending"] == 0
        client.close()
    finally:
        stop(proc)


def _use_it_blocks() -> tuple[str, list[str]]:
    """The "Use it" section's redis-cli transcript and its Python examples."""
    section = (ROOT / "README.md").read_text().split("## Use it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)
    transcript = next(body for lang, body in blocks if lang == "")
    return transcript, [body for lang, body in blocks if lang == "python"]


def test_readme_use_it_examples_run_as_shown() -> None:
    """Every command of README's "Use it": the redis-cli lines answer what the README shows
    as on a terminal (SUBSCRIBE, which waits forever, is checked for its confirmation), the redis-py example
    runs against a server, the embedded Store example in process."""
    cli = shutil.which("redis-cli")
    transcript, python_blocks = _use_it_blocks()
    proc, port = start_tandem()
    try:
        lines = transcript.strip().splitlines()
        if cli is not None:
            i = 0
            while i < len(lines):
                command = lines[i].removeprefix("$ ").split("#", 1)[0].split()
                expected = []
                i += 1
                while i < len(lines) and not lines[i].startswith("$ "):
                    expected.append(lines[i])
                    i += 1
                assert command[0] == "redis-cli"
                if command[1] == "subscribe":
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                        sock.sendall(f"SUBSCRIBE {command[2]}\r\n".encode())
                        assert command[2].encode() in sock.recv(1024)
                    continue
                out = subprocess.run([cli, "--no-raw", "-p", str(port), *command[1:]], capture_output=True, text=True, timeout=20)
                assert out.stdout.splitlines() == expected, (command, out.stdout)
        client_code, store_code, durable_code = python_blocks
        exec(compile(client_code.replace("port=6379", f"port={port}"), "README.md", "exec"), {"__name__": "readme"})
        assert redis.Redis(port=port).ttl("session:42") > 0
        namespace: dict[str, object] = {"__name__": "readme"}
        exec(compile(store_code, "README.md", "exec"), namespace)
        assert namespace["store"].get("k") == b"v"  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory() as directory:  # the durable Store, in a scratch dir
            exec(compile(durable_code.replace("/var/lib/app", directory), "README.md", "exec"), dict(namespace))
            assert sorted(os.listdir(directory)) == ["appendonlydir", "dump.rdb"]
            reopened = Store(dir=directory, appendonly="yes")
            assert reopened.get("k") == b"v"
            reopened.close()
    finally:
        stop(proc)
