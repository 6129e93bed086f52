"""The conversions between command replies and Lua values, both ways (Redis's script_lua.c).

Reply -> Lua (`reply_to_lua`) is what `redis.call` returns: Redis encodes the reply in the script
client's protocol (RESP2 unless the script called `redis.setresp(3)`) and parses it back, so a
RESP2 map arrives as a flat array and a RESP3 map as {map = {...}}. Here the reply objects are
converted directly, type by type, to the same Lua values:

    bulk -> string            integer -> number        status -> {ok = text}
    error -> {err = text}     array -> table 1..n      RESP2 null / null array -> false
    RESP3: null -> nil, boolean -> boolean, double -> {double = n}, map -> {map = {k = v}},
           set -> {set = {member = true}}, verbatim -> {verbatim_string = {format, string}}

Lua -> reply (`lua_to_reply`) is what the script returns:

    string -> bulk            number -> integer (truncated)          nil -> null
    boolean -> RESP2 (script protocol 2): true 1, false null; RESP3: boolean
    table: {err = s} error, {ok = s} status, {double = n}, {big_number = s},
           {verbatim_string = {...}}, {map = t}, {set = t}, else an array up to the first nil
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lupa import lua51

from tandemkv.protocol import (
    BigNumber,
    Bulks,
    Double,
    Error,
    Frames,
    Map,
    NullArray,
    Push,
    SetReply,
    Simple,
    Verbatim,
    format_double,
)

LuaTable = type(lua51.LuaRuntime().table())  # lupa does not export its table class
# Nesting of a returned table before the "reached lua stack limit" error (Redis's bound is
# its Lua stack, 8000 slots; this one stays well inside Python's recursion limit).
MAX_DEPTH = 200
_LLONG_MIN = -(2**63)
_LLONG_MAX = 2**63 - 1


class LuaValues:
    """Conversions bound to one Lua state (tables are made and read through it)."""

    def __init__(
        self,
        table: Callable[..., Any],
        table_from: Callable[[Any], Any],
        rawget: Callable[[Any, Any], Any],
        items: Callable[[Any], Any],
    ) -> None:
        self._table = table
        self._table_from = table_from  # from a dict: cheaper than a table filled item by item
        self._rawget = rawget
        self._items = items

    # ------------------------------------------------------------------ reply -> Lua

    def error_table(self, message: str, counted: bool = True) -> Any:
        """{err = message}, with ignore_error_stats_update = true when the error was already
        counted in INFO errorstats (a command's error, as redis.pcall returns it): the
        script's reply does not count it again."""
        text = message.encode("latin-1", "replace")
        if counted:
            return self._table_from({b"err": text, b"ignore_error_stats_update": True})
        return self._table_from({b"err": text})

    def status_table(self, text: bytes) -> Any:
        """{ok = text}: a status reply."""
        return self._table_from({b"ok": text})

    def _field(self, name: bytes, value: Any) -> Any:
        return self._table_from({name: value})

    def reply_to_lua(self, reply: Any, resp: int) -> Any:
        """The Lua value `redis.call` returns for `reply` under protocol `resp` (2 or 3)."""
        cls = reply.__class__
        if cls is bytes or cls is int:
            return reply
        if cls is list or cls is tuple or cls is Bulks or cls is Push or (cls is SetReply and resp == 2):
            items = reply if cls is list or cls is tuple or cls is Bulks else reply.items
            return self._array([self.reply_to_lua(item, resp) for item in items])
        if reply is None or cls is NullArray:
            return False if resp == 2 else None
        if cls is Simple:
            return self.status_table(reply.text)
        if cls is Error:
            return self.error_table(_error_text(reply.message))
        if cls is bool:
            return reply if resp == 3 else int(reply)
        if cls is Map:
            if resp == 2:
                flat: list[Any] = []
                for key, value in reply.items:
                    flat.append(self.reply_to_lua(key, resp))
                    flat.append(self.reply_to_lua(value, resp))
                return self._array(flat)
            inner = self._table()
            for key, value in reply.items:
                lua_key = self.reply_to_lua(key, resp)
                if lua_key is not None:
                    inner[lua_key] = self.reply_to_lua(value, resp)
            return self._field(b"map", inner)
        if cls is SetReply:
            inner = self._table()
            for item in reply.items:
                lua_item = self.reply_to_lua(item, resp)
                if lua_item is not None:
                    inner[lua_item] = True
            return self._field(b"set", inner)
        if cls is Double:
            return format_double(reply.value) if resp == 2 else self._field(b"double", reply.value)
        if cls is BigNumber:
            return reply.text if resp == 2 else self._field(b"big_number", reply.text)
        if cls is Verbatim:
            if resp == 2:
                return reply.text
            inner = self._field(b"format", reply.format)
            inner[b"string"] = reply.text
            return self._field(b"verbatim_string", inner)
        if cls is Frames:  # a reply parser reads the first frame only
            return self.reply_to_lua(reply.replies[0], resp)
        raise TypeError(f"no Lua conversion for {cls.__name__}")

    def _array(self, items: list[Any]) -> Any:
        table = self._table()
        for index, item in enumerate(items, 1):
            if item is not None:
                table[index] = item
        return table

    # ------------------------------------------------------------------ Lua -> reply

    def lua_to_reply(self, value: Any, resp: int, depth: int = 0) -> Any:
        """The reply for the Lua value a script returned; `resp` is the script's protocol.
        Past MAX_DEPTH nested tables (a table that contains itself) the innermost element is
        Redis's "reached lua stack limit" error, as Redis's Lua stack check gives."""
        cls = value.__class__
        if cls is bytes:
            return value
        if cls is bool:
            if resp == 2:
                return 1 if value else None
            return value
        if cls is int or cls is float:
            return _truncate(value)
        if cls is not LuaTable:
            return None
        if depth >= MAX_DEPTH:
            return Error("ERR reached lua stack limit")
        depth += 1
        rawget = self._rawget
        err = rawget(value, b"err")
        if err.__class__ is bytes:
            return Error(err.decode("latin-1"))
        ok = rawget(value, b"ok")
        if ok.__class__ is bytes:
            return Simple(status_text(ok))
        double = rawget(value, b"double")
        if double.__class__ is int or double.__class__ is float:
            return Double(float(double))
        big = rawget(value, b"big_number")
        if big.__class__ is bytes:
            return BigNumber(big.replace(b"\r", b" ").replace(b"\n", b" "))
        verbatim = rawget(value, b"verbatim_string")
        if verbatim.__class__ is LuaTable:
            fmt = rawget(verbatim, b"format")
            text = rawget(verbatim, b"string")
            if fmt.__class__ is bytes and text.__class__ is bytes:
                return Verbatim(text, fmt)
        mapping = rawget(value, b"map")
        if mapping.__class__ is LuaTable:
            return Map([(self.lua_to_reply(k, resp, depth), self.lua_to_reply(v, resp, depth)) for k, v in self._items(mapping)])
        members = rawget(value, b"set")
        if members.__class__ is LuaTable:
            return SetReply([self.lua_to_reply(k, resp, depth) for k, _ in self._items(members)])
        out = []
        index = 1
        while True:
            item = rawget(value, index)
            if item is None:
                return out
            out.append(self.lua_to_reply(item, resp, depth))
            index += 1


def _truncate(number: int | float) -> int:
    """C's (long long) cast of a Lua number; out of range (and NaN) give LLONG_MIN, as on x86."""
    if number.__class__ is int:
        return number if _LLONG_MIN <= number <= _LLONG_MAX else _LLONG_MIN
    if number != number or not _LLONG_MIN <= number < 2.0**63:
        return _LLONG_MIN
    return int(number)


def status_text(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0].replace(b"\r", b" ").replace(b"\n", b" ")


def _error_text(message: str) -> str:
    """An error reply's text as luaPushErrorBuff stores it: "CODE msg", newlines trimmed."""
    return message.strip("\r\n")
