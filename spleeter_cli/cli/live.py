"""The live batch view on a terminal: overall progress, active inputs, and where resources go.

Redrawn a few times a second by Rich from the listener's state; worker threads
only update that state under a lock. Resource figures come from psutil (CPU,
memory of this process) and NVML when an NVIDIA GPU and its library are there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from .ui import PlainListener, outcome, print_error, summary_line


@dataclass
class _Active:
    stage: str
    duration: float
    done: float = 0.0


class LiveListener(PlainListener):
    """Rich Live view of a batch; finished inputs scroll above it."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__(verbose=verbose)
        self.console = Console(highlight=False)
        self.active: dict[Path, _Active] = {}
        self.total = 0
        self.tally: Any = None  # the run's Tally: every count the view shows
        self.warnings: list[str] = []
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("[bold]files"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task("files", total=1)
        self.resources = _Resources()
        self.live = Live(console=self.console, refresh_per_second=4, get_renderable=self._render, transient=True)

    def begin(self, total: int, tally: Any) -> None:
        self.total = total
        self.tally = tally
        self.progress.update(self.task, total=max(total, 1))

    def __enter__(self) -> LiveListener:
        self.started = time.perf_counter()
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def status(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/]")

    def warning(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)
        self.console.print(f"[yellow]warning:[/] {message}")

    def file_started(self, path: Path, duration: float) -> None:
        with self._lock:
            self.active[path] = _Active("decode", duration)

    def file_stage(self, path: Path, stage: str) -> None:
        with self._lock:
            self.active.setdefault(path, _Active(stage, 0.0)).stage = stage

    def file_progress(self, path: Path, seconds: float) -> None:
        with self._lock:
            if path in self.active:
                self.active[path].done = seconds

    def file_finished(self, result: Any) -> None:
        with self._lock:
            self.active.pop(result.input, None)
            self.progress.update(self.task, completed=self.tally.counts()["inputs"])
        if result.error is not None:
            print_error(result.error)
        else:
            self.console.print(f"[green]✓[/] {result.input} [dim]({outcome(result)})[/]")

    def summary(self, summary: dict[str, Any]) -> None:
        self.console.print(f"[bold]{summary_line(summary)}[/]")

    def _render(self) -> Group:
        counts = self.tally.counts() if self.tally is not None else {"inputs": 0, "failed": 0, "cached": 0, "audio_seconds": 0.0}
        with self._lock:
            rows = [(path.name, state.stage, state.done, state.duration) for path, state in self.active.items()]
            warnings = list(self.warnings)
        elapsed = time.perf_counter() - self.started
        audio, failed = counts["audio_seconds"], counts["failed"]
        speed = audio / elapsed if elapsed > 0 else 0.0
        hit_rate = counts["cached"] / counts["inputs"] if counts["inputs"] else 0.0
        inputs = Table.grid(padding=(0, 2))
        for name, stage, done, duration in rows:
            share = f"{done:.0f}/{duration:.0f} s" if duration else ""
            inputs.add_row(f"[cyan]{stage:<8}[/]", name, f"[dim]{share}[/]")
        overall = Table.grid(padding=(0, 3))
        overall.add_row(
            f"audio {audio:.0f} s",
            f"{speed:.1f}x realtime",
            f"cache hits {hit_rate:.0%}",
            f"[red]failed {failed}[/]" if failed else "failed 0",
        )
        panel = Panel(Group(self.resources.table(), *[f"[yellow]! {w}[/]" for w in warnings[-2:]]), title="resources", border_style="dim")
        return Group(self.progress, overall, inputs, panel)


class _Resources:
    """CPU and memory of this process, and the GPU when NVML can see one."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # first call primes the counter
        self.gpu = _nvml_handle()

    def table(self) -> Table:
        grid = Table.grid(padding=(0, 3))
        cpu = self.process.cpu_percent(None)
        rss = self.process.memory_info().rss / 2**20
        cells = [f"CPU {cpu:.0f}%", f"RSS {rss:.0f} MB", f"system memory {psutil.virtual_memory().percent:.0f}%"]
        if self.gpu is not None:
            import pynvml

            use = pynvml.nvmlDeviceGetUtilizationRates(self.gpu)
            memory = pynvml.nvmlDeviceGetMemoryInfo(self.gpu)
            cells += [f"GPU {use.gpu}%", f"GPU memory {memory.used / 2**20:.0f}/{memory.total / 2**20:.0f} MB"]
        else:
            cells.append("GPU none")
        grid.add_row(*cells)
        return grid


def _nvml_handle() -> Any:
    """The first NVIDIA GPU, when the optional pynvml package and a driver are present."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0)
    except pynvml.NVMLError:
        return None
