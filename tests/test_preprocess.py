"""--normalize, --normalize-stems, --highpass and --denoise through the real `spl`.

Each option is checked against doing the same thing by hand: separating an input that was
scaled or filtered beforehand must give the same stems, so the options provably act on the
input the model sees, and nothing else changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from conftest import RATE, sdr, song
from scipy.signal import butter, sosfilt

pytestmark = pytest.mark.slow  # separations through the real `spl`, compared with processing by hand


def _separate(run_spl, source: Path, out: Path, *flags: str) -> dict:
    done = run_spl("separate", source, "-o", out, "--bit-depth", "32", "--json", "--no-cache", *flags)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _stems(result: dict) -> dict[str, np.ndarray]:
    return {name: sf.read(path, dtype="float64")[0] for name, path in result["outputs"].items()}


def _lufs(signal: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE).integrated_loudness(signal.astype(np.float64)))


@pytest.fixture
def quiet(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A song slice 20 dB down, stored as float so scaling it by hand is exact."""
    signal = song(6.0, 2) * 0.1
    path = tmp_path / "quiet.wav"
    sf.write(path, signal, RATE, subtype="FLOAT")
    return path, signal


def test_normalize_scales_the_input_to_the_target_loudness(run_spl, tmp_path: Path, quiet) -> None:
    source, signal = quiet
    result = _separate(run_spl, source, tmp_path / "norm", "--normalize", "-30")
    loudness = result["input_loudness"]
    assert loudness["measured_lufs"] == pytest.approx(_lufs(signal), abs=0.1)
    assert not loudness["limited"] and loudness["gain_db"] == pytest.approx(-30 - loudness["measured_lufs"], abs=0.02)
    by_hand = tmp_path / "by_hand.wav"
    sf.write(by_hand, signal * 10 ** (loudness["gain_db"] / 20), RATE, subtype="FLOAT")
    expected = _stems(_separate(run_spl, by_hand, tmp_path / "hand"))
    for name, stem in _stems(result).items():
        assert sdr(expected[name], stem) > 60, name
    assert _lufs(sum(_stems(result).values())) == pytest.approx(-30, abs=0.5)  # the stems sum back to the louder mix


def test_normalize_never_pushes_the_input_past_full_scale(run_spl, tmp_path: Path, quiet) -> None:
    source, signal = quiet
    loudness = _separate(run_spl, source, tmp_path / "out", "--normalize", "-3")["input_loudness"]
    assert loudness["limited"] is True
    assert loudness["gain_db"] == pytest.approx(-20 * np.log10(np.max(np.abs(signal))), abs=0.02)


def test_normalize_stems_brings_each_stem_to_the_target(run_spl, tmp_path: Path, quiet) -> None:
    source, _ = quiet
    plain = _separate(run_spl, source, tmp_path / "plain")
    result = _separate(run_spl, source, tmp_path / "norm", "--normalize-stems", "-23")
    for name, stem in _stems(result).items():
        gain = result["stem_loudness"][name]
        assert gain["measured_lufs"] == pytest.approx(_lufs(_stems(plain)[name]), abs=0.1), name
        assert not gain["limited"] and _lufs(stem) == pytest.approx(-23, abs=0.1), name
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((3 * RATE, 2), np.float32), RATE)
    hush = _separate(run_spl, silent, tmp_path / "hush", "--normalize-stems", "-23")
    assert all(g["gain_db"] == 0 for g in hush["stem_loudness"].values()) and sorted(hush["silent"]) == ["accompaniment", "vocals"]


def test_highpass_acts_on_the_input_like_a_butterworth_filter(run_spl, tmp_path: Path, quiet) -> None:
    source, signal = quiet
    result = _separate(run_spl, source, tmp_path / "hp", "--highpass", "120")
    by_hand = tmp_path / "by_hand.wav"
    sf.write(by_hand, sosfilt(butter(4, 120, "highpass", fs=RATE, output="sos"), signal.astype(np.float64), axis=0), RATE, subtype="FLOAT")
    expected = _stems(_separate(run_spl, by_hand, tmp_path / "hand"))
    for name, stem in _stems(result).items():
        assert sdr(expected[name], stem) > 60, name


def test_denoise_removes_steady_noise_before_separation(run_spl, tmp_path: Path) -> None:
    music = song(6.0, 3) * 0.5
    noise = np.random.default_rng(7).normal(0, 0.02, music.shape)
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, np.concatenate([noise[:RATE], music[: len(music) - RATE] + noise[RATE:]]), RATE, subtype="FLOAT")
    head = slice(0, RATE // 2)  # noise only: the first half second

    def noise_left(*flags: str) -> float:
        """Energy of all stems together where the input is only noise."""
        stems = _stems(_separate(run_spl, noisy, tmp_path / "-".join(("out", *flags)), *flags))
        return float(np.mean(sum(stems.values())[head] ** 2))

    plain, default, full = noise_left(), noise_left("--denoise"), noise_left("--denoise-strength", "1")
    assert 10 * np.log10(plain / default) > 6  # the default strength takes the noise floor well down
    assert 10 * np.log10(default / full) > 3  # and full strength further


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--normalize", "3"), "--normalize must be a loudness between -70 and 0 LUFS, not 3"),
        (("--normalize-stems", "-90"), "--normalize-stems must be a loudness between -70 and 0 LUFS, not -90"),
        (("--highpass", "30000"), "--highpass must be above 0 and below 22050 Hz, not 30000"),
        (("--highpass", "0"), "--highpass must be above 0 and below 22050 Hz, not 0"),
        (("--denoise-strength", "2"), "--denoise-strength must be between 0 and 1, not 2"),
    ],
)
def test_out_of_range_values_are_usage_errors(run_spl, tmp_path: Path, quiet, flags: tuple[str, ...], message: str) -> None:
    source, _ = quiet
    done = run_spl("separate", source, "-o", tmp_path / "out", *flags)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_plain_separation_does_not_load_the_preprocessing_libraries(run_spl, tmp_path: Path, quiet) -> None:
    """scipy.signal (the meter and filters) and noisereduce cost memory and start-up: only when an option needs them."""
    source, _ = quiet
    for flags, wanted in (([], set()), (["--normalize-stems", "-20"], {"scipy.signal"}), (["--denoise"], {"scipy.signal", "noisereduce"})):
        args = ["separate", str(source), "-o", str(tmp_path / "out"), "--no-cache", "--overwrite", *flags]
        program = (
            f"import sys; sys.argv = ['spl', *{args!r}]\n"
            "from spleeter_cli.cli.app import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(sorted({'scipy.signal', 'noisereduce'} & set(sys.modules)))\n"
        )
        done = run_spl.python(program)
        assert done.returncode == 0, done.stderr
        assert set(json.loads(done.stdout.splitlines()[-1].replace("'", '"'))) == wanted, flags
