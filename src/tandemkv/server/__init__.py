"""The network server: the only asyncio code in tandemkv."""

from tandemkv.server.app import Server, new_event_loop, run

__all__ = ["Server", "new_event_loop", "run"]
