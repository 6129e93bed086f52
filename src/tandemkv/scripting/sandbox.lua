-- The sandbox every EVAL script runs in (tandemkv/scripting/runtime.py loads this chunk once per
-- Lua state, with the Python callables below as its arguments).
--
-- Redis 7.0 locks its globals with a patched Lua (read-only tables). Stock Lua 5.1 has no such
-- tables, so the same rules are built from metatables:
--   * the thread's global table G stays empty; reads fall through to a hidden table H that holds
--     Redis's allow-listed globals; a name H lacks raises "Script attempted to access nonexistent
--     global variable"; any assignment to G raises "Attempt to modify a readonly table";
--   * library tables (string, math, redis, ...) are empty proxies over the real ones, read-only
--     the same way; rawset and setmetatable refuse the protected tables;
--   * os, io, package, require, dofile, loadfile, print, debug and lupa's python module are not
--     reachable: they are removed from the real global table too (C functions keep it as their
--     environment, which getfenv would show).
-- Errors follow Redis's format: redis.* failures raise a table {err = "CODE message"}, and the
-- error handler adds the source and line of the user code that caused it.

-- `api` holds Python callables (runtime.py): redis.call, redis.pcall, redis.sha1hex, redis.log,
-- redis.setresp, redis.set_repl, redis.acl_check_cmd, math.random, math.randomseed, and
-- `unwrap`. They are installed as they are, not wrapped in Lua functions: like Redis's C
-- functions they keep the calling frame alive in a tail call (`return redis.call(...)`), so an
-- error still points at the user's line. A Python callable raises a Lua error by raising
-- LuaRaise; Lua sees the exception object, and `unwrap` turns it back into the error value.
local api, libs = ...

local G = _G
local H = {}
local rawget, rawset, type, error, tostring, tonumber = rawget, rawset, type, error, tostring, tonumber
local setmetatable, getmetatable, select, unpack, next, pairs = setmetatable, getmetatable, select, unpack, next, pairs
local xpcall, raw_pcall, setfenv, loadstring = xpcall, pcall, setfenv, loadstring
local dbg = debug
local INTERNAL = "=[tandemkv]"
local READONLY = "Attempt to modify a readonly table"
local protected = setmetatable({}, {__mode = "k"})

local function readonly_newindex()
  error(READONLY, 2)
end

local function readonly_proxy(real)
  local proxy = {}
  setmetatable(proxy, {__index = real, __newindex = readonly_newindex, __metatable = false})
  protected[proxy] = true
  return proxy
end

local function pack(...)
  return {n = select("#", ...), ...}
end

local unwrap = api.unwrap

local function push_error(message)
  -- luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR.
  local code, msg = "ERR", message
  if message:sub(1, 1) == "-" then
    local space = message:find(" ", 1, true)
    if space then
      code, msg = message:sub(2, space - 1), message:sub(space + 1)
    else
      msg = message:sub(2)
    end
  end
  msg = msg:gsub("^[\r\n]+", ""):gsub("[\r\n]+$", "")
  return {err = code .. " " .. msg}
end

local redis = {}
for _, name in pairs({"call", "pcall", "sha1hex", "log", "setresp", "set_repl", "acl_check_cmd"}) do
  redis[name] = api[name]
end
redis.error_reply = function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return push_error("wrong number or type of arguments")
  end
  if s:sub(1, 1) ~= "-" then s = "-" .. s end
  return push_error(s)
end
redis.status_reply = function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return push_error("wrong number or type of arguments")
  end
  return {ok = s}
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION_NUM = 0x0007000f
redis.REDIS_VERSION = "7.0.15"
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end

-- Redis's pcall: an error that is a table with an `err` string comes back as that string.
local function redis_lua_pcall(f, ...)
  local res = pack(raw_pcall(f, ...))
  if not res[1] then
    local e = res[2]
    if type(e) == "userdata" then
      e = unwrap(e)
      res[2] = e
    end
    if type(e) == "table" then
      local msg = e.err
      if type(msg) == "string" or type(msg) == "number" then res[2] = msg end
    end
  end
  return unpack(res, 1, res.n)
