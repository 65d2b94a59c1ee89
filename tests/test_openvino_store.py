"""The OpenVINO IR as part of the installed model: built at install, checked, rebuilt, never TensorFlow at run time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from conftest import song

from spleeter_cli.models.backend import openvino_version
from spleeter_cli.models.ir import IR_FILES
from spleeter_cli.models.sources import sha256_file

REBUILDING = "rebuilding the OpenVINO model of spleeter:2stems"


@pytest.fixture
def own_models(models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's installed 2stems, free to damage."""
    copy = tmp_path / "models"
    shutil.copytree(models_dir / "2stems", copy / "2stems")
    return copy


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    sf.write(path, song(6.0, seed=4), 44100)
    return path


def manifest(models: Path) -> dict:
    return json.loads((models / "2stems" / "manifest.json").read_text())


def edit_manifest(models: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = manifest(models)
    change(data)
    (models / "2stems" / "manifest.json").write_text(json.dumps(data))


def assert_ir_recorded(models: Path) -> None:
    section = manifest(models)["openvino"]
    assert section["version"] == openvino_version()
    assert sorted(section["files"]) == sorted(IR_FILES)
    for name, entry in section["files"].items():
        assert sha256_file(models / "2stems" / name) == entry["sha256"], name


def test_install_builds_the_ir(models_dir: Path) -> None:
    """The session's models dir was installed by the real store (package-index fallback): its IR came with it."""
    assert_ir_recorded(models_dir)
    assert not set(manifest(models_dir)["files"]) & set(IR_FILES)  # the weights' digest (cache keys) covers the checkpoint only


@pytest.mark.slow
def test_verify_rebuilds_a_damaged_ir(run_spl, own_models: Path) -> None:
    weights = own_models / "2stems" / "openvino.bin"
    with weights.open("r+b") as file:  # same size, other bytes: only the hash can tell
        file.seek(4096)
        file.write(b"\xff" * 64)
    done = run_spl("models", "verify", env={"SPLEETER_MODELS_DIR": str(own_models)})
    assert done.returncode == 0, done.stderr
    assert f"{REBUILDING}: openvino.bin changed since it was built" in done.stdout
    assert "2stems: ok" in done.stdout
    assert_ir_recorded(own_models)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda m: (m / "2stems" / "openvino.xml").unlink(), "its files are missing or damaged"),
        (
            lambda m: edit_manifest(m, lambda d: d["openvino"].update(version="2021.4.2")),
            f"it was built by OpenVINO 2021.4.2, this is {openvino_version()}",
        ),
        (lambda m: edit_manifest(m, lambda d: d.pop("openvino")), "it was never built"),  # a model installed before the IR existed
    ],
    ids=["missing-file", "other-openvino-version", "never-built"],
)
def test_first_use_rebuilds_with_one_line(run_spl, own_models: Path, clip: Path, tmp_path: Path, damage, reason: str) -> None:
    damage(own_models)
    done = run_spl("separate", clip, "-o", tmp_path / "out", "--no-cache", env={"SPLEETER_MODELS_DIR": str(own_models)})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(REBUILDING) == 1 and f"{REBUILDING}: {reason}" in done.stderr
    assert_ir_recorded(own_models)
    again = run_spl("separate", clip, "-o", tmp_path / "again", "--no-cache", env={"SPLEETER_MODELS_DIR": str(own_models)})
    assert again.returncode == 0 and REBUILDING not in again.stderr


@pytest.mark.slow
def test_two_processes_on_first_use_build_once(run_spl, own_models: Path, clip: Path, tmp_path: Path) -> None:
    edit_manifest(own_models, lambda d: d.pop("openvino"))
    runs = [
        run_spl.start("separate", clip, "-o", tmp_path / f"out{i}", "--no-cache", env={"SPLEETER_MODELS_DIR": str(own_models)})
        for i in range(2)
    ]
    outcomes = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    assert sum(stderr.count(REBUILDING) for _, stderr in outcomes) == 1  # the second waited for the lock, then found it built
    assert_ir_recorded(own_models)
    assert not list(own_models.glob(".tmp-*"))


@pytest.mark.slow
def test_openvino_run_never_imports_tensorflow_nor_phones_home(run_spl, clip: Path, tmp_path: Path) -> None:
    """A real `spl separate` in its own process; what it imported is read from sys.modules at exit.

    OpenVINO's usage telemetry would load ``openvino_telemetry`` and write a client id under ``~/intel``.
    """
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('RUNTIMES', sorted({m.split('.')[0] for m in sys.modules if sys.modules[m] is not None}"
        " & {'tensorflow', 'keras', 'openvino', 'openvino_telemetry'})))\n"
        f"sys.argv = ['spl', 'separate', {str(clip)!r}, '-o', {str(tmp_path / 'out')!r}, '--no-cache', '--mwf']\n"
        "from spleeter_cli.cli.app import main\nmain()\n"
    )
    done = run_spl.python(code, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "RUNTIMES ['openvino']" in done.stdout
    assert (tmp_path / "out" / "clip" / "vocals.wav").is_file()
    assert not (run_spl.home / "intel").exists()
