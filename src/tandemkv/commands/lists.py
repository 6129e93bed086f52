"""List commands (Redis 7.0 t_list.c semantics), blocking forms included.

The structure is values/lists.py; this module parses arguments in Redis's order (which decides
the error a client sees), normalizes Redis's negative indexes once (`_clamp_range`), raises
Redis's keyspace events, and deletes a list that empties (`del`, as Redis).

Blocking (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP): each first tries to answer as its
non-blocking form; if no key has elements it returns a `Waiter` (commands/blocking.py) whose
`serve(key)` does exactly what Redis's serveClientBlockedOnList does for that command. A
session that may not block (the embedded Store; later MULTI and scripts) gets the timeout
reply at once, as Redis's CLIENT_DENY_BLOCKING.

OBJECT ENCODING is `quicklist` for every list, as in Redis 7.0.
"""

from __future__ import annotations

from typing import Any

from tandemkv.commands import effects
from tandemkv.commands.args import Int, ranged
from tandemkv.commands.blocking import block_on
from tandemkv.commands.keys import ValueType, register_type
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.commands.timeouts import parse_timeout
from tandemkv.commands.typed import charge, create, drop_if_empty, lookup_typed
from tandemkv.errors import NO_SUCH_KEY, NOT_POSITIVE, SYNTAX, WRONGTYPE, CommandError
from tandemkv.protocol import NULL_ARRAY, OK, Bulks, Error
from tandemkv.values import ListValue

_LONG_MAX = 2**63 - 1
OUT_OF_RANGE = "ERR index out of range"

register_type(
    ListValue,
    ValueType(b"list", copy=ListValue.copy, encoding=lambda value: b"quicklist", elements=lambda value: list(value)),
)


def _list(session: Session, key: bytes, *, read: bool = False) -> ListValue | None:
    return lookup_typed(session, key, ListValue, read=read)


def _side(raw: bytes) -> bool:
    """LEFT or RIGHT (any case) as `left`; anything else a syntax error."""
    word = raw.lower()
    if word == b"left":
        return True
    if word == b"right":
        return False
    raise CommandError(SYNTAX)


def _clamp_range(start: int, stop: int, length: int) -> tuple[int, int] | None:
    """Redis's index rules for a range: negative counts from the end, the range is clipped
    to the list; None when it is empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    start = max(start, 0)
    if start > stop or start >= length:
        return None
    return start, min(stop, length - 1)


def _popped(session: Session, key: bytes, value: ListValue, left: bool) -> None:
    """Redis's listElementsRemoved: the pop event, and `del` if the list emptied."""
    session.notify("l", b"lpop" if left else b"rpop", key)
    drop_if_empty(session, key, value)


# -------------------------------------------------------------------- push


def _push(session: Session, key: bytes, elements: tuple[bytes, ...], left: bool, only_existing: bool) -> int:
    db = session.db
    value = db.lookup(key)  # typed lookup inlined: LPUSH/RPUSH are the hot list commands
    if value is None:
        if only_existing:
            return 0
        value = create(session, key, ListValue())
    elif value.__class__ is not ListValue:
        raise CommandError(WRONGTYPE)
    before = value.nbytes
    value.push(elements, left)  # type: ignore[union-attr]
    db.charge(value.nbytes - before)  # type: ignore[union-attr]
    session.notify("l", b"lpush" if left else b"rpush", key)
    return len(value.items)  # type: ignore[union-attr]


@command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list", since="1.0.0")
def lpush(session: Session, key: bytes, *elements: bytes) -> int:
    """Prepend one or multiple elements to a list"""
    return _push(session, key, elements, True, False)


@command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list", since="1.0.0")
def rpush(session: Session, key: bytes, *elements: bytes) -> int:
    """Append one or multiple elements to a list"""
    return _push(session, key, elements, False, False)


@command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list", since="2.2.0")
def lpushx(session: Session, key: bytes, *elements: bytes) -> int:
    """Prepend an element to a list, only if the list exists"""
    return _push(session, key, elements, True, True)


@command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list", since="2.2.0")
def rpushx(session: Session, key: bytes, *elements: bytes) -> int:
    """Append an element to a list, only if the list exists"""
    return _push(session, key, elements, False, True)


@command("linsert", 5, "write denyoom", keys=(1, 1, 1), group="list", since="2.2.0")
def linsert(session: Session, key: bytes, where: bytes, pivot: bytes, element: bytes) -> int:
    """Insert an element before or after another element in a list"""
    word = where.lower()
    if word not in (b"before", b"after"):
        raise CommandError(SYNTAX)
    value = _list(session, key)
    if value is None:
        return 0
    before = value.nbytes
    if not value.insert_at_pivot(pivot, element, after=word == b"after"):
        return -1
    charge(session, value, before)
    session.notify("l", b"linsert", key)
    return len(value)


