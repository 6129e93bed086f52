"""Sorted set commands (Redis 7.0 t_zset.c semantics) on values/zsets.py's ZSetValue.

Every handler follows t_zset.c step by step, because the order of checks decides which error a
client sees: ZADD checks its options, then parses every score, then the key's type; the range
commands parse the range before looking the key up; ZUNION and friends look every input key up
(WRONGTYPE) before they parse WEIGHTS and AGGREGATE.

Shared generic helpers, as in Redis: `zadd_generic` (ZADD, ZINCRBY), `zrange_generic` (ZRANGE,
ZREVRANGE, Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX, ZRANGESTORE), `zremrange_generic`,
`zsetop_generic` (ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD) and `zpop_generic`
(ZPOPMIN, ZPOPMAX, ZMPOP; the blocking BZPOPMIN/BZPOPMAX/BZMPOP serve through it too).

Numbers as Redis reads them: a score or weight with string2d (strtod over the whole argument, no
leading space, no NaN, no overflow or underflow to zero: `parse_score`); a range bound with
zslParseRange (strtod up to the first NUL, leading spaces and overflow allowed: `parse_bound`).
Scores come back as `Double` (RESP2 bulk "%.17g", RESP3 double); WITHSCORES pairs are flat in
RESP2 and [member, score] arrays in RESP3, as redis-server 7.0 sends them.

Sets as inputs of ZUNION/ZINTER/ZDIFF count with score 1: any registered type named "set"
whose value supports len() and `in`, its members listed by its ValueType's `elements`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable
from typing import Any

from tandemkv.commands import effects
from tandemkv.commands.args import Int
from tandemkv.commands.blocking import block_on
from tandemkv.commands.keys import (
    VALUE_TYPES,
    ValueType,
    c_string,
    parse_scan_cursor,
    parse_scan_options,
    register_type,
)
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.commands.timeouts import parse_timeout
from tandemkv.commands.typed import charge, create, drop_if_empty, lookup_typed
from tandemkv.errors import NOT_FLOAT, NOT_POSITIVE, SYNTAX, WRONGTYPE, CommandError
from tandemkv.glob import compile_glob
from tandemkv.protocol import NULL_ARRAY, Double, format_double, string2ll
from tandemkv.values.zsets import ZSetValue

_LONG_MAX = 2**63 - 1
NAN_SCORE = "ERR resulting score is not a number (NaN)"
NOT_FLOAT_RANGE = "ERR min or max is not a float"
NOT_LEX_RANGE = "ERR min or max not valid string range item"
_OUT_OF_RANGE = "ERR value is out of range"

register_type(
    ZSetValue,
    ValueType(
        b"zset",
        copy=ZSetValue.copy,
        encoding=lambda value: value.encoding,
        elements=lambda value: [member for member, _score in value],  # SORT: ascending order
    ),
)


# ---------------------------------------------------------------- numbers

# What glibc's strtod accepts at the start of a string: spaces, a sign, then an infinity, a
# NaN, a hexadecimal float or a decimal float (an exponent only counts if digits follow).
_STRTOD = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?)(?:"
    rb"((?i:inf(?:inity)?))"
    rb"|((?i:nan)(?:\([0-9A-Za-z_]*\))?)"
    rb"|0[xX](?=\.?[0-9a-fA-F])([0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?)(?:[pP]([+-]?[0-9]+))?"
    rb"|((?=\.?[0-9])[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"
    rb")"
)


def strtod(text: bytes) -> tuple[float, int, bool]:
    """C's strtod on `text`: (value, bytes consumed, ERANGE). Consumes nothing (0.0, 0) when
    no number starts the text; ERANGE when a finite number overflows or underflows to 0."""
    match = _STRTOD.match(text)
    if match is None:
        return 0.0, 0, False
    sign, infinity, nan, hex_digits, hex_exp, decimal = match.groups()
    negative = sign == b"-"
    if infinity is not None:
        return (-math.inf if negative else math.inf), match.end(), False
    if nan is not None:
        return math.nan, match.end(), False
    if hex_digits is not None:
        mantissa = hex_digits.decode()
        try:
            value = float.fromhex(f"0x{mantissa}p{int(hex_exp or b'0')}")
        except OverflowError:
            value = math.inf
        nonzero = any(c not in "0." for c in mantissa)
    else:
        value = float(decimal)
        nonzero = any(c not in b"0." for c in decimal.split(b"e")[0].split(b"E")[0])
    erange = math.isinf(value) or (value == 0.0 and nonzero)
    return (-value if negative else value), match.end(), erange


# Plain decimals, by far the most common scores (GEOADD's are 16-digit integers): float() reads
# them exactly as strtod does (both round correctly), and with this few digits they can neither
# overflow nor underflow.
_PLAIN_DECIMAL = re.compile(rb"-?[0-9]{1,17}(?:\.[0-9]{1,17})?")


def parse_score(raw: bytes) -> float | None:
    """A double as Redis's string2d reads it (scores, increments, weights); None if refused."""
    if raw.isdigit() and len(raw) <= 17:  # (bytes.isdigit: ASCII digits only, never empty)
        return float(raw)
    if _PLAIN_DECIMAL.fullmatch(raw) is not None:
        return float(raw)
    if not raw or raw[:1] in b" \t\n\v\f\r":
        return None
    value, end, erange = strtod(raw)
    if end != len(raw) or erange or math.isnan(value):
        return None
    return value


