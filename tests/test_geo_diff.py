"""Differential tests of the geo commands against redis-server 7.0 (RESP2 and RESP3).

Every reply is compared byte for byte: scores (the 52-bit geohashes), coordinates to the last
digit, distances with 4 decimals, 11-character hashes, error texts, and the order of results,
including the order of equal distances under COUNT (Redis's partial quicksort). Seeded random
points and searches cover radius and box shapes, units, sorting, COUNT and COUNT ANY.
"""

from __future__ import annotations

import random

import pytest

SICILY = ["13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]
# Places around Europe, a few near the poles and the antimeridian, and two at one spot.
PLACES = [
    ("13.361389", "38.115556", "Palermo"), ("15.087269", "37.502669", "Catania"),
    ("12.758489", "38.788135", "edge1"), ("17.241510", "38.788135", "edge2"),
    ("-0.1278", "51.5074", "London"), ("2.3522", "48.8566", "Paris"),
    ("13.4050", "52.5200", "Berlin"), ("13.4051", "52.5201", "Berlin2"),
    ("13.4050", "52.5200", "BerlinTwin"), ("179.9999", "0.5", "east"), ("-179.9999", "0.5", "west"),
    ("0", "85.05112878", "north"), ("0", "-85.05112878", "south"), ("-73.9857", "40.7484", "NYC"),
    ("0", "0", "origin"), ("-0", "-0", "origin2"),
]


def load(diff, key: str = "points") -> None:
    args: list[str] = []
    for place in PLACES:
        args += place
    diff("GEOADD", key, *args)


# ------------------------------------------------------------------ GEOADD


def test_geoadd_scores_and_replies(diff):
    diff("GEOADD", "Sicily", *SICILY)
    diff("ZRANGE", "Sicily", "0", "-1", "WITHSCORES")
    diff("GEOADD", "Sicily", *SICILY)  # nothing new
    diff("GEOADD", "Sicily", "CH", "13.361390", "38.115556", "Palermo", "1", "1", "new")
    diff("GEOADD", "Sicily", "NX", "CH", "0", "0", "Palermo", "2", "2", "new2")
    diff("GEOADD", "Sicily", "XX", "CH", "3", "3", "Palermo", "4", "4", "new3")
    diff("GEOADD", "Sicily", "xx", "ch", "nx\0x", "1", "1", "a")  # option names end at a NUL
    diff("GEOADD", "Sicily", "ch", "ch", "1", "1", "b")
    diff("ZRANGE", "Sicily", "0", "-1", "WITHSCORES")
    diff("OBJECT", "ENCODING", "Sicily")


@pytest.mark.parametrize(
    "coordinates",
    [
        ("180", "85.05112878"), ("-180", "-85.05112878"), ("180.0000001", "0"), ("0", "85.05112879"),
        ("0", "-85.05112879"), ("-180.1", "0"), ("inf", "0"), ("0", "-inf"), ("1e400", "0"),
        ("0x10", "0x1p3"), ("1e-320", "-1e-320"), ("nan", "0"), ("x", "0"), ("0", ""), (" 1", "1"),
        ("1 ", "1"), ("0", "1e-400"), ("12.34567890123456789", "-45.6789"), ("-0", "0"),
        ("179.99999999999999", "85.0511287799999"),
    ],
)
def test_geoadd_coordinates(diff, coordinates):
    diff("GEOADD", "g", *coordinates, "m")
    diff("ZRANGE", "g", "0", "-1", "WITHSCORES")
    diff("GEOPOS", "g", "m")
    diff("GEOHASH", "g", "m")


@pytest.mark.parametrize(
    "args",
    [
        ["1", "2"], ["1", "2", "m", "3"], ["NX", "XX", "1", "2", "m"], ["XX", "NX", "1", "1", "m"],
        ["GT", "1", "2", "m"], ["LT", "1", "2", "m"], ["INCR", "1", "2", "m"], ["CH", "CH", "CH"],
        ["NX", "CH", "CH"], ["1", "2", "m", "200", "2", "n"], ["1", "2", "m", "x", "2", "n"],
        ["NX", "NX", "1", "2", "m", "bad"], ["1", "2", "m", "1", "100", "n"],
    ],
)
def test_geoadd_errors(diff, args):
    """Syntax first, then every coordinate pair in order; nothing is written on an error."""
    diff("GEOADD", "g", *args)
    diff("EXISTS", "g")


def test_geoadd_arity_and_wrongtype(diff):
    diff("GEOADD", "g", "1", "2")
    diff("GEOADD", "g")
    diff("SET", "s", "v")
    diff("GEOADD", "s", "1", "2", "m")
    diff("GEOADD", "s", "1", "200", "m")  # the coordinates are checked before the type
    diff("GEOADD", "s", "NX", "XX", "1", "2", "m")
    diff("GEOADD", "s", "XX", "1", "2", "m")
    diff("GEOADD", "nokey", "XX", "1", "2", "m")
    diff("EXISTS", "nokey")


def test_geoadd_encoding_thresholds(diff):
    for server in (diff.tandem, diff.redis):
        server.call("CONFIG", "SET", "zset-max-listpack-entries", "3")
    try:
        diff("GEOADD", "g", "1", "1", "a", "2", "2", "b", "3", "3", "c")
        diff("OBJECT", "ENCODING", "g")
        diff("GEOADD", "g", "4", "4", "d")
        diff("OBJECT", "ENCODING", "g")
    finally:
        for server in (diff.tandem, diff.redis):
            server.call("CONFIG", "SET", "zset-max-listpack-entries", "128")


# ------------------------------------------------------ GEOPOS GEOHASH GEODIST


def test_geopos_geohash(diff):
    load(diff)
    names = [place[2] for place in PLACES]
    diff("GEOPOS", "points", *names, "missing", "")
    diff("GEOHASH", "points", *names, "missing")
    diff("GEOPOS", "points")
    diff("GEOHASH", "points")
    diff("GEOPOS", "nokey", "a", "b")
    diff("GEOHASH", "nokey", "a")
    diff("SET", "s", "v")
    diff("GEOPOS", "s", "a")
    diff("GEOHASH", "s", "a")
    diff("GEODIST", "s", "a", "b")


@pytest.mark.parametrize(
    "score",
    ["0", "-1", "-0.5", "0.5", "1.9", "4503599627370495", "4503599627370496", "4503599627370497",
     "1e17", "9223372036854775807", "9223372036854775808", "1.8446744073709552e19", "1e300",
     "-9223372036854775808", "-1e19", "-1e300", "inf", "-inf", "3471579339700058"],
)
def test_positions_of_any_score(diff, score):
    """Scores that GEOADD never makes decode as Redis decodes them (C casts and wrap-around)."""
    diff("ZADD", "z", score, "m", "3471579339700058", "ref")
    diff("GEOPOS", "z", "m")
    diff("GEOHASH", "z", "m")
    diff("GEODIST", "z", "m", "ref", "km")


def test_geodist(diff):
    load(diff)
    for unit in ([], ["m"], ["km"], ["mi"], ["ft"], ["KM"], ["Mi"], ["km\0x"], ["yd"], [""]):
        diff("GEODIST", "points", "Palermo", "Catania", *unit)
        diff("GEODIST", "points", "east", "west", *unit)
        diff("GEODIST", "points", "north", "south", *unit)
    diff("GEODIST", "points", "Berlin", "BerlinTwin")
    diff("GEODIST", "points", "Berlin", "Berlin2", "ft")
    diff("GEODIST", "points", "origin", "origin2")
    diff("GEODIST", "points", "Palermo", "Palermo")
    diff("GEODIST", "points", "Palermo", "missing")
    diff("GEODIST", "points", "missing", "Palermo", "km")
    diff("GEODIST", "points", "missing", "Palermo", "bad")  # the unit is checked first
    diff("GEODIST", "points", "Palermo", "Catania", "km", "extra")
    diff("GEODIST", "nokey", "a", "b")
    diff("GEODIST", "nokey", "a", "b", "bad")
    diff("GEODIST", "points", "a")


# ------------------------------------------------------------- searches


SEARCHES = [
    ["FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"],
    ["FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"],
    ["FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "DESC", "WITHDIST"],
    ["FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH"],
    ["FROMMEMBER", "Palermo", "BYRADIUS", "300", "km", "WITHDIST", "WITHHASH"],
    ["FROMMEMBER", "Berlin", "BYRADIUS", "100", "m", "WITHCOORD"],
    ["FROMMEMBER", "Berlin", "BYBOX", "30", "30", "ft", "WITHDIST", "ASC"],
    ["FROMMEMBER", "Paris", "BYRADIUS", "1000", "mi", "COUNT", "2"],
    ["FROMMEMBER", "Paris", "BYRADIUS", "1000", "mi", "COUNT", "2", "DESC"],
    ["FROMMEMBER", "Paris", "BYRADIUS", "1000", "mi", "COUNT", "1", "ANY"],
    ["FROMMEMBER", "Paris", "BYRADIUS", "1000", "mi", "COUNT", "3", "ANY", "ASC", "WITHDIST"],
    ["FROMMEMBER", "Paris", "BYRADIUS", "1000", "mi", "COUNT", "100"],
    ["FROMLONLAT", "0", "0", "BYRADIUS", "0", "m", "WITHDIST"],
    ["FROMLONLAT", "0", "0", "BYRADIUS", "1", "m", "WITHDIST", "WITHCOORD"],
    ["FROMLONLAT", "180", "0.5", "BYRADIUS", "50", "km", "WITHDIST"],
    ["FROMLONLAT", "-180", "0", "BYBOX", "200", "200", "km", "WITHCOORD"],
    ["FROMLONLAT", "0", "85", "BYRADIUS", "100", "km", "WITHDIST"],
    ["FROMLONLAT", "0", "-85", "BYBOX", "1000", "10", "km", "WITHDIST"],
    ["FROMLONLAT", "10", "45", "BYRADIUS", "5000", "km", "ASC", "WITHDIST"],
    ["FROMLONLAT", "10", "45", "BYRADIUS", "20000", "km", "DESC", "WITHDIST"],
    ["FROMLONLAT", "10", "45", "BYBOX", "40000", "20000", "km", "ASC"],
    ["FROMLONLAT", "10", "45", "BYRADIUS", "inf", "km", "ASC"],
    ["FROMLONLAT", "10", "45", "BYRADIUS", "1e300", "m", "WITHDIST"],
    ["FROMLONLAT", "10", "45", "BYBOX", "1e-300", "0", "m", "WITHDIST"],
    ["fromlonlat", "13.405", "52.52", "byradius", "10", "KM", "asc", "withdist", "count", "2"],
    ["FROMLONLAT", "1", "1", "FROMLONLAT", "13.405", "52.52", "BYRADIUS", "1", "km", "BYRADIUS", "10", "km"],
    ["FROMMEMBER", "nope", "FROMMEMBER", "Berlin", "BYBOX", "1", "1", "km", "BYBOX", "10", "10", "km"],
    ["FROMMEMBER", "Paris", "BYRADIUS", "1000", "mi", "ASC", "DESC", "ASC", "COUNT", "5", "COUNT", "2"],
]


@pytest.mark.parametrize("search", SEARCHES)
def test_geosearch(diff, search):
    load(diff)
    diff("GEOSEARCH", "points", *search)
    store_options = [word for word in search if word.upper() not in ("WITHDIST", "WITHHASH", "WITHCOORD")]
    diff("GEOSEARCHSTORE", "dest", "points", *store_options)
    diff("ZRANGE", "dest", "0", "-1", "WITHSCORES")
    diff("GEOSEARCHSTORE", "dest", "points", *store_options, "STOREDIST")
    diff("ZRANGE", "dest", "0", "-1", "WITHSCORES")
    diff("OBJECT", "ENCODING", "dest")


RADIUS_OPTIONS = [
    [], ["WITHDIST"], ["WITHCOORD", "WITHHASH", "ASC"], ["DESC", "COUNT", "2"], ["COUNT", "1", "ANY"],
    ["COUNT", "2", "ANY", "DESC", "WITHDIST"],
]


@pytest.mark.parametrize("options", RADIUS_OPTIONS)
def test_georadius_family(diff, options):
    load(diff)
    for ro in ("", "_RO"):
        diff(f"GEORADIUS{ro}", "points", "15", "37", "200", "km", *options)
        diff(f"GEORADIUS{ro}", "points", "13.4", "52.5", "50", "mi", *options)
        diff(f"GEORADIUSBYMEMBER{ro}", "points", "Palermo", "300", "km", *options)
        diff(f"GEORADIUSBYMEMBER{ro}", "points", "London", "1000", "km", *options)


def test_georadius_store(diff):
    load(diff)
    diff("GEORADIUS", "points", "15", "37", "200", "km", "STORE", "d1")
    diff("ZRANGE", "d1", "0", "-1", "WITHSCORES")
    diff("GEORADIUS", "points", "15", "37", "200", "km", "STOREDIST", "d2", "DESC", "COUNT", "1")
    diff("ZRANGE", "d2", "0", "-1", "WITHSCORES")
    diff("GEORADIUSBYMEMBER", "points", "Paris", "1000", "km", "STORE", "x", "STOREDIST", "d3")
    diff("ZRANGE", "d3", "0", "-1", "WITHSCORES")
    diff("EXISTS", "x")
    diff("GEORADIUSBYMEMBER", "points", "Paris", "1", "m", "STORE", "d3")  # only Paris
    diff("ZRANGE", "d3", "0", "-1", "WITHSCORES")
    diff("GEORADIUS", "points", "100", "10", "1", "m", "STORE", "d3")  # nothing: deleted
    diff("EXISTS", "d3")
    diff("SET", "str", "v")
    diff("GEORADIUS", "points", "15", "37", "200", "km", "STORE", "str")  # overwritten
    diff("TYPE", "str")
    diff("SET", "str", "v", "EX", "100")
    diff("GEOSEARCHSTORE", "str", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km")
    diff("TTL", "str")
    diff("GEORADIUS", "nokey", "15", "37", "200", "km", "STORE", "d1")  # a missing source deletes
    diff("EXISTS", "d1")
    diff("GEORADIUSBYMEMBER", "nokey", "m", "-5", "bad", "STORE", "d2")  # radius never parsed
    diff("EXISTS", "d2")
    diff("GEOSEARCHSTORE", "d2", "nokey", "FROMMEMBER", "m", "BYRADIUS", "1", "km")
    diff("GEOSEARCHSTORE", "points", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "STOREDIST")
    diff("ZRANGE", "points", "0", "-1", "WITHSCORES")


@pytest.mark.parametrize(
    "command",
    [
        ["GEOSEARCH", "points", "FROMLONLAT", "1", "1"],
        ["GEOSEARCH", "points", "BYRADIUS", "1", "km", "ASC"],
        ["GEOSEARCH", "points", "FROMLONLAT", "1", "1", "ASC", "DESC"],
        ["geosearch", "points", "asc", "desc", "withdist"],
        ["GeoSearch", "points", "FROMLONLAT", "1", "1", "WITHDIST"],
        ["GEOSEARCH", "points", "FROMLONLAT", "1", "1", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYBOX", "1", "1", "km", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "missing", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "-1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "x", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "yd"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "nan", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYBOX", "1", "-1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYBOX", "-1", "x", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYBOX", "x", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYBOX", "1", "1", "parsec"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYBOX", "1", "1"],
        ["GEOSEARCH", "points", "FROMLONLAT", "200", "1", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMLONLAT", "x", "1", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMLONLAT", "1", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "COUNT", "0"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "COUNT", "-1"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "COUNT", "x"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "COUNT"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "ANY"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "STORE", "x"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "STOREDIST"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "bogus"],
        ["GEOSEARCHSTORE", "d", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "WITHDIST"],
        ["GEOSEARCHSTORE", "d", "points", "FROMMEMBER", "Paris", "BYRADIUS", "1", "km", "STORE", "x"],
        ["GEOSEARCHSTORE", "d", "points", "BYRADIUS", "1", "km", "STOREDIST"],
        ["geosearchstore", "d", "points", "FROMLONLAT", "1", "1", "STOREDIST", "withhash"],
        ["GEOSEARCHSTORE", "d", "points", "FROMLONLAT", "1", "1", "STOREDIST"],
        ["GEOSEARCH", "nokey", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "nokey", "FROMMEMBER", "m", "BYRADIUS", "-1", "km"],
        ["GEOSEARCH", "nokey", "FROMMEMBER", "m", "BYRADIUS", "1", "km", "ANY"],
        ["GEOSEARCH", "nokey", "FROMMEMBER", "m"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "STORE"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "STORE", "d", "WITHDIST"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "WITHCOORD", "STOREDIST", "d"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "FROMLONLAT", "1", "1"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "BYRADIUS", "1", "km"],
        ["GEORADIUS", "points", "200", "1", "1", "km"],
        ["GEORADIUS", "points", "1", "1", "-1", "km"],
        ["GEORADIUS", "points", "1", "1", "1", "kms"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "COUNT", "0"],
        ["GEORADIUS", "points", "1", "1", "1", "km", "ANY"],
        ["GEORADIUS", "nokey", "200", "1", "1", "km"],
        ["GEORADIUS", "nokey", "1", "1", "1", "km", "bogus"],
        ["GEORADIUS_RO", "points", "1", "1", "1", "km", "STORE", "d"],
        ["GEORADIUS_RO", "points", "1", "1", "1", "km", "STOREDIST", "d"],
        ["GEORADIUSBYMEMBER", "points", "missing", "1", "km"],
        ["GEORADIUSBYMEMBER", "points", "Paris", "x", "km"],
        ["GEORADIUSBYMEMBER", "points", "Paris", "1", "km", "STORE", "d", "WITHHASH"],
        ["GEORADIUSBYMEMBER_RO", "points", "Paris", "1", "km", "STORE", "d"],
        ["GEORADIUSBYMEMBER", "nokey", "m", "x", "km"],
        ["GEORADIUSBYMEMBER", "nokey", "m", "1", "km", "bogus"],
        ["GEORADIUSBYMEMBER", "nokey", "m", "1", "km", "WITHDIST", "STORE", "d"],
        ["GEORADIUS", "points", "1", "1", "1"],
        ["GEORADIUSBYMEMBER", "points", "Paris", "1"],
        ["GEOSEARCH", "points", "FROMMEMBER", "Paris", "BYRADIUS"],
        ["GEOSEARCHSTORE", "d", "points", "FROMMEMBER", "Paris", "BYRADIUS"],
    ],
)
def test_search_errors(diff, command):
    load(diff)
    diff(*command)
    diff("EXISTS", "d", "x")


def test_search_wrongtype(diff):
    diff("SET", "s", "v")
    for command in (
        ["GEOSEARCH", "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"],
        ["GEOSEARCH", "s", "bogus"],
        ["GEOSEARCHSTORE", "d", "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"],
        ["GEORADIUS", "s", "1", "1", "1", "km"],
        ["GEORADIUS", "s", "200", "1", "1", "km"],
        ["GEORADIUSBYMEMBER", "s", "m", "1", "km"],
        ["GEORADIUS_RO", "s", "1", "1", "1", "km"],
        ["GEORADIUSBYMEMBER_RO", "s", "m", "1", "km"],
    ):
        diff(*command)
    load(diff)
    diff("GEOSEARCHSTORE", "s", "points", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km")
    diff("TYPE", "s")


def test_ties_under_count(diff):
    """Many points at a few spots: equal distances come back in the order Redis's partial
    quicksort leaves them (COUNT below the number found), or its stable qsort (all of them)."""
    args: list[str] = []
    for i in range(120):
        spot = i % 4
        args += [f"{13 + spot * 0.001:.3f}", "52.5", f"m{i:03d}"]
    diff("GEOADD", "ties", *args)
    for count in ("1", "3", "7", "8", "40", "41", "100", "119", "120", "500"):
        for order in ("ASC", "DESC"):
            diff("GEOSEARCH", "ties", "FROMLONLAT", "13", "52.5", "BYRADIUS", "10", "km", "COUNT", count, order)
    diff("GEOSEARCH", "ties", "FROMLONLAT", "13", "52.5", "BYRADIUS", "10", "km", "DESC")
    diff("GEOSEARCH", "ties", "FROMLONLAT", "13.0015", "52.5", "BYBOX", "1", "1", "km", "ASC")


# --------------------------------------------------------- random points


def _random_place(rng: random.Random) -> tuple[str, str]:
    kind = rng.random()
    if kind < 0.6:  # a city-sized cluster
        return f"{13.4 + rng.uniform(-0.3, 0.3):.6f}", f"{52.5 + rng.uniform(-0.2, 0.2):.6f}"
    if kind < 0.7:  # on a grid: many equal distances
        return f"{13.4 + rng.randint(-3, 3) * 0.01}", f"{52.5 + rng.randint(-3, 3) * 0.01}"
    if kind < 0.8:  # near the antimeridian and the poles
        return f"{rng.choice([-1, 1]) * rng.uniform(179, 180):.7f}", f"{rng.uniform(-85.05, 85.05):.5f}"
    return repr(rng.uniform(-180, 180)), repr(rng.uniform(-85.05112878, 85.05112878))


def _random_search(rng: random.Random) -> list[str]:
    if rng.random() < 0.5:
        centre = ["FROMMEMBER", f"p{rng.randrange(400)}"]
    else:
        centre = ["FROMLONLAT", *_random_place(rng)]
    unit = rng.choice(["m", "km", "mi", "ft"])
    size = {"m": 1000.0, "km": 1.0, "mi": 1.0, "ft": 3000.0}[unit] * 10 ** rng.uniform(-1, 3.5)
    if rng.random() < 0.5:
        shape = ["BYRADIUS", f"{size:.3f}", unit]
    else:
        shape = ["BYBOX", f"{size:.3f}", f"{size * rng.uniform(0.1, 3):.3f}", unit]
    options: list[str] = []
    if rng.random() < 0.6:
        options.append(rng.choice(["ASC", "DESC"]))
    if rng.random() < 0.5:
        options += ["COUNT", str(rng.randint(1, 30))]
        if rng.random() < 0.3:
            options.append("ANY")
    for flag in ("WITHDIST", "WITHCOORD", "WITHHASH"):
        if rng.random() < 0.5:
            options.append(flag)
    return [*centre, *shape, *options]


@pytest.mark.parametrize("seed", range(6))
def test_random_points_and_searches(diff, seed):
    rng = random.Random(seed)
    args: list[str] = []
    for i in range(400):
        args += [*_random_place(rng), f"p{i}"]
    diff("GEOADD", "r", *args)
    diff("ZRANGE", "r", "0", "-1", "WITHSCORES")
    members = [f"p{i}" for i in rng.sample(range(400), 40)]
    diff("GEOPOS", "r", *members)
    diff("GEOHASH", "r", *members)
    for a, b in zip(members[::2], members[1::2], strict=True):
        diff("GEODIST", "r", a, b, rng.choice(["m", "km", "mi", "ft"]))
    for _ in range(40):
        search = _random_search(rng)
        try:
            diff("GEOSEARCH", "r", *search)
        except AssertionError as error:  # name the search that differed
            raise AssertionError(f"seed {seed}: GEOSEARCH r {' '.join(search)}") from error
        plain = [word for word in search if word not in ("WITHDIST", "WITHCOORD", "WITHHASH")]
        diff("GEOSEARCHSTORE", "out", "r", *plain, *(["STOREDIST"] if rng.random() < 0.5 else []))
        diff("ZRANGE", "out", "0", "-1", "WITHSCORES")


# ---------------------------------------------------------------- events


def test_keyspace_events(events):
    events("GEOADD", "g", *SICILY)
    events("GEOADD", "g", "XX", "1", "1", "Palermo")
    events("GEOADD", "g", "NX", "1", "1", "Palermo")  # nothing changes: no event
    events("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "10", "km")
    events("GEORADIUS", "g", "1", "1", "10", "km", "STORE", "d2")
    events("GEORADIUSBYMEMBER", "g", "Catania", "1", "km", "STOREDIST", "d2")
    events("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "100", "1", "BYRADIUS", "10", "km")
    events("GEORADIUS", "nokey", "1", "1", "10", "km", "STORE", "d2")
    events("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "10", "km")
    ours, theirs = events.events()
    assert theirs
    assert ours == theirs


def test_command_getkeys(diff):
    for args in (
        ["GEORADIUS", "k", "1", "1", "1", "km", "STORE", "d"],
        ["GEORADIUS", "k", "1", "1", "1", "km", "STORE", "d", "STOREDIST", "e"],
        ["GEORADIUS", "k", "1", "1", "1", "km", "STORE"],
        ["GEORADIUSBYMEMBER", "k", "m", "1", "km", "storedist", "d"],
        ["GEORADIUSBYMEMBER", "k", "m", "store", "x", "y"],
        ["GEORADIUS_RO", "k", "1", "1", "1", "km"],
        ["GEOSEARCHSTORE", "d", "k", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"],
        ["GEOADD", "k", "1", "1", "m"],
    ):
        diff("COMMAND", "GETKEYS", *args)
