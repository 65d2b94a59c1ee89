"""Mistakes that used to pass silently or be blamed on the wrong thing: each is now one line
naming the setting or input, the cause and the fix, with its documented exit code, through the real `spl`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_songs

pytestmark = pytest.mark.slow  # the real `spl` per message


def one_error_line(done) -> str:  # type: ignore[no-untyped-def]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("spl: error: ") and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_a_batch_whose_every_input_is_left_out_is_a_usage_error(run_spl, tmp_path: Path) -> None:
    """Defect 13: the only input is a stem path of this run; it was left out and spl exited 0 with no summary."""
    (take,) = write_songs(tmp_path / "d" / "song", 1, 2.0, name="vocals.wav")
    before = take.read_bytes()
    done = run_spl("batch", take, "-o", tmp_path / "d", "-f", "{foldername}/{instrument}.{codec}")
    assert done.returncode == 2
    assert one_error_line(done) == (
        f"spl: error: no audio files to separate: left out all 1 input(s) inside the output folder or written "
        f"by this run as stems, e.g. {take} (choose an -o outside the input folders, or another --filename-format)"
    )
    assert take.read_bytes() == before and sorted(p.name for p in take.parent.iterdir()) == ["vocals.wav"]


def test_the_other_commands_overwrite_flag_names_the_right_one(run_spl, tmp_path: Path) -> None:
    """`spl batch --overwrite` was answered "Possible options: --verbose"."""
    (source,) = write_songs(tmp_path, 1, 1.0)
    batch = run_spl("batch", source, "-o", tmp_path / "out", "--overwrite")
    assert batch.returncode == 2 and "--force" in one_error_line(batch)
    separate = run_spl("separate", source, "-o", tmp_path / "out", "--force")
    assert separate.returncode == 2 and "--overwrite" in one_error_line(separate)
    assert not (tmp_path / "out").exists()


def test_an_empty_output_dir_is_refused_not_the_current_folder(run_spl, tmp_path: Path) -> None:
    """`-o ''` wrote the stems into the current folder; the config file's `output_dir: ""` was already refused."""
    (source,) = write_songs(tmp_path / "in", 1, 1.0)
    for command in ("separate", "batch"):
        done = run_spl(command, source, "-o", "", cwd=tmp_path)
        assert done.returncode == 2 and one_error_line(done) == "spl: error: --output must be a non-empty path, not ''"
    cache = run_spl("cache", "stats", "--cache-dir", "", cwd=tmp_path)
    assert cache.returncode == 2 and "--cache-dir must be a non-empty path" in one_error_line(cache)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_an_input_whose_name_leaves_the_output_dir_is_named_not_the_filename_format(run_spl, tmp_path: Path) -> None:
    """`...wav` has the stem name '..': the error blamed the default --filename-format (exit 2)."""
    (source,) = write_songs(tmp_path / "in", 1, 1.0)
    dots = source.rename(source.with_name("...wav"))
    done = run_spl("separate", dots, "-o", tmp_path / "out")
    assert done.returncode == 5
    assert one_error_line(done) == (
        f"spl: error: {dots}: its name would put a stem at '../vocals.wav', outside the output directory "
        f"{tmp_path / 'out'} (rename the file, or use a --filename-format without {{filename}} and {{foldername}})"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "vocals.wav").exists()


def test_a_cache_dir_that_is_a_file_is_a_usage_error_and_the_file_is_kept(run_spl, tmp_path: Path) -> None:
    """A song given as --cache-dir: "free some space", and `spl cache clear` said "remove the folder by hand"."""
    (song,) = write_songs(tmp_path, 1, 1.0)
    before = song.read_bytes()
    for args in (("cache", "clear"), ("cache", "stats"), ("cache", "prune", "--max-size", "1GB"), ("batch", song, "-o", tmp_path / "out")):
        done = run_spl(*args, "--cache-dir", song)
        assert done.returncode == 2, (args, done.stderr)
        assert one_error_line(done) == f"spl: error: --cache-dir must be a folder, not {song}, which is a file", args
    done = run_spl("separate", song, "-o", tmp_path / "out", env={"SPLEETER_CACHE_DIR": str(song)})
    assert (
        done.returncode == 2 and one_error_line(done) == f"spl: error: SPLEETER_CACHE_DIR must be a folder, not '{song}', which is a file"
    )
    assert song.read_bytes() == before and not (tmp_path / "out").exists()
