"""`spl info` on real generated files: the real command in a subprocess, its --json checked field by field."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mutagen
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from conftest import Spl

from spleeter_cli.audio import codec

pytestmark = pytest.mark.slow  # the real `spl info` per check


def _sine(seconds: float, rate: int, channels: int, amplitude: float, frequency: float = 997.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * frequency * t)
    columns = [wave * (1.0 if c == 0 else 0.5) for c in range(channels)]  # distinct channels: catches swaps and duplication
    return np.stack(columns, axis=1).astype(np.float32)


def _expected(samples: np.ndarray, rate: int) -> tuple[float, float]:
    """(LUFS, peak dBFS) straight from pyloudnorm on the array the file holds."""
    data = samples[:, 0] if samples.shape[1] == 1 else samples
    return pyloudnorm.Meter(rate).integrated_loudness(data.astype(np.float64)), 20 * np.log10(np.max(np.abs(samples)))


def _info(spl: Spl, *paths: Path) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    result = spl("info", "--json", *paths, timeout=120)
    return result, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray | None, dict]]:
    """name -> (file, the samples it stores or None for lossy, what `spl info` must report)."""
    folder = tmp_path_factory.mktemp("info")
    files: dict[str, tuple[Path, np.ndarray | None, dict]] = {}

    def lossless(name: str, samples: np.ndarray, rate: int, fmt: str, subtype: str, bits: int) -> None:
        path = folder / name
        sf.write(path, samples, rate, subtype=subtype, format=fmt)
        stored, _ = sf.read(path, dtype="float32", always_2d=True)  # what quantisation left of the array
        files[name] = (
            path,
            stored,
            {"sample_rate": rate, "channels": samples.shape[1], "bit_depth": bits, "duration": len(samples) / rate},
        )

    lossless("s16.wav", _sine(2.0, 44100, 2, 0.5), 44100, "WAV", "PCM_16", 16)
    lossless("s24.wav", _sine(1.5, 48000, 2, 0.9), 48000, "WAV", "PCM_24", 24)
    lossless("mono.wav", _sine(1.0, 22050, 1, 0.7), 22050, "WAV", "PCM_16", 16)
    lossless("tagged.flac", _sine(3.0, 44100, 2, 0.999), 44100, "FLAC", "PCM_24", 24)
    tagged = mutagen.File(folder / "tagged.flac", easy=True)
    tagged["title"], tagged["artist"], tagged["album"], tagged["date"] = "Test Tone", "Ünïcode Artist", "Fixtures", "2024"
    tagged.save()
    files["tagged.flac"][2]["tags"] = {"title": "Test Tone", "artist": "Ünïcode Artist", "album": "Fixtures", "date": "2024"}

    mp3 = folder / "lossy.mp3"
    codec.encode(mp3, _sine(2.0, 44100, 2, 0.5), 44100, codec="mp3", bitrate="128k")
    files["lossy.mp3"] = (mp3, None, {"sample_rate": 44100, "channels": 2, "bit_depth": None, "duration": 2.0, "bitrate": 128000})
    return files


def test_info_json_matches_generated_files(bare_spl, generated: dict[str, tuple[Path, np.ndarray | None, dict]]) -> None:
    result, rows = _info(bare_spl, *(path for path, _, _ in generated.values()))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [row["path"] for row in rows] == [str(path) for path, _, _ in generated.values()]
    for (path, samples, want), row in zip(generated.values(), rows, strict=True):
        assert row["sample_rate"] == want["sample_rate"], path
        assert row["channels"] == want["channels"], path
        assert row["bit_depth"] == want["bit_depth"], path
        assert row["duration"] == pytest.approx(want["duration"], abs=0.001 if samples is not None else 0.06), path
        assert row["tags"] == want.get("tags", row["tags"]), path
        if "bitrate" in want:
            assert row["bitrate"] == pytest.approx(want["bitrate"], rel=0.05)
        assert row["loudness_seconds"] == pytest.approx(row["decoded_duration"], abs=0.001)
        if samples is None:  # lossy: the codec changes the samples, so only roughly
            assert row["codec"].startswith("mp3") and row["container"] == "mp3"
            lossless, _ = _expected(_sine(2.0, 44100, 2, 0.5), 44100)  # the samples that went into the encoder
            assert row["loudness_lufs"] == pytest.approx(lossless, abs=0.5)
            assert row["peak_dbfs"] == pytest.approx(20 * np.log10(0.5), abs=0.5)
            continue
        lufs, peak = _expected(samples, want["sample_rate"])
        assert row["loudness_lufs"] == pytest.approx(lufs, abs=0.1), path
        assert row["peak_dbfs"] == pytest.approx(peak, abs=0.01), path
        assert row["decoded_duration"] == pytest.approx(want["duration"], abs=1e-6), path


def test_full_scale_sine_reads_about_minus_three_lufs(bare_spl, tmp_path: Path) -> None:
    """A full-scale 997 Hz sine in one channel of stereo is BS.1770's -3.01 LUFS reference."""
    samples = _sine(2.0, 48000, 2, 1.0)
    samples[:, 1] = 0
    sf.write(tmp_path / "ref.wav", samples, 48000, subtype="FLOAT")
    result, rows = _info(bare_spl, tmp_path / "ref.wav")
    assert result.returncode == 0, result.stderr
    assert rows[0]["loudness_lufs"] == pytest.approx(-3.01, abs=0.1)
    assert rows[0]["peak_dbfs"] == pytest.approx(0.0, abs=0.01)
    assert rows[0]["bit_depth"] == 32


def test_bad_file_is_one_line_and_others_still_described(bare_spl, tmp_path: Path, generated: dict) -> None:
    good = generated["s16.wav"][0]
    bad = tmp_path / "noise.flac"
    bad.write_bytes(np.random.default_rng(1).bytes(4000))
    result, rows = _info(bare_spl, bad, good, tmp_path / "missing.wav")
    assert result.returncode == 3
    assert [row["path"] for row in rows] == [str(good)]
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("spl: error: ") and line.endswith(")") for line in lines), lines
    assert str(bad) in lines[0] and "missing.wav: no such file" in lines[1]


def test_human_output_is_an_aligned_block(bare_spl, generated: dict) -> None:
    path = generated["tagged.flac"][0]
    result = bare_spl("info", path, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == str(path)
    rows = [line[2:] for line in lines[1:]]
    assert all(line.startswith("  ") and not line.startswith("   ") for line in lines[1:])
    width = max(len(row.split("  ", 1)[0]) for row in rows)
    assert all(row[width : width + 2] == "  " and row[width + 2] != " " for row in rows), rows  # one value column
    for text in ("24-bit", "LUFS", "dBFS", "title", "Test Tone"):
        assert text in result.stdout
