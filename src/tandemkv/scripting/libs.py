"""The libraries Redis links into its Lua (bit, cjson, cmsgpack, struct), written in Python.

lupa's Lua 5.1 ships only Lua's standard libraries, so these are Python callables installed in
Lua as they are. A bad argument raises LuaArgError; `install_libs`'s wrapper turns it into a Lua
error at the caller's line, as the C libraries' luaL_error does ("user_script:1: bad argument #1
to 'tobit' ...").

Behaviour follows the C libraries Redis 7.0 bundles (LuaBitOp 1.0.2, lua-cjson 2.1.0,
lua-cmsgpack 0.4.0, Roberto Ierusalimschy's struct 0.2) for what scripts use: bit operations
on 32-bit signed values, JSON with cjson's escaping ("/" as "\\/") and number format (%.14g),
MessagePack with the smallest encodings, and struct's formats.
"""

from __future__ import annotations

import json
import math
import struct as pystruct
from collections.abc import Callable
from typing import Any

from lupa import lua51

from tandemkv.scripting.convert import LuaTable

Result = tuple[Any, ...]


class LuaArgError(Exception):
    """A bad argument; the message is what the Lua error says."""


def _lua_type(value: Any, present: bool = True) -> str:
    if not present:
        return "no value"
    if value is None:
        return "nil"
    cls = value.__class__
    if cls is bool:
        return "boolean"
    if cls is bytes:
        return "string"
    if cls is int or cls is float:
        return "number"
    if cls is LuaTable:
        return "table"
    return lua51.lua_type(value) or "userdata"


def _to_number(value: Any) -> float | int | None:
    """lua_tonumber: numbers, and strings that read as numbers."""
    cls = value.__class__
    if cls is int or cls is float:
        return value
    if cls is bytes:
        text = value.strip()
        try:
            return int(text, 16) if text.lower().startswith((b"0x", b"-0x")) else float(text)
        except ValueError:
            return None
    return None


def check_number(fname: str, args: tuple[Any, ...], index: int) -> float | int:
    present = len(args) >= index
    value = args[index - 1] if present else None
    number = _to_number(value) if present else None
    if number is None:
        raise LuaArgError(f"bad argument #{index} to '{fname}' (number expected, got {_lua_type(value, present)})")
    return number


def check_string(fname: str, args: tuple[Any, ...], index: int) -> bytes:
    present = len(args) >= index
    value = args[index - 1] if present else None
    if value.__class__ is bytes:
        return value
    if value.__class__ is int or value.__class__ is float:
        return b"%.14g" % value
    raise LuaArgError(f"bad argument #{index} to '{fname}' (string expected, got {_lua_type(value, present)})")


# ---------------------------------------------------------------------------------------- bit


def _tobit(number: float | int) -> int:
    # LuaBitOp adds 2^52+2^51 to round to the nearest integer (ties to even), then keeps 32 bits.
    value = round(number) if number.__class__ is float else number
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def _bit_reduce(name: str, op: Callable[[int, int], int]) -> Callable[..., Result]:
    def fn(*args: Any) -> Result:
        result = _tobit(check_number(name, args, 1))
        for index in range(2, len(args) + 1):
            result = op(result, _tobit(check_number(name, args, index)))
        return (_tobit(result),)

    return fn


def _bit_shift(name: str, op: Callable[[int, int], int]) -> Callable[..., Result]:
    def fn(*args: Any) -> Result:
        value = _tobit(check_number(name, args, 1)) & 0xFFFFFFFF
        shift = _tobit(check_number(name, args, 2)) & 31
        return (_tobit(op(value, shift)),)

    return fn


def _arshift(value: int, shift: int) -> int:
    signed = value - 0x100000000 if value & 0x80000000 else value
    return signed >> shift


def _rol(value: int, shift: int) -> int:
    return (value << shift) | (value >> (32 - shift)) if shift else value


def _ror(value: int, shift: int) -> int:
    return (value >> shift) | (value << (32 - shift)) if shift else value


def _tohex(*args: Any) -> Result:
    value = _tobit(check_number("tohex", args, 1)) & 0xFFFFFFFF
    digits = 8 if len(args) < 2 or args[1] is None else _tobit(check_number("tohex", args, 2))
    upper = digits < 0
    digits = min(abs(digits), 8)
    if digits < 8:
        value &= (1 << (4 * digits)) - 1
    text = f"{value:0{digits}x}" if digits else ""
    return ((text.upper() if upper else text).encode(),)


