"""Connection commands: HELLO, AUTH, RESET, QUIT, SELECT, CLIENT, against redis-server and redis-py."""

from __future__ import annotations

import re

import pytest
import redis

from tests.resp import RawClient


def test_ping_echo_select(diff):
    diff("PING")
    diff("PING", "x")
    diff("PING", "a", "b")
    diff("ECHO", "hi")
    diff("ECHO")
    diff("SELECT", "1")
    diff("SELECT", "-1")
    diff("SELECT", "16")
    diff("SELECT", "1.5")
    diff("SELECT", "0")


def test_hello_replies_and_errors(diff):
    for args in (
        ("HELLO", "abc"),
        ("HELLO", "4"),
        ("HELLO", "-1"),
        ("HELLO", "3.0"),
        ("HELLO", "99999999999999999999"),
        ("HELLO", "AUTH", "a", "b"),
        ("HELLO", "3", "AUTH", "default"),
        ("HELLO", "3", "AUTH", "foo", "x"),
        ("HELLO", "3", "AUTH", "DEFAULT", "x"),
        ("HELLO", "3", "AUTH", "foo", "x", "FOO"),
        ("HELLO", "3", "FOO", "AUTH", "foo", "x"),
        ("HELLO", "3", "SETNAME", "a b", "FOO"),
        ("HELLO", "2", "SETNAME"),
        ("HELLO", "2", "SETNAME", "a\nb"),
    ):
        diff(*args)


def test_hello_switches_protocol_and_sets_name(diff):
    ours, theirs = diff.both("HELLO", "3", "AUTH", "default", "anything", "SETNAME", "conn1")
    assert _without_id(ours) == _without_id(theirs)
    assert ours.startswith(b"%7\r\n")
    diff("CLIENT", "GETNAME")
    diff("CLIENT", "SETNAME", "")
    diff("CLIENT", "GETNAME")
    ours, theirs = diff.both("HELLO", "2")
    assert _without_id(ours) == _without_id(theirs)
    assert ours.startswith(b"*14\r\n")
    ours, theirs = diff.both("HELLO")
    assert _without_id(ours) == _without_id(theirs)


def _without_id(reply: bytes) -> bytes:
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"", reply)


def test_auth(diff):
    diff("AUTH")
    diff("AUTH", "x")
    diff("AUTH", "default", "x")
    diff("AUTH", "DEFAULT", "x")
    diff("AUTH", "nobody", "x")
    diff("AUTH", "a", "b", "c")


def test_reset(diff):
    diff("SELECT", "3")
    diff("CLIENT", "SETNAME", "before")
    diff("RESET", "x")
    diff("RESET")
    diff("CLIENT", "GETNAME")
    diff("SET", "k", "v")
    diff("SELECT", "0")
    diff("GET", "k")  # RESET went back to db 0, so k was written there


