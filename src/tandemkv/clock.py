"""Clocks: wall time in Unix milliseconds, real or manual (for tests)."""

from __future__ import annotations

import time


class Clock:
    """The real clock. `now_ms` is Unix time in milliseconds, the unit of every deadline."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now_us(self) -> int:
        return time.time_ns() // 1_000

    def monotonic_us(self) -> int:
        return time.monotonic_ns() // 1_000


class ManualClock(Clock):
    """A clock that moves only when told to; monotonic time follows wall time."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_us = start_ms * 1000

    def now_ms(self) -> int:
        return self._now_us // 1000

    def now_us(self) -> int:
        return self._now_us

    def monotonic_us(self) -> int:
        return self._now_us

    def advance_ms(self, delta_ms: int) -> None:
        self._now_us += delta_ms * 1000
