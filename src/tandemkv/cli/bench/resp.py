"""RESP encoding and a small blocking client for control commands (INFO, CONFIG, FLUSHALL).

The load itself goes through `loadgen`; this client is for the coordinating process, which
polls INFO every 100 ms while the workers run.
"""

from __future__ import annotations

import socket

import hiredis


def encode_command(*args: bytes | str | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(parts)


class ControlClient:
    """Blocking request/reply client; error replies come back as hiredis.ReplyError values."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def call(self, *args: bytes | str | int) -> object:
        """Send one command and return its decoded reply (bytes, int, list, None, ReplyError)."""
        self.sock.sendall(encode_command(*args))
        return self.read_reply()

    def read_reply(self) -> object:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)

    def info(self, section: str = "") -> dict[str, str] | None:
        """INFO [section] as a flat dict of fields; None when the server rejects INFO."""
        reply = self.call("INFO", section) if section else self.call("INFO")
        if not isinstance(reply, bytes):
            return None
        return parse_info(reply)

    def close(self) -> None:
        self.sock.close()


def parse_info(text: bytes) -> dict[str, str]:
    """`field:value` lines of an INFO reply; section headers and blank lines are skipped."""
    fields: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def is_error(reply: object) -> bool:
    return isinstance(reply, hiredis.ReplyError)