def _bnot(*args: Any) -> Result:
    return (_tobit(~_tobit(check_number("bnot", args, 1))),)


def _bswap(*args: Any) -> Result:
    value = _tobit(check_number("bswap", args, 1)) & 0xFFFFFFFF
    return (_tobit(int.from_bytes(value.to_bytes(4, "little"), "big")),)


BIT = {
    "tobit": lambda *args: (_tobit(check_number("tobit", args, 1)),),
    "tohex": _tohex,
    "bnot": _bnot,
    "band": _bit_reduce("band", lambda a, b: a & b),
    "bor": _bit_reduce("bor", lambda a, b: a | b),
    "bxor": _bit_reduce("bxor", lambda a, b: a ^ b),
    "lshift": _bit_shift("lshift", lambda v, s: v << s),
    "rshift": _bit_shift("rshift", lambda v, s: v >> s),
    "arshift": _bit_shift("arshift", _arshift),
    "rol": _bit_shift("rol", _rol),
    "ror": _bit_shift("ror", _ror),
    "bswap": _bswap,
}

# ---------------------------------------------------------------------------------------- cjson


class _JsonNull:
    """cjson.null: Redis's is a NULL light userdata; any unique value that round-trips will do."""

    __slots__ = ()


JSON_NULL = _JsonNull()
_JSON_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)} | {
    0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\",
    0x2F: "\\/", 0x7F: "\\u007f",
}
_JSON_ESCAPE_TABLE = {i: _JSON_ESCAPES[i] for i in _JSON_ESCAPES}
JSON_MAX_DEPTH = 1000


def _json_number(value: float | int, invalid: bool | str = False) -> str:
    """%.14g; NaN and Inf by encode_invalid_numbers: refused (False), written as %.14g
    prints them (True), or as null ("null")."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        if invalid is False:
            raise LuaArgError("Cannot serialise number: must not be NaN or Inf")
        if invalid == "null":
            return "null"
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.14g}"


def _json_string(raw: bytes) -> str:
    return '"' + raw.decode("latin-1").translate(_JSON_ESCAPE_TABLE) + '"'


def _json_encode(value: Any, depth: int, out: list[str], max_depth: int, invalid: bool | str = False) -> None:
    cls = value.__class__
    if cls is bytes:
        out.append(_json_string(value))
    elif cls is bool:
        out.append("true" if value else "false")
    elif cls is int or cls is float:
        out.append(_json_number(value, invalid))
    elif value is None or value is JSON_NULL:
        out.append("null")
    elif cls is LuaTable:
        depth += 1
        if depth > max_depth:
            raise LuaArgError(f"Cannot serialise, excessive nesting ({depth})")
        items = list(value.items())
        length = _json_array_length(items)
        if length > 0:
            by_index = dict(items)
            out.append("[")
            for index in range(1, length + 1):
                if index > 1:
                    out.append(",")
                _json_encode(by_index.get(index), depth, out, max_depth, invalid)
            out.append("]")
            return
        out.append("{")
        for n, (key, item) in enumerate(items):
            if n:
                out.append(",")
            if key.__class__ is bytes:
                out.append(_json_string(key))
            elif key.__class__ in (int, float):
                out.append('"' + _json_number(key) + '"')
            else:
                raise LuaArgError(f"Cannot serialise {_lua_type(key)}: table key must be a number or string")
            out.append(":")
            _json_encode(item, depth, out, max_depth, invalid)
        out.append("}")
    else:
        raise LuaArgError(f"Cannot serialise {_lua_type(value)}: type not supported")


def _json_array_length(items: list[tuple[Any, Any]]) -> int:
    """lua_array_length: the array size when every key is a positive integer, else -1 (0 for
    an empty table); an array with too many holes is refused, as cjson's default does."""
    highest = 0
    for key, _ in items:
        if key.__class__ is int and key >= 1:
            highest = max(highest, key)
        elif key.__class__ is float and key.is_integer() and key >= 1:
            highest = max(highest, int(key))
        else:
            return -1
    if highest > 10 and highest > 2 * len(items):
        raise LuaArgError("Cannot serialise table: excessively sparse array")
    return highest


