"""introspection commands (Redis 7.0 semantics)."""

from __future__ import annotations
