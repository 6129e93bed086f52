"""Bytes that CPython allocates for objects: what the memory bound charges."""

from __future__ import annotations

PYMALLOC_MAX = 512  # larger objects come from malloc, with its 8-byte header


def object_bytes(size: int) -> int:
    """Bytes allocated for a CPython object whose sys.getsizeof is `size` (16-byte aligned)."""
    if size <= PYMALLOC_MAX:
        return (size + 15) & ~15
    return (size + 8 + 15) & ~15


# object_bytes(33 + n) for the bytes objects pymalloc serves (n < 480), looked up on the hot path.
BYTES_SIZES = tuple(object_bytes(33 + n) for n in range(PYMALLOC_MAX - 32))


def bytes_size(value: bytes, _sizes: tuple[int, ...] = BYTES_SIZES, _small: int = len(BYTES_SIZES)) -> int:
    """Bytes allocated for a bytes object."""
    n = len(value)
    return _sizes[n] if n < _small else (n + 33 + 8 + 15) & ~15
