"""Run history and `spl stats`: real `spl batch` runs recorded, then read back by the CLI and the API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Spl, spl_runner, write_songs

pytestmark = pytest.mark.slow  # real `spl batch` runs recorded and read back


@pytest.fixture(scope="module")
def spl(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Spl:
    """The module's `spl`: the history below is in its cache folder."""
    return spl_runner(tmp_path_factory, models_dir)


@pytest.fixture(scope="module")
def history(spl: Spl, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real batches over 3 good songs and a corrupt one: the second (--force) is served by the disk cache."""
    root = tmp_path_factory.mktemp("stats")
    songs = root / "songs"
    write_songs(songs, 3, 2.5, name="s{}.wav", broken=True)
    for index, extra in enumerate(([], ["--force"]), 1):
        done = spl("batch", songs, "-o", root / "out", "--jobs", "2", "--report", root / f"r{index}.json", *extra)
        assert done.returncode == 1, done.stderr  # the corrupt input fails, the others complete
    return {"root": root, "cache": Path(spl.env["SPLEETER_CACHE_DIR"]), "r1": root / "r1.json", "r2": root / "r2.json"}


def spl_stats(spl: Spl, *args: str) -> subprocess.CompletedProcess[str]:
    return spl("stats", *args, timeout=60)


def test_stats_over_two_runs(history: dict[str, Path], spl: Spl) -> None:
    done = spl_stats(spl, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    figures = summary["processing_stats"]
    assert figures["runs"] == 2 and figures["inputs"] == 8
    assert (figures["ok"], figures["skipped"], figures["failed"]) == (6, 0, 2)
    assert figures["success_rate"] == pytest.approx(0.75)
    assert figures["cache_hit_rate"] == pytest.approx(0.5)  # run 1 computes the 3 good songs, run 2 reads them from disk
    assert figures["cache_hit_rate_by_tier"] == {"disk": pytest.approx(0.5)}
    reports = [json.loads(history[name].read_text()) for name in ("r1", "r2")]
    broken = next(r for r in reports[0]["inputs"] if r["status"] == "failed")
    assert broken["exit_code"] == 3
    assert figures["errors_by_kind"] == {"AudioProcessingError": 2}
    assert figures["audio_seconds"] == pytest.approx(sum(r["summary"]["audio_seconds"] for r in reports), abs=0.01)
    assert figures["audio_hours"] == pytest.approx(figures["audio_seconds"] / 3600, abs=1e-4)
    assert figures["x_realtime"] > 0
    for stage in ("decode", "separate", "encode"):
        row = figures["stage_seconds"][stage]
        assert row["count"] == 3  # only the computed inputs ran the stages
        assert 0 <= row["p50"] <= row["p90"] <= row["p99"]
    health = summary["system_health"]
    assert health["status"] in ("healthy", "degraded", "unhealthy")
    assert {"cache_dir", "models_dir", "redis", "gpu", "problems"} <= health.keys()
    assert health["redis"] is None and health["cache_dir"]["free_bytes"] > 0
    assert summary["cache"]["total"]["hits"] == 3
    text = spl_stats(spl)
    assert text.returncode == 0 and "success rate 75.0%" in text.stdout and "AudioProcessingError 2" in text.stdout


def test_selection_and_errors(history: dict[str, Path], spl: Spl) -> None:
    last = json.loads(spl_stats(spl, "--json", "--last", "1").stdout)["processing_stats"]
    assert last["runs"] == 1 and last["inputs"] == 4 and last["cache_hit_rate"] == 1.0
    recent = json.loads(spl_stats(spl, "--json", "--since", "1h").stdout)["processing_stats"]
    assert recent["runs"] == 2
    future = json.loads(spl_stats(spl, "--json", "--since", "2999-01-01").stdout)["processing_stats"]
    assert future["runs"] == 0 and future["success_rate"] is None
    for bad in (["--since", "yesterday"], ["--since", "7x"], ["--last", "0"]):
        done = spl_stats(spl, *bad)
        assert done.returncode == 2 and done.stderr.startswith("spl: error:") and len(done.stderr.splitlines()) == 1, done.stderr


def test_api_reads_the_same_history(history: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from spleeter_cli.monitoring import get_stats_summary

    monkeypatch.setenv("SPLEETER_CACHE_DIR", str(history["cache"]))
    summary = get_stats_summary()
    assert summary["processing_stats"]["success_rate"] == pytest.approx(0.75)
    assert summary["processing_stats"]["cache_hit_rate"] == pytest.approx(0.5)
    assert summary["system_health"]["status"] in ("healthy", "degraded", "unhealthy")
    assert get_stats_summary(last=1)["processing_stats"]["runs"] == 1


def test_history_can_be_turned_off(run_spl, tmp_path: Path) -> None:
    write_songs(tmp_path, 1, 2.0, name="a.wav")
    done = run_spl("batch", tmp_path / "a.wav", "-o", tmp_path / "out", "--cache-dir", tmp_path / "c", env={"SPL_HISTORY": "off"})
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "c" / "history.db").exists()


def test_stats_does_not_import_numpy_or_tensorflow(bare_spl, tmp_path: Path) -> None:
    code = (
        "import sys; sys.argv = ['spl', 'stats', '--json']\n"
        "from spleeter_cli.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'numpy', 'scipy', 'av', 'prometheus_client') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = bare_spl.python(code, env={"SPLEETER_CACHE_DIR": str(tmp_path), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["processing_stats"]["runs"] == 0


def test_history_switch_and_alerts_come_from_the_config_file(run_spl, tmp_path: Path) -> None:
    """monitoring.history and monitoring.alerts in a config file act like their environment variables."""
    write_songs(tmp_path, 1, 2.0, name="a.wav")
    config = tmp_path / "spl.yaml"
    config.write_text("monitoring:\n  history: false\n  alerts:\n    memory_usage: 1\n")
    done = run_spl(
        "batch",
        tmp_path / "a.wav",
        "-o",
        tmp_path / "out",
        "--cache-dir",
        tmp_path / "c",
        "--config",
        config,
        "--report",
        tmp_path / "report.json",
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "c" / "history.db").exists()
    assert "above monitoring.alerts.memory_usage=1" in done.stderr, done.stderr
    assert any("memory use" in alert for alert in json.loads((tmp_path / "report.json").read_text())["summary"]["alerts"])


def test_stats_reports_recording_from_the_config_file_it_reads(bare_spl: Spl, tmp_path: Path) -> None:
    config = tmp_path / "spl.yaml"
    config.write_text(f"cache:\n  dir: {tmp_path / 'cache'}\nmonitoring:\n  history: false\n")
    done = bare_spl("stats", "--json", "--config", config, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["selection"]["recording"] is False


def test_a_no_cache_run_is_recorded_where_stats_looks(bare_spl: Spl, models_dir: Path, tmp_path: Path) -> None:
    """With cache.dir set only in the config file, a --no-cache run's history still lands in that folder."""
    cache = tmp_path / "configured-cache"
    config = tmp_path / "spl.yaml"
    config.write_text(f"cache:\n  dir: {cache}\nmodels:\n  dir: {models_dir}\n  auto_download: false\n")
    [song] = write_songs(tmp_path / "in", 1, 2.0)

    def spl(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return bare_spl(*args, "--config", config, timeout=300)

    done = spl("separate", song, "-o", tmp_path / "out", "--no-cache")
    assert done.returncode == 0, done.stderr
    summary = json.loads(spl("stats", "--json").stdout)
    assert summary["selection"]["history"] == str(cache / "history.db") and summary["processing_stats"]["runs"] == 1
    assert not (bare_spl.home / "cache" / "spl" / "cache").exists()
