"""`spl separate --server` and `spl batch --server`: the same files, messages and exit codes as local runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BROKEN_FLAC, spl_runner, write_songs
from serve_process import SplServer

pytestmark = pytest.mark.slow
TOKEN = "remote-token"


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplServer]:
    spl = spl_runner(tmp_path_factory, models_dir)
    with SplServer(tmp_path_factory.mktemp("remote") / "data", spl, token=TOKEN) as running:
        yield running
    spl.close()


def tree(root: Path) -> dict[str, bytes]:
    """Every stem under ``root`` by relative path (provenance records hold mtimes, so only their names count)."""
    return {
        str(p.relative_to(root)): b"" if p.name.endswith(".spl.json") else p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_separate_on_the_server_writes_what_a_local_run_writes(server: SplServer, run_spl, tmp_path: Path) -> None:
    songs = write_songs(tmp_path / "in", 2, 6.0)
    options = ["-c", "flac", "--offset", "1", "--duration", "4", "-f", "{filename}-{instrument}.{codec}", "--json"]
    remote = run_spl("separate", *songs, "-o", tmp_path / "remote", *options, "--server", server.url, "--token", TOKEN)
    local = run_spl("separate", *songs, "-o", tmp_path / "local", *options)
    assert remote.returncode == local.returncode == 0, remote.stderr
    assert tree(tmp_path / "remote") == tree(tmp_path / "local") and len(tree(tmp_path / "local")) == 8
    lines = [json.loads(line) for line in remote.stdout.splitlines()]
    assert [line["outputs"]["vocals"] for line in lines] == [str(tmp_path / "remote" / f"song{n}-vocals.flac") for n in range(2)]
    assert all(line["status"] == "ok" and line["audio_duration"] == pytest.approx(4.0, abs=0.01) for line in lines)
    assert list((server.data_dir / "jobs").iterdir()) == []  # each job was deleted once its stems were here

    again = run_spl("separate", songs[0], "-o", tmp_path / "remote", *options, "--server", server.url, env={"SPLEETER_SERVER_TOKEN": TOKEN})
    again_local = run_spl("separate", songs[0], "-o", tmp_path / "local", *options)
    assert again.returncode == again_local.returncode == 5
    assert again.stderr.replace("remote", "local") == again_local.stderr

    (tmp_path / "broken.flac").write_bytes(BROKEN_FLAC)
    bad = run_spl("separate", "broken.flac", "-o", "out", "--server", server.url, "--token", TOKEN, cwd=tmp_path)
    bad_local = run_spl("separate", "broken.flac", "-o", "out", cwd=tmp_path)
    assert bad.returncode == bad_local.returncode == 3 and bad.stderr == bad_local.stderr

    refused = run_spl("separate", songs[0], "-o", tmp_path / "x", "--server", server.url, "--token", "wrong")
    assert refused.returncode == 2 and "refused the token" in refused.stderr
    gone = run_spl("separate", songs[0], "-o", tmp_path / "x", "--server", "http://127.0.0.1:1", "--token", TOKEN)
    assert gone.returncode == 2 and "cannot reach the spl server at http://127.0.0.1:1" in gone.stderr


def test_batch_on_the_server_writes_what_a_local_batch_writes_and_resumes(server: SplServer, run_spl, tmp_path: Path) -> None:
    write_songs(tmp_path / "lib" / "a", 2, 5.0)
    write_songs(tmp_path / "lib" / "b", 1, 5.0, name="other{}.wav", broken=True)
    args = ["--keep-tree", "-c", "wav", "--bit-depth", "24", "--jobs", "3"]
    remote = run_spl("batch", tmp_path / "lib", "-o", tmp_path / "remote", *args, "--server", server.url, "--token", TOKEN)
    local = run_spl("batch", tmp_path / "lib", "-o", tmp_path / "local", *args)
    assert remote.returncode == local.returncode == 1  # the broken file fails alone
    assert tree(tmp_path / "remote") == tree(tmp_path / "local") and len(tree(tmp_path / "local")) == 12
    error = [line for line in remote.stderr.splitlines() if "broken.flac" in line]
    assert error == [line for line in local.stderr.splitlines() if "broken.flac" in line] and error[0].startswith("spl: error: ")

    uploads = server.metrics()['spl_http_requests_total{method="POST",route="/v1/jobs",status="202"}']
    rerun = run_spl("batch", tmp_path / "lib", "-o", tmp_path / "remote", *args, "--server", server.url, "--token", TOKEN)
    assert rerun.returncode == 1 and rerun.stdout.count("already done, skipped") == 3, rerun.stdout
    assert server.metrics()['spl_http_requests_total{method="POST",route="/v1/jobs",status="202"}'] == uploads  # nothing uploaded again
    both = run_spl("batch", tmp_path / "lib", "-o", tmp_path / "x", "--server", server.url, "--scheduler", "local:1")
    assert both.returncode == 2 and "cannot be combined" in both.stderr


def test_a_remote_run_imports_no_web_framework(server: SplServer, run_spl, tmp_path: Path) -> None:
    [source] = write_songs(tmp_path, 1, 2.0)
    code = (
        "import sys; sys.argv = ['spl', 'separate', %r, '-o', %r, '--server', %r, '--token', %r, '-q']\n"
        "from spleeter_cli.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "web = [m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx', 'openvino', 'tensorflow') if m in sys.modules]\n"
        "assert not web, web\n"
    ) % (str(source), str(tmp_path / "out"), server.url, TOKEN)
    done = run_spl.python(code)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "song0" / "vocals.wav").exists()
