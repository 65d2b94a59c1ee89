"""`spl stats`: success rate, throughput, stage times, cache hits and errors over past runs.

Light on purpose (SQLite and the cache package only, no NumPy or TensorFlow), like
`spl cache`, so it answers at once; the figures come from ``monitoring.get_stats_summary``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from . import options as o
from .ui import handles_errors


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _gigabytes(count: int | None) -> str:
    return "?" if count is None else f"{count / 2**30:.1f} GB"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@handles_errors
def stats(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Runs started in this past period (7d, 12h, 30m) or since a date (2026-11-01).", show_default=False),
    ] = None,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N runs (after --since).", show_default=False)] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            parser=o.raw_path,
            help="Cache folder holding history.db (default: cache.dir of the config or $SPLEETER_CACHE_DIR, else the user cache dir).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    config_file: o.ConfigFile = None,
) -> None:
    """Success rate, throughput, stage times, cache hits, errors and system health over past runs."""
    from ..monitoring import get_stats_summary

    summary = get_stats_summary(since=since, last=last, cache_dir=cache_dir, config_file=config_file)
    if json_output:
        print(json.dumps(summary, indent=2))
        return
    for line in render(summary):
        print(line)


def render(summary: dict[str, Any]) -> list[str]:
    """The summary as a few lines for a person."""
    figures, health, selected = summary["processing_stats"], summary["system_health"], summary["selection"]
    lines: list[str] = []
    if figures["runs"]:
        lines.append(f"runs:        {figures['runs']} ({selected['first_run']} .. {selected['last_run']})")
        lines.append(
            f"inputs:      {figures['inputs']}: {figures['ok']} separated, {figures['skipped']} skipped, {figures['failed']} failed; "
            f"success rate {_percent(figures['success_rate'])}"
        )
        speed = f", {figures['x_realtime']}x realtime" if figures["x_realtime"] else ""
        lines.append(f"audio:       {figures['audio_hours']:.2f} h in {figures['wall_seconds']:.1f} s{speed}")
        tiers = ", ".join(f"{tier} {_percent(rate)}" for tier, rate in figures["cache_hit_rate_by_tier"].items())
        lines.append(f"cache hits:  {_percent(figures['cache_hit_rate'])}" + (f" ({tiers})" if tiers else ""))
        if figures["inputs_by_backend"]:
            lines.append("backends:    " + ", ".join(f"{name} {count}" for name, count in figures["inputs_by_backend"].items()))
        stages = ", ".join(
            f"{stage} {_seconds(row['p50'])}/{_seconds(row['p90'])}/{_seconds(row['p99'])}"
            for stage, row in figures["stage_seconds"].items()
        )
        lines.append(f"stage s/input p50/p90/p99: {stages}")
        if figures["errors_by_kind"]:
            lines.append("errors:      " + ", ".join(f"{kind} {count}" for kind, count in figures["errors_by_kind"].items()))
    else:
        note = "" if selected["recording"] else " (recording is off: SPL_HISTORY)"
        lines.append(f"no runs recorded in {selected['history']}{note}")
    redis = health["redis"]
    parts = [
        f"cache dir {_gigabytes(health['cache_dir']['free_bytes'])} free",
        f"models dir {_gigabytes(health['models_dir']['free_bytes'])} free",
        "redis not configured" if redis is None else f"redis {'reachable' if redis['reachable'] else 'unreachable'}",
        "GPU none" if health["gpu"] == "none" else "GPU " + ", ".join(d["name"] for d in health["gpu"]),
    ]
    lines.append(f"health:      {health['status']}: " + ", ".join(parts))
    lines.extend(f"  - {problem}" for problem in health["problems"])
    return lines
