"""Redis's geohash on sorted sets: 52-bit interleaved scores, the 9-box area search, distances.

A geo point is a sorted set member whose score is a 52-bit geohash: latitude and longitude are
each scaled to 26 bits (latitude over Redis's -85.05112878..85.05112878, longitude over
-180..180) and interleaved, latitude in the even bits. A score decodes to the centre of its
cell. A search covers its shape with the cell of the centre at a step (bits per axis) chosen
from the radius plus its 8 neighbours; every cell is one score range of the sorted set
(all scores that share the cell's prefix), so a search costs O(log n) per range plus the points
in the 9 cells, as Redis's geoGetPointsInRange (O(N + log M)). Where Redis tests every point of
a cell, a cell with many points is split into quarters (consecutive score ranges) and the
quarters that cannot hold a match are skipped: the same points come out in the same order.

Every number is Redis's to the last bit: the same double operations in the same order as
geohash.c, geohash_helper.c and geo.c (Python floats are IEEE doubles, and math's sin, cos,
asin and sqrt are the C library's), with C's behaviour where Python's differs: domain errors
give NaN instead of raising, float-to-integer casts truncate and wrap as x86-64 does.
Results are ordered as Redis's sorts order them: glibc's qsort (a stable merge sort) for a
whole result, and Redis's own partial quicksort (pqsort.c) when COUNT takes fewer than found,
reproduced step by step here because its order of equal distances is not the stable one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tandemkv.values.zsets import ZSetValue

STEP_MAX = 26  # bits per coordinate: 52-bit scores
LONG_MIN, LONG_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
_STANDARD_LAT = (-90.0, 90.0)  # GEOHASH's strings use the usual latitude range

_D_R = math.pi / 180.0
EARTH_RADIUS_M = 6372797.560856
_MERCATOR_MAX = 20037726.37
_MASK64 = 2**64 - 1
_MASK32 = 2**32 - 1
_EVEN_BITS = 0x5555555555555555
_ODD_BITS = 0xAAAAAAAAAAAAAAAA
_BASE32 = b"0123456789bcdefghjkmnpqrstuvwxyz"
_TWO_TO_MINUS_24 = 2.0**-24
_TWO_TO_MINUS_26 = 2.0**-26  # ilato * 1.0 / (1 << 26), exactly

# A cell: (bits, step). Redis marks a neighbour it excludes with bits = step = 0.
Cell = tuple[int, int]
_NO_CELL: Cell = (0, 0)


# ------------------------------------------------------------ C arithmetic


def _cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else math.nan


def _to_uint32(x: float) -> int:
    """C's (uint32_t) of a double known to be in [0, 2**32)."""
    return int(x)


def to_uint64(score: float) -> int:
    """C's (uint64_t)score as gcc compiles it for x86-64 (cvttsd2si around 2**63): exact for
    scores in [0, 2**64), wrapping or saturating for the rest, as redis-server does."""
    if score >= 2.0**63:
        if score - 2.0**63 >= 2.0**63:  # too large (or +inf): indefinite, then bit 63 flipped
            return 0
        return int(score - 2.0**63) ^ (1 << 63)
    if not score >= -(2.0**63):  # NaN, or below the signed range: the "indefinite" value
        return 1 << 63
    return int(score) & _MASK64


# ----------------------------------------------------------- bit shuffling


def _spread(value: int) -> int:
    """The 32 low bits of `value` moved to the even bit positions (interleave64's half)."""
    value = (value | (value << 16)) & 0x0000FFFF0000FFFF
    value = (value | (value << 8)) & 0x00FF00FF00FF00FF
    value = (value | (value << 4)) & 0x0F0F0F0F0F0F0F0F
    value = (value | (value << 2)) & 0x3333333333333333
    return (value | (value << 1)) & _EVEN_BITS


