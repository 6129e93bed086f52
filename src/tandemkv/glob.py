"""Redis glob patterns (util.c stringmatchlen), compiled once to a regular expression.

KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET all match with these rules, which differ from
Python's fnmatch:

- `*` any run of bytes, `?` one byte, `\\x` the byte x; a trailing `\\` is a literal backslash.
- `[...]` a class: `^` first negates it, `\\x` is x, `a-z` a range whose ends may come in
  either order (`[z-a]`), `]` right after `[` or `[^` closes an empty class; an unterminated
  class keeps what it listed, so `[ab` is `[ab]`, `[^` matches any byte and `[` nothing.
- An empty subject matches only the empty pattern: stringmatchlen's loop never runs, so even
  `*` fails on it (KEYS and SCAN special-case the exact pattern `*` before matching).
- Bytes compare as C `char`, which is signed on the platforms Redis ships for, so a range with
  one end >= 0x80 runs through the negative numbers: `[a-\\xff]` holds 0x00-0x61 and 0xff.
- With `nocase` (CONFIG GET), bytes compare through ASCII `tolower`, except an escaped byte
  inside a class, which Redis compares exactly.

A class is compiled by asking, for each of the 256 bytes, whether Redis's class loop would
accept it; that reproduces every quirk above without reasoning about regex class syntax.
"""

from __future__ import annotations

import re
from functools import lru_cache

_NOTHING = b"(?!)"  # an empty class matches no byte
_ANY = b"."  # compiled with DOTALL
_BACKSLASH, _STAR, _QUESTION, _OPEN, _CLOSE, _CARET, _DASH = b"\\*?[]^-"


@lru_cache(maxsize=4096)
def compile_glob(pattern: bytes, nocase: bool = False) -> re.Pattern[bytes]:
    """The pattern as a regex to use with `fullmatch`; cached, so each pattern compiles once.

    Matching costs O(pattern x subject) at worst, as Redis's since 7.0.9 (CVE-2022-36021): a
    naive `.*a.*a.*b` backtracks exponentially. Between two stars every token matches exactly
    one byte, so the pattern is segments S0*S1*...*Sk of fixed length; the middle ones are
    placed at their leftmost occurrence and that placement is final (an atomic group), since
    a later placement only leaves less room for the rest -- the same argument as Redis's
    skipLongerMatches.
    """
    segments: list[list[bytes]] = [[]]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == _STAR:  # a run of stars is one star
            while i + 1 < n and pattern[i + 1] == _STAR:
                i += 1
            segments.append([])
        elif ch == _QUESTION:
            segments[-1].append(_ANY)
        elif ch == _OPEN:
            i = _compile_class(pattern, i + 1, nocase, segments[-1])
        else:
            if ch == _BACKSLASH and i + 1 < n:
                i += 1
            segments[-1].append(_literal(pattern[i], nocase))
        i += 1
    # Lookahead: a non-empty pattern never matches the empty subject (see the module doc).
    out: list[bytes] = [b"(?=.)"] if pattern else []
    out += segments[0]
    if len(segments) > 1:
        for middle in segments[1:-1]:
            out.append(b"(?>.*?" + b"".join(middle) + b")")
        out.append(b".*")
        out += segments[-1]
    return re.compile(b"".join(out), re.DOTALL)


def _literal(byte: int, nocase: bool) -> bytes:
    lower, upper = _tolower(byte), _toupper(byte)
    if nocase and lower != upper:
        return b"[" + bytes([lower, upper]) + b"]"
    return re.escape(bytes([byte]))


def _compile_class(pattern: bytes, i: int, nocase: bool, out: list[bytes]) -> int:
    """Translate a class starting after '['; returns the index of its last byte."""
    n = len(pattern)
    negate = i < n and pattern[i] == _CARET
    if negate:
        i += 1
    exact: list[int] = []  # escaped bytes: compared exactly even with nocase
    singles: list[int] = []
    ranges: list[tuple[int, int]] = []  # (start, end) as signed chars, start <= end
    while True:
        if i < n and pattern[i] == _BACKSLASH and n - i >= 2:
            i += 1
            exact.append(pattern[i])
        elif i < n and pattern[i] == _CLOSE:
            break
        elif i >= n:  # unterminated: the class keeps what it listed
            i -= 1
            break
        elif n - i >= 3 and pattern[i + 1] == _DASH:
            start, end = sorted((_signed(pattern[i]), _signed(pattern[i + 2])))
            ranges.append((start, end))
            i += 2
        else:
            singles.append(pattern[i])
        i += 1
    members = bytes(
        byte
        for byte in range(256)
        if _class_accepts(byte, exact, singles, ranges, nocase) != negate
    )
    if not members:
        out.append(_NOTHING)
    elif len(members) == 256:
        out.append(_ANY)
    else:
        out.append(b"[" + b"".join(re.escape(bytes([byte])) for byte in members) + b"]")
    return i


def _class_accepts(
    byte: int, exact: list[int], singles: list[int], ranges: list[tuple[int, int]], nocase: bool
) -> bool:
    """Whether Redis's class loop sets `match` for the subject byte `byte`."""
    if byte in exact:
        return True
    if nocase:
        lowered = _tolower(byte)
        if any(_tolower(single) == lowered for single in singles):
            return True
        c = _signed(lowered)
        return any(_signed(_tolower(start & 0xFF)) <= c <= _signed(_tolower(end & 0xFF)) for start, end in ranges)
    if byte in singles:
        return True
    c = _signed(byte)
    return any(start <= c <= end for start, end in ranges)


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 0x80 else byte


def _tolower(byte: int) -> int:
    return byte + 32 if 0x41 <= byte <= 0x5A else byte


def _toupper(byte: int) -> int:
    return byte - 32 if 0x61 <= byte <= 0x7A else byte


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    return compile_glob(pattern, nocase).fullmatch(subject) is not None
