"""Processes that open the shared SQLite files at the same moment all get in.

Switching a fresh file to WAL fails at once with ``database is locked`` when another
connection is switching it too (SQLite calls no busy handler there). Before
`connect_wal` retried, four processes opening a fresh cache together failed about
one open in ten; this test makes 4 processes open 12 fresh files each, in step.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # many processes racing on fresh SQLite files

OPENER = """
import json, sys, time
from pathlib import Path
from spleeter_cli.cache.manager import Counters
from spleeter_cli.telemetry.history import record_run

root, start, rounds = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
summary = {"wall_time": 1.0, "inputs": 0, "ok": 0, "skipped": 0, "failed": 0, "cached": 0, "audio_seconds": 0.0}
for index in range(rounds):
    folder = root / str(index)
    while time.time() < start + 0.25 * index:
        pass
    Counters(folder / "stats.db", lambda message: sys.exit("warning: " + message)).add({("disk", "hits"): 1})
    record_run(folder / "history.db", [], summary, command="batch", model="2stems", jobs=1, started_at=time.time(), exit_code=0)
print("ok")
"""


def test_processes_opening_fresh_files_together_all_succeed(tmp_path: Path) -> None:
    rounds, processes = 12, 4
    for index in range(rounds):
        (tmp_path / str(index)).mkdir()
    start = time.time() + 3  # after every process has imported
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), str(start), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0 and out.strip() == "ok", err
    from spleeter_cli.cache.manager import Counters
    from spleeter_cli.telemetry.history import load

    for index in range(rounds):
        folder = tmp_path / str(index)
        assert Counters(folder / "stats.db", print).read() == {"disk": {"hits": processes}}
        runs, _ = load(folder / "history.db")
        assert len(runs) == processes
