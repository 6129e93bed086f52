"""RESP request parser: feed bytes, get commands. No I/O.

Rules (Redis 7.0 networking.c processMultibulkBuffer / processInlineBuffer, checked against
redis-server 7.0.15 in tests/test_protocol_diff.py):
- A request starting with '*' is a multibulk: `*<count>\\r\\n`, then `count` times
  `$<len>\\r\\n<len bytes>` and two more bytes that are skipped unchecked. A header line ends at
  its first '\\r' and the byte after that is skipped unchecked too. Counts <= 0 are ignored.
- Anything else is an inline request: one line up to '\\n' (a '\\r' before it is dropped), split
  like a shell by `split_args`; a line with no words is ignored.
- Redis looks for line ends with strchr(), which stops at a NUL byte: a NUL before the line end
  hides it, and the request waits for more input (until the 64 KB limit below).
- Errors (reply text, then the connection closes): invalid multibulk length (not a strict
  integer, or > INT_MAX), invalid bulk length (< 0 or > proto-max-bulk-len), expected '$',
  too big mbulk count string / bulk count string / inline request (no line end within 64 KB),
  unbalanced quotes. Unparsed input over client-query-buffer-limit closes the connection
  without a reply.
- Commands before an error in the same input are returned first; the error comes after them.
- Before its client authenticates (`unauthenticated`), a connection may send at most 10
  arguments of at most 16384 bytes per request, as in Redis.
- Parsing is incremental, as in Redis: the finished arguments of a multibulk leave the buffer,
  so a command arriving in many pieces is parsed once and the buffer holds only unparsed bytes.

Fast path: at a request boundary, a read starting with '*' goes to hiredis. hiredis accepts
more than Redis does (RESP3 types, status or verbatim elements...), so its commands are trusted
only as far as they provably match the bytes (see `_exact_prefix`); the pure-Python parser is
the authority and takes over at the first byte hiredis did not read exactly as Redis would: an
inline request, an error, a partial command at the end of the read.
"""

from __future__ import annotations

import re

import hiredis

from tandemkv.errors import ProtocolError

INLINE_MAX_BYTES = 64 * 1024  # PROTO_INLINE_MAX_SIZE
INT_MAX = 2**31 - 1
UNAUTHENTICATED_MAX_ARGS = 10  # processMultibulkBuffer's limits before AUTH
UNAUTHENTICATED_MAX_BULK = 16384
BIG_ARG_BYTES = 32 * 1024  # arguments this large are copied once, through a memoryview
READER_KEEP_BYTES = 16 * 1024  # a hiredis reader that parsed a larger read is not kept

_STAR = 0x2A
_DOLLAR = 0x24
_CR = 0x0D
_INCOMPLETE = object()  # what hiredis returns for "need more data" ("#f" is read as False)
_SENTINEL = b"+tandemkv:clean\r\n"
_SENTINEL_VALUE = b"tandemkv:clean"


def string2ll(raw: bytes | bytearray) -> int | None:
    """Redis's strict integer parse: optional '-', no '+', no leading zeros, no spaces.

    Returns the value, or None when `raw` is not such an integer or does not fit 64 bits.
    """
    n = len(raw)
    if n == 0 or n > 20:
        return None
    if n == 1 and raw[0] == 0x30:
        return 0
    digits = raw[1:] if raw[0] == 0x2D else raw
    if not digits or not digits.isdigit() or digits[0] == 0x30:
        return None
    value = int(digits)
    if raw[0] == 0x2D:
        value = -value
        return value if value >= -(2**63) else None
    return value if value < 2**63 else None


def _line_end(buf: bytearray, pos: int, end: int, terminator: bytes) -> int:
    """Index of the line end Redis's strchr() finds from `pos`, or -1 (none yet, or a NUL first)."""
    found = buf.find(terminator, pos, end)
    if found > pos and buf.find(b"\0", pos, found) >= 0:
        return -1
    return found


