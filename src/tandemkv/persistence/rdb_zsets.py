"""Sorted sets in RDB files and DUMP payloads (the type pair for rdb.py; needs the zset type,
values/zsets.py, so it is imported once that type is merged: persistence/__init__.py).

Written as RDB_TYPE_ZSET_2 (member, then the score as a little-endian IEEE double), which
redis-server 7.0 loads into a listpack or a skiplist by its own thresholds. Read: ZSET (scores
as text), ZSET_2, ZSET_ZIPLIST and ZSET_LISTPACK (member and score entries alternating). The
loaded value's encoding follows rdbLoadObject: ZSET/ZSET_2 are a listpack when they have at most
zset-max-listpack-entries members none longer than zset-max-listpack-value; ZIPLIST/LISTPACK
stay a listpack unless they have more members than zset-max-listpack-entries.
"""

from __future__ import annotations

import math
import struct

from tandemkv.persistence.rdb import (
    TYPE_ZSET,
    TYPE_ZSET_2,
    TYPE_ZSET_LISTPACK,
    TYPE_ZSET_ZIPLIST,
    Limits,
    RdbError,
    Reader,
    Writer,
    listpack_entries,
    register_loader,
    register_saver,
    ziplist_entries,
)
from tandemkv.values import zsets

ZSetValue = zsets.ZSetValue

_DOUBLE = struct.Struct("<d")


def _save_zset(w: Writer, value: ZSetValue) -> None:
    w.length(len(value))
    buf = w.buf
    for member, score in value:
        w.string(member)
        buf += _DOUBLE.pack(score)


def _thresholds(limits: Limits) -> tuple[int, int]:
    return limits.extra.get("zset-max-listpack-entries", 128), limits.extra.get("zset-max-listpack-value", 64)


def _build(pairs: list[tuple[bytes, float]], listpack: bool) -> ZSetValue:
    if any(math.isnan(score) for _member, score in pairs):
        raise RdbError("Zset with NAN score detected")
    value = ZSetValue(pairs, listpack=listpack)
    if len(value) != len(pairs):
        raise RdbError("Duplicate zset fields detected")
    return value


def _text_score(r: Reader) -> float:
    """rdbLoadDoubleValue: a length byte (253 nan, 254 +inf, 255 -inf) and the text."""
    n = r.byte()
    if n == 253:
        return math.nan
    if n == 254:
        return math.inf
    if n == 255:
        return -math.inf
    try:
        return float(r.take(n))
    except ValueError:
        raise RdbError("Bad zset score") from None


def _load_pairs(r: Reader, limits: Limits, binary: bool) -> object:
    count = r.length()
    pairs = []
    for _ in range(count):
        member = r.string()
        score = _DOUBLE.unpack(r.take(8))[0] if binary else _text_score(r)
        pairs.append((member, score))
    max_entries, max_value = _thresholds(limits)
    small = count <= max_entries and all(len(member) <= max_value for member, _score in pairs)
    return _build(pairs, small)


def _load_zset(r: Reader, limits: Limits) -> object:
    return _load_pairs(r, limits, binary=False)


def _load_zset_2(r: Reader, limits: Limits) -> object:
    return _load_pairs(r, limits, binary=True)


def _from_entries(entries: list[bytes], limits: Limits, kind: str) -> object:
    """A zset from a ziplist's or listpack's member, score, ... entries (`kind` names it in
    the error: an odd count, a score that is not a number, or a repeated member)."""
    corrupt = RdbError(f"{kind} integrity check failed.")
    if len(entries) % 2:
        raise corrupt
    try:
        pairs = [(entries[i], float(entries[i + 1])) for i in range(0, len(entries), 2)]
    except ValueError:
        raise corrupt from None
    if len({member for member, _score in pairs}) != len(pairs):
        raise corrupt
    return _build(pairs, len(pairs) <= _thresholds(limits)[0])


def _load_zset_ziplist(r: Reader, limits: Limits) -> object:
    return _from_entries(ziplist_entries(r.string(), "Zset ziplist"), limits, "Zset ziplist")


def _load_zset_listpack(r: Reader, limits: Limits) -> object:
    return _from_entries(listpack_entries(r.string(), "Zset listpack"), limits, "Zset listpack")


register_saver(ZSetValue, TYPE_ZSET_2, _save_zset)
register_loader(TYPE_ZSET, _load_zset)
register_loader(TYPE_ZSET_2, _load_zset_2)
register_loader(TYPE_ZSET_ZIPLIST, _load_zset_ziplist)
register_loader(TYPE_ZSET_LISTPACK, _load_zset_listpack)
