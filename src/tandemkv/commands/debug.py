"""DEBUG subcommands used by Redis's test tooling (Redis 7.0 semantics)."""

from __future__ import annotations