end

local function guarded_rawset(t, k, v)
  if protected[t] then error(READONLY, 0) end
  return rawset(t, k, v)
end

local function guarded_setmetatable(t, mt)
  if protected[t] then error(READONLY, 0) end
  return setmetatable(t, mt)
end

-- The error handler: a plain error becomes {err = "ERR <text>"}; the table gets the source and
-- line of the first user frame (past C functions and this chunk's wrappers).
local function err_handler(err)
  local level, info = 2, dbg.getinfo(2, "nSl")
  while info and (info.what == "C" or info.source == INTERNAL) and level < 20 do
    level = level + 1
    info = dbg.getinfo(level, "nSl")
  end
  if type(err) == "userdata" then err = unwrap(err) end
  if type(err) ~= "table" then
    err = {err = "ERR " .. tostring(err)}
  end
  if info then
    err.source = info.source
    err.line = info.currentline
  end
  return err
end

-- The count hook (runtime.py `_interrupt`): past busy-reply-threshold it serves other clients,
-- and once SCRIPT KILL / FUNCTION KILL marked the run, it raises the kill error and becomes a
-- line hook, so that pcall cannot swallow the kill.
local KILLED = {err = "ERR Script killed by user with SCRIPT KILL..."}
local function kill_hook()
  -- not inside this chunk's own code (the error handler, run's epilogue)
  local info = dbg.getinfo(2, "S")
  if info and info.source ~= INTERNAL then error({err = KILLED.err}) end
end
local function time_hook()
  if api.interrupt() then
    dbg.sethook(kill_hook, "l")
    error({err = KILLED.err})
  end
end

-- FUNCTION LOAD's hook (luaEngineLoadHook): a library's code that runs past LOAD_TIMEOUT_MS
-- is stopped, and the hook then fires on every line so that pcall cannot swallow the error.
local HOOK_INSTRUCTIONS = 100000
local function load_timeout_hook()
  local info = dbg.getinfo(2, "S")
  if info and info.source ~= INTERNAL then error({err = "ERR FUNCTION LOAD timeout"}) end
end
local function load_hook()
  if api.load_timed_out() then
    dbg.sethook(load_timeout_hook, "l")
    error({err = "ERR FUNCTION LOAD timeout"})
  end
end

-- Build H from the allow lists (script_lua.c), then empty the real globals.
local allowed = {
  "xpcall", "tostring", "getfenv", "next", "assert", "tonumber", "rawequal", "collectgarbage",
  "getmetatable", "type", "select", "unpack", "gcinfo", "pairs", "rawget", "loadstring",
  "ipairs", "_VERSION", "setfenv", "load", "error",
}
for _, name in pairs(allowed) do H[name] = G[name] end
for _, name in pairs({"string", "math", "table", "coroutine"}) do
  local copy = {}
  for k, v in pairs(G[name]) do copy[k] = v end
  if name == "math" then
    copy.random = api.random
    copy.randomseed = api.randomseed
  end
  H[name] = readonly_proxy(copy)
end
for name, lib in pairs(libs) do
  local t = {}
  for k, v in pairs(lib) do t[k] = v end
  H[name] = readonly_proxy(t)
end
H.redis = readonly_proxy(redis)
H.pcall = redis_lua_pcall
H.rawset = guarded_rawset
H.setmetatable = guarded_setmetatable
H.__redis__err__handler = err_handler
-- Redis's Lua refuses precompiled (binary) chunks: loadstring gives nil and a message.
H.loadstring = function(chunk, name)
  if type(chunk) == "string" and chunk:byte(1) == 27 then
    return nil, "binary chunks are not allowed"
  end
  return loadstring(chunk, name)
end
H._G = G

