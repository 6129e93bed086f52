"""Persistence: Redis's RDB format (rdb.py, one type pair per rdb_<type>.py), DUMP/RESTORE
(dump.py), FUNCTION DUMP/RESTORE (functions.py), snapshot files with SAVE, BGSAVE, the `save`
schedule and loading at start-up (snapshot.py), the append-only file (aof.py).

Sits above commands/ (it registers commands and reads every db of an Instance) and below
server/ and store.py (importing this package registers its commands; the server loads the
snapshot at start and runs the schedule from its cron).
"""

from tandemkv.persistence import aof, dump, functions, rdb_hashes, rdb_streams, rdb_zsets, snapshot  # noqa: F401  (importing registers the commands and the type pairs)
from tandemkv.persistence.snapshot import attach, cron, load, load_steps, save_for_shutdown, step

__all__ = ["attach", "cron", "load", "load_steps", "save_for_shutdown", "step"]
