"""Set commands (Redis 7.0 t_set.c semantics) on values/sets.py's SetValue.

Every handler follows t_set.c's order of checks, since that decides which error a client
sees: SPOP/SRANDMEMBER reject extra arguments, then parse the count, then look the key up;
SSCAN parses the cursor, then looks the key up (a missing key answers before any option is
read), then the options; SINTER-like commands stop at the first key of the wrong type.

Shared logic lives in one helper per family, as in t_set.c: `_intersection` (SMEMBERS,
SINTER, SINTERSTORE, SINTERCARD), `_union` and `_difference` (with `_store_result` for the
STORE variants: Redis's setKey, or a deleted destination and `del` when the result is empty).

Reply types as Redis: SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count are sets (RESP3
`~`), SRANDMEMBER with a count and SMISMEMBER are arrays. Listings of what Redis would hold as
an intset come in ascending order, as Redis iterates an intset.

Keyspace events: sadd, srem (SREM and SMOVE's source), spop (once per SPOP, count or not),
sinterstore / sunionstore / sdiffstore, and `del` when a set empties or a STORE result is
empty and the destination existed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tandemkv.commands.keys import (
    ValueType,
    c_string,
    parse_scan_cursor,
    parse_scan_options,
    register_type,
)
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.commands.typed import charge, create, drop_if_empty, lookup_typed
from tandemkv.errors import NOT_INTEGER, NOT_POSITIVE, SYNTAX, WRONGTYPE, CommandError
from tandemkv.glob import compile_glob
from tandemkv.protocol import SetReply, string2ll
from tandemkv.values.sets import INTSET_HARD_MAX, SetValue, is_intset_member

_LONG_MAX = 2**63 - 1
# SDIFF's first algorithm (probe the other sets for each member of the first) is preferred
# while its work, halved, is no more than the second's (copy the first, remove the others).
_DIFF_ALGO_ONE_DISCOUNT = 2


def _set_encoding(value: SetValue) -> bytes:
    return value.encoding


# SORT loads a set's members in Redis's iteration order (ascending for an intset).
register_type(
    SetValue, ValueType(b"set", copy=SetValue.copy, encoding=_set_encoding, elements=SetValue.ordered)
)


def _max_intset(session: Session) -> int:
    """set-max-intset-entries, read at the time of the write."""
    return session.instance.config.int("set-max-intset-entries")


def _long_in_range(raw: bytes, low: int, high: int, message: str | None = None) -> int:
    """Redis's getRangeLongFromObjectOrReply: `message` (when given) replaces both the
    not-an-integer and the out-of-range errors."""
    value = string2ll(raw)
    if value is None:
        raise CommandError(message or NOT_INTEGER)
    if not low <= value <= high:
        raise CommandError(message or f"ERR value is out of range, value must between {low} and {high}")
    return value


def _positive(raw: bytes, message: str = NOT_POSITIVE) -> int:
    """Redis's getPositiveLongFromObjectOrReply (0 allowed)."""
    return _long_in_range(raw, 0, _LONG_MAX, message)


def _in_redis_order(members: Collection[bytes], max_intset: int) -> list[bytes]:
    """A computed result as Redis lists it: ascending when Redis would hold it as an intset
    (at most set-max-intset-entries integers), else in no particular order."""
    if len(members) <= min(max_intset, INTSET_HARD_MAX) and all(map(is_intset_member, members)):
        return sorted(members, key=int)
    return list(members)


def _read_sets(session: Session, keys: tuple[bytes, ...]) -> list[SetValue | None]:
    """The sets at `keys` (None for a missing key), looked up in order as Redis's
    lookupKeyRead; WRONGTYPE at the first key of another type."""
    return [lookup_typed(session, key, SetValue, read=True) for key in keys]


def _store_result(
    session: Session, destination: bytes, members: Collection[bytes], event: bytes, *, hashtable: bool = False
) -> int:
    """Store a computed set at `destination` (replacing any value and deadline, as Redis's
    setKey) with `event`; an empty result deletes the destination instead (`del` if it
    existed). `hashtable`: Redis built the result as a hashtable whatever its members.
    Returns the stored cardinality."""
    if not members:
        if session.db.delete(destination):
            session.notify("g", b"del", destination)
        return 0
    value = SetValue(members, _max_intset(session))
    if hashtable:
        value.to_hashtable()
    session.db.set(destination, value)
    session.notify("s", event, destination)
    return len(value)


