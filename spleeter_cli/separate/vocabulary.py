"""The words every face of a separation shares: what is asked, what comes back, what happens meanwhile.

``SeparateOptions`` is the request (everything that changes what gets written), ``FileResult``
the answer for one input, ``Listener`` the progress events a run emits while it works, and
``check_options`` what can be refused before any file is touched. The CLI, the Python API,
Dask workers and the HTTP service speak these; ``run.SeparationRun`` carries them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..audio import formats
from ..errors import SplError, ValidationError
from ..models.catalog import DEFAULT_MODEL, DEFAULT_PRECISION, SAMPLE_RATE, ModelSpec, get_spec
from .planning import check_filename_format

DEFAULT_SILENCE_DBFS = -60.0
DEFAULT_DENOISE_STRENGTH = 0.75  # what `denoise` alone means: full strength costs music a lot (README, Pre-processing)
MAX_SECONDS = 1e7  # offset/duration bound (115 days): sample counts stay exact integers, inf and nan are refused
EXISTING = ("refuse", "skip", "overwrite")


@dataclass(frozen=True)
class SeparateOptions:
    """Everything that changes what gets written, and how existing outputs are treated."""

    model: str = DEFAULT_MODEL
    codec: str = formats.DEFAULT_CODEC
    bitrate: str | None = None
    bit_depth: int = formats.DEFAULT_BIT_DEPTH
    filename_format: str = formats.DEFAULT_FILENAME_FORMAT
    offset: float = 0.0
    duration: float | None = None
    mwf: bool = False
    existing: str = "refuse"  # "refuse" (spl separate), "skip" (spl batch: resume), "overwrite"
    tags: bool = True  # copy the input's tags to the stems
    silence_threshold: float = DEFAULT_SILENCE_DBFS  # a stem whose peak stays below this is reported silent
    skip_silent: bool = False  # and then not written
    normalize: float | None = None  # target loudness (LUFS) of the input before separation
    normalize_stems: float | None = None  # target loudness (LUFS) of each written stem
    highpass: float | None = None  # cut-off (Hz) of a high-pass on the input
    denoise: float = 0.0  # strength (0..1] of spectral-gating noise reduction of the input; 0: off
    precision: str = DEFAULT_PRECISION  # "fp32" (Spleeter's exact output) or "bf16" (OpenVINO on CPUs with native bf16)
    sample_rate: int = SAMPLE_RATE  # of the written stems; the model runs at SAMPLE_RATE and its output is resampled

    def cache_fields(self) -> dict[str, object]:
        """The options that change the bytes of the stems (not where they are written, nor which are kept)."""
        bitrate = formats.check_output_options(self.codec, self.bitrate, self.bit_depth)  # None -> the codec's default
        lossless = self.codec in formats.LOSSLESS_CODECS  # so `-c wav --bitrate 128k` is still a hit for `-c wav`
        fields: dict[str, object] = {
            "codec": self.codec,
            "bitrate": None if lossless else bitrate,
            "bit_depth": self.bit_depth if lossless else None,
            "offset": self.offset,
            "duration": self.duration,
            "mwf": self.mwf,
            "tags": self.tags,
            "normalize": self.normalize,
            "normalize_stems": self.normalize_stems,
            "highpass": self.highpass,
            "denoise": self.denoise,
        }
        if self.precision != DEFAULT_PRECISION:  # fp32 stems are the same whichever backend made them; bf16 ones are not
            fields["precision"] = self.precision
        if self.sample_rate != SAMPLE_RATE:  # only when changed, so entries written before the option still hit
            fields["sample_rate"] = self.sample_rate
        return fields


@dataclass
class FileResult:
    """What happened to one input; the CLI renders it, scripts read it as JSON."""

    input: Path
    model: str
    status: str = "ok"  # "ok" | "skipped" (already done) | "failed"
    outputs: dict[str, Path] = field(default_factory=dict)
    audio_duration: float = 0.0
    wall_time: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    cache: str | None = None  # tier that served the stems: "memory" | "disk" | "redis"
    error: SplError | None = None
    peaks: dict[str, float] = field(default_factory=dict)  # instrument -> sample peak, linear
    silent: list[str] = field(default_factory=list)  # instruments whose peak is below the silence threshold
    input_gain: Any = None  # preprocess.Gain applied to the input (--normalize)
    stem_gains: dict[str, Any] = field(default_factory=dict)  # instrument -> preprocess.Gain (--normalize-stems)
    backend: str | None = None  # the runtime that ran the U-Nets ("openvino" | "tensorflow"); None when none ran (cache, skip)
    precision: str | None = None  # its arithmetic, "fp32" | "bf16"

    @property
    def output_files(self) -> dict[str, Path]:
        """The seed API's name for ``outputs``: instrument -> written file."""
        return self.outputs

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input": str(self.input),
            "status": self.status,
            "model": self.model,
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "audio_duration": round(self.audio_duration, 3),
            "wall_time": round(self.wall_time, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "cache": self.cache,
            "backend": self.backend,
            "precision": self.precision,
            "silent": self.silent,
            "peak_dbfs": {name: _dbfs(peak) for name, peak in self.peaks.items()},
        }
        if self.input_gain is not None:
            data["input_loudness"] = self.input_gain.to_json()
        if self.stem_gains:
            data["stem_loudness"] = {name: gain.to_json() for name, gain in self.stem_gains.items()}
        if self.error is not None:
            data["error"] = str(self.error)
            data["exit_code"] = int(self.error.exit_code)
        return data


