"""Side-by-side runs: one scenario against several servers, interleaved A B A B.

Each repetition runs the scenario against every target in turn (servers this tool started are
restarted fresh before each run), so machine noise - other processes on a shared box - hits
all targets alike. Each figure is then reported per target (median over repetitions) and as a
ratio to the baseline target, computed per repetition (A_i / B_i) with its spread (min-max).

`redis_benchmark` does the same with redis-benchmark as the neutral load generator, and reads
the server's CPU time before and after each run to give CPU microseconds per request.
"""

from __future__ import annotations

import csv
import io
import resource
import shutil
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tandemkv.cli.bench import report
from tandemkv.cli.bench.loadgen import ProgressUI
from tandemkv.cli.bench.servers import Target, restart


def figures(run: dict[str, Any]) -> dict[str, float]:
    """The comparable numbers of one run, by name (phase.figure or phase.command.figure)."""
    out: dict[str, float] = {}
    for phase in run["phases"]:
        name = phase["phase"]
        for key in ("ops_per_s_avg", "ops_per_s_peak", "server_cpu_us_per_request"):
            if phase.get(key) is not None:
                out[f"{name}.{key}"] = phase[key]
        for command, figs in phase["commands"].items():
            for key in ("avg_us", "p50_us", "p99_us", "p999_us", "max_us"):
                value = figs.get(key)
                if isinstance(value, int | float):
                    out[f"{name}.{command}.{key}"] = value
    _flatten(run.get("summary", {}), "summary", out)
    return out


def _flatten(value: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix] = value


def ratio_table(
    per_target: dict[str, list[dict[str, float]]], baseline: str
) -> list[dict[str, Any]]:
    """Per figure: each target's median, and each other target's ratio to the baseline
    (median of the per-repetition ratios, with min and max)."""
    names: list[str] = []
    for runs in per_target.values():
        for figs in runs:
            names.extend(n for n in figs if n not in names)
    rows = []
    for name in names:
        row: dict[str, Any] = {"figure": name}
        for label, runs in per_target.items():
            values = [figs[name] for figs in runs if name in figs]
            row[label] = statistics.median(values) if values else None
        for label, runs in per_target.items():
            if label == baseline:
                continue
            ratios = [
                mine[name] / base[name]
                for mine, base in zip(runs, per_target[baseline], strict=False)
                if name in mine and name in base and base[name]
            ]
            if ratios:
                row[f"{label}/{baseline}"] = {
                    "median": round(statistics.median(ratios), 3),
                    "min": round(min(ratios), 3),
                    "max": round(max(ratios), 3),
                }
        rows.append(row)
    return rows


def compare(
    targets: list[Target],
    run_one: Callable[[Target, ProgressUI | None], dict[str, Any]],
    scenario: str,
    reps: int,
    out_dir: Path,
    baseline: str | None = None,
    plot: bool = True,
    progress_for: Callable[[str], ProgressUI | None] = lambda _title: None,
) -> dict[str, Any]:
    """Run `run_one` against every target, `reps` times, interleaved; returns the comparison."""
    per_target: dict[str, list[dict[str, float]]] = {t.label: [] for t in targets}
    runs: list[dict[str, Any]] = []
    for rep in range(reps):
        for i, target in enumerate(targets):
            if rep or i:
                targets[i] = target = restart(target)
            target.resolve_pid()
            run = run_one(target, progress_for(f"{target.label} #{rep + 1}"))
            run["rep"] = rep
            report.write_all(run, out_dir, f"-rep{rep + 1}", plot=plot)
            per_target[target.label].append(figures(run))
            runs.append(
                {k: v for k, v in run.items() if k not in ("phases", "lags_ms")}
                | {"phases": [_phase_brief(p) for p in run["phases"]]}
            )
    base = baseline or targets[-1].label
    result = {
        "scenario": scenario,
        "targets": [t.label for t in targets],
        "baseline": base,
        "reps": reps,
        "runs": runs,
        "figures": ratio_table(per_target, base),
    }
    report.write_json(result, out_dir / f"compare-{scenario}.json")
    warnings = "".join(f"\n- {line}" for line in warning_lines(result))
    (out_dir / f"compare-{scenario}.md").write_text(
        markdown(result) + (f"\nWarnings:{warnings}\n" if warnings else "")
    )
    return result


def _phase_brief(phase: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in phase.items() if k not in ("timeline",)}


