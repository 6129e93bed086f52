"""tandemkv-benchmark: the seed's workload and the engine, expiry, pub/sub and memory
measurements, against any RESP server, alone or side by side.

    tandemkv-benchmark seed --port 6379                  # 1 M keys, 50 clients: SET, GET, mixed
    tandemkv-benchmark seed --start tandemkv --clients 100
    tandemkv-benchmark growth --start tandemkv --keys 5000000
    tandemkv-benchmark expiry --start redis
    tandemkv-benchmark pubsub --port 6380 --subscribers 100
    tandemkv-benchmark memory --start tandemkv --keys 1000000
    tandemkv-benchmark compare seed --targets tandemkv redis --reps 2
    tandemkv-benchmark compare redis-benchmark -P 1 16

Each run writes <scenario>-<target>.json (all figures), .csv (timeline per 100 ms with INFO
engine fields) and .png (throughput and p99 over time, migrations shaded) into --out, and
prints a results table. The load generator and the server share this machine's CPUs: on a
small machine that limits what any load generator can show (see bench/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any

from tandemkv.cli.bench import compare as comparing
from tandemkv.cli.bench import report, scenarios
from tandemkv.cli.bench.loadgen import ProgressUI
from tandemkv.cli.bench.servers import (
    Target,
    parse_target,
    redis_server_path,
    start_redis,
    start_tandemkv,
    stop,
)

HELP = {
    "keys": "unique keys to write",
    "clients": "concurrent connections",
    "workers": "load generator processes (each an event loop)",
    "pipeline": "commands sent together per connection (1 = no pipelining)",
    "value_size": "value size in bytes",
    "seed": "random seed of the mixed phase",
    "mixed_ops": "operations in the mixed phase (default: as many as keys)",
    "set_ratio": "share of SETs in the mixed phase",
    "expiring": "keys that expire (deadlines spread evenly)",
    "spread_s": "seconds over which the deadlines are spread",
    "resident": "other keys loaded first (never expire)",
    "lead_s": "seconds from the start to the first deadline",
    "grace_s": "seconds to wait for late notifications/messages",
    "subscribers": "subscriber connections",
    "messages": "messages published",
    "message_size": "message size in bytes",
}


def add_scenario_options(
    parser: argparse.ArgumentParser, options: type[scenarios.LoadOptions]
) -> None:
    """One --option per field of the scenario's options dataclass (defaults shown in --help)."""
    for field in dataclasses.fields(options):
        kind = float if field.type in ("float", float) else int
        flag = "--" + field.name.removesuffix("_s").replace(
            "_", "-"
        )  # spread_s -> --spread (seconds)
        parser.add_argument(
            flag,
            dest=field.name,
            type=kind,
            default=None,
            help=f"{HELP.get(field.name, field.name)} (default {field.default})",
        )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-out"),
        help="directory for JSON, CSV and PNG (default ./bench-out)",
    )
    parser.add_argument("--tag", default="", help="suffix for output file names")
    parser.add_argument("--no-plot", action="store_true", help="no PNG (matplotlib not needed)")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and plain-text table (rich not needed)",
    )
    parser.add_argument(
        "--tandem-args",
        default="",
        help="extra arguments for a tandemkv this tool starts, e.g. '--engine-min-shards 1'",
    )
    parser.add_argument(
        "--redis-args", default="", help="extra arguments for a redis-server this tool starts"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tandemkv-benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{seed,growth,expiry,pubsub,memory,queue,leaderboard,streams,compare}"
    )
    for name, (options, function) in scenarios.SCENARIOS.items():
        sub = commands.add_parser(
            name, help=(function.__doc__ or "").splitlines()[0], description=function.__doc__
        )
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=6379)
        sub.add_argument(
            "--pid",
            type=int,
            default=None,
            help="server pid, to read its CPU and RSS from /proc (local servers)",
        )
        sub.add_argument(
            "--start",
            choices=("tandemkv", "redis"),
            help="start that server on a free port for this run, and stop it after",
        )
        sub.add_argument("--flush", action="store_true", help="FLUSHALL before the run")
        add_scenario_options(sub, options)
        add_output_options(sub)
    cmp = commands.add_parser(
        "compare", help="one scenario against several servers, interleaved, with ratios"
    )
    cmp_sub = cmp.add_subparsers(
        dest="scenario", required=True, metavar="{seed,growth,expiry,pubsub,memory,queue,leaderboard,streams,redis-benchmark}"
    )
    for name, (options, function) in scenarios.SCENARIOS.items():
        sub = cmp_sub.add_parser(name, help=(function.__doc__ or "").splitlines()[0])
        _add_compare_options(sub)
        add_scenario_options(sub, options)
        add_output_options(sub)
    rb = cmp_sub.add_parser(
        "redis-benchmark",
        help="redis-benchmark as the neutral load generator; server CPU per request",
    )
    _add_compare_options(rb)
    rb.add_argument("-t", dest="tests", default="set,get", help="tests (default set,get)")
    rb.add_argument(
        "-n",
        dest="requests",
        type=int,
        default=1_000_000,
        help="requests per test (default 1000000)",
    )
    rb.add_argument(
        "-r",
        dest="keyspace",
        type=int,
        default=1_000_000,
        help="random keyspace size (default 1000000)",
    )
    rb.add_argument("-c", dest="bench_clients", type=int, default=50, help="clients (default 50)")
    rb.add_argument(
        "-P",
        dest="pipelines",
        type=int,
        nargs="+",
        default=[1, 16],
        help="pipeline depths (default 1 16)",
    )
    add_output_options(rb)
    return parser


