"""One client connection: bytes -> parser -> dispatcher -> replies -> one write.

Every complete command in a read is executed and all their replies leave in one write
(pipelining). Messages pushed to this client while its own commands run (pub/sub, keyspace
events) join the same write, in order; messages pushed at other times (another client's
PUBLISH, the expiry timer) are gathered and written once per loop iteration, so a burst of
events costs one write per subscriber rather than one per message.

Blocking (commands/blocking.py): a command that waits leaves this connection parked: the
commands after it in the pipeline, and any that arrive later, wait in `_after_block` while the
connection keeps reading (so a disconnect is noticed at once); a timer answers at the timeout.
`wake` writes the reply and runs the waiting commands on the next loop iteration.

Backpressure: when the transport's buffer passes its high-water mark the connection stops
reading until the client catches up, and the commands of the current read that have not run
yet wait too (replies leave in chunks of OUTPUT_CHUNK_BYTES), so a client that does not read
its replies cannot grow the server's memory; pub/sub messages are bounded by
client-output-buffer-limit instead (the client is disconnected past the limit, pushes still
waiting for their write included).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tandemkv.commands import Session, execute
from tandemkv.commands.blocking import BLOCKED
from tandemkv.commands.clients import client_info_line
from tandemkv.commands.pausing import Replay
from tandemkv.commands.session import reply_dropped
from tandemkv.config import VERBOSE
from tandemkv.protocol import Error, Frames, RequestParser, encode2, encode3

if TYPE_CHECKING:
    from tandemkv.server.app import Server

log = logging.getLogger("tandemkv")

# The size of pending replies is summed every this many pieces (a reply is 1-3 pieces, more for
# arrays): exact enough to bound a chunk to about OUTPUT_CHUNK_BYTES plus a few replies.
CHUNK_CHECK_PIECES = 32
OUTPUT_CHUNK_BYTES = 1024 * 1024  # replies written at once while running one read's commands


class Connection(asyncio.Protocol):
    __slots__ = (
        "_after_block",
        "_batch",
        "_block_timer",
        "_pending",
        "_pending_bytes",
        "_stalled",
        "_writing_paused",
        "over_soft_since",
        "parser",
        "peer_closed",
        "server",
        "session",
        "transport",
    )

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.parser: RequestParser | None = None
        self._batch: list[bytes] | None = None  # replies of the read being processed
        self._pending: list[bytes] = []  # pushes waiting for the end of this loop iteration
        self._pending_bytes = 0
        self._stalled: list[list[bytes]] | None = None  # parsed, waiting for the client to read
        self._writing_paused = False
        self.over_soft_since = 0.0
        self._after_block: list[list[bytes]] | None = None  # commands behind a blocked one
        self._block_timer: asyncio.TimerHandle | None = None
        self.peer_closed = False  # end of file seen by the busy-script poller (server/busy.py)

    # ------------------------------------------------------------ asyncio hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.session is not None:  # accepted during a busy script: the loop takes over
            self._take_over(transport)  # type: ignore[arg-type]
            return
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
        if instance.config["protected-mode"] and instance.auth_not_required and not _is_loopback(peer):
            instance.stats.rejected_connections += 1
            transport.write(PROTECTED_MODE_DENIED)
            transport.close()
            return
        if log.isEnabledFor(VERBOSE):
            log.log(VERBOSE, "Accepted %s", _format_addr(peer))
        local = transport.get_extra_info("sockname")
        sock = transport.get_extra_info("socket")
        self.session = instance.new_session(
            addr=_format_addr(peer),
            laddr=_format_addr(local),
            fd=sock.fileno() if sock is not None else -1,
            write=self.push,
            close=self.close,
            output_buffer_size=transport.get_write_buffer_size,
            input_buffer_size=self._query_buffer_size,
            wake=self.wake,
        )
        server.connections.add(self)
        config = instance.config
        self.parser = RequestParser(
            max_bulk_len=config.int("proto-max-bulk-len"),
            max_query_len=config.int("client-query-buffer-limit"),
        )

    def _query_buffer_size(self) -> int:
        return 0 if self.parser is None else self.parser.pending_bytes

    def _take_over(self, transport: asyncio.Transport) -> None:
        """The loop's transport replaces the BusyTransport (server/busy.py) this connection
        was served through while a script was busy; output not written yet goes first."""
        busy = self.transport
        self.transport = transport
        session = self.session
        assert session is not None
        session.output_buffer_size = transport.get_write_buffer_size
        unsent = getattr(busy, "unsent", b"")
        if unsent:
            transport.write(bytes(unsent))
        if session.closing:
            transport.close()

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closing:
            return
        parser = self.parser
        assert parser is not None
        # One look at the clock per read: the client's last interaction (CLIENT LIST idle,
        # `timeout`) and the second its commands' accesses record (OBJECT IDLETIME).
        instance = self.server.instance
        now_ms = session.last_interaction_ms = instance.clock.now_ms()
        instance.memory.access.refresh(now_ms / 1000)
        if not session.authenticated and instance.acl.auth_required:
            self._run_unauthenticated(data)
            return
        if parser.unauthenticated:  # authenticated by another client's change (requirepass "")
            parser.unauthenticated = False
        commands = parser.parse(data)
        if self._after_block is not None:  # blocked, or woken and not resumed yet
            self._after_block += commands
            return
        if self._stalled:
            self._stalled += commands  # keep the order until resume_writing runs them
            return
        self._run(commands)

    def _run_unauthenticated(self, data: bytes) -> None:
        """Before AUTH, requests are parsed and run one at a time under Redis's size limits
        for unauthenticated clients; they end as soon as a command authenticates."""
        session = self.session
        parser = self.parser
        transport = self.transport
        assert session is not None and parser is not None and transport is not None
        acl = self.server.instance.acl
        parser.unauthenticated = True
        commands = parser.parse(data)
        while commands:
            self._run(commands)
            if session.closing or transport.is_closing() or self._stalled or self._after_block is not None:
                return
            parser.unauthenticated = not session.authenticated and acl.auth_required
            commands = parser.resume()
        if parser.error is not None and not session.closing:
            self._run([])

    def _run(self, commands: list[list[bytes]]) -> None:
        """Execute `commands` and write their replies, then the parser's error if any.

        Replies leave in writes of about OUTPUT_CHUNK_BYTES; when a write finds the client not
        reading (pause_writing), the commands not run yet wait in `_stalled` for
        resume_writing, so a pipeline of GETs for big values cannot pile up its replies.
        """
        session = self.session
        parser = self.parser
        transport = self.transport
        assert session is not None and parser is not None and transport is not None
        # Pushes made before these commands run go out before their replies.
        out = self._pending
        if out:
            self._pending = []
            self._pending_bytes = 0
        else:
            out = []
        self._batch = out
        done = size = 0
        counted = len(out)  # pieces of `out` already in `size` (pushes: not counted)
        blocked = False
        try:
            for argv in commands:
                done += 1
                try:
                    reply = execute(session, argv)
                    if reply is BLOCKED:
                        blocked = True
                        break
                    if session.reply_mode and _reply_dropped(session, reply):
                        pass  # CLIENT REPLY OFF / SKIP
                    elif session.resp == 3:
                        encode3(reply, out)
                    else:
                        encode2(reply, out)
                except Exception:
                    # A bug in one command must not cost the client its connection, nor the
                    # replies of the commands before it.
                    log.exception("Internal error in %r from client id=%d", argv[0][:64], session.id)
                    del out[counted:]
                    encode2(Error("ERR internal error"), out)
                if session.closing:
                    break
                if len(out) - counted < CHUNK_CHECK_PIECES:
                    continue
                size += sum(map(len, out[counted:]))
                counted = len(out)
                if size >= OUTPUT_CHUNK_BYTES:
                    self._send(b"".join(out))
                    out.clear()
                    counted = size = 0
                    if self._writing_paused or transport.is_closing():
                        break
        finally:
            self._batch = None
        if blocked:
            self._stalled = None
            self._park(commands[done:])
        elif done < len(commands) and not session.closing and not transport.is_closing():
            self._stalled = commands[done:]
        else:
            self._stalled = None
            error = parser.error
            if error is not None and not session.closing:
                session.closing = True
                if error.reply:
                    encode2(Error("ERR " + error.message), out)
                log.warning("Protocol error from client id=%d addr=%s: %s", session.id, session.addr, error.message)
        if out:
            self._send(b"".join(out))
        if session.closing:
            self._close_after_send()

    def _send(self, data: bytes) -> None:
        """Write to the client, or, under appendfsync always while writes wait for their
        fsync, hand the bytes to the group commit (server/appendonly.py) to keep the order."""
        appendonly = self.server.appendonly
        if appendonly.hold_replies and (appendonly.held or appendonly.aof.buffer):  # type: ignore[union-attr]
            appendonly.hold(self.transport, data)  # type: ignore[arg-type]
        else:
            self.transport.write(data)  # type: ignore[union-attr]

    def _close_after_send(self) -> None:
        appendonly = self.server.appendonly
        if appendonly.hold_replies and appendonly.held:
            appendonly.hold(self.transport, None)  # type: ignore[arg-type]
        else:
            self.transport.close()  # type: ignore[union-attr]

    def _park(self, rest: list[list[bytes]]) -> None:
        """The command just run blocked: hold the rest, arm its timeout."""
        self._after_block = rest
        session = self.session
        assert session is not None and session.blocked is not None
        waiter = session.blocked
        if waiter.deadline_ms:
            loop = self.server.loop
            assert loop is not None
            delay_s = max(0, waiter.deadline_ms - self.server.instance.clock.now_ms()) / 1000
            self._block_timer = loop.call_later(delay_s, self.server.instance.blocking.time_out, waiter)

    def wake(self, reply: object) -> None:
        """The blocked command's reply (served, timed out, unblocked): write it, then run the
        commands that waited behind it on the next loop iteration."""
        if self._block_timer is not None:
            self._block_timer.cancel()
            self._block_timer = None
        session = self.session
        transport = self.transport
        if session is None or transport is None or transport.is_closing():
            return
        if reply.__class__ is Replay:  # postponed by CLIENT PAUSE: run the command again
            self._after_block = [reply.argv, *(self._after_block or ())]
            loop = self.server.loop
            assert loop is not None
            loop.call_soon(self._resume_after_block)
            return
        out = self._take_pending()
        if not (session.reply_mode and reply_dropped(session)):  # OFF or SKIP drop a woken reply too
            if session.resp == 3:
                encode3(reply, out)
            else:
                encode2(reply, out)
        if out:
            self._send(b"".join(out))
        if self._after_block:
            loop = self.server.loop
            assert loop is not None
            loop.call_soon(self._resume_after_block)
        else:
            self._after_block = None

    def _resume_after_block(self) -> None:
        commands, self._after_block = self._after_block, None
        transport = self.transport
        if not commands or transport is None or transport.is_closing():
            return
        self.server.instance.memory.access.refresh()
        if self._stalled:
            self._stalled += commands
        else:
            self._run(commands)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._block_timer is not None:
            self._block_timer.cancel()
            self._block_timer = None
        session = self.session
        if session is not None and not session.closing and log.isEnabledFor(VERBOSE):
            if exc is None:  # the client hung up (Redis's readQueryFromClient)
                info = client_info_line(session, self.server.instance.clock.now_ms())
                log.log(VERBOSE, "Client closed connection %s", info)
            else:
                log.log(VERBOSE, "Reading from client: %s", exc)
        if self.session is not None:
            self.server.instance.drop_session(self.session)
            self.session.closing = True
        # Whatever still refers to this connection must not pin a half-received request.
        self.parser = None
        self._stalled = None

    def pause_writing(self) -> None:
        self._writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._stalled:
            # Commands held back since an earlier read: their accesses happen now.
            self.server.instance.memory.access.refresh()
            self._run(self._stalled)
        if not self._stalled and not self._writing_paused and not transport.is_closing():
            transport.resume_reading()

    # -------------------------------------------------------- session callbacks

    def push(self, data: bytes) -> None:
        """Out-of-band data for this client (pub/sub); enforces client-output-buffer-limit."""
        if self._batch is not None:
            self._batch.append(data)
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not self._pending:
            loop = self.server.loop
            assert loop is not None
            loop.call_soon(self._flush_pending)
        self._pending.append(data)
        self._pending_bytes += len(data)
        session = self.session
        if session is not None and session.subscriptions:
            buffered = transport.get_write_buffer_size() + self._pending_bytes
            self.server.check_output_limit(self, buffered)

    def _take_pending(self) -> list[bytes]:
        pending = self._pending
        self._pending = []
        self._pending_bytes = 0
        return pending

    def _flush_pending(self) -> None:
        pending = self._take_pending()
        transport = self.transport
        if pending and transport is not None and not transport.is_closing():
            self._send(b"".join(pending))

    def close(self) -> None:
        """Close as soon as pending replies are written (CLIENT KILL, SHUTDOWN)."""
        if self.session is not None:
            self.session.closing = True
        if self._batch is None and self.transport is not None:
            self._flush_pending()
            self._close_after_send()

    def abort(self) -> None:
        """Drop the connection now, discarding unsent data (output buffer limit)."""
        if self.session is not None:
            self.session.closing = True
        self._take_pending()
        if self.transport is not None:
            self.transport.abort()


# Redis's answer to a non-loopback client while protected (networking.c), byte for byte.
PROTECTED_MODE_DENIED = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
    b"for the default user. In this mode connections are only accepted from the loopback interface. If you "
    b"want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just "
    b"disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
    b"connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly "
    b"accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    b"Alternatively you can just disable the protected mode by editing the Redis configuration file, and "
    b"setting the protected mode option to 'no', and then restarting the server. 3) If you started the server "
    b"manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
    b"authentication password for the default user. NOTE: You only need to do one of the above things in "
    b"order for the server to start accepting connections from the outside.\r\n"
)


def _is_loopback(peer: object) -> bool:
    """Redis's islocalClient: the peer is exactly 127.0.0.1 or ::1 (unix sockets aside)."""
    if not isinstance(peer, tuple) or not peer:
        return True  # a unix socket
    return peer[0] in ("127.0.0.1", "::1")


def _reply_dropped(session: Session, reply: object) -> bool:
    """CLIENT REPLY OFF/SKIP: drop this reply (subscription confirmations excepted)."""
    dropped = reply_dropped(session)
    return dropped and reply.__class__ is not Frames


def _format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr or "")
