"""Effective settings of `spl`: built-in defaults < config file < environment < flags.

One table (``FIELDS``) describes every key once: its default, how a value is
checked, the environment variable and the flag that may set it. Loading, error
messages, ``spl config show`` and the documented example all derive from it, so
they cannot drift apart. Every value remembers where it came from, because "why
is it using *that* cache folder?" is the question a config layer must answer.

This is the only module that reads the environment and config files: the rest of
spl takes plain values (or a ``Settings``) from here, so a setting cannot mean one
thing to the CLI and another to a worker or the Python API. The two variables that
are not settings (``SPL_DEBUG``, CUDA's ``CUDA_VISIBLE_DEVICES``) are read here too.

Importing this module is cheap (PyYAML and platformdirs, and the two leaf modules
that define formats and models): `spl config show` must answer at once, without
NumPy or TensorFlow.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .audio.formats import BIT_DEPTHS, DEFAULT_BIT_DEPTH, DEFAULT_CODEC, DEFAULT_FILENAME_FORMAT, SUPPORTED_CODECS
from .errors import ValidationError, os_cause
from .models.catalog import BACKENDS, DEFAULT_MODEL, DEFAULT_PRECISION, PRECISIONS, get_spec
from .units import parse_size, seconds_in

CONFIG_ENV = "SPLEETER_CONFIG"
DEBUG_ENV = "SPL_DEBUG"
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class _Invalid(Exception):
    """A value failed its check; carries the phrase after "must be", e.g. "a positive integer", and what else to say about the value."""

    def __init__(self, expected: str, about_value: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.about_value = about_value  # e.g. ", which is a file"


# --- checks: each turns a raw value (YAML scalar or env string) into the typed value ---------


def _bool(value: Any) -> bool:
    """YAML gives real booleans; the environment gives words, accepted in the usual spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise _Invalid("true or false (also yes/no, on/off, 1/0)")


def _int(value: Any, expected: str) -> int:
    """An integer from YAML or from an env string; booleans are not integers here."""
    if isinstance(value, bool):
        raise _Invalid(expected)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Invalid(expected)


def _positive_int(value: Any, high: int = 2**40) -> int:
    """At least 1, and at most ``high``: past it a number means a typo, and overflows SQLite (2^63) on its way."""
    number = _int(value, "a positive integer")
    if number < 1:
        raise _Invalid("a positive integer")
    if number > high:
        raise _Invalid(f"at most {high}")
    return number


MAX_JOBS = 1024  # files in flight at once; each holds decoded blocks and threads, far more only thrashes


def _jobs(value: Any) -> int:
    return _positive_int(value, MAX_JOBS)


def _ttl(value: Any) -> int:
    return _positive_int(value, 100 * 365 * 86400)  # Redis takes milliseconds up to 2^63


def _port(value: Any) -> int:
    number = _int(value, "a port number (1-65535)")
    if not 1 <= number <= 65535:
        raise _Invalid("a port number (1-65535)")
    return number


def _number(value: Any, expected: str, low: float, high: float | None) -> float:
    if isinstance(value, bool):
        raise _Invalid(expected)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Invalid(expected) from None
    if not isinstance(value, (int, float)) or value != value or value < low or (high is not None and value > high):
        raise _Invalid(expected)
    return float(value)


def _megabytes(value: Any) -> float:
    return _number(value, "a non-negative number of megabytes", 0, None)


def _linger(value: Any) -> float:
    return _number(value, "a non-negative number of seconds", 0, None)


def _fraction(value: Any) -> float:
    return _number(value, "a number between 0 and 1", 0, 1)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("a non-empty string")
    return value


def _path(value: Any) -> Path:
    """``~`` is expanded; relative paths stay relative to the working directory, like flags."""
    if not isinstance(value, Path) and not (isinstance(value, str) and value.strip()):
        raise _Invalid("a non-empty path")
    return Path(value).expanduser()


