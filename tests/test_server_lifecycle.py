"""The server process: start-up log, config file and options, signals, bad configuration."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import redis

from tests.conftest import free_port, start_tandem, stop, stop_and_read, wait_for_port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(signum):
    proc, port = start_tandem()
    client = redis.Redis(port=port)
    assert client.set("k", "v")
    proc.send_signal(signum)
    assert proc.wait(timeout=10) == 0
    client.close()


def test_startup_log_names_version_port_pid_and_loop():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
    finally:
        output = stop_and_read(proc)
    first = output.splitlines()[0]
    assert f"port {port}" in first
    assert f" PID: {proc.pid}" in first  # as Redis's logo: Redis's test suite waits for it
    assert "event loop uvloop" in first or "event loop asyncio" in first
    assert "tandemkv 0.1.0" in first
    assert "bye bye" in output


def test_config_file_and_command_line_override(tmp_path):
    conf = tmp_path / "tandemkv.conf"
    conf.write_text("# comment\ndatabases 4\nmaxclients 77\n\nnotify-keyspace-events \"KEA\"\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", str(conf), "--port", str(port), "--maxclients", "88"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        client = redis.Redis(port=port)
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            client.execute_command("SELECT", "4")
        assert client.execute_command("SELECT", "3") in (b"OK", "OK", True)
        client.close()
    finally:
        stop(proc)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-such-option", "1"], "Bad directive"),
        (["--port", "notanumber"], "argument couldn't be parsed into an integer"),
        (["--maxmemory-policy", "sometimes"], "must be one of the following"),
        (["stray-positional", "--port"], "No such file"),
    ],
)
def test_bad_configuration_exits_with_message(args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "tandemkv.cli.server", *args],
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "FATAL CONFIG FILE ERROR" in proc.stderr.decode()
    assert message in proc.stderr.decode()


def test_port_in_use_exits_nonzero():
    proc, port = start_tandem()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port)],
            capture_output=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert b"Could not create server TCP listening socket" in second.stdout + second.stderr
    finally:
        stop(proc)


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "tandemkv.cli.server", "--version"], capture_output=True, timeout=30)
    assert out.returncode == 0 and b"redis_version=7.0.15" in out.stdout
    out = subprocess.run([sys.executable, "-m", "tandemkv.cli.server", "--help"], capture_output=True, timeout=30)
    assert out.returncode == 0 and b"tandemkv-server [config-file]" in out.stdout


def test_timeout_closes_idle_clients_but_not_subscribers():
    proc, port = start_tandem("--timeout", "1", "--hz", "50")
    try:
        idle = redis.Redis(port=port, single_connection_client=True)
        subscriber = redis.Redis(port=port).pubsub()
        subscriber.subscribe("news")
        subscriber.get_message(timeout=1)
        active = redis.Redis(port=port)
        assert idle.ping()
        idle_id = idle.client_id()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ids = {c["id"] for c in active.client_list()}
            if str(idle_id) not in {str(i) for i in ids}:
                break
            time.sleep(0.2)
        else:
            pytest.fail("idle client was not closed")
        # The subscriber is exempt and still receives messages.
        assert active.publish("news", "hello") == 1
        message = subscriber.get_message(timeout=5)
        assert message is not None and message["data"] == b"hello"
        subscriber.close()
        active.close()
    finally:
        stop(proc)


def test_config_set_loglevel_applies_at_once():
    """Steps are logged at notice level; after CONFIG SET loglevel warning they are not."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), "--engine-shard-high-keys", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        client = redis.Redis(port=port)
        client.mset({f"a{i}": i for i in range(40)})
        logged_steps = client.info("engine")["steps_up"]
        assert logged_steps >= 1
        assert client.config_set("loglevel", "warning")
        assert client.config_get("loglevel") == {"loglevel": "warning"}
        client.mset({f"b{i}": i for i in range(400)})
        assert client.info("engine")["steps_up"] > logged_steps
        client.close()
    finally:
        output = stop_and_read(proc)
    assert output.count("step up started") == logged_steps


def test_slow_cyclic_gc_is_logged(monkeypatch, caplog):
    """A collection that stalls the loop for SLOW_GC_MS or more is named in the log."""
    from tandemkv.server import app

    server = app.Server()
    clock = iter([10.0, 10.0005, 20.0, 20.0125])
    monkeypatch.setattr(app.time, "perf_counter", lambda: next(clock))
    with caplog.at_level("WARNING", logger="tandemkv"):
        server._time_gc("start", {"generation": 0, "collected": 0})
        server._time_gc("stop", {"generation": 0, "collected": 0})  # 0.5 ms: not logged
        server._time_gc("start", {"generation": 2, "collected": 0})
        server._time_gc("stop", {"generation": 2, "collected": 7})  # 12.5 ms: logged
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["Cyclic GC generation 2 took 12.5 ms (7 objects collected)"]



def test_verbose_level_logs_connections_as_redis():
    """At loglevel verbose, each accepted connection and each client hanging up is logged with
    Redis's wording and the `-` mark; at notice (after CONFIG SET) neither is."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", str(port), "--loglevel", "verbose"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)  # itself a connection, accepted and closed
        client = redis.Redis(port=port)
        client.client_setname("leaving")
        client.close()
        admin = redis.Redis(port=port)
        # The admin's own connection is logged before the level changes; nothing after.
        admin.config_set("loglevel", "notice")
        redis.Redis(port=port).ping()
        admin.close()
    finally:
        output = stop_and_read(proc)
    accepted = [line for line in output.splitlines() if " - Accepted 127.0.0.1:" in line]
    closed = [line for line in output.splitlines() if " - Client closed connection id=" in line]
    assert len(accepted) == 3
    assert len(closed) == 2
    assert any(" name=leaving " in line and " cmd=client|setname " in line for line in closed)
    assert " * tandemkv " in output  # notice lines keep Redis's `*`
