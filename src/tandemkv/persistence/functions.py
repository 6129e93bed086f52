"""FUNCTION DUMP and FUNCTION RESTORE (functions.c) with Redis's payload: one
RDB_OPCODE_FUNCTION2 record per library (rdb.py `write_functions`), the RDB version (2 bytes,
little endian) and a CRC-64 of both (8 bytes, little endian), so payloads move both ways between
redis-server 7.0 and tandemkv. The libraries are the instance's `functions` (scripting/)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from tandemkv.commands.session import FunctionLibraries, Instance, Session
from tandemkv.commands.table import command
from tandemkv.errors import CommandError, printable
from tandemkv.persistence.rdb import (
    OP_FUNCTION,
    OP_FUNCTION2,
    RDB_VERSION,
    RdbError,
    Reader,
    Writer,
    crc64,
    read_function,
    verify_payload,
    write_functions,
)
from tandemkv.protocol import OK

_POLICIES = {b"append": "append", b"replace": "replace", b"flush": "flush"}
_FOOTER_BYTES = 10  # RDB version and CRC-64


def _libraries(instance: Instance) -> FunctionLibraries:
    if instance.functions is None:  # an Instance without scripting/ attached (never the server's)
        raise CommandError("ERR function libraries are not available")
    return instance.functions


def functions_payload(codes: list[bytes], compress: bool) -> bytes:
    """FUNCTION DUMP's payload of these library codes."""
    w = Writer(compress)
    write_functions(w, codes)
    w.buf += struct.pack("<H", RDB_VERSION)
    w.buf += struct.pack("<Q", crc64(w.buf))
    return bytes(w.buf)


def payload_codes(payload: bytes) -> Iterator[bytes]:
    """The library codes of a verified payload, read as functionRestoreCommand reads them:
    records up to the last 10 bytes, each a function record; CommandError otherwise."""
    r = Reader(payload)
    while len(payload) - r.pos > _FOOTER_BYTES:
        opcode = r.byte()
        if opcode not in (OP_FUNCTION, OP_FUNCTION2):
            raise CommandError("ERR given type is not a function")
        try:
            yield read_function(r, opcode)
        except RdbError as exc:
            raise CommandError(f"ERR {exc}") from None


@command("dump", 2, "noscript", group="scripting", since="7.0.0", container="function")
def function_dump(session: Session) -> bytes:
    """Dump all functions into a serialized binary payload"""
    codes = _libraries(session.instance).codes()
    return functions_payload(codes, bool(session.instance.config["rdbcompression"]))


@command("restore", -3, "noscript write denyoom", group="scripting", since="7.0.0", container="function",
         tips="request_policy:all_shards response_policy:all_succeeded")
def function_restore(session: Session, payload: bytes, *options: bytes) -> object:
    """Restore all the functions on the given payload"""
    if len(options) > 1:
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{printable(session.argv[1][:128])}'. "
            "Try FUNCTION HELP."
        )
    policy = "append"
    if options:
        policy = _POLICIES.get(options[0].lower(), "")
        if not policy:
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    if not verify_payload(payload):
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    _libraries(session.instance).restore(payload_codes(payload), policy)
    session.instance.rdb.dirty += 1
    return OK