def test_reset_leaves_resp3_and_subscriptions(raw):
    raw.call("HELLO", "3")
    raw.send(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
    assert raw.read_reply().startswith(b">3\r\n")
    assert raw.call("RESET") == b"+RESET\r\n"
    assert raw.call("PING") == b"+PONG\r\n"
    assert raw.call("HELLO").startswith(b"*14\r\n")  # back on RESP2
    assert raw.call("PUBSUB", "NUMSUB", "ch") == b"*2\r\n$2\r\nch\r\n:0\r\n"


def test_quit_closes(tandem_port, redis_port):
    for port in (tandem_port, redis_port):
        client = RawClient(port)
        assert client.call("QUIT", "extra") == b"+OK\r\n"
        assert client.read_until_closed() == b""
        client.close()


def test_client_simple_subcommands(diff):
    for args in (
        ("CLIENT",),
        ("CLIENT", "FOO"),
        ("CLIENT", "ID", "x"),
        ("CLIENT", "GETNAME"),
        ("CLIENT", "GETNAME", "x"),
        ("CLIENT", "SETNAME"),
        ("CLIENT", "SETNAME", "x", "y"),
        ("CLIENT", "SETNAME", "a b"),
        ("CLIENT", "SETNAME", "\x7f"),
        ("CLIENT", "SETNAME", "name-1"),
        ("CLIENT", "GETNAME"),
        ("CLIENT", "HELP"),
        ("CLIENT", "help"),
        ("CLIENT", "HELP", "x"),
        ("CLIENT", "INFO", "x"),
    ):
        diff(*args)


def test_client_list_errors(diff):
    for args in (
        ("CLIENT", "LIST", "TYPE"),
        ("CLIENT", "LIST", "TYPE", "foo"),
        ("CLIENT", "LIST", "TYPE", "pubsub"),
        ("CLIENT", "LIST", "TYPE", "master"),
        ("CLIENT", "LIST", "TYPE", "normal", "x"),
        ("CLIENT", "LIST", "ID"),
        ("CLIENT", "LIST", "ID", "abc"),
        ("CLIENT", "LIST", "ID", "99999", "abc"),
        ("CLIENT", "LIST", "ID", "0"),
        ("CLIENT", "LIST", "ID", "99999"),
        ("CLIENT", "LIST", "FOO"),
    ):
        diff(*args)


def test_client_kill_errors(diff):
    for args in (
        ("CLIENT", "KILL"),
        ("CLIENT", "KILL", "1.2.3.4:5"),
        ("CLIENT", "KILL", "ID"),
        ("CLIENT", "KILL", "ID", "abc"),
        ("CLIENT", "KILL", "ID", "0"),
        ("CLIENT", "KILL", "ID", "-1"),
        ("CLIENT", "KILL", "ID", "99999"),
        ("CLIENT", "KILL", "ID", "1", "ID"),
        ("CLIENT", "KILL", "ADDR", "1.2.3.4:5"),
        ("CLIENT", "KILL", "LADDR", "1.2.3.4:5"),
        ("CLIENT", "KILL", "TYPE", "foo"),
        ("CLIENT", "KILL", "TYPE", "master"),
        ("CLIENT", "KILL", "TYPE", "replica"),
        ("CLIENT", "KILL", "TYPE", "pubsub"),
        ("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "maybe"),
        ("CLIENT", "KILL", "USER", "nobody"),
        ("CLIENT", "KILL", "USER", "default", "SKIPME", "yes", "TYPE", "pubsub"),
        ("CLIENT", "KILL", "FOO", "bar"),
        ("CLIENT", "KILL", "MAXAGE", "100"),
    ):
        diff(*args)


def _fields(line: str) -> list[str]:
    return [item.split("=", 1)[0] for item in line.split()]


def test_client_list_format_matches_redis(diff):
    ours, theirs = diff.both("CLIENT", "INFO")
    our_line = ours.split(b"\r\n", 1)[1].decode().removeprefix("txt:")
    their_line = theirs.split(b"\r\n", 1)[1].decode().removeprefix("txt:")
    assert _fields(our_line) == _fields(their_line)
    assert ours[:1] == theirs[:1]  # RESP3: verbatim string, RESP2: bulk
    assert "cmd=client|info" in our_line and our_line.endswith("\n")
    ours, theirs = diff.both("CLIENT", "LIST")
    assert ours[:1] == theirs[:1]  # RESP3: verbatim string, RESP2: bulk
    assert _fields(ours.split(b"\r\n", 1)[1].decode().removeprefix("txt:")) == _fields(
        theirs.split(b"\r\n", 1)[1].decode().removeprefix("txt:")
    )


def test_client_id_list_and_kill(r):
    other = RawClient(r.connection_pool.connection_kwargs["port"])
    other.call("CLIENT", "SETNAME", "victim")
    other_id = int(other.call("CLIENT", "ID")[1:-2])
    my_id = r.client_id()
    assert other_id != my_id
    clients = {c["name"]: c for c in r.client_list()}
    assert clients["victim"]["id"] == str(other_id)
    assert clients["victim"]["cmd"] == "client|id"
    assert [c["id"] for c in r.client_list(client_id=[other_id])] == [str(other_id)]
    assert r.client_list(_type="pubsub") == []
    assert r.execute_command("CLIENT", "KILL", "ID", str(other_id)) == 1
    assert other.read_until_closed() == b""
    other.close()
    assert r.execute_command("CLIENT", "KILL", "ID", str(other_id)) == 0
    # SKIPME defaults to yes: the filter form never kills the caller unless told to.
    assert r.execute_command("CLIENT", "KILL", "ID", str(my_id)) == 0


def test_client_kill_legacy_form_and_self(tandem_port):
    victim = RawClient(tandem_port)
    killer = RawClient(tandem_port)
    info = victim.call("CLIENT", "INFO").decode()
    addr = re.search(r" addr=(\S+)", info).group(1)
    assert killer.call("CLIENT", "KILL", addr) == b"+OK\r\n"
    assert victim.read_until_closed() == b""
    assert killer.call("CLIENT", "KILL", addr) == b"-ERR No such client\r\n"
    my_id = killer.call("CLIENT", "ID")[1:-2].decode()
    assert killer.call("CLIENT", "KILL", "ID", my_id, "SKIPME", "no") == b":1\r\n"
    assert killer.read_until_closed() == b""
    victim.close()
    killer.close()


def test_client_setinfo_is_accepted(raw):
    # Redis 7.0.15 has no CLIENT SETINFO; tandemkv answers like 7.2 because redis-py sends it.
    assert raw.call("CLIENT", "SETINFO", "LIB-NAME", "mylib") == b"+OK\r\n"
    assert raw.call("CLIENT", "SETINFO", "lib-ver", "1.2") == b"+OK\r\n"
    assert raw.call("CLIENT", "SETINFO", "foo", "x") == b"-ERR Unrecognized option 'foo'\r\n"
    assert raw.call("CLIENT", "SETINFO", "lib-name", "a b") == (
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    )
    assert raw.call("CLIENT", "SETINFO", "lib-name") == (
        b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
    )


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_parses_client_replies(tandem_port, protocol):
    client = redis.Redis(port=tandem_port, protocol=protocol, client_name="pyclient")
    assert client.client_getname() in ("pyclient", b"pyclient")
    info = client.client_info()
    assert info["name"] == "pyclient" and info["resp"] == str(protocol)
    names = [c["name"] for c in client.client_list()]
    assert "pyclient" in names
    assert client.client_setname("other") is True
    client.close()


def test_maxclients(tmp_path):
    from tests.conftest import start_tandem, stop

    proc, port = start_tandem("--maxclients", "2")
    try:
        first, second = RawClient(port), RawClient(port)
        assert first.call("PING") == b"+PONG\r\n"
        assert second.call("PING") == b"+PONG\r\n"
        third = RawClient(port)
        assert third.read_until_closed() == b"-ERR max number of clients reached\r\n"
        for client in (first, second, third):
            client.close()
    finally:
        stop(proc)


def test_client_reply_off_skip_on(diff) -> None:
    """CLIENT REPLY against redis-server: OFF drops every reply until ON, SKIP drops its own and
    the next one; errors are dropped too. Compared by the first reply after ON."""
    for client in (diff.tandem, diff.redis):
        client.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                    b"*1\r\n$7\r\nNOSUCH1\r\n*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n")
    diff("CLIENT", "REPLY", "ON")
    for client in (diff.tandem, diff.redis):
        client.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    diff("ECHO", "after-skip")
    # SKIP then ON: ON clears SKIP before it answers, so its OK is sent (Redis's unit/introspection).
    for client in (diff.tandem, diff.redis):
        client.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n")
    diff("CLIENT", "REPLY", "ON")
    diff("PING")
    # SKIP before a command that blocks and times out: its reply is dropped, the next one is not.
    for client in (diff.tandem, diff.redis):
        client.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n*3\r\n$5\r\nBLPOP\r\n$4\r\nnone\r\n$4\r\n0.05\r\n")
    diff("ECHO", "after-blocked-skip")
    diff("CLIENT", "REPLY", "MAYBE")
    diff("CLIENT", "REPLY")
    diff("GET", "k")
