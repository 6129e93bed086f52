"""Differential tests of Lua scripting (EVAL, EVALSHA, *_RO, SCRIPT) against redis-server 7.0.15,
in RESP2 and RESP3: conversions both ways, the redis.* API, the sandbox, error texts byte for
byte, and scripts from real libraries (redis-py's Lock, register_script)."""

from __future__ import annotations

import hashlib

import pytest
from redis.lock import Lock

from tests.resp import RawClient, encode_command


def sha(body: str) -> str:
    return hashlib.sha1(body.encode()).hexdigest()


def ev(diff, body: str, *keys_and_args: object, numkeys: int = 0) -> bytes:
    return diff("EVAL", body, numkeys, *keys_and_args)


# ----------------------------------------------------------------------- Lua -> RESP


@pytest.mark.parametrize(
    "body",
    [
        "return 1",
        "return -7",
        "return 3.99",
        "return -3.99",
        "return 1e300",
        "return 0/0",
        "return 'hello'",
        "return ''",
        "return true",
        "return false",
        "return nil",
        "return {}",
        "return {1, 2, 3}",
        "return {1, 2, nil, 4}",
        "return {1, 'two', {3, {4, 'five'}}, false, true}",
        "return {ok = 'fine'}",
        "return {ok = 'a\\r\\nb'}",
        "return {ok = 'a\\0b'}",
        "return {ok = 'fine', err = 'ERR the error wins'}",
        "return {ok = 7}",
        "return {ok = 'fine', err = 7}",
        "return {ok = {}}",
        "return {err = 'MYERR custom'}",
        "return {err = 'no code'}",
        "return {1, {err = 'ERR nested'}, 3}",
        "return redis.status_reply('PONG')",
        "return redis.error_reply('MY failure')",
        "return redis.error_reply('no code here')",
        "return redis.error_reply('-DASH x')",
        "return redis.error_reply(1)",
        "return redis.status_reply()",
        "return {double = 3.25}",
        "return {map = {a = 1}}",
        "return {set = {x = true}}",
        "return {big_number = '123456789012345678901234567890'}",
        "return {verbatim_string = {format = 'txt', string = 'hello'}}",
        "return {1, {double = 0.5}, {map = {k = 'v'}}}",
        "return {'a', b = 'ignored'}",
        "return print",
        "return function() end",
        "return loadstring(string.dump(function() return 1 end))",
    ],
)
def test_lua_values_become_replies(diff, body):
    ev(diff, body)


@pytest.mark.parametrize(
    "body",
    [
        "redis.setresp(3); return true",
        "redis.setresp(3); return false",
        "redis.setresp(3); return nil",
        "redis.setresp(3); return {double = 1.5}",
        "redis.setresp(3); return {map = {only = 'one'}}",
        "redis.setresp(3); return {set = {one = true}}",
        "redis.setresp(3); return {big_number = '12345678901234567890'}",
        "redis.setresp(3); return {verbatim_string = {format = 'txt', string = 'x'}}",
        "redis.setresp(3); return {1, true, false}",
    ],
)
def test_resp3_script_values(diff, body):
    ev(diff, body)


# ----------------------------------------------------------------------- RESP -> Lua


def test_replies_become_lua_values(diff):
    diff("SET", "s", "v")
    diff("RPUSH", "l", "a", "b", "c")
    for body in (
        "return redis.call('get', 's')",
        "return redis.call('get', 'missing')",
        "return type(redis.call('get', 'missing'))",
        "return redis.call('set', 'x', 'y')",
        "return type(redis.call('set', 'x', 'y'))",
        "return redis.call('set', 'x', 'y').ok",
        "return redis.call('incr', 'n')",
        "return type(redis.call('incr', 'n'))",
        "return redis.call('lrange', 'l', 0, -1)",
        "return #redis.call('lrange', 'l', 0, -1)",
        "return redis.call('lpop', 'nolist')",
        "return type(redis.call('blpop', 'nolist', 0))",
        "return redis.call('exists', 's', 'l', 'nope')",
        "return redis.call('ping')",
        "return redis.call('echo', 'hi')",
        "return redis.pcall('incr', 's')",
        "return redis.pcall('incr', 's')['err']",
        "return type(redis.pcall('incr', 's'))",
        "return redis.call('config', 'get', 'maxmemory')",
        "return redis.call('incrbyfloat', 'f', '1.5')",
        "return redis.call('lmpop', 1, 'l', 'left')",
    ):
        ev(diff, body)


