"""The original design's config.yaml, loaded as written: every key read onto a real behaviour, or a note says why not."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import soundfile as sf
from conftest import Spl, isolated_environ

from spleeter_cli.config import load_config
from spleeter_cli.errors import AudioProcessingError, ValidationError

SONG = Path(__file__).parent / "data" / "song3" / "mixture.flac"

# As the design documents it: everything under `spleeter:`, in its own spellings.
DOCUMENTED = """\
spleeter:
  performance:
    enable_gpu: true
    batch_size: 8
    worker_threads: 4
    memory_limit_mb: 8192
  cache:
    enabled: true
    memory_size_mb: 512
    disk_size_mb: 2048
    redis_url: "redis://localhost:6379"
    ttl_hours: 24
  audio:
    default_sample_rate: 44100
    supported_formats: ["mp3", "wav", "flac", "m4a", "ogg"]
    enable_preprocessing: true
    normalize_loudness: true
  monitoring:
    export_interval: 60
    health_check_interval: 30
    alert_thresholds:
      memory_usage: 0.85
      gpu_usage: 0.9
      error_rate: 0.05
"""


@pytest.fixture
def documented(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(DOCUMENTED)
    return path


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return isolated_environ(tmp_path / "home", XDG_CONFIG_HOME=tmp_path / "xdg", **extra)


def test_every_documented_key_lands_on_its_setting(documented: Path, tmp_path: Path) -> None:
    settings = load_config(documented, clean_env(tmp_path))
    file = str(documented)
    expected = {  # key: (value, source)
        "performance.enable_gpu": (True, file),
        "performance.batch_size": (8, file),
        "performance.worker_threads": (4, file),
        "performance.memory_limit_mb": (8192.0, file),
        "cache.enabled": (True, file),
        "cache.memory_mb": (512, f"{file}, as cache.memory_size_mb"),
        "cache.disk_mb": (2048, f"{file}, as cache.disk_size_mb"),
        "cache.redis_url": ("redis://localhost:6379", file),
        "cache.redis_ttl_seconds": (86400, f"{file}, as cache.ttl_hours"),
        "audio.default_sample_rate": (44100, file),
        "audio.supported_formats": (("mp3", "wav", "flac", "m4a", "ogg"), file),
        "audio.enable_preprocessing": (True, file),
        "audio.normalize_loudness": (True, file),
        "monitoring.export_interval": (60.0, file),
        "monitoring.health_check_interval": (30.0, file),
        "monitoring.alerts.memory_usage": (0.85, f"{file}, as monitoring.alert_thresholds.memory_usage"),
        "monitoring.alerts.gpu_usage": (0.9, f"{file}, as monitoring.alert_thresholds.gpu_usage"),
        "monitoring.alerts.error_rate": (0.05, f"{file}, as monitoring.alert_thresholds.error_rate"),
    }
    assert {key: (settings[key], settings.source(key)) for key in expected} == expected
    assert settings.notes == [
        f"monitoring.export_interval in {file} has no effect: spl's metrics are pulled (--metrics-port), read fresh at each scrape;"
        " set scrape_interval in Prometheus"
    ]


def test_spl_config_show_gives_each_key_its_source_and_the_gpu_memory_growth_variable(documented: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path, SPLEETER_GPU_MEMORY_GROWTH="true")
    spl = Spl(Path(env["HOME"]), env)
    shown = spl("config", "show", "--config", documented, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line and not line.startswith("#")}
    assert lines["performance.gpu_memory_growth"].split(None, 1)[1] == "true  (env SPLEETER_GPU_MEMORY_GROWTH)"
    assert lines["cache.redis_ttl_seconds"].endswith(f"86400  ({documented}, as cache.ttl_hours)")
    assert lines["performance.batch_size"].endswith(f"8  ({documented})")
    assert f"# note: monitoring.export_interval in {documented} has no effect" in shown.stdout
    as_json = json.loads(spl("config", "show", "--config", documented, "--json", timeout=60).stdout)
    assert as_json["settings"]["performance.gpu_memory_growth"] == {"value": True, "source": "env SPLEETER_GPU_MEMORY_GROWTH"}
    assert as_json["settings"]["audio.supported_formats"]["value"] == ["mp3", "wav", "flac", "m4a", "ogg"]
    assert len(as_json["notes"]) == 1


def test_cache_keys_size_the_tiers_and_the_ttl(documented: Path, tmp_path: Path) -> None:
    from spleeter_cli.cache.manager import CacheManager

    settings = load_config(documented, clean_env(tmp_path)).with_overrides(cache_dir=tmp_path / "cache", redis_url="redis://127.0.0.1:1")
    cache = CacheManager.from_settings(settings, on_warning=lambda _: None)
    limits = {tier.name: tier.stats().limit_bytes for tier in cache.tiers if tier.name != "redis"}
    assert limits == {"memory": 512 * 2**20, "disk": 2048 * 2**20}
    assert cache.redis_ttl == 24 * 3600


def test_performance_keys_shape_the_model_pool(documented: Path, tmp_path: Path) -> None:
    from spleeter_cli.models.catalog import get_spec
    from spleeter_cli.models.store import ModelManager
    from spleeter_cli.separate.loader import ModelPool

    settings = load_config(documented, clean_env(tmp_path))
    pool = ModelPool.from_settings(settings)
    try:
        batcher = pool.get(get_spec("2stems"), ModelManager(models_dir=tmp_path / "none", auto_download=False))
        assert (pool.threads, pool.batch_size, batcher._max) == (4, 8, 8)
    finally:
        pool.close()


def test_supported_formats_refuse_other_inputs(documented: Path, tmp_path: Path, run_spl: Spl) -> None:
    aiff = tmp_path / "song.aiff"
    sf.write(aiff, [[0.0, 0.0]] * 4410, 44100, format="AIFF")
    done = run_spl("separate", aiff, "-o", tmp_path / "out", "--config", documented, "--no-cache")
    assert done.returncode == 3, done.stderr
    assert f"{aiff}: is a .aiff, not one of the accepted formats (convert it, or add it to audio.supported_formats" in done.stderr
    assert "Traceback" not in done.stderr


def test_memory_limit_is_enforced_before_an_input_starts(documented: Path, tmp_path: Path, run_spl: Spl) -> None:
    song = tmp_path / "song.wav"
    sf.write(song, [[0.0, 0.0]] * 4410, 44100)
    done = run_spl("separate", song, "-o", tmp_path / "out", "--config", documented, "--no-cache", env={"SPLEETER_MEMORY_LIMIT_MB": "1"})
    assert done.returncode == 3, done.stderr
    assert "above the 1 MB memory limit (raise performance.memory_limit_mb (SPLEETER_MEMORY_LIMIT_MB), or use fewer --jobs)" in done.stderr
    assert not (tmp_path / "out").exists()
    assert f"spl: warning: monitoring.export_interval in {documented} has no effect" in done.stderr  # said by every run


def test_preprocessing_keys_shape_the_options(documented: Path, tmp_path: Path) -> None:
    from spleeter_cli.separate.vocabulary import SeparateOptions, with_audio_settings

    settings = load_config(documented, clean_env(tmp_path))
    assert with_audio_settings(SeparateOptions(), settings).normalize == -14.0  # normalize_loudness
    assert with_audio_settings(SeparateOptions(normalize=-20.0), settings).normalize == -20.0  # an explicit target wins
    off = settings.with_overrides(**{"audio.enable_preprocessing": False})
    assert with_audio_settings(SeparateOptions(), off).normalize is None
    with pytest.raises(ValidationError, match="^highpass conditions the input, which audio.enable_preprocessing=false turns off"):
        with_audio_settings(SeparateOptions(highpass=40.0), off)


def test_health_check_interval_checks_the_thresholds_during_a_run(tmp_path: Path) -> None:
    """A share (at most 1) is of the machine's memory; with an interval the check runs without any input finishing."""
    from spleeter_cli.separate.tally import Tally
    from spleeter_cli.telemetry.metrics import AlertThresholds, Monitor

    class Listener:
        def __init__(self) -> None:
            self.warnings: list[str] = []

        def warning(self, message: str) -> None:
            self.warnings.append(message)

    quiet, alerted = Listener(), Listener()
    calm = Monitor(quiet, Tally(), None, AlertThresholds(memory_mb=0.99), check_interval=0.05)
    busy = Monitor(alerted, Tally(), None, AlertThresholds(memory_mb=1e-6), check_interval=0.05)
    deadline = time.monotonic() + 5
    while not alerted.warnings and time.monotonic() < deadline:
        time.sleep(0.05)
    calm.close()
    busy.close()
    assert quiet.warnings == [] and len(alerted.warnings) == 1 and "memory use" in alerted.warnings[0]
    assert busy.alerts == alerted.warnings


