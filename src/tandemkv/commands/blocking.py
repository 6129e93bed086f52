"""Waiting: the one registry of clients blocked on keys (Redis's blocked.c), sans I/O.

Every blocking command (BLPOP ... BLMPOP now; BZPOPMIN, XREAD BLOCK later) first tries to
answer at once; when it cannot and the session may block, its handler returns `block(...)`:
a `Waiter` that names the keys, how to serve the command from one ready key, and what to
answer on timeout. The dispatcher registers it and answers the connection `BLOCKED`.

Rules:
- Keys with waiters are known by (db, key); waiters of one key are served in the order they
  blocked (a dict used as an ordered set: O(1) to add and to forget).
- The keyspace reports writes through the event callback it already has (`Instance.notify`);
  an event on a key with waiters marks it ready (`signal`). Nothing else watches keys, so keys
  nobody waits for cost one dict lookup per event, and a blocked client costs nothing per loop.
- Ready keys are served after the command that readied them (after a whole transaction or
  script: the dispatcher calls `serve_ready` only at the top level), in the order they became
  ready; a waiter's `serve(key)` returns its reply, or None if the key has nothing for it (the
  key vanished, holds another type, or an earlier waiter took everything): it keeps waiting.
  Serving may ready more keys (BLMOVE pushes): served in the same call, until none is left.
- The server layer parks the connection, arms the timeout, and delivers replies through
  `Session.wake`; a timeout, CLIENT UNBLOCK or a disconnect `unblock`s the waiter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tandemkv.protocol import NULL_ARRAY, Error

if TYPE_CHECKING:
    from tandemkv.commands.session import Session

class Blocked:
    """What the dispatcher returns for a command that blocked: the connection parks."""

    __slots__ = ()


BLOCKED = Blocked()


class Waiter:
    """One blocked command: its session, db, keys, how to serve it, its timeout."""

    __slots__ = ("db_index", "deadline_ms", "keys", "serve", "session", "timeout_reply")

    def __init__(
        self,
        session: Session,
        keys: tuple[bytes, ...],
        serve: Callable[[bytes], Any],
        timeout_reply: Any,
        deadline_ms: int,
    ) -> None:
        self.session = session
        self.db_index = session.db_index
        self.keys = keys
        self.serve = serve
        self.timeout_reply = timeout_reply
        self.deadline_ms = deadline_ms  # absolute Unix ms; 0: wait forever


def block_on(session: Session, keys: tuple[bytes, ...], serve: Callable[[bytes], Any], deadline_ms: int, denied: Any) -> Any:
    """What a blocking command's handler returns when no key can answer it yet: a Waiter on
    `keys` (its timeout answers a null array, as Redis's replyToBlockedClientTimedOut for
    lists, sorted sets and streams), or `denied` where the session may not block (inside
    MULTI or a script, the embedded Store: Redis's CLIENT_DENY_BLOCKING)."""
    if session.deny_blocking:
        return denied
    return Waiter(session, keys, serve, NULL_ARRAY, deadline_ms)


class Blocking:
    """The registry: keys with waiters, ready keys, and serving."""

    __slots__ = ("clients", "ready", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[tuple[int, bytes], dict[Waiter, None]] = {}
        self.ready: dict[tuple[int, bytes], None] = {}
        self.clients = 0  # blocked clients (INFO clients blocked_clients)

    def add(self, waiter: Waiter) -> None:
        waiter.session.blocked = waiter
        self.clients += 1
        for key in waiter.keys:
            self.waiting.setdefault((waiter.db_index, key), {})[waiter] = None

    def remove(self, waiter: Waiter) -> None:
        """Forget a waiter (served, timed out, unblocked, disconnected)."""
        waiter.session.blocked = None
        self.clients -= 1
        for key in waiter.keys:
            slot = (waiter.db_index, key)
            queue = self.waiting.get(slot)
            if queue is not None:
                queue.pop(waiter, None)
                if not queue:
                    del self.waiting[slot]

    def signal(self, db_index: int, key: bytes) -> None:
        """A key was written: if anyone waits for it, it is ready."""
        slot = (db_index, key)
        if slot in self.waiting:
            self.ready[slot] = None

    def signal_db(self, db_index: int) -> None:
        """Every waited key of a database may have changed (SWAPDB, FLUSHDB)."""
        for slot in self.waiting:
            if slot[0] == db_index:
                self.ready[slot] = None

    def serve_ready(self) -> None:
        """Serve the waiters of every ready key, in order (see the module doc)."""
        while self.ready:
            ready, self.ready = self.ready, {}
            for slot in ready:
                queue = self.waiting.get(slot)
                if not queue:
                    continue
                for waiter in list(queue):
                    if waiter.session.blocked is not waiter:
                        continue  # served through another key in this round
                    reply = waiter.serve(slot[1])
                    if reply is None:
                        continue
                    self.remove(waiter)
                    effects = waiter.session.instance.effects
                    if effects is not None:  # its non-blocking effect (commands/effects.py)
                        effects.served(waiter.session, reply)
                    _wake(waiter, reply)

    def time_out(self, waiter: Waiter, reply: Any = None) -> None:
        """End a wait without serving it: the timeout reply (or `reply`, for CLIENT UNBLOCK
        ERROR) goes to the client."""
        if waiter.session.blocked is waiter:
            self.remove(waiter)
            _wake(waiter, waiter.timeout_reply if reply is None else reply)


def _wake(waiter: Waiter, reply: Any) -> None:
    """Deliver a waiter's reply; an error one is counted (INFO errorstats) as Redis counts
    every error reply."""
    session = waiter.session
    if reply.__class__ is Error:
        session.instance.stats.count_error(reply.message)
        if session.last_spec is not None:  # the blocked command failed (commandstats)
            session.last_spec.failed_calls += 1
    session.wake(reply)
