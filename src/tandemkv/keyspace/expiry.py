"""ExpiryClock: what "now" is for deadlines. ExpiryIndex: a min-heap of (deadline_ms, key) that tells the loop when the next key is due.

The heap is a wake-up list, not the truth: the truth is the deadline stored beside the key.
Invariant: every key with deadline D has a heap entry with deadline <= D. So

- setting a deadline pushes only when the key had none, or the new one is earlier (O(log n));
- a later deadline, PERSIST, DEL, overwrite or RENAME leave the entry in place (O(1));
- when an entry comes due, the key's real deadline decides: none -> drop the entry; still in
  the future -> push it again at the real deadline; due -> expire the key.

Stale entries cost one tuple each until their deadline passes; a key has more than one entry
only after its deadline was shortened or it was deleted (or lost its deadline) and given a new
one. So that such churn cannot grow the heap without bound before the deadlines pass, the owner
`rebuild`s it from the live deadlines once entries outnumber them about two to one (O(n) after
at least n pushes: O(1) amortised per push).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable

from tandemkv.clock import Clock

# ExpiryClock's time while loading: earlier than any deadline a key can have (PEXPIREAT takes
# a signed 64-bit time), so no deadline has passed.
BEFORE_EVERY_DEADLINE_MS = -(1 << 64)


class ExpiryClock:
    """The one place that says which deadlines have passed: every keyspace and engine of an
    instance shares one; lookups (lazy expiry), migration and the commands that meet an
    already-past deadline read `now_ms` from it, and active expiry (`expire_due`) does
    nothing while `loading`.

    `loading`: set while a data file is loaded. No deadline has passed then (Redis's
    keyIsExpired and checkAlreadyExpired answer 0 while loading), so a key whose PEXPIREAT in
    an AOF is already past keeps taking the writes that follow it in the file, and expires,
    whole, once loading is over, instead of being deleted early and recreated without its
    deadline by a later write."""

    __slots__ = ("background", "clock", "loading")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.loading = False
        # False after DEBUG SET-ACTIVE-EXPIRE 0: nothing expires in the background, migration's
        # garbage collection included (it copies an expired key like any other then).
        self.background = True

    def now_ms(self) -> int:
        return BEFORE_EVERY_DEADLINE_MS if self.loading else self.clock.now_ms()


class ExpiryIndex:
    """`on_earliest(deadline_ms)` is called when a push makes an entry the earliest one, so
    the owner of the timer can wake up sooner."""

    __slots__ = ("heap", "on_earliest")

    def __init__(self, on_earliest: Callable[[int], None] | None = None) -> None:
        self.heap: list[tuple[int, bytes]] = []
        self.on_earliest = on_earliest or (lambda deadline_ms: None)

    def schedule(self, key: bytes, deadline_ms: int, previous_ms: int | None) -> None:
        """Record a new deadline for `key` whose deadline was `previous_ms` (None: had none)."""
        if previous_ms is None or deadline_ms < previous_ms:
            heapq.heappush(self.heap, (deadline_ms, key))
            if self.heap[0][0] == deadline_ms:
                self.on_earliest(deadline_ms)

    def next_deadline_ms(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    def pop_due(self, now_ms: int) -> bytes | None:
        """The key of the earliest entry if it is due, removing the entry; else None."""
        heap = self.heap
        if heap and heap[0][0] <= now_ms:
            return heapq.heappop(heap)[1]
        return None

    def due_count(self, now_ms: int, limit: int) -> int:
        """How many entries are due at `now_ms`, counting at most `limit` (INFO's stale-keys
        figure). Walks only due entries: a heap node's children are never earlier than it."""
        heap = self.heap
        count = 0
        stack = [0] if heap and heap[0][0] <= now_ms else []
        while stack and count < limit:
            i = stack.pop()
            count += 1
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(heap) and heap[child][0] <= now_ms:
                    stack.append(child)
        return count

    def reschedule(self, key: bytes, deadline_ms: int) -> None:
        heapq.heappush(self.heap, (deadline_ms, key))

    def rebuild(self, entries: Iterable[tuple[int, bytes]]) -> None:
        """Replace the heap by `entries`, one (deadline_ms, key) per key that has a deadline.

        The earliest entry can only move later, so an armed timer stays early enough."""
        heap = list(entries)
        heapq.heapify(heap)
        self.heap = heap

    def clear(self) -> None:
        self.heap = []

    def __len__(self) -> int:
        return len(self.heap)
