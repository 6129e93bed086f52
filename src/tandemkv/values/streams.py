"""The stream type: Redis 7.0's t_stream.c structure, as nodes of entries ordered by ID.

An entry ID (ms-seq, two unsigned 64-bit numbers) is kept packed in one int, `ms << 64 | seq`,
so IDs compare as ints and `bisect` works on them directly (`make_id`, `split_id`).

Layout. Redis keeps a radix tree of listpack nodes; each node holds up to
`stream-node-max-entries` entries or `stream-node-max-bytes` bytes, entries deleted inside a
node stay there as flagged tombstones until the whole node is empty, and trimming drops whole
nodes (with `~`, only whole nodes). The node layout decides which entries an approximate trim
removes, so it is kept exactly: `StreamNode` holds its entries' IDs and field-value tuples in
two parallel lists (None for a tombstone) and the byte size its listpack would have
(`lp_bytes`, the listpack encoding sizes reckoned per element), so new nodes start where
Redis's do. The stream keeps its nodes in a list with a parallel list of their first IDs.

Costs: append O(1) amortised; seek O(log n) (bisect over nodes, then inside one node); a
range O(log n + m + tombstones crossed); delete an entry O(log n) (plus O(n / node size) when
its node empties); trimming O(nodes dropped) plus one node partly marked; dropped nodes are
handed back (`trim` returns them) so the caller can free them in slices.

Consumer groups: `ConsumerGroup` with its pending entries list (PEL) and consumers, each
consumer with its own PEL of the same `PendingEntry` objects. A `PendingList` is a dict by ID
plus a sorted list of its IDs (O(log n) seek; insert and remove O(log n) + a memmove).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import chain
from sys import getsizeof

from tandemkv.values.sizes import BYTES_SIZES, bytes_size, object_bytes

U64 = 2**64 - 1
MAX_ID = U64 << 64 | U64
INVALID_ENTRIES_READ = -1  # SCG_INVALID_ENTRIES_READ: a group's read counter is unknown
LISTPACK_MAX_SIZE = 1 << 30  # STREAM_LISTPACK_MAX_SIZE

Fields = tuple[bytes, ...]  # field, value, field, value ...

# Memory charged per element (CPython sizes, rounded as pymalloc allocates them).
_ID_BYTES = object_bytes(getsizeof(MAX_ID))
_SLOT_BYTES = 8
_NODE_BYTES = 256  # a node object, its two lists and their headers
_STREAM_BYTES = 256  # an empty stream: its object, node lists and groups dict
_PENDING_BYTES = 224  # a PendingEntry, its ID and its slots in two dicts and two sorted lists
_GROUP_BYTES = 512
_CONSUMER_BYTES = 256


def make_id(ms: int, seq: int) -> int:
    return ms << 64 | seq


def split_id(packed: int) -> tuple[int, int]:
    return packed >> 64, packed & U64


def format_id(packed: int) -> bytes:
    """`ms-seq`, as Redis writes an ID."""
    return b"%d-%d" % (packed >> 64, packed & U64)


# An entry's tuple by its length, and its strings by theirs while pymalloc serves them (the
# common case, summed by C-level maps: loading a stream charges every entry).
_TUPLE_BYTES = [object_bytes(getsizeof(tuple(range(n)))) for n in range(64)]
_SMALL_STRING_BYTES = BYTES_SIZES.__getitem__


def _entries_bytes(entries: Iterable[Fields]) -> int:
    """The sum of `_entry_bytes` over whole nodes' entries (loading), by C-level maps while
    every tuple and string is small."""
    entries = list(entries)
    try:
        return sum(map(_TUPLE_BYTES.__getitem__, map(len, entries))) + sum(
            map(_SMALL_STRING_BYTES, map(len, chain.from_iterable(entries)))
        )
    except IndexError:
        return sum(map(_entry_bytes, entries))


def _entry_bytes(fields: Fields) -> int:
    lengths = list(map(len, fields))
    if len(fields) < len(_TUPLE_BYTES) and max(lengths, default=0) < len(BYTES_SIZES):
        return _TUPLE_BYTES[len(fields)] + sum(map(_SMALL_STRING_BYTES, lengths))
    return object_bytes(getsizeof(fields)) + sum(map(bytes_size, fields))


# ------------------------------------------------------- listpack element sizes


def _int_size(value: int) -> int:
    """Bytes of an integer element in a listpack (encoding + backlen)."""
    if 0 <= value <= 127:
        return 2
    if -4096 <= value <= 4095:
        return 3
    if -(2**15) <= value < 2**15:
        return 4
    if -(2**23) <= value < 2**23:
        return 5
    if -(2**31) <= value < 2**31:
        return 6
    return 10


def _backlen_size(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


def _string_size(item: bytes) -> int:
    """Bytes of a string element in a listpack; strings that read as a 64-bit integer are
    stored as integers (lpStringToInt64)."""
    n = len(item)
    if 0 < n <= 20:
        number = _as_int64(item)
        if number is not None:
            return _int_size(number)
    header = 1 if n < 64 else 2 if n < 4096 else 5
    return header + n + _backlen_size(header + n)


def _as_int64(item: bytes) -> int | None:
    """The int64 a listpack would store `item` as (strict decimal form), or None."""
    if item == b"0":
        return 0
    body = item[1:] if item[:1] == b"-" else item
    if not body or not body.isdigit() or body[:1] == b"0":
        return None
    value = int(item)
    return value if -(2**63) <= value < 2**63 else None


def _delta(a: int, b: int) -> int:
    """a - b as an int64 (Redis appends the uint64 difference as a signed integer)."""
    d = (a - b) & U64
    return d - 2**64 if d >= 2**63 else d


class StreamNode:
    """One listpack node: entry IDs and field tuples (None: deleted), live and deleted counts,
    the master entry's fields and the listpack's byte size (without its two counters).

    A deleted entry keeps its fields in `graves` (by position), as Redis's listpack keeps a
    flagged entry until its node goes: the node is written to RDB files and DUMP payloads
    exactly as Redis would write it (persistence/rdb_streams.py), and its memory is charged
    until the node goes."""

    __slots__ = ("deleted", "entries", "graves", "ids", "live", "lp_bytes", "master_fields", "master_id", "nbytes")

    def __init__(self, master_id: int, master_fields: Fields) -> None:
        self.ids: list[int] = []
        self.entries: list[Fields | None] = []
        self.live = 0
        self.deleted = 0
        self.master_id = master_id
        self.master_fields = master_fields
        # header (6) + end byte (1) + master field count + master fields + terminator (0)
        self.lp_bytes = 7 + _int_size(len(master_fields)) + sum(_string_size(f) for f in master_fields) + 2
        self.nbytes = _NODE_BYTES  # what this node holds in memory (charged to the stream too)
        self.graves: dict[int, Fields] | None = None

    def bury(self, position: int, fields: Fields) -> None:
        """Mark the live entry at `position` deleted, keeping its fields in `graves`."""
        self.entries[position] = None
        if self.graves is None:
            self.graves = {}
        self.graves[position] = fields
        self.live -= 1
        self.deleted += 1

    def listpack_bytes(self) -> int:
        return self.lp_bytes + _int_size(self.live) + _int_size(self.deleted)

    def last_id(self) -> int:
        return self.ids[-1]


class PendingEntry:
    """A NACK: delivered to `consumer` (None only while XCLAIM FORCE creates it) at
    `delivery_ms`, `delivery_count` times."""

    __slots__ = ("consumer", "delivery_count", "delivery_ms")

    def __init__(self, consumer: Consumer | None, delivery_ms: int) -> None:
        self.consumer = consumer
        self.delivery_ms = delivery_ms
        self.delivery_count = 1


class PendingList:
    """Pending entries by ID, iterable in ID order."""

    __slots__ = ("by_id", "order")

    def __init__(self) -> None:
        self.by_id: dict[int, PendingEntry] = {}
        self.order: list[int] = []

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, entry_id: int) -> PendingEntry | None:
        return self.by_id.get(entry_id)

    def add(self, entry_id: int, pending: PendingEntry) -> None:
        if entry_id not in self.by_id:
            order = self.order
            if not order or order[-1] < entry_id:
                order.append(entry_id)
            else:
                insort(order, entry_id)
        self.by_id[entry_id] = pending

    def remove(self, entry_id: int) -> None:
        del self.by_id[entry_id]
        order = self.order
        if order[0] == entry_id:
            del order[0]
        else:
            del order[bisect_left(order, entry_id)]

    def first(self) -> int:
        return self.order[0]

    def last(self) -> int:
        return self.order[-1]

    def since(self, start: int, end: int = MAX_ID) -> Iterator[tuple[int, PendingEntry]]:
        """(id, entry) for start <= id <= end in ID order. The caller must not change the
        list while iterating, except through `remove` of the entry just yielded."""
        order = self.order
        by_id = self.by_id
        i = bisect_left(order, start)
        while i < len(order):
            entry_id = order[i]
            if entry_id > end:
                return
            yield entry_id, by_id[entry_id]
            if i < len(order) and order[i] == entry_id:
                i += 1


class Consumer:
    __slots__ = ("name", "pending", "seen_ms")

    def __init__(self, name: bytes, seen_ms: int) -> None:
        self.name = name
        self.seen_ms = seen_ms
        self.pending = PendingList()


class ConsumerGroup:
    __slots__ = ("consumers", "entries_read", "last_id", "pending")

    def __init__(self, last_id: int, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pending = PendingList()
        self.consumers: dict[bytes, Consumer] = {}


class DroppedNodes:
    """Nodes a trim removed, to be freed a slice at a time (keyspace `release`)."""

    __slots__ = ("count", "nodes")

    def __init__(self, nodes: list[StreamNode], count: int) -> None:
        self.nodes = nodes
        self.count = count

    def __len__(self) -> int:
        return self.count

    def free_slice(self, max_items: int) -> int:
        done = 0
        nodes = self.nodes
        while nodes and done < max_items:
            done += len(nodes.pop().ids)
        done = min(done, self.count)
        self.count -= done
        if not nodes:
            self.count = 0
        return done


class StreamValue:
    """A Redis stream; `nbytes` is kept up to date (values/__init__.py)."""

    __slots__ = (
        "entries_added",
        "first_id",
        "firsts",
        "groups",
        "last_id",
        "length",
        "max_deleted_id",
        "nbytes",
        "nodes",
        "pending_total",
    )

    def __init__(self) -> None:
        self.nodes: list[StreamNode] = []
        self.firsts: list[int] = []  # the first ID in each node (its master ID), for bisect
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted_id = 0
        self.entries_added = 0
        self.groups: dict[bytes, ConsumerGroup] = {}
        self.pending_total = 0  # pending entries over all groups
        self.nbytes = _STREAM_BYTES

    def __len__(self) -> int:
        """The elements the value holds: entries and pending entries (what freeing walks).
        XLEN is `length`."""
        return self.length + self.pending_total

    def copy(self) -> StreamValue:
        clone = StreamValue()
        for node in self.nodes:
            twin = StreamNode.__new__(StreamNode)
            twin.ids = node.ids.copy()
            twin.entries = node.entries.copy()  # tuples of bytes are immutable: shared safely
            twin.live, twin.deleted = node.live, node.deleted
            twin.master_id, twin.master_fields, twin.lp_bytes = node.master_id, node.master_fields, node.lp_bytes
            twin.nbytes = node.nbytes
            twin.graves = dict(node.graves) if node.graves else None
            clone.nodes.append(twin)
        clone.firsts = self.firsts.copy()
        clone.length, clone.last_id, clone.first_id = self.length, self.last_id, self.first_id
        clone.max_deleted_id, clone.entries_added = self.max_deleted_id, self.entries_added
        clone.pending_total = self.pending_total
        for name, group in self.groups.items():
            twin_group = ConsumerGroup(group.last_id, group.entries_read)
            for consumer in group.consumers.values():
                twin_group.consumers[consumer.name] = Consumer(consumer.name, consumer.seen_ms)
            for entry_id in group.pending.order:
                pending = group.pending.by_id[entry_id]
                owner = twin_group.consumers[pending.consumer.name] if pending.consumer else None
                twin_pending = PendingEntry(owner, pending.delivery_ms)
                twin_pending.delivery_count = pending.delivery_count
                twin_group.pending.add(entry_id, twin_pending)
                if owner is not None:
                    owner.pending.add(entry_id, twin_pending)
            clone.groups[name] = twin_group
        clone.nbytes = self.nbytes
        return clone

    # ------------------------------------------------------------- appending

    def next_id(self, now_ms: int) -> int | None:
        """The ID `*` generates (streamNextID); None when the last possible ID was used."""
        ms, seq = split_id(self.last_id)
        if ms < now_ms:
            return make_id(now_ms, 0)
        if seq == U64:
            return None if ms == U64 else make_id(ms + 1, 0)
        return make_id(ms, seq + 1)

    def append(self, entry_id: int, fields: Fields, node_max_bytes: int, node_max_entries: int) -> None:
        """Add an entry whose ID is above `last_id` (the caller checked), starting a new node
        where Redis's streamAppendItem would."""
        node = self.nodes[-1] if self.nodes else None
        if node is not None:
            if node_max_bytes == 0 or node_max_bytes > LISTPACK_MAX_SIZE:
                node_max_bytes = LISTPACK_MAX_SIZE
            if node.listpack_bytes() + sum(len(item) for item in fields) >= node_max_bytes or (node_max_entries and node.live + node.deleted >= node_max_entries):
                node = None
        names = fields[0::2]
        if node is None:
            node = StreamNode(entry_id, names)
            self.nodes.append(node)
            self.firsts.append(entry_id)
            self.nbytes += _NODE_BYTES + 2 * _SLOT_BYTES
        same = names == node.master_fields
        # flags, ms delta, seq delta, [field count], (fields,) values, element count
        size = 2 + _int_size(_delta(entry_id >> 64, node.master_id >> 64))
        size += _int_size(_delta(entry_id & U64, node.master_id & U64))
        if same:
            size += sum(_string_size(value) for value in fields[1::2])
            size += _int_size(len(names) + 3)
        else:
            size += _int_size(len(names)) + sum(_string_size(item) for item in fields)
            size += _int_size(2 * len(names) + 4)
        node.lp_bytes += size
        node.ids.append(entry_id)
        node.entries.append(fields)
        node.live += 1
        self.length += 1
        self.entries_added += 1
        self.last_id = entry_id
        if self.length == 1:
            self.first_id = entry_id
        grow = _ID_BYTES + 2 * _SLOT_BYTES + _entry_bytes(fields)
        node.nbytes += grow
        self.nbytes += grow

    def add_node(self, node: StreamNode) -> None:
        """Append a whole node whose IDs are above every stored one (loading a stream:
        persistence/rdb_streams.py) and charge its memory; the caller sets the stream's
        length, IDs and counters."""
        node.nbytes = _NODE_BYTES + len(node.ids) * (_ID_BYTES + 2 * _SLOT_BYTES)
        node.nbytes += _entries_bytes(filter(None, node.entries))  # deleted ones are None
        if node.graves:
            node.nbytes += _entries_bytes(node.graves.values())
        self.nodes.append(node)
        self.firsts.append(node.master_id)
        self.nbytes += node.nbytes + 2 * _SLOT_BYTES

    # ---------------------------------------------------------------- reading

    def _locate(self, entry_id: int) -> tuple[int, int]:
        """(node index, position) of the first stored ID >= entry_id (tombstones included);
        node index == len(nodes) when there is none."""
        k = bisect_right(self.firsts, entry_id) - 1
        if k < 0:
            return 0, 0
        node = self.nodes[k]
        i = bisect_left(node.ids, entry_id)
        if i == len(node.ids):
            return k + 1, 0
        return k, i

    def range(self, start: int, end: int, count: int = 0) -> Iterator[tuple[int, Fields]]:
        """Live entries with start <= ID <= end, ascending, at most `count` (0: all)."""
        if start > end:
            return
        nodes = self.nodes
        k, i = self._locate(start)
        taken = 0
        while k < len(nodes):
            node = nodes[k]
            ids, entries = node.ids, node.entries
            while i < len(ids):
                entry_id = ids[i]
                if entry_id > end:
                    return
                fields = entries[i]
                if fields is not None:
                    yield entry_id, fields
                    taken += 1
                    if taken == count:
                        return
                i += 1
            k += 1
            i = 0

    def revrange(self, start: int, end: int, count: int = 0) -> Iterator[tuple[int, Fields]]:
        """Live entries with start <= ID <= end, descending, at most `count` (0: all)."""
        if start > end:
            return
        nodes = self.nodes
        k = bisect_right(self.firsts, end) - 1
        if k < 0:
            return
        i = bisect_right(nodes[k].ids, end) - 1
        taken = 0
        while k >= 0:
            node = nodes[k]
            ids, entries = node.ids, node.entries
            while i >= 0:
                entry_id = ids[i]
                if entry_id < start:
                    return
                fields = entries[i]
                if fields is not None:
                    yield entry_id, fields
                    taken += 1
                    if taken == count:
                        return
                i -= 1
            k -= 1
            if k >= 0:
                i = len(nodes[k].ids) - 1

    def get(self, entry_id: int) -> Fields | None:
        """The fields of a live entry, or None."""
        k = bisect_right(self.firsts, entry_id) - 1
        if k < 0:
            return None
        node = self.nodes[k]
        i = bisect_left(node.ids, entry_id)
        if i < len(node.ids) and node.ids[i] == entry_id:
            return node.entries[i]
        return None

    def last_live_id(self) -> int:
        """The ID of the last live entry (streamLastValidID); 0 when empty."""
        for entry_id, _ in self.revrange(0, MAX_ID, 1):
            return entry_id
        return 0

    def first_live_id(self) -> int:
        for entry_id, _ in self.range(0, MAX_ID, 1):
            return entry_id
        return 0

    def node_count(self) -> int:
        return len(self.nodes)

    # --------------------------------------------------------------- deleting

    def delete(self, entry_id: int) -> bool:
        """XDEL one entry: True if it was there. A node left empty is removed."""
        k = bisect_right(self.firsts, entry_id) - 1
        if k < 0:
            return False
        node = self.nodes[k]
        i = bisect_left(node.ids, entry_id)
        if i == len(node.ids) or node.ids[i] != entry_id or node.entries[i] is None:
            return False
        fields = node.entries[i]
        assert fields is not None
        node.bury(i, fields)
        self.length -= 1
        if node.live == 0:
            self._drop_node(k)
        return True

    def _drop_node(self, k: int) -> None:
        node = self.nodes.pop(k)
        del self.firsts[k]
        self.nbytes -= node.nbytes + 2 * _SLOT_BYTES

    def trim(self, maxlen: int | None, minid: int, approx: bool, limit: int) -> tuple[int, DroppedNodes]:
        """Redis's streamTrim by MAXLEN (`maxlen` not None) or MINID: whole nodes from the head
        while they fit, then (exact only) entries marked deleted inside the next node; `limit`
        (0: none) bounds the entries removed with whole nodes. Returns how many entries were
        removed and the dropped nodes (for the caller to free in slices)."""
        nodes = self.nodes
        removed = 0
        drop = 0  # whole nodes dropped from the head
        freed = 0
        while drop < len(nodes):
            if maxlen is not None and self.length <= maxlen:
                break
            node = nodes[drop]
            if limit and removed + node.live > limit:
                break
            if maxlen is not None:
                whole = self.length - node.live >= maxlen
            else:
                whole = node.last_id() < minid
            if whole:
                self.length -= node.live
                removed += node.live
                freed += node.nbytes + 2 * _SLOT_BYTES
                drop += 1
                continue
            if approx:
                break
            ids, entries = node.ids, node.entries
            for i in range(len(ids)):
                if (self.length <= maxlen) if maxlen is not None else (ids[i] >= minid):
                    break
                fields = entries[i]
                if fields is not None:
                    node.bury(i, fields)
                    self.length -= 1
                    removed += 1
            break
        dropped = nodes[:drop]
        if drop:
            del nodes[:drop]
            del self.firsts[:drop]
        self.nbytes -= freed
        if self.length == 0:
            self.first_id = 0
        elif removed:
            self.first_id = self.first_live_id()
        return removed, DroppedNodes(dropped, sum(len(node.ids) for node in dropped))

    # ------------------------------------------------------- consumer groups

    def add_group(self, name: bytes, last_id: int, entries_read: int) -> ConsumerGroup | None:
        """A new group, or None if one has that name."""
        if name in self.groups:
            return None
        group = self.groups[name] = ConsumerGroup(last_id, entries_read)
        self.nbytes += _GROUP_BYTES + bytes_size(name)
        return group

    def destroy_group(self, name: bytes) -> bool:
        group = self.groups.pop(name, None)
        if group is None:
            return False
        self.nbytes -= _GROUP_BYTES + bytes_size(name)
        self.nbytes -= len(group.pending) * _PENDING_BYTES
        self.pending_total -= len(group.pending)
        self.nbytes -= sum(_CONSUMER_BYTES + bytes_size(c.name) for c in group.consumers.values())
        return True

    def add_consumer(self, group: ConsumerGroup, name: bytes, now_ms: int) -> Consumer | None:
        """A new consumer seen now, or None if the group has one of that name."""
        if name in group.consumers:
            return None
        consumer = group.consumers[name] = Consumer(name, now_ms)
        self.nbytes += _CONSUMER_BYTES + bytes_size(name)
        return consumer

    def delete_consumer(self, group: ConsumerGroup, consumer: Consumer) -> None:
        """Remove a consumer and its pending entries from the group's PEL."""
        for entry_id in consumer.pending.order:
            group.pending.remove(entry_id)
        self.nbytes -= len(consumer.pending) * _PENDING_BYTES
        self.pending_total -= len(consumer.pending)
        del group.consumers[consumer.name]
        self.nbytes -= _CONSUMER_BYTES + bytes_size(consumer.name)

    def deliver(self, group: ConsumerGroup, consumer: Consumer, entry_id: int, now_ms: int) -> None:
        """Record a delivery to `consumer` (streamReplyWithRange without NOACK): a new NACK,
        or one taken over from another consumer with its count reset to 1."""
        pending = group.pending.get(entry_id)
        if pending is None:
            pending = PendingEntry(consumer, now_ms)
            group.pending.add(entry_id, pending)
            consumer.pending.add(entry_id, pending)
            self.nbytes += _PENDING_BYTES
            self.pending_total += 1
            return
        if pending.consumer is not None:
            pending.consumer.pending.remove(entry_id)
        pending.consumer = consumer
        pending.delivery_ms = now_ms
        pending.delivery_count = 1
        consumer.pending.add(entry_id, pending)

    def acknowledge(self, group: ConsumerGroup, entry_id: int) -> bool:
        pending = group.pending.get(entry_id)
        if pending is None:
            return False
        group.pending.remove(entry_id)
        if pending.consumer is not None:
            pending.consumer.pending.remove(entry_id)
        self.nbytes -= _PENDING_BYTES
        self.pending_total -= 1
        return True

    def add_pending(self, group: ConsumerGroup, entry_id: int, delivery_ms: int, delivery_count: int) -> bool:
        """A NACK with no consumer yet (loading: the group's PEL comes before its consumers,
        whose PELs then `claim` each entry); False if the group has one for `entry_id`."""
        if group.pending.get(entry_id) is not None:
            return False
        pending = PendingEntry(None, delivery_ms)
        pending.delivery_count = delivery_count
        group.pending.add(entry_id, pending)
        self.nbytes += _PENDING_BYTES
        self.pending_total += 1
        return True

    def claim(self, group: ConsumerGroup, entry_id: int, consumer: Consumer) -> PendingEntry:
        """Move (or create, for XCLAIM FORCE) the NACK of `entry_id` to `consumer`; the caller
        sets its delivery time and count."""
        pending = group.pending.get(entry_id)
        if pending is None:
            pending = PendingEntry(None, 0)
            group.pending.add(entry_id, pending)
            self.nbytes += _PENDING_BYTES
            self.pending_total += 1
        if pending.consumer is not consumer:
            if pending.consumer is not None:
                pending.consumer.pending.remove(entry_id)
            consumer.pending.add(entry_id, pending)
            pending.consumer = consumer
        return pending

    # ------------------------------------------------------------ read counters

    def has_tombstones_from(self, start: int) -> bool:
        """streamRangeHasTombstones(start, +): may a deleted entry lie at or after `start`?"""
        if not self.length or not self.max_deleted_id:
            return False
        if self.first_id > self.max_deleted_id:
            return False
        return start <= self.max_deleted_id

    def estimate_entries_read(self, entry_id: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry."""
        if not self.entries_added:
            return 0
        if not self.length and entry_id <= self.last_id:
            return self.entries_added
        if entry_id == self.last_id:
            return self.entries_added
        if entry_id > self.last_id:
            return INVALID_ENTRIES_READ
        if not self.max_deleted_id or self.max_deleted_id < self.first_id:
            if entry_id < self.first_id:
                return self.entries_added - self.length
            if entry_id == self.first_id:
                return self.entries_added - self.length + 1
        return INVALID_ENTRIES_READ

    def advance_group(self, group: ConsumerGroup, entry_id: int) -> None:
        """A group delivers `entry_id`, above its last delivered ID: update its counters."""
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones_from(entry_id):
            group.entries_read += 1
        elif self.entries_added:
            group.entries_read = self.estimate_entries_read(entry_id)
        group.last_id = entry_id

    def lag(self, group: ConsumerGroup) -> int | None:
        """The group's lag as XINFO reports it, or None when it cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones_from(group.last_id):
            return self.entries_added - group.entries_read
        entries_read = self.estimate_entries_read(group.last_id)
        if entries_read != INVALID_ENTRIES_READ:
            return self.entries_added - entries_read
        return None

    # ---------------------------------------------------------------- freeing

    def free_slice(self, max_items: int) -> int:
        """Drop up to about `max_items` elements: whole nodes, then pending entries."""
        done = 0
        nodes = self.nodes
        while nodes and done < max_items:
            node = nodes.pop()
            self.firsts.pop()
            done += node.live
            self.length -= node.live
        groups = self.groups
        while groups and done < max_items:
            group = next(reversed(groups.values()))
            order, by_id = group.pending.order, group.pending.by_id
            while order and done < max_items:
                entry_id = order.pop()
                pending = by_id.pop(entry_id)
                if pending.consumer is not None:
                    pending.consumer.pending.by_id.pop(entry_id, None)
                done += 1
                self.pending_total -= 1
            if not order:
                groups.popitem()
        return done