def parse_bound(raw: bytes) -> tuple[float, bool] | None:
    """One end of a score range as zslParseRange reads it: "(" makes it exclusive; strtod up to
    the first NUL must use every byte (an empty text is 0); NaN refused. None if invalid."""
    text = c_string(raw)
    exclusive = text[:1] == b"("
    if exclusive:
        text = text[1:]
    value, end, _erange = strtod(text)
    if end != len(text) or math.isnan(value):
        return None
    return value, exclusive


def _score_range(low: bytes, high: bytes) -> tuple[float, bool, float, bool]:
    lo = parse_bound(low)
    hi = parse_bound(high)
    if lo is None or hi is None:
        raise CommandError(NOT_FLOAT_RANGE)
    return lo[0], lo[1], hi[0], hi[1]


# A lexicographic bound: (kind, member, exclusive); kind -1 is "-", +1 is "+", 0 a member.
LexBound = tuple[int, bytes, bool]


def _lex_bound(raw: bytes) -> LexBound | None:
    first = raw[:1]
    if first == b"+" or first == b"-":
        if len(raw) > 1 and raw[1] != 0:
            return None
        return (1 if first == b"+" else -1), b"", True
    if first == b"(" or first == b"[":
        return 0, raw[1:], first == b"("
    return None


def _lex_range(low: bytes, high: bytes) -> tuple[LexBound, LexBound]:
    lo = _lex_bound(low)
    hi = _lex_bound(high)
    if lo is None or hi is None:
        raise CommandError(NOT_LEX_RANGE)
    return lo, hi


def _lex_positions(value: ZSetValue, lo: LexBound, hi: LexBound) -> tuple[int, int]:
    """[start, stop) of the members within a lexicographic range."""
    n = len(value)
    kind, member, exclusive = lo
    start = 0 if kind < 0 else n if kind > 0 else value.member_position(member, after=exclusive)
    kind, member, exclusive = hi
    stop = n if kind > 0 else 0 if kind < 0 else value.member_position(member, after=not exclusive)
    return start, stop


def _score_positions(value: ZSetValue, rng: tuple[float, bool, float, bool]) -> tuple[int, int]:
    """[start, stop) of the elements within a score range."""
    low, low_ex, high, high_ex = rng
    return value.score_start(low, low_ex), value.score_stop(high, high_ex)


def _positive_long(raw: bytes, message: str) -> int:
    """getPositiveLongFromObjectOrReply / getRangeLong with a message: that message for a
    non-integer and for a negative value."""
    value = string2ll(raw)
    if value is None or value < 0:
        raise CommandError(message)
    return value


def _scored(session: Session, pairs: Iterable[tuple[bytes, float]], withscores: bool) -> list[Any]:
    """A range reply: members, or members and scores (flat in RESP2, pairs in RESP3)."""
    if not withscores:
        return [member for member, _score in pairs]
    if session.resp > 2:
        return [[member, Double(score)] for member, score in pairs]
    flat: list[Any] = []
    for member, score in pairs:
        flat.append(member)
        flat.append(Double(score))
    return flat


def _thresholds(session: Session) -> tuple[int, int]:
    config = session.instance.config
    return config.int("zset-max-listpack-entries"), config.int("zset-max-listpack-value")


def new_zset(session: Session, result: dict[bytes, float]) -> ZSetValue:
    """The destination of ZUNIONSTORE, ZINTERSTORE or ZDIFFSTORE: built as a skiplist, then
    made a listpack if small enough (zsetConvertToListpackIfNeeded)."""
    entries, max_value = _thresholds(session)
    small = len(result) <= entries and max(map(len, result), default=0) <= max_value
    return ZSetValue(result.items(), listpack=small)


def _add_member(value: ZSetValue, member: bytes, score: float, thresholds: tuple[int, int]) -> None:
    """Insert a new member as zsetAdd does: convert first if it would not fit a listpack."""
    value.fit_encoding(thresholds[0], thresholds[1], len(member), adding=1)
    value.add(member, score)


def store_zset(session: Session, destination: bytes, value: ZSetValue, event: bytes) -> int:
    """Store a result (or delete the destination for an empty one, with `del`); its size."""
    if len(value):
        session.db.set(destination, value)
        session.notify("z", event, destination)
        return len(value)
    if session.db.delete(destination):
        session.notify("g", b"del", destination)
    return 0


# ------------------------------------------------------------------ ZADD


