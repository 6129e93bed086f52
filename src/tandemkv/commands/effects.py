"""The stream of effects: what each write propagates, as Redis 7.0 propagates it (server.c
call()/alsoPropagate/propagatePendingCommands). The append-only file consumes it today;
replicas will read the same stream.

Rules:
- A write command propagates its command line as received when it changed the dataset
  (Redis's server.dirty moved: here `Instance.rdb.dirty`, counted per keyspace event).
- A command Redis rewrites declares its rewrite next to its spec (`@command(..., effect=rule)`):
  `rule(session, argv, reply, changed)` returns the command lines to propagate instead (an
  empty list: none). Rules run after the handler, so they read the outcome (the reply, the
  key's deadline) instead of repeating the handler's work.
- Deletions by expiry and eviction propagate DEL (UNLINK under lazyfree-lazy-expire /
  lazyfree-lazy-eviction), raised through `Instance.notify`; the keyspace-event stream's
  entries propagate as XADD with their ID (`appended`), right after the event's own effect.
- Effects gather in `pending` during a top-level command (EXEC and scripts run their commands
  nested) and leave as one unit when it ends: wrapped in MULTI ... EXEC when there is more than
  one, as propagatePendingCommands does. Deletions outside a command (the expiry timer,
  eviction) leave at once, one by one, never wrapped.
- Blocked commands served later (commands/blocking.py) propagate their non-blocking effect
  through `served`, after the command that readied them.
- No consumer, no cost: `Instance.effects` is None unless something consumes the stream, and
  the dispatcher tests that one attribute.
- A consumer that cannot keep what it is fed (a full disk under the AOF) sets `write_error`:
  write commands are refused with MISCONF until it clears it.

A consumer is a callable taking one unit: a list of (db index, command line) pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tandemkv.protocol import Error

if TYPE_CHECKING:
    from tandemkv.commands.session import Instance, Session
    from tandemkv.commands.table import CommandSpec

Argv = list[bytes]
Unit = list[tuple[int, Argv]]
Consumer = Callable[[Unit], None]
EffectRule = Callable[["Session", Argv, Any, bool], list[Argv]]

MULTI: Argv = [b"MULTI"]
EXEC: Argv = [b"EXEC"]


class Effects:
    """The effects being gathered and who consumes them."""

    __slots__ = ("consumers", "depth", "pending", "write_error")

    def __init__(self) -> None:
        self.consumers: list[Consumer] = []
        self.pending: Unit = []
        self.depth = 0  # nested command calls running (EXEC's and scripts' commands)
        # Set by a consumer that cannot persist what it is fed (the AOF's last write failed:
        # the error's text); the dispatcher refuses writes with MISCONF while it is set.
        self.write_error = ""

    def after_call(self, session: Session, spec: CommandSpec, argv: Argv, reply: Any, changed: bool) -> None:
        """A command ran (called by the dispatcher, `depth` already lowered)."""
        rule = spec.effect
        if rule is None:
            if changed:
                self.pending.append((session.db_index, argv))
        elif changed or rule in UNCONDITIONAL:
            index = session.db_index
            self.pending += [(index, line) for line in rule(session, argv, reply, changed)]
        if not self.depth and self.pending:
            self.flush()

    def served(self, session: Session, reply: Any) -> None:
        """A blocked command was served `reply` (commands/blocking.py): its effect, alone."""
        spec = session.last_spec
        if spec is None or "write" not in spec.flags:
            return
        if reply.__class__ is not Error:  # BLMOVE answers a waiter WRONGTYPE: nothing moved
            self.after_call(session, spec, session.argv, reply, True)

    def deleted(self, db_index: int, key: bytes, lazy: bool) -> None:
        """Expiry or eviction deleted `key` (Redis's propagateDeletion)."""
        self.pending.append((db_index, [b"UNLINK" if lazy else b"DEL", key]))
        if not self.depth:
            self.flush(wrap=False)

    def appended(self, db_index: int, argv: Argv) -> None:
        """The keyspace-event stream appended an entry (commands/eventstream.py): its XADD, in
        the unit of the change that raised the event, or at once outside a command."""
        self.pending.append((db_index, argv))
        if not self.depth:
            self.flush(wrap=False)

    def flush(self, wrap: bool = True) -> None:
        """Hand the pending effects to the consumers as one unit."""
        unit = self.pending
        self.pending = []
        if wrap and len(unit) > 1:
            unit = [(unit[0][0], MULTI), *unit, (unit[-1][0], EXEC)]
        for consume in self.consumers:
            consume(unit)


def subscribe(instance: Instance, consumer: Consumer) -> None:
    """Start feeding `consumer`; the stream exists while it has consumers."""
    if instance.effects is None:
        instance.effects = Effects()
    instance.effects.consumers.append(consumer)


def unsubscribe(instance: Instance, consumer: Consumer) -> None:
    effects = instance.effects
    if effects is None:
        return
    if consumer in effects.consumers:
        effects.consumers.remove(consumer)
    if not effects.consumers:
        instance.effects = None


# ----------------------------------------------------------------- shared rules

def none(session: Session, argv: Argv, reply: Any, changed: bool) -> list[Argv]:
    """Propagates nothing itself (EXEC, scripts: their commands propagate their own effects)."""
    return []


def unconditional(rule: EffectRule) -> EffectRule:
    """Mark `rule` to run even when no keyspace event counted a change: commands whose
    changes raise no event (XACK, XCLAIM, XREADGROUP) or that propagate anyway (FLUSHALL)."""
    UNCONDITIONAL.add(rule)
    return rule


UNCONDITIONAL: set[EffectRule] = set()


@unconditional
def always(session: Session, argv: Argv, reply: Any, changed: bool) -> list[Argv]:
    """Propagated as received unless it failed, even when nothing changed (FLUSHALL on an
    empty dataset: Redis's forceCommandPropagation; SWAPDB, FUNCTION ...: dirty++ always)."""
    return [] if reply.__class__ is Error else [argv]


def deletion(session: Session, key: bytes, lazy_param: str) -> Argv:
    """DEL or UNLINK `key`, by the lazyfree parameter that governs this deletion."""
    return [b"UNLINK" if session.instance.config[lazy_param] else b"DEL", key]


def stored_deadline(session: Session, key: bytes) -> int | None:
    """The deadline stored for `key` in the session's db, as the command left it (read
    without an access or a lazy expiry), or None."""
    shard = session.db.tandem.locate(key)
    return None if shard is None else shard[1].get(key)


def pexpireat(session: Session, argv: Argv, reply: Any, changed: bool) -> list[Argv]:
    """EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: PEXPIREAT key <absolute ms> (options kept), or
    DEL/UNLINK when the deadline was already past and the key went (expireGenericCommand)."""
    deadline = stored_deadline(session, argv[1])
    if deadline is None:
        return [deletion(session, argv[1], "lazyfree-lazy-expire")]
    name = argv[0] if argv[0].lower() == b"pexpireat" else b"PEXPIREAT"
    return [[name, argv[1], str(deadline).encode(), *argv[3:]]]


def pop_from_reply(name: bytes) -> EffectRule:
    """BLPOP, BRPOP, BZPOPMIN, BZPOPMAX: `name` key, the key the reply names (a blocking pop
    propagates as its non-blocking pop)."""

    def rule(session: Session, argv: Argv, reply: Any, changed: bool) -> list[Argv]:
        return [[name, reply[0]]]

    return rule


def mpop(left: bytes, right: bytes, numkeys_at: int) -> EffectRule:
    """LMPOP, BLMPOP, ZMPOP, BZMPOP: LPOP/RPOP (ZPOPMIN/ZPOPMAX) key <count popped>; `left`
    when the direction word (after the keys) is LEFT or MIN."""

    def rule(session: Session, argv: Argv, reply: Any, changed: bool) -> list[Argv]:
        where = argv[numkeys_at + 1 + int(argv[numkeys_at])].upper()
        name = left if where in (b"LEFT", b"MIN") else right
        return [[name, reply[0], str(len(reply[1])).encode()]]

    return rule


def renamed(name: bytes, arguments: int) -> EffectRule:
    """The command as `name` with the first `arguments` arguments of the received line
    (BLMOVE src dst from to timeout -> LMOVE src dst from to; BRPOPLPUSH -> RPOPLPUSH)."""

    def rule(session: Session, argv: Argv, reply: Any, changed: bool) -> list[Argv]:
        return [[name, *argv[1 : 1 + arguments]]]

    return rule
