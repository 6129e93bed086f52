"""Pub/sub: the subscription index, the one publish function, keyspace notifications."""

from tandemkv.pubsub.hub import Hub, Subscriber, parse_notify_flags

__all__ = ["Hub", "Subscriber", "parse_notify_flags"]
