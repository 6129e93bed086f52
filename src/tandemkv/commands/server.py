"""Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE, ROLE, CONFIG,
FUNCTION FLUSH, SHUTDOWN (Redis 7.0 semantics and texts).

INFO follows Redis 7.0.15's sections and field names. Fields for machinery tandemkv does not have
(replication, forks, persistence, defragmentation, tracking) report its idle values, which is
the truth. Memory is the process's resident size (/proc/self/statm) until per-entry accounting
lands.

INFO has one section Redis lacks, `engine` (in the default set, after `keyspace`):
- `db<N>_shards:<shards>` for each database holding keys: the shard count of its current engine;
- then totals over all databases: `shards` (current engines), `migrating` (databases with a
  step in progress), `old_shards` (shards of engines being emptied), `migrated_shards` (of
  those, already moved), `keys`, `steps_up`, `steps_down`, `gc_dropped_keys` (expired keys
  dropped by migration), `migration_time_ms_total`, `last_migration_time_ms` (the longest
  last step among databases).
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import struct
import sys
import time
import weakref
from dataclasses import dataclass, fields
from typing import Any

from tandemkv.commands import effects
from tandemkv.commands.latency import value_at_percentile
from tandemkv.commands.session import TANDEMKV_VERSION, VERSION, Instance, LoadingState, Session
from tandemkv.commands.table import TABLE, command, container, help_reply
from tandemkv.config import ConfigError, UnknownParameter
from tandemkv.errors import DB_INDEX_OUT_OF_RANGE, SYNTAX, CommandError, printable
from tandemkv.protocol import OK, Frames, Map, Verbatim, string2ll

log = logging.getLogger("tandemkv")

# --------------------------------------------------------------------- keyspace-wide


def _flush_mode(args: tuple[bytes, ...]) -> None:
    if len(args) > 1 or (args and args[0].upper() not in (b"SYNC", b"ASYNC")):
        raise CommandError(SYNTAX)


@command("flushdb", -1, "write", group="server", since="1.0.0", acl="keyspace dangerous", effect=effects.always,
         tips="request_policy:all_shards response_policy:all_succeeded")
def flushdb(session: Session, *mode: bytes) -> object:
    """Remove all keys from the current database"""
    _flush_mode(mode)
    session.instance.flushed(session.db_index)
    session.db.flush()
    return OK


@command("flushall", -1, "write", group="server", since="1.0.0", acl="keyspace dangerous", effect=effects.always,
         tips="request_policy:all_shards response_policy:all_succeeded")
def flushall(session: Session, *mode: bytes) -> object:
    """Remove all keys from all databases"""
    _flush_mode(mode)
    instance = session.instance
    rdb = instance.rdb
    if rdb.job is not None:  # a background save in progress is dropped (Redis kills its child)
        log.info("Background saving terminated by FLUSHALL")
        rdb.job.abort()
    for db in instance.dbs:
        instance.flushed(db.index)
        db.flush()
    if instance.config.str("save"):  # then the empty dataset is saved (flushAllDataAndResetRDB)
        rdb.save()
    return OK


@command("dbsize", 1, "readonly fast", group="server", since="1.0.0", acl="keyspace",
         tips="request_policy:all_shards response_policy:agg_sum")
def dbsize(session: Session) -> int:
    """Return the number of keys in the selected database"""
    return len(session.db)


@command("swapdb", 3, "write fast", group="server", since="4.0.0", acl="keyspace dangerous",
         effect=effects.always)
def swapdb(session: Session, first: bytes, second: bytes) -> object:
    """Swaps two Redis databases"""
    a = string2ll(first)
    if a is None:
        raise CommandError("ERR invalid first DB index")
    b = string2ll(second)
    if b is None:
        raise CommandError("ERR invalid second DB index")
    count = len(session.instance.dbs)
    if not (0 <= a < count and 0 <= b < count):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    if a != b:
        session.instance.swap_dbs(a, b)
    return OK


@command("time", 1, "loading stale fast", group="server", since="2.6.0", tips="nondeterministic_output")
def time_(session: Session) -> list[bytes]:
    """Return the current server time"""
    now_us = session.instance.clock.now_us()
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


@command("lastsave", 1, "loading stale fast", group="server", since="1.0.0", acl="admin dangerous",
         tips="nondeterministic_output")
def lastsave(session: Session) -> int:
    """Get the UNIX time stamp of the last successful save to disk"""
    # The start time until a save succeeds, as Redis.
    return session.instance.rdb.last_save_s


@command("role", 1, "noscript loading stale fast", group="server", since="2.8.12", acl="admin dangerous")
def role(session: Session) -> list[object]:
    """Return the role of the instance in the context of replication"""
    return [b"master", 0, []]


@command("shutdown", -1, "admin noscript loading stale no_multi sentinel allow_busy", group="server", since="1.0.0")
def shutdown(session: Session, *args: bytes) -> object:
    """Synchronously save the dataset to disk and then shut down the server"""
    options = set()
    for arg in args:
        option = arg.upper()
        if option not in (b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"):
            raise CommandError(SYNTAX)
        options.add(option)
    if (b"ABORT" in options and len(options) > 1) or {b"SAVE", b"NOSAVE"} <= options:
        raise CommandError(SYNTAX)
    if b"ABORT" in options:
        raise CommandError("ERR No shutdown in progress.")
    instance = session.instance
    if b"NOSAVE" not in options and instance.busy is not None:  # a busy script: only NOSAVE
        raise CommandError(instance.busy)
    wants_save = b"SAVE" in options or (b"NOSAVE" not in options and instance.config.str("save") != "")
    if instance.loading is not None:  # never over the file with a half-loaded dataset (as Redis)
        wants_save = False
    if wants_save and not instance.rdb.save() and b"FORCE" not in options:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    session.instance.shutdown()
    session.closing = True
    return Frames([])  # as Redis: the connection closes without a reply


# ----------------------------------------------------------------------------- INFO

_DEFAULT_SECTIONS = (
    "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
    "errorstats", "cluster", "keyspace", "engine",
)
_ALL_SECTIONS = (
    "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
    "commandstats", "errorstats", "latencystats", "cluster", "keyspace", "engine",
)


@dataclass(slots=True)
class _Sampler:
    """What INFO remembers between calls: memory peak and the last ops/sec sample."""

    sample_at: float = 0.0
    sample_commands: int = 0
    ops_per_sec: int = 0


_samplers: weakref.WeakKeyDictionary[Instance, _Sampler] = weakref.WeakKeyDictionary()


@command("info", -1, "loading stale", group="server", since="1.0.0", acl="dangerous",
         tips="nondeterministic_output request_policy:all_shards response_policy:special")
def info(session: Session, *sections: bytes) -> Verbatim:
    """Get information and statistics about the server"""
    wanted: list[str] = []
    for raw in sections or (b"default",):
        name = raw.decode("latin-1").lower()
        if name == "default":
            chosen: tuple[str, ...] = _DEFAULT_SECTIONS
        elif name in ("all", "everything"):
            chosen = _ALL_SECTIONS
        elif name in _SECTION_WRITERS:
            chosen = (name,)
        else:
            continue
        wanted.extend(section for section in chosen if section not in wanted)
    order = [s for s in _ALL_SECTIONS if s in wanted]
    instance = session.instance
    parts = []
    for section in order:
        title, lines = _SECTION_WRITERS[section](instance)
        parts.append("".join(f"{line}\r\n" for line in [f"# {title}", *lines]))
    return Verbatim("\r\n".join(parts).encode("latin-1"))








def _sampler(instance: Instance) -> _Sampler:
    sampler = _samplers.get(instance)
    if sampler is None:
        sampler = _samplers[instance] = _Sampler(sample_at=time.monotonic())
    return sampler


def _server(instance: Instance) -> tuple[str, list[str]]:
    uname = platform.uname()
    now_us = instance.clock.now_us()
    uptime_s = (now_us // 1000 - instance.started_ms) // 1000
    hz = instance.config.int("hz")
    return "Server", [
        f"redis_version:{VERSION}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        "redis_build_id:0",
        "redis_mode:standalone",
        f"os:{uname.system} {uname.release} {uname.machine}",
        f"arch_bits:{struct.calcsize('P') * 8}",
        "monotonic_clock:POSIX clock_gettime",
        "multiplexing_api:asyncio",
        f"tandemkv_version:{TANDEMKV_VERSION}",
        f"python_version:{platform.python_version()}",
        f"process_id:{instance.pid}",
        "process_supervised:no",
        f"run_id:{instance.run_id}",
        f"tcp_port:{instance.tcp_port}",
        f"server_time_usec:{now_us}",
        f"uptime_in_seconds:{uptime_s}",
        f"uptime_in_days:{uptime_s // 86400}",
        f"hz:{hz}",
        f"configured_hz:{hz}",
        f"lru_clock:{(now_us // 1_000_000) & ((1 << 24) - 1)}",
        f"executable:{os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ''}",
        "io_threads_active:0",
    ]


def _clients(instance: Instance) -> tuple[str, list[str]]:
    return "Clients", [
        f"connected_clients:{len(instance.sessions)}",
        "cluster_connections:0",
        f"maxclients:{instance.config.int('maxclients')}",
        "client_recent_max_input_buffer:0",
        "client_recent_max_output_buffer:0",
        f"blocked_clients:{instance.blocking.clients}",
        "tracking_clients:0",
        "clients_in_timeout_table:0",
    ]


def _memory(instance: Instance) -> tuple[str, list[str]]:
    # Memory bound figures, in Redis's field order (commands/memory.py).
    return "Memory", [f"{name}:{value}" for name, value in instance.memory_info().items()]


def _persistence(instance: Instance) -> tuple[str, list[str]]:
    rdb = instance.rdb
    return "Persistence", [
        f"loading:{int(instance.loading is not None)}",
        "async_loading:0",
        *_current_save_fields(rdb.job),
        f"rdb_changes_since_last_save:{rdb.dirty}",
        f"rdb_bgsave_in_progress:{int(rdb.job is not None)}",
        f"rdb_last_save_time:{rdb.last_save_s}",
        f"rdb_last_bgsave_status:{'ok' if rdb.last_status_ok else 'err'}",
        f"rdb_last_bgsave_time_sec:{rdb.last_save_duration_s}",
        f"rdb_current_bgsave_time_sec:{int(time.monotonic() - rdb.job_started) if rdb.job is not None else -1}",
        f"rdb_saves:{rdb.saves}",
        "rdb_last_cow_size:0",  # no fork, no copy-on-write of pages
        f"rdb_last_load_keys_expired:{rdb.last_load_keys_expired}",
        f"rdb_last_load_keys_loaded:{rdb.last_load_keys_loaded}",
        *_aof_fields(instance),
        "module_fork_in_progress:0",
        "module_fork_last_cow_size:0",
        *(aof.info() if (aof := instance.aof) is not None else ()),
        *(_loading_fields(instance.loading) if instance.loading is not None else ()),
    ]


def _current_save_fields(job: Any) -> list[str]:
    """Redis's current_* fields of a save in progress: no fork, so no copy-on-write pages;
    the keys of the save (persistence/snapshot.py's job) and its progress."""
    total = job.keys_total if job is not None else 0
    processed = min(job.keys_processed, total) if job is not None else 0
    return [
        "current_cow_peak:0",
        "current_cow_size:0",
        "current_cow_size_age:0",
        f"current_fork_perc:{processed * 100 / total if total else 0:.2f}",
        f"current_save_keys_processed:{processed}",
        f"current_save_keys_total:{total}",
    ]


def _loading_fields(loading: LoadingState) -> list[str]:
    """INFO persistence's loading_* fields while a file loads, figured as Redis does: the
    share of the files' bytes read (of used-mem when the size is unknown, capped below 100),
    and the ETA from the rate so far (1 s in the first second)."""
    done = loading.loaded_bytes
    perc = 0.0
    remaining = 1
    if loading.total_bytes:
        perc = done / loading.total_bytes * 100
        remaining = loading.total_bytes - done
    elif loading.rdb_used_mem:
        perc = min(done / loading.rdb_used_mem * 100, 99.99)
        remaining = max(loading.rdb_used_mem - done, 1)
    elapsed_s = int(time.time()) - loading.start_time_s
    eta_s = elapsed_s * remaining // (done + 1) if elapsed_s else 1
    return [
        f"loading_start_time:{loading.start_time_s}",
        f"loading_total_bytes:{loading.total_bytes}",
        f"loading_rdb_used_mem:{loading.rdb_used_mem}",
        f"loading_loaded_bytes:{done}",
        f"loading_loaded_perc:{perc:.2f}",
        f"loading_eta_seconds:{eta_s}",
    ]


def _aof_fields(instance: Instance) -> list[str]:
    """INFO persistence's AOF fields (persistence/aof.py keeps the figures)."""
    aof = instance.aof
    if aof is None:
        alone = instance.aof_alone  # BGREWRITEAOF with appendonly no, running
        current_s = int(time.monotonic() - alone.rewrite_started) if alone is not None else -1
        return [
            "aof_enabled:0", f"aof_rewrite_in_progress:{int(alone is not None)}",
            f"aof_rewrite_scheduled:{int(instance.aof_alone_scheduled)}",
            "aof_last_rewrite_time_sec:-1", f"aof_current_rewrite_time_sec:{current_s}",
            "aof_last_bgrewrite_status:ok", "aof_rewrites:0",
            "aof_rewrites_consecutive_failures:0", "aof_last_write_status:ok", "aof_last_cow_size:0",
        ]
    rewriting = aof.rewrite is not None
    return [
        "aof_enabled:1",
        f"aof_rewrite_in_progress:{int(rewriting)}",
        f"aof_rewrite_scheduled:{int(aof.rewrite_scheduled)}",
        f"aof_last_rewrite_time_sec:{aof.last_rewrite_s}",
        f"aof_current_rewrite_time_sec:{int(time.monotonic() - aof.rewrite_started) if rewriting else -1}",
        f"aof_last_bgrewrite_status:{'ok' if aof.last_rewrite_ok else 'err'}",
        f"aof_rewrites:{aof.rewrites}",
        f"aof_rewrites_consecutive_failures:{aof.rewrite_failures}",
        f"aof_last_write_status:{'ok' if aof.last_write_ok else 'err'}",
        "aof_last_cow_size:0",
    ]


def _ops_per_sec(instance: Instance) -> int:
    """Commands per second since the previous sample (at least 100 ms ago), as Redis's ~1 s window."""
    sampler = _sampler(instance)
    now = time.monotonic()
    elapsed = now - sampler.sample_at
    if elapsed >= 0.1:
        done = instance.stats.total_commands_processed - sampler.sample_commands
        sampler.ops_per_sec = int(done / elapsed)
        sampler.sample_at, sampler.sample_commands = now, instance.stats.total_commands_processed
    return sampler.ops_per_sec


def _stats(instance: Instance) -> tuple[str, list[str]]:
    stats = instance.stats
    keyspace = instance.keyspace_stats
    hub = instance.hub
    return "Stats", [
        f"total_connections_received:{stats.total_connections_received}",
        f"total_commands_processed:{stats.total_commands_processed}",
        f"instantaneous_ops_per_sec:{_ops_per_sec(instance)}",
        f"total_net_input_bytes:{stats.total_net_input_bytes}",
        f"total_net_output_bytes:{stats.total_net_output_bytes}",
        "instantaneous_input_kbps:0.00",
        "instantaneous_output_kbps:0.00",
        f"rejected_connections:{stats.rejected_connections}",
        "sync_full:0",
        "sync_partial_ok:0",
        "sync_partial_err:0",
        f"expired_keys:{keyspace.expired_keys}",
        "expired_stale_perc:0.00",
        "expired_time_cap_reached_count:0",
        f"evicted_keys:{instance.memory.evicted_keys}",
        "evicted_clients:0",
        f"keyspace_hits:{keyspace.keyspace_hits}",
        f"keyspace_misses:{keyspace.keyspace_misses}",
        f"pubsub_channels:{len(hub.channels)}",
        f"pubsub_patterns:{len(hub.patterns)}",
        f"pubsubshard_channels:{len(hub.shard_channels)}",
        "latest_fork_usec:0",
        "total_forks:0",
        "migrate_cached_sockets:0",  # MIGRATE's cached connections: none (no MIGRATE yet)
        "tracking_total_keys:0",
        f"client_output_buffer_limit_disconnections:{stats.client_output_buffer_limit_disconnections}",
        f"unexpected_error_replies:{stats.unexpected_error_replies}",
        f"total_error_replies:{stats.total_error_replies}",
        # tandemkv's keyspace-event stream (commands/eventstream.py): events appended, and
        # events not appended because its key held another type.
        f"keyspace_events_stream_appended:{stats.event_stream_appended}",
        f"keyspace_events_stream_dropped:{stats.event_stream_dropped}",
    ]


def _replication(instance: Instance) -> tuple[str, list[str]]:
    return "Replication", [
        "role:master",
        "connected_slaves:0",
        "master_failover_state:no-failover",
        f"master_replid:{instance.run_id}",
        "master_replid2:0000000000000000000000000000000000000000",
        "master_repl_offset:0",
        "second_repl_offset:-1",
        "repl_backlog_active:0",
        "repl_backlog_size:1048576",
        "repl_backlog_first_byte_offset:0",
        "repl_backlog_histlen:0",
    ]


def _cpu(instance: Instance) -> tuple[str, list[str]]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return "CPU", [
        f"used_cpu_sys:{own.ru_stime:.6f}",
        f"used_cpu_user:{own.ru_utime:.6f}",
        f"used_cpu_sys_children:{children.ru_stime:.6f}",
        f"used_cpu_user_children:{children.ru_utime:.6f}",
        f"used_cpu_sys_main_thread:{own.ru_stime:.6f}",
        f"used_cpu_user_main_thread:{own.ru_utime:.6f}",
    ]


def _modules(instance: Instance) -> tuple[str, list[str]]:
    return "Modules", []


def _commandstats(instance: Instance) -> tuple[str, list[str]]:
    lines = []
    for spec in TABLE.every():
        if spec.calls or spec.failed_calls or spec.rejected_calls:
            per_call = spec.nsec / 1000 / spec.calls if spec.calls else 0.0
            lines.append(
                f"cmdstat_{spec.full_name}:calls={spec.calls},usec={spec.nsec // 1000},usec_per_call={per_call:.2f},"
                f"rejected_calls={spec.rejected_calls},failed_calls={spec.failed_calls}"
            )
    return "Commandstats", lines


def _errorstats(instance: Instance) -> tuple[str, list[str]]:
    # Redis keeps codes in a radix tree: listed in byte order.
    counts = instance.stats.errors_by_code
    return "Errorstats", [f"errorstat_{code}:count={counts[code]}" for code in sorted(counts)]


def _latencystats(instance: Instance) -> tuple[str, list[str]]:
    """Each command's latency percentiles (Redis's fillPercentileDistributionLatencies)."""
    if not instance.latency_tracking:
        return "Latencystats", []
    percentiles = [float(word) for word in instance.config.str("latency-tracking-info-percentiles").split()]
    lines = []
    for spec in TABLE.every():
        if spec.latency_us:
            values = ",".join(
                f"p{_percentile_name(p)}={value_at_percentile(spec.latency_us, p) / 1000:.3f}" for p in percentiles
            )
            lines.append(f"latency_percentiles_usec_{spec.full_name}:{values}")
    return "Latencystats", lines


def _percentile_name(percentile: float) -> str:
    """%f with trailing zeros (and a trailing dot) trimmed, as Redis's trimDoubleString."""
    return f"{percentile:f}".rstrip("0").rstrip(".")


def _cluster(instance: Instance) -> tuple[str, list[str]]:
    return "Cluster", ["cluster_enabled:0"]


def _keyspace(instance: Instance) -> tuple[str, list[str]]:
    lines = []
    for index, db in enumerate(instance.dbs):
        keys = len(db)
        if keys:
            lines.append(f"db{index}:keys={keys},expires={db.volatile_count},avg_ttl={db.avg_ttl_ms}")
    return "Keyspace", lines


_ENGINE_TOTALS = (
    "shards", "migrating", "old_shards", "migrated_shards", "keys", "steps_up", "steps_down",
    "gc_dropped_keys", "migration_time_ms_total",
)


def _engine(instance: Instance) -> tuple[str, list[str]]:
    lines = []
    totals = dict.fromkeys(_ENGINE_TOTALS, 0)
    last_ms = 0
    for index, db in enumerate(instance.dbs):
        facts = db.tandem.info()
        if facts["keys"]:
            lines.append(f"db{index}_shards:{facts['shards']}")
        for name in _ENGINE_TOTALS:
            totals[name] += facts[name]
        last_ms = max(last_ms, facts["last_migration_time_ms"])
    lines.extend(f"{name}:{value}" for name, value in totals.items())
    lines.append(f"last_migration_time_ms:{last_ms}")
    return "Engine", lines


_SECTION_WRITERS = {
    "server": _server,
    "clients": _clients,
    "memory": _memory,
    "persistence": _persistence,
    "stats": _stats,
    "replication": _replication,
    "cpu": _cpu,
    "modules": _modules,
    "commandstats": _commandstats,
    "errorstats": _errorstats,
    "latencystats": _latencystats,
    "cluster": _cluster,
    "keyspace": _keyspace,
    "engine": _engine,
}


# ------------------------------------------------------------------------- FUNCTION

# FUNCTION's subcommands come from two layers above this one: scripting/ (LOAD, DELETE, FLUSH,
# LIST) and persistence/ (DUMP, RESTORE, which need the RDB format); its container is declared
# here, below both, so either can register into it whatever the import order.
container("function", -2, group="scripting", since="7.0.0", acl="", summary="A container for function commands")


# --------------------------------------------------------------------------- CONFIG

container("config", -2, group="server", since="2.0.0", acl="", summary="A container for server configuration commands")

_CONFIG_HELP = help_reply(
    "CONFIG",
    (
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ),
)


@command("help", 2, "loading stale", group="server", since="5.0.0", container="config")
def config_help(session: Session) -> list[object]:
    """Show helpful text about the different subcommands"""
    # Redis 7.0's text, verbatim; tandemkv has no CONFIG REWRITE (it answers unknown subcommand).
    return _CONFIG_HELP  # type: ignore[return-value]


@command("get", -3, "admin noscript loading stale", group="server", since="2.0.0", container="config")
def config_get(session: Session, *patterns: bytes) -> Map:
    """Get the values of configuration parameters"""
    return Map(session.instance.config.get_many(list(patterns)))


@command("set", -4, "admin noscript loading stale", group="server", since="2.0.0", container="config",
         tips="request_policy:all_nodes response_policy:all_succeeded")
def config_set(session: Session, *args: bytes) -> object:
    """Set configuration parameters to the given values"""
    if len(args) % 2:
        raise CommandError(SYNTAX)
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    try:
        session.instance.config.set_many(pairs)
    except UnknownParameter as exc:
        raise CommandError(
            f"ERR Unknown option or number of arguments for CONFIG SET - '{printable(exc.name.encode('latin-1'))}'"
        ) from None
    except ConfigError as exc:
        raise CommandError(
            f"ERR CONFIG SET failed (possibly related to argument '{printable(exc.name.encode('latin-1'))}') - {exc.reason}"
        ) from None
    return OK


@command("resetstat", 2, "admin noscript loading stale", group="server", since="2.0.0", container="config")
def config_resetstat(session: Session) -> object:
    """Reset the stats returned by INFO"""
    instance = session.instance
    for holder in (instance.stats, instance.keyspace_stats):
        for item in fields(holder):
            if item.type == "int":
                setattr(holder, item.name, 0)
    instance.stats.errors_by_code.clear()
    instance.memory.evicted_keys = 0  # memory bound (commands/memory.py)
    for spec in TABLE.every():
        spec.calls = spec.nsec = spec.rejected_calls = spec.failed_calls = 0
        spec.latency_us.clear()
    return OK

