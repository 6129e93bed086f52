"""The ACL check's own cost, in process (no sockets, no load generator): CPU per GET and SET
through the dispatcher for the default user and for a restricted user (a few commands, one
key pattern), alternated, ROUNDS times. Deterministic enough to compare with the server CPU
per request that bench/acl_cpu.sh measures under redis-benchmark.

    .venv/bin/python bench/acl_check.py [CALLS] [ROUNDS]
"""

from __future__ import annotations

import sys
import time

from tandemkv.commands import Instance, Session, execute

COMMANDS = {
    "set": [b"SET", b"key:000000000123", b"xxx"],
    "get": [b"GET", b"key:000000000123"],
}


def cpu_per_call_us(session: Session, argv: list[bytes], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        execute(session, argv)
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    instance = Instance()
    default = instance.new_session(addr="default")
    restricted = instance.new_session(addr="restricted")
    rules = [b"on", b">pw", b"~key:*", b"resetchannels", b"-@all", b"+get", b"+set", b"+ping"]
    execute(default, [b"ACL", b"SETUSER", b"bench", *rules])
    execute(restricted, [b"AUTH", b"bench", b"pw"])
    assert restricted.user.name == b"bench"
    for name, argv in COMMANDS.items():
        totals = {"default": 0.0, "bench": 0.0}
        for _ in range(rounds):
            for label, session in (("default", default), ("bench", restricted)):
                totals[label] += cpu_per_call_us(session, argv, calls)
        base, paid = totals["default"] / rounds, totals["bench"] / rounds
        print(f"{name}: default user {base:.3f} us, restricted user {paid:.3f} us, check {paid - base:+.3f} us")


if __name__ == "__main__":
    main()
