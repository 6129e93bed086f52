"""A raw RESP client for tests: sends commands, returns each reply as its exact bytes.

Differential tests compare these bytes between tandemkv and redis-server, so a difference in
type, order or error wording fails the test.
"""

from __future__ import annotations

import socket


def encode_command(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(parts)


class RawClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, *args: bytes | str | int) -> bytes:
        """Send one command, return its whole reply as raw bytes."""
        self.send(encode_command(*args))
        return self.read_reply()

    def read_reply(self) -> bytes:
        end = self._reply_end(0)
        reply, self.buf = self.buf[:end], self.buf[end:]
        return reply

    def read_until_closed(self) -> bytes:
        """Everything until the server closes the connection (b'' if it sends nothing)."""
        chunks = [self.buf]
        self.buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def _fill(self, size: int) -> None:
        while len(self.buf) < size:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by server")
            self.buf += data

    def _line_end(self, pos: int) -> int:
        while True:
            idx = self.buf.find(b"\r\n", pos)
            if idx >= 0:
                return idx
            self._fill(len(self.buf) + 1)

    def _reply_end(self, pos: int) -> int:
        self._fill(pos + 1)
        kind = self.buf[pos : pos + 1]
        line_end = self._line_end(pos)
        header = self.buf[pos + 1 : line_end]
        after = line_end + 2
        if kind in b"+-:_,#(":
            return after
        if kind in b"$=!":
            length = int(header)
            if length < 0:
                return after
            self._fill(after + length + 2)
            return after + length + 2
        if kind in b"*~>%|":
            count = int(header)
            if count < 0:
                return after
            if kind in b"%|":
                count *= 2
            for _ in range(count):
                after = self._reply_end(after)
            return after
        raise ValueError(f"bad reply type {kind!r} in {self.buf[pos:pos + 50]!r}")