def test_resp3_replies_become_lua_values(diff):
    diff("SET", "s", "v")
    for body in (
        "redis.setresp(3); return redis.call('get', 'missing')",
        "redis.setresp(3); return type(redis.call('get', 'missing'))",
        "redis.setresp(3); local r = redis.call('config', 'get', 'maxmemory'); return r.map.maxmemory",
        "redis.setresp(3); return redis.call('config', 'get', 'maxmemory')",
        "redis.setresp(3); return type(redis.call('lpop', 'nolist'))",
        "redis.setresp(3); local r = redis.call('incrbyfloat', 'f', '2.5'); return type(r)",
        "redis.setresp(3); return redis.call('lpos', 'nolist', 'x')",
        "redis.setresp(3); return redis.call('ping')",
        "redis.setresp(2); return redis.call('config', 'get', 'maxmemory')",
    ):
        ev(diff, body)


def test_numbers_as_command_arguments(diff):
    for body in (
        "return redis.call('set', 'n', 1)",
        "return redis.call('set', 'n', 1.5)",
        "return redis.call('set', 'n', 0.1) and redis.call('get', 'n')",
        "return redis.call('set', 'n', 1e20) and redis.call('get', 'n')",
        "return redis.call('set', 'n', 2^53) and redis.call('get', 'n')",
    ):
        ev(diff, body)


# ----------------------------------------------------------------------- KEYS, ARGV, numkeys


