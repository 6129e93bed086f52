"""values/geohash.py in process: scores, decoding, formatting, the cell search and pqsort.

Exact agreement with redis-server is tests/test_geo_diff.py's job; these check the pieces
against known Redis values and against brute force.
"""

from __future__ import annotations

import math
import random

import pytest

from tandemkv.values import geohash
from tandemkv.values.geohash import (
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
    to_uint64,
)
from tandemkv.values.zsets import ZSetValue


def test_known_redis_values():
    """Figures printed by redis-server 7.0 for Redis's documentation example."""
    palermo = score_of(13.361389, 38.115556)
    catania = score_of(15.087269, 37.502669)
    assert (palermo, catania) == (3479099956230698, 3479447370796909)
    assert [format_coordinate(c) for c in position(palermo)] == [b"13.36138933897018433", b"38.11555639549629859"]
    assert geohash_string(palermo) == b"sqc8b49rny0"
    assert geohash_string(catania) == b"sqdtr74hyu0"
    assert format_distance(distance(*position(palermo), *position(catania)) / 1000) == b"166.2742"


def test_deinterleave_table_matches_the_mask_steps():
    rng = random.Random(3)
    for bits in [0, 1, 2**52 - 1, 2**52, 2**64 - 1] + [rng.getrandbits(64) for _ in range(2000)]:
        separated = geohash._deinterleave(bits)
        assert separated & 0xFFFFFFFF == geohash._squash(bits)
        assert separated >> 32 == geohash._squash(bits >> 1)


def test_encode_refuses_points_outside_the_area():
    assert geohash.encode(180.0, 85.05112878) is not None
    assert geohash.encode(180.0000001, 0.0) is None
    assert geohash.encode(0.0, -85.05112879) is None


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (5.0, 5), (5.9, 5), (-0.5, 0), (-5.0, 2**64 - 5), (2.0**63, 2**63), (2.0**64, 0),
        (math.inf, 0), (-math.inf, 2**63), (-(2.0**63), 2**63), (-1e300, 2**63),
    ],
)
def test_to_uint64_is_x86_64s_cast(score, expected):
    assert to_uint64(score) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, b"0.0000"), (-0.0, b"0.0000"), (0.00005, b"0.0000"), (0.00015, b"0.0001"), (0.00025, b"0.0002"),
        (0.000049, b"0.0000"), (1.5, b"1.5000"), (166.27415156960038, b"166.2742"),
        (12345678.9, b"12345678.9000"), (math.inf, b"-922337203685477.5808"),
        (math.nan, b"-922337203685477.5808"),
    ],
)
def test_format_distance(value, text):
    assert format_distance(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, b"0"), (-0.0, b"0"), (-1e-20, b"0"), (1.5, b"1.5"), (-180.0, b"-180"), (0.1, b"0.10000000000000001")],
)
def test_format_coordinate(value, text):
    assert format_coordinate(value) == text


def _zset(points: list[tuple[float, float]]) -> ZSetValue:
    return ZSetValue(((b"p%d" % i, float(score_of(lon, lat))) for i, (lon, lat) in enumerate(points)), listpack=False)


@pytest.mark.parametrize("seed", range(5))
def test_search_finds_what_brute_force_finds(seed):
    """The 9 cells cover the shape: the same members as testing every point (for shapes away
    from the poles, where Redis's covering is complete)."""
    rng = random.Random(seed)
    points = [(rng.uniform(-20, 20), rng.uniform(-60, 60)) for _ in range(3000)]
    zset = _zset(points)
    for _ in range(30):
        lon, lat = rng.uniform(-15, 15), rng.uniform(-50, 50)
        size_km = 10 ** rng.uniform(1, 3.3)
        if rng.random() < 0.5:
            shape = Shape(lon, lat, 1000.0, radius=size_km)
        else:
            shape = Shape(lon, lat, 1000.0, width=size_km, height=size_km * rng.uniform(0.2, 2))
        found = {point.member for point in search(zset, shape)}
        expected = {
            member for member, score in zset if shape.distance_if_within(*position(score)) is not None
        }
        assert found == expected


def test_search_with_any_stops_at_the_limit():
    zset = _zset([(13.4 + i * 1e-4, 52.5) for i in range(100)])
    shape = Shape(13.4, 52.5, 1000.0, radius=50)
    assert len(search(zset, shape)) == 100
    assert len(search(zset, shape, limit=7)) == 7


def _points(distances: list[float]) -> list[Point]:
    return [Point(0.0, 0.0, d, float(i), b"m%d" % i) for i, d in enumerate(distances)]


@pytest.mark.parametrize("size", [1, 5, 7, 8, 40, 41, 200])
@pytest.mark.parametrize("wanted", [1, 3, 6, 39, 199])
@pytest.mark.parametrize("descending", [False, True])
def test_partial_sort_puts_the_closest_first(size, wanted, descending):
    rng = random.Random(size * 1000 + wanted)
    points = _points([float(rng.randint(0, 10)) for _ in range(size)])  # many ties
    before = sorted(point.member for point in points)
    sort_points(points, descending, min(wanted, size))
    assert sorted(point.member for point in points) == before  # a permutation
    expected = sorted((point.distance for point in points), reverse=descending)
    count = min(wanted, size)
    assert [point.distance for point in points[:count]] == expected[:count]


