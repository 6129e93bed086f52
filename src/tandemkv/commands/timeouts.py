"""Blocking timeouts as Redis reads them (timeout.c getTimeoutFromObjectOrReply, seconds).

Redis parses the timeout as a C long double (x86-64's 80-bit format), multiplies it by 1000.0
in that format, rounds up with ceill and converts to long long: out-of-range values (infinity,
1e400) become LLONG_MIN there and so are "negative". The long double arithmetic is the exact
emulation in commands/longdouble.py, so that "-0.001" (just above -1 ms in long double) waits
forever as in Redis instead of being refused.
"""

from __future__ import annotations

from tandemkv.commands.longdouble import INFINITE, multiply_long_double, parse_long_double
from tandemkv.errors import CommandError

NOT_FLOAT = "ERR timeout is not a float or out of range"
NEGATIVE = "ERR timeout is negative"
_LLONG_MAX = 2**63 - 1


def parse_timeout(raw: bytes, now_ms: int) -> int:
    """A blocking timeout in seconds (decimals allowed) as an absolute deadline in Unix ms,
    or 0 for none; Redis's errors."""
    seconds = parse_long_double(raw)
    if seconds is None:
        raise CommandError(NOT_FLOAT)
    scaled = None if seconds == INFINITE else multiply_long_double(seconds, 1000)
    if scaled is None:
        raise CommandError(NEGATIVE)
    significand, exponent = scaled
    ms = significand << exponent if exponent >= 0 else -((-significand) >> -exponent)  # ceil
    if ms > _LLONG_MAX or ms < 0:
        raise CommandError(NEGATIVE)
    return now_ms + ms if ms > 0 else 0
