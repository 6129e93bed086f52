"""Redis's C `long double` arithmetic (x86-64, 80-bit extended), shared by INCRBYFLOAT and
HINCRBYFLOAT: parse as string2ld does, add with one rounding, print as ld2string(LD_STR_HUMAN).

Redis adds two C `long double`s: each operand is parsed by strtold (correctly rounded to the
64-bit significand of the x87 extended format), the sum is rounded once more, and the result
is printed with "%.17Lf" and trimmed of trailing zeros (ld2string, LD_STR_HUMAN). Python's
float has a 53-bit significand, so it cannot reproduce that. Here a finite long double is an
exact pair (significand, exponent) meaning significand * 2**exponent, rounded exactly as the
hardware does (to nearest, ties to even; subnormals below 2**-16382), and printed exactly as
glibc does. A sum that is infinite or NaN comes back as None: Redis refuses it either way.
This is the x86-64 format; Redis built where long double is IEEE quad (aarch64) or plain
double would print other digits.
"""

from __future__ import annotations

import re

LongDouble = tuple[int, int]
ZERO: LongDouble = (0, 0)
# A parsed infinity: zero is always (0, 0), so no finite value is ever equal to this pair.
INFINITE: LongDouble = (0, 1)
_LD_DIGITS = 64  # significand bits
_LD_MIN_EXP = -16382 - (_LD_DIGITS - 1)  # exponent of the smallest subnormal
_LD_OVERFLOW_BITS = 16384  # values >= 2**16384 are infinite
_MAX_FLOAT_CHARS = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS buffer
_DECIMAL = re.compile(rb"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_HEX = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?"
)
_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)
# Python refuses int <-> decimal text conversions past 4300 digits; long doubles reach 4933.
_CHUNK_DIGITS = 4000
_CHUNK = 10**_CHUNK_DIGITS


def parse_long_double(raw: bytes) -> LongDouble | None:
    """`raw` as Redis's string2ld reads it: the whole text, no spaces, decimal or hex (as
    strtold), no NaN, not overflowing, not underflowing to zero. Returns (significand,
    exponent), `INFINITE` for an infinity, or None for anything Redis refuses as a float."""
    if not raw or len(raw) >= _MAX_FLOAT_CHARS:
        return None
    match = _DECIMAL.fullmatch(raw)
    if match is not None:
        sign, whole, fraction, only_fraction, exponent = match.groups()
        digits = (whole or b"") + (fraction or b"") + (only_fraction or b"")
        scale = _exponent(exponent) - len(fraction or only_fraction or b"")
        return _decimal_to_long_double(sign == b"-", digits, scale)
    match = _HEX.fullmatch(raw)
    if match is not None:
        sign, whole, fraction, only_fraction, exponent = match.groups()
        digits = (whole or b"") + (fraction or b"") + (only_fraction or b"")
        shift = _exponent(exponent) - 4 * len(fraction or only_fraction or b"")
        significand = int(digits, 16)
        if significand == 0:
            return ZERO
        top = significand.bit_length() + shift
        if top > _LD_OVERFLOW_BITS + 1:
            return None
        if top < _LD_MIN_EXP - 2:
            return None  # rounds to zero: strtold reports an underflow, Redis refuses it
        rounded = _round(significand, shift)
        return None if rounded is None or rounded[0] == 0 else _signed(rounded, sign == b"-")
    # An infinity parses; adding it can only give an infinity or NaN, which `add` refuses.
    if _INFINITY.fullmatch(raw) is not None:
        return INFINITE
    return None


def _exponent(text: bytes | None) -> int:
    """An exponent field, clamped far past the range that can still produce a finite nonzero."""
    if text is None:
        return 0
    value = text.lstrip(b"+-").lstrip(b"0")
    magnitude = int(value or b"0") if len(value) <= 7 else 10**7
    return -magnitude if text[:1] == b"-" else magnitude


