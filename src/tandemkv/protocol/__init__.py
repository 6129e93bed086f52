"""RESP protocol: request parsing and reply encoding. No I/O, no asyncio."""

from tandemkv.protocol.parser import RequestParser, split_args, string2ll
from tandemkv.protocol.replies import (
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
    Double,
    Error,
    Map,
    NullArray,
    Push,
    SetReply,
    Simple,
    Verbatim,
    encode,
    encode2,
    encode3,
    format_double,
)

__all__ = [
    "NULL_ARRAY",
    "OK",
    "PONG",
    "QUEUED",
    "Double",
    "Error",
    "Map",
    "NullArray",
    "Push",
    "RequestParser",
    "SetReply",
    "Simple",
    "Verbatim",
    "encode",
    "encode2",
    "encode3",
    "format_double",
    "split_args",
    "string2ll",
]
