"""Pub/sub commands (Redis 7.0 pubsub.c semantics).

The SUBSCRIBE family answers with one frame per channel (a `Frames` of pushes; RESP2 sees
arrays). The count in a frame is the client's channels + patterns for (P)(UN)SUBSCRIBE, and its
shard channels for S(UN)SUBSCRIBE, as in Redis 7.0. The RESP2 subscribed-mode rule is checked
by the dispatcher; PING's subscribed-mode reply lives with PING.
"""

from __future__ import annotations

from collections.abc import Callable

from tandemkv.commands.session import Session
from tandemkv.commands.table import command, container, help_reply
from tandemkv.errors import CommandError, printable
from tandemkv.protocol import Frames, Push, Simple

_FLAGS = "pubsub noscript loading stale"


def _count(session: Session) -> int:
    return len(session.channels) + len(session.patterns)


def _shard_count(session: Session) -> int:
    return len(session.shard_channels)


def subscribe_generic(
    session: Session,
    names: tuple[bytes, ...],
    add: Callable[[Session, bytes], bool],
    kind: bytes,
    count: Callable[[Session], int],
) -> Frames:
    """One confirmation frame per name, each with the count after that subscription."""
    frames = []
    for name in names:
        add(session, name)
        frames.append(Push([kind, name, count(session)]))
    return Frames(frames)


def unsubscribe_generic(
    session: Session,
    names: tuple[bytes, ...],
    current: set[bytes],
    remove: Callable[[Session, bytes], bool],
    kind: bytes,
    count: Callable[[Session], int],
) -> Frames:
    """One frame per name (every current one when no name is given, in no defined order, as
    Redis walks a dict); with nothing to drop, one frame with a null name."""
    frames = []
    for name in names or list(current):
        remove(session, name)
        frames.append(Push([kind, name, count(session)]))
    if not frames:
        frames.append(Push([kind, None, count(session)]))
    return Frames(frames)


@command("subscribe", -2, _FLAGS, group="pubsub", since="2.0.0")
def subscribe(session: Session, *channels: bytes) -> Frames:
    """Listen for messages published to the given channels"""
    return subscribe_generic(session, channels, session.instance.hub.subscribe, b"subscribe", _count)


@command("unsubscribe", -1, _FLAGS, group="pubsub", since="2.0.0")
def unsubscribe(session: Session, *channels: bytes) -> Frames:
    """Stop listening for messages posted to the given channels"""
    hub = session.instance.hub
    return unsubscribe_generic(session, channels, session.channels, hub.unsubscribe, b"unsubscribe", _count)


@command("psubscribe", -2, _FLAGS, group="pubsub", since="2.0.0")
def psubscribe(session: Session, *patterns: bytes) -> Frames:
    """Listen for messages published to channels matching the given patterns"""
    return subscribe_generic(session, patterns, session.instance.hub.psubscribe, b"psubscribe", _count)


@command("punsubscribe", -1, _FLAGS, group="pubsub", since="2.0.0")
def punsubscribe(session: Session, *patterns: bytes) -> Frames:
    """Stop listening for messages posted to channels matching the given patterns"""
    hub = session.instance.hub
    return unsubscribe_generic(session, patterns, session.patterns, hub.punsubscribe, b"punsubscribe", _count)


@command("ssubscribe", -2, _FLAGS, keys=(1, -1, 1), group="pubsub", since="7.0.0")
def ssubscribe(session: Session, *channels: bytes) -> Frames:
    """Listen for messages published to the given shard channels"""
    return subscribe_generic(session, channels, session.instance.hub.ssubscribe, b"ssubscribe", _shard_count)


@command("sunsubscribe", -1, _FLAGS, keys=(1, -1, 1), group="pubsub", since="7.0.0")
def sunsubscribe(session: Session, *channels: bytes) -> Frames:
    """Stop listening for messages posted to the given shard channels"""
    hub = session.instance.hub
    return unsubscribe_generic(
        session, channels, session.shard_channels, hub.sunsubscribe, b"sunsubscribe", _shard_count
    )


@command("publish", 3, "pubsub loading stale fast may_replicate", group="pubsub", since="2.0.0")
def publish(session: Session, channel: bytes, message: bytes) -> int:
    """Post a message to a channel

    Returns how many subscribers received it, pattern subscribers included."""
    return session.instance.hub.publish(channel, message)


@command("spublish", 3, "pubsub loading stale fast may_replicate", keys=(1, 1, 1), group="pubsub", since="7.0.0")
def spublish(session: Session, channel: bytes, message: bytes) -> int:
    """Post a message to a shard channel

    Pattern subscribers never receive it, as in Redis."""
    return session.instance.hub.publish(channel, message, sharded=True)


# ------------------------------------------------------------------ PUBSUB
# Subcommands are declared in the order Redis 7.0's COMMAND lists them.

container("pubsub", -2, group="pubsub", summary="A container for Pub/Sub commands", since="2.8.0")

_PUBSUB_HELP = help_reply(
    "PUBSUB",
    (
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ),
)


def _at_most_one_pattern(session: Session, args: tuple[bytes, ...]) -> bytes | None:
    """CHANNELS/SHARDCHANNELS take one optional pattern; more is Redis's subcommand error,
    which quotes the subcommand as the client typed it."""
    if len(args) > 1:
        typed = session.argv[1]
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{printable(typed[:128])}'. Try PUBSUB HELP."
        )
    return args[0] if args else None


@command("channels", -2, "pubsub loading stale", container="pubsub", group="pubsub", since="2.8.0")
def pubsub_channels(session: Session, *args: bytes) -> list[bytes]:
    """List active channels"""
    return session.instance.hub.channel_names(_at_most_one_pattern(session, args))


@command("numsub", -2, "pubsub loading stale", container="pubsub", group="pubsub", since="2.8.0")
def pubsub_numsub(session: Session, *channels: bytes) -> list[object]:
    """Get the count of subscribers for channels"""
    hub = session.instance.hub
    reply: list[object] = []
    for channel in channels:
        reply += [channel, hub.subscriber_count(channel)]
    return reply


@command("numpat", 2, "pubsub loading stale", container="pubsub", group="pubsub", since="2.8.0")
def pubsub_numpat(session: Session) -> int:
    """Get the count of unique patterns pattern subscriptions"""
    return session.instance.hub.pattern_count()


@command(
    "shardnumsub", -2, "pubsub loading stale", container="pubsub", group="pubsub", since="7.0.0"
)
def pubsub_shardnumsub(session: Session, *channels: bytes) -> list[object]:
    """Get the count of subscribers for shard channels"""
    hub = session.instance.hub
    reply: list[object] = []
    for channel in channels:
        reply += [channel, hub.subscriber_count(channel, sharded=True)]
    return reply


@command("help", 2, "loading stale", container="pubsub", group="pubsub", since="6.2.0", acl="")
def pubsub_help(session: Session) -> list[Simple]:
    """Show helpful text about the different subcommands"""
    return _PUBSUB_HELP


@command(
    "shardchannels", -2, "pubsub loading stale", container="pubsub", group="pubsub", since="7.0.0"
)
def pubsub_shardchannels(session: Session, *args: bytes) -> list[bytes]:
    """List active shard channels"""
    return session.instance.hub.channel_names(_at_most_one_pattern(session, args), sharded=True)
