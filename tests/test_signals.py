"""Ctrl-C, SIGTERM and SIGHUP at any moment of a run, once or twice, through the real `spl`.

Each run is its own process group, signalled as a terminal signals its job. Whatever the
moment, `spl` must exit within seconds of the last signal with that signal's exit code,
leave no temporary behind, never leave an incomplete stem under its final name, and a
rerun of the same command must finish the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import RATE, Spl, is_record, song

pytestmark = pytest.mark.slow  # real `spl` runs signalled at every moment of a batch: minutes

BOUND = 5.0  # seconds from the last signal to the exit
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
SECONDS = 40  # per song: two chunks, so stems are half-written on disk before any is final


def write_long_songs(folder: Path, count: int, seconds: int = SECONDS) -> list[Path]:
    """``count`` different songs of ``seconds`` seconds, pieced from the test song."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        pieces = [song(10.0, index + 2 * k) for k in range(-(-seconds // 10))]
        paths.append(folder / f"song{index}.wav")
        sf.write(paths[-1], np.concatenate(pieces)[: seconds * RATE], RATE)
    return paths


class SignalledRun:
    """A real `spl` in its own process group; stderr goes to a file the test can watch."""

    def __init__(self, spl: Spl, args: list[str | Path], out: Path, logs: Path, env: dict[str, str] | None = None) -> None:
        self.out = out
        self.stdout_path, self.stderr_path = logs.with_suffix(".out"), logs.with_suffix(".err")
        with self.stdout_path.open("w") as stdout, self.stderr_path.open("w") as stderr:
            self.process = spl.start(*args, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
        self.started = time.monotonic()

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def files(self) -> list[Path]:
        return [p for p in self.out.rglob("*") if p.is_file()] if self.out.exists() else []

    def parts(self) -> list[Path]:
        return [p for p in self.files() if ".part-" in p.name]

    def finals(self) -> list[Path]:
        """Stems under their final names (provenance records beside them are not stems)."""
        return [p for p in self.files() if ".part-" not in p.name and not is_record(p)]

    def phase(self) -> str:
        """Where the run stands, from what it has written so far."""
        if self.finals():
            return "writing"
        sizes = [_size(p) for p in self.parts()]
        if any(size > 100_000 for size in sizes):
            return "separating"
        return "model load" if sizes else "start-up"

    def wait_until(self, ready: Callable[[SignalledRun], bool], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not ready(self):
            assert self.process.poll() is None, f"spl finished before the moment to signal it:\n{self.stderr}"
            assert time.monotonic() < deadline, "spl never reached the moment to signal it"
            time.sleep(0.01)

    def signal(self, *signals: int, gap: float = 0.3) -> float:
        """Send ``signals`` to the process group, ``gap`` seconds apart; the time of the last."""
        for index, number in enumerate(signals):
            if index:
                time.sleep(gap)
            os.killpg(self.process.pid, number)
        return time.monotonic()

    def exit_latency(self, last_signal: float) -> float:
        """Seconds from ``last_signal`` to the exit; a run still alive well past the bound is killed and fails."""
        try:
            self.process.wait(timeout=BOUND + 25)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"spl still running {BOUND + 25:.0f} s after the last signal:\n{self.stderr}")
        return time.monotonic() - last_signal

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@pytest.fixture
def spl_runs(run_spl: Spl):  # type: ignore[no-untyped-def]
    """Start `spl` runs; any still alive when the test ends is killed with its process group."""
    started: list[SignalledRun] = []

    def start(*args: object, **kwargs: object) -> SignalledRun:
        started.append(SignalledRun(run_spl, *args, **kwargs))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for run in started:
        run.kill()


def assert_clean_exit(run: SignalledRun, latency: float, first: int) -> None:
    """The documented code of the first signal, in time, one line and no temporary left."""
    err = run.stderr
    assert run.process.returncode == CODES[first], f"exit {run.process.returncode}:\n{err}"
    assert latency <= BOUND, f"exited {latency:.1f} s after the last signal:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert f"spl: {WORDS[first]}; unfinished outputs were removed" in err, err
    assert run.parts() == [], run.parts()


def assert_complete_stems(paths: list[Path], frames: int) -> None:
    """Every stem under its final name decodes to the very end and has the input's length."""
    for path in paths:
        samples, rate = sf.read(path, dtype="float32")
        assert rate == RATE and len(samples) == frames, (path, len(samples), frames)


def test_a_second_signal_while_the_model_loads_exits_at_once(tmp_path: Path, spl_runs) -> None:
    """Used to hang for good: threads waited on the model's batcher and on each other, and the exit joined them."""
    write_long_songs(tmp_path / "in", 4)
    out = tmp_path / "out"
    run = spl_runs(["batch", tmp_path / "in", "-o", out, "-v"], out, tmp_path / "run")
    run.wait_until(lambda run: "spl: separating" in run.stderr)  # the model has started loading
    latency = run.exit_latency(run.signal(signal.SIGINT, signal.SIGINT))
    assert_clean_exit(run, latency, signal.SIGINT)


def test_a_double_ctrl_c_in_separate_removes_what_it_says_it_removed(tmp_path: Path, spl_runs) -> None:
    (path,) = write_long_songs(tmp_path / "in", 1, 150)
    out = tmp_path / "out"
    run = spl_runs(["separate", path, "-o", out, "--no-cache"], out, tmp_path / "run")
    run.wait_until(lambda run: run.phase() == "separating")
    latency = run.exit_latency(run.signal(signal.SIGINT, signal.SIGINT))
    assert_clean_exit(run, latency, signal.SIGINT)
    assert run.files() == []


def test_sighup_is_a_termination_with_a_report_and_history(run_spl, tmp_path: Path, spl_runs) -> None:
    """A closed terminal or a dropped ssh session: exit 129, the same clean-up and records as SIGTERM."""
    songs = write_long_songs(tmp_path / "in", 3)
    out, report = tmp_path / "out", tmp_path / "report.json"
    run = spl_runs(["batch", tmp_path / "in", "-o", out, "-j", "1", "--report", report], out, tmp_path / "run")
    run.wait_until(lambda run: " -> " in run.stdout)  # the first input is done, the second under way
    latency = run.exit_latency(run.signal(signal.SIGHUP))
    assert_clean_exit(run, latency, signal.SIGHUP)
    document = json.loads(report.read_text())
    assert document["summary"]["interrupted"] is True and document["summary"]["ok"] == 1
    unfinished = [r for r in document["inputs"] if r["status"] == "failed"]
    assert len(unfinished) == 2 and {r["exit_code"] for r in unfinished} == {129}
    assert_complete_stems(run.finals(), SECONDS * RATE)
    stats = run_spl("stats", "--json", timeout=60)
    assert json.loads(stats.stdout)["processing_stats"]["exit_codes"] == {"129": 1}
    assert songs[0].stem in {p.parent.name for p in run.finals()}


def test_a_second_signal_stops_a_dask_batch_at_once(tmp_path: Path, spl_runs) -> None:
    """The client does not wait for its cluster either; its worker processes go with it."""
    write_long_songs(tmp_path / "in", 2)
    out = tmp_path / "out"
    run = spl_runs(["batch", tmp_path / "in", "-o", out, "--scheduler", "local:1"], out, tmp_path / "run")
    run.wait_until(lambda run: bool(run.parts()))  # a worker is separating, its model loading
    latency = run.exit_latency(run.signal(signal.SIGINT, signal.SIGINT))
    assert run.process.returncode == 130 and latency <= BOUND, (latency, run.stderr)
    assert "spl: interrupted; unfinished outputs were removed" in run.stderr
    deadline = time.monotonic() + 10
    while _group_alive(run.process.pid):
        assert time.monotonic() < deadline, "Dask worker processes outlived spl"
        time.sleep(0.1)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass(frozen=True)
class Instant:
    """A moment of a batch's life to signal it at: once ``ready`` holds, after ``delay`` seconds."""

    label: str
    ready: Callable[[SignalledRun], bool]
    delay: float


def _after_start(seconds: float) -> Instant:
    return Instant(f"{seconds} s after start", lambda run: time.monotonic() - run.started >= seconds, 0.0)


def _loading(delay: float) -> Instant:
    return Instant(f"{delay} s into the model load", lambda run: "spl: separating" in run.stderr, delay)


def _separating(delay: float) -> Instant:
    return Instant(f"{delay} s after the first stem audio", lambda run: run.phase() == "separating", delay)


def _finals(count: int) -> Instant:
    return Instant(f"at {count} final stems", lambda run: len(run.finals()) >= count, 0.0)


INSTANTS = [
    *map(_after_start, (0.15, 0.4, 0.7, 1.0)),
    *map(_loading, (0.0, 0.2, 0.5, 1.0, 1.5, 2.5)),
    *map(_separating, (0.0, 0.1, 0.2, 0.4, 0.7)),
    *map(_finals, (1, 2, 3, 4, 5)),
]
SIGNALS = [
    (signal.SIGINT,),
    (signal.SIGTERM,),
    (signal.SIGHUP,),
    (signal.SIGINT, signal.SIGINT),
    (signal.SIGTERM, signal.SIGTERM),
    (signal.SIGHUP, signal.SIGINT),
    (signal.SIGINT, signal.SIGTERM),
]


def test_signals_at_any_moment_of_a_batch(run_spl, tmp_path: Path, spl_runs) -> None:
    """Single and doubled signals at 20 moments from start-up to the last files: each run exits in time, cleanly, and resumes."""
    songs = write_long_songs(tmp_path / "in", 3)
    rerun_cache = tmp_path / "rerun-cache"  # reruns share a cache: after the first, they finish without the model
    phases: Counter[str] = Counter()
    latencies: list[float] = []
    for index, instant in enumerate(INSTANTS):
        signals = SIGNALS[index % len(SIGNALS)]
        out = tmp_path / f"out{index}"
        args = ["batch", tmp_path / "in", "-o", out, "-v"]
        run = spl_runs(args, out, tmp_path / f"run{index}", env={"SPLEETER_CACHE_DIR": str(tmp_path / f"cache{index}")})
        run.wait_until(instant.ready)
        time.sleep(instant.delay)
        phase = run.phase()
        phases[phase] += 1
        latency = run.exit_latency(run.signal(*signals))
        latencies.append(latency)
        print(
            f"{instant.label:>34} ({phase}): {'+'.join(signal.Signals(n).name for n in signals):>15} -> exit {run.process.returncode} in {latency:.2f} s"
        )
        assert_clean_exit(run, latency, signals[0])
        assert_complete_stems(run.finals(), SECONDS * RATE)

        rerun = run_spl(*args, env={"SPLEETER_CACHE_DIR": str(rerun_cache)})
        assert rerun.returncode == 0, f"{instant.label}: {rerun.stderr}"
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not is_record(p)) == sorted(
            f"{path.stem}/{stem}.wav" for path in songs for stem in ("accompaniment", "vocals")
        )
        assert_complete_stems(run.finals(), SECONDS * RATE)
        shutil.rmtree(out)
        shutil.rmtree(tmp_path / f"cache{index}", ignore_errors=True)  # a run stopped early made none
    print(
        f"phases signalled: {dict(phases)}; exit latencies: max {max(latencies):.2f} s, median {sorted(latencies)[len(latencies) // 2]:.2f} s"
    )
    assert set(phases) == {"start-up", "model load", "separating", "writing"}, phases