def zadd_generic(session: Session, key: bytes, args: tuple[bytes, ...], incr: bool) -> Any:
    """ZADD and ZINCRBY (zaddGenericCommand): options, score/member pairs, the reply."""
    nx = xx = gt = lt = ch = False
    i = 0
    while i < len(args):
        option = args[i]
        if len(option) > 4 and b"\0" not in option:
            break  # no option is longer (the common case: the first score)
        option = c_string(option).lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option == b"ch":
            ch = True
        elif option == b"incr":
            incr = True
        elif option == b"gt":
            gt = True
        elif option == b"lt":
            lt = True
        else:
            break
        i += 1
    elements = len(args) - i
    if elements % 2 or not elements:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = []
    for j in range(i, len(args), 2):
        score = parse_score(args[j])
        if score is None:
            raise CommandError(NOT_FLOAT)
        scores.append(score)

    value = lookup_typed(session, key, ZSetValue)
    added = updated = processed = 0
    score = 0.0
    if value is None:
        if xx:  # nothing to update
            return None if incr else 0
        value = create(session, key, ZSetValue())
    before = value.nbytes
    thresholds: tuple[int, int] | None = None  # read at the first insertion
    error = None
    for j, score in enumerate(scores):
        member = args[i + 1 + 2 * j]
        current = value.scores.get(member)
        if current is not None:
            if nx:
                continue
            if incr:
                score += current
                if math.isnan(score):
                    error = NAN_SCORE
                    break
            if (lt and score >= current) or (gt and score <= current):
                continue
            if score != current:
                value.add(member, score)
                updated += 1
            processed += 1
        elif not xx:
            if value.listpack:  # a skiplist stays one: no thresholds to read
                if thresholds is None:
                    thresholds = _thresholds(session)
                value.fit_encoding(thresholds[0], thresholds[1], len(member), adding=1)
            value.add(member, score)
            added += 1
            processed += 1
    charge(session, value, before)
    if added or updated:
        session.notify("z", b"zincr" if incr else b"zadd", key)
    if error is not None:
        raise CommandError(error)
    if incr:
        return Double(score) if processed else None
    return added + updated if ch else added


@command("zadd", -4, "write denyoom fast", keys=(1, 1, 1), group="sorted_set", since="1.2.0")
def zadd(session: Session, key: bytes, *args: bytes) -> Any:
    """Add one or more members to a sorted set, or update its score if it already exists"""
    if len(args) == 2:  # one score and member, no options: no option word parses as a score
        score = parse_score(args[0])
        if score is not None:
            return _zadd_one(session, key, score, args[1])
    return zadd_generic(session, key, args, incr=False)


def _zadd_one(session: Session, key: bytes, score: float, member: bytes) -> int:
    """ZADD key score member, the common case, as zadd_generic does it without its loops."""
    value = lookup_typed(session, key, ZSetValue)
    if value is None:
        value = create(session, key, ZSetValue())
    current = value.scores.get(member)
    if current is None:
        before = value.nbytes
        if value.listpack:
            max_entries, max_value = _thresholds(session)
            value.fit_encoding(max_entries, max_value, len(member), adding=1)
        value.add(member, score)
        charge(session, value, before)
        session.notify("z", b"zadd", key)
        return 1
    if score != current:
        value.add(member, score)
        session.notify("z", b"zadd", key)
    return 0


@command("zincrby", 4, "write denyoom fast", keys=(1, 1, 1), group="sorted_set", since="1.2.0")
def zincrby(session: Session, key: bytes, increment: bytes, member: bytes) -> Any:
    """Increment the score of a member in a sorted set"""
    return zadd_generic(session, key, (increment, member), incr=True)


# ----------------------------------------------------------------- reads


def _read(session: Session, key: bytes) -> ZSetValue | None:
    return lookup_typed(session, key, ZSetValue, read=True)


@command("zcard", 2, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="1.2.0")
def zcard(session: Session, key: bytes) -> int:
    """Get the number of members in a sorted set"""
    value = _read(session, key)
    return 0 if value is None else len(value)


@command("zscore", 3, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="1.2.0")
def zscore(session: Session, key: bytes, member: bytes) -> Double | None:
    """Get the score associated with the given member in a sorted set"""
    value = _read(session, key)
    score = None if value is None else value.scores.get(member)
    return None if score is None else Double(score)


@command("zmscore", -3, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="6.2.0")
def zmscore(session: Session, key: bytes, *members: bytes) -> list[Double | None]:
    """Get the score associated with the given members in a sorted set"""
    value = _read(session, key)
    scores = {} if value is None else value.scores
    found = [scores.get(member) for member in members]
    return [None if score is None else Double(score) for score in found]


def _rank(session: Session, key: bytes, member: bytes, reverse: bool) -> int | None:
    value = _read(session, key)
    return None if value is None else value.rank(member, reverse)


@command("zrank", 3, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="2.0.0")
def zrank(session: Session, key: bytes, member: bytes) -> int | None:
    """Determine the index of a member in a sorted set"""
    return _rank(session, key, member, reverse=False)


@command("zrevrank", 3, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="2.0.0")
def zrevrank(session: Session, key: bytes, member: bytes) -> int | None:
    """Determine the index of a member in a sorted set, with scores ordered from high to low"""
    return _rank(session, key, member, reverse=True)


@command("zcount", 4, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="2.0.0")
def zcount(session: Session, key: bytes, low: bytes, high: bytes) -> int:
    """Count the members in a sorted set with scores within the given values"""
    rng = _score_range(low, high)
    value = _read(session, key)
    if value is None:
        return 0
    start, stop = _score_positions(value, rng)
    return max(stop - start, 0)


@command("zlexcount", 4, "readonly fast", keys=(1, 1, 1), group="sorted_set", since="2.8.9")
def zlexcount(session: Session, key: bytes, low: bytes, high: bytes) -> int:
    """Count the number of members in a sorted set between a given lexicographical range"""
    lo, hi = _lex_range(low, high)
    value = _read(session, key)
    if value is None:
        return 0
    start, stop = _lex_positions(value, lo, hi)
    return max(stop - start, 0)


# ---------------------------------------------------------------- ranges

RANGE_AUTO, RANGE_RANK, RANGE_SCORE, RANGE_LEX = 0, 1, 2, 3
DIRECTION_AUTO, FORWARD, REVERSE = 0, 1, 2


