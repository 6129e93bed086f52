"""RDB snapshot files: SAVE, BGSAVE, the `save` schedule, and loading at start-up.

A snapshot is written to `temp-<pid>.rdb` in `dir`, flushed and fsynced, renamed over
`dbfilename`, and the directory fsynced: a crash leaves either the old file or the new one.

BGSAVE has no fork here: it writes the snapshot synchronously, inside the command (the loop is
blocked for the whole write), then answers "Background saving started" as Redis does. The
schedule (`save` points) runs the same synchronous save from the server's cron.
"""

from __future__ import annotations

import logging
import os
import time

from tandemkv.commands.session import Instance, Session
from tandemkv.commands.table import command
from tandemkv.config import save_points
from tandemkv.errors import SYNTAX, CommandError
from tandemkv.keyspace.memory import TRACK_FREQUENCY
from tandemkv.persistence.rdb import DbSnapshot, Limits, RdbError, aux_fields, read_file, write_file
from tandemkv.protocol import OK, Simple

log = logging.getLogger("tandemkv.persistence")

RETRY_DELAY_S = 5  # Redis's CONFIG_BGSAVE_RETRY_DELAY: a failed scheduled save waits this long


def limits(instance: Instance) -> Limits:
    return Limits(set_max_intset_entries=instance.config.int("set-max-intset-entries"))


def rdb_path(instance: Instance) -> str:
    return os.path.join(instance.config.str("dir"), instance.config.str("dbfilename"))


def _snapshots(instance: Instance) -> list[DbSnapshot]:
    return [DbSnapshot(index, len(db), db.volatile_count, db.items()) for index, db in enumerate(instance.dbs)]


def save(instance: Instance) -> bool:
    """Write the whole dataset to the RDB file now (Redis's rdbSave); True on success."""
    directory = instance.config.str("dir")
    path = rdb_path(instance)
    temp = os.path.join(directory, f"temp-{os.getpid()}.rdb")
    state = instance.rdb
    started = time.monotonic()
    state.last_try_s = int(time.time())
    try:
        with open(temp, "wb") as out:
            aux = aux_fields(int(time.time()), instance.memory.used_bytes)
            write_file(out, _snapshots(instance), aux, compress=bool(instance.config["rdbcompression"]))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, RdbError) as exc:
        log.warning("Failed saving the DB to %s: %s", path, exc)
        try:
            os.unlink(temp)
        except OSError:
            pass
        state.last_status_ok = False
        return False
    state.dirty = 0
    state.last_save_s = int(time.time())
    state.saves += 1
    state.last_status_ok = True
    log.info("DB saved on disk (%.3f seconds)", time.monotonic() - started)
    return True


def load(instance: Instance) -> int | None:
    """Load the RDB file into the (empty) databases: the number of keys loaded, or None if
    there is no file. Keys already expired are skipped, as a Redis master does. Raises
    RdbError (or OSError) for a file that cannot be read; nothing is loaded then."""
    try:
        with open(rdb_path(instance), "rb") as source:
            data = source.read()
    except FileNotFoundError:
        return None
    loaded = list(read_file(data, limits(instance)))
    count = len(instance.dbs)
    for item in loaded:
        if item.db >= count:
            raise RdbError(
                f"FATAL: Data file was created with a Redis server configured to handle more than {count} databases."
            )
    now_ms = instance.clock.now_ms()
    added = 0
    for item in loaded:
        if item.deadline_ms is not None and item.deadline_ms <= now_ms:
            continue
        db = instance.dbs[item.db]
        db.set(item.key, item.value, item.deadline_ms)
        if item.freq is not None and instance.memory.tracking == TRACK_FREQUENCY:
            shard = db.tandem.locate(item.key)
            if shard is not None:
                shard[2][item.key] = db.access.lfu_records[item.freq]
        added += 1
    return added


def save_due(instance: Instance, now_s: int) -> bool:
    """True when a `save` point is reached (serverCron's test): enough changes and more
    seconds than the point's since the last save; after a failure, retry only every 5 s."""
    state = instance.rdb
    if not state.last_status_ok and now_s - state.last_try_s <= RETRY_DELAY_S:
        return False
    return any(
        state.dirty >= changes and now_s - state.last_save_s > seconds
        for seconds, changes in save_points(instance.config.str("save"))
    )


def cron(instance: Instance) -> None:
    """Called by the server's cron: run a scheduled save when one is due."""
    if instance.rdb.dirty and save_due(instance, int(time.time())):
        log.info("%d changes since the last save: saving...", instance.rdb.dirty)
        save(instance)


def attach(instance: Instance) -> None:
    """Give the commands layer its way to save (SHUTDOWN SAVE)."""
    instance.rdb.save = lambda: save(instance)


@command("save", 1, "admin noscript no_async_loading no_multi", group="server", since="1.0.0",
         acl="admin dangerous")
def save_command(session: Session) -> object:
    """Synchronously save the dataset to disk"""
    if not save(session.instance):
        raise CommandError("ERR")
    return OK


@command("bgsave", -1, "admin noscript no_async_loading", group="server", since="1.0.0",
         acl="admin dangerous")
def bgsave(session: Session, *args: bytes) -> object:
    """Asynchronously save the dataset to disk"""
    if args and (len(args) > 1 or args[0].lower() != b"schedule"):
        raise CommandError(SYNTAX)
    started = time.monotonic()
    save(session.instance)  # no fork: written now, the outcome in INFO as after Redis's child
    session.instance.rdb.last_save_duration_s = int(time.monotonic() - started)
    return Simple(b"Background saving started")