def _decimal_to_long_double(negative: bool, digits: bytes, scale: int) -> LongDouble | None:
    digits = digits.lstrip(b"0")
    if not digits:
        return ZERO
    count = len(digits)
    if count - 1 + scale > 4933:  # >= 1e4934, past the largest long double (1.19e4932)
        return None
    if count + scale < -4952:  # < 1e-4952, under half the smallest subnormal: rounds to 0
        return None
    significand = _digits_to_int(digits)
    if scale >= 0:
        rounded = _round_ratio(significand * 10**scale, 1)
    else:
        rounded = _round_ratio(significand, 10**-scale)
    if rounded is None or rounded[0] == 0:
        return None
    return _signed(rounded, negative)


def _digits_to_int(digits: bytes) -> int:
    if len(digits) <= _CHUNK_DIGITS:
        return int(digits)
    head = len(digits) - _CHUNK_DIGITS
    return _digits_to_int(digits[:head]) * _CHUNK + int(digits[head:])


def _int_to_digits(value: int) -> str:
    if value < _CHUNK:
        return str(value)
    high, low = divmod(value, _CHUNK)
    return _int_to_digits(high) + str(low).zfill(_CHUNK_DIGITS)


def _signed(pair: LongDouble, negative: bool) -> LongDouble:
    return (-pair[0], pair[1]) if negative else pair


def _round(significand: int, exponent: int) -> LongDouble | None:
    """significand * 2**exponent (significand > 0) rounded to a long double; None if infinite."""
    if exponent >= 0:
        return _round_ratio(significand << exponent, 1)
    return _round_ratio(significand, 1 << -exponent)


def _round_ratio(num: int, den: int) -> LongDouble | None:
    """num/den (both > 0) rounded to nearest long double, ties to even; None if infinite."""
    top = num.bit_length() - den.bit_length()  # floor(log2(num/den)) is top or top - 1
    if (num < den << top) if top >= 0 else (num << -top < den):
        top -= 1
    exponent = max(top - (_LD_DIGITS - 1), _LD_MIN_EXP)
    if exponent >= 0:
        significand, rest = divmod(num, den << exponent)
        unit = den << exponent
    else:
        significand, rest = divmod(num << -exponent, den)
        unit = den
    twice = rest * 2
    if twice > unit or (twice == unit and significand & 1):
        significand += 1
    if significand and significand.bit_length() + exponent > _LD_OVERFLOW_BITS:
        return None
    return significand, exponent


def multiply_long_double(a: LongDouble, factor: int) -> LongDouble | None:
    """a * factor (a finite, factor > 0) rounded to a long double; None if infinite."""
    if a[0] == 0:
        return ZERO
    rounded = _round(abs(a[0]) * factor, a[1])
    return None if rounded is None else _signed(rounded, a[0] < 0)


def add_long_double(a: LongDouble, b: LongDouble) -> LongDouble | None:
    """a + b rounded to a long double; None if infinite (or if either operand is)."""
    if a == INFINITE or b == INFINITE:
        return None
    exponent = min(a[1], b[1])
    total = (a[0] << (a[1] - exponent)) + (b[0] << (b[1] - exponent))
    if total == 0:
        return ZERO
    rounded = _round(abs(total), exponent)
    if rounded is None:
        return None
    return _signed(rounded, total < 0)


def format_long_double(value: LongDouble) -> bytes:
    """Redis's ld2string(LD_STR_HUMAN): "%.17Lf" (exact, ties to even), trailing zeros and a
    trailing point removed, and "-0" written as "0"."""
    significand, exponent = value
    negative = significand < 0
    significand = abs(significand)
    if exponent >= 0:
        text = _int_to_digits(significand << exponent)
    else:
        unit = 1 << -exponent
        scaled, rest = divmod(significand * 10**17, unit)
        twice = rest * 2
        if twice > unit or (twice == unit and scaled & 1):
            scaled += 1
        whole, fraction = divmod(scaled, 10**17)
        decimals = f"{fraction:017d}".rstrip("0")
        text = _int_to_digits(whole) + ("." + decimals if decimals else "")
    if negative and text != "0":
        text = "-" + text
    return text.encode()
