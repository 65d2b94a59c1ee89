"""`spl separate` end to end: the real command in a subprocess, real weights, real audio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, RATE, is_record, sdr, song

OFFICIAL_SDR = {"vocals": 11.29, "accompaniment": 16.38}  # official spleeter 2stems on song3


def stem_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not is_record(p))


def test_help_imports_no_runtime_nor_numpy(bare_spl) -> None:
    """`spl --help` must answer at once: no heavy import on the way (timed in benchmarks/startup.py)."""
    for args in (["--help"], ["separate", "--help"], ["models", "--help"]):
        code = (
            "import sys; sys.argv = ['spl', *%r]\n"
            "from spleeter_cli.cli.app import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'openvino', 'numpy', 'scipy', 'av') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
        ) % (args,)
        done = bare_spl.python(code)
        assert done.returncode == 0, done.stderr
        assert "Usage" in done.stdout


def test_song3_quality_matches_official(run_spl, tmp_path: Path) -> None:
    done = run_spl("separate", DATA / "song3" / "mixture.flac", "-o", tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "ok" and report["model"] == "spleeter:2stems"
    assert report["audio_duration"] == pytest.approx(20.0, abs=0.01)
    for name, official in OFFICIAL_SDR.items():
        produced, rate = sf.read(report["outputs"][name], dtype="float32")
        truth, _ = sf.read(DATA / "song3" / f"{name}.flac", dtype="float32")
        assert rate == 44100 and produced.shape == truth.shape
        assert abs(sdr(truth, produced) - official) <= 0.2, (name, sdr(truth, produced))
    assert Path(report["outputs"]["vocals"]) == tmp_path / "mixture" / "vocals.wav"


@pytest.mark.slow
def test_formats_offset_duration_and_overwrite(run_spl, tmp_path: Path) -> None:
    song = DATA / "song3" / "mixture.flac"
    args = (
        "separate",
        song,
        "-o",
        tmp_path,
        "-c",
        "flac",
        "--bit-depth",
        "24",
        "--offset",
        "5",
        "--duration",
        "3.5",
        "-f",
        "{instrument}-{filename}.{codec}",
    )
    done = run_spl(*args)
    assert done.returncode == 0, done.stderr
    info = sf.info(tmp_path / "vocals-mixture.flac")
    assert info.subtype == "PCM_24" and info.frames == int(3.5 * 44100)
    # A second run does not clobber existing stems...
    again = run_spl(*args)
    assert again.returncode == 5
    assert "already exists" in again.stderr and "--overwrite" in again.stderr
    # ...unless asked to.
    assert run_spl(*args, "--overwrite").returncode == 0
    mp3 = run_spl("separate", song, "-o", tmp_path / "mp3", "-c", "mp3", "--bitrate", "128k", "--duration", "2")
    assert mp3.returncode == 0, mp3.stderr
    assert sorted(p.name for p in stem_files(tmp_path / "mp3")) == ["accompaniment.mp3", "vocals.mp3"]


# --- bad input: one line naming the file, a documented exit code, nothing written --------------


def _write_bad_inputs(root: Path) -> dict[str, tuple[Path, int, str]]:
    root.mkdir()
    (root / "empty.wav").write_bytes(b"")
    (root / "noise.mp3").write_bytes(np.random.default_rng(1).bytes(50_000))
    flac = (DATA / "song3" / "mixture.flac").read_bytes()
    (root / "truncated.flac").write_bytes(flac[: len(flac) // 3])
    (root / "folder.wav").mkdir()
    return {
        "missing": (root / "missing.wav", 3, "no such file"),
        "directory": (root / "folder.wav", 3, "directory"),
        "empty": (root / "empty.wav", 3, "empty"),
        "random bytes": (root / "noise.mp3", 3, ""),
        "truncated flac": (root / "truncated.flac", 3, "truncated"),
    }


def test_bad_inputs_fail_cleanly(run_spl, tmp_path: Path) -> None:
    for case, (path, code, words) in _write_bad_inputs(tmp_path / "in").items():
        out = tmp_path / f"out-{case.replace(' ', '-')}"
        done = run_spl("separate", path, "-o", out)
        assert done.returncode == code, (case, done.returncode, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("spl: error:"), (case, done.stderr)
        assert str(path) in lines[0] and words in lines[0].lower(), (case, lines[0])
        assert "Traceback" not in done.stderr
        assert not out.exists(), case  # no stems, and no empty folder for them either


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("-m", "spleeter:3stems"), 2, "known model name"),
        (("--offset", "999"), 3, "past the end"),
        (("-f", "../{instrument}.{codec}"), 2, "outside the output directory"),
        (("-f", "{filename}.{codec}"), 2, "{instrument}"),
        (("-c", "aiff"), 2, "--codec must be one of"),
        (("--stems", "3"), 2, "--stems"),
        (("--stems", "0"), 2, "--stems must be 2, 4 or 5"),
        (("--offset", "nan"), 2, "--offset must be between 0 and"),
        (("--duration", "1e308"), 2, "leave it out to separate to the end"),
        (("--duration", "inf"), 2, "--duration must be"),
        (("-f", "{filename}/{instrument}.part-1.{codec}"), 2, "marks spl's unfinished files"),
    ],
)
def test_bad_options_fail_cleanly(run_spl, tmp_path: Path, args: tuple[str, ...], code: int, words: str) -> None:
    out = tmp_path / "out"
    done = run_spl("separate", DATA / "song3" / "mixture.flac", "-o", out, *args)
    assert done.returncode == code, done.stderr
    assert done.stderr.startswith("spl: error:") and words in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() or not stem_files(out)


def test_unwritable_output_dir(run_spl, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # tests run as root, so permissions cannot block: a file can
    done = run_spl("separate", DATA / "song3" / "mixture.flac", "-o", blocker / "out", "--duration", "1")
    assert done.returncode == 5, done.stderr
    assert "cannot write to output directory" in done.stderr and "mixture.flac" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_failed_run_leaves_no_partial_stems(run_spl, tmp_path: Path) -> None:
    """A corrupt file among good ones fails alone; nothing half-written stays behind."""
    flac = (DATA / "song3" / "mixture.flac").read_bytes()
    bad = tmp_path / "bad.flac"
    bad.write_bytes(flac[: len(flac) // 2])
    out = tmp_path / "out"
    done = run_spl("separate", bad, DATA / "song3" / "mixture.flac", "-o", out, "--json")
    assert done.returncode == 3, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["status"] for r in results] == ["failed", "ok"]
    assert sorted(p.relative_to(out).as_posix() for p in stem_files(out)) == ["mixture/accompaniment.wav", "mixture/vocals.wav"]


def test_python_module_entry_point(bare_spl) -> None:
    """`python -m spleeter_cli` is the same program as the console script the other tests run."""
    module = subprocess.run([sys.executable, "-m", "spleeter_cli", "--version"], env=bare_spl.env, capture_output=True, text=True)
    assert module.returncode == 0 and module.stdout.startswith("spl "), module.stderr
    script = bare_spl("--version")
    assert (script.returncode, script.stdout) == (0, module.stdout), script.stderr


@pytest.mark.slow
def test_mwf_quiet_and_verbose_through_the_cli(run_spl, tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", song(4.0, 5), RATE, subtype="FLOAT")
    plain = run_spl("separate", tmp_path / "a.wav", "-o", tmp_path / "plain", "--bit-depth", "32", "-v")
    assert plain.returncode == 0 and all(stage in plain.stderr for stage in ("decode", "separate", "encode")), plain.stderr
    wiener = run_spl("separate", tmp_path / "a.wav", "-o", tmp_path / "mwf", "--bit-depth", "32", "--mwf", "-q")
    assert wiener.returncode == 0 and wiener.stdout == "" and wiener.stderr == "", (wiener.stdout, wiener.stderr)
    for name in ("vocals", "accompaniment"):
        a, _ = sf.read(tmp_path / "plain" / "a" / f"{name}.wav")
        b, _ = sf.read(tmp_path / "mwf" / "a" / f"{name}.wav")
        assert 3 < sdr(a, b) < 60, name  # refined, not replaced, and not ignored
