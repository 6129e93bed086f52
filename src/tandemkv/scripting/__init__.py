"""Lua scripting (Redis 7.0's EVAL family): a Lua 5.1 runtime with Redis's sandbox, the
RESP <-> Lua conversions and the script cache. It sits above commands/: `redis.call` runs
commands through the dispatcher. Importing this package registers its commands in the table.
"""

from tandemkv.scripting import commands  # noqa: F401  (importing registers the commands)
from tandemkv.scripting.runtime import Scripting, attach, scripting_of

__all__ = ["Scripting", "attach", "scripting_of"]
