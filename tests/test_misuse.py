"""Mistakes a black-box review made with the real `spl`, each of which used to lose data,
write garbage, leave debris or end in "internal error": now one line, a documented exit
code and nothing left behind.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import RATE, is_record, song, write_songs

pytestmark = pytest.mark.slow  # each case separates through the real `spl`


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not is_record(p)) if root.exists() else []


def test_inputs_sharing_stem_paths_never_overwrite_each_other(run_spl, tmp_path: Path) -> None:
    write_songs(tmp_path / "lib" / "a", 1, 2.0, name="s.wav")
    (tmp_path / "lib" / "b").mkdir()
    sf.write(tmp_path / "lib" / "b" / "s.wav", song(2.0, 5), RATE)  # same name, another song
    out = tmp_path / "out"
    for attempt in range(2):  # the rerun must not call the second input "already done"
        done = run_spl("batch", tmp_path / "lib", "-o", out, "--json")
        assert done.returncode == 1, done.stderr
        first, second = sorted((json.loads(line) for line in done.stdout.splitlines()), key=lambda result: result["input"])
        assert first["status"] == ("ok" if attempt == 0 else "skipped")
        assert second["status"] == "failed" and second["exit_code"] == 5
        assert f"also a stem of {tmp_path / 'lib' / 'a' / 's.wav'}" in second["error"] and "--keep-tree" in second["error"]
    stems = {name: sf.read(out / "s" / f"{name}.wav")[0] for name in ("vocals", "accompaniment")}
    mix = sf.read(tmp_path / "lib" / "a" / "s.wav")[0]
    assert np.abs(stems["vocals"] + stems["accompaniment"] - mix).mean() < 0.01  # a's stems, not b's
    sf.write(tmp_path / "lib" / "a" / "s.flac", song(2.0, 6), RATE)  # same folder, same name, another extension
    done = run_spl("batch", tmp_path / "lib" / "a", "-o", tmp_path / "ext", "--json")
    failed = [json.loads(line) for line in done.stdout.splitlines() if json.loads(line)["status"] == "failed"]
    assert len(failed) == 1 and "rename one of them" in failed[0]["error"], done.stdout
    (tmp_path / "lib" / "a" / "s.flac").unlink()
    kept = run_spl("batch", tmp_path / "lib", "-o", tmp_path / "tree", "--keep-tree")
    assert kept.returncode == 0, kept.stderr
    assert files_under(tmp_path / "tree") == ["a/s/accompaniment.wav", "a/s/vocals.wav", "b/s/accompaniment.wav", "b/s/vocals.wav"]


def test_a_file_named_twice_is_separated_once(run_spl, tmp_path: Path) -> None:
    (path,) = write_songs(tmp_path / "in", 1, 2.0)
    done = run_spl("separate", path, tmp_path / "in" / ".." / "in" / path.name, "-o", tmp_path / "out", "--json")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1


def test_a_stem_never_replaces_its_own_input(run_spl, tmp_path: Path) -> None:
    folder = tmp_path / "take"
    (path,) = write_songs(folder, 1, 2.0, name="vocals.wav")
    before = path.read_bytes()
    done = run_spl("separate", path, "-o", tmp_path, "-f", "{foldername}/{instrument}.{codec}", "--overwrite")
    assert done.returncode == 5, done.stderr
    assert "would replace the input itself" in done.stderr and "Traceback" not in done.stderr
    assert path.read_bytes() == before and files_under(folder) == ["vocals.wav"]


def test_output_inside_the_input_folder_does_not_separate_stems_again(run_spl, tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    write_songs(folder, 1, 2.0, name="take.wav")
    assert run_spl("batch", folder, "-o", folder).returncode == 0
    again = run_spl("batch", folder, "-o", folder)
    assert again.returncode == 0, again.stderr
    assert "left out 2 input(s) inside the output folder or written by this run as stems" in again.stderr
    assert files_under(folder) == ["take.wav", "take/accompaniment.wav", "take/vocals.wav"]
    # -o a subfolder of the input folder, then another codec: the stems there are not inputs either
    other = tmp_path / "rec2"
    write_songs(other, 1, 2.0, name="take.wav")
    assert run_spl("batch", other, "-o", other / "stems", "-c", "flac").returncode == 0
    wav = run_spl("batch", other, "-o", other / "stems", "-c", "wav")
    assert wav.returncode == 0 and "left out 2 input(s)" in wav.stderr, wav.stderr
    assert files_under(other / "stems") == sorted(f"take/{s}.{c}" for c in ("flac", "wav") for s in ("accompaniment", "vocals"))


def test_damaged_float_samples_are_refused_not_separated_into_noise(run_spl, tmp_path: Path) -> None:
    """One NaN, or one sample of 1e30 (finite, but it overflows the STFT), made every stem sample -32768, reported 'ok'."""
    for name, value in (("nan", np.nan), ("huge", 1e30)):
        samples = song(3.0, 1)
        samples[RATE + 100, 0] = value
        damaged = tmp_path / f"{name}.wav"
        sf.write(damaged, samples, RATE, subtype="FLOAT")
        out = tmp_path / f"out-{name}"
        done = run_spl("separate", damaged, "-o", out)
        assert done.returncode == 3, done.stderr
        assert (
            f"{damaged}: has NaN, infinite or absurdly loud (over +60 dBFS) samples at 1.0 s" in done.stderr
            and "Traceback" not in done.stderr
        )
        assert not out.exists()  # not even the empty folder the stems were to go in
        info = run_spl("info", damaged)
        assert info.returncode == 3 and "NaN, infinite" in info.stderr
    loud = tmp_path / "over.wav"
    sf.write(loud, song(3.0, 1) * 4, RATE, subtype="FLOAT")  # +12 dB over full scale: a float file may do that
    assert run_spl("separate", loud, "-o", tmp_path / "out-over").returncode == 0


def test_failed_inputs_leave_no_empty_folders(run_spl, tmp_path: Path) -> None:
    (good,) = write_songs(tmp_path / "in", 1, 2.0)
    truncated = tmp_path / "in" / "cut.flac"
    sf.write(truncated, song(8.0, 2), RATE)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    out = tmp_path / "out"
    done = run_spl("separate", truncated, good, "-o", out, "-f", "{filename}/x/{instrument}.{codec}")
    assert done.returncode == 3, done.stderr
    assert files_under(out) == ["song0/x/accompaniment.wav", "song0/x/vocals.wav"]
    assert sorted(p.name for p in out.iterdir()) == ["song0"]


def test_report_targets_that_are_not_regular_files(run_spl, tmp_path: Path) -> None:
    (path,) = write_songs(tmp_path / "in", 1, 2.0)
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    song_file = tmp_path / "other.wav"  # `--report *.wav` hands a song to --report
    sf.write(song_file, song(1.0, 0), RATE)
    for target, words in (
        (fifo, "not a regular file"),
        ("-", "--report - is not supported"),
        ("/proc/spl-report.json", "cannot create files in /proc"),
        (song_file, "exists and is not a JSON report"),
    ):
        done = run_spl("batch", path, "-o", tmp_path / "out", "--report", target)
        assert done.returncode == 5 and words in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()  # refused before any work
    assert fifo.is_fifo() and not Path("-").exists() and sf.info(song_file).frames == RATE
    stem = tmp_path / "out2" / "song0" / "vocals.wav"  # one this very run writes
    done = run_spl("batch", path, "-o", tmp_path / "out2", "--report", stem)
    assert done.returncode == 5 and "is not a JSON report" in done.stderr, done.stderr
    assert sf.info(stem).frames == 2 * RATE
    real = tmp_path / "reports" / "real.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    done = run_spl("batch", path, "-o", tmp_path / "out", "--report", link)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and json.loads(real.read_text())["summary"]["ok"] == 1


def test_names_too_long_and_formatted_fields_are_refused_up_front(run_spl, tmp_path: Path) -> None:
    long_name = tmp_path / ("L" * 240 + ".wav")
    sf.write(long_name, song(1.0, 0), RATE)
    done = run_spl("separate", long_name, "-o", tmp_path / "out", "-f", "{filename}-{instrument}.{codec}")
    assert done.returncode == 5 and "too long for the file system" in done.stderr, done.stderr
    for template in ("{instrument:>1000}.{codec}", "{instrument!r}.{codec}"):
        done = run_spl("separate", long_name, "-o", tmp_path / "out", "-f", template)
        assert done.returncode == 2 and "write fields plainly" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
    default = run_spl("separate", long_name, "-o", tmp_path / "out")  # a 240-byte folder name is fine
    assert default.returncode == 0, default.stderr


def test_sigterm_cleans_up_like_ctrl_c(run_spl, tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.tile(song(15.0, 0), (10, 1)), RATE)  # 150 s: still separating when the signal comes
    out = tmp_path / "out"
    process = run_spl.start("separate", path, "-o", out, "--no-cache")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(".part-" in name for name in files_under(out)):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "spl: terminated; unfinished outputs were removed" in err and "Traceback" not in err
    assert files_under(out) == []


def test_a_closed_stdout_stops_spl_quietly(run_spl, tmp_path: Path) -> None:
    paths = write_songs(tmp_path / "in", 4, 2.0)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    process = run_spl.start("batch", *paths, "-o", out, "--json", "-j", "1", "--report", report, text=False)
    assert json.loads(process.stdout.readline())["status"] == "ok"  # like `| head -1`
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait(timeout=300)
    assert process.returncode == 141, err
    assert "internal error" not in err and "Traceback" not in err
    assert not any(".part-" in name for name in files_under(out))
    document = json.loads(report.read_text())
    assert document["summary"]["interrupted"] is True and document["inputs"][0]["status"] == "ok"
    assert {r["exit_code"] for r in document["inputs"] if r["status"] == "failed"} <= {1, 141}


def test_mistyped_redis_urls_never_show_the_password(run_spl, tmp_path: Path) -> None:
    for url in (
        "reddis://:s3cretpw@cache:6379/0",
        "redis//user:s3cretpw@cache:6379/0",
        "http://cache/0?password=s3cretpw",
        "redis://:s3cret pw@[::1/0",
        "redis://:s3cretpw@cache:notaport/0",
    ):
        done = run_spl("separate", tmp_path / "none.wav", "-o", tmp_path / "out", env={"SPLEETER_REDIS_URL": url})
        assert done.returncode == 2 and "SPLEETER_REDIS_URL must be" in done.stderr, done.stderr
        assert "s3cretpw" not in done.stderr and "****" in done.stderr


def test_stats_windows_beyond_any_history_mean_everything(run_spl) -> None:
    for args in (("--since", "99999999999d"), ("--last", "99999999999999999999")):
        done = run_spl("stats", *args, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["processing_stats"]["runs"] == 0


def test_a_failed_write_names_the_input_and_the_stem_not_a_temporary(run_spl, tmp_path: Path) -> None:
    """A file-size limit makes every stem write fail part-way, as a full disk does (which a test cannot arrange)."""
    import resource

    (path,) = write_songs(tmp_path / "in", 1, 10.0)
    out = tmp_path / "out"

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write() instead of death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    done = run_spl("separate", path, "-o", out, "--no-cache", env={"SPL_HISTORY": "off"}, timeout=300, preexec_fn=limit_file_size)
    assert done.returncode == 5, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"spl: error: {path}: cannot write wav file") and f"for {out / 'song0'}" in line, line
    assert ".part-" not in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_options_the_codec_ignores_do_not_defeat_the_cache(run_spl, tmp_path: Path) -> None:
    """--bitrate means nothing to WAV and --bit-depth nothing to MP3: adding them must not cost a separation."""
    (path,) = write_songs(tmp_path / "in", 1, 2.0)
    for codec, first, ignored in (("wav", (), ("--bitrate", "128k")), ("mp3", ("--bitrate", "128k"), ("--bit-depth", "24"))):
        runs = [
            run_spl("separate", path, "-o", tmp_path / codec, "-c", codec, *first, *extra, "--overwrite", "--json")
            for extra in ((), ignored)
        ]
        assert [done.returncode for done in runs] == [0, 0], runs[-1].stderr
        assert [json.loads(done.stdout)["cache"] for done in runs] == [None, "disk"], codec


def test_denoise_of_digital_silence_stays_silent(run_spl, tmp_path: Path) -> None:
    """noisereduce divides 0 by 0 over an all-zero window; its NaN used to become full-scale stems, reported 'silent'."""
    path = tmp_path / "blank.wav"
    sf.write(path, np.zeros((3 * RATE, 2), np.float32), RATE)
    done = run_spl("separate", path, "-o", tmp_path / "out", "--denoise", "--json")
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    assert sorted(json.loads(done.stdout)["silent"]) == ["accompaniment", "vocals"]
    for name in ("vocals", "accompaniment"):
        stem, _ = sf.read(tmp_path / "out" / "blank" / f"{name}.wav")
        assert np.abs(stem).max() < 1e-3, name


def test_an_interrupted_batch_still_writes_its_report(run_spl, tmp_path: Path) -> None:
    """A CI job's timeout sends SIGTERM: the report must still say which inputs were done."""
    songs = write_songs(tmp_path / "in", 2, 2.0)
    sf.write(tmp_path / "in" / "zz-long.wav", np.tile(song(15.0, 0), (10, 1)), RATE)
    out, report = tmp_path / "out", tmp_path / "report.json"
    process = run_spl.start("batch", tmp_path / "in", "-o", out, "-j", "1", "--report", report)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(name.startswith("zz-long/.") for name in files_under(out)):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    document = json.loads(report.read_text())
    assert document["summary"]["interrupted"] is True and document["summary"]["ok"] == 2
    statuses = {Path(r["input"]).name: r["status"] for r in document["inputs"]}
    assert statuses == {songs[0].name: "ok", songs[1].name: "ok", "zz-long.wav": "failed"}
    assert files_under(out) == sorted(f"{p.stem}/{s}.wav" for p in songs for s in ("accompaniment", "vocals"))
    stats = run_spl("stats", "--json", timeout=60)
    figures = json.loads(stats.stdout)["processing_stats"]
    assert (figures["runs"], figures["ok"], figures["failed"], figures["exit_codes"]) == (1, 2, 1, {"143": 1})


def test_usage_errors_and_help_in_logs_are_plain_text(run_spl) -> None:
    """CI logs and pipes get click's plain output; Rich's boxes are for terminals."""
    done = run_spl("separate", "--no-such-flag")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("Error: No such option: --no-such-flag")
    helped = run_spl("batch", "--help")
    assert helped.returncode == 0 and "--keep-tree" in helped.stdout
    assert not any(char in done.stderr + helped.stdout for char in "╭│╰─")
