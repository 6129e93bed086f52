"""WATCH: which sessions watch which keys, and invalidating them (Redis's multi.c, "WATCH").

Rules:
- Keys are watched as (db, key); each watching session keeps, per key, whether the key was
  already expired (but not yet deleted) when WATCH ran, as Redis 7.0 does.
- A key is modified exactly where the keyspace raises an event for it (`Instance.notify`:
  writes, DEL, expiry, eviction, RENAME into it, ...), the same places Redis calls
  signalModifiedKey; FLUSHDB, FLUSHALL and SWAPDB touch the watched keys of whole databases
  (`touch_db`). A touched session is marked dirty and its EXEC answers a null array.
- Keys nobody watches cost one dict lookup per event, and only while someone watches a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandemkv.commands.session import Session

Slot = tuple[int, bytes]


class Watches:
    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: dict[Slot, dict[Session, None]] = {}

    def watch(self, session: Session, slot: Slot, expired: bool) -> None:
        if slot in session.watched:
            return
        session.watched[slot] = expired
        self.keys.setdefault(slot, {})[session] = None

    def unwatch_all(self, session: Session) -> None:
        for slot in session.watched:
            watchers = self.keys.get(slot)
            if watchers is not None:
                watchers.pop(session, None)
                if not watchers:
                    del self.keys[slot]
        session.watched = {}

    def touch(self, slot: Slot) -> None:
        """A watched key was modified: its watchers' transactions will fail."""
        for session in list(self.keys.get(slot, ())):
            session.cas_dirty = True
            self.unwatch_all(session)  # nothing more to learn from its other keys

    def touch_db(self, index: int, exists: Callable[[bytes], bool], replaced: Callable[[bytes], bool] | None) -> None:
        """Database `index` is emptied (FLUSHDB, FLUSHALL) or swapped with another (SWAPDB):
        watched keys that existed in it, or exist in what replaces it, are touched
        (touchAllWatchedKeysInDb); a key that was expired at WATCH and is simply gone is not."""
        for slot in [slot for slot in self.keys if slot[0] == index]:
            key = slot[1]
            existed = exists(key)
            comes_back = replaced is not None and replaced(key)
            if existed or comes_back:
                for session in list(self.keys.get(slot, ())):
                    if session.watched.get(slot) and not comes_back:
                        session.watched[slot] = False  # expired and now deleted: no change
                        continue
                    session.cas_dirty = True
                    self.unwatch_all(session)
