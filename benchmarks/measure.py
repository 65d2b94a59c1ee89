"""Measuring helpers shared by the benchmarks: wall time and peak RSS of fresh processes."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of ``command`` (the largest process it ran)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode() if process.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def median_of(runs: int, command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    samples = [measure(command, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def report(label: str, seconds: float, wall: float, rss: float) -> None:
    print(f"{label:<40} wall {wall:7.2f} s   {seconds / wall:6.1f}x realtime   peak RSS {rss:7.0f} MB", flush=True)


# The runs a backend comparison makes: label -> extra `spl` flags. bf16 only where the CPU has it.
VARIANTS = {
    "tensorflow": ["--backend", "tensorflow"],
    "openvino fp32": ["--backend", "openvino", "--precision", "fp32"],
    "openvino bf16": ["--backend", "openvino", "--precision", "bf16"],
}


def variants(names: list[str] | None = None) -> dict[str, list[str]]:
    """The chosen variants (default: all), without bf16 on a CPU that lacks it."""
    from spleeter_cli.models.backend import cpu_has_native_bf16

    chosen = {name: flags for name, flags in VARIANTS.items() if names is None or name.split()[0] in names or name in names}
    if not cpu_has_native_bf16():
        chosen.pop("openvino bf16", None)
    return chosen


def official_env(work: Path) -> dict[str, str]:
    """A MODEL_PATH holding spl's 2stems checkpoint, so official spleeter runs offline."""
    from spleeter_cli.models.store import ModelManager

    installed = ModelManager().ensure("2stems")
    target = work / "official-models" / "2stems"
    target.mkdir(parents=True, exist_ok=True)
    for file in installed.iterdir():
        if file.name.startswith(("model", "checkpoint")):
            shutil.copy(file, target / file.name)
    (target / ".probe").write_text("OK")
    return {**os.environ, "MODEL_PATH": str(target.parent)}
