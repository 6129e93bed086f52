"""Outputs of a run: JSON (everything), CSV (the timeline), PNG (throughput and p99 over time,
migrations shaded) and a results table on the terminal.

rich and matplotlib are optional (`pip install tandemkv[bench]`) and imported only here, when
a table or a plot is asked for.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

CSV_FIELDS = (
    "scenario", "target", "phase", "t_s", "t_run_s", "ops", "ops_per_s", "p50_us", "p99_us", "p999_us", "max_us",
    "shards", "migrating", "old_shards", "steps_up", "steps_down",
)  # fmt: skip


def require(module: str) -> ModuleType:
    """Import an optional dependency of the benchmark tool, or exit with how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SystemExit(
            f"tandemkv-benchmark: the optional package for '{module}' is not installed; "
            "install the extras with `pip install tandemkv[bench]` (or pass --quiet / --no-plot)"
        ) from None


def clean(value: Any) -> Any:
    """The value with NaN and infinities replaced by None, so that it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def stem(run: dict[str, Any], tag: str = "") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run["target"])
    return f"{run['scenario']}-{safe}{tag}"


def write_json(run: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(clean(run), indent=1) + "\n")
    return path


def timeline_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every phase's timeline, one after the other, with the time since the run started."""
    rows = []
    offset = 0.0
    for phase in run["phases"]:
        for row in phase["timeline"]:
            rows.append(
                {
                    "scenario": run["scenario"],
                    "target": run["target"],
                    "phase": phase["phase"],
                    **row,
                    "t_run_s": round(offset + row["t_s"], 3),
                }
            )
        offset += phase["elapsed_s"]
    return rows


def write_csv(run: dict[str, Any], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in timeline_rows(run):
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            )
    return path


def migration_spans(
    rows: list[dict[str, Any]], interval_s: float = 0.1
) -> list[tuple[float, float]]:
    """(start, end) run times during which INFO engine reported a migration in progress."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for row in rows:
        if row.get("migrating") == 1 and start is None:
            start = row["t_run_s"]
        elif row.get("migrating") != 1 and start is not None:
            spans.append((start, row["t_run_s"]))
            start = None
    if start is not None and rows:
        spans.append((start, rows[-1]["t_run_s"] + interval_s))
    return spans


def plot_png(run: dict[str, Any], path: Path) -> Path:
    """Throughput (ops/s per 100 ms) and p99 latency over time; migrations shaded; phases marked."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    pyplot = require("matplotlib.pyplot")
    rows = timeline_rows(run)
    times = [row["t_run_s"] for row in rows]
    fig, (top, bottom) = pyplot.subplots(2, 1, sharex=True, figsize=(11, 6.5))
    top.plot(times, [row["ops_per_s"] for row in rows], lw=0.8, color="tab:blue")
    top.set_ylabel("ops/s (per 100 ms)")
    p99 = [row["p99_us"] / 1000 if row["ops"] else math.nan for row in rows]
    bottom.plot(times, p99, lw=0.8, color="tab:red", label="p99")
    bottom.plot(
        times,
        [row["max_us"] / 1000 if row["ops"] else math.nan for row in rows],
        lw=0.5,
        color="tab:gray",
        alpha=0.6,
        label="max",
    )
    bottom.set_ylabel("latency (ms)")
    if any(v > 0 for v in p99 if not math.isnan(v)):
        bottom.set_yscale("log")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper right", fontsize=8)
    for start, end in migration_spans(rows):
        for axis in (top, bottom):
            axis.axvspan(start, end, color="orange", alpha=0.25, lw=0)
    offset = 0.0
    for phase in run["phases"]:
        for axis in (top, bottom):
            axis.axvline(offset, color="black", lw=0.5, ls=":")
        top.text(
            offset, 1.01, f" {phase['phase']}", transform=top.get_xaxis_transform(), fontsize=8
        )
        for event in phase.get("engine_events", []):
            if event["event"] in ("step_up", "step_down"):
                top.axvline(
                    offset + event["t_s"],
                    color="green" if event["event"] == "step_up" else "purple",
                    lw=0.6,
                    ls="--",
                )
        offset += phase["elapsed_s"]
    title = f"{run['scenario']} against {run['target']} ({run['address']})"
    if any(row.get("migrating") == 1 for row in rows):
        title += ": migrations shaded"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
    return path


def write_all(run: dict[str, Any], out_dir: Path, tag: str = "", plot: bool = True) -> list[Path]:
    """JSON, CSV and (unless plot is False) PNG of one run into out_dir; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = stem(run, tag)
    paths = [write_json(run, out_dir / f"{base}.json"), write_csv(run, out_dir / f"{base}.csv")]
    if plot:
        paths.append(plot_png(run, out_dir / f"{base}.png"))
    return paths


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def phase_rows(run: dict[str, Any]) -> list[list[str]]:
    """Table rows: one per phase and command."""
    rows = []
    for phase in run["phases"]:
        for name, cmd in phase["commands"].items():
            rows.append(
                [
                    phase["phase"],
                    name,
                    str(phase.get("clients", "")),
                    str(phase.get("pipeline", "")),
                    _fmt(phase["ops_per_s_avg"]),
                    _fmt(phase["ops_per_s_peak"]),
                    _fmt(cmd["count"]),
                    _fmt(cmd["avg_us"]),
                    _fmt(cmd["p50_us"]),
                    _fmt(cmd["p99_us"]),
                    _fmt(cmd["p999_us"]),
                    _fmt(cmd["max_us"]),
                    _fmt(phase["server_cpu_us_per_request"], 2),
                    f"{phase['client_cpu_s']:.1f}s",
                    f"{phase['check']['wrong']}/{phase['check']['missing']}",
                ]
            )
    return rows


HEADERS = [
    "phase",
    "command",
    "clients",
    "P",
    "ops/s avg",
    "ops/s peak",
    "count",
    "avg µs",
    "p50 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "srv CPU µs/req",
    "client CPU",
    "wrong/missing",
]


def wide_console() -> Any:
    """A rich console; 170 columns wide when the output is not a terminal (logs, files)."""
    console_mod = require("rich.console")
    console = console_mod.Console()
    if not console.is_terminal:
        console = console_mod.Console(width=170)
    return console


def print_table(run: dict[str, Any], use_rich: bool = True) -> None:
    """The run's results (and its warnings and summary) on stdout."""
    title = f"{run['scenario']} — {run['target']} ({run['address']})"
    rows = phase_rows(run)
    if use_rich:
        table_mod = require("rich.table")
        table = table_mod.Table(title=title)
        for header in HEADERS:
            table.add_column(header, justify="left" if header in ("phase", "command") else "right")
        for row in rows:
            table.add_row(*row)
        console = wide_console()
        console.print(table)
        emit = console.print
    else:
        print(title)
        print("  ".join(HEADERS))
        for row in rows:
            print("  ".join(row))
        emit = print
    for phase in run["phases"]:
        for warning in phase["warnings"]:
            emit(f"warning ({phase['phase']}): {warning}")
        for error, count in phase["errors"].items():
            emit(f"errors ({phase['phase']}): {count} x {error}")
        for sample in phase["check"]["samples"]:
            emit(f"wrong value ({phase['phase']}): {sample}")
    if "summary" in run:
        emit(f"summary: {json.dumps(clean(run['summary']), default=str)[:2000]}")
