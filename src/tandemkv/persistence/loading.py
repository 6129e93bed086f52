"""Loading a data file as resumable steps, and the instance's loading state.

A loader (snapshot.py `load_steps`, aof.py `load_steps`) is a generator: it loads a batch of
keys (or AOF commands) between two yields and returns the number of keys. The server drives it
a time-budgeted slice per loop iteration while clients connect and get LOADING replies
(server/app.py); the embedded Store and the tests run it to the end at once (`run_to_end`).

While a loader runs (`loading`): `Instance.loading` holds the INFO figures and makes the
dispatcher refuse commands without the `loading` flag, and the databases' expiry clock says
no deadline has passed (keyspace/expiry.py `ExpiryClock`), for RDB and AOF alike.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tandemkv.commands.session import Instance, LoadingState

# Keys (or AOF commands) loaded between two yields: small enough that a slice overshoots its
# budget by little, large enough that yielding costs nothing measurable.
LOAD_BATCH = 64

T = TypeVar("T")


@contextmanager
def loading(instance: Instance, total_bytes: int) -> Iterator[LoadingState]:
    """Mark the instance loading for the duration (one place sets and clears both flags)."""
    state = LoadingState(start_time_s=int(time.time()), total_bytes=total_bytes)
    instance.loading = state
    instance.expiry_clock.loading = True
    try:
        yield state
    finally:
        instance.loading = None
        instance.expiry_clock.loading = False


def run_to_end(steps: Generator[None, None, T]) -> T:
    """Run a loader to its end at once; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
