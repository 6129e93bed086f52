"""Hashes in RDB files and DUMP payloads (the type pair for rdb.py; needs the hash type,
values/hashes.py, so it is imported once that type is merged: persistence/__init__.py).

Written as RDB_TYPE_HASH (field, value, field, value ... as strings), which redis-server 7.0
loads into a listpack or a hashtable by its own thresholds. Read: HASH, HASH_ZIPLIST and
HASH_LISTPACK (fields and values alternating), and Redis 2.x's HASH_ZIPMAP. The loaded value's encoding follows
rdbLoadObject: a HASH is a listpack when it has at most hash-max-listpack-entries fields none
of whose fields or values is longer than hash-max-listpack-value; a ZIPLIST/LISTPACK stays a
listpack unless it has more fields than hash-max-listpack-entries.
"""

from __future__ import annotations

from tandemkv.persistence.rdb import (
    TYPE_HASH,
    TYPE_HASH_LISTPACK,
    TYPE_HASH_ZIPLIST,
    TYPE_HASH_ZIPMAP,
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


def _from_entries(entries: list[bytes], limits: Limits, kind: str) -> object:
    """A hash from a ziplist's or listpack's field, value, ... entries (`kind` names it in the
    error: an odd count or a repeated field, as Redis's pairs validation finds them)."""
    if len(entries) % 2 or len(set(entries[::2])) * 2 != len(entries):
        raise RdbError(f"{kind} integrity check failed.")
    pairs = list(zip(entries[::2], entries[1::2], strict=True))
    return _build(pairs, _thresholds(limits)[0], _NO_LIMIT)  # the count only, as rdbLoadObject


def _load_hash_ziplist(r: Reader, limits: Limits) -> object:
    return _from_entries(ziplist_entries(r.string(), "Hash ziplist"), limits, "Hash ziplist")


def _load_hash_listpack(r: Reader, limits: Limits) -> object:
    return _from_entries(listpack_entries(r.string(), "Hash listpack"), limits, "Hash listpack")


_ZIPMAP_BIGLEN = 254
_ZIPMAP_END = 255


def zipmap_pairs(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (field, value) pairs of a zipmap (Redis 2.x's small hash: a count byte, then per pair
    <len>field<len><free>value<free bytes>, then 255), checked as zipmapValidateIntegrity
    does deeply: every length inside the blob, not empty, the count byte right."""
    size = len(blob)
    if size < 2 or blob[-1] != _ZIPMAP_END:
        raise RdbError("Zipmap integrity check failed.")
    pairs = []
    p = 1
    try:
        while blob[p] != _ZIPMAP_END:
            p, field = _zipmap_string(blob, p, free=False)
            p, item = _zipmap_string(blob, p, free=True)
            pairs.append((field, item))
    except IndexError:
        raise RdbError("Zipmap integrity check failed.") from None
    if not pairs or (blob[0] != _ZIPMAP_BIGLEN and blob[0] != len(pairs)):
        raise RdbError("Zipmap integrity check failed.")
    return pairs


def _zipmap_string(blob: bytes, p: int, free: bool) -> tuple[int, bytes]:
    """The string at `p` (its length, then for a value the free-space byte) and where the next
    entry starts; IndexError if anything reaches past the terminator."""
    length = blob[p]
    p += 1
    if length >= _ZIPMAP_BIGLEN:
        if p + 4 > len(blob) - 1:
            raise IndexError
        length = int.from_bytes(blob[p : p + 4], "little")
        p += 4
    unused = 0
    if free:
        unused = blob[p]
        p += 1
    end = p + length
    if end + unused > len(blob) - 1:
        raise IndexError
    return end + unused, blob[p:end]


def _load_hash_zipmap(r: Reader, limits: Limits) -> object:
    """rdbLoadObject's zipmap branch: a listpack unless it has more fields than
    hash-max-listpack-entries or a field or value longer than hash-max-listpack-value."""
    return _build(zipmap_pairs(r.string()), *_thresholds(limits))


register_saver(HashValue, TYPE_HASH, _save_hash)
register_loader(TYPE_HASH, _load_hash)
register_loader(TYPE_HASH_ZIPLIST, _load_hash_ziplist)
register_loader(TYPE_HASH_LISTPACK, _load_hash_listpack)
register_loader(TYPE_HASH_ZIPMAP, _load_hash_zipmap)
