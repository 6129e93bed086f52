"""Hashes in RDB files and DUMP payloads (the type pair for rdb.py; needs the hash type,
values/hashes.py, so it is imported once that type is merged: persistence/__init__.py).

Written as RDB_TYPE_HASH (field, value, field, value ... as strings), which redis-server 7.0
loads into a listpack or a hashtable by its own thresholds. Read: HASH, HASH_ZIPLIST and
HASH_LISTPACK (fields and values alternating). The loaded value's encoding follows
rdbLoadObject: a HASH is a listpack when it has at most hash-max-listpack-entries fields none
of whose fields or values is longer than hash-max-listpack-value; a ZIPLIST/LISTPACK stays a
listpack unless it has more fields than hash-max-listpack-entries.
"""

from __future__ import annotations

from tandemkv.persistence.rdb import (
    TYPE_HASH,
    TYPE_HASH_LISTPACK,
    TYPE_HASH_ZIPLIST,
    Limits,
    RdbError,
    Reader,
    Writer,
    listpack_entries,
    register_loader,
    register_saver,
    ziplist_entries,
)
from tandemkv.values import hashes

HashValue = hashes.HashValue
_NO_LIMIT = 1 << 62


def _save_hash(w: Writer, value: HashValue) -> None:
    w.length(len(value))
    for field, item in value.items():
        w.string(field)
        w.string(item)


def _thresholds(limits: Limits) -> tuple[int, int]:
    return limits.extra.get("hash-max-listpack-entries", 512), limits.extra.get("hash-max-listpack-value", 64)


def _build(pairs: list[tuple[bytes, bytes]], max_entries: int, max_value: int) -> HashValue:
    value = HashValue()
    for field, item in pairs:
        if not value.set(field, item, max_entries, max_value):
            raise RdbError("Duplicate hash fields detected")
    return value


def _load_hash(r: Reader, limits: Limits) -> object:
    count = r.length()
    pairs = [(r.string(), r.string()) for _ in range(count)]
    return _build(pairs, *_thresholds(limits))


def _from_entries(entries: list[bytes], limits: Limits) -> object:
    if len(entries) % 2:
        raise RdbError("Hash listpack integrity check failed.")
    pairs = list(zip(entries[::2], entries[1::2], strict=True))
    return _build(pairs, _thresholds(limits)[0], _NO_LIMIT)  # the count only, as rdbLoadObject


def _load_hash_ziplist(r: Reader, limits: Limits) -> object:
    return _from_entries(ziplist_entries(r.string()), limits)


def _load_hash_listpack(r: Reader, limits: Limits) -> object:
    return _from_entries(listpack_entries(r.string()), limits)


register_saver(HashValue, TYPE_HASH, _save_hash)
register_loader(TYPE_HASH, _load_hash)
register_loader(TYPE_HASH_ZIPLIST, _load_hash_ziplist)
register_loader(TYPE_HASH_LISTPACK, _load_hash_listpack)
