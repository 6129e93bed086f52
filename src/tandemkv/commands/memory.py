"""The memory bound at the command level: the OOM check before commands, background eviction
slices, INFO memory figures, and the MEMORY command (USAGE, STATS, MALLOC-STATS, PURGE, HELP).

Accounting and eviction themselves live in keyspace/memory.py. This module adds what needs the
process: its resident size (read from /proc, the only I/O here) and the footprint at startup.

Figures: `used_memory` = `used_memory_startup` (the process's resident size when the Instance
was created: interpreter, modules, empty databases) + the accounted bytes of every entry. The
maxmemory bound applies to the accounted bytes alone (see keyspace/memory.py), so that a bound
of a few MB is meaningful for a Python process; `mem_fragmentation_ratio` compares RSS with
used_memory, so it shows how far the accounting is from the real process size.
"""

from __future__ import annotations

import ctypes
import os
import resource
from typing import TYPE_CHECKING

from tandemkv.commands.args import Int
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import OOM, SYNTAX, CommandError
from tandemkv.keyspace.memory import (
    DEADLINE_BYTES,
    EVICT_FAIL,
    EVICT_RUNNING,
    TRACK_FREQUENCY,
    entry_bytes,
    evict,
    idle_seconds,
    lfu_frequency,
    measure_tables,
)
from tandemkv.protocol import OK, Double, Map, Simple

if TYPE_CHECKING:
    from tandemkv.commands.session import Instance, Session
    from tandemkv.commands.table import CommandSpec

# Redis's eviction time limit per command at the default maxmemory-eviction-tenacity (10).
EVICTION_BUDGET_US = 500


def process_rss_bytes() -> int:
    """The process's resident set size: /proc/self/statm, else the peak from getrusage."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def oom_reply(session: Session, spec: CommandSpec) -> str | None:
    """Redis's processCommand memory step, run by the dispatcher while over the bound.

    Evicts (bounded work; background slices continue if needed) and returns the OOM error text
    when the command may grow memory and nothing more can be evicted; else None (run it)."""
    status = evict_slice(session.instance, EVICTION_BUDGET_US)
    if status == EVICT_FAIL and _refused_over_bound(session, spec):
        return OOM
    return None


def _refused_over_bound(session: Session, spec: CommandSpec) -> bool:
    """Commands that may grow memory; inside MULTI every command but EXEC, DISCARD, QUIT and
    RESET (queueing grows memory too); EXEC if it queued one that may grow memory."""
    if "denyoom" in spec.flags:
        return True
    if session.multi is None or spec.container:
        return False
    if spec.name == "exec":
        return any("denyoom" in queued.flags for queued, _argv in session.multi)
    return spec.name not in ("discard", "quit", "reset")


def evict_slice(instance: Instance, budget_us: int) -> int:
    """One eviction slice; asks the server for more slices while over the bound."""
    status = evict(instance.memory, instance.dbs, instance.clock, budget_us)
    if status == EVICT_RUNNING:
        instance.on_over_bound()
    return status


def measure_slice(instance: Instance) -> None:
    """One slice of the dict-table measurement (keyspace/memory.py), for the server's cron and
    Store.tick. A pass that completes brings used_memory up to the real table sizes at once;
    if that puts it over the bound, a slice of eviction follows at once, before any client's
    command, so the bound holds to within one write whenever anyone looks."""
    measure_tables(instance.memory, instance.dbs)
    if instance.memory.over:
        evict_slice(instance, EVICTION_BUDGET_US)


def key_frequency(session: Session, key: bytes) -> int | None:
    """OBJECT FREQ: the key's LFU counter (None if no such key); Redis's error unless an LFU
    policy is selected. Looks without touching, as Redis's OBJECT does (LOOKUP_NOTOUCH)."""
    db = session.db
    if db.peek_read(key) is None:
        return None
    if session.instance.memory.tracking != TRACK_FREQUENCY:
        raise CommandError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
            "that when switching between policies at runtime LRU and LFU data will take some time to adjust."
        )
    return lfu_frequency(db, key)


def key_idle_time(session: Session, key: bytes) -> int | None:
    """OBJECT IDLETIME: seconds since the key's last access (None if no such key); Redis's error
    under an LFU policy. Not an access itself (LOOKUP_NOTOUCH)."""
    db = session.db
    if db.peek_read(key) is None:
        return None
    if session.instance.memory.tracking == TRACK_FREQUENCY:
        raise CommandError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
            "switching between policies at runtime LRU and LFU data will take some time to adjust."
        )
    return idle_seconds(db, key)


