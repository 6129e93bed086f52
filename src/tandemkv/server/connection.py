"""One client connection: bytes -> parser -> dispatcher -> replies -> one write.

Every complete command in a read is executed and all their replies leave in one write
(pipelining). Messages pushed to this client while its own commands run (pub/sub, keyspace
events) join the same write, in order. Backpressure: when the transport's buffer passes its
high-water mark the connection stops reading until the client catches up, so a client that
does not read its replies cannot grow the server's memory; pub/sub messages are bounded by
client-output-buffer-limit instead (the client is disconnected past the limit).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tandemkv.commands import Session, execute
from tandemkv.protocol import RequestParser, encode2, encode3

if TYPE_CHECKING:
    from tandemkv.server.app import Server

log = logging.getLogger("tandemkv")


class Connection(asyncio.Protocol):
    __slots__ = ("_batch", "over_soft_since", "parser", "server", "session", "transport")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.parser: RequestParser | None = None
        self._batch: list[bytes] | None = None  # replies of the read being processed
        self.over_soft_since = 0.0

    # ------------------------------------------------------------ asyncio hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        instance = server.instance
        instance.stats.total_connections_received += 1
        if len(instance.sessions) >= instance.config.int("maxclients"):
            instance.stats.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        sock = transport.get_extra_info("socket")
        self.session = instance.new_session(
            addr=_format_addr(peer),
            laddr=_format_addr(local),
            fd=sock.fileno() if sock is not None else -1,
            write=self.push,
            close=self.close,
            output_buffer_size=transport.get_write_buffer_size,
        )
        config = instance.config
        self.parser = RequestParser(
            max_bulk_len=config.int("proto-max-bulk-len"),
            max_query_len=config.int("client-query-buffer-limit"),
        )

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closing:
            return
        parser = self.parser
        assert parser is not None
        commands = parser.parse(data)
        out: list[bytes] = []
        self._batch = out
        try:
            for argv in commands:
                reply = execute(session, argv)
                if session.resp == 3:
                    encode3(reply, out)
                else:
                    encode2(reply, out)
                if session.closing:
                    break
        finally:
            self._batch = None
        error = parser.error
        if error is not None and not session.closing:
            session.closing = True
            if error.reply:
                out.append(b"-ERR " + error.message.encode() + b"\r\n")
            log.warning("Protocol error from client id=%d addr=%s: %s", session.id, session.addr, error.message)
        transport = self.transport
        assert transport is not None
        if out:
            transport.write(b"".join(out))
        if session.closing:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.server.instance.drop_session(self.session)
            self.session.closing = True

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # -------------------------------------------------------- session callbacks

    def push(self, data: bytes) -> None:
        """Out-of-band data for this client (pub/sub); enforces client-output-buffer-limit."""
        if self._batch is not None:
            self._batch.append(data)
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        session = self.session
        if session is not None and session.subscriptions:
            self.server.check_output_limit(self, transport.get_write_buffer_size())

    def close(self) -> None:
        """Close as soon as pending replies are written (CLIENT KILL, SHUTDOWN)."""
        if self.session is not None:
            self.session.closing = True
        if self._batch is None and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, discarding unsent data (output buffer limit)."""
        if self.session is not None:
            self.session.closing = True
        if self.transport is not None:
            self.transport.abort()


def _format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr or "")
