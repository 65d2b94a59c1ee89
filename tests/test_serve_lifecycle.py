"""`spl serve` over its life: a full queue, cancelling, `kill -9` mid-job, SIGTERM's drain, retention.

Each test runs its own real server process (the flags differ) on the same data dir across restarts.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import RATE, song
from redis_server import RedisServer
from serve_process import SplServer

pytestmark = pytest.mark.slow


def long_song(path: Path, seconds: int, seed: int = 0) -> Path:
    """A ``seconds``-long song pieced from the test song: several chunks, so a job is caught mid-way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pieces = [song(10.0, seed + 2 * k) for k in range(-(-seconds // 10))]
    sf.write(path, np.concatenate(pieces)[: seconds * RATE], RATE)
    return path


def until(condition, within: float = 120, every: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {within} s")


def status(server: SplServer, job_id: str) -> dict:  # type: ignore[type-arg]
    return server.http.get(f"/v1/jobs/{job_id}").json()


def test_full_queue_is_429_with_retry_after_and_jobs_cancel(run_spl, tmp_path: Path) -> None:
    running, queued, later = (long_song(tmp_path / f"song{n}.wav", 60, seed=n) for n in range(3))
    with SplServer(tmp_path / "data", run_spl, "--jobs", "1", "--queue", "1", "--no-cache") as server:
        first = server.upload(running, mwf="true").json()
        until(lambda: status(server, first["id"])["status"] == "running")
        second = server.upload(queued).json()
        assert second["status"] == "queued" and second["queue_position"] == 1
        full = server.upload(later)
        assert full.status_code == 429 and int(full.headers["retry-after"]) >= 1 and "queue is full" in full.json()["detail"]
        not_ready = server.http.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["reason"] == "the queue is full"
        assert {k: not_ready.json()[k] for k in ("queued", "running", "workers", "queue_limit")} == dict.fromkeys(
            ("queued", "running", "workers", "queue_limit"), 1
        )
        stems = server.http.get(f"{second['url']}/stems/vocals")
        assert stems.status_code == 409 and stems.json()["status"] == "queued"
        assert server.http.delete(second["url"]).status_code == 204
        assert status(server, second["id"])["status"] == "cancelled" and not (server.data_dir / "jobs" / second["id"]).exists()
        third = server.upload(later)
        assert third.status_code == 202
        assert server.http.delete(first["url"]).status_code == 204  # running: stopped within a moment
        assert server.finished(first["id"])["status"] == "cancelled"
        until(lambda: not (server.data_dir / "jobs" / first["id"]).exists(), within=10)
        assert server.finished(third.json()["id"])["status"] == "done"


def test_kill_9_mid_job_then_a_restart_completes_it(run_spl, tmp_path: Path) -> None:
    source = long_song(tmp_path / "in" / "long.wav", 60)
    server = SplServer(tmp_path / "data", run_spl, "--jobs", "1", "--no-cache")
    with server:
        job = server.upload(source).json()
        until(lambda: status(server, job["id"]).get("seconds", 0) > 0)  # a chunk is written: the stems are half on disk
        assert server.http.get(f"{job['url']}/stems/vocals").status_code == 409
        assert server.http.get(f"{job['url']}/stems.zip").status_code == 409
        server.kill()
        stems = server.data_dir / "jobs" / job["id"] / "stems"
        assert not [p for p in stems.rglob("*") if p.is_file() and not p.name.startswith(".")]  # only hidden temporaries
        server.start()  # same data dir, same port
        done = server.finished(job["id"])
        assert done["status"] == "done", done
        assert "resuming 1 queued job(s) (1 interrupted while running)" in server.output
        local = run_spl("separate", source, "-o", tmp_path / "local")
        assert local.returncode == 0, local.stderr
        for stem in done["stems"]:
            assert server.http.get(stem["url"]).content == (tmp_path / "local" / "long" / f"{stem['instrument']}.wav").read_bytes()
        assert not [p.name for p in stems.iterdir() if ".part-" in p.name]


def test_sigterm_stops_accepting_and_lets_running_jobs_finish(run_spl, tmp_path: Path) -> None:
    first, second = (long_song(tmp_path / f"song{n}.wav", 40, seed=n) for n in range(2))
    server = SplServer(tmp_path / "data", run_spl, "--jobs", "1", "--no-cache", "--grace", "120")
    with server:
        running = server.upload(first).json()
        until(lambda: status(server, running["id"])["status"] == "running")
        waiting = server.upload(second).json()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        until(lambda: refused(server), within=5)  # no new connection is accepted...
        assert server.process.poll() is None  # ...while the running job finishes
        assert server.process.wait(timeout=150) == 143
        assert "spl: terminated" in server.output
        restarted_at = time.time()
        server.start()
        finished = status(server, running["id"])
        assert finished["status"] == "done" and _seconds(finished["finished_at"]) < restarted_at  # finished by the first process
        resumed = server.finished(waiting["id"])
        assert resumed["status"] == "done" and _seconds(resumed["started_at"]) > restarted_at  # left queued for the second


def test_sigterm_past_the_grace_period_leaves_the_job_queued(run_spl, tmp_path: Path) -> None:
    source = long_song(tmp_path / "song.wav", 60)
    server = SplServer(tmp_path / "data", run_spl, "--jobs", "1", "--no-cache", "--grace", "1")
    with server:
        job = server.upload(source, mwf="true").json()
        until(lambda: status(server, job["id"])["status"] == "running")
        stopped = time.monotonic()
        assert server.terminate(timeout=60) == 143
        assert time.monotonic() - stopped < 15
        assert "left 1 running job(s) queued for the next start" in server.output
        server.start()
        assert server.finished(job["id"])["status"] == "done"
        assert not [p.name for p in (server.data_dir / "jobs" / job["id"] / "stems").iterdir() if ".part-" in p.name]


def test_finished_jobs_are_deleted_after_the_retention_period(run_spl, tmp_path: Path) -> None:
    source = long_song(tmp_path / "song.wav", 5)
    with SplServer(tmp_path / "data", run_spl, "--retention", "1s") as server:
        job = server.upload(source, wait=120).json()
        assert job["status"] == "done"
        folder = server.data_dir / "jobs" / job["id"]
        # the sweep forgets the job, then removes its folder: both within the wait, in that order
        until(lambda: server.http.get(job["url"]).status_code == 404 and not folder.exists(), within=10)


def refused(server: SplServer) -> bool:
    """Whether a new connection goes unanswered: refused, or reset when it reached the backlog as the listener closed."""
    try:
        httpx.get(f"{server.url}/healthz", timeout=1)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return True
    return False


def _seconds(iso: str) -> float:
    import calendar

    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + iso[19:-1])


def test_a_song_one_replica_separated_is_a_redis_hit_for_another(run_spl, tmp_path: Path) -> None:
    """Two replicas, each with its own disk cache and data dir, sharing one Redis (as deploy/kubernetes.yaml runs them)."""
    source = long_song(tmp_path / "song.wav", 10)
    with RedisServer(tmp_path / "redis") as redis:
        replicas = [run_spl.with_env(SPLEETER_REDIS_URL=redis.url, SPLEETER_CACHE_DIR=str(tmp_path / f"cache{n}")) for n in range(2)]
        with SplServer(tmp_path / "a", replicas[0]) as first, SplServer(tmp_path / "b", replicas[1]) as second:
            assert first.http.get("/readyz").json()["redis"] == redis.url  # what SpleeterCluster(shared_cache=...) checks
            computed = first.upload(source, wait=120).json()
            served = second.upload(source, wait=120).json()
    assert computed["result"]["cache"] is None and computed["result"]["backend"] == "openvino"
    assert served["result"]["cache"] == "redis" and served["result"]["backend"] is None
    assert [stem["sha256"] for stem in served["stems"]] == [stem["sha256"] for stem in computed["stems"]]


def test_the_servers_config_shapes_every_job_as_it_shapes_spl_separate(run_spl, tmp_path: Path) -> None:
    """audio.default_sample_rate and enable_preprocessing reach uploaded jobs; the performance keys the one model pool."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "spleeter:\n  audio:\n    default_sample_rate: 22050\n    enable_preprocessing: false\n  performance:\n    batch_size: 3\n"
    )
    source = long_song(tmp_path / "song.wav", 4)
    with SplServer(tmp_path / "data", run_spl, "--config", str(config)) as server:
        job = server.upload(source, wait=120).json()
        assert job["status"] == "done", job
        for stem in job["stems"]:
            served = tmp_path / f"{stem['instrument']}.wav"
            served.write_bytes(server.http.get(stem["url"]).content)
            info = sf.info(served)
            assert info.samplerate == 22050 and info.frames == pytest.approx(4 * 22050, abs=2), stem["instrument"]
        refused = server.upload(source, denoise="true")
        assert refused.status_code == 422 and "enable_preprocessing" in refused.text, refused.text
    local = run_spl("separate", source, "-o", tmp_path / "local", "--config", config)
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "local" / "song" / "vocals.wav").read_bytes() == (tmp_path / "vocals.wav").read_bytes()


def test_the_token_can_come_from_a_file_and_a_bad_file_is_refused_at_start(run_spl, tmp_path: Path) -> None:
    """--token-file (a mounted Secret): its text is the token; a missing, empty or binary file stops the start with exit 2."""
    secret = tmp_path / "token"
    secret.write_text("s3cret-from-file\n")
    server = SplServer(tmp_path / "data", run_spl, "--token-file", str(secret), token=None)
    server.http.headers["Authorization"] = "Bearer s3cret-from-file"
    with server:
        assert server.http.get("/v1/models").status_code == 200
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
    empty, binary = tmp_path / "empty", tmp_path / "binary"
    empty.write_text("  \n")
    binary.write_bytes(b"\xff\xfe\x00token")
    for path, why in ((tmp_path / "missing", "cannot read the token"), (empty, "the token file is empty"), (binary, "is not text")):
        done = run_spl("serve", "--port", "1", "--token-file", path, "--data-dir", tmp_path / "refused")
        assert done.returncode == 2 and f"--token-file {path}: " in done.stderr and why in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