def _all_sets(session: Session, keys: tuple[bytes, ...]) -> list[SetValue] | None:
    """The sets at `keys` for an intersection; None if one is missing (an empty result)."""
    sets = _read_sets(session, keys)
    return None if None in sets else sets  # type: ignore[return-value]


# ------------------------------------------------------------ single members


@command("sadd", -3, "write denyoom fast", keys=(1, 1, 1), group="set", since="1.0.0")
def sadd(session: Session, key: bytes, *members: bytes) -> int:
    """Add one or more members to a set"""
    # lookup_typed inlined, and the threshold read only while it matters: SADD is hot.
    value = session.db.lookup(key)
    if value is None:
        value = create(session, key, SetValue())
    elif value.__class__ is not SetValue:
        raise CommandError(WRONGTYPE)
    before = value.nbytes
    added = value.add_many(members, _max_intset(session) if value.intset else INTSET_HARD_MAX)
    if added:
        charge(session, value, before)
        session.notify("s", b"sadd", key)
    return added


@command("srem", -3, "write fast", keys=(1, 1, 1), group="set", since="1.0.0")
def srem(session: Session, key: bytes, *members: bytes) -> int:
    """Remove one or more members from a set"""
    value = lookup_typed(session, key, SetValue)
    if value is None:
        return 0
    before = value.nbytes
    removed = 0
    for member in members:
        if value.remove(member):
            removed += 1
            if not value:
                break
    if removed:
        charge(session, value, before)
        session.notify("s", b"srem", key)
        drop_if_empty(session, key, value)
    return removed


@command("smove", 4, "write fast", keys=(1, 2, 1), group="set", since="1.0.0")
def smove(session: Session, source: bytes, destination: bytes, member: bytes) -> int:
    """Move a member from one set to another"""
    db = session.db
    # Both keys are looked up before any check, as Redis does (expiry happens for both).
    source_set = db.lookup(source)
    destination_set = db.lookup(destination)
    if source_set is None:
        return 0
    if source_set.__class__ is not SetValue or (
        destination_set is not None and destination_set.__class__ is not SetValue
    ):
        raise CommandError(WRONGTYPE)
    assert isinstance(source_set, SetValue) and (destination_set is None or isinstance(destination_set, SetValue))
    if source_set is destination_set:
        return 1 if member in source_set else 0
    before = source_set.nbytes
    if not source_set.remove(member):
        return 0
    charge(session, source_set, before)
    session.notify("s", b"srem", source)
    drop_if_empty(session, source, source_set)
    if destination_set is None:
        destination_set = create(session, destination, SetValue())
    before = destination_set.nbytes
    if destination_set.add(member, _max_intset(session)):
        charge(session, destination_set, before)
        session.notify("s", b"sadd", destination)
    return 1


@command("sismember", 3, "readonly fast", keys=(1, 1, 1), group="set", since="1.0.0")
def sismember(session: Session, key: bytes, member: bytes) -> int:
    """Determine if a given value is a member of a set"""
    value = lookup_typed(session, key, SetValue, read=True)
    return 1 if value is not None and member in value else 0


@command("smismember", -3, "readonly fast", keys=(1, 1, 1), group="set", since="6.2.0")
def smismember(session: Session, key: bytes, *members: bytes) -> list[int]:
    """Returns the membership associated with the given elements for a set"""
    value = lookup_typed(session, key, SetValue, read=True)
    if value is None:
        return [0] * len(members)
    return [1 if member in value else 0 for member in members]


@command("scard", 2, "readonly fast", keys=(1, 1, 1), group="set", since="1.0.0")
def scard(session: Session, key: bytes) -> int:
    """Get the number of members in a set"""
    value = lookup_typed(session, key, SetValue, read=True)
    return 0 if value is None else len(value)


# ------------------------------------------------------------------ random