# hiredis allocates an array as soon as it reads its count, so `*2147483647` would make it
# allocate (and, on the fall-back, free) gigabytes. Reads with a count of 10,000 or more -- or
# anything that looks like one inside a payload -- go to the Python parser, which allocates
# only what arrives. Such commands cannot complete within one read of a few hundred KB anyway.
_BIG_COUNT = re.compile(rb"\*[0-9]{5}")
# Tests switch this off to run every input through the pure-Python parser.
FAST_PATH = True


def _new_reader() -> hiredis.Reader:
    return hiredis.Reader(notEnoughData=_INCOMPLETE)


class RequestParser:
    """Incremental request parser for one connection.

    `parse(data)` returns the commands completed by `data` (each a list of bytes, the name
    first). When the input contains an error, the commands before it are returned and the error
    is kept in `error`; the caller replies to those commands, then reports the error. Once
    `error` is set, further input is ignored.
    """

    __slots__ = (
        "_args",
        "_buf",
        "_bulk_len",
        "_count",
        "_reader",
        "error",
        "max_bulk_len",
        "max_query_len",
        "unauthenticated",
    )

    def __init__(self, max_bulk_len: int = 512 * 1024**2, max_query_len: int = 1024**3) -> None:
        self._buf = bytearray()  # input not parsed yet
        self._args: list[bytes] = []  # finished arguments of the multibulk being read
        self._count = 0  # arguments that multibulk still needs (0: at a request boundary)
        self._bulk_len = -1  # length of the argument being read, -1 until its header is read
        self._reader: hiredis.Reader | None = None
        self.error: ProtocolError | None = None
        self.max_bulk_len = max_bulk_len
        self.max_query_len = max_query_len
        # Set by the connection while its client must still authenticate: requests are
        # limited to UNAUTHENTICATED_MAX_ARGS arguments of UNAUTHENTICATED_MAX_BULK bytes, and
        # parsed one at a time (`resume` reads the next), so the limits end with the AUTH.
        self.unauthenticated = False

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not parsed yet (the query buffer)."""
        return len(self._buf)

    def parse(self, data: bytes) -> list[list[bytes]]:
        """The commands completed by `data`; on an error, those before it (see `error`)."""
        if self.error is not None or not data:
            return []
        buf = self._buf
        if not buf and not self._count:
            if FAST_PATH and not self.unauthenticated and data[0] == _STAR and len(data) <= self.max_bulk_len and _BIG_COUNT.search(data) is None:
                return self._parse_fast(data)
            buf += data
            return self._parse_slow(handoff=False)
        buf += data
        if self._bulk_len >= 0 and len(buf) < self._bulk_len + 2:
            self._check_query_limit()
            return []
        return self._parse_slow(handoff=True)

    def resume(self) -> list[list[bytes]]:
        """The next commands already buffered (after one parsed while unauthenticated)."""
        if self.error is not None or not self._buf:
            return []
        return self._parse_slow(handoff=False)

    # ---------------------------------------------------------------- fast path

    def _parse_fast(self, data: bytes) -> list[list[bytes]]:
        """Commands of `data`, read by hiredis where that is provably exact, else by Python."""
        reader = self._reader
        if reader is None:
            reader = self._reader = _new_reader()
        reader.feed(data)
        commands = []
        clean = False
        try:
            while (command := reader.gets()) is not _INCOMPLETE:
                if command.__class__ is not list or not command:
                    break
                for arg in command:
                    if arg.__class__ is not bytes:
                        break
                else:
                    commands.append(command)
                    continue
                break
            else:
                # hiredis does not say whether it holds half a command; a status line fed
                # after the input comes straight back only from a reader in a clean state.
                reader.feed(_SENTINEL)
                clean = reader.gets() == _SENTINEL_VALUE
        except Exception:  # hiredis only accelerates: whatever it raises, Python decides
            pass
        if not clean or len(data) > READER_KEEP_BYTES:
            # A reader holding half a command is discarded; so is one that parsed a big read:
            # hiredis keeps its buffer's allocation until the next read, and an idle
            # connection must not hold on to its last pipeline.
            self._reader = None
        if clean and not (
            # Type bytes with which hiredis returns bytes or a list for what Redis reads
            # differently: status '+', verbatim '=' and big number '(' elements, set '~'
            # and attribute '|' replies. Without them every command is a plain multibulk.
            0x2B in data or 0x3D in data or 0x28 in data or 0x7E in data or 0x7C in data
        ):
            return commands
        exact, pos = _exact_prefix(data, commands)
        del commands[exact:]
        if pos < len(data):
            self._buf += memoryview(data)[pos:]
            commands += self._parse_slow(handoff=False)
        return commands

    # ---------------------------------------------------------------- Python parser

    def _parse_slow(self, handoff: bool) -> list[list[bytes]]:
        """Parse the buffer; with `handoff`, give the rest to the fast path once the request
        pending at entry is complete and the next one is a multibulk."""
        buf = self._buf
        end = len(buf)
        pos = 0
        commands: list[list[bytes]] = []
        try:
            while pos < end:
                if not self._count:
                    if buf[pos] != _STAR:
                        parsed = self._inline(buf, pos, end)
                        if parsed is None:
                            break
                        argv, pos = parsed
                        if argv:
                            commands.append(argv)
                            if self.unauthenticated:
                                break
                        continue
                    if (
                        handoff
                        and pos
                        and FAST_PATH
                        and end - pos <= self.max_bulk_len
                        and _BIG_COUNT.search(buf, pos) is None
                    ):
                        rest = bytes(buf[pos:])
                        buf.clear()
                        commands += self._parse_fast(rest)
                        return commands
                    header_end = self._multibulk_header(buf, pos, end)
                    if header_end < 0:
                        break
                    pos = header_end
                    if not self._count:
                        continue
                pos = self._bulks(buf, pos, end)
                if self._count:
                    break
                commands.append(self._args)
                self._args = []
                if self.unauthenticated:
                    break
        except ProtocolError as exc:
            self.error = exc
            self._reset()
            return commands
        del buf[:pos]
        self._check_query_limit()
        return commands

    def _multibulk_header(self, buf: bytearray, pos: int, end: int) -> int:
        """Read `*<count>\\r\\n` at `pos`; the index after it, or -1 if it is incomplete."""
        newline = _line_end(buf, pos, end, b"\r")
        if newline < 0:
            if end - pos > INLINE_MAX_BYTES:
                raise ProtocolError("Protocol error: too big mbulk count string")
            return -1
        if newline + 1 >= end:
            return -1
        count = string2ll(buf[pos + 1 : newline])
        if count is None or count > INT_MAX:
            raise ProtocolError("Protocol error: invalid multibulk length")
        if count > UNAUTHENTICATED_MAX_ARGS and self.unauthenticated:
            raise ProtocolError("Protocol error: unauthenticated multibulk length")
        if count > 0:
            self._count = count
        return newline + 2

    def _bulks(self, buf: bytearray, pos: int, end: int) -> int:
        """Read as many arguments of the current multibulk as the buffer holds; the new pos."""
        args = self._args
        while self._count:
            length = self._bulk_len
            if length < 0:
                newline = _line_end(buf, pos, end, b"\r")
                if newline < 0:
                    if end - pos > INLINE_MAX_BYTES:
                        raise ProtocolError("Protocol error: too big bulk count string")
                    return pos
                if newline + 1 >= end:
                    return pos
                if buf[pos] != _DOLLAR:
                    got = chr(buf[pos])
                    raise ProtocolError(f"Protocol error: expected '$', got '{got}'")
                parsed = string2ll(buf[pos + 1 : newline])
                if parsed is None or parsed < 0 or parsed > self.max_bulk_len:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if parsed > UNAUTHENTICATED_MAX_BULK and self.unauthenticated:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                length = self._bulk_len = parsed
                pos = newline + 2
            stop = pos + length
            if stop + 2 > end:
                return pos
            if length < BIG_ARG_BYTES:
                args.append(bytes(buf[pos:stop]))
            else:
                with memoryview(buf) as view:
                    args.append(view[pos:stop].tobytes())
            pos = stop + 2
            self._bulk_len = -1
            self._count -= 1
        return pos

    def _inline(self, buf: bytearray, pos: int, end: int) -> tuple[list[bytes], int] | None:
        """Read one inline line at `pos`: (its words, the index after it), or None if incomplete."""
        newline = _line_end(buf, pos, end, b"\n")
        if newline < 0:
            if end - pos > INLINE_MAX_BYTES:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        stop = newline - 1 if newline > pos and buf[newline - 1] == _CR else newline
        args = split_args(bytes(buf[pos:stop]))
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        return args, newline + 1

    def _check_query_limit(self) -> None:
        if len(self._buf) > self.max_query_len:
            self.error = ProtocolError("Closing client that reached max query buffer length", reply=False)
            self._reset()

    def _reset(self) -> None:
        self._buf.clear()
        self._args = []
        self._count = 0
        self._bulk_len = -1
        self._reader = None


def _exact_prefix(data: bytes, commands: list[list[bytes]]) -> tuple[int, int]:
    """How many of hiredis's `commands` were read from `data` exactly as Redis reads them, and
    the offset just after them.

    hiredis only parses strict lengths ending in CRLF, so a command that is a multibulk of bulk
    strings has exactly the canonical encoding's length and header positions; the walk stops at
    the first command whose type bytes differ from that.
    """
    pos = 0
    for index, command in enumerate(commands):
        if data[pos] != _STAR:
            return index, pos
        cursor = pos + len(b"%d" % len(command)) + 3
        for arg in command:
            if data[cursor] != _DOLLAR:
                return index, pos
            size = len(arg)
            cursor += size + (6 if size < 10 else 7 if size < 100 else len(b"%d" % size) + 5)
        pos = cursor
    return len(commands), pos


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_BLANKS = b" \t\n\v\f\r"  # C isspace(): skipped between words, required after a closing quote
_WORD_ENDS = b" \n\r\t"  # what ends an unquoted word (sdssplitargs: not \v or \f)
# A word without quotes: it starts after C isspace() blanks and ends at a _WORD_ENDS byte.
_UNQUOTED_WORD = re.compile(rb"[^ \t\n\v\f\r][^ \n\r\t]*")
_DQ = 0x22
_SQ = 0x27
_BACKSLASH = 0x5C


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: words, "double quotes" with escapes, 'single quotes'.

    `line` is read as a C string (up to its first NUL). Returns the words, or None for
    unbalanced quotes or a closing quote not followed by a space.
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    if b'"' not in line and b"'" not in line:
        return _UNQUOTED_WORD.findall(line)
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote = 0
        while True:
            if i >= n:
                if quote:
                    return None
                break
            ch = line[i]
            if quote == _DQ:
                if ch == _BACKSLASH and i + 1 < n:
                    nxt = line[i + 1]
                    if nxt == 0x78 and i + 3 < n and line[i + 2] in _HEX and line[i + 3] in _HEX:
                        current.append(int(line[i + 2 : i + 4], 16))
                        i += 4
                    else:
                        current.append(_ESCAPES.get(nxt, nxt))
                        i += 2
                    continue
                if ch == _DQ:
                    if i + 1 < n and line[i + 1] not in _BLANKS:
                        return None
                    i += 1
                    break
            elif quote == _SQ:
                if ch == _BACKSLASH and i + 1 < n and line[i + 1] == _SQ:
                    current.append(_SQ)
                    i += 2
                    continue
                if ch == _SQ:
                    if i + 1 < n and line[i + 1] not in _BLANKS:
                        return None
                    i += 1
                    break
            elif ch in _WORD_ENDS:
                break
            elif ch in (_DQ, _SQ):
                quote = ch
                i += 1
                continue
            current.append(ch)
            i += 1
        args.append(bytes(current))
