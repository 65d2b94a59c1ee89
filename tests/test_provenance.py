"""Stems carry provenance: a rerun skips only what spl wrote for this input with these options,
redoes its own stale or interrupted stems, and never replaces a file it did not write without --force.
Every case runs the real `spl` on real audio with the real weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from conftest import RATE, is_record, song, write_songs

pytestmark = pytest.mark.slow  # reruns of the real `spl batch`


def results(stdout: str) -> dict[str, dict]:
    """`--json` lines by input file name."""
    return {Path(r["input"]).name: r for r in map(json.loads, stdout.splitlines())}


def one_result(done) -> dict:  # type: ignore[no-untyped-def]
    (result,) = results(done.stdout).values()
    return result


def record_of(stem: Path) -> Path:
    return stem.with_name(f".{stem.name}.spl.json")


def test_a_file_spl_did_not_write_is_never_replaced_without_force(run_spl, tmp_path: Path) -> None:
    """Defect 2: with accompaniment.wav missing, the input counted as not done and `mine` was overwritten, exit 0."""
    (source,) = write_songs(tmp_path / "in", 1, 2.0, name="song.wav")
    out = tmp_path / "out"
    (out / "song").mkdir(parents=True)
    mine = out / "song" / "vocals.wav"
    mine.write_bytes(b"mine")
    for attempt in range(2):  # the rerun too: a refusal is not a first-run accident
        done = run_spl("batch", source, "-o", out, "--json")
        assert done.returncode == 1, done.stderr
        result = one_result(done)
        assert result["status"] == "failed" and result["exit_code"] == 5, attempt
        assert (
            result["error"]
            == f"{source}: {mine} exists and spl has no record of writing it (pass --force to replace it, or choose another -o)"
        )
        assert mine.read_bytes() == b"mine" and sorted(p.name for p in (out / "song").iterdir()) == ["vocals.wav"]  # nothing partial
    plain = run_spl("batch", source, "-o", out)  # without --json the same one line, on stderr
    assert plain.returncode == 1 and plain.stderr.splitlines() == [f"spl: error: {result['error']}"], plain.stderr
    separate = run_spl("separate", source, "-o", out)
    assert separate.returncode == 5 and "--overwrite" in separate.stderr and mine.read_bytes() == b"mine"

    forced = run_spl("batch", source, "-o", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert sf.info(mine).frames == 2 * RATE
    assert one_result(run_spl("batch", source, "-o", out, "--json"))["status"] == "skipped"  # spl's own now: a rerun resumes


def test_resume_skips_only_this_inputs_stems_made_with_these_options(run_spl, tmp_path: Path) -> None:
    """The README's old caveat: a different song mapping to the same stem paths in a later run was skipped as done."""
    (first,) = write_songs(tmp_path / "a", 1, 2.0, name="song.wav")
    other = tmp_path / "b" / "song.wav"  # same name, another song
    other.parent.mkdir()
    sf.write(other, song(2.0, 5), RATE)
    out = tmp_path / "out"
    vocals = out / "song" / "vocals.wav"
    assert run_spl("batch", first, "-o", out).returncode == 0
    written = vocals.read_bytes()

    same = run_spl("batch", first, "-o", out, "--json")
    assert same.returncode == 0 and one_result(same)["status"] == "skipped", same.stderr

    stranger = run_spl("batch", other, "-o", out)
    assert stranger.returncode == 1, stranger.stderr
    assert stranger.stderr.splitlines() == [
        f"spl: error: {other}: {vocals} is a stem of another input, {first} (put {{foldername}} in "
        "--filename-format or use --keep-tree to keep both, or pass --force to replace it)"
    ]
    assert vocals.read_bytes() == written

    moved = tmp_path / "moved" / "song.wav"  # the same bytes elsewhere (a moved library) are the same input
    moved.parent.mkdir()
    shutil.copy(first, moved)
    assert one_result(run_spl("batch", moved, "-o", out, "--json"))["status"] == "skipped"

    changed = run_spl("batch", first, "-o", out, "--duration", "1", "--json")  # other options: spl's own stems are redone
    assert changed.returncode == 0 and one_result(changed)["status"] == "ok", changed.stderr
    assert sf.info(vocals).frames == RATE
    assert one_result(run_spl("batch", first, "-o", out, "--duration", "1", "--json"))["status"] == "skipped"
    copied = tmp_path / "copied"  # a plain copy of the folder: new mtimes, same bytes, still resumable
    shutil.copytree(out, copied, copy_function=shutil.copy)
    assert one_result(run_spl("batch", first, "-o", copied, "--duration", "1", "--json"))["status"] == "skipped"

    sf.write(vocals, song(1.0, 7), RATE)  # the user edits a stem: it is theirs now
    edited = run_spl("batch", first, "-o", out, "--duration", "1")
    assert edited.returncode == 1 and f"{vocals} was changed after spl wrote it" in edited.stderr and "--force" in edited.stderr
    for record in (out / "song").glob(".*.spl.json"):
        record.unlink()  # what stems of spl before provenance records look like
    old = run_spl("batch", first, "-o", out, "--duration", "1")
    assert old.returncode == 1 and "exists and spl has no record of writing it" in old.stderr, old.stderr
    assert run_spl("batch", first, "-o", out, "--duration", "1", "--force").returncode == 0


def test_a_run_stopped_between_record_and_rename_is_completed_by_the_rerun(run_spl, tmp_path: Path) -> None:
    """The record says "pending" before a stem is renamed into place: the file under the stem's name may
    still be the one being replaced (here: another song's samples), and the rerun must redo it, not refuse it."""
    (source,) = write_songs(tmp_path / "in", 1, 2.0, name="song.wav")
    out = tmp_path / "out"
    assert run_spl("batch", source, "-o", out, "--duration", "1").returncode == 0
    vocals = out / "song" / "vocals.wav"
    record = json.loads(record_of(vocals).read_text())
    record_of(vocals).write_text(json.dumps({**record, "stem": None}))  # pending: killed before the rename...
    sf.write(vocals, song(1.0, 3), RATE)  # ...so the old file is still there
    done = run_spl("batch", source, "-o", out, "--json")
    assert done.returncode == 0 and one_result(done)["status"] == "ok", done.stderr
    assert sf.info(vocals).frames == 2 * RATE and json.loads(record_of(vocals).read_text())["stem"] is not None
    assert one_result(run_spl("batch", source, "-o", out, "--json"))["status"] == "skipped"


def test_skipped_silent_stems_leave_no_record_and_the_rerun_completes(run_spl, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    write_songs(songs, 1, 2.0, name="music.wav")
    sf.write(songs / "quiet.wav", song(2.0, 1) * 1e-5, RATE)  # -100 dB: both stems silent
    out = tmp_path / "out"
    for attempt in range(2):
        done = run_spl("batch", songs, "-o", out, "--skip-silent", "--json")
        assert done.returncode == 0, done.stderr
        by_name = results(done.stdout)
        assert by_name["music.wav"]["status"] == ("ok" if attempt == 0 else "skipped")
        assert by_name["quiet.wav"]["status"] == "ok" and by_name["quiet.wav"]["outputs"] == {}  # redone (from the cache): no stem to find
        assert not (out / "quiet").exists()
        assert sorted(p.name for p in (out / "music").iterdir() if is_record(p)) == [".accompaniment.wav.spl.json", ".vocals.wav.spl.json"]
