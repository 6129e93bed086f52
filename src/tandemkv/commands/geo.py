"""Geospatial commands (Redis 7.0 geo.c semantics) on sorted sets whose scores are geohashes.

The math is values/geohash.py; this module parses arguments in geo.c's order (which decides
the error a client sees), runs the search and shapes the replies.

- GEOADD is ZADD with each longitude/latitude pair turned into its 52-bit score: geo.c rewrites
  the command into ZADD and calls it, so its options, reply, errors after the coordinates and
  keyspace event (`zadd`) are ZADD's (`zadd_generic`).
- One generic search, `georadius_generic` (georadiusGeneric), serves GEOSEARCH, GEOSEARCHSTORE
  and the deprecated GEORADIUS, GEORADIUSBYMEMBER and their _RO forms; STORE / STOREDIST write a
  sorted set with the `georadiusstore` or `geosearchstore` event.
- Distances are bulk strings with 4 decimals; coordinates are printed as Redis's
  addReplyHumanLongDouble prints them (RESP2 bulk strings, RESP3 doubles).
"""

from __future__ import annotations

from typing import Any

from tandemkv.commands.args import Int
from tandemkv.commands.keys import c_string
from tandemkv.commands.session import Session
from tandemkv.commands.table import command
from tandemkv.commands.typed import lookup_typed
from tandemkv.commands.zsets import new_zset, parse_score, store_zset, zadd_generic
from tandemkv.errors import NOT_FLOAT, SYNTAX, CommandError
from tandemkv.protocol import NULL_ARRAY, DoubleText
from tandemkv.values.geohash import (
    LAT_MAX,
    LAT_MIN,
    LONG_MAX,
    LONG_MIN,
    Point,
    Shape,
    distance,
    format_coordinate,
    format_distance,
    geohash_string,
    position,
    score_of,
    search,
    sort_points,
)
from tandemkv.values.zsets import ZSetValue

_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
_BAD_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"
_NO_MEMBER = "ERR could not decode requested zset member"


# ----------------------------------------------------------- arguments


def _double(raw: bytes, message: str = NOT_FLOAT) -> float:
    """getDoubleFromObjectOrReply: string2d, or `message`."""
    value = parse_score(raw)
    if value is None:
        raise CommandError(message)
    return value


def _long_lat(raw_longitude: bytes, raw_latitude: bytes) -> tuple[float, float]:
    """extractLongLatOrReply: two doubles within the area Redis can index."""
    longitude = _double(raw_longitude)
    latitude = _double(raw_latitude)
    if not (LONG_MIN <= longitude <= LONG_MAX and LAT_MIN <= latitude <= LAT_MAX):
        raise CommandError(f"ERR invalid longitude,latitude pair {longitude:f},{latitude:f}")
    return longitude, latitude


def _unit(raw: bytes) -> float:
    """extractUnitOrReply: metres per unit."""
    conversion = _UNITS.get(c_string(raw).lower())
    if conversion is None:
        raise CommandError(_BAD_UNIT)
    return conversion