class Listener(Protocol):
    """Progress events, possibly from several threads; each face decides how to show them."""

    def status(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_stage(self, path: Path, stage: str) -> None: ...
    def file_progress(self, path: Path, seconds: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...


class SilentListener:
    """Events go nowhere: API callers get results, not terminal output."""

    def status(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def file_started(self, path: Path, duration: float) -> None:
        pass

    def file_stage(self, path: Path, stage: str) -> None:
        pass

    def file_progress(self, path: Path, seconds: float) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        pass


DEFAULT_LOUDNESS = -14.0  # LUFS that audio.normalize_loudness brings inputs to: what streaming services play at
PREPROCESSING = ("normalize", "highpass", "denoise")  # the options that condition the input before the model


def with_audio_settings(options: SeparateOptions, settings: Any) -> SeparateOptions:
    """``options`` as the ``audio`` settings shape them: the stems' sample rate, default loudness, preprocessing on or off.

    Every face (CLI, Python API) passes its options through here, so a config key means the same
    to all of them; an option the settings forbid is refused naming both.
    """
    audio = settings.audio
    normalize = options.normalize
    if normalize is None and audio.normalize_loudness and audio.enable_preprocessing:
        normalize = DEFAULT_LOUDNESS
    if not audio.enable_preprocessing:
        asked = [name for name in PREPROCESSING if getattr(options, name) not in (None, 0.0)]
        if asked:
            raise ValidationError(
                f"conditions the input, which {settings.label('audio.enable_preprocessing')}=false turns off",
                hint="leave the option out, or set audio.enable_preprocessing to true",
                setting=asked[0],
            )
    return replace(options, normalize=normalize, sample_rate=audio.default_sample_rate)


def check_options(options: SeparateOptions) -> ModelSpec:
    """Refuse options that need neither inputs nor the model; errors name the option (``setting``), each face spells it."""
    spec = get_spec(options.model)
    formats.check_output_options(options.codec, options.bitrate, options.bit_depth)
    check_filename_format(options.filename_format)
    if not 0 <= options.offset <= MAX_SECONDS:  # also refuses nan
        raise ValidationError(f"must be between 0 and {MAX_SECONDS:.0f} seconds, not {options.offset:g}", setting="offset")
    if options.duration is not None and not 0 < options.duration <= MAX_SECONDS:
        raise ValidationError(
            f"must be more than 0 and at most {MAX_SECONDS:.0f} seconds, not {options.duration:g}",
            hint="leave it out to separate to the end",
            setting="duration",
        )
    for name, target in (("normalize", options.normalize), ("normalize_stems", options.normalize_stems)):
        if target is not None and not -70 <= target <= 0:
            raise ValidationError(
                f"must be a loudness between -70 and 0 LUFS, not {target:g}", hint="streaming services use about -14", setting=name
            )
    if options.highpass is not None and not 0 < options.highpass < SAMPLE_RATE / 2:
        raise ValidationError(
            f"must be above 0 and below {SAMPLE_RATE // 2} Hz, not {options.highpass:g}",
            hint="rumble filters use 20-80 Hz",
            setting="highpass",
        )
    if not 0 <= options.denoise <= 1:
        raise ValidationError(
            f"must be between 0 and 1, not {options.denoise:g}", hint="1 removes all it can; 0.5 is gentler on music", setting="denoise"
        )
    if options.existing not in EXISTING:
        raise ValidationError(f"must be one of {', '.join(EXISTING)}, not {options.existing!r}", setting="existing")
    return spec


def _dbfs(peak: float) -> float | None:
    """A linear peak in dBFS, rounded; None for digital silence (JSON has no -inf)."""
    return round(20 * math.log10(peak), 2) if peak > 0 else None