def _make_cjson(lua: Any) -> dict[str, Callable[..., Result]]:
    """cjson.encode, decode, and the settings Redis scripts use (encode_keep_buffer,
    encode_max_depth, decode_max_depth); settings last for the Lua state, as cjson's do."""
    config: dict[str, Any] = {
        "keep_buffer": True,
        "encode_max_depth": JSON_MAX_DEPTH,
        "decode_max_depth": JSON_MAX_DEPTH,
        "encode_invalid_numbers": False,
    }

    def encode(*args: Any) -> Result:
        if len(args) != 1:
            raise LuaArgError("bad argument #1 to 'encode' (expected 1 argument)")
        out: list[str] = []
        _json_encode(args[0], 0, out, config["encode_max_depth"], config["encode_invalid_numbers"])
        return ("".join(out).encode("latin-1"),)

    def to_lua(value: Any) -> Any:
        if value is None:
            return JSON_NULL
        if isinstance(value, str):
            return _utf8(value)
        if isinstance(value, list):
            table = lua.table()
            for index, item in enumerate(value, 1):
                table[index] = to_lua(item)
            return table
        if isinstance(value, dict):
            table = lua.table()
            for key, item in value.items():
                table[_utf8(key)] = to_lua(item)
            return table
        return value

    def decode(*args: Any) -> Result:
        if len(args) != 1:
            raise LuaArgError("bad argument #1 to 'decode' (expected 1 argument)")
        text = check_string("decode", args, 1)
        try:
            parsed = json.loads(text.decode("utf-8", "surrogateescape"), parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            position = getattr(exc, "pos", 0) + 1
            raise LuaArgError(f"Expected value but found invalid token at character {position}") from None
        too_deep = _json_too_deep(text, config["decode_max_depth"])
        if too_deep:
            raise LuaArgError(f"Found too many nested data structures ({config['decode_max_depth'] + 1}) at character {too_deep}")
        return (to_lua(parsed),)

    def depth_setting(name: str) -> Callable[..., Result]:
        def set_depth(*args: Any) -> Result:
            if args and args[0] is not None:
                value = int(check_number(name, args, 1))
                if not 1 <= value <= 2**31 - 1:
                    raise LuaArgError(f"bad argument #1 to '{name}' (expected integer between 1 and {2**31 - 1})")
                config[name] = value
            return (config[name],)

        return set_depth

    def keep_buffer(*args: Any) -> Result:
        # Whether cjson reuses its encode buffer: no visible effect here, only remembered.
        if args and args[0] is not None:
            value = args[0]
            if value.__class__ is not bool and value not in (b"on", b"off"):
                raise LuaArgError("bad argument #1 to 'encode_keep_buffer' (invalid option)")
            config["keep_buffer"] = value is True or value == b"on"
        return (config["keep_buffer"],)

    def invalid_numbers(*args: Any) -> Result:
        # encode_invalid_numbers(true | false | "on" | "off" | "null")
        if args and args[0] is not None:
            value = args[0]
            choices: dict[Any, bool | str] = {True: True, False: False, b"on": True, b"off": False, b"null": "null"}
            if value.__class__ not in (bool, bytes) or value not in choices:
                raise LuaArgError("bad argument #1 to 'encode_invalid_numbers' (invalid option)")
            config["encode_invalid_numbers"] = choices[value]
        setting = config["encode_invalid_numbers"]
        return (b"null" if setting == "null" else setting,)

    return {
        "encode": encode,
        "decode": decode,
        "encode_keep_buffer": keep_buffer,
        "encode_invalid_numbers": invalid_numbers,
        "encode_max_depth": depth_setting("encode_max_depth"),
        "decode_max_depth": depth_setting("decode_max_depth"),
    }


def _json_too_deep(text: bytes, limit: int) -> int:
    """The 1-based position of the bracket that nests deeper than `limit`, or 0."""
    depth = 0
    in_string = escaped = False
    for index, byte in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return index + 1
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return 0


def _utf8(text: str) -> bytes:
    """Decoded JSON text as bytes: raw input bytes come back as they were (surrogateescape),
    \\u escapes of lone surrogates as CESU bytes, as cjson writes them."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _no_constant(name: str) -> Any:
    raise ValueError(name)


# ---------------------------------------------------------------------------------------- struct


def _struct_items(fmt: bytes) -> list[tuple[str, int]]:
    """The format as (option, size) pairs; endianness and alignment options included."""
    items = []
    i = 0
    while i < len(fmt):
        option = chr(fmt[i])
        i += 1
        digits = b""
        while i < len(fmt) and 48 <= fmt[i] <= 57:
            digits += fmt[i : i + 1]
            i += 1
        size = int(digits) if digits else -1
        items.append((option, size))
    return items


_STRUCT_INT_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8}


def _struct_run(fname: str, fmt: bytes, visit: Callable[[str, int, str, bool], None]) -> None:
    """Walk the format: visit(option, size, endian, signed) for every data item."""
    endian = "<"
    for option, size in _struct_items(fmt):
        if option in " ":
            continue
        if option in "<>=":
            endian = {"<": "<", ">": ">", "=": "<"}[option]
        elif option == "!":
            continue
        elif option in _STRUCT_INT_SIZES:
            visit("int", _STRUCT_INT_SIZES[option], endian, option.islower())
        elif option in "iI":
            width = 4 if size < 0 else size
            if not 1 <= width <= 8:
                raise LuaArgError(f"integral size {width} is larger than limit of 8")
            visit("int", width, endian, option == "i")
        elif option in "xfdsc":
            visit(option, size, endian, False)
        else:
            raise LuaArgError(f"invalid format option '{option}'")


def _struct_pack(*given: Any) -> Result:
    fmt = check_string("pack", given, 1)
    args = given + (None,) * len(fmt)  # a missing value reads as nil, as struct.c reports it
    out = bytearray()
    position = [2]

    def visit(kind: str, size: int, endian: str, signed: bool) -> None:
        index = position[0]
        if kind == "x":
            out.append(0)
            return
        if kind == "int":
            number = int(check_number("pack", args, index))
            out.extend((number & ((1 << (8 * size)) - 1)).to_bytes(size, "little" if endian == "<" else "big"))
        elif kind in "fd":
            number = float(check_number("pack", args, index))
            out.extend(pystruct.pack(endian + kind, number))
        elif kind == "s":
            out.extend(check_string("pack", args, index) + b"\0")
        elif kind == "c":
            text = check_string("pack", args, index)
            if size < 0:
                size = 1
            if size == 0:
                size = len(text)
            if len(text) < size:
                raise LuaArgError(f"bad argument #{index} to 'pack' (string too short)")
            out.extend(text[:size])
        position[0] = index + 1

    _struct_run("pack", fmt, visit)
    return (bytes(out),)


def _struct_unpack(*args: Any) -> Result:
    fmt = check_string("unpack", args, 1)
    data = check_string("unpack", args, 2)
    offset = int(check_number("unpack", args, 3)) - 1 if len(args) >= 3 and args[2] is not None else 0
    if not 0 <= offset <= len(data):
        raise LuaArgError("bad argument #3 to 'unpack' (offset must be 1 or greater)")
    results: list[Any] = []
    state = [offset]

    def need(size: int) -> bytes:
        start = state[0]
        if start + size > len(data):
            raise LuaArgError("bad argument #2 to 'unpack' (data string too short)")
        state[0] = start + size
        return data[start : start + size]

    def visit(kind: str, size: int, endian: str, signed: bool) -> None:
        if kind == "x":
            need(1)
        elif kind == "int":
            raw = need(size)
            results.append(int.from_bytes(raw, "little" if endian == "<" else "big", signed=signed))
        elif kind in "fd":
            results.append(pystruct.unpack(endian + kind, need(4 if kind == "f" else 8))[0])
        elif kind == "s":
            end = data.find(b"\0", state[0])
            if end < 0:
                raise LuaArgError("bad argument #2 to 'unpack' (unfinished string in data)")
            results.append(data[state[0] : end])
            state[0] = end + 1
        elif kind == "c":
            if size == 0:
                if not results or not isinstance(results[-1], int):
                    raise LuaArgError("bad argument #1 to 'unpack' (format 'c0' needs a previous size)")
                size = results.pop()
            results.append(need(1 if size < 0 else size))

    _struct_run("unpack", fmt, visit)
    return (*results, state[0] + 1)


def _struct_size(*args: Any) -> Result:
    fmt = check_string("size", args, 1)
    total = [0]

    def visit(kind: str, size: int, endian: str, signed: bool) -> None:
        if kind == "s" or (kind == "c" and size == 0):
            raise LuaArgError("bad argument #1 to 'size' (options 'c0' - 's' have undefined sizes)")
        if kind == "x":
            total[0] += 1
        elif kind == "int":
            total[0] += size
        elif kind in "fd":
            total[0] += 4 if kind == "f" else 8
        elif kind == "c":
            total[0] += 1 if size < 0 else size

    _struct_run("size", fmt, visit)
    return (total[0],)


STRUCT = {"pack": _struct_pack, "unpack": _struct_unpack, "size": _struct_size}

# ---------------------------------------------------------------------------------------- cmsgpack

MSGPACK_MAX_NESTING = 16


def _msgpack_encode(value: Any, depth: int, out: bytearray) -> None:
    cls = value.__class__
    if cls is bytes:
        size = len(value)
        if size < 32:
            out.append(0xA0 | size)
        elif size <= 0xFF:
            out += b"\xd9" + bytes((size,))
        elif size <= 0xFFFF:
            out += b"\xda" + size.to_bytes(2, "big")
        else:
            out += b"\xdb" + size.to_bytes(4, "big")
        out += value
    elif cls is bool:
        out.append(0xC3 if value else 0xC2)
    elif cls is int or (cls is float and value.is_integer() and abs(value) < 2**63):
        _msgpack_int(int(value), out)
    elif cls is float:
        single = pystruct.unpack(">f", pystruct.pack(">f", value))[0] if abs(value) < 3.4e38 or math.isinf(value) else None
        if single == value or (math.isnan(value)):
            out += b"\xca" + pystruct.pack(">f", value)
        else:
            out += b"\xcb" + pystruct.pack(">d", value)
    elif cls is LuaTable and depth < MSGPACK_MAX_NESTING:
        items = list(value.items())
        keys = [k for k, _ in items]
        count = len(keys)
        is_array = all(k.__class__ is int and k >= 1 for k in keys) and (max(keys) if keys else 0) == count
        if is_array:
            by_index = dict(items)
            _msgpack_header(count, 0x90, b"\xdc", b"\xdd", out)
            for index in range(1, count + 1):
                _msgpack_encode(by_index[index], depth + 1, out)
        else:
            _msgpack_header(count, 0x80, b"\xde", b"\xdf", out)
            for key, item in items:
                _msgpack_encode(key, depth + 1, out)
                _msgpack_encode(item, depth + 1, out)
    else:
        out.append(0xC0)


def _msgpack_header(count: int, fix: int, m16: bytes, m32: bytes, out: bytearray) -> None:
    if count < 16:
        out.append(fix | count)
    elif count <= 0xFFFF:
        out += m16 + count.to_bytes(2, "big")
    else:
        out += m32 + count.to_bytes(4, "big")


def _msgpack_int(n: int, out: bytearray) -> None:
    if n >= 0:
        if n <= 127:
            out.append(n)
        elif n <= 0xFF:
            out += b"\xcc" + n.to_bytes(1, "big")
        elif n <= 0xFFFF:
            out += b"\xcd" + n.to_bytes(2, "big")
        elif n <= 0xFFFFFFFF:
            out += b"\xce" + n.to_bytes(4, "big")
        else:
            out += b"\xcf" + (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
    elif n >= -32:
        out.append(n & 0xFF)
    elif n >= -128:
        out += b"\xd0" + n.to_bytes(1, "big", signed=True)
    elif n >= -32768:
        out += b"\xd1" + n.to_bytes(2, "big", signed=True)
    elif n >= -(2**31):
        out += b"\xd2" + n.to_bytes(4, "big", signed=True)
    else:
        out += b"\xd3" + max(n, -(2**63)).to_bytes(8, "big", signed=True)


def _cmsgpack_pack(*args: Any) -> Result:
    if not args:
        raise LuaArgError("MessagePack pack needs input.")
    out = bytearray()
    for value in args:
        _msgpack_encode(value, 0, out)
    return (bytes(out),)


class _MsgpackDecoder:
    def __init__(self, lua: Any, data: bytes) -> None:
        self.lua = lua
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise LuaArgError("Missing bytes in input.")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def value(self) -> Any:
        byte = self.take(1)[0]
        if byte <= 0x7F:
            return byte
        if byte >= 0xE0:
            return byte - 0x100
        if 0xA0 <= byte <= 0xBF:
            return self.take(byte & 0x1F)
        if 0x90 <= byte <= 0x9F:
            return self.array(byte & 0x0F)
        if 0x80 <= byte <= 0x8F:
            return self.map(byte & 0x0F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if byte in simple:
            return simple[byte]
        ints = {0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False),
                0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True)}
        if byte in ints:
            size, signed = ints[byte]
            return int.from_bytes(self.take(size), "big", signed=signed)
        if byte == 0xCA:
            return pystruct.unpack(">f", self.take(4))[0]
        if byte == 0xCB:
            return pystruct.unpack(">d", self.take(8))[0]
        sized = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}
        if byte in sized:
            return self.take(int.from_bytes(self.take(sized[byte]), "big"))
        if byte in (0xDC, 0xDD):
            return self.array(int.from_bytes(self.take(2 if byte == 0xDC else 4), "big"))
        if byte in (0xDE, 0xDF):
            return self.map(int.from_bytes(self.take(2 if byte == 0xDE else 4), "big"))
        raise LuaArgError("Bad data format in input.")

    def array(self, count: int) -> Any:
        table = self.lua.table()
        for index in range(1, count + 1):
            item = self.value()
            if item is not None:
                table[index] = item
        return table

    def map(self, count: int) -> Any:
        table = self.lua.table()
        for _ in range(count):
            key = self.value()
            item = self.value()
            if key is not None and item is not None:
                table[key] = item
        return table


def _make_cmsgpack_unpack(lua: Any) -> dict[str, Callable[..., Result]]:
    """cmsgpack.unpack(s), unpack_one(s [, offset]), unpack_limit(s, limit [, offset]): the
    last two return the offset of the next value (-1 at the end) before the values."""

    def unpack_full(fname: str, data: bytes, limit: int, offset: int, all_values: bool) -> Result:
        if offset < 0 or limit < 0:
            raise LuaArgError(f"Invalid request to unpack with offset of {offset} and limit of {len(data)}.")
        if offset > len(data):
            raise LuaArgError(f"Start offset {offset} greater than input length {len(data)}.")
        decoder = _MsgpackDecoder(lua, data)
        decoder.pos = offset
        values = []
        while decoder.pos < len(data) and (all_values or len(values) < limit):
            values.append(decoder.value())
        if all_values:
            return tuple(values)
        return (-1 if decoder.pos >= len(data) else decoder.pos, *values)

    def unpack(*args: Any) -> Result:
        return unpack_full("unpack", check_string("unpack", args, 1), 0, 0, True)

    def unpack_one(*args: Any) -> Result:
        data = check_string("unpack_one", args, 1)
        offset = int(check_number("unpack_one", args, 2)) if len(args) >= 2 and args[1] is not None else 0
        return unpack_full("unpack_one", data, 1, offset, False)

    def unpack_limit(*args: Any) -> Result:
        data = check_string("unpack_limit", args, 1)
        limit = int(check_number("unpack_limit", args, 2))
        offset = int(check_number("unpack_limit", args, 3)) if len(args) >= 3 and args[2] is not None else 0
        return unpack_full("unpack_limit", data, limit, offset, limit == 0 and offset == 0)

    return {"unpack": unpack, "unpack_one": unpack_one, "unpack_limit": unpack_limit}


def install_libs(lua: Any, libs: Any, raise_at: Callable[[str], Exception]) -> None:
    """Fill `libs` (a Lua table) with {name = {function or value, ...}} for sandbox.lua: bit,
    cjson, struct, cmsgpack. `raise_at(message)` makes the exception that raises `message` as a
    Lua error at the calling user line."""

    def lua_function(fn: Callable[..., Result]) -> Callable[..., Result]:
        def call(*args: Any) -> Result:
            try:
                return fn(*args)
            except LuaArgError as exc:
                raise raise_at(str(exc)) from None

        return call

    def library(functions: dict[str, Callable[..., Result]], values: dict[str, Any]) -> Any:
        table = lua.table()
        for name, fn in functions.items():
            table[name.encode()] = lua_function(fn)
        for name, value in values.items():
            table[name.encode()] = value
        return table

    libs[b"bit"] = library(BIT, {})
    libs[b"cjson"] = library(
        _make_cjson(lua),
        {"null": JSON_NULL, "_NAME": b"cjson", "_VERSION": b"2.1.0"},
    )
    libs[b"struct"] = library(STRUCT, {})
    libs[b"cmsgpack"] = library(
        {"pack": _cmsgpack_pack, **_make_cmsgpack_unpack(lua)},
        {"_NAME": b"cmsgpack", "_VERSION": b"lua-cmsgpack 0.4.0"},
    )
