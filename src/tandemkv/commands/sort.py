"""SORT and SORT_RO (Redis 7.0 sort.c semantics).

The elements of a list, set or sorted set are loaded in the value's own order, weighed (by
themselves or through a BY pattern: `weight_*`, `hash_*->field`), sorted, cut by LIMIT, and
replaced by GET patterns; STORE writes the result as a list. Redis's details kept here:

- Numeric weights are read as C's strtod reads a C string (leading blanks allowed, nothing
  after the number, no NaN, no overflow or underflow), missing BY keys weigh 0, and equal
  weights are ordered by the elements' bytes, so the order is deterministic.
- ALPHA compares with strcoll in the C locale (bytes up to the first NUL) except under
  STORE, which compares the whole bytes; missing BY keys sort first.
- A BY pattern without `*` means "don't sort": lists and sorted sets keep their order
  (reversed by DESC), sets too except under STORE, where they are sorted ALPHA so the stored
  result is deterministic.
- Which value types can be sorted, how their elements are listed and how a hash field is
  read come from the value types' declarations (commands/keys.py `ValueType.elements`,
  `ValueType.field`).
"""

from __future__ import annotations

import re
from typing import Any

from tandemkv.commands.args import Int
from tandemkv.commands.keys import VALUE_TYPES
from tandemkv.commands.session import Session
from tandemkv.commands.table import TABLE, command
from tandemkv.commands.typed import charge
from tandemkv.errors import SYNTAX, WRONGTYPE, CommandError
from tandemkv.values import ListValue

NOT_DOUBLE = "ERR One or more scores can't be converted into double"
_C_SPACE = b" \t\n\v\f\r"
_STRTOD = re.compile(
    rb"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    rb"|0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    rb"|(?i:inf|infinity))"
)
_DBL_MIN = 2.2250738585072014e-308


def _strtod(raw: bytes) -> float | None:
    """A sort weight as Redis reads it with strtod, or None where it reports an error."""
    text = raw.split(b"\0", 1)[0]
    if not text:
        return 0.0  # nothing to convert and nothing left over: 0
    number = text.lstrip(_C_SPACE)
    if _STRTOD.fullmatch(number) is None:
        return None
    body = number.lstrip(b"+-")
    value = float.fromhex(number.decode()) if body[:2].lower() == b"0x" else float(number)
    if value != 0 and abs(value) < _DBL_MIN and value == value:  # underflow: ERANGE
        return None
    if abs(value) == float("inf") and body[:1].lower() != b"i":  # overflow: ERANGE
        return None
    if value == 0 and any(ch in b"123456789" for ch in body.split(b"e")[0].split(b"E")[0].split(b"p")[0]):
        return None  # rounds to zero: ERANGE
    return value


