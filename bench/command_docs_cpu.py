"""Server CPU per COMMAND / COMMAND INFO / COMMAND DOCS / COMMAND GETKEYSANDFLAGS request,
tandemkv against redis-server, interleaved, one client without pipelining (these commands are
sent once per connection by the clients that send them, so the figure of interest is the cost
of one reply, not throughput).

    python bench/command_docs_cpu.py TANDEM_PORT REDIS_PORT [ROUNDS]

Server CPU is read from /proc/<pid>/stat (the pid from INFO server), so both servers must run
on this machine. SET is the yardstick of the same run.
"""

from __future__ import annotations

import os
import sys

import redis

CASES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("SET", "k", "v"), 20000),
    (("COMMAND", "INFO", "set"), 5000),
    (("COMMAND", "DOCS", "set"), 5000),
    (("COMMAND", "GETKEYSANDFLAGS", "zunionstore", "d", "2", "a", "b"), 5000),
    (("COMMAND",), 300),
    (("COMMAND", "DOCS"), 300),
)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_request_us(port: int, args: tuple[str, ...], count: int) -> float:
    client = redis.Redis(port=port, protocol=2)
    pid = int(client.info("server")["process_id"])
    connection = client.connection_pool.get_connection()
    before = cpu_seconds(pid)
    for _ in range(count):
        connection.send_command(*args)
        connection.read_response()
    spent = cpu_seconds(pid) - before
    client.connection_pool.release(connection)
    client.close()
    return spent / count * 1e6


def main() -> None:
    tandem_port, redis_port = int(sys.argv[1]), int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    print("| round | request | µs CPU tandemkv | redis-server | ratio |")
    print("|---|---|---|---|---|")
    for round_number in range(1, rounds + 1):
        for args, count in CASES:
            ours = per_request_us(tandem_port, args, count)
            theirs = per_request_us(redis_port, args, count)
            ratio = ours / theirs if theirs else float("inf")
            print(f"| {round_number} | {' '.join(args)} | {ours:.0f} | {theirs:.0f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
