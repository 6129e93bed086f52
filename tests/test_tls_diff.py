"""TLS against redis-server 7.0.15 started with the same certificates (made by `openssl` in the
test): redis-py with ssl=True and redis-cli --tls get the same replies; a client without a
certificate is refused under tls-auth-clients yes and let in under no/optional; a plaintext
client on the TLS port is closed without harm to others; CONFIG SET of a broken certificate
fails with Redis's error and changes nothing."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_SERVER, REQUIRE_REDIS, free_port, start_redis, start_tandem, stop

OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if OPENSSL is None:
        if REQUIRE_REDIS:
            pytest.fail("openssl is required to make the TLS test certificates")
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tandemkv test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", "san.ext")
    return folder


def _tls_args(certs: Path, tls_port: int) -> tuple[str, ...]:
    return (
        "--tls-port", str(tls_port), "--tls-cert-file", str(certs / "server.crt"),
        "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file", str(certs / "ca.crt"),
    )


@pytest.fixture(scope="module")
def servers(certs: Path) -> Iterator[dict[str, tuple[int, int]]]:
    """name -> (plain port, TLS port), for tandemkv and redis-server."""
    if REDIS_SERVER is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (TANDEMKV_REQUIRE_REDIS=1) but not installed")
        pytest.skip("redis-server not installed")
    tandem_tls, redis_tls = free_port(), free_port()
    tandem, tandem_port = start_tandem(*_tls_args(certs, tandem_tls))
    try:
        reference, redis_port = start_redis(*_tls_args(certs, redis_tls))
    except BaseException:
        stop(tandem)
        raise
    yield {"tandemkv": (tandem_port, tandem_tls), "redis": (redis_port, redis_tls)}
    stop(tandem)
    stop(reference)


def _client(certs: Path, port: int, *, with_cert: bool = True, protocol: int = 2) -> redis.Redis:
    extra = {"ssl_certfile": str(certs / "client.crt"), "ssl_keyfile": str(certs / "client.key")} if with_cert else {}
    return redis.Redis(
        port=port, ssl=True, ssl_ca_certs=str(certs / "ca.crt"), protocol=protocol, socket_timeout=10, **extra
    )


def _both(servers: dict[str, tuple[int, int]], work) -> list[object]:  # type: ignore[no-untyped-def]
    ours, theirs = (work(*servers[name]) for name in ("tandemkv", "redis"))
    assert ours == theirs
    return ours


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_over_tls(certs: Path, servers, protocol: int) -> None:  # type: ignore[no-untyped-def]
    def work(_plain: int, tls: int) -> list[object]:
        client = _client(certs, tls, protocol=protocol)
        try:
            client.flushall()
            pipe = client.pipeline()
            pipe.set("k", "v").incr("n").lpush("l", "a", "b").get("k").lrange("l", 0, -1)
            return [client.ping(), pipe.execute(), client.hgetall("missing"), client.get("k" * 5000)]
        finally:
            client.close()

    _both(servers, work)


def test_client_without_certificate_is_refused_unless_auth_is_relaxed(certs: Path, servers) -> None:  # type: ignore[no-untyped-def]
    def work(plain: int, tls: int) -> list[object]:
        outcomes: list[object] = []
        admin = redis.Redis(port=plain)
        try:
            for mode in ("yes", "optional", "no"):
                admin.config_set("tls-auth-clients", mode)
                client = _client(certs, tls, with_cert=False)
                try:
                    outcomes.append((mode, client.ping()))
                except redis.ConnectionError:
                    outcomes.append((mode, "refused"))
                finally:
                    client.close()
            return outcomes
        finally:
            admin.config_set("tls-auth-clients", "yes")
            admin.close()

    assert _both(servers, work) == [("yes", "refused"), ("optional", True), ("no", True)]


def test_plaintext_on_the_tls_port_is_closed_and_harms_no_one(certs: Path, servers) -> None:  # type: ignore[no-untyped-def]
    def work(_plain: int, tls: int) -> list[object]:
        steady = _client(certs, tls)
        try:
            steady.set("steady", "1")
            with socket.create_connection(("127.0.0.1", tls), timeout=10) as raw:
                raw.sendall(b"*1\r\n$4\r\nPING\r\n")
                try:
                    answer = raw.recv(1024)
                except (ConnectionResetError, TimeoutError):
                    answer = b""
            got_pong = b"PONG" in answer
            return [got_pong, steady.get("steady")]
        finally:
            steady.close()

    _both(servers, work)


def test_config_set_of_a_broken_certificate_fails_and_changes_nothing(certs: Path, servers) -> None:  # type: ignore[no-untyped-def]
    def work(plain: int, tls: int) -> list[object]:
        admin = redis.Redis(port=plain)
        try:
            try:
                admin.config_set("tls-cert-file", str(certs / "missing.crt"))
                error = None
            except redis.ResponseError as exc:
                error = str(exc)
            after = _client(certs, tls)
            try:
                return [error, admin.config_get("tls-cert-file") == {"tls-cert-file": str(certs / "server.crt")}, after.ping()]
            finally:
                after.close()
        finally:
            admin.close()

    _both(servers, work)


def test_config_set_of_a_new_certificate_serves_new_connections(certs: Path, servers) -> None:  # type: ignore[no-untyped-def]
    def work(plain: int, tls: int) -> list[object]:
        admin = redis.Redis(port=plain)
        try:
            admin.config_set("tls-cert-file", str(certs / "client.crt"), "tls-key-file", str(certs / "client.key"))
            context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
            context.load_cert_chain(str(certs / "client.crt"), str(certs / "client.key"))
            for _ in range(200):  # the listener is reopened on the next loop iteration
                time.sleep(0.05)
                try:
                    with (
                        socket.create_connection(("127.0.0.1", tls), timeout=10) as raw,
                        context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped,
                    ):
                        subject = dict(item[0] for item in wrapped.getpeercert()["subject"])
                        if subject.get("commonName") == "client":
                            return ["client"]
                except OSError:
                    pass
            return ["server certificate unchanged"]
        finally:
            admin.config_set("tls-cert-file", str(certs / "server.crt"), "tls-key-file", str(certs / "server.key"))
            admin.close()

    _both(servers, work)


def test_redis_cli_over_tls(certs: Path, servers) -> None:  # type: ignore[no-untyped-def]
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli not installed")

    def work(_plain: int, tls: int) -> list[object]:
        out = subprocess.run(
            [cli, "-p", str(tls), "--tls", "--cacert", str(certs / "ca.crt"), "--cert", str(certs / "client.crt"),
             "--key", str(certs / "client.key"), "echo", "over tls"],
            capture_output=True, timeout=20,
        )
        return [out.returncode, out.stdout]

    _both(servers, work)


def test_tls_settings_read_back_as_redis(certs: Path, servers) -> None:  # type: ignore[no-untyped-def]
    names = ("tls-port", "tls-auth-clients", "tls-protocols", "tls-ciphers", "tls-ciphersuites",
             "tls-prefer-server-ciphers", "tls-ca-cert-dir", "tls-key-file-pass", "tls-dh-params-file")

    def work(plain: int, tls: int) -> list[object]:
        admin = redis.Redis(port=plain)
        try:
            got = admin.config_get(*names)
            got["tls-port"] = "same" if got["tls-port"] == str(tls) else got["tls-port"]
            errors = []
            for name, value in (("tls-auth-clients", "sometimes"), ("tls-prefer-server-ciphers", "maybe")):
                try:
                    admin.config_set(name, value)
                except redis.ResponseError as exc:
                    errors.append(str(exc))
            return [got, errors]
        finally:
            admin.close()

    _both(servers, work)


def test_tls_only_with_port_zero(certs: Path) -> None:
    """`port 0` with a tls-port: TLS only, no plaintext listener (as Redis)."""
    tls_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemkv.cli.server", "--port", "0", "--dir", str(certs), *_tls_args(certs, tls_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client = _client(certs, tls_port)
        for _ in range(300):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError("the TLS-only server did not answer")
        assert [entry["laddr"] for entry in client.client_list()] == [f"127.0.0.1:{tls_port}"]
        assert client.info("server")["tcp_port"] == 0  # no plaintext listener was opened
        client.close()
    finally:
        stop(proc)