def test_keys_and_argv(diff):
    ev(diff, "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "k1", "k2", "a1", "a2", numkeys=2)
    ev(diff, "return {#KEYS, #ARGV}")
    ev(diff, "return ARGV", "x", "y", "z", numkeys=1)
    ev(diff, "KEYS[1] = 'changed'; return KEYS", "k", numkeys=1)
    diff("EVAL", "return 1", "notanumber")
    diff("EVAL", "return 1", "2", "onlyone")
    diff("EVAL", "return 1", "-1")
    diff("EVAL", "return 1")
    diff("EVALSHA", "x")


@pytest.mark.parametrize("count", [0, 1, 63, 64, 65, 300])
def test_many_keys_and_argv(diff, count):
    """KEYS and ARGV reach Lua as the run's arguments up to runtime.VARARGS_MAX values in all,
    as two tables past it: both ways give the same tables, around the bound and far past it."""
    body = "return {#KEYS, #ARGV, KEYS[1], KEYS[#KEYS], ARGV[1], ARGV[#ARGV], KEYS[#KEYS + 1], ARGV[#ARGV + 1]}"
    keys = [f"k{i}" for i in range(count)]
    args = [f"a{i}" for i in range(count)]
    ev(diff, body, *keys, *args, numkeys=count)  # half keys, half arguments
    ev(diff, body, *keys, *args, numkeys=0)  # all arguments
    ev(diff, body, *keys, *args, numkeys=2 * count)  # all keys
    ev(diff, "return {#KEYS, #ARGV}", *keys, numkeys=count // 2)


def test_script_commands_are_counted(diff):
    """total_commands_processed and commandstats count the script's commands, each once, as
    Redis's call() does (a script's commands skip the dispatcher's per-client checks)."""
    def processed() -> tuple[int, int]:
        infos = diff.both("INFO", "stats")
        return tuple(  # type: ignore[return-value]
            int(next(line for line in info.split(b"\r\n") if line.startswith(b"total_commands_processed:")).split(b":")[1])
            for info in infos
        )

    diff("CONFIG", "RESETSTAT")
    before = processed()
    ev(diff, "redis.call('get', KEYS[1]); redis.pcall('nosuch'); return redis.call('set', KEYS[1], ARGV[1])", "k", "v", numkeys=1)
    after = processed()
    assert after[0] - before[0] == after[1] - before[1]
    ours, theirs = diff.both("INFO", "commandstats")
    for name in (b"cmdstat_get:calls=1,", b"cmdstat_set:calls=1,", b"cmdstat_eval:calls=1,"):
        assert name in ours and name in theirs


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "body",
    [
        "return syntax error here",
        "return 'unfinished",
        "x = 1",
        "return undefined_global",
        "return print",
        "return os",
        "return debug",
        "return io",
        "return require",
        "redis.call = nil",
        "string.foo = 1",
        "math.pi = 3",
        "rawset(_G, 'x', 1)",
        "setmetatable(_G, nil)",
        "local g = getmetatable(_G); g.__index = {}",
        "error('boom')",
        "error('boom', 0)",
        "error({err = 'CUSTOM raised'})",
        "local t = nil; return t.x",
        "return 1 + {}",
        "return redis.call('nosuch')",
        "return redis.call('nosuch', 'a')",
        "return redis.call('get')",
        "return redis.call('config')",
        "return redis.call('config', 'nosuch')",
        "return redis.call('blpop', 'l', 0)",
        "return redis.call('subscribe', 'c')",
        "return redis.call('eval', 'return 1', 0)",
        "return redis.call('script', 'load', 'return 1')",
        "return redis.call()",
        "return redis.call({})",
        "return redis.call('get', {})",
        "return redis.call('get', nil)",
        "return redis.call('get', true)",
        "return redis.pcall()",
        "return redis.pcall('nosuch')",
        "return redis.pcall('get')",
        "return redis.call('incr', 'k') + redis.call('set', 'k', 'x') + redis.call('incr', 'k')",
        # a tail call: the error names the user's line 3 only while redis.call is no Lua function
        "local a = 1\nlocal b = 2\nreturn redis.call('incr', 'str')",
        "local a = 1\nlocal b = 2\nreturn redis.pcall('incr', 'str')",
        "local ok, err = pcall(redis.call, 'nosuch'); return {tostring(ok), err}",
        "local ok, err = pcall(function() redis.call('incr', 'str') end); return err",
        "local ok, err = pcall(error, {err = 'TABLE err'}); return err",
        "local ok, err = pcall(error, 'plain'); return err",
        "return redis.sha1hex()",
        "return redis.sha1hex('a', 'b')",
        "return redis.log()",
        "return redis.log(redis.LOG_WARNING)",
        "return redis.log('x', 'msg')",
        "return redis.log(9, 'msg')",
        "return redis.setresp()",
        "return redis.setresp(4)",
        "return redis.set_repl()",
        "return redis.set_repl(9)",
        "return math.random(0)",
        "return math.random(5, 1)",
        "return math.random('x')",
        "return math.random(1, 2, 3)",
        "return bit.tobit()",
        "return bit.band('x')",
        "return cjson.encode(print)",
        "return cjson.encode({[true] = 1})",
        "return cmsgpack.unpack('\\217')",
        "return struct.pack('i')",
    ],
)
def test_error_texts(diff, body):
    diff("SET", "str", "text")
    ev(diff, body)


def test_read_only_scripts(diff):
    diff("SET", "k", "v")
    diff("EVAL_RO", "return redis.call('get', KEYS[1])", 1, "k")
    diff("EVAL_RO", "return redis.call('set', KEYS[1], 'x')", 1, "k")
    diff("EVAL_RO", "return redis.pcall('del', KEYS[1])", 1, "k")
    diff("EVAL_RO", "return redis.call('publish', 'c', 'm')", 0)
    diff("GET", "k")
    body = "return redis.call('get', KEYS[1])"
    diff("SCRIPT", "LOAD", body)
    diff("EVALSHA_RO", sha(body), 1, "k")
    writer = "return redis.call('set', KEYS[1], 'w')"
    diff("SCRIPT", "LOAD", writer)
    diff("EVALSHA_RO", sha(writer), 1, "k")
    diff("EVALSHA_RO", "0" * 40, 0)


def test_shebang_flags(diff):
    diff("SET", "k", "v")
    diff("EVAL", "#!lua\nreturn redis.call('get', KEYS[1])", 1, "k")
    diff("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, "k")
    diff("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'x')", 1, "k")
    diff("EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, "k")
    diff("EVAL_RO", "#!lua\nreturn redis.call('get', KEYS[1])", 1, "k")
    diff("EVAL", "#!lua flags=allow-oom,allow-stale\nreturn 1", 0)
    diff("EVAL", "#!lua flags=\nreturn 1", 0)
    diff("EVAL", "#!lua flags=bogus\nreturn 1", 0)
    diff("EVAL", "#!lua name=x\nreturn 1", 0)
    diff("EVAL", "#!python\nreturn 1", 0)
    diff("EVAL", "#!lua", 0)
    diff("EVAL", "#!lua\nerror('line two')", 0)


# ----------------------------------------------------------------------- redis.* API


def test_redis_api(diff):
    for body in (
        "return redis.sha1hex('')",
        "return redis.sha1hex('hello')",
        "return redis.sha1hex(12)",
        "return redis.REDIS_VERSION",
        "return redis.REDIS_VERSION_NUM",
        "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
        "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
        "return redis.log(redis.LOG_WARNING, 'from a test', 1, 2)",
        "return redis.set_repl(redis.REPL_ALL)",
        "return redis.replicate_commands()",
        "return redis.setresp(2)",
        "return redis.breakpoint()",
        "return redis.acl_check_cmd('get', 'k')",
        "return redis.acl_check_cmd('nosuch')",
        "return _VERSION",
        "return type(_G)",
        "return tostring(_G == _G._G)",
        "return type(__redis__err__handler)",
        "return type(newproxy)",
        "return type(loadstring('return 1'))",
        "return loadstring('return 1 + 1')()",
        "return select('#', 1, 2, 3)",
        "return {pcall(function() return 1, 2 end)}",
        "return {xpcall(function() error('e') end, function(m) return 'handled ' .. m end)}",
        "return table.concat({'a', 'b'}, '-')",
        "return string.format('%d-%s-%5.2f', 7, 'x', 3.14159)",
        "return string.rep('ab', 3)",
        "return ('abc'):upper()",
        "return tostring(1e15) .. ' ' .. tostring(0.1) .. ' ' .. tostring(1/3)",
        "return tonumber('0x10')",
        "return math.floor(7.9) + math.max(1, 5)",
        "local t = {3, 1, 2}; table.sort(t); return t",
        "local co = coroutine.create(function(a) coroutine.yield(a + 1) end); return {coroutine.resume(co, 1)}",
        "return unpack({1, 2, 3})",
        "local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}); return t.x",
    ):
        ev(diff, body)


def test_select_inside_a_script_is_local_to_the_script(diff):
    diff("SET", "k", "db0")
    diff("SELECT", "1")
    diff("SET", "k", "db1")
    ev(diff, "redis.call('select', 0); return redis.call('get', 'k')")
    diff("GET", "k")
    ev(diff, "return redis.call('get', 'k')")
    diff("SELECT", "0")
    diff("FLUSHALL")


def test_math_random_is_redis_sequence(diff):
    ev(diff, "math.randomseed(42); return {math.random(1000), math.random(1000), math.random(1, 6)}")
    ev(diff, "math.randomseed(7); return tostring(math.random())")


# ----------------------------------------------------------------------- libraries


def test_cjson(diff):
    for body in (
        "return cjson.encode({1, 2, 3})",
        "return cjson.encode({a = 'x'})",
        "return cjson.encode('a/b\"c\\\\d\\n\\1')",
        "return cjson.encode({})",
        "return cjson.encode(1.5)",
        "return cjson.encode(100000000000000)",
        "return cjson.encode(true)",
        "return cjson.encode(cjson.null)",
        "return cjson.encode({1, nil, 3})",
        "return cjson.encode({[1] = 1, [20] = 2})",
        "return cjson.encode({nested = {deep = {1, {x = false}}}})",
        "return cjson.encode(0/0)",
        "return cjson.decode('[1, 2, 3]')",
        "return cjson.decode('{\"a\": [1, \"x\"]}')['a']",
        "return tostring(cjson.decode('null') == cjson.null)",
        "return cjson.decode('\"\\\\u00e9\\\\n\"')",
        "return cjson.decode('3.5') * 2",
        "return cjson.decode('true')",
        "return cjson.encode(cjson.decode('{\"k\":[1,2,{\"z\":null}]}'))",
        "return cjson.encode_keep_buffer(false)",
        "return {pcall(cjson.encode, {[false] = 1})}",
        "cjson.encode_max_depth(1); local r = {pcall(cjson.encode, {a = {1}})}; cjson.encode_max_depth(1000); return r",
        "cjson.decode_max_depth(1); local r = {pcall(cjson.decode, '[[1]]')}; cjson.decode_max_depth(1000); return r",
        "return {pcall(function() return bit.tobit() end)}",
        "cjson.encode_invalid_numbers(true); local r = cjson.encode({1/0, -1/0}); cjson.encode_invalid_numbers(false); return r",
        "cjson.encode_invalid_numbers('null'); local r = cjson.encode({1/0}); cjson.encode_invalid_numbers(false); return r",
        "return {cjson.encode_invalid_numbers()}",
    ):
        ev(diff, body)


def test_cmsgpack(diff):
    for body in (
        "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65536, -33, -129, -32769, 2^32, -2^40)",
        "return cmsgpack.pack('short', string.rep('x', 40), string.rep('y', 300))",
        "return cmsgpack.pack({1, 2, 3}, {a = 1}, {}, true, false, nil)",
        "return cmsgpack.pack(1.5, 0.1)",
        "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, {k = 'v'}))}",
        "return cmsgpack.unpack(cmsgpack.pack({1, {2, {3}}}))",
        "return tostring(cmsgpack.unpack(cmsgpack.pack(0.25)))",
        "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}",
    ):
        ev(diff, body)


def test_bit(diff):
    for body in (
        "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}",
        "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.lshift(1, 33)}",
        "return {bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(1.5), bit.tobit(2.5)}",
        "return {bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4)}",
        "return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}",
        "return bit.band('12', 4)",
    ):
        ev(diff, body)


def test_struct(diff):
    for body in (
        "return struct.pack('>I2', 258)",
        "return struct.pack('<i', -2)",
        "return struct.pack('>bBhH', -1, 255, -2, 65535)",
        "return struct.pack('>d', 1.5)",
        "return struct.pack('s', 'zero')",
        "return struct.pack('c3', 'abcdef')",
        "return {struct.unpack('>I2', '\\1\\2')}",
        "return {struct.unpack('<i', struct.pack('<i', -77))}",
        "return {struct.unpack('>I2I2', 'abcd', 3)}",
        "return {struct.unpack('s', 'ab\\0cd')}",
        "return struct.size('>iIhd')",
    ):
        ev(diff, body)


# ----------------------------------------------------------------------- cache, SCRIPT


def test_script_cache(diff):
    body = "return 'cached'"
    diff("SCRIPT", "FLUSH")
    diff("EVALSHA", sha(body), 0)
    diff("SCRIPT", "EXISTS", sha(body), "nosuch")
    diff("EVAL", body, 0)  # EVAL caches what it runs
    diff("SCRIPT", "EXISTS", sha(body), sha(body).upper(), "nosuch")
    diff("EVALSHA", sha(body), 0)
    diff("EVALSHA", sha(body).upper(), 0)
    diff("EVALSHA_RO", sha(body), 0)
    diff("SCRIPT", "LOAD", "return 'loaded'")
    diff("EVALSHA", sha("return 'loaded'"), 0)
    diff("SCRIPT", "LOAD", "return syntax error")
    diff("SCRIPT", "LOAD", "#!bogus\nreturn 1")
    diff("SCRIPT", "FLUSH", "SYNC")
    diff("SCRIPT", "EXISTS", sha(body))
    diff("EVALSHA", sha(body), 0)
    diff("SCRIPT", "FLUSH", "ASYNC")
    diff("SCRIPT", "FLUSH", "nope")
    diff("SCRIPT", "FLUSH", "SYNC", "ASYNC")
    diff("SCRIPT", "EXISTS")
    diff("SCRIPT", "LOAD")
    diff("SCRIPT", "KILL")
    diff("SCRIPT", "HELP")
    diff("FUNCTION", "HELP")
    diff("FUNCTION", "HELP", "extra")
    diff("SCRIPT", "NOSUCH")
    diff("SCRIPT")


def test_recursive_table_ends_in_stack_limit_error(tandem_port):
    client = RawClient(tandem_port)
    try:
        reply = client.call("EVAL", "local a = {}; local b = {a}; a[1] = b; return a", 0)
        assert reply.startswith(b"*1\r\n*1\r\n") and reply.endswith(b"-ERR reached lua stack limit\r\n")
        assert client.call("PING") == b"+PONG\r\n"
    finally:
        client.close()


def test_state_does_not_leak_between_scripts(diff):
    ev(diff, "local x = 1; return x")
    ev(diff, "return x")
    ev(diff, "redis.setresp(3); return 1")
    ev(diff, "return redis.call('get', 'missing')")  # RESP2 again: false -> null


# ----------------------------------------------------------------------- real libraries


def _lock_scripts() -> list[str]:
    return [Lock.LUA_RELEASE_SCRIPT, Lock.LUA_EXTEND_SCRIPT, Lock.LUA_REACQUIRE_SCRIPT]


def test_redis_py_lock_scripts(diff):
    release, extend, reacquire = _lock_scripts()
    diff("SET", "lock", "token", "PX", "100000")
    diff("EVAL", extend, 1, "lock", "token", "5000", "0")
    diff("EVAL", extend, 1, "lock", "other", "5000", "0")
    diff("EVAL", reacquire, 1, "lock", "token", "100000")
    diff("EVAL", release, 1, "lock", "other")
    diff("EVAL", release, 1, "lock", "token")
    diff("EXISTS", "lock")
    diff("EVAL", release, 1, "lock", "token")


def test_redis_py_lock_and_register_script(r, r3):
    for client in (r, r3):
        client.flushall()
        lock = client.lock("resource", timeout=10)
        assert lock.acquire(blocking=False)
        assert lock.extend(5)
        assert lock.reacquire()
        assert not client.lock("resource", timeout=10).acquire(blocking=False)
        lock.release()
        assert client.get("resource") is None
        multiply = client.register_script("return redis.call('incrby', KEYS[1], ARGV[1]) * 2")
        client.script_flush()
        assert multiply(keys=["n"], args=[5]) == 10  # NOSCRIPT, then EVAL, transparently
        assert multiply(keys=["n"], args=[1]) == 12
        assert client.script_exists(multiply.sha) == [True]


def test_blocked_client_served_after_the_whole_script(tandem_port):
    waiter = RawClient(tandem_port)
    writer = RawClient(tandem_port)
    try:
        waiter.send(encode_command("BLPOP", "q", "5"))
        writer.call("PING")
        body = "redis.call('rpush', 'q', 'a'); redis.call('lpop', 'q'); redis.call('rpush', 'q', 'b'); return 1"
        assert writer.call("EVAL", body, 1, "q") == b":1\r\n"
        assert waiter.read_reply() == b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n"
    finally:
        waiter.close()
        writer.close()


def test_blocking_command_in_script_does_not_block(diff):
    ev(diff, "return redis.call('blmpop', 0, 1, 'nolist', 'left')")
    ev(diff, "return redis.call('brpoplpush', 'nolist', 'x', 0)")
    ev(diff, "return redis.call('blmove', 'nolist', 'x', 'left', 'right', 0)")


# ----------------------------------------------------------------------- functions


LIB = "#!lua name=mylib\n" + "\n".join([
    "redis.register_function('echo_keys', function(keys, args) return {keys[1], args[1], #keys, #args} end)",
    "redis.register_function{function_name = 'reader', callback = function(keys) return redis.call('get', keys[1]) end,",
    "  flags = {'no-writes'}, description = 'reads a key'}",
    "redis.register_function('writer', function(keys, args) return redis.call('set', keys[1], args[1]) end)",
    "redis.register_function('fails', function() return redis.call('nosuch') end)",
    "redis.register_function('globals', function() return KEYS end)",
])


def test_function_load_and_fcall(diff):
    diff("FUNCTION", "FLUSH")
    diff("FUNCTION", "LOAD", LIB)
    diff("FUNCTION", "LOAD", LIB)
    diff("FUNCTION", "LOAD", "REPLACE", LIB)
    diff("FCALL", "echo_keys", 2, "k1", "k2", "a1")
    diff("FCALL", "writer", 1, "k", "v")
    diff("FCALL", "reader", 1, "k")
    diff("FCALL_RO", "reader", 1, "k")
    diff("FCALL_RO", "writer", 1, "k", "v")
    diff("FCALL", "fails", 0)
    diff("FCALL", "globals", 0)
    diff("FCALL", "nosuch", 0)
    diff("FCALL", "reader", "x")
    diff("FCALL", "reader", 5, "k")
    diff("FCALL", "reader", -1)
    diff("FUNCTION", "LIST", "LIBRARYNAME", "nomatch*")
    diff("FUNCTION", "LIST", "LIBRARYNAME")
    diff("FUNCTION", "LIST", "BOGUS")
    diff("FUNCTION", "DELETE", "mylib")
    diff("FUNCTION", "DELETE", "mylib")
    diff("FCALL", "reader", 1, "k")
    diff("FUNCTION", "FLUSH", "BOGUS")
    diff("FUNCTION", "FLUSH", "SYNC")


def test_fcall_many_keys_and_argv(diff):
    """FCALL's keys and arguments past runtime.VARARGS_MAX go to Lua as tables, as below it."""
    diff("FUNCTION", "FLUSH")
    diff("FUNCTION", "LOAD", LIB)
    for count in (1, 64, 65, 200):
        keys = [f"k{i}" for i in range(count)]
        diff("FCALL", "echo_keys", count, *keys, *[f"a{i}" for i in range(count)])
        diff("FCALL", "echo_keys", 0, *keys)
        diff("FCALL", "echo_keys", count, *keys)
    diff("FUNCTION", "FLUSH", "SYNC")


def test_function_list_entries(diff):
    diff("FUNCTION", "FLUSH")
    diff("FUNCTION", "LOAD", "#!lua name=one\nredis.register_function{function_name='f', callback=function() return 1 end, flags={'no-writes', 'allow-oom'}, description='desc'}")
    diff("FUNCTION", "LIST")
    diff("FUNCTION", "LIST", "WITHCODE")
    diff("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "o*")
    diff("FUNCTION", "FLUSH")


@pytest.mark.parametrize(
    "code",
    [
        "return 1",
        "#!lua\nreturn 1",
        "#!lua name=x",
        "#!lua name=x name=y\nreturn 1",
        "#!lua name=bad-name\nreturn 1",
        "#!lua other=1\nreturn 1",
        "#!js name=x\nreturn 1",
        "#!lua name=x\nreturn 1",
        "#!lua name=x\nsyntax error",
        "#!lua name=x\nerror('e')",
        "#!lua name=x\nx = 1",
        "#!lua name=x\nreturn string.len('a')",
        "#!lua name=x\nredis.call('ping')",
        "#!lua name=x\nredis.register_function()",
        "#!lua name=x\nredis.register_function(1, 2)",
        "#!lua name=x\nredis.register_function({}, 2)",
        "#!lua name=x\nredis.register_function('f')",
        "#!lua name=x\nredis.register_function('bad name', function() end)",
        "#!lua name=x\nredis.register_function('f', function() end); redis.register_function('f', function() end)",
        "#!lua name=x\nredis.register_function({function_name='f'})",
        "#!lua name=x\nredis.register_function({callback=function() end})",
        "#!lua name=x\nredis.register_function({function_name='f', callback=function() end, flags={'bogus'}})",
        "#!lua name=x\nredis.register_function({function_name='f', callback=function() end, flags='no-writes'})",
        "#!lua name=x\nredis.register_function({function_name='f', callback=function() end, other=1})",
        "#!lua name=x\nredis.register_function({function_name={}, callback=function() end})",
        "#!lua name=x\nredis.register_function({function_name='f', callback=1})",
        "#!lua name=x\nredis.log(redis.LOG_NOTICE, 'loading'); redis.register_function('f', function() return redis.REDIS_VERSION end)",
    ],
)
def test_function_load_errors(diff, code):
    diff("FUNCTION", "FLUSH")
    diff("FUNCTION", "LOAD", code)
    diff("FUNCTION", "FLUSH")


def test_function_names_collide_across_libraries(diff):
    diff("FUNCTION", "FLUSH")
    diff("FUNCTION", "LOAD", "#!lua name=a\nredis.register_function('f', function() return 'a' end)")
    diff("FUNCTION", "LOAD", "#!lua name=b\nredis.register_function('f', function() return 'b' end)")
    diff("FUNCTION", "LOAD", "REPLACE", "#!lua name=a\nredis.register_function('f', function() return 'a2' end)")
    diff("FCALL", "f", 0)
    diff("FUNCTION", "LOAD", "#!lua name=a\nredis.register_function('g', function() return 1 end)")
    diff("FUNCTION", "LOAD", "REPLACE", "#!lua name=a\nsyntax error")
    diff("FCALL", "f", 0)
    diff("SCRIPT", "FLUSH")
    diff("FCALL", "f", 0)  # SCRIPT FLUSH keeps functions
    diff("FUNCTION", "FLUSH")


# ----------------------------------------------------------------------- memory bound, error stats


@pytest.fixture
def over_bound(diff):
    """Both servers over maxmemory (noeviction): a key, then a 1-byte bound."""
    diff("SET", "k", "v")
    diff("CONFIG", "SET", "maxmemory", 1)
    diff("CONFIG", "RESETSTAT")
    yield diff
    diff("CONFIG", "SET", "maxmemory", 0)


def test_oom_refuses_only_a_scripts_first_write(over_bound):
    diff = over_bound
    diff("EVAL", "return redis.call('set','x','y')", 1, "x")
    diff("EVAL", "local t = redis.pcall('set','x','y'); return t['err']", 1, "x")
    diff("EVAL", "return redis.pcall('set','x','y')", 1, "x")
    diff("EVAL", "redis.call('del','nokey'); return redis.call('set','x','y')", 1, "x")  # wrote first
    diff("EVAL", "return redis.call('get','k')", 0)
    diff("EVAL", "#!lua\nreturn 1", 0)
    diff("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','k')", 0)
    diff("EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','x','z')", 1, "x")
    diff("EVAL_RO", "#!lua\nreturn 1", 0)
    diff("FUNCTION", "LOAD", "#!lua name=oomlib\nredis.register_function('w', function() return 1 end)")
    diff("FCALL", "w", 0)
    diff("INFO", "errorstats")
    diff("FUNCTION", "FLUSH")


def test_script_errors_in_errorstats(diff):
    diff("CONFIG", "RESETSTAT")
    diff("EVAL", "return redis.call('select', 99)", 0)  # counted once, by SELECT
    diff("EVAL", "local t = redis.pcall('select', 99); return 1", 0)
    diff("EVAL", "return redis.pcall('select', 99)", 0)
    diff("EVAL", "return redis.error_reply('MY error')", 0)  # counted by the script's reply
    diff("EVAL", "return {err = 'X y'}", 0)
    diff("EVAL", "error('boom')", 0)
    diff("EVAL", "return redis.call('nosuchcommand')", 0)  # refused: counted by the refusal
    diff("EVAL", "return redis.call()", 0)
    diff("EVAL_RO", "return redis.call('set', 'x', 'y')", 1, "x")
    diff("EVAL_RO", "#!lua\nreturn redis.call('set', 'x', 'y')", 1, "x")
    diff("SCRIPT", "KILL")
    diff("INFO", "errorstats")


def test_sort_of_a_set_is_ordered_in_scripts(diff):
    diff("SADD", "s", *"zyxwvutsrqponmlkjihgfedcba", "aa", "aaa")
    diff("EVAL", "return redis.call('sort', KEYS[1], 'by', 'nokey')", 1, "s")


def test_xread_block_refused_in_scripts(diff):
    diff("EVAL", "return redis.pcall('xread', 'BLOCK', 0, 'STREAMS', 's', '$')", 1, "s")
    diff("EVAL", "return redis.pcall('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', 's', '>')", 1, "s")


def test_function_names_ignore_case_across_libraries(diff):
    diff("FUNCTION", "LOAD", "#!lua name=one\nredis.register_function('Hello', function() return 1 end)")
    diff("FCALL", "hello", 0)
    diff("FCALL", "HELLO", 0)
    diff("FUNCTION", "LOAD", "#!lua name=two\nredis.register_function('hELLO', function() return 2 end)")
    diff("FUNCTION", "LOAD", "REPLACE", "#!lua name=one\nredis.register_function('HELLO', function() return 3 end)")
    diff("FCALL", "Hello", 0)
    diff("FUNCTION", "DELETE", "one")
    diff("FCALL", "hello", 0)
    diff("FUNCTION", "FLUSH")


def test_function_load_stops_code_that_runs_too_long(diff):
    diff("FUNCTION", "LOAD", "#!lua name=lib\nlocal a = 1\nwhile 1 do a = a + 1 end")
    diff("FUNCTION", "LIST")


@pytest.mark.parametrize(
    "shebang",
    ['#!lua name="quoted"', "#!lua NAME=upper", "#!lua name='single'", '#!lua name="open', '#!lua name="a"b'],
)
def test_library_metadata_is_split_as_redis_splits_arguments(diff, shebang):
    diff("FUNCTION", "LOAD", shebang + "\nredis.register_function('qf', function() return 1 end)")
    diff("FUNCTION", "FLUSH")
