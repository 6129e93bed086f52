"""Argument converters, declared in command specs and run by the dispatcher.

Each raises CommandError with Redis's exact text, so those errors come from one place.
"""

from __future__ import annotations

import math

from tandemkv.errors import NOT_FLOAT, NOT_INTEGER, CommandError
from tandemkv.protocol import string2ll


def Int(raw: bytes) -> int:
    """A signed 64-bit integer, parsed as strictly as Redis's string2ll."""
    value = string2ll(raw)
    if value is None:
        raise CommandError(NOT_INTEGER)
    return value


def Float(raw: bytes) -> float:
    """A double as Redis's getDoubleFromObject reads it: no spaces, no NaN, 'inf' allowed."""
    value = parse_float(raw)
    if value is None:
        raise CommandError(NOT_FLOAT)
    return value


def parse_float(raw: bytes) -> float | None:
    if not raw or raw[:1].isspace() or raw[-1:].isspace() or b"_" in raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if math.isnan(value):
        return None
    lowered = raw.lower().lstrip(b"+-")
    if lowered in (b"infinity", b"nan") or lowered.startswith(b"0x"):
        return None
    return value


def Db(raw: bytes) -> int:
    """A database index (SELECT, MOVE, COPY): a C int as Redis's getIntFromObjectOrReply reads
    it; the handler checks it against the number of databases."""
    value = string2ll(raw)
    if value is None:
        raise CommandError(NOT_INTEGER)
    if not -(2**31) <= value < 2**31:
        raise CommandError("ERR value is out of range, value must between -2147483648 and 2147483647")
    return value


def Upper(raw: bytes) -> bytes:
    return raw.upper()


def ranged(raw: bytes, minimum: int, maximum: int, message: str) -> int:
    """An integer within [minimum, maximum], else CommandError(`message`) -- for a value that
    is not an integer too, as Redis's getRangeLongFromObjectOrReply does when given a message."""
    value = string2ll(raw)
    if value is None or not minimum <= value <= maximum:
        raise CommandError(message)
    return value
