"""Commands: the table, the dispatcher, and one module per command group.

Importing this package registers every command (each module declares its specs with
`@command`); `TABLE` then holds exactly one spec per command.
"""

from tandemkv.commands import (  # noqa: F401  (importing a module registers its commands)
    acl,
    bitmaps,
    connection,
    debug,
    geo,
    hashes,
    hyperloglog,
    introspection,
    keys,
    latency,
    lists,
    memory,
    monitoring,
    pausing,
    pubsub,
    server,
    sets,
    sort,
    streams,
    strings,
    transactions,
    zsets,
)
from tandemkv.commands.dispatch import execute
from tandemkv.commands.session import Instance, Session
from tandemkv.commands.table import TABLE, CommandSpec, CommandTable

__all__ = ["TABLE", "CommandSpec", "CommandTable", "Instance", "Session", "execute"]
