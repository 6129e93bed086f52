"""RESP request parser: feed bytes, get commands. No I/O.

Rules (Redis 7.0 networking.c, checked against redis-server in tests/test_protocol_diff.py):
- A request starting with '*' is a multibulk: `*<count>\\r\\n` then `count` times
  `$<len>\\r\\n<len bytes>` and two more bytes that are skipped unchecked. Counts <= 0 are
  ignored. Anything else is an inline request: one line split like a shell (quotes, escapes).
- Errors (reply text, then the connection closes): invalid multibulk length (not a strict
  integer, or > INT_MAX), invalid bulk length (< 0 or > proto-max-bulk-len), expected '$', too
  big mbulk/bulk count string or inline request (no line end within 64 KB), unbalanced quotes.
  A query buffer over client-query-buffer-limit closes the connection without a reply.
- Commands before an error in the same input are returned first; the error comes after them.

The fast path hands a whole read to hiredis when nothing is pending; if hiredis sees anything
unusual (inline text, a partial command, non-bulk elements, an error), the read is parsed again
by the pure-Python parser, which is the authority. Nothing is executed before parsing ends, so
parsing twice is invisible to clients.
"""

from __future__ import annotations

import hiredis

from tandemkv.errors import ProtocolError

INLINE_MAX_BYTES = 64 * 1024
INT_MAX = 2**31 - 1
_STAR = 0x2A
_DOLLAR = 0x24
_SENTINEL = b"+tandemkv:clean\r\n"
_SENTINEL_VALUE = b"tandemkv:clean"


def string2ll(raw: bytes | bytearray) -> int | None:
    """Redis's strict integer parse: optional '-', no '+', no leading zeros, no spaces."""
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


class RequestParser:
    """Incremental request parser for one connection.

    `parse(data)` returns the complete commands in the input so far (each a list of bytes, the
    name first). When the input contains an error, the commands before it are returned and the
    error is kept in `error`; the caller replies to those commands, then reports the error.
    """

    __slots__ = ("_buf", "_need", "_reader", "error", "max_bulk_len", "max_query_len")

    def __init__(self, max_bulk_len: int = 512 * 1024**2, max_query_len: int = 1024**3) -> None:
        self._reader = hiredis.Reader()
        self._buf = bytearray()
        self._need = 0  # bytes the buffer must hold before a parse can make progress
        self.error: ProtocolError | None = None
        self.max_bulk_len = max_bulk_len
        self.max_query_len = max_query_len

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def parse(self, data: bytes) -> list[list[bytes]]:
        if self.error is not None:
            return []
        if not self._buf and data[:1] == b"*":
            commands = self._parse_hiredis(data)
            if commands is not None:
                return commands
        buf = self._buf
        buf += data
        if len(buf) > self.max_query_len:
            self.error = ProtocolError("Closing client that reached max query buffer length", reply=False)
            buf.clear()
            return []
        if len(buf) < self._need:
            return []
        return self._parse_python()

    def _parse_hiredis(self, data: bytes) -> list[list[bytes]] | None:
        """All commands of `data` if hiredis parses it cleanly and completely, else None."""
        reader = self._reader
        reader.feed(data)
        commands = []
        try:
            while (command := reader.gets()) is not False:
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
                # hiredis does not say whether it holds half an array; a status line fed
                # after the input comes straight back only from a reader in a clean state.
                reader.feed(_SENTINEL)
                if reader.gets() == _SENTINEL_VALUE:
                    return commands
        except hiredis.ProtocolError:
            pass
        self._reader = hiredis.Reader()
        return None

    def _parse_python(self) -> list[list[bytes]]:
        buf = self._buf
        end = len(buf)
        pos = 0
        commands: list[list[bytes]] = []
        self._need = 0
        try:
            while pos < end:
                if buf[pos] == _STAR:
                    parsed = self._multibulk(buf, pos, end)
                else:
                    parsed = self._inline(buf, pos, end)
                if parsed is None:
                    break
                command, pos = parsed
                if command:
                    commands.append(command)
        except ProtocolError as exc:
            self.error = exc
            buf.clear()
            return commands
        del buf[:pos]
        if self._need:
            self._need -= pos
        return commands

    def _multibulk(self, buf: bytearray, pos: int, end: int) -> tuple[list[bytes], int] | None:
        newline = buf.find(b"\r", pos, end)
        if newline < 0:
            if end - pos > INLINE_MAX_BYTES:
                raise ProtocolError("Protocol error: too big mbulk count string")
            return None
        if newline + 1 >= end:
            return None
        count = string2ll(buf[pos + 1 : newline])
        if count is None or count > INT_MAX:
            raise ProtocolError("Protocol error: invalid multibulk length")
        pos = newline + 2
        if count <= 0:
            return [], pos
        args: list[bytes] = []
        for _ in range(count):
            if pos >= end:
                return None
            newline = buf.find(b"\r", pos, end)
            if newline < 0:
                if end - pos > INLINE_MAX_BYTES:
                    raise ProtocolError("Protocol error: too big bulk count string")
                return None
            if newline + 1 >= end:
                return None
            if buf[pos] != _DOLLAR:
                got = chr(buf[pos])
                raise ProtocolError(f"Protocol error: expected '$', got '{got}'")
            length = string2ll(buf[pos + 1 : newline])
            if length is None or length < 0 or length > self.max_bulk_len:
                raise ProtocolError("Protocol error: invalid bulk length")
            start = newline + 2
            stop = start + length
            if stop + 2 > end:
                self._need = stop + 2
                return None
            args.append(bytes(buf[start:stop]))
            pos = stop + 2
        return args, pos

    def _inline(self, buf: bytearray, pos: int, end: int) -> tuple[list[bytes], int] | None:
        newline = buf.find(b"\n", pos, end)
        if newline < 0:
            if end - pos > INLINE_MAX_BYTES:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        stop = newline - 1 if newline > pos and buf[newline - 1] == 0x0D else newline
        args = split_args(bytes(buf[pos:stop]))
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        return args, newline + 1


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \n\r\t\v\f\0"


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: words, "double quotes" with escapes, 'single quotes'.

    Returns None for unbalanced quotes (or a closing quote not followed by a space).
    """
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        current = bytearray()
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    return None
                ch = line[i]
                if (
                    ch == 0x5C
                    and i + 3 < n
                    and line[i + 1] == ord("x")
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif ch == 0x5C and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif ch == 0x22:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(ch)
            elif in_sq:
                if i >= n:
                    return None
                ch = line[i]
                if ch == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    current.append(0x27)
                elif ch == 0x27:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(ch)
            else:
                if i >= n:
                    break
                ch = line[i]
                if ch in _SPACE:
                    break
                if ch == 0x22:
                    in_dq = True
                elif ch == 0x27:
                    in_sq = True
                else:
                    current.append(ch)
            i += 1
        args.append(bytes(current))
