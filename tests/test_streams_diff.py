"""Differential tests of the stream commands against redis-server 7.0.15, RESP2 and RESP3:
every command and option with explicit IDs (auto IDs are compared by shape), error replies,
node layout seen through approximate trimming, consumer groups and their counters, keyspace
events, and blocking XREAD / XREADGROUP (wake-up, timeouts, unblocking errors)."""

from __future__ import annotations

import random
import re
import time

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.resp import encode_command

U64 = 2**64 - 1

SCRIPTS = {
    "xadd": [
        ["XADD", "s", "1-1", "f", "v"], ["XADD", "s", "1-1", "f", "v"], ["XADD", "s", "1-0", "f", "v"],
        ["XADD", "s", "1-2", "a", "1", "b", "2"], ["XADD", "s", "1-*", "f", "v"], ["XADD", "s", "2-*", "f", "v"],
        ["XADD", "s", "2", "f", "v"], ["XADD", "s", "3", "f", "v"], ["XADD", "s", "0-0", "f", "v"],
        ["XADD", "n", "0-0", "f", "v"], ["XADD", "n", "0-*", "f", "v"], ["XADD", "s", "0-*", "f", "v"],
        ["XADD", "s", "5-1", "f"], ["XADD", "s", "5-1", "f", "v", "g"], ["XADD", "s", "5-1"],
        ["XADD", "s", "x-1", "f", "v"], ["XADD", "s", "5-x", "f", "v"], ["XADD", "s", "-", "f", "v"],
        ["XADD", "s", "+", "f", "v"], ["XADD", "s", "5--1", "f", "v"], ["XADD", "s", "5-*-1", "f", "v"],
        ["XADD", "s", "*-5", "f", "v"], ["XADD", "s", " 6-1", "f", "v"], ["XADD", "s", "+7-1", "f", "v"],
        ["XADD", "s", "8- 1", "f", "v"], ["XADD", "s", "9-+1", "f", "v"], ["XADD", "s", "10", "f", "v"],
        ["XADD", "s", "18446744073709551616-1", "f", "v"], ["XADD", "s", "1" * 130, "f", "v"],
        ["XADD", "s", "11-18446744073709551615", "f", "v"], ["XADD", "s", "11-*", "f", "v"],
        ["XADD", "s", "12-0", "f", "v"], ["XADD", "s", "NOMKSTREAM", "13-0", "f", "v"],
        ["XADD", "nokey", "NOMKSTREAM", "1-1", "f", "v"], ["EXISTS", "nokey"],
        ["XADD", "nokey", "NOMKSTREAM", "*", "f", "v"], ["XADD", "s", "nomkstream", "14-1", "", ""],
        ["XRANGE", "s", "-", "+"], ["XLEN", "s"], ["XLEN", "nokey"], ["TYPE", "s"], ["OBJECT", "ENCODING", "s"],
        ["XADD", "m", "18446744073709551615-18446744073709551615", "f", "v"], ["XADD", "m", "*", "f", "v"],
        ["XADD", "m2", "18446744073709551615-18446744073709551614", "f", "v"], ["XADD", "m2", "18446744073709551615-*", "f", "v"],
        ["XADD", "bin", "1-1", b"\x00\xff", b"\r\n"], ["XRANGE", "bin", "-", "+"],
    ],
    "xadd-trim-options": [
        ["XADD", "s", "MAXLEN", "2", "1-1", "f", "v"], ["XADD", "s", "MAXLEN", "=", "2", "2-1", "f", "v"],
        ["XADD", "s", "maxlen", "2", "3-1", "f", "v"], ["XRANGE", "s", "-", "+"],
        ["XADD", "s", "MINID", "3", "4-1", "f", "v"], ["XRANGE", "s", "-", "+"],
        ["XADD", "s", "MINID", "=", "4-1", "5-1", "f", "v"], ["XRANGE", "s", "-", "+"],
        ["XADD", "s", "MAXLEN", "-1", "6-1", "f", "v"], ["XADD", "s", "MAXLEN", "x", "6-1", "f", "v"],
        ["XADD", "s", "MAXLEN", "1", "MINID", "1", "6-1", "f", "v"], ["XADD", "s", "MINID", "1", "MAXLEN", "1", "6-1", "f", "v"],
        ["XADD", "s", "MINID", "+", "6-1", "f", "v"], ["XADD", "s", "MINID", "x", "6-1", "f", "v"],
        ["XADD", "s", "LIMIT", "10", "6-1", "f", "v"], ["XADD", "s", "MAXLEN", "1", "LIMIT", "10", "6-1", "f", "v"],
        ["XADD", "s", "MAXLEN", "~", "1", "LIMIT", "-1", "6-1", "f", "v"], ["XADD", "s", "MAXLEN", "~", "1", "LIMIT", "x", "6-1", "f", "v"],
        ["XADD", "s", "MAXLEN", "~", "1", "LIMIT", "10", "6-1", "f", "v"], ["XADD", "s", "MAXLEN", "1", "LIMIT", "0", "7-1", "f", "v"],
        ["XADD", "s", "LIMIT", "0", "7-1", "f", "v"], ["XADD", "s", "MAXLEN", "~", "0", "8-1", "f", "v"],
        ["XADD", "s", "MAXLEN", "0", "9-1", "f", "v"], ["XLEN", "s"], ["XRANGE", "s", "-", "+"], ["EXISTS", "s"],
        ["XADD", "s", "MAXLEN", "1", "*"], ["XADD", "s", "MAXLEN"], ["XADD", "s", "MAXLEN", "1"],
        ["XADD", "s", "FOO", "1", "f", "v"], ["XADD", "s", "MAXLEN", "~", "f", "v"],
    ],
    "approx-trim-nodes": [
        *[["XADD", "s", f"{i}-1", "f", f"v{i}"] for i in range(1, 251)],
        ["XINFO", "STREAM", "s"], ["XTRIM", "s", "MAXLEN", "~", 120], ["XLEN", "s"], ["XTRIM", "s", "MAXLEN", "~", 10],
        ["XLEN", "s"], ["XTRIM", "s", "MINID", "~", "200-0"], ["XLEN", "s"], ["XTRIM", "s", "MINID", "~", "240-0"],
        ["XLEN", "s"], ["XTRIM", "s", "MINID", "245"], ["XLEN", "s"], ["XTRIM", "s", "MAXLEN", 3], ["XRANGE", "s", "-", "+"],
        *[["XADD", "t", f"{i}-1", "f", f"v{i}"] for i in range(1, 251)],
        ["XTRIM", "t", "MAXLEN", "~", 0, "LIMIT", 150], ["XLEN", "t"], ["XTRIM", "t", "MAXLEN", "~", 0, "LIMIT", 99],
        ["XLEN", "t"], ["XTRIM", "t", "MAXLEN", "~", 0, "LIMIT", 0], ["XLEN", "t"],
        *[["XADD", "u", f"{i}-1", "f", f"v{i}"] for i in range(1, 251)],
        ["XADD", "u", "MAXLEN", "~", 100, "300-1", "f", "v"], ["XLEN", "u"],
        ["CONFIG", "SET", "stream-node-max-entries", 7], ["CONFIG", "GET", "stream-node-max-entries"], ["CONFIG", "GET", "stream-node-max-bytes"],
        *[["XADD", "w", f"{i}-1", "field", "x" * (i * 37 % 300)] for i in range(1, 120)],
        ["XTRIM", "w", "MAXLEN", "~", 50], ["XLEN", "w"], ["XTRIM", "w", "MAXLEN", "~", 20], ["XLEN", "w"],
        ["CONFIG", "SET", "stream-node-max-entries", 100], ["CONFIG", "SET", "stream-node-max-bytes", 300],
        *[["XADD", "y", f"{i}-{i * 1000}", "a", str(i), "b", "12345678901", "c", "-7"] for i in range(1, 120)],
        *[["XADD", "y", f"{i}-1", "a", "q", "zz", "yy"] for i in range(120, 150)],
        ["XTRIM", "y", "MAXLEN", "~", 50], ["XLEN", "y"], ["XTRIM", "y", "MINID", "~", "130"], ["XLEN", "y"],
        ["CONFIG", "SET", "stream-node-max-bytes", 4096],
    ],
    "xrange": [
        *[["XADD", "s", f"{i}-{j}", "f", f"{i}.{j}"] for i in range(1, 5) for j in range(3)],
        ["XRANGE", "s", "-", "+"], ["XRANGE", "s", "2", "3"], ["XRANGE", "s", "2-1", "3-1"], ["XRANGE", "s", "(2-1", "(3-1"],
        ["XRANGE", "s", "(2", "+"], ["XRANGE", "s", "-", "(3"], ["XRANGE", "s", "(-", "+"], ["XRANGE", "s", "-", "(+"],
        ["XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"], ["XRANGE", "s", "-", "(0-0"],
        ["XRANGE", "s", "(1-18446744073709551615", "+"], ["XRANGE", "s", "-", "(2-0"],
        ["XRANGE", "s", "-", "+", "COUNT", 2], ["XRANGE", "s", "-", "+", "COUNT", 0], ["XRANGE", "s", "-", "+", "COUNT", -1],
        ["XRANGE", "s", "-", "+", "count", 3, "COUNT", 1], ["XRANGE", "s", "-", "+", "COUNT"], ["XRANGE", "s", "-", "+", "FOO", 1],
        ["XRANGE", "s", "-", "+", "COUNT", "x"], ["XRANGE", "s", "x", "+"], ["XRANGE", "s", "-", "x"], ["XRANGE", "s", "3", "2"],
        ["XRANGE", "nokey", "-", "+"], ["XRANGE", "nokey", "-", "+", "COUNT", 0], ["XRANGE", "nokey", "x", "+"],
        ["XREVRANGE", "s", "+", "-"], ["XREVRANGE", "s", "3", "2"], ["XREVRANGE", "s", "(3", "(2"],
        ["XREVRANGE", "s", "+", "-", "COUNT", 4], ["XREVRANGE", "s", "+", "-", "COUNT", 0], ["XREVRANGE", "s", "x", "y"],
        ["XREVRANGE", "s", "(0-0", "-"], ["XREVRANGE", "s", "+", "(18446744073709551615-18446744073709551615"],
        ["XREVRANGE", "s", "2", "3"], ["XREVRANGE", "nokey", "+", "-"],
        ["XDEL", "s", "2-0", "2-1", "3-2"], ["XRANGE", "s", "-", "+"], ["XREVRANGE", "s", "+", "-", "COUNT", 3],
        ["XRANGE", "s", "2", "2"],
    ],
    "xdel": [
        *[["XADD", "s", f"{i}-1", "f", "v"] for i in range(1, 8)],
        ["XDEL", "s", "1-1"], ["XDEL", "s", "1-1"], ["XDEL", "s", "3-1", "4-1", "9-9"], ["XDEL", "s", "x"],
        ["XDEL", "s", "5-1", "x"], ["XDEL", "s", "-"], ["XDEL", "nokey", "x"], ["XDEL", "nokey", "1-1"],
        ["XLEN", "s"], ["XINFO", "STREAM", "s"], ["XDEL", "s", "2-1", "5-1", "6-1", "7-1"], ["XLEN", "s"],
        ["EXISTS", "s"], ["XINFO", "STREAM", "s"], ["XADD", "s", "7-1", "f", "v"], ["XADD", "s", "8", "f", "v"],
        ["XINFO", "STREAM", "s"], ["XDEL", "s", "1"],
    ],
    "xtrim": [
        *[["XADD", "s", f"{i}-1", "f", "v"] for i in range(1, 11)],
        ["XTRIM", "s", "MAXLEN", 8], ["XTRIM", "s", "MAXLEN", "=", 6], ["XTRIM", "s", "MINID", "7"],
        ["XTRIM", "s", "MINID", "=", "8-1"], ["XRANGE", "s", "-", "+"], ["XTRIM", "s"], ["XTRIM", "s", "FOO"],
        ["XTRIM", "s", "MAXLEN"], ["XTRIM", "s", "MAXLEN", "x"], ["XTRIM", "s", "MAXLEN", -1],
        ["XTRIM", "s", "MAXLEN", 1, "LIMIT", 1], ["XTRIM", "s", "MAXLEN", "~", 1, "LIMIT", 1],
        ["XTRIM", "s", "LIMIT", 1], ["XTRIM", "s", "MINID", "-"], ["XTRIM", "s", "MAXLEN", 1, "NOMKSTREAM"],
        ["XTRIM", "s", "MAXLEN", 1, "MINID", 1], ["XTRIM", "nokey", "MAXLEN", 1], ["XTRIM", "nokey", "FOO"],
        ["XTRIM", "s", "MAXLEN", 0], ["EXISTS", "s"], ["XINFO", "STREAM", "s"],
    ],
    "xsetid": [
        ["XADD", "s", "5-5", "f", "v"], ["XSETID", "s", "5-4"], ["XSETID", "s", "5-5"], ["XSETID", "s", "10-0"],
        ["XADD", "s", "10-*", "f", "v"], ["XSETID", "nokey", "1-1"], ["XSETID", "s", "x"], ["XSETID", "s", "+"],
        ["XSETID", "s", "20-0", "ENTRIESADDED", 1], ["XSETID", "s", "20-0", "ENTRIESADDED", -1],
        ["XSETID", "s", "20-0", "ENTRIESADDED", "x"], ["XSETID", "s", "20-0", "ENTRIESADDED", 10],
        ["XSETID", "s", "20-0", "MAXDELETEDID", "30-0"], ["XSETID", "s", "20-0", "MAXDELETEDID", "15-0"],
        ["XSETID", "s", "20-0", "MAXDELETEDID", "x"], ["XSETID", "s", "20-0", "FOO"], ["XSETID", "s", "20-0", "ENTRIESADDED"],
        ["XINFO", "STREAM", "s"], ["XADD", "s", "20-0", "f", "v"], ["XADD", "s", "20-*", "f", "v"],
        ["XADD", "e", "1-1", "f", "v"], ["XDEL", "e", "1-1"], ["XSETID", "e", "0-1"], ["XINFO", "STREAM", "e"],
        ["XSETID", "e", "0-1", "ENTRIESADDED", 0], ["XSETID", "s", "20-0", "ENTRIESADDED", 1, "MAXDELETEDID", "1-1"],
    ],
    "xread": [
        ["XADD", "a", "1-1", "f", "v1"], ["XADD", "a", "2-1", "f", "v2"], ["XADD", "b", "1-1", "g", "w"],
        ["XREAD", "STREAMS", "a", "0"], ["XREAD", "STREAMS", "a", "b", "0", "0"], ["XREAD", "COUNT", 1, "STREAMS", "a", "b", 0, 0],
        ["XREAD", "STREAMS", "a", "b", "1-1", "1-1"], ["XREAD", "STREAMS", "a", "$"], ["XREAD", "STREAMS", "nokey", "$"],
        ["XREAD", "STREAMS", "a", "nokey", "0", "0"], ["XREAD", "STREAMS", "a"], ["XREAD", "STREAMS", "a", "b", "0"],
        ["XREAD", "STREAMS", "a", "x"], ["XREAD", "STREAMS", "a", "-"], ["XREAD", "STREAMS", "a", "+"],
        ["XREAD", "STREAMS", "a", ">"], ["XREAD", "GROUP", "g", "c", "STREAMS", "a", "0"], ["XREAD", "NOACK", "STREAMS", "a", "0"],
        ["XREAD", "COUNT", "x", "STREAMS", "a", "0"], ["XREAD", "COUNT", -5, "STREAMS", "a", "0"], ["XREAD", "FOO", "STREAMS", "a", "0"],
        ["XREAD", "COUNT", 1], ["XREAD", "BLOCK", "x", "STREAMS", "a", "0"], ["XREAD", "BLOCK", -1, "STREAMS", "a", "0"],
        ["XREAD", "BLOCK", "1.5", "STREAMS", "a", "0"], ["XREAD", "BLOCK", 0, "STREAMS", "a", "0"],
        ["XREAD", "BLOCK", 10, "STREAMS", "a", "0"], ["XREAD", "STREAMS", "a", "18446744073709551615-18446744073709551615"],
        ["XDEL", "a", "2-1"], ["XREAD", "STREAMS", "a", "1-1"], ["SET", "str", "x"], ["XREAD", "STREAMS", "str", "0"],
        ["XREAD", "STREAMS", "a", "str", "0", "x"], ["XREAD", "streams", "a", "0", "COUNT", "1"],
    ],
    "wrongtype": [
        ["SET", "k", "v"], ["XADD", "k", "1-1", "f", "v"], ["XADD", "k", "NOMKSTREAM", "1-1", "f", "v"], ["XLEN", "k"],
        ["XRANGE", "k", "-", "+"], ["XREVRANGE", "k", "+", "-"], ["XDEL", "k", "1-1"], ["XTRIM", "k", "MAXLEN", 1],
        ["XSETID", "k", "1-1"], ["XREAD", "STREAMS", "k", "0"], ["XGROUP", "CREATE", "k", "g", "$"],
        ["XGROUP", "CREATE", "k", "g", "$", "MKSTREAM"], ["XACK", "k", "g", "1-1"], ["XPENDING", "k", "g"],
        ["XCLAIM", "k", "g", "c", 0, "1-1"], ["XAUTOCLAIM", "k", "g", "c", 0, "0"], ["XINFO", "STREAM", "k"],
        ["XINFO", "GROUPS", "k"], ["XINFO", "CONSUMERS", "k", "g"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"],
        ["XADD", "s", "1-1", "f", "v"], ["GET", "s"], ["LPUSH", "s", "x"], ["TYPE", "s"],
        ["XRANGE", "k", "x", "+"], ["XADD", "k", "x", "f", "v"],
    ],
    "generic": [
        ["XADD", "s", "1-1", "f", "v"], ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        ["COPY", "s", "t"], ["XADD", "t", "2-1", "f", "v"], ["XLEN", "s"], ["XLEN", "t"], ["XINFO", "GROUPS", "t"],
        ["XACK", "t", "g", "1-1"], ["XPENDING", "s", "g"], ["XPENDING", "t", "g"], ["RENAME", "t", "u"], ["XLEN", "u"],
        ["XADD", "e", "MAXLEN", 0, "1-1", "f", "v"], ["EXISTS", "e"], ["TYPE", "e"],
        ["XLEN", "e"], ["OBJECT", "ENCODING", "e"], ["DEL", "s", "e"], ["EXISTS", "s"], ["SCAN", 0, "TYPE", "stream"], ["MOVE", "u", 1], ["SELECT", 1],
        ["XLEN", "u"], ["SELECT", 0],
    ],
    "xgroup": [
        ["XGROUP", "CREATE", "s", "g", "$"], ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"], ["XGROUP", "CREATE", "s", "g", "$"],
        ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"], ["XGROUP", "CREATE", "s", "h", "x"], ["XGROUP", "CREATE", "s", "h", "+"],
        ["XGROUP", "CREATE", "s", "h", "-"], ["XGROUP", "CREATE", "s", "h", "5-5", "ENTRIESREAD", 3],
        ["XGROUP", "CREATE", "s", "i", "0", "ENTRIESREAD", -1], ["XGROUP", "CREATE", "s", "j", "0", "ENTRIESREAD", -2],
        ["XGROUP", "CREATE", "s", "j", "0", "ENTRIESREAD", "x"], ["XGROUP", "CREATE", "s", "j", "0", "FOO"],
        ["XGROUP", "CREATE", "s", "j", "0", "ENTRIESREAD"], ["XGROUP", "CREATE", "s", "j", "0", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM"],
        ["XGROUP", "CREATE", "s", "j"], ["XGROUP", "CREATE", "nokey", "g", "$"], ["XGROUP", "CREATE", "nokey", "g", "x", "MKSTREAM"],
        ["EXISTS", "nokey"], ["XGROUP", "SETID", "s", "g", "3-3"], ["XGROUP", "SETID", "s", "g", "$"],
        ["XGROUP", "SETID", "s", "g", "-"], ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", 5], ["XGROUP", "SETID", "s", "g", "x"],
        ["XGROUP", "SETID", "s", "nogroup", "0"], ["XGROUP", "SETID", "nokey", "g", "0"], ["XGROUP", "SETID", "s", "g", "0", "MKSTREAM"],
        ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", 1, "ENTRIESREAD", 2], ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", -3],
        ["XINFO", "GROUPS", "s"], ["XGROUP", "CREATECONSUMER", "s", "g", "alice"], ["XGROUP", "CREATECONSUMER", "s", "g", "alice"],
        ["XGROUP", "CREATECONSUMER", "s", "nogroup", "alice"], ["XGROUP", "CREATECONSUMER", "nokey", "g", "alice"],
        ["XGROUP", "CREATECONSUMER", "s", "g"], ["XGROUP", "DELCONSUMER", "s", "g", "bob"], ["XGROUP", "DELCONSUMER", "s", "g", "alice"],
        ["XGROUP", "DELCONSUMER", "s", "nogroup", "alice"], ["XGROUP", "DESTROY", "s", "g"], ["XGROUP", "DESTROY", "s", "g"],
        ["XGROUP", "DESTROY", "nokey", "g"], ["XGROUP", "DESTROY", "s"], ["XGROUP", "HELP"], ["XGROUP", "help", "x"],
        ["XGROUP"], ["XGROUP", "FOO"], ["XGROUP", "FOO", "s", "g", "0"], ["XINFO", "GROUPS", "s"],
        ["SET", "str", "v"], ["XGROUP", "DESTROY", "str", "g"], ["XGROUP", "HELP", "x", "y", "z"],
    ],
    "xreadgroup": [
        *[["XADD", "s", f"{i}-1", "f", f"v{i}"] for i in range(1, 6)],
        ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "alice", "COUNT", 2, "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "bob", "COUNT", 1, "STREAMS", "s", ">"], ["XINFO", "GROUPS", "s"],
        ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"], ["XREADGROUP", "GROUP", "g", "alice", "COUNT", 1, "STREAMS", "s", "1-1"],
        ["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0"], ["XREADGROUP", "GROUP", "g", "alice", "NOACK", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"], ["XPENDING", "s", "g"], ["XDEL", "s", "1-1"],
        ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"], ["XINFO", "GROUPS", "s"],
        ["XREADGROUP", "GROUP", "nogroup", "alice", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "nokey", ">"],
        ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "$"], ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "x"],
        ["XREADGROUP", "STREAMS", "s", ">", "x", "y"], ["XREADGROUP", "COUNT", 1, "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s"],
        ["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "x", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "s", ">", ">"], ["XADD", "t", "1-1", "f", "v"],
        ["XGROUP", "CREATE", "t", "g", "$"], ["XREADGROUP", "GROUP", "g", "dave", "STREAMS", "s", "t", "0", ">"],
        ["XREADGROUP", "GROUP", "g", "dave", "STREAMS", "t", "s", ">", ">"], ["XINFO", "CONSUMERS", "t", "g"],
        ["XADD", "t", "2-1", "f", "v"], ["XREADGROUP", "GROUP", "g", "erin", "STREAMS", "t", "s", ">", ">"],
    ],
    "counters": [
        ["XADD", "s", "1-1", "f", "v"], ["XADD", "s", "2-1", "f", "v"], ["XADD", "s", "3-1", "f", "v"],
        ["XGROUP", "CREATE", "s", "a", "0"], ["XGROUP", "CREATE", "s", "b", "$"], ["XGROUP", "CREATE", "s", "c", "1-1"],
        ["XGROUP", "CREATE", "s", "d", "2-1", "ENTRIESREAD", 2], ["XINFO", "GROUPS", "s"],
        ["XREADGROUP", "GROUP", "a", "x", "COUNT", 1, "STREAMS", "s", ">"], ["XINFO", "GROUPS", "s"],
        ["XDEL", "s", "2-1"], ["XINFO", "GROUPS", "s"], ["XREADGROUP", "GROUP", "a", "x", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "c", "x", "STREAMS", "s", ">"], ["XINFO", "GROUPS", "s"], ["XADD", "s", "4-1", "f", "v"],
        ["XINFO", "GROUPS", "s"], ["XTRIM", "s", "MAXLEN", 1], ["XINFO", "GROUPS", "s"], ["XINFO", "STREAM", "s"],
        ["XGROUP", "SETID", "s", "b", "0"], ["XINFO", "GROUPS", "s"], ["XDEL", "s", "4-1"], ["XINFO", "GROUPS", "s"],
        ["XSETID", "s", "10-0", "ENTRIESADDED", 20, "MAXDELETEDID", "5-0"], ["XINFO", "GROUPS", "s"],
        ["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"], ["XINFO", "GROUPS", "e"], ["XINFO", "STREAM", "e"],
    ],
    "xack-xpending": [
        *[["XADD", "s", f"{i}-1", "f", f"v{i}"] for i in range(1, 6)],
        ["XGROUP", "CREATE", "s", "g", "0"], ["XPENDING", "s", "g"], ["XPENDING", "s", "g", "-", "+", 10],
        ["XREADGROUP", "GROUP", "g", "bob", "COUNT", 2, "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"],
        ["XGROUP", "CREATECONSUMER", "s", "g", "zed"], ["XPENDING", "s", "g"], ["XACK", "s", "g", "1-1", "1-1", "9-9"],
        ["XACK", "s", "g", "x"], ["XACK", "s", "g", "2-1", "x"], ["XACK", "s", "nogroup", "x"], ["XACK", "nokey", "g", "x"],
        ["XACK", "s", "g", "-"], ["XPENDING", "s", "g"], ["XPENDING", "nokey", "g"], ["XPENDING", "s", "nogroup"],
        ["XPENDING", "s", "g", "-"], ["XPENDING", "s", "g", "-", "+"], ["XPENDING", "s", "g", "-", "+", "x"],
        ["XPENDING", "s", "g", "x", "+", 1], ["XPENDING", "s", "g", "-", "x", 1], ["XPENDING", "s", "g", "(-", "+", 1],
        ["XPENDING", "s", "g", "IDLE", "x", "-", "+", 1], ["XPENDING", "s", "g", "IDLE", 0, "-", "+"],
        ["XPENDING", "s", "g", "-", "+", 10, "alice", "x"], ["XPENDING", "s", "g", "IDLE", 0, "-", "+", 10, "alice", "x"],
        ["XPENDING", "s", "g", "(18446744073709551615-18446744073709551615", "+", 1], ["XPENDING", "s", "g", "-", "(0-0", 1],
        ["XPENDING", "nokey", "g", "x", "+", 1], ["XPENDING", "nokey", "g", "-", "+", "x"],
    ],
    "xclaim": [
        *[["XADD", "s", f"{i}-1", "f", f"v{i}"] for i in range(1, 6)],
        ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
        ["XCLAIM", "s", "g", "alice", 0, "1-1", "JUSTID"], ["XCLAIM", "s", "g", "alice", 0, "2-1", "3-1"],
        ["XCLAIM", "s", "g", "alice", 3600000, "4-1"], ["XCLAIM", "s", "g", "alice", 0, "9-9"],
        ["XCLAIM", "s", "g", "alice", 0, "9-9", "FORCE"], ["XDEL", "s", "5-1"], ["XCLAIM", "s", "g", "alice", 0, "5-1", "4-1", "RETRYCOUNT", 7, "JUSTID"],
        ["XADD", "s", "6-1", "f", "v"], ["XCLAIM", "s", "g", "carol", 0, "6-1", "FORCE", "JUSTID"],
        ["XCLAIM", "s", "g", "carol", 0, "1-1", "TIME", 0, "JUSTID"], ["XCLAIM", "s", "g", "carol", 0, "1-1", "IDLE", 5000, "JUSTID"],
        ["XCLAIM", "s", "g", "carol", 0, "1-1", "LASTID", "100-0", "JUSTID"], ["XINFO", "GROUPS", "s"],
        ["XCLAIM", "s", "g", "carol", 0, "1-1", "LASTID", "x"], ["XCLAIM", "s", "g", "carol", "x", "1-1"],
        ["XCLAIM", "s", "g", "carol", 0, "1-1", "IDLE", "x"], ["XCLAIM", "s", "g", "carol", 0, "1-1", "TIME", "x"],
        ["XCLAIM", "s", "g", "carol", 0, "1-1", "RETRYCOUNT", "x"], ["XCLAIM", "s", "g", "carol", 0, "1-1", "FOO"],
        ["XCLAIM", "s", "g", "carol", 0, "FOO", "1-1"], ["XCLAIM", "s", "g", "carol", 0, "1-1", "IDLE"],
        ["XCLAIM", "s", "nogroup", "carol", "x", "1-1"], ["XCLAIM", "nokey", "g", "carol", "x", "1-1"],
        ["XPENDING", "s", "g", "-", "+", 10, "alice"], ["XPENDING", "s", "g", "-", "+", 10, "carol"], ["XINFO", "CONSUMERS", "s", "g"],
        ["XCLAIM", "s", "g", "carol", -5, "2-1", "JUSTID"], ["XCLAIM", "s", "g", "dave", 10000, "9-9", "FORCE", "JUSTID"],
    ],
    "xautoclaim": [
        *[["XADD", "s", f"{i}-1", "f", f"v{i}"] for i in range(1, 9)],
        ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT", 2], ["XAUTOCLAIM", "s", "g", "alice", 0, "(2-1", "COUNT", 2, "JUSTID"],
        ["XDEL", "s", "5-1", "6-1"], ["XAUTOCLAIM", "s", "g", "alice", 0, "5-0", "COUNT", 3],
        ["XAUTOCLAIM", "s", "g", "alice", 3600000, "0", "COUNT", 1], ["XAUTOCLAIM", "s", "g", "alice", 0, "0"],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "-", "JUSTID"], ["XAUTOCLAIM", "s", "g", "alice", 0, "+"],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "(+"], ["XAUTOCLAIM", "s", "g", "alice", 0, "x"],
        ["XAUTOCLAIM", "s", "g", "alice", "x", "0"], ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT", 0],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT", "x"], ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT", 576460752303423488],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT", 576460752303423487],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT", 2**43], ["XAUTOCLAIM", "nokey", "g", "a", 0, "0", "COUNT", 2**62],
        ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "COUNT"], ["XAUTOCLAIM", "s", "g", "alice", 0, "0", "FOO"],
        ["XAUTOCLAIM", "s", "nogroup", "alice", 0, "0"], ["XAUTOCLAIM", "nokey", "g", "alice", 0, "0"],
        ["XAUTOCLAIM", "nokey", "g", "alice", "x", "0"], ["XPENDING", "s", "g", "-", "+", 10, "alice"],
        ["XAUTOCLAIM", "s", "g", "alice", -1, "0", "COUNT", 1, "JUSTID"],
    ],
    "xinfo": [
        ["XINFO", "HELP"], ["XINFO", "help", "x"], ["XINFO"], ["XINFO", "FOO"], ["XINFO", "FOO", "s"],
        ["XINFO", "STREAM", "nokey"], ["XINFO", "GROUPS", "nokey"], ["XINFO", "CONSUMERS", "nokey", "g"],
        *[["XADD", "s", f"{i}-1", "f", f"v{i}", "g", "w"] for i in range(1, 15)],
        ["XINFO", "STREAM", "s"], ["XINFO", "STREAM", "s", "FOO"], ["XINFO", "STREAM", "s", "FULL", "COUNT"],
        ["XINFO", "STREAM", "s", "FULL", "FOO", 1], ["XINFO", "STREAM", "s", "FULL", "COUNT", "x"],
        ["XINFO", "GROUPS", "s"], ["XINFO", "CONSUMERS", "s", "nogroup"], ["XINFO", "GROUPS", "s", "x"],
        ["XINFO", "CONSUMERS", "s"], ["XGROUP", "CREATE", "s", "g2", "$"], ["XGROUP", "CREATE", "s", "g1", "0"],
        ["XINFO", "STREAM", "s"], ["XINFO", "GROUPS", "s"], ["XINFO", "CONSUMERS", "s", "g1"],
        ["MULTI"], ["XINFO", "STREAM", "s", "Foo"], ["XGROUP", "CREATE", "s", "g3", "0", "bar"],
        ["XADD", "s", "99-1", "f", "v"], ["XREAD", "BLOCK", 0, "STREAMS", "s", "$"], ["EXEC"],
    ],
}