def _spop_effect(session: Session, argv: list[bytes], reply: Any, changed: bool) -> list[list[bytes]]:
    """SPOP propagates as SREM key member, one per member popped, or DEL when a count took
    the whole set (spopWithCountCommand)."""
    if len(argv) == 2:
        return [[b"SREM", argv[1], reply]]
    if not session.db.holds(argv[1]):
        return [[b"DEL", argv[1]]]
    return [[b"SREM", argv[1], member] for member in reply.items]


@command("spop", -2, "write fast", keys=(1, 1, 1), group="set", since="1.0.0", tips="nondeterministic_output",
         effect=_spop_effect)
def spop(session: Session, key: bytes, *rest: bytes) -> Any:
    """Remove and return one or multiple random members from a set"""
    if len(rest) > 1:
        raise CommandError(SYNTAX)
    if rest:
        return _spop_count(session, key, _positive(rest[0]))
    value = lookup_typed(session, key, SetValue)
    if value is None:
        return None
    before = value.nbytes
    member = value.pop_random()
    charge(session, value, before)
    session.notify("s", b"spop", key)
    drop_if_empty(session, key, value)
    return member


def _spop_count(session: Session, key: bytes, count: int) -> SetReply:
    """SPOP key count: one `spop` event, then `del` if the whole set was taken."""
    value = lookup_typed(session, key, SetValue)
    if value is None or count == 0:
        return SetReply(())
    session.notify("s", b"spop", key)
    if count >= len(value):  # the whole set, listed as Redis's union of it
        members = _in_redis_order(value.members, _max_intset(session))
        session.db.delete(key)
        session.notify("g", b"del", key)
        return SetReply(members)
    before = value.nbytes
    popped = value.pop_random_many(count, _max_intset(session))
    charge(session, value, before)
    return SetReply(popped)


@command("srandmember", -2, "readonly", keys=(1, 1, 1), group="set", since="1.0.0", tips="nondeterministic_output")
def srandmember(session: Session, key: bytes, *rest: bytes) -> Any:
    """Get one or multiple random members from a set"""
    if len(rest) > 1:
        raise CommandError(SYNTAX)
    if not rest:
        value = lookup_typed(session, key, SetValue, read=True)
        return None if value is None else value.random_member()
    count = _long_in_range(rest[0], -_LONG_MAX, _LONG_MAX)
    value = lookup_typed(session, key, SetValue, read=True)
    if value is None or count == 0:
        return []
    if count < 0:  # repeats allowed: `-count` independent draws
        return value.sample_with_repeats(-count)
    if count >= len(value):
        return value.ordered()
    return value.sample_unique(count)


# ---------------------------------------------------------- set algebra


def _intersection(sets: list[SetValue]) -> Collection[bytes]:
    """The members of every set (none may be missing), found from the smallest set."""
    ordered = sorted(sets, key=len)
    smallest = ordered[0]
    common: Collection[bytes] = smallest.positions.keys()
    for other in ordered[1:]:
        if other is not smallest:
            # dict views intersect by probing the larger with the smaller, in C.
            common = common & other.positions.keys()  # type: ignore[operator]
            if not common:
                break
    return common


