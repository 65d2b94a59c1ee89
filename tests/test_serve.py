"""`spl serve` through a real server process and a real HTTP client: results, security, errors, metrics.

One server (token set, 2 MB upload limit) serves the module; the tests that need a server of
their own (queue, crashes, signals) are in test_serve_lifecycle.py.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import BROKEN_FLAC, DATA, RATE, song, spl_runner, write_songs
from redis_server import free_port
from serve_process import SplServer

pytestmark = pytest.mark.slow
MAX_UPLOAD_MB = 2


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplServer]:
    spl = spl_runner(tmp_path_factory, models_dir)
    with SplServer(tmp_path_factory.mktemp("serve") / "data", spl, "--max-upload", str(MAX_UPLOAD_MB), "--jobs", "2") as running:
        yield running
    spl.close()


def distinct_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` songs that differ in content (none is a cache hit for another)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        paths.append(folder / f"distinct{index}.wav")
        sf.write(paths[-1], song(seconds, index) * (0.5 + 0.05 * index), RATE)
    return paths


def test_stems_are_the_bytes_spl_separate_writes(server: SplServer, run_spl, tmp_path: Path) -> None:
    [source] = write_songs(tmp_path / "in", 1, 8.0)
    options = {"codec": "flac", "bit_depth": 24, "offset": 1, "duration": 6}
    response = server.upload(source, **options)
    assert response.status_code == 202, response.text
    created = response.json()
    assert response.headers["location"] == created["url"] == f"/v1/jobs/{created['id']}"
    job = server.finished(created["id"])
    assert job["status"] == "done", job
    assert job["result"]["audio_duration"] == pytest.approx(6.0, abs=0.01)
    local = run_spl("separate", source, "-o", tmp_path / "local", "-c", "flac", "--bit-depth", "24", "--offset", "1", "--duration", "6")
    assert local.returncode == 0, local.stderr
    assert [stem["instrument"] for stem in job["stems"]] == ["vocals", "accompaniment"]
    for stem in job["stems"]:
        expected = (tmp_path / "local" / "song0" / f"{stem['instrument']}.flac").read_bytes()
        got = server.http.get(stem["url"])
        assert got.status_code == 200 and got.content == expected, stem["instrument"]
        assert got.headers["content-type"] == "audio/flac" and int(got.headers["content-length"]) == len(expected) == stem["size"]
        assert got.headers["etag"] == f'"{stem["sha256"]}"'
        part = server.http.get(stem["url"], headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == expected[100:1100]
        assert server.http.get(stem["url"], headers={"If-None-Match": got.headers["etag"]}).status_code == 304
    archive = zipfile.ZipFile(io.BytesIO(server.http.get(job["zip_url"]).content))
    assert sorted(archive.namelist()) == ["accompaniment.flac", "vocals.flac"]
    assert archive.read("vocals.flac") == (tmp_path / "local" / "song0" / "vocals.flac").read_bytes()


def test_wait_holds_the_upload_until_done_and_a_reupload_is_a_cache_hit(server: SplServer, tmp_path: Path) -> None:
    [source] = write_songs(tmp_path, 1, 5.0, name="again{}.wav")
    first = server.upload(source, wait=120)
    assert first.status_code == 200 and first.json()["status"] == "done", first.text
    second = server.upload(source, wait=120).json()
    assert second["result"]["cache"] == "memory" and second["result"]["backend"] is None
    assert [s["sha256"] for s in second["stems"]] == [s["sha256"] for s in first.json()["stems"]]


def test_every_endpoint_but_healthz_needs_the_token(server: SplServer) -> None:
    for headers in ({}, SplServer.auth("wrong-token"), {"Authorization": "Basic c2VjcmV0LXRva2Vu"}):
        anonymous = httpx.Client(base_url=server.url, headers=headers)
        for method, path in (
            ("GET", "/v1/models"),
            ("GET", "/metrics"),
            ("GET", "/readyz"),
            ("GET", "/docs"),
            ("GET", "/openapi.json"),
            ("GET", "/v1/jobs/abc"),
            ("POST", "/v1/jobs"),
            ("DELETE", "/v1/jobs/abc"),
            ("GET", "/no/such/path"),
        ):
            answer = anonymous.request(method, path)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["www-authenticate"].startswith("Bearer") and "bearer token" in answer.json()["detail"]
        assert anonymous.get("/healthz").json() == {"status": "ok"}
    schema = server.http.get("/openapi.json").json()
    form = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and {"model", "stems", "codec", "offset", "mwf", "backend"} <= set(form["properties"])
    assert server.http.get("/docs").status_code == 200


def test_upload_over_the_limit_is_413_and_leaves_nothing(server: SplServer, tmp_path: Path) -> None:
    [big] = write_songs(tmp_path, 1, 19.0, name="big{}.wav")  # 3.3 MB
    answer = server.upload(big)
    assert answer.status_code == 413 and f"{MAX_UPLOAD_MB} MB" in answer.json()["detail"]
    assert list((server.data_dir / "uploads").iterdir()) == []


@pytest.mark.parametrize("name", ["broken.flac", "noise.mp3", "empty.wav", "truncated.flac"])
def test_bad_audio_is_422_with_the_message_spl_separate_prints(server: SplServer, run_spl, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    flac = (DATA / "song3" / "mixture.flac").read_bytes()
    contents = {
        "broken.flac": BROKEN_FLAC,
        "noise.mp3": np.random.default_rng(1).bytes(50_000),
        "empty.wav": b"",
        "truncated.flac": flac[: len(flac) // 3],
    }
    path.write_bytes(contents[name])
    answer = server.upload(path, wait=120)  # a truncated file is found out while decoding: the job fails, the wait answers 422
    assert answer.status_code == 422, answer.text
    body = answer.json()
    message = body["detail"] if "detail" in body else body["error"]["detail"]
    local = run_spl("separate", name, "-o", tmp_path / "out", cwd=tmp_path)
    assert local.returncode == 3 == (body.get("exit_code") or body["error"]["exit_code"])
    assert local.stderr.strip().splitlines()[-1] == f"spl: error: {message}"


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"stems": "3"}, "stems"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "nan"}, "offset"),
        ({"bit_depth": "abc"}, "bit_depth"),
        ({"codec": "../../etc/passwd"}, "codec"),
        ({"model": "../../../etc/passwd"}, "model"),
        ({"bitrate": "../x"}, "bitrate"),
        ({"backend": "../tensorflow"}, "backend"),
        ({"precision": "/etc/passwd"}, "precision"),
        ({"filename_format": "../{instrument}"}, "filename_format"),
        ({"output": "/tmp"}, "output"),
        ({"codec": "flac", "bit_depth": "32"}, "FLAC"),
        ({"denoise_strength": "2"}, "denoise"),
    ],
)
def test_bad_options_are_422_naming_the_field(server: SplServer, tmp_path: Path, fields: dict[str, str], named: str) -> None:
    [source] = write_songs(tmp_path, 1, 1.0)
    before = sorted((server.data_dir / "jobs").iterdir())
    answer = server.upload(source, **fields)
    assert answer.status_code == 422 and named in answer.json()["detail"], answer.text
    assert answer.json()["exit_code"] == 2
    assert sorted((server.data_dir / "jobs").iterdir()) == before


def test_names_and_ids_from_the_client_are_never_paths(server: SplServer, tmp_path: Path) -> None:
    [source] = write_songs(tmp_path, 1, 1.0)
    marker = f"spl-escape-{uuid.uuid4().hex}"
    for given in (f"../../../../{marker}.wav", f"..\\..\\{marker}.wav", f"/tmp/{marker}.wav", f"{marker}/../../x.wav"):
        job = server.upload(source, wait=120, filename=given).json()
        assert job["status"] == "done" and "/" not in job["filename"] and "\\" not in job["filename"], job
    root = server.data_dir.parent.parent
    assert not list(root.rglob(f"*{marker}*")) and not list(Path("/tmp").glob(f"{marker}*"))
    assert sorted(p.name for p in (server.data_dir / "jobs" / job["id"]).rglob("*") if not p.name.startswith(".")) == [
        "accompaniment.wav",
        "input.wav",
        "stems",
        "vocals.wav",
    ]
    for path in (
        f"/v1/jobs/{job['id']}/stems/..%2F..%2Fjobs.db",
        f"/v1/jobs/{job['id']}/stems/..%2Finput.wav",
        f"/v1/jobs/{job['id']}/stems/%2e%2e",
        "/v1/jobs/..%2F..%2Fjobs.db",
        "/v1/jobs/%2e%2e%2fjobs.db/stems.zip",
        f"/v1/jobs/{job['id']}%2F..%2F..%2Fjobs.db",
    ):
        assert server.http.get(path).status_code == 404, path
    assert server.http.delete("/v1/jobs/..%2Fjobs").status_code == 404
    assert (server.data_dir / "jobs.db").exists() and (server.data_dir / "jobs" / job["id"] / "input.wav").exists()


def test_unknown_jobs_and_stems_are_404_and_delete_removes_a_finished_job(server: SplServer, tmp_path: Path) -> None:
    assert server.http.get("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert server.http.get("/v1/jobs/not-an-id/stems.zip").status_code == 404
    [source] = write_songs(tmp_path, 1, 1.0)
    job = server.upload(source, wait=120).json()
    answer = server.http.get(f"{job['url']}/stems/drums")
    assert answer.status_code == 404 and "vocals, accompaniment" in answer.json()["detail"]
    assert server.http.delete(job["url"]).status_code == 204
    assert server.http.get(job["url"]).status_code == 404 and not (server.data_dir / "jobs" / job["id"]).exists()


def test_eight_concurrent_uploads_share_one_model_load(server: SplServer, tmp_path: Path) -> None:
    songs = distinct_songs(tmp_path, 8, 5.0)
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda path: server.upload(path), songs))
    assert all(answer.status_code == 202 for answer in created), [a.text for a in created]
    jobs = [server.finished(answer.json()["id"]) for answer in created]
    assert [job["status"] for job in jobs] == ["done"] * 8
    assert all(job["result"]["cache"] is None and job["result"]["backend"] == "openvino" for job in jobs)
    assert len({job["stems"][0]["sha256"] for job in jobs}) == 8
    metrics = server.metrics()
    assert metrics['spl_models_loaded{model="spleeter:2stems"}'] == 1
    assert len([name for name in metrics if name.startswith("spl_models_loaded")]) == 1
    assert metrics['spl_files_processed_total{status="ok"}'] >= 8
    assert metrics['spl_http_requests_total{method="POST",route="/v1/jobs",status="202"}'] >= 8
    assert metrics['spl_http_request_duration_seconds_count{method="GET",route="/v1/jobs/{job_id}"}'] >= 8
    assert 'spl_stage_seconds_bucket{le="+Inf",stage="separate"}' in metrics and "spl_rss_bytes" in metrics


def test_models_health_and_readiness(server: SplServer) -> None:
    models = server.http.get("/v1/models").json()
    assert models["backend"] == "openvino" and models["default"] == "spleeter:2stems"
    two = next(m for m in models["models"] if m["name"] == "spleeter:2stems")
    assert two == {"name": "spleeter:2stems", "instruments": ["vocals", "accompaniment"], "installed": True, "loaded": True}
    ready = {"status": "ready", "queued": 0, "running": 0, "workers": 2, "queue_limit": 64, "redis": None}  # the load, for balancers
    assert server.http.get("/readyz").json() == ready


def test_only_spl_serve_imports_fastapi_and_uvicorn(run_spl) -> None:
    """`spl --help` and every other command answer without the web framework."""
    for args in (
        ["--help"],
        ["separate", "--help"],
        ["batch", "--help"],
        ["serve", "--help"],
        ["config", "show"],
        ["models", "list"],
        ["cache", "stats"],
    ):
        code = (
            "import sys; sys.argv = ['spl', *%r]\n"
            "from spleeter_cli.cli.app import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "web = [m for m in ('fastapi', 'uvicorn', 'starlette', 'python_multipart') if m in sys.modules]\n"
            "assert not web, web\n"
        ) % (args,)
        done = run_spl.python(code)
        assert done.returncode == 0, (args, done.stderr)


def test_refuses_what_it_should_not_serve(server: SplServer, run_spl) -> None:
    exposed = run_spl("serve", "--host", "0.0.0.0", "--port", "1")
    assert exposed.returncode == 2
    assert "refusing to serve beyond this machine without a token" in exposed.stderr and "--insecure" in exposed.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = run_spl("serve", "--port", str(taken.getsockname()[1]), "--data-dir", server.data_dir.parent / "other")
    assert busy.returncode == 2 and "is already in use" in busy.stderr, busy.stderr
    shared = run_spl("serve", "--port", str(free_port()), "--data-dir", server.data_dir)
    assert shared.returncode == 2 and "is in use by another `spl serve`" in shared.stderr, shared.stderr
    assert all("Traceback" not in done.stderr for done in (exposed, busy, shared))


def test_config_show_lists_the_server_settings_with_the_token_hidden(run_spl) -> None:
    shown = run_spl("config", "show", env={"SPLEETER_SERVER_TOKEN": "hunter2", "SPLEETER_SERVER_PORT": "9000"})
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" not in shown.stdout
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith("server.")}
    assert set(lines) == {
        "server.host",
        "server.port",
        "server.data_dir",
        "server.max_upload_mb",
        "server.retention_seconds",
        "server.queue",
        "server.grace_seconds",
        "server.token",
        "server.token_file",
        "server.insecure",
    }
    assert '"****"  (env SPLEETER_SERVER_TOKEN)' in lines["server.token"] and "9000  (env SPLEETER_SERVER_PORT)" in lines["server.port"]


def test_the_deploy_files_run_the_service_and_their_probes_work(server: SplServer) -> None:
    import shlex

    import yaml

    root = Path(__file__).parent.parent
    dockerfile = (root / "deploy" / "Dockerfile").read_text()
    assert 'CMD ["spl", "serve", "--host", "0.0.0.0"]' in dockerfile
    documents = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all((root / "deploy" / "kubernetes.yaml").read_text())}
    deployment = documents["Deployment", "spleeter-service"]["spec"]
    assert deployment["replicas"] == 3
    [container] = deployment["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["SPLEETER_SERVER_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "spleeter-service-token"
    assert env["SPLEETER_REDIS_URL"]["value"] == "redis://redis:6379/0"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert documents["Service", "spleeter-service"]["spec"]["selector"] == {"app": "spleeter-service"}
    # the probes, run as the kubelet and docker would run them, against a real server
    readiness = [part.replace(":8080/", f":{server.port}/") for part in container["readinessProbe"]["exec"]["command"]]
    for token, code in ((server.token, 0), ("wrong", 1)):
        probe = subprocess.run(
            [sys.executable if part == "python" else part for part in readiness],
            capture_output=True,
            env={"SPLEETER_SERVER_TOKEN": token or ""},
        )
        assert probe.returncode == code, probe.stderr
    healthcheck = dockerfile.split("HEALTHCHECK CMD ", 1)[1].splitlines()[0].replace(":8080/", f":{server.port}/")
    assert subprocess.run([sys.executable, *shlex.split(healthcheck)[1:]]).returncode == 0
