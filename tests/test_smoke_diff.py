"""First differential checks: GET/SET and the dispatcher's errors, byte for byte."""

from __future__ import annotations


def test_set_get_roundtrip(diff):
    diff("SET", "k", "v")
    diff("GET", "k")
    diff("GET", "missing")


def test_set_options(diff):
    diff("SET", "k", "v", "NX")
    diff("SET", "k", "v2", "NX")
    diff("SET", "k", "v3", "XX", "GET")
    diff("SET", "k", "v4", "EX", "100", "GET")
    diff("SET", "k", "v", "EX", "0")
    diff("SET", "k", "v", "EX", "abc")
    diff("SET", "k", "v", "NX", "XX")
    diff("SET", "k", "v", "KEEPTTL", "EX", "10")
    diff("SET", "k", "v", "EX")
    diff("SET", "k", "v", "PX", "-5")
    diff("SET", "k", "v", "EXAT", "9223372036854775807")


def test_dispatcher_errors(diff):
    diff("GET")
    diff("NOSUCHCOMMAND", "a", "b")
    diff("nosuch")
    diff("NOSUCH", "x" * 200, "y")
    diff("SELECT", "abc")
    diff("SELECT", "99")
    diff("PING", "a", "b")
    diff("PING")
    diff("PING", "hello")
    diff("ECHO", "hi")


def test_hello_errors(diff):
    diff("HELLO", "abc")
    diff("HELLO", "4")
    diff("HELLO", "1")
    diff("HELLO", "3", "FOO")
    diff("HELLO", "3", "foo")
    diff("HELLO", "3", "SETNAME", "has space")
    diff("HELLO", "3", "AUTH", "nobody", "pw")