def _parse(raw: bytes) -> object:
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


def _idle_masked(reply: object) -> object:
    """XPENDING's and XINFO CONSUMERS' idle times (ms since delivery / seen) blanked: the two
    servers ran the commands a moment apart (`_idle_values` compares them with a tolerance)."""
    if isinstance(reply, list):
        if len(reply) == 4 and isinstance(reply[0], bytes) and b"-" in reply[0] and isinstance(reply[2], int):
            return [reply[0], reply[1], "idle", reply[3]]
        items = [_idle_masked(item) for item in reply]
        for i in range(len(items) - 1):
            if items[i] == b"idle" and isinstance(items[i + 1], int):
                items[i + 1] = "idle"
        return items
    if isinstance(reply, dict):
        return {k: ("idle" if k == b"idle" else _idle_masked(v)) for k, v in reply.items()}
    return reply


def _idle_values(reply: object) -> list[int]:
    """Every idle time in an XPENDING (extended) or XINFO CONSUMERS reply."""
    found: list[int] = []
    if isinstance(reply, list):
        if len(reply) == 4 and isinstance(reply[0], bytes) and b"-" in reply[0] and isinstance(reply[2], int):
            return [reply[2]]
        for i, item in enumerate(reply):
            if item == b"idle" and i + 1 < len(reply) and isinstance(reply[i + 1], int):
                found.append(reply[i + 1])
            else:
                found += _idle_values(item)
    elif isinstance(reply, dict):
        for k, v in reply.items():
            found += [v] if k == b"idle" else _idle_values(v)
    return found


