"""Stream commands (Redis 7.0 t_stream.c semantics), blocking XREAD / XREADGROUP included.

The structure is values/streams.py; this module parses arguments in Redis's order (which
decides the error a client sees), builds replies and raises Redis's keyspace events. IDs are
packed ints (`ms << 64 | seq`, values/streams.py). Unlike other collections a stream is never
deleted when it empties (Redis keeps empty streams and their groups).

Times: the keyspace clock (`session.instance.clock.now_ms()`) gives `*` IDs, delivery times,
consumers' seen times and idle times. IDs stay monotonic if the clock goes back: a new ID is
above the last one whatever the clock says (streamNextID).

Blocking (XREAD BLOCK, XREADGROUP BLOCK): when nothing can be served at once the handler
returns a `Waiter` (commands/blocking.py) whose `serve(key)` does what Redis's
serveClientsBlockedOnStreamKey does: `$` was resolved to the last ID when blocking; a group
reader reads past its group's last delivered ID, and is answered with an error when its group
or its key went away (Redis's NOGROUP / UNBLOCKED replies).

OBJECT ENCODING is `stream` for every stream, as in Redis 7.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tandemkv.commands import effects
from tandemkv.commands.args import Int
from tandemkv.commands.blocking import Waiter
from tandemkv.commands.keys import ValueType, register_type
from tandemkv.commands.session import Session
from tandemkv.commands.table import command, container, help_reply
from tandemkv.commands.typed import charge, create, lookup_typed
from tandemkv.errors import NO_SUCH_KEY, SYNTAX, CommandError, printable, wrong_arity
from tandemkv.protocol import NULL_ARRAY, OK, Error, Map, string2ll
from tandemkv.values.streams import (
    INVALID_ENTRIES_READ,
    MAX_ID,
    U64,
    Consumer,
    ConsumerGroup,
    Fields,
    StreamValue,
    format_id,
    make_id,
)

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
ID_TOO_SMALL = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
INVALID_START = "ERR invalid start ID for the interval"
INVALID_END = "ERR invalid end ID for the interval"
XREAD_BLOCKED_DEFAULT_COUNT = 1000
_LONG_MAX = 2**63 - 1
_ADDRESS_SPACE = 2**47  # x86-64 user address space

register_type(StreamValue, ValueType(b"stream", copy=StreamValue.copy, encoding=lambda value: b"stream"))


def _stream(session: Session, key: bytes, *, read: bool = False) -> StreamValue | None:
    return lookup_typed(session, key, StreamValue, read=read)


def _subcommand_syntax(session: Session) -> CommandError:
    """Redis's addReplySubcommandSyntaxError."""
    argv = session.argv
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{printable(argv[1][:128])}'. "
        f"Try {printable(argv[0].upper())} HELP."
    )


# --------------------------------------------------------------------- IDs


def _strtoull(text: bytes) -> int | None:
    """Redis's string2ull: strict decimal first, then C's strtoull (leading spaces, a sign;
    a minus wraps around); None when not a number or out of range."""
    strict = string2ll(text)
    if strict is not None:
        return strict if strict >= 0 else None
    body = text.lstrip(b" \t\n\v\f\r")
    negative = body[:1] == b"-"
    if body[:1] in (b"+", b"-"):
        body = body[1:]
    if not body or not body.isdigit():
        return None
    value = int(body)
    if value > U64:
        return None
    return (-value) & U64 if negative else value


def parse_id(raw: bytes, missing_seq: int = 0, *, strict: bool = False, partial: bool = False) -> tuple[int, bool]:
    """Redis's streamGenericParseIDOrReply: (packed ID, whether the sequence was given).
    `-` and `+` are the smallest and largest IDs unless `strict`; `ms` alone takes
    `missing_seq`; `ms-*` (only where `partial`) has no sequence given."""
    if len(raw) > 127:
        raise CommandError(INVALID_ID)
    text = raw.split(b"\0", 1)[0]
    if text == b"-" or text == b"+":
        if strict:
            raise CommandError(INVALID_ID)
        return (0 if text == b"-" else MAX_ID), True
    ms_part, dash, seq_part = text.partition(b"-")
    ms = _strtoull(ms_part)
    if ms is None:
        raise CommandError(INVALID_ID)
    if not dash:
        return make_id(ms, missing_seq), True
    if partial and seq_part == b"*":
        return make_id(ms, 0), False
    seq = _strtoull(seq_part)
    if seq is None:
        raise CommandError(INVALID_ID)
    return make_id(ms, seq), True


def _interval_id(raw: bytes, missing_seq: int) -> tuple[int, bool]:
    """A range bound: (ID, exclusive) -- `(` makes it exclusive (streamParseIntervalIDOrReply)."""
    if len(raw) > 1 and raw[:1] == b"(":
        return parse_id(raw[1:], missing_seq, strict=True)[0], True
    return parse_id(raw, missing_seq)[0], False


def _start_bound(raw: bytes) -> int:
    start, exclusive = _interval_id(raw, 0)
    if exclusive:
        if start == MAX_ID:
            raise CommandError(INVALID_START)
        start += 1  # the packed form carries into ms, as streamIncrID
    return start


def _end_bound(raw: bytes) -> int:
    end, exclusive = _interval_id(raw, U64)
    if exclusive:
        if end == 0:
            raise CommandError(INVALID_END)
        end -= 1
    return end


def _incr(entry_id: int) -> int:
    """streamIncrID: the next ID (0-0 after the largest)."""
    return 0 if entry_id == MAX_ID else entry_id + 1


# ------------------------------------------------------------------ replies


def _entry(entry_id: int, fields: Fields) -> list[Any]:
    return [format_id(entry_id), list(fields)]


def _entries(items: Iterable[tuple[int, Fields]]) -> list[Any]:
    return [[format_id(entry_id), list(fields)] for entry_id, fields in items]


# ---------------------------------------------------------- XADD / XTRIM


