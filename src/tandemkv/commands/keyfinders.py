"""Where the keys of a command line are, and how each is accessed: COMMAND GETKEYS[ANDFLAGS]
and the ACL key check ask these.

As Redis's getKeysFromCommandWithSpecs: the command's key specs (docs.txt) when they describe
the keys and their flags reliably; otherwise, or when a spec cannot be followed (an unknown or
incomplete spec, a numkeys string2ll refuses), the command's own finder (`_KEY_FINDERS`,
Redis's getkeys_proc), which parses the arguments the way the command does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tandemkv.commands.docs import IndexSearch, KeynumKeys, KeywordSearch, RangeKeys
from tandemkv.commands.table import CommandSpec
from tandemkv.protocol import string2ll

KeyRefs = list[tuple[int, tuple[str, ...]]]  # argument index, key-spec flags


def _keys_by_specs(spec: CommandSpec, argv: list[bytes]) -> KeyRefs | None:
    """Keys found with the key specs (getKeysUsingKeySpecs), or None where a spec fails."""
    argc = len(argv)
    found: KeyRefs = []
    for key_spec in spec.docs.key_specs:
        if "not_key" in key_spec.flags:
            continue
        begin, find = key_spec.begin, key_spec.find
        if isinstance(begin, IndexSearch):
            first = begin.pos
        elif isinstance(begin, KeywordSearch):
            first = _after_keyword(argv, begin)
            if first == 0:
                continue
        else:
            return None
        if isinstance(find, RangeKeys):
            step = find.keystep
            if find.lastkey >= 0:
                last = first + find.lastkey
            elif not find.limit:
                last = argc + find.lastkey
            else:
                last = first + ((argc - first) // find.limit + find.lastkey)
        elif isinstance(find, KeynumKeys):
            step = find.keystep
            count_at = first + find.keynumidx
            count = string2ll(argv[count_at]) if count_at < argc else None
            if count is None or count < 0:
                return None
            first += find.firstkey
            last = first + count - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        found.extend((i, key_spec.flags) for i in range(first, last + 1, step))
        if "incomplete" in key_spec.flags:
            return None
    return found


def _after_keyword(argv: list[bytes], search: KeywordSearch) -> int:
    """The index after the keyword (searched forwards from startfrom, or backwards from the
    end when startfrom is negative), 0 when absent."""
    argc = len(argv)
    keyword = search.keyword.lower().encode()
    if search.startfrom > 0:
        indices = range(search.startfrom, argc - 1)
    else:
        indices = range(argc + search.startfrom, 1, -1)
    for i in indices:
        if i >= argc or i < 1:
            break
        if argv[i].lower() == keyword:
            return i + 1
    return 0


def _atoi(word: bytes) -> int:
    """C's atoi: leading blanks, a sign, digits up to the first other byte; 0 if none."""
    match = re.match(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)", word)
    return int(match.group(1)) if match else 0


def _numkeys_at(count_at: int, store_at: int = 0) -> Callable[[list[bytes]], KeyRefs]:
    """Redis's genericGetKeys: the keys counted by argv[count_at] (read with atoi) right after
    it, then the store key; no flags."""

    def find(argv: list[bytes]) -> KeyRefs:
        count = _atoi(argv[count_at])
        first = count_at + 1
        if count < 1 or count > len(argv) - first:
            return []
        keys: KeyRefs = [(i, ()) for i in range(first, first + count)]
        return [*keys, (store_at, ())] if store_at else keys

    return find


def _sort_keys(argv: list[bytes]) -> KeyRefs:
    """SORT's key, then the key of its last STORE option (sortGetKeys)."""
    keys: KeyRefs = [(1, ("RO", "access"))]
    store = 0
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
    return [*keys, (store, ("OW", "update"))] if store else keys


def _set_keys(argv: list[bytes]) -> KeyRefs:
    """SET's key: read too when GET is given (setGetKeys)."""
    if any(word.lower() == b"get" for word in argv[3:]):
        return [(1, ("RW", "access", "update"))]
    return [(1, ("OW", "update"))]


def _bitfield_keys(argv: list[bytes]) -> KeyRefs:
    """BITFIELD's key: written unless every operation is a GET (bitfieldGetKeys)."""
    readonly = True
    i = 2
    while i < len(argv):
        word, remaining = argv[i].lower(), len(argv) - i - 1
        if word == b"get" and remaining >= 2:
            i += 2
        elif word in (b"set", b"incrby") and remaining >= 3:
            readonly = False
            break
        elif word == b"overflow" and remaining >= 1:
            i += 1
        else:
            readonly = False  # a syntax error: assume a write, as Redis does
            break
        i += 1
    return [(1, ("RO", "access") if readonly else ("RW", "access", "update"))]


_KEY_FINDERS: dict[str, Callable[[list[bytes]], KeyRefs]] = {
    "sort": _sort_keys,
    "sort_ro": lambda argv: [(1, ("RO", "access"))],
    "set": _set_keys,
    "bitfield": _bitfield_keys,
    "lmpop": _numkeys_at(1),
    "blmpop": _numkeys_at(2),
    "zmpop": _numkeys_at(1),
    "bzmpop": _numkeys_at(2),
    "sintercard": _numkeys_at(1),
    "zintercard": _numkeys_at(1),
    "zunion": _numkeys_at(1),
    "zinter": _numkeys_at(1),
    "zdiff": _numkeys_at(1),
    "zunionstore": _numkeys_at(2, store_at=1),
    "zinterstore": _numkeys_at(2, store_at=1),
    "zdiffstore": _numkeys_at(2, store_at=1),
    "eval": _numkeys_at(2),
    "evalsha": _numkeys_at(2),
    "eval_ro": _numkeys_at(2),
    "evalsha_ro": _numkeys_at(2),
    "fcall": _numkeys_at(2),
    "fcall_ro": _numkeys_at(2),
}


def command_keys(spec: CommandSpec, argv: list[bytes]) -> KeyRefs:
    """The keys of a command line and their flags (getKeysFromCommandWithSpecs)."""
    key_specs = spec.docs.key_specs
    if any("not_key" not in key_spec.flags for key_spec in key_specs) and not any(
        "variable_flags" in key_spec.flags for key_spec in key_specs
    ):
        found = _keys_by_specs(spec, argv)
        if found is not None:
            return found
    finder = _KEY_FINDERS.get(spec.full_name)
    return finder(argv) if finder is not None else []


def has_keys(spec: CommandSpec) -> bool:
    """Whether a command can have keys at all (doesCommandHaveKeys)."""
    return spec.full_name in _KEY_FINDERS or any("not_key" not in key_spec.flags for key_spec in spec.docs.key_specs)


def key_finder(spec: CommandSpec) -> Callable[[list[bytes]], list[int]] | None:
    """The key positions of a command whose keys move with its arguments (movablekeys), or
    None (its spec's key positions hold)."""
    if "movablekeys" not in spec.flags:
        return None
    return lambda argv: [position for position, _ in command_keys(spec, argv)]
