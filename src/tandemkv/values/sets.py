"""The set type: Redis's set semantics on an array of members plus a member -> index map.

A Python set has no random access, and SPOP / SRANDMEMBER must not walk the set. So a set
keeps its members in a list (`members`) and each member's position in a dict (`positions`):

- membership and lookups: one dict probe, O(1);
- add: append to the list, O(1) amortized;
- remove: the last member moves into the hole (swap-remove), O(1);
- a random member: `members[randrange(n)]`, O(1); k distinct ones: `random.sample` over the
  index range, O(k); k with repeats: O(k);
- SSCAN: a cursor over positions, walked from the top down (`scan`), O(count) a call and O(n)
  for a whole scan; the downward walk is what makes swap-remove safe for a scan in progress.

Encoding (OBJECT ENCODING), as Redis 7.0's t_set.c: `intset` while every member is an integer
as Redis's string2ll reads it and the set holds at most set-max-intset-entries (capped at 2^30,
as Redis caps it) members, else `hashtable`. The flag only flips one way on writes, as Redis
converts once; the one exception is Redis's own: an SPOP with a count that leaves few members
builds a new set from them (`pop_random_many`). Redis iterates an intset in ascending order,
so whole-set listings of an intset-encoded value are returned sorted (`ordered`): the same
bytes as Redis for small sets of integers.

Memory (`nbytes`): the members' bytes objects, plus per member a dict entry with its share of
the index table and a list slot (`_MEMBER_SLOT_BYTES`, the mean of what CPython allocates as
the dict and list grow), plus the position's int object (CPython caches 0..256).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, KeysView
from sys import getsizeof

from tandemkv.values.sizes import bytes_size, object_bytes

# Redis caps set-max-intset-entries here (intset internals).
INTSET_HARD_MAX = 1 << 30

_EMPTY_BYTES = object_bytes(getsizeof({})) + object_bytes(getsizeof([]))
# Per member: a dict entry (24 bytes) with its share of the index table and of the free
# entries between resizes, and an 8-byte list slot (measured: 38 to 60 bytes, mean 48).
_MEMBER_SLOT_BYTES = 48
# The int object of a member's position; CPython shares the ints up to 256.
_INT_BYTES = object_bytes(getsizeof(1 << 20))
_SHARED_INTS = 257

_randrange = random.randrange


def is_intset_member(member: bytes) -> bool:
    """True if Redis would keep `member` in an intset: a signed 64-bit integer as Redis's
    string2ll reads it (optional '-', no '+', no leading zeros, no spaces). The same rule as
    protocol.string2ll, which this layer may not import (tests check that they agree)."""
    n = len(member)
    if n == 0 or n > 20:
        return False
    digits = member[1:] if member[0] == 0x2D else member
    if not digits.isdigit():
        return False
    if digits[0] == 0x30:
        return member == b"0"
    if n < 19:  # at most 18 characters: always within 64 bits
        return True
    return -(2**63) <= int(member) < 2**63


class SetValue:
    """A Redis set of byte strings; `nbytes` is kept up to date (values/__init__.py).

    `intset` is the encoding flag (True: Redis would use an intset). `members` (list) and
    `positions` (dict member -> index in `members`) may be read by callers, for set algebra
    in C (dict views, set operations); only this class changes them."""

    __slots__ = ("intset", "members", "nbytes", "positions")

    def __init__(self, members: Iterable[bytes] = (), max_intset: int = 512) -> None:
        """A set of `members` (duplicates ignored), encoded as Redis would encode a set built
        by adding them one by one with set-max-intset-entries = `max_intset`."""
        # Built in bulk (C loops), as a set built by adds would end: same members, same flag.
        if isinstance(members, (set, frozenset, KeysView)):
            unique = list(members)  # already distinct (a computed result)
        else:
            unique = list(dict.fromkeys(members))
        count = len(unique)
        self.members: list[bytes] = unique
        self.positions: dict[bytes, int] = dict(zip(unique, range(count), strict=True))
        self.intset = count <= min(max_intset, INTSET_HARD_MAX) and all(map(is_intset_member, unique))
        self.nbytes = (
            _EMPTY_BYTES
            + sum(map(bytes_size, unique))
            + _MEMBER_SLOT_BYTES * count
            + (_INT_BYTES * (count - _SHARED_INTS) if count > _SHARED_INTS else 0)
        )

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, member: bytes) -> bool:
        return member in self.positions

    @property
    def encoding(self) -> bytes:
        """OBJECT ENCODING's answer."""
        return b"intset" if self.intset else b"hashtable"

    def copy(self) -> SetValue:
        """COPY: same members and encoding, nothing mutable shared."""
        clone = SetValue.__new__(SetValue)
        clone.members = self.members.copy()
        clone.positions = self.positions.copy()
        clone.intset = self.intset
        clone.nbytes = self.nbytes
        return clone

    def ordered(self) -> list[bytes]:
        """Every member, in the order Redis lists them: ascending for an intset, else the
        set's own order."""
        if self.intset:
            return sorted(self.members, key=int)
        return self.members.copy()

    # ------------------------------------------------------------ changes

    def to_hashtable(self) -> None:
        """Encode as a hashtable from now on (Redis's setTypeConvert)."""
        self.intset = False

    def add(self, member: bytes, max_intset: int) -> bool:
        """Add `member`; False if it was already there. `max_intset`: set-max-intset-entries."""
        positions = self.positions
        if member in positions:
            return False
        members = self.members
        count = len(members)
        positions[member] = count
        members.append(member)
        self.nbytes += bytes_size(member) + _MEMBER_SLOT_BYTES + (_INT_BYTES if count >= _SHARED_INTS else 0)
        if self.intset and (count >= min(max_intset, INTSET_HARD_MAX) or not is_intset_member(member)):
            self.intset = False
        return True

    def add_many(self, members: Iterable[bytes], max_intset: int) -> int:
        """Add each member in turn (SADD); returns how many were new. `add` inlined: this is
        SADD's whole cost."""
        positions = self.positions
        items = self.members
        append = items.append
        intset = self.intset
        limit = min(max_intset, INTSET_HARD_MAX)
        first = len(items)
        grow = 0
        for member in members:
            if member in positions:
                continue
            count = len(items)
            positions[member] = count
            append(member)
            grow += bytes_size(member)
            if intset and (count >= limit or not is_intset_member(member)):
                intset = False
        added = len(items) - first
        if added:
            self.intset = intset
            # Slots, and the int objects of positions first..first+added-1 past the shared ones.
            ints = max(0, first + added - _SHARED_INTS) - max(0, first - _SHARED_INTS)
            self.nbytes += grow + _MEMBER_SLOT_BYTES * added + _INT_BYTES * ints
        return added

    def remove(self, member: bytes) -> bool:
        """Remove `member`; False if it was not there."""
        position = self.positions.pop(member, None)
        if position is None:
            return False
        self._unlink(position)
        self.nbytes -= bytes_size(member)
        return True

    def _unlink(self, position: int) -> None:
        """Close the hole at `position` (its member already out of `positions`) by moving the
        last member into it, and release the slot's bytes (not the member's)."""
        members = self.members
        last = members.pop()
        if position < len(members):
            members[position] = last
            self.positions[last] = position
        self.nbytes -= _MEMBER_SLOT_BYTES + (_INT_BYTES if len(members) >= _SHARED_INTS else 0)

    # ------------------------------------------------------------- random

    def random_member(self) -> bytes:
        """A uniformly random member; the set must not be empty."""
        members = self.members
        return members[_randrange(len(members))]

    def pop_random(self) -> bytes:
        """Remove and return a uniformly random member; the set must not be empty."""
        members = self.members
        position = _randrange(len(members))
        member = members[position]
        del self.positions[member]
        self._unlink(position)
        self.nbytes -= bytes_size(member)
        return member

    def pop_random_many(self, count: int, max_intset: int) -> list[bytes]:
        """SPOP with 0 < count < len: remove and return `count` random members, O(count).

        When the members left are few (count >= 5 x left), Redis builds a new set from them
        (spopWithCountCommand's third case), whose encoding is that of a fresh set: done here
        too, in O(left), so OBJECT ENCODING answers as Redis's."""
        left = len(self.members) - count
        popped = [self.pop_random() for _ in range(count)]
        if left * 5 <= count:
            self.intset = left <= min(max_intset, INTSET_HARD_MAX) and all(
                is_intset_member(member) for member in self.members
            )
        return popped

    def sample_unique(self, count: int) -> list[bytes]:
        """`count` distinct random members (count <= len), O(count)."""
        members = self.members
        return [members[i] for i in random.sample(range(len(members)), count)]

    def sample_with_repeats(self, count: int) -> list[bytes]:
        """`count` random members drawn independently (repeats allowed), O(count)."""
        return random.choices(self.members, k=count)

    # --------------------------------------------------------------- scan

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SSCAN step: up to `count` members and the next cursor (0: done).

        The cursor is the number of positions not yet visited: a scan starts at the top
        (cursor 0 means len) and walks down. Removal moves the last member into the hole;
        a member not yet returned sits below the cursor, and so does the last member if it
        is one, so the move keeps it below: every member present for the whole scan is
        returned at least once. Added members go to the top, above the cursor. Each call is
        O(count), a whole scan O(n)."""
        members = self.members
        top = len(members) if cursor == 0 else min(cursor, len(members))
        bottom = max(top - count, 0)
        return bottom, members[bottom:top]

    # ------------------------------------------------------------ freeing

    def free_slice(self, max_items: int) -> int:
        """Drop up to `max_items` members (a deleted value freed a slice at a time)."""
        members = self.members
        positions = self.positions
        done = min(max_items, len(members))
        for _ in range(done):
            del positions[members.pop()]
        return done