def _squash(value: int) -> int:
    """The even bits of `value` packed into 32 bits (deinterleave64's half)."""
    value &= _EVEN_BITS
    value = (value | (value >> 1)) & 0x3333333333333333
    value = (value | (value >> 2)) & 0x0F0F0F0F0F0F0F0F
    value = (value | (value >> 4)) & 0x00FF00FF00FF00FF
    value = (value | (value >> 8)) & 0x0000FFFF0000FFFF
    return (value | (value >> 16)) & _MASK32


# deinterleave64 of every 12-bit chunk (latitude bits low, longitude bits from bit 32): a
# 64-bit hash deinterleaves with six lookups, about 3x faster than the mask steps.
_CHUNK = [_squash(chunk) | (_squash(chunk >> 1) << 32) for chunk in range(1 << 12)]


def _deinterleave(bits: int) -> int:
    """deinterleave64: the latitude bits of a 64-bit hash in the low 32 bits, the longitude
    bits in the high 32."""
    table = _CHUNK
    return (
        table[bits & 0xFFF]
        | table[(bits >> 12) & 0xFFF] << 6
        | table[(bits >> 24) & 0xFFF] << 12
        | table[(bits >> 36) & 0xFFF] << 18
        | table[(bits >> 48) & 0xFFF] << 24
        | table[bits >> 60] << 30
    )


def encode(
    longitude: float,
    latitude: float,
    step: int = STEP_MAX,
    lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
) -> int | None:
    """geohashEncode: the `step`*2-bit hash of a point, None outside the supported area."""
    if not (LONG_MIN <= longitude <= LONG_MAX and LAT_MIN <= latitude <= LAT_MAX):
        return None
    lat_min, lat_max = lat_range
    if not (lat_min <= latitude <= lat_max):
        return None
    lat_offset = (latitude - lat_min) / (lat_max - lat_min)
    long_offset = (longitude - LONG_MIN) / (LONG_MAX - LONG_MIN)
    scale = float(1 << step)
    return _spread(_to_uint32(lat_offset * scale)) | (_spread(_to_uint32(long_offset * scale)) << 1)


def score_of(longitude: float, latitude: float) -> int:
    """The sorted set score of a valid point: its 52-bit hash (GEOADD)."""
    bits = encode(longitude, latitude)
    assert bits is not None, "coordinates are checked by the caller"
    return bits


Area = tuple[float, float, float, float]  # longitude min, max, latitude min, max


def decode(bits: int, step: int) -> Area:
    """geohashDecode: the cell of a hash, in degrees (the hash is 64 bits, as in C)."""
    separated = _deinterleave(bits)
    ilato = separated & _MASK32
    ilono = separated >> 32
    scale = float(1 << step)
    lat_scale = LAT_MAX - LAT_MIN
    long_scale = LONG_MAX - LONG_MIN
    return (
        LONG_MIN + (ilono * 1.0 / scale) * long_scale,
        LONG_MIN + (((ilono + 1) & _MASK32) * 1.0 / scale) * long_scale,
        LAT_MIN + (ilato * 1.0 / scale) * lat_scale,
        LAT_MIN + (((ilato + 1) & _MASK32) * 1.0 / scale) * lat_scale,
    )


def position(score: float) -> tuple[float, float]:
    """(longitude, latitude) of a member's score: the centre of its cell, clamped to the
    supported area (decodeGeohash; any score decodes, as in Redis)."""
    long_min, long_max, lat_min, lat_max = decode(to_uint64(score), STEP_MAX)
    longitude = (long_min + long_max) / 2
    longitude = LONG_MAX if longitude > LONG_MAX else LONG_MIN if longitude < LONG_MIN else longitude
    latitude = (lat_min + lat_max) / 2
    latitude = LAT_MAX if latitude > LAT_MAX else LAT_MIN if latitude < LAT_MIN else latitude
    return longitude, latitude