local names = {}
for k in pairs(G) do names[#names + 1] = k end
for _, k in pairs(names) do G[k] = nil end
setmetatable(H, {__index = function(_, k)
  -- lupa looks up the global `debug` from C before each call into Lua (for a traceback
  -- handler): that lookup, made with no Lua function asking, finds nothing and raises nothing.
  -- (currentline is -1 for a C function; "l" asks for nothing else, so no strings are made.)
  if k == "debug" then
    local caller = dbg.getinfo(2, "l")
    if caller == nil or caller.currentline == -1 then return nil end
  end
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
-- getmetatable(_G) shows a read-only table, as Redis's protected metatable is.
local G_META = {__index = H, __newindex = readonly_newindex, __metatable = readonly_proxy({})}
setmetatable(G, G_META)
protected[G] = true

-- While FUNCTION LOAD runs a library's code, globals resolve to LIB instead: a `redis` with
-- register_function, log and the versions only (function_lua.c's library API).
local LIB = {}
local lib_redis = {register_function = api.register_function, log = api.log}
for _, name in pairs({"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION", "REDIS_VERSION_NUM"}) do
  lib_redis[name] = redis[name]
end
LIB.redis = setmetatable({}, {
  __index = function(_, k)
    local v = lib_redis[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly_newindex,
  __metatable = false,
})
protected[LIB.redis] = true
setmetatable(LIB, getmetatable(H))

-- What runtime.py calls.
local internal = {}

function internal.compile(body)
  local f, message = loadstring(body, "@user_script")
  return f, message
end

-- luaL_where(L, 1) for a Python function that raises: "user_script:3: " when a Lua function
-- called it, "" when a C function did (pcall(cjson.encode, ...)). Level 1 is this function,
-- level 2 the Python function, level 3 its caller.
function internal.where()
  local info = dbg.getinfo(3, "Sl")
  if info and info.what ~= "C" and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- FUNCTION LOAD: compile and run a library's code with the library API as globals.
-- Returns true, or false and "compile" / "run" and the error.
function internal.load_library(body)
  local f, message = loadstring(body, "@user_function")
  if not f then return false, "compile", message end
  setfenv(0, G)
  G_META.__index = LIB
  dbg.sethook(load_hook, "", HOOK_INSTRUCTIONS)
  local ok, err = raw_pcall(f)
  dbg.sethook()
  G_META.__index = H
  if ok then return true, nil, nil end
  if type(err) == "userdata" then err = unwrap(err) end
  return false, "run", err
end

-- A script run: ok, the result (or the error), and the text of a result that is an
-- {ok = "..."} table (convert.py's lua_to_reply would find the same: no `err` string, an `ok`
-- string), so that the common status reply needs no look-ups from Python.
local function run(f, keys, argv, hook_count)
  setfenv(0, G)
  H.KEYS, H.ARGV = keys, argv
  if hook_count > 0 then dbg.sethook(time_hook, "", hook_count) end
  local ok, result = xpcall(f, err_handler)
  dbg.sethook()
  if ok and type(result) == "table" and type(rawget(result, "err")) ~= "string" then
    local status = rawget(result, "ok")
    if type(status) == "string" then return ok, nil, status end
  end
  return ok, result, nil
end

-- KEYS and ARGV from the call's own arguments: `nkeys` keys, then the arguments. Cheaper than
-- two tables made from Python; runtime.py passes few enough values for Lua's C stack.
local function split(nkeys, ...)
  local keys = {...}
  for i = #keys, nkeys + 1, -1 do keys[i] = nil end
  return keys, {select(nkeys + 1, ...)}
end

function internal.run_eval(f, hook_count, nkeys, ...)
  local keys, argv = split(nkeys, ...)
  return run(f, keys, argv, hook_count)
end

function internal.run_eval_tables(f, hook_count, keys, argv)
  return run(f, keys, argv, hook_count)
end

-- A library function gets KEYS and ARGV as its two arguments; the globals are not set.
function internal.run_fcall(f, hook_count, nkeys, ...)
  local keys, argv = split(nkeys, ...)
  return run(function() return f(keys, argv) end, nil, nil, hook_count)
end

function internal.run_fcall_tables(f, hook_count, keys, argv)
  return run(function() return f(keys, argv) end, nil, nil, hook_count)
end

internal.rawget = rawget
internal.next = next
return internal
