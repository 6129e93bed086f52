"""Serving clients while a script is busy (Redis's processEventsWhileBlocked).

# Why the server polls sockets itself

A script runs inside one callback of the event loop, and an asyncio loop (uvloop's too) cannot
be re-entered from inside a callback. Redis's rules still need other clients answered while a
script runs past busy-reply-threshold: -BUSY to most commands, SCRIPT KILL / FUNCTION KILL /
FUNCTION STATS / SHUTDOWN NOSAVE obeyed. So the script's count hook (scripting/runtime.py) calls
`instance.while_busy(caller)`, which is a `BusyPoller` of this server, and the poller does what
the loop would have done for those clients, synchronously:

- it asks the kernel which client sockets have input (`select.poll` with a zero timeout on the
  connections' file descriptors: no fd-number limit, and it works under uvloop and asyncio
  alike, since neither is running while the script runs);
- it reads what is there with `os.read` and hands the bytes to the connection's own
  `data_received`, so parsing, pipelining, MULTI state, blocked clients and reply encoding take
  the usual path; the dispatcher answers -BUSY to any command without allow_busy;
- replies go out through `transport.write`, which writes to the socket at once when it is
  writable (what does not fit stays buffered in the transport until the loop runs again).

TLS connections are not polled (their bytes must go through the TLS layer, which lives in the
loop's transport): they wait for the script, as do new connections to the TLS port. The
script's caller is not polled: its further input waits for the script (Redis protects
that client). A connection whose socket is at end of file or in error is not polled again; the
loop notices the close itself once the script is over. Connections that stopped reading for
backpressure stay unread, as they would in the loop.

New connections are accepted too (redis-cli SCRIPT KILL from a fresh connection is how an
operator stops a script): the poller accepts from the listening sockets and gives the new
Connection a `BusyTransport`, a minimal synchronous transport over the accepted socket. Once
the script is over (a call_soon callback, which runs when the loop runs again) the socket is
handed to the loop (`connect_accepted_socket`), and the same Connection and Session carry on
with the loop's transport; output the BusyTransport could not write yet goes first.

The poll runs at most every BUSY_POLL_INTERVAL_S of script time, so a busy script spends a
negligible share of its time polling; scripts that finish within busy-reply-threshold never
reach the poller at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import time
from typing import TYPE_CHECKING, Any

from tandemkv.commands import Session

if TYPE_CHECKING:
    from tandemkv.server.app import Server

from tandemkv.server.connection import Connection

log = logging.getLogger("tandemkv")

BUSY_POLL_INTERVAL_S = 0.005  # at most one poll of the clients per this much script time
READ_BYTES = 65536  # read per connection per poll, as the loop's reads


class BusyPoller:
    """`instance.while_busy` of a server: serve the other clients once, if the last poll is
    older than BUSY_POLL_INTERVAL_S."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._next_poll_s = 0.0

    def __call__(self, caller: Session) -> None:
        now_s = time.monotonic()
        if now_s < self._next_poll_s:
            return
        self._next_poll_s = now_s + BUSY_POLL_INTERVAL_S
        self.poll(caller)

    def poll(self, caller: Session) -> None:
        """Feed every readable client but `caller` what it sent."""
        by_fd: dict[int, Connection] = {}
        poller = select.poll()
        for conn in self.server.connections:
            session = conn.session
            transport = conn.transport
            if (
                session is None
                or session is caller
                or session.closing
                or conn.peer_closed
                or transport is None
                or transport.is_closing()
                or not transport.is_reading()
                or session.fd < 0
                or transport.get_extra_info("ssl_object") is not None
            ):
                continue
            by_fd[session.fd] = conn
            poller.register(session.fd, select.POLLIN)
        listeners = self._listening_fds()
        for fd in listeners:
            poller.register(fd, select.POLLIN)
        for fd, _events in poller.poll(0):
            if fd in listeners:
                self._accept(fd)
                continue
            conn = by_fd[fd]
            try:
                data = os.read(fd, READ_BYTES)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # closed or reset: the loop will see it too once the script is over
                conn.peer_closed = True
                continue
            conn.data_received(data)

    def _listening_fds(self) -> set[int]:
        listener = self.server.listener
        return {sock.fileno() for sock in listener.sockets} if listener is not None else set()

    def _accept(self, listening_fd: int) -> None:
        """Accept one waiting connection and serve it through a BusyTransport until the loop
        can take it over."""
        listening = socket.socket(fileno=os.dup(listening_fd))
        try:
            listening.setblocking(False)
            sock, _address = listening.accept()
        except OSError:  # nothing waiting after all, or the peer already gave up
            return
        finally:
            listening.close()
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(self.server)
        transport = BusyTransport(sock)
        conn.connection_made(transport)
        loop = self.server.loop
        assert loop is not None
        loop.call_soon(self._hand_over, conn, transport)

    def _hand_over(self, conn: Connection, transport: BusyTransport) -> None:
        """After the script: the loop takes the socket over, or it is closed if the client
        left (QUIT, end of file) meanwhile."""
        if transport.closing or conn.peer_closed:
            transport.flush()
            transport.sock.close()
            conn.connection_lost(None)
            return
        loop = self.server.loop
        assert loop is not None
        task = loop.create_task(loop.connect_accepted_socket(lambda: conn, transport.sock))
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("Could not hand a connection accepted during a busy script to the loop: %s", task.exception())


class BusyTransport(asyncio.Transport):
    """A connection's transport while a busy script holds the loop: writes go straight to the
    socket, what does not fit waits in `unsent` for the loop's transport (Connection's
    connection_made takes it). Only what Connection uses is implemented."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.unsent = bytearray()
        self.closing = False
        self._extra = {"peername": _peer(sock), "sockname": sock.getsockname(), "socket": sock}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing:
            return
        self.unsent += data
        self.flush()

    def flush(self) -> None:
        """Write what the socket takes now."""
        try:
            while self.unsent:
                sent = self.sock.send(self.unsent)
                del self.unsent[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.unsent.clear()
            self.closing = True

    def get_write_buffer_size(self) -> int:
        return len(self.unsent)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.unsent.clear()
        self.closing = True

    def is_reading(self) -> bool:
        return not self.closing

    def pause_reading(self) -> None:
        """Nothing to pause: the poller reads this socket only while a script is busy."""

    def resume_reading(self) -> None:
        """See pause_reading."""


def _peer(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None