def _radius(raw_radius: bytes, raw_unit: bytes) -> tuple[float, float]:
    """extractDistanceOrReply: (radius, metres per unit)."""
    radius = _double(raw_radius, "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, _unit(raw_unit)


def _box(raw_width: bytes, raw_height: bytes, raw_unit: bytes) -> tuple[float, float, float]:
    """extractBoxOrReply: (width, height, metres per unit)."""
    width = _double(raw_width, "ERR need numeric width")
    height = _double(raw_height, "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    return width, height, _unit(raw_unit)


def _member_position(value: ZSetValue, member: bytes) -> tuple[float, float]:
    """longLatFromMember: the decoded position of a member, or Redis's error."""
    score = value.scores.get(member)
    if score is None:
        raise CommandError(_NO_MEMBER)
    return position(score)


# ------------------------------------------------------------------ GEOADD


@command("geoadd", -5, "write denyoom", keys=(1, 1, 1), group="geo", since="3.2.0")
def geoadd(session: Session, key: bytes, *args: bytes) -> Any:
    """Add one or more geospatial items in the geospatial index represented using a sorted set"""
    first = 0  # index of the first longitude
    nx = xx = False
    while first < len(args):
        option = c_string(args[first]).lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option != b"ch":
            break
        first += 1
    if (len(args) - first) % 3 or (xx and nx):
        raise CommandError(SYNTAX)
    zadd_args = list(args[:first])
    for i in range(first, len(args), 3):
        longitude, latitude = _long_lat(args[i], args[i + 1])
        zadd_args.append(b"%d" % score_of(longitude, latitude))
        zadd_args.append(args[i + 2])
    return zadd_generic(session, key, tuple(zadd_args), incr=False)


# ------------------------------------------------------------ point reads


def _read(session: Session, key: bytes) -> ZSetValue | None:
    return lookup_typed(session, key, ZSetValue, read=True)


def _coordinates(longitude: float, latitude: float) -> list[DoubleText]:
    return [DoubleText(format_coordinate(longitude)), DoubleText(format_coordinate(latitude))]


@command("geopos", -2, "readonly", keys=(1, 1, 1), group="geo", since="3.2.0")
def geopos(session: Session, key: bytes, *members: bytes) -> list[Any]:
    """Returns longitude and latitude of members of a geospatial index"""
    value = _read(session, key)
    scores = {} if value is None else value.scores
    reply: list[Any] = []
    for member in members:
        score = scores.get(member)
        reply.append(NULL_ARRAY if score is None else _coordinates(*position(score)))
    return reply


@command("geohash", -2, "readonly", keys=(1, 1, 1), group="geo", since="3.2.0")
def geohash(session: Session, key: bytes, *members: bytes) -> list[bytes | None]:
    """Returns members of a geospatial index as standard geohash strings"""
    value = _read(session, key)
    scores = {} if value is None else value.scores
    reply: list[bytes | None] = []
    for member in members:
        score = scores.get(member)
        reply.append(None if score is None else geohash_string(score))
    return reply


@command("geodist", -4, "readonly", keys=(1, 1, 1), group="geo", since="3.2.0")
def geodist(session: Session, key: bytes, member1: bytes, member2: bytes, *unit: bytes) -> bytes | None:
    """Returns the distance between two members of a geospatial index"""
    conversion = 1.0
    if len(unit) == 1:
        conversion = _unit(unit[0])
    elif unit:
        raise CommandError(SYNTAX)
    value = _read(session, key)
    if value is None:
        return None
    score1 = value.scores.get(member1)
    score2 = value.scores.get(member2)
    if score1 is None or score2 is None:
        return None
    return format_distance(distance(*position(score1), *position(score2)) / conversion)


# ------------------------------------------------------------------ search

# What a search command accepts (georadiusGeneric's flags).
RADIUS_COORDS = 1  # GEORADIUS: centre and radius are positional
RADIUS_MEMBER = 2  # GEORADIUSBYMEMBER: centre member and radius are positional
RADIUS_NOSTORE = 4  # the _RO forms: no STORE / STOREDIST
GEOSEARCH = 8  # GEOSEARCH's FROM... / BY... options
GEOSEARCHSTORE = 16  # GEOSEARCHSTORE: the destination comes first, STOREDIST is a flag


def georadius_generic(session: Session, args: tuple[bytes, ...], flags: int) -> Any:
    """GEORADIUS and friends, GEOSEARCH and GEOSEARCHSTORE (georadiusGeneric); `args` are the
    command's arguments after its name."""
    source = 1 if flags & GEOSEARCHSTORE else 0
    value = _read(session, args[source])
    store_key: bytes | None = args[0] if flags & GEOSEARCHSTORE else None
    storedist = False
    longitude = latitude = 0.0
    radius: float | None = None
    width = height = 0.0
    conversion = 0.0
    if flags & RADIUS_COORDS:
        base = 5
        longitude, latitude = _long_lat(args[1], args[2])
        radius, conversion = _radius(args[3], args[4])
    elif flags & RADIUS_MEMBER:
        base = 4
        if value is not None:  # without a key, the radius is never parsed
            longitude, latitude = _member_position(value, args[1])
            radius, conversion = _radius(args[2], args[3])
    else:
        base = 2 if flags & GEOSEARCHSTORE else 1

    withdist = withhash = withcoord = anyorder = False
    frommember = fromlonlat = byradius = bybox = False
    order = 0  # 0 none, 1 ascending, -1 descending
    count = 0
    options = args[base:]
    i = 0
    while i < len(options):
        word = c_string(options[i]).lower()
        left = len(options) - i - 1  # arguments after this one
        if word == b"withdist":
            withdist = True
        elif word == b"withhash":
            withhash = True
        elif word == b"withcoord":
            withcoord = True
        elif word == b"any":
            anyorder = True
        elif word == b"asc":
            order = 1
        elif word == b"desc":
            order = -1
        elif word == b"count" and left >= 1:
            count = Int(options[i + 1])
            if count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            i += 1
        elif word in (b"store", b"storedist") and left >= 1 and not flags & (RADIUS_NOSTORE | GEOSEARCH):
            store_key = options[i + 1]
            storedist = word == b"storedist"
            i += 1
        elif word == b"storedist" and flags & GEOSEARCHSTORE:
            storedist = True
        elif word == b"frommember" and left >= 1 and flags & GEOSEARCH and not fromlonlat:
            if value is not None:  # without a key, parsing goes on and the reply is empty
                longitude, latitude = _member_position(value, options[i + 1])
            frommember = True
            i += 1
        elif word == b"fromlonlat" and left >= 2 and flags & GEOSEARCH and not frommember:
            longitude, latitude = _long_lat(options[i + 1], options[i + 2])
            fromlonlat = True
            i += 2
        elif word == b"byradius" and left >= 2 and flags & GEOSEARCH and not bybox:
            radius, conversion = _radius(options[i + 1], options[i + 2])
            byradius = True
            i += 2
        elif word == b"bybox" and left >= 3 and flags & GEOSEARCH and not byradius:
            width, height, conversion = _box(options[i + 1], options[i + 2], options[i + 3])
            radius = None
            bybox = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1

    if store_key is not None and (withdist or withhash or withcoord):
        what = "GEOSEARCHSTORE" if flags & GEOSEARCHSTORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    name = session.argv[0].decode("latin-1") if session.argv else ""
    if flags & GEOSEARCH and not (frommember or fromlonlat):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & GEOSEARCH and not (byradius or bybox):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if anyorder and not count:
        raise CommandError("ERR the ANY argument requires COUNT argument")

    if value is None:
        if store_key is None:
            return []
        if session.db.delete(store_key):
            session.notify("g", b"del", store_key)
        return 0

    if count and not order and not anyorder:
        order = 1  # the closest COUNT: sorting is implied
    shape = Shape(longitude, latitude, conversion, radius=radius, width=width, height=height)
    points = search(value, shape, count if anyorder else 0)
    if not points and store_key is None:
        return []
    returned = len(points) if count == 0 or len(points) < count else count
    if order:
        sort_points(points, descending=order < 0, wanted=returned)
    del points[returned:]
    if store_key is None:
        return _search_reply(points, conversion, withdist, withhash, withcoord)
    stored = new_zset(
        session,
        {point.member: point.distance / conversion if storedist else point.score for point in points},
    )
    event = b"geosearchstore" if flags & GEOSEARCH else b"georadiusstore"
    return store_zset(session, store_key, stored, event)


def _search_reply(points: list[Point], conversion: float, withdist: bool, withhash: bool, withcoord: bool) -> list[Any]:
    """Members, or [member, distance?, hash?, [longitude, latitude]?] for each."""
    if not (withdist or withhash or withcoord):
        return [point.member for point in points]
    reply: list[Any] = []
    for point in points:
        item: list[Any] = [point.member]
        if withdist:
            item.append(format_distance(point.distance / conversion))
        if withhash:
            item.append(int(point.score))
        if withcoord:
            item.append(_coordinates(point.longitude, point.latitude))
        reply.append(item)
    return reply


_GEO = {"group": "geo"}


@command("georadius", -6, "write denyoom movablekeys", keys=(1, 1, 1), since="3.2.0", **_GEO)  # type: ignore[arg-type]
def georadius(session: Session, *args: bytes) -> Any:
    """Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point"""
    return georadius_generic(session, args, RADIUS_COORDS)


@command("georadiusbymember", -5, "write denyoom movablekeys", keys=(1, 1, 1), since="3.2.0", **_GEO)  # type: ignore[arg-type]
def georadiusbymember(session: Session, *args: bytes) -> Any:
    """Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member"""
    return georadius_generic(session, args, RADIUS_MEMBER)


@command("georadius_ro", -6, "readonly", keys=(1, 1, 1), since="3.2.10", **_GEO)  # type: ignore[arg-type]
def georadius_ro(session: Session, *args: bytes) -> Any:
    """A read-only variant for GEORADIUS"""
    return georadius_generic(session, args, RADIUS_COORDS | RADIUS_NOSTORE)


@command("georadiusbymember_ro", -5, "readonly", keys=(1, 1, 1), since="3.2.10", **_GEO)  # type: ignore[arg-type]
def georadiusbymember_ro(session: Session, *args: bytes) -> Any:
    """A read-only variant for GEORADIUSBYMEMBER"""
    return georadius_generic(session, args, RADIUS_MEMBER | RADIUS_NOSTORE)


@command("geosearch", -7, "readonly", keys=(1, 1, 1), since="6.2.0", **_GEO)  # type: ignore[arg-type]
def geosearch(session: Session, *args: bytes) -> Any:
    """Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle."""
    return georadius_generic(session, args, GEOSEARCH)


@command("geosearchstore", -8, "write denyoom", keys=(1, 2, 1), since="6.2.0", **_GEO)  # type: ignore[arg-type]
def geosearchstore(session: Session, *args: bytes) -> Any:
    """Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key."""
    return georadius_generic(session, args, GEOSEARCH | GEOSEARCHSTORE)