class _TrimArgs:
    """The parsed options of XADD / XTRIM (Redis's streamAddTrimArgs)."""

    __slots__ = ("approx", "id", "id_given", "limit", "maxlen", "minid", "no_mkstream", "seq_given", "strategy")

    def __init__(self) -> None:
        self.strategy = ""  # "", "maxlen" or "minid"
        self.maxlen = 0
        self.minid = 0
        self.approx = False
        self.limit = 0
        self.no_mkstream = False
        self.id = 0
        self.id_given = False
        self.seq_given = True


def _parse_add_trim(session: Session, argv: list[bytes], xadd: bool) -> tuple[_TrimArgs, int]:
    """streamParseAddOrTrimArgsOrReply: the options and the position of XADD's ID."""
    args = _TrimArgs()
    limit_given = False
    argc = len(argv)
    i = 2
    while i < argc:
        more = argc - 1 - i
        opt = argv[i]
        word = opt.lower()
        if xadd and opt == b"*":
            break
        if word in (b"maxlen", b"minid") and more:
            if args.strategy:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            args.approx = False
            following = argv[i + 1]
            if more >= 2 and following == b"~":
                args.approx = True
                i += 1
            elif more >= 2 and following == b"=":
                i += 1
            if word == b"maxlen":
                args.maxlen = Int(argv[i + 1])
                if args.maxlen < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
            else:
                args.minid = parse_id(argv[i + 1], strict=True)[0]
            i += 1
            args.strategy = word.decode()
        elif word == b"limit" and more:
            args.limit = Int(argv[i + 1])
            if args.limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            limit_given = True
            i += 1
        elif xadd and word == b"nomkstream":
            args.no_mkstream = True
        elif xadd:
            args.id, args.seq_given = parse_id(opt, strict=True, partial=True)
            args.id_given = True
            break
        else:
            raise CommandError(SYNTAX)
        i += 1
    if args.limit and not args.strategy:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and not args.strategy:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit_given:
        if not args.approx:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif args.approx:
        entries = session.instance.config.int("stream-node-max-entries")
        args.limit = min(max(100 * entries, 0) or 10000, 1000000)
    else:
        args.limit = 0
    return args, i


def _trim(session: Session, key: bytes, value: StreamValue, args: _TrimArgs) -> int:
    """Trim as parsed; frees the dropped nodes in slices; returns the entries removed."""
    maxlen = args.maxlen if args.strategy == "maxlen" else None
    removed, dropped = value.trim(maxlen, args.minid, args.approx, args.limit)
    if dropped:
        session.db.release(dropped)
    return removed


def _trim_effect(session: Session, argv: list[bytes], reply: Any, changed: bool) -> list[list[bytes]]:
    """XADD and XTRIM propagate approximate trimming (MAXLEN|MINID ~ x) as exact trimming to
    where it stopped (MAXLEN = <length> / MINID = <first ID>), and XADD the ID it generated
    (streamRewriteApproxSpecifier, streamRewriteTrimArgument, xaddCommand)."""
    xadd = argv[0].lower() == b"xadd"
    args, idpos = _parse_add_trim(session, argv, xadd)
    line = list(argv)
    if args.approx:
        value = session.db.peek(argv[1])
        at = next(i for i in range(2, len(argv)) if argv[i].lower() in (b"maxlen", b"minid")) + 1
        if isinstance(value, StreamValue):
            line[at] = b"="
            line[at + 1] = str(value.length).encode() if args.strategy == "maxlen" else format_id(value.first_id)
    if xadd and not (args.id_given and args.seq_given):
        line[idpos] = reply
    return [line]


@command("xadd", -5, "write denyoom fast", keys=(1, 1, 1), group="stream", since="5.0.0", effect=_trim_effect,
         tips="nondeterministic_output")
def xadd(session: Session, key: bytes, *rest: bytes) -> Any:
    """Appends a new entry to a stream"""
    argv = [b"xadd", key, *rest]
    args, idpos = _parse_add_trim(session, argv, True)
    field_pos = idpos + 1
    if len(argv) - field_pos < 2 or (len(argv) - field_pos) % 2:
        raise wrong_arity("xadd")
    if args.id_given and args.seq_given and args.id == 0:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    value = _stream(session, key)
    if value is None:
        if args.no_mkstream:
            return None
        value = create(session, key, StreamValue())
    if value.last_id == MAX_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    last = value.last_id
    if not args.id_given:
        new_id = value.next_id(session.instance.clock.now_ms())
        assert new_id is not None
    elif args.seq_given:
        new_id = args.id
    elif last >> 64 == args.id >> 64:
        if last & U64 == U64:
            # streamAppendItem fails here without setting errno to EDOM: Redis answers so.
            raise CommandError("ERR Elements are too large to be stored")
        new_id = last + 1
    else:
        new_id = args.id
    if new_id <= last:
        raise CommandError(ID_TOO_SMALL)
    fields = tuple(argv[field_pos:])
    if sum(len(item) for item in fields) > 1 << 30:
        raise CommandError("ERR Elements are too large to be stored")
    before = value.nbytes
    config = session.instance.config
    value.append(new_id, fields, config.int("stream-node-max-bytes"), config.int("stream-node-max-entries"))
    session.notify("t", b"xadd", key)
    if args.strategy and _trim(session, key, value, args):
        session.notify("t", b"xtrim", key)
    charge(session, value, before)
    return format_id(new_id)


@command("xtrim", -4, "write", keys=(1, 1, 1), group="stream", since="5.0.0", effect=_trim_effect,
         tips="nondeterministic_output")
def xtrim(session: Session, key: bytes, *rest: bytes) -> int:
    """Trims the stream to (approximately if '~' is passed) a certain size"""
    args, _ = _parse_add_trim(session, [b"xtrim", key, *rest], False)
    value = _stream(session, key)
    if value is None:
        return 0
    before = value.nbytes
    removed = _trim(session, key, value, args)
    if removed:
        charge(session, value, before)
        session.notify("t", b"xtrim", key)
    return removed


# ----------------------------------------------------------------- reads