def test_documented_file_errors_name_the_key_and_the_fix(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    cases = {
        "spleeter:\n  cache:\n    ttl_hours: -1\n": "cache.ttl_hours must be a positive number of hours, not -1",
        "spleeter:\n  cache:\n    disk_size_mb: 1\n    disk_mb: 2\n": "cache.disk_size_mb and cache.disk_mb both set cache.disk_mb (keep one of the two spellings)",
        "spleeter: {}\ncache: {}\n": "'spleeter:' holds the whole configuration, yet the top level also has cache (move them under 'spleeter:'",
        "spleeter:\n  audio:\n    supported_formats: {mp3: 1}\n": "audio.supported_formats must be a non-empty list of file extensions",
        "spleeter:\n  monitoring:\n    alert_thresholds:\n      cpu_usage: 1\n": "unknown key 'monitoring.alert_thresholds.cpu_usage'",
    }
    for index, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"c{index}.yaml"
        path.write_text(text)
        with pytest.raises(ValidationError) as caught:
            load_config(path, env)
        assert message in str(caught.value), str(caught.value)


@pytest.mark.slow
def test_default_sample_rate_gives_stems_of_that_rate(tmp_path: Path, run_spl: Spl) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        DOCUMENTED.replace("default_sample_rate: 44100", "default_sample_rate: 22050").replace('"redis://localhost:6379"', "null")
    )
    done = run_spl("separate", SONG, "-o", tmp_path / "out", "--config", config, "--json")
    assert done.returncode == 0, done.stderr
    for name in ("vocals", "accompaniment"):
        info = sf.info(tmp_path / "out" / "mixture" / f"{name}.wav")
        assert info.samplerate == 22050 and abs(info.frames - 20 * 22050) <= 2
    assert '"input_loudness"' in done.stdout  # normalize_loudness: the input was brought to -14 LUFS


