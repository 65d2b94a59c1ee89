"""The form fields of ``POST /v1/jobs``, as the core's ``SeparateOptions``.

Fields are named after the long options of `spl separate`, dashes as underscores, and mean what
those options mean; only the ones that make sense remotely exist (no output folder, file name
template or overwrite: the server names its own files). Each value is checked here for its
type and by ``check_options`` for its range, so a bad field is a 422 naming it before any work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..config import FALSE_WORDS, TRUE_WORDS
from ..errors import ValidationError
from ..models.backend import check_precision
from ..models.catalog import BACKENDS, get_spec, model_for
from ..separate.vocabulary import DEFAULT_DENOISE_STRENGTH, DEFAULT_SILENCE_DBFS, SeparateOptions, check_options
from .runner import STEM_FORMAT


def _text(value: str) -> str:
    return value.strip()


def _boolean(value: str) -> bool:
    word = value.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError("true or false")
    return word in TRUE_WORDS


def _integer(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError("an integer") from None


def _number(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError("a number") from None
    if not math.isfinite(number):
        raise ValueError("a finite number")
    return number


FIELDS: dict[str, tuple[Callable[[str], Any], str]] = {  # name -> (parser, what it means), documented in the OpenAPI page
    "model": (_text, "model name, e.g. spleeter:4stems-16kHz; overrides stems and hq"),
    "stems": (_integer, "2 (vocals/accompaniment), 4 (+drums, bass, other) or 5 (+piano)"),
    "hq": (_boolean, "the -16kHz model"),
    "codec": (_text, "wav, flac, mp3, ogg or m4a"),
    "bitrate": (_text, "bitrate of lossy codecs, e.g. 192k"),
    "bit_depth": (_integer, "WAV/FLAC sample size: 16, 24 or 32 (float, WAV only)"),
    "offset": (_number, "start this many seconds into the input"),
    "duration": (_number, "separate at most this many seconds"),
    "mwf": (_boolean, "multichannel Wiener filtering"),
    "normalize": (_number, "bring the input to this loudness (LUFS) first"),
    "normalize_stems": (_number, "bring each stem to this loudness (LUFS)"),
    "highpass": (_number, "high-pass the input at this frequency (Hz)"),
    "denoise": (_boolean, "reduce background noise of the input"),
    "denoise_strength": (_number, "how much noise denoise removes, 0..1 (implies denoise)"),
    "no_tags": (_boolean, "do not copy the input's tags to the stems"),
    "silence_threshold": (_number, "a stem whose peak stays below this (dBFS) is reported silent"),
    "skip_silent": (_boolean, "do not keep silent stems"),
    "backend": (_text, "auto, or the backend this server runs"),
    "precision": (_text, "fp32, or bf16 where the server's CPU has it"),
}


def parse_fields(fields: Mapping[str, str], default_model: str, default_precision: str, backend: str) -> SeparateOptions:
    """The options a job's form asks for, checked; raises ValidationError naming the field."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValidationError(
            f"unknown field '{unknown[0]}'", hint="allowed: file, " + ", ".join(FIELDS)
        )  # quoted, not backticked: a client's word is never respelled
    given: dict[str, Any] = {}
    for name, raw in fields.items():
        parse, _ = FIELDS[name]
        try:
            given[name] = parse(raw)
        except ValueError as error:
            raise ValidationError(f"must be {error}, not {raw!r}", setting=name) from None
    options = SeparateOptions(
        model=_model(given, default_model),
        codec=given.get("codec", "wav").lower(),
        bitrate=given.get("bitrate"),
        bit_depth=given.get("bit_depth", 16),
        filename_format=STEM_FORMAT,
        offset=given.get("offset", 0.0),
        duration=given.get("duration"),
        mwf=given.get("mwf", False),
        existing="overwrite",
        tags=not given.get("no_tags", False),
        silence_threshold=given.get("silence_threshold", DEFAULT_SILENCE_DBFS),
        skip_silent=given.get("skip_silent", False),
        normalize=given.get("normalize"),
        normalize_stems=given.get("normalize_stems"),
        highpass=given.get("highpass"),
        denoise=_denoise(given),
        precision=given.get("precision", default_precision).lower(),
    )
    check_options(options)
    requested = given.get("backend", "auto").lower()
    if requested not in BACKENDS:
        raise ValidationError(f"must be one of {', '.join(BACKENDS)}, not {requested!r}", setting="backend")
    if requested not in ("auto", backend):
        raise ValidationError(
            f"{requested} is not what this server runs", hint=f"leave it out, or ask for auto or {backend}", setting="backend"
        )
    check_precision(options.precision, backend)
    return options


def public(options: SeparateOptions) -> dict[str, Any]:
    """The options as a job's answer shows them: what was asked, without the server's own file naming."""
    return {name: value for name, value in vars(options).items() if name not in ("filename_format", "existing")}


def _model(given: Mapping[str, Any], default: str) -> str:
    """``model`` wins; else ``stems``/``hq`` choose, as on the command line; else the server's default model."""
    if "model" in given:
        return get_spec(given["model"]).full_name
    if "stems" not in given and not given.get("hq"):
        return default
    stems = given.get("stems", 2)
    if stems not in (2, 4, 5):
        raise ValidationError(f"must be 2, 4 or 5, not {stems}", setting="stems")
    return model_for(stems, bool(given.get("hq"))).full_name


def _denoise(given: Mapping[str, Any]) -> float:
    if "denoise_strength" in given:
        return float(given["denoise_strength"])
    return DEFAULT_DENOISE_STRENGTH if given.get("denoise") else 0.0
