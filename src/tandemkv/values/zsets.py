"""The sorted set type: a member -> score dict plus a `SortedList` of (score, member) pairs.

Redis keeps a dict and a skiplist; here the ordered half is sortedcontainers' SortedList (a
list of short sorted lists with a positional index, searched with the C `bisect`), which gives
what the skiplist gives: rank, element at a rank, and the first position of a score or member
bound, each O(log n).

Costs, as Redis's skiplist encoding: add, update, remove, score O(1) for the dict plus O(log n)
for the order; rank and positional access O(log n); a range O(log n + m) for m elements; pop at
either end O(log n) an element; removing a range O(m log n).

Order: pairs compare as tuples, score first then member bytes (memcmp order), exactly Redis's
(score, member) order. Scores are never NaN (the commands refuse them); -0.0 and 0.0 compare
equal, as in C, so they tie on score and order by member.

Lexicographic ranges (ZRANGEBYLEX...) assume, as Redis does, that all members share one score;
then a bound is one bisect (O(log n)); with mixed scores (Redis's answer is undefined) the
search compares members only, by binary search over positions (O(log^2 n)).

ZSCAN walks a second, hash-ordered index (`scan`), built by the first ZSCAN of a big set and
kept up to date after that, so that a cursor survives changes between calls.

Encoding: OBJECT ENCODING reports `listpack` until the set once holds more members than
zset-max-listpack-entries or a member longer than zset-max-listpack-value (read by the
commands at the time of the write and passed to `fit_encoding`); then `skiplist` for good,
as Redis converts once and never back (a store command builds a new value, which starts small).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from sys import getsizeof

from sortedcontainers import SortedList

from tandemkv.values.sizes import bytes_size, object_bytes

# Bytes an element costs besides its member: a float (24 -> 32), a (score, member) tuple
# (56 -> 64), its share of the dict's table (about 40 bytes amortized over growth, measured
# with tracemalloc from 10 to 300 000 members) and of the SortedList's slots and index (~10).
ELEMENT_BYTES = 32 + 64 + 40 + 10
_EMPTY_BYTES = (
    object_bytes(getsizeof({}))
    + object_bytes(getsizeof(SortedList()))
    + 3 * object_bytes(getsizeof([]))  # SortedList's _lists, _maxes and _index
    + object_bytes(64)  # the ZSetValue object itself (slots)
)

# ZSCAN's index entry: a (hash, member) tuple (64), the hash int (36 -> 48) and a slot (~10).
SCAN_ENTRY_BYTES = 64 + 48 + 10
_SCAN_MASK = 2**64 - 1


class ZSetValue:
    """A Redis sorted set; `nbytes` is kept up to date (values/__init__.py)."""

    __slots__ = ("listpack", "nbytes", "order", "scan_index", "scores")

    def __init__(self, items: Iterable[tuple[bytes, float]] = (), listpack: bool = True) -> None:
        """A sorted set of (member, score) `items` (a repeated member keeps its last score),
        built at once: O(n log n) with one sort; `listpack`: the encoding it starts in."""
        scores = dict(items)
        if listpack:
            scores = {member: score or 0.0 for member, score in scores.items()}
        self.scores: dict[bytes, float] = scores
        self.order: SortedList = SortedList([(score, member) for member, score in scores.items()])
        self.listpack = listpack
        self.scan_index: SortedList | None = None  # built by the first `scan`
        self.nbytes = _EMPTY_BYTES + sum(bytes_size(member) + ELEMENT_BYTES for member in self.scores)

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) in ascending order."""
        for score, member in self.order:
            yield member, score

    def copy(self) -> ZSetValue:
        clone = ZSetValue.__new__(ZSetValue)
        clone.scores = self.scores.copy()  # floats and bytes are immutable: sharing is safe
        clone.order = self.order.copy()
        clone.listpack = self.listpack
        clone.scan_index = None
        clone.nbytes = self.nbytes - self._scan_bytes()
        return clone

    @property
    def encoding(self) -> bytes:
        return b"listpack" if self.listpack else b"skiplist"

    def fit_encoding(self, max_entries: int, max_value: int, member_bytes: int, adding: int = 0) -> None:
        """Redis's listpack -> skiplist conversion, once: when the set holds (with `adding`
        members about to be inserted) more than `max_entries` members, or a member of
        `member_bytes` exceeds `max_value`; thresholds as in force for this write."""
        if self.listpack and (len(self.scores) + adding > max_entries or member_bytes > max_value):
            self.listpack = False

    # ------------------------------------------------------------ members

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Insert `member` or move it to `score`; True if it is new. An equal score (== in C:
        0.0 and -0.0 are equal) leaves the element as it is, as Redis does. A listpack keeps
        integral scores as integers, so there -0.0 is stored as 0.0."""
        if self.listpack and not score:
            score = 0.0
        scores = self.scores
        old = scores.get(member)
        if old is None:
            scores[member] = score
            self.order.add((score, member))
            self.nbytes += bytes_size(member) + ELEMENT_BYTES
            if self.scan_index is not None:
                self.scan_index.add((scan_key(member), member))
                self.nbytes += SCAN_ENTRY_BYTES
            return True
        if old != score:
            self.order.remove((old, member))
            scores[member] = score
            self.order.add((score, member))
        return False

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        self.nbytes -= bytes_size(member) + ELEMENT_BYTES
        self._unscan((member,))
        return True

    def rank(self, member: bytes, reverse: bool = False) -> int | None:
        """0-based rank of `member` (from the highest if `reverse`), None if absent."""
        score = self.scores.get(member)
        if score is None:
            return None
        rank = self.order.index((score, member))
        return len(self.scores) - 1 - rank if reverse else rank

    # ---------------------------------------------------------- positions

    def at(self, index: int) -> tuple[bytes, float]:
        """(member, score) at ascending position `index` (negative counts from the end)."""
        score, member = self.order[index]
        return member, score

    def range(self, start: int, stop: int, reverse: bool = False) -> list[tuple[bytes, float]]:
        """(member, score) at ascending positions start..stop-1 (0 <= start <= stop <= len),
        walked downwards if `reverse`."""
        return [(member, score) for score, member in self.order.islice(start, stop, reverse=reverse)]

    def score_start(self, score: float, exclusive: bool) -> int:
        """First position whose score is >= `score` (> if `exclusive`)."""
        order = self.order
        if not exclusive:
            return order.bisect_left((score,))
        if score == math.inf:
            return len(order)
        return order.bisect_left((_next_up(score),))

    def score_stop(self, score: float, exclusive: bool) -> int:
        """Position after the last element whose score is <= `score` (< if `exclusive`)."""
        order = self.order
        if exclusive:
            return order.bisect_left((score,))
        if score == math.inf:
            return len(order)
        return order.bisect_left((_next_up(score),))

    def member_position(self, member: bytes, after: bool) -> int:
        """First position whose member is >= `member` (> if `after`), comparing members only:
        a binary search over positions, valid when members are in order (equal scores)."""
        order = self.order
        lo, hi = 0, len(order)
        if hi and order[0][0] == order[-1][0]:  # one score (the case Redis defines): O(log n)
            probe = (order[0][0], member)
            return order.bisect_right(probe) if after else order.bisect_left(probe)
        while lo < hi:
            mid = (lo + hi) // 2
            found = order[mid][1]
            if found < member or (after and found == member):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def delete_range(self, start: int, stop: int) -> int:
        """Remove the elements at ascending positions start..stop-1; how many were removed."""
        order = self.order
        scores = self.scores
        removed = 0
        doomed = [member for _score, member in order.islice(start, stop)]
        for member in doomed:
            del scores[member]
            removed += bytes_size(member) + ELEMENT_BYTES
        del order[start:stop]
        self.nbytes -= removed
        self._unscan(doomed)
        return stop - start

    def pop(self, count: int, highest: bool) -> list[tuple[bytes, float]]:
        """Remove and return up to `count` elements from the low (or `highest`) end, in the
        order they were popped."""
        order = self.order
        scores = self.scores
        index = -1 if highest else 0
        if count == 1 and scores:  # ZPOPMIN/ZPOPMAX's usual case, without the loop's setup
            score, member = order.pop(index)
            del scores[member]
            self.nbytes -= bytes_size(member) + ELEMENT_BYTES
            if self.scan_index is not None:
                self._unscan((member,))
            return [(member, score)]
        popped = []
        freed = 0
        for _ in range(min(count, len(scores))):
            score, member = order.pop(index)
            del scores[member]
            freed += bytes_size(member) + ELEMENT_BYTES
            popped.append((member, score))
        self.nbytes -= freed
        self._unscan(member for member, _score in popped)
        return popped

    def random_element(self) -> tuple[bytes, float]:
        """One element chosen uniformly (O(log n))."""
        return self.at(random.randrange(len(self.order)))

    # ---------------------------------------------------------------- ZSCAN

    def scan(self, cursor: int, count: int) -> tuple[int, list[tuple[bytes, float]]]:
        """About `count` elements from `cursor` (0: the start) in the order of a 64-bit hash
        of their members, and the cursor to continue from (0: done). Members sharing a hash
        come in one call, so an element present for a whole iteration is returned once,
        whatever is added or removed meanwhile (Redis's SCAN guarantee).

        The hash-ordered index is built by the first call (O(n log n), once) and kept up to date
        by every change after it (O(log n) each), at SCAN_ENTRY_BYTES an element."""
        index = self.scan_index
        if index is None:
            index = self.scan_index = SortedList([(scan_key(member), member) for member in self.scores])
            self.nbytes += self._scan_bytes()
        start = index.bisect_left((cursor,))
        batch = list(index.islice(start, start + count))
        stop = start + len(batch)
        while batch and stop < len(index) and index[stop][0] == batch[-1][0]:
            batch.append(index[stop])
            stop += 1
        next_cursor = index[stop][0] if stop < len(index) else 0
        scores = self.scores
        return next_cursor, [(member, scores[member]) for _key, member in batch]

    def _scan_bytes(self) -> int:
        return 0 if self.scan_index is None else len(self.scan_index) * SCAN_ENTRY_BYTES

    def _unscan(self, members: Iterable[bytes]) -> None:
        index = self.scan_index
        if index is not None:
            for member in members:
                index.remove((scan_key(member), member))
                self.nbytes -= SCAN_ENTRY_BYTES

    # ------------------------------------------------------------- freeing

    def free_slice(self, max_items: int) -> int:
        """Drop up to `max_items` elements (a deleted value freed a slice at a time)."""
        order = self.order
        scores = self.scores
        self.scan_index = None
        done = min(max_items, len(scores))
        start = len(order) - done
        for _score, member in order.islice(start):
            del scores[member]
        del order[start:]
        return done


def scan_key(member: bytes) -> int:
    """A member's place in ZSCAN's order: its hash as an odd unsigned 64-bit number, so that
    no member sits at cursor 0, which means "start" and "done"."""
    return (hash(member) & _SCAN_MASK) | 1


def _next_up(score: float) -> float:
    """The smallest double above `score` (finite `score`): turns > into >= for a bisect."""
    return math.nextafter(score, math.inf)