def _add_compare_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        nargs="+",
        default=None,
        help="servers: 'tandemkv' and 'redis' (started by this tool) or host:port (default: tandemkv redis, or tandemkv alone without redis-server)",
    )
    parser.add_argument("--reps", type=int, default=2, help="repetitions of A B (default 2)")
    parser.add_argument(
        "--baseline",
        default=None,
        help="label of the target ratios are taken against (default: the last)",
    )


def _options(
    args: argparse.Namespace, options: type[scenarios.LoadOptions]
) -> scenarios.LoadOptions:
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(options)
        if getattr(args, f.name, None) is not None
    }
    return options(**given)


def _start(kind: str, args: argparse.Namespace) -> Target:
    if kind == "tandemkv":
        return start_tandemkv(*shlex.split(args.tandem_args))
    return start_redis(*shlex.split(args.redis_args))


def _progress(args: argparse.Namespace, title: str) -> ProgressUI | None:
    return None if args.quiet else ProgressUI(title)


def run_scenario(args: argparse.Namespace) -> int:
    options, function = scenarios.SCENARIOS[args.command]
    opts = _options(args, options)
    target = (
        _start(args.start, args)
        if args.start
        else Target(f"{args.host}:{args.port}", args.host, args.port, pid=args.pid)
    )
    try:
        target.resolve_pid()
        if args.flush:
            scenarios.flush(target)
        run = function(target, opts, _progress(args, target.label))
        paths = report.write_all(run, args.out, args.tag, plot=not args.no_plot)
    finally:
        stop(target)
    report.print_table(run, use_rich=not args.quiet)
    print("wrote " + ", ".join(str(p) for p in paths))
    summary = run.get("summary", {})
    return 1 if summary.get("wrong") or summary.get("missing") else 0


def run_compare(args: argparse.Namespace) -> int:
    names = args.targets or (["tandemkv", "redis"] if redis_server_path() else ["tandemkv"])
    targets: list[Target] = []
    try:
        for name in names:
            targets.append(
                _start(name, args) if name in ("tandemkv", "redis") else parse_target(name)
            )
        if args.scenario == "redis-benchmark":
            if comparing.redis_benchmark_path() is None:
                print("tandemkv-benchmark: redis-benchmark is not on PATH", file=sys.stderr)
                return 2
            result = comparing.redis_benchmark_compare(
                targets,
                args.tests.split(","),
                args.requests,
                args.keyspace,
                args.bench_clients,
                args.pipelines,
                args.reps,
                args.out,
                args.baseline,
            )
        else:
            options, function = scenarios.SCENARIOS[args.scenario]
            opts = _options(args, options)

            def run_one(target: Target, progress: ProgressUI | None) -> dict[str, Any]:
                return function(target, opts, progress)

            result = comparing.compare(
                targets,
                run_one,
                args.scenario,
                args.reps,
                args.out,
                args.baseline,
                plot=not args.no_plot,
                progress_for=lambda title: _progress(args, title),
            )
    finally:
        for target in targets:
            stop(target)
    comparing.print_comparison(result, use_rich=not args.quiet)
    print(f"wrote {args.out}/compare-{args.scenario}.json and .md")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "compare":
        return run_compare(args)
    return run_scenario(args)


if __name__ == "__main__":
    sys.exit(main())
