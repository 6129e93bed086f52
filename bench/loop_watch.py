"""tandemkv-server with a watchdog on its event loop: which code held the loop when it ran late.

    python bench/loop_watch.py LOG [tandemkv-server options...]
    LOOP_WATCH_HEARTBEAT_MS=5 python bench/loop_watch.py LOG ...

A callback on the loop notes the time every HEARTBEAT_MS (0.5 ms unless the environment says);
a thread checks every millisecond and, whenever the loop is more than THRESHOLD_MS late for
that note, appends the time, how late and the main thread's stack to LOG (once per late
tick): a stack inside Python code is the loop busy there, the loop's own `run` (waiting in
epoll) is the process woken late by the kernel. The start of each background save is noted
too ("BGSAVE START"), so that a bench can place the late ticks in its windows
(`bench/snapshot_load.py --watch-loop LOG`). A 0.5 ms heartbeat keeps the process awake,
which changes its scheduling; 5 ms lets it sleep as it does without the watchdog.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import traceback
from typing import TextIO

import tandemkv.persistence.snapshot as snapshot
import tandemkv.server.app as app
from tandemkv.cli.server import main

HEARTBEAT_S = float(os.environ.get("LOOP_WATCH_HEARTBEAT_MS", "0.5")) / 1000
CHECK_S = 0.001
THRESHOLD_MS = 3.0


def watched_loop(out: TextIO) -> asyncio.AbstractEventLoop:
    loop = new_event_loop()
    beat = [time.perf_counter()]

    def heartbeat() -> None:
        beat[0] = time.perf_counter()
        loop.call_later(HEARTBEAT_S, heartbeat)

    loop.call_soon(heartbeat)
    main_id = threading.get_ident()

    def watch() -> None:
        reported = 0.0
        while True:
            time.sleep(CHECK_S)
            late_ms = (time.perf_counter() - beat[0] - HEARTBEAT_S) * 1000
            if late_ms > THRESHOLD_MS and reported != beat[0]:
                frame = sys._current_frames().get(main_id)
                stack = "".join(traceback.format_stack(frame, limit=14)) if frame else "?\n"
                out.write(f"{time.time():.3f} late {late_ms:.1f}ms\n{stack}\n")
                out.flush()
                reported = beat[0]

    threading.Thread(target=watch, daemon=True).start()
    return loop


new_event_loop = app.new_event_loop


def run() -> int:
    out = open(sys.argv[1], "a")  # noqa: SIM115  (open for the process's life)
    del sys.argv[1]
    start_save = snapshot.start_background_save

    def noted_start(instance: object) -> None:
        out.write(f"{time.time():.3f} BGSAVE START\n")
        out.flush()
        start_save(instance)  # type: ignore[arg-type]

    # Every module that imported it by name (the commands layer) gets the noting one.
    for module in list(sys.modules.values()):
        if getattr(module, "start_background_save", None) is start_save:
            module.start_background_save = noted_start  # type: ignore[attr-defined]
    app.new_event_loop = lambda: watched_loop(out)
    return main()


if __name__ == "__main__":
    sys.exit(run())
