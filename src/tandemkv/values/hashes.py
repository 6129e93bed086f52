"""The hash type: Redis's map of field -> value (both byte strings), on CPython dicts.

Encoding. OBJECT ENCODING is `listpack` while the hash has at most hash-max-listpack-entries
fields and every field and value is at most hash-max-listpack-value bytes long, then
`hashtable` for good (`listpack` is a flag that flips once, as Redis converts once). The
caller passes both limits to each write, read from the configuration at the time of the write.

Structure. A listpack-encoded hash is one dict: insertion order is the listpack's order, so
HGETALL, HKEYS and HSCAN answer in Redis's order. A hashtable-encoded hash is a table of small
dicts (`buckets`) grown and shrunk by linear hashing: a field lives in bucket
`hash(field) & mask`, or `hash(field) & (mask >> 1)` when the first index is past the last
bucket. When the average bucket holds more than _SPLIT_LOAD fields, the next bucket in line is
split in two (its fields whose next hash bit is set move to a new bucket at the end); below
_MERGE_LOAD, the last bucket merges back into its partner. Each write moves at most one bucket
(about 16 fields), so no write pays for resizing the whole hash; a lookup costs one hash-and-
mask more than a plain dict.

The scan cursor (why buckets at all). HSCAN must return every field present during the whole
scan at least once, and a full scan should cost O(n). A Python dict cannot be resumed at a
position (islice from the start makes a scan O(n^2 / COUNT)), and its order changes when a
field is deleted and set again. Buckets addressed by the low bits of the hash give Redis's
answer (dictScan, dict.c): the cursor is a bucket address whose bits are counted in reverse
(highest first). Read backwards, the low m bits of a hash pick one bucket of a table of 2^m
buckets, and the set of hashes a bucket holds is an aligned interval of "reversed hash space";
the reversed cursor is a point in that space, and after returning a bucket the cursor moves to
the end of its interval. Every field whose reversed hash lies below the cursor has been
returned, whatever splits or merges happened between calls: a bucket of any level is such an
interval, and the bucket that holds the cursor's point always starts at or before it (at worst
some fields come twice). Each bucket is visited once per scan while the table is stable, so a
full scan costs O(n + buckets) = O(n). Linear hashing mixes buckets of two levels (k and k+1
bits); each is still an aligned interval, so the same rule holds.

Costs: get, set, delete O(1) (amortized over splits); HGETALL and friends O(n); a random field
O(1) expected (a random bucket, accepted in proportion to its size, then a walk inside it); in
the listpack encoding, a random field walks the one dict (O(n), as a listpack walk in Redis).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice
from random import choices, randrange, sample
from sys import getsizeof

from tandemkv.values.sizes import bytes_size, object_bytes

_SPLIT_LOAD = 16  # fields per bucket, on average, above which one more bucket is split off
_MERGE_LOAD = 4  # fields per bucket, on average, below which the last bucket merges back
_CONVERT_LOAD = 8  # fields per bucket right after the conversion to the hashtable encoding
# A random bucket is accepted with probability len/_RANDOM_CAP, so every field of a bucket of
# up to _RANDOM_CAP fields is equally likely (buckets average 4 to 16 fields).
_RANDOM_CAP = 48

_U64 = (1 << 64) - 1
_REVERSED_BYTES = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))

_dict_sizeof = dict.__sizeof__
_list_sizeof = list.__sizeof__
_GC_HEADER = getsizeof({}) - _dict_sizeof({})  # dicts and lists carry the GC header too


def _reverse64(value: int) -> int:
    """The 64 bits of `value` in reverse order."""
    return int.from_bytes(value.to_bytes(8, "little").translate(_REVERSED_BYTES), "big")


def _next_cursor(cursor: int, bucket_mask: int) -> int:
    """The cursor after the bucket at `cursor` whose level is `bucket_mask` (2^m - 1): the
    reversed cursor incremented at its m-th highest bit, as Redis's dictScan; 0 past the end."""
    reversed_next = _reverse64(cursor | (_U64 & ~bucket_mask)) + 1
    return 0 if reversed_next > _U64 else _reverse64(reversed_next)


