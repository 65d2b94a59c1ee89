"""The Python API: SpleeterEngine over the CLI's pipeline, from asyncio code."""

from __future__ import annotations

import asyncio
import os
import time
from itertools import pairwise
from pathlib import Path

import pytest
import soundfile as sf
from conftest import write_songs


def test_concurrent_separations_keep_the_event_loop_responsive(models_dir: Path, tmp_path: Path) -> None:
    from spleeter_cli import AudioProcessingError, SpleeterConfig, SpleeterEngine

    songs = write_songs(tmp_path / "in", 3, 15.0)  # long enough that the work spans many ticks, even on OpenVINO
    config = SpleeterConfig(models_dir=models_dir, cache_dir=tmp_path / "cache", auto_download=False)

    async def main() -> tuple[list, list[float], dict, list]:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.05)

        async with SpleeterEngine(config) as engine:
            ticking = asyncio.create_task(ticker())
            results = await asyncio.gather(*(engine.separate(song, "spleeter:2stems", tmp_path / "out") for song in songs))
            stop.set()
            await ticking
            with pytest.raises(AudioProcessingError) as caught:
                await engine.separate(tmp_path / "missing.wav", output_dir=tmp_path / "out")
            assert caught.value.context["path"].endswith("missing.wav")
            return results, ticks, engine.get_processing_stats(), engine.get_available_models()

    results, ticks, stats, models = asyncio.run(main())
    for song, result in zip(songs, results, strict=True):
        assert set(result.output_files) == {"vocals", "accompaniment"}
        for path in result.output_files.values():
            assert path.exists() and sf.info(path).frames == 15 * 44100
        assert result.input == song
    # The loop kept ticking every ~50 ms while the model loaded and three files separated.
    gaps = [b - a for a, b in pairwise(ticks)]
    assert len(ticks) > 20 and max(gaps) < 1.0, max(gaps)
    assert stats["files_ok"] == 3 and stats["files_failed"] == 1 and stats["audio_seconds"] == pytest.approx(45.0, abs=0.01)
    assert {m["name"]: m["loaded"] for m in models}["spleeter:2stems"] is True


def test_batch_separate_reports_failures_instead_of_raising(models_dir: Path, tmp_path: Path) -> None:
    from spleeter_cli import SpleeterConfig, SpleeterEngine

    [good] = write_songs(tmp_path / "in", 1, 3.0)
    bad = tmp_path / "in" / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    config = SpleeterConfig(models_dir=models_dir, enable_cache=False, auto_download=False)

    async def main() -> list:
        async with SpleeterEngine(config) as engine:
            return await engine.batch_separate([good, bad], output_dir=tmp_path / "out", codec="flac")

    ok, failed = asyncio.run(main())
    assert ok.status == "ok" and ok.output_files["vocals"].suffix == ".flac"
    assert failed.status == "failed" and failed.error is not None and failed.error.exit_code == 3


def test_config_from_env_reads_the_same_settings_as_the_cli(tmp_path: Path, monkeypatch) -> None:
    from spleeter_cli import SpleeterConfig

    config_file = tmp_path / "spl.yaml"
    config_file.write_text("performance:\n  jobs: 3\n  enable_gpu: false\nmodels:\n  default: spleeter:4stems\ncache:\n  enabled: false\n")
    monkeypatch.setenv("SPLEETER_CONFIG", str(config_file))
    monkeypatch.setenv("SPLEETER_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SPLEETER_AUTO_DOWNLOAD", "no")
    config = SpleeterConfig.from_env()
    assert (config.jobs, config.enable_gpu, config.default_model, config.enable_cache) == (3, False, "spleeter:4stems", False)
    assert config.models_dir == tmp_path / "models" and config.auto_download is False


def test_config_is_a_face_over_the_settings(tmp_path: Path, monkeypatch) -> None:
    """SpleeterConfig keeps no defaults of its own: each name is one config key, checked like its flag."""
    from spleeter_cli import SpleeterConfig, ValidationError
    from spleeter_cli.config import FIELDS

    for name in [name for name in os.environ if name.startswith(("SPLEETER_", "SPL_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = SpleeterConfig(cache_dir=tmp_path / "c", jobs=3, enable_cache=None)
    assert (config.cache_dir, config.jobs, config.enable_cache) == (tmp_path / "c", 3, True)
    assert {f.key: config.settings[f.key] for f in FIELDS if f.key not in ("cache.dir", "performance.jobs")} == {
        f.key: f.default for f in FIELDS if f.key not in ("cache.dir", "performance.jobs")
    }
    monkeypatch.setenv("SPLEETER_BACKEND", "tensorflow")
    assert SpleeterConfig().backend == "tensorflow" and SpleeterConfig(backend="openvino").backend == "openvino"
    with pytest.raises(ValidationError, match="must be one of auto, openvino, tensorflow"):
        SpleeterConfig(backend="onnx")
    with pytest.raises(TypeError, match="'jobz'"):
        SpleeterConfig(jobz=2)
    with pytest.raises(AttributeError, match="read-only"):
        config.jobs = 4  # type: ignore[misc]
