"""SpleeterCluster(nodes=[...]) over two real `spl serve` processes on loopback, one killed with SIGKILL mid-run.

Real weights, real audio, real processes: every file is separated once by a node that finished it,
its stems are the bytes a local `spl separate` writes, and the results come back in input order.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BROKEN_FLAC, write_songs
from redis_server import RedisServer
from serve_process import SplServer

from spleeter_cli import SpleeterCluster, ValidationError

pytestmark = pytest.mark.slow
TOKEN = "cluster-token"
SONGS = 6


def test_a_node_killed_mid_run_has_its_files_separated_once_on_the_other(run_spl, tmp_path: Path) -> None:
    files = write_songs(tmp_path / "in", SONGS, 8.0)
    broken = tmp_path / "in" / "broken.flac"
    broken.write_bytes(BROKEN_FLAC)
    inputs = [*files[:3], broken, *files[3:]]  # a file that fails for its own reason, among them
    server_args = ("--jobs", "1", "--no-cache")  # one job at a time each, no cache: every stem comes from a separation
    with (
        SplServer(tmp_path / "a", run_spl, *server_args, token=TOKEN) as doomed,
        SplServer(tmp_path / "b", run_spl, *server_args, token=TOKEN) as survivor,
    ):
        cluster = SpleeterCluster(nodes=[f"127.0.0.1:{doomed.port}", f"127.0.0.1:{survivor.port}"], token=TOKEN, jobs_per_node=1)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["results"] = asyncio.run(
                    cluster.separate_distributed(audio_files=inputs, model_name="spleeter:2stems", output_dir=tmp_path / "out")
                )
            except BaseException as error:  # noqa: BLE001 - handed to the test thread, which raises it
                outcome["error"] = error

        client = threading.Thread(target=run)
        client.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and doomed.http.get("/readyz").json().get("running", 0) < 1:
            time.sleep(0.05)
        doomed.kill()  # mid-job: SIGKILL, no drain
        client.join(timeout=600)
        assert not client.is_alive(), "the cluster run did not end"
        assert "error" not in outcome, outcome.get("error")
        results = outcome["results"]
        survivor_processed = survivor.metrics().get('spl_files_processed_total{status="ok"}', 0)

    assert [r.input for r in results] == inputs
    assert [r.status for r in results] == ["ok"] * 3 + ["failed"] + ["ok"] * (SONGS - 3), [str(r.error) for r in results]
    [refused] = [a for a in cluster.attempts if a.input == broken and a.outcome != "node failed"]
    assert refused.outcome == "failed"  # tried once by a live node, not retried
    local_broken = run_spl("separate", broken, "-o", tmp_path / "x")
    assert local_broken.returncode == 3 and f"spl: error: {results[3].error}" in local_broken.stderr  # the CLI's own message
    done = [a for a in cluster.attempts if a.outcome == "done"]
    assert sorted(a.input for a in done) == sorted(files)  # each file finished once
    lost = [a for a in cluster.attempts if a.outcome == "node failed"]
    assert lost and {a.node for a in lost} == {doomed.url}  # the kill hit a job, which went to the other node
    assert {a.input for a in lost} <= {a.input for a in done if a.node == survivor.url}
    assert survivor_processed == sum(a.node == survivor.url for a in done)  # the survivor separated only what it delivered
    with sqlite3.connect(doomed.data_dir / "jobs.db") as db:  # what the killed node left: the job it was running, unfinished
        left = db.execute("SELECT filename, status FROM jobs").fetchall()
    assert left and {status for _, status in left} <= {"queued", "running", "done"}, left  # nothing it finished was lost
    # a job it finished but could not deliver before dying was separated again elsewhere; none it delivered was
    assert {name for name, status in left if status == "done"} <= {a.input.name for a in lost}, left

    local = run_spl("separate", *files, "-o", tmp_path / "local", "--no-cache", "-q")
    assert local.returncode == 0, local.stderr
    for source in files:
        for stem in ("vocals", "accompaniment"):
            remote_stem = tmp_path / "out" / source.stem / f"{stem}.wav"
            assert remote_stem.read_bytes() == (tmp_path / "local" / source.stem / f"{stem}.wav").read_bytes(), remote_stem
    assert not [p for p in (tmp_path / "out").rglob("*") if ".part" in p.name]  # nothing half-written is left


def test_shared_cache_is_checked_against_the_nodes_redis_and_least_loaded_runs(run_spl, tmp_path: Path) -> None:
    """Two replicas started with one Redis: the cluster naming it runs; naming another Redis is refused before any upload."""
    files = write_songs(tmp_path / "in", 2, 4.0)
    with RedisServer(tmp_path / "redis") as redis:
        nodes = [run_spl.with_env(SPLEETER_REDIS_URL=redis.url, SPLEETER_CACHE_DIR=str(tmp_path / f"cache{n}")) for n in range(2)]
        with SplServer(tmp_path / "a", nodes[0], token=TOKEN) as first, SplServer(tmp_path / "b", nodes[1], token=TOKEN) as second:
            addresses = [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]
            cluster = SpleeterCluster(nodes=addresses, load_balancer="least_loaded", shared_cache=redis.url, token=TOKEN)
            results = asyncio.run(
                cluster.separate_distributed(audio_files=files, model_name="spleeter:2stems", output_dir=tmp_path / "out")
            )
            assert [r.status for r in results] == ["ok", "ok"] and [r.input for r in results] == files
            other = f"redis://127.0.0.1:{redis.port + 1}/0"
            elsewhere = SpleeterCluster(nodes=addresses, shared_cache=other, token=TOKEN)
            with pytest.raises(ValidationError, match=f"node {first.url} does not share the cache {other}: it uses {redis.url}"):
                asyncio.run(elsewhere.separate_distributed(audio_files=files, output_dir=tmp_path / "never"))
            assert not (tmp_path / "never").exists()
            uploads = 'spl_http_requests_total{method="POST",route="/v1/jobs",status="202"}'
            assert first.metrics().get(uploads, 0) + second.metrics().get(uploads, 0) == 2  # the refused call uploaded nothing