def zrange_generic(
    session: Session,
    key: bytes,
    args: tuple[bytes, ...],
    *,
    rangetype: int = RANGE_AUTO,
    direction: int = DIRECTION_AUTO,
    destination: bytes | None = None,
) -> Any:
    """ZRANGE and its older forms, and ZRANGESTORE when `destination` is given
    (zrangeGenericCommand). `args`: min, max, then the options."""
    store = destination is not None
    withscores = False
    offset, limit = 0, -1
    options = args[2:]
    j = 0
    while j < len(options):
        word = c_string(options[j]).lower()
        left = len(options) - j - 1
        if not store and word == b"withscores":
            withscores = True
        elif word == b"limit" and left >= 2:
            offset = Int(options[j + 1])
            limit = Int(options[j + 2])
            j += 2
        elif direction == DIRECTION_AUTO and word == b"rev":
            direction = REVERSE
        elif rangetype == RANGE_AUTO and word == b"bylex":
            rangetype = RANGE_LEX
        elif rangetype == RANGE_AUTO and word == b"byscore":
            rangetype = RANGE_SCORE
        else:
            raise CommandError(SYNTAX)
        j += 1
    if direction == DIRECTION_AUTO:
        direction = FORWARD
    if rangetype == RANGE_AUTO:
        rangetype = RANGE_RANK
    if limit != -1 and rangetype == RANGE_RANK:
        raise CommandError(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    if withscores and rangetype == RANGE_LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    reverse = direction == REVERSE
    low, high = args[0], args[1]
    if reverse and rangetype != RANGE_RANK:
        low, high = high, low  # given as max, min
    if rangetype == RANGE_RANK:
        start, end = Int(low), Int(high)
    elif rangetype == RANGE_SCORE:
        score_range = _score_range(low, high)
    else:
        lex_range = _lex_range(low, high)

    value = _read(session, key)
    listpack = True
    pairs: list[tuple[bytes, float]] = []
    if value is not None:
        if rangetype == RANGE_RANK:
            pairs = _rank_range(value, start, end, reverse)
            if store and len(pairs) > _thresholds(session)[0]:
                listpack = False  # the result's length is known: Redis starts a skiplist
        else:
            if rangetype == RANGE_SCORE:
                first, stop = _score_positions(value, score_range)
            else:
                first, stop = _lex_positions(value, *lex_range)
            pairs = _limited(value, first, stop, offset, limit, reverse)
    if store:
        assert destination is not None
        result = ZSetValue(listpack=listpack)
        thresholds = _thresholds(session)
        for member, score in pairs:
            _add_member(result, member, score, thresholds)
        return store_zset(session, destination, result, b"zrangestore")
    return _scored(session, pairs, withscores)


def _rank_range(value: ZSetValue, start: int, end: int, reverse: bool) -> list[tuple[bytes, float]]:
    """Elements start..end by rank (Redis's negative-index rules), from the top if `reverse`."""
    n = len(value)
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = max(start, 0)
    if start > end or start >= n:
        return []
    end = min(end, n - 1)
    if reverse:
        return value.range(n - 1 - end, n - start, reverse=True)
    return value.range(start, end + 1)


def _limited(
    value: ZSetValue, first: int, stop: int, offset: int, limit: int, reverse: bool
) -> list[tuple[bytes, float]]:
    """The elements at positions [first, stop) after LIMIT offset count: a negative offset
    gives nothing (Redis walks past the end), a negative count means all."""
    if first >= stop or offset < 0:
        return []
    count = stop - first - offset
    if limit >= 0:
        count = min(count, limit)
    if count <= 0:
        return []
    if reverse:
        return value.range(stop - offset - count, stop - offset, reverse=True)
    return value.range(first + offset, first + offset + count)


_RANGE = {"keys": (1, 1, 1), "group": "sorted_set"}


@command("zrange", -4, "readonly", since="1.2.0", **_RANGE)  # type: ignore[arg-type]
def zrange(session: Session, key: bytes, *args: bytes) -> Any:
    """Return a range of members in a sorted set"""
    return zrange_generic(session, key, args)


@command("zrevrange", -4, "readonly", since="1.2.0", **_RANGE)  # type: ignore[arg-type]
def zrevrange(session: Session, key: bytes, *args: bytes) -> Any:
    """Return a range of members in a sorted set, by index, with scores ordered from high to low"""
    return zrange_generic(session, key, args, rangetype=RANGE_RANK, direction=REVERSE)


@command("zrangebyscore", -4, "readonly", since="1.0.5", **_RANGE)  # type: ignore[arg-type]
def zrangebyscore(session: Session, key: bytes, *args: bytes) -> Any:
    """Return a range of members in a sorted set, by score"""
    return zrange_generic(session, key, args, rangetype=RANGE_SCORE, direction=FORWARD)


@command("zrevrangebyscore", -4, "readonly", since="2.2.0", **_RANGE)  # type: ignore[arg-type]
def zrevrangebyscore(session: Session, key: bytes, *args: bytes) -> Any:
    """Return a range of members in a sorted set, by score, with scores ordered from high to low"""
    return zrange_generic(session, key, args, rangetype=RANGE_SCORE, direction=REVERSE)


@command("zrangebylex", -4, "readonly", since="2.8.9", **_RANGE)  # type: ignore[arg-type]
def zrangebylex(session: Session, key: bytes, *args: bytes) -> Any:
    """Return a range of members in a sorted set, by lexicographical range"""
    return zrange_generic(session, key, args, rangetype=RANGE_LEX, direction=FORWARD)


@command("zrevrangebylex", -4, "readonly", since="2.8.9", **_RANGE)  # type: ignore[arg-type]
def zrevrangebylex(session: Session, key: bytes, *args: bytes) -> Any:
    """Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings."""
    return zrange_generic(session, key, args, rangetype=RANGE_LEX, direction=REVERSE)


@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1), group="sorted_set", since="6.2.0")
def zrangestore(session: Session, destination: bytes, key: bytes, *args: bytes) -> int:
    """Store a range of members from sorted set into another key"""
    return zrange_generic(session, key, args, destination=destination)  # type: ignore[no-any-return]