def markdown(result: dict[str, Any], only: Callable[[str], bool] | None = None) -> str:
    """The comparison as a Markdown table (a row per figure, a column per target, ratios with spread)."""
    labels = result["targets"]
    base = result["baseline"]
    others = [label for label in labels if label != base]
    header = ["figure", *labels, *(f"{label}/{base} (min-max)" for label in others)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in result["figures"]:
        if only is not None and not only(row["figure"]):
            continue
        cells = [row["figure"], *(_num(row.get(label)) for label in labels)]
        for label in others:
            ratio = row.get(f"{label}/{base}")
            cells.append(
                "-"
                if ratio is None
                else f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def warning_lines(result: dict[str, Any]) -> list[str]:
    """One line per run phase that carried a warning (load generator or machine saturated)."""
    lines = []
    for run in result["runs"]:
        for phase in run.get("phases", []):
            for warning in phase.get("warnings", []):
                lines.append(f"{run['target']} #{run['rep'] + 1} {phase['phase']}: {warning}")
    return lines


def print_comparison(result: dict[str, Any], use_rich: bool = True) -> None:
    """The headline figures as a table, then the runs' warnings."""
    for line in warning_lines(result):
        print(f"warning: {line}")
    text = markdown(result, only=_headline)
    if use_rich:
        console = report.wide_console()
        table_mod = report.require("rich.table")
        lines = [line.strip("|").split("|") for line in text.splitlines()]
        table = table_mod.Table(
            title=f"compare {result['scenario']}: ratios to {result['baseline']} (median of A/B per repetition, min-max)"
        )
        for header in lines[0]:
            table.add_column(header.strip(), justify="right")
        for cells in lines[2:]:
            table.add_row(*(c.strip() for c in cells))
        console.print(table)
    else:
        print(text)


def _headline(figure: str) -> bool:
    """Figures worth a line on the terminal (the JSON and .md files have them all)."""
    return figure.endswith(
        (
            "ops_per_s_avg",
            "ops_per_s_peak",
            "server_cpu_us_per_request",
            "avg_us",
            "p50_us",
            "p99_us",
            "max_us",
            "rps",
            "avg_ms",
            "p50_ms",
            "p99_ms",
        )
    ) or figure.startswith("summary.")


# ------------------------------------------------------------------ redis-benchmark


def redis_benchmark_path() -> str | None:
    return shutil.which("redis-benchmark")


def run_redis_benchmark(
    target: Target, test: str, requests: int, keyspace: int, clients: int, pipeline: int
) -> dict[str, Any]:
    """One `redis-benchmark -t <test>` run: its CSV figures, and the server's CPU µs per request."""
    path = redis_benchmark_path()
    if path is None:
        raise RuntimeError("redis-benchmark is not on PATH")
    command = [
        path,
        "-h",
        target.host,
        "-p",
        str(target.port),
        "-t",
        test,
        "-n",
        str(requests),
        "-r",
        str(keyspace),
        "-c",
        str(clients),
        "-P",
        str(pipeline),
        "--csv",
    ]
    cpu_before, source = target.cpu_s()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_after, _ = target.cpu_s()
    rows = list(csv.DictReader(io.StringIO(completed.stdout)))
    if not rows:
        raise RuntimeError(
            f"redis-benchmark printed no CSV: {completed.stdout[-500:]} {completed.stderr[-500:]}"
        )
    row = rows[0]
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    client_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    return {
        "command": " ".join(command[1:]),
        "test": row["test"],
        "rps": float(row["rps"]),
        "avg_ms": float(row["avg_latency_ms"]),
        "p50_ms": float(row["p50_latency_ms"]),
        "p99_ms": float(row["p99_latency_ms"]),
        "max_ms": float(row["max_latency_ms"]),
        "server_cpu_s": server_cpu,
        "server_cpu_source": source,
        "server_cpu_us_per_request": None
        if server_cpu is None
        else round(server_cpu * 1e6 / requests, 3),
        "client_cpu_s": round(client_cpu, 3),
    }


def redis_benchmark_compare(
    targets: list[Target],
    tests: list[str],
    requests: int,
    keyspace: int,
    clients: int,
    pipelines: list[int],
    reps: int,
    out_dir: Path,
    baseline: str | None = None,
) -> dict[str, Any]:
    """redis-benchmark against every target, interleaved, for each pipeline depth and test."""
    per_target: dict[str, list[dict[str, float]]] = {
        t.label: [{} for _ in range(reps)] for t in targets
    }
    raw: list[dict[str, Any]] = []
    for rep in range(reps):
        for i, target in enumerate(targets):
            if rep or i:
                targets[i] = target = restart(target)
            target.resolve_pid()
            for pipeline in pipelines:
                for test in tests:
                    result = run_redis_benchmark(
                        target, test, requests, keyspace, clients, pipeline
                    )
                    raw.append({"target": target.label, "rep": rep, "pipeline": pipeline, **result})
                    figs = per_target[target.label][rep]
                    prefix = f"P{pipeline}.{result['test']}"
                    for key in ("rps", "avg_ms", "p50_ms", "p99_ms", "server_cpu_us_per_request"):
                        if result[key] is not None:
                            figs[f"{prefix}.{key}"] = result[key]
    base = baseline or targets[-1].label
    out = {
        "scenario": "redis-benchmark",
        "targets": [t.label for t in targets],
        "baseline": base,
        "reps": reps,
        "params": {
            "tests": tests,
            "requests": requests,
            "keyspace": keyspace,
            "clients": clients,
            "pipelines": pipelines,
        },
        "runs": raw,
        "figures": ratio_table(per_target, base),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    report.write_json(out, out_dir / "compare-redis-benchmark.json")
    (out_dir / "compare-redis-benchmark.md").write_text(markdown(out))
    return out