def _run(diff, args: list) -> None:
    name = args[0].upper()
    if (name == "XPENDING" and len(args) > 3) or (name == "XINFO" and args[1:2] == ["CONSUMERS"]):
        ours, theirs = diff.both(*args)
        if ours[:1] == b"-" or theirs[:1] == b"-":
            assert ours == theirs, f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
            return
        mine, reference = _parse(ours), _parse(theirs)
        assert _idle_masked(mine) == _idle_masked(reference), f"{args!r}: tandemkv {ours!r} != redis {theirs!r}"
        for a, b in zip(_idle_values(mine), _idle_values(reference), strict=True):
            assert abs(a - b) <= 200, f"{args!r}: idle {a} vs {b}"
    else:
        diff(*args)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(diff, name: str) -> None:
    for args in SCRIPTS[name]:
        _run(diff, args)
    diff("CONFIG", "SET", "stream-node-max-entries", 100)
    diff("CONFIG", "SET", "stream-node-max-bytes", 4096)
    diff("FLUSHALL")


# ------------------------------------------------------------ XINFO FULL


@pytest.mark.parametrize("seed", range(4))
def test_node_layout_and_radix_tree_follow_redis(diff, seed: int) -> None:
    """Random IDs, deletions and trims: XINFO STREAM (radix-tree-keys and -nodes included)
    and the lengths after approximate trims must match Redis's."""
    rng = random.Random(seed)
    ms = rng.randint(1, 10**13)
    ids = []
    for i in range(rng.choice([300, 900])):
        ms += rng.choice([0, 1, 1, 7, 300, 70000, 10**9])
        ids.append(f"{ms}-{i}")
    for start in range(0, len(ids), 100):
        for entry_id in ids[start : start + 100]:
            diff.tandem.send(encode_command("XADD", "s", entry_id, "f", "v"))
            diff.redis.send(encode_command("XADD", "s", entry_id, "f", "v"))
        for _ in ids[start : start + 100]:
            assert diff.tandem.read_reply() == diff.redis.read_reply()
    diff("XINFO", "STREAM", "s")
    for _ in range(4):
        lo = rng.randrange(len(ids))
        diff("XDEL", "s", *ids[lo : lo + rng.choice([1, 50, 150])])
        diff("XINFO", "STREAM", "s")
        diff("XTRIM", "s", "MINID", "~", ids[rng.randrange(len(ids))])
        diff("XINFO", "STREAM", "s")
        diff("XTRIM", "s", "MAXLEN", "~", rng.randrange(len(ids)))
        diff("XINFO", "STREAM", "s")