# ------------------------------------------------------------------- reads


@command("llen", 2, "readonly fast", keys=(1, 1, 1), group="list", since="1.0.0")
def llen(session: Session, key: bytes) -> int:
    """Get the length of a list"""
    value = _list(session, key, read=True)
    return 0 if value is None else len(value)


@command("lindex", 3, "readonly", keys=(1, 1, 1), group="list", since="1.0.0")
def lindex(session: Session, key: bytes, raw_index: bytes) -> bytes | None:
    """Get an element from a list by its index"""
    value = _list(session, key, read=True)
    if value is None:
        return None
    index = Int(raw_index)
    if index < 0:
        index += len(value)
    if not 0 <= index < len(value):
        return None
    return value.get(index)


@command("lrange", 4, "readonly", keys=(1, 1, 1), params=(None, Int, Int), group="list", since="1.0.0")
def lrange(session: Session, key: bytes, start: int, stop: int) -> Any:
    """Get a range of elements from a list"""
    value = _list(session, key, read=True)
    if value is None:
        return []
    bounds = _clamp_range(start, stop, len(value))
    return [] if bounds is None else Bulks(value.range(*bounds))


@command("lpos", -3, "readonly", keys=(1, 1, 1), group="list", since="6.0.6")
def lpos(session: Session, key: bytes, element: bytes, *options: bytes) -> Any:
    """Return the index of matching elements on a list"""
    rank, count, maxlen = 1, -1, 0  # count -1: no COUNT option
    i = 0
    while i < len(options):
        word = options[i].lower()
        if i + 1 >= len(options):
            raise CommandError(SYNTAX)
        if word == b"rank":
            rank = Int(options[i + 1])
            if rank == 0:
                raise CommandError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                    "or use negative to start from the end of the list"
                )
        elif word == b"count":
            count = ranged(options[i + 1], 0, _LONG_MAX, "ERR COUNT can't be negative")
        elif word == b"maxlen":
            maxlen = ranged(options[i + 1], 0, _LONG_MAX, "ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        i += 2
    if rank < -_LONG_MAX:
        # Redis negates LONG_MIN into itself: every match from the tail qualifies, and the
        # COUNT test overflows, so a COUNT returns all of them.
        rank, count = -1, (0 if count != -1 else -1)
    value = _list(session, key, read=True)
    if value is None:
        return [] if count != -1 else None
    found = value.positions(element, rank, 1 if count == -1 else count, maxlen)
    if count != -1:
        return found
    return found[0] if found else None


# ------------------------------------------------------------------ writes


@command("lset", 4, "write denyoom", keys=(1, 1, 1), group="list", since="1.0.0")
def lset(session: Session, key: bytes, raw_index: bytes, element: bytes) -> object:
    """Set the value of an element in a list by its index"""
    value = _list(session, key)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    index = Int(raw_index)
    if index < 0:
        index += len(value)
    if not 0 <= index < len(value):
        raise CommandError(OUT_OF_RANGE)
    before = value.nbytes
    value.set(index, element)
    charge(session, value, before)
    session.notify("l", b"lset", key)
    return OK


@command("ltrim", 4, "write", keys=(1, 1, 1), params=(None, Int, Int), group="list", since="1.0.0")
def ltrim(session: Session, key: bytes, start: int, stop: int) -> object:
    """Trim a list to the specified range"""
    value = _list(session, key)
    if value is None:
        return OK
    before = value.nbytes
    bounds = _clamp_range(start, stop, len(value))
    if bounds is None:
        value.trim(1, 0)
    else:
        value.trim(*bounds)
    charge(session, value, before)
    session.notify("l", b"ltrim", key)
    drop_if_empty(session, key, value)
    return OK


@command("lrem", 4, "write", keys=(1, 1, 1), params=(None, Int), group="list", since="1.0.0")
def lrem(session: Session, key: bytes, count: int, element: bytes) -> int:
    """Remove elements from a list"""
    value = _list(session, key)
    if value is None:
        return 0
    before = value.nbytes
    removed = value.remove(element, count)
    if removed:
        charge(session, value, before)
        session.notify("l", b"lrem", key)
    drop_if_empty(session, key, value)
    return removed


# -------------------------------------------------------------------- pops


def _pop_generic(session: Session, key: bytes, raw_count: tuple[bytes, ...], left: bool) -> Any:
    if len(raw_count) > 1:
        raise CommandError(f"ERR wrong number of arguments for '{'lpop' if left else 'rpop'}' command")
    count = ranged(raw_count[0], 0, _LONG_MAX, NOT_POSITIVE) if raw_count else None
    value = _list(session, key)
    if value is None:
        return None if count is None else NULL_ARRAY
    if count == 0:
        return []
    before = value.nbytes
    popped: Any = value.pop(left) if count is None else value.pop_many(count, left)
    charge(session, value, before)
    _popped(session, key, value, left)
    return popped


@command("lpop", -2, "write fast", keys=(1, 1, 1), group="list", since="1.0.0")
def lpop(session: Session, key: bytes, *count: bytes) -> Any:
    """Remove and get the first elements in a list"""
    return _pop_generic(session, key, count, True)


@command("rpop", -2, "write fast", keys=(1, 1, 1), group="list", since="1.0.0")
def rpop(session: Session, key: bytes, *count: bytes) -> Any:
    """Remove and get the last elements in a list"""
    return _pop_generic(session, key, count, False)


def _pop_range_with_key(session: Session, key: bytes, value: ListValue, left: bool, count: int) -> list[Any]:
    """Redis's listPopRangeAndReplyWithKey: [key, [elements]] (LMPOP, BLMPOP)."""
    before = value.nbytes
    popped = value.pop_many(count, left)
    charge(session, value, before)
    _popped(session, key, value, left)
    return [key, popped]


def _parse_mpop(args: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], bool, int]:
    """LMPOP's numkeys key [key ...] LEFT|RIGHT [COUNT count] -> (keys, left, count)."""
    numkeys = ranged(args[0], 1, _LONG_MAX, "ERR numkeys should be greater than 0")
    where_index = numkeys + 1
    if where_index >= len(args):
        raise CommandError(SYNTAX)
    left = _side(args[where_index])
    count = -1
    i = where_index + 1
    while i < len(args):
        if count == -1 and args[i].lower() == b"count" and i + 1 < len(args):
            count = ranged(args[i + 1], 1, _LONG_MAX, "ERR count should be greater than 0")
            i += 2
        else:
            raise CommandError(SYNTAX)
    return args[1:where_index], left, max(count, 1)


