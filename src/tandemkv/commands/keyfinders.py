"""Where the keys of a command with movable keys are (Redis's *GetKeys in db.c): COMMAND
GETKEYS and the ACL key check ask these."""

from __future__ import annotations

from collections.abc import Callable

from tandemkv.protocol import string2ll

# Where the keys of a command are depends on its arguments (Redis's *GetKeys in db.c): a key
# count (numkeys), a STORE option, the STREAMS keyword. COMMAND GETKEYS asks these.


def _numkeys_at(index: int, before: tuple[int, ...] = ()) -> Callable[[list[bytes]], list[int]]:
    """Keys counted by argv[index], right after it (and the fixed keys `before`)."""

    def find(argv: list[bytes]) -> list[int]:
        count = string2ll(argv[index]) if index < len(argv) else None
        if count is None or count < 0 or index + count >= len(argv):
            return []
        return [*before, *range(index + 1, index + 1 + count)]

    return find


def _sort_keys(argv: list[bytes]) -> list[int]:
    """SORT's key, then the key of its (last) STORE option (sortGetKeys)."""
    store = None
    i = 2
    while i < len(argv):
        word = argv[i].lower()
        if word == b"limit":
            i += 2
        elif word in (b"get", b"by"):
            i += 1
        elif word == b"store" and i + 1 < len(argv):
            store = i + 1
            i += 1
        i += 1
    return [1] if store is None else [1, store]


def _store_keywords(startfrom: int) -> Callable[[list[bytes]], list[int]]:
    """GEORADIUS[BYMEMBER]'s key specs: the key, then the argument after the first STORE and
    the one after the first STOREDIST, each searched from argv[startfrom] to the last but one
    argument (getKeysUsingKeySpecs' keyword search)."""

    def find(argv: list[bytes]) -> list[int]:
        positions = [1]
        for keyword in (b"store", b"storedist"):
            for i in range(startfrom, len(argv) - 1):
                if argv[i].lower() == keyword:
                    positions.append(i + 1)
                    break
        return positions

    return find


def _streams_keys(argv: list[bytes]) -> list[int]:
    """XREAD/XREADGROUP: the first half of what follows STREAMS (Redis's key spec: the
    keyword, then half the remaining arguments, rounded down)."""
    for i in range(1, len(argv)):
        if argv[i].lower() == b"streams":
            return list(range(i + 1, i + 1 + (len(argv) - i - 1) // 2))
    return []


_KEY_FINDERS: dict[str, Callable[[list[bytes]], list[int]]] = {
    "sort": _sort_keys,
    "sort_ro": _sort_keys,
    "georadius": _store_keywords(6),
    "georadiusbymember": _store_keywords(5),
    "lmpop": _numkeys_at(1),
    "blmpop": _numkeys_at(2),
    "zmpop": _numkeys_at(1),
    "bzmpop": _numkeys_at(2),
    "sintercard": _numkeys_at(1),
    "zintercard": _numkeys_at(1),
    "zunion": _numkeys_at(1),
    "zinter": _numkeys_at(1),
    "zdiff": _numkeys_at(1),
    "zunionstore": _numkeys_at(2, (1,)),
    "zinterstore": _numkeys_at(2, (1,)),
    "zdiffstore": _numkeys_at(2, (1,)),
    "eval": _numkeys_at(2),
    "evalsha": _numkeys_at(2),
    "eval_ro": _numkeys_at(2),
    "evalsha_ro": _numkeys_at(2),
    "fcall": _numkeys_at(2),
    "fcall_ro": _numkeys_at(2),
    "xread": _streams_keys,
    "xreadgroup": _streams_keys,
}


def key_finder(full_name: str) -> Callable[[list[bytes]], list[int]] | None:
    """The key finder of a command with movable keys, or None (its spec's key positions hold)."""
    return _KEY_FINDERS.get(full_name)
