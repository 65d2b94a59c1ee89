"""`spl batch --scheduler` and SpleeterCluster on real Dask clusters: worker processes on loopback,
real weights, real Redis, a worker killed with SIGKILL mid-task."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import distributed
import pytest
import soundfile as sf
from conftest import RATE, is_record, write_songs
from redis_server import RedisServer, free_port

pytestmark = pytest.mark.slow  # real Dask clusters, worker processes and Redis


def worker_env(models_dir: Path, cache_dir: Path) -> dict[str, str]:
    """What a worker machine's image sets: its own models and disk cache, no downloads, no history."""
    return {
        "SPLEETER_MODELS_DIR": str(models_dir),
        "SPLEETER_CACHE_DIR": str(cache_dir),
        "SPLEETER_AUTO_DOWNLOAD": "false",
        "SPL_HISTORY": "off",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


@pytest.fixture
def cluster(models_dir: Path, tmp_path: Path) -> Iterator[distributed.LocalCluster]:
    """A LocalCluster of two worker processes (each with a nanny that restarts it if it dies)."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env=worker_env(models_dir, tmp_path / "worker-cache"),
    ) as local:
        yield local


def stems_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not is_record(p))


def comparable(report: dict, out: Path) -> dict:
    """A report without what legitimately differs between two runs: timings and the output folder."""
    inputs = [
        {
            **{k: v for k, v in r.items() if k not in ("wall_time", "timings")},
            "outputs": {name: Path(path).relative_to(out).as_posix() for name, path in r["outputs"].items()},
        }
        for r in report["inputs"]
    ]
    summary = {k: v for k, v in report["summary"].items() if k not in ("wall_time", "x_realtime")}
    return {"model": report["model"], "summary": summary, "inputs": inputs}


def finished_lines(stdout: str, out: Path) -> list[str]:
    """The `input -> output folder` lines, without the timings."""
    return sorted(line.replace(str(out), "OUT").split(" (")[0] for line in stdout.splitlines())


def test_cluster_batch_equals_a_local_batch_and_resumes(run_spl, cluster, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_songs(inputs, 4, 4.0, broken=True)
    processing = ("--normalize-stems", "-20")  # loudness gains and stem peaks must cross the wire too
    local = run_spl("batch", inputs, "-o", tmp_path / "local", "--report", tmp_path / "local.json", *processing)
    remote = run_spl(
        "batch",
        inputs,
        "-o",
        tmp_path / "remote",
        "--report",
        tmp_path / "remote.json",
        *processing,
        "--scheduler",
        cluster.scheduler_address,
    )
    assert local.returncode == remote.returncode == 1, remote.stderr  # broken.flac fails alone, in both
    assert "Traceback" not in remote.stderr
    assert [line for line in remote.stderr.splitlines() if "error:" in line] == [
        line for line in local.stderr.splitlines() if "error:" in line
    ]
    assert finished_lines(remote.stdout, tmp_path / "remote") == finished_lines(local.stdout, tmp_path / "local")
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("local.json", "remote.json"))
    assert comparable(two, tmp_path / "remote") == comparable(one, tmp_path / "local")
    assert two["summary"]["ok"] == 4 and two["summary"]["model_loaded"] is True and two["jobs"] == 2
    assert all(set(r["stem_loudness"]) == {"vocals", "accompaniment"} for r in two["inputs"] if r["status"] == "ok")
    assert (
        stems_under(tmp_path / "remote")
        == stems_under(tmp_path / "local")
        == sorted(f"song{i}/{s}.wav" for i in range(4) for s in ("accompaniment", "vocals"))
    )
    for name in stems_under(tmp_path / "local"):
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name

    again = run_spl(
        "batch",
        inputs / "song0.wav",
        inputs / "song1.wav",
        "-o",
        tmp_path / "remote",
        "--report",
        tmp_path / "again.json",
        *processing,
        "--scheduler",
        cluster.scheduler_address,
    )
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in json.loads((tmp_path / "again.json").read_text())["inputs"]} == {"skipped"}

    twins = write_songs(tmp_path / "twins" / "a", 1, 2.0) + write_songs(tmp_path / "twins" / "b", 1, 2.0)  # same name, two folders
    both = run_spl("batch", *twins, "-o", tmp_path / "twins-out", "--json", "--scheduler", cluster.scheduler_address)
    assert both.returncode == 1, both.stderr
    results = sorted((json.loads(line) for line in both.stdout.splitlines()), key=lambda result: result["input"])
    assert [r["status"] for r in results] == ["ok", "failed"] and f"also a stem of {twins[0]}" in results[1]["error"]


def test_workers_keep_the_provenance_rules(run_spl, cluster, tmp_path: Path) -> None:
    """A worker decides skip, redo and refuse from the stems' records exactly as a local batch does."""
    songs = write_songs(tmp_path / "in", 2, 2.0)
    out = tmp_path / "out"
    (out / "song0").mkdir(parents=True)
    (out / "song0" / "vocals.wav").write_bytes(b"mine")  # not spl's: never replaced without --force
    args = ("batch", *songs, "-o", out, "--json", "--scheduler", cluster.scheduler_address)
    for attempt in range(2):
        done = run_spl(*args)
        assert done.returncode == 1, done.stderr
        by_name = {Path(r["input"]).name: r for r in map(json.loads, done.stdout.splitlines())}
        assert by_name["song0.wav"]["exit_code"] == 5 and "exists and spl has no record of writing it" in by_name["song0.wav"]["error"]
        assert by_name["song1.wav"]["status"] == ("ok" if attempt == 0 else "skipped")
        assert (out / "song0" / "vocals.wav").read_bytes() == b"mine"
    forced = run_spl(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert stems_under(out) == sorted(f"song{i}/{s}.wav" for i in range(2) for s in ("accompaniment", "vocals"))


def test_dask_is_imported_only_with_a_scheduler(run_spl, tmp_path: Path) -> None:
    """`spl --help`, a local batch and a mistyped --scheduler never pay for importing Dask."""
    write_songs(tmp_path / "in", 1, 1.0)
    for args, code in (
        (["batch", "--help"], 0),
        (["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-cache"], 0),
        (["batch", str(tmp_path / "in"), "--scheduler", "local:0"], 2),
        (["batch", str(tmp_path / "in"), "--scheduler", "local:99999"], 2),
    ):
        program = (
            "import sys; sys.argv = ['spl', *%r]\n"
            "from spleeter_cli.cli.app import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == %d, e.code\n"
            "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'\n"
        ) % (args, code)
        done = run_spl.python(program, timeout=300)
        assert done.returncode == 0, (args, done.stderr)
    assert (tmp_path / "out" / "song0" / "vocals.wav").exists()


def test_unreachable_scheduler_and_bad_values_fail_at_once(run_spl, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_songs(inputs, 1, 1.0)
    started = time.monotonic()
    done = run_spl("batch", inputs, "-o", tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 30
    [line] = done.stderr.splitlines()
    assert line.startswith("spl: error: cannot reach the Dask scheduler at tcp://127.0.0.1:") and "dask scheduler" in line
    assert not (tmp_path / "out").exists()
    for value in (
        "local:0",
        "local:two",
        "nowhere",
        "ws://127.0.0.1:8786",
        "tls://127.0.0.1:8786",
        "tcp://[::1",
        "tcp://host:99999",
        "tcp://me:s3cretpw@host:8786",
    ):
        bad = run_spl("batch", inputs, "-o", tmp_path / "out", "--scheduler", value)
        assert bad.returncode == 2 and bad.stderr.startswith("spl: error: ") and len(bad.stderr.splitlines()) == 1, (value, bad.stderr)
        assert "internal error" not in bad.stderr and "s3cretpw" not in bad.stderr, bad.stderr


@contextmanager
def not_a_scheduler(reply: bytes | None) -> Iterator[str]:
    """A TCP server on loopback that sends ``reply`` to each connection and closes it, or, given None,
    accepts and never says a word (as an HTTP server does, waiting for a request)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if reply is None:
                held.append(conn)
            else:
                with conn:
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        for conn in [*held, server]:
            conn.close()


@pytest.mark.parametrize(
    "reply, why",
    [(b"HTTP/1.1 400 Bad Request\r\n\r\n", "its reply is not Dask's protocol"), (None, "did not complete Dask's handshake within 5 s")],
    ids=["junk", "silent"],
)
def test_an_address_where_something_else_answers_is_a_usage_error(run_spl, tmp_path: Path, reply: bytes | None, why: str) -> None:
    """Dask's Client alone reads junk as a frame count (MemoryError, exit 1, a traceback at exit) or waits forever on silence."""
    inputs = tmp_path / "in"
    write_songs(inputs, 1, 1.0)
    with not_a_scheduler(reply) as address:
        started = time.monotonic()
        done = run_spl("batch", inputs, "-o", tmp_path / "out", "--scheduler", address, timeout=120)
        elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert elapsed < 30, elapsed  # about 5 s when silent, at once for junk
    [line] = done.stderr.splitlines()  # one line: no traceback, no "Exception ignored in: Client.__del__"
    assert line.startswith(f"spl: error: {address} does not answer like a Dask scheduler: ") and why in line, line
    assert "running `dask scheduler`" in line, line
    assert not (tmp_path / "out").exists() and sorted(p.name for p in inputs.iterdir()) == ["song0.wav"]


def test_a_worker_address_is_not_taken_for_the_scheduler(run_spl, tmp_path: Path) -> None:
    """A worker speaks Dask too; given its address, Dask's Client fails with a TypeError and a traceback at exit."""
    write_songs(tmp_path / "in", 1, 1.0)
    with distributed.LocalCluster(n_workers=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None) as local:
        [worker] = [w.address for w in local.workers.values()]
        done = run_spl("batch", tmp_path / "in", "-o", tmp_path / "out", "--scheduler", worker, timeout=120)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"spl: error: {worker} does not answer like a Dask scheduler: it is a Dask worker, not the scheduler"), line
    assert not (tmp_path / "out").exists()


def test_more_local_workers_than_the_machine_can_run_is_a_usage_error(run_spl, tmp_path: Path) -> None:
    """local:99999 used to start 99999 worker processes, silently, for minutes."""
    write_songs(tmp_path / "in", 1, 1.0)
    bound = 4 * (os.cpu_count() or 1)
    for count in (bound + 1, 99999):
        started = time.monotonic()
        done = run_spl("batch", tmp_path / "in", "-o", tmp_path / "out", "--scheduler", f"local:{count}", timeout=120)
        assert done.returncode == 2, done.stderr
        assert time.monotonic() - started < 30
        [line] = done.stderr.splitlines()
        assert line.startswith(f"spl: error: --scheduler 'local:{count}': at most {bound} local workers on this machine"), line
        assert f"not {count}" in line and f"use local:N with N <= {bound}" in line, line
        assert not (tmp_path / "out").exists()


def test_a_worker_killed_mid_task_has_its_input_rescheduled(run_spl, cluster, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_songs(inputs, 6, 12.0)
    out, report = tmp_path / "out", tmp_path / "report.json"
    with distributed.Client(cluster, set_as_default=False) as client:
        workers = set(client.run(os.getpid).values())
    process = run_spl.start("batch", inputs, "-o", out, "--no-cache", "--report", report, "--scheduler", cluster.scheduler_address)
    # A worker is mid-task once one of its temporaries exists (named after the writing process).
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and process.poll() is None:
        writing = {int(p.name.rsplit("-", 1)[1]) for p in out.rglob(".*.part-*")} if out.exists() else set()
        victim = next(iter(writing & workers), None)
        time.sleep(0.01)
    assert victim is not None, "no worker was seen writing"
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    document = json.loads(report.read_text())
    assert {r["status"] for r in document["inputs"]} == {"ok"} and document["summary"]["ok"] == 6
    assert stems_under(out) == sorted(f"song{i}/{s}.wav" for i in range(6) for s in ("accompaniment", "vocals"))
    for path in out.rglob("*.wav"):
        assert sf.info(path).frames == 12 * RATE, path
    assert not [p for p in out.rglob(".*") if p.is_file() and not is_record(p)]  # the killed worker's temporary was cleaned up


def start_worker(address: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A `dask worker` process, as another machine would run it (its own disk cache)."""
    dask = Path(sys.executable).with_name("dask")
    with open(log, "wb") as output:
        return subprocess.Popen(
            [str(dask), "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_workers_share_stems_through_redis(run_spl, models_dir: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_songs(inputs, 3, 4.0)
    with (
        RedisServer(tmp_path / "redis") as server,
        distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as scheduler,
        distributed.Client(scheduler, set_as_default=False) as client,
    ):
        first = start_worker(scheduler.scheduler_address, worker_env(models_dir, tmp_path / "cache-a"), tmp_path / "a.log")
        try:
            client.wait_for_workers(1, timeout=120)
            computed = run_spl(
                "batch",
                inputs,
                "-o",
                tmp_path / "a",
                "--redis-url",
                server.url,
                "--report",
                tmp_path / "a.json",
                "--scheduler",
                scheduler.scheduler_address,
            )
            assert computed.returncode == 0, computed.stderr
        finally:
            first.terminate()
            first.wait(60)
        second = start_worker(scheduler.scheduler_address, worker_env(models_dir, tmp_path / "cache-b"), tmp_path / "b.log")
        try:
            deadline = time.monotonic() + 120
            while len(client.nthreads()) != 1 and time.monotonic() < deadline:  # the first has left, the second joined
                time.sleep(0.1)
            client.wait_for_workers(1, timeout=120)
            served = run_spl(
                "batch",
                inputs,
                "-o",
                tmp_path / "b",
                "--redis-url",
                server.url,
                "--report",
                tmp_path / "b.json",
                "--scheduler",
                scheduler.scheduler_address,
            )
            assert served.returncode == 0, served.stderr
            assert list(client.run(lambda: "tensorflow" in sys.modules).values()) == [False]  # the second worker never needed it
        finally:
            second.terminate()
            second.wait(60)
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert {r["cache"] for r in one["inputs"]} == {None} and one["summary"]["model_loaded"] is True
    assert {r["cache"] for r in two["inputs"]} == {"redis"} and two["summary"]["model_loaded"] is False
    assert stems_under(tmp_path / "a") == stems_under(tmp_path / "b")
    for name in stems_under(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_python_api_on_a_local_cluster(models_dir: Path, tmp_path: Path) -> None:
    from spleeter_cli import AudioProcessingError, SpleeterCluster, ValidationError

    inputs = write_songs(tmp_path / "in", 2, 3.0, broken=True)
    with pytest.raises(ValidationError, match="cannot reach the Dask scheduler"):
        SpleeterCluster(f"tcp://127.0.0.1:{free_port()}", timeout=2)
    with SpleeterCluster("local:2", tmp_path / "out", models_dir=models_dir, cache_dir=tmp_path / "cache") as cluster:
        results = cluster.separate_distributed([*inputs, tmp_path / "in" / "broken.flac"], "spleeter:2stems", codec="flac")
    assert [r.status for r in results] == ["ok", "ok", "failed"]
    for source, result in zip(inputs, results[:2], strict=True):  # the third is the broken input
        assert result.input == source and set(result.output_files) == {"vocals", "accompaniment"}
        for path in result.output_files.values():
            assert path.suffix == ".flac" and sf.info(path).frames == 3 * RATE
    assert isinstance(results[2].error, AudioProcessingError) and results[2].error.context["path"] == str(tmp_path / "in" / "broken.flac")


def test_a_scheduler_lost_mid_batch_fails_the_unfinished_inputs_clearly(run_spl, models_dir: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_songs(inputs, 6, 12.0)
    out, port = tmp_path / "out", free_port()
    dask = Path(sys.executable).with_name("dask")
    scheduler = subprocess.Popen(
        [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = start_worker(f"tcp://127.0.0.1:{port}", worker_env(models_dir, tmp_path / "worker-cache"), tmp_path / "worker.log")
    try:
        with distributed.Client(f"tcp://127.0.0.1:{port}", timeout=60, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=120)
        process = run_spl.until_first_stem("batch", inputs, "-o", out, "--no-cache", "--scheduler", f"tcp://127.0.0.1:{port}", out=out)
        scheduler.kill()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        for child in (scheduler, worker):
            child.kill()
            child.wait(60)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "connection to the Dask scheduler at tcp://127.0.0.1" in stderr, stderr
    finished = {p.parent.name for p in out.glob("*/vocals.wav")}
    assert 1 <= len(finished) < 6
    for path in out.rglob("*.wav"):
        assert sf.info(path).frames == 12 * RATE, path  # whatever was written is whole
