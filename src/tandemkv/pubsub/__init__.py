"""Pub/sub: subscription index, the one publish function, keyspace notifications."""

from tandemkv.pubsub.hub import Hub, Subscriber, format_notify_flags, parse_notify_flags

__all__ = ["Hub", "Subscriber", "format_notify_flags", "parse_notify_flags"]