def test_full_sort_is_stable_like_glibc_qsort():
    points = _points([2.0, 1.0, 2.0, 1.0, 0.0])
    sort_points(points, descending=False, wanted=5)
    assert [point.member for point in points] == [b"m4", b"m1", b"m3", b"m0", b"m2"]
    points = _points([2.0, 1.0, 2.0, 1.0, 0.0])
    sort_points(points, descending=True, wanted=5)
    assert [point.member for point in points] == [b"m0", b"m2", b"m1", b"m3", b"m4"]


def _random_shape(rng: random.Random) -> Shape:
    lon = rng.choice([rng.uniform(-180, 180), rng.choice([-1, 1]) * rng.uniform(170, 180)])
    lat = rng.choice([rng.uniform(-85, 85), rng.choice([-1, 1]) * rng.uniform(70, 85.05)])
    size_m = 10 ** rng.uniform(2, 7.3)
    conversion = rng.choice([1.0, 1000.0, 0.3048, 1609.34])
    if rng.random() < 0.5:
        return Shape(lon, lat, conversion, radius=size_m / conversion)
    return Shape(lon, lat, conversion, width=size_m / conversion, height=size_m * rng.uniform(0.1, 3) / conversion)


@pytest.mark.parametrize("seed", range(4))
def test_splitting_cells_never_changes_a_result(seed, monkeypatch):
    """Skipping the parts of big cells that cannot match leaves Redis's answer (every point
    tested, which test_geo_diff compares with redis-server) unchanged, order and ties
    included, near the poles and the antimeridian and for huge shapes too."""
    rng = random.Random(seed)
    points = []
    for _ in range(6000):
        if rng.random() < 0.5:
            points.append((rng.uniform(-180, 180), rng.uniform(-85.05112878, 85.05112878)))
        else:  # crowded corners: the antimeridian and the polar rows
            points.append((rng.choice([-1, 1]) * rng.uniform(175, 180), rng.choice([-1, 1]) * rng.uniform(60, 85.05)))
    zset = _zset(points)
    for _ in range(60):
        shape = _random_shape(rng)
        limit = rng.choice([0, 0, 5])
        monkeypatch.setattr(geohash, "_SPLIT_POINTS", 10**9)
        expected = [(p.member, p.distance) for p in search(zset, shape, limit)]
        monkeypatch.setattr(geohash, "_SPLIT_POINTS", 8)
        assert [(p.member, p.distance) for p in search(zset, shape, limit)] == expected


def _destination(lon: float, lat: float, bearing: float, metres: float) -> tuple[float, float]:
    """The point `metres` away from (lon, lat) along `bearing` (radians), on Redis's sphere."""
    phi, lam, delta = math.radians(lat), math.radians(lon), metres / geohash.EARTH_RADIUS_M
    phi2 = math.asin(math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(bearing))
    lam2 = lam + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi), math.cos(delta) - math.sin(phi) * math.sin(phi2)
    )
    lon2 = (math.degrees(lam2) + 540) % 360 - 180
    return lon2, math.degrees(phi2)


@pytest.mark.parametrize("seed", range(3))
def test_circle_shortcuts_agree_with_the_haversine_at_the_edge(seed):
    """The latitude and longitude pre-tests only skip points the haversine rejects: points
    just inside and just outside the circle, all around it, get Redis's verdict."""
    rng = random.Random(seed)
    for _ in range(300):
        lon = rng.choice([rng.uniform(-180, 180), rng.choice([-1, 1]) * rng.uniform(178, 180)])
        lat = rng.uniform(-85, 85)
        radius_m = 10 ** rng.uniform(0, 7)
        shape = Shape(lon, lat, 1.0, radius=radius_m)
        points = [
            _destination(lon, lat, rng.uniform(0, 2 * math.pi), radius_m * rng.uniform(0.999999, 1.000001))
            for _ in range(20)
        ]
        # Due north and south, where the latitude test is tightest; the easternmost and
        # westernmost points, where the longitude test is.
        points += [_destination(lon, lat, bearing, radius_m * (1 - 1e-9)) for bearing in (0.0, math.pi)]
        delta = radius_m * rng.uniform(0.9999999, 1.0000001) / geohash.EARTH_RADIUS_M
        phi = math.radians(lat)
        if delta + abs(phi) < math.pi / 2:
            span = math.degrees(math.asin(math.sin(delta) / math.cos(phi)))
            tangent = math.degrees(math.asin(math.sin(phi) / math.cos(delta)))
            points += [(lon + span, tangent), (lon - span, tangent)]
        for point in points:
            if not (-85.05112878 <= point[1] <= 85.05112878 and -180 <= point[0] <= 180):
                continue
            exact = distance(lon, lat, *point)
            expected = None if exact > radius_m else exact
            assert shape.distance_if_within(*point) == expected
