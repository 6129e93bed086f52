"""The list type: Redis's quicklist semantics on a `collections.deque`.

Costs, as Redis's quicklist: push and pop at either end O(1); index, set and insert
O(distance from the nearer end) (deque walks its 64-slot blocks in C from the nearer end);
a range O(start + count) from the nearer end; trim O(elements removed); remove and position
searches O(n), as in Redis.

Indexes here are already normalized by the caller where noted (`range`, `trim`): Redis's
negative-index rules live in commands/lists.py, once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from sys import getsizeof

from tandemkv.values.sizes import bytes_size, object_bytes

# An empty deque (its header and first 64-slot block); then a block of 528 bytes per 64
# elements, charged as 8 bytes an element.
_DEQUE_BYTES = object_bytes(getsizeof(deque()))
_SLOT_BYTES = 8


class ListValue:
    """A Redis list of byte strings; `nbytes` is kept up to date (values/__init__.py)."""

    __slots__ = ("items", "nbytes")

    def __init__(self, items: Iterable[bytes] = ()) -> None:
        self.items: deque[bytes] = deque(items)
        self.nbytes = _DEQUE_BYTES + sum(bytes_size(item) + _SLOT_BYTES for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.items)

    def copy(self) -> ListValue:
        clone = ListValue.__new__(ListValue)
        clone.items = self.items.copy()  # bytes are immutable: sharing them is safe
        clone.nbytes = self.nbytes
        return clone

    # ---------------------------------------------------------------- ends

    def push(self, items: Sequence[bytes], left: bool) -> None:
        """Push each item in turn at the head (`left`) or the tail, as LPUSH/RPUSH do."""
        if len(items) == 1:  # the common case, without the loops' setup
            item = items[0]
            if left:
                self.items.appendleft(item)
            else:
                self.items.append(item)
            self.nbytes += bytes_size(item) + _SLOT_BYTES
            return
        if left:
            self.items.extendleft(items)
        else:
            self.items.extend(items)
        self.nbytes += sum(map(bytes_size, items)) + _SLOT_BYTES * len(items)

    def pop(self, left: bool) -> bytes:
        """Remove and return the head (`left`) or tail element; the list must not be empty."""
        item = self.items.popleft() if left else self.items.pop()
        self.nbytes -= bytes_size(item) + _SLOT_BYTES
        return item

    def pop_many(self, count: int, left: bool) -> list[bytes]:
        """Up to `count` elements from one end, in the order they were popped."""
        take = self.items.popleft if left else self.items.pop
        popped = [take() for _ in range(min(count, len(self.items)))]
        self.nbytes -= sum(bytes_size(item) + _SLOT_BYTES for item in popped)
        return popped

    # ----------------------------------------------------------- positions

    def get(self, index: int) -> bytes:
        """The element at a normalized index (0 <= index < len)."""
        return self.items[index]

    def set(self, index: int, item: bytes) -> None:
        """Replace the element at a normalized index."""
        self.nbytes += bytes_size(item) - bytes_size(self.items[index])
        self.items[index] = item

    def insert_at_pivot(self, pivot: bytes, item: bytes, after: bool) -> bool:
        """Insert `item` before or after the first element equal to `pivot`; False if none."""
        try:
            index = self.items.index(pivot)
        except ValueError:
            return False
        self.items.insert(index + 1 if after else index, item)
        self.nbytes += bytes_size(item) + _SLOT_BYTES
        return True

    def range(self, start: int, stop: int) -> list[bytes]:
        """Elements start..stop inclusive (normalized: 0 <= start <= stop < len), walked from
        the nearer end."""
        items = self.items
        n = len(items)
        if start <= n - 1 - stop:
            return list(islice(items, start, stop + 1))
        found = list(islice(reversed(items), n - 1 - stop, n - start))
        found.reverse()
        return found

    def trim(self, start: int, stop: int) -> None:
        """Keep only start..stop inclusive (normalized; start > stop empties the list)."""
        items = self.items
        n = len(items)
        if start > stop or start >= n:
            self.pop_many(n, left=True)
            return
        self.pop_many(start, left=True)
        self.pop_many(n - 1 - stop, left=False)

    def remove(self, item: bytes, count: int) -> int:
        """LREM: remove up to |count| elements equal to `item`, from the head if count > 0,
        from the tail if count < 0, all if 0; returns how many were removed."""
        items = self.items
        limit = abs(count) or len(items)
        source: Iterable[bytes] = items if count >= 0 else reversed(items)
        kept: list[bytes] = []
        removed = 0
        for element in source:
            if removed < limit and element == item:
                removed += 1
            else:
                kept.append(element)
        if removed:
            if count < 0:
                kept.reverse()
            self.items = deque(kept)
            self.nbytes -= removed * (bytes_size(item) + _SLOT_BYTES)
        return removed

    def positions(self, item: bytes, rank: int, count: int, maxlen: int) -> list[int]:
        """LPOS: indexes of elements equal to `item`, skipping the first |rank|-1 matches,
        walking from the head (rank > 0) or the tail (rank < 0), at most `count` of them
        (0: all), comparing at most `maxlen` elements (0: all)."""
        items = self.items
        n = len(items)
        source: Iterable[bytes] = items if rank > 0 else reversed(items)
        if maxlen:
            source = islice(source, maxlen)
        skip = abs(rank) - 1
        found: list[int] = []
        for offset, element in enumerate(source):
            if element == item:
                if skip:
                    skip -= 1
                    continue
                found.append(offset if rank > 0 else n - 1 - offset)
                if len(found) == count:
                    break
        return found

    # ------------------------------------------------------------- freeing

    def free_slice(self, max_items: int) -> int:
        """Drop up to `max_items` elements (a deleted value freed a slice at a time)."""
        items = self.items
        done = min(max_items, len(items))
        for _ in range(done):
            items.pop()
        return done