class HashValue:
    """A Redis hash; `nbytes` is kept up to date (values/__init__.py)."""

    __slots__ = ("buckets", "listpack", "mask", "nbytes", "size")

    def __init__(self) -> None:
        self.buckets: list[dict[bytes, bytes]] = [{}]
        self.mask = 1  # (1 << len(buckets).bit_length()) - 1
        self.size = 0
        self.listpack = True
        self.nbytes = _EMPTY_BYTES

    def __len__(self) -> int:
        return self.size

    @property
    def encoding(self) -> bytes:
        """OBJECT ENCODING's answer."""
        return b"listpack" if self.listpack else b"hashtable"

    def copy(self) -> HashValue:
        """A hash with the same fields and encoding, sharing no dict with this one (COPY)."""
        clone = HashValue.__new__(HashValue)
        clone.buckets = [bucket.copy() for bucket in self.buckets]
        clone.mask = self.mask
        clone.size = self.size
        clone.listpack = self.listpack
        clone.nbytes = self.nbytes - self._table_bytes() + clone._table_bytes()
        return clone

    # -------------------------------------------------------------- fields

    def _bucket(self, field: bytes) -> dict[bytes, bytes]:
        buckets = self.buckets
        if len(buckets) == 1:
            return buckets[0]
        index = hash(field) & self.mask
        if index >= len(buckets):
            index &= self.mask >> 1
        return buckets[index]

    def get(self, field: bytes) -> bytes | None:
        """The value of `field`, or None."""
        buckets = self.buckets  # _bucket inlined: HGET's path
        if len(buckets) == 1:
            return buckets[0].get(field)
        index = hash(field) & self.mask
        if index >= len(buckets):
            index &= self.mask >> 1
        return buckets[index].get(field)

    def __contains__(self, field: bytes) -> bool:
        return field in self._bucket(field)

    def set(self, field: bytes, value: bytes, max_entries: int, max_value: int) -> bool:
        """Set `field` to `value`; True if the field is new. `max_entries` and `max_value` are
        hash-max-listpack-entries and -value: past either, the hash converts to a hashtable
        (before storing a too-long field or value, after any write that leaves too many fields:
        as Redis's hashTypeSet; an update converts a hash that a lowered limit left too long)."""
        if not self.listpack:
            bucket = self._bucket(field)
        elif len(field) > max_value or len(value) > max_value:
            self._convert()
            bucket = self._bucket(field)
        else:
            bucket = self.buckets[0]  # the one dict of a listpack-encoded hash
        old = bucket.get(field)
        if old is not None:
            bucket[field] = value
            if len(old) != len(value):
                self.nbytes += bytes_size(value) - bytes_size(old)
            if self.listpack and self.size > max_entries:  # a lowered limit: Redis checks anyway
                self._convert()
            return False
        before = _dict_sizeof(bucket)
        bucket[field] = value
        self.nbytes += bytes_size(field) + bytes_size(value) + _dict_sizeof(bucket) - before
        self.size += 1
        if self.listpack:
            if self.size > max_entries:
                self._convert()
        elif self.size > _SPLIT_LOAD * len(self.buckets):
            self._split()
        return True

    def delete(self, field: bytes) -> bool:
        """Remove `field`; True if it was there."""
        value = self._bucket(field).pop(field, None)
        if value is None:
            return False
        self.nbytes -= bytes_size(field) + bytes_size(value)
        self.size -= 1
        buckets = self.buckets
        if len(buckets) > 1 and self.size < _MERGE_LOAD * len(buckets):
            self._merge()
        return True

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (field, value): in insertion order while listpack-encoded."""
        buckets = self.buckets
        if len(buckets) == 1:
            return iter(buckets[0].items())
        return chain.from_iterable(bucket.items() for bucket in buckets)

    def fields(self) -> list[bytes]:
        """Every field, in the order of `items`."""
        return [field for bucket in self.buckets for field in bucket]

    def values(self) -> list[bytes]:
        """Every value, in the order of `items`."""
        return [value for bucket in self.buckets for value in bucket.values()]

    # -------------------------------------------------------------- random

    def random_item(self) -> tuple[bytes, bytes]:
        """A (field, value) chosen uniformly; the hash must not be empty."""
        buckets = self.buckets
        if len(buckets) == 1:
            bucket = buckets[0]
            return next(islice(bucket.items(), randrange(len(bucket)), None))
        while True:
            bucket = buckets[randrange(len(buckets))]
            size = len(bucket)
            if size and randrange(_RANDOM_CAP) < size:
                return next(islice(bucket.items(), randrange(size), None))

    def random_items(self, count: int) -> list[tuple[bytes, bytes]]:
        """`count` (field, value) pairs chosen independently (repeats allowed); not empty."""
        if len(self.buckets) == 1:
            return choices(list(self.buckets[0].items()), k=count)
        random_item = self.random_item
        return [random_item() for _ in range(count)]

    def random_distinct(self, count: int) -> list[tuple[bytes, bytes]]:
        """`count` distinct (field, value) pairs at random, 0 < count < len, as HRANDFIELD
        with a positive count: when the hash is not three times larger than `count`, a random
        subset of all its fields (O(n)); else the listpack encoding walks its one dict once
        and keeps its order (O(n), as Redis's lpRandomPairsUnique), and the hashtable encoding
        draws random fields until `count` differ (O(count) expected)."""
        size = self.size
        if count * 3 > size:
            return sample(list(self.items()), count)
        if len(self.buckets) == 1:
            wanted = sorted(sample(range(size), count))
            picked: list[tuple[bytes, bytes]] = []
            position = 0
            iterator = iter(self.buckets[0].items())
            for index in wanted:
                picked.append(next(islice(iterator, index - position, None)))
                position = index + 1
            return picked
        found: dict[bytes, bytes] = {}
        random_item = self.random_item
        while len(found) < count:
            field, value = random_item()
            found[field] = value
        return list(found.items())

    # ---------------------------------------------------------------- scan

    def scan(self, cursor: int, count: int) -> tuple[int, list[tuple[bytes, bytes]]]:
        """HSCAN's step: (next cursor, pairs). A listpack-encoded hash returns everything and
        cursor 0, as Redis. Otherwise whole buckets from the one at `cursor` on, until at
        least `count` fields or 10 x `count` buckets (Redis's bound on an empty stretch), in
        reverse-binary cursor order (module docstring); next cursor 0 when the scan is done."""
        buckets = self.buckets
        if self.listpack:
            return 0, list(buckets[0].items())
        total = len(buckets)
        mask = self.mask
        low_mask = mask >> 1
        top = low_mask + 1  # buckets below total - top and from top on use every bit of mask
        found: list[tuple[bytes, bytes]] = []
        visits = count * 10
        while True:
            index = cursor & mask
            if index >= total:
                index &= low_mask
            found.extend(buckets[index].items())
            cursor = _next_cursor(cursor, mask if index >= top or index < total - top else low_mask)
            visits -= 1
            if not cursor or len(found) >= count or visits <= 0:
                return cursor, found

    # ------------------------------------------------------------- freeing

    def free_slice(self, max_items: int) -> int:
        """Drop up to `max_items` fields (a deleted hash freed a slice at a time)."""
        buckets = self.buckets
        done = 0
        freed_bytes = 0
        while done < max_items and self.size > done:
            bucket = buckets[-1]
            while bucket and done < max_items:
                field, value = bucket.popitem()
                freed_bytes += bytes_size(field) + bytes_size(value)
                done += 1
            if not bucket and len(buckets) > 1:
                # An empty last bucket merges into its partner by just going away.
                before = _list_sizeof(buckets)
                buckets.pop()
                freed_bytes += before - _list_sizeof(buckets) + _dict_sizeof(bucket) + _GC_HEADER
                self.mask = (1 << len(buckets).bit_length()) - 1
        self.size -= done
        self.nbytes -= freed_bytes
        return done

    # ------------------------------------------------------ table changes

    def _table_bytes(self) -> int:
        """The list of buckets and the buckets' dicts (walks the buckets: copy only)."""
        buckets = self.buckets
        return (
            _list_sizeof(buckets)
            + sum(_dict_sizeof(bucket) for bucket in buckets)
            + _GC_HEADER * (len(buckets) + 1)
        )

    def _convert(self) -> None:
        """listpack -> hashtable: spread the one dict over len / _CONVERT_LOAD buckets."""
        self.listpack = False
        before = self._table_bytes()
        total = max(1, self.size // _CONVERT_LOAD)
        mask = (1 << total.bit_length()) - 1
        low_mask = mask >> 1
        buckets: list[dict[bytes, bytes]] = [{} for _ in range(total)]
        for field, value in self.buckets[0].items():
            index = hash(field) & mask
            if index >= total:
                index &= low_mask
            buckets[index][field] = value
        self.buckets = buckets
        self.mask = mask
        self.nbytes += self._table_bytes() - before

    def _split(self) -> None:
        """Add one bucket: split its partner (the next bucket in line) on the next hash bit."""
        buckets = self.buckets
        new_index = len(buckets)
        bit = 1 << (new_index.bit_length() - 1)
        partner = new_index - bit
        old = buckets[partner]
        stay: dict[bytes, bytes] = {}
        move: dict[bytes, bytes] = {}
        for field, value in old.items():
            if hash(field) & bit:
                move[field] = value
            else:
                stay[field] = value
        list_before = _list_sizeof(buckets)
        buckets[partner] = stay
        buckets.append(move)
        self.mask = (1 << len(buckets).bit_length()) - 1
        self.nbytes += (
            _list_sizeof(buckets) - list_before
            + _dict_sizeof(stay) - _dict_sizeof(old)
            + _dict_sizeof(move) + _GC_HEADER
        )

    def _merge(self) -> None:
        """Remove the last bucket: its fields go back to its partner."""
        buckets = self.buckets
        list_before = _list_sizeof(buckets)
        last = buckets.pop()
        index = len(buckets)
        target = buckets[index - (1 << (index.bit_length() - 1))]
        target_before = _dict_sizeof(target)
        target.update(last)
        self.mask = (1 << len(buckets).bit_length()) - 1
        self.nbytes += (
            _list_sizeof(buckets) - list_before
            + _dict_sizeof(target) - target_before
            - _dict_sizeof(last) - _GC_HEADER
        )


# An empty hash: the object, its list of one bucket, and that empty dict.
_EMPTY_BYTES = (
    object_bytes(getsizeof(HashValue.__new__(HashValue)))
    + _list_sizeof([{}])
    + _dict_sizeof({})
    + 2 * _GC_HEADER
)