def _folder(value: Any) -> Path:
    """A folder spl creates when missing; an existing file there is refused before anything is written inside or removed."""
    path = _path(value)
    try:
        exists_as_file = not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:  # missing, or not usable (a link loop, a name too long): the cache says why when it tries, and goes on without it
        return path
    if exists_as_file:
        raise _Invalid("a folder", ", which is a file")
    return path


def _seconds(value: Any) -> float:
    number = _number(value, "a positive number of seconds", 0, None)
    if number <= 0:
        raise _Invalid("a positive number of seconds")
    return number


def _paths(value: Any) -> tuple[Path, ...]:
    """A YAML list of folders, or one env string of them separated like PATH (``:`` on POSIX)."""
    if isinstance(value, str):
        value = [part for part in value.split(os.pathsep) if part.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise _Invalid(f"a non-empty list of folders (in the environment: separated by '{os.pathsep}')")
    try:
        return tuple(_path(item) for item in value)
    except _Invalid:
        raise _Invalid("a list of folder paths") from None


def _codec(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in SUPPORTED_CODECS:
        raise _Invalid("one of " + ", ".join(SUPPORTED_CODECS))
    return value.lower()


def _bit_depth(value: Any) -> int:
    depth = _int(value, "16, 24 or 32")
    if depth not in BIT_DEPTHS:
        raise _Invalid("16, 24 or 32")
    return depth


def _choice(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    """One of a fixed set of words, case-insensitive."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise _Invalid("one of " + ", ".join(allowed))
        return value.strip().lower()

    return check


def _model(value: Any) -> str:
    """Checked against the catalog so a typo fails before any work starts."""
    name = _text(value)
    try:
        return get_spec(name).full_name
    except ValidationError:
        raise _Invalid("a known model name, e.g. spleeter:2stems or spleeter:4stems-16kHz") from None


def _redis_url(value: Any) -> str:
    url = _text(value)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise _Invalid("a redis://, rediss:// or unix:// URL")
    try:
        _ = urlsplit(url).port  # unbalanced [IPv6 or a port that is not 1-65535: the URL can never connect
    except ValueError:
        raise _Invalid("a well-formed redis://, rediss:// or unix:// URL (host, port 1-65535)") from None
    return url


def _upload_mb(value: Any) -> float:
    """Megabytes as a number, or a size with its unit ('2GB'): `spl serve --max-upload 500MB` reads as it is meant."""
    expected = "a positive number of megabytes, or a size such as 500MB"
    if isinstance(value, str) and not value.strip().replace(".", "", 1).isdigit():
        try:
            value = parse_size(value) / 2**20
        except ValidationError:
            raise _Invalid(expected) from None
    number = _number(value, expected, 0, None)
    if number <= 0:
        raise _Invalid(expected)
    return number


def _age(value: Any) -> float:
    """Seconds as a number, or a duration with its unit ('24h', '7d')."""
    expected = "a positive number of seconds, or a duration such as 24h or 7d"
    if isinstance(value, str):
        seconds = seconds_in(value)
        if seconds is None:
            raise _Invalid(expected)
        value = seconds
    number = _number(value, expected, 0, None)
    if number <= 0:
        raise _Invalid(expected)
    return number


def _queue(value: Any) -> int:
    return _positive_int(value, 100_000)  # waiting jobs hold their uploads on disk; far more is a typo


def _batch_size(value: Any) -> int:
    return _positive_int(value, 256)  # segments of 512 frames per model call; past it activations alone need gigabytes


def _threads(value: Any) -> int:
    return _positive_int(value, MAX_JOBS)


def _limit_mb(value: Any) -> float:
    number = _number(value, "a positive number of megabytes", 0, None)
    if number <= 0:
        raise _Invalid("a positive number of megabytes")
    return number


def _sample_rate(value: Any) -> int:
    rate = _int(value, "a sample rate in Hz between 8000 and 192000")
    if not 8000 <= rate <= 192000:
        raise _Invalid("a sample rate in Hz between 8000 and 192000")
    return rate


def _formats(value: Any) -> tuple[str, ...]:
    """File extensions, with or without their dot; a YAML list, or one env string separated by commas."""
    expected = "a non-empty list of file extensions, e.g. [mp3, wav, flac] (in the environment: separated by commas)"
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise _Invalid(expected)
    names = tuple(dict.fromkeys(str(item).strip().lstrip(".").lower() for item in value if str(item).strip()))
    if not names or not all(re.fullmatch(r"[a-z0-9]{1,10}", name) for name in names):
        raise _Invalid(expected)
    return names


def _interval(value: Any) -> float:
    return _seconds(value)


@dataclass(frozen=True)
class Field:
    """One setting: where it lives, its default, its check, and the env var / flag that can set it."""

    key: str  # dotted, e.g. "cache.disk_mb"
    default: Any
    check: Callable[[Any], Any]
    nullable: bool = False  # null in the file means "use the built-in behaviour"
    env: str | None = None
    flag: str | None = None  # e.g. "--cache-dir"; with_overrides(cache_dir=...) sets it
    help: str = ""
    inert: str | None = None  # why the key changes nothing here, said whenever it is set

    @property
    def flag_kwarg(self) -> str | None:
        return self.flag.lstrip("-").replace("-", "_") if self.flag else None


FIELDS: tuple[Field, ...] = (
    Field("performance.jobs", None, _jobs, nullable=True, flag="--jobs", help="files processed at once; null: one per core, at least 2"),
    Field("performance.enable_gpu", True, _bool, env="SPLEETER_ENABLE_GPU", help="use a GPU when TensorFlow sees one"),
    Field(
        "performance.backend",
        "auto",
        _choice(BACKENDS),
        env="SPLEETER_BACKEND",
        flag="--backend",
        help="inference runtime: auto (TensorFlow on a CUDA GPU, else OpenVINO), openvino or tensorflow",
    ),
    Field(
        "performance.precision",
        DEFAULT_PRECISION,
        _choice(PRECISIONS),
        env="SPLEETER_PRECISION",
        flag="--precision",
        help="fp32 (Spleeter's exact output) or bf16 (OpenVINO on CPUs with native bf16: faster, slightly different)",
    ),
    Field(
        "performance.batch_size",
        4,
        _batch_size,
        env="SPLEETER_BATCH_SIZE",
        help="512-frame segments per model call, across the files in flight; more feeds a GPU, costs activation memory",
    ),
    Field(
        "performance.worker_threads",
        None,
        _threads,
        nullable=True,
        env="SPLEETER_WORKER_THREADS",
        help="inference threads of the model (OpenVINO's, or TensorFlow's intra-op); null: one per core",
    ),
    Field(
        "performance.memory_limit_mb",
        None,
        _limit_mb,
        nullable=True,
        env="SPLEETER_MEMORY_LIMIT_MB",
        help="an input does not start while spl's resident memory is above this, MB (it fails, exit 3); null: no limit",
    ),
    Field(
        "performance.gpu_memory_growth",
        False,
        _bool,
        env="SPLEETER_GPU_MEMORY_GROWTH",
        help="TensorFlow takes GPU memory as it needs it instead of nearly all of it at start (shared GPUs)",
    ),
    Field(
        "models.dir", None, _path, nullable=True, env="SPLEETER_MODELS_DIR", help="where models are installed; null: ~/.cache/spl/models"
    ),
    Field(
        "models.auto_download", True, _bool, env="SPLEETER_AUTO_DOWNLOAD", help="false: a missing model is an error instead of a download"
    ),
    Field("models.default", DEFAULT_MODEL, _model, flag="--model", help="model used when neither --model nor --stems is given"),
    Field(
        "models.github_host",
        "https://github.com",
        _text,
        env="SPLEETER_GITHUB_HOST",
        help="host of the official release, or of a mirror of it",
    ),
    Field("models.github_repository", "deezer/spleeter", _text, env="SPLEETER_GITHUB_REPOSITORY", help="repository of the release"),
    Field(
        "models.github_release",
        "v1.4.0",
        _text,
        env="SPLEETER_GITHUB_RELEASE",
        help="release tag of the model archives and their checksum.json",
    ),
    Field("cache.enabled", True, _bool, flag="--cache", help="false: never read or write the stem cache (like --no-cache)"),
    Field(
        "cache.dir",
        None,
        _folder,
        nullable=True,
        env="SPLEETER_CACHE_DIR",
        flag="--cache-dir",
        help="disk cache folder; null: ~/.cache/spl/cache",
    ),
    Field("cache.memory_mb", 512, _positive_int, help="in-memory cache limit, MB"),
    Field("cache.disk_mb", 10240, _positive_int, help="disk cache limit, MB"),
    Field(
        "cache.redis_url",
        None,
        _redis_url,
        nullable=True,
        env="SPLEETER_REDIS_URL",
        flag="--redis-url",
        help="shared Redis cache; null: none",
    ),
    Field("cache.redis_ttl_seconds", 604800, _ttl, help="lifetime of Redis entries, seconds"),
    Field("audio.codec", DEFAULT_CODEC, _codec, flag="--codec", help="output codec: " + ", ".join(SUPPORTED_CODECS)),
    Field(
        "audio.bitrate", None, _text, nullable=True, flag="--bitrate", help="bitrate of lossy codecs, e.g. 192k; null: the codec's default"
    ),
    Field(
        "audio.bit_depth", DEFAULT_BIT_DEPTH, _bit_depth, flag="--bit-depth", help="WAV/FLAC sample size: 16, 24 or 32 (float, WAV only)"
    ),
    Field("audio.filename_format", DEFAULT_FILENAME_FORMAT, _text, flag="--filename-format", help="output path template"),
    Field("audio.output_dir", Path("separated"), _path, flag="--output", help="output directory"),
    Field(
        "audio.default_sample_rate",
        44100,
        _sample_rate,
        env="SPLEETER_SAMPLE_RATE",
        help="sample rate of the written stems, Hz; the model runs at 44100 and stems are resampled to this",
    ),
    Field(
        "audio.supported_formats",
        None,
        _formats,
        nullable=True,
        env="SPLEETER_SUPPORTED_FORMATS",
        help="input file extensions accepted, others are refused (exit 3); null: every format spl decodes",
    ),
    Field(
        "audio.enable_preprocessing",
        True,
        _bool,
        env="SPLEETER_ENABLE_PREPROCESSING",
        help="false: never condition the input (loudness normalization, high-pass, denoise): asking for one is an error",
    ),
    Field(
        "audio.normalize_loudness",
        False,
        _bool,
        env="SPLEETER_NORMALIZE_LOUDNESS",
        help="bring each input to -14 LUFS before separation when no other target is given (as --normalize -14)",
    ),
    Field(
        "limits.max_file_mb",
        None,
        _megabytes,
        nullable=True,
        env="SPLEETER_MAX_FILE_MB",
        help="refuse inputs larger than this, MB; null: no limit",
    ),
    Field(
        "limits.max_duration_seconds",
        None,
        _seconds,
        nullable=True,
        env="SPLEETER_MAX_DURATION",
        help="refuse inputs longer than this, seconds; null: no limit",
    ),
    Field(
        "limits.allowed_roots",
        None,
        _paths,
        nullable=True,
        env="SPLEETER_ALLOWED_ROOTS",
        help="inputs (after following symlinks) must lie inside one of these folders; null: anywhere",
    ),
    Field(
        "monitoring.enabled",
        False,
        _bool,
        env="SPLEETER_ENABLE_MONITORING",
        help="add the run's resource use (peak RSS, CPU, GPU memory) to the summary and report",
    ),
    Field(
        "monitoring.metrics_port",
        None,
        _port,
        nullable=True,
        env="SPLEETER_METRICS_PORT",
        flag="--metrics-port",
        help="serve Prometheus metrics on 127.0.0.1:PORT; null: off",
    ),
    Field(
        "monitoring.metrics_linger_seconds",
        0,
        _linger,
        env="SPLEETER_METRICS_LINGER",
        help="seconds the metrics endpoint stays up after a run, so a scraper reads the final figures",
    ),
    Field("monitoring.history", True, _bool, env="SPL_HISTORY", help="record run history (spl stats)"),
    Field(
        "monitoring.export_interval",
        None,
        _interval,
        nullable=True,
        help="accepted, no effect: metrics are pulled, fresh at each scrape; set the scrape interval in Prometheus",
        inert="has no effect: spl's metrics are pulled (--metrics-port), read fresh at each scrape; set scrape_interval in Prometheus",
    ),
    Field(
        "monitoring.health_check_interval",
        None,
        _interval,
        nullable=True,
        env="SPLEETER_HEALTH_CHECK_INTERVAL",
        help="also check the alert thresholds this often during a run, seconds; null: at each input's start and end",
    ),
    Field(
        "monitoring.alerts.memory_usage",
        None,
        _megabytes,
        nullable=True,
        env="SPLEETER_ALERT_MEMORY_MB",
        help="alert above this resident memory, MB; null: off",
    ),
    Field(
        "monitoring.alerts.gpu_usage",
        None,
        _megabytes,
        nullable=True,
        env="SPLEETER_ALERT_GPU_MEMORY_MB",
        help="alert above this GPU memory, MB; null: off",
    ),
    Field(
        "monitoring.alerts.error_rate",
        None,
        _fraction,
        nullable=True,
        env="SPLEETER_ALERT_ERROR_RATE",
        help="alert above this failed/finished ratio, 0..1; null: off",
    ),
    Field(
        "server.host",
        "127.0.0.1",
        _text,
        env="SPLEETER_SERVER_HOST",
        flag="--host",
        help="address `spl serve` listens on; beyond loopback it needs a token (or server.insecure)",
    ),
    Field("server.port", 8080, _port, env="SPLEETER_SERVER_PORT", flag="--port", help="port `spl serve` listens on"),
    Field(
        "server.data_dir",
        None,
        _folder,
        nullable=True,
        env="SPLEETER_SERVER_DATA_DIR",
        flag="--data-dir",
        help="jobs database, uploads and stems of `spl serve`; null: ~/.local/share/spl/server",
    ),
    Field(
        "server.max_upload_mb",
        512,
        _upload_mb,
        env="SPLEETER_SERVER_MAX_UPLOAD",
        flag="--max-upload",
        help="largest upload `spl serve` accepts, MB (or e.g. 2GB); larger ones get 413",
    ),
    Field(
        "server.retention_seconds",
        86400,
        _age,
        env="SPLEETER_SERVER_RETENTION",
        flag="--retention",
        help="finished jobs and their files are deleted this long after they end, seconds (or e.g. 24h)",
    ),
    Field(
        "server.queue",
        64,
        _queue,
        env="SPLEETER_SERVER_QUEUE",
        flag="--queue",
        help="jobs waiting to run at most; beyond it uploads get 429",
    ),
    Field(
        "server.grace_seconds",
        25,
        _seconds,
        env="SPLEETER_SERVER_GRACE",
        flag="--grace",
        help="on SIGTERM, how long running jobs may take to finish; the others stay queued for the next start",
    ),
    Field(
        "server.token",
        None,
        _text,
        nullable=True,
        env="SPLEETER_SERVER_TOKEN",
        flag="--token",
        help="bearer token every endpoint but /healthz requires (and that --server clients send); null: none",
    ),
    Field(
        "server.token_file",
        None,
        _path,
        nullable=True,
        env="SPLEETER_SERVER_TOKEN_FILE",
        flag="--token-file",
        help="file holding the token, e.g. a mounted Secret; null: none",
    ),
    Field(
        "server.insecure",
        False,
        _bool,
        env="SPLEETER_SERVER_INSECURE",
        flag="--insecure",
        help="allow listening beyond loopback without a token",
    ),
)
BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
BY_FLAG: dict[str, Field] = {f.flag_kwarg: f for f in FIELDS if f.flag_kwarg}


def _hours(value: Any) -> int:
    hours = _number(value, "a positive number of hours", 0, None)
    if hours <= 0:
        raise _Invalid("a positive number of hours")
    return _ttl(max(1, round(hours * 3600)))


@dataclass(frozen=True)
class Alias:
    """The original design's spelling of a key (``cache.ttl_hours``) and how its value becomes the key's."""

    key: str
    convert: Callable[[Any], Any] | None = None  # None: the key's own check


# The original design's config.yaml names, each onto the one key that carries its meaning; config.example.yaml says so too.
ALIASES: dict[str, Alias] = {
    "cache.memory_size_mb": Alias("cache.memory_mb"),
    "cache.disk_size_mb": Alias("cache.disk_mb"),
    "cache.ttl_hours": Alias("cache.redis_ttl_seconds", _hours),
    "monitoring.alert_thresholds.memory_usage": Alias("monitoring.alerts.memory_usage"),
    "monitoring.alert_thresholds.gpu_usage": Alias("monitoring.alerts.gpu_usage"),
    "monitoring.alert_thresholds.error_rate": Alias("monitoring.alerts.error_rate"),
}
WRAPPER = "spleeter"  # the design nests the whole file under one top-level key; accepted with or without it


def _children(prefix: str, aliases: bool = False) -> list[str]:
    """Names directly under ``prefix`` ("" for the top level), in table order: the allowed keys of a section
    (with ``aliases``, also the original design's spellings, which are read but not advertised)."""
    names: list[str] = []
    for key in [*BY_KEY, *ALIASES] if aliases else BY_KEY:
        if prefix and not key.startswith(prefix + "."):
            continue
        name = key[len(prefix) + 1 if prefix else 0 :].split(".")[0]
        if name not in names:
            names.append(name)
    return names


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _convert(field: Field, value: Any, where: str, null_allowed: bool = False) -> Any:
    """Check one raw value; ``where`` names the source (``file: key``, the env var or the flag).

    Only the file can spell null, so only its messages mention it.
    """
    if value is None and field.nullable:
        return None
    try:
        return field.check(value)
    except _Invalid as error:
        also = " or null" if null_allowed and field.nullable else ""
        shown = without_credentials(value) if field.check is _redis_url else value
        raise ValidationError(f"{where} must be {error.expected}{also}, not {_show(shown)}{error.about_value}", key=field.key) from None


def without_credentials(value: Any) -> Any:
    """A mistyped Redis URL still carries its password: mask what precedes '@' and any password= value."""
    if not isinstance(value, str):
        return value
    return re.sub(r"(password=)[^&#]*", r"\1****", re.sub(r"[^/@]*@", "****@", value))


class Section:
    """Attribute access to one section of the settings: ``settings.cache.disk_mb``."""

    def __init__(self, settings: Settings, prefix: str) -> None:
        self._settings = settings
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        key = f"{self._prefix}.{name}"
        if key in BY_KEY:
            return self._settings[key]
        if any(k.startswith(key + ".") for k in BY_KEY):
            return Section(self._settings, key)
        raise AttributeError(f"no setting {key!r}")

    def __repr__(self) -> str:
        return f"<settings {self._prefix}>"


class Settings:
    """The effective value of every key and where it came from; immutable, derive with ``with_overrides``."""

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str], file: Path | None) -> None:
        self._values = dict(values)
        self._sources = dict(sources)
        self.file = file  # the config file that was read, or None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in _children(""):
            raise AttributeError(name)
        return Section(self, name)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    @property
    def notes(self) -> list[str]:
        """What to tell the user about the settings themselves: keys that are set but change nothing here, and why."""
        return [
            f"{self.label(field.key)} {field.inert}"
            for field in FIELDS
            if field.inert and self._sources.get(field.key, "default") != "default" and self._values.get(field.key) is not None
        ]

    def source(self, key: str) -> str:
        """'default', the config file's path, 'env SPLEETER_X' or 'flag --x'."""
        if key not in self._sources:
            raise KeyError(key)
        return self._sources[key]

    def label(self, key: str) -> str:
        """How an error names ``key``'s value: the flag or variable it came from, or the key and its file."""
        source = self.source(key)
        if source.startswith(("flag ", "env ")):
            return source.split(" ", 1)[1]
        if source == "default":
            return BY_KEY[key].flag or key
        return f"{key} in {source}"

    def as_dict(self) -> dict[str, Any]:
        """Nested plain values (paths as strings), shaped like the config file; JSON- and YAML-ready."""
        tree: dict[str, Any] = {}
        for key, value in self._values.items():
            *parents, leaf = key.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = plain(value)
        return tree

    def with_overrides(self, **flags: Any) -> Settings:
        """Apply command-line flags (None = not given) on top; keyword names as in ``BY_FLAG``.

        Commands call this with their option values, so a flag wins over file and
        environment and ``source()`` reports ``flag --x``. Dotted keys are also
        accepted via ``**{"cache.disk_mb": 100}``.
        """
        values, sources = dict(self._values), dict(self._sources)
        for name, value in flags.items():
            if value is None:
                continue
            field = BY_FLAG.get(name) or BY_KEY.get(name)
            if field is None:
                raise TypeError(f"with_overrides() got an unknown setting {name!r}")
            label = field.flag or field.key
            values[field.key] = _convert(field, value, label)
            sources[field.key] = f"flag {label}"
        return Settings(values, sources, self.file)

    def __repr__(self) -> str:
        return f"Settings({self._values!r})"


def plain(value: Any) -> Any:
    """Paths (also inside lists) as strings, for JSON and YAML."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    return value


def defaults() -> dict[str, Any]:
    """Every key's built-in default, by dotted key."""
    return {f.key: f.default for f in FIELDS}


def default_cache_dir() -> Path:
    """The stem cache and run history when ``cache.dir`` is null."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("spl")) / "cache"


def default_server_data_dir() -> Path:
    """`spl serve`'s jobs, uploads and stems when ``server.data_dir`` is null."""
    import platformdirs

    return Path(platformdirs.user_data_dir("spl")) / "server"


def default_models_dir() -> Path:
    """Where models are installed when ``models.dir`` is null."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("spl")) / "models"


def debugging() -> bool:
    """``SPL_DEBUG`` set: an internal error shows its traceback. Not a setting, because it must
    work when loading the settings is what failed."""
    return bool(os.environ.get(DEBUG_ENV))


def cuda_devices_hidden() -> bool:
    """``CUDA_VISIBLE_DEVICES`` empty or -1: CUDA, so TensorFlow, sees no GPU (CUDA's variable, not spl's)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible is not None and visible.strip() in ("", "-1")


def default_config_path() -> Path:
    """Where `spl` looks when neither --config nor SPLEETER_CONFIG names a file."""
    import platformdirs

    return Path(platformdirs.user_config_dir("spl")) / "config.yaml"


def find_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: ``--config``, else $SPLEETER_CONFIG, else the user file if it exists.

    A file named explicitly (flag or variable) must exist: silently ignoring a typo
    would run with settings the user believes are overridden.
    """
    env = os.environ if env is None else env
    if path is not None:
        chosen, origin = Path(path).expanduser(), "--config"
    elif env.get(CONFIG_ENV):
        chosen, origin = Path(env[CONFIG_ENV]).expanduser(), CONFIG_ENV
    else:
        fallback = default_config_path()
        return fallback if os.path.isfile(fallback) else None
    problem: str | None
    try:
        status = os.stat(chosen)
    except FileNotFoundError:
        problem = "does not exist"
    except OSError as error:  # a name too long, a link loop, a folder above that cannot be entered
        problem = f"cannot be read ({os_cause(error)[0]})"
    else:
        problem = (
            "is a folder, not a file" if stat.S_ISDIR(status.st_mode) else None if stat.S_ISREG(status.st_mode) else "is not a regular file"
        )
    if problem:
        raise ValidationError(f"config file {chosen} (from {origin}) {problem}", hint="create it from config.example.yaml or fix the path")
    return chosen


def _read_file(path: Path) -> dict[str, tuple[Any, str]]:
    """The file's values by dotted key, checked, with the spelling the file used; every error names the file (and line or key)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"{path}: cannot read config file: {error}") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ValidationError(
            f"{path}: invalid YAML: nested too deeply", hint="a config file is at most a few levels deep, see config.example.yaml"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(error, "problem", None) or str(error)
        raise ValidationError(f"{path}: invalid YAML at {where}: {problem}") from None
    if data is None:
        return {}
    if isinstance(data, dict) and WRAPPER in data:
        if len(data) > 1:
            others = ", ".join(str(name) for name in data if name != WRAPPER)
            raise ValidationError(
                f"{path}: '{WRAPPER}:' holds the whole configuration, yet the top level also has {others}",
                hint=f"move them under '{WRAPPER}:', or drop '{WRAPPER}:' and keep every section at the top level",
            )
        data = data[WRAPPER] or {}
    found: dict[str, tuple[Any, str]] = {}
    _walk(path, "", data, found)
    return found


def _walk(path: Path, prefix: str, node: Any, found: dict[str, tuple[Any, str]]) -> None:
    """Flatten a section into ``found`` (key -> value, spelling), rejecting unknown keys with the list of allowed ones."""
    allowed = _children(prefix, aliases=True)
    shown_keys = ", ".join(_children(prefix) or allowed)
    section = prefix or "the top level"
    if not isinstance(node, dict):
        raise ValidationError(f"{path}: {section} must be a mapping of keys ({shown_keys}), not {_show(node)}")
    for name, value in node.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in allowed:
            raise ValidationError(f"{path}: unknown key '{key}' (allowed in {section}: {shown_keys})")
        target, spelling = (ALIASES[key].key, key) if key in ALIASES else (key, key)
        if target in found:
            raise ValidationError(f"{path}: {found[target][1]} and {spelling} both set {target}", hint="keep one of the two spellings")
        convert = ALIASES[key].convert if key in ALIASES else None
        if convert is not None and value is not None:
            found[target] = (_convert(Field(key, None, convert), value, f"{path}: {key}"), spelling)
        elif target in BY_KEY:
            found[target] = (_convert(BY_KEY[target], value, f"{path}: {key}", null_allowed=True), spelling)
        else:
            _walk(path, key, value, found)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the config file (see ``find_config``), then the environment.

    Flags come last and are applied by the commands with ``Settings.with_overrides``.
    An empty environment variable counts as unset, as elsewhere in `spl`.
    """
    env = os.environ if env is None else env
    values = defaults()
    sources = dict.fromkeys(values, "default")
    file = find_config(path, env)
    if file is not None:
        for key, (value, spelling) in _read_file(file).items():
            values[key], sources[key] = value, str(file) if spelling == key else f"{file}, as {spelling}"
    for field in FIELDS:
        raw = env.get(field.env) if field.env else None
        if raw is None or not raw.strip():
            continue
        values[field.key] = _convert(field, raw, field.env or field.key)
        sources[field.key] = f"env {field.env}"
    return Settings(values, sources, file)


def server_token(settings: Settings) -> str | None:
    """The bearer token of `spl serve` and of `--server` clients: ``server.token``, else the first line of ``server.token_file``."""
    if settings["server.token"] is not None:
        return str(settings["server.token"]).strip()
    path = settings["server.token_file"]
    if path is None:
        return None
    label = settings.label("server.token_file")
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        cause, fix = os_cause(error)
        raise ValidationError(f"{label} {path}: cannot read the token: {cause}", hint=fix) from None
    except UnicodeDecodeError:
        raise ValidationError(f"{label} {path}: the token file is not text", hint="write the token as plain text") from None
    if not token:
        raise ValidationError(f"{label} {path}: the token file is empty", hint="write the token into it") from None
    return token
