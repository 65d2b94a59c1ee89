"""limits.*: oversized, overlong and out-of-bounds inputs are refused by the real `spl`, before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import is_record, write_songs

pytestmark = pytest.mark.slow  # separations through the real `spl`


def _outputs(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not is_record(p)] if folder.exists() else []


def test_file_above_max_file_mb_is_refused(run_spl, tmp_path: Path) -> None:
    write_songs(tmp_path, 1, 2.0, name="a.wav")  # 2 s of 16-bit stereo: about 0.34 MB
    config = tmp_path / "spl.yaml"
    config.write_text("limits:\n  max_file_mb: 0.1\n")
    done = run_spl("separate", tmp_path / "a.wav", "-o", tmp_path / "out", "--config", config)
    assert done.returncode == 3, done.stderr
    assert "a.wav: is 0.3 MB, above the 0.1 MB limit" in done.stderr and "limits.max_file_mb" in done.stderr
    assert not _outputs(tmp_path / "out")
    assert run_spl("separate", tmp_path / "a.wav", "-o", tmp_path / "out", env={"SPLEETER_MAX_FILE_MB": "-1"}).returncode == 2


def test_max_duration_counts_the_part_being_separated(run_spl, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    write_songs(songs, 2, 3.0, name="s{}.wav")
    env = {"SPLEETER_MAX_DURATION": "2"}
    refused = run_spl("batch", songs, "-o", tmp_path / "out", "--json", env=env)
    assert refused.returncode == 1, refused.stderr
    results = [json.loads(line) for line in refused.stdout.splitlines()]
    assert {r["status"] for r in results} == {"failed"} and all("above the 2 s limit" in r["error"] for r in results)
    assert all(r["exit_code"] == 3 for r in results) and not _outputs(tmp_path / "out")
    part = run_spl("batch", songs, "-o", tmp_path / "out", "--duration", "1.5", env=env)
    assert part.returncode == 0, part.stderr
    assert len(_outputs(tmp_path / "out")) == 4
    # a cache hit is held to the same limit as a fresh separation
    again = run_spl("batch", songs, "-o", tmp_path / "out", "--duration", "1.5", "--force", env={"SPLEETER_MAX_DURATION": "1"})
    assert again.returncode == 1 and again.stderr.count("above the 1 s limit") == 2, again.stderr


def test_inputs_outside_allowed_roots_and_symlinks_out_of_them_are_refused(run_spl, tmp_path: Path) -> None:
    allowed, elsewhere = tmp_path / "uploads", tmp_path / "private"
    write_songs(allowed, 1, 2.0, name="inside.wav")
    write_songs(elsewhere, 2, 2.0, name="secret{}.wav")
    (allowed / "link.wav").symlink_to(elsewhere / "secret0.wav")
    (allowed / "nested").mkdir()
    (allowed / "nested" / "alias.wav").symlink_to(allowed / "inside.wav")  # stays inside: fine (and the same file)
    env = {"SPLEETER_ALLOWED_ROOTS": str(allowed)}
    done = run_spl("batch", allowed, elsewhere / "secret1.wav", "-o", tmp_path / "out", "--json", env=env)
    assert done.returncode == 1, done.stderr
    status = {Path(r["input"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(status) == {"inside.wav", "link.wav", "secret1.wav"}  # alias.wav is inside.wav, de-duplicated
    assert status["inside.wav"]["status"] == "ok"
    assert status["link.wav"]["status"] == "failed" and f"a symlink to {elsewhere / 'secret0.wav'}" in status["link.wav"]["error"]
    assert status["secret1.wav"]["status"] == "failed" and "outside the allowed folders" in status["secret1.wav"]["error"]
    assert "limits.allowed_roots" in status["secret1.wav"]["error"] and status["secret1.wav"]["exit_code"] == 3
    assert sorted(p.parent.name for p in _outputs(tmp_path / "out")) == ["inside", "inside"]