# -------------------------------------------------------------- removals


def _write(session: Session, key: bytes) -> ZSetValue | None:
    return lookup_typed(session, key, ZSetValue)


@command("zrem", -3, "write fast", keys=(1, 1, 1), group="sorted_set", since="1.2.0")
def zrem(session: Session, key: bytes, *members: bytes) -> int:
    """Remove one or more members from a sorted set"""
    value = _write(session, key)
    if value is None:
        return 0
    before = value.nbytes
    removed = 0
    for member in members:
        removed += value.remove(member)
        if not len(value):
            break
    charge(session, value, before)
    if removed:
        session.notify("z", b"zrem", key)
        drop_if_empty(session, key, value)
    return removed


def zremrange_generic(session: Session, key: bytes, low: bytes, high: bytes, rangetype: int) -> int:
    """ZREMRANGEBYRANK / BYSCORE / BYLEX (zremrangeGenericCommand)."""
    if rangetype == RANGE_RANK:
        start, end = Int(low), Int(high)
        event = b"zremrangebyrank"
    elif rangetype == RANGE_SCORE:
        score_range = _score_range(low, high)
        event = b"zremrangebyscore"
    else:
        lex_range = _lex_range(low, high)
        event = b"zremrangebylex"
    value = _write(session, key)
    if value is None:
        return 0
    n = len(value)
    if rangetype == RANGE_RANK:
        if start < 0:
            start += n
        if end < 0:
            end += n
        start = max(start, 0)
        if start > end or start >= n:
            return 0
        first, stop = start, min(end, n - 1) + 1
    elif rangetype == RANGE_SCORE:
        first, stop = _score_positions(value, score_range)
    else:
        first, stop = _lex_positions(value, *lex_range)
    if first >= stop:
        return 0
    before = value.nbytes
    removed = value.delete_range(first, stop)
    charge(session, value, before)
    session.notify("z", event, key)
    drop_if_empty(session, key, value)
    return removed


@command("zremrangebyrank", 4, "write", keys=(1, 1, 1), group="sorted_set", since="2.0.0")
def zremrangebyrank(session: Session, key: bytes, start: bytes, stop: bytes) -> int:
    """Remove all members in a sorted set within the given indexes"""
    return zremrange_generic(session, key, start, stop, RANGE_RANK)


@command("zremrangebyscore", 4, "write", keys=(1, 1, 1), group="sorted_set", since="1.2.0")
def zremrangebyscore(session: Session, key: bytes, low: bytes, high: bytes) -> int:
    """Remove all members in a sorted set within the given scores"""
    return zremrange_generic(session, key, low, high, RANGE_SCORE)


@command("zremrangebylex", 4, "write", keys=(1, 1, 1), group="sorted_set", since="2.8.9")
def zremrangebylex(session: Session, key: bytes, low: bytes, high: bytes) -> int:
    """Remove all members in a sorted set between the given lexicographical range"""
    return zremrange_generic(session, key, low, high, RANGE_LEX)


# ------------------------------------------------------------------ pops


def first_zset(session: Session, keys: Iterable[bytes]) -> tuple[bytes, ZSetValue] | None:
    """The first of `keys` that holds a sorted set (Redis's genericZpopCommand scan): missing
    keys are skipped, a key of another type is WRONGTYPE. None if every key is missing."""
    for key in keys:
        value = lookup_typed(session, key, ZSetValue)
        if value is not None:
            return key, value
    return None


def zpop_generic(session: Session, key: bytes, value: ZSetValue, count: int, highest: bool) -> list[tuple[bytes, float]]:
    """Pop up to `count` elements of the sorted set `value` at `key` from the low end (or the
    `highest`), with Redis's events (zpopmin/zpopmax, then del if it empties); returns them in
    the order popped. Shared by ZPOPMIN, ZPOPMAX, ZMPOP and the blocking pops."""
    if count <= 0:
        return []
    before = value.nbytes
    popped = value.pop(count, highest)
    charge(session, value, before)
    session.notify("z", b"zpopmax" if highest else b"zpopmin", key)
    drop_if_empty(session, key, value)
    return popped


def _zpop_command(session: Session, key: bytes, args: tuple[bytes, ...], highest: bool) -> Any:
    if not args:  # one element, the common case, without the count's list
        value = lookup_typed(session, key, ZSetValue)
        if value is None:
            return []
        ((member, score),) = zpop_generic(session, key, value, 1, highest)
        return [member, Double(score)]
    if len(args) > 1:
        raise CommandError(SYNTAX)
    count = _positive_long(args[0], NOT_POSITIVE)
    found = first_zset(session, (key,))
    if found is None:
        return []
    popped = zpop_generic(session, key, found[1], count, highest)
    if session.resp > 2:  # with a count, RESP3 pairs
        return [[member, Double(score)] for member, score in popped]
    flat: list[Any] = []
    for member, score in popped:
        flat.append(member)
        flat.append(Double(score))
    return flat