@command("smembers", 2, "readonly", keys=(1, 1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order")
def smembers(session: Session, key: bytes) -> SetReply:
    """Get all the members in a set"""
    value = lookup_typed(session, key, SetValue, read=True)
    return SetReply(() if value is None else value.ordered())


@command("sinter", -2, "readonly", keys=(1, -1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order")
def sinter(session: Session, *keys: bytes) -> SetReply:
    """Intersect multiple sets"""
    sets = _all_sets(session, keys)
    if sets is None:
        return SetReply(())
    return SetReply(_in_redis_order(_intersection(sets), _max_intset(session)))


@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1), group="set", since="1.0.0")
def sinterstore(session: Session, destination: bytes, *keys: bytes) -> int:
    """Intersect multiple sets and store the resulting set in a key"""
    sets = _all_sets(session, keys)
    common = () if sets is None else _intersection(sets)
    return _store_result(session, destination, common, b"sinterstore")


@command("sintercard", -3, "readonly movablekeys", group="set", since="7.0.0")
def sintercard(session: Session, numkeys: bytes, *args: bytes) -> int:
    """Intersect multiple sets and return the cardinality of the result"""
    count = _long_in_range(numkeys, 1, _LONG_MAX, "ERR numkeys should be greater than 0")
    if count > len(args):
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    i = count
    while i < len(args):
        if c_string(args[i]).upper() == b"LIMIT" and i + 1 < len(args):
            limit = _positive(args[i + 1], "ERR LIMIT can't be negative")
            i += 2
        else:
            raise CommandError(SYNTAX)
    sets = _all_sets(session, args[:count])
    if sets is None:
        return 0
    if not limit:
        return len(_intersection(sets))
    # With a limit, probe member by member from the smallest set and stop at the limit.
    ordered = sorted(sets, key=len)
    smallest = ordered[0]
    others = [other.positions for other in ordered[1:] if other is not smallest]
    found = 0
    for member in smallest.members:
        if all(member in other for other in others):
            found += 1
            if found >= limit:
                break
    return found


def _union(sets: list[SetValue | None]) -> set[bytes]:
    members: set[bytes] = set()
    for value in sets:
        if value is not None:
            members.update(value.positions)
    return members


@command("sunion", -2, "readonly", keys=(1, -1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order")
def sunion(session: Session, *keys: bytes) -> SetReply:
    """Add multiple sets"""
    return SetReply(_in_redis_order(_union(_read_sets(session, keys)), _max_intset(session)))


@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1), group="set", since="1.0.0")
def sunionstore(session: Session, destination: bytes, *keys: bytes) -> int:
    """Add multiple sets and store the resulting set in a key"""
    return _store_result(session, destination, _union(_read_sets(session, keys)), b"sunionstore")


def _difference(sets: list[SetValue | None], max_intset: int) -> tuple[set[bytes], bool]:
    """The members of the first set in none of the others, and whether Redis would build the
    result as an intset-compatible set. Redis picks one of two algorithms by estimated work;
    the second copies the whole first set into the result before removing, so the result's
    encoding follows the first set's (checked here in O(min(n, set-max-intset-entries)))."""
    first = sets[0]
    if first is None or any(other is first for other in sets[1:]):
        return set(), True
    present = [value for value in sets if value is not None]
    algo_one_work = len(first) * len(present) // _DIFF_ALGO_ONE_DISCOUNT
    algo_two_work = sum(len(value) for value in present)
    fits = algo_one_work <= algo_two_work or (
        len(first) <= min(max_intset, INTSET_HARD_MAX) and (first.intset or all(map(is_intset_member, first.members)))
    )
    members = set(first.positions)
    for other in present[1:]:
        if not members:
            break
        # Walk the smaller side, in C: remove the other's members from ours, or keep ours
        # that the other lacks. O(n + sum of min(remaining, other)) in all.
        if len(other) < len(members):
            members.difference_update(other.positions)
        else:
            members = members.difference(other.positions)
    return members, fits


@command("sdiff", -2, "readonly", keys=(1, -1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order")
def sdiff(session: Session, *keys: bytes) -> SetReply:
    """Subtract multiple sets"""
    max_intset = _max_intset(session)
    members, _fits = _difference(_read_sets(session, keys), max_intset)
    return SetReply(_in_redis_order(members, max_intset))


@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1), group="set", since="1.0.0")
def sdiffstore(session: Session, destination: bytes, *keys: bytes) -> int:
    """Subtract multiple sets and store the resulting set in a key"""
    members, fits = _difference(_read_sets(session, keys), _max_intset(session))
    return _store_result(session, destination, members, b"sdiffstore", hashtable=not fits)


# -------------------------------------------------------------------- scan


@command("sscan", -3, "readonly", keys=(1, 1, 1), group="set", since="2.8.0", tips="nondeterministic_output")
def sscan(session: Session, key: bytes, cursor: bytes, *options: bytes) -> list[Any]:
    """Incrementally iterate Set elements"""
    position = parse_scan_cursor(cursor)
    value = lookup_typed(session, key, SetValue, read=True)
    if value is None:
        return [b"0", []]
    parsed = parse_scan_options(options, allow_type=False)
    if value.intset:  # Redis returns a small encoding whole, with cursor 0
        next_position, found = 0, value.ordered()
    else:
        next_position, found = value.scan(position, parsed.count)
    if parsed.pattern is not None:
        regex = compile_glob(parsed.pattern)
        found = [member for member in found if regex.fullmatch(member) is not None]
    return [str(next_position).encode(), found]
