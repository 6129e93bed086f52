"""Dispatcher fuzzing: argument vectors built from the command table, run in-process.

Every command and subcommand of the table is called with arguments drawn from a vocabulary
of the words Redis commands parse (options, numbers at the edges, ranges, IDs, patterns) and
of keys holding every type. Each call must return a reply object that encodes in RESP2 and
RESP3, errors must be Redis-shaped (a code word, then text, on one line), and no call may
take longer than a bound: a Python exception, an unencodable reply or a slow call is a bug.

The test suite runs a short, deterministic campaign (tests/test_fuzz_dispatch.py); a long one:

    .venv/bin/python -m tandemkv.cli.fuzz --inputs 10000000 [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tandemkv.clock import ManualClock
from tandemkv.commands import TABLE, Instance, Session, execute
from tandemkv.commands.table import CommandSpec
from tandemkv.config import Config
from tandemkv.protocol import Error, encode2, encode3

# Commands that stop the process or sleep on purpose (DEBUG SLEEP): not fuzzed.
# SAVE and BGSAVE write `dir`/`dbfilename` (the current directory): not fuzzed.
# PFSELFTEST hashes ten million elements, seconds by design (tests/test_hll_diff.py runs it).
EXCLUDED = frozenset({"shutdown", "debug", "monitor", "sync", "psync", "save", "bgsave", "pfselftest"})
# Longest a single fuzzed command may run (generous: a noisy 2-core machine).
SLOW_CALL_S = 2.0

KEYS = [b"str", b"int", b"list", b"hash", b"set", b"zset", b"stream", b"nokey", b"{t}k", b""]
WORDS = [
    # options
    b"EX", b"PX", b"EXAT", b"PXAT", b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"GET", b"KEEPTTL",
    b"PERSIST", b"LIMIT", b"COUNT", b"MATCH", b"TYPE", b"BY", b"STORE", b"ALPHA", b"ASC", b"DESC",
    b"LEFT", b"RIGHT", b"BEFORE", b"AFTER", b"RANK", b"MAXLEN", b"MINID", b"WITHSCORES", b"WITHSCORE",
    b"WITHVALUES", b"REV", b"BYSCORE", b"BYLEX", b"WEIGHTS", b"AGGREGATE", b"SUM", b"MIN", b"MAX",
    b"STREAMS", b"BLOCK", b"GROUP", b"NOACK", b"MKSTREAM", b"ENTRIESREAD", b"IDLE", b"TIME",
    b"RETRYCOUNT", b"FORCE", b"JUSTID", b"LASTID", b"FULL", b"CREATE", b"DESTROY", b"SETID",
    b"REPLACE", b"DB", b"SYNC", b"ASYNC", b"ID", b"ADDR", b"SKIPME", b"YES", b"NO", b"LEN", b"IDX",
    b"MINMATCHLEN", b"WITHMATCHLEN", b"NOMKSTREAM", b"TIMEOUT", b"ERROR", b"NUMSUB", b"HELP",
    b"BIT", b"BYTE", b"AND", b"OR", b"XOR", b"NOT", b"OVERFLOW", b"WRAP", b"SAT", b"FAIL", b"INCRBY",
    b"SET", b"i8", b"i64", b"u1", b"u63", b"u64", b"#3", b"#-1",
    # numbers at the edges
    b"0", b"1", b"-1", b"2", b"3", b"10", b"-10", b"100", b"-100", b"0.5", b"-0.5", b"1e3", b"inf",
    b"-inf", b"+inf", b"nan", b"9223372036854775807", b"-9223372036854775808", b"18446744073709551616",
    b"4294967296", b"0x10", b" 1", b"1 ", b"01", b"-0", b"1.5e308", b"4.9e-324",
    # ranges, IDs, patterns
    b"(1", b"[a", b"(a", b"-", b"+", b"*", b"$", b">", b"0-0", b"0-1", b"1-*", b"18446744073709551615-0",
    b"a*", b"[a-z]*", b"*?*", b"\\", b"#", b"w_*", b"*->f",
    # values
    b"v", b"", b"x" * 100, b"\x00\xff\r\n", b"f", b"a", b"b",
]


@dataclass
class Findings:
    calls: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)


def fuzzable_specs() -> list[CommandSpec]:
    specs = []
    for spec in TABLE:
        if spec.name in EXCLUDED:
            continue
        if spec.subcommands:
            specs.extend(sub for sub in spec.subcommands.values())
        if spec.handler is not None or not spec.subcommands:
            specs.append(spec)
    return specs


def new_session(scratch_dir: str) -> Session:
    """A fresh instance with keys of every type (as far as the table has their commands);
    anything it saves (FLUSHALL with save points) goes to `scratch_dir`."""
    config = Config()
    config.set("proto-max-bulk-len", b"1mb", startup=True)  # SETRANGE/SETBIT offsets stay small
    config.set("dir", scratch_dir.encode(), startup=True)
    session = Instance(config, ManualClock()).new_session()
    for argv in (
        [b"SET", b"str", b"hello"], [b"SET", b"int", b"42"], [b"RPUSH", b"list", b"a", b"b", b"3"],
        [b"HSET", b"hash", b"f", b"v", b"n", b"1"], [b"SADD", b"set", b"a", b"1"],
        [b"ZADD", b"zset", b"1", b"a", b"2", b"b"], [b"XADD", b"stream", b"1-1", b"f", b"v"],
        [b"SET", b"w_a", b"3"],
    ):
        execute(session, argv)
    return session


def argv_for(spec: CommandSpec, rng: random.Random) -> list[bytes]:
    """A command line for `spec`: its name, then arguments at random, mostly of a plausible
    count (the arity), sometimes off by one or two."""
    head = [spec.container.encode(), spec.name.encode()] if spec.container else [spec.name.encode()]
    arity = spec.arity
    wanted = arity if arity > 0 else -arity + rng.choice((0, 0, 1, 2, 3, 5))
    wanted = max(len(head), wanted + rng.choice((0, 0, 0, 0, -1, 1)))
    args = []
    for position in range(len(head), wanted):
        if position in spec.key_positions(wanted) or rng.random() < 0.25:
            args.append(rng.choice(KEYS))
        else:
            args.append(rng.choice(WORDS))
    return head + args


def check_reply(argv: list[bytes], reply: object, findings: Findings) -> None:
    for encode in (encode2, encode3):
        out: list[bytes] = []
        try:
            encode(reply, out)
        except Exception as exc:  # an unencodable reply is a bug
            findings.problems.append(f"{argv!r}: reply {reply!r} does not encode: {exc!r}")
            return
    if reply.__class__ is Error:
        findings.errors += 1
        message = reply.message  # type: ignore[attr-defined]
        code = message.split(" ", 1)[0]
        if not code or not code.isupper() or "\n" in message or "\r" in message:
            findings.problems.append(f"{argv!r}: error not Redis-shaped: {message!r}")


def campaign(inputs: int, seed: int, per_session: int = 200) -> Iterator[Findings]:
    """Run `inputs` fuzzed commands; yields the findings every `per_session` commands (each
    batch on a fresh instance, so one command's state changes stay bounded)."""
    rng = random.Random(seed)
    specs = fuzzable_specs()
    findings = Findings()
    scratch = tempfile.TemporaryDirectory(prefix="tandemkv-fuzz-")
    while findings.calls < inputs:
        session = new_session(scratch.name)
        for _ in range(min(per_session, inputs - findings.calls)):
            argv = argv_for(rng.choice(specs), rng)
            started = time.perf_counter()
            try:
                reply = execute(session, argv)
            except Exception as exc:
                findings.problems.append(f"{argv!r}: raised {exc!r}")
                session = new_session(scratch.name)
                continue
            finally:
                findings.calls += 1
            elapsed = time.perf_counter() - started
            if elapsed > SLOW_CALL_S:
                findings.problems.append(f"{argv!r}: took {elapsed:.1f} s")
            check_reply(argv, reply, findings)
            if session.multi is not None and rng.random() < 0.2:
                execute(session, [b"DISCARD"])
        yield findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    last = started
    findings = Findings()
    for findings in campaign(args.inputs, args.seed):
        now = time.monotonic()
        if now - last > 10:
            last = now
            print(f"{findings.calls} inputs, {findings.errors} error replies, {len(findings.problems)} problems, "
                  f"{findings.calls / (now - started):.0f}/s", flush=True)
    for problem in findings.problems[:50]:
        print(problem)
    print(f"done: {findings.calls} inputs in {time.monotonic() - started:.0f} s, {findings.errors} error replies, "
          f"{len(findings.problems)} problems")
    return 1 if findings.problems else 0


if __name__ == "__main__":
    sys.exit(main())