def _mpop_now(session: Session, keys: tuple[bytes, ...], left: bool, count: int) -> list[Any] | None:
    """The first non-empty list among `keys`, popped; None if every key is missing."""
    for key in keys:
        value = _list(session, key)
        if value is not None:
            return _pop_range_with_key(session, key, value, left, count)
    return None


@command("lmpop", -4, "write movablekeys", keys=(0, 0, 0), group="list", since="7.0.0",
         effect=effects.mpop(b"LPOP", b"RPOP", 1))
def lmpop(session: Session, *args: bytes) -> Any:
    """Pop elements from a list"""
    keys, left, count = _parse_mpop(args)
    popped = _mpop_now(session, keys, left, count)
    return NULL_ARRAY if popped is None else popped


# -------------------------------------------------------------------- move


def _move(session: Session, source: bytes, destination: bytes, left_from: bool, left_to: bool) -> bytes | None:
    """Redis's lmoveGenericCommand: None if the source is missing."""
    source_list = _list(session, source)
    if source_list is None:
        return None
    target = lookup_typed(session, destination, ListValue)
    return _move_element(session, source, source_list, destination, target, left_from, left_to)


def _move_element(
    session: Session,
    source: bytes,
    source_list: ListValue,
    destination: bytes,
    target: ListValue | None,
    left_from: bool,
    left_to: bool,
) -> bytes:
    """Pop from `source_list`, push onto `target` (created if None), with the push event
    first, then the pop event, then `del` if the source emptied (lmoveHandlePush order)."""
    before = source_list.nbytes
    element = source_list.pop(left_from)
    charge(session, source_list, before)
    if target is None:
        target = create(session, destination, ListValue())
    before = target.nbytes
    target.push((element,), left_to)
    charge(session, target, before)
    session.notify("l", b"lpush" if left_to else b"rpush", destination)
    session.notify("l", b"lpop" if left_from else b"rpop", source)
    if source_list is not target:
        drop_if_empty(session, source, source_list)
    return element


@command("lmove", 5, "write denyoom", keys=(1, 2, 1), group="list", since="6.2.0")
def lmove(session: Session, source: bytes, destination: bytes, wherefrom: bytes, whereto: bytes) -> bytes | None:
    """Pop an element from a list, push it to another list and return it"""
    left_from, left_to = _side(wherefrom), _side(whereto)
    return _move(session, source, destination, left_from, left_to)


