"""`spl batch` end to end on generated trees: layout, failures, resume after SIGKILL, cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf
from conftest import RATE, is_record, song, write_songs

from spleeter_cli.audio.codec import encode

pytestmark = pytest.mark.slow  # `spl batch` end to end, with Redis and SIGKILL


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """lib/{rock,jazz/live}/... in mixed formats, one corrupt file, non-audio clutter."""
    root = tmp_path / "lib"
    files = {"rock/a.wav": "wav", "rock/b.flac": "flac", "jazz/c.mp3": "mp3", "jazz/live/d.ogg": "ogg", "e.m4a": "m4a"}
    for seed, (name, codec) in enumerate(files.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        encode(path, song(4.0, seed), RATE, codec)
    (root / "jazz" / "broken.flac").write_bytes((root / "rock" / "b.flac").read_bytes()[:3000])
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff not audio")
    return root


def stems_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not is_record(p))


def test_tree_with_a_corrupt_file_and_a_duplicate(run_spl, tree: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    # The same file twice (as a folder member and by name) and a glob overlapping the folder.
    done = run_spl("batch", tree, tree / "rock" / "a.wav", str(tree / "**" / "*.{mp3,ogg}"), "-o", out, "--keep-tree", "--report", report)
    assert done.returncode == 1, done.stderr
    assert "broken.flac" in done.stderr and "Traceback" not in done.stderr
    expected = [
        f"{folder}{name}/{stem}.wav"
        for folder, name in [("rock/", "a"), ("rock/", "b"), ("jazz/", "c"), ("jazz/live/", "d"), ("", "e")]
        for stem in ("accompaniment", "vocals")
    ]
    assert stems_under(out) == sorted(expected)
    for path in out.rglob("*.wav"):
        info = sf.info(path)
        assert info.samplerate == RATE and abs(info.frames - 4 * RATE) <= 1100, path  # m4a priming/padding
    document = json.loads(report.read_text())
    statuses = {Path(r["input"]).name: r["status"] for r in document["inputs"]}
    assert statuses == {"a.wav": "ok", "b.flac": "ok", "c.mp3": "ok", "d.ogg": "ok", "e.m4a": "ok", "broken.flac": "failed"}
    assert document["summary"]["failed"] == 1 and document["summary"]["ok"] == 5
    broken = next(r for r in document["inputs"] if r["status"] == "failed")
    assert broken["error"] and broken["exit_code"] == 3


def test_inputs_from_a_list_and_stdin_and_usage_errors(run_spl, tree: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my songs\n{tree / 'rock' / 'a.wav'}\n\n")
    done = run_spl("batch", f"@{listing}", "-", "-o", tmp_path / "out", "--json", stdin=f"{tree / 'e.m4a'}\n")
    assert done.returncode == 0, done.stderr
    assert sorted(Path(json.loads(line)["input"]).name for line in done.stdout.splitlines()) == ["a.wav", "e.m4a"]
    nothing = run_spl("batch", str(tmp_path / "nowhere" / "*.wav"), "-o", tmp_path / "out2")
    assert nothing.returncode == 2 and nothing.stderr.startswith("spl: error:")
    assert run_spl("batch", tree, "--jobs", "0").returncode == 2


def test_sigkill_midway_then_resume(run_spl, tmp_path: Path) -> None:
    """kill -9 during a batch leaves no trusted half-written stem; the rerun skips finished inputs."""
    inputs = tmp_path / "in"
    write_songs(inputs, 6, 12.0)
    out = tmp_path / "out"
    args = ["batch", inputs, "-o", out, "--no-cache", "--jobs", "1", "--report"]
    process = run_spl.start(*args, tmp_path / "r1.json", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*/vocals.wav"))) < 2:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = {p.parent.name for p in out.glob("*/vocals.wav") if (p.parent / "accompaniment.wav").exists()}
    assert 2 <= len(finished_before) < 6, finished_before
    # Whatever was being written is only a hidden temporary, never a final name.
    for path in out.rglob("*.wav"):
        assert sf.info(path).frames == 12 * RATE, path

    rerun = run_spl(*args, tmp_path / "r2.json")
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads((tmp_path / "r2.json").read_text())
    statuses = {Path(r["input"]).stem: r["status"] for r in report["inputs"]}
    assert {name for name, status in statuses.items() if status == "skipped"} == finished_before
    assert set(statuses.values()) <= {"ok", "skipped"}
    assert stems_under(out) == sorted(f"song{i}/{stem}.wav" for i in range(6) for stem in ("accompaniment", "vocals"))
    for path in out.rglob("*.wav"):
        assert sf.info(path).frames == 12 * RATE, path
    assert not [p for p in out.rglob(".*") if p.is_file() and not is_record(p)]  # stale temporaries cleaned up


def test_second_identical_run_is_served_from_cache_without_the_model(run_spl, tree: Path, tmp_path: Path) -> None:
    args = ("batch", tree / "rock", "-o", tmp_path / "out", "--report")
    first = run_spl(*args, tmp_path / "r1.json")
    assert first.returncode == 0, first.stderr
    second = run_spl(*args, tmp_path / "r2.json", "--force")  # --force: outputs exist, redo them from cache
    assert second.returncode == 0, second.stderr
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("r1.json", "r2.json"))
    assert one["summary"]["model_loaded"] is True and one["summary"]["cached"] == 0
    assert two["summary"]["model_loaded"] is False and two["summary"]["cached"] == 2
    assert {r["cache"] for r in two["inputs"]} == {"disk"}
    assert two["summary"]["wall_time"] < one["summary"]["wall_time"]


def test_redis_serves_a_cold_machine_and_its_death_does_not_stop_a_batch(run_spl, tree: Path, tmp_path: Path) -> None:
    from redis_server import RedisServer

    with RedisServer(tmp_path / "redis") as server:
        first = run_spl(
            "batch",
            tree / "rock",
            "-o",
            tmp_path / "a",
            "--redis-url",
            server.url,
            "--cache-dir",
            tmp_path / "cache-a",
            "--report",
            tmp_path / "a.json",
        )
        assert first.returncode == 0, first.stderr
        # Another "machine": empty disk cache, same Redis -> every input from L3, no model load.
        second = run_spl(
            "batch",
            tree / "rock",
            "-o",
            tmp_path / "b",
            "--redis-url",
            server.url,
            "--cache-dir",
            tmp_path / "cache-b",
            "--report",
            tmp_path / "b.json",
        )
        assert second.returncode == 0, second.stderr
        report = json.loads((tmp_path / "b.json").read_text())
        assert {r["cache"] for r in report["inputs"]} == {"redis"} and report["summary"]["model_loaded"] is False
        assert stems_under(tmp_path / "a") == stems_under(tmp_path / "b")
        for name in stems_under(tmp_path / "a"):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        url = server.url
    # Redis is gone now: one warning, the batch still completes on memory and disk.
    third = run_spl("batch", tree / "jazz", "-o", tmp_path / "c", "--redis-url", url, "--cache-dir", tmp_path / "cache-c")
    assert third.returncode == 1, third.stderr  # jazz/broken.flac fails; the others complete
    assert third.stderr.count("warning:") == 1 and "redis" in third.stderr.lower()
    assert stems_under(tmp_path / "c") == sorted(f"{n}/{s}.wav" for n in ("c", "d") for s in ("accompaniment", "vocals"))


def test_redis_dying_mid_batch_warns_once_and_the_batch_completes(run_spl, tmp_path: Path) -> None:
    from redis_server import RedisServer

    inputs = tmp_path / "in"
    write_songs(inputs, 5, 8.0)
    out = tmp_path / "out"
    with RedisServer(tmp_path / "redis") as server:
        process = run_spl.until_first_stem("batch", inputs, "-o", out, "--jobs", "1", "--redis-url", server.url, out=out)
        server.kill()
        stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert stderr.count("warning:") == 1 and "redis" in stderr.lower(), stderr
    assert stems_under(out) == sorted(f"song{i}/{stem}.wav" for i in range(5) for stem in ("accompaniment", "vocals"))


def test_report_that_cannot_be_written_exits_5_before_any_work(run_spl, tree: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report's folder should be")
    for report in (blocker / "report.json", tmp_path):
        done = run_spl("batch", tree / "rock", "-o", tmp_path / "out", "--report", report)
        assert done.returncode == 5, done.stderr
        assert f"cannot write report {report}" in done.stderr and "writable --report" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_fail_fast_stops_at_the_first_failed_input(run_spl, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_songs(inputs, 3, 2.0, broken=True)  # broken.flac sorts first
    stopped = run_spl("batch", inputs, "-o", tmp_path / "stopped", "--jobs", "1", "--fail-fast", "--json")
    assert stopped.returncode == 1, stopped.stderr
    results = {Path(r["input"]).name: r for r in map(json.loads, stopped.stdout.splitlines())}
    assert results["broken.flac"]["exit_code"] == 3 and "not started" not in results["broken.flac"]["error"]
    assert all("not started: the run was stopped" in results[f"song{i}.wav"]["error"] for i in range(3))
    assert {results[f"song{i}.wav"]["exit_code"] for i in range(3)} == {1}  # stopped, not a bad input (3)
    assert not list((tmp_path / "stopped").rglob("*.wav"))
    carried_on = run_spl("batch", inputs, "-o", tmp_path / "all", "--jobs", "1")
    assert carried_on.returncode == 1 and len(list((tmp_path / "all").rglob("*.wav"))) == 6
