"""The embedded Store: tandemkv's keyspace and commands in-process, no sockets.

    from tandemkv import Store
    store = Store()
    store.set("k", "v", ex=10)
    store.get("k")            # b'v'
    store.execute("INCR", "n")  # any command in the table

Keys and values are bytes; str is encoded as UTF-8. Migration steps are driven by the calls
themselves (each write moves a few keys) and by `tick()`, which runs one time-budgeted slice
of migration and expiry; an application may call it from its own loop or timer.
"""

from __future__ import annotations

from typing import Any

from tandemkv.commands import Instance, execute
from tandemkv.config import Config
from tandemkv.errors import CommandError
from tandemkv.protocol import Error


def _arg(value: bytes | str | int | float) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


class Store:
    def __init__(self, config: Config | None = None) -> None:
        self.instance = Instance(config)
        self.session = self.instance.new_session()

    def execute(self, *args: bytes | str | int | float) -> Any:
        """Run any command; returns the reply object, raises CommandError for error replies."""
        reply = execute(self.session, [_arg(a) for a in args])
        if reply.__class__ is Error:
            raise CommandError(reply.message)
        return reply
