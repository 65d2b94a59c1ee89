"""The configuration layer: defaults < file < environment < flags, sources, and every error path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Spl, isolated_environ

from spleeter_cli.config import FIELDS, defaults, find_config, load_config
from spleeter_cli.errors import ValidationError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yaml"


@pytest.fixture(autouse=True)
def private_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process loads look for the user config file in this test's own folder, tmp_path/xdg."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The isolated environment, with the user config folder in-process loads use here (tmp_path/xdg)."""
    return isolated_environ(tmp_path / "home", XDG_CONFIG_HOME=tmp_path / "xdg", **extra)


def spl(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return Spl(Path(env["HOME"]), env)(*args, timeout=60)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- precedence and sources ------------------------------------------------------------------


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    settings = load_config(env=clean_env(tmp_path))
    assert settings.file is None
    assert settings.cache.disk_mb == 10240 and settings.audio.codec == "wav" and settings.performance.jobs is None
    assert settings.monitoring.alerts.error_rate is None
    assert all(settings.source(f.key) == "default" for f in FIELDS)


def test_file_then_env_then_flag(tmp_path: Path) -> None:
    path = write(
        tmp_path, "cache:\n  disk_mb: 100\n  dir: /from/file\naudio:\n  codec: FLAC\nmonitoring:\n  alerts:\n    error_rate: 0.5\n"
    )
    env = clean_env(tmp_path, SPLEETER_CACHE_DIR="/from/env")
    settings = load_config(path, env)
    assert settings.cache.disk_mb == 100 and settings.source("cache.disk_mb") == str(path)
    assert settings.audio.codec == "flac"
    assert settings.monitoring.alerts.error_rate == 0.5 and settings.source("monitoring.alerts.error_rate") == str(path)
    assert settings.cache.dir == Path("/from/env") and settings.source("cache.dir") == "env SPLEETER_CACHE_DIR"
    assert settings.cache.memory_mb == 512 and settings.source("cache.memory_mb") == "default"

    flagged = settings.with_overrides(cache_dir=Path("/from/flag"), codec="mp3", jobs=None, metrics_port=9100)
    assert flagged.cache.dir == Path("/from/flag") and flagged.source("cache.dir") == "flag --cache-dir"
    assert flagged.audio.codec == "mp3" and flagged.source("audio.codec") == "flag --codec"
    assert flagged.monitoring.metrics_port == 9100 and flagged.source("monitoring.metrics_port") == "flag --metrics-port"
    assert flagged.performance.jobs is None and flagged.source("performance.jobs") == "default"  # None = flag not given
    assert settings.cache.dir == Path("/from/env")  # the original is unchanged
    with pytest.raises(ValidationError, match=r"--jobs must be a positive integer, not 0"):
        settings.with_overrides(jobs=0)


def test_env_values_of_every_kind(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        SPLEETER_ENABLE_GPU="off",
        SPLEETER_AUTO_DOWNLOAD="no",
        SPLEETER_ENABLE_MONITORING="YES",
        SPL_HISTORY="0",
        SPLEETER_METRICS_PORT="9100",
        SPLEETER_MODELS_DIR="~/models",
        SPLEETER_REDIS_URL="redis://h:6379/0",
        SPLEETER_ALERT_MEMORY_MB="2048",
        SPLEETER_ALERT_GPU_MEMORY_MB="1000.5",
        SPLEETER_ALERT_ERROR_RATE="0.25",
        SPLEETER_GITHUB_HOST="http://mirror.local",
        SPLEETER_METRICS_LINGER="2.5",
    )
    s = load_config(env=env)
    assert (s.performance.enable_gpu, s.models.auto_download, s.monitoring.enabled, s.monitoring.history) == (False, False, True, False)
    assert s.monitoring.metrics_port == 9100 and s.models.dir == Path("~/models").expanduser()
    assert s.monitoring.alerts.memory_usage == 2048 and s.monitoring.alerts.gpu_usage == 1000.5 and s.monitoring.alerts.error_rate == 0.25
    assert s.models.github_host == "http://mirror.local" and s.models.github_release == "v1.4.0"
    assert s.monitoring.metrics_linger_seconds == 2.5
    assert s.source("monitoring.history") == "env SPL_HISTORY"
    assert s.source("monitoring.alerts.gpu_usage") == "env SPLEETER_ALERT_GPU_MEMORY_MB"
    assert load_config(env=clean_env(tmp_path, SPLEETER_CACHE_DIR="")).source("cache.dir") == "default"  # empty = unset


def test_as_dict_is_shaped_like_the_file(tmp_path: Path) -> None:
    tree = load_config(env=clean_env(tmp_path)).as_dict()
    assert tree["monitoring"]["alerts"] == {"memory_usage": None, "gpu_usage": None, "error_rate": None}
    assert tree["audio"]["output_dir"] == "separated"
    json.dumps(tree)


def test_example_file_loads_and_equals_the_defaults(tmp_path: Path) -> None:
    """Keeps config.example.yaml in sync: every key present, every value the default."""
    import yaml

    settings = load_config(EXAMPLE, clean_env(tmp_path))
    assert {f.key: settings[f.key] for f in FIELDS} == defaults()
    assert all(settings.source(f.key) == str(EXAMPLE) for f in FIELDS)  # every key is spelled out
    assert yaml.safe_load(EXAMPLE.read_text()) == settings.as_dict()


# --- discovery -------------------------------------------------------------------------------


def test_discovery_order(tmp_path: Path) -> None:
    flag_file, env_file = write(tmp_path, "", "flag.yaml"), write(tmp_path, "", "env.yaml")
    env = clean_env(tmp_path, SPLEETER_CONFIG=str(env_file))
    assert find_config(flag_file, env) == flag_file
    assert find_config(None, env) == env_file
    assert find_config(None, clean_env(tmp_path)) is None
    user = tmp_path / "xdg" / "spl" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("cache:\n  memory_mb: 64\n")
    settings = load_config(env=clean_env(tmp_path))
    assert settings.file == user and settings.cache.memory_mb == 64 and settings.source("cache.memory_mb") == str(user)


def test_spl_config_env_variable_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "audio:\n  bit_depth: 24\n")
    env = clean_env(tmp_path, SPLEETER_CONFIG=str(path))
    assert load_config(env=env).audio.bit_depth == 24
    result = spl("config", "path", env=env)
    assert result.returncode == 0 and result.stdout.strip() == str(path)
    assert spl("config", "path", env=clean_env(tmp_path)).stdout.strip() == "none"


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cache:\n  disk_mb: lots\n", "config.yaml: cache.disk_mb must be a positive integer, not 'lots'"),
        ("cache:\n  disk_mb: 0\n", "cache.disk_mb must be a positive integer, not 0"),
        ("cache:\n  enabled: maybe\n", "cache.enabled must be true or false"),
        ("performance:\n  jobs: true\n", "performance.jobs must be a positive integer or null, not True"),
        ("monitoring:\n  metrics_port: 70000\n", "monitoring.metrics_port must be a port number (1-65535) or null, not 70000"),
        ("monitoring:\n  alerts:\n    error_rate: 1.5\n", "monitoring.alerts.error_rate must be a number between 0 and 1 or null, not 1.5"),
        ("monitoring:\n  alerts:\n    memory_usage: -1\n", "monitoring.alerts.memory_usage must be a non-negative number of megabytes"),
        ("audio:\n  codec: aiff\n", "audio.codec must be one of wav, flac, mp3, ogg, m4a, not 'aiff'"),
        ("audio:\n  bit_depth: 8\n", "audio.bit_depth must be 16, 24 or 32, not 8"),
        ("models:\n  default: spleeter:7stems\n", "models.default must be a known model name"),
        ("cache:\n  redis_url: http://x\n", "cache.redis_url must be a redis://"),
        (
            "cache:\n  sise: 1\n",
            "unknown key 'cache.sise' (allowed in cache: enabled, dir, memory_mb, disk_mb, redis_url, redis_ttl_seconds)",
        ),
        (
            "caches:\n  disk_mb: 1\n",
            "unknown key 'caches' (allowed in the top level: performance, models, cache, audio, limits, monitoring, server)",
        ),
        (
            "monitoring:\n  alerts:\n    cpu: 1\n",
            "unknown key 'monitoring.alerts.cpu' (allowed in monitoring.alerts: memory_usage, gpu_usage, error_rate)",
        ),
        ("cache: 5\n", "cache must be a mapping of keys"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("cache:\n  disk_mb: 1\n  dir: [unclosed\naudio:\n  codec: wav\n", "config.yaml: invalid YAML at line 4"),
    ],
)
def test_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as caught:
        load_config(path, clean_env(tmp_path))
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SPLEETER_METRICS_PORT", "abc", "SPLEETER_METRICS_PORT must be a port number (1-65535), not 'abc'"),
        ("SPLEETER_METRICS_PORT", "0", "SPLEETER_METRICS_PORT must be a port number (1-65535), not '0'"),
        ("SPLEETER_ENABLE_GPU", "sometimes", "SPLEETER_ENABLE_GPU must be true or false (also yes/no, on/off, 1/0), not 'sometimes'"),
        ("SPL_HISTORY", "perhaps", "SPL_HISTORY must be true or false"),
        ("SPLEETER_ALERT_ERROR_RATE", "2", "SPLEETER_ALERT_ERROR_RATE must be a number between 0 and 1, not '2'"),
        ("SPLEETER_ALERT_MEMORY_MB", "much", "SPLEETER_ALERT_MEMORY_MB must be a non-negative number of megabytes, not 'much'"),
        ("SPLEETER_REDIS_URL", "localhost:6379", "SPLEETER_REDIS_URL must be a redis://"),
    ],
)
def test_env_errors(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        load_config(env=clean_env(tmp_path, **{name: value}))


def test_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"nope\.yaml \(from --config\) does not exist"):
        load_config(tmp_path / "nope.yaml", clean_env(tmp_path))
    with pytest.raises(ValidationError, match=r"gone\.yaml \(from SPLEETER_CONFIG\) does not exist"):
        load_config(env=clean_env(tmp_path, SPLEETER_CONFIG=str(tmp_path / "gone.yaml")))


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "# nothing yet\n"), clean_env(tmp_path))
    assert settings.file is not None and all(settings.source(f.key) == "default" for f in FIELDS)


