"""tandemkv: a self-scaling, Redis-compatible in-memory key-value server and embeddable store.

    from tandemkv import Store

`Store` is imported on first use, so importing a lower layer (tandemkv.protocol, ...) does not
load the command table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandemkv.store import Store

__all__ = ["Store", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from tandemkv.store import Store

        return Store
    if name == "__version__":
        from tandemkv.commands.session import TANDEMKV_VERSION

        return TANDEMKV_VERSION
    raise AttributeError(f"module 'tandemkv' has no attribute {name!r}")
