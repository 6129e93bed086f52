"""The keyspace: tandem engines of shards, deadlines and expiry. No I/O, no pub/sub."""

from tandemkv.keyspace.engine import Engine, Tandem
from tandemkv.keyspace.expiry import ExpiryIndex
from tandemkv.keyspace.keyspace import Keyspace, KeyspaceStats, Notify

__all__ = ["Engine", "ExpiryIndex", "Keyspace", "KeyspaceStats", "Notify", "Tandem"]