def _lookup_by_pattern(session: Session, pattern: bytes, element: bytes) -> bytes | None:
    """Redis's lookupKeyByPattern: `#` is the element; the first `*` is replaced by it; a
    `->field` after the star reads a hash field. None if any part is missing or mistyped."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2 :]
        postfix = pattern[star + 1 : arrow]
    else:
        postfix = pattern[star + 1 :]
    value = session.db.lookup_read(pattern[:star] + element + postfix)
    if value is None:
        return None
    if field is None:
        if value.__class__ is bytearray:  # a bitmap changed in place (commands/bitmaps.py)
            return bytes(value)  # type: ignore[arg-type]
        return value if value.__class__ is bytes else None  # type: ignore[return-value]
    read_field = VALUE_TYPES[value.__class__].field
    return None if read_field is None else read_field(value, field)


def _reads_every_key(session: Session, readonly: bool) -> bool:
    """ACLUserCheckCmdWithUnrestrictedKeyAccess for this SORT command line."""
    user = session.user
    return user.unrestricted or user.reads_every_key(TABLE.specs[b"sort_ro" if readonly else b"sort"], session.argv)


def _sort_generic(session: Session, key: bytes, options: tuple[bytes, ...], readonly: bool) -> Any:
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    store: bytes | None = None
    by: bytes | None = None
    gets: list[bytes] = []
    i, n = 0, len(options)
    while i < n:
        word = options[i].lower()
        left = n - i - 1
        if word == b"asc":
            desc = False
        elif word == b"desc":
            desc = True
        elif word == b"alpha":
            alpha = True
        elif word == b"limit" and left >= 2:
            limit_start, limit_count = Int(options[i + 1]), Int(options[i + 2])
            i += 2
        elif not readonly and word == b"store" and left >= 1:
            store = options[i + 1]
            i += 1
        elif word == b"by" and left >= 1:
            by = options[i + 1]
            dontsort = b"*" not in by
            # A BY or GET pattern reads keys the ACL check never saw: only a user who may
            # read every key can use one.
            if not dontsort and not _reads_every_key(session, readonly):
                raise CommandError("ERR BY option of SORT denied due to insufficient ACL permissions.")
            i += 1
        elif word == b"get" and left >= 1:
            if not _reads_every_key(session, readonly):
                raise CommandError("ERR GET option of SORT denied due to insufficient ACL permissions.")
            gets.append(options[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1

    value = session.db.lookup_read(key)
    value_type = None if value is None else VALUE_TYPES[value.__class__]
    if value_type is not None and value_type.elements is None:
        raise CommandError(WRONGTYPE)
    if dontsort and value_type is not None and value_type.name == b"set" and (store is not None or session.in_script):
        dontsort, alpha, by = False, True, None  # a stored or scripted result must be deterministic
    elements: list[bytes] = [] if value_type is None else value_type.elements(value)  # type: ignore[misc]

    length = len(elements)
    start = min(max(limit_start, 0), length)
    limit_count = min(max(limit_count, -1), length)
    end = length - 1 if limit_count < 0 else start + limit_count - 1
    if start >= length:
        start, end = length - 1, length - 2
    end = min(end, length - 1)

    if dontsort:
        if desc and value_type is not None and value_type.name != b"set":
            elements.reverse()  # lists and sorted sets: their own order, from the other end
    else:
        elements = _sorted(session, elements, by, alpha, desc, store is not None)
    chosen = elements[start : end + 1] if end >= start else []

    if store is None:
        if not gets:
            return chosen
        return [_lookup_by_pattern(session, pattern, element) for element in chosen for pattern in gets]
    output = chosen if not gets else [
        _lookup_by_pattern(session, pattern, element) or b"" for element in chosen for pattern in gets
    ]
    db = session.db
    if output:
        stored = ListValue()
        db.set(store, stored)
        before = stored.nbytes
        stored.push(output, left=False)
        charge(session, stored, before)
        session.notify("l", b"sortstore", store)
    elif db.delete(store):
        session.notify("g", b"del", store)
    return len(output)


def _sorted(session: Session, elements: list[bytes], by: bytes | None, alpha: bool, desc: bool, storing: bool) -> list[bytes]:
    """The elements in SORT's order (see the module doc)."""
    if alpha:
        if by is None:
            keyed = [(element if storing else element.split(b"\0", 1)[0], element) for element in elements]
            keyed.sort(key=lambda pair: pair[0], reverse=desc)
            return [element for _weight, element in keyed]
        weights = []
        for element in elements:
            weight = _lookup_by_pattern(session, by, element)
            if weight is not None and not storing:
                weight = weight.split(b"\0", 1)[0]
            # Missing weights sort first (before any string, the empty one included).
            weights.append(((0, b"") if weight is None else (1, weight), element))
        weights.sort(key=lambda pair: pair[0], reverse=desc)
        return [element for _weight, element in weights]
    scored = []
    for element in elements:
        raw = element if by is None else _lookup_by_pattern(session, by, element)
        score = 0.0 if raw is None else _strtod(raw)
        if score is None:
            raise CommandError(NOT_DOUBLE)
        scored.append((score, element))
    scored.sort(reverse=desc)  # equal scores: by the elements' bytes
    return [element for _score, element in scored]


@command("sort", -2, "write denyoom movablekeys", keys=(1, 1, 1), group="generic", since="1.0.0",
         acl="set sortedset list dangerous")
def sort(session: Session, key: bytes, *options: bytes) -> Any:
    """Sort the elements in a list, set or sorted set"""
    return _sort_generic(session, key, options, readonly=False)


@command("sort_ro", -2, "readonly movablekeys", keys=(1, 1, 1), group="generic", since="7.0.0",
         acl="set sortedset list dangerous")
def sort_ro(session: Session, key: bytes, *options: bytes) -> Any:
    """Sort the elements in a list, set or sorted set. Read-only variant of SORT."""
    return _sort_generic(session, key, options, readonly=True)

