"""Error types and Redis 7.0's exact error texts.

Every error a client can see is built here, so the wording matches redis-server byte for byte.
Handlers raise `CommandError`; the dispatcher turns it into an error reply.
"""

from __future__ import annotations


class TandemError(Exception):
    """Base class of every error tandemkv raises on purpose."""


class CommandError(TandemError):
    """A command failed; `message` is the full error line without the leading '-'.

    The message starts with the error code (ERR, WRONGTYPE, OOM, ...), as in Redis.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(TandemError):
    """The client sent bytes that are not a valid request; the connection must be closed.

    `reply` is False when Redis closes without answering (query buffer over its limit).
    """

    def __init__(self, message: str, *, reply: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.reply = reply


# Texts shared by many commands (Redis 7.0 server.c / object.c / t_string.c).
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
NOT_POSITIVE = "ERR value is out of range, must be positive"
SYNTAX = "ERR syntax error"
NO_SUCH_KEY = "ERR no such key"
OVERFLOW = "ERR increment or decrement would overflow"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"


def wrong_arity(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def unknown_command(name: bytes, args: list[bytes]) -> CommandError:
    # Redis 7.0 server.c: each argument is quoted, and the list stops once it reaches 128 bytes.
    shown = ""
    for arg in args:
        if len(shown) >= 128:
            break
        shown += f"'{printable(arg[: 128 - len(shown)])}' "
    return CommandError(
        f"ERR unknown command '{printable(name[:128])}', with args beginning with: {shown}"
    )


def unknown_subcommand(sub: bytes, container: bytes) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand '{printable(sub[:128])}'. Try {printable(container.upper())} HELP."
    )


def printable(raw: bytes) -> str:
    """Raw bytes as Redis prints them in an error: C-string (stops at NUL), CR/LF as spaces.

    Error texts are carried as latin-1 strings so that every byte survives the round trip.
    """
    text = raw.split(b"\0", 1)[0].decode("latin-1")
    return text.replace("\r", " ").replace("\n", " ")
