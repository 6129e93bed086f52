"""CLIENT LIST / CLIENT INFO fields that describe a client's buffers and arguments, against
redis-server 7.0.15: qbuf of the caller, argv-mem of the caller and of a blocked client,
multi-mem of a client with queued commands. (qbuf-free, rbs, rbp and tot-mem describe Redis's
allocations and are not compared.)"""

from __future__ import annotations

import re
import time

from tests.resp import RawClient, encode_command

_FIELDS = ("qbuf", "argv-mem", "multi-mem", "multi", "flags", "cmd")


def _fields(line: bytes) -> dict[str, str]:
    pairs = dict(part.split("=", 1) for part in line.decode().split() if "=" in part)
    return {name: pairs[name] for name in _FIELDS}


def _scenario(port: int) -> list[dict[str, str]]:
    caller, queued, blocked = RawClient(port), RawClient(port), RawClient(port)
    try:
        caller.call("DEL", "nothing")
        for client, name in ((queued, "queued"), (blocked, "blocked")):
            client.call("CLIENT", "SETNAME", name)
        queued.call("MULTI")
        queued.call("SET", "key", "value")
        queued.call("LPUSH", "list", "a", "b" * 100)
        blocked.send(encode_command("BLPOP", "nothing", "somelist", "0"))
        for _ in range(500):  # until the server has it blocked
            listing = caller.call("CLIENT", "LIST")
            if re.search(rb"name=blocked \S+ \S+ flags=b", listing):
                break
            time.sleep(0.01)
        info = caller.call("CLIENT", "INFO").split(b"\r\n")[1]
        lines = {re.search(rb"name=(\S*)", line).group(1): line for line in listing.split(b"\n") if b"name=" in line}
        return [_fields(info), _fields(lines[b"queued"]), _fields(lines[b"blocked"])]
    finally:
        for client in (caller, queued, blocked):
            client.close()


def test_buffer_and_argument_fields_as_redis(tandem_port: int, redis_port: int) -> None:
    ours, theirs = _scenario(tandem_port), _scenario(redis_port)
    assert ours == theirs
    assert ours[1]["multi-mem"] != "0" and ours[2]["argv-mem"] != "0"
