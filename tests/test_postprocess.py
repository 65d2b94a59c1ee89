"""What happens to the stems after separation, through the real `spl`: tags copied, silence reported or skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import RATE, song

from spleeter_cli.audio.tags import read_tags

pytestmark = pytest.mark.slow  # separations through the real `spl`

SONG_TAGS = {
    "title": ["Night Drive"],
    "artist": ["The Examples"],
    "album": ["Fixtures"],
    "date": ["2019"],
    "tracknumber": ["4/9"],
    "genre": ["Synthpop"],
}


def _tagged_flac(path: Path) -> Path:
    from mutagen.flac import FLAC

    sf.write(path, song(3.0, 1), RATE, format="FLAC")
    tagged = FLAC(path)
    for key, values in SONG_TAGS.items():
        tagged[key] = values
    tagged.save()
    return path


def _results(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_input_tags_are_copied_to_each_stem_with_the_instrument_in_the_title(run_spl, tmp_path: Path) -> None:
    source = _tagged_flac(tmp_path / "night.flac")
    for codec in ("mp3", "m4a", "wav"):
        done = run_spl("separate", source, "-o", tmp_path / codec, "-c", codec, "--json")
        assert done.returncode == 0, done.stderr
        for instrument, path in _results(done.stdout)[0]["outputs"].items():
            tags = read_tags(Path(path))
            assert tags["title"] == [f"Night Drive ({instrument})"], (codec, tags)
            assert {k: tags.get(k) for k in ("artist", "album", "date", "tracknumber", "genre")} == {
                k: SONG_TAGS[k] for k in ("artist", "album", "date", "tracknumber", "genre")
            }
    info = run_spl("info", tmp_path / "wav" / "night" / "vocals.wav", "--json")  # WAV carries plain ID3: spl info reads it too
    assert info.returncode == 0 and json.loads(info.stdout)["tags"]["title"] == "Night Drive (vocals)", info.stdout
    plain = run_spl("separate", source, "-o", tmp_path / "plain", "-c", "flac", "--no-tags", "--json")
    assert plain.returncode == 0, plain.stderr
    assert all(read_tags(Path(p)) == {} for p in _results(plain.stdout)[0]["outputs"].values())


def test_untagged_input_gives_untagged_stems(run_spl, tmp_path: Path) -> None:
    sf.write(tmp_path / "bare.wav", song(2.0, 2), RATE)
    done = run_spl("separate", tmp_path / "bare.wav", "-o", tmp_path / "out", "-c", "flac", "--json")
    assert done.returncode == 0, done.stderr
    assert all(read_tags(Path(p)) == {} for p in _results(done.stdout)[0]["outputs"].values())


def test_silent_stems_are_reported_and_skipped_on_request(run_spl, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    sf.write(songs / "music.wav", song(3.0, 3), RATE)
    sf.write(songs / "quiet.wav", np.zeros((3 * RATE, 2), np.float32), RATE)
    done = run_spl("batch", songs, "-o", tmp_path / "out", "--json", "--skip-silent")
    assert done.returncode == 0, done.stderr
    by_name = {Path(r["input"]).stem: r for r in _results(done.stdout)}
    assert sorted(by_name["quiet"]["silent"]) == ["accompaniment", "vocals"] and by_name["quiet"]["outputs"] == {}
    assert by_name["quiet"]["peak_dbfs"] == {"vocals": None, "accompaniment": None}  # digital silence
    assert not (tmp_path / "out" / "quiet").exists() or not any((tmp_path / "out" / "quiet").iterdir())
    music = by_name["music"]
    assert music["peak_dbfs"]["accompaniment"] > -60 and "accompaniment" not in music["silent"]
    assert sorted(music["outputs"]) == sorted(set(music["peak_dbfs"]) - set(music["silent"]))
    # the threshold is applied to the recorded peaks, so a cached rerun can use another one
    louder = max(music["peak_dbfs"].values()) + 1.0
    again = run_spl("batch", songs / "music.wav", "-o", tmp_path / "again", "--json", "--silence-threshold", str(louder))
    assert again.returncode == 0, again.stderr
    rerun = _results(again.stdout)[0]
    assert rerun["cache"] is not None and rerun["peak_dbfs"] == music["peak_dbfs"]
    assert sorted(rerun["silent"]) == ["accompaniment", "vocals"] and len(rerun["outputs"]) == 2  # reported, still written
    plain = run_spl("batch", songs / "quiet.wav", "-o", tmp_path / "plain")
    assert "silent: vocals, accompaniment" in plain.stdout, plain.stdout
