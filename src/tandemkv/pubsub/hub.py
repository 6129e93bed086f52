"""Hub: the subscription index and the one publish function.

Rules:
- The index is two-way: channel -> subscribers here, subscriber -> channels on the subscriber
  (`channels`, `patterns`, `shard_channels`), so unsubscribing everything costs O(that
  subscriber's subscriptions).
- `publish` is the only way a message reaches a subscriber; PUBLISH, SPUBLISH and keyspace
  notifications all call it. Channel subscribers get it first, then pattern subscribers, as
  in Redis. Sharded messages reach only shard-channel subscribers (never patterns).
- Each message is encoded once per protocol version and kind, not once per subscriber.
- Patterns are compiled once, when first subscribed.
- Delivery is `subscriber.write(bytes)`: the server layer bounds what a slow reader may hold.
"""

from __future__ import annotations

import re
from typing import Protocol

from tandemkv.config import Config
from tandemkv.glob import compile_glob
from tandemkv.protocol import Push, encode


class Subscriber(Protocol):
    """What the Hub needs of a client (a Session): its protocol version, its side of the
    two-way index, and a way to queue bytes for it."""

    resp: int
    channels: set[bytes]
    patterns: set[bytes]
    shard_channels: set[bytes]

    def write(self, data: bytes) -> None: ...


# notify-keyspace-events letters (Redis 7.0 notify.c).
NOTIFY_KEYSPACE = 1 << 0  # K
NOTIFY_KEYEVENT = 1 << 1  # E
_CLASS_BITS = {
    "g": 1 << 2,
    "$": 1 << 3,
    "l": 1 << 4,
    "s": 1 << 5,
    "h": 1 << 6,
    "z": 1 << 7,
    "x": 1 << 8,
    "e": 1 << 9,
    "t": 1 << 10,
    "m": 1 << 11,
    "d": 1 << 12,
    "n": 1 << 13,
}
_ALL = "g$lshzxetd"  # what 'A' stands for


def parse_notify_flags(text: str) -> int:
    """The flag bits of a `notify-keyspace-events` value (validated by the config layer)."""
    flags = 0
    for ch in text:
        if ch == "K":
            flags |= NOTIFY_KEYSPACE
        elif ch == "E":
            flags |= NOTIFY_KEYEVENT
        elif ch == "A":
            for letter in _ALL:
                flags |= _CLASS_BITS[letter]
        else:
            flags |= _CLASS_BITS[ch]
    return flags


def event_classes(text: str) -> frozenset[str]:
    """The event-class letters a `notify-keyspace-events` value selects ('A' expanded; K and
    E, which choose channels, left out)."""
    return frozenset(ch for ch in text.replace("A", _ALL) if ch in _CLASS_BITS)


