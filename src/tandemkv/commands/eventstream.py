"""Keyspace events appended to a stream: notifications a consumer group cannot lose.

Pub/sub keyspace notifications are fire-and-forget; with `keyspace-events-stream <key>` set,
every event of the classes in `keyspace-events-stream-flags` is also appended to the stream at
`<key>` in db 0, as XADD with a `*` ID would append it: fields `db`, `event`, `key`, and with
`keyspace-events-stream-values yes` the value of an expired or evicted key (`value`: a string
as it was; `dump`: any other type as its DUMP payload, which RESTORE takes back).

Rules:
- `Instance.notify` is the one entry point of keyspace events; it calls `record` after the
  pub/sub publish, so the stream holds the selected events in the order subscribers get them,
  appended in the same loop callback as the change: inside the same MULTI/EXEC or script.
- The stream never reports on itself: appending raises no event (no `xadd`, `xtrim`, `new`),
  and the events of commands on the stream key (XGROUP, XREADGROUP, DEL...) are published as
  usual but not appended. It is exempt from eviction (Keyspace.unevictable).
- An append does what XADD does besides the event: it readies the key for blocked XREAD /
  XREADGROUP clients, touches WATCHes of it, charges the memory bound and propagates its
  XADD to the append-only file; MAXLEN trims as `MAXLEN ~` does, whole nodes only.
- It never refuses: over `maxmemory` the entry is appended anyway (expiry cannot be refused).
  If the key holds another type, events are not appended and counted in INFO stats
  (`keyspace_events_stream_dropped`; `..._appended` counts the entries).
- Off (`keyspace-events-stream ""`), `Instance.event_stream` is None: one attribute check per
  event.
- Persistence: the stream is an ordinary key in RDB files; in the append-only file each entry
  is an XADD with its ID (and an exact MAXLEN when it trimmed), and replaying the file appends
  nothing by itself (persistence/aof.py turns the stream off while it loads).

Reentrancy: an event may come from inside the keyspace's own work (an expiry slice, or the
migration that garbage-collects expired keys while a write moves a little of it). Appending to
an existing stream only changes the stream value in place; creating the stream key (`set`)
inside a migration chore starts no nested chore (Tandem._do_chores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tandemkv.pubsub.hub import event_classes
from tandemkv.values.streams import StreamValue, format_id

if TYPE_CHECKING:
    from tandemkv.commands.session import Instance

STREAM_DB = 0  # the stream lives in db 0, whatever db the events come from


class EventStream:
    """The settings of one keyspace-event stream and the way to append to it."""

    __slots__ = ("classes", "instance", "key", "maxlen", "serialize", "with_values")

    def __init__(
        self,
        instance: Instance,
        key: bytes,
        flags: str,
        maxlen: int,
        with_values: bool,
        serialize: Callable[[object], bytes | None],
    ) -> None:
        self.instance = instance
        self.key = key
        self.classes = event_classes(flags)
        self.maxlen = maxlen
        self.with_values = with_values
        # DUMP's payload of a value that is not a string, or None if it has none
        # (persistence/ provides it; without persistence, only strings carry values).
        self.serialize = serialize

    def record(self, event_class: str, event: bytes, key: bytes, db: int, value: object) -> None:
        """Append one event if its class is selected and it is not about the stream itself.
        `value`: the value of an expired or evicted key (None for other events, or when values
        are not asked for)."""
        if event_class not in self.classes or (key == self.key and db == STREAM_DB):
            return
        fields: tuple[bytes, ...] = (b"db", b"%d" % db, b"event", event, b"key", key)
        if value is not None and self.with_values:
            if value.__class__ is bytes or value.__class__ is bytearray:  # a string (bitmaps: bytearray)
                fields += (b"value", bytes(value))  # type: ignore[call-overload]
            else:
                payload = self.serialize(value)
                if payload is not None:
                    fields += (b"dump", payload)
        self.append(fields)

    def append(self, fields: tuple[bytes, ...]) -> None:
        """XADD <key> MAXLEN ~ <maxlen> * <fields>, raising no event of its own."""
        instance = self.instance
        db = instance.dbs[STREAM_DB]
        key = self.key
        now_ms = instance.clock.now_ms()
        stream = None
        shard = db.tandem.locate(key)
        if shard is not None:
            deadlines = shard[1]
            deadline = deadlines.get(key) if deadlines else None
            if deadline is not None and deadline <= now_ms:
                db.expire_key(key, lazily=True)  # its own `expired` is about the stream: not appended
            else:
                stream = shard[0][key]
                if stream.__class__ is not StreamValue:
                    instance.stats.event_stream_dropped += 1
                    return
                if db.before_change is not None:  # a snapshot in progress keeps the old stream
                    db.before_change(key)
        if stream is None:
            stream = self._create()
        assert isinstance(stream, StreamValue)
        entry_id = stream.next_id(now_ms)
        if entry_id is None:  # the last possible ID was used (XSETID): XADD would refuse
            instance.stats.event_stream_dropped += 1
            return
        before = stream.nbytes
        config = instance.config
        stream.append(entry_id, fields, config.int("stream-node-max-bytes"), config.int("stream-node-max-entries"))
        maxlen = self.maxlen
        removed = 0
        if maxlen and stream.length > maxlen:
            # XADD's MAXLEN ~ without LIMIT: whole nodes, at most 100 nodes' worth of entries.
            limit = min(max(100 * config.int("stream-node-max-entries"), 0) or 10000, 1000000)
            removed, nodes = stream.trim(maxlen, 0, True, limit)
            if removed:
                db.release(nodes)
        db.charge(stream.nbytes - before)
        effects = instance.effects
        if effects is not None:  # the AOF: the entry with its ID, the trim as the exact length
            trim = [b"MAXLEN", b"=", b"%d" % stream.length] if removed else []
            effects.appended(STREAM_DB, [b"XADD", key, *trim, format_id(entry_id), *fields])
        # Not counted in rdb.dirty: a command's change is counted by its own event (and the
        # effect stream reads dirty as "this command wrote"); expiry and eviction are not.
        instance.stats.event_stream_appended += 1
        slot = (STREAM_DB, key)
        blocking = instance.blocking
        if blocking.waiting and slot in blocking.waiting:
            blocking.ready[slot] = None
        watches = instance.watches
        if watches.keys and slot in watches.keys:
            watches.touch(slot)

    def _create(self) -> StreamValue:
        """A new, empty stream at the key, created without the `new` event. Inside a migration
        chore (an expired key it dropped) the write only earns credit: chores never nest."""
        db = self.instance.dbs[STREAM_DB]
        stream = StreamValue()
        report_new, db.report_new = db.report_new, False
        try:
            db.set(self.key, stream)
        finally:
            db.report_new = report_new
        return stream