def _timeless(reply: object) -> object:
    """XINFO STREAM FULL with its absolute times (delivery times, seen-time) blanked."""
    if isinstance(reply, dict):
        return {k: (k if k == b"seen-time" else _timeless(v)) for k, v in reply.items()}
    if isinstance(reply, list):
        items = [_timeless(item) for item in reply]
        for i in range(len(items) - 1):
            if items[i] == b"seen-time":
                items[i + 1] = items[i]
        # PEL rows: [id, consumer, delivery-time, count] or [id, delivery-time, count]
        is_row = len(items) in (3, 4) and isinstance(items[0], bytes) and re.fullmatch(rb"\d+-\d+", items[0])
        if is_row and isinstance(items[-2], int) and items[-2] > 10**12:
            items[-2] = "time"
        return items
    return reply


def test_xinfo_stream_full(diff) -> None:
    for i in range(1, 16):
        diff("XADD", "s", f"{i}-1", "f", f"v{i}", "n", str(i))
    diff("XGROUP", "CREATE", "s", "g1", "0")
    diff("XGROUP", "CREATE", "s", "g0", "5")
    diff("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 12, "STREAMS", "s", ">")
    diff("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 2, "STREAMS", "s", ">")
    diff("XGROUP", "CREATECONSUMER", "s", "g0", "carl")
    diff("XDEL", "s", "3-1")
    for args in (
        ("XINFO", "STREAM", "s", "FULL"), ("XINFO", "STREAM", "s", "FULL", "COUNT", 3),
        ("XINFO", "STREAM", "s", "full", "count", 0), ("XINFO", "STREAM", "s", "FULL", "COUNT", -1),
    ):
        ours, theirs = diff.both(*args)
        assert _timeless(_parse(ours)) == _timeless(_parse(theirs)), f"{args}: {ours!r} != {theirs!r}"


# ----------------------------------------------------------------- auto IDs


def test_auto_ids_have_redis_shape(diff) -> None:
    """`*` IDs differ between servers: both give ms-seq near now, strictly increasing."""
    seen: list[tuple[int, int]] = []
    for _ in range(50):
        ours, theirs = diff.both("XADD", "s", "*", "f", "v")
        for raw in (ours, theirs):
            assert re.fullmatch(rb"\$\d+\r\n\d+-\d+\r\n", raw), raw
        ms, seq = (int(x) for x in ours.split(b"\r\n")[1].split(b"-"))
        assert abs(ms - time.time() * 1000) < 10_000
        seen.append((ms, seq))
    assert seen == sorted(set(seen))
    ours, theirs = diff.both("XADD", "s", "MAXLEN", "~", 10, "*", "f", "v")
    assert ours[:1] == theirs[:1] == b"$"
    diff("XLEN", "s")
    diff("XADD", "p", "5-*", "f", "v")
    diff("XADD", "p", "5-*", "f", "v")
    diff("XADD", "p", "9999999999999-*", "f", "v")
    ours, theirs = diff.both("XADD", "p", "*", "f", "v")  # the last ID is in the future: seq + 1
    assert ours == theirs == b"$15\r\n9999999999999-1\r\n"


# ----------------------------------------------------------------- events

EVENT_SCRIPTS = [
    ["XADD", "s", "1-1", "f", "v"], ["XADD", "s", "MAXLEN", 1, "2-1", "f", "v"], ["XADD", "s", "MAXLEN", 5, "3-1", "f", "v"],
    ["XADD", "s", "1-1", "f", "v"], ["XADD", "nokey", "NOMKSTREAM", "1-1", "f", "v"], ["XDEL", "s", "2-1"], ["XDEL", "s", "9-9"],
    ["XTRIM", "s", "MAXLEN", 0], ["XTRIM", "s", "MAXLEN", 0], ["XSETID", "s", "10-0"], ["XSETID", "s", "1-0"],
    ["XGROUP", "CREATE", "s", "g", "0"], ["XGROUP", "CREATE", "s", "g", "0"], ["XGROUP", "CREATE", "m", "g", "$", "MKSTREAM"],
    ["XGROUP", "CREATECONSUMER", "s", "g", "c"], ["XGROUP", "CREATECONSUMER", "s", "g", "c"], ["XGROUP", "SETID", "s", "g", "0"],
    ["XADD", "s", "11-1", "f", "v"], ["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"],
    ["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "e", "STREAMS", "s", "0"],
    ["XCLAIM", "s", "g", "f", 0, "11-1"], ["XAUTOCLAIM", "s", "g", "h", 0, "0"], ["XACK", "s", "g", "11-1"],
    ["XGROUP", "DELCONSUMER", "s", "g", "c"], ["XGROUP", "DELCONSUMER", "s", "g", "zz"], ["XGROUP", "DESTROY", "s", "g"],
    ["XGROUP", "DESTROY", "s", "g"], ["DEL", "s"], ["XADD", "e", "MAXLEN", 0, "1-1", "f", "v"], ["EXISTS", "e"],
]


def test_keyspace_events(events) -> None:
    for args in EVENT_SCRIPTS:
        events(*args)
    ours, theirs = events.events()
    assert ours == theirs


# --------------------------------------------------------------- blocking


# The `blocking` fixture (BlockingPair) is tests/conftest.py's.


def test_xread_block_is_woken_by_xadd(blocking) -> None:
    b = blocking(3)
    b.call("XADD", "s", "1-1", "f", "v")
    b.send(0, "XREAD", "BLOCK", 0, "STREAMS", "s", "other", "$", "$")
    b.wait_blocked(1)
    b.send(1, "XREAD", "COUNT", 2, "BLOCK", 0, "STREAMS", "s", "0-5")  # 1-1 is above: served at once
    b.read(1)
    b.send(2, "XREAD", "COUNT", 2, "BLOCK", 0, "STREAMS", "s", "1-1")
    b.wait_blocked(2)
    b.call("XADD", "other", "5-1", "g", "w")
    b.read(0)  # only the key that woke it
    b.nothing_yet(2)
    b.call("XADD", "s", "2-1", "a", "1")
    b.call("XADD", "s", "3-1", "a", "2")
    b.read(2)
    b.call("XLEN", "s")


def test_xread_block_count_and_many_waiters(blocking) -> None:
    b = blocking(2)
    b.send(0, "XREAD", "BLOCK", 0, "STREAMS", "s", "$")
    b.wait_blocked(1)
    b.send(1, "XREAD", "COUNT", 1, "BLOCK", 0, "STREAMS", "s", "$")
    b.wait_blocked(2)
    b.call("MULTI")
    b.call("XADD", "s", "1-1", "f", "v")
    b.call("XADD", "s", "2-1", "f", "v")
    b.call("EXEC")
    b.read(0)
    b.read(1)


def test_xread_block_timeouts_and_errors(blocking) -> None:
    b = blocking(1)
    b.send(0, "XREAD", "BLOCK", 50, "STREAMS", "s", "$")
    b.send(0, "PING")
    b.read(0)  # null array after 50 ms
    b.read(0)
    for args in (("BLOCK", -1), ("BLOCK", "x"), ("BLOCK", "1.5"), ("BLOCK", "99999999999999999999")):
        b.send(0, "XREAD", *args, "STREAMS", "s", "$")
        b.read(0)
    b.call("MULTI")
    b.call("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
    b.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "s", ">")
    b.call("EXEC")
    b.send(0, "XREAD", "BLOCK", 0, "STREAMS", "s", "$")
    b.wait_blocked(1)
    b.call("SET", "s", "string")  # another type: an XREAD keeps waiting
    b.nothing_yet(0)
    b.call("DEL", "s")
    b.call("XADD", "s", "1-1", "f", "v")
    b.read(0)


def test_xreadgroup_block(blocking) -> None:
    b = blocking(3)
    b.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b.send(0, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    b.wait_blocked(1)
    b.send(1, "XREADGROUP", "GROUP", "g", "bob", "COUNT", 1, "NOACK", "BLOCK", 0, "STREAMS", "s", ">")
    b.wait_blocked(2)
    b.send(2, "XREADGROUP", "GROUP", "g", "carol", "BLOCK", 0, "STREAMS", "s", "0")  # history: at once
    b.read(2)
    b.call("XADD", "s", "1-1", "f", "v")
    b.read(0)
    b.nothing_yet(1)  # the group's last ID moved past 1-1
    b.call("XADD", "s", "2-1", "f", "v")
    b.read(1)
    b.call("XPENDING", "s", "g")
    b.call("XINFO", "GROUPS", "s")
    b.send(0, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 30, "STREAMS", "s", ">")
    b.read(0)


def test_xreadgroup_unblocked_when_group_or_key_goes(blocking) -> None:
    b = blocking(2)
    b.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b.call("XGROUP", "CREATE", "s", "h", "$")
    b.send(0, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    b.wait_blocked(1)
    b.send(1, "XREADGROUP", "GROUP", "h", "bob", "BLOCK", 0, "STREAMS", "s", ">")
    b.wait_blocked(2)
    b.call("XGROUP", "DESTROY", "s", "g")
    b.read(0)  # NOGROUP ... no longer exists
    b.nothing_yet(1)
    b.call("DEL", "s")
    b.read(1)  # UNBLOCKED the stream key no longer exists
    for setup, action in (
        (("XGROUP", "CREATE", "t", "g", "$", "MKSTREAM"), ("SET", "t", "v")),
        (("XGROUP", "CREATE", "u", "g", "$", "MKSTREAM"), ("FLUSHALL",)),
    ):
        b.call(*setup)
        b.send(0, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", setup[2], ">")
        b.wait_blocked(1)
        b.call(*action)
        b.read(0)


def test_blocked_reader_ignores_writes_that_bring_no_entry(blocking) -> None:
    b = blocking(2)
    b.call("XADD", "s", "1-1", "f", "v")
    b.call("XADD", "s", "2-1", "f", "v")
    b.call("XDEL", "s", "2-1")
    b.send(0, "XREAD", "BLOCK", 0, "STREAMS", "s", "1-1")  # last ID 2-1, but nothing after 1-1
    b.wait_blocked(1)
    b.call("XGROUP", "CREATE", "s", "g", "$")
    b.send(1, "XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "s", ">")
    b.wait_blocked(2)
    b.call("XSETID", "s", "5-0")
    b.call("XGROUP", "CREATECONSUMER", "s", "g", "d")
    b.nothing_yet(0)
    b.nothing_yet(1)
    b.call("XINFO", "GROUPS", "s")
    b.call("XADD", "s", "6-1", "f", "v")
    b.read(0)
    b.read(1)


# ------------------------------------------------------- random sequences

_IDS = st.builds(lambda ms, seq: f"{ms}-{seq}", st.integers(0, 40), st.integers(0, 3))
_BOUNDS = st.one_of(st.just("-"), st.just("+"), _IDS, _IDS.map(lambda i: "(" + i))
_CONSUMERS = st.sampled_from(["alice", "bob"])
_OPS = st.one_of(
    st.tuples(st.just("XADD"), st.just("s"), _IDS, st.just("f"), st.sampled_from(["v", "12", "x" * 70])),
    st.tuples(st.just("XADD"), st.just("s"), st.sampled_from(["MAXLEN", "MINID"]), st.sampled_from(["~", "="]),
              st.sampled_from(["3", "10-0", "20"]), _IDS, st.just("f"), st.just("v")),
    st.tuples(st.just("XDEL"), st.just("s"), _IDS, _IDS),
    st.tuples(st.just("XTRIM"), st.just("s"), st.sampled_from(["MAXLEN", "MINID"]), st.sampled_from(["~", "="]),
              st.sampled_from(["0", "2", "15-0"])),
    st.tuples(st.just("XRANGE"), st.just("s"), _BOUNDS, _BOUNDS, st.just("COUNT"), st.integers(-1, 4)),
    st.tuples(st.just("XREVRANGE"), st.just("s"), _BOUNDS, _BOUNDS),
    st.tuples(st.just("XREADGROUP"), st.just("GROUP"), st.just("g"), _CONSUMERS, st.just("COUNT"), st.integers(0, 3),
              st.just("STREAMS"), st.just("s"), st.sampled_from([">", "0", "5-0"])),
    st.tuples(st.just("XREAD"), st.just("COUNT"), st.integers(0, 3), st.just("STREAMS"), st.just("s"), _IDS),
    st.tuples(st.just("XACK"), st.just("s"), st.just("g"), _IDS, _IDS),
    st.tuples(st.just("XCLAIM"), st.just("s"), st.just("g"), _CONSUMERS, st.just(0), _IDS,
              st.sampled_from(["JUSTID", "FORCE", "RETRYCOUNT"]), st.just("5")),
    st.tuples(st.just("XAUTOCLAIM"), st.just("s"), st.just("g"), _CONSUMERS, st.just(0), _BOUNDS, st.just("COUNT"),
              st.integers(1, 3)),
    st.tuples(st.just("XPENDING"), st.just("s"), st.just("g")),
    st.tuples(st.just("XINFO"), st.just("GROUPS"), st.just("s")),
    st.tuples(st.just("XINFO"), st.just("STREAM"), st.just("s")),
    st.tuples(st.just("XGROUP"), st.just("SETID"), st.just("s"), st.just("g"), _IDS),
    st.tuples(st.just("XGROUP"), st.just("DELCONSUMER"), st.just("s"), st.just("g"), _CONSUMERS),
    st.tuples(st.just("XSETID"), st.just("s"), _IDS),
    st.tuples(st.just("XLEN"), st.just("s")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_OPS, max_size=40))
def test_random_sequences(diff, ops) -> None:
    diff("FLUSHALL")
    diff("CONFIG", "SET", "stream-node-max-entries", 4)
    diff("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM")
    try:
        for op in ops:
            _run(diff, list(op))
        diff("XRANGE", "s", "-", "+")
        diff("XINFO", "STREAM", "s")
    finally:
        diff("CONFIG", "SET", "stream-node-max-entries", 100)


def test_xreadgroup_unblocked_by_swapdb(blocking) -> None:
    b = blocking(1)
    b.call("SELECT", 9)
    b.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b.call("SELECT", 8)
    b.call("LPUSH", "s", "x")
    b.send(0, "SELECT", 9)
    b.read(0)
    b.send(0, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    b.wait_blocked(1)
    b.call("SWAPDB", 8, 9)
    b.read(0)  # the key is a list now: UNBLOCKED
    b.call("FLUSHALL")
