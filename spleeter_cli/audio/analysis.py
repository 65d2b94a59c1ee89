"""Describe an audio file for `spl info`: what its container says, its tags, its loudness and peak.

Container facts come from ``codec.probe``, which already turns every decoding failure into an
``AudioProcessingError`` naming the file; loudness and peak come from streaming the whole file
through ``codec.AudioReader`` at the file's own rate, so a truncated or corrupt file fails here
the same way it would fail `spl separate`. Loudness uses the streaming BS.1770 meter of
``loudness``, which keeps one float per 100 ms, so the whole file is measured, whatever its
length, in bounded memory.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import codec
from .loudness import MIN_RATE, LoudnessMeter
from .tags import read_tags

_BLOCK = 1 << 16  # frames per decoded block


def describe(path: str | Path) -> dict[str, Any]:
    """Everything `spl info` shows about one file; raises ``AudioProcessingError`` if it is not readable audio."""
    path = Path(path)
    info = codec.probe(path)
    peak, frames, loudness, loudness_frames = _measure(path, info.sample_rate, info.channels)
    rate = info.sample_rate
    return {
        "path": str(path),
        "container": info.container,
        "codec": info.codec,
        "duration": round(info.duration, 6),
        "decoded_duration": round(frames / rate, 6),
        "sample_rate": rate,
        "channels": info.channels,
        "bit_depth": info.bit_depth,
        "bitrate": _bitrate(path),
        "tags": _tags(path),
        "loudness_lufs": _finite(loudness, 2),
        "loudness_seconds": round(loudness_frames / rate, 3),
        "peak_dbfs": _finite(20 * math.log10(peak) if peak > 0 else -math.inf, 3),
    }


def _measure(path: Path, rate: int, channels: int) -> tuple[float, int, float | None, int]:
    """(sample peak, frames decoded, integrated loudness or None, frames the loudness covers).

    The reader always yields stereo: a mono file's two columns are identical, so loudness is
    measured on one of them (duplicating it would read 3 LU too loud); files with more than two
    channels are measured on the reader's stereo downmix. Below ``MIN_RATE`` the K-weighting
    curve is undefined, so loudness is None. The meter sees every frame, so it covers them all.
    """
    meter = LoudnessMeter(rate, 1 if channels == 1 else 2) if rate >= MIN_RATE else None
    peak = 0.0
    frames = 0
    with codec.AudioReader(path, sample_rate=rate) as reader:
        for block in reader.blocks(_BLOCK):
            frames += len(block)
            if len(block):
                peak = max(peak, float(np.max(np.abs(block))))
            if meter is not None:
                meter.add(block)
    return peak, frames, None if meter is None else meter.integrated(), frames


def _bitrate(path: Path) -> int | None:
    """Bits per second as the container or stream declares it; None when neither does."""
    container, stream = codec._open(path)  # probe succeeded, so this open does too
    with container:
        return int(stream.bit_rate or container.bit_rate or 0) or None


def _tags(path: Path) -> dict[str, str] | None:
    """Common tags, several values joined with "; "; None when the file has none mutagen can read."""
    found = read_tags(path)
    return {key: "; ".join(values) for key, values in found.items()} or None


def _finite(value: float | None, digits: int) -> float | None:
    """Round, mapping -inf (silence) and NaN to None so the JSON stays standard."""
    return round(value, digits) if value is not None and math.isfinite(value) else None