def test_input_limits_from_the_documented_file(documented: Path, tmp_path: Path) -> None:
    from spleeter_cli.limits import InputLimits

    limits = InputLimits.from_settings(load_config(documented, clean_env(tmp_path)))
    wav = tmp_path / "a.WAV"
    wav.write_bytes(b"")
    limits.check_file(wav)  # case does not matter
    with pytest.raises(AudioProcessingError) as caught:
        limits.check_file(tmp_path / "a.opus")
    assert caught.value.context == {"path": str(tmp_path / "a.opus")}
    limits.check_memory(wav)  # 8192 MB: far above this process


@pytest.mark.slow
def test_worker_threads_and_gpu_memory_growth_reach_the_runtimes(tmp_path: Path, run_spl: Spl) -> None:
    """In spl's own process: OpenVINO compiles with the threads asked for; TensorFlow gets its intra-op threads
    (and memory growth on every GPU it sees, none on a CPU-only machine) before its first model."""
    code = """
import asyncio, sys
from pathlib import Path
from spleeter_cli import SpleeterConfig, SpleeterEngine

async def main(backend):
    config = SpleeterConfig(worker_threads=1, gpu_memory_growth=True, backend=backend, cache_enabled=False)
    async with SpleeterEngine(config) as engine:
        await engine.separate(sys.argv[1], "spleeter:2stems", sys.argv[2], duration=2.0)
        batcher = next(iter(engine._models._batchers.values()))
        return batcher._model._future.result()

model = asyncio.run(main("openvino"))
print("openvino", model._model._compiled.get_property("INFERENCE_NUM_THREADS"))
asyncio.run(main("tensorflow"))
import tensorflow as tf
print("tensorflow", tf.config.threading.get_intra_op_parallelism_threads())
print("growth", [tf.config.experimental.get_memory_growth(gpu) for gpu in tf.config.list_physical_devices("GPU")])
"""
    done = run_spl.python(code, SONG, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert "openvino 1" in lines and "tensorflow 1" in lines  # 1: OpenVINO caps the threads at the cores there are
    growth = next(line for line in lines if line.startswith("growth"))
    assert "False" not in growth
