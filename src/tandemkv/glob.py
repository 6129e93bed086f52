"""Redis glob patterns (util.c stringmatchlen), compiled once to a regular expression.

KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET all match with these rules, which differ from
Python's fnmatch: backslash escapes, `[^...]` negation, reversed ranges (`[z-a]`), an
unterminated class keeps what it listed, and a class may end the pattern.
"""

from __future__ import annotations

import re
from functools import lru_cache

_NOTHING = b"(?!)"  # an empty class matches no character


@lru_cache(maxsize=4096)
def compile_glob(pattern: bytes, nocase: bool = False) -> re.Pattern[bytes]:
    """The pattern as a regex to use with `fullmatch`; cached, so each pattern compiles once."""
    out: list[bytes] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == 0x2A:  # '*' (a run collapses to one)
            while i + 1 < n and pattern[i + 1] == 0x2A:
                i += 1
            out.append(b".*")
        elif ch == 0x3F:  # '?'
            out.append(b".")
        elif ch == 0x5B:  # '['
            i = _compile_class(pattern, i + 1, out)
        elif ch == 0x5C and i + 1 < n:  # '\' escapes the next byte
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        else:
            out.append(re.escape(pattern[i : i + 1]))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
    return re.compile(b"".join(out), flags)


def _compile_class(pattern: bytes, i: int, out: list[bytes]) -> int:
    """Translate a class starting after '['; returns the index of its last byte."""
    n = len(pattern)
    negate = i < n and pattern[i] == 0x5E  # '^'
    if negate:
        i += 1
    items: list[bytes] = []
    while True:
        if i < n and pattern[i] == 0x5C and n - i >= 2:
            i += 1
            items.append(re.escape(pattern[i : i + 1]))
        elif i < n and pattern[i] == 0x5D:  # ']'
            break
        elif i >= n:  # unterminated: the class keeps what it listed
            i -= 1
            break
        elif n - i >= 3 and pattern[i + 1] == 0x2D:  # 'a-z'
            start, end = sorted((pattern[i], pattern[i + 2]))
            items.append(re.escape(bytes([start])) + b"-" + re.escape(bytes([end])))
            i += 2
        else:
            items.append(re.escape(pattern[i : i + 1]))
        i += 1
    if not items:
        out.append(b"(?s:.)" if negate else _NOTHING)
    else:
        out.append(b"[" + (b"^" if negate else b"") + b"".join(items) + b"]")
    return i


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    return compile_glob(pattern, nocase).fullmatch(subject) is not None