# ------------------------------------------------------------------- figures


def human_bytes(n: int) -> str:
    """Redis's bytesToHuman."""
    if n < 1024:
        return f"{n}B"
    for unit, power in (("K", 1), ("M", 2), ("G", 3), ("T", 4), ("P", 5)):
        if n < 1024 ** (power + 1) or unit == "P":
            return f"{n / 1024**power:.2f}{unit}"
    raise AssertionError("unreachable")


def _total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


class _Figures:
    """The numbers INFO memory and MEMORY STATS share, taken once per call."""

    def __init__(self, instance: Instance) -> None:
        account = instance.memory
        self.startup = instance.memory_startup_bytes
        self.used = self.startup + account.used_bytes
        self.peak = self.startup + account.note_peak()
        self.rss = process_rss_bytes()
        self.keys = sum(len(db) for db in instance.dbs)
        volatile = sum(db.volatile_count for db in instance.dbs)
        # The engine's own share (dict entries, deadline records) is overhead, as Redis counts
        # its dict entries; keys and values are the dataset.
        self.overhead = self.startup + self.keys * account.key_dict_bytes + volatile * DEADLINE_BYTES
        self.dataset = max(0, self.used - self.overhead)
        self.lazyfree_pending = sum(engine.key_count() for db in instance.dbs for engine in db.detached) + sum(
            len(db.lazy_values) for db in instance.dbs
        )

    @property
    def dataset_perc(self) -> float:
        net = self.used - self.startup
        return self.dataset * 100 / net if net > 0 else 0.0

    @property
    def fragmentation(self) -> float:
        return self.rss / self.used if self.used else 0.0


def memory_info(instance: Instance) -> dict[str, str | int]:
    """The fields of INFO memory, in Redis 7.0's order (values are tandemkv's figures)."""
    f = _Figures(instance)
    account = instance.memory
    total = _total_system_memory()
    maxmemory = account.limit_bytes
    scripts, functions, libraries = instance.script_counts()
    return {
        "used_memory": f.used,
        "used_memory_human": human_bytes(f.used),
        "used_memory_rss": f.rss,
        "used_memory_rss_human": human_bytes(f.rss),
        "used_memory_peak": f.peak,
        "used_memory_peak_human": human_bytes(f.peak),
        "used_memory_peak_perc": f"{f.used * 100 / f.peak if f.peak else 100:.2f}%",
        "used_memory_overhead": f.overhead,
        "used_memory_startup": f.startup,
        "used_memory_dataset": f.dataset,
        "used_memory_dataset_perc": f"{f.dataset_perc:.2f}%",
        "allocator_allocated": f.used,
        "allocator_active": f.used,
        "allocator_resident": f.rss,
        "total_system_memory": total,
        "total_system_memory_human": human_bytes(total),
        # The Lua states' memory is not measured: only the counts are real.
        "used_memory_lua": 0,
        "used_memory_vm_eval": 0,
        "used_memory_lua_human": human_bytes(0),
        "used_memory_scripts_eval": 0,
        "number_of_cached_scripts": scripts,
        "number_of_functions": functions,
        "number_of_libraries": libraries,
        "used_memory_vm_functions": 0,
        "used_memory_vm_total": 0,
        "used_memory_vm_total_human": human_bytes(0),
        "used_memory_functions": 0,
        "used_memory_scripts": 0,
        "used_memory_scripts_human": human_bytes(0),
        "maxmemory": maxmemory,
        "maxmemory_human": human_bytes(maxmemory),
        "maxmemory_policy": account.policy,
        "allocator_frag_ratio": "1.00",
        "allocator_frag_bytes": 0,
        "allocator_rss_ratio": f"{f.fragmentation:.2f}",
        "allocator_rss_bytes": f.rss - f.used,
        "rss_overhead_ratio": "1.00",
        "rss_overhead_bytes": 0,
        "mem_fragmentation_ratio": f"{f.fragmentation:.2f}",
        "mem_fragmentation_bytes": f.rss - f.used,
        "mem_not_counted_for_evict": 0,
        "mem_replication_backlog": 0,
        "mem_total_replication_buffers": 0,
        "mem_clients_slaves": 0,
        "mem_clients_normal": 0,
        "mem_cluster_links": 0,
        "mem_aof_buffer": 0,
        "mem_allocator": "libc",
        "active_defrag_running": 0,
        "lazyfree_pending_objects": f.lazyfree_pending,
        "lazyfreed_objects": 0,  # not counted: flushed engines are freed in slices, not by object
    }


