"""A ``FileResult`` as plain data, so it crosses from a worker process to the client intact.

Exceptions with keyword-only context do not survive pickling, and a worker's ``SplError``
must reach the client with its class (hence its exit code), message, hint and context, so
results travel as JSON-able dicts and are rebuilt on the client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import errors
from ..separate.preprocess import Gain
from ..separate.vocabulary import FileResult

_ERROR_TYPES: dict[str, type[errors.SplError]] = {
    kind.__name__: kind
    for kind in (
        errors.SplError,
        errors.ValidationError,
        errors.AudioProcessingError,
        errors.ModelError,
        errors.OutputError,
        errors.CacheError,
    )
}


def encode_error(error: errors.SplError) -> dict[str, Any]:
    context = {key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value) for key, value in error.context.items()}
    kind = type(error).__name__ if type(error).__name__ in _ERROR_TYPES else "SplError"
    return {"kind": kind, "message": error.message, "hint": error.hint, "context": context}


def decode_error(data: dict[str, Any]) -> errors.SplError:
    return _ERROR_TYPES.get(data["kind"], errors.SplError)(data["message"], hint=data["hint"], **data["context"])


def encode_result(result: FileResult) -> dict[str, Any]:
    return {
        "input": str(result.input),
        "model": result.model,
        "status": result.status,
        "outputs": {name: str(path) for name, path in result.outputs.items()},
        "audio_duration": result.audio_duration,
        "wall_time": result.wall_time,
        "timings": dict(result.timings),
        "cache": result.cache,
        "error": encode_error(result.error) if result.error is not None else None,
        "peaks": dict(result.peaks),
        "silent": list(result.silent),
        "input_gain": _encode_gain(result.input_gain),
        "stem_gains": {name: _encode_gain(gain) for name, gain in result.stem_gains.items()},
        "backend": result.backend,
        "precision": result.precision,
    }


def decode_result(data: dict[str, Any]) -> FileResult:
    return FileResult(
        Path(data["input"]),
        data["model"],
        status=data["status"],
        outputs={name: Path(path) for name, path in data["outputs"].items()},
        audio_duration=data["audio_duration"],
        wall_time=data["wall_time"],
        timings=dict(data["timings"]),
        cache=data["cache"],
        error=decode_error(data["error"]) if data["error"] is not None else None,
        peaks=dict(data["peaks"]),
        silent=list(data["silent"]),
        input_gain=_decode_gain(data["input_gain"]),
        stem_gains={name: _decode_gain(gain) for name, gain in data["stem_gains"].items()},
        backend=data["backend"],
        precision=data["precision"],
    )


def _encode_gain(gain: Gain | None) -> dict[str, Any] | None:
    return None if gain is None else {"measured_lufs": gain.measured_lufs, "factor": gain.factor, "limited": gain.limited}


def _decode_gain(data: dict[str, Any] | None) -> Gain | None:
    return None if data is None else Gain(data["measured_lufs"], data["factor"], data["limited"])