@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), group="list", since="1.2.0")
def rpoplpush(session: Session, source: bytes, destination: bytes) -> bytes | None:
    """Remove the last element in a list, prepend it to another list and return it"""
    return _move(session, source, destination, False, True)


# ---------------------------------------------------------------- blocking


def _blocking_pop(session: Session, args: tuple[bytes, ...], left: bool) -> Any:
    """BLPOP / BRPOP key [key ...] timeout (Redis's blockingPopGenericCommand, count -1)."""
    keys, raw_timeout = args[:-1], args[-1]
    deadline_ms = parse_timeout(raw_timeout, session.instance.clock.now_ms())
    for key in keys:
        value = _list(session, key)
        if value is not None:
            return _pop_one_with_key(session, key, value, left)

    def serve(key: bytes) -> Any:
        value = session.db.peek(key)
        if value is None or value.__class__ is not ListValue:
            return None
        return _pop_one_with_key(session, key, value, left)  # type: ignore[arg-type]

    return block_on(session, keys, serve, deadline_ms, NULL_ARRAY)


def _pop_one_with_key(session: Session, key: bytes, value: ListValue, left: bool) -> list[bytes]:
    before = value.nbytes
    element = value.pop(left)
    charge(session, value, before)
    _popped(session, key, value, left)
    return [key, element]


@command("blpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list", since="2.0.0",
         effect=effects.pop_from_reply(b"LPOP"))
def blpop(session: Session, *args: bytes) -> Any:
    """Remove and get the first element in a list, or block until one is available"""
    return _blocking_pop(session, args, True)


@command("brpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list", since="2.0.0",
         effect=effects.pop_from_reply(b"RPOP"))
def brpop(session: Session, *args: bytes) -> Any:
    """Remove and get the last element in a list, or block until one is available"""
    return _blocking_pop(session, args, False)


@command("blmpop", -5, "write blocking movablekeys", keys=(0, 0, 0), group="list", since="7.0.0",
         effect=effects.mpop(b"LPOP", b"RPOP", 2))
def blmpop(session: Session, raw_timeout: bytes, *args: bytes) -> Any:
    """Pop elements from a list, or block until one is available"""
    keys, left, count = _parse_mpop(args)
    deadline_ms = parse_timeout(raw_timeout, session.instance.clock.now_ms())
    popped = _mpop_now(session, keys, left, count)
    if popped is not None:
        return popped

    def serve(key: bytes) -> Any:
        value = session.db.peek(key)
        if value is None or value.__class__ is not ListValue:
            return None
        return _pop_range_with_key(session, key, value, left, count)  # type: ignore[arg-type]

    return block_on(session, keys, serve, deadline_ms, NULL_ARRAY)


def _blocking_move(session: Session, source: bytes, destination: bytes, left_from: bool, left_to: bool, raw_timeout: bytes) -> Any:
    """Redis's blmoveGenericCommand."""
    deadline_ms = parse_timeout(raw_timeout, session.instance.clock.now_ms())
    source_list = _list(session, source)
    if source_list is not None:
        target = lookup_typed(session, destination, ListValue)
        return _move_element(session, source, source_list, destination, target, left_from, left_to)

    def serve(key: bytes) -> Any:
        value = session.db.peek(key)
        if value is None or value.__class__ is not ListValue:
            return None
        target = session.db.lookup(destination)
        if target is not None and target.__class__ is not ListValue:
            return Error(WRONGTYPE)  # Redis answers the waiter with the error and unblocks it
        return _move_element(session, key, value, destination, target, left_from, left_to)  # type: ignore[arg-type]

    return block_on(session, (source,), serve, deadline_ms, None)


@command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1), group="list", since="6.2.0",
         effect=effects.renamed(b"LMOVE", 4))
def blmove(session: Session, source: bytes, destination: bytes, wherefrom: bytes, whereto: bytes, timeout: bytes) -> Any:
    """Pop an element from a list, push it to another list and return it; or block until one is available"""
    left_from, left_to = _side(wherefrom), _side(whereto)
    return _blocking_move(session, source, destination, left_from, left_to, timeout)


@command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1), group="list", since="2.2.0",
         effect=effects.renamed(b"RPOPLPUSH", 2))
def brpoplpush(session: Session, source: bytes, destination: bytes, timeout: bytes) -> Any:
    """Pop an element from a list, push it to another list and return it; or block until one is available"""
    return _blocking_move(session, source, destination, False, True, timeout)
