"""Job functions of the RQ tests (RQ imports them by name in its work horse)."""

from __future__ import annotations


def multiply(x: int, y: int) -> int:
    return x * y


def divide(x: int, y: int) -> float:
    return x / y