def geohash_string(score: float) -> bytes:
    """GEOHASH's 11-character base32 string: the position re-encoded over the standard
    latitude range -90..90, 52 bits, and a final '0'."""
    longitude, latitude = position(score)
    bits = encode(longitude, latitude, STEP_MAX, _STANDARD_LAT)
    assert bits is not None, "a decoded position is always in range"
    chars = bytes(_BASE32[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10))
    return chars + b"0"


# --------------------------------------------------------------- distances


def lat_distance(lat1: float, lat2: float) -> float:
    """geohashGetLatDistance: metres between two latitudes on one meridian."""
    return EARTH_RADIUS_M * math.fabs(lat2 * _D_R - lat1 * _D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: haversine metres between two points (Redis's earth radius); the
    coordinates are finite (checked or decoded ones), so only asin can leave its domain."""
    lon1r = lon1 * _D_R
    lon2r = lon2 * _D_R
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return EARTH_RADIUS_M * math.fabs(lat2 * _D_R - lat1 * _D_R)
    lat1r = lat1 * _D_R
    lat2r = lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    root = math.sqrt(u * u + math.cos(lat1r) * math.cos(lat2r) * v * v)  # a >= 0: |lat| < 90
    return 2.0 * EARTH_RADIUS_M * (math.asin(root) if root <= 1.0 else math.nan)


def format_distance(value: float) -> bytes:
    """addReplyDoubleDistance (fixedpoint_d2string, 4 digits): the value times 10^4 rounded
    to nearest even (llrint), printed with the point put back."""
    if value == 0:
        return b"0.0000"
    scaled = value * 10000.0
    fixed = round(scaled) if math.isfinite(scaled) and abs(scaled) < 2.0**63 else -(2**63)
    sign = b"-" if fixed < 0 else b""
    whole, fraction = divmod(abs(fixed), 10000)
    return b"%b%d.%04d" % (sign, whole, fraction)


def format_coordinate(value: float) -> bytes:
    """A coordinate as addReplyHumanLongDouble prints it: "%.17Lf" of the (exactly widened)
    double, trailing zeros and point removed, "-0" made "0"."""
    text = f"{value:.17f}".rstrip("0").rstrip(".")
    return b"0" if text == "-0" else text.encode()


# ------------------------------------------------------------------ shapes


class Shape:
    """A search area (Redis's GeoShape): a circle of `radius`, or a `width` x `height` box,
    in the unit whose size in metres is `conversion`, centred on (longitude, latitude)."""

    __slots__ = (
        "conversion", "height", "latitude", "latitude_reject_m", "longitude", "longitude_reject_deg", "radius", "width",
    )

    def __init__(
        self,
        longitude: float,
        latitude: float,
        conversion: float,
        *,
        radius: float | None = None,
        width: float = 0.0,
        height: float = 0.0,
    ) -> None:
        self.longitude = longitude
        self.latitude = latitude
        self.conversion = conversion
        self.radius = radius  # None: a box
        self.width = width
        self.height = height
        # A point farther than this in latitude alone is outside the circle: the great-circle
        # distance is at least the latitude distance; the margin covers every rounding of
        # Redis's haversine, so skipping its trigonometry never changes an answer.
        self.latitude_reject_m = math.inf if radius is None else radius * conversion * 1.000001 + 1.0
        self.longitude_reject_deg = self._longitude_reach()

    def _longitude_reach(self) -> float:
        """How far in longitude a point of the circle can be (infinite when not bounded so):
        a spherical cap of angular radius d centred at latitude p spans asin(sin d / cos p)
        either way, if it contains no pole; with the same margin as the latitude test, and
        only when that span does not cross the antimeridian (where raw longitude
        differences jump by 360)."""
        if self.radius is None:
            return math.inf
        reach = self.latitude_reject_m / EARTH_RADIUS_M
        centre = abs(self.latitude) * _D_R
        if not reach + centre < math.pi / 2 - 0.01:
            return math.inf
        span = math.asin(math.sin(reach) / math.cos(centre)) / _D_R * 1.000001 + 1e-9
        if self.longitude - span > -180.0 and self.longitude + span < 180.0:
            return span
        return math.inf

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min longitude, min latitude, max longitude, max latitude)."""
        longitude, latitude = self.longitude, self.latitude
        if self.radius is not None:
            height = self.conversion * self.radius
            width = self.conversion * self.radius
        else:
            height = self.conversion * (self.height / 2)
            width = self.conversion * (self.width / 2)
        lat_delta = height / EARTH_RADIUS_M / _D_R
        long_delta_top = width / EARTH_RADIUS_M / _cos((latitude + lat_delta) * _D_R) / _D_R
        long_delta_bottom = width / EARTH_RADIUS_M / _cos((latitude - lat_delta) * _D_R) / _D_R
        long_delta = long_delta_bottom if latitude < 0 else long_delta_top
        return longitude - long_delta, latitude - lat_delta, longitude + long_delta, latitude + lat_delta

    def reach_m(self) -> float:
        """The radius that sizes the search cells: the circle's, or the box's half-diagonal."""
        if self.radius is not None:
            reach = self.radius
        else:
            half_width = self.width / 2
            half_height = self.height / 2
            reach = math.sqrt(half_width * half_width + half_height * half_height)
        return reach * self.conversion

    def classify(self, area: Area) -> int:
        """Where a cell lies: OUTSIDE only if no point in it can pass `distance_if_within`
        (lower bounds of Redis's distances with a margin over every rounding), INSIDE if all
        of it seems to (an estimate: it only stops the search splitting the cell), else
        PARTIAL. For a search, skipping an OUTSIDE part never changes an answer."""
        long_min, long_max, lat_min, lat_max = area
        latitude, longitude = self.latitude, self.longitude
        lat_near = 0.0 if lat_min <= latitude <= lat_max else min(abs(lat_min - latitude), abs(lat_max - latitude))
        lat_far = max(abs(lat_min - latitude), abs(lat_max - latitude))
        # The haversine's sin^2(dlon / 2) only grows up to 180 degrees apart.
        raw_near = 0.0 if long_min <= longitude <= long_max else min(abs(long_min - longitude), abs(long_max - longitude))
        raw_far = max(abs(long_min - longitude), abs(long_max - longitude))
        long_near = max(min(raw_near, 360.0 - raw_far), 0.0)
        long_far = min(raw_far, 180.0)
        edge = max(abs(lat_min), abs(lat_max))  # cos(latitude) is smallest there in the cell
        cos_low = math.cos(edge * _D_R)
        cos_high = 1.0 if lat_min <= 0.0 <= lat_max else math.cos(min(abs(lat_min), abs(lat_max)) * _D_R)
        if self.radius is not None:
            reach = self.radius * self.conversion
            near_m = _arc_m(lat_near, long_near, math.cos(latitude * _D_R) * cos_low)
            if near_m > self.latitude_reject_m:
                return OUTSIDE
            far_m = _arc_m(lat_far, long_far, math.cos(latitude * _D_R) * cos_high)
            return INSIDE if far_m < reach else PARTIAL
        half_height = self.height * self.conversion / 2
        half_width = self.width * self.conversion / 2
        if (
            EARTH_RADIUS_M * lat_near * _D_R > half_height * 1.000001 + 1.0
            or _arc_m(0.0, long_near, cos_low * cos_low) > half_width * 1.000001 + 1.0
        ):
            return OUTSIDE
        if EARTH_RADIUS_M * lat_far * _D_R < half_height and _arc_m(0.0, long_far, cos_high * cos_high) < half_width:
            return INSIDE
        return PARTIAL

    def distance_if_within(self, longitude: float, latitude: float) -> float | None:
        """geoWithinShape's test: the distance in metres from the centre if the point is in
        the shape, else None."""
        if self.radius is not None:
            if (
                abs(longitude - self.longitude) > self.longitude_reject_deg
                or EARTH_RADIUS_M * math.fabs(latitude * _D_R - self.latitude * _D_R) > self.latitude_reject_m
            ):
                return None
            found = distance(self.longitude, self.latitude, longitude, latitude)
            return None if found > self.radius * self.conversion else found
        # geohashGetDistanceIfInRectangle: the cheaper latitude test first.
        if lat_distance(latitude, self.latitude) > self.height * self.conversion / 2:
            return None
        if distance(longitude, latitude, self.longitude, latitude) > self.width * self.conversion / 2:
            return None
        return distance(self.longitude, self.latitude, longitude, latitude)


OUTSIDE, PARTIAL, INSIDE = 0, 1, 2


def _arc_m(dlat_deg: float, dlon_deg: float, cos_product: float) -> float:
    """The haversine distance for these latitude and longitude differences, given the product
    of the two latitudes' cosines (Redis's formula; bounds in, bounds out)."""
    u = math.sin(dlat_deg * _D_R / 2)
    v = math.sin(dlon_deg * _D_R / 2)
    return 2.0 * EARTH_RADIUS_M * math.asin(min(math.sqrt(u * u + cos_product * v * v), 1.0))


def _estimate_step(range_m: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius: bits per axis of a cell about the size of the range."""
    if range_m == 0:
        return 26
    step = 1
    while range_m < _MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2  # so that the range is covered in most cases
    if latitude > 66 or latitude < -66:  # cells get narrower towards the poles
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), 26)


def _move(bits: int, step: int, east: int, north: int) -> int:
    """geohash_move_x / geohash_move_y: the neighbouring cell, wrapping around the world."""
    if east:
        x = bits & _ODD_BITS
        y = bits & _EVEN_BITS
        zz = _EVEN_BITS >> (64 - step * 2)
        x = x + (zz + 1) if east > 0 else (x | zz) - (zz + 1)
        bits = (x & (_ODD_BITS >> (64 - step * 2))) | y
    if north:
        x = bits & _ODD_BITS
        y = bits & _EVEN_BITS
        zz = _ODD_BITS >> (64 - step * 2)
        y = y + (zz + 1) if north > 0 else (y | zz) - (zz + 1)
        bits = x | (y & (_EVEN_BITS >> (64 - step * 2)))
    return bits


# The order in which Redis searches the centre cell and its neighbours (membersOfAllNeighbors)
# as (east, north) moves: centre, N, S, E, W, NE, NW, SE, SW.
_SEARCH_ORDER = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def search_cells(shape: Shape) -> list[Cell]:
    """geohashCalculateAreasByShapeWGS84: the centre cell and its 8 neighbours, in search
    order, with the neighbours that lie wholly outside the bounding box marked _NO_CELL."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    step = _estimate_step(shape.reach_m(), shape.latitude)
    centre = encode(shape.longitude, shape.latitude, step)
    assert centre is not None, "the centre is a valid point"
    # Near a cell's edge the estimated step may leave part of the area uncovered: one less.
    north = decode(_move(centre, step, 0, 1), step)
    south = decode(_move(centre, step, 0, -1), step)
    east = decode(_move(centre, step, 1, 0), step)
    west = decode(_move(centre, step, -1, 0), step)
    if step > 1 and (north[3] < max_lat or south[2] > min_lat or east[1] < max_lon or west[0] > min_lon):
        step -= 1
        centre = encode(shape.longitude, shape.latitude, step)
        assert centre is not None
    cells = [(_move(centre, step, dx, dy), step) for dx, dy in _SEARCH_ORDER]
    if step >= 2:
        long_min, long_max, lat_min, lat_max = decode(centre, step)
        for index, (dx, dy) in enumerate(_SEARCH_ORDER):
            if (
                (dy < 0 and lat_min < min_lat)
                or (dy > 0 and lat_max > max_lat)
                or (dx < 0 and long_min < min_lon)
                or (dx > 0 and long_max > max_lon)
            ):
                cells[index] = _NO_CELL
    return cells


# ------------------------------------------------------------------ search


class Point:
    """One search result (Redis's geoPoint): decoded position, distance in metres, the
    original score and the member."""

    __slots__ = ("distance", "latitude", "longitude", "member", "score")

    def __init__(self, longitude: float, latitude: float, distance: float, score: float, member: bytes) -> None:
        self.longitude = longitude
        self.latitude = latitude
        self.distance = distance
        self.score = score
        self.member = member


def search(zset: ZSetValue, shape: Shape, limit: int = 0) -> list[Point]:
    """The members inside `shape`, cell after cell in Redis's order, each cell's in score
    order; with `limit` > 0 (COUNT ANY) stop as soon as that many are found."""
    found: list[Point] = []
    last: Cell | None = None  # the last cell searched after the centre (Redis's last_processed)
    for index, cell in enumerate(search_cells(shape)):
        if cell == _NO_CELL:
            continue
        # Huge areas make neighbours coincide: a cell equal to the last one searched is skipped.
        if last is not None and cell == last:
            continue
        if found and limit and len(found) >= limit:
            break
        bits, step = cell
        shift = 52 - step * 2
        start = zset.score_start(float(bits << shift), exclusive=False)
        stop = zset.score_stop(float((bits + 1) << shift), exclusive=True)
        _search_cell(zset, bits, step, start, stop, shape, found, limit)
        if index:
            last = cell
    return found


# A cell holding more points than this is split in four (its quarters are consecutive score
# ranges) and the quarters wholly outside the shape are skipped. A split costs about 15 us
# (three bisections, four bounds) against about 1 us a point tested; measured on 100 000
# points, 64 leaves small searches as they were and makes a 5 km radius search 2.4x cheaper.
_SPLIT_POINTS = 64


def _search_cell(
    zset: ZSetValue, bits: int, step: int, start: int, stop: int, shape: Shape, found: list[Point], limit: int
) -> bool:
    """geoGetPointsInRange over one cell, whose scores sit at positions start..stop-1: the
    points inside `shape`, in score order, appended to `found`. Redis tests every point in
    the range; here big cells are split and the parts that cannot hold a match are skipped,
    which leaves the same points in the same order. True once `limit` points are found."""
    if stop - start > _SPLIT_POINTS and step < STEP_MAX and shape.classify(decode(bits, step)) == PARTIAL:
        shift = 52 - (step + 1) * 2
        bounds = [start]
        for quarter in (1, 2, 3):
            bounds.append(zset.score_start(float(((bits << 2) | quarter) << shift), exclusive=False))
        bounds.append(stop)
        for quarter in range(4):
            first, end = bounds[quarter], bounds[quarter + 1]
            if first >= end:
                continue
            child = (bits << 2) | quarter
            if shape.classify(decode(child, step + 1)) == OUTSIDE:
                continue
            if _search_cell(zset, child, step + 1, first, end, shape, found, limit):
                return True
        return False
    shift = 52 - step * 2
    within = shape.distance_if_within
    table = _CHUNK
    lat_scale = LAT_MAX - LAT_MIN
    # position() inlined for scores in [0, 2**52] (where (uint64_t) is int()). The cell's
    # scores share its prefix, deinterleaved once (`prefix`); each score adds its low `shift`
    # bits, two or three table lookups for cells of step 14 or 8 and finer. The longitude
    # cell is -180 + ilono * 360 / 2**26 .. the next, exact in doubles (ilono * 45 has at most
    # 32 bits), so its centre is one exact integer expression; the latitude takes Redis's
    # roundings one by one.
    prefix = _deinterleave(bits << shift)
    low_mask = (1 << shift) - 1
    for score, member in zset.order.islice(start, stop):
        low = int(score) & low_mask
        if shift <= 24:
            separated = prefix | table[low & 0xFFF] | table[low >> 12] << 6
        elif shift <= 36:
            separated = prefix | table[low & 0xFFF] | table[(low >> 12) & 0xFFF] << 6 | table[low >> 24] << 12
        else:
            separated = _deinterleave(int(score))
        ilato = separated & _MASK32
        longitude = ((separated >> 32) * 90 + 45 - 3019898880) * _TWO_TO_MINUS_24
        latitude = (
            (LAT_MIN + (ilato * _TWO_TO_MINUS_26) * lat_scale) + (LAT_MIN + ((ilato + 1) * _TWO_TO_MINUS_26) * lat_scale)
        ) / 2
        if latitude > LAT_MAX:
            latitude = LAT_MAX
        metres = within(longitude, latitude)
        if metres is not None:
            found.append(Point(longitude, latitude, metres, score, member))
            if limit and len(found) >= limit:
                return True
    return False


# ----------------------------------------------------------------- sorting


def sort_points(points: list[Point], descending: bool, wanted: int) -> None:
    """Order `points` by distance in place as Redis does: all of them with glibc's stable
    qsort, or only the first `wanted` (< len) with Redis's pqsort. Distinct distances sort
    the same under both; only ties between equal distances need pqsort's own steps."""
    if wanted >= len(points) or len({point.distance for point in points}) == len(points):
        points.sort(key=_by_distance, reverse=descending)
        return

    def compare(a: Point, b: Point) -> int:
        order = (a.distance > b.distance) - (a.distance < b.distance)
        return -order if descending else order

    _pqsort(points, 0, len(points), compare, 0, wanted - 1)


def _by_distance(point: Point) -> float:
    return point.distance


def _pqsort(
    items: list[Point], base: int, n: int, cmp: Callable[[Point, Point], int], lrange: int, rrange: int
) -> None:
    """Redis's pqsort.c (Bentley-McIlroy quicksort that only recurses into partitions
    overlapping positions lrange..rrange) on items[base:base+n], by element indices."""

    def swap(i: int, j: int) -> None:
        items[i], items[j] = items[j], items[i]

    def vecswap(i: int, j: int, count: int) -> None:
        for k in range(count):
            swap(i + k, j + k)

    def med3(a: int, b: int, c: int) -> int:
        ia, ib, ic = items[a], items[b], items[c]
        if cmp(ia, ib) < 0:
            return b if cmp(ib, ic) < 0 else (c if cmp(ia, ic) < 0 else a)
        return b if cmp(ib, ic) > 0 else (a if cmp(ia, ic) < 0 else c)

    while True:
        a = base
        if n < 7:
            for pm in range(a + 1, a + n):
                pl = pm
                while pl > a and cmp(items[pl - 1], items[pl]) > 0:
                    swap(pl, pl - 1)
                    pl -= 1
            return
        pm = a + n // 2
        if n > 7:
            pl = a
            pn = a + n - 1
            if n > 40:
                d = n // 8
                pl = med3(pl, pl + d, pl + 2 * d)
                pm = med3(pm - d, pm, pm + d)
                pn = med3(pn - 2 * d, pn - d, pn)
            pm = med3(pl, pm, pn)
        swap(a, pm)
        pa = pb = a + 1
        pc = pd = a + n - 1
        while True:
            while pb <= pc:
                result = cmp(items[pb], items[a])
                if result > 0:
                    break
                if result == 0:
                    swap(pa, pb)
                    pa += 1
                pb += 1
            while pb <= pc:
                result = cmp(items[pc], items[a])
                if result < 0:
                    break
                if result == 0:
                    swap(pc, pd)
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            swap(pb, pc)
            pb += 1
            pc -= 1
        pn = a + n
        r = min(pa - a, pb - pa)
        vecswap(a, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        vecswap(pb, pn - r, r)
        r = pb - pa
        if r > 1 and not (rrange < a or lrange > a + r - 1):
            _pqsort(items, a, r, cmp, lrange, rrange)
        r = pd - pc
        if r <= 1:
            return
        base = pn - r
        n = r
        if rrange < base or lrange > base + r - 1:
            return