@command("zpopmin", -2, "write fast", keys=(1, 1, 1), group="sorted_set", since="5.0.0")
def zpopmin(session: Session, key: bytes, *args: bytes) -> Any:
    """Remove and return members with the lowest scores in a sorted set"""
    return _zpop_command(session, key, args, highest=False)


@command("zpopmax", -2, "write fast", keys=(1, 1, 1), group="sorted_set", since="5.0.0")
def zpopmax(session: Session, key: bytes, *args: bytes) -> Any:
    """Remove and return members with the highest scores in a sorted set"""
    return _zpop_command(session, key, args, highest=True)


def parse_zmpop(args: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], bool, int]:
    """ZMPOP's arguments after the command name (BZMPOP's after the timeout): numkeys, keys,
    MIN|MAX, [COUNT count]; returns (keys, highest, count) or raises Redis's errors."""
    numkeys = _positive_long(args[0], "ERR numkeys should be greater than 0")
    if numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    where = numkeys + 1
    if where >= len(args):
        raise CommandError(SYNTAX)
    side = c_string(args[where]).lower()
    if side not in (b"min", b"max"):
        raise CommandError(SYNTAX)
    count = -1
    j = where + 1
    while j < len(args):
        if count == -1 and c_string(args[j]).lower() == b"count" and j + 1 < len(args):
            count = _positive_long(args[j + 1], "ERR count should be greater than 0")
            if count < 1:
                raise CommandError("ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(SYNTAX)
    return args[1:where], side == b"max", max(count, 1)


@command("zmpop", -4, "write movablekeys", group="sorted_set", since="7.0.0",
         effect=effects.mpop(b"ZPOPMIN", b"ZPOPMAX", 1))
def zmpop(session: Session, *args: bytes) -> Any:
    """Remove and return members with scores in a sorted set"""
    keys, highest, count = parse_zmpop(args)
    found = first_zset(session, keys)
    if found is None:
        return NULL_ARRAY
    key, value = found
    return mpop_reply(key, zpop_generic(session, key, value, count, highest))


def mpop_reply(key: bytes, popped: list[tuple[bytes, float]]) -> list[Any]:
    """ZMPOP's (and BZMPOP's) reply: the key, then [member, score] pairs, in RESP2 and RESP3."""
    return [key, [[member, Double(score)] for member, score in popped]]


# ---------------------------------------------------------------- blocking


def _ready_zset(session: Session, key: bytes) -> ZSetValue | None:
    """A waiter's view of a ready key: the sorted set there, or None (missing, other type)."""
    value = session.db.peek(key)
    return value if value.__class__ is ZSetValue else None  # type: ignore[return-value]


def _bzpop_generic(session: Session, args: tuple[bytes, ...], highest: bool) -> Any:
    """BZPOPMIN / BZPOPMAX key [key ...] timeout (Redis's blockingGenericZpopCommand):
    [key, member, score] from the first non-empty key, else wait for one."""
    keys = args[:-1]
    deadline_ms = parse_timeout(args[-1], session.instance.clock.now_ms())

    def pop_one(key: bytes, value: ZSetValue) -> list[Any]:
        member, score = zpop_generic(session, key, value, 1, highest)[0]
        return [key, member, Double(score)]

    found = first_zset(session, keys)
    if found is not None:
        return pop_one(*found)

    def serve(key: bytes) -> Any:
        value = _ready_zset(session, key)
        return None if value is None else pop_one(key, value)

    return block_on(session, keys, serve, deadline_ms, NULL_ARRAY)


@command("bzpopmin", -3, "write noscript blocking fast", keys=(1, -2, 1), group="sorted_set", since="5.0.0",
         effect=effects.pop_from_reply(b"ZPOPMIN"))
def bzpopmin(session: Session, *args: bytes) -> Any:
    """Remove and return the member with the lowest score from one or more sorted sets, or block until one is available"""
    return _bzpop_generic(session, args, highest=False)


@command("bzpopmax", -3, "write noscript blocking fast", keys=(1, -2, 1), group="sorted_set", since="5.0.0",
         effect=effects.pop_from_reply(b"ZPOPMAX"))
def bzpopmax(session: Session, *args: bytes) -> Any:
    """Remove and return the member with the highest score from one or more sorted sets, or block until one is available"""
    return _bzpop_generic(session, args, highest=True)


@command("bzmpop", -5, "write blocking movablekeys", group="sorted_set", since="7.0.0",
         effect=effects.mpop(b"ZPOPMIN", b"ZPOPMAX", 2))
def bzmpop(session: Session, raw_timeout: bytes, *args: bytes) -> Any:
    """Remove and return members with scores in a sorted set or block until one is available"""
    deadline_ms = parse_timeout(raw_timeout, session.instance.clock.now_ms())
    keys, highest, count = parse_zmpop(args)
    found = first_zset(session, keys)
    if found is not None:
        key, value = found
        return mpop_reply(key, zpop_generic(session, key, value, count, highest))

    def serve(key: bytes) -> Any:
        value = _ready_zset(session, key)
        return None if value is None else mpop_reply(key, zpop_generic(session, key, value, count, highest))

    return block_on(session, keys, serve, deadline_ms, NULL_ARRAY)


# ------------------------------------------------------------ set algebra

OP_UNION, OP_INTER, OP_DIFF = 0, 1, 2
_STORE_EVENTS = {OP_UNION: b"zunionstore", OP_INTER: b"zinterstore", OP_DIFF: b"zdiffstore"}


class _Source:
    """One input of a set operation: a sorted set, a set (every member scores 1) or nothing."""

    __slots__ = ("is_zset", "value", "weight")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.is_zset = value.__class__ is ZSetValue
        self.weight = 1.0

    def __len__(self) -> int:
        return 0 if self.value is None else len(self.value)

    def items(self) -> Iterable[tuple[bytes, float]]:
        if self.value is None:
            return ()
        if self.is_zset:
            return self.value.scores.items()  # type: ignore[no-any-return]
        members = VALUE_TYPES[self.value.__class__].elements(self.value)  # type: ignore[misc]
        return ((member, 1.0) for member in members)

    def find(self, member: bytes) -> float | None:
        if self.value is None:
            return None
        if self.is_zset:
            return self.value.scores.get(member)  # type: ignore[no-any-return]
        return 1.0 if member in self.value else None


def _aggregate(target: float, value: float, how: bytes) -> float:
    if how == b"sum":
        total = target + value
        return 0.0 if math.isnan(total) else total  # inf + -inf is 0 by Redis's convention
    if how == b"min":
        return value if value < target else target
    return value if value > target else target


def zsetop_generic(
    session: Session,
    name: str,
    args: tuple[bytes, ...],
    op: int,
    *,
    destination: bytes | None = None,
    cardinality_only: bool = False,
) -> Any:
    """ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD
    (zunionInterDiffGenericCommand). `args` starts at numkeys."""
    setnum = Int(args[0])
    if setnum < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if setnum > len(args) - 1:
        raise CommandError(SYNTAX)
    sources = []
    for key in args[1 : setnum + 1]:
        found = session.db.lookup_read(key)
        if (
            found is not None
            and found.__class__ is not ZSetValue
            and VALUE_TYPES[found.__class__].name != b"set"
        ):
            raise CommandError(WRONGTYPE)
        sources.append(_Source(found))
    how = b"sum"
    withscores = False
    limit = 0
    options = args[setnum + 1 :]
    j = 0
    while j < len(options):
        remaining = len(options) - j
        word = c_string(options[j]).lower()
        if op != OP_DIFF and not cardinality_only and remaining >= setnum + 1 and word == b"weights":
            for i in range(setnum):
                weight = parse_score(options[j + 1 + i])
                if weight is None:
                    raise CommandError("ERR weight value is not a float")
                sources[i].weight = weight
            j += setnum + 1
        elif op != OP_DIFF and not cardinality_only and remaining >= 2 and word == b"aggregate":
            how = c_string(options[j + 1]).lower()
            if how not in (b"sum", b"min", b"max"):
                raise CommandError(SYNTAX)
            j += 2
        elif destination is None and not cardinality_only and word == b"withscores":
            withscores = True
            j += 1
        elif cardinality_only and remaining >= 2 and word == b"limit":
            limit = _positive_long(options[j + 1], "ERR LIMIT can't be negative")
            j += 2
        else:
            raise CommandError(SYNTAX)

    if op != OP_DIFF:
        sources.sort(key=len)  # smallest first, stable as glibc's merge sort
    if op == OP_INTER:
        result = _inter(sources, how, limit if cardinality_only else -1)
        if isinstance(result, int):
            return result
    elif op == OP_UNION:
        result = _union(sources, how)
    else:
        result = _diff(sources)
    assert isinstance(result, dict)
    if destination is not None:
        return store_zset(session, destination, new_zset(session, result), _STORE_EVENTS[op])
    ordered = sorted((score, member) for member, score in result.items())
    return _scored(session, ((member, score) for score, member in ordered), withscores)


def _inter(sources: list[_Source], how: bytes, limit: int) -> dict[bytes, float] | int:
    """Members in every source with their aggregated weighted scores; with `limit` >= 0
    (ZINTERCARD) only how many, stopping at `limit` (0: no limit)."""
    result: dict[bytes, float] = {}
    count = 0
    first = sources[0]
    if not len(first):
        return 0 if limit >= 0 else result
    for member, base in first.items():
        score = first.weight * base
        if math.isnan(score):
            score = 0.0
        for other in sources[1:]:
            if other.value is first.value:
                found: float | None = base
            else:
                found = other.find(member)
                if found is None:
                    break
            score = _aggregate(score, found * other.weight, how)
        else:
            if limit >= 0:
                count += 1
                if limit and count >= limit:
                    break
            else:
                result[member] = score
    return count if limit >= 0 else result


def _union(sources: list[_Source], how: bytes) -> dict[bytes, float]:
    result: dict[bytes, float] = {}
    for source in sources:
        weight = source.weight
        for member, base in source.items():
            score = weight * base
            if math.isnan(score):
                score = 0.0
            current = result.get(member)
            result[member] = score if current is None else _aggregate(current, score, how)
    return result


def _diff(sources: list[_Source]) -> dict[bytes, float]:
    """Members of the first source in none of the others, with their own scores."""
    first = sources[0]
    if not len(first) or any(other.value is first.value for other in sources[1:]):
        return {}
    others = sorted(sources[1:], key=len, reverse=True)
    return {
        member: score
        for member, score in first.items()
        if not any(other.find(member) is not None for other in others)
    }


_SETOP = {"group": "sorted_set"}


@command("zunion", -3, "readonly movablekeys", since="6.2.0", **_SETOP)  # type: ignore[arg-type]
def zunion(session: Session, *args: bytes) -> Any:
    """Add multiple sorted sets"""
    return zsetop_generic(session, "zunion", args, OP_UNION)


@command("zinter", -3, "readonly movablekeys", since="6.2.0", **_SETOP)  # type: ignore[arg-type]
def zinter(session: Session, *args: bytes) -> Any:
    """Intersect multiple sorted sets"""
    return zsetop_generic(session, "zinter", args, OP_INTER)


@command("zdiff", -3, "readonly movablekeys", since="6.2.0", **_SETOP)  # type: ignore[arg-type]
def zdiff(session: Session, *args: bytes) -> Any:
    """Subtract multiple sorted sets"""
    return zsetop_generic(session, "zdiff", args, OP_DIFF)


@command("zintercard", -3, "readonly movablekeys", since="7.0.0", **_SETOP)  # type: ignore[arg-type]
def zintercard(session: Session, *args: bytes) -> Any:
    """Intersect multiple sorted sets and return the cardinality of the result"""
    return zsetop_generic(session, "zintercard", args, OP_INTER, cardinality_only=True)


_STORE = {"keys": (1, 1, 1), "group": "sorted_set"}


@command("zunionstore", -4, "write denyoom movablekeys", since="2.0.0", **_STORE)  # type: ignore[arg-type]
def zunionstore(session: Session, destination: bytes, *args: bytes) -> Any:
    """Add multiple sorted sets and store the resulting sorted set in a new key"""
    return zsetop_generic(session, "zunionstore", args, OP_UNION, destination=destination)


@command("zinterstore", -4, "write denyoom movablekeys", since="2.0.0", **_STORE)  # type: ignore[arg-type]
def zinterstore(session: Session, destination: bytes, *args: bytes) -> Any:
    """Intersect multiple sorted sets and store the resulting sorted set in a new key"""
    return zsetop_generic(session, "zinterstore", args, OP_INTER, destination=destination)


@command("zdiffstore", -4, "write denyoom movablekeys", since="6.2.0", **_STORE)  # type: ignore[arg-type]
def zdiffstore(session: Session, destination: bytes, *args: bytes) -> Any:
    """Subtract multiple sorted sets and store the resulting sorted set in a new key"""
    return zsetop_generic(session, "zdiffstore", args, OP_DIFF, destination=destination)


# ------------------------------------------------------------ ZRANDMEMBER


@command(
    "zrandmember", -2, "readonly", keys=(1, 1, 1), group="sorted_set", since="6.2.0",
    tips="nondeterministic_output",
)
def zrandmember(session: Session, key: bytes, *args: bytes) -> Any:
    """Get one or multiple random elements from a sorted set"""
    if not args:
        value = _read(session, key)
        return None if value is None else value.random_element()[0]
    count = Int(args[0])
    if count < -_LONG_MAX:
        raise CommandError(
            f"ERR value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}"
        )
    if len(args) > 2 or (len(args) == 2 and c_string(args[1]).lower() != b"withscores"):
        raise CommandError(SYNTAX)
    withscores = len(args) == 2
    if withscores and not -(_LONG_MAX // 2) <= count <= _LONG_MAX // 2:
        raise CommandError(_OUT_OF_RANGE)
    value = _read(session, key)
    if value is None or count == 0:
        return []
    size = len(value)
    if count < 0 or count == 1:
        # Repetitions allowed (or a single pick): independent uniform draws.
        picks = [value.random_element() for _ in range(-count if count < 0 else 1)]
    elif count >= size:
        # The whole set, in the order Redis walks it (from the highest score down).
        picks = value.range(0, size, reverse=True)
    else:
        picks = [value.at(index) for index in random.sample(range(size), count)]
    return _scored(session, picks, withscores)


# ------------------------------------------------------------------ ZSCAN


def _listpack_score(score: float) -> bytes:
    """A score as a listpack holds it (zzlInsertAt): an integer if it is one within +-2^62,
    else "%.17g"."""
    if -_LISTPACK_INTEGER <= score <= _LISTPACK_INTEGER and score == int(score):
        return b"%d" % int(score)
    return format_double(score)


_LISTPACK_INTEGER = float(2**62)


@command(
    "zscan", -3, "readonly", keys=(1, 1, 1), group="sorted_set", since="2.8.0",
    tips="nondeterministic_output",
)
def zscan(session: Session, key: bytes, cursor: bytes, *options: bytes) -> list[Any]:
    """Incrementally iterate sorted sets elements and associated scores"""
    position = parse_scan_cursor(cursor)
    value = _read(session, key)
    if value is None:
        return [b"0", []]
    parsed = parse_scan_options(options, allow_type=False)
    if value.listpack:
        # A small set comes whole in one reply, as Redis returns a listpack's contents.
        next_position, found = 0, list(value)
        render = _listpack_score
    else:
        before = value.nbytes
        next_position, found = value.scan(position, parsed.count)
        charge(session, value, before)  # the first ZSCAN builds the index
        render = format_double
    if parsed.pattern is not None:
        regex = compile_glob(parsed.pattern)
        found = [pair for pair in found if regex.fullmatch(pair[0]) is not None]
    reply: list[bytes] = []
    for member, score in found:
        reply.append(member)
        reply.append(render(score))
    return [str(next_position).encode(), reply]