@command("xlen", 2, "readonly fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xlen(session: Session, key: bytes) -> int:
    """Return the number of entries in a stream"""
    value = _stream(session, key, read=True)
    return 0 if value is None else value.length


def _range_generic(session: Session, key: bytes, start_raw: bytes, end_raw: bytes, options: tuple[bytes, ...], rev: bool) -> Any:
    """xrangeGenericCommand (start and end as the command's own order: XREVRANGE end start)."""
    start = _start_bound(start_raw)
    end = _end_bound(end_raw)
    count = -1
    j = 0
    while j < len(options):
        if options[j].lower() == b"count" and j + 1 < len(options):
            count = max(Int(options[j + 1]), 0)
            j += 2
        else:
            raise CommandError(SYNTAX)
    value = _stream(session, key, read=True)
    if value is None:
        return []
    if count == 0:
        return NULL_ARRAY
    limit = 0 if count == -1 else count
    if rev:
        return _entries(value.revrange(start, end, limit))
    return _entries(value.range(start, end, limit))


@command("xrange", -4, "readonly", keys=(1, 1, 1), group="stream", since="5.0.0")
def xrange(session: Session, key: bytes, start: bytes, end: bytes, *options: bytes) -> Any:
    """Return a range of elements in a stream, with IDs matching the specified IDs interval"""
    return _range_generic(session, key, start, end, options, False)


@command("xrevrange", -4, "readonly", keys=(1, 1, 1), group="stream", since="5.0.0")
def xrevrange(session: Session, key: bytes, end: bytes, start: bytes, *options: bytes) -> Any:
    """Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE"""
    return _range_generic(session, key, start, end, options, True)


# ---------------------------------------------------------------- writes


@command("xdel", -3, "write fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xdel(session: Session, key: bytes, *raw_ids: bytes) -> int:
    """Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist."""
    value = _stream(session, key)
    if value is None:
        return 0
    ids = [parse_id(raw, strict=True)[0] for raw in raw_ids]
    before = value.nbytes
    deleted = 0
    first_entry = False
    for entry_id in ids:
        if value.delete(entry_id):
            if entry_id == value.first_id:
                first_entry = True
            if entry_id > value.max_deleted_id:
                value.max_deleted_id = entry_id
            deleted += 1
    if deleted:
        if not value.length:
            value.first_id = 0
        elif first_entry:
            value.first_id = value.first_live_id()
        charge(session, value, before)
        session.notify("t", b"xdel", key)
    return deleted


@command("xsetid", -3, "write denyoom fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xsetid(session: Session, key: bytes, raw_id: bytes, *options: bytes) -> Any:
    """An internal command for replicating stream values"""
    new_id = parse_id(raw_id, strict=True)[0]
    entries_added = -1
    max_deleted = 0
    i = 0
    while i < len(options):
        word = options[i].lower()
        if word == b"entriesadded" and i + 1 < len(options):
            entries_added = Int(options[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif word == b"maxdeletedid" and i + 1 < len(options):
            max_deleted = parse_id(options[i + 1], strict=True)[0]
            if new_id < max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
        else:
            raise CommandError(SYNTAX)
        i += 2
    value = _stream(session, key)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    if value.length:
        if new_id < value.last_live_id():
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added != -1 and value.length > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    value.last_id = new_id
    if entries_added != -1:
        value.entries_added = entries_added
    if max_deleted:
        value.max_deleted_id = max_deleted
    session.notify("t", b"xsetid", key)
    return OK


# ---------------------------------------------------------- XREAD(GROUP)


def _consumer(session: Session, key: bytes, value: StreamValue, group: ConsumerGroup, name: bytes, now_ms: int) -> Consumer:
    """streamLookupConsumer (refreshing its seen time) or streamCreateConsumer (with its event)."""
    consumer = group.consumers.get(name)
    if consumer is not None:
        consumer.seen_ms = now_ms
        return consumer
    before = value.nbytes
    created = value.add_consumer(group, name, now_ms)
    assert created is not None
    charge(session, value, before)
    session.notify("t", b"xgroup-createconsumer", key)
    return created


def _read_group(
    session: Session, value: StreamValue, group: ConsumerGroup, consumer: Consumer, start: int, count: int, noack: bool
) -> list[Any]:
    """streamReplyWithRange for a group: new entries from `start`, advancing the group and,
    without NOACK, adding them to the PELs."""
    now = session.instance.clock.now_ms()
    before = value.nbytes
    reply = []
    for entry_id, fields in value.range(start, MAX_ID, count):
        if entry_id > group.last_id:
            value.advance_group(group, entry_id)
        reply.append([format_id(entry_id), list(fields)])
        if not noack:
            value.deliver(group, consumer, entry_id, now)
    charge(session, value, before)
    return reply


def _read_history(session: Session, value: StreamValue, consumer: Consumer, start: int, count: int) -> list[Any]:
    """streamReplyWithRangeFromConsumerPEL: the consumer's pending entries from `start`;
    a deleted entry shows as a null; each one served counts as delivered again."""
    now = session.instance.clock.now_ms()
    reply: list[Any] = []
    for entry_id, pending in consumer.pending.since(start):
        if count and len(reply) >= count:
            break
        fields = value.get(entry_id)
        if fields is None:
            reply.append([format_id(entry_id), NULL_ARRAY])
        else:
            reply.append([format_id(entry_id), list(fields)])
            pending.delivery_ms = now
            pending.delivery_count += 1
    return reply


def _keyed(session: Session, pairs: list[tuple[bytes, list[Any]]]) -> Any:
    """XREAD's reply: per key an array [key, entries] in RESP2, a map in RESP3."""
    if session.resp == 3:
        return Map(pairs)
    return [[key, entries] for key, entries in pairs]


def _xread_generic(session: Session, argv: list[bytes], xreadgroup: bool) -> Any:
    """xreadCommand, for XREAD and XREADGROUP."""
    argc = len(argv)
    timeout_ms = -1
    count = 0
    streams_arg = 0
    streams_count = 0
    noack = False
    group_name: bytes | None = None
    consumer_name = b""
    i = 1
    while i < argc:
        more = argc - i - 1
        word = argv[i].lower()
        if word == b"block" and more:
            if session.in_script:  # Redis refuses BLOCK in scripts outright (not as a timeout)
                raise CommandError(
                    f"ERR {session.argv[0].decode('latin-1')} command is not allowed with BLOCK option from scripts"
                )
            i += 1
            timeout_ms = _timeout_ms(argv[i])
        elif word == b"count" and more:
            i += 1
            count = max(Int(argv[i]), 0)
        elif word == b"streams" and more:
            streams_arg = i + 1
            streams_count = argc - streams_arg
            if streams_count % 2:
                raise CommandError(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
                )
            streams_count //= 2
            break
        elif word == b"group" and more >= 2:
            if not xreadgroup:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            group_name, consumer_name = argv[i + 1], argv[i + 2]
            i += 2
        elif word == b"noack":
            if not xreadgroup:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            noack = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    if streams_arg == 0:
        raise CommandError(SYNTAX)
    if xreadgroup and group_name is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")

    keys = argv[streams_arg : streams_arg + streams_count]
    ids: list[int] = []
    groups: list[ConsumerGroup] = []
    for key, raw in zip(keys, argv[streams_arg + streams_count :], strict=True):
        value = _stream(session, key, read=True)
        if group_name is not None:
            group = value.groups.get(group_name) if value is not None else None
            if group is None:
                raise CommandError(
                    f"NOGROUP No such key '{printable(key)}' or consumer group '{printable(group_name)}' "
                    "in XREADGROUP with GROUP option"
                )
            groups.append(group)
        if raw == b"$":
            if xreadgroup:
                raise CommandError(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of "
                    "this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would "
                    "just return an empty result set."
                )
            ids.append(value.last_id if value is not None else 0)
        elif raw == b">":
            if not xreadgroup:
                raise CommandError(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
                    "<consumer> option."
                )
            ids.append(MAX_ID)
        else:
            ids.append(parse_id(raw, strict=True)[0])

    pairs: list[tuple[bytes, list[Any]]] = []
    for index, key in enumerate(keys):
        value = _stream(session, key, read=True)
        if value is None:
            continue
        gt = ids[index]
        if groups:
            group = groups[index]
            history = gt != MAX_ID
            ready = history or (value.length > 0 and value.last_live_id() > group.last_id)
            if not history:
                gt = group.last_id  # `>`: what the group has not delivered yet
        else:
            history = False
            ready = value.length > 0 and value.last_live_id() > gt
        if not ready:
            continue
        start = _incr(gt)
        if groups:
            now = session.instance.clock.now_ms()
            consumer = _consumer(session, key, value, groups[index], consumer_name, now)
            if history:
                entries = _read_history(session, value, consumer, start, count)
            else:
                entries = _read_group(session, value, groups[index], consumer, start, count, noack)
        else:
            entries = _entries(value.range(start, MAX_ID, count))
        pairs.append((key, entries))
    if pairs:
        return _keyed(session, pairs)
    if timeout_ms == -1:
        return NULL_ARRAY
    if session.deny_blocking:
        return NULL_ARRAY
    deadline_ms = session.instance.clock.now_ms() + timeout_ms if timeout_ms > 0 else 0
    waiting: dict[bytes, int] = {}
    for key, gt in zip(keys, ids, strict=True):
        waiting.setdefault(key, gt)
    serve = _blocked_reader(session, waiting, count or XREAD_BLOCKED_DEFAULT_COUNT, group_name, consumer_name, noack)
    return Waiter(session, tuple(keys), serve, NULL_ARRAY, deadline_ms)


def _timeout_ms(raw: bytes) -> int:
    """getTimeoutFromObjectOrReply in milliseconds (0: forever)."""
    value = string2ll(raw)
    if value is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if value < 0:
        raise CommandError("ERR timeout is negative")
    return value


def _blocked_reader(
    session: Session, waiting: dict[bytes, int], count: int, group_name: bytes | None, consumer_name: bytes, noack: bool
) -> Callable[[bytes], Any]:
    """serve(key) for a blocked XREAD / XREADGROUP (serveClientsBlockedOnStreamKey)."""

    def serve(key: bytes) -> Any:
        value = session.db.peek(key)
        is_stream = value is not None and value.__class__ is StreamValue
        if group_name is not None:
            if not is_stream:
                return Error("UNBLOCKED the stream key no longer exists")
            group = value.groups.get(group_name)  # type: ignore[union-attr]
            if group is None:
                return Error("NOGROUP the consumer group this client was blocked on no longer exists")
            waiting[key] = group.last_id
        elif not is_stream:
            return None
        stream: StreamValue = value  # type: ignore[assignment]
        gt = waiting[key]
        if stream.last_id <= gt:
            return None
        start = _incr(gt)
        if next(stream.range(start, MAX_ID, 1), None) is None:
            # Redis serves only after XADD, which leaves a new entry (unless it trimmed it at
            # once); other events on the key (XSETID, XGROUP ...) must not answer an empty read.
            return None
        if group_name is not None:
            now = session.instance.clock.now_ms()
            consumer = _consumer(session, key, stream, group, consumer_name, now)
            entries = _read_group(session, stream, group, consumer, start, count, noack)
        else:
            entries = _entries(stream.range(start, MAX_ID, count))
        return _keyed(session, [(key, entries)])

    return serve


# ------------------------------------------------------------ propagation
# Consumer-group changes raise no keyspace event; as Redis, they propagate as the state they
# leave: XCLAIM ... FORCE JUSTID for each pending entry delivered or claimed (its owner,
# delivery time and count), XGROUP SETID / CREATECONSUMER where XCLAIM cannot say it
# (streamPropagateXCLAIM, streamPropagateGroupID, streamPropagateConsumerCreation).


def _group_after(session: Session, key: bytes, group_name: bytes) -> ConsumerGroup | None:
    value = session.db.tandem.locate(key)
    stream = value[0].get(key) if value is not None else None
    return stream.groups.get(group_name) if isinstance(stream, StreamValue) else None


def _claim_line(key: bytes, group_name: bytes, group: ConsumerGroup, raw_id: bytes, owner: bytes) -> list[bytes]:
    """XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID last: the
    pending entry as it is now; one that is gone (deleted entry) with zeros, which a replay
    clears as the command did."""
    nack = group.pending.get(parse_id(raw_id, strict=True)[0])
    if nack is not None and nack.consumer is not None:
        owner, when, count = nack.consumer.name, nack.delivery_ms, nack.delivery_count
    else:
        when = count = 0
    return [
        b"XCLAIM", key, group_name, owner, b"0", raw_id, b"TIME", str(when).encode(), b"RETRYCOUNT",
        str(count).encode(), b"FORCE", b"JUSTID", b"LASTID", format_id(group.last_id),
    ]


def _set_id_line(key: bytes, group_name: bytes, group: ConsumerGroup) -> list[bytes]:
    return [b"XGROUP", b"SETID", key, group_name, format_id(group.last_id), b"ENTRIESREAD", str(group.entries_read).encode()]


def _reply_id(item: Any) -> bytes:
    return item if item.__class__ is bytes else item[0]


@effects.unconditional
def _xack_effect(session: Session, argv: list[bytes], reply: Any, changed: bool) -> list[list[bytes]]:
    return [argv] if reply.__class__ is int and reply > 0 else []


@effects.unconditional
def _xclaim_effect(session: Session, argv: list[bytes], reply: Any, changed: bool) -> list[list[bytes]]:
    """XCLAIM: one line per entry claimed, or cleared because it was deleted."""
    if reply.__class__ is Error:
        return []
    key, group_name, consumer = argv[1], argv[2], argv[3]
    group = _group_after(session, key, group_name)
    if group is None:
        return []
    claimed = {_reply_id(item) for item in reply}
    lines = []
    i = 5
    while i < len(argv):
        try:
            entry_id = parse_id(argv[i], strict=True)[0]
        except CommandError:
            break
        if format_id(entry_id) in claimed or group.pending.get(entry_id) is None:
            lines.append(_claim_line(key, group_name, group, argv[i], consumer))
        i += 1
    if not lines and any(word.lower() == b"lastid" for word in argv[i:]):
        lines.append(_set_id_line(key, group_name, group))
    return lines


@effects.unconditional
def _xautoclaim_effect(session: Session, argv: list[bytes], reply: Any, changed: bool) -> list[list[bytes]]:
    """XAUTOCLAIM: one line per entry claimed, and per deleted entry it cleared."""
    if reply.__class__ is Error:
        return []
    key, group_name, consumer = argv[1], argv[2], argv[3]
    group = _group_after(session, key, group_name)
    if group is None:
        return []
    ids = [_reply_id(item) for item in reply[1]] + list(reply[2])
    return [_claim_line(key, group_name, group, raw_id, consumer) for raw_id in ids]


@effects.unconditional
def _xreadgroup_effect(session: Session, argv: list[bytes], reply: Any, changed: bool) -> list[list[bytes]]:
    """XREADGROUP: for new entries (ID >) an XCLAIM each; with NOACK, the consumer's
    creation and the group's new last ID instead. History reads propagate nothing."""
    if reply.__class__ is Error or reply is NULL_ARRAY or reply is None:
        return []
    words = [word.lower() for word in argv]
    group_name, consumer = argv[words.index(b"group") + 1], argv[words.index(b"group") + 2]
    noack = b"noack" in words[1:words.index(b"streams")]
    streams_at = len(argv) - 1 - words[::-1].index(b"streams")
    keys_and_ids = argv[streams_at + 1:]
    half = len(keys_and_ids) // 2
    start_of = dict(zip(keys_and_ids[:half], keys_and_ids[half:], strict=True))
    pairs = reply.items if isinstance(reply, Map) else [(item[0], item[1]) for item in reply]
    lines = []
    for key, entries in pairs:
        group = _group_after(session, key, group_name)
        if group is None or start_of.get(key) != b">":
            continue
        if noack:
            lines.append([b"XGROUP", b"CREATECONSUMER", key, group_name, consumer])
            if entries:
                lines.append(_set_id_line(key, group_name, group))
        else:
            lines.extend(_claim_line(key, group_name, group, entry[0], consumer) for entry in entries)
    return lines


@command("xread", -4, "readonly blocking movablekeys", keys=(0, 0, 0), group="stream", since="5.0.0")
def xread(session: Session, *args: bytes) -> Any:
    """Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block."""
    return _xread_generic(session, [b"xread", *args], False)


@command("xreadgroup", -7, "write blocking movablekeys", keys=(0, 0, 0), group="stream", since="5.0.0",
         effect=_xreadgroup_effect)
def xreadgroup(session: Session, *args: bytes) -> Any:
    """Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block."""
    return _xread_generic(session, [b"xreadgroup", *args], True)


# ----------------------------------------------------------------- XGROUP

container("xgroup", -2, group="stream", since="5.0.0", summary="A container for consumer groups commands")

_XGROUP_HELP = help_reply(
    "XGROUP",
    (
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
    ),
)


def _xgroup_prologue(session: Session, sub: bytes, key: bytes, group_name: bytes, options: tuple[bytes, ...]) -> tuple[StreamValue | None, ConsumerGroup | None, bool, int]:
    """The checks xgroupCommand makes for every subcommand with a key: options (CREATE's
    MKSTREAM and ENTRIESREAD, SETID's ENTRIESREAD), the key, the group. Returns the stream,
    the group, MKSTREAM and ENTRIESREAD."""
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    i = 0
    while i < len(options):
        word = options[i].lower()
        if sub == b"create" and word == b"mkstream":
            mkstream = True
            i += 1
        elif sub in (b"create", b"setid") and word == b"entriesread" and i + 1 < len(options):
            entries_read = Int(options[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise _subcommand_syntax(session)
    value = _stream(session, key)
    group = None
    if not mkstream:
        if value is None:
            raise CommandError(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
                "the MKSTREAM option to create an empty stream automatically."
            )
        group = value.groups.get(group_name)
        if group is None and sub in (b"setid", b"createconsumer", b"delconsumer"):
            raise CommandError(f"NOGROUP No such consumer group '{printable(group_name)}' for key name '{printable(key)}'")
    elif value is not None:
        group = value.groups.get(group_name)
    return value, group, mkstream, entries_read


@command("create", -5, "write denyoom", keys=(2, 2, 1), group="stream", since="5.0.0", container="xgroup")
def xgroup_create(session: Session, key: bytes, group_name: bytes, raw_id: bytes, *options: bytes) -> Any:
    """Create a consumer group."""
    value, _, mkstream, entries_read = _xgroup_prologue(session, b"create", key, group_name, options)
    if len(options) > 3:
        raise _subcommand_syntax(session)
    if raw_id == b"$":
        new_id = value.last_id if value is not None else 0
    else:
        new_id = parse_id(raw_id, strict=True)[0]
    if value is None:
        assert mkstream
        value = create(session, key, StreamValue())
    before = value.nbytes
    if value.add_group(group_name, new_id, entries_read) is None:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    charge(session, value, before)
    session.notify("t", b"xgroup-create", key)
    return OK


@command("setid", -5, "write", keys=(2, 2, 1), group="stream", since="5.0.0", container="xgroup")
def xgroup_setid(session: Session, key: bytes, group_name: bytes, raw_id: bytes, *options: bytes) -> Any:
    """Set a consumer group to an arbitrary last delivered ID value."""
    value, group, _, entries_read = _xgroup_prologue(session, b"setid", key, group_name, options)
    if len(options) not in (0, 2):
        raise _subcommand_syntax(session)
    assert value is not None and group is not None
    new_id = value.last_id if raw_id == b"$" else parse_id(raw_id)[0]
    group.last_id = new_id
    group.entries_read = entries_read
    session.notify("t", b"xgroup-setid", key)
    return OK


@command("destroy", 4, "write", keys=(2, 2, 1), group="stream", since="5.0.0", container="xgroup")
def xgroup_destroy(session: Session, key: bytes, group_name: bytes) -> int:
    """Destroy a consumer group."""
    value, group, _, _ = _xgroup_prologue(session, b"destroy", key, group_name, ())
    assert value is not None
    if group is None:
        return 0
    before = value.nbytes
    value.destroy_group(group_name)
    charge(session, value, before)
    # The event readies the key: XREADGROUP clients blocked on this group get NOGROUP.
    session.notify("t", b"xgroup-destroy", key)
    return 1


@command("createconsumer", 5, "write denyoom", keys=(2, 2, 1), group="stream", since="6.2.0", container="xgroup")
def xgroup_createconsumer(session: Session, key: bytes, group_name: bytes, consumer_name: bytes) -> int:
    """Create a consumer in a consumer group."""
    value, group, _, _ = _xgroup_prologue(session, b"createconsumer", key, group_name, ())
    assert value is not None and group is not None
    before = value.nbytes
    if value.add_consumer(group, consumer_name, session.instance.clock.now_ms()) is None:
        return 0
    charge(session, value, before)
    session.notify("t", b"xgroup-createconsumer", key)
    return 1


@command("delconsumer", 5, "write", keys=(2, 2, 1), group="stream", since="5.0.0", container="xgroup")
def xgroup_delconsumer(session: Session, key: bytes, group_name: bytes, consumer_name: bytes) -> int:
    """Delete a consumer from a consumer group."""
    value, group, _, _ = _xgroup_prologue(session, b"delconsumer", key, group_name, ())
    assert value is not None and group is not None
    consumer = group.consumers.get(consumer_name)
    if consumer is None:
        return 0
    pending = len(consumer.pending)
    before = value.nbytes
    value.delete_consumer(group, consumer)
    charge(session, value, before)
    session.notify("t", b"xgroup-delconsumer", key)
    return pending


@command("help", 2, "loading stale", group="stream", since="5.0.0", container="xgroup")
def xgroup_help(session: Session) -> list[Any]:
    """Show helpful text about the different subcommands"""
    return _XGROUP_HELP


# -------------------------------------------------------------------- XACK


def _group_or_none(session: Session, key: bytes, group_name: bytes) -> tuple[StreamValue | None, ConsumerGroup | None]:
    value = _stream(session, key, read=True)
    if value is None:
        return None, None
    return value, value.groups.get(group_name)


def _nogroup(key: bytes, group_name: bytes) -> CommandError:
    return CommandError(f"NOGROUP No such key '{printable(key)}' or consumer group '{printable(group_name)}'")


@command("xack", -4, "write fast", keys=(1, 1, 1), group="stream", since="5.0.0", effect=_xack_effect)
def xack(session: Session, key: bytes, group_name: bytes, *raw_ids: bytes) -> int:
    """Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL."""
    value, group = _group_or_none(session, key, group_name)
    if value is None or group is None:
        return 0
    ids = [parse_id(raw, strict=True)[0] for raw in raw_ids]
    before = value.nbytes
    acknowledged = sum(1 for entry_id in ids if value.acknowledge(group, entry_id))
    charge(session, value, before)
    return acknowledged


# ---------------------------------------------------------------- XPENDING


@command("xpending", -3, "readonly", keys=(1, 1, 1), group="stream", since="5.0.0", tips="nondeterministic_output")
def xpending(session: Session, key: bytes, group_name: bytes, *args: bytes) -> Any:
    """Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged."""
    argc = len(args) + 3
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(SYNTAX)
    min_idle = 0
    count = 0
    start = end = 0
    consumer_name: bytes | None = None
    if argc >= 6:
        at = 0
        if args[0].lower() == b"idle":
            min_idle = Int(args[1])
            if argc < 8:
                raise CommandError(SYNTAX)
            at = 2
        count = max(Int(args[at + 2]), 0)
        start = _start_bound(args[at])
        end = _end_bound(args[at + 1])
        if at + 3 < len(args):
            consumer_name = args[at + 3]
    value, group = _group_or_none(session, key, group_name)
    if value is None or group is None:
        raise _nogroup(key, group_name)
    pending = group.pending
    if argc == 3:
        if not len(pending):
            return [0, None, None, NULL_ARRAY]
        owners = [
            [name, b"%d" % len(group.consumers[name].pending)]
            for name in sorted(group.consumers)
            if len(group.consumers[name].pending)
        ]
        return [len(pending), format_id(pending.first()), format_id(pending.last()), owners]
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        pending = consumer.pending
    now = session.instance.clock.now_ms()
    reply = []
    for entry_id, nack in pending.since(start, end):
        if not count:
            break
        if min_idle and now - nack.delivery_ms < min_idle:
            continue
        count -= 1
        owner = nack.consumer.name if nack.consumer is not None else b""
        reply.append([format_id(entry_id), owner, max(now - nack.delivery_ms, 0), nack.delivery_count])
    return reply


# ------------------------------------------------------------ XCLAIM family


@command("xclaim", -6, "write fast", keys=(1, 1, 1), group="stream", since="5.0.0", effect=_xclaim_effect,
         tips="nondeterministic_output")
def xclaim(session: Session, key: bytes, group_name: bytes, consumer_name: bytes, raw_min_idle: bytes, *args: bytes) -> list[Any]:
    """Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer."""
    value, group = _group_or_none(session, key, group_name)
    if value is None or group is None:
        raise _nogroup(key, group_name)
    min_idle = _int_or(raw_min_idle, "ERR Invalid min-idle-time argument for XCLAIM")
    min_idle = max(min_idle, 0)
    ids: list[int] = []
    j = 0
    while j < len(args):
        try:
            ids.append(parse_id(args[j], strict=True)[0])
        except CommandError:
            break
        j += 1
    now = session.instance.clock.now_ms()
    force = justid = False
    retry_count = -1
    delivery_ms = -1
    last_id = 0
    while j < len(args):
        more = len(args) - 1 - j
        word = args[j].lower()
        if word == b"force":
            force = True
        elif word == b"justid":
            justid = True
        elif word == b"idle" and more:
            j += 1
            delivery_ms = now - _int_or(args[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif word == b"time" and more:
            j += 1
            delivery_ms = _int_or(args[j], "ERR Invalid TIME option argument for XCLAIM")
        elif word == b"retrycount" and more:
            j += 1
            retry_count = _int_or(args[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif word == b"lastid" and more:
            j += 1
            last_id = parse_id(args[j], strict=True)[0]
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{printable(args[j])}'")
        j += 1
    if last_id > group.last_id:
        group.last_id = last_id
    if delivery_ms == -1 or delivery_ms < 0 or delivery_ms > now:
        delivery_ms = now
    before = value.nbytes
    consumer: Consumer | None = None
    reply: list[Any] = []
    for entry_id in ids:
        nack = group.pending.get(entry_id)
        fields = value.get(entry_id)
        if fields is None:
            if nack is not None:
                value.acknowledge(group, entry_id)
            continue
        if nack is None and not force:
            continue
        if nack is not None and nack.consumer is not None and min_idle and now - nack.delivery_ms < min_idle:
            continue
        if consumer is None:
            consumer = _consumer(session, key, value, group, consumer_name, now)
        nack = value.claim(group, entry_id, consumer)
        nack.delivery_ms = delivery_ms
        if retry_count >= 0:
            nack.delivery_count = retry_count
        elif not justid:
            nack.delivery_count += 1
        reply.append(format_id(entry_id) if justid else _entry(entry_id, fields))
    charge(session, value, before)
    return reply


def _int_or(raw: bytes, message: str) -> int:
    """getLongLongFromObjectOrReply with its own error text."""
    value = string2ll(raw)
    if value is None:
        raise CommandError(message)
    return value


@command("xautoclaim", -6, "write fast", keys=(1, 1, 1), group="stream", since="6.2.0", effect=_xautoclaim_effect,
         tips="nondeterministic_output")
def xautoclaim(session: Session, key: bytes, group_name: bytes, consumer_name: bytes, raw_min_idle: bytes, raw_start: bytes, *options: bytes) -> list[Any]:
    """Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer."""
    min_idle = max(_int_or(raw_min_idle, "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = _start_bound(raw_start)
    count = 100
    justid = False
    j = 0
    while j < len(options):
        more = len(options) - 1 - j
        word = options[j].lower()
        if word == b"count" and more:
            count = string2ll(options[j + 1])  # type: ignore[assignment]
            if count is None or not 1 <= count <= _LONG_MAX // 16:  # LONG_MAX / sizeof(streamID)
                raise CommandError("ERR COUNT must be > 0")
            j += 1
        elif word == b"justid":
            justid = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    value, group = _group_or_none(session, key, group_name)
    if value is None or group is None:
        raise _nogroup(key, group_name)
    if count * 16 >= _ADDRESS_SPACE:
        # Redis allocates 16 bytes per COUNT for the deleted IDs first; past what a process
        # can address, the allocation fails (below that it depends on the machine).
        raise CommandError("ERR Insufficient memory, failed allocating transient memory, COUNT too high.")
    attempts = count * 10
    now = session.instance.clock.now_ms()
    before = value.nbytes
    consumer: Consumer | None = None
    claimed: list[Any] = []
    deleted: list[bytes] = []
    next_id = 0
    walker = group.pending.since(start)
    for entry_id, nack in walker:
        if not attempts or not count:
            next_id = entry_id
            break
        attempts -= 1
        fields = value.get(entry_id)
        if fields is None:
            value.acknowledge(group, entry_id)
            deleted.append(format_id(entry_id))
            count -= 1
            continue
        if min_idle and now - nack.delivery_ms < min_idle:
            continue
        if consumer is None:
            consumer = _consumer(session, key, value, group, consumer_name, now)
        value.claim(group, entry_id, consumer)
        nack.delivery_ms = now
        if not justid:
            nack.delivery_count += 1
        claimed.append(format_id(entry_id) if justid else _entry(entry_id, fields))
        count -= 1
    charge(session, value, before)
    return [format_id(next_id), claimed, deleted]


# ------------------------------------------------------------------- XINFO

container("xinfo", -2, group="stream", since="5.0.0", summary="A container for stream introspection commands")

_XINFO_HELP = help_reply(
    "XINFO",
    (
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
    ),
)


def _info_stream(session: Session, key: bytes) -> StreamValue:
    value = _stream(session, key, read=True)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    return value


@command("help", 2, "loading stale", group="stream", since="5.0.0", container="xinfo")
def xinfo_help(session: Session) -> list[Any]:
    """Show helpful text about the different subcommands"""
    return _XINFO_HELP


@command("consumers", 4, "readonly", keys=(2, 2, 1), group="stream", since="5.0.0", container="xinfo",
         tips="nondeterministic_output")
def xinfo_consumers(session: Session, key: bytes, group_name: bytes) -> list[Any]:
    """List the consumers in a consumer group"""
    value = _info_stream(session, key)
    group = value.groups.get(group_name)
    if group is None:
        raise CommandError(f"NOGROUP No such consumer group '{printable(group_name)}' for key name '{printable(key)}'")
    now = session.instance.clock.now_ms()
    return [
        Map([(b"name", name), (b"pending", len(consumer.pending)), (b"idle", max(now - consumer.seen_ms, 0))])
        for name, consumer in sorted(group.consumers.items())
    ]


def _entries_read(group: ConsumerGroup) -> int | None:
    return None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read


@command("groups", 3, "readonly", keys=(2, 2, 1), group="stream", since="5.0.0", container="xinfo")
def xinfo_groups(session: Session, key: bytes) -> list[Any]:
    """List the consumer groups of a stream"""
    value = _info_stream(session, key)
    return [
        Map(
            [
                (b"name", name),
                (b"consumers", len(group.consumers)),
                (b"pending", len(group.pending)),
                (b"last-delivered-id", format_id(group.last_id)),
                (b"entries-read", _entries_read(group)),
                (b"lag", value.lag(group)),
            ]
        )
        for name, group in sorted(value.groups.items())
    ]


@command("stream", -3, "readonly", keys=(2, 2, 1), group="stream", since="5.0.0", container="xinfo")
def xinfo_stream(session: Session, key: bytes, *options: bytes) -> Any:
    """Get information about a stream"""
    value = _info_stream(session, key)
    full = bool(options)
    count = 10
    if options:
        if len(options) not in (1, 3) or options[0].lower() != b"full":
            raise _subcommand_syntax(session)
        if len(options) == 3:
            if options[1].lower() != b"count":
                raise _subcommand_syntax(session)
            count = Int(options[2])
            if count < 0:
                count = 10
    items: list[tuple[bytes, Any]] = [
        (b"length", value.length),
        (b"radix-tree-keys", value.node_count()),
        (b"radix-tree-nodes", _radix_nodes(value)),
        (b"last-generated-id", format_id(value.last_id)),
        (b"max-deleted-entry-id", format_id(value.max_deleted_id)),
        (b"entries-added", value.entries_added),
        (b"recorded-first-entry-id", format_id(value.first_id)),
    ]
    if not full:
        first = next(iter(value.range(0, MAX_ID, 1)), None)
        last = next(iter(value.revrange(0, MAX_ID, 1)), None)
        items += [
            (b"groups", len(value.groups)),
            (b"first-entry", _entry(*first) if first else None),
            (b"last-entry", _entry(*last) if last else None),
        ]
        return Map(items)
    items.append((b"entries", _entries(value.range(0, MAX_ID, count))))
    groups = []
    for name, group in sorted(value.groups.items()):
        pel = []
        for entry_id, nack in group.pending.since(0):
            if count and len(pel) >= count:
                break
            owner = nack.consumer.name if nack.consumer is not None else b""
            pel.append([format_id(entry_id), owner, nack.delivery_ms, nack.delivery_count])
        consumers = []
        for consumer_name, consumer in sorted(group.consumers.items()):
            own = []
            for entry_id, nack in consumer.pending.since(0):
                if count and len(own) >= count:
                    break
                own.append([format_id(entry_id), nack.delivery_ms, nack.delivery_count])
            consumers.append(
                Map(
                    [
                        (b"name", consumer_name),
                        (b"seen-time", consumer.seen_ms),
                        (b"pel-count", len(consumer.pending)),
                        (b"pending", own),
                    ]
                )
            )
        groups.append(
            Map(
                [
                    (b"name", name),
                    (b"last-delivered-id", format_id(group.last_id)),
                    (b"entries-read", _entries_read(group)),
                    (b"lag", value.lag(group)),
                    (b"pel-count", len(group.pending)),
                    (b"pending", pel),
                    (b"consumers", consumers),
                ]
            )
        )
    items.append((b"groups", groups))
    return Map(items)


def _radix_nodes(value: StreamValue) -> int:
    """XINFO's radix-tree-nodes: the nodes of the radix tree Redis keeps its listpack nodes
    in, keyed by their 16-byte master IDs (big-endian ms, seq). Every key has the same length,
    so the tree is a compressed trie: a compressed node for each shared run of bytes, a
    branching node where keys diverge, a leaf per key, the head. O(node keys x 16)."""
    keys = [first.to_bytes(16, "big") for first in value.firsts]
    return _trie_nodes(keys, 0) if keys else 1


def _trie_nodes(keys: list[bytes], depth: int) -> int:
    """Nodes of the subtree holding `keys` (sorted, distinct, sharing their first `depth`
    bytes): a leaf at the end, a compressed node (plus its child) for one key's rest, a
    compressed node for a shared run, then a branching node."""
    if depth == 16:
        return 1
    if len(keys) == 1:
        return 2
    first, last = keys[0], keys[-1]
    shared = 0
    while first[depth + shared] == last[depth + shared]:
        shared += 1
    depth += shared
    total = 2 if shared else 1
    i = 0
    while i < len(keys):
        byte = keys[i][depth]
        j = i + 1
        while j < len(keys) and keys[j][depth] == byte:
            j += 1
        total += _trie_nodes(keys[i:j], depth + 1)
        i = j
    return total
