"""Unit tests of the scripting layer without sockets: the conversions both ways, the sandbox,
the Python-written libraries, the script cache and busy scripts, through an embedded Store
and the Scripting object of its instance."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa.lua51 import LuaError

from tandemkv.commands import execute
from tandemkv.errors import CommandError
from tandemkv.protocol import (
    NULL_ARRAY,
    BigNumber,
    Double,
    Error,
    Map,
    SetReply,
    Simple,
    Verbatim,
    encode,
)
from tandemkv.scripting import Scripting, scripting_of
from tandemkv.scripting.runtime import BUSY_EVAL, UNKILLABLE, ScriptError, shebang_flags
from tandemkv.store import Store


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def scripting(store: Store) -> Scripting:
    return scripting_of(store.instance)


def lua(scripting, source: str):
    """Evaluate a Lua expression in the sandboxed state (as a script would see it)."""
    sha = scripting.create(f"return {source}".encode())
    return scripting.scripts[sha].function()


# ----------------------------------------------------------------------- reply -> Lua -> reply


REPLIES = [
    b"bulk",
    b"",
    42,
    -1,
    Simple(b"OK"),
    Error("WRONGTYPE Operation against a key holding the wrong kind of value"),
    [b"a", 1, [b"nested", Simple(b"QUEUED")]],
    [],
]


@pytest.mark.parametrize("reply", REPLIES, ids=repr)
@pytest.mark.parametrize("resp", [2, 3])
def test_round_trip_of_plain_replies(scripting, reply, resp):
    values = scripting.values
    back = values.lua_to_reply(values.reply_to_lua(reply, resp), resp)
    assert encode(back, 2) == encode(reply, 2)


def test_resp2_conversions(scripting):
    values = scripting.values
    to_lua, to_reply = values.reply_to_lua, values.lua_to_reply
    assert to_lua(None, 2) is False
    assert to_lua(NULL_ARRAY, 2) is False
    assert to_lua(True, 2) == 1
    assert to_lua(Double(1.5), 2) == b"1.5"
    assert to_lua(Verbatim(b"text"), 2) == b"text"
    assert to_reply(to_lua(Map([(b"k", b"v")]), 2), 2) == [b"k", b"v"]
    assert to_reply(to_lua(SetReply([b"m"]), 2), 2) == [b"m"]
    assert to_reply(False, 2) is None
    assert to_reply(True, 2) == 1
    assert to_reply(3.99, 2) == 3
    assert to_reply(-3.99, 2) == -3
    assert to_reply(float("inf"), 2) == -(2**63)
    assert to_reply(None, 2) is None


def test_resp3_conversions(scripting):
    values = scripting.values
    to_lua, to_reply = values.reply_to_lua, values.lua_to_reply
    assert to_lua(None, 3) is None
    assert to_lua(True, 3) is True
    for reply in (Map([(b"k", b"v")]), SetReply([b"m"]), Double(2.5), Verbatim(b"t", b"txt"), BigNumber(b"123")):
        assert encode(to_reply(to_lua(reply, 3), 3), 3) == encode(reply, 3)
    assert to_reply(False, 3) is False
    assert encode(to_reply(to_lua(Map([]), 3), 3), 3) == b"%0\r\n"


def test_tables_stop_at_the_first_nil(scripting):
    assert scripting.values.lua_to_reply(lua(scripting, "{1, 2, nil, 4}"), 2) == [1, 2]


def test_error_and_status_tables(scripting):
    to_reply = scripting.values.lua_to_reply
    error = to_reply(lua(scripting, "{err = 'MY error'}"), 2)
    assert isinstance(error, Error) and error.message == "MY error"
    status = to_reply(lua(scripting, "{ok = 'a\\r\\nb\\0c'}"), 2)
    assert isinstance(status, Simple) and status.text == b"a  b"


@settings(max_examples=50, deadline=None)
@given(st.recursive(st.binary(max_size=8) | st.integers(-(2**53), 2**53), lambda inner: st.lists(inner, max_size=4), max_leaves=12))
def test_nested_arrays_round_trip(reply):
    scripting = scripting_of(Store().instance)
    values = scripting.values
    for resp in (2, 3):
        assert values.lua_to_reply(values.reply_to_lua(reply, resp), resp) == reply


# ----------------------------------------------------------------------- scripts


def test_eval_through_the_store(store):
    assert store.execute("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", 1, "k", "v") == b"OK"
    assert store.get("k") == b"v"
    assert store.execute("EVAL", "return {KEYS[1], ARGV[1]}", 1, "a", "b") == [b"a", b"b"]
    with pytest.raises(CommandError, match="Script attempted to access nonexistent global variable 'x'"):
        store.execute("EVAL", "return x", 0)


def test_script_select_does_not_change_the_caller(store):
    store.execute("EVAL", "redis.call('select', 3); redis.call('set', 'k', 'in3')", 0)
    assert store.get("k") is None
    store.execute("SELECT", 3)
    assert store.get("k") == b"in3"


def test_sandbox_hides_unsafe_globals(scripting):
    for name in ("os", "io", "debug", "require", "package", "dofile", "loadfile", "print", "python", "newproxy"):
        with pytest.raises(LuaError, match=f"nonexistent global variable '{name}'"):
            lua(scripting, name)
    assert lua(scripting, "getfenv(tostring) == _G") is True  # C functions see the same guarded table
    assert lua(scripting, "type(loadstring)") == b"function"


def test_library_tables_are_read_only(store):
    for body in ("string.len = nil", "redis.call = nil", "cjson.encode = nil", "rawset(string, 'x', 1)", "_G.x = 1"):
        with pytest.raises(CommandError, match="Attempt to modify a readonly table"):
            store.execute("EVAL", body, 0)
    assert store.execute("EVAL", "return string.len('abc')", 0) == 3


def test_shebang_flags():
    assert shebang_flags(b"return 1") == (None, 0)
    assert shebang_flags(b"#!lua\nreturn 1") == (frozenset(), 5)
    assert shebang_flags(b"#!lua flags=no-writes,allow-oom\nx") == (frozenset({"no-writes", "allow-oom"}), 31)
    for body, message in (
        (b"#!lua", "Invalid script shebang"),
        (b"#!perl\n", "Unexpected engine in script shebang: #!perl"),
        (b"#!lua x=1\n", "Unknown lua shebang option: x=1"),
        (b"#!lua flags=nope\n", "Unexpected flag in script shebang: nope"),
    ):
        with pytest.raises(ScriptError, match=message):
            shebang_flags(body)


def test_cache_and_flush(store, scripting):
    sha = store.execute("SCRIPT", "LOAD", "return 1")
    assert store.execute("SCRIPT", "EXISTS", sha, "x") == [1, 0]
    assert store.execute("EVALSHA", sha, 0) == 1
    store.execute("SCRIPT", "FLUSH")
    with pytest.raises(CommandError, match="NOSCRIPT"):
        store.execute("EVALSHA", sha, 0)
    assert not scripting.scripts



def test_timed_out_script_runs_to_its_end_without_a_server(store):
    # No server: nobody can be served or send SCRIPT KILL, so nothing stops the script.
    store.execute("CONFIG", "SET", "busy-reply-threshold", "1")
    assert store.execute("EVAL", "local n = 0; for i = 1, 3e6 do n = n + 1 end; return n", 0) == 3000000
    assert store.instance.busy is None


def shown(reply) -> str:
    """An error's message, or a status reply's text."""
    return reply.message if isinstance(reply, Error) else reply.text.decode()


def busy_script(store, body: str, on_busy) -> tuple[object, list]:
    """Run `body` with a 1 ms threshold; `on_busy(client)` plays another client each time
    the script lets others in (instance.while_busy). Returns (EVAL's reply or error, what
    on_busy returned each time)."""
    other = store.instance.new_session(addr="other")
    seen: list = []

    def while_busy(caller):
        assert caller is store.session
        seen.append(on_busy(other))

    store.instance.while_busy = while_busy
    store.execute("CONFIG", "SET", "busy-reply-threshold", "1")
    try:
        reply = store.execute("EVAL", body, 0)
    except CommandError as exc:
        reply = exc.message
    return reply, seen


def test_busy_script_answers_busy_then_is_killed(store):
    def other(client):
        return [shown(execute(client, argv)) for argv in ([b"PING"], [b"FUNCTION", b"KILL"], [b"SCRIPT", b"KILL"])]

    reply, seen = busy_script(store, "while true do end", other)
    assert reply.startswith("ERR Script killed by user with SCRIPT KILL... script: ")
    assert seen == [[BUSY_EVAL, BUSY_EVAL, "OK"]]  # killed at the next hook
    assert store.instance.busy is None
    assert store.execute("PING") == b"PONG"


def test_kill_cannot_be_swallowed_by_pcall(store):
    reply, seen = busy_script(
        store,
        "local f = function() while true do end end; while true do pcall(f) end",
        lambda client: shown(execute(client, [b"SCRIPT", b"KILL"])),
    )
    assert reply.startswith("ERR Script killed by user with SCRIPT KILL...")
    assert seen == ["OK"]


def test_script_that_wrote_is_unkillable(store):
    reply, seen = busy_script(
        store,
        "redis.call('set', 'k', 'v'); local n = 0; for i = 1, 3e6 do n = n + 1 end; return n",
        lambda client: shown(execute(client, [b"SCRIPT", b"KILL"])),
    )
    assert reply == 3000000
    assert seen and all(r == UNKILLABLE for r in seen)


def test_the_script_itself_is_never_refused_busy(store):
    reply, seen = busy_script(
        store,
        "local t = redis.call('time')[1]; local n = 0; while n < 3e6 do n = n + 1 end; return redis.call('ping')",
        lambda client: shown(execute(client, [b"GET", b"x"])),
    )
    assert reply == b"PONG"
    assert seen and all(r == BUSY_EVAL for r in seen)


def test_script_kill_without_a_script(store):
    with pytest.raises(CommandError, match=r"NOTBUSY No scripts in execution right now\."):
        store.execute("SCRIPT", "KILL")
    with pytest.raises(CommandError, match=r"NOTBUSY No scripts in execution right now\."):
        store.execute("FUNCTION", "KILL")


def test_function_stats_without_a_run(store):
    store.execute("FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)")
    assert store.execute("FUNCTION", "STATS") == {
        b"running_script": None,
        b"engines": {b"LUA": {b"libraries_count": 1, b"functions_count": 1}},
    }


# ----------------------------------------------------------------------- libraries


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("bit.band(0xff, 0x0f)", 0x0F),
        ("bit.bor(1, 2, 4)", 7),
        ("bit.bxor(5, 3)", 6),
        ("bit.bnot(0)", -1),
        ("bit.lshift(1, 31)", -(2**31)),
        ("bit.rshift(-1, 28)", 15),
        ("bit.arshift(-256, 4)", -16),
        ("bit.tobit(2^32 + 5)", 5),
        ("bit.tohex(255)", b"000000ff"),
        ("bit.tohex(-1, -4)", b"FFFF"),
        ("bit.bswap(0x12345678)", 0x78563412),
        ("cjson.encode({a = {1, 2, 'x/y'}})", b'{"a":[1,2,"x\\/y"]}'),
        ("cjson.encode({})", b"{}"),
        ("cjson.encode(0.1)", b"0.1"),
        ("cjson.decode('[1,2,3]')[3]", 3),
        ("cjson.decode('{\"k\":\"v\"}').k", b"v"),
        ("struct.pack('>I2', 258)", b"\x01\x02"),
        ("struct.size('>iIhd')", 18),
        ("(struct.unpack('<i', struct.pack('<i', -5)))", -5),
        ("cmsgpack.pack(1, 'a')", b"\x01\xa1a"),
        ("cmsgpack.pack({1, 2})", b"\x92\x01\x02"),
        ("cmsgpack.pack({a = true})", b"\x81\xa1a\xc3"),
        ("cmsgpack.pack(1.5)", b"\xca" + struct.pack(">f", 1.5)),
        ("cmsgpack.pack(0.1)", b"\xcb" + struct.pack(">d", 0.1)),
        ("cmsgpack.pack(-33)", b"\xd0\xdf"),
    ],
)
def test_libraries(scripting, source, expected):
    assert lua(scripting, source) == expected


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.booleans() | st.integers(-(2**53), 2**53) | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=20),
    max_leaves=30,
))
def test_cmsgpack_round_trip(value):
    scripting = scripting_of(Store().instance)
    values = scripting.values
    round_trip = scripting.lua.eval("function(v) return cmsgpack.unpack(cmsgpack.pack(v)) end")
    assert values.lua_to_reply(round_trip(values.reply_to_lua(value, 3)), 3) == value


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.integers(-(2**40), 2**40) | st.binary(max_size=30),
    lambda inner: st.lists(inner, min_size=1, max_size=8),
    max_leaves=20,
))
def test_cjson_round_trip(value):
    scripting = scripting_of(Store().instance)
    values = scripting.values
    round_trip = scripting.lua.eval("function(v) return cjson.decode(cjson.encode(v)) end")
    assert values.lua_to_reply(round_trip(values.reply_to_lua(value, 3)), 3) == value


def test_rand48_first_values(scripting):
    scripting._randomseed(42)
    first = scripting._random()
    scripting._randomseed(42)
    assert scripting._random() == first and 0 <= first < 1