# --- the `spl config` commands, as a user runs them -------------------------------------------


def test_show_lists_every_key_with_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, "cache:\n  disk_mb: 100\n")
    result = spl("config", "show", "--config", path, env=clean_env(tmp_path, SPLEETER_METRICS_PORT="9100"))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if not line.startswith("#")}
    assert set(lines) == {f.key for f in FIELDS}
    assert lines["cache.disk_mb"].split()[1] == "100" and lines["cache.disk_mb"].endswith(f"({path})")
    assert lines["monitoring.metrics_port"].endswith("(env SPLEETER_METRICS_PORT)")
    assert lines["cache.memory_mb"].endswith("(default)")
    assert f"# config file: {path}" in result.stdout


def test_show_json_and_redacts_passwords(tmp_path: Path) -> None:
    path = write(tmp_path, "cache:\n  redis_url: redis://:filesecret@h:6379/0\n")
    result = spl("config", "show", "--config", path, "--json", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "filesecret" not in result.stdout
    data = json.loads(result.stdout)
    assert data["file"] == str(path)
    assert data["settings"]["cache.redis_url"] == {"value": "redis://:****@h:6379/0", "source": str(path)}
    assert data["settings"]["cache.disk_mb"] == {"value": 10240, "source": "default"}
    assert set(data["settings"]) == {f.key for f in FIELDS}

    env = clean_env(tmp_path, SPLEETER_REDIS_URL="redis://user:envsecret@h:6379/0?password=qsecret")
    for args in (("config", "show"), ("config", "show", "--json")):
        shown = spl(*args, env=env)
        assert shown.returncode == 0 and "envsecret" not in shown.stdout + shown.stderr and "qsecret" not in shown.stdout
        assert "user:****@h" in shown.stdout


@pytest.mark.parametrize(
    ("args", "env_extra", "text", "message"),
    [
        (("--config", "{file}"), {}, "cache:\n  disk_mb: lots\n", "cache.disk_mb must be a positive integer, not 'lots'"),
        (("--config", "{file}"), {}, "a: [\n", "invalid YAML at line"),
        (("--config", "{missing}"), {}, "", "does not exist"),
        ((), {"SPLEETER_METRICS_PORT": "abc"}, "", "SPLEETER_METRICS_PORT must be a port number (1-65535), not 'abc'"),
    ],
)
def test_show_errors_are_one_line_exit_2(tmp_path: Path, args: tuple[str, ...], env_extra: dict[str, str], text: str, message: str) -> None:
    path = write(tmp_path, text)
    argv = [a.format(file=path, missing=tmp_path / "missing.yaml") for a in args]
    result = spl("config", "show", *argv, env=clean_env(tmp_path, **env_extra))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("spl: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_show_imports_neither_numpy_nor_tensorflow(tmp_path: Path) -> None:
    """`spl config show` must answer at once: the heavy core stays unimported."""
    code = (
        "import sys\nfrom spleeter_cli.cli.app import app\n"
        "try:\n    app(['config', 'show', '--config', sys.argv[1]])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('numpy', 'tensorflow') if m in sys.modules]\nprint('HEAVY', heavy)\n"
    )
    path = write(tmp_path, "cache:\n  redis_url: redis://:x@h:6379/0\nmodels:\n  default: spleeter:4stems\n")
    result = Spl(tmp_path / "home", clean_env(tmp_path)).python(code, path, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_cache_and_stats_commands_use_the_folders_the_config_file_names(bare_spl, models_dir: Path, tmp_path: Path) -> None:
    """`spl cache clear` must empty the cache the runs used, and `spl stats` read their history, wherever the file puts it."""
    from conftest import write_songs

    cache = tmp_path / "configured-cache"
    config = tmp_path / "spl.yaml"
    config.write_text(f"cache:\n  dir: {cache}\nmodels:\n  dir: {models_dir}\n  auto_download: false\n")

    def spl(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return bare_spl(*args, "--config", config, timeout=300)

    songs = write_songs(tmp_path / "in", 1, 2.0)
    assert spl("batch", *songs, "-o", tmp_path / "out").returncode == 0
    before = json.loads(spl("cache", "stats", "--json").stdout)
    assert before["tiers"]["disk"]["entries"] == 1
    summary = json.loads(spl("stats", "--json").stdout)
    assert summary["selection"]["history"] == str(cache / "history.db") and summary["processing_stats"]["runs"] == 1
    assert summary["system_health"]["models_dir"]["path"] == str(models_dir)
    assert spl("cache", "clear").returncode == 0
    assert json.loads(spl("cache", "stats", "--json").stdout)["tiers"]["disk"]["entries"] == 0
    assert not (bare_spl.home / "cache" / "spl").exists()  # spl's default folders stay untouched


def test_errors_name_where_a_bad_value_was_set(bare_spl, tmp_path: Path) -> None:
    """A template or port from the config file or the environment is not blamed on a flag the user never typed."""
    import socket

    config = tmp_path / "spl.yaml"
    config.write_text('audio:\n  filename_format: "../{instrument}.{codec}"\n')
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF")  # never read: the settings fail first

    def spl(*args: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return bare_spl("separate", song, "-o", tmp_path / "out", *args, env=extra, timeout=60)

    done = spl("--config", config)
    assert done.returncode == 2 and f"audio.filename_format in {config} '../{{instrument}}.{{codec}}' would write outside" in done.stderr, (
        done.stderr
    )
    flagged = spl("--config", config, "-f", "/abs/{instrument}")
    assert flagged.returncode == 2 and "--filename-format '/abs/{instrument}' would write outside" in flagged.stderr, flagged.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = spl(SPLEETER_METRICS_PORT=str(port))
        assert done.returncode == 2 and f"SPLEETER_METRICS_PORT {port}: 127.0.0.1:{port} is already in use" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
