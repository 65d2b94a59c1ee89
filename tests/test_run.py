"""SeparationRun in process, with a stand-in model: planning, resume, clashes, silence, the cache, failures.

The model is replaced (a fixed mask per instrument: no weights, no runtime), so these run in
seconds; everything else is the real run: decoding, STFT, the writer, provenance, the disk cache.
The end-to-end layer checks the same behaviours through the real `spl` with the real model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import BROKEN_FLAC, RATE, song

from spleeter_cli.cache.manager import CacheManager
from spleeter_cli.errors import OutputError
from spleeter_cli.models.catalog import get_spec
from spleeter_cli.separate.run import SeparationRun
from spleeter_cli.separate.turns import NoTurns
from spleeter_cli.separate.vocabulary import FileResult, SeparateOptions, SilentListener

SPEC = get_spec("2stems")


class FixedMasks:
    """Stands in for the U-Nets: vocals get ``share`` of the mix, accompaniment the rest."""

    def __init__(self, share: float) -> None:
        self.spec = SPEC
        self.share = share
        self.calls = 0

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.stack([np.full(magnitudes.shape, self.share, np.float32), np.full(magnitudes.shape, 1 - self.share, np.float32)])

    estimates = masks


class StandInModels:
    """What a run needs of a ModelPool: the model for a spec, the backend's name, the CPU turns."""

    backend = "stand-in"
    turns = NoTurns()

    def __init__(self, model: FixedMasks) -> None:
        self.model = model

    def get(self, spec: Any, store: Any, precision: str, on_status: Any) -> FixedMasks:
        return self.model

    def close(self, wait: bool = True) -> None:
        pass


class StandInStore:
    """What a run needs of the model store: the model is installed, its weights have a digest."""

    def ensure(self, name: str, on_status: Any = None) -> None:
        pass

    def weights_digest(self, name: str) -> str:
        return "stand-in-weights"


class Recorder(SilentListener):
    def __init__(self) -> None:
        self.finished: list[FileResult] = []
        self._lock = threading.Lock()

    def file_finished(self, result: FileResult) -> None:
        with self._lock:
            self.finished.append(result)


def make_run(
    tmp_path: Path, share: float = 0.5, cache: Any = None, jobs: int = 2, fail_fast: bool = False, **options: Any
) -> tuple[SeparationRun, Recorder, FixedMasks]:
    model, listener = FixedMasks(share), Recorder()
    run = SeparationRun(
        SeparateOptions(**options),
        tmp_path / "out",
        StandInStore(),
        listener,
        cache=cache,
        jobs=jobs,  # type: ignore[arg-type]
        fail_fast=fail_fast,
        models=StandInModels(model),
    )  # type: ignore[arg-type]
    return run, listener, model


def songs(folder: Path, count: int, seconds: float = 3.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"song{i}.wav" for i in range(count)]
    for seed, path in enumerate(paths):
        sf.write(path, song(seconds, seed), RATE, subtype="FLOAT")
    return paths


def test_each_input_is_written_whole_and_reported_once(tmp_path: Path) -> None:
    inputs = songs(tmp_path / "in", 3)
    run, listener, model = make_run(tmp_path)
    results = run.run(inputs)
    assert [r.input for r in results] == inputs and [r.status for r in results] == ["ok"] * 3
    assert sorted(r.input for r in listener.finished) == inputs  # once each, whatever order they finished in
    for source, result in zip(inputs, results, strict=True):
        mix, _ = sf.read(source, dtype="float32")
        stems = {name: sf.read(path, dtype="float32")[0] for name, path in result.outputs.items()}
        assert set(stems) == {"vocals", "accompaniment"} and all(len(s) == len(mix) for s in stems.values())
        # Half the mask each: the stems are equal, and together they are the mix below 11 kHz.
        assert np.allclose(stems["vocals"], stems["accompaniment"], atol=2e-4)
        assert result.backend == "stand-in" and result.audio_duration == pytest.approx(3.0)
    assert model.calls >= 3


def test_a_rerun_skips_what_it_wrote_and_redoes_what_changed(tmp_path: Path) -> None:
    inputs = songs(tmp_path / "in", 2)
    run, _, _ = make_run(tmp_path, existing="skip")
    run.run(inputs)
    again, _, model = make_run(tmp_path, existing="skip")
    assert [r.status for r in again.run(inputs)] == ["skipped", "skipped"] and model.calls == 0
    other_codec, _, model = make_run(tmp_path, existing="skip", codec="flac")  # other files: not the same stems
    assert [r.status for r in other_codec.run(inputs)] == ["ok", "ok"] and model.calls > 0
    sf.write(inputs[0], song(3.0, 7), RATE, subtype="FLOAT")  # the song changed: its stems are redone, the other skipped
    changed, _, _ = make_run(tmp_path, existing="skip")
    assert [r.status for r in changed.run(inputs)] == ["ok", "skipped"]


def test_a_file_spl_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    [source] = songs(tmp_path / "in", 1)
    mine = tmp_path / "out" / "song0" / "vocals.wav"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    run, _, model = make_run(tmp_path, existing="skip")
    [result] = run.run([source])
    assert result.status == "failed" and isinstance(result.error, OutputError) and model.calls == 0
    assert mine.read_bytes() == b"mine" and not (mine.parent / "accompaniment.wav").exists()


def test_inputs_whose_stems_clash_fail_alone(tmp_path: Path) -> None:
    first = songs(tmp_path / "a", 1)[0]
    second = songs(tmp_path / "b", 1)[0]  # also song0.wav: the same stem paths
    run, _, _ = make_run(tmp_path)
    results = run.run([first, second])
    assert [r.status for r in results] == ["ok", "failed"]
    assert "is also a stem of" in str(results[1].error)


def test_silent_stems_are_named_and_with_skip_silent_not_kept(tmp_path: Path) -> None:
    [source] = songs(tmp_path / "in", 1)
    run, _, _ = make_run(tmp_path, share=1.0, skip_silent=True)  # all of it is "vocals"
    [result] = run.run([source])
    assert result.silent == ["accompaniment"] and set(result.outputs) == {"vocals"}
    assert not (tmp_path / "out" / "song0" / "accompaniment.wav").exists()


def test_computed_stems_are_cached_and_a_hit_needs_no_model(tmp_path: Path) -> None:
    inputs = songs(tmp_path / "in", 2)
    cache = CacheManager(tmp_path / "cache", memory_mb=0)
    run, _, _ = make_run(tmp_path, cache=cache)
    first = run.run(inputs)
    rerun, _, model = make_run(tmp_path, cache=cache, existing="overwrite")
    second = rerun.run(inputs)
    assert model.calls == 0 and [r.cache for r in second] == ["disk", "disk"]
    for a, b in zip(first, second, strict=True):
        assert all(a.outputs[n].read_bytes() == b.outputs[n].read_bytes() for n in a.outputs)
        assert a.peaks == pytest.approx(b.peaks)


def test_a_bad_input_fails_alone_and_fail_fast_starts_nothing_after_it(tmp_path: Path) -> None:
    inputs = songs(tmp_path / "in", 3)
    broken = tmp_path / "in" / "broken.flac"
    broken.write_bytes(BROKEN_FLAC)
    run, _, _ = make_run(tmp_path)
    results = run.run([broken, *inputs])
    assert [r.status for r in results] == ["failed", "ok", "ok", "ok"] and results[0].error.exit_code == 3
    fast, _, _ = make_run(tmp_path / "fast", jobs=1, fail_fast=True)
    outcomes = [r.status for r in fast.run([broken, *inputs])]
    assert outcomes[0] == "failed" and "ok" not in outcomes