# -------------------------------------------------------------------- MEMORY

container("memory", -2, group="server", summary="A container for memory diagnostics commands", since="4.0.0")

_MEMORY_HELP = help_reply(
    "MEMORY",
    (
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
    ),
)


@command("help", 2, "loading stale", container="memory", group="server", since="4.0.0")
def memory_help(session: Session) -> list[Simple]:
    """Show helpful text about the different subcommands"""
    return _MEMORY_HELP


@command("usage", -3, "readonly", keys=(2, 2, 1), container="memory", group="server", since="4.0.0")
def memory_usage(session: Session, key: bytes, *options: bytes) -> int | None:
    """Estimate the memory usage of a key"""
    i = 0
    while i < len(options):
        if options[i].lower() == b"samples" and i + 1 < len(options):
            # Values are accounted exactly, so the sample count only has to be valid.
            if Int(options[i + 1]) < 0:
                raise CommandError(SYNTAX)
            i += 2
        else:
            raise CommandError(SYNTAX)
    db = session.db
    shard = db.tandem.locate(key)
    if shard is None:
        return None
    values, deadlines, _accessed = shard
    return entry_bytes(key, values[key]) + db.memory.record_bytes + (DEADLINE_BYTES if key in deadlines else 0)


@command("stats", 2, "", container="memory", group="server", since="4.0.0",
         tips="nondeterministic_output request_policy:all_shards response_policy:special")
def memory_stats(session: Session) -> Map:
    """Show memory usage details"""
    instance = session.instance
    f = _Figures(instance)
    items: list[tuple[bytes, object]] = [
        (b"peak.allocated", f.peak),
        (b"total.allocated", f.used),
        (b"startup.allocated", f.startup),
        (b"replication.backlog", 0),
        (b"clients.slaves", 0),
        (b"clients.normal", 0),
        (b"cluster.links", 0),
        (b"aof.buffer", 0),
        (b"lua.caches", 0),
        (b"functions.caches", 0),
    ]
    for db in instance.dbs:
        if len(db):
            main = len(db) * instance.memory.key_dict_bytes
            expires = db.volatile_count * DEADLINE_BYTES
            items.append((
                f"db.{db.index}".encode(),
                Map([
                    (b"overhead.hashtable.main", main),
                    (b"overhead.hashtable.expires", expires),
                    (b"overhead.hashtable.slot-to-keys", 0),
                ]),
            ))
    net = f.used - f.startup
    items += [
        (b"overhead.total", f.overhead),
        (b"keys.count", f.keys),
        (b"keys.bytes-per-key", net // f.keys if f.keys else 0),
        (b"dataset.bytes", f.dataset),
        (b"dataset.percentage", Double(f.dataset_perc)),
        (b"peak.percentage", Double(f.used * 100 / f.peak if f.peak else 100.0)),
        (b"allocator.allocated", f.used),
        (b"allocator.active", f.used),
        (b"allocator.resident", f.rss),
        (b"allocator-fragmentation.ratio", Double(1.0)),
        (b"allocator-fragmentation.bytes", 0),
        (b"allocator-rss.ratio", Double(f.fragmentation)),
        (b"allocator-rss.bytes", f.rss - f.used),
        (b"rss-overhead.ratio", Double(1.0)),
        (b"rss-overhead.bytes", 0),
        (b"fragmentation", Double(f.fragmentation)),
        (b"fragmentation.bytes", f.rss - f.used),
    ]
    return Map(items)


@command("malloc-stats", 2, "", container="memory", group="server", since="4.0.0",
         tips="nondeterministic_output request_policy:all_shards response_policy:special")
def memory_malloc_stats(session: Session) -> bytes:
    """Show allocator internal stats"""
    # What Redis answers when built without jemalloc, as tandemkv runs on CPython's allocator.
    return b"Stats not supported for the current allocator"


def _malloc_trim() -> object:
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only
    except OSError:
        return None


_MALLOC_TRIM = _malloc_trim()


@command("purge", 2, "", container="memory", group="server", since="4.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded")
def memory_purge(session: Session) -> object:
    """Ask the allocator to release memory"""
    # glibc keeps freed memory for reuse; malloc_trim(0) returns free pages to the system.
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)  # type: ignore[operator]
    return OK
