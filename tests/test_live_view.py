"""The live batch view, checked in a real pseudo-terminal; plain output checked without one."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Spl, write_songs

pytestmark = pytest.mark.slow  # a real `spl batch` in a pseudo-terminal

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def run_in_terminal(spl: Spl, *args: str | Path, timeout: float = 300) -> tuple[int, str]:
    """Run `spl ARGS` with a pseudo-terminal as stdout/stderr; returns (exit code, screen text)."""
    master, slave = os.openpty()
    process = spl.start(
        *args,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        text=False,
        env={"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(master)
    return process.wait(timeout=30), ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_live_view_renders_progress_and_resources(run_spl, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_songs(folder, 3, 14.0, name="track{}.wav")
    code, screen = run_in_terminal(run_spl, "batch", folder, "-o", tmp_path / "out", "--jobs", "2")
    assert code == 0, screen
    for text in ("files", "realtime", "cache hits", "resources", "CPU", "RSS", "GPU"):
        assert text in screen, (text, screen[-2000:])
    assert re.search(r"(decode|separate)\s+track\d\.wav", screen), screen[-2000:]  # an active input with its stage
    assert "3 inputs: 3 separated" in screen  # the final summary
    assert screen.count("✓") == 3


def test_plain_output_without_a_terminal(run_spl, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_songs(folder, 2, 3.0, name="track{}.wav")
    done = run_spl("batch", folder, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(" -> " in line and "realtime" in line for line in lines)
    assert "\x1b[" not in done.stdout + done.stderr  # no terminal control codes in logs
    assert "2 inputs: 2 separated" in done.stderr


def test_separate_on_a_terminal_shows_progress_then_one_line_per_input(run_spl, tmp_path: Path) -> None:
    """`spl separate` on a terminal: Rich progress while it runs, a ✓ line per input, errors in the same words as plain output."""
    write_songs(tmp_path / "in", 2, 6.0, name="take{}.wav")
    broken = tmp_path / "in" / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    code, screen = run_in_terminal(
        run_spl, "separate", tmp_path / "in" / "take0.wav", tmp_path / "in" / "take1.wav", broken, "-o", tmp_path / "out", "--verbose"
    )
    assert code == 3, screen  # one input failed for its own reason: the input error's code
    flat = screen.replace("\n", "")  # Rich wraps long paths at the terminal's width
    assert screen.count("✓") == 2 and f"{tmp_path / 'out' / 'take0'}" in flat and f"{tmp_path / 'out' / 'take1'}" in flat, screen
    assert f"spl: error: {broken}: not a readable audio file" in flat, screen
    assert re.search(r"decode \d+\.\d\d s, separate \d+\.\d\d s, encode", screen), screen  # --verbose: each stage's time
    assert "3 inputs: 2 separated, 1 failed" in screen, screen