class Hub:
    """Every subscription of the instance, and the one publish function."""

    def __init__(self, config: Config) -> None:
        self.channels: dict[bytes, dict[Subscriber, None]] = {}
        self.patterns: dict[bytes, tuple[re.Pattern[bytes], dict[Subscriber, None]]] = {}
        self.shard_channels: dict[bytes, dict[Subscriber, None]] = {}
        self.notify_flags = parse_notify_flags(config.str("notify-keyspace-events"))
        config.watch("notify-keyspace-events", self._set_flags)

    def _set_flags(self, value: object) -> None:
        self.notify_flags = parse_notify_flags(str(value))

    # ------------------------------------------------------------ subscribing

    def subscribe(self, sub: Subscriber, channel: bytes) -> bool:
        """True if the subscriber was not subscribed to `channel` yet."""
        if channel in sub.channels:
            return False
        sub.channels.add(channel)
        self.channels.setdefault(channel, {})[sub] = None
        return True

    def unsubscribe(self, sub: Subscriber, channel: bytes) -> bool:
        if channel not in sub.channels:
            return False
        sub.channels.discard(channel)
        _forget(self.channels, channel, sub)
        return True

    def ssubscribe(self, sub: Subscriber, channel: bytes) -> bool:
        if channel in sub.shard_channels:
            return False
        sub.shard_channels.add(channel)
        self.shard_channels.setdefault(channel, {})[sub] = None
        return True

    def sunsubscribe(self, sub: Subscriber, channel: bytes) -> bool:
        if channel not in sub.shard_channels:
            return False
        sub.shard_channels.discard(channel)
        _forget(self.shard_channels, channel, sub)
        return True

    def psubscribe(self, sub: Subscriber, pattern: bytes) -> bool:
        if pattern in sub.patterns:
            return False
        sub.patterns.add(pattern)
        entry = self.patterns.get(pattern)
        if entry is None:
            entry = self.patterns[pattern] = (compile_glob(pattern), {})
        entry[1][sub] = None
        return True

    def punsubscribe(self, sub: Subscriber, pattern: bytes) -> bool:
        if pattern not in sub.patterns:
            return False
        sub.patterns.discard(pattern)
        entry = self.patterns.get(pattern)
        if entry is not None:
            entry[1].pop(sub, None)
            if not entry[1]:
                del self.patterns[pattern]
        return True

    def unsubscribe_all(self, sub: Subscriber) -> None:
        for channel in list(sub.channels):
            self.unsubscribe(sub, channel)
        for pattern in list(sub.patterns):
            self.punsubscribe(sub, pattern)
        for channel in list(sub.shard_channels):
            self.sunsubscribe(sub, channel)

    # -------------------------------------------------------------- publishing

    def publish(self, channel: bytes, message: bytes, *, sharded: bool = False) -> int:
        """Deliver `message` to every subscriber of `channel`; returns how many received it."""
        receivers = 0
        table = self.shard_channels if sharded else self.channels
        subscribers = table.get(channel)
        if subscribers:
            kind = b"smessage" if sharded else b"message"
            encoded: dict[int, bytes] = {}
            for sub in list(subscribers):
                data = encoded.get(sub.resp)
                if data is None:
                    data = encoded[sub.resp] = encode(Push([kind, channel, message]), sub.resp)
                sub.write(data)
                receivers += 1
        if sharded or not self.patterns:
            return receivers
        for pattern, (regex, subscribers) in list(self.patterns.items()):
            if regex.fullmatch(channel) is None:
                continue
            encoded = {}
            for sub in list(subscribers):
                data = encoded.get(sub.resp)
                if data is None:
                    data = encoded[sub.resp] = encode(
                        Push([b"pmessage", pattern, channel, message]), sub.resp
                    )
                sub.write(data)
                receivers += 1
        return receivers

    def notify_keyspace_event(self, event_class: str, event: bytes, key: bytes, db: int) -> None:
        """Publish a keyspace event on the channels `notify-keyspace-events` enables."""
        flags = self.notify_flags
        if not flags & _CLASS_BITS[event_class] or not flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT):
            return
        if not self.channels and not self.patterns:
            return
        if flags & NOTIFY_KEYSPACE:
            self.publish(b"__keyspace@%d__:%b" % (db, key), event)
        if flags & NOTIFY_KEYEVENT:
            self.publish(b"__keyevent@%d__:%b" % (db, event), key)

    # ------------------------------------------------------------- inspection

    def channel_names(self, pattern: bytes | None, *, sharded: bool = False) -> list[bytes]:
        table = self.shard_channels if sharded else self.channels
        if pattern is None:
            return list(table)
        regex = compile_glob(pattern)
        return [name for name in table if regex.fullmatch(name) is not None]

    def subscriber_count(self, channel: bytes, *, sharded: bool = False) -> int:
        table = self.shard_channels if sharded else self.channels
        return len(table.get(channel, ()))

    def pattern_count(self) -> int:
        return len(self.patterns)


def _forget(table: dict[bytes, dict[Subscriber, None]], channel: bytes, sub: Subscriber) -> None:
    subscribers = table.get(channel)
    if subscribers is not None:
        subscribers.pop(sub, None)
        if not subscribers:
            del table[channel]
