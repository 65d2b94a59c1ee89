"""The Prometheus exporter and alerts of a real `spl batch`, scraped over loopback while it runs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import write_songs
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow  # real `spl batch` runs scraped while they run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    """Every sample of one scrape, keyed by (sample name, sorted labels); None if nothing answered."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def counters(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, dict[str, float]]:
    """The run's counters by label value: files by status, failures by kind, cache hits by tier, audio seconds."""
    wanted = {"spl_files_processed_total": "status", "spl_failures_total": "kind", "spl_cache_hits_total": "tier"}
    found: dict[str, dict[str, float]] = {name: {} for name in wanted}
    for (name, labels), value in samples.items():
        if name in wanted and value:
            found[name][dict(labels)[wanted[name]]] = value
    found["spl_audio_seconds_total"] = {"": samples.get(("spl_audio_seconds_total", ()), 0.0)}
    return found


def expected_from(report: dict) -> dict[str, dict[str, float]]:
    """The same figures from the report; its only failure kind here is the corrupt input's (exit code 3)."""
    inputs = report["inputs"]
    assert all(r["exit_code"] == 3 for r in inputs if r["status"] == "failed")
    count = lambda key: {v: float(sum(r.get(key) == v for r in inputs)) for v in {r.get(key) for r in inputs} if v}  # noqa: E731
    failed = float(sum(r["status"] == "failed" for r in inputs))
    return {
        "spl_files_processed_total": count("status"),
        "spl_failures_total": {"AudioProcessingError": failed} if failed else {},
        "spl_cache_hits_total": count("cache"),
        "spl_audio_seconds_total": {"": report["summary"]["audio_seconds"]},
    }


def test_metrics_scraped_during_a_batch_match_the_report(run_spl, tmp_path: Path) -> None:
    songs, out = tmp_path / "songs", tmp_path / "out"
    write_songs(songs, 6, 6.0, name="s{}.wav", broken=True)
    env = {"SPLEETER_METRICS_LINGER": "3"}
    # s0 done (skipped next time), s1 in the disk cache but its stems removed (a cache hit next time).
    first = run_spl("batch", songs / "s0.wav", songs / "s1.wav", "-o", out, env=env)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(out / "s1")

    port, report = free_port(), tmp_path / "report.json"
    process = run_spl.start("batch", songs, "-o", out, "--jobs", "1", "--metrics-port", port, "--report", report, env=env)
    during, after = [], None  # scrapes while files were in flight; the last one taken after the report was written
    while process.poll() is None:
        report_written = report.exists()
        samples = scrape(port)
        if samples is not None and process.poll() is None:
            if report_written:
                after = samples
            else:
                during.append(samples)
        time.sleep(0.1)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr  # broken.flac failed, the others completed
    document = json.loads(report.read_text())
    assert {r["status"] for r in document["inputs"]} == {"ok", "skipped", "failed"}
    expected = expected_from(document)
    assert expected["spl_cache_hits_total"] == {"disk": 1.0}

    assert len(during) >= 3, "the run should have been scraped several times while it ran"
    for samples in during:
        seen = counters(samples)
        for name, values in seen.items():
            for label, value in values.items():
                assert value <= expected[name].get(label, 0.0) + 0.01, (name, label, value)
        assert samples[("spl_rss_bytes", ())] > 0
    assert any(counters(s)["spl_files_processed_total"].get("ok", 0) < expected["spl_files_processed_total"]["ok"] for s in during)

    assert after is not None, "no scrape between the report and the end of the linger"
    final = counters(after)
    assert final["spl_audio_seconds_total"][""] == pytest.approx(expected["spl_audio_seconds_total"][""], abs=0.01)
    final.pop("spl_audio_seconds_total"), expected.pop("spl_audio_seconds_total")
    assert final == expected
    assert after[("spl_stage_seconds_count", (("stage", "separate"),))] == 4  # s2..s5: s0 was skipped, s1 came from the cache
    if importlib.util.find_spec("pynvml") is None:
        assert not any(name == "spl_gpu_memory_bytes" for name, _ in after)  # no NVML: the gauge is absent, not zero


def test_busy_port_fails_before_any_work(run_spl, tmp_path: Path) -> None:
    write_songs(tmp_path, 1, 2.0, name="a.wav")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_spl("batch", tmp_path / "a.wav", "-o", tmp_path / "out", "--metrics-port", port)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("spl: error:") and "already in use" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert run_spl("separate", tmp_path / "a.wav", "--metrics-port", "0").returncode == 2  # out of range: a usage error too


def test_alerts_warn_once_and_land_in_the_report(run_spl, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    write_songs(songs, 4, 2.0, name="s{}.wav", broken=True)
    report = tmp_path / "report.json"
    done = run_spl(
        "batch",
        songs,
        "-o",
        tmp_path / "out",
        "--jobs",
        "2",
        "--report",
        report,
        env={"SPLEETER_ALERT_MEMORY_MB": "1", "SPLEETER_ALERT_ERROR_RATE": "0.1"},
    )
    assert done.returncode == 1, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("spl: warning:")]
    assert len([w for w in warnings if "SPLEETER_ALERT_MEMORY_MB=1" in w]) == 1, done.stderr
    assert len([w for w in warnings if "SPLEETER_ALERT_ERROR_RATE=0.1" in w]) == 1, done.stderr  # 1 of 5 failed
    alerts = json.loads(report.read_text())["summary"]["alerts"]
    assert len(alerts) == 2 and any("memory use" in a for a in alerts) and any("error rate 20%" in a for a in alerts)
    bad = run_spl("batch", songs, "-o", tmp_path / "out2", env={"SPLEETER_ALERT_ERROR_RATE": "2"})
    assert bad.returncode == 2 and "SPLEETER_ALERT_ERROR_RATE" in bad.stderr


def test_monitoring_enabled_adds_the_runs_resource_use_to_the_summary(run_spl, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    write_songs(songs, 2, 2.0, name="s{}.wav")
    on = run_spl(
        "batch", songs, "-o", tmp_path / "on", "--report", tmp_path / "on.json", "--no-cache", env={"SPLEETER_ENABLE_MONITORING": "true"}
    )
    assert on.returncode == 0, on.stderr
    resources = json.loads((tmp_path / "on.json").read_text())["summary"]["resources"]
    assert resources["peak_rss_mb"] > 300  # TensorFlow and the model were loaded in this process
    assert resources["cpu_seconds"] > 1 and resources["cpu_percent"] > 0
    assert "peak RSS" in on.stderr
    off = run_spl("batch", songs, "-o", tmp_path / "off", "--report", tmp_path / "off.json", "--no-cache")
    assert off.returncode == 0, off.stderr
    assert "resources" not in json.loads((tmp_path / "off.json").read_text())["summary"] and "peak RSS" not in off.stderr
